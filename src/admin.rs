//! What the long-running parents (the pool's supervisor, the master) share
//! to be administered: signals turned into flags that also wake their event
//! loop, and a status channel on an abstract Unix socket (no file to clean
//! up) that answers only its own user or root.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr as UnixAddr, UnixListener, UnixStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nix::sys::socket::{getsockopt, sockopt};

use crate::limits::{STATUS_QUERY_TIMEOUT, STATUS_WRITE_TIMEOUT};

/// Signals caught as flags; each also writes to a socket pair whose read
/// end the loop polls, so a signal wakes it at once.
pub struct SignalFlags {
    flags: Vec<(libc::c_int, Arc<AtomicBool>)>,
    wake: UnixStream,
}

impl SignalFlags {
    /// Catches `flagged` (see [`SignalFlags::take`]); `wake_only` signals
    /// (SIGCHLD) just wake the loop.
    pub fn register(flagged: &[libc::c_int], wake_only: &[libc::c_int]) -> io::Result<SignalFlags> {
        let (wake, wake_w) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        wake_w.set_nonblocking(true)?;
        let mut flags = Vec::new();
        for &sig in flagged {
            let f = Arc::new(AtomicBool::new(false));
            signal_hook::flag::register(sig, Arc::clone(&f))?;
            flags.push((sig, f));
        }
        for &sig in flagged.iter().chain(wake_only) {
            signal_hook::low_level::pipe::register(sig, wake_w.try_clone()?)?;
        }
        Ok(SignalFlags { flags, wake })
    }

    /// True (once) if `sig` arrived since the last call.
    pub fn take(&self, sig: libc::c_int) -> bool {
        self.flags.iter().any(|(s, f)| *s == sig && f.swap(false, Ordering::SeqCst))
    }

    /// Empties the wake-up socket (after the loop woke).
    pub fn drain(&self) {
        let mut buf = [0u8; 64];
        while matches!(io::Read::read(&mut &self.wake, &mut buf), Ok(n) if n > 0) {}
    }
}

impl AsFd for SignalFlags {
    /// The descriptor to poll: readable when a signal arrived.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.wake.as_fd()
    }
}

/// True when the peer of a Unix socket is our own user or root
/// (`SO_PEERCRED`).
pub fn peer_is_our_user(fd: &impl AsFd) -> bool {
    let me = nix::unistd::geteuid().as_raw();
    matches!(getsockopt(fd, sockopt::PeerCredentials), Ok(c) if c.uid() == me || c.uid() == 0)
}

/// Opens the status socket `name` (abstract namespace), non-blocking.
pub fn status_listen(name: &str) -> io::Result<UnixListener> {
    let l = UnixListener::bind_addr(&UnixAddr::from_abstract_name(name)?)?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// Like [`status_listen`], but a process that cannot have its status socket
/// (another one holds the name) still runs: it says so in the log.
pub fn status_listen_or_warn(name: &str) -> Option<UnixListener> {
    status_listen(name).map_err(|e| log::warn!("status socket {name} unavailable: {e}")).ok()
}

/// Answers one waiting status request with `table`.
pub fn status_answer(listener: &UnixListener, table: impl FnOnce() -> String) {
    let Ok((mut stream, _)) = listener.accept() else { return };
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_write_timeout(Some(STATUS_WRITE_TIMEOUT));
    // Security: client addresses and user names are for the server's own
    // user (or root) only.
    if peer_is_our_user(&stream) {
        let _ = stream.write_all(table().as_bytes());
    } else {
        let _ = stream.write_all(b"permission denied\n");
    }
}

/// One column of a status table.
#[derive(Clone, Copy, Debug)]
pub struct Col {
    /// Characters the cells are padded to.
    pub width: usize,
    /// Right-aligned (numbers) rather than left-aligned.
    pub right: bool,
    /// Spaces before the column (none before the first).
    pub gap: usize,
}

impl Col {
    /// A left-aligned column of `width`, one space after the previous one.
    pub const fn left(width: usize) -> Col {
        Col { width, right: false, gap: 1 }
    }

    /// A right-aligned column of `width`, one space after the previous one.
    pub const fn right(width: usize) -> Col {
        Col { width, right: true, gap: 1 }
    }
}

/// One line of a status table (`ftpserver status`, `ftpmaster status`):
/// each cell padded to its column.
pub fn table_row(cols: &[Col], cells: &[&dyn std::fmt::Display]) -> String {
    let mut line = String::new();
    for (i, (col, cell)) in cols.iter().zip(cells).enumerate() {
        if i > 0 {
            line.push_str(&" ".repeat(col.gap));
        }
        let w = col.width;
        line.push_str(&if col.right { format!("{cell:>w$}") } else { format!("{cell:<w$}") });
    }
    line.push('\n');
    line
}

/// A duration in a status table: `4.2s` under a minute, `1m01s` under an
/// hour, then `2h05m`.
pub fn human_duration(d: Duration) -> String {
    let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    match ms {
        0..=59_999 => format!("{:.1}s", ms as f64 / 1000.0),
        60_000..=3_599_999 => format!("{}m{:02}s", ms / 60_000, ms / 1000 % 60),
        _ => format!("{}h{:02}m", ms / 3_600_000, ms / 60_000 % 60),
    }
}

/// The `status` subcommand of `ftpserver` and `ftpmaster`: prints the table
/// of the `what` ("server", "master") listening on `listen`, whose status
/// socket `socket_name` derives from its address.
pub fn print_status(
    what: &str,
    listen: &str,
    socket_name: impl Fn(&std::net::SocketAddr) -> String,
) -> Result<(), String> {
    let addr = crate::net::resolve_addr(listen)?;
    let table = status_query(&socket_name(&addr))
        .map_err(|e| format!("no {what} answers on {addr} ({e}); is it running with --listen {addr}?"))?;
    print!("{table}");
    Ok(())
}

/// Asks the process listening on the status socket `name` for its table.
pub fn status_query(name: &str) -> io::Result<String> {
    let mut s = UnixStream::connect_addr(&UnixAddr::from_abstract_name(name)?)?;
    s.set_read_timeout(Some(STATUS_QUERY_TIMEOUT))?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_seconds_then_minutes_then_hours() {
        assert_eq!(human_duration(Duration::from_millis(400)), "0.4s");
        assert_eq!(human_duration(Duration::from_millis(59_949)), "59.9s");
        assert_eq!(human_duration(Duration::from_secs(61)), "1m01s");
        assert_eq!(human_duration(Duration::from_secs(3_599)), "59m59s");
        assert_eq!(human_duration(Duration::from_secs(3 * 3600 + 5 * 60 + 9)), "3h05m");
        // Past u64 milliseconds: capped there, not wrapped.
        assert_eq!(human_duration(Duration::MAX), "5124095576030h25m");
    }
}
