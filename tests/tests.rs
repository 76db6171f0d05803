//! Integration tests: the real binaries on port 0 of loopback addresses, each test
//! with its own temporary root, driven by raw sockets and real clients.

mod util;

mod access;
mod bad_input;
mod balancer;
mod burst;
mod client;
mod clients;
mod commands;
mod concurrency;
mod docker;
mod extensions;
mod ftps;
mod hostile;
mod layers;
mod limits;
mod load_balancer;
mod pool;
mod security;
mod service;
mod smoke;
mod transfers;
mod uploads;
