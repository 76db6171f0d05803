//! The data channel: passive listeners (PASV, EPSV), active connections
//! (PORT, EPRT), the checks that keep them from being abused, and
//! [`DataConn`], the established connection that transfers move bytes
//! through.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use nix::poll::PollFlags;
use rustls::server::UnbufferedServerConnection;

use super::wait::{self, Waited, Watch};
use crate::limits::{DEFAULT_EPHEMERAL_PORTS, PASSIVE_BIND_ATTEMPTS};
use crate::net::records::RecordStream;
use crate::net::Stream;
use crate::protocol::address::canonical;

/// How the next data connection is made.
#[derive(Debug, Default)]
pub enum DataSetup {
    /// Neither PASV nor PORT yet.
    #[default]
    None,
    /// We listen; the client connects (PASV, EPSV).
    Passive(TcpListener),
    /// We connect to the client (PORT, EPRT).
    Active(SocketAddr),
}

fn seed() -> usize {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    t as usize ^ (std::process::id() as usize).wrapping_mul(2_654_435_761)
}

/// A new pseudo-random number for each call (passive ports).
fn next_random() -> u64 {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let mut x = STATE.load(Ordering::Relaxed);
    if x == 0 {
        x = seed() as u64 | 1;
    }
    // splitmix64
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    STATE.store(x, Ordering::Relaxed);
    let z = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Parses `/proc/sys/net/ipv4/ip_local_port_range` (`32768\t60999`).
fn parse_port_range(text: &str) -> Option<(u16, u16)> {
    let mut it = text.split_whitespace().map(str::parse::<u16>);
    let (lo, hi) = (it.next()?.ok()?, it.next()?.ok()?);
    (lo > 0 && lo <= hi).then_some((lo, hi))
}

/// Parses `/proc/sys/net/ipv4/ip_local_reserved_ports` (`8080,9000-9010`).
fn parse_port_list(text: &str) -> Vec<(u16, u16)> {
    text.trim()
        .split(',')
        .filter_map(|r| match r.split_once('-') {
            Some((a, b)) => Some((a.trim().parse().ok()?, b.trim().parse().ok()?)),
            None => r.trim().parse().ok().map(|p| (p, p)),
        })
        .collect()
}

/// An inclusive range of ports.
type PortRange = (u16, u16);

/// The kernel's ephemeral port range, less its reserved ports (read once).
fn ephemeral_ports() -> &'static (PortRange, Vec<PortRange>) {
    static PORTS: OnceLock<(PortRange, Vec<PortRange>)> = OnceLock::new();
    PORTS.get_or_init(|| {
        let read = |f: &str| std::fs::read_to_string(format!("/proc/sys/net/ipv4/{f}")).unwrap_or_default();
        let range = parse_port_range(&read("ip_local_port_range")).unwrap_or(DEFAULT_EPHEMERAL_PORTS);
        (range, parse_port_list(&read("ip_local_reserved_ports")))
    })
}

/// A passive listener on any free port: a few random ports of the
/// ephemeral range first, bound by number (as vsftpd does), then the
/// kernel's choice. When port 0 is bound, the kernel skips every port a
/// connection in TIME_WAIT still holds, and after a few thousand transfers
/// (a client fetching many small files: each data connection ends in
/// TIME_WAIT on our side for a minute) each PASV scans most of the range:
/// 1.8 ms per bind measured here with 12,000 connections in TIME_WAIT,
/// 26 µs for a bind by number, which SO_REUSEADDR (set by std) allows on
/// such a port. A port with a listener is never shared.
fn listen_any(ip: IpAddr) -> io::Result<TcpListener> {
    let ((lo, hi), reserved) = ephemeral_ports();
    let span = u64::from(hi - lo) + 1;
    for _ in 0..PASSIVE_BIND_ATTEMPTS {
        let port = lo + (next_random() % span) as u16;
        if reserved.iter().any(|&(a, b)| (a..=b).contains(&port)) {
            continue;
        }
        if let Ok(l) = TcpListener::bind(SocketAddr::new(ip, port)) {
            return Ok(l);
        }
    }
    TcpListener::bind(SocketAddr::new(ip, 0))
}

/// Opens a passive listener on `ip`, on any port or within `range`
/// (starting at a random port of the range so that workers spread out).
pub fn listen_passive(ip: IpAddr, range: Option<(u16, u16)>) -> io::Result<TcpListener> {
    let Some((lo, hi)) = range else {
        return listen_any(ip);
    };
    let span = usize::from(hi - lo) + 1;
    let start = seed() % span;
    let mut last = io::Error::new(io::ErrorKind::AddrInUse, "no free passive port");
    for i in 0..span {
        let port = lo + ((start + i) % span) as u16;
        match TcpListener::bind(SocketAddr::new(ip, port)) {
            Ok(l) => return Ok(l),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Security (FTP bounce, RFC 2577): PORT/EPRT may only name the client's own
/// address, and not a privileged port.
pub fn active_target_allowed(target: SocketAddr, client: IpAddr, min_port: u16) -> bool {
    canonical(target.ip()) == canonical(client) && target.port() >= min_port
}

impl DataSetup {
    /// True when PASV/EPSV/PORT/EPRT was given.
    pub fn is_set(&self) -> bool {
        !matches!(self, DataSetup::None)
    }

    /// The passive listener, to be watched beside the control connection
    /// while the client has not connected yet.
    pub fn passive_listener(&self) -> Option<&TcpListener> {
        match self {
            DataSetup::Passive(l) => Some(l),
            _ => None,
        }
    }

    /// Establishes the data connection within `timeout` (a fast stop ends
    /// the wait with `Interrupted`).
    ///
    /// Passive: a connection from an address other than `client` is refused
    /// and logged, and the listener keeps waiting for the real client
    /// (security: no stealing of another client's data connection).
    pub fn connect(self, client: IpAddr, timeout: Duration) -> io::Result<DataConn> {
        let deadline = Instant::now() + timeout;
        match self {
            DataSetup::None => Err(io::Error::new(io::ErrorKind::NotConnected, "Use PORT or PASV first.")),
            DataSetup::Active(addr) => wait::connect(addr, deadline).map(DataConn::new),
            DataSetup::Passive(listener) => loop {
                match wait::ready(listener.as_fd(), PollFlags::POLLIN, deadline, Watch::Stop)? {
                    Waited::Ready => {}
                    Waited::Deadline => {
                        return Err(io::Error::new(io::ErrorKind::TimedOut, "data connection timed out"))
                    }
                    Waited::Stopped => return Err(io::Error::new(io::ErrorKind::Interrupted, "server stopping")),
                }
                let (stream, from) = match listener.accept() {
                    Ok(a) => a,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => return Err(e),
                    Err(e) => {
                        log::warn!("passive accept failed: {e}");
                        continue;
                    }
                };
                if canonical(from.ip()) != canonical(client) {
                    log::warn!("refused data connection from {from}: the client is {client}");
                    drop(stream);
                    continue;
                }
                return Ok(DataConn::new(stream));
            },
        }
    }
}

/// An established data connection: the one type through which transfers
/// read and write (RFC 959 section 3.2). Its bytes go through a
/// [`Stream`], plain or, with FTPS's `PROT P` (RFC 4217), encrypted once
/// the transfer starts it ([`DataConn::start_tls`]); the transfer code
/// stays as it is, except that zero-copy moves need [`DataConn::plain`]
/// and the encrypted fast paths [`DataConn::records`].
#[derive(Debug)]
pub struct DataConn {
    stream: Stream,
}

impl DataConn {
    /// A data connection over a connected socket.
    pub fn new(stream: TcpStream) -> DataConn {
        DataConn { stream: Stream::from(stream) }
    }

    /// The socket while the bytes on it are the file's own (no TLS): for
    /// `sendfile(2)` and `splice(2)`. `None` means "copy through a buffer".
    pub fn plain(&self) -> Option<&TcpStream> {
        self.stream.plain()
    }

    /// Blocking or not.
    pub fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        self.stream.set_nonblocking(on)
    }

    /// PROT P: the TLS handshake (we are the TLS server, RFC 4217 section
    /// 9), by `deadline`; then the records are sealed and opened by
    /// `net::records`.
    /// A fast stop ends the handshake.
    pub fn start_tls(&mut self, conn: UnbufferedServerConnection, deadline: Instant) -> io::Result<()> {
        self.stream.start_records(conn, deadline, &crate::sys::stop_now)
    }

    /// True when the connection is encrypted.
    pub fn is_tls(&self) -> bool {
        self.stream.is_encrypted()
    }

    /// The record layer of an encrypted connection, for the transfers that
    /// read files into records and records into files.
    pub fn records(&mut self) -> Option<&mut RecordStream> {
        self.stream.records_mut()
    }

    /// True when its TLS handshake resumed an earlier session.
    pub fn tls_resumed(&self) -> bool {
        self.stream.records().is_some_and(|r| r.resumed())
    }

    /// Its TLS version and cipher suite.
    pub fn tls_describe(&self) -> String {
        self.stream.records().map_or_else(String::new, |r| r.describe())
    }

    /// TLS's goodbye, as far as the socket takes it (`WouldBlock`: flush
    /// again when writable).
    pub fn close_notify(&mut self) -> io::Result<()> {
        self.stream.close_notify()
    }

    /// Ends the transfer: the client sees the end of the data (an
    /// encrypted stream said goodbye first, [`DataConn::close_notify`]).
    pub fn close(self) {
        drop(self.stream);
    }
}

impl Read for DataConn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.read(buf)
    }
}

impl Write for DataConn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

impl AsFd for DataConn {
    /// The socket, for `poll`.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.stream.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounce_targets_are_refused() {
        let me: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(active_target_allowed("127.0.0.1:40000".parse().unwrap(), me, 1024));
        assert!(!active_target_allowed("127.0.0.2:40000".parse().unwrap(), me, 1024));
        assert!(!active_target_allowed("127.0.0.1:25".parse().unwrap(), me, 1024));
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        assert!(active_target_allowed("127.0.0.1:40000".parse().unwrap(), mapped, 1024));
    }

    #[test]
    fn port_settings_of_the_kernel_are_read() {
        assert_eq!(parse_port_range("32768\t60999\n"), Some((32768, 60999)));
        assert_eq!(parse_port_range("x"), None);
        assert_eq!(parse_port_list("8080,9000-9010\n"), vec![(8080, 8080), (9000, 9010)]);
        assert!(parse_port_list("\n").is_empty());
    }

    #[test]
    fn any_passive_port_is_a_fresh_listener() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let a = listen_passive(ip, None).unwrap();
        let b = listen_passive(ip, None).unwrap();
        assert_ne!(a.local_addr().unwrap().port(), b.local_addr().unwrap().port());
    }

    #[test]
    fn passive_ports_stay_in_range() {
        // Eleven ports below the ephemeral range (which the kernel hands out
        // to any connection), at a place of their own for each run.
        let ((low, _), _) = ephemeral_ports();
        let room = usize::from(low.saturating_sub(10_011)).max(1);
        let lo = 10_000 + (seed() % room) as u16;
        let l = listen_passive("127.0.0.1".parse().unwrap(), Some((lo, lo + 10))).unwrap();
        let p = l.local_addr().unwrap().port();
        assert!((lo..=lo + 10).contains(&p), "{p} not in {lo}..={}", lo + 10);
    }
}
