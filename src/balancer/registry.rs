//! The master's table of slaves and the round robin over them.
//!
//! The choice itself, [`next_in_turn`], is a pure function of the live ids,
//! the id chosen last and the ids this client already tried: with slaves 1
//! and 2, clients go 1, 2, 1, 2... as in the original; a slave that is gone
//! or suspended is skipped, and when it is back it takes its turn again.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::wire::Mode;
use crate::limits::SLAVE_SUSPEND;

/// The next slave for a client: the first of `live` (ascending ids) after
/// `last` that is not in `tried`, wrapping around; `None` when every live
/// slave was tried.
pub fn next_in_turn(live: &[u32], last: Option<u32>, tried: &[u32]) -> Option<u32> {
    let mut candidates = live.iter().copied().filter(|id| !tried.contains(id));
    let first = candidates.clone().next()?;
    match last {
        Some(last) => candidates.find(|&id| id > last).or(Some(first)),
        None => Some(first),
    }
}

/// One registered slave.
#[derive(Clone, Debug)]
pub struct Slave {
    /// Its id.
    pub id: u32,
    /// Its FTP address (where relayed clients are connected).
    pub addr: SocketAddr,
    /// How clients reach it.
    pub mode: Mode,
    /// Its hand-over socket, in [`Mode::Pass`].
    pub handoff: Option<String>,
    /// Our address on its registration connection: relayed connections
    /// come from it, since that is the address the slave trusts.
    pub relay_from: IpAddr,
    /// The registration connection's slot in the master's loop.
    pub conn: usize,
    /// When it registered.
    pub since: Instant,
    /// Its last sign of life.
    pub seen: Instant,
    /// Skipped until then after a failed hand-over.
    pub suspended_until: Option<Instant>,
    /// Clients handed to it so far.
    pub clients: u64,
    /// Relayed connections open to it now.
    pub relaying: u64,
}

impl Slave {
    /// True when new clients may go to it.
    pub fn available(&self, now: Instant) -> bool {
        self.suspended_until.map_or(true, |t| now >= t)
    }
}

/// All registered slaves, by id, and the round-robin position.
#[derive(Debug, Default)]
pub struct Registry {
    slaves: BTreeMap<u32, Slave>,
    last: Option<u32>,
}

impl Registry {
    /// Adds or replaces a slave.
    pub fn insert(&mut self, slave: Slave) {
        self.slaves.insert(slave.id, slave);
    }

    /// Removes a slave.
    pub fn remove(&mut self, id: u32) -> Option<Slave> {
        self.slaves.remove(&id)
    }

    /// A slave by id.
    pub fn get(&self, id: u32) -> Option<&Slave> {
        self.slaves.get(&id)
    }

    /// A slave by id, to update.
    pub fn get_mut(&mut self, id: u32) -> Option<&mut Slave> {
        self.slaves.get_mut(&id)
    }

    /// Every slave, by id.
    pub fn all(&self) -> impl Iterator<Item = &Slave> {
        self.slaves.values()
    }

    /// Chooses the slave for a client that already tried `tried`, and
    /// moves the round robin on.
    pub fn pick(&mut self, now: Instant, tried: &[u32]) -> Option<u32> {
        let live: Vec<u32> = self.slaves.values().filter(|s| s.available(now)).map(|s| s.id).collect();
        let id = next_in_turn(&live, self.last, tried)?;
        self.last = Some(id);
        Some(id)
    }

    /// A hand-over to `id` failed: skip it for a while.
    pub fn suspend(&mut self, id: u32, now: Instant) {
        if let Some(s) = self.slaves.get_mut(&id) {
            s.suspended_until = Some(now + SLAVE_SUSPEND);
        }
    }

    /// Ids of slaves silent for longer than `limit`.
    pub fn silent(&self, now: Instant, limit: Duration) -> Vec<u32> {
        self.slaves.values().filter(|s| now.duration_since(s.seen) > limit).map(|s| s.id).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slave(id: u32, now: Instant) -> Slave {
        Slave {
            id,
            addr: SocketAddr::new("127.0.0.1".parse().unwrap(), 2100 + id as u16),
            mode: Mode::Relay,
            handoff: None,
            relay_from: "127.0.0.1".parse().unwrap(),
            conn: id as usize,
            since: now,
            seen: now,
            suspended_until: None,
            clients: 0,
            relaying: 0,
        }
    }

    fn turns(r: &mut Registry, now: Instant, n: usize) -> Vec<u32> {
        (0..n).map(|_| r.pick(now, &[]).unwrap()).collect()
    }

    /// The original's "tourniquet": client 1 to slave 1, 2 to 2, 3 to 1.
    #[test]
    fn clients_alternate_between_two_slaves() {
        let now = Instant::now();
        let mut r = Registry::default();
        r.insert(slave(1, now));
        r.insert(slave(2, now));
        assert_eq!(turns(&mut r, now, 6), [1, 2, 1, 2, 1, 2]);
    }

    #[test]
    fn pure_choice_follows_ids_and_wraps() {
        assert_eq!(next_in_turn(&[1, 2, 3], None, &[]), Some(1));
        assert_eq!(next_in_turn(&[1, 2, 3], Some(1), &[]), Some(2));
        assert_eq!(next_in_turn(&[1, 2, 3], Some(3), &[]), Some(1));
        // The last one chosen may have left: the next id after it.
        assert_eq!(next_in_turn(&[1, 3], Some(2), &[]), Some(3));
        // A client that failed on 2 goes on to 3, then wraps to 1.
        assert_eq!(next_in_turn(&[1, 2, 3], Some(1), &[2]), Some(3));
        assert_eq!(next_in_turn(&[1, 2, 3], Some(2), &[2, 3]), Some(1));
        assert_eq!(next_in_turn(&[1, 2, 3], Some(2), &[1, 2, 3]), None);
        assert_eq!(next_in_turn(&[], None, &[]), None);
    }

    #[test]
    fn a_lost_slave_is_skipped_and_rejoins_its_turn() {
        let now = Instant::now();
        let mut r = Registry::default();
        for id in 1..=3 {
            r.insert(slave(id, now));
        }
        assert_eq!(turns(&mut r, now, 2), [1, 2]);
        r.remove(3);
        assert_eq!(turns(&mut r, now, 3), [1, 2, 1]);
        r.insert(slave(3, now));
        assert_eq!(turns(&mut r, now, 3), [2, 3, 1]);
    }

    #[test]
    fn a_suspended_slave_is_skipped_until_the_suspension_ends() {
        let now = Instant::now();
        let mut r = Registry::default();
        r.insert(slave(1, now));
        r.insert(slave(2, now));
        r.suspend(2, now);
        assert_eq!(r.all().filter(|s| s.available(now)).count(), 1);
        assert_eq!(turns(&mut r, now, 3), [1, 1, 1]);
        let later = now + SLAVE_SUSPEND;
        assert_eq!(turns(&mut r, later, 2), [2, 1]);
    }

    #[test]
    fn silent_slaves_are_found() {
        let now = Instant::now();
        let mut r = Registry::default();
        r.insert(slave(1, now));
        let mut s2 = slave(2, now);
        s2.seen = now + Duration::from_secs(3);
        r.insert(s2);
        assert_eq!(r.silent(now + Duration::from_secs(4), Duration::from_millis(3500)), [1]);
        assert!(r.pick(now, &[1, 2]).is_none());
    }
}
