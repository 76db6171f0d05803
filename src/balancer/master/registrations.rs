//! Slaves registering with the master: the challenge, the checks (cluster
//! key, or same host), the hand-over mode, heartbeats, and leaving.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::time::Instant;

use nix::sys::epoll::EpollFlags;

use super::{token, Conn, Master, RegConn};
use crate::balancer::auth::{self, ClusterKey};
use crate::balancer::registry::Slave;
use crate::balancer::wire::{self, parse_slave_line, LineBuf, Mode, SignedRegister, SlaveLine};
use crate::balancer::{handoff, peer};
use crate::limits::MAX_REGISTRATIONS;
use crate::net::would_block;
use crate::protocol::address::canonical;

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
    pub(super) fn accept_registrations(&mut self) {
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

    pub(super) fn on_registration(&mut self, i: usize) {
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
            match step(parsed, c.slave) {
                Step::Register(reg) => match self.register(i, &c, reg) {
                    Ok((id, mode)) => {
                        c.slave = Some(id);
                        if c.sock.write_all(format!("OK {}\n", mode.name()).as_bytes()).is_err() {
                            return self.close_registration(c, "cannot answer");
                        }
                    }
                    Err(why) => return self.refuse_registration(c, &why),
                },
                Step::Pong(id) => {
                    if let Some(s) = self.registry.get_mut(id) {
                        s.seen = Instant::now();
                    }
                    if c.sock.write_all(b"PONG\n").is_err() {
                        return self.close_registration(c, "cannot answer");
                    }
                }
                Step::Leave(Some(id)) => {
                    log::info!("slave {id} left");
                    self.registry.remove(id);
                    c.slave = None;
                    return self.close_registration(c, "left");
                }
                Step::Leave(None) => return self.close_registration(c, "left"),
                Step::Refuse(why) => return self.refuse_registration(c, why),
            }
        }
        if eof {
            return self.close_registration(c, "connection closed");
        }
        self.put(i, Conn::Reg(c));
    }

    /// Checks and records a registration; the reason when refused.
    fn register(&mut self, i: usize, c: &RegConn, reg: SignedRegister) -> Result<(u32, Mode), String> {
        authorize(self.cfg.key.as_ref(), &reg, &c.nonce, c.peer.ip(), c.local.ip())?;
        if self.cfg.key.is_none() {
            same_user(c.local, c.peer)?;
        }
        let r = reg.reg;
        let mode = match &r.handoff {
            Some(name) => {
                handoff::probe(name).map_err(|e| format!("hand-over socket {name} not usable: {e}"))?;
                Mode::Pass
            }
            None => Mode::Relay,
        };
        let old = self.registry.get(r.id).map(|old| (old.addr, old.conn));
        if replaces(old.map(|(addr, _)| addr), r.id, r.addr)? {
            // The same slave again (restarted, or its old connection is
            // not yet known dead): the new registration replaces the old.
            if let Some(Conn::Reg(mut oc)) = old.and_then(|(_, conn)| self.take(conn)) {
                oc.slave = None;
                self.close_registration(oc, "replaced by a new registration");
            }
        }
        let now = Instant::now();
        self.service.registered(r.id, r.addr);
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

    pub(super) fn refuse_registration(&mut self, mut c: RegConn, why: &str) {
        log::warn!("registration from {} refused: {why}", c.peer);
        let _ = c.sock.write(wire::refusal(why).as_bytes());
        self.close_registration(c, why);
    }

    pub(super) fn close_registration(&mut self, c: RegConn, why: &str) {
        self.unwatch(c.sock.as_fd());
        self.registrations = self.registrations.saturating_sub(1);
        if let Some(id) = c.slave {
            if self.registry.remove(id).is_some() {
                log::warn!("slave {id} lost: {why}");
            }
        }
    }
}

/// What a line of a registration connection asks for, given the slave it
/// registered, if any (pure).
#[derive(Debug)]
enum Step {
    /// Check and record this registration.
    Register(SignedRegister),
    /// A heartbeat of this slave: answer it.
    Pong(u32),
    /// The slave (if it registered) leaves; the connection closes.
    Leave(Option<u32>),
    /// Out of order: refused, and the connection closes.
    Refuse(&'static str),
}

fn step(line: SlaveLine, registered: Option<u32>) -> Step {
    match (line, registered) {
        (SlaveLine::Register(reg), None) => Step::Register(reg),
        (SlaveLine::Register(_), Some(_)) => Step::Refuse("already registered"),
        (SlaveLine::Ping, Some(id)) => Step::Pong(id),
        (SlaveLine::Ping, None) => Step::Refuse("REGISTER first"),
        (SlaveLine::Bye, id) => Step::Leave(id),
    }
}

/// Whether a registration may be believed (pure); the reason when not.
fn authorize(
    key: Option<&ClusterKey>,
    reg: &SignedRegister,
    nonce: &[u8],
    peer: IpAddr,
    local: IpAddr,
) -> Result<(), String> {
    match key {
        // Security: the slave must prove it knows the cluster key (HMAC of
        // our fresh nonce, checked in constant time).
        Some(key) if !reg.verify(nonce, key) => Err("authentication failed: wrong or missing cluster key".into()),
        Some(_) => Ok(()),
        // Security: without a key, only this host's slaves may register:
        // those that connect from the very address they connect to.
        None if canonical(peer) != canonical(local) => {
            Err("this master has no cluster key: only slaves of its own host may register".into())
        }
        None => Ok(()),
    }
}

/// Security: without a cluster key, a slave of this host must also run as
/// this master's own user: another local user's slave would be sent
/// clients, and their passwords. The owner of the slave's end of the
/// connection is read from `/proc/net/tcp` ([`peer::tcp_peer_uid`]).
fn same_user(local: SocketAddr, peer: SocketAddr) -> Result<(), String> {
    let me = nix::unistd::geteuid().as_raw();
    match peer::tcp_peer_uid(local, peer) {
        Some(uid) if uid == me => Ok(()),
        Some(uid) => Err(format!(
            "this master has no cluster key: only slaves run by its own user (uid {me}) may register, not uid {uid}"
        )),
        None => Err("this master has no cluster key: the user running this slave is unknown".into()),
    }
}

/// Slave `id` registers at `addr` while `existing` is the address it is
/// registered at, if any (pure): true when the registration replaces the
/// slave's older one; refused when the id belongs to another address.
fn replaces(existing: Option<SocketAddr>, id: u32, addr: SocketAddr) -> Result<bool, String> {
    match existing {
        Some(old) if old != addr => Err(format!("slave id {id} is already registered at {old}")),
        Some(_) => Ok(true),
        None => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::balancer::auth::NONCE_LEN;
    use crate::balancer::wire::Register;

    fn signed(key: Option<&ClusterKey>, nonce: &[u8; NONCE_LEN]) -> SignedRegister {
        let reg = Register { id: 3, addr: "127.0.0.2:2103".parse().unwrap(), handoff: None };
        match parse_slave_line(reg.encode(nonce, key).trim_end().as_bytes()).unwrap() {
            SlaveLine::Register(r) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_registration_connection_registers_once_then_pings_then_leaves() {
        let reg = signed(None, &[0; NONCE_LEN]);
        assert!(matches!(step(SlaveLine::Register(reg.clone()), None), Step::Register(_)));
        assert!(matches!(step(SlaveLine::Register(reg), Some(3)), Step::Refuse("already registered")));
        assert!(matches!(step(SlaveLine::Ping, Some(3)), Step::Pong(3)));
        assert!(matches!(step(SlaveLine::Ping, None), Step::Refuse("REGISTER first")));
        assert!(matches!(step(SlaveLine::Bye, Some(3)), Step::Leave(Some(3))));
        assert!(matches!(step(SlaveLine::Bye, None), Step::Leave(None)));
    }

    #[test]
    fn with_a_key_the_mac_decides_without_one_the_host() {
        let key = ClusterKey::new(b"0123456789abcdef-cluster").unwrap();
        let other = ClusterKey::new(b"0123456789abcdef-another").unwrap();
        let nonce = [5u8; NONCE_LEN];
        let (lo, far): (IpAddr, IpAddr) = ("127.0.0.1".parse().unwrap(), "192.0.2.7".parse().unwrap());
        // A key: any host, if the MAC of our nonce is right.
        assert!(authorize(Some(&key), &signed(Some(&key), &nonce), &nonce, far, lo).is_ok());
        assert!(authorize(Some(&key), &signed(Some(&other), &nonce), &nonce, lo, lo).is_err());
        assert!(authorize(Some(&key), &signed(Some(&key), &[6; NONCE_LEN]), &nonce, lo, lo).is_err());
        assert!(authorize(Some(&key), &signed(None, &nonce), &nonce, lo, lo).is_err());
        // No key: only a connection from the address it reaches.
        assert!(authorize(None, &signed(None, &nonce), &nonce, lo, lo).is_ok());
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        assert!(authorize(None, &signed(None, &nonce), &nonce, mapped, lo).is_ok());
        assert!(authorize(None, &signed(None, &nonce), &nonce, far, lo).is_err());
    }

    #[test]
    fn a_slave_id_stays_with_its_address() {
        let a: SocketAddr = "127.0.0.2:2103".parse().unwrap();
        let b: SocketAddr = "127.0.0.3:2103".parse().unwrap();
        assert_eq!(replaces(None, 3, a), Ok(false));
        assert_eq!(replaces(Some(a), 3, a), Ok(true));
        assert_eq!(replaces(Some(b), 3, a), Err("slave id 3 is already registered at 127.0.0.3:2103".into()));
    }
}
