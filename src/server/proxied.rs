//! Clients that reach the pool through a proxy which names them in a PROXY
//! header (`protocol::proxy`, version 1 or 2) sent before anything else:
//! a load balancer in front of the pool (HAProxy's `send-proxy-v2`, AWS's
//! Network Load Balancer, a Kubernetes ingress; `--proxy-protocol-from`),
//! or an `ftpmaster` relaying to a slave on another host.
//!
//! Security: a header is believed only from the addresses the admin names
//! ([`Network`]); from them it is required, read within a deadline and
//! before the greeting, and not one byte past its end (the client's own
//! bytes, a TLS ClientHello for implicit FTPS, follow it). The address it
//! names is then the client's for everything: logs, per-address limits,
//! the scoreboard, and the PORT/EPRT and passive-connection checks.

use std::fmt;
use std::io::{self, Read};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::str::FromStr;
use std::time::{Duration, Instant};

use super::intake::{Arrival, Via};
use crate::limits::{PROXY_HEADER_TIMEOUT, SIGNAL_CHECK};
use crate::protocol::address::canonical;
use crate::protocol::proxy::{self, Parsed, ProxyHeader, V1_MAX_LEN};

/// An address or a network, `ADDR[/PREFIX]` (`10.0.0.5`, `10.0.0.0/8`,
/// `2001:db8::/32`): who may send a PROXY header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    /// True when `ip` is inside (an IPv4-mapped IPv6 address counts as
    /// its IPv4 address, as a dual-stack socket reports IPv4 peers).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        ip.is_ipv4() == self.addr.is_ipv4() && first_address(ip, self.prefix) == self.addr
    }
}

/// The first address of the network of `addr` with `prefix` bits: its
/// host bits cleared.
fn first_address(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => IpAddr::V4((u32::from(a) & u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)).into()),
        IpAddr::V6(a) => {
            IpAddr::V6((u128::from(a) & u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)).into())
        }
    }
}

impl FromStr for Network {
    type Err = String;

    /// `ADDR` (a single address) or `ADDR/PREFIX`. Strict: an address with
    /// bits set beyond its prefix is refused rather than guessed at.
    fn from_str(s: &str) -> Result<Network, String> {
        let (a, p) = s.split_once('/').map_or((s, None), |(a, p)| (a, Some(p)));
        let a = a.strip_prefix('[').and_then(|a| a.strip_suffix(']')).unwrap_or(a);
        let addr: IpAddr = a.parse().map_err(|_| format!("{s}: not an IP address (ADDR or ADDR/PREFIX)"))?;
        let max: u8 = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= max && (p == "0" || !p.starts_with('0')) => n,
                _ => return Err(format!("{s}: the prefix must be a number from 0 to {max}")),
            },
        };
        // An IPv4-mapped network is its IPv4 network (what peers compare to).
        let (addr, prefix) = match addr {
            IpAddr::V6(v6) if prefix >= 96 && v6.to_ipv4_mapped().is_some() => (canonical(addr), prefix - 96),
            _ => (addr, prefix),
        };
        let first = first_address(addr, prefix);
        if first != addr {
            return Err(format!("{s}: address bits set beyond the prefix (the network is {first}/{prefix})"));
        }
        Ok(Network { addr, prefix })
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// A client that connected straight to the pool, as it really is. From an
/// address of `trusted` (`--proxy-protocol-from`), the connection is a load
/// balancer's: its PROXY header is read (within [`PROXY_HEADER_TIMEOUT`])
/// and names the client, which arrives [`Via::Proxied`] (or
/// [`Via::ProxyCheck`] when it names none). `None` when that
/// header is missing or bad: the connection is closed, and logged.
/// Anyone else arrives as it came.
pub fn through_balancer(arrival: Arrival, trusted: &[Network]) -> Option<Arrival> {
    let Arrival { stream, peer, via } = arrival;
    if via != Via::Direct || !trusted.iter().any(|n| n.contains(peer.ip())) {
        return Some(Arrival { stream, peer, via });
    }
    let pid = std::process::id();
    match read_header(&stream, PROXY_HEADER_TIMEOUT) {
        // The balancer's own connection (HAProxy's health checks with
        // `send-proxy` name their own endpoints): no client.
        Ok(ProxyHeader::Tcp { source, .. }) if source == SocketAddr::new(canonical(peer.ip()), peer.port()) => {
            Some(Arrival { stream, peer, via: Via::ProxyCheck })
        }
        Ok(ProxyHeader::Tcp { source, .. }) => Some(Arrival { stream, peer: source, via: Via::Proxied }),
        // Section 2.1 (UNKNOWN) and 2.2 (LOCAL: the balancer's own health
        // check): the connection's own endpoints count.
        Ok(ProxyHeader::Unknown) => Some(Arrival { stream, peer, via: Via::ProxyCheck }),
        // A balancer's plain TCP health check: connect, close.
        Err(NoHeader::Closed) => {
            log::debug!("[{pid}] {peer}: closed by the trusted proxy before a byte (a health check)");
            None
        }
        Err(e) => {
            log::warn!("[{pid}] {peer}: connection from a trusted proxy refused: {e}");
            None
        }
    }
}

/// Why no PROXY header was read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoHeader {
    /// The peer closed (or reset) the connection before sending a byte.
    Closed,
    /// What it sent was no header, or came too slowly; the text says why.
    Refused(String),
}

impl fmt::Display for NoHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoHeader::Closed => f.write_str("closed before the PROXY header"),
            NoHeader::Refused(why) => f.write_str(why),
        }
    }
}

/// Reads a PROXY header of either version within `timeout`, and not a byte
/// past its end. The client's address comes back in its canonical form
/// (an IPv4-mapped IPv6 address as IPv4).
pub fn read_header(stream: &TcpStream, timeout: Duration) -> Result<ProxyHeader, NoHeader> {
    let deadline = Instant::now() + timeout;
    let mut buf = Vec::with_capacity(V1_MAX_LEN);
    let late = || NoHeader::Refused("no PROXY header in time".into());
    let result = loop {
        match proxy::parse(&buf) {
            Ok(Parsed::Incomplete) => {}
            Ok(Parsed::Header(h, _)) => break Ok(h),
            Err(e) => break Err(NoHeader::Refused(e.to_string())),
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break Err(late());
        }
        if crate::sys::stop_now() {
            break Err(NoHeader::Refused("server stopping".into()));
        }
        // Slices of SIGNAL_CHECK: a stop is seen even if its signal raced
        // the read.
        if let Err(e) = stream.set_read_timeout(Some(left.min(SIGNAL_CHECK))) {
            break Err(NoHeader::Refused(e.to_string()));
        }
        // Bounded: `parse` refuses a header beyond its version's limit
        // before `wanted` asks for its bytes.
        let start = buf.len();
        buf.resize(start + proxy::wanted(&buf), 0);
        match (&*stream).read(&mut buf[start..]) {
            Ok(0) if start == 0 => break Err(NoHeader::Closed),
            Ok(0) => break Err(NoHeader::Refused("closed in the middle of the PROXY header".into())),
            Ok(n) => buf.truncate(start + n),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset && start == 0 => break Err(NoHeader::Closed),
            Err(e) if e.kind() == io::ErrorKind::Interrupted && !crate::sys::retiring() => buf.truncate(start),
            // The end of a slice: the deadline is looked at above.
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => buf.truncate(start),
            Err(e) => break Err(NoHeader::Refused(e.to_string())),
        }
    };
    let _ = stream.set_read_timeout(None);
    result.map(|h| match h {
        ProxyHeader::Tcp { source, destination } => {
            ProxyHeader::Tcp { source: SocketAddr::new(canonical(source.ip()), source.port()), destination }
        }
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::net::TcpListener;

    use super::*;
    use crate::protocol::proxy::encode_v2;

    fn net(s: &str) -> Network {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks_are_parsed_strictly() {
        assert_eq!(net("10.0.0.0/8").to_string(), "10.0.0.0/8");
        assert_eq!(net("192.0.2.7").to_string(), "192.0.2.7/32");
        assert_eq!(net("[2001:db8::]/32").to_string(), "2001:db8::/32");
        assert_eq!(net("::ffff:10.0.0.0/104").to_string(), "10.0.0.0/8");
        assert_eq!(net("0.0.0.0/0").to_string(), "0.0.0.0/0");
        for bad in ["10.0.0.1/8", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/08", "host/8", "", "10.0.0.0/-1"] {
            assert!(bad.parse::<Network>().is_err(), "{bad} accepted");
        }
        assert!("10.0.0.1/8".parse::<Network>().unwrap_err().contains("10.0.0.0/8"));
    }

    #[test]
    fn membership_by_prefix_and_family() {
        assert!(net("10.0.0.0/8").contains(ip("10.255.1.2")));
        assert!(!net("10.0.0.0/8").contains(ip("11.0.0.1")));
        assert!(net("127.0.0.4").contains(ip("::ffff:127.0.0.4")));
        assert!(!net("127.0.0.4").contains(ip("127.0.0.5")));
        assert!(net("0.0.0.0/0").contains(ip("203.0.113.9")));
        assert!(!net("0.0.0.0/0").contains(ip("::1")));
        assert!(net("2001:db8::/32").contains(ip("2001:db8:ffff::1")));
        assert!(!net("2001:db8::/32").contains(ip("2001:db9::1")));
        assert!(net("::/0").contains(ip("::1")));
    }

    fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        (c, l.accept().unwrap().0)
    }

    #[test]
    fn either_version_is_read_and_the_next_bytes_are_left() {
        let v1 = b"PROXY TCP4 192.0.2.9 127.0.0.1 40000 2121\r\n".to_vec();
        let v2 = encode_v2("[::ffff:192.0.2.9]:40000".parse().unwrap(), "127.0.0.1:2121".parse().unwrap());
        for header in [v1, v2] {
            let (mut c, s) = pair();
            c.write_all(&[header.as_slice(), b"\x16\x03\x01 hello"].concat()).unwrap();
            let h = read_header(&s, Duration::from_secs(5)).unwrap();
            assert_eq!(
                h,
                ProxyHeader::Tcp {
                    source: "192.0.2.9:40000".parse().unwrap(),
                    destination: "127.0.0.1:2121".parse().unwrap()
                }
            );
            let mut rest = [0u8; 9];
            (&s).read_exact(&mut rest).unwrap();
            assert_eq!(&rest, b"\x16\x03\x01 hello");
        }
    }

    #[test]
    fn garbage_silence_slowness_and_floods_are_refused() {
        let (mut c, s) = pair();
        c.write_all(b"USER anonymous\r\n").unwrap();
        assert!(read_header(&s, Duration::from_secs(5)).is_err());
        // Silence, and a header that starts but never ends, stop at the deadline.
        for start in [&b""[..], b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c\x01"] {
            let (mut c, s) = pair();
            c.write_all(start).unwrap();
            let t = Instant::now();
            let e = read_header(&s, Duration::from_millis(200)).unwrap_err();
            assert_eq!(e.to_string(), "no PROXY header in time");
            assert!(t.elapsed() < Duration::from_secs(3));
        }
        let (mut c, s) = pair();
        c.write_all(&[b"PROXY UNKNOWN ".as_slice(), &[b'x'; 500]].concat()).unwrap();
        assert!(read_header(&s, Duration::from_secs(5)).unwrap_err().to_string().contains("longer than 107"));
        let (mut c, s) = pair();
        c.write_all(b"\r\n\r\n\0\r\nQUIT\n\x21\x11\xff\xff").unwrap();
        assert!(read_header(&s, Duration::from_secs(5)).unwrap_err().to_string().contains("longer than 2048"));
        // A health check: connect, close.
        let (c, s) = pair();
        drop(c);
        assert_eq!(read_header(&s, Duration::from_secs(5)), Err(NoHeader::Closed));
    }
}
