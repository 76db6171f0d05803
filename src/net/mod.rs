//! Small socket helpers at the bottom of the crate, shared by the server,
//! the pool and the balancer: resolving and binding addresses, an `accept`
//! that a signal interrupts, readiness waits with a deadline, would-block,
//! non-blocking connects from a chosen source address, "is this address
//! mine?", the descriptor limit; and [`Stream`], the one stream type of
//! control and data connections, plain or TLS (`tls::TlsStream`: rustls's
//! own records, for control connections; [`records::RecordStream`]: the
//! records of data connections, sealed and opened in place), with the
//! crypto provider and versions every TLS configuration uses
//! ([`tls_provider`], [`TLS_VERSIONS`]).

pub mod records;
mod stream;
mod tls;

pub use stream::Stream;
pub use tls::{tls_provider, TLS_VERSIONS};

use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{self, sockopt, AddressFamily, Backlog, SockFlag, SockType, SockaddrStorage};

use crate::limits::LISTEN_BACKLOG;
use crate::protocol::address::canonical;

/// Resolves `host:port` (or `[v6]:port`) once, at start-up.
pub fn resolve_addr(s: &str) -> Result<SocketAddr, String> {
    s.to_socket_addrs().map_err(|e| format!("{s}: {e}"))?.next().ok_or_else(|| format!("{s}: no address"))
}

/// Binds a listening socket: SO_REUSEADDR, a deep backlog (clients beyond
/// the pool wait there, see [`LISTEN_BACKLOG`]), close-on-exec.
pub fn bind_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let family = if addr.is_ipv4() { AddressFamily::Inet } else { AddressFamily::Inet6 };
    let fd = socket::socket(family, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)?;
    socket::setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    socket::bind(fd.as_raw_fd(), &SockaddrStorage::from(addr))?;
    socket::listen(&fd, Backlog::new(LISTEN_BACKLOG).unwrap_or(Backlog::MAXCONN))?;
    Ok(TcpListener::from(fd))
}

/// Makes a blocking `accept` on `listener` return (`EAGAIN`) after `every`
/// at the latest (`SO_RCVTIMEO`, which `accept` honours).
pub fn wake_accept_every(listener: &TcpListener, every: Duration) -> io::Result<()> {
    let tv = nix::sys::time::TimeVal::new(every.as_secs() as i64, every.subsec_micros() as i64);
    Ok(socket::setsockopt(listener, sockopt::ReceiveTimeout, &tv)?)
}

/// Accepts one connection. Unlike `TcpListener::accept`, which retries on
/// `EINTR`, a signal ends the wait at once, so that the caller can look at
/// its flags.
pub fn accept(listener: &TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
    loop {
        let fd = crate::sys::adopt(socket::accept4(listener.as_raw_fd(), SockFlag::SOCK_CLOEXEC))?;
        let stream = TcpStream::from(fd);
        match stream.peer_addr() {
            Ok(peer) => return Ok((stream, peer)),
            // A connection reset while it waited in the backlog (a load
            // balancer's TCP health check, a port scan) is gone: nobody to
            // serve and nothing wrong; wait for the next one.
            Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                log::debug!("[{}] a connection was reset before it was accepted", std::process::id());
            }
            Err(e) => return Err(e),
        }
    }
}

/// Waits until `fd` is readable; false on timeout. A signal is an
/// `Interrupted` error.
pub fn wait_readable(fd: BorrowedFd<'_>, timeout: Duration) -> io::Result<bool> {
    let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
    let t = PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX);
    Ok(poll(&mut fds, t).map_err(io::Error::from)? > 0)
}

/// True for the errors of a non-blocking socket that mean "not now"
/// (would block, or interrupted by a signal).
pub fn would_block(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted)
}

/// Starts a non-blocking TCP connection to `to`, from `from` (any port)
/// when given and of the same family. The connection completes later: see
/// [`connect_done`].
pub fn connect_nonblocking(to: SocketAddr, from: Option<IpAddr>) -> io::Result<TcpStream> {
    let family = if to.is_ipv4() { AddressFamily::Inet } else { AddressFamily::Inet6 };
    let fd = socket::socket(family, SockType::Stream, SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK, None)?;
    if let Some(ip) = from.filter(|ip| !ip.is_unspecified() && ip.is_ipv4() == to.is_ipv4()) {
        socket::bind(fd.as_raw_fd(), &SockaddrStorage::from(SocketAddr::new(ip, 0)))?;
    }
    match socket::connect(fd.as_raw_fd(), &SockaddrStorage::from(to)) {
        Ok(()) | Err(Errno::EINPROGRESS) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(TcpStream::from(fd))
}

/// Whether a non-blocking connect has finished: `None` while in progress,
/// then its result.
pub fn connect_done(stream: &TcpStream) -> Option<io::Result<()>> {
    let mut fds = [PollFd::new(stream.as_fd(), PollFlags::POLLOUT)];
    match poll(&mut fds, PollTimeout::ZERO) {
        Ok(0) => return None,
        Ok(_) => {}
        Err(Errno::EINTR) => return None,
        Err(e) => return Some(Err(e.into())),
    }
    Some(connect_error(stream))
}

/// The pending error of a socket whose connect has finished (`SO_ERROR`).
pub fn connect_error(stream: &TcpStream) -> io::Result<()> {
    match socket::getsockopt(stream, sockopt::SocketError)? {
        0 => Ok(()),
        e => Err(io::Error::from_raw_os_error(e)),
    }
}

/// True when `ip` belongs to this host: a loopback address, or one a socket
/// can be bound to (the kernel refuses addresses of other hosts).
pub fn is_local_ip(ip: IpAddr) -> bool {
    let ip = canonical(ip);
    ip.is_loopback() || (!ip.is_unspecified() && TcpListener::bind(SocketAddr::new(ip, 0)).is_ok())
}

/// Raises the soft limit on open descriptors to the hard limit (a master
/// relaying N clients holds 2N sockets). Returns the new soft limit.
pub fn raise_nofile_limit() -> io::Result<u64> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    }
    Ok(hard.max(soft))
}

/// A connected pair of loopback sockets (client end, server end), for
/// unit tests.
#[cfg(test)]
pub(crate) fn loopback_pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    (c, l.accept().unwrap().0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_addresses_are_recognised() {
        assert!(is_local_ip("127.0.0.1".parse().unwrap()));
        assert!(is_local_ip("::ffff:127.0.0.1".parse().unwrap()));
        // TEST-NET-1 (RFC 5737) is nobody's address.
        assert!(!is_local_ip("192.0.2.1".parse().unwrap()));
        assert!(!is_local_ip("0.0.0.0".parse().unwrap()));
    }

    /// Waits (10 s at most) until the socket is writable or failed (the
    /// connect finished), then asks `connect_done`.
    fn finished(s: &TcpStream) -> Option<io::Result<()>> {
        let mut fds = [PollFd::new(s.as_fd(), PollFlags::POLLOUT)];
        poll(&mut fds, PollTimeout::from(10_000u16)).unwrap();
        connect_done(s)
    }

    #[test]
    fn a_nonblocking_connect_completes_or_fails() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let s = connect_nonblocking(l.local_addr().unwrap(), Some("127.0.0.1".parse().unwrap())).unwrap();
        assert!(matches!(finished(&s), Some(Ok(()))));
        let port = l.local_addr().unwrap().port();
        drop(l);
        let failed = match connect_nonblocking(SocketAddr::new("127.0.0.1".parse().unwrap(), port), None) {
            Err(_) => true,
            Ok(s) => finished(&s).is_some_and(|r| r.is_err()),
        };
        assert!(failed);
    }
}
