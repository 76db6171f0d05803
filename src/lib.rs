//! forkftp: a pre-forked process-pool FTP server, a round-robin load
//! balancer and an interactive client, speaking real FTP (RFC 959, 2389,
//! 2428, 3659, 2640).
//!
//! # Layout
//!
//! - [`protocol`]: the wire format, pure: commands and replies, parsed and
//!   encoded; shared by server and client.
//! - [`server`]: what a worker does for one client: control connection,
//!   session state machine, data channel, transfers, path jail, listings.
//! - [`pool`]: the supervisor that binds, forks and supervises workers, the
//!   workers' accept loop, and the shared-memory scoreboard.
//! - [`balancer`]: `ftpmaster` and `ftpslaves`: slave registration, the
//!   round robin, handing clients over (socket passing or relaying).
//! - [`admin`]: signal flags and the owner-only status socket of the
//!   long-running parents (supervisor, master).
//! - [`client`]: the `ftpclient` program: session, commands, transfers with
//!   resume and progress, the prompt and scripts.
//! - [`accounts`]: who may log in, and with which rights.
//! - [`bench`](mod@bench): `ftpbench`, the benchmark that drives the release server on
//!   loopback and prints one table (`make bench`).
//! - [`config`]: command-line options and the checked configuration.
//! - [`escape`]: client-supplied text made safe for logs and terminals
//!   (one function, pure).
//! - [`limits`]: every limit and default, named in one place.
//! - [`logging`]: one line per event, never interleaved between workers.
//! - [`sys`]: the only `unsafe` code (fork, shared memory, signals); the
//!   rest of the crate is `deny(unsafe_code)`.
//! - [`term`]: reading a password from the terminal without echo.

#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod accounts;
pub mod admin;
pub mod balancer;
pub mod bench;
pub mod client;
pub mod config;
pub mod escape;
pub mod limits;
pub mod logging;
pub mod pool;
pub mod protocol;
pub mod server;
pub mod sys;
pub mod term;
