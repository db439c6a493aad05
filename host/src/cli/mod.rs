//! The `ferry` command line.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Ferry keeps billing and CRM systems in step.
#[derive(Debug, Parser)]
#[command(name = "ferry", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {}

/// Entry point of the `ferry` binary.
pub fn main() -> ExitCode {
    let _cli = Cli::parse();
    ExitCode::SUCCESS
}
