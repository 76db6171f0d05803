//! `ftpserver`: parse the options, run the pool.

use std::process::ExitCode;

use clap::Parser;
use forkftp::config::ServerCli;

fn main() -> ExitCode {
    let cli = ServerCli::parse();
    match forkftp::pool::main(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ftpserver: {e}");
            ExitCode::FAILURE
        }
    }
}
