//! `ftpmaster status`: the live slaves, the clients each got, and the bytes
//! the master relayed. The master answers on an abstract Unix socket named
//! after its client address, to its own user (or root) only; SIGUSR2 writes
//! the same table to its log.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::registry::Slave;
use crate::admin::{self, human_duration, table_row, Col};

/// The abstract socket name of the master listening on `addr`.
pub(crate) fn socket_name(addr: &SocketAddr) -> String {
    format!("forkftp-master-{addr}")
}

/// Asks the master on `addr` for its table.
pub fn query(addr: &SocketAddr) -> io::Result<String> {
    admin::status_query(&socket_name(addr))
}

/// The master's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Stats {
    /// Clients accepted.
    pub accepted: u64,
    /// Clients whose socket was passed to a slave.
    pub passed: u64,
    /// Clients whose control connection was relayed to a slave.
    pub relayed: u64,
    /// Clients told `421`: no slave could take them.
    pub refused: u64,
    /// Relayed connections open now.
    pub relaying: u64,
    /// Control bytes relayed from clients to slaves.
    pub bytes_to_slaves: u64,
    /// Control bytes relayed from slaves to clients.
    pub bytes_to_clients: u64,
}

/// The table: a summary, the counters, then one row per slave.
pub(crate) fn format_table(
    listen: SocketAddr,
    registry: SocketAddr,
    up: Duration,
    stats: &Stats,
    slaves: &[&Slave],
    now: Instant,
) -> String {
    let live = slaves.iter().filter(|s| s.available(now)).count();
    let mut out = format!(
        "forkftp master on {listen}, registry {registry}, up {}: {} slaves ({live} live)\n",
        human_duration(up),
        slaves.len()
    );
    out.push_str(&format!(
        "clients: {} accepted, {} passed, {} relayed, {} refused; {} relayed connections open\n",
        stats.accepted, stats.passed, stats.relayed, stats.refused, stats.relaying
    ));
    out.push_str(&format!(
        "relayed bytes: {} client->slave, {} slave->client (control connections only; data connections never pass the master)\n",
        stats.bytes_to_slaves, stats.bytes_to_clients
    ));
    const COLS: [Col; 8] = [
        Col::left(6),
        Col::left(10),
        Col::left(6),
        Col::left(40),
        Col::right(8),
        Col::right(7),
        Col::right(8),
        Col::right(9),
    ];
    out.push_str(&table_row(&COLS, &[&"ID", &"STATE", &"MODE", &"ADDRESS", &"CLIENTS", &"OPEN", &"SEEN", &"UP"]));
    for s in slaves {
        let cells: [&dyn std::fmt::Display; 8] = [
            &s.id,
            &if s.available(now) { "live" } else { "suspended" },
            &s.mode.name(),
            &s.addr,
            &s.clients,
            &s.relaying,
            &human_duration(now.duration_since(s.seen)),
            &human_duration(now.duration_since(s.since)),
        ];
        out.push_str(&table_row(&COLS, &cells));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balancer::wire::Mode;

    #[test]
    fn the_table_names_every_slave_and_the_counters() {
        let now = Instant::now();
        let s = Slave {
            id: 2,
            addr: "127.0.0.2:2102".parse().unwrap(),
            mode: Mode::Relay,
            handoff: None,
            relay_from: "127.0.0.1".parse().unwrap(),
            conn: 0,
            since: now,
            seen: now,
            suspended_until: None,
            clients: 7,
            relaying: 1,
        };
        let stats = Stats { accepted: 8, relayed: 7, refused: 1, bytes_to_slaves: 10, ..Stats::default() };
        let t = format_table(
            "0.0.0.0:2121".parse().unwrap(),
            "127.0.0.1:2190".parse().unwrap(),
            Duration::from_secs(3),
            &stats,
            &[&s],
            now,
        );
        assert!(t.contains("1 slaves (1 live)"), "{t}");
        assert!(t.contains("8 accepted, 0 passed, 7 relayed, 1 refused"), "{t}");
        assert!(t.contains("relayed bytes: 10 client->slave, 0 slave->client"), "{t}");
        let row = t.lines().last().unwrap();
        assert!(row.starts_with("2 ") && row.contains("live") && row.contains("relay") && row.contains(" 7 "), "{row}");
    }
}
