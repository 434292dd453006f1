//! The command line: parsed here, dispatched into the library.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

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
    /// Check the configuration file and print where it was found.
    CheckConfig,
}
