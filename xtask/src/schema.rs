use anyhow::bail;

#[derive(clap::Args, Debug)]
pub struct Schema {
    /// Only check that schema.graphql matches the code; exit non-zero when it does not.
    #[arg(long)]
    check: bool,
}

impl Schema {
    pub fn run(self) -> anyhow::Result<()> {
        let path = crate::workspace_root().join("schema.graphql");
        let sdl = steward_server::graphql::sdl();
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if self.check {
            if committed != sdl {
                bail!(
                    "{} is out of date: run `cargo xtask schema`",
                    path.display()
                );
            }
            eprintln!("{} is up to date", path.display());
        } else if committed == sdl {
            eprintln!("{} is already up to date", path.display());
        } else {
            std::fs::write(&path, sdl)?;
            eprintln!("wrote {}", path.display());
        }
        Ok(())
    }
}
