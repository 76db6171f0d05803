//! What the workers of a pool share to defend themselves against abusive
//! clients, in memory mapped before they fork (as the scoreboard is) and
//! kept across reloads.
//!
//! - The pool's pressure: the supervisor says when the pool is nearly
//!   full, and a client that has not logged in then has
//!   [`PRESSURE_LOGIN_TIMEOUT`](crate::limits::PRESSURE_LOGIN_TIMEOUT)
//!   instead of `--login-timeout` (as Apache's mod_reqtimeout shortens what
//!   a slow client may take).
//! - Failed logins per address and per account, and the bans they lead to
//!   ([`super::bans`]): a banned address is refused at once, without a
//!   password check.
//! - Permits for password hashes: at most `hash_permits` run at once in the
//!   whole pool; the others wait their turn (a futex on the shared memory).
//!   Each permit names the worker holding it, so that the supervisor frees
//!   the permits of a worker that died holding one.
//! - Counters for `ftpserver status`: failed logins, bans, hashes.

use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::bans::{self, Bans, Failure, ENTRY_WORDS};
use super::wait::Watch;
use crate::limits::{ACCOUNT_FAILS_FACTOR, BAN_TABLE_ENTRIES, MAX_HASH_PERMITS, SIGNAL_CHECK};
use crate::sys::{self, SharedSlice};

/// 32-bit words: the pressure flag, the permits' futex word, then one
/// owner pid per permit.
const PRESSURE: usize = 0;
const PERMIT_GEN: usize = 1;
const PERMITS: usize = 2;
const WORDS32: usize = PERMITS + MAX_HASH_PERMITS;

/// 64-bit words: counters, then the ban table.
const FAILED: usize = 0;
const BANS: usize = 1;
const HASHES: usize = 2;
const TABLE: usize = 3;

/// The shared defences of one pool.
pub struct Guard {
    words32: SharedSlice<AtomicU32>,
    words64: SharedSlice<AtomicU64>,
    /// Keys the ban table's hashes (drawn before the workers fork).
    seed: u64,
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard").field("under_pressure", &self.under_pressure()).finish_non_exhaustive()
    }
}

/// What one failed login led to.
#[derive(Clone, Copy, Debug)]
pub struct LoginFailure {
    /// The client's address.
    pub address: Failure,
    /// The account, when the name is one.
    pub account: Option<Failure>,
}

/// Counters for `ftpserver status`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    /// Failed logins since start.
    pub failed: u64,
    /// Bans of addresses and accounts since start.
    pub bans: u64,
    /// Password hashes since start.
    pub hashes: u64,
    /// Addresses and accounts banned now.
    pub banned_now: usize,
}

/// The right to run one password hash; released when dropped.
pub struct HashPermit<'a> {
    guard: &'a Guard,
    index: usize,
}

impl Drop for HashPermit<'_> {
    fn drop(&mut self) {
        self.guard.release(self.index);
    }
}

impl Guard {
    /// Maps the shared state (before the workers fork).
    pub fn new() -> nix::Result<Guard> {
        let mut seed = [0u8; 8];
        let _ = std::fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut seed));
        let seed = u64::from_le_bytes(seed) ^ u64::from(std::process::id());
        Ok(Guard {
            words32: SharedSlice::new(WORDS32)?,
            words64: SharedSlice::new(TABLE + BAN_TABLE_ENTRIES * ENTRY_WORDS)?,
            seed,
        })
    }

    fn w32(&self, i: usize) -> &AtomicU32 {
        &self.words32.get()[i]
    }

    fn w64(&self, i: usize) -> &AtomicU64 {
        &self.words64.get()[i]
    }

    fn bans(&self) -> Bans<'_> {
        Bans::new(&self.words64.get()[TABLE..])
    }

    /// The supervisor: the pool is nearly full (or no longer).
    pub fn set_pressure(&self, on: bool) {
        self.w32(PRESSURE).store(u32::from(on), Ordering::Relaxed);
    }

    /// True while the pool is nearly full.
    pub fn under_pressure(&self) -> bool {
        self.w32(PRESSURE).load(Ordering::Relaxed) != 0
    }

    /// Seconds left of the ban of `ip`, if it is banned.
    pub fn address_banned(&self, ip: IpAddr) -> Option<u64> {
        self.bans().banned(bans::address_key(self.seed, ip), bans::now_secs())
    }

    /// True while the account `name` is locked.
    pub fn account_locked(&self, name: &str) -> bool {
        self.bans().banned(bans::account_key(self.seed, name), bans::now_secs()).is_some()
    }

    /// Counts a failed login from `ip`, for the account `account` when the
    /// name is one: `max` failures of the address within `window` ban it,
    /// [`ACCOUNT_FAILS_FACTOR`] times as many lock the account. A zero
    /// `window` counts nothing.
    pub fn login_failed(&self, ip: IpAddr, account: Option<&str>, window: Duration, max: u32) -> LoginFailure {
        self.w64(FAILED).fetch_add(1, Ordering::Relaxed);
        let (now, secs) = (bans::now_secs(), window.as_secs());
        if secs == 0 {
            let none = Failure { count: 0, banned: false };
            return LoginFailure { address: none, account: account.map(|_| none) };
        }
        let table = self.bans();
        let address = table.fail(bans::address_key(self.seed, ip), now, secs, max);
        let account = account.map(|name| {
            table.fail(bans::account_key(self.seed, name), now, secs, max.saturating_mul(ACCOUNT_FAILS_FACTOR))
        });
        let new_bans = u64::from(address.banned) + u64::from(account.is_some_and(|a| a.banned));
        self.w64(BANS).fetch_add(new_bans, Ordering::Relaxed);
        LoginFailure { address, account }
    }

    /// Waits for the right to run a password hash: at most `permits` run
    /// at once in the pool. `None` at `deadline`, or when `watch` gives up.
    pub fn hash_permit(&self, permits: usize, deadline: Instant, watch: Watch) -> Option<HashPermit<'_>> {
        let me = std::process::id();
        let permits = permits.clamp(1, MAX_HASH_PERMITS);
        let (mut deadline, mut shrunk) = (deadline, false);
        loop {
            let gen = self.w32(PERMIT_GEN).load(Ordering::Acquire);
            for index in 0..permits {
                if self.w32(PERMITS + index).compare_exchange(0, me, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
                    self.w64(HASHES).fetch_add(1, Ordering::Relaxed);
                    return Some(HashPermit { guard: self, index });
                }
            }
            // The rules of every wait on a client (server::wait).
            let stopped = watch.stops(&mut deadline, &mut shrunk);
            let left = deadline.saturating_duration_since(Instant::now());
            if stopped || left.is_zero() {
                return None;
            }
            // Woken when a permit is given back (or a signal comes).
            sys::futex_wait(self.w32(PERMIT_GEN), gen, left.min(SIGNAL_CHECK));
        }
    }

    fn release(&self, index: usize) {
        self.w32(PERMITS + index).store(0, Ordering::Release);
        self.w32(PERMIT_GEN).fetch_add(1, Ordering::AcqRel);
        sys::futex_wake(self.w32(PERMIT_GEN), 1);
    }

    /// The supervisor, after reaping `pid`: the permits it held are free.
    pub fn release_dead(&self, pid: i32) {
        let Ok(pid) = u32::try_from(pid) else { return };
        for index in 0..MAX_HASH_PERMITS {
            if self.w32(PERMITS + index).compare_exchange(pid, 0, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
                self.w32(PERMIT_GEN).fetch_add(1, Ordering::AcqRel);
                sys::futex_wake(self.w32(PERMIT_GEN), i32::MAX);
            }
        }
    }

    /// The counters.
    pub fn stats(&self) -> Stats {
        Stats {
            failed: self.w64(FAILED).load(Ordering::Relaxed),
            bans: self.w64(BANS).load(Ordering::Relaxed),
            hashes: self.w64(HASHES).load(Ordering::Relaxed),
            banned_now: self.bans().banned_now(bans::now_secs()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pressure_is_set_and_read() {
        let g = Guard::new().unwrap();
        assert!(!g.under_pressure());
        g.set_pressure(true);
        assert!(g.under_pressure());
        g.set_pressure(false);
        assert!(!g.under_pressure());
    }

    #[test]
    fn hash_permits_are_bounded_and_come_back() {
        let g = Guard::new().unwrap();
        let soon = || Instant::now() + Duration::from_millis(50);
        let a = g.hash_permit(2, soon(), Watch::Stop).unwrap();
        let b = g.hash_permit(2, soon(), Watch::Stop).unwrap();
        let t = Instant::now();
        assert!(g.hash_permit(2, soon(), Watch::Stop).is_none());
        assert!(t.elapsed() >= Duration::from_millis(40));
        drop(a);
        let c = g.hash_permit(2, soon(), Watch::Stop).unwrap();
        drop((b, c));
        // A worker that died holding permits: the supervisor frees them.
        let held: Vec<_> = (0..2).map(|_| g.hash_permit(2, soon(), Watch::Stop).unwrap()).collect();
        std::mem::forget(held);
        assert!(g.hash_permit(2, soon(), Watch::Stop).is_none());
        g.release_dead(std::process::id() as i32);
        assert!(g.hash_permit(2, soon(), Watch::Stop).is_some());
        assert_eq!(g.stats().hashes, 6);
    }

    #[test]
    fn failures_ban_the_address_and_in_time_the_account() {
        let g = Guard::new().unwrap();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let w = Duration::from_secs(60);
        assert!(!g.login_failed(ip, Some("alice"), w, 2).address.banned);
        let f = g.login_failed(ip, Some("alice"), w, 2);
        assert!(f.address.banned && !f.account.unwrap().banned);
        assert!(g.address_banned(ip).is_some() && !g.account_locked("alice"));
        for i in 0..ACCOUNT_FAILS_FACTOR * 2 - 2 {
            g.login_failed(IpAddr::from([10, 0, 0, i as u8]), Some("alice"), w, 2);
        }
        assert!(g.account_locked("alice"));
        assert!(g.address_banned("192.0.2.2".parse().unwrap()).is_none());
        let s = g.stats();
        assert_eq!((s.failed, s.bans, s.banned_now), (u64::from(ACCOUNT_FAILS_FACTOR) * 2, 2, 2));
        // No window, no bans.
        let other: IpAddr = "192.0.2.3".parse().unwrap();
        for _ in 0..5 {
            g.login_failed(other, None, Duration::ZERO, 2);
        }
        assert!(g.address_banned(other).is_none());
    }
}
