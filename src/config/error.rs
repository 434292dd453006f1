//! The one error type of configuration loading.
//!
//! Every message starts with the file, then names the key (or the line, for
//! TOML syntax), the problem and what to do about it, so that an operator can
//! fix the file without reading code. No message ever carries a secret value.

use std::io;
use std::path::{Path, PathBuf};

/// Where an explicitly named config file came from, for "does not exist".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The `--config PATH` command-line flag.
    Flag,
    /// The `$CASEBRIDGE_CONFIG` environment variable.
    Env,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Flag => f.write_str("--config"),
            Origin::Env => write!(f, "${}", super::CONFIG_ENV),
        }
    }
}

/// Why a configuration could not be located, read or accepted.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A path named by `--config` or `$CASEBRIDGE_CONFIG` does not exist.
    #[error(
        "{}: {origin}: no such file. Check the path, or create the file from config.example.toml.",
        path.display()
    )]
    Missing { path: PathBuf, origin: Origin },

    /// The config file exists (or was named) but cannot be read as text.
    #[error("{}: cannot read the config file: {source}. {fix}.", path.display())]
    Unreadable {
        path: PathBuf,
        source: io::Error,
        fix: &'static str,
    },

    /// The file is not valid TOML.
    #[error("{}: line {line}, column {column}: {problem}. {fix}.", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        problem: String,
        fix: &'static str,
    },

    /// An environment variable that overrides the file has a bad value.
    #[error("${var}: {message}")]
    BadEnv { var: &'static str, message: String },

    /// The file is valid TOML, but a key is unknown, missing or has a bad value.
    /// `message` holds the problem and its fix.
    #[error("{}: {key}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        key: String,
        message: String,
    },
}

impl ConfigError {
    pub(crate) fn unreadable(path: &Path, source: io::Error) -> Self {
        let fix = match source.kind() {
            io::ErrorKind::NotFound => {
                "Create it from config.example.toml, or pass the right path with --config"
            }
            io::ErrorKind::PermissionDenied => "Make it readable by the user casebridge runs as",
            io::ErrorKind::IsADirectory => "Name the file inside that directory, not the directory",
            io::ErrorKind::InvalidData => "Save it as UTF-8 text",
            _ => "Check the path and the file's permissions",
        };
        ConfigError::Unreadable {
            path: path.to_path_buf(),
            source,
            fix,
        }
    }

    /// The key path this error is about, when it is about one key.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { key, .. } => Some(key),
            _ => None,
        }
    }
}

/// A problem with one key, before the file name is attached.
///
/// Validation code builds these; `problem` and `fix` are sentences without the
/// final full stop.
#[derive(Debug)]
pub(crate) struct KeyError {
    pub key: String,
    pub problem: String,
    pub fix: String,
}

impl KeyError {
    pub fn new(key: impl Into<String>, problem: impl Into<String>, fix: impl Into<String>) -> Self {
        KeyError {
            key: key.into(),
            problem: problem.into(),
            fix: fix.into(),
        }
    }

    pub fn into_config_error(self, path: &Path) -> ConfigError {
        ConfigError::Invalid {
            path: path.to_path_buf(),
            key: self.key,
            message: format!("{}. {}.", self.problem, self.fix),
        }
    }
}
