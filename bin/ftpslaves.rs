//! `ftpslaves`: parse the options, start and supervise the slaves.

use std::process::ExitCode;

use clap::Parser;
use forkftp::balancer::config::SlavesCli;

fn main() -> ExitCode {
    let cli = SlavesCli::parse();
    match forkftp::balancer::slaves::main(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ftpslaves: {e}");
            ExitCode::FAILURE
        }
    }
}
