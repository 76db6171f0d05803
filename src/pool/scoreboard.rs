//! The scoreboard: one slot per worker in memory shared with the supervisor
//! (an anonymous `mmap` made before forking, as Apache's prefork MPM does).
//! Each worker writes only its own slot; the supervisor reads them all to
//! decide when to fork or retire workers, and `ftpserver status` prints them.
//! Nothing else is shared between workers.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::metrics::Counters;
use crate::server::connection::{Progress, Transferred};
use crate::server::error::FtpError;
use crate::server::tls::Encrypted;
use crate::sys::SharedSlice;

use crate::limits::SCOREBOARD_RATE_WINDOW;
use crate::limits::SCOREBOARD_TEXT as TEXT;

/// What a worker is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum State {
    /// The slot is free.
    Free = 0,
    /// Forked, not yet in `accept`.
    Starting = 1,
    /// Waiting in `accept`.
    Idle = 2,
    /// Serving a client.
    Busy = 3,
    /// Finishing before exit.
    Leaving = 4,
}

impl State {
    fn from_u8(v: u8) -> State {
        match v {
            1 => State::Starting,
            2 => State::Idle,
            3 => State::Busy,
            4 => State::Leaving,
            _ => State::Free,
        }
    }

    /// The name the status table shows.
    pub fn name(self) -> &'static str {
        match self {
            State::Free => "free",
            State::Starting => "starting",
            State::Idle => "idle",
            State::Busy => "busy",
            State::Leaving => "leaving",
        }
    }
}

crate::sys::shared_struct! {
    /// One worker's slot. Text fields may tear while being rewritten; they
    /// are for display only. Decisions use the atomics.
    pub struct Slot {
        pid: AtomicI32,
        state: AtomicU8,
        generation: AtomicU32,
        sessions: AtomicU32,
        bytes: AtomicU64,
        since_ms: AtomicU64,
        security: AtomicU8,
        /// The client's address as an IPv6 (v4-mapped) number, high and
        /// low halves (0: none), for the per-address limit.
        ip: [AtomicU64; 2],
        /// 1 once the client has logged in (a worker serving a client that
        /// has not may be reclaimed).
        logged_in: AtomicU8,
        rate: AtomicU64,
        rate_at_ms: AtomicU64,
        window_ms: AtomicU64,
        window_bytes: AtomicU64,
        client: [AtomicU8; TEXT],
        user: [AtomicU8; TEXT],
        command: [AtomicU8; TEXT],
        /// What the worker counted, for the metrics.
        counters: Counters,
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn write_text(field: &[AtomicU8; TEXT], s: &str) {
    let b = s.as_bytes();
    let n = b.len().min(TEXT);
    for (i, cell) in field.iter().enumerate() {
        cell.store(if i < n { b[i] } else { 0 }, Ordering::Relaxed);
    }
}

fn read_text(field: &[AtomicU8; TEXT]) -> String {
    let bytes: Vec<u8> = field.iter().map(|c| c.load(Ordering::Relaxed)).take_while(|&b| b != 0).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A copy of one slot, for display (`ftpserver status`; decisions read
/// the atomics).
#[derive(Clone, Debug)]
pub struct SlotView {
    /// Worker pid.
    pub pid: i32,
    /// Its state.
    pub state: State,
    /// Clients served so far.
    pub sessions: u32,
    /// Bytes moved by the current or last transfer.
    pub bytes: u64,
    /// Bytes per second of the running transfer over the last
    /// [`SCOREBOARD_RATE_WINDOW`] or so (0 when none runs or it stalled).
    pub rate: u64,
    /// Milliseconds since the state began.
    pub for_ms: u64,
    /// Client address.
    pub client: String,
    /// Logged-in user.
    pub user: String,
    /// Last command.
    pub command: String,
    /// FTPS: what is encrypted.
    pub tls: Encrypted,
}

/// An address as the number the scoreboard keeps (IPv4 as v4-mapped IPv6).
fn ip_number(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

impl Slot {
    /// Claims the slot for a new worker (by the supervisor, before fork).
    pub fn claim(&self, pid: i32, generation: u32) {
        self.pid.store(pid, Ordering::SeqCst);
        self.generation.store(generation, Ordering::SeqCst);
        self.sessions.store(0, Ordering::Relaxed);
        self.bytes.store(0, Ordering::Relaxed);
        write_text(&self.client, "");
        write_text(&self.user, "");
        write_text(&self.command, "");
        self.counters.reset();
        self.set_state(State::Starting);
    }

    /// What the worker counted (`pool::metrics`).
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Records the pid of the worker forked into this slot (by the
    /// supervisor, right after fork). Only the pid: the child may already
    /// have moved on to idle or busy.
    pub fn set_pid(&self, pid: i32) {
        self.pid.store(pid, Ordering::SeqCst);
    }

    /// Frees the slot (by the supervisor, after reaping).
    pub fn free(&self) {
        self.pid.store(0, Ordering::SeqCst);
        self.set_state(State::Free);
    }

    /// Records a new state and when it began.
    pub fn set_state(&self, s: State) {
        self.since_ms.store(now_ms(), Ordering::Relaxed);
        self.state.store(s as u8, Ordering::SeqCst);
    }

    /// The current state.
    pub fn state(&self) -> State {
        State::from_u8(self.state.load(Ordering::SeqCst))
    }

    /// The configuration generation the worker was forked with.
    pub fn generation(&self) -> u32 {
        self.generation.load(Ordering::SeqCst)
    }

    /// The worker's pid (0 when free).
    pub fn pid(&self) -> i32 {
        self.pid.load(Ordering::SeqCst)
    }

    /// The worker starts serving `client`.
    pub fn begin_session(&self, client: SocketAddr) {
        let ip = ip_number(client.ip());
        self.ip[0].store((ip >> 64) as u64, Ordering::Relaxed);
        self.ip[1].store(ip as u64, Ordering::Relaxed);
        self.logged_in.store(0, Ordering::Relaxed);
        write_text(&self.client, &client.to_string());
        write_text(&self.user, "");
        write_text(&self.command, "");
        self.bytes.store(0, Ordering::Relaxed);
        self.security.store(0, Ordering::Relaxed);
        self.sessions.fetch_add(1, Ordering::Relaxed);
        self.set_state(State::Busy);
    }

    /// The worker is back in `accept`.
    pub fn end_session(&self) {
        self.bytes.store(0, Ordering::Relaxed);
        self.ip[0].store(0, Ordering::Relaxed);
        self.ip[1].store(0, Ordering::Relaxed);
        self.logged_in.store(0, Ordering::Relaxed);
        write_text(&self.client, "");
        write_text(&self.user, "");
        write_text(&self.command, "");
        self.set_state(State::Idle);
    }

    /// Clients served by this worker.
    pub fn sessions(&self) -> u32 {
        self.sessions.load(Ordering::Relaxed)
    }

    /// The user logged in.
    pub fn set_user(&self, user: &str) {
        write_text(&self.user, user);
        self.logged_in.store(1, Ordering::SeqCst);
    }

    /// True once the client being served has logged in.
    pub fn logged_in(&self) -> bool {
        self.logged_in.load(Ordering::SeqCst) != 0
    }

    /// Milliseconds since the state began (for a busy worker: since its
    /// client connected).
    pub fn for_ms(&self) -> u64 {
        now_ms().saturating_sub(self.since_ms.load(Ordering::Relaxed))
    }

    /// True while this worker serves a client from `ip`.
    pub fn serves(&self, ip: IpAddr) -> bool {
        let n = ip_number(ip);
        self.state() == State::Busy
            && self.ip[0].load(Ordering::Relaxed) == (n >> 64) as u64
            && self.ip[1].load(Ordering::Relaxed) == n as u64
    }

    /// The command being served.
    pub fn set_command(&self, cmd: &str) {
        write_text(&self.command, cmd);
    }

    /// Bytes moved by the running transfer; every
    /// [`SCOREBOARD_RATE_WINDOW`] the current rate is measured from them
    /// (0 starts a transfer, and a new window).
    pub fn set_bytes(&self, n: u64) {
        self.bytes.store(n, Ordering::Relaxed);
        let now = now_ms();
        if n == 0 {
            self.window_ms.store(now, Ordering::Relaxed);
            self.window_bytes.store(0, Ordering::Relaxed);
            self.rate.store(0, Ordering::Relaxed);
            return;
        }
        let start = self.window_ms.load(Ordering::Relaxed);
        let elapsed = now.saturating_sub(start);
        if elapsed >= SCOREBOARD_RATE_WINDOW.as_millis() as u64 {
            let moved = n.saturating_sub(self.window_bytes.load(Ordering::Relaxed));
            self.rate.store(moved * 1000 / elapsed, Ordering::Relaxed);
            self.rate_at_ms.store(now, Ordering::Relaxed);
            self.window_ms.store(now, Ordering::Relaxed);
            self.window_bytes.store(n, Ordering::Relaxed);
        }
    }

    /// The current rate: the last measured, unless it is older than two
    /// windows (the transfer ended or stalled).
    fn current_rate(&self) -> u64 {
        let at = self.rate_at_ms.load(Ordering::Relaxed);
        let fresh = now_ms().saturating_sub(at) <= 2 * SCOREBOARD_RATE_WINDOW.as_millis() as u64;
        if fresh && self.state() == State::Busy {
            self.rate.load(Ordering::Relaxed)
        } else {
            0
        }
    }

    fn view(&self) -> SlotView {
        SlotView {
            pid: self.pid(),
            state: self.state(),
            sessions: self.sessions(),
            bytes: self.bytes.load(Ordering::Relaxed),
            rate: self.current_rate(),
            for_ms: self.for_ms(),
            client: read_text(&self.client),
            user: read_text(&self.user),
            command: read_text(&self.command),
            tls: Encrypted::from_u8(self.security.load(Ordering::Relaxed)),
        }
    }
}

/// A worker's session reports into its slot (`ftpserver status`).
impl Progress for Slot {
    fn command(&self, shown: &str) {
        self.set_command(shown);
    }

    fn user(&self, name: &str) {
        self.set_user(name);
        self.counters.login(true);
    }

    fn bytes(&self, n: u64) {
        self.set_bytes(n);
    }

    fn security(&self, now: Encrypted) {
        self.security.store(now as u8, Ordering::Relaxed);
    }

    fn tls_handshake(&self, ok: bool) {
        self.counters.tls_handshake(ok);
    }

    fn login_failed(&self) {
        self.counters.login(false);
    }

    fn transferred(&self, done: &Transferred) {
        self.counters.transferred(done);
    }

    fn refused(&self, why: &FtpError) {
        self.counters.refused(why);
    }
}

/// All slots, shared with every worker.
pub struct Scoreboard {
    slots: SharedSlice<Slot>,
}

impl Scoreboard {
    /// Maps a scoreboard of `n` free slots.
    pub fn new(n: usize) -> nix::Result<Scoreboard> {
        Ok(Scoreboard { slots: SharedSlice::new(n)? })
    }

    /// The slots.
    pub fn slots(&self) -> &[Slot] {
        self.slots.get()
    }

    /// Copies of the slots in use.
    pub fn snapshot(&self) -> Vec<SlotView> {
        self.slots().iter().filter(|s| s.pid() != 0).map(Slot::view).collect()
    }

    /// Workers other than `except` serving a client from `ip`.
    pub fn serving(&self, ip: IpAddr, except: usize) -> usize {
        self.slots().iter().enumerate().filter(|(i, s)| *i != except && s.serves(ip)).count()
    }

    /// Counts workers in `state` (atomics only, no allocation).
    pub fn count(&self, state: State) -> usize {
        self.slots().iter().filter(|s| s.pid() != 0 && s.state() == state).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_record_and_read_back() {
        let sb = Scoreboard::new(4).unwrap();
        let s = &sb.slots()[0];
        s.claim(1234, 1);
        s.begin_session("127.0.0.1:5000".parse().unwrap());
        s.set_user("anonymous");
        s.set_command(&"RETR ".repeat(40));
        s.set_bytes(99);
        let v = &sb.snapshot()[0];
        assert_eq!((v.pid, v.state, v.bytes, v.sessions), (1234, State::Busy, 99, 1));
        assert_eq!(v.client, "127.0.0.1:5000");
        // A rate is measured once a window has passed.
        s.set_bytes(0);
        s.window_ms.store(now_ms() - 2000, Ordering::Relaxed);
        s.set_bytes(4000);
        assert_eq!(sb.snapshot()[0].rate, 2000);
        assert_eq!(v.command.len(), TEXT);
        assert_eq!(sb.count(State::Busy), 1);
        assert!(s.logged_in());
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!((sb.serving(ip, 1), sb.serving(ip, 0)), (1, 0));
        assert_eq!(sb.serving("::ffff:127.0.0.1".parse().unwrap(), 1), 1);
        assert_eq!(sb.serving("127.0.0.2".parse().unwrap(), 1), 0);
        s.free();
        assert!(sb.snapshot().is_empty());
    }
}
