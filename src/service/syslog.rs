//! `--syslog`: the log goes to the local syslog socket (`/dev/log`, or
//! `--syslog-socket`), facility `ftp`, one datagram per line in the
//! format glibc's syslog(3) sends (RFC 3164):
//!
//! ```text
//! <94>Nov 26 14:03:30 ftpserver[4242]: 127.0.0.1:50000: login ok, user anonymous
//! ```
//!
//! `<PRI>` is the facility (ftp, 11) times 8 plus the severity (error 3,
//! warning 4, info 6, debug 7); the time is UTC (syslog daemons reading the
//! local socket stamp messages with their own clock); the pid is the
//! process that logged (a worker, or the supervisor).
//!
//! The socket is connected once by the parent and shared by the workers it
//! forks: each message is one datagram, so lines never interleave. It is
//! non-blocking: when the syslog daemon falls behind and its queue is full,
//! a line is dropped rather than a worker stalled. A daemon that restarted
//! (the socket refused) is connected again at the next line.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use log::{Level, LevelFilter, Log, Metadata, Record};

use crate::limits::SYSLOG_MAX_MESSAGE;

/// The `ftp` facility (RFC 5424 section 6.2.1: 11, FTP daemon).
pub(crate) const FACILITY_FTP: u8 = 11;

/// The severity of a log level (RFC 5424 section 6.2.1).
pub(crate) fn severity(level: Level) -> u8 {
    match level {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    }
}

/// One datagram: `<PRI>TIMESTAMP IDENT[PID]: MESSAGE`, the message on one
/// line and cut to [`SYSLOG_MAX_MESSAGE`] bytes.
pub(crate) fn datagram(level: Level, unix_secs: i64, ident: &str, pid: u32, msg: &str) -> Vec<u8> {
    let (_, mo, d, h, mi, s) = crate::protocol::time::civil(unix_secs);
    let month = crate::protocol::time::MONTHS[mo as usize - 1];
    let mut out =
        format!("<{}>{month} {d:>2} {h:02}:{mi:02}:{s:02} {ident}[{pid}]: ", FACILITY_FTP * 8 + severity(level));
    for c in msg.chars() {
        if out.len() + c.len_utf8() > SYSLOG_MAX_MESSAGE {
            break;
        }
        out.push(if c == '\n' || c == '\r' { ' ' } else { c });
    }
    out.into_bytes()
}

/// The logger.
struct Syslog {
    path: PathBuf,
    ident: String,
    level: LevelFilter,
    sock: Mutex<Option<UnixDatagram>>,
}

fn connect(path: &Path) -> io::Result<UnixDatagram> {
    let s = UnixDatagram::unbound()?;
    s.connect(path)?;
    s.set_nonblocking(true)?;
    Ok(s)
}

impl Log for Syslog {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let msg = datagram(record.level(), now as i64, &self.ident, std::process::id(), &record.args().to_string());
        let mut guard = self.sock.lock().unwrap_or_else(|e| e.into_inner());
        // One try on the socket we have, one on a new connection (the
        // daemon restarted); then the line is dropped.
        for _ in 0..2 {
            if guard.is_none() {
                *guard = connect(&self.path).ok();
            }
            let Some(s) = guard.as_ref() else { return };
            match s.send(&msg) {
                Ok(_) => return,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => *guard = None,
            }
        }
    }

    fn flush(&self) {}
}

/// Logs to the syslog socket at `path` as `ident`, from `level` up. Fails
/// when the socket cannot be reached at start (a wrong path is said at
/// once, not lost).
pub(crate) fn init(level: LevelFilter, path: &Path, ident: &str) -> Result<(), String> {
    let sock = connect(path).map_err(|e| format!("--syslog-socket {}: {e}", path.display()))?;
    let logger = Syslog { path: path.to_path_buf(), ident: ident.to_string(), level, sock: Mutex::new(Some(sock)) };
    // A second init (tests, a library user) keeps the first logger.
    if log::set_boxed_logger(Box::new(logger)).is_ok() {
        log::set_max_level(level);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagrams_are_rfc3164_with_facility_ftp() {
        let d = datagram(Level::Info, 0, "ftpserver", 42, "a\nb");
        assert_eq!(d, b"<94>Jan  1 00:00:00 ftpserver[42]: a b");
        assert!(datagram(Level::Error, 0, "x", 1, "").starts_with(b"<91>"));
        assert!(datagram(Level::Warn, 0, "x", 1, "").starts_with(b"<92>"));
        assert!(datagram(Level::Debug, 0, "x", 1, "").starts_with(b"<95>"));
        let long = datagram(Level::Info, 0, "x", 1, &"é".repeat(SYSLOG_MAX_MESSAGE));
        assert!(long.len() <= SYSLOG_MAX_MESSAGE && std::str::from_utf8(&long).is_ok());
    }
}
