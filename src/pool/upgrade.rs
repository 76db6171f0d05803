//! Upgrading the binary without refusing a connection (SIGUSR2, as nginx
//! does, done for a pool whose sessions last).
//!
//! 1. The supervisor starts the binary it was started from (the file now
//!    holds the new version) with the same command line, handing it its
//!    listening sockets as systemd's socket activation does (`LISTEN_FDS`,
//!    `LISTEN_FDNAMES`: the FTP port, the implicit-FTPS port, the status
//!    socket, the metrics port; a new listener must be added to
//!    [`Supervisor::handed_sockets`]) and a pipe on which the new binary
//!    says it serves
//!    (`service::sockets::spawn_successor`).
//! 2. Until then both serve: the kernel queues new clients on the shared
//!    socket and workers of either pool accept them.
//! 3. When the new binary is ready (its workers forked), this supervisor
//!    hands over: it closes its status and metrics sockets, tells its
//!    workers to finish their sessions and take no new client (SIGHUP), and
//!    exits once they are gone (after [`UPGRADE_DRAIN_TIMEOUT`], the
//!    sessions left are told to stop after their running transfer). The
//!    listening socket stays open in the new binary all along, so no client
//!    is refused: one queued meanwhile is accepted by a new worker.
//! 4. A new binary that exits, or is not ready within
//!    [`UPGRADE_READY_TIMEOUT`], is killed and reaped; this one goes on
//!    serving as if nothing happened.
//!
//! The scoreboard is not shared: each supervisor maps its own, so during
//! the overlap `status` and `/metrics` show the new pool (the old one's
//! last sessions are in its log), `--max-per-ip` counts each pool's own
//! clients, and the metrics' counters start again from zero (Prometheus
//! takes a counter reset in its stride). A slave of an `ftpmaster`
//! (`--register`) is not upgraded in place: its registration and hand-over
//! socket belong to one process; `ftpslaves` restarts it and the master
//! routes around it meanwhile.

use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Instant;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::Supervisor;
use crate::limits::{UPGRADE_DRAIN_TIMEOUT, UPGRADE_READY_TIMEOUT};
use crate::service::notify::{Notifier, UPGRADE_READY};
use crate::service::sockets::{self, spawn_successor, Successor};

/// Where an upgrade stands.
#[derive(Debug, Default)]
pub(crate) enum Upgrade {
    /// None asked.
    #[default]
    Idle,
    /// A new binary runs and has not said it serves yet.
    Starting { successor: Successor, deadline: Instant, said: Vec<u8> },
    /// The new binary serves; this one drains its sessions.
    HandedOver { to: Pid, drain_until: Instant, told_to_quit: bool },
}

impl Supervisor {
    /// The listening sockets a new binary takes over, by name.
    pub(super) fn handed_sockets(&self) -> Vec<(&'static str, BorrowedFd<'_>)> {
        let mut v = vec![(sockets::FTP, self.listener.as_fd())];
        if let Some(l) = &self.implicit {
            v.push((sockets::FTPS, l.as_fd()));
        }
        if let Some(s) = &self.status {
            v.push((sockets::STATUS, s.as_fd()));
        }
        if let Some(m) = &self.service.metrics {
            v.push((sockets::METRICS, m.listener()));
        }
        v
    }

    /// SIGUSR2: starts the new binary, unless an upgrade is under way or
    /// the pool cannot be upgraded in place.
    fn start_upgrade(&mut self) {
        if !matches!(self.service.upgrade, Upgrade::Idle) {
            log::warn!("upgrade: one is under way already; SIGUSR2 ignored");
            return;
        }
        if self.args.cluster.register.is_some() {
            log::warn!("upgrade: a slave of an ftpmaster is not upgraded in place (restart it); SIGUSR2 ignored");
            return;
        }
        let Some(exe) = self.service.exe.clone() else {
            log::error!("upgrade: the path of this binary is unknown; SIGUSR2 ignored");
            return;
        };
        let argv = self.command_line();
        match spawn_successor(&exe, &argv, &self.handed_sockets()) {
            Ok(successor) => {
                log::info!("upgrade: started {} (pid {}); serving until it is ready", exe.display(), successor.pid);
                self.service.notifier.reloading();
                let deadline = Instant::now() + UPGRADE_READY_TIMEOUT;
                self.service.upgrade = Upgrade::Starting { successor, deadline, said: Vec::new() };
            }
            Err(e) => log::error!("upgrade: cannot start {}: {e}; still serving", exe.display()),
        }
    }

    /// The upgrade failed: the new binary is killed (if it still runs) and
    /// this one serves on.
    fn upgrade_failed(&mut self, why: &str) {
        if let Upgrade::Starting { successor, .. } = std::mem::take(&mut self.service.upgrade) {
            // Its own process group: whatever it started goes too.
            let _ = kill(Pid::from_raw(-successor.pid.as_raw()), Signal::SIGKILL);
            self.service.failed_successors.push(successor.pid);
            log::error!("upgrade failed: the new binary (pid {}) {why}; this one serves on", successor.pid);
            let status = self.status_line();
            self.service.notifier.ready(&status);
        }
    }

    /// On every turn of the loop: SIGUSR2, the new binary's readiness, the
    /// hand-over, and the end of the drain. Sets `graceful` once handed
    /// over, so that the loop forks no more workers and ends when the last
    /// one has gone.
    pub(super) fn upgrade_tick(&mut self, graceful: &mut bool) {
        if self.signals.take(libc::SIGUSR2) && !*graceful {
            self.start_upgrade();
        }
        let now = Instant::now();
        match poll_successor(&mut self.service.upgrade, now) {
            Some(Ok(pid)) if !*graceful => self.hand_over(pid, graceful),
            Some(Ok(pid)) => {
                // Stopping meanwhile: the new binary serves alone.
                log::info!("upgrade: pid {pid} serves; this supervisor was stopping anyway");
                self.service.notifier = Notifier::default();
                self.service.upgrade =
                    Upgrade::HandedOver { to: pid, drain_until: now + UPGRADE_DRAIN_TIMEOUT, told_to_quit: false };
            }
            Some(Err(why)) => self.upgrade_failed(why),
            None => {}
        }
        if let Upgrade::HandedOver { drain_until, told_to_quit, .. } = &mut self.service.upgrade {
            if now >= *drain_until && !*told_to_quit {
                *told_to_quit = true;
                log::info!(
                    "upgrade: the sessions still open after {UPGRADE_DRAIN_TIMEOUT:?} end after their running transfer"
                );
                self.signal_workers(Signal::SIGQUIT, false);
            }
        }
    }

    /// The new binary serves: this one stops taking clients and lets its
    /// sessions finish.
    fn hand_over(&mut self, to: Pid, graceful: &mut bool) {
        log::info!("upgrade: pid {to} serves; this supervisor takes no new client and ends when its sessions have");
        // From now on systemd hears the new binary only (its MAINPID).
        self.service.notifier = Notifier::default();
        self.status = None;
        self.service.metrics = None;
        self.service.upgrade =
            Upgrade::HandedOver { to, drain_until: Instant::now() + UPGRADE_DRAIN_TIMEOUT, told_to_quit: false };
        *graceful = true;
        self.signal_workers(Signal::SIGHUP, false);
    }

    /// A child that exited was the new binary (not a worker): true when so.
    pub(super) fn successor_gone(&mut self, pid: Pid, why: &Option<String>) -> bool {
        match &self.service.upgrade {
            Upgrade::Starting { successor, .. } if successor.pid == pid => {
                let why = match why {
                    Some(w) => format!("exited ({w})"),
                    None => "exited before it served".to_string(),
                };
                self.upgrade_failed(&why);
                true
            }
            Upgrade::HandedOver { to, .. } if *to == pid => {
                log::warn!("upgrade: the new binary (pid {pid}) has exited");
                true
            }
            _ => {
                let failed = &mut self.service.failed_successors;
                let known = failed.contains(&pid);
                failed.retain(|&p| p != pid);
                known
            }
        }
    }

    /// A stop while the new binary starts: it stops too.
    pub(super) fn abort_upgrade(&mut self) {
        if matches!(self.service.upgrade, Upgrade::Starting { .. }) {
            self.upgrade_failed("was stopped: this one stops");
        }
    }
}

/// What the new binary said since the last look: `Ok` once it serves,
/// `Err` when it failed, `None` while it starts.
fn poll_successor(upgrade: &mut Upgrade, now: Instant) -> Option<Result<Pid, &'static str>> {
    let Upgrade::Starting { successor, deadline, said } = upgrade else { return None };
    let mut buf = [0u8; 64];
    let outcome = match successor.ready.read(&mut buf) {
        Ok(0) => Some(Err("exited before it served")),
        Ok(n) => {
            said.extend_from_slice(&buf[..n]);
            said.truncate(UPGRADE_READY.len() * 2);
            said.starts_with(UPGRADE_READY).then_some(Ok(successor.pid))
        }
        Err(e) if crate::net::would_block(&e) => None,
        Err(_) => Some(Err("closed its readiness pipe")),
    };
    outcome.or_else(|| (now >= *deadline).then_some(Err("was not ready in time")))
}
