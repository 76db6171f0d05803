//! The options every long-running parent (`ftpserver`, `ftpmaster`) takes
//! to run as a service, flattened into their command lines (and so keys of
//! their configuration files).

use std::path::PathBuf;

use clap::Args;

/// Pid file, syslog, metrics.
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "Running as a service")]
pub struct ServiceArgs {
    /// Write the pid of the supervisor (of ftpserver) or of ftpmaster to FILE once it serves; a binary started by an upgrade (SIGUSR2) takes the file over.
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,

    /// Log to the local syslog (facility ftp) instead of standard error or --log-file.
    #[arg(long, conflicts_with = "log_file")]
    pub syslog: bool,

    /// The syslog socket --syslog writes to (a Unix datagram socket).
    #[arg(long, value_name = "PATH", default_value = crate::limits::DEFAULT_SYSLOG_SOCKET)]
    pub syslog_socket: PathBuf,

    /// Serve Prometheus metrics at http://ADDR:PORT/metrics and a health check at /health.
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics: Option<String>,
}
