//! Upload temporaries left behind are removed: a worker killed in the
//! middle of an upload (SIGKILL, the OOM killer, a power cut) leaves its
//! `.forkftp.*` file, which nothing else would ever remove.
//!
//! A temporary is stale once it has not been written for twice
//! `--stall-timeout`: a live upload writes it whenever bytes arrive, and
//! one that makes no progress for `--stall-timeout` is aborted (its
//! temporary removed). The supervisor forks a sweeper at start and then
//! every such period; it drops to `--run-as` (it may remove only what the
//! workers could), walks the root and every account's home without
//! following symlinks, at most [`MAX_SWEEP_DEPTH`] deep, removes the stale
//! temporaries and exits. (Servers sharing a root should share
//! `--stall-timeout`.)

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::dir::{Dir, Type};
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{fstatat, Mode, SFlag};
use nix::unistd::{Gid, Pid, Uid, UnlinkatFlags};

use crate::limits::MAX_SWEEP_DEPTH;
use crate::server::config::ServerConfig;
use crate::server::jail::Jail;
use crate::server::upload::is_temp_name;
use crate::server::vpath::VPath;
use crate::sys::{self, Forked};

/// The supervisor's side: when the next sweep is due, and the one running.
#[derive(Debug)]
pub(super) struct Sweeper {
    running: Option<Pid>,
    next: Instant,
}

impl Sweeper {
    /// The first sweep is due at once.
    pub(super) fn new() -> Sweeper {
        Sweeper { running: None, next: Instant::now() }
    }

    /// Starts a sweep when one is due and none runs (from the supervisor's loop).
    pub(super) fn tick(&mut self, cfg: &ServerConfig, drop_to: Option<(Uid, Gid)>) {
        if self.running.is_some() || Instant::now() < self.next {
            return;
        }
        let max_age = stale_age(cfg);
        self.next = Instant::now() + max_age.max(Duration::from_secs(1));
        match sys::fork() {
            Ok(Forked::Child) => std::process::exit(sweep_child(cfg, drop_to, max_age)),
            Ok(Forked::Parent(pid)) => self.running = Some(pid),
            Err(e) => log::error!("cannot fork the sweeper of stale uploads: {e}"),
        }
    }

    /// True when the reaped `pid` was the sweeper.
    pub(super) fn reaped(&mut self, pid: Pid) -> bool {
        if self.running == Some(pid) {
            self.running = None;
            return true;
        }
        false
    }
}

/// Temporaries not written for this long are stale.
fn stale_age(cfg: &ServerConfig) -> Duration {
    cfg.timeouts.stall * 2
}

/// The sweeper process: returns its exit code.
fn sweep_child(cfg: &ServerConfig, drop_to: Option<(Uid, Gid)>, max_age: Duration) -> i32 {
    if sys::default_signals().is_err() || sys::die_with_parent(nix::sys::signal::Signal::SIGTERM).is_err() {
        return 1;
    }
    // Security: it removes only what the workers themselves could.
    if let Some((uid, gid)) = drop_to {
        if let Err(e) = super::worker::drop_privileges(uid, gid) {
            log::error!("sweeper: cannot drop privileges: {e}");
            return 1;
        }
    }
    let cutoff = SystemTime::now()
        .checked_sub(max_age)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs() as i64);
    // The root through the descriptor opened before fork (its ancestors
    // need not be reachable); homes by their paths, as logins open them.
    let mut trees: Vec<(String, Option<OwnedFd>)> =
        vec![(cfg.root.display().to_string(), cfg.root_dir.open_dir(&VPath::root()).ok())];
    let mut homes: Vec<PathBuf> = cfg.accounts.users.iter().filter_map(|a| a.home.clone()).collect();
    homes.sort();
    homes.dedup();
    for home in homes.into_iter().filter(|h| !h.starts_with(&cfg.root)) {
        let fd = Jail::new(&home).ok().and_then(|j| j.open_dir(&VPath::root()).ok());
        trees.push((home.display().to_string(), fd));
    }
    for (name, fd) in trees {
        let Some(fd) = fd else { continue };
        let removed = sweep_dir(fd, 0, cutoff);
        if removed > 0 {
            log::info!(
                "removed {removed} stale upload temporaries (not written for {} s) under {name}",
                max_age.as_secs()
            );
        }
    }
    0
}

/// Removes the stale temporaries under the open directory `dir`; returns
/// how many.
fn sweep_dir(dir: OwnedFd, depth: usize, cutoff: i64) -> usize {
    let Ok(mut d) = Dir::from_fd(std::os::fd::IntoRawFd::into_raw_fd(dir)) else { return 0 };
    let fd = d.as_raw_fd();
    let mut removed = 0;
    for entry in d.iter().flatten() {
        let name = entry.file_name();
        let bytes = name.to_bytes();
        if bytes == b"." || bytes == b".." {
            continue;
        }
        let kind = match entry.file_type() {
            Some(t) => Some(t),
            None => {
                fstatat(Some(fd), name, AtFlags::AT_SYMLINK_NOFOLLOW).ok().map(|st| {
                    match SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) {
                        SFlag::S_IFDIR => Type::Directory,
                        SFlag::S_IFREG => Type::File,
                        _ => Type::Symlink,
                    }
                })
            }
        };
        match kind {
            Some(Type::File) if is_temp_name(bytes) => {
                let stale = fstatat(Some(fd), name, AtFlags::AT_SYMLINK_NOFOLLOW).is_ok_and(|st| {
                    SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) == SFlag::S_IFREG
                        && st.st_mtime < cutoff
                });
                if stale && nix::unistd::unlinkat(Some(fd), name, UnlinkatFlags::NoRemoveDir).is_ok() {
                    removed += 1;
                }
            }
            Some(Type::Directory) if depth < MAX_SWEEP_DEPTH => {
                let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
                if let Ok(sub) = sys::adopt(nix::fcntl::openat(Some(fd), name, flags, Mode::empty())) {
                    removed += sweep_dir(sub, depth + 1, cutoff);
                }
            }
            _ => {}
        }
    }
    removed
}
