use steward_server::auth::password::PasswordHasher;
use steward_server::config::{AdminConfig, DatabaseConfig, PasswordHashConfig};
use steward_server::error::AppError;
use steward_store::Store;

#[derive(clap::Args, Debug)]
pub struct CreateAdmin {
    #[command(flatten)]
    database: DatabaseConfig,
    #[command(flatten)]
    admin: AdminConfig,
    #[command(flatten)]
    password_hash: PasswordHashConfig,
}

impl CreateAdmin {
    pub fn run(self) -> anyhow::Result<()> {
        crate::runtime()?.block_on(async {
            let store =
                Store::connect(&self.database.database_url, &self.database.store_options()).await?;
            store.migrate().await?;
            let passwords =
                PasswordHasher::new(&self.password_hash).map_err(AppError::into_anyhow)?;
            let now = time::OffsetDateTime::now_utc();
            let created =
                steward_server::bootstrap::create_admin(&store, &passwords, &self.admin, now).await;
            store.close().await;
            let created = created.map_err(AppError::into_anyhow)?;
            eprintln!("{}", created.console_message("http://localhost:8080"));
            Ok(())
        })
    }
}
