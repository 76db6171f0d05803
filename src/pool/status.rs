//! `ftpserver status`: the scoreboard as a table, like Apache's
//! server-status or pure-ftpwho. The supervisor answers on an abstract Unix
//! socket named after its listening address (no file to clean up), and only
//! to the same user or root (checked with SO_PEERCRED).

use std::net::SocketAddr;
use std::os::unix::net::UnixListener;

use super::scoreboard::{Scoreboard, SlotView, State};
use crate::admin;
use crate::config::ServerConfig;
use crate::escape::escape;

/// The abstract socket name of the server listening on `addr`.
pub fn socket_name(addr: &SocketAddr) -> String {
    format!("forkftp-status-{addr}")
}

/// Answers one waiting status request, if any.
pub fn answer(listener: &UnixListener, board: &Scoreboard, cfg: &ServerConfig) {
    admin::status_answer(listener, || format_table(&board.snapshot(), cfg));
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
        // Security: what a client typed (USER names, commands) reaches an
        // admin's terminal here; escaped (a worker could write anything).
        let (client, user, command) =
            (escape(v.client.as_bytes()), escape(v.user.as_bytes()), escape(v.command.as_bytes()));
        out.push_str(&format!(
            "{:<8} {:<9} {:>8} {:>6} {:<40} {:<16} {:>14}  {}\n",
            v.pid,
            v.state.name(),
            human_ms(v.for_ms),
            v.sessions,
            if client.is_empty() { "-" } else { &client },
            if user.is_empty() { "-" } else { &user },
            v.bytes,
            if command.is_empty() { "-" } else { &command },
        ));
    }
    let g = cfg.guard.stats();
    out.push_str(&format!(
        "logins: {} failed, {} bans, {} banned now; password checks: {} (at most {} at once)\n",
        g.failed, g.bans, g.banned_now, g.hashes, cfg.hash_permits
    ));
    out
}
