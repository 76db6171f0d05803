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
//! A tree transfer (`get -r`, `mirror`, `mget`...) shows one line for the
//! whole tree instead, and a summary at its end:
//!
//! ```text
//! [ 42%] 3/10 files, 880640 of 2097152 bytes received (12.3 Mbytes/s, 0:01 left)
//! 10 files, 2097152 bytes received in 0.170 seconds (12.0 Mbytes/s); 2 unchanged
//! ```
//!
//! The formatting is pure; [`Progress`] and [`TreeProgress`] only decide
//! when to redraw.

use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;
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

/// The progress line of a tree: files and bytes done of all.
pub fn tree_line(dir: Direction, files: (u64, u64), bytes: (u64, u64), moved: u64, elapsed: Duration) -> String {
    let r = rate(moved, elapsed);
    let (done, total) = bytes;
    let pct = if total == 0 { 100 } else { (done.min(total) as u128 * 100 / total as u128) as u64 };
    let left = total.saturating_sub(done);
    let eta = if left == 0 {
        clock(0)
    } else if r >= 1.0 {
        clock((left as f64 / r).ceil() as u64)
    } else {
        "-:--".into()
    };
    format!(
        "[{pct:3}%] {}/{} files, {done} of {total} bytes {} ({}, {eta} left)",
        files.0,
        files.1,
        dir.word(),
        human_rate(r)
    )
}

/// What a tree transfer did, counted for its summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TreeCounts {
    /// Files moved.
    pub files: u64,
    /// Bytes moved (a resumed file counts what this run moved).
    pub bytes: u64,
    /// Files left alone: the same size and time on both sides.
    pub unchanged: u64,
    /// Files or directories that failed (each was reported).
    pub failed: u64,
    /// Names refused (unsafe names from the server, unusable local names).
    pub refused: u64,
    /// Entries deleted (`mirror --delete`).
    pub deleted: u64,
}

/// The summary line that ends a tree transfer.
pub fn tree_summary(dir: Direction, c: &TreeCounts, elapsed: Duration, dry_run: bool) -> String {
    let mut out = if dry_run {
        format!("Dry run: {} files, {} bytes would be {}", c.files, c.bytes, dir.word())
    } else {
        format!(
            "{} files, {} bytes {} in {:.3} seconds ({})",
            c.files,
            c.bytes,
            dir.word(),
            elapsed.as_secs_f64(),
            human_rate(rate(c.bytes, elapsed))
        )
    };
    let mut extra = Vec::new();
    for (n, what) in [(c.unchanged, "unchanged"), (c.deleted, "deleted"), (c.refused, "refused"), (c.failed, "failed")]
    {
        if n > 0 {
            extra.push(format!("{n} {what}"));
        }
    }
    if !extra.is_empty() {
        out.push_str("; ");
        out.push_str(&extra.join(", "));
        if dry_run && c.deleted > 0 {
            out = out.replace(" deleted", " to delete");
        }
    }
    out
}

/// The progress of a tree transfer: one line for all its files, redrawn on
/// standard output at most every [`CLIENT_PROGRESS_INTERVAL`] (a terminal
/// only), and the counts of its summary.
#[derive(Debug)]
pub struct TreeProgress {
    dir: Direction,
    enabled: bool,
    start: Instant,
    files_total: u64,
    bytes_total: u64,
    /// Sizes of the files finished (or given up).
    bytes_done: u64,
    /// Where the current file stands.
    current: u64,
    /// Bytes moved by the current file.
    current_moved: u64,
    /// The counts of the summary.
    pub counts: TreeCounts,
    drawn: bool,
    last_draw: Option<Instant>,
}

impl TreeProgress {
    /// A tree of `files` files, `bytes` bytes in all, to move.
    pub fn new(dir: Direction, files: u64, bytes: u64, enabled: bool) -> TreeProgress {
        TreeProgress {
            dir,
            enabled,
            start: Instant::now(),
            files_total: files,
            bytes_total: bytes,
            bytes_done: 0,
            current: 0,
            current_moved: 0,
            counts: TreeCounts::default(),
            drawn: false,
            last_draw: None,
        }
    }

    /// The current file stands at `position`, having moved `moved` bytes.
    pub fn update(&mut self, position: u64, moved: u64) {
        self.current = position;
        self.current_moved = moved;
        if self.enabled && due(self.last_draw) {
            self.draw();
        }
    }

    /// The current file is finished (`ok`) or given up; `size` is its size.
    pub fn file_done(&mut self, size: u64, ok: bool) {
        self.bytes_done += size;
        if ok {
            self.counts.files += 1;
            self.counts.bytes += self.current_moved;
        } else {
            self.counts.failed += 1;
        }
        self.current = 0;
        self.current_moved = 0;
        if self.enabled {
            self.draw();
        }
    }

    fn draw(&mut self) {
        let done_files = self.counts.files + self.counts.failed;
        let line = tree_line(
            self.dir,
            (done_files, self.files_total),
            (self.bytes_done + self.current, self.bytes_total),
            self.counts.bytes + self.current_moved,
            self.start.elapsed(),
        );
        let mut out = std::io::stdout();
        let _ = write!(out, "\r{line}\x1b[K");
        let _ = out.flush();
        self.drawn = true;
        self.last_draw = Some(Instant::now());
    }

    /// Clears the progress line, so that a message can be printed; the
    /// next update draws it again.
    pub fn clear_line(&mut self) {
        if self.drawn {
            let mut out = std::io::stdout();
            let _ = write!(out, "\r\x1b[K");
            let _ = out.flush();
            self.drawn = false;
        }
    }

    /// Ends the progress line; returns the summary.
    pub fn finish(&mut self, dry_run: bool) -> String {
        if self.drawn {
            let _ = writeln!(std::io::stdout());
            self.drawn = false;
        }
        tree_summary(self.dir, &self.counts, self.start.elapsed(), dry_run)
    }
}

/// True when a line never drawn, or drawn long enough ago, is due.
fn due(last: Option<Instant>) -> bool {
    last.map_or(true, |t| t.elapsed() >= CLIENT_PROGRESS_INTERVAL)
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
    /// When the bytes stopped moving ([`Progress::finish`]): the statistics
    /// time the transfer, not the fsync and the replies after it.
    ended: Option<Instant>,
    /// The tree this transfer is part of: it draws the line instead.
    tree: Option<Rc<RefCell<TreeProgress>>>,
}

impl Progress {
    /// Starts the clock. `offset` is where a resumed transfer starts,
    /// `total` the file's size when known.
    pub fn new(dir: Direction, offset: u64, total: Option<u64>, enabled: bool) -> Progress {
        let start = Instant::now();
        Progress { dir, enabled, start, offset, total, moved: 0, last_draw: None, ended: None, tree: None }
    }

    /// The progress of one file of `tree`: the tree's line is drawn.
    pub fn within(tree: Rc<RefCell<TreeProgress>>, dir: Direction, offset: u64) -> Progress {
        let mut p = Progress::new(dir, offset, None, false);
        p.tree = Some(tree);
        p
    }

    /// Bytes moved by this transfer so far.
    pub fn moved(&self) -> u64 {
        self.moved
    }

    /// Time since the start (until the end, once finished).
    pub fn elapsed(&self) -> Duration {
        self.ended.map_or_else(|| self.start.elapsed(), |end| end - self.start)
    }

    /// Records that the transfer has moved `moved` bytes in all.
    pub fn update(&mut self, moved: u64) {
        self.moved = moved;
        if let Some(tree) = &self.tree {
            tree.borrow_mut().update(self.offset + moved, moved);
            return;
        }
        if self.enabled && due(self.last_draw) {
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
        self.ended.get_or_insert_with(Instant::now);
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
