//! `ftpclient`: parse the options, run the client, exit with its status.

use std::process::ExitCode;

use clap::Parser;
use forkftp::client::ClientCli;

fn main() -> ExitCode {
    ExitCode::from(forkftp::client::main(ClientCli::parse()))
}
