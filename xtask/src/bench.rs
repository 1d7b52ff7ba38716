//! `cargo xtask bench [NAME...] [--quick]`: every performance target measured side by side,
//! on a release build, against SQLite and (given its URL) PostgreSQL. Each benchmark seeds
//! its data through the store, runs the server (a child process for what goes over HTTP),
//! and reports figures and the ratios that are compared, measured in the same run: these
//! machines are shared and noisy. The report is written to `target/bench/report.json` and
//! `target/bench/report.md`.

mod delete;
mod http;
mod import;
mod page;
mod repair;
pub mod report;
mod statements;

use anyhow::{Context as _, ensure};
use steward_store::Backend;

use crate::import::Scratch;
pub(crate) use http::hash;
use report::Metric;

#[derive(clap::Args, Debug)]
pub struct Bench {
    /// The benchmarks to run; all of them when none is named.
    #[arg(value_enum)]
    names: Vec<Name>,
    /// Every benchmark at small sizes, in a few minutes (what CI runs).
    #[arg(long)]
    quick: bool,
    /// A database the storage benchmarks run on, once each; `sqlite` (the default) is a new
    /// SQLite file in the system's temporary folder. Give it twice, e.g. `--database-url
    /// sqlite --database-url "$(cargo xtask pg start)"`, to compare the backends. On
    /// PostgreSQL the benchmarks add their own users and organizations (`repair` and `list`
    /// make a database of their own there).
    #[arg(
        long = "database-url",
        env = "STEWARD_BENCH_DATABASE_URL",
        value_delimiter = ','
    )]
    databases: Vec<String>,
    /// `import`: rows of the generated file (default 100 000 and 1 000 000; --quick 2 000).
    #[arg(long)]
    rows: Vec<u64>,
    /// `import`: invite every user (an invitation and a queued e-mail each).
    #[arg(long)]
    invitations: bool,
    /// `repair`: users of the population (default 1 000 000; --quick 5 000).
    #[arg(long)]
    users: Option<u64>,
    /// `repair`: only write the population into the one `--database-url` and stop.
    #[arg(long)]
    seed_only: bool,
    /// `delete`: resources of the deleted user (default 100 000; --quick 2 000)...
    #[arg(long)]
    resources: Option<usize>,
    /// ...and of the small deletion it is compared with (default 1 000; --quick 200).
    #[arg(long)]
    baseline: Option<usize>,
    /// `list`: organization sizes (default 10 000, 100 000, 1 000 000; --quick 1 000, 10 000).
    #[arg(long, value_delimiter = ',')]
    list_sizes: Vec<u64>,
    /// `page`: organization sizes (default 10 000 and 1 000 000; --quick 1 000 and 10 000).
    #[arg(long, value_delimiter = ',')]
    page_sizes: Vec<u64>,
    /// Run in this build instead of building and running the release one (figures of a
    /// debug build are not comparable with the targets).
    #[arg(long)]
    this_build: bool,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum Name {
    /// Logins per second through GraphQL against raw argon2id verifications.
    Login,
    /// `me` with a JWT and with an API key against a trivial query, at 1, 16 and 64 clients.
    Query,
    /// Refresh-token rotations per second.
    Refresh,
    /// The users list (first and deep page, searches) as the organization grows.
    List,
    /// SQL statements per users page, at two page sizes (the N+1 guard).
    Statements,
    /// A console's users page (memberships, role names, groups) by an organization's
    /// administrator as it grows: latency, server CPU and statements per page.
    Page,
    /// Bulk CSV import: rows per second, peak memory.
    Import,
    /// A full consistency run: time, peak memory.
    Repair,
    /// Deleting a user who owns many resources.
    #[value(alias = "delete-user")]
    Delete,
}

const ALL: [Name; 9] = [
    Name::Login,
    Name::Query,
    Name::Refresh,
    Name::List,
    Name::Statements,
    Name::Page,
    Name::Import,
    Name::Repair,
    Name::Delete,
];

/// `SQLite` or `PostgreSQL`, as reports name them.
pub fn backend_name(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "SQLite",
        Backend::Postgres => "PostgreSQL",
    }
}

impl Bench {
    pub fn run(self) -> anyhow::Result<()> {
        if cfg!(debug_assertions) && !self.this_build {
            return crate::server_process::run_in_release("the benchmarks");
        }
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(self.run_all())
    }

    async fn run_all(self) -> anyhow::Result<()> {
        let names: Vec<Name> = if self.names.is_empty() {
            ALL.to_vec()
        } else {
            self.names.clone()
        };
        let databases = if self.databases.is_empty() {
            vec!["sqlite".to_owned()]
        } else {
            self.databases.clone()
        };
        if self.seed_only {
            ensure!(
                names == [Name::Repair] && databases.len() == 1 && databases[0] != "sqlite",
                "--seed-only goes with `repair` and one --database-url naming a database"
            );
        }
        let folder = crate::workspace_root().join("target").join("bench");
        let mut metrics: Vec<Metric> = Vec::new();
        for name in names {
            for database in &databases {
                let scratch = Scratch::new("bench")?;
                let url = if database == "sqlite" {
                    scratch.sqlite_url("bench.db")
                } else {
                    database.clone()
                };
                eprintln!("==> bench {name:?} on {}", steward_store::redact_url(&url));
                // Peak memory is the process's high-water mark: reset it (Linux) so that each
                // benchmark's figure is its own, not the largest of those before it.
                let _ = std::fs::write("/proc/self/clear_refs", "5");
                let measured = self
                    .run_one(name, &url, &scratch)
                    .await
                    .with_context(|| format!("bench {name:?}"))?;
                for metric in &measured {
                    eprintln!(
                        "    {} {}: {:.3} {}",
                        metric.backend.as_deref().unwrap_or(""),
                        metric.name,
                        metric.value,
                        metric.unit
                    );
                }
                metrics.extend(measured);
                // Written after each benchmark, so that a long run stopped halfway keeps what
                // it measured.
                if !self.seed_only {
                    report::write(&folder, self.quick, &metrics)?;
                }
                if !name.uses_storage() {
                    break;
                }
            }
        }
        if self.seed_only {
            return Ok(());
        }
        let markdown = report::write(&folder, self.quick, &metrics)?;
        println!("{markdown}");
        println!("written to {}", folder.join("report.md").display());
        Ok(())
    }

    async fn run_one(
        &self,
        name: Name,
        url: &str,
        scratch: &Scratch,
    ) -> anyhow::Result<Vec<Metric>> {
        let quick = self.quick;
        match name {
            Name::Login => http::login(url, scratch, quick).await,
            Name::Query => http::query(url, scratch, quick).await,
            Name::Refresh => http::refresh(url, scratch, quick).await,
            Name::List => {
                let sizes = if !self.list_sizes.is_empty() {
                    self.list_sizes.clone()
                } else if quick {
                    vec![1_000, 10_000]
                } else {
                    vec![10_000, 100_000, 1_000_000]
                };
                http::list(url, scratch, &sizes, quick).await
            }
            Name::Statements => statements::run(url).await,
            Name::Page => {
                let sizes = if !self.page_sizes.is_empty() {
                    self.page_sizes.clone()
                } else if quick {
                    vec![1_000, 10_000]
                } else {
                    vec![10_000, 1_000_000]
                };
                page::run(url, scratch, &sizes, quick).await
            }
            Name::Import => {
                let sizes = if !self.rows.is_empty() {
                    self.rows.clone()
                } else if quick {
                    vec![2_000]
                } else {
                    vec![100_000, 1_000_000]
                };
                let mut metrics = Vec::new();
                for rows in sizes {
                    metrics.extend(import::run(url, scratch, rows, self.invitations).await?);
                }
                Ok(metrics)
            }
            Name::Repair => {
                let users = self.users.unwrap_or(if quick { 5_000 } else { 1_000_000 });
                repair::run(url, users, self.seed_only).await
            }
            Name::Delete => {
                let (resources, baseline) = if quick {
                    (2_000, 200)
                } else {
                    (100_000, 1_000)
                };
                delete::run(
                    url,
                    self.resources.unwrap_or(resources),
                    self.baseline.unwrap_or(baseline),
                )
                .await
            }
        }
    }
}

impl Name {
    /// Whether the benchmark runs once per database (the N+1 guard counts statements, the
    /// same on both: SQLite is enough).
    fn uses_storage(self) -> bool {
        self != Name::Statements
    }
}
