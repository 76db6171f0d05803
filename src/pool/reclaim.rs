//! Keeping a full pool open to real clients: the pressure the workers read,
//! and reclaiming workers from clients that have not logged in.
//!
//! A pool of processes cannot give every idle or slow connection a worker
//! for the whole login timeout. So, each tick, the supervisor publishes
//! whether the pool is nearly full ([`PRESSURE_BUSY_PERCENT`] of
//! `--max-workers` busy), and the workers then give clients that have not
//! logged in only [`PRESSURE_LOGIN_TIMEOUT`](crate::limits::PRESSURE_LOGIN_TIMEOUT).
//! At `--max-workers`, with clients waiting in the accept queue, it asks
//! (SIGUSR2) the workers held longest by clients that have not logged in,
//! held at least [`RECLAIM_MIN_AGE`], to give them up with `421`: one per
//! waiting client, oldest first. A newcomer is refused only when every
//! client of the pool has logged in.

use std::collections::HashMap;
use std::time::Instant;

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::scoreboard::State;
use super::Supervisor;
use crate::limits::{PRESSURE_BUSY_PERCENT, RECLAIM_MIN_AGE, RECLAIM_SETTLE, SIGNAL_CHECK};

/// A reclaimed worker acts within [`SIGNAL_CHECK`]; past twice that, the
/// request is taken as ignored.
const PATIENCE: std::time::Duration = SIGNAL_CHECK.saturating_mul(2);

/// The reclaims sent and not yet done.
#[derive(Debug)]
pub(super) struct Reclaims {
    /// Worker pid to the session it was asked to give up (its count of
    /// clients served when it was chosen) and when: done once that count
    /// moves, the client logs in, or [`PATIENCE`] passes (a worker that had
    /// already moved on to a new client ignores the request).
    sent: HashMap<Pid, (u32, Instant)>,
    /// The listener is not watched until then: the reclaimed workers take
    /// the waiting clients meanwhile.
    settle_until: Instant,
}

impl Default for Reclaims {
    fn default() -> Self {
        Reclaims { sent: HashMap::new(), settle_until: Instant::now() }
    }
}

impl Reclaims {
    /// True once the last reclaims had time to take effect.
    pub(super) fn settled(&self) -> bool {
        Instant::now() >= self.settle_until
    }
}

impl Supervisor {
    /// Tells the workers whether the pool is nearly full.
    pub(super) fn publish_pressure(&self) {
        let busy = self.board.count(State::Busy);
        let max = self.cfg.pool.max_workers;
        self.cfg.guard.set_pressure(busy * 100 >= max * PRESSURE_BUSY_PERCENT);
    }

    /// The pool is full and clients wait: reclaims workers from clients
    /// that have not logged in, oldest first, one per waiting client.
    /// False when no client can ever be reclaimed (all have logged in): the
    /// caller refuses the newcomer.
    pub(super) fn reclaim_for_waiting(&mut self) -> bool {
        let slots = self.board.slots();
        // Done: the worker moved on to another client, or it logged in, or it is gone.
        let children = &self.children;
        self.reclaims.sent.retain(|pid, (session, at)| {
            at.elapsed() < PATIENCE
                && children.slot_of(*pid).is_some_and(|i| {
                    slots[i].sessions() == *session && slots[i].state() == State::Busy && !slots[i].logged_in()
                })
        });
        let mut candidates: Vec<(u64, usize, Pid, u32)> = Vec::new();
        let mut not_logged_in = 0;
        for (i, pid) in self.children.iter() {
            let s = &slots[i];
            if s.state() != State::Busy || s.logged_in() {
                continue;
            }
            not_logged_in += 1;
            // The session is named before its age is read: a worker that
            // moves on meanwhile shows another count, and is left alone.
            let session = s.sessions();
            let held = s.for_ms();
            if held >= RECLAIM_MIN_AGE.as_millis() as u64 && !self.reclaims.sent.contains_key(&pid) {
                candidates.push((held, i, pid, session));
            }
        }
        if not_logged_in == 0 {
            return false;
        }
        let waiting = super::burst::queued(&self.listener).max(1);
        let wanted = waiting.saturating_sub(self.reclaims.sent.len());
        // The longest held first.
        candidates.sort_unstable_by_key(|c| std::cmp::Reverse(c.0));
        let mut sent = 0;
        for &(held, i, pid, session) in candidates.iter().take(wanted) {
            if self.children.signal(i, Signal::SIGUSR2) {
                self.reclaims.sent.insert(pid, (session, Instant::now()));
                log::debug!("pool full, {waiting} waiting: reclaiming worker {pid}, held {held} ms before login");
                sent += 1;
            }
        }
        if sent > 0 {
            log::info!("pool full ({} workers), {waiting} clients waiting: reclaimed {sent} workers from clients not logged in", slots.len().min(self.cfg.pool.max_workers));
        }
        // Those not eligible yet will be soon: wait rather than refuse.
        self.reclaims.settle_until = Instant::now() + RECLAIM_SETTLE;
        true
    }
}
