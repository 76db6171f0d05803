//! A server pool as a slave of an `ftpmaster`: what its supervisor and its
//! workers do besides serving.
//!
//! - The supervisor keeps the registration alive ([`Registrar`], driven by
//!   its loop without blocking): it registers, sends a heartbeat every
//!   second, and registers again, with a growing delay capped at two
//!   seconds, whenever the master is gone, so a restarted master has its
//!   slaves back within a few seconds.
//! - On the master's host, it also listens on the hand-over socket, and its
//!   workers take passed clients from there.
//!
//! All of it plugs into the pool as its [`Intake`] ([`intake`]).
//! - On another host, workers read the PROXY header that the master sends
//!   first on relayed connections, and believe it only from the master.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::config::SlaveConfig;
use super::handoff::HandoffListener;
use super::wire::{parse_master_line, LineBuf, MasterLine, Mode, Register};
use crate::limits::{
    HANDOVER_TIMEOUT, HEARTBEAT_INTERVAL, HEARTBEAT_TIMEOUT, PROXY_HEADER_TIMEOUT, REGISTER_RETRY_MAX,
    REGISTER_RETRY_MIN, REGISTER_TIMEOUT, SLAVE_WORKER_WAKEUP,
};
use crate::net::{connect_done, connect_nonblocking};
use crate::protocol::proxy::ProxyHeader;
use crate::server::config::SlaveArgs;
use crate::server::intake::{Arrival, Intake, Listening, Via};
use crate::server::proxied::read_header;

/// The slave behaviour of a pool, as its [`Intake`]; `None` without
/// `--register`. The binary hands this function to the pool.
pub fn intake(args: &SlaveArgs, listen: SocketAddr) -> Result<Option<Box<dyn Intake>>, String> {
    Ok(args.to_config(listen)?.map(|cfg| Box::new(SlaveSide::new(cfg)) as Box<dyn Intake>))
}

/// What a slave pool holds: its configuration, the registration (in the
/// supervisor) and, on the master's host, the hand-over socket its workers
/// share.
#[derive(Debug)]
pub(crate) struct SlaveSide {
    cfg: SlaveConfig,
    handoff: Option<HandoffListener>,
    registrar: Option<Registrar>,
}

impl SlaveSide {
    /// A slave not started yet.
    pub(crate) fn new(cfg: SlaveConfig) -> SlaveSide {
        SlaveSide { cfg, handoff: None, registrar: None }
    }
}

impl Intake for SlaveSide {
    /// A slave says who it is, as the original client printed it.
    fn greeting(&self) -> Option<String> {
        Some(format!("forkftp slave {} ready", self.cfg.id))
    }

    /// Prepares a slave listening on `listener` (before any worker forks).
    fn start(&mut self, listen: SocketAddr, listener: &TcpListener) -> Result<(), String> {
        let cfg = &self.cfg;
        if let Some(name) = &cfg.handoff {
            let h = HandoffListener::bind(name)
                .map_err(|e| format!("hand-over socket {name}: {e} (is another slave on {listen}?)"))?;
            // Workers wait on both sockets with poll, then accept from
            // the ready one; another worker may have been faster.
            listener.set_nonblocking(true).map_err(|e| e.to_string())?;
            self.handoff = Some(h);
        }
        let how = match cfg.mode {
            Mode::Pass => "passed to us over a Unix socket",
            Mode::Relay => "relayed, PROXY header first",
        };
        let masters: Vec<String> = cfg.masters.iter().map(|m| m.to_string()).collect();
        log::info!("slave {}: registering with the master at {}; clients {how}", cfg.id, masters.join(" or "));
        self.registrar = Some(Registrar::new(cfg.clone(), listen));
        Ok(())
    }

    /// Drives the registration (from the supervisor's loop; never blocks).
    fn tick(&mut self) {
        if let Some(r) = &mut self.registrar {
            r.tick(Instant::now());
        }
    }

    /// The pool stops: tell the master, so it sends no more clients.
    fn withdraw(&mut self) {
        if let Some(mut r) = self.registrar.take() {
            r.withdraw();
        }
    }

    /// In a freshly forked worker: close the worker's copy of the
    /// registration connection (only the supervisor speaks on it, and the
    /// master must see it close when the supervisor dies).
    fn forget_in_worker(&mut self) {
        self.registrar = None;
    }

    fn accept(&self, listener: &TcpListener) -> io::Result<Option<Arrival>> {
        accept(listener, self.handoff.as_ref(), &self.cfg)
    }
}

enum Phase {
    Idle { at: Instant },
    Connecting { sock: TcpStream, since: Instant },
    Handshake { sock: TcpStream, lines: LineBuf, since: Instant, sent: bool },
    Registered { sock: TcpStream, lines: LineBuf, pinged: Instant, heard: Instant },
}

/// A slave's registration with its master, as a non-blocking state machine.
pub(crate) struct Registrar {
    cfg: SlaveConfig,
    listen: SocketAddr,
    phase: Phase,
    /// Which of the master's addresses is tried.
    target: usize,
    backoff: Duration,
    /// Failures since the last success (only the first is logged loudly).
    failures: u32,
}

impl std::fmt::Debug for Registrar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registrar").field("id", &self.cfg.id).field("master", &self.master()).finish()
    }
}

/// Reads what the socket has; true at end of file.
fn read_available(sock: &mut TcpStream, lines: &mut LineBuf) -> io::Result<bool> {
    let mut buf = [0u8; 1024];
    loop {
        match sock.read(&mut buf) {
            Ok(0) => return Ok(true),
            Ok(n) => lines.push(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

impl Registrar {
    /// A registration not yet attempted.
    pub(crate) fn new(cfg: SlaveConfig, listen: SocketAddr) -> Registrar {
        Registrar {
            cfg,
            listen,
            phase: Phase::Idle { at: Instant::now() },
            target: 0,
            backoff: REGISTER_RETRY_MIN,
            failures: 0,
        }
    }

    fn master(&self) -> SocketAddr {
        self.cfg.masters[self.target % self.cfg.masters.len()]
    }

    /// Makes whatever progress is possible now.
    pub(crate) fn tick(&mut self, now: Instant) {
        let phase = std::mem::replace(&mut self.phase, Phase::Idle { at: now });
        let was_registered = matches!(phase, Phase::Registered { .. });
        match self.advance(phase, now) {
            Ok(next) => self.phase = next,
            Err(reason) => self.fail(now, &reason, was_registered),
        }
    }

    fn advance(&mut self, phase: Phase, now: Instant) -> Result<Phase, String> {
        match phase {
            Phase::Idle { at } if now < at => Ok(Phase::Idle { at }),
            Phase::Idle { .. } => {
                let sock = connect_nonblocking(self.master(), Some(self.listen.ip())).map_err(|e| e.to_string())?;
                Ok(Phase::Connecting { sock, since: now })
            }
            Phase::Connecting { sock, since } => match connect_done(&sock) {
                None if now.duration_since(since) > REGISTER_TIMEOUT => Err("connection timed out".into()),
                None => Ok(Phase::Connecting { sock, since }),
                Some(Err(e)) => Err(e.to_string()),
                Some(Ok(())) => {
                    let next = Phase::Handshake { sock, lines: LineBuf::default(), since: now, sent: false };
                    self.advance(next, now)
                }
            },
            Phase::Handshake { mut sock, mut lines, since, mut sent } => {
                if now.duration_since(since) > REGISTER_TIMEOUT {
                    return Err("no answer to the registration".into());
                }
                let eof = read_available(&mut sock, &mut lines).map_err(|e| e.to_string())?;
                while let Some(line) = lines.next_line().map_err(|e| e.to_string())? {
                    match parse_master_line(&line).map_err(|e| format!("master said: {e}"))? {
                        MasterLine::Challenge(nonce) if !sent => {
                            sock.write_all(self.registration(&sock)?.encode(&nonce, self.cfg.key.as_ref()).as_bytes())
                                .map_err(|e| e.to_string())?;
                            sent = true;
                        }
                        MasterLine::Ok(mode) if sent => {
                            let how = match mode {
                                Mode::Pass => "clients are passed to us",
                                Mode::Relay => "clients are relayed to us",
                            };
                            log::info!("slave {}: registered with the master at {}; {how}", self.cfg.id, self.master());
                            self.failures = 0;
                            self.backoff = REGISTER_RETRY_MIN;
                            return Ok(Phase::Registered { sock, lines, pinged: now, heard: now });
                        }
                        MasterLine::Err(reason) => return Err(format!("refused: {reason}")),
                        other => return Err(format!("unexpected {other:?}")),
                    }
                }
                if eof {
                    return Err("the master closed the connection".into());
                }
                Ok(Phase::Handshake { sock, lines, since, sent })
            }
            Phase::Registered { mut sock, mut lines, mut pinged, mut heard } => {
                let eof = read_available(&mut sock, &mut lines).map_err(|e| format!("lost: {e}"))?;
                while let Some(line) = lines.next_line().map_err(|e| e.to_string())? {
                    if parse_master_line(&line) == Ok(MasterLine::Pong) {
                        heard = now;
                    }
                }
                if eof {
                    return Err("lost: the master closed the connection".into());
                }
                if now.duration_since(heard) > HEARTBEAT_TIMEOUT {
                    return Err(format!("lost: no answer for {}s", HEARTBEAT_TIMEOUT.as_secs_f64()));
                }
                if now.duration_since(pinged) >= HEARTBEAT_INTERVAL {
                    match sock.write(b"PING\n") {
                        Ok(_) => pinged = now,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) => return Err(format!("lost: {e}")),
                    }
                }
                Ok(Phase::Registered { sock, lines, pinged, heard })
            }
        }
    }

    /// What we register: our id, the address to relay to (our listening
    /// address, or when that is all addresses, ours on the way to the
    /// master), and the hand-over socket.
    fn registration(&self, sock: &TcpStream) -> Result<Register, String> {
        let addr = if self.listen.ip().is_unspecified() {
            SocketAddr::new(sock.local_addr().map_err(|e| e.to_string())?.ip(), self.listen.port())
        } else {
            self.listen
        };
        Ok(Register { id: self.cfg.id, addr, handoff: self.cfg.handoff.clone() })
    }

    fn fail(&mut self, now: Instant, reason: &str, was_registered: bool) {
        let master = self.master();
        if was_registered {
            log::warn!("slave {}: master at {master}: {reason}; registering again", self.cfg.id);
            self.backoff = REGISTER_RETRY_MIN;
        } else if self.failures == 0 {
            log::warn!("slave {}: cannot register with the master at {master}: {reason}; will retry", self.cfg.id);
        } else {
            log::debug!("slave {}: cannot register with the master at {master}: {reason}", self.cfg.id);
        }
        self.failures += 1;
        self.target = (self.target + 1) % self.cfg.masters.len();
        self.phase = Phase::Idle { at: now + self.backoff };
        self.backoff = (self.backoff * 2).min(REGISTER_RETRY_MAX);
    }

    /// Says goodbye to the master and stops.
    pub(crate) fn withdraw(&mut self) {
        if let Phase::Registered { sock, .. } = &mut self.phase {
            let _ = sock.write(b"BYE\n");
            log::info!("slave {}: left the master at {}", self.cfg.id, self.master());
        }
        self.phase = Phase::Idle { at: Instant::now() + Duration::from_secs(86_400 * 365) };
    }
}

/// A worker's `accept`: a client that connected, or (for a slave) one
/// the master hands over. `Ok(None)` when there is nothing to serve after
/// all (another worker was faster, the wake-up timer, a refused header).
/// The address returned is the client's real one.
fn accept(
    listener: &TcpListener,
    handoff: Option<&HandoffListener>,
    slave: &SlaveConfig,
) -> io::Result<Option<Arrival>> {
    if let Some(h) = handoff {
        let (tcp_ready, handoff_ready) = {
            let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN), PollFd::new(h.fd(), PollFlags::POLLIN)];
            let t = PollTimeout::try_from(SLAVE_WORKER_WAKEUP).unwrap_or(PollTimeout::MAX);
            if poll(&mut fds, t).map_err(io::Error::from)? == 0 {
                return Ok(None);
            }
            let ready = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
            (ready(&fds[0]), ready(&fds[1]))
        };
        if handoff_ready {
            if let Some(stream) = h.take(HANDOVER_TIMEOUT)? {
                let peer = stream.peer_addr()?;
                log::debug!("[{}] {peer}: handed over by the master", std::process::id());
                return Ok(Some(Arrival { stream, peer, via: Via::Passed }));
            }
        }
        if !tcp_ready {
            return Ok(None);
        }
    }
    let Some(Arrival { stream, peer, .. }) = Listening.accept(listener)? else { return Ok(None) };
    // Security: a PROXY header is read only from the master; from anyone
    // else the first line is an FTP command (and a PROXY line is refused
    // by the connection, see `server::connection`).
    if !slave.trusts_proxy_from(peer.ip()) {
        return Ok(Some(Arrival { stream, peer, via: Via::Direct }));
    }
    let header = read_header(&stream, PROXY_HEADER_TIMEOUT);
    // Stopping: no greeting, so the master tries another slave.
    if crate::sys::retiring() {
        return Ok(None);
    }
    match header {
        Ok(ProxyHeader::Tcp { source, .. }) => Ok(Some(Arrival { stream, peer: source, via: Via::Relayed })),
        // Section 2.1: with UNKNOWN, the connection's own endpoints count.
        Ok(ProxyHeader::Unknown) => Ok(Some(Arrival { stream, peer, via: Via::Relayed })),
        Err(e) => {
            log::warn!("[{}] {peer}: connection from the master refused: {e}", std::process::id());
            Ok(None)
        }
    }
}
