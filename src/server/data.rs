//! The data channel: passive listeners (PASV, EPSV), active connections
//! (PORT, EPRT), and the checks that keep them from being abused.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use crate::protocol::command::canonical;

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

/// Opens a passive listener on `ip`, on any port or within `range`
/// (starting at a random port of the range so that workers spread out).
pub fn listen_passive(ip: IpAddr, range: Option<(u16, u16)>) -> io::Result<TcpListener> {
    let Some((lo, hi)) = range else {
        return TcpListener::bind(SocketAddr::new(ip, 0));
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

    /// Establishes the data connection within `timeout`.
    ///
    /// Passive: a connection from an address other than `client` is refused
    /// and logged, and the listener keeps waiting for the real client
    /// (security: no stealing of another client's data connection).
    pub fn connect(self, client: IpAddr, timeout: Duration) -> io::Result<TcpStream> {
        let deadline = Instant::now() + timeout;
        match self {
            DataSetup::None => Err(io::Error::new(io::ErrorKind::NotConnected, "Use PORT or PASV first.")),
            DataSetup::Active(addr) => TcpStream::connect_timeout(&addr, timeout),
            DataSetup::Passive(listener) => loop {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() || !super::control::wait_readable(listener.as_fd(), left)? {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "data connection timed out"));
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
                return Ok(stream);
            },
        }
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
    fn passive_ports_stay_in_range() {
        let l = listen_passive("127.0.0.1".parse().unwrap(), Some((40100, 40110))).unwrap();
        let p = l.local_addr().unwrap().port();
        assert!((40100..=40110).contains(&p));
    }
}
