use clap::Parser;

use casebridge::cli::Cli;

fn main() -> anyhow::Result<()> {
    casebridge::tls::install_crypto_provider();
    let cli = Cli::parse();
    match cli.command {
        Some(casebridge::cli::Command::CheckConfig) | None => {
            anyhow::bail!("nothing to run yet")
        }
    }
}
