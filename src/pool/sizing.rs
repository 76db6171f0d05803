//! Keeping the pool the right size (Apache prefork's spare-server rule):
//! forking workers into free slots of the scoreboard, reaping the ones that
//! exit, growing the pool when spares run short or clients wait in the
//! accept queue ([`burst`]), retiring idle workers beyond `--max-spare`, and
//! refusing a client at once when all `--max-workers` are busy.

use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::scoreboard::State;
use super::{burst, worker, Supervisor};
use crate::limits::{MAX_SPAWN_BATCH, SPAWN_BATCH_RESET};
use crate::sys::{self, Forked};

impl Supervisor {
    /// Forks one worker into a free slot.
    fn spawn(&mut self) -> bool {
        let Some(i) = self.children.free_slot() else { return false };
        let slot = &self.board.slots()[i];
        slot.claim(-1, self.generation);
        match sys::fork() {
            Ok(Forked::Child) => {
                self.intake.forget_in_worker();
                let ctx = worker::WorkerCtx {
                    listener: &self.listener,
                    cfg: &self.cfg,
                    board: &self.board,
                    alarm: &self.alarm,
                    slot: i,
                    parent: self.parent_pid,
                    drop_to: self.drop_to,
                    intake: &*self.intake,
                    implicit: self.implicit.as_ref(),
                };
                let code = worker::run(ctx);
                std::process::exit(code);
            }
            Ok(Forked::Parent(pid)) => {
                // Not `claim` again: the child may already be serving, and
                // resetting its state to Starting would hide a busy worker
                // from the pool's arithmetic (so the pool would not grow).
                slot.set_pid(pid.as_raw());
                self.children.record(i, pid);
                true
            }
            Err(e) => {
                slot.free();
                log::error!("fork failed: {e}");
                false
            }
        }
    }

    /// Reaps every exited worker and frees its slot.
    pub(super) fn reap(&mut self) {
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => {
                    self.gone(pid, if code == 0 { None } else { Some(format!("exit code {code}")) })
                }
                Ok(WaitStatus::Signaled(pid, sig, _)) => self.gone(pid, Some(format!("killed by {sig:?}"))),
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return,
                Ok(_) | Err(Errno::EINTR) => continue,
                Err(e) => {
                    log::error!("waitpid: {e}");
                    return;
                }
            }
        }
    }

    fn gone(&mut self, pid: Pid, why: Option<String>) {
        if self.sweeper.reaped(pid) || self.successor_gone(pid, &why) {
            return;
        }
        if let Some(i) = self.children.forget(pid) {
            self.count_exited(i);
            self.board.slots()[i].free();
            // A worker killed while checking a password gives its permit back.
            self.cfg.guard.release_dead(pid.as_raw());
        }
        match why {
            Some(w) => log::warn!("worker {pid} died ({w}); the pool will be refilled"),
            None => log::debug!("worker {pid} exited"),
        }
    }

    /// Current-generation workers that are not leaving, and how many of them are idle.
    ///
    /// Reads the atomics only, allocating nothing: heap pages the supervisor
    /// rewrites every tick would stay behind in each worker forked before.
    pub(super) fn counts(&self) -> (usize, usize, usize) {
        let (mut live, mut idle, mut total) = (0, 0, 0);
        for s in self.board.slots().iter().filter(|s| s.pid() != 0) {
            total += 1;
            let state = s.state();
            if s.generation() == self.generation && state != State::Leaving {
                live += 1;
                if matches!(state, State::Idle | State::Starting) {
                    idle += 1;
                }
            }
        }
        (live, idle, total)
    }

    /// Grows or shrinks the pool (Apache prefork's spare-server rule).
    pub(super) fn maintain(&mut self, backlog_waiting: bool) {
        let pool = self.cfg.pool;
        let (live, idle, total) = self.counts();
        let room = pool.max_workers.min(self.board.slots().len()).saturating_sub(total);
        let mut want = pool.workers.saturating_sub(live);
        if idle < pool.min_spare || (backlog_waiting && idle == 0) {
            want = want.max(pool.min_spare.saturating_sub(idle)).max(self.batch);
            self.batch = (self.batch * 2).min(MAX_SPAWN_BATCH);
            self.last_growth = Instant::now();
        } else if self.last_growth.elapsed() >= SPAWN_BATCH_RESET {
            // Clients arriving one after another run the spares short
            // again and again: the batch keeps doubling until the pool
            // has gone a while without growing (issue 15).
            self.batch = 1;
        }
        let (queued, burst) = self.burst_demand(idle);
        let want = want.max(burst).min(room);
        if want > 0 {
            let mut spawned = 0;
            for _ in 0..want {
                if !self.spawn() {
                    break;
                }
                spawned += 1;
            }
            log::debug!("pool: {live} workers, {idle} idle; forked {spawned}");
            self.settle_until = Instant::now() + Duration::from_millis(50);
            return;
        }
        // Spares are retired lazily: only once the pool has gone a while
        // without growing and nobody waits in the accept queue. A worker
        // told to leave while it takes a client from an ftpmaster hands it
        // back, and the master then skips this slave for a while.
        let calm = self.last_growth.elapsed() >= SPAWN_BATCH_RESET && queued == 0;
        if idle > pool.max_spare && live > pool.workers && calm {
            let extra = (idle - pool.max_spare).min(live - pool.workers);
            let mut retired = 0;
            for (i, pid) in self.children.iter() {
                if retired == extra {
                    break;
                }
                let s = &self.board.slots()[i];
                if s.state() == State::Idle {
                    s.set_state(State::Leaving);
                    let _ = kill(pid, Signal::SIGHUP);
                    retired += 1;
                }
            }
            log::debug!("pool: {live} workers, {idle} idle; retired {retired}");
        }
    }

    /// The clients waiting in the accept queue, and the workers to fork at
    /// once for them (issue 15): one for every waiting client, plus
    /// `--min-spare`, beyond the `idle` (or starting) workers, instead of a
    /// batch growing per tick. See [`burst`]. The spare-server rule in
    /// `maintain` still decides in steady state, and retires spares only
    /// while nobody waits.
    /// The implicit-FTPS port's queue counts too: its clients wait for the
    /// same workers.
    fn burst_demand(&self, idle: usize) -> (usize, usize) {
        let queued = burst::queued(&self.listener) + self.implicit.as_ref().map_or(0, burst::queued);
        (queued, burst::demand(queued, idle, self.cfg.pool.min_spare))
    }

    /// All `max-workers` are busy: the next client is told so at once.
    pub(super) fn refuse_overload(&mut self) {
        if let Ok((stream, peer)) = self.listener.accept() {
            log::warn!("{peer}: refused, all {} workers busy", self.cfg.pool.max_workers);
            self.service.totals.refused(&crate::server::error::FtpError::TooManyUsers);
            worker::refuse(stream, &crate::server::error::FtpError::TooManyUsers);
        }
    }
}
