use anyhow::Context as _;
use steward_domain::NotificationId;
use steward_domain::policy::authorize_console;
use steward_server::config::DatabaseConfig;
use steward_store::{AuditEntry, OutboxRecord, Store};

/// Lists the notification outbox, or puts failed messages back in the queue.
#[derive(clap::Args, Debug)]
pub struct Outbox {
    #[command(flatten)]
    database: DatabaseConfig,
    /// Only messages with this status.
    #[arg(long, value_parser = ["pending", "sent", "failed"])]
    status: Option<String>,
    /// How many messages to list, newest first.
    #[arg(long, default_value_t = 50)]
    limit: i64,
    /// Put this message (an id from the list) back in the queue, due at once.
    #[arg(long, conflicts_with = "retry_failed")]
    retry: Option<String>,
    /// Put every failed message back in the queue.
    #[arg(long)]
    retry_failed: bool,
}

impl Outbox {
    pub fn run(self) -> anyhow::Result<()> {
        crate::runtime()?.block_on(async {
            let store =
                Store::connect(&self.database.database_url, &self.database.store_options()).await?;
            store.migrate().await?;
            let result = self.act(&store).await;
            store.close().await;
            result
        })
    }

    async fn act(&self, store: &Store) -> anyhow::Result<()> {
        let entry = AuditEntry {
            actor: None,
            client_address: Some("console".into()),
            at: time::OffsetDateTime::now_utc(),
        };
        let proof = authorize_console();
        if let Some(id) = &self.retry {
            let id = uuid::Uuid::parse_str(id)
                .with_context(|| format!("{id:?} is not a message id; copy one from the list"))?;
            let record = store
                .retry_notification(&proof, NotificationId(id), &entry)
                .await?;
            println!("queued again:");
            print_records(&[record]);
            return Ok(());
        }
        if self.retry_failed {
            // The ids first, then one retry each: a running server may fail a message again
            // meanwhile, and that must not make this loop forever.
            let mut ids = Vec::new();
            let mut after = None;
            loop {
                let (page, _) = store.outbox_page(Some("FAILED"), after, 500).await?;
                let Some(last) = page.last() else { break };
                after = Some(last.id);
                ids.extend(page.iter().map(|record| record.id));
            }
            for id in &ids {
                store
                    .retry_notification(&proof, NotificationId(*id), &entry)
                    .await?;
            }
            let retried = ids.len();
            println!("{retried} failed message(s) queued again");
            return Ok(());
        }
        let status = self.status.as_deref().map(str::to_uppercase);
        let (records, total) = store
            .outbox_page(status.as_deref(), None, self.limit.clamp(1, 10_000))
            .await?;
        print_records(&records);
        println!("{} of {total} message(s)", records.len());
        Ok(())
    }
}

fn print_records(records: &[OutboxRecord]) {
    println!(
        "{:<36}  {:<8}  {:>8}  {:<24}  {:<32}  last error",
        "id", "status", "attempts", "kind", "recipient"
    );
    for record in records {
        println!(
            "{:<36}  {:<8}  {:>8}  {:<24}  {:<32}  {}",
            record.id,
            record.status,
            record.attempts,
            record.kind,
            record.recipient_address,
            record.last_error.as_deref().unwrap_or("")
        );
    }
}
