//! Checks made once at start, before the workers fork, that warn about a
//! configuration that will bite later.
//!
//! - The machine's own limits on processes against `--max-workers`.

use crate::config::ServerConfig;

/// Warns about everything found.
pub(super) fn check(cfg: &ServerConfig, _drop_to: Option<(nix::unistd::Uid, nix::unistd::Gid)>) {
    machine_limits(cfg.pool.max_workers);
}

/// `--max-workers` beyond what the machine lets one user run.
fn machine_limits(max_workers: usize) {
    let read = |p: &str| std::fs::read_to_string(p).ok().and_then(|s| s.trim().parse::<u64>().ok());
    let mut limits = Vec::new();
    if let Some(n) = read("/proc/sys/kernel/pid_max") {
        limits.push((n, "kernel.pid_max"));
    }
    if let Some(n) = read("/proc/sys/kernel/threads-max") {
        limits.push((n, "kernel.threads-max"));
    }
    if let Ok((soft, _)) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NPROC) {
        if !nix::unistd::geteuid().is_root() {
            limits.push((soft, "the process limit of this user (ulimit -u)"));
        }
    }
    if let Some((n, name)) = limits.into_iter().filter(|(n, _)| *n <= max_workers as u64 + 16).min() {
        log::warn!("--max-workers {max_workers} exceeds {name} ({n}): the pool will stop growing before it");
    }
}
