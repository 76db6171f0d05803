//! The FTP server proper: everything one worker does for one client.
//!
//! `connection` runs a client from greeting to goodbye; `control` owns the
//! control socket; `session` maps commands to replies; `data` owns the data
//! channel; `transfer` moves the bytes; `jail` and `vpath` keep every path
//! inside the root; `listing` formats directories; `upload` makes uploads
//! atomic; `error` maps every failure to its reply; `wait` gives every wait
//! on a client a deadline; `guard` is what the workers share against
//! abusive clients.

pub mod bans;
pub mod connection;
pub mod control;
pub mod data;
pub mod error;
pub mod guard;
pub mod jail;
pub mod listing;
pub mod session;
pub mod transfer;
pub mod upload;
pub mod vpath;
pub mod wait;
