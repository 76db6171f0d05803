//! `ftpmaster`: parse the options, run the load balancer. The command line
//! is kept: the configuration file is read again on SIGHUP, under it.

use std::process::ExitCode;

use clap::Parser;
use forkftp::balancer::config::MasterCli;

fn main() -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = MasterCli::parse_from(&argv);
    match forkftp::balancer::master::main(cli, argv) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ftpmaster: {e}");
            ExitCode::FAILURE
        }
    }
}
