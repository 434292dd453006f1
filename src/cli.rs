//! The command line: parsed here, dispatched into the library. `main.rs`
//! only calls [`run`].

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::sim::gsem::cli::GsemSimArgs;

/// casebridge: HPE support cases (GSEM) and ServiceNow incidents, kept in sync.
#[derive(Debug, Parser)]
#[command(name = "casebridge", version, about, long_about = None)]
pub struct Cli {
    /// Configuration file (else $CASEBRIDGE_CONFIG, else the user config dir).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the simulators of HPE's GSEM gateway and of ServiceNow on loopback.
    Sim(SimArgs),
}

/// `casebridge sim`.
#[derive(Debug, Args)]
pub struct SimArgs {
    #[command(subcommand)]
    pub command: SimCommand,
}

#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// The GSEM simulator: run it, or script a running one.
    Gsem(GsemSimArgs),
}

/// Exit codes shared by every command.
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// The command failed; the reason is on stderr.
    pub const FAILURE: u8 = 1;
    /// The command line or the configuration is wrong.
    pub const USAGE: u8 = 2;
}

/// Runs the parsed command line; errors are printed on stderr with their
/// whole chain of causes.
pub fn run(cli: Cli) -> ExitCode {
    crate::tls::install_crypto_provider();
    let outcome = match cli.command {
        Some(Command::Sim(sim)) => runtime().and_then(|rt| {
            rt.block_on(async {
                match sim.command {
                    SimCommand::Gsem(args) => crate::sim::gsem::cli::run_cli(args)
                        .await
                        .map_err(anyhow::Error::from),
                }
            })
        }),
        None => {
            eprintln!(
                "casebridge: the console is not built yet; see `casebridge --help` for the commands that exist."
            );
            return ExitCode::from(exit::USAGE);
        }
    };
    match outcome {
        Ok(()) => ExitCode::from(exit::OK),
        Err(error) => {
            eprintln!("casebridge: {error:#}");
            ExitCode::from(exit::FAILURE)
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
