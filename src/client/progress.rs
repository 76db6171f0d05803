//! The progress line of a transfer (on a terminal only) and the statistics
//! line that ends every transfer.
//!
//! In the spirit of the C original (`[42%] received N bytes of M`, then
//! `Transfert terminé en 0.012 seconde(s) (812 Kbytes/s)`), in English:
//!
//! ```text
//! [ 42%] received 880640 bytes of 2097152 (12.3 Mbytes/s, 0:01 left)
//! 2097152 bytes received in 0.170 seconds (12.0 Mbytes/s)
//! ```
//!
//! The formatting is pure; [`Progress`] only decides when to redraw.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::limits::CLIENT_PROGRESS_INTERVAL;

/// Which way the bytes go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// A download.
    Received,
    /// An upload.
    Sent,
}

impl Direction {
    fn word(self) -> &'static str {
        match self {
            Direction::Received => "received",
            Direction::Sent => "sent",
        }
    }
}

/// A rate in bytes per second, the way the original said it (`812.0
/// Kbytes/s`), in Mbytes or Gbytes when the number grows large.
pub fn human_rate(bytes_per_sec: f64) -> String {
    let k = bytes_per_sec / 1024.0;
    if k < 1024.0 {
        format!("{k:.1} Kbytes/s")
    } else if k < 1024.0 * 1024.0 {
        format!("{:.1} Mbytes/s", k / 1024.0)
    } else {
        format!("{:.1} Gbytes/s", k / (1024.0 * 1024.0))
    }
}

/// Seconds as `m:ss`, or `h:mm:ss` from an hour on.
pub fn clock(secs: u64) -> String {
    if secs >= 3600 {
        format!("{}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
    } else {
        format!("{}:{:02}", secs / 60, secs % 60)
    }
}

fn rate(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / elapsed.as_secs_f64().max(1e-6)
}

/// One progress line: `position` is where the file stands (a resumed
/// transfer starts past zero), `moved` what this transfer moved so far.
pub fn progress_line(dir: Direction, position: u64, total: Option<u64>, moved: u64, elapsed: Duration) -> String {
    let r = rate(moved, elapsed);
    match total {
        Some(total) if total > 0 => {
            let pct = (position.min(total) as u128 * 100 / total as u128) as u64;
            let left = total.saturating_sub(position);
            let eta = if r >= 1.0 { clock((left as f64 / r).ceil() as u64) } else { "-:--".into() };
            format!("[{pct:3}%] {} {position} bytes of {total} ({}, {eta} left)", dir.word(), human_rate(r))
        }
        _ => format!("{} {position} bytes ({})", dir.word(), human_rate(r)),
    }
}

/// The statistics line that ends a transfer: bytes, seconds, rate.
pub fn stats_line(dir: Direction, bytes: u64, elapsed: Duration) -> String {
    format!(
        "{bytes} bytes {} in {:.3} seconds ({})",
        dir.word(),
        elapsed.as_secs_f64(),
        human_rate(rate(bytes, elapsed))
    )
}

/// The progress of one transfer: redraws its line on standard output at
/// most every [`CLIENT_PROGRESS_INTERVAL`], when enabled (a terminal).
#[derive(Debug)]
pub struct Progress {
    dir: Direction,
    enabled: bool,
    start: Instant,
    offset: u64,
    total: Option<u64>,
    moved: u64,
    last_draw: Option<Instant>,
}

impl Progress {
    /// Starts the clock. `offset` is where a resumed transfer starts,
    /// `total` the file's size when known.
    pub fn new(dir: Direction, offset: u64, total: Option<u64>, enabled: bool) -> Progress {
        Progress { dir, enabled, start: Instant::now(), offset, total, moved: 0, last_draw: None }
    }

    /// Bytes moved by this transfer so far.
    pub fn moved(&self) -> u64 {
        self.moved
    }

    /// Time since the start.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Records that the transfer has moved `moved` bytes in all.
    pub fn update(&mut self, moved: u64) {
        self.moved = moved;
        if !self.enabled {
            return;
        }
        let due = match self.last_draw {
            None => true,
            Some(t) => t.elapsed() >= CLIENT_PROGRESS_INTERVAL,
        };
        if due {
            self.draw();
        }
    }

    fn draw(&mut self) {
        let line = progress_line(self.dir, self.offset + self.moved, self.total, self.moved, self.elapsed());
        let mut out = std::io::stdout();
        let _ = write!(out, "\r{line}\x1b[K");
        let _ = out.flush();
        self.last_draw = Some(Instant::now());
    }

    /// Draws the last state and ends the line (when a line was drawn).
    pub fn finish(&mut self) {
        if self.enabled {
            self.draw();
            let _ = writeln!(std::io::stdout());
        }
    }

    /// The statistics line of what was moved.
    pub fn stats(&self) -> String {
        stats_line(self.dir, self.moved, self.elapsed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_like_the_original() {
        assert_eq!(human_rate(812.0 * 1024.0), "812.0 Kbytes/s");
        assert_eq!(human_rate(12.5 * 1024.0 * 1024.0), "12.5 Mbytes/s");
        assert_eq!(human_rate(3.0 * 1024.0 * 1024.0 * 1024.0), "3.0 Gbytes/s");
    }

    #[test]
    fn progress_line_shows_percent_bytes_rate_and_time_left() {
        let l = progress_line(Direction::Received, 500, Some(1000), 500, Duration::from_secs(1));
        assert_eq!(l, "[ 50%] received 500 bytes of 1000 (0.5 Kbytes/s, 0:01 left)");
        let l = progress_line(Direction::Sent, 42, None, 42, Duration::from_secs(1));
        assert_eq!(l, "sent 42 bytes (0.0 Kbytes/s)");
    }

    #[test]
    fn resumed_progress_counts_from_the_offset_and_never_passes_100() {
        let l = progress_line(Direction::Received, 2000, Some(1000), 10, Duration::from_secs(1));
        assert!(l.starts_with("[100%] received 2000 bytes of 1000"), "{l}");
    }

    #[test]
    fn statistics_line_has_bytes_seconds_and_rate() {
        let l = stats_line(Direction::Received, 2048, Duration::from_millis(500));
        assert_eq!(l, "2048 bytes received in 0.500 seconds (4.0 Kbytes/s)");
        // A transfer too fast to time divides by a microsecond, not by zero.
        assert!(stats_line(Direction::Sent, 1, Duration::ZERO).contains("Kbytes/s"));
    }

    #[test]
    fn clock_format() {
        assert_eq!(clock(61), "1:01");
        assert_eq!(clock(3661), "1:01:01");
    }
}
