use steward_domain::policy::authorize_console;
use steward_server::config::DatabaseConfig;
use steward_store::{AuditEntry, Store};

/// The audit trail's retention purge: deletes the events older than the retention period,
/// and records that it did. It is the only way events leave the trail: the database refuses
/// every other UPDATE and DELETE of `audit_events` (migration 0016).
#[derive(clap::Args, Debug)]
pub struct PurgeAudit {
    #[command(flatten)]
    database: DatabaseConfig,
    /// Keep the events of this many days; older ones are deleted.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    older_than_days: u32,
}

impl PurgeAudit {
    pub fn run(self) -> anyhow::Result<()> {
        crate::runtime()?.block_on(async {
            let store =
                Store::connect(&self.database.database_url, &self.database.store_options()).await?;
            store.migrate().await?;
            let now = time::OffsetDateTime::now_utc();
            let entry = AuditEntry {
                actor: None,
                client_address: Some("console".into()),
                at: now,
            };
            let before = now - time::Duration::days(i64::from(self.older_than_days));
            let result = store
                .purge_audit_events(&authorize_console(), before, &entry)
                .await;
            store.close().await;
            let purged = result?;
            println!("{purged} audit event(s) older than {before} deleted");
            Ok(())
        })
    }
}
