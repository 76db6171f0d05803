//! The master's clients: accepting them, handing each over to the next
//! live slave (socket passing, or a connection with a PROXY header and the
//! slave's greeting awaited), moving on to another slave when one fails,
//! and relaying.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::time::Instant;

use nix::sys::epoll::{EpollEvent, EpollFlags};

use super::{token, Client, Conn, Master, Stage};
use crate::balancer::handoff::{Answer, Offer};
use crate::balancer::registry::Slave;
use crate::balancer::relay::{Interest, Relay};
use crate::balancer::wire::Mode;
use crate::limits::{ACCEPT_PAUSE, HANDOVER_TIMEOUT, MASTER_EVENTS};
use crate::net::{connect_error, connect_nonblocking, would_block};
use crate::protocol::address::canonical;
use crate::protocol::proxy::encode_v1;
use crate::server::error::FtpError;

/// How a slave takes its clients (pure).
#[derive(Debug, PartialEq, Eq)]
enum Route<'a> {
    /// Its socket is passed over the slave's hand-over socket (same host).
    Pass(&'a str),
    /// The master connects to it from `from`, sends the PROXY header and
    /// relays.
    Relay { to: SocketAddr, from: IpAddr },
}

fn route(slave: &Slave) -> Route<'_> {
    match (slave.mode, &slave.handoff) {
        (Mode::Pass, Some(name)) => Route::Pass(name),
        _ => Route::Relay { to: slave.addr, from: slave.relay_from },
    }
}

/// What the first bytes of a slave the master connected to say (pure).
#[derive(Debug, PartialEq, Eq)]
enum Greeting {
    /// Too few to tell.
    Incomplete,
    /// A 220: it serves the client; the relay starts.
    Ready,
    /// Anything else (a full slave's 421): the client goes elsewhere. The
    /// first line, for the log.
    Refused(String),
}

fn greeting(got: &[u8]) -> Greeting {
    if got.len() < 4 && !got.contains(&b'\n') {
        return Greeting::Incomplete;
    }
    if got.starts_with(b"220") {
        return Greeting::Ready;
    }
    let first = got.split(|&b| b == b'\n').next().unwrap_or(&[]);
    Greeting::Refused(String::from_utf8_lossy(first).trim_end().to_string())
}

impl Master {
    pub(super) fn accept_clients(&mut self) {
        if self.holding_clients(Instant::now()) {
            return;
        }
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
            let started = match route(&slave) {
                Route::Pass(name) => Offer::send(name, &c.sock).and_then(|offer| {
                    self.watch(offer.fd(), EpollFlags::EPOLLIN, token(i, true))?;
                    c.back = Some(EpollFlags::EPOLLIN);
                    c.stage = Stage::Offered { slave: id, offer, deadline: now + HANDOVER_TIMEOUT };
                    Ok(())
                }),
                Route::Relay { to, from } => connect_nonblocking(to, Some(from)).and_then(|up| {
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
        let _ = c.sock.write(&FtpError::NoServerReady.reply().encode());
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
    pub(super) fn handover_failed(&mut self, i: usize, why: &str, suspend: bool) {
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

    pub(super) fn on_event(&mut self, i: usize, back: bool, flags: EpollFlags) {
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
                    Ok(greeting(got))
                }
                Err(e) if would_block(&e) => Ok(Greeting::Incomplete),
                Err(e) => Err(e.to_string()),
            }
        };
        match result {
            Ok(Greeting::Incomplete) => {}
            Ok(Greeting::Ready) => self.start_relay(i),
            Ok(Greeting::Refused(first)) => self.handover_failed(i, &format!("it answered {first:?}"), false),
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

    pub(super) fn close_relay(&mut self, mut c: Client, why: &str) {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slave(mode: Mode, handoff: Option<&str>) -> Slave {
        let now = Instant::now();
        Slave {
            id: 1,
            addr: "127.0.0.2:2101".parse().unwrap(),
            mode,
            handoff: handoff.map(str::to_string),
            relay_from: "127.0.0.1".parse().unwrap(),
            conn: 0,
            since: now,
            seen: now,
            suspended_until: None,
            clients: 0,
            relaying: 0,
        }
    }

    #[test]
    fn a_same_host_slave_gets_the_socket_others_a_relay() {
        assert_eq!(route(&slave(Mode::Pass, Some("forkftp-handoff-x"))), Route::Pass("forkftp-handoff-x"));
        let relay = Route::Relay { to: "127.0.0.2:2101".parse().unwrap(), from: "127.0.0.1".parse().unwrap() };
        assert_eq!(route(&slave(Mode::Relay, None)), relay);
        assert_eq!(route(&slave(Mode::Pass, None)), relay);
    }

    /// RFC 959 4.2: 220 is "service ready"; a slave that is full says 421.
    #[test]
    fn only_a_220_starts_the_relay() {
        assert_eq!(greeting(b"22"), Greeting::Incomplete);
        assert_eq!(greeting(b"220 "), Greeting::Ready);
        assert_eq!(greeting(b"220-forkftp slave 2 ready\r\n"), Greeting::Ready);
        assert_eq!(
            greeting(b"421 Too many users, try again later.\r\n"),
            Greeting::Refused("421 Too many users, try again later.".into())
        );
        assert_eq!(greeting(b"5\n"), Greeting::Refused("5".into()));
    }
}
