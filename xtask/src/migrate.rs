use steward_server::config::DatabaseConfig;
use steward_store::Store;

#[derive(clap::Args, Debug)]
pub struct Migrate {
    #[command(flatten)]
    database: DatabaseConfig,
}

impl Migrate {
    pub fn run(self) -> anyhow::Result<()> {
        crate::runtime()?.block_on(async {
            let store =
                Store::connect(&self.database.database_url, &self.database.store_options()).await?;
            store.migrate().await?;
            store.close().await;
            eprintln!("the database is up to date");
            Ok(())
        })
    }
}
