//! `ftpserver`: parse the options, run the pool, with the balancer's slave
//! behaviour wired in (it serves only when `--register` asks for it). The
//! command line is kept: the configuration file is read again on SIGHUP,
//! under it.

use std::process::ExitCode;

use clap::Parser;
use forkftp::server::config::ServerCli;

fn main() -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = ServerCli::parse_from(&argv);
    match forkftp::pool::main(cli, argv, forkftp::balancer::slave::intake) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ftpserver: {e}");
            ExitCode::FAILURE
        }
    }
}
