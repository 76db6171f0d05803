//! The load balancer: `ftpmaster`, `ftpslaves`, and slaves started alone
//! (`ftpserver --register`). The master listens on port 0 for clients and
//! for registrations and logs both addresses; a slave that relays does the
//! same. Ports are reserved ([`reserve_ports`]) only where they must be
//! known in advance: `ftpslaves` (slave i on port P+i), a slave of the
//! master's own host (its hand-over socket is named after `--listen`), and
//! whatever a test restarts in place.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::time::Duration;

use super::daemon::Daemon;
use super::ports::{reserve_ports, Reserved};
use super::server::{listening_addr, LISTENING};
use super::{children_of, parse_live_slaves, status_command, status_number, wait_until, Ftp, READY};
use forkftp::protocol::Reply;

/// The master's line once it listens: `forkftp master: clients on A,
/// slaves register on B (...)`.
const MASTER_LISTENING: &str = "forkftp master: clients on ";

fn master_addrs(line: &str) -> (SocketAddr, SocketAddr) {
    let rest = &line[line.find(MASTER_LISTENING).unwrap() + MASTER_LISTENING.len()..];
    let (clients, rest) = rest.split_once(", slaves register on ").unwrap_or_else(|| panic!("{line:?}"));
    let registry = rest.split(' ').next().unwrap_or_default();
    let parse = |a: &str| a.parse().unwrap_or_else(|e| panic!("{a:?} in {line:?}: {e}"));
    (parse(clients), parse(registry))
}

fn socket(ip: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip.parse().unwrap(), port)
}

/// A running `ftpmaster`.
pub struct Master {
    pub daemon: Daemon,
    pub addr: SocketAddr,
    pub registry: SocketAddr,
    _ports: Option<Reserved>,
}

impl Master {
    /// Starts `ftpmaster` with clients and registrations on 127.0.0.1.
    pub fn start(extra: &[&str]) -> Master {
        Master::start_on("127.0.0.1", "127.0.0.1", extra)
    }

    /// Clients on `ip`, registrations on `registry_ip`, each on port 0.
    pub fn start_on(ip: &str, registry_ip: &str, extra: &[&str]) -> Master {
        Master::launch(socket(ip, 0), socket(registry_ip, 0), None, extra)
    }

    /// On reserved ports of 127.0.0.1, so that [`Master::restart`] finds
    /// them free.
    pub fn start_restartable(extra: &[&str]) -> Master {
        let ports = reserve_ports("127.0.0.1", 2);
        let (a, r) = (socket("127.0.0.1", ports.port(1)), socket("127.0.0.1", ports.port(2)));
        Master::launch(a, r, Some(ports), extra)
    }

    fn launch(addr: SocketAddr, registry: SocketAddr, ports: Option<Reserved>, extra: &[&str]) -> Master {
        let mut args: Vec<String> =
            vec!["--listen".into(), addr.to_string(), "--registry".into(), registry.to_string()];
        args.extend(extra.iter().map(|s| s.to_string()));
        let daemon = Daemon::spawn(env!("CARGO_BIN_EXE_ftpmaster"), &args, "master");
        let mut m = Master { daemon, addr, registry, _ports: ports };
        m.wait_ready();
        m
    }

    /// Readiness: the addresses it logs, then a status answer.
    fn wait_ready(&mut self) {
        (self.addr, self.registry) = master_addrs(&self.daemon.wait_for_line(MASTER_LISTENING));
        let ready = wait_until(READY, || self.try_status().is_some());
        assert!(ready, "the master does not answer status requests");
    }

    /// Kills the master with SIGKILL and reaps it.
    pub fn kill(&mut self) {
        self.daemon.kill();
    }

    /// Starts it again (after [`Master::kill`]) on the same addresses.
    pub fn restart(&mut self) {
        assert!(self._ports.is_some(), "a master restarted in place needs reserved ports (start_restartable)");
        self.daemon.respawn();
        let (addr, registry) = (self.addr, self.registry);
        self.wait_ready();
        assert_eq!((self.addr, self.registry), (addr, registry));
    }

    pub fn pid(&self) -> i32 {
        self.daemon.pid()
    }

    pub fn log_text(&self) -> String {
        self.daemon.log_text()
    }

    /// The status table, if the master answers (asked directly, without
    /// starting a process: readiness checks poll this).
    pub fn try_status(&self) -> Option<String> {
        forkftp::balancer::status::query(&self.addr).ok()
    }

    /// `ftpmaster status`, the command.
    pub fn status_command(&self) -> String {
        status_command(env!("CARGO_BIN_EXE_ftpmaster"), self.addr)
    }

    pub fn status(&self) -> String {
        self.try_status().expect("the master answers status requests")
    }

    /// Ids of the slaves the status table shows as live.
    pub fn live_slaves(&self) -> Vec<u32> {
        parse_live_slaves(&self.try_status().unwrap_or_default())
    }

    /// Waits until exactly `ids` are live.
    pub fn wait_slaves(&self, ids: &[u32], limit: Duration) {
        let ok = wait_until(limit, || self.live_slaves() == ids);
        assert!(ok, "expected live slaves {ids:?}; status:\n{}", self.status());
    }

    /// The counter named `what` in the status (e.g. "passed", "relayed", "refused").
    pub fn count(&self, what: &str) -> u64 {
        status_number(&self.status(), what)
    }

    /// Control bytes relayed (client->slave, slave->client).
    pub fn relayed_bytes(&self) -> (u64, u64) {
        let s = self.status();
        (status_number(&s, "client->slave"), status_number(&s, "slave->client"))
    }

    pub fn connect(&self) -> (Ftp, Reply) {
        Ftp::connect_greeting(self.addr)
    }
}

/// A running `ftpslaves`.
pub struct Slaves {
    pub daemon: Daemon,
    _ports: Reserved,
}

impl Slaves {
    /// `ftpslaves REGISTRY -n COUNT --bind IP --base-port (reserved) --root ROOT ARGS`.
    pub fn start(registry: SocketAddr, count: u16, bind: &str, root: &Path, args: &[&str]) -> Slaves {
        let ports = reserve_ports(bind, count);
        let mut all: Vec<String> = vec![
            registry.to_string(),
            "-n".into(),
            count.to_string(),
            "--bind".into(),
            bind.into(),
            "--base-port".into(),
            ports.base.to_string(),
            "--root".into(),
            root.display().to_string(),
        ];
        all.extend(args.iter().map(|s| s.to_string()));
        let daemon = Daemon::spawn(env!("CARGO_BIN_EXE_ftpslaves"), &all, "slaves");
        Slaves { daemon, _ports: ports }
    }

    pub fn pid(&self) -> i32 {
        self.daemon.pid()
    }

    pub fn log_text(&self) -> String {
        self.daemon.log_text()
    }

    /// The slave pools (children of `ftpslaves`).
    pub fn slave_pids(&self) -> Vec<i32> {
        children_of(self.pid())
    }
}

/// One slave started alone: `ftpserver --listen IP:PORT --register REGISTRY
/// --slave-id ID --root ROOT ARGS`.
pub struct SlaveServer {
    pub daemon: Daemon,
    pub addr: SocketAddr,
    _port: Option<Reserved>,
}

impl SlaveServer {
    /// On `ip`: port 0 when it relays (another address than the
    /// registry's), a reserved port when the master passes it sockets.
    pub fn start(ip: &str, registry: SocketAddr, id: u32, root: &Path, extra: &[&str]) -> SlaveServer {
        let same_host = registry.ip() == ip.parse::<std::net::IpAddr>().unwrap();
        SlaveServer::launch(ip, same_host, registry, id, root, extra)
    }

    /// On a reserved port of `ip`, so that [`SlaveServer::restart`] can
    /// start it again on the same address.
    pub fn start_restartable(ip: &str, registry: SocketAddr, id: u32, root: &Path, extra: &[&str]) -> SlaveServer {
        SlaveServer::launch(ip, true, registry, id, root, extra)
    }

    fn launch(ip: &str, reserve: bool, registry: SocketAddr, id: u32, root: &Path, extra: &[&str]) -> SlaveServer {
        let port = reserve.then(|| reserve_ports(ip, 1));
        let listen = socket(ip, port.as_ref().map_or(0, |p| p.port(1)));
        let mut args: Vec<String> = vec![
            "--listen".into(),
            listen.to_string(),
            "--register".into(),
            registry.to_string(),
            "--slave-id".into(),
            id.to_string(),
            "--root".into(),
            root.display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut daemon = Daemon::spawn(env!("CARGO_BIN_EXE_ftpserver"), &args, "slave");
        let addr = listening_addr(&daemon.wait_for_line(LISTENING));
        SlaveServer { daemon, addr, _port: port }
    }

    /// Kills the pool with SIGKILL and waits until its workers (which die
    /// with it) are gone.
    pub fn kill_pool(&mut self) {
        let workers = children_of(self.pid());
        self.daemon.kill();
        let gone = wait_until(READY, || workers.iter().all(|w| !super::alive(*w)));
        assert!(gone, "workers of a killed slave survived: {workers:?}");
    }

    /// Starts it again with the same options, on the same address (after
    /// [`SlaveServer::kill_pool`]).
    pub fn restart(&mut self) {
        assert!(self._port.is_some(), "a slave restarted in place needs a reserved port (start_restartable)");
        // Its last worker may hold the socket a moment after the pool died.
        let free = wait_until(READY, || TcpListener::bind(self.addr).is_ok());
        assert!(free, "{} still taken", self.addr);
        self.daemon.respawn();
        assert_eq!(listening_addr(&self.daemon.wait_for_line(LISTENING)), self.addr);
    }

    pub fn pid(&self) -> i32 {
        self.daemon.pid()
    }

    pub fn log_text(&self) -> String {
        self.daemon.log_text()
    }
}
