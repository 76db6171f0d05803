//! The supervisor's own record of its workers: which pid it forked into
//! which scoreboard slot, kept in its private memory.
//!
//! Security: the scoreboard is shared with every worker, and any worker can
//! write any slot of it. The supervisor (often root) therefore never signals
//! a pid read there: it signals only the pids recorded here when it forked
//! them, and forgets each one when it reaps it. The scoreboard still tells
//! it what each worker is doing.

use std::collections::HashMap;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// The workers this supervisor forked and has not reaped yet.
#[derive(Debug)]
pub struct Children {
    /// Slot index to pid.
    by_slot: Vec<Option<Pid>>,
    /// Pid to slot index.
    by_pid: HashMap<Pid, usize>,
    /// Free slots, the lowest last (taken first).
    free: Vec<usize>,
}

impl Children {
    /// No worker yet, `slots` slots (the scoreboard's size).
    pub fn new(slots: usize) -> Children {
        Children { by_slot: vec![None; slots], by_pid: HashMap::new(), free: (0..slots).rev().collect() }
    }

    /// A slot no worker of ours holds.
    pub fn free_slot(&self) -> Option<usize> {
        self.free.last().copied()
    }

    /// `pid` was forked into `slot` (a slot [`Children::free_slot`] gave).
    pub fn record(&mut self, slot: usize, pid: Pid) {
        if self.free.last() == Some(&slot) {
            self.free.pop();
        } else {
            self.free.retain(|&s| s != slot);
        }
        self.by_slot[slot] = Some(pid);
        self.by_pid.insert(pid, slot);
    }

    /// `pid` was reaped: its slot, if it was ours.
    pub fn forget(&mut self, pid: Pid) -> Option<usize> {
        let slot = self.by_pid.remove(&pid)?;
        self.by_slot[slot] = None;
        self.free.push(slot);
        Some(slot)
    }

    /// The slot of `pid`, if it is one of ours.
    pub fn slot_of(&self, pid: Pid) -> Option<usize> {
        self.by_pid.get(&pid).copied()
    }

    /// Every worker: (slot, pid).
    pub fn iter(&self) -> impl Iterator<Item = (usize, Pid)> + '_ {
        self.by_pid.iter().map(|(&pid, &slot)| (slot, pid))
    }

    /// How many workers are alive (not reaped).
    pub fn len(&self) -> usize {
        self.by_pid.len()
    }

    /// True when no worker is left.
    pub fn is_empty(&self) -> bool {
        self.by_pid.is_empty()
    }

    /// Sends `sig` to the worker in `slot`, if there is one of ours.
    pub fn signal(&self, slot: usize, sig: Signal) -> bool {
        match self.by_slot.get(slot).copied().flatten() {
            Some(pid) => kill(pid, sig).is_ok(),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_taken_lowest_first_and_given_back() {
        let mut c = Children::new(3);
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
        let mut all: Vec<_> = c.iter().collect();
        all.sort();
        assert_eq!(all, [(0, Pid::from_raw(100)), (2, Pid::from_raw(102))]);
        // Nothing is signalled in a slot that is not ours.
        assert!(!c.signal(1, Signal::SIGTERM));
    }
}
