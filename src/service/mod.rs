//! What it takes to run the long-lived programs (`ftpserver`, `ftpmaster`)
//! as a service, shared by both:
//!
//! - [`args`]: the options they share (pid file, syslog, metrics);
//! - [`config_file`]: the TOML configuration file, one key for every long
//!   option of the program, read generically from its clap definition;
//! - [`notify`]: systemd's readiness protocol (`NOTIFY_SOCKET`, one
//!   datagram per state change);
//! - [`sockets`]: listening sockets inherited from systemd's socket
//!   activation or from the previous binary during an upgrade
//!   (`LISTEN_FDS`), and handing them to the next binary (the upgrade);
//! - [`http`]: the bounded, non-blocking HTTP server of `/metrics` and
//!   `/health`, which never blocks its owner's loop;
//! - [`exposition`]: the Prometheus text format;
//! - [`syslog`]: logging to the local syslog socket;
//! - [`pidfile`]: the `--pid-file` of a supervisor, handed on by upgrades.

pub(crate) mod args;
pub(crate) mod config_file;
pub(crate) mod exposition;
pub(crate) mod http;
pub(crate) mod notify;
pub(crate) mod pidfile;
pub(crate) mod sockets;
pub(crate) mod syslog;
