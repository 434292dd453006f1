//! Why a scripting command failed, and the exit status that says so.

use super::exit;
use crate::console::LinkClosed;
use crate::console::local::LocalError;
use crate::console::remote::RemoteError;
use crate::console::rules::Refusal;
use crate::store::StoreError;

/// A scripting command's failure; printed on stderr as it reads.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    #[error("{0:#}")]
    Config(anyhow::Error),
    #[error(transparent)]
    Operator(#[from] LocalError),
    #[error(
        "--operator {0:?} cannot be used with a remote engine: serve's [[serve.users]] entry of your login names the operator"
    )]
    OperatorWithRemote(String),
    #[error(transparent)]
    Remote(#[from] RemoteError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "no store at {}: start `casebridge serve` (or the console) once on this config to create it, or fix store.path",
        .0.display()
    )]
    NoStore(std::path::PathBuf),
    #[error(
        "no case {0:?}: name one by its incident number (INC0010001), tracking number (INC0010001_1) or HPE case number; `casebridge case list` shows them"
    )]
    NoCase(String),
    #[error("incident {incident} has {count} cases: name one by its tracking number: {choices}")]
    Ambiguous {
        incident: String,
        count: usize,
        choices: String,
    },
    #[error("{0}")]
    NoIncident(String),
    #[error("no parked outbox message {0}: `casebridge outbox list` shows the parked ones")]
    NoParked(i64),
    #[error("no open quarantine entry {0}: `casebridge quarantine list` shows them")]
    NoQuarantine(i64),
    #[error("no system {name:?} in the config: choose one of {choices}")]
    UnknownSystem { name: String, choices: String },
    #[error(
        "which system? Incident {incident} names none of the configured ones: pass --system with one of {choices}"
    )]
    NoSystem { incident: String, choices: String },
    #[error("only one text can come from stdin: {0} and {1} both ask for `-`")]
    TwoStdin(&'static str, &'static str),
    #[error("cannot read the text from stdin: {0}")]
    Stdin(#[source] std::io::Error),
    #[error("the text on stdin is not UTF-8: {0}")]
    StdinNotUtf8(#[source] std::string::FromUtf8Error),
    /// A state-table refusal, decided before anything was sent.
    #[error(transparent)]
    Rule(#[from] Refusal),
    /// The engine's refusal, in its words.
    #[error("{0}")]
    Refused(String),
    /// The engine cannot serve the console (e.g. its store is unreadable).
    #[error("{0}")]
    Engine(String),
    #[error(
        "no answer from the engine within {secs} s while waiting for {what}{}: check that it runs, or raise --timeout",
        lost.as_ref().map(|l| format!(" (connection lost: {l})")).unwrap_or_default()
    )]
    NoAnswer {
        what: String,
        secs: u64,
        lost: Option<String>,
    },
    #[error(transparent)]
    Closed(#[from] LinkClosed),
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
}

impl ScriptError {
    /// The exit status documented in `casebridge --help`.
    pub fn exit_code(&self) -> u8 {
        match self {
            ScriptError::Remote(e) => match e {
                RemoteError::Ca { .. }
                | RemoteError::Client { .. }
                | RemoteError::LoginRefused { .. } => exit::USAGE,
                RemoteError::Unreachable { .. }
                | RemoteError::Tls { .. }
                | RemoteError::Timeout { .. }
                | RemoteError::Status { .. } => exit::UNAVAILABLE,
            },
            ScriptError::Config(_)
            | ScriptError::Operator(_)
            | ScriptError::OperatorWithRemote(_)
            | ScriptError::NoStore(_)
            | ScriptError::UnknownSystem { .. }
            | ScriptError::NoSystem { .. }
            | ScriptError::TwoStdin(..)
            | ScriptError::Stdin(_)
            | ScriptError::StdinNotUtf8(_) => exit::USAGE,
            ScriptError::NoCase(_)
            | ScriptError::Ambiguous { .. }
            | ScriptError::NoIncident(_)
            | ScriptError::NoParked(_)
            | ScriptError::NoQuarantine(_) => exit::NOT_FOUND,
            ScriptError::Rule(_)
            | ScriptError::Refused(_)
            | ScriptError::Store(_)
            | ScriptError::Engine(_)
            | ScriptError::Output(_) => exit::FAILURE,
            ScriptError::NoAnswer { .. } | ScriptError::Closed(_) => exit::UNAVAILABLE,
        }
    }
}
