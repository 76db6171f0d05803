//! Handing an accepted client socket from the master to a slave on the
//! same host (`SCM_RIGHTS`, unix(7)), so that the slave serves the client
//! directly and the master is out of the path.
//!
//! The slave's supervisor listens on an abstract `SOCK_SEQPACKET` Unix
//! socket before forking its workers; idle workers wait on it beside their
//! TCP listener, as they wait in `accept`. A hand-over is one connection:
//!
//! ```text
//! master                                 worker
//! connect, check the peer's user   --->  accept, check the peer's user
//! "F" + SCM_RIGHTS(client socket)  --->  recvmsg: one TCP socket
//!                                  <---  "A" (taken)
//! "G" (go), close its copy         --->  serve the client
//! ```
//!
//! Until the master says "G", it still holds the client: if the slave dies
//! or never answers (stopped, overloaded), the master closes the hand-over
//! connection and gives the client to another slave; a worker that then
//! reads EOF instead of "G" drops its copy. So a client is served by
//! exactly one slave, and a slave vanishing mid-hand-over costs the client
//! nothing.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::socket::{
    self, sockopt, AddressFamily, Backlog, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType,
    SockaddrLike, SockaddrStorage, UnixAddr,
};

use crate::admin::peer_is_our_user;
use crate::limits::{HANDOFF_MAX_FDS, LISTEN_BACKLOG};
use crate::sys;

/// The master's message: here is a client.
const OFFER: u8 = b'F';
/// The worker's answer: taken.
const TAKEN: u8 = b'A';
/// The master's confirmation: serve it.
const GO: u8 = b'G';

/// The abstract socket name of the slave listening on `listen`.
pub fn socket_name(listen: &SocketAddr) -> String {
    format!("forkftp-handoff-{listen}")
}

fn abstract_addr(name: &str) -> io::Result<UnixAddr> {
    Ok(UnixAddr::new_abstract(name.as_bytes())?)
}

/// A new non-blocking `SOCK_SEQPACKET` Unix socket: one message per
/// hand-over step, descriptors attached.
fn seqpacket() -> io::Result<OwnedFd> {
    let flags = SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK;
    Ok(socket::socket(AddressFamily::Unix, SockType::SeqPacket, flags, None)?)
}

/// The slave's hand-over listener, shared by its workers.
#[derive(Debug)]
pub struct HandoffListener {
    fd: OwnedFd,
    name: String,
}

impl HandoffListener {
    /// Listens on the abstract socket `name` (non-blocking: several workers
    /// wait on it, and only one gets each hand-over).
    pub fn bind(name: &str) -> io::Result<HandoffListener> {
        let fd = seqpacket()?;
        socket::bind(fd.as_raw_fd(), &abstract_addr(name)?)?;
        socket::listen(&fd, Backlog::new(LISTEN_BACKLOG).unwrap_or(Backlog::MAXCONN))?;
        Ok(HandoffListener { fd, name: name.to_string() })
    }

    /// For polling.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Takes one hand-over, if one is waiting: the client socket, once the
    /// master confirmed. `Ok(None)` when another worker was faster, or the
    /// master withdrew the offer (it gave the client to another slave).
    pub fn take(&self, timeout: Duration) -> io::Result<Option<TcpStream>> {
        // A worker that must stop takes no client: the master gives it to
        // another slave when this one's socket closes.
        if sys::retiring() {
            return Ok(None);
        }
        let conn = match sys::adopt(socket::accept4(self.fd.as_raw_fd(), SockFlag::SOCK_CLOEXEC)) {
            Ok(c) => c,
            Err(Errno::EAGAIN | Errno::ECONNABORTED) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        // Security: only a process of our own user (the master) may hand us
        // clients; anything else is closed unread.
        if !peer_is_our_user(&conn) {
            log::warn!("hand-over socket {}: connection from another user refused", self.name);
            return Ok(None);
        }
        let tv = nix::sys::time::TimeVal::new(timeout.as_secs() as i64, timeout.subsec_micros() as i64);
        socket::setsockopt(&conn, sockopt::ReceiveTimeout, &tv)?;
        socket::setsockopt(&conn, sockopt::SendTimeout, &tv)?;
        let Some(client) = receive_client(&conn)? else { return Ok(None) };
        if sys::retiring() {
            return Ok(None);
        }
        if socket::send(conn.as_raw_fd(), &[TAKEN], MsgFlags::MSG_NOSIGNAL).is_err() {
            return Ok(None);
        }
        let mut go = [0u8; 1];
        match socket::recv(conn.as_raw_fd(), &mut go, MsgFlags::empty()) {
            Ok(1) if go[0] == GO => {
                // The master's loop made the socket non-blocking, and the
                // flag belongs to the socket, not to a descriptor: the
                // worker wants it blocking. Only now, once the master has
                // let go of it for good.
                client.set_nonblocking(false)?;
                Ok(Some(client))
            }
            // EOF, timeout or anything else: the master kept the client.
            _ => {
                log::debug!("hand-over withdrawn by the master");
                Ok(None)
            }
        }
    }
}

/// Reads the offer: exactly one descriptor, a connected TCP socket.
/// `Ok(None)` for an empty connection (the master's probe) or a bad offer.
fn receive_client(conn: &OwnedFd) -> io::Result<Option<TcpStream>> {
    let mut byte = [0u8; 1];
    let mut iov = [IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!([RawFd; HANDOFF_MAX_FDS]);
    let msg = match socket::recvmsg::<()>(conn.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC) {
        Ok(m) => m,
        Err(Errno::EAGAIN | Errno::ECONNRESET) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let bytes = msg.bytes;
    let mut fds: Vec<OwnedFd> = Vec::new();
    match msg.cmsgs() {
        Ok(cmsgs) => {
            for c in cmsgs {
                if let ControlMessageOwned::ScmRights(raw) = c {
                    // The kernel installed these descriptors for us: we own them.
                    fds.extend(raw.into_iter().filter_map(|fd| sys::adopt(Ok(fd)).ok()));
                }
            }
        }
        Err(_) => {
            log::warn!("hand-over: too many descriptors in one message, refused");
            return Ok(None);
        }
    }
    if bytes == 0 {
        return Ok(None);
    }
    // Security: exactly one descriptor, and it must be a connected TCP
    // socket; whatever else arrived is closed (dropped) here.
    if byte[0] != OFFER || fds.len() != 1 {
        log::warn!("hand-over: malformed offer ({bytes} bytes, {} descriptors), refused", fds.len());
        return Ok(None);
    }
    let fd = fds.pop().expect("one descriptor");
    let is_tcp = matches!(socket::getsockopt(&fd, sockopt::SockType), Ok(SockType::Stream))
        && socket::getpeername::<SockaddrStorage>(fd.as_raw_fd())
            .is_ok_and(|a| matches!(a.family(), Some(AddressFamily::Inet | AddressFamily::Inet6)));
    if !is_tcp {
        log::warn!("hand-over: the descriptor is not a connected TCP socket, refused");
        return Ok(None);
    }
    Ok(Some(TcpStream::from(fd)))
}

/// The master's side of one hand-over in progress.
#[derive(Debug)]
pub struct Offer {
    conn: OwnedFd,
}

/// What the slave said about an offer.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// Nothing yet.
    Pending,
    /// Taken and confirmed: the slave serves the client.
    Done,
    /// The slave failed (closed, reset, or said something else).
    Failed(String),
}

/// Connects to the hand-over socket `name` and checks who listens there.
fn connect(name: &str) -> io::Result<OwnedFd> {
    let fd = seqpacket()?;
    // A Unix connect completes at once, or fails (EAGAIN: backlog full).
    socket::connect(fd.as_raw_fd(), &abstract_addr(name)?)?;
    // Security: clients go only to a slave of our own user.
    if !peer_is_our_user(&fd) {
        return Err(io::Error::new(io::ErrorKind::PermissionDenied, "hand-over socket owned by another user"));
    }
    Ok(fd)
}

/// Checks that a slave's hand-over socket is there and ours (at registration).
pub fn probe(name: &str) -> io::Result<()> {
    connect(name).map(drop)
}

impl Offer {
    /// Offers `client` to the slave listening on `name`. The master keeps
    /// its own copy of the client until [`Offer::answer`] says `Done`.
    pub fn send(name: &str, client: &TcpStream) -> io::Result<Offer> {
        let conn = connect(name)?;
        let fds = [client.as_raw_fd()];
        let cmsg = [ControlMessage::ScmRights(&fds)];
        socket::sendmsg::<()>(
            conn.as_raw_fd(),
            &[IoSlice::new(&[OFFER])],
            &cmsg,
            MsgFlags::MSG_NOSIGNAL | MsgFlags::MSG_DONTWAIT,
            None,
        )?;
        Ok(Offer { conn })
    }

    /// For the event loop.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.conn.as_fd()
    }

    /// Reads the worker's answer (non-blocking); on "taken", confirms.
    pub fn answer(&self) -> Answer {
        let mut b = [0u8; 1];
        match socket::recv(self.conn.as_raw_fd(), &mut b, MsgFlags::MSG_DONTWAIT) {
            Ok(1) if b[0] == TAKEN => {
                match socket::send(self.conn.as_raw_fd(), &[GO], MsgFlags::MSG_NOSIGNAL | MsgFlags::MSG_DONTWAIT) {
                    Ok(1) => Answer::Done,
                    Ok(_) => Answer::Failed("confirmation not sent".into()),
                    Err(e) => Answer::Failed(format!("confirmation: {e}")),
                }
            }
            Ok(0) => Answer::Failed("the slave closed the hand-over".into()),
            Ok(_) => Answer::Failed("unexpected answer".into()),
            Err(Errno::EAGAIN | Errno::EINTR) => Answer::Pending,
            Err(e) => Answer::Failed(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    fn unique(tag: &str) -> String {
        format!("forkftp-test-{tag}-{}-{:?}", std::process::id(), std::thread::current().id())
    }

    /// A client connection and the server's accepted end of it (the socket
    /// the master would hand over).
    fn tcp_pair() -> (TcpStream, TcpStream) {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(tcp.local_addr().unwrap()).unwrap();
        let (accepted, _) = tcp.accept().unwrap();
        (client, accepted)
    }

    /// A slave's hand-over listener named after `tag`, and a client the
    /// master has just offered it: (listener, client end, accepted end, offer).
    fn offered(tag: &str) -> (HandoffListener, TcpStream, TcpStream, Offer) {
        let name = unique(tag);
        let l = HandoffListener::bind(&name).unwrap();
        let (client, accepted) = tcp_pair();
        let offer = Offer::send(&name, &accepted).unwrap();
        (l, client, accepted, offer)
    }

    fn wait_answer(offer: &Offer) -> Answer {
        for _ in 0..1000 {
            match offer.answer() {
                Answer::Pending => std::thread::sleep(Duration::from_millis(2)),
                a => return a,
            }
        }
        Answer::Pending
    }

    #[test]
    fn a_client_socket_is_passed_and_served_by_the_taker() {
        let name = unique("pass");
        let l = HandoffListener::bind(&name).unwrap();
        probe(&name).unwrap();
        let (mut client, accepted) = tcp_pair();
        // The master's loop works on non-blocking sockets.
        accepted.set_nonblocking(true).unwrap();
        let offer = Offer::send(&name, &accepted).unwrap();
        // The probe's empty connection comes first and yields nothing.
        let taker = std::thread::spawn(move || {
            let mut got = None;
            for _ in 0..1000 {
                if let Some(s) = l.take(Duration::from_secs(5)).unwrap() {
                    got = Some(s);
                    break;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            got
        });
        assert_eq!(wait_answer(&offer), Answer::Done);
        drop(accepted);
        let mut served = taker.join().unwrap().expect("taken");
        // The worker gets it blocking, as from its own accept.
        let flags = nix::fcntl::fcntl(served.as_raw_fd(), nix::fcntl::FcntlArg::F_GETFL).unwrap();
        assert!(!nix::fcntl::OFlag::from_bits_truncate(flags).contains(nix::fcntl::OFlag::O_NONBLOCK));
        served.write_all(b"220 hello\r\n").unwrap();
        let mut buf = [0u8; 11];
        client.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"220 hello\r\n");
    }

    #[test]
    fn a_withdrawn_offer_is_not_served() {
        let (l, _client, _accepted, offer) = offered("withdraw");
        // The master gives up before any worker looked (a stopped slave).
        drop(offer);
        assert!(l.take(Duration::from_secs(1)).unwrap().is_none());
    }

    #[test]
    fn nobody_listening_fails_at_once() {
        assert!(probe(&unique("nobody")).is_err());
        let (_c, accepted) = tcp_pair();
        assert!(Offer::send(&unique("nobody2"), &accepted).is_err());
    }

    #[test]
    fn a_dead_taker_lets_the_master_keep_the_client() {
        let (l, _client, _accepted, offer) = offered("dead");
        // The slave dies with the offer in its queue.
        drop(l);
        assert!(matches!(wait_answer(&offer), Answer::Failed(_)));
    }
}
