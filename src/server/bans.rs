//! Failed logins counted per client address and per account, across
//! connections and workers, and the bans they lead to (as fail2ban or
//! ProFTPD's mod_ban do): a fixed table of atomics in memory every worker
//! shares ([`super::guard`]), so that reconnecting starts nothing afresh.
//!
//! An entry counts the failures of one key within a window of `--ban-time`
//! seconds; the failure that reaches the limit bans the key for
//! `--ban-time`. Keys are 64-bit hashes (keyed with a seed drawn at start)
//! of an address (IPv6 by its /64: one host holds a whole /64) or of an
//! account name. The table is open-addressed, [`PROBE`] entries per key,
//! lock-free: a worker killed in the middle of an update leaves nothing
//! locked. When all the entries a key may use are busy, the one whose
//! window ended first is taken over; a key whose entries are all banned is
//! not counted (the table is bounded: a flood of addresses cannot grow it).
//!
//! Times are seconds of `CLOCK_MONOTONIC`, the same in every process;
//! the functions take `now` so that tests can drive the clock.

use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

/// Words per entry: key, failures and window start, end of the ban.
pub const ENTRY_WORDS: usize = 3;

/// Entries a key may occupy, from the one its hash names.
pub const PROBE: usize = 16;

/// The key of a client address: IPv4 whole, IPv6 by its /64 prefix.
pub fn address_key(seed: u64, ip: IpAddr) -> u64 {
    match crate::protocol::address::canonical(ip) {
        IpAddr::V4(v4) => key(seed, b'a', &v4.octets()),
        IpAddr::V6(v6) => key(seed, b'a', &v6.octets()[..8]),
    }
}

/// The key of an account name.
pub fn account_key(seed: u64, name: &str) -> u64 {
    key(seed, b'u', name.as_bytes())
}

fn key(seed: u64, kind: u8, bytes: &[u8]) -> u64 {
    // SipHash (std's DefaultHasher::new has fixed keys, the same in every
    // process); the seed keeps the slots an attacker's keys land in
    // unpredictable.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    seed.hash(&mut h);
    kind.hash(&mut h);
    bytes.hash(&mut h);
    // 0 marks a free entry.
    h.finish() | 1
}

/// Seconds of `CLOCK_MONOTONIC` (shared by every process of the machine).
pub fn now_secs() -> u64 {
    crate::sys::monotonic_secs()
}

/// What one failed login led to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failure {
    /// Failures of the key within the window, this one included (0 when
    /// the table had no room to count it).
    pub count: u32,
    /// This failure banned the key (it reached the limit).
    pub banned: bool,
}

/// The table, over a slice of shared atomics.
pub struct Bans<'a> {
    words: &'a [AtomicU64],
}

fn pack(start: u64, count: u32) -> u64 {
    (start << 32) | u64::from(count)
}

fn unpack(v: u64) -> (u64, u32) {
    (v >> 32, v as u32)
}

impl<'a> Bans<'a> {
    /// The table held in `words` (a multiple of [`ENTRY_WORDS`]).
    pub fn new(words: &'a [AtomicU64]) -> Bans<'a> {
        Bans { words }
    }

    fn entries(&self) -> usize {
        self.words.len() / ENTRY_WORDS
    }

    fn entry(&self, i: usize) -> &'a [AtomicU64] {
        &self.words[i * ENTRY_WORDS..(i + 1) * ENTRY_WORDS]
    }

    /// The entry of `key`, if it has one.
    fn find(&self, key: u64) -> Option<&'a [AtomicU64]> {
        let n = self.entries();
        (0..PROBE.min(n))
            .map(|p| self.entry((key as usize).wrapping_add(p) % n))
            .find(|e| e[0].load(Ordering::Acquire) == key)
    }

    /// The entry of `key`, made if needed (taking a free one, or the one
    /// whose window ended first); `None` when every candidate is banned.
    fn find_or_make(&self, key: u64, now: u64, window: u64) -> Option<&'a [AtomicU64]> {
        if let Some(e) = self.find(key) {
            return Some(e);
        }
        let n = self.entries();
        for _ in 0..4 {
            let mut oldest: Option<(u64, &[AtomicU64])> = None;
            for p in 0..PROBE.min(n) {
                let e = self.entry((key as usize).wrapping_add(p) % n);
                let k = e[0].load(Ordering::Acquire);
                let until = e[2].load(Ordering::Relaxed);
                let (start, _) = unpack(e[1].load(Ordering::Relaxed));
                if k == key {
                    return Some(e);
                }
                // Free, or neither banned nor counting any more: as good as free.
                let ends = if k == 0 { 0 } else { start + window };
                if until <= now && oldest.map_or(true, |(o, _)| ends < o) {
                    oldest = Some((ends, e));
                }
            }
            let (_, e) = oldest?;
            let old = e[0].load(Ordering::Acquire);
            if e[0].compare_exchange(old, key, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                e[1].store(pack(now, 0), Ordering::Relaxed);
                e[2].store(0, Ordering::Relaxed);
                return Some(e);
            }
        }
        None
    }

    /// Seconds left of the ban of `key`, if it is banned.
    pub fn banned(&self, key: u64, now: u64) -> Option<u64> {
        let until = self.find(key)?[2].load(Ordering::Relaxed);
        (until > now).then(|| until - now)
    }

    /// Counts a failed login of `key`; the `max`-th within `window` seconds
    /// bans it for `window` seconds.
    pub fn fail(&self, key: u64, now: u64, window: u64, max: u32) -> Failure {
        let Some(e) = self.find_or_make(key, now, window) else { return Failure { count: 0, banned: false } };
        let mut cur = e[1].load(Ordering::Relaxed);
        let count = loop {
            let (start, count) = unpack(cur);
            let (start, count) = if start + window <= now { (now, 1) } else { (start, count.saturating_add(1)) };
            match e[1].compare_exchange_weak(cur, pack(start, count), Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => break count,
                Err(v) => cur = v,
            }
        };
        let banned = count >= max && e[2].fetch_max(now + window, Ordering::AcqRel) <= now;
        Failure { count, banned }
    }

    /// Keys banned now.
    pub fn banned_now(&self, now: u64) -> usize {
        (0..self.entries()).filter(|&i| self.entry(i)[2].load(Ordering::Relaxed) > now).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(entries: usize) -> Vec<AtomicU64> {
        (0..entries * ENTRY_WORDS).map(|_| AtomicU64::new(0)).collect()
    }

    #[test]
    fn the_limit_bans_for_the_window_and_the_count_restarts_after_it() {
        let t = table(64);
        let b = Bans::new(&t);
        let k = address_key(7, "192.0.2.1".parse().unwrap());
        assert_eq!(b.fail(k, 100, 60, 3), Failure { count: 1, banned: false });
        assert_eq!(b.fail(k, 110, 60, 3), Failure { count: 2, banned: false });
        assert_eq!(b.banned(k, 110), None);
        assert_eq!(b.fail(k, 120, 60, 3), Failure { count: 3, banned: true });
        assert_eq!(b.banned(k, 120), Some(60));
        assert_eq!(b.banned(k, 179), Some(1));
        assert_eq!(b.banned(k, 180), None);
        assert_eq!(b.banned_now(150), 1);
        // A failure while banned does not extend the ban from scratch.
        assert!(!b.fail(k, 130, 60, 3).banned);
        // After the window, counting starts again.
        assert_eq!(b.fail(k, 200, 60, 3), Failure { count: 1, banned: false });
        // Another address is untouched.
        assert_eq!(b.banned(address_key(7, "192.0.2.2".parse().unwrap()), 120), None);
    }

    #[test]
    fn ipv6_addresses_count_by_their_slash_64_and_v4_mapped_as_v4() {
        let a = address_key(1, "2001:db8:1:2::1".parse().unwrap());
        assert_eq!(a, address_key(1, "2001:db8:1:2:ffff::9".parse().unwrap()));
        assert_ne!(a, address_key(1, "2001:db8:1:3::1".parse().unwrap()));
        assert_eq!(address_key(1, "::ffff:192.0.2.1".parse().unwrap()), address_key(1, "192.0.2.1".parse().unwrap()));
        assert_ne!(account_key(1, "alice"), account_key(2, "alice"));
        assert_ne!(account_key(1, "alice"), address_key(1, "192.0.2.1".parse().unwrap()));
    }

    #[test]
    fn a_full_table_reuses_ended_entries_and_never_drops_a_ban() {
        let t = table(PROBE);
        let b = Bans::new(&t);
        // Fill every entry with a ban.
        let keys: Vec<u64> = (0..PROBE as u8).map(|i| address_key(3, IpAddr::from([10, 0, 0, i]))).collect();
        for &k in &keys {
            assert!(b.fail(k, 100, 60, 1).banned);
        }
        // No room: a new key is not counted, and no ban was lost.
        let newcomer = address_key(3, "10.0.1.1".parse().unwrap());
        assert_eq!(b.fail(newcomer, 110, 60, 1).count, 0);
        assert!(keys.iter().all(|&k| b.banned(k, 110).is_some()));
        // Once the bans end, their entries serve again.
        assert_eq!(b.fail(newcomer, 200, 60, 1), Failure { count: 1, banned: true });
    }
}
