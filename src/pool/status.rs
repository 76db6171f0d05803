//! `ftpserver status`: the scoreboard as a table, like Apache's
//! server-status or pure-ftpwho. The supervisor answers on an abstract Unix
//! socket named after its listening address (no file to clean up), and only
//! to the same user or root (checked with SO_PEERCRED).

use std::net::SocketAddr;
use std::os::unix::net::UnixListener;
use std::time::Duration;

use super::scoreboard::{Scoreboard, SlotView, State};
use crate::admin::{self, human_duration, table_row, Col};
use crate::escape::escape;
use crate::server::config::ServerConfig;

/// The abstract socket name of the server listening on `addr`.
pub fn socket_name(addr: &SocketAddr) -> String {
    format!("forkftp-status-{addr}")
}

/// Answers one waiting status request, if any.
pub fn answer(listener: &UnixListener, board: &Scoreboard, cfg: &ServerConfig) {
    admin::status_answer(listener, || format_table(&board.snapshot(), cfg));
}

/// Bytes per second as `512B/s`, `1.5K/s`, `12.0M/s` (powers of 1024).
fn human_rate(bps: u64) -> String {
    match bps {
        0..=1023 => format!("{bps}B/s"),
        1024..=1_048_575 => format!("{:.1}K/s", bps as f64 / 1024.0),
        1_048_576..=1_073_741_823 => format!("{:.1}M/s", bps as f64 / 1_048_576.0),
        _ => format!("{:.1}G/s", bps as f64 / 1_073_741_824.0),
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
    const COLS: [Col; 10] = [
        Col::left(8),
        Col::left(9),
        Col::right(8),
        Col::right(6),
        Col::left(40),
        Col::left(16),
        Col::left(8),
        Col::right(14),
        Col::right(9),
        Col { width: 0, right: false, gap: 2 },
    ];
    out.push_str(&table_row(
        &COLS,
        &[&"PID", &"STATE", &"FOR", &"SERVED", &"CLIENT", &"USER", &"TLS", &"BYTES", &"RATE", &"COMMAND"],
    ));
    let or_dash = |s: &str| if s.is_empty() { "-".to_string() } else { s.to_string() };
    for v in views {
        // Security: what a client typed (USER names, commands) reaches an
        // admin's terminal here; escaped (a worker could write anything).
        let (client, user, command) =
            (escape(v.client.as_bytes()), escape(v.user.as_bytes()), escape(v.command.as_bytes()));
        let rate = if v.rate == 0 { "-".to_string() } else { human_rate(v.rate) };
        let cells: [&dyn std::fmt::Display; 10] = [
            &v.pid,
            &v.state.name(),
            &human_duration(Duration::from_millis(v.for_ms)),
            &v.sessions,
            &or_dash(&client),
            &or_dash(&user),
            &v.tls.name(),
            &v.bytes,
            &rate,
            &or_dash(&command),
        ];
        out.push_str(&table_row(&COLS, &cells));
    }
    let g = cfg.guard.stats();
    out.push_str(&format!(
        "logins: {} failed, {} bans, {} banned now; password checks: {} (at most {} at once)\n",
        g.failed, g.bans, g.banned_now, g.hashes, cfg.hash_permits
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::table_row;

    /// The columns line up as they always did: numbers right, text left,
    /// two spaces before the command.
    #[test]
    fn rows_keep_their_columns() {
        let row = table_row(
            &[Col::left(8), Col::right(6), Col::right(14), Col { width: 0, right: false, gap: 2 }],
            &[&"4242", &3, &123456, &"RETR a b"],
        );
        assert_eq!(row, format!("{:<8} {:>6} {:>14}  {}\n", "4242", 3, 123456, "RETR a b"));
        assert_eq!(human_rate(1_572_864), "1.5M/s");
        assert_eq!(human_rate(100), "100B/s");
    }
}
