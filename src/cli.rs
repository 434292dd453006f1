//! The command line: parsed here, dispatched into the library. `main.rs`
//! only calls [`run`].

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::{self, Settings};
use crate::engine::{Engine, StoreKind};
use crate::logging;
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
    /// Check the configuration, certificates, both sides' reachability and the store.
    Doctor(crate::doctor::DoctorArgs),
    /// Run the engine without a terminal: GSEM and ServiceNow sync, until SIGTERM.
    Serve,
    /// Run the simulators of HPE's GSEM gateway and of ServiceNow on loopback.
    Sim(Box<SimArgs>),
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
    /// The command failed, or `doctor` found a failing check; the reason is
    /// on stderr (or, for `doctor`, in its report).
    pub const FAILURE: u8 = 1;
    /// The command line or the configuration is wrong.
    pub const USAGE: u8 = 2;
}

/// Runs the parsed command line; errors are printed on stderr with their
/// whole chain of causes.
pub fn run(cli: Cli) -> ExitCode {
    crate::tls::install_crypto_provider();
    let outcome = match cli.command {
        Some(Command::Serve) => match load_settings(cli.config.as_deref()) {
            Ok(settings) => runtime().and_then(|rt| rt.block_on(serve(settings))),
            Err(error) => {
                eprintln!("casebridge: {error:#}");
                return ExitCode::from(exit::USAGE);
            }
        },
        Some(Command::Doctor(args)) => {
            let report = runtime().and_then(|rt| {
                Ok(rt.block_on(crate::doctor::run(
                    cli.config.as_deref(),
                    &args,
                    &mut std::io::stdout().lock(),
                ))?)
            });
            return match report {
                Ok(report) => ExitCode::from(report.exit_code()),
                Err(error) => {
                    eprintln!("casebridge: {error:#}");
                    ExitCode::from(exit::FAILURE)
                }
            };
        }
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

/// The settings from the config file that `--config`, `$CASEBRIDGE_CONFIG`
/// or the default location names; a command that needs one fails without.
fn load_settings(flag: Option<&Path>) -> anyhow::Result<Settings> {
    match config::locate(flag)? {
        Some(path) => Ok(config::load(&path)?),
        None => anyhow::bail!(
            "no config file: pass --config PATH, set ${}, or create {}. config.example.toml shows every key",
            config::CONFIG_ENV,
            config::default_config_file().map_or_else(
                || "~/.config/casebridge/config.toml".into(),
                |p| p.display().to_string()
            )
        ),
    }
}

/// `casebridge serve`: the engine headless, logging to its file and stderr,
/// until SIGTERM or Ctrl-C.
async fn serve(settings: Settings) -> anyhow::Result<()> {
    let log_dir = settings.paths().data_dir.join("logs");
    let _log = logging::init(&log_dir, &settings.log.filter, logging::Sink::FileAndStderr)?;
    let engine = Engine::start(&settings, StoreKind::Real).await?;
    if let Some(addr) = engine.push_addr() {
        tracing::info!(%addr, "GSEM push receiver listening");
    }
    wait_for_stop_signal().await?;
    tracing::info!("stop signal received; stopping");
    engine.stop().await;
    Ok(())
}

async fn wait_for_stop_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => {}
        result = tokio::signal::ctrl_c() => result?,
    }
    Ok(())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
