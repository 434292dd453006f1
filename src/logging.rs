//! Logs: a daily-rotated file under the data dir (the terminal belongs to
//! the console), optionally mirrored to stderr for `serve`.
//!
//! The filter comes from `log.filter` or `$CASEBRIDGE_LOG` (resolved by the
//! config loader). Secrets cannot reach the log: `config::Secret` prints
//! `Secret(***)` whatever the format.

use std::path::{Path, PathBuf};

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::MakeWriterExt;

/// How many rotated files are kept.
const KEPT_FILES: usize = 14;

/// Where logs go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sink {
    /// The rotating file only: for the console.
    File,
    /// The rotating file and stderr: for headless commands.
    FileAndStderr,
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("cannot create the log directory {}: {source}. Make it writable or set store.path to a writable place", .dir.display())]
    Dir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open a log file in {}: {source}", .dir.display())]
    File {
        dir: PathBuf,
        source: tracing_appender::rolling::InitError,
    },
    #[error(
        "log filter {filter:?} is not valid: {source}. Use tracing directives such as `info` or `casebridge=debug`"
    )]
    Filter {
        filter: String,
        source: tracing_subscriber::filter::ParseError,
    },
}

/// Installs the global subscriber writing to `<dir>/casebridge.log.<date>`.
/// Keep the guard alive until exit: dropping it flushes the file.
pub fn init(dir: &Path, filter: &str, sink: Sink) -> Result<WorkerGuard, LogError> {
    std::fs::create_dir_all(dir).map_err(|source| LogError::Dir {
        dir: dir.to_path_buf(),
        source,
    })?;
    let appender = tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix("casebridge")
        .filename_suffix("log")
        .max_log_files(KEPT_FILES)
        .build(dir)
        .map_err(|source| LogError::File {
            dir: dir.to_path_buf(),
            source,
        })?;
    let (file, guard) = tracing_appender::non_blocking(appender);
    let filter = EnvFilter::try_new(filter).map_err(|source| LogError::Filter {
        filter: filter.to_owned(),
        source,
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false);
    // A second init (tests calling into main paths twice) keeps the first
    // subscriber; that is harmless, so the error is not surfaced.
    let _ = match sink {
        Sink::File => builder.with_writer(file).try_init(),
        Sink::FileAndStderr => builder.with_writer(file.and(std::io::stderr)).try_init(),
    };
    Ok(guard)
}
