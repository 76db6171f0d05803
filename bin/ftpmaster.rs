//! `ftpmaster`: parse the options, run the load balancer.

use std::process::ExitCode;

use clap::Parser;
use forkftp::balancer::config::MasterCli;

fn main() -> ExitCode {
    let cli = MasterCli::parse();
    match forkftp::balancer::master::main(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ftpmaster: {e}");
            ExitCode::FAILURE
        }
    }
}
