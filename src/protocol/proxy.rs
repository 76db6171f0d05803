//! The PROXY protocol (HAProxy's `doc/proxy-protocol.txt`): what a proxy
//! sends first on a connection it relays, naming the client's address, so
//! the server behind it can log, limit and check the real client. A relaying
//! `ftpmaster` sends version 1; HAProxy (`send-proxy-v2`), AWS's Network Load
//! Balancer and Kubernetes ingress controllers send version 2.
//!
//! Version 1 (section 2.1, "Human-readable header format") is one line:
//!
//! ```text
//! PROXY TCP4 192.0.2.7 198.51.100.1 51234 2121\r\n
//! PROXY TCP6 2001:db8::7 2001:db8::1 51234 2121\r\n
//! PROXY UNKNOWN\r\n
//! ```
//!
//! Version 2 (section 2.2, "Binary header format") is a 12-byte signature,
//! a version and command byte, a family and protocol byte, a 16-bit length,
//! then that many bytes: the addresses, then optional TLVs (skipped here).
//!
//! Pure and bounded: [`parse`] (either version), [`parse_v1`] and
//! [`parse_v2`] look at no more than [`V1_MAX_LEN`] or
//! [`PROXY_V2_MAX_LEN`] bytes and never at what follows the header;
//! [`wanted`] tells a reader how many bytes it may take from the socket
//! without reading past the header into the client's own bytes.
//! [`encode_v1`] builds the line the master sends, [`encode_v2`] the binary
//! header (for tests and tools). Whether a header may be believed at all is
//! the caller's business (a slave believes only its master, a pool only the
//! balancers of `--proxy-protocol-from`).
//!
//! This file holds what both versions share; `v1` and `v2` each version's
//! parser and encoder.
//!
//! [`PROXY_V2_MAX_LEN`]: crate::limits::PROXY_V2_MAX_LEN

mod v1;
mod v2;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

pub use v1::{encode_v1, parse_v1, V1_MAX_LEN, V1_MIN_LEN, V1_SIGNATURE};
use v2::v2_length;
pub use v2::{encode_v2, parse_v2, V2_FIXED_LEN, V2_SIGNATURE};

/// What a header says about the relayed connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyHeader {
    /// `TCP4`/`TCP6`: the client (`source`) and the address it connected to
    /// (`destination`).
    Tcp {
        /// The client's address and port.
        source: SocketAddr,
        /// The proxy's address and port the client connected to.
        destination: SocketAddr,
    },
    /// The receiver uses the real endpoints of the connection: v1's
    /// `UNKNOWN` (the proxy could not tell, section 2.1); v2's `LOCAL`
    /// command (the proxy's own connection, such as a health check) and its
    /// families without an IP address and port (`UNSPEC`, `UNIX`) or not
    /// TCP (UDP), which section 2.2 lets a receiver treat as `UNSPEC`.
    Unknown,
}

/// Why a header was refused. Each refusal ends the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyError {
    /// The bytes start with neither signature (not a header at all).
    NotProxy,
    /// Longer than the limit it carries: no CRLF within [`V1_MAX_LEN`]
    /// bytes (section 2.1: the line is invalid), or a v2 length beyond
    /// [`PROXY_V2_MAX_LEN`].
    ///
    /// [`PROXY_V2_MAX_LEN`]: crate::limits::PROXY_V2_MAX_LEN
    TooLong(usize),
    /// The line is not a valid header; the text names the faulty part.
    Malformed(&'static str),
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyError::NotProxy => f.write_str("not a PROXY header"),
            ProxyError::TooLong(max) => write!(f, "PROXY header longer than {max} bytes"),
            ProxyError::Malformed(what) => write!(f, "malformed PROXY header: {what}"),
        }
    }
}

impl std::error::Error for ProxyError {}

/// The result of looking at the first bytes of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A correct beginning, but not a whole header yet: read more (see
    /// [`wanted`]).
    Incomplete,
    /// A complete header, `len` bytes long with its CRLF; the connection's
    /// own data starts after them.
    Header(ProxyHeader, usize),
}

/// Two addresses of one family, as both versions carry them.
enum Pair {
    V4(Ipv4Addr, Ipv4Addr),
    V6(Ipv6Addr, Ipv6Addr),
}

/// IPv4 when both are IPv4 (or IPv4-mapped IPv6), else both IPv6 (an IPv4
/// one mapped).
fn one_family(a: IpAddr, b: IpAddr) -> Pair {
    let v4 = |ip: IpAddr| match ip {
        IpAddr::V4(v4) => Some(v4),
        IpAddr::V6(v6) => v6.to_ipv4_mapped(),
    };
    let v6 = |ip: IpAddr| match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    };
    match (v4(a), v4(b)) {
        (Some(a), Some(b)) => Pair::V4(a, b),
        _ => Pair::V6(v6(a), v6(b)),
    }
}

/// Parses a header of either version at the start of `buf`: version 2 when
/// it starts with CR (its signature's first byte), else version 1 (section
/// 2.2, "a receiver may be configured to support both").
pub fn parse(buf: &[u8]) -> Result<Parsed, ProxyError> {
    match buf.first() {
        None => Ok(Parsed::Incomplete),
        Some(b'\r') => parse_v2(buf),
        Some(_) => parse_v1(buf),
    }
}

/// How many bytes a reader may take from the connection, after the `buf`
/// it holds, without reading past the end of any header that `buf` could
/// start: the rest of a v2 header's fixed part or of its announced length,
/// the shortest v1 header, then one byte at a time for v1, whose end is
/// only known at its LF. At least 1 while [`parse`] says
/// [`Parsed::Incomplete`]; the client's own bytes (a TLS ClientHello sent
/// at once) stay in the socket.
pub fn wanted(buf: &[u8]) -> usize {
    match buf.first() {
        None => V1_MIN_LEN,
        Some(b'\r') if buf.len() < V2_FIXED_LEN => V2_FIXED_LEN - buf.len(),
        Some(b'\r') => (V2_FIXED_LEN + v2_length(buf)).saturating_sub(buf.len()).max(1),
        Some(_) => V1_MIN_LEN.saturating_sub(buf.len()).max(1),
    }
}

/// True when a connection's first control line `line` (its line end
/// removed) and the bytes received after it, `rest`, are the start of a
/// PROXY header of either version: how a session recognises one from a
/// peer it does not trust. A v2 header's signature starts with CRLF, so its
/// first line is empty and the rest of the signature follows.
pub fn looks_like_header(line: &[u8], rest: &[u8]) -> bool {
    line.starts_with(V1_SIGNATURE) || (line.is_empty() && rest.starts_with(&V2_SIGNATURE[2..]))
}

#[cfg(test)]
mod tests;
