//! The command line: parsed here, dispatched into the library. `main.rs`
//! only calls [`run`].

/// Writes a line to stderr, ignoring a failure: after the console, stderr
/// may be a terminal that has gone away, and `eprintln!` would panic there.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod error;
mod output;
mod password;
mod script;
mod session;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand};

use crate::config::remote::RemoteSettings;
use crate::config::{self, Settings};
use crate::engine::{Engine, StoreKind};
use crate::logging;
use crate::sim::gsem::cli::GsemSimArgs;

pub use error::ScriptError;
pub use output::PriorityArg;
pub use script::{
    CaseArgs, CaseCommand, OpenArgs, OutboxArgs, OutboxCommand, QuarantineArgs, QuarantineCommand,
    ScriptCommand, ScriptOptions,
};

/// The exit statuses, for `--help`.
const EXIT_HELP: &str = "\
Exit status: 0 success; 1 failed, or refused by the engine or the state table (the reason is on
stderr), or `doctor` found a failing check; 2 the command line or the configuration is wrong;
3 what the command names (case, incident, outbox message, quarantine entry) does not exist or is
ambiguous; 4 the engine did not answer in time or cannot be reached.";

/// casebridge: HPE support cases (GSEM) and ServiceNow incidents, kept in sync.
///
/// Without a subcommand, runs the console: on the site's config and engine,
/// or on the embedded demo when no config file exists.
#[derive(Debug, Parser)]
#[command(name = "casebridge", version, about, after_help = EXIT_HELP)]
pub struct Cli {
    /// Configuration file (else $CASEBRIDGE_CONFIG, else the user config dir).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// The [[operators]] id to act as (else $CASEBRIDGE_OPERATOR, else the
    /// login name when it is an id, else the only profile). Against a
    /// `serve`, the login's [[serve.users]] entry names the operator instead.
    #[arg(long, global = true, value_name = "ID")]
    pub operator: Option<String>,

    /// Run the console or a scripting command against this `casebridge
    /// serve` (user, password and CA from $CASEBRIDGE_REMOTE_USER,
    /// $CASEBRIDGE_REMOTE_PASSWORD and $CASEBRIDGE_REMOTE_CA). A config file
    /// with a [remote] table does the same without the flag.
    #[arg(long, global = true, value_name = "URL")]
    pub remote: Option<String>,

    /// With --remote: allow plain http:// to a loopback address (a relay on
    /// this host, tests).
    #[arg(long, global = true)]
    pub allow_insecure_http: bool,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the configuration, certificates, both sides' reachability and the store.
    Doctor(crate::doctor::DoctorArgs),
    /// Run the engine without a terminal (GSEM and ServiceNow sync) and, with a
    /// [serve] section, the console API for remote consoles and scripts; until SIGTERM.
    Serve,
    /// Run the simulators of HPE's GSEM gateway and of ServiceNow on loopback.
    Sim(Box<SimArgs>),
    #[command(flatten)]
    Script(ScriptCommand),
    /// Print the argon2 hash of a password for a [[serve.users]] password_hash;
    /// the password is read from stdin (asked twice, without echo, on a terminal).
    HashPassword,
    /// Print a shell completion script, e.g. `casebridge completions bash > /etc/bash_completion.d/casebridge`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
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
    /// What the command names does not exist, or names several things.
    pub const NOT_FOUND: u8 = 3;
    /// The engine did not answer in time, or cannot be reached.
    pub const UNAVAILABLE: u8 = 4;
}

/// Runs the parsed command line; errors are printed on stderr with their
/// whole chain of causes.
pub fn run(cli: Cli) -> ExitCode {
    crate::tls::install_crypto_provider();
    let outcome = match cli.command {
        Some(Command::Script(ref command)) => {
            return ExitCode::from(match run_script(&cli, command) {
                Ok(()) => exit::OK,
                Err(error) => {
                    say!("casebridge: {error}");
                    error.exit_code()
                }
            });
        }
        Some(Command::HashPassword) => password::hash_from_stdin(),
        Some(Command::Completions { shell }) => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "casebridge",
                &mut std::io::stdout().lock(),
            );
            Ok(())
        }
        Some(Command::Serve) => match load_settings(cli.config.as_deref()) {
            Ok(settings) => runtime().and_then(|rt| rt.block_on(crate::serve::run(settings))),
            Err(error) => {
                say!("casebridge: {error:#}");
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
                    say!("casebridge: {error:#}");
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
        // The console: on a serve, on the site's engine, else on the demo.
        None => match target(&cli) {
            Ok(None) => runtime().and_then(|rt| rt.block_on(demo_console())),
            Ok(Some(Target::Site(settings))) => runtime()
                .and_then(|rt| rt.block_on(real_console(*settings, cli.operator.as_deref()))),
            Ok(Some(Target::Remote(remote))) => {
                runtime().and_then(|rt| rt.block_on(remote_console(&remote)))
            }
            Err(error) => {
                say!("casebridge: {error:#}");
                return ExitCode::from(exit::USAGE);
            }
        },
    };
    match outcome {
        Ok(()) => ExitCode::from(exit::OK),
        Err(error) => {
            say!("casebridge: {error:#}");
            ExitCode::from(exit::FAILURE)
        }
    }
}

/// What the console and the scripting commands work on.
enum Target {
    /// The site's engine: in this process for the console, beside it (on
    /// its store) for the scripting commands.
    Site(Box<Settings>),
    /// A `casebridge serve`.
    Remote(RemoteSettings),
}

/// `--remote`, else the config file found: a `[remote]` one or the site's;
/// `None` when there is neither.
fn target(cli: &Cli) -> anyhow::Result<Option<Target>> {
    let found = config::locate(cli.config.as_deref())?;
    if let Some(url) = &cli.remote {
        // The flag names serve; a [remote] file may still bring [ui] keys.
        let ui = match found {
            Some(path) if config::remote::is_remote_config(&path)? => {
                config::remote::load(&path)?.ui
            }
            _ => config::Ui::default(),
        };
        let remote = RemoteSettings::from_flag(url, cli.allow_insecure_http, ui)?;
        return Ok(Some(Target::Remote(remote)));
    }
    Ok(match found {
        None => None,
        Some(path) if config::remote::is_remote_config(&path)? => {
            Some(Target::Remote(config::remote::load(&path)?))
        }
        Some(path) => Some(Target::Site(Box::new(config::load(&path)?))),
    })
}

/// A scripting command on the target's engine, printing on stdout.
fn run_script(cli: &Cli, command: &ScriptCommand) -> Result<(), ScriptError> {
    let target = target(cli)
        .and_then(|found| found.ok_or_else(no_config))
        .map_err(ScriptError::Config)?;
    let runtime = runtime().map_err(ScriptError::Config)?;
    let mut out = std::io::stdout().lock();
    // The command's `-` texts are read into it.
    let command = command.clone();
    match target {
        Target::Site(settings) => {
            let operator =
                operator_id(&settings, cli.operator.as_deref()).map_err(ScriptError::Config)?;
            let source = session::Source::Local {
                settings: &settings,
                operator: &operator,
            };
            runtime.block_on(script::run(command, &source, &mut out))
        }
        Target::Remote(remote) => {
            if let Some(operator) = &cli.operator {
                return Err(ScriptError::OperatorWithRemote(operator.clone()));
            }
            runtime.block_on(script::run(
                command,
                &session::Source::Remote(&remote),
                &mut out,
            ))
        }
    }
}

/// The settings from the config file that `--config`, `$CASEBRIDGE_CONFIG`
/// or the default location names; a command that needs one fails without.
fn load_settings(flag: Option<&Path>) -> anyhow::Result<Settings> {
    match config::locate(flag)? {
        Some(path) => Ok(config::load(&path)?),
        None => Err(no_config()),
    }
}

fn no_config() -> anyhow::Error {
    anyhow::anyhow!(
        "no config file: pass --config PATH, set ${}, or create {}. config.example.toml shows every key",
        config::CONFIG_ENV,
        config::default_config_file().map_or_else(
            || "~/.config/casebridge/config.toml".into(),
            |p| p.display().to_string()
        )
    )
}

/// The console on the site's engine, logging to the data dir's file only
/// (the terminal is the console's).
async fn real_console(settings: Settings, operator: Option<&str>) -> anyhow::Result<()> {
    let operator = operator_id(&settings, operator)?;
    let log_dir = settings.paths().data_dir.join("logs");
    let _log = logging::init(&log_dir, &settings.log.filter, logging::Sink::File)?;
    let engine = Engine::start(&settings, StoreKind::Real).await?;
    let outcome = console(&engine, &settings, &operator).await;
    engine.stop().await;
    outcome
}

/// The console on a `casebridge serve`, logging to the user's data dir.
async fn remote_console(remote: &RemoteSettings) -> anyhow::Result<()> {
    let keys = crate::tui::Settings::from_config(&remote.ui.keys)?;
    let data_dir = config::default_data_dir().unwrap_or_else(std::env::temp_dir);
    let filter = config::Log::without_config()?.filter;
    let _log = logging::init(&data_dir.join("logs"), &filter, logging::Sink::File)?;
    let (link, relay) = crate::console::remote::connect(remote).await?;
    // The console's end of the link goes with `run`, which ends the relay.
    let outcome = crate::tui::run(link, keys).await;
    if let Err(error) = relay.await {
        tracing::error!(%error, "the link to serve failed");
    }
    Ok(outcome?)
}

/// `casebridge` without a config file: the console on the embedded demo,
/// whose directory (store, certificates, logs) is removed on the way out.
async fn demo_console() -> anyhow::Result<()> {
    let data_dir = config::default_data_dir().unwrap_or_else(std::env::temp_dir);
    let dir = crate::demo::demo_dir(&data_dir);
    let filter = config::Log::without_config()?.filter;
    let _log = logging::init(&dir.join("logs"), &filter, logging::Sink::File)?;
    say!("casebridge: no config file, starting the demo…");
    let demo = crate::demo::Demo::start(&dir).await?;
    let outcome = console(
        demo.engine(),
        demo.settings(),
        crate::demo::config::OPERATOR,
    )
    .await;
    demo.stop().await;
    say!("casebridge: {}", crate::demo::BANNER);
    outcome
}

/// Runs the terminal console against `engine` until the operator quits.
async fn console(engine: &Engine, settings: &Settings, operator: &str) -> anyhow::Result<()> {
    let keys = crate::tui::Settings::from_config(&settings.ui.keys)?;
    let (link, engine_end) = crate::console::ConsoleLink::pair();
    let local = crate::console::local::spawn(
        crate::console::local::EngineEnd::of(engine),
        settings,
        operator,
        engine_end,
    )?;
    // The console's end of the link goes with `run`, which ends the engine end.
    let outcome = crate::tui::run(link, keys).await;
    if let Err(error) = local.await {
        tracing::error!(%error, "the console's engine end failed");
    }
    Ok(outcome?)
}

/// The operator profile this console writes as: `--operator`, else
/// `$CASEBRIDGE_OPERATOR`, else the login name when it is a profile's id,
/// else the only profile.
fn operator_id(settings: &Settings, flag: Option<&str>) -> anyhow::Result<String> {
    let ids = || {
        settings
            .operators
            .iter()
            .map(|o| o.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(chosen) = flag {
        return match settings.operator(chosen) {
            Some(operator) => Ok(operator.id.clone()),
            None => anyhow::bail!(
                "--operator {chosen:?} is no [[operators]] id; use one of: {}",
                ids()
            ),
        };
    }
    if let Some(chosen) = std::env::var_os(OPERATOR_ENV) {
        let chosen = chosen.to_string_lossy().into_owned();
        return match settings.operator(&chosen) {
            Some(operator) => Ok(operator.id.clone()),
            None => anyhow::bail!(
                "${OPERATOR_ENV} is {chosen:?}, which is no [[operators]] id; use one of: {}",
                ids()
            ),
        };
    }
    let login = ["USER", "LOGNAME"]
        .into_iter()
        .find_map(|var| std::env::var(var).ok())
        .and_then(|name| settings.operator(&name));
    match (login, settings.operators.as_slice()) {
        (Some(operator), _) | (None, [operator]) => Ok(operator.id.clone()),
        (None, _) => anyhow::bail!(
            "which operator are you? Set ${OPERATOR_ENV} to one of the [[operators]] ids: {}",
            ids()
        ),
    }
}

/// Names the operator profile the console runs as.
pub const OPERATOR_ENV: &str = "CASEBRIDGE_OPERATOR";

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
