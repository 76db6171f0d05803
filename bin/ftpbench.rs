//! `ftpbench`: parse the options, run the benchmark, print the table.

use std::process::ExitCode;

use clap::Parser;
use forkftp::bench::BenchCli;

fn main() -> ExitCode {
    match forkftp::bench::run(BenchCli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ftpbench: {e}");
            ExitCode::FAILURE
        }
    }
}
