//! Checks made once at start, before the workers fork, that warn about a
//! configuration that will bite later.
//!
//! - The machine's own limits on processes against `--max-workers`.
//! - Started as root with writes enabled (`-w`, or accounts with write
//!   rights), a root or home the `--run-as` user cannot write: every upload
//!   would fail with `550 Permission denied` (`make && ./ftpserver -w` as
//!   root, with `_FTPROOT` owned by root). Tried as the workers will try it:
//!   a child drops to that user and asks `access(W_OK)`.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use nix::unistd::{AccessFlags, Gid, Uid};

use crate::server::config::ServerConfig;
use crate::server::vpath::VPath;
use crate::sys::{self, Forked};

/// Warns about everything found.
pub(super) fn check(cfg: &ServerConfig, drop_to: Option<(Uid, Gid)>) {
    machine_limits(cfg.pool.max_workers);
    writable_trees(cfg, drop_to);
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

/// The directories clients may write to, and for whom.
fn write_targets(cfg: &ServerConfig) -> Vec<(Option<PathBuf>, String)> {
    let mut out: Vec<(Option<PathBuf>, String)> = Vec::new();
    if cfg.accounts.anonymous.is_some_and(|p| p.write) {
        out.push((None, "anonymous users (-w)".into()));
    }
    for a in cfg.accounts.users.iter().filter(|a| a.perms.write) {
        out.push((a.home.clone(), format!("user {}", a.name)));
    }
    out
}

/// Warns about each writable tree the workers' user cannot write.
fn writable_trees(cfg: &ServerConfig, drop_to: Option<(Uid, Gid)>) {
    let mut seen: Vec<Option<PathBuf>> = Vec::new();
    for (dir, who) in write_targets(cfg) {
        if seen.contains(&dir) {
            continue;
        }
        seen.push(dir.clone());
        let path = dir.clone().unwrap_or_else(|| cfg.root.clone());
        if can_write(cfg, dir.as_deref(), drop_to) {
            continue;
        }
        let owner = std::fs::metadata(&path).map(|m| {
            use std::os::unix::fs::MetadataExt;
            let name = nix::unistd::User::from_uid(Uid::from_raw(m.uid()))
                .ok()
                .flatten()
                .map_or(m.uid().to_string(), |u| u.name);
            format!(" (owned by {name}, mode {:o})", m.mode() & 0o7777)
        });
        let user = if drop_to.is_some() { format!("--run-as {}", cfg.run_as) } else { "this user".into() };
        let fix = if drop_to.is_some() {
            format!(
                "chown -R {} {}, or start with --run-as USER for a user who can write it",
                cfg.run_as,
                path.display()
            )
        } else {
            format!("give this user write access to {}", path.display())
        };
        log::warn!(
            "{user} cannot write {}{}: uploads by {who} will fail with 550 Permission denied; fix: {fix}",
            path.display(),
            owner.unwrap_or_default()
        );
    }
}

/// True when the workers' user can write `dir` (the root when `None`,
/// through the descriptor the workers use).
fn can_write(cfg: &ServerConfig, dir: Option<&Path>, drop_to: Option<(Uid, Gid)>) -> bool {
    let root = match dir {
        None => match cfg.root_dir.open_dir(&VPath::root()) {
            Ok(fd) => Some(fd),
            Err(_) => return true,
        },
        Some(_) => None,
    };
    let try_it = || match (&root, dir) {
        (Some(fd), _) => {
            nix::unistd::faccessat(Some(fd.as_raw_fd()), ".", AccessFlags::W_OK, nix::fcntl::AtFlags::empty()).is_ok()
        }
        (None, Some(p)) => nix::unistd::access(p, AccessFlags::W_OK).is_ok(),
        (None, None) => true,
    };
    let Some((uid, gid)) = drop_to else { return try_it() };
    // As root, access() would say yes to everything: ask as the workers' user.
    match sys::fork() {
        Ok(Forked::Child) => {
            let ok = super::worker::drop_privileges(uid, gid).is_ok() && try_it();
            std::process::exit(if ok { 0 } else { 1 })
        }
        Ok(Forked::Parent(pid)) => loop {
            match nix::sys::wait::waitpid(pid, None) {
                Ok(nix::sys::wait::WaitStatus::Exited(_, code)) => return code == 0,
                Err(nix::errno::Errno::EINTR) => continue,
                _ => return true,
            }
        },
        Err(_) => true,
    }
}
