//! `ftpserver status`: the scoreboard as a table, like Apache's
//! server-status or pure-ftpwho. The supervisor answers on an abstract Unix
//! socket named after its listening address (no file to clean up), and only
//! to the same user or root (checked with SO_PEERCRED).

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr as UnixAddr, UnixListener, UnixStream};
use std::time::Duration;

use nix::sys::socket::{getsockopt, sockopt};

use super::scoreboard::{Scoreboard, SlotView, State};
use crate::config::ServerConfig;

/// The abstract socket name of the server listening on `addr`.
pub fn socket_name(addr: &SocketAddr) -> String {
    format!("forkftp-status-{addr}")
}

/// Opens the status socket for the server on `addr`.
pub fn listen(addr: &SocketAddr) -> io::Result<UnixListener> {
    let l = UnixListener::bind_addr(&UnixAddr::from_abstract_name(socket_name(addr))?)?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// Answers one waiting status request, if any.
pub fn answer(listener: &UnixListener, board: &Scoreboard, cfg: &ServerConfig) {
    let Ok((mut stream, _)) = listener.accept() else { return };
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    // Security: client addresses and user names are for the server's own
    // user (or root) only.
    let me = nix::unistd::geteuid().as_raw();
    match getsockopt(&stream, sockopt::PeerCredentials) {
        Ok(c) if c.uid() == me || c.uid() == 0 => {
            let _ = stream.write_all(format_table(&board.snapshot(), cfg).as_bytes());
        }
        _ => {
            let _ = stream.write_all(b"permission denied\n");
        }
    }
}

/// Asks the server on `addr` for its status table.
pub fn query(addr: &SocketAddr) -> io::Result<String> {
    let mut s = UnixStream::connect_addr(&UnixAddr::from_abstract_name(socket_name(addr))?)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

fn human_ms(ms: u64) -> String {
    match ms {
        0..=59_999 => format!("{:.1}s", ms as f64 / 1000.0),
        60_000..=3_599_999 => format!("{}m{:02}s", ms / 60_000, ms / 1000 % 60),
        _ => format!("{}h{:02}m", ms / 3_600_000, ms / 60_000 % 60),
    }
}

/// The table: a summary line, then one row per worker.
pub fn format_table(views: &[SlotView], cfg: &ServerConfig) -> String {
    let busy = views.iter().filter(|v| v.state == State::Busy).count();
    let idle = views.iter().filter(|v| v.state == State::Idle).count();
    let mut out = format!(
        "forkftp on {}: {} workers ({busy} busy, {idle} idle), min-spare {}, max-spare {}, max {}\n",
        cfg.listen,
        views.len(),
        cfg.pool.min_spare,
        cfg.pool.max_spare,
        cfg.pool.max_workers
    );
    out.push_str(&format!(
        "{:<8} {:<9} {:>8} {:>6} {:<40} {:<16} {:>14}  {}\n",
        "PID", "STATE", "FOR", "SERVED", "CLIENT", "USER", "BYTES", "COMMAND"
    ));
    for v in views {
        out.push_str(&format!(
            "{:<8} {:<9} {:>8} {:>6} {:<40} {:<16} {:>14}  {}\n",
            v.pid,
            v.state.name(),
            human_ms(v.for_ms),
            v.sessions,
            if v.client.is_empty() { "-" } else { &v.client },
            if v.user.is_empty() { "-" } else { &v.user },
            v.bytes,
            if v.command.is_empty() { "-" } else { &v.command },
        ));
    }
    out
}
