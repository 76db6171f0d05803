//! Meeting a burst at once (issue 15).
//!
//! A pool that only grew by doubling a batch per supervisor tick needed
//! four ticks (0.7 s) to serve 100 clients arriving together at a pool of 8.
//! Two things make it meet them at once instead:
//!
//! - **The alarm.** A worker that takes a client and sees fewer than
//!   `--min-spare` workers left idle writes one byte into a pipe the
//!   supervisor polls, so the supervisor acts within a wake-up, not at its
//!   next tick. Nothing is written while spares are plenty: the alarm costs
//!   nothing in steady state.
//! - **The queue length.** The supervisor reads how many clients wait in
//!   the listening socket's accept queue ([`sys::accept_queue_len`], from
//!   `TCP_INFO`) and forks for all of them, plus the spares, in one go,
//!   within `--max-workers`: [`demand`].
//!
//! Spare workers are still retired by the spare-server rule, lazily: only
//! once the pool has gone `SPAWN_BATCH_RESET` without growing, and never
//! while clients wait in the queue.

use std::io;
use std::net::TcpListener;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::fcntl::OFlag;

use super::scoreboard::{Scoreboard, State};
use crate::limits::MAX_BURST_FORKS;
use crate::sys;

/// The pipe through which workers wake the supervisor when spares run out.
pub struct Alarm {
    read: OwnedFd,
    write: OwnedFd,
}

impl Alarm {
    /// A new alarm; both ends non-blocking (a full pipe already means "wake up").
    pub fn new() -> io::Result<Alarm> {
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
        Ok(Alarm { read, write })
    }

    /// What the supervisor polls.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }

    /// Empties the pipe (the supervisor, after waking up).
    pub fn drain(&self) {
        let mut buf = [0u8; 256];
        while matches!(nix::unistd::read(self.read.as_raw_fd(), &mut buf), Ok(n) if n > 0) {}
    }

    /// Wakes the supervisor. A full pipe (`EAGAIN`) is fine: it is awake already.
    fn ring(&self) {
        let _ = nix::unistd::write(&self.write, b"!");
    }

    /// Called by a worker that has just marked itself busy with a client:
    /// rings when fewer than `min_spare` workers are left idle (or starting),
    /// so that the supervisor forks before the next clients have to wait.
    pub fn after_accept(&self, board: &Scoreboard, min_spare: usize) {
        // With no spare asked for, the last idle worker still rings.
        let enough = min_spare.max(1);
        let idle = board.slots().iter().filter(|s| s.pid() != 0 && matches!(s.state(), State::Idle | State::Starting));
        if idle.take(enough).count() < enough {
            self.ring();
        }
    }
}

/// Clients waiting in `listener`'s accept queue (0 if it cannot be read).
pub fn queued(listener: &TcpListener) -> usize {
    sys::accept_queue_len(listener.as_fd()).unwrap_or(0)
}

/// Workers to fork now so that every one of `queued` waiting clients gets a
/// worker and `min_spare` are left idle, given `idle` idle or starting
/// workers (which will take queued clients first). At most
/// [`MAX_BURST_FORKS`] per wake-up: the supervisor answers signals between
/// batches, and the queue is read again at the next one.
pub fn demand(queued: usize, idle: usize, min_spare: usize) -> usize {
    if queued == 0 {
        return 0;
    }
    (queued + min_spare).saturating_sub(idle).min(MAX_BURST_FORKS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demand_covers_the_queue_and_the_spares_beyond_the_idle_workers() {
        assert_eq!(demand(0, 0, 4), 0, "nobody waits: the spare-server rule decides");
        assert_eq!(demand(92, 0, 4), 96);
        assert_eq!(demand(92, 90, 4), 6);
        assert_eq!(demand(3, 10, 4), 0);
        assert_eq!(demand(100_000, 0, 4), MAX_BURST_FORKS);
    }

    #[test]
    fn the_queue_length_of_a_listening_socket_counts_unaccepted_clients() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        assert_eq!(queued(&l), 0);
        let addr = l.local_addr().unwrap();
        let clients: Vec<_> = (0..3).map(|_| std::net::TcpStream::connect(addr).unwrap()).collect();
        assert_eq!(queued(&l), 3);
        let _taken = l.accept().unwrap();
        assert_eq!(queued(&l), 2);
        drop(clients);
    }

    #[test]
    fn a_worker_rings_only_when_spares_run_short() {
        let board = Scoreboard::new(8).unwrap();
        let alarm = Alarm::new().unwrap();
        let rang = |a: &Alarm| {
            let mut buf = [0u8; 8];
            matches!(nix::unistd::read(a.fd().as_raw_fd(), &mut buf), Ok(n) if n > 0)
        };
        for (i, s) in board.slots().iter().enumerate().take(6) {
            s.claim(100 + i as i32, 1);
            s.set_state(State::Idle);
        }
        board.slots()[0].begin_session("127.0.0.1:1".parse().unwrap());
        alarm.after_accept(&board, 4);
        assert!(!rang(&alarm), "five idle workers are enough spares");
        for s in &board.slots()[1..3] {
            s.begin_session("127.0.0.1:1".parse().unwrap());
        }
        alarm.after_accept(&board, 4);
        assert!(rang(&alarm), "three idle workers are fewer than four spares");
        for s in &board.slots()[3..6] {
            s.begin_session("127.0.0.1:1".parse().unwrap());
        }
        alarm.after_accept(&board, 0);
        assert!(rang(&alarm), "with no spare asked for, the last idle worker still rings");
    }
}
