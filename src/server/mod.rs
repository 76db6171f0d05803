//! The FTP server proper: everything one worker does for one client.
//!
//! `connection` runs a client from greeting to goodbye; `control` owns the
//! control socket; `session` maps commands to replies; `data` owns the data
//! channel; `transfer` moves the bytes; `jail` and `vpath` keep every path
//! inside the root; `listing` formats directories; `upload` makes uploads
//! atomic; `error` maps every failure to its reply; `config` is the
//! server's command line and configuration; `intake` is how clients reach
//! a worker; `wait` gives every wait on a client a deadline; `guard` (with
//! `bans`) is what the workers share against abusive clients.

pub(crate) mod bans;
pub mod config;
pub(crate) mod connection;
pub(crate) mod control;
pub(crate) mod data;
pub(crate) mod error;
pub(crate) mod guard;
pub mod intake;
pub(crate) mod jail;
pub(crate) mod listing;
pub(crate) mod session;
pub(crate) mod transfer;
pub(crate) mod upload;
pub mod vpath;
pub(crate) mod wait;
