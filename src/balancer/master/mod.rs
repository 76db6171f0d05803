//! `ftpmaster`: one process, one thread, one epoll loop.
//!
//! It accepts FTP clients and slave registrations. Each new client goes to
//! the next live slave in round-robin order ([`super::registry`]):
//!
//! - a slave on this host gets the client's socket itself
//!   ([`super::handoff`]); once it confirms, the master closes its copy and
//!   is out of the path of both control and data;
//! - a slave on another host gets a TCP connection from the master, which
//!   sends a PROXY v1 header and then relays the control connection both
//!   ways. The client's data connections go straight to the slave (its PASV
//!   replies name its own address).
//!
//! A hand-over that fails (refused, reset, no answer in time) moves the
//! client on to the next slave, unseen by the client; a slave whose
//! hand-over failed is skipped for a while. With no slave left the client
//! gets `421` and is closed. Each connection's failure stays with it.
//!
//! Relayed connections cost no thread and no process: two sockets, a slot,
//! and a buffer only while one side is slower than the other (at most
//! [`RELAY_CHUNK`] bytes each way).
//!
//! This file holds the loop and the table of connections; the loop's work
//! is split by what it serves: [`clients`] (accepting and handing clients
//! over, relaying), [`registrations`] (slaves registering and their
//! heartbeats) and [`timers`] (deadlines). Each decision that needs no
//! socket is a pure function there, with its tests.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixListener;
use std::time::Instant;

use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};

use super::auth;
use super::config::{MasterCli, MasterCommand, MasterConfig};
use super::handoff::Offer;
use super::registry::{Registry, Slave};
use super::relay::Relay;
use super::status::{self, Stats};
use super::wire::LineBuf;
use crate::admin::SignalFlags;
use crate::limits::{MASTER_EVENTS, MASTER_TICK, RELAY_CHUNK};
use crate::net::raise_nofile_limit;
use crate::service::config_file::Layered;
use service::Service;

mod clients;
mod registrations;
mod service;
mod timers;

const T_CLIENTS: u64 = u64::MAX;
const T_REGISTRY: u64 = u64::MAX - 1;
const T_STATUS: u64 = u64::MAX - 2;
const T_SIGNALS: u64 = u64::MAX - 3;
const T_METRICS: u64 = u64::MAX - 4;

/// The token of one of a slot's two sockets: the front (the client, or a
/// registration) or the back (towards the slave).
fn token(slot: usize, back: bool) -> u64 {
    (slot as u64) << 1 | u64::from(back)
}

/// `ftpmaster`: runs the master, or a tool.
pub fn main(cli: MasterCli, argv: Vec<std::ffi::OsString>) -> Result<(), String> {
    match cli.command {
        Some(MasterCommand::Status { listen }) => crate::admin::print_status("master", &listen, status::socket_name),
        Some(MasterCommand::Config(tool)) => service::config_tool(tool),
        None => {
            let layered = service::layered(argv, cli.config);
            run(service::first_config(&layered)?, layered)
        }
    }
}

/// Binds a non-blocking listener.
pub(super) fn bind(addr: SocketAddr, what: &str) -> Result<TcpListener, String> {
    let l = crate::net::bind_listener(addr).map_err(|e| format!("cannot listen for {what} on {addr}: {e}"))?;
    l.set_nonblocking(true).map_err(|e| e.to_string())?;
    Ok(l)
}

/// Runs the master until it is told to stop.
pub(crate) fn run(mut cfg: MasterConfig, layered: Layered) -> Result<(), String> {
    if cfg.service.syslog {
        crate::service::syslog::init(cfg.log_level, &cfg.service.syslog_socket, "ftpmaster")?;
    } else {
        crate::logging::init(cfg.log_level, cfg.log_file.as_deref()).map_err(|e| format!("log file: {e}"))?;
    }
    crate::sys::ignore_sigpipe().map_err(|e| e.to_string())?;
    match raise_nofile_limit() {
        Ok(n) => log::debug!("descriptor limit: {n}"),
        Err(e) => log::warn!("cannot raise the descriptor limit: {e}"),
    }
    // Sockets from systemd (socket activation), if any.
    let mut inherited = crate::service::sockets::Inherited::from_env()?;
    let clients = service::listener(&mut inherited, crate::service::sockets::FTP, cfg.listen, "clients")?;
    let registry =
        service::listener(&mut inherited, crate::service::sockets::REGISTRY, cfg.registry, "slave registrations")?;
    cfg.listen = clients.local_addr().map_err(|e| e.to_string())?;
    cfg.registry = registry.local_addr().map_err(|e| e.to_string())?;
    if cfg.key.is_none() && !cfg.registry.ip().is_loopback() {
        log::warn!("no cluster key: the registry on {} accepts only slaves of this host", cfg.registry);
    }
    let service = Service::new(layered, inherited, &cfg)?;
    Master::new(cfg, clients, registry, service)?.run()
}

/// A slave's registration connection.
struct RegConn {
    sock: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    nonce: [u8; auth::NONCE_LEN],
    lines: LineBuf,
    /// The slave it registered, once it did.
    slave: Option<u32>,
    since: Instant,
}

/// Where a client's hand-over stands.
enum Stage {
    /// Between two steps (never seen by the loop).
    Idle,
    /// Its socket was offered to a slave of this host.
    Offered { slave: u32, offer: Offer, deadline: Instant },
    /// Connecting to a slave of another host.
    Connecting { slave: u32, up: TcpStream, deadline: Instant },
    /// PROXY header sent; waiting for the slave's 220.
    Greeting { slave: u32, up: TcpStream, deadline: Instant, got: Vec<u8> },
    /// Relaying both ways.
    Relaying(Relay),
}

/// A client being handed over, or relayed.
struct Client {
    sock: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    tried: Vec<u32>,
    stage: Stage,
    /// The interest registered for the client socket (None: not registered).
    front: Option<EpollFlags>,
    /// The interest registered for the back socket.
    back: Option<EpollFlags>,
}

enum Conn {
    Reg(RegConn),
    Client(Client),
}

/// The master's state.
struct Master {
    cfg: MasterConfig,
    epoll: Epoll,
    clients: Option<TcpListener>,
    registry_listener: TcpListener,
    status: Option<UnixListener>,
    signals: SignalFlags,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    /// Slots emptied during the current batch of events, reusable after it.
    released: Vec<usize>,
    registrations: usize,
    registry: Registry,
    stats: Stats,
    started: Instant,
    accept_paused_until: Option<Instant>,
    scratch: Vec<u8>,
    draining: bool,
    /// Configuration file, systemd, metrics (`service.rs`).
    service: Service,
}

impl Master {
    fn new(
        cfg: MasterConfig,
        clients: TcpListener,
        registry_listener: TcpListener,
        service: Service,
    ) -> Result<Master, String> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(|e| format!("epoll: {e}"))?;
        use signal_hook::consts::*;
        let signals = SignalFlags::register(&[SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGHUP], &[])
            .map_err(|e| format!("signals: {e}"))?;
        let mut service = service;
        let status = service.status_socket(&status::socket_name(&cfg.listen));
        let add = |fd: BorrowedFd<'_>, t: u64| epoll.add(fd, EpollEvent::new(EpollFlags::EPOLLIN, t));
        add(clients.as_fd(), T_CLIENTS).map_err(|e| e.to_string())?;
        add(registry_listener.as_fd(), T_REGISTRY).map_err(|e| e.to_string())?;
        add(signals.as_fd(), T_SIGNALS).map_err(|e| e.to_string())?;
        if let Some(s) = &status {
            add(s.as_fd(), T_STATUS).map_err(|e| e.to_string())?;
        }
        if let Some(m) = &service.metrics {
            add(m.as_fd(), T_METRICS).map_err(|e| e.to_string())?;
        }
        Ok(Master {
            cfg,
            epoll,
            clients: Some(clients),
            registry_listener,
            status,
            signals,
            conns: Vec::new(),
            free: Vec::new(),
            released: Vec::new(),
            registrations: 0,
            registry: Registry::default(),
            stats: Stats::default(),
            started: Instant::now(),
            accept_paused_until: None,
            scratch: vec![0; RELAY_CHUNK],
            draining: false,
            service,
        })
    }

    fn insert(&mut self, c: Conn) -> usize {
        match self.free.pop() {
            Some(i) => {
                self.conns[i] = Some(c);
                i
            }
            None => {
                self.conns.push(Some(c));
                self.conns.len() - 1
            }
        }
    }

    /// Takes a connection out of its slot; the slot is reused after the
    /// current batch of events (whose later events may still name it).
    fn take(&mut self, i: usize) -> Option<Conn> {
        let c = self.conns.get_mut(i)?.take();
        if c.is_some() {
            self.released.push(i);
        }
        c
    }

    fn put(&mut self, i: usize, c: Conn) {
        self.conns[i] = Some(c);
        self.released.retain(|&r| r != i);
    }

    fn watch(&self, fd: BorrowedFd<'_>, flags: EpollFlags, t: u64) -> io::Result<()> {
        Ok(self.epoll.add(fd, EpollEvent::new(flags, t))?)
    }

    fn rewatch(&self, fd: BorrowedFd<'_>, flags: EpollFlags, t: u64) -> io::Result<()> {
        Ok(self.epoll.modify(fd, &mut EpollEvent::new(flags, t))?)
    }

    /// Stops watching a socket. Always done before closing one: a passed
    /// socket stays open in the slave, and epoll would keep reporting it.
    fn unwatch(&self, fd: BorrowedFd<'_>) {
        let _ = self.epoll.delete(fd);
    }

    fn table(&self) -> String {
        let slaves: Vec<&Slave> = self.registry.all().collect();
        status::format_table(
            self.cfg.listen,
            self.cfg.registry,
            self.started.elapsed(),
            &self.stats,
            &slaves,
            Instant::now(),
        )
    }

    /// The loop.
    fn run(mut self) -> Result<(), String> {
        log::info!(
            "forkftp master: clients on {}, slaves register on {}{}",
            self.cfg.listen,
            self.cfg.registry,
            if self.cfg.key.is_some() { " (cluster key required)" } else { " (this host only, no cluster key)" }
        );
        self.service_ready();
        let mut events = vec![EpollEvent::empty(); MASTER_EVENTS];
        let mut next_tick = Instant::now() + MASTER_TICK;
        loop {
            let wait = next_tick.saturating_duration_since(Instant::now());
            let n = match self.epoll.wait(&mut events, EpollTimeout::try_from(wait).unwrap_or(EpollTimeout::NONE)) {
                Ok(n) => n,
                Err(Errno::EINTR) => 0,
                Err(e) => return Err(format!("epoll_wait: {e}")),
            };
            let mut metrics_ready = false;
            for ev in &events[..n] {
                let (t, flags) = (ev.data(), ev.events());
                match t {
                    T_CLIENTS => self.accept_clients(),
                    T_REGISTRY => self.accept_registrations(),
                    T_STATUS => {
                        if let Some(st) = &self.status {
                            crate::admin::status_answer(st, || self.table());
                        }
                    }
                    T_SIGNALS => self.signals.drain(),
                    // Served below.
                    T_METRICS => metrics_ready = true,
                    _ => self.on_event((t >> 1) as usize, t & 1 == 1, flags),
                }
            }
            self.free.append(&mut self.released);
            // Not on every turn: the loop turns for every relayed read. The
            // tick closes the metrics clients past their deadline.
            if metrics_ready || Instant::now() >= next_tick {
                self.serve_metrics();
            }
            if self.signals.take(libc::SIGTERM) | self.signals.take(libc::SIGINT) {
                log::info!("stopping");
                self.service.notifier.stopping("stopping");
                break;
            }
            if self.signals.take(libc::SIGQUIT) && !self.draining {
                log::info!("stopping once the relayed clients are gone; new clients are refused");
                self.service.notifier.stopping("stopping once the relayed clients are gone");
                self.draining = true;
                if let Some(l) = self.clients.take() {
                    self.unwatch(l.as_fd());
                }
            }
            if self.signals.take(libc::SIGUSR1) {
                crate::logging::reopen_or_complain();
            }
            if self.signals.take(libc::SIGUSR2) {
                for line in self.table().lines() {
                    log::info!("status: {line}");
                }
            }
            if self.signals.take(libc::SIGHUP) {
                self.reload();
            }
            if Instant::now() >= next_tick {
                self.tick(Instant::now());
                next_tick = Instant::now() + MASTER_TICK;
            }
            if self.draining && !self.conns.iter().flatten().any(|c| matches!(c, Conn::Client(_))) {
                break;
            }
        }
        log::info!("stopped");
        Ok(())
    }
}
