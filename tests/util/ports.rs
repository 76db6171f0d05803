//! Ports. Servers listen on port 0 and say which port they got; these are
//! for the rest:
//! - [`reserve_ports`]: ports known before the server starts, for a server
//!   restarted in place on the same address, for `ftpslaves` (slave i on
//!   port P+i), and for a slave of the master's host (its hand-over socket
//!   is named after its `--listen` argument). They are taken below the
//!   kernel's ephemeral range, which the kernel never hands out by itself
//!   (`bind(0)`, outgoing connections, our passive listeners), and held
//!   under a file lock that every test process of this suite respects.
//! - [`refusing_port`]: a port where nothing listens, for as long as needed.
//! - [`connect_from`]: a connection from another loopback address.
//! - [`connect_when_bound`]: a connection to a port that another program
//!   (systemd-socket-activate) binds once it has started.

use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use nix::fcntl::{Flock, FlockArg};
use nix::sys::socket::{bind, connect, socket, AddressFamily, SockFlag, SockType, SockaddrStorage};

/// The lowest port handed out by [`reserve_ports`].
const LOWEST: u32 = 10_000;

/// Ports held by this test: `base + 1 ..= base + count`.
pub struct Reserved {
    pub base: u16,
    pub count: u16,
    locks: Vec<(PathBuf, Flock<File>)>,
}

impl Drop for Reserved {
    fn drop(&mut self) {
        // Removed while still locked: whoever opened the file meanwhile
        // finds, once it gets the lock, that the name is no longer its file.
        for (path, lock) in self.locks.drain(..) {
            let _ = std::fs::remove_file(path);
            drop(lock);
        }
    }
}

impl Reserved {
    /// The `i`-th port (1-based).
    pub fn port(&self, i: u16) -> u16 {
        assert!((1..=self.count).contains(&i));
        self.base + i
    }
}

/// The first port of the kernel's ephemeral range.
fn ephemeral_low() -> u32 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768)
}

/// Locks `port` for this process, if no other test process holds it.
fn lock(port: u32) -> Option<(PathBuf, Flock<File>)> {
    let dir = std::env::temp_dir().join("forkftp-test-ports");
    std::fs::create_dir_all(&dir).ok()?;
    let path = dir.join(format!("{port}.lock"));
    let f = File::options().create(true).truncate(false).write(true).open(&path).ok()?;
    let lock = Flock::lock(f, FlockArg::LockExclusiveNonblock).ok()?;
    // Still the file of that name (its last holder removes it when done)?
    let same = std::fs::metadata(&path).is_ok_and(|m| m.ino() == lock.metadata().map_or(0, |l| l.ino()));
    same.then_some((path, lock))
}

/// Reserves `count` consecutive ports free on `ip` (see the module doc).
pub fn reserve_ports(ip: &str, count: u16) -> Reserved {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let high = ephemeral_low();
    assert!(high > LOWEST + 1000, "the ephemeral range starts at {high}: no room for reserved ports below it");
    let span = high - LOWEST - u32::from(count);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let seed = std::process::id().wrapping_mul(2_654_435_761) ^ nanos;
    for _ in 0..1000 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let base = LOWEST + seed.wrapping_add(n.wrapping_mul(7919)) % span;
        let mut r = Reserved { base: base as u16, count, locks: Vec::new() };
        for p in base + 1..=base + u32::from(count) {
            match lock(p) {
                Some(l) if TcpListener::bind((ip, p as u16)).is_ok() => r.locks.push(l),
                _ => break,
            }
        }
        if r.locks.len() == usize::from(count) {
            return r;
        }
    }
    panic!("no run of {count} free ports on {ip} below {high}");
}

/// A port of `ip` that refuses connections while the returned socket
/// lives: it is bound there and never listens, so nothing else can listen.
pub fn refusing_port(ip: &str) -> (OwnedFd, u16) {
    let family = if ip.contains(':') { AddressFamily::Inet6 } else { AddressFamily::Inet };
    let fd = socket(family, SockType::Stream, SockFlag::SOCK_CLOEXEC, None).unwrap();
    let any: SocketAddr = SocketAddr::new(ip.parse().unwrap(), 0);
    bind(fd.as_raw_fd(), &SockaddrStorage::from(any)).unwrap();
    let local: SockaddrStorage = nix::sys::socket::getsockname(fd.as_raw_fd()).unwrap();
    let port = local.as_sockaddr_in().map(|a| a.port()).or_else(|| local.as_sockaddr_in6().map(|a| a.port()));
    (fd, port.unwrap())
}

/// A TCP connection to `to` from the local address `from` (loopback
/// addresses other than 127.0.0.1 stand for other hosts).
pub fn connect_from(from: &str, to: SocketAddr) -> TcpStream {
    let fd = socket(AddressFamily::Inet, SockType::Stream, SockFlag::SOCK_CLOEXEC, None).unwrap();
    let src: SocketAddr = format!("{from}:0").parse().unwrap();
    bind(fd.as_raw_fd(), &SockaddrStorage::from(src)).unwrap();
    connect(fd.as_raw_fd(), &SockaddrStorage::from(to)).unwrap_or_else(|e| panic!("connect {from} -> {to}: {e}"));
    let s = TcpStream::from(fd);
    s.set_read_timeout(Some(super::ftp::REPLY_WAIT)).unwrap();
    s
}

/// A connection to `addr`, tried again while it is refused, for up to
/// [`READY`](super::READY): the port is one that another program
/// (systemd-socket-activate) binds once it has started.
pub fn connect_when_bound(addr: SocketAddr) -> TcpStream {
    let mut last = None;
    super::wait_until(super::READY, || {
        last = Some(TcpStream::connect(addr));
        last.as_ref().is_some_and(Result::is_ok)
    });
    let last = last.expect("wait_until tries at least once");
    last.unwrap_or_else(|e| panic!("connect {addr}: {e} (still, after {:?})", super::READY))
}
