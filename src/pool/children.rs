//! The supervisor's own record of its workers: which pid it forked into
//! which scoreboard slot, kept in memory the workers never see.
//!
//! Security: the scoreboard is shared with every worker, and any worker can
//! write any slot of it. The supervisor (often root) therefore never signals
//! a pid read there: it signals only the pids recorded here when it forked
//! them, and forgets each one when it reaps it. The scoreboard still tells
//! it what each worker is doing.
//!
//! Memory: the record is written at every fork, so it lives in a mapping
//! the workers do not inherit ([`SharedSlice::parent_only`]); on the heap,
//! each fork would leave a page of it behind in the worker forked before.

use std::sync::atomic::{AtomicU32, Ordering};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::sys::SharedSlice;

/// Highest pid the pid-to-slot table covers when `kernel.pid_max` cannot
/// be read (the kernel's own upper bound on 64-bit machines).
const PID_MAX_LIMIT: usize = 4 << 20;

/// The workers this supervisor forked and has not reaped yet.
pub struct Children {
    /// Slot index to pid (0: free).
    by_slot: SharedSlice<AtomicU32>,
    /// Pid to slot index + 1 (0: not ours); pids beyond it are looked up
    /// in `by_slot`.
    by_pid: SharedSlice<AtomicU32>,
    /// Free slots as a stack, the lowest on top; `counts[0]` long.
    free: SharedSlice<AtomicU32>,
    /// How many free slots, how many live workers.
    counts: SharedSlice<AtomicU32>,
}

impl std::fmt::Debug for Children {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Children").field("live", &self.len()).finish()
    }
}

fn get(s: &SharedSlice<AtomicU32>, i: usize) -> u32 {
    s.get()[i].load(Ordering::Relaxed)
}

fn set(s: &SharedSlice<AtomicU32>, i: usize, v: u32) {
    s.get()[i].store(v, Ordering::Relaxed)
}

impl Children {
    /// No worker yet, `slots` slots (the scoreboard's size).
    pub fn new(slots: usize) -> nix::Result<Children> {
        let pid_max = std::fs::read_to_string("/proc/sys/kernel/pid_max")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .unwrap_or(PID_MAX_LIMIT)
            .min(PID_MAX_LIMIT);
        let c = Children {
            by_slot: SharedSlice::parent_only(slots)?,
            by_pid: SharedSlice::parent_only(pid_max + 1)?,
            free: SharedSlice::parent_only(slots)?,
            counts: SharedSlice::parent_only(2)?,
        };
        for (k, slot) in (0..slots).rev().enumerate() {
            set(&c.free, k, slot as u32);
        }
        set(&c.counts, 0, slots as u32);
        Ok(c)
    }

    /// A slot no worker of ours holds.
    pub fn free_slot(&self) -> Option<usize> {
        let n = get(&self.counts, 0) as usize;
        (n > 0).then(|| get(&self.free, n - 1) as usize)
    }

    /// `pid` was forked into `slot`, the slot [`Children::free_slot`] gave.
    pub fn record(&mut self, slot: usize, pid: Pid) {
        let n = get(&self.counts, 0) as usize;
        debug_assert!(n > 0 && get(&self.free, n - 1) as usize == slot);
        set(&self.counts, 0, n.saturating_sub(1) as u32);
        set(&self.counts, 1, get(&self.counts, 1) + 1);
        set(&self.by_slot, slot, pid.as_raw() as u32);
        if let Some(cell) = self.by_pid.get().get(pid.as_raw() as usize) {
            cell.store(slot as u32 + 1, Ordering::Relaxed);
        }
    }

    /// The slot of `pid`, if it is one of ours.
    pub fn slot_of(&self, pid: Pid) -> Option<usize> {
        let raw = pid.as_raw();
        if raw <= 0 {
            return None;
        }
        match self.by_pid.get().get(raw as usize) {
            Some(cell) => cell.load(Ordering::Relaxed).checked_sub(1).map(|s| s as usize),
            None => self.by_slot.get().iter().position(|p| p.load(Ordering::Relaxed) == raw as u32),
        }
    }

    /// `pid` was reaped: its slot, if it was ours.
    pub fn forget(&mut self, pid: Pid) -> Option<usize> {
        let slot = self.slot_of(pid)?;
        set(&self.by_slot, slot, 0);
        if let Some(cell) = self.by_pid.get().get(pid.as_raw() as usize) {
            cell.store(0, Ordering::Relaxed);
        }
        let n = get(&self.counts, 0) as usize;
        set(&self.free, n, slot as u32);
        set(&self.counts, 0, n as u32 + 1);
        set(&self.counts, 1, get(&self.counts, 1).saturating_sub(1));
        Some(slot)
    }

    /// Every worker: (slot, pid).
    pub fn iter(&self) -> impl Iterator<Item = (usize, Pid)> + '_ {
        self.by_slot.get().iter().enumerate().filter_map(|(i, p)| match p.load(Ordering::Relaxed) {
            0 => None,
            pid => Some((i, Pid::from_raw(pid as i32))),
        })
    }

    /// How many workers are alive (not reaped).
    pub fn len(&self) -> usize {
        get(&self.counts, 1) as usize
    }

    /// Sends `sig` to the worker in `slot`, if there is one of ours.
    pub fn signal(&self, slot: usize, sig: Signal) -> bool {
        match self.by_slot.get().get(slot).map(|p| p.load(Ordering::Relaxed)) {
            Some(pid) if pid != 0 => kill(Pid::from_raw(pid as i32), sig).is_ok(),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_taken_lowest_first_and_given_back() {
        let mut c = Children::new(3).unwrap();
        assert_eq!(c.free_slot(), Some(0));
        c.record(0, Pid::from_raw(100));
        assert_eq!(c.free_slot(), Some(1));
        c.record(1, Pid::from_raw(101));
        c.record(2, Pid::from_raw(102));
        assert_eq!((c.free_slot(), c.len()), (None, 3));
        assert_eq!(c.forget(Pid::from_raw(101)), Some(1));
        assert_eq!(c.forget(Pid::from_raw(101)), None);
        assert_eq!(c.forget(Pid::from_raw(999)), None);
        assert_eq!(c.free_slot(), Some(1));
        assert_eq!((c.slot_of(Pid::from_raw(102)), c.slot_of(Pid::from_raw(101))), (Some(2), None));
        let all: Vec<_> = c.iter().collect();
        assert_eq!(all, [(0, Pid::from_raw(100)), (2, Pid::from_raw(102))]);
        // Nothing is signalled in a slot that is not ours.
        assert!(!c.signal(1, Signal::SIGTERM));
        assert_eq!(c.len(), 2);
    }
}
