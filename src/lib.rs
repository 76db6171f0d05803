//! forkftp: a pre-forked process-pool FTP server, a round-robin load
//! balancer and an interactive client, speaking real FTP (RFC 959, 2389,
//! 2428, 3659, 2640).
//!
//! # Layout
//!
//! Four layers; a module uses only the layers below its own (and, in the
//! two lowest, modules of its own layer), which `tests/layers.rs` checks.
//!
//! **bottom**: pure code and small system helpers, used by everything.
//! - [`protocol`]: the wire formats, pure, shared by server and client:
//!   commands and replies, the line framer, data-connection addresses, the
//!   ASCII converters, the PROXY header, RFC 3659 times, and the checksums
//!   of HASH.
//! - [`limits`]: every limit and default, named in one place.
//! - [`sys`]: the only `unsafe` code (fork, shared memory, signals); uses
//!   nothing of ours; the rest of the crate is `deny(unsafe_code)`.
//! - [`net`]: binding, accepting, readiness waits, non-blocking connects,
//!   and `Stream`, the one stream type under control and data connections
//!   (plain, or TLS: rustls's streams, or `net::records`, the TLS records of
//!   data connections sealed and opened in place).
//! - [`logging`]: one line per event, never interleaved between workers.
//! - [`term`]: reading a password from the terminal without echo.
//! - [`escape`]: client- and server-supplied text made safe for logs,
//!   listings and terminals (one function, pure; uses nothing of ours).
//!
//! **shared**: what the programs have in common.
//! - [`accounts`]: who may log in, and with which rights.
//! - [`admin`]: signal flags and the owner-only status socket of the
//!   long-running parents (supervisor, master).
//! - [`service`]: running them as a service: the configuration file,
//!   systemd's readiness and socket activation, sockets handed to a new
//!   binary, the HTTP side of `/metrics`, syslog, the pid file.
//!
//! **session**: one FTP client, served.
//! - [`server`]: what a worker does for one client: the control connection,
//!   the session (commands to replies), the data channel, transfers, the
//!   path jail, listings, the one error-to-reply map, the server's command
//!   line, and `Intake`, how clients reach a worker, with the PROXY header
//!   of those a proxy relays; checksums, rate limits and quotas (issue 14).
//!
//! **programs**: on the layers below, none importing another.
//! - [`pool`]: `ftpserver`: the supervisor that binds, forks and supervises
//!   workers, the workers' accept loop, and the shared-memory scoreboard.
//! - [`balancer`]: `ftpmaster` and `ftpslaves`: slave registration, the
//!   round robin, handing clients over (socket passing or relaying), and
//!   the slave behaviour a pool takes as its `Intake`, wired in by
//!   `bin/ftpserver.rs`.
//! - [`client`]: the `ftpclient` program: session, commands, transfers with
//!   resume and progress, the prompt and scripts.
//! - [`bench`](mod@bench): `ftpbench`, the benchmark that drives the
//!   release server on loopback and prints one table (`make bench`).

#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]
// The module docs describe the internals for the crate's own developers
// (`cargo doc --document-private-items`); they may link to them.
#![allow(rustdoc::private_intra_doc_links)]

pub(crate) mod accounts;
pub(crate) mod admin;
pub mod balancer;
pub mod bench;
pub mod client;
pub mod escape;
pub mod limits;
pub(crate) mod logging;
pub(crate) mod net;
pub mod pool;
pub mod protocol;
pub mod server;
pub(crate) mod service;
pub(crate) mod sys;
pub(crate) mod term;
