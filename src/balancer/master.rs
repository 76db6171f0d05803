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

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixListener;
use std::time::Instant;

use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};

use super::auth;
use super::config::{MasterCli, MasterCommand, MasterConfig};
use super::handoff::{self, Answer, Offer};
use super::net::{connect_error, connect_nonblocking, raise_nofile_limit};
use super::registry::{Registry, Slave};
use super::relay::{Interest, Relay};
use super::status::{self, Stats};
use super::wire::{self, parse_slave_line, LineBuf, Mode, SignedRegister, SlaveLine};
use crate::admin::SignalFlags;
use crate::limits::{
    ACCEPT_PAUSE, HALF_CLOSE_TIMEOUT, HANDOVER_TIMEOUT, HEARTBEAT_TIMEOUT, MASTER_EVENTS, MASTER_TICK,
    MAX_REGISTRATIONS, REGISTER_TIMEOUT, RELAY_CHUNK,
};
use crate::protocol::command::canonical;
use crate::protocol::proxy::encode_v1;
use crate::protocol::{Reply, ReplyCode};

const T_CLIENTS: u64 = u64::MAX;
const T_REGISTRY: u64 = u64::MAX - 1;
const T_STATUS: u64 = u64::MAX - 2;
const T_SIGNALS: u64 = u64::MAX - 3;

/// The token of one of a slot's two sockets: the front (the client, or a
/// registration) or the back (towards the slave).
fn token(slot: usize, back: bool) -> u64 {
    (slot as u64) << 1 | u64::from(back)
}

/// `ftpmaster`: runs the master, or a tool.
pub fn main(cli: MasterCli) -> Result<(), String> {
    match cli.command {
        Some(MasterCommand::Status { listen }) => crate::admin::print_status("master", &listen, status::socket_name),
        None => run(cli.master.to_config()?),
    }
}

/// Binds a non-blocking listener.
fn bind(addr: SocketAddr, what: &str) -> Result<TcpListener, String> {
    let l = crate::pool::bind_listener(addr).map_err(|e| format!("cannot listen for {what} on {addr}: {e}"))?;
    l.set_nonblocking(true).map_err(|e| e.to_string())?;
    Ok(l)
}

/// Runs the master until it is told to stop.
pub fn run(mut cfg: MasterConfig) -> Result<(), String> {
    crate::logging::init(cfg.log_level, cfg.log_file.as_deref()).map_err(|e| format!("log file: {e}"))?;
    crate::sys::ignore_sigpipe().map_err(|e| e.to_string())?;
    match raise_nofile_limit() {
        Ok(n) => log::debug!("descriptor limit: {n}"),
        Err(e) => log::warn!("cannot raise the descriptor limit: {e}"),
    }
    let clients = bind(cfg.listen, "clients")?;
    let registry = bind(cfg.registry, "slave registrations")?;
    cfg.listen = clients.local_addr().map_err(|e| e.to_string())?;
    cfg.registry = registry.local_addr().map_err(|e| e.to_string())?;
    if cfg.key.is_none() && !cfg.registry.ip().is_loopback() {
        log::warn!("no cluster key: the registry on {} accepts only slaves of this host", cfg.registry);
    }
    Master::new(cfg, clients, registry)?.run()
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
}

fn would_block(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted)
}

/// Reads some of what `sock` has into `lines` (a few KiB at most: the
/// rest waits for the next event, so a flood is never buffered whole);
/// true at end of file.
fn read_lines(sock: &mut TcpStream, lines: &mut LineBuf) -> io::Result<bool> {
    let mut buf = [0u8; 1024];
    for _ in 0..4 {
        match sock.read(&mut buf) {
            Ok(0) => return Ok(true),
            Ok(n) => {
                lines.push(&buf[..n]);
                if n < buf.len() {
                    return Ok(false);
                }
            }
            Err(e) if would_block(&e) => return Ok(false),
            Err(e) => return Err(e),
        }
    }
    Ok(false)
}

impl Master {
    fn new(cfg: MasterConfig, clients: TcpListener, registry_listener: TcpListener) -> Result<Master, String> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(|e| format!("epoll: {e}"))?;
        use signal_hook::consts::*;
        let signals = SignalFlags::register(&[SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGHUP], &[])
            .map_err(|e| format!("signals: {e}"))?;
        let status = crate::admin::status_listen_or_warn(&status::socket_name(&cfg.listen));
        let add = |fd: BorrowedFd<'_>, t: u64| epoll.add(fd, EpollEvent::new(EpollFlags::EPOLLIN, t));
        add(clients.as_fd(), T_CLIENTS).map_err(|e| e.to_string())?;
        add(registry_listener.as_fd(), T_REGISTRY).map_err(|e| e.to_string())?;
        add(signals.as_fd(), T_SIGNALS).map_err(|e| e.to_string())?;
        if let Some(s) = &status {
            add(s.as_fd(), T_STATUS).map_err(|e| e.to_string())?;
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
        let mut events = vec![EpollEvent::empty(); MASTER_EVENTS];
        let mut next_tick = Instant::now() + MASTER_TICK;
        loop {
            let wait = next_tick.saturating_duration_since(Instant::now());
            let n = match self.epoll.wait(&mut events, EpollTimeout::try_from(wait).unwrap_or(EpollTimeout::NONE)) {
                Ok(n) => n,
                Err(Errno::EINTR) => 0,
                Err(e) => return Err(format!("epoll_wait: {e}")),
            };
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
                    _ => self.on_event((t >> 1) as usize, t & 1 == 1, flags),
                }
            }
            self.free.append(&mut self.released);
            if self.signals.take(libc::SIGTERM) | self.signals.take(libc::SIGINT) {
                log::info!("stopping");
                break;
            }
            if self.signals.take(libc::SIGQUIT) && !self.draining {
                log::info!("stopping once the relayed clients are gone; new clients are refused");
                self.draining = true;
                if let Some(l) = self.clients.take() {
                    self.unwatch(l.as_fd());
                }
            }
            if self.signals.take(libc::SIGUSR1) {
                if let Err(e) = crate::logging::reopen() {
                    log::error!("reopening the log: {e}");
                }
            }
            if self.signals.take(libc::SIGUSR2) {
                for line in self.table().lines() {
                    log::info!("status: {line}");
                }
            }
            if self.signals.take(libc::SIGHUP) {
                log::info!("SIGHUP: the master has nothing to reload (slaves re-read their own configuration)");
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

    // ---- Clients.

    fn accept_clients(&mut self) {
        for _ in 0..MASTER_EVENTS {
            let Some(l) = &self.clients else { return };
            match l.accept() {
                Ok((sock, peer)) => self.new_client(sock, peer),
                Err(e) if would_block(&e) => return,
                Err(e) => {
                    // EMFILE, ENFILE, ENOBUFS: stop accepting for a moment
                    // rather than spin; waiting clients stay in the backlog.
                    log::error!("accept: {e}; pausing for {}ms", ACCEPT_PAUSE.as_millis());
                    self.unwatch(l.as_fd());
                    self.accept_paused_until = Some(Instant::now() + ACCEPT_PAUSE);
                    return;
                }
            }
        }
    }

    fn new_client(&mut self, sock: TcpStream, peer: SocketAddr) {
        self.stats.accepted += 1;
        let peer = SocketAddr::new(canonical(peer.ip()), peer.port());
        let local = match sock.local_addr() {
            Ok(l) => l,
            Err(e) => {
                log::debug!("{peer}: gone at once ({e})");
                return;
            }
        };
        if sock.set_nonblocking(true).is_err() {
            return;
        }
        let _ = sock.set_nodelay(true);
        let c = Client { sock, peer, local, tried: Vec::new(), stage: Stage::Idle, front: None, back: None };
        let i = self.insert(Conn::Client(c));
        self.dispatch(i);
    }

    /// Gives client `i` to the next slave that can be reached, or 421.
    fn dispatch(&mut self, i: usize) {
        let Some(Conn::Client(mut c)) = self.take(i) else { return };
        let now = Instant::now();
        loop {
            let Some(id) = self.registry.pick(now, &c.tried) else {
                self.refuse(c);
                return;
            };
            c.tried.push(id);
            let slave = self.registry.get(id).expect("picked slaves exist").clone();
            let started = match (slave.mode, &slave.handoff) {
                (Mode::Pass, Some(name)) => Offer::send(name, &c.sock).and_then(|offer| {
                    self.watch(offer.fd(), EpollFlags::EPOLLIN, token(i, true))?;
                    c.back = Some(EpollFlags::EPOLLIN);
                    c.stage = Stage::Offered { slave: id, offer, deadline: now + HANDOVER_TIMEOUT };
                    Ok(())
                }),
                _ => connect_nonblocking(slave.addr, Some(slave.relay_from)).and_then(|up| {
                    self.watch(up.as_fd(), EpollFlags::EPOLLOUT, token(i, true))?;
                    c.back = Some(EpollFlags::EPOLLOUT);
                    c.stage = Stage::Connecting { slave: id, up, deadline: now + HANDOVER_TIMEOUT };
                    Ok(())
                }),
            };
            match started {
                Ok(()) => {
                    self.put(i, Conn::Client(c));
                    return;
                }
                Err(e) => {
                    log::warn!("{}: slave {id} cannot take clients ({e}); skipping it for a while", c.peer);
                    self.registry.suspend(id, now);
                }
            }
        }
    }

    /// No slave can take the client: 421, and close (RFC 959 4.2: service
    /// not available, closing control connection).
    fn refuse(&mut self, mut c: Client) {
        self.release_back(&mut c);
        self.stats.refused += 1;
        log::warn!("{}: refused, no slave available", c.peer);
        let reply = Reply::new(ReplyCode::NOT_AVAILABLE, "Service not available: no server ready, try again later.");
        let _ = c.sock.write(&reply.encode());
        if let Some(_f) = c.front.take() {
            self.unwatch(c.sock.as_fd());
        }
    }

    /// Stops watching the back socket and drops it (the stage goes idle).
    fn release_back(&self, c: &mut Client) {
        match std::mem::replace(&mut c.stage, Stage::Idle) {
            Stage::Offered { offer, .. } => self.unwatch(offer.fd()),
            Stage::Connecting { up, .. } | Stage::Greeting { up, .. } => self.unwatch(up.as_fd()),
            Stage::Relaying(r) => self.unwatch(r.up.as_fd()),
            Stage::Idle => {}
        }
        c.back = None;
    }

    /// The current slave failed to take client `i`: on to the next one.
    fn handover_failed(&mut self, i: usize, why: &str, suspend: bool) {
        let Some(Conn::Client(mut c)) = self.take(i) else { return };
        let slave = match &c.stage {
            Stage::Offered { slave, .. } | Stage::Connecting { slave, .. } | Stage::Greeting { slave, .. } => *slave,
            _ => return self.put(i, Conn::Client(c)),
        };
        self.release_back(&mut c);
        // A worker may have touched the socket's flags before giving up.
        if let Err(e) = c.sock.set_nonblocking(true) {
            log::debug!("{}: gone during the hand-over ({e})", c.peer);
            return;
        }
        if suspend {
            self.registry.suspend(slave, Instant::now());
            log::warn!("{}: slave {slave} failed to take the client ({why}); skipping it for a while", c.peer);
        } else {
            log::warn!("{}: slave {slave} did not take the client ({why}); trying another", c.peer);
        }
        self.put(i, Conn::Client(c));
        self.dispatch(i);
    }

    fn on_event(&mut self, i: usize, back: bool, flags: EpollFlags) {
        match self.conns.get(i) {
            Some(Some(Conn::Reg(_))) if !back => self.on_registration(i),
            Some(Some(Conn::Client(c))) => match (&c.stage, back) {
                (Stage::Offered { offer, slave, .. }, true) => match offer.answer() {
                    Answer::Pending => {}
                    Answer::Done => {
                        let slave = *slave;
                        self.passed(i, slave);
                    }
                    Answer::Failed(why) => self.handover_failed(i, &why, true),
                },
                (Stage::Connecting { up, .. }, true) => match connect_error(up) {
                    Ok(()) => self.send_proxy_header(i),
                    Err(e) => self.handover_failed(i, &e.to_string(), true),
                },
                (Stage::Greeting { .. }, true) => self.read_greeting(i),
                (Stage::Relaying(_), _) => self.relay_event(i, back, flags),
                _ => {}
            },
            _ => {}
        }
    }

    /// The slave confirmed: it serves the client; our copy closes.
    fn passed(&mut self, i: usize, slave: u32) {
        let Some(Conn::Client(mut c)) = self.take(i) else { return };
        self.release_back(&mut c);
        self.stats.passed += 1;
        if let Some(s) = self.registry.get_mut(slave) {
            s.clients += 1;
        }
        log::info!("{} -> slave {slave} (socket passed)", c.peer);
    }

    fn send_proxy_header(&mut self, i: usize) {
        let sent = {
            let Some(Some(Conn::Client(c))) = self.conns.get_mut(i) else { return };
            let Stage::Connecting { slave, up, deadline } = std::mem::replace(&mut c.stage, Stage::Idle) else {
                return;
            };
            // The slave learns the client's address and the one it connected to.
            let header = encode_v1(c.peer, c.local);
            let sent = match (&up).write(header.as_bytes()) {
                Ok(n) if n == header.len() => {
                    c.back = Some(EpollFlags::EPOLLIN);
                    self.epoll
                        .modify(up.as_fd(), &mut EpollEvent::new(EpollFlags::EPOLLIN, token(i, true)))
                        .map_err(|e| (e.to_string(), false))
                }
                Ok(_) => Err(("PROXY header not sent whole".to_string(), true)),
                Err(e) => Err((e.to_string(), true)),
            };
            c.stage = Stage::Greeting { slave, up, deadline, got: Vec::new() };
            sent
        };
        if let Err((why, suspend)) = sent {
            self.handover_failed(i, &why, suspend);
        }
    }

    /// The slave's first bytes: a 220 greeting starts the relay; anything
    /// else (a 421 of a full slave) sends the client elsewhere.
    fn read_greeting(&mut self, i: usize) {
        let mut buf = [0u8; 512];
        let result = {
            let Some(Some(Conn::Client(c))) = self.conns.get_mut(i) else { return };
            let Stage::Greeting { up, got, .. } = &mut c.stage else { return };
            match (&*up).read(&mut buf) {
                Ok(0) => Err("closed before greeting".to_string()),
                Ok(n) => {
                    got.extend_from_slice(&buf[..n]);
                    Ok(got.len() >= 4 || got.contains(&b'\n'))
                }
                Err(e) if would_block(&e) => Ok(false),
                Err(e) => Err(e.to_string()),
            }
        };
        match result {
            Ok(false) => {}
            Ok(true) => {
                let Some(Some(Conn::Client(c))) = self.conns.get(i) else { return };
                let Stage::Greeting { got, .. } = &c.stage else { return };
                if got.starts_with(b"220") {
                    self.start_relay(i);
                } else {
                    let first = String::from_utf8_lossy(got.split(|&b| b == b'\n').next().unwrap_or(&[]))
                        .trim_end()
                        .to_string();
                    self.handover_failed(i, &format!("it answered {first:?}"), false);
                }
            }
            Err(why) => self.handover_failed(i, &why, true),
        }
    }

    fn start_relay(&mut self, i: usize) {
        let Some(Conn::Client(mut c)) = self.take(i) else { return };
        let Stage::Greeting { slave, up, got, .. } = std::mem::replace(&mut c.stage, Stage::Idle) else {
            return self.put(i, Conn::Client(c));
        };
        self.stats.bytes_to_clients += got.len() as u64;
        c.stage = Stage::Relaying(Relay::new(slave, up, got));
        self.stats.relayed += 1;
        self.stats.relaying += 1;
        if let Some(s) = self.registry.get_mut(slave) {
            s.clients += 1;
            s.relaying += 1;
        }
        log::info!("{} -> slave {slave} (relayed)", c.peer);
        if let Err(e) = self.watch(c.sock.as_fd(), EpollFlags::empty(), token(i, false)) {
            log::error!("{}: epoll: {e}", c.peer);
            return self.close_relay(c, "epoll failed");
        }
        c.front = Some(EpollFlags::empty());
        self.put(i, Conn::Client(c));
        // Send the greeting on, and set the interests.
        self.relay_event(i, false, EpollFlags::empty());
    }

    /// Moves bytes of relayed client `i` after an event on one of its sockets.
    fn relay_event(&mut self, i: usize, back: bool, flags: EpollFlags) {
        let Some(Conn::Client(mut c)) = self.take(i) else { return };
        let Stage::Relaying(r) = &mut c.stage else { return self.put(i, Conn::Client(c)) };
        let broken = flags.intersects(EpollFlags::EPOLLERR | EpollFlags::EPOLLHUP);
        let (up, down) = (r.bytes_up, r.bytes_down);
        let outcome = r.on_event(&mut c.sock, back, broken, &mut self.scratch);
        self.stats.bytes_to_slaves += r.bytes_up - up;
        self.stats.bytes_to_clients += r.bytes_down - down;
        match outcome {
            Ok(true) => self.close_relay(c, "closed"),
            Ok(false) => {
                if let Err(e) = self.update_interest(i, &mut c) {
                    return self.close_relay(c, &format!("epoll: {e}"));
                }
                self.put(i, Conn::Client(c));
            }
            Err(e) => self.close_relay(c, &e.to_string()),
        }
    }

    fn update_interest(&self, i: usize, c: &mut Client) -> io::Result<()> {
        let Stage::Relaying(r) = &c.stage else { return Ok(()) };
        let flags = |w: Interest| {
            let mut f = EpollFlags::empty();
            f.set(EpollFlags::EPOLLIN, w.read);
            f.set(EpollFlags::EPOLLOUT, w.write);
            f
        };
        let (front, back) = r.interest();
        let (front, back) = (flags(front), flags(back));
        if c.front != Some(front) {
            self.rewatch(c.sock.as_fd(), front, token(i, false))?;
            c.front = Some(front);
        }
        if c.back != Some(back) {
            self.rewatch(r.up.as_fd(), back, token(i, true))?;
            c.back = Some(back);
        }
        Ok(())
    }

    fn close_relay(&mut self, mut c: Client, why: &str) {
        if c.front.take().is_some() {
            self.unwatch(c.sock.as_fd());
        }
        if let Stage::Relaying(r) = &c.stage {
            self.stats.relaying = self.stats.relaying.saturating_sub(1);
            if let Some(s) = self.registry.get_mut(r.slave) {
                s.relaying = s.relaying.saturating_sub(1);
            }
            log::debug!(
                "{}: relayed connection to slave {} ended ({why}); {} bytes to it, {} from it",
                c.peer,
                r.slave,
                r.bytes_up,
                r.bytes_down
            );
        }
        self.release_back(&mut c);
    }

    // ---- Registrations.

    fn accept_registrations(&mut self) {
        loop {
            let (mut sock, peer) = match self.registry_listener.accept() {
                Ok(a) => a,
                Err(e) if would_block(&e) => return,
                Err(e) => {
                    log::error!("registry accept: {e}");
                    return;
                }
            };
            // Security: a bounded number of registration connections.
            if self.registrations >= MAX_REGISTRATIONS {
                log::warn!("registration from {peer} refused: too many registration connections");
                continue;
            }
            let Ok(local) = sock.local_addr() else { continue };
            let nonce = match auth::random_nonce() {
                Ok(n) => n,
                Err(e) => {
                    log::error!("no random nonce: {e}");
                    continue;
                }
            };
            if sock.set_nonblocking(true).is_err() || sock.write_all(wire::challenge(&nonce).as_bytes()).is_err() {
                continue;
            }
            let c = RegConn { sock, peer, local, nonce, lines: LineBuf::default(), slave: None, since: Instant::now() };
            let i = self.insert(Conn::Reg(c));
            let Some(Some(Conn::Reg(c))) = self.conns.get(i) else { continue };
            if self.watch(c.sock.as_fd(), EpollFlags::EPOLLIN, token(i, false)).is_err() {
                self.take(i);
                continue;
            }
            self.registrations += 1;
        }
    }

    fn on_registration(&mut self, i: usize) {
        let Some(Conn::Reg(mut c)) = self.take(i) else { return };
        let eof = match read_lines(&mut c.sock, &mut c.lines) {
            Ok(eof) => eof,
            Err(e) => return self.close_registration(c, &e.to_string()),
        };
        loop {
            let line = match c.lines.next_line() {
                Ok(Some(l)) => l,
                Ok(None) => break,
                Err(e) => return self.refuse_registration(c, &e.to_string()),
            };
            let parsed = match parse_slave_line(&line) {
                Ok(p) => p,
                Err(e) => return self.refuse_registration(c, &format!("bad line: {e}")),
            };
            match (parsed, c.slave) {
                (SlaveLine::Register(reg), None) => match self.register(i, &c, reg) {
                    Ok((id, mode)) => {
                        c.slave = Some(id);
                        if c.sock.write_all(format!("OK {}\n", mode.name()).as_bytes()).is_err() {
                            return self.close_registration(c, "cannot answer");
                        }
                    }
                    Err(why) => return self.refuse_registration(c, &why),
                },
                (SlaveLine::Ping, Some(id)) => {
                    if let Some(s) = self.registry.get_mut(id) {
                        s.seen = Instant::now();
                    }
                    if c.sock.write_all(b"PONG\n").is_err() {
                        return self.close_registration(c, "cannot answer");
                    }
                }
                (SlaveLine::Bye, Some(id)) => {
                    log::info!("slave {id} left");
                    self.registry.remove(id);
                    c.slave = None;
                    return self.close_registration(c, "left");
                }
                (SlaveLine::Bye, None) => return self.close_registration(c, "left"),
                (SlaveLine::Register(_), Some(_)) => return self.refuse_registration(c, "already registered"),
                (SlaveLine::Ping, None) => return self.refuse_registration(c, "REGISTER first"),
            }
        }
        if eof {
            return self.close_registration(c, "connection closed");
        }
        self.put(i, Conn::Reg(c));
    }

    /// Checks and records a registration; the reason when refused.
    fn register(&mut self, i: usize, c: &RegConn, reg: SignedRegister) -> Result<(u32, Mode), String> {
        match &self.cfg.key {
            // Security: the slave must prove it knows the cluster key (HMAC
            // of our fresh nonce, checked in constant time).
            Some(key) => {
                if !reg.verify(&c.nonce, key) {
                    return Err("authentication failed: wrong or missing cluster key".into());
                }
            }
            // Security: without a key, only this host's slaves may register:
            // those that connect from the very address they connect to.
            None => {
                if canonical(c.peer.ip()) != canonical(c.local.ip()) {
                    return Err("this master has no cluster key: only slaves of its own host may register".into());
                }
                // Security: and only those its own user runs: another local
                // user's slave would be sent clients, and their passwords.
                let me = nix::unistd::geteuid().as_raw();
                match super::peer::tcp_peer_uid(c.local, c.peer) {
                    Some(uid) if uid == me => {}
                    Some(uid) => {
                        return Err(format!(
                            "this master has no cluster key: only slaves run by its own user (uid {me}) may register, \
                             not uid {uid}"
                        ))
                    }
                    None => return Err("this master has no cluster key: the user running this slave is unknown".into()),
                }
            }
        }
        let r = reg.reg;
        let mode = match &r.handoff {
            Some(name) => {
                handoff::probe(name).map_err(|e| format!("hand-over socket {name} not usable: {e}"))?;
                Mode::Pass
            }
            None => Mode::Relay,
        };
        if let Some(old) = self.registry.get(r.id) {
            if old.addr != r.addr {
                return Err(format!("slave id {} is already registered at {}", r.id, old.addr));
            }
            // The same slave again (restarted, or its old connection is
            // not yet known dead): the new registration replaces the old.
            let old_conn = old.conn;
            if let Some(Conn::Reg(mut oc)) = self.take(old_conn) {
                oc.slave = None;
                self.close_registration(oc, "replaced by a new registration");
            }
        }
        let now = Instant::now();
        self.registry.insert(Slave {
            id: r.id,
            addr: r.addr,
            mode,
            handoff: r.handoff.clone(),
            relay_from: canonical(c.local.ip()),
            conn: i,
            since: now,
            seen: now,
            suspended_until: None,
            clients: 0,
            relaying: 0,
        });
        match &r.handoff {
            Some(name) => {
                log::info!("slave {} registered from {}: {}, clients passed over {name}", r.id, c.peer, r.addr)
            }
            None => log::info!("slave {} registered from {}: {}, clients relayed", r.id, c.peer, r.addr),
        }
        Ok((r.id, mode))
    }

    fn refuse_registration(&mut self, mut c: RegConn, why: &str) {
        log::warn!("registration from {} refused: {why}", c.peer);
        let _ = c.sock.write(wire::refusal(why).as_bytes());
        self.close_registration(c, why);
    }

    fn close_registration(&mut self, c: RegConn, why: &str) {
        self.unwatch(c.sock.as_fd());
        self.registrations = self.registrations.saturating_sub(1);
        if let Some(id) = c.slave {
            if self.registry.remove(id).is_some() {
                log::warn!("slave {id} lost: {why}");
            }
        }
    }

    // ---- Timers.

    fn tick(&mut self, now: Instant) {
        if self.accept_paused_until.is_some_and(|t| now >= t) {
            self.accept_paused_until = None;
            if let Some(l) = &self.clients {
                let _ = self.epoll.add(l.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, T_CLIENTS));
            }
        }
        for id in self.registry.silent(now, HEARTBEAT_TIMEOUT) {
            if let Some(s) = self.registry.get(id) {
                let conn = s.conn;
                log::warn!("slave {id} lost: no heartbeat for {:.1}s", HEARTBEAT_TIMEOUT.as_secs_f64());
                self.registry.remove(id);
                if let Some(Conn::Reg(mut c)) = self.take(conn) {
                    c.slave = None;
                    self.close_registration(c, "silent");
                }
            }
        }
        for i in 0..self.conns.len() {
            enum Due {
                Nothing,
                Handover(bool),
                Lost,
                Relay,
                Registration,
            }
            let due = match &self.conns[i] {
                Some(Conn::Client(c)) => match &c.stage {
                    // Its slave is gone (left, lost, silent): elsewhere, now.
                    Stage::Offered { slave, .. } | Stage::Connecting { slave, .. } | Stage::Greeting { slave, .. }
                        if self.registry.get(*slave).is_none() =>
                    {
                        Due::Lost
                    }
                    Stage::Offered { deadline, .. } | Stage::Greeting { deadline, .. } if now >= *deadline => {
                        Due::Handover(false)
                    }
                    Stage::Connecting { deadline, .. } if now >= *deadline => Due::Handover(true),
                    Stage::Relaying(r) if r.half_closed.is_some_and(|t| now.duration_since(t) > HALF_CLOSE_TIMEOUT) => {
                        Due::Relay
                    }
                    _ => Due::Nothing,
                },
                Some(Conn::Reg(c)) if c.slave.is_none() && now.duration_since(c.since) > REGISTER_TIMEOUT => {
                    Due::Registration
                }
                _ => Due::Nothing,
            };
            match due {
                Due::Nothing => {}
                Due::Handover(suspend) => self.handover_failed(i, "no answer in time", suspend),
                Due::Lost => self.handover_failed(i, "the slave is gone", false),
                Due::Relay => {
                    if let Some(Conn::Client(c)) = self.take(i) {
                        self.close_relay(c, "half-closed too long");
                    }
                }
                Due::Registration => {
                    if let Some(Conn::Reg(c)) = self.take(i) {
                        self.refuse_registration(c, "registration timed out");
                    }
                }
            }
        }
        // Slots emptied by the timers are free at once (no events pending).
        self.free.append(&mut self.released);
    }
}
