//! The load balancer: `ftpmaster` sends each new FTP client to the next
//! live slave in round-robin order; slaves are full `ftpserver` pools
//! (started by `ftpslaves`, or `ftpserver --register`) that register with
//! it and keep their registration alive.
//!
//! - [`master`]: the master's epoll loop: accepts clients and
//!   registrations, hands clients over, relays, checks heartbeats (split
//!   into its clients, registrations and timers).
//! - [`registry`]: the table of slaves and the round robin (pure choice).
//! - [`relay`]: one relayed control connection, both ways, non-blocking.
//! - [`handoff`]: passing an accepted socket to a slave of the same host
//!   (`SCM_RIGHTS`), both ends.
//! - [`wire`]: the registration protocol, pure and bounded.
//! - [`auth`]: the cluster key and its HMAC-SHA256 challenge-response.
//! - [`slave`]: what a server does as a slave: registration, taking passed
//!   clients, reading the master's PROXY header; it plugs into the pool as
//!   its `server::intake::Intake` (the pool never imports the balancer).
//! - [`slaves`]: `ftpslaves`, which starts and supervises slave pools.
//! - [`status`]: `ftpmaster status`.
//! - [`config`]: the options of all of these (a slave's are read with
//!   `ftpserver`'s command line, `server::config::SlaveArgs`, and
//!   interpreted here).
//! - [`peer`]: which user is at the other end of a local TCP connection.

pub mod auth;
pub mod config;
pub(crate) mod handoff;
pub mod master;
pub(crate) mod peer;
pub(crate) mod registry;
pub(crate) mod relay;
pub mod slave;
pub mod slaves;
pub mod status;
pub mod wire;
