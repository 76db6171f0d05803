//! Integration tests: the real binaries on free loopback ports, each test
//! with its own temporary root, driven by raw sockets and real clients.

mod util;

mod access;
mod bad_input;
mod balancer;
mod client;
mod clients;
mod commands;
mod concurrency;
mod hostile;
mod pool;
mod security;
mod smoke;
mod transfers;
