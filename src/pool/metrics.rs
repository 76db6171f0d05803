//! The pool's metrics: what each worker counts in its scoreboard slot, and
//! the Prometheus page and health check the supervisor serves from the
//! scoreboard (`--metrics`; never a worker, see `service::http`).
//!
//! Each worker counts in its own slot ([`Counters`]), as it writes its
//! state there. When a worker exits, the supervisor adds its counts to its
//! own [`Totals`] before the slot is reused, so a counter never goes back
//! while the supervisor lives. A new binary (an upgrade) starts its
//! counters from zero, which Prometheus reads as a counter reset.
//!
//! The 421 refusals are counted by cause, named after the reply that
//! refused ([`cause`]): a refusal added elsewhere is counted by calling
//! `Progress::refused` (a session) or [`Counters::refused`] (a worker),
//! and gets its own label by adding it to [`CAUSES`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use super::scoreboard::{SlotView, State};
use crate::server::config::ServerConfig;
use crate::server::connection::Transferred;
use crate::server::error::FtpError;
use crate::server::tls::Encrypted;
use crate::service::exposition::{Exposition, Series};

/// The labels of the refusal causes, in the order of their counters.
pub(crate) const CAUSES: [&str; 6] = ["max_workers", "max_per_ip", "proxy_header", "banned", "reclaimed", "other"];

/// The counter of a refusal.
pub(crate) fn cause(why: &FtpError) -> usize {
    match why {
        FtpError::TooManyUsers => 0,
        FtpError::TooManyFromAddress => 1,
        FtpError::ProxyRefused => 2,
        FtpError::Banned(_) => 3,
        FtpError::Reclaimed => 4,
        _ => 5,
    }
}

/// Upper bounds (seconds) of the buckets of the transfer durations.
pub(crate) const DURATION_BOUNDS: [f64; 10] = [0.01, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0];
const BUCKETS: usize = DURATION_BOUNDS.len() + 1;

/// Download, upload: the index of a direction in the counters.
const OUT: usize = 0;
const IN: usize = 1;
const DIRECTIONS: [&str; 2] = ["out", "in"];

crate::sys::shared_struct! {
    /// What one worker counted since it was forked (written by it only).
    pub struct Counters {
        logins_ok: AtomicU64,
        logins_failed: AtomicU64,
        refused: [AtomicU64; CAUSES.len()],
        bytes: [AtomicU64; 2],
        files: [AtomicU64; 2],
        incomplete: [AtomicU64; 2],
        durations: [[AtomicU64; BUCKETS]; 2],
        duration_us: [AtomicU64; 2],
        tls_handshakes: [AtomicU64; 2],
    }
}

fn bump(a: &AtomicU64, n: u64) {
    a.fetch_add(n, Ordering::Relaxed);
}

impl Counters {
    /// Back to zero (a slot given to a new worker).
    pub(crate) fn reset(&self) {
        let all = [&self.logins_ok, &self.logins_failed].into_iter().chain(&self.refused).chain(&self.bytes);
        for a in all
            .chain(&self.files)
            .chain(&self.incomplete)
            .chain(self.durations.iter().flatten())
            .chain(&self.duration_us)
            .chain(&self.tls_handshakes)
        {
            a.store(0, Ordering::Relaxed);
        }
    }

    /// A login succeeded, or failed.
    pub(crate) fn login(&self, ok: bool) {
        bump(if ok { &self.logins_ok } else { &self.logins_failed }, 1);
    }

    /// A client was refused with `why`.
    pub(crate) fn refused(&self, why: &FtpError) {
        bump(&self.refused[cause(why)], 1);
    }

    /// A TLS handshake on a control connection succeeded, or failed.
    pub(crate) fn tls_handshake(&self, ok: bool) {
        bump(&self.tls_handshakes[usize::from(!ok)], 1);
    }

    /// A file transfer ended.
    pub(crate) fn transferred(&self, t: &Transferred) {
        let d = if t.incoming { IN } else { OUT };
        bump(&self.bytes[d], t.bytes);
        bump(&self.files[d], 1);
        if !t.complete {
            bump(&self.incomplete[d], 1);
        }
        let bucket = DURATION_BOUNDS.iter().position(|&b| t.secs <= b).unwrap_or(BUCKETS - 1);
        bump(&self.durations[d][bucket], 1);
        bump(&self.duration_us[d], (t.secs * 1e6) as u64);
    }
}

/// Counts, added up (the supervisor's, and those of the page).
#[derive(Clone, Debug, Default)]
pub(crate) struct Totals {
    sessions: u64,
    logins_ok: u64,
    logins_failed: u64,
    refused: [u64; CAUSES.len()],
    bytes: [u64; 2],
    files: [u64; 2],
    incomplete: [u64; 2],
    durations: [[u64; BUCKETS]; 2],
    duration_us: [u64; 2],
    tls_handshakes: [u64; 2],
}

fn add(to: &mut [u64], from: &[AtomicU64]) {
    for (t, f) in to.iter_mut().zip(from) {
        *t += f.load(Ordering::Relaxed);
    }
}

impl Totals {
    /// Adds what a worker counted, and the sessions it served.
    pub(crate) fn add(&mut self, c: &Counters, sessions: u32) {
        self.sessions += u64::from(sessions);
        self.logins_ok += c.logins_ok.load(Ordering::Relaxed);
        self.logins_failed += c.logins_failed.load(Ordering::Relaxed);
        add(&mut self.refused, &c.refused);
        add(&mut self.bytes, &c.bytes);
        add(&mut self.files, &c.files);
        add(&mut self.incomplete, &c.incomplete);
        for d in [OUT, IN] {
            add(&mut self.durations[d], &c.durations[d]);
        }
        add(&mut self.duration_us, &c.duration_us);
        add(&mut self.tls_handshakes, &c.tls_handshakes);
    }

    /// A refusal by the supervisor itself.
    pub(crate) fn refused(&mut self, why: &FtpError) {
        self.refused[cause(why)] += 1;
    }
}

/// What the page shows besides the counts.
pub(crate) struct PoolState<'a> {
    pub views: &'a [SlotView],
    pub cfg: &'a ServerConfig,
    pub started: SystemTime,
}

/// The Prometheus page: `totals` (the supervisor's and every live
/// worker's, added up) and the state of the workers in `pool`.
pub(crate) fn page(t: &Totals, pool: &PoolState<'_>) -> String {
    let mut e = Exposition::default();
    let count = |s: State| pool.views.iter().filter(|v| v.state == s).count() as f64;
    let busy = count(State::Busy);
    e.gauge(
        "forkftp_info",
        "The running ftpserver: its version and the address it serves.",
        &[(&[("version", env!("CARGO_PKG_VERSION")), ("listen", &pool.cfg.listen.to_string())], 1.0)],
    );
    let started = pool.started.duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
    e.gauge("forkftp_start_time_seconds", "When the supervisor started, Unix seconds.", &[(&[], started)]);
    e.gauge("forkftp_sessions_active", "Clients being served now (busy workers).", &[(&[], busy)]);
    e.counter("forkftp_sessions_total", "Clients served since the start.", &[(&[], t.sessions as f64)]);
    e.counter(
        "forkftp_logins_total",
        "Logins, by result.",
        &[(&[("result", "ok")], t.logins_ok as f64), (&[("result", "failed")], t.logins_failed as f64)],
    );
    let refused: Vec<([(&str, &str); 1], f64)> =
        CAUSES.iter().zip(t.refused).map(|(c, n)| ([("cause", *c)], n as f64)).collect();
    let refused: Vec<(&[(&str, &str)], f64)> = refused.iter().map(|(l, n)| (&l[..], *n)).collect();
    e.counter("forkftp_refused_total", "Clients refused with 421, by cause.", &refused);
    let by_direction = |v: [u64; 2]| -> Vec<([(&str, &str); 1], f64)> {
        DIRECTIONS.iter().zip(v).map(|(d, n)| ([("direction", *d)], n as f64)).collect()
    };
    for (name, help, v) in [
        (
            "forkftp_transfer_bytes_total",
            "Bytes of files moved over data connections (out: downloads, in: uploads).",
            t.bytes,
        ),
        ("forkftp_transfer_files_total", "File transfers ended, complete or not.", t.files),
        ("forkftp_transfer_incomplete_total", "File transfers that ended before their last byte.", t.incomplete),
    ] {
        let s = by_direction(v);
        let s: Vec<(&[(&str, &str)], f64)> = s.iter().map(|(l, n)| (&l[..], *n)).collect();
        e.counter(name, help, &s);
    }
    let labels = [[("direction", DIRECTIONS[OUT])], [("direction", DIRECTIONS[IN])]];
    let series: Vec<Series<'_>> =
        [OUT, IN].iter().map(|&d| (&labels[d][..], &t.durations[d][..], t.duration_us[d] as f64 / 1e6)).collect();
    e.histogram("forkftp_transfer_duration_seconds", "How long file transfers took.", &DURATION_BOUNDS, &series);
    e.counter(
        "forkftp_tls_handshakes_total",
        "TLS handshakes of control connections (AUTH TLS, implicit FTPS), by result.",
        &[(&[("result", "ok")], t.tls_handshakes[0] as f64), (&[("result", "failed")], t.tls_handshakes[1] as f64)],
    );
    let encrypted: Vec<([(&str, &str); 1], f64)> = Encrypted::ALL[1..]
        .iter()
        .map(|&x| {
            let n = pool.views.iter().filter(|v| v.state == State::Busy && v.tls == x).count();
            ([("encrypted", x.name())], n as f64)
        })
        .collect();
    let encrypted: Vec<(&[(&str, &str)], f64)> = encrypted.iter().map(|(l, n)| (&l[..], *n)).collect();
    e.gauge(
        "forkftp_tls_sessions_active",
        "Sessions being served now with TLS, by what is encrypted (ctl, ctl+data, data).",
        &encrypted,
    );
    let states = [State::Starting, State::Idle, State::Busy, State::Leaving];
    let workers: Vec<([(&str, &str); 1], f64)> = states.iter().map(|s| ([("state", s.name())], count(*s))).collect();
    let workers: Vec<(&[(&str, &str)], f64)> = workers.iter().map(|(l, n)| (&l[..], *n)).collect();
    e.gauge("forkftp_workers", "Worker processes, by state.", &workers);
    e.gauge("forkftp_workers_max", "Most workers (--max-workers).", &[(&[], pool.cfg.pool.max_workers as f64)]);
    e.finish()
}

/// `/health`: 200 while the pool accepts clients; 503 when it stops, has
/// no worker, or has every worker busy at `--max-workers`.
pub(crate) fn health(stopping: bool, pool: &PoolState<'_>) -> (u16, String) {
    let live = pool.views.iter().filter(|v| v.state != State::Leaving).count();
    let busy = pool.views.iter().filter(|v| v.state == State::Busy).count();
    let idle = pool.views.iter().filter(|v| v.state == State::Idle).count();
    if stopping {
        (503, "stopping\n".into())
    } else if live == 0 {
        (503, "no worker\n".into())
    } else if busy >= pool.cfg.pool.max_workers {
        (503, format!("saturated: all {busy} workers busy\n"))
    } else {
        (200, format!("ok: {live} workers, {idle} idle, {busy} busy\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfers_fall_in_their_bucket() {
        let c = crate::sys::SharedSlice::<Counters>::new(1).unwrap();
        let c = &c.get()[0];
        c.transferred(&Transferred { incoming: true, bytes: 10, secs: 0.2, complete: true });
        c.transferred(&Transferred { incoming: false, bytes: 5, secs: 4000.0, complete: false });
        c.login(true);
        c.refused(&FtpError::TooManyFromAddress);
        c.tls_handshake(true);
        c.tls_handshake(false);
        c.tls_handshake(true);
        let mut t = Totals::default();
        t.add(c, 2);
        t.add(c, 1);
        assert_eq!((t.sessions, t.logins_ok, t.refused), (3, 2, [0, 2, 0, 0, 0, 0]));
        assert_eq!((t.bytes, t.files, t.incomplete), ([10, 20], [2, 2], [2, 0]));
        assert_eq!(t.tls_handshakes, [4, 2]);
        assert_eq!(t.durations[IN][2], 2, "0.2 s is in the 0.5 s bucket");
        assert_eq!(t.durations[OUT][BUCKETS - 1], 2, "4000 s is above the last bound");
        c.reset();
        let mut z = Totals::default();
        z.add(c, 0);
        assert_eq!(format!("{z:?}"), format!("{:?}", Totals::default()));
    }
}
