//! The FTP server proper: everything one worker does for one client.
//!
//! `connection` runs a client from greeting to goodbye; `control` owns the
//! control socket; `session` maps commands to replies; `data` owns the data
//! channel; `transfer` moves the bytes; `jail` and `vpath` keep every path
//! inside the root; `listing` formats directories; `upload` makes uploads
//! atomic; `error` maps every failure to its reply; `config` is the
//! server's command line and configuration; `intake` is how clients reach
//! a worker; `proxied` reads the PROXY header of clients a proxy relays;
//! `xferlog` writes the line of each transfer for the transfer log. The
//! extensions of issue 14: `hash` (checksums in the worker), `rate` (the
//! token bucket of rate limits), `quota` (bytes and files per home),
//! `attrs` (times, modes, free space). Against abusive clients (issue
//! 10): `wait` gives every wait on a client a deadline; `guard` (with
//! `bans`) is what the workers share. `tls` and `cert` are FTPS (RFC
//! 4217): its options, policy and state machine, and the certificate.

pub(crate) mod attrs;
pub(crate) mod bans;
pub(crate) mod cert;
pub mod config;
pub(crate) mod connection;
pub(crate) mod control;
pub(crate) mod data;
pub(crate) mod error;
pub(crate) mod guard;
pub(crate) mod hash;
pub mod intake;
pub(crate) mod jail;
pub(crate) mod listing;
pub mod proxied;
pub(crate) mod quota;
pub(crate) mod rate;
pub(crate) mod session;
pub mod tls;
pub(crate) mod transfer;
pub(crate) mod upload;
pub mod vpath;
pub(crate) mod wait;
pub(crate) mod xferlog;
