//! `ftpserver`: parse the options, run the pool, with the balancer's slave
//! behaviour wired in (it serves only when `--register` asks for it).

use std::process::ExitCode;

use clap::Parser;
use forkftp::server::config::ServerCli;

fn main() -> ExitCode {
    let cli = ServerCli::parse();
    match forkftp::pool::main(cli, forkftp::balancer::slave::intake) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ftpserver: {e}");
            ExitCode::FAILURE
        }
    }
}
