//! `occam`: meta-learns the inductive bias of small neural circuits on any GPU.
//!
//! Exit codes: 0 success, 1 internal failure, 2 bad input or machine setup
//! (unknown backend, no adapter, a size over the adapter's limits, …).

mod cli;
mod devices;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let result = match &cli.command {
        cli::Command::Devices(args) => devices::run(&cli.selection(), args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("occam: error: {}", e.message);
            ExitCode::from(e.exit_code)
        }
    }
}
