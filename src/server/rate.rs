//! Rate limits: a token bucket that paces a transfer (an account's
//! download or upload rate, in bytes per second) or a checksum (the
//! server's [`HASH_RATE`], so that HASH cannot keep a core busy).
//!
//! The bucket is pure (time is passed in, tests need no clock): the
//! transfer asks [`Throttle::chunk`] how much to move at once, moves it,
//! tells [`Throttle::spent`], and waits [`Throttle::pause`] before the
//! next move (watching the control connection meanwhile, so that ABOR and
//! STAT are answered). A chunk is what the rate allows in
//! [`RATE_SLICE`], so sendfile and splice keep moving large pieces: at 10
//! MB/s, 1 MB per call. The bucket starts empty and holds at most one
//! chunk, so over any stretch of `t` seconds at most `rate * t + chunk`
//! bytes move: at most 10 % over the rate after one second, 3 % after
//! three.
//!
//! [`HASH_RATE`]: crate::limits::HASH_RATE

use std::time::{Duration, Instant};

use crate::limits::{RATE_MIN_CHUNK, RATE_SLICE, SENDFILE_CHUNK};

/// A token bucket of `rate` bytes per second.
#[derive(Debug, Clone)]
pub struct Throttle {
    rate: u64,
    chunk: usize,
    /// Bytes that may move now; negative: a debt to wait out.
    tokens: f64,
    last: Instant,
}

impl Throttle {
    /// A bucket of `rate` bytes per second, empty at `now`; `None` for 0
    /// (no limit).
    pub fn new(rate: u64, now: Instant) -> Option<Throttle> {
        if rate == 0 {
            return None;
        }
        let chunk = (rate as f64 * RATE_SLICE.as_secs_f64()) as usize;
        Some(Throttle { rate, chunk: chunk.clamp(RATE_MIN_CHUNK, SENDFILE_CHUNK), tokens: 0.0, last: now })
    }

    /// The most to move in one call.
    pub fn chunk(&self) -> usize {
        self.chunk
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * self.rate as f64).min(self.chunk as f64);
    }

    /// `n` bytes moved at `now`.
    pub fn spent(&mut self, n: usize, now: Instant) {
        self.refill(now);
        self.tokens -= n as f64;
    }

    /// How long to wait, from `now`, before moving more (zero: go on).
    pub fn pause(&mut self, now: Instant) -> Duration {
        self.refill(now);
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate as f64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Moves `total` bytes as a transfer would, on a simulated clock;
    /// returns the seconds it took.
    fn simulate(rate: u64, total: usize) -> f64 {
        let start = Instant::now();
        let mut now = start;
        let mut t = Throttle::new(rate, now).unwrap();
        let mut moved = 0;
        while moved < total {
            now += t.pause(now);
            let n = t.chunk().min(total - moved);
            t.spent(n, now);
            moved += n;
        }
        now.duration_since(start).as_secs_f64()
    }

    #[test]
    fn three_seconds_of_transfer_keep_within_ten_percent_of_the_rate() {
        for rate in [10_000u64, 1_000_000, 50_000_000] {
            let total = (rate * 3) as usize;
            let secs = simulate(rate, total);
            let measured = total as f64 / secs;
            assert!(measured <= rate as f64 * 1.10 && measured >= rate as f64 * 0.99, "{rate}: {measured}");
        }
    }

    #[test]
    fn chunks_stay_large_and_bounded() {
        let now = Instant::now();
        assert!(Throttle::new(0, now).is_none());
        assert_eq!(Throttle::new(100, now).unwrap().chunk(), RATE_MIN_CHUNK);
        assert_eq!(Throttle::new(10_000_000, now).unwrap().chunk(), 1_000_000);
        assert_eq!(Throttle::new(u64::MAX / 2, now).unwrap().chunk(), SENDFILE_CHUNK);
    }

    /// A pause does not earn a burst beyond one chunk.
    #[test]
    fn an_idle_bucket_holds_one_chunk_at_most() {
        let start = Instant::now();
        let mut t = Throttle::new(1_000_000, start).unwrap();
        let later = start + Duration::from_secs(60);
        assert_eq!(t.pause(later), Duration::ZERO);
        t.spent(t.chunk() * 2, later);
        let wait = t.pause(later);
        assert!((wait.as_secs_f64() - RATE_SLICE.as_secs_f64()).abs() < 0.001, "{wait:?}");
    }
}
