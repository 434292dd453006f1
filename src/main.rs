use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    casebridge::cli::run(casebridge::cli::Cli::parse())
}
