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

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::limits::PROXY_V2_MAX_LEN;

/// Longest v1 header, CRLF included (section 2.1: "a receiver ... knows it
/// can stop reading after 107 characters"; that is
/// `PROXY UNKNOWN ffff:...:ffff ffff:...:ffff 65535 65535\r\n`).
pub const V1_MAX_LEN: usize = 107;

/// The signature every v1 header starts with (section 2.1: the string
/// "PROXY" and exactly one space).
pub const V1_SIGNATURE: &[u8] = b"PROXY ";

/// Shortest v1 header, `PROXY UNKNOWN\r\n`, and so the shortest header of
/// either version (a v2 header has at least [`V2_FIXED_LEN`] bytes).
pub const V1_MIN_LEN: usize = 15;

/// The signature every v2 header starts with (section 2.2). Its NUL and
/// `QUIT` make a server that does not expect it drop the connection.
pub const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";

/// The fixed part of a v2 header (section 2.2): signature, version and
/// command, family and protocol, and the length of what follows.
pub const V2_FIXED_LEN: usize = 16;

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

/// Parses a v1 header at the start of `buf` (section 2.1).
///
/// Strict, as the specification asks: single spaces, `TCP4` with two IPv4
/// addresses, `TCP6` with two IPv6 addresses, decimal ports without leading
/// zeroes, CRLF at the end; for `UNKNOWN`, anything up to the CRLF is
/// ignored. Bytes after the header are not looked at.
pub fn parse_v1(buf: &[u8]) -> Result<Parsed, ProxyError> {
    let head = &buf[..buf.len().min(V1_MAX_LEN)];
    // Section 2.1: a receiver may reject at once what cannot be a header.
    let n = head.len().min(V1_SIGNATURE.len());
    if head[..n] != V1_SIGNATURE[..n] {
        return Err(ProxyError::NotProxy);
    }
    let Some(lf) = head.iter().position(|&b| b == b'\n') else {
        return if head.len() >= V1_MAX_LEN { Err(ProxyError::TooLong(V1_MAX_LEN)) } else { Ok(Parsed::Incomplete) };
    };
    // Section 2.1: the line ends with CRLF, nothing else.
    if lf == 0 || head[lf - 1] != b'\r' {
        return Err(ProxyError::Malformed("the line must end with CRLF"));
    }
    let line = std::str::from_utf8(&head[..lf - 1]).map_err(|_| ProxyError::Malformed("not ASCII"))?;
    if !line.is_ascii() {
        return Err(ProxyError::Malformed("not ASCII"));
    }
    let mut fields = line.split(' ');
    fields.next(); // "PROXY", checked above.
    let header = match fields.next() {
        // Section 2.1: with UNKNOWN, the rest of the line is ignored.
        Some("UNKNOWN") => ProxyHeader::Unknown,
        Some(proto @ ("TCP4" | "TCP6")) => {
            let rest: Vec<&str> = fields.collect();
            let [src, dst, sport, dport] = rest[..] else {
                return Err(ProxyError::Malformed("TCP4/TCP6 take two addresses and two ports"));
            };
            let (src, dst) = if proto == "TCP4" {
                (IpAddr::V4(ipv4(src)?), IpAddr::V4(ipv4(dst)?))
            } else {
                (IpAddr::V6(ipv6(src)?), IpAddr::V6(ipv6(dst)?))
            };
            ProxyHeader::Tcp {
                source: SocketAddr::new(src, port(sport)?),
                destination: SocketAddr::new(dst, port(dport)?),
            }
        }
        _ => return Err(ProxyError::Malformed("the protocol must be TCP4, TCP6 or UNKNOWN")),
    };
    Ok(Parsed::Header(header, lf + 1))
}

/// Section 2.1: four decimal numbers 0-255, no leading zeroes (the standard
/// library's parser refuses them too, so `010.0.0.1` is never octal).
fn ipv4(s: &str) -> Result<Ipv4Addr, ProxyError> {
    s.parse().map_err(|_| ProxyError::Malformed("bad IPv4 address"))
}

fn ipv6(s: &str) -> Result<Ipv6Addr, ProxyError> {
    s.parse().map_err(|_| ProxyError::Malformed("bad IPv6 address"))
}

/// Section 2.1: a decimal port 0-65535, without leading zeroes.
fn port(s: &str) -> Result<u16, ProxyError> {
    let bad = ProxyError::Malformed("bad port");
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0')) {
        return Err(bad);
    }
    s.parse().map_err(|_| bad)
}

/// The header a proxy sends for a client at `source` that connected to
/// `destination` (section 2.1). Both addresses of a header share a family:
/// IPv4-mapped IPv6 addresses are written as IPv4 when both are IPv4, and an
/// IPv4 address beside an IPv6 one is written in its mapped IPv6 form.
pub fn encode_v1(source: SocketAddr, destination: SocketAddr) -> String {
    let (s, d) = (source.port(), destination.port());
    match one_family(source.ip(), destination.ip()) {
        Pair::V4(sa, da) => format!("PROXY TCP4 {sa} {da} {s} {d}\r\n"),
        Pair::V6(sa, da) => format!("PROXY TCP6 {sa} {da} {s} {d}\r\n"),
    }
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

/// The length field of a v2 header whose fixed part `buf` holds.
fn v2_length(buf: &[u8]) -> usize {
    usize::from(u16::from_be_bytes([buf[14], buf[15]]))
}

/// The v2 commands (section 2.2, the 13th byte's low four bits).
const V2_LOCAL: u8 = 0x0;
const V2_PROXY: u8 = 0x1;
/// TCP over IPv4 and over IPv6 (section 2.2, the 14th byte), and the
/// length of their address blocks: two addresses, then two ports.
const V2_TCP4: u8 = 0x11;
const V2_TCP6: u8 = 0x21;
const V2_TCP4_LEN: usize = 2 * 4 + 2 * 2;
const V2_TCP6_LEN: usize = 2 * 16 + 2 * 2;

/// Parses a v2 header at the start of `buf` (section 2.2).
///
/// Strict where the specification says "must": version 2 only, commands
/// `LOCAL` and `PROXY` only, address families 0-3 and protocols 0-2 only,
/// an address block as long as its family needs. `LOCAL` (a health check)
/// and the valid families other than TCP give [`ProxyHeader::Unknown`],
/// the real endpoints. TLVs after the addresses are skipped, as the
/// specification allows. A length beyond [`PROXY_V2_MAX_LEN`] is refused
/// before its bytes are awaited. Bytes after the header are not looked at.
pub fn parse_v2(buf: &[u8]) -> Result<Parsed, ProxyError> {
    let n = buf.len().min(V2_SIGNATURE.len());
    if buf[..n] != V2_SIGNATURE[..n] {
        return Err(ProxyError::NotProxy);
    }
    if buf.len() < V2_FIXED_LEN {
        return Ok(Parsed::Incomplete);
    }
    // Section 2.2: "the receiver must only accept" version 2, and "must drop
    // connections presenting unexpected values" as the command.
    let (version, command) = (buf[12] >> 4, buf[12] & 0x0f);
    if version != 2 {
        return Err(ProxyError::Malformed("version must be 2"));
    }
    if command != V2_LOCAL && command != V2_PROXY {
        return Err(ProxyError::Malformed("command must be LOCAL or PROXY"));
    }
    let total = V2_FIXED_LEN + v2_length(buf);
    if total > PROXY_V2_MAX_LEN {
        return Err(ProxyError::TooLong(PROXY_V2_MAX_LEN));
    }
    // Section 2.2: "The receiver must not start to parse an address before
    // the whole address block is received."
    if buf.len() < total {
        return Ok(Parsed::Incomplete);
    }
    // Section 2.2: with LOCAL, the family is ignored and the real
    // endpoints are used; the length is still honoured.
    if command == V2_LOCAL {
        return Ok(Parsed::Header(ProxyHeader::Unknown, total));
    }
    let family = buf[13];
    // Section 2.2: families above AF_UNIX and protocols above DGRAM "must
    // be rejected as invalid by receivers".
    if family >> 4 > 3 || family & 0x0f > 2 {
        return Err(ProxyError::Malformed("unknown address family or protocol"));
    }
    let block = &buf[V2_FIXED_LEN..total];
    let header = match family {
        V2_TCP4 => {
            let a = block.get(..V2_TCP4_LEN).ok_or(ProxyError::Malformed("address block too short for TCP4"))?;
            let ip = |i: usize| IpAddr::V4(Ipv4Addr::new(a[i], a[i + 1], a[i + 2], a[i + 3]));
            let port = |i: usize| u16::from_be_bytes([a[i], a[i + 1]]);
            ProxyHeader::Tcp { source: SocketAddr::new(ip(0), port(8)), destination: SocketAddr::new(ip(4), port(10)) }
        }
        V2_TCP6 => {
            let a = block.get(..V2_TCP6_LEN).ok_or(ProxyError::Malformed("address block too short for TCP6"))?;
            let ip = |i: usize| {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(&a[i..i + 16]);
                IpAddr::V6(Ipv6Addr::from(octets))
            };
            let port = |i: usize| u16::from_be_bytes([a[i], a[i + 1]]);
            ProxyHeader::Tcp {
                source: SocketAddr::new(ip(0), port(32)),
                destination: SocketAddr::new(ip(16), port(34)),
            }
        }
        // Section 2.2: UNSPEC, and the valid combinations a receiver does
        // not implement (UDP, UNIX), fall back to the real endpoints.
        _ => ProxyHeader::Unknown,
    };
    Ok(Parsed::Header(header, total))
}

/// The v2 header (command `PROXY`, TCP) a proxy sends for a client at
/// `source` that connected to `destination` (section 2.2), without TLVs.
/// Families are kept together as in [`encode_v1`].
pub fn encode_v2(source: SocketAddr, destination: SocketAddr) -> Vec<u8> {
    let mut out = V2_SIGNATURE.to_vec();
    out.push(0x20 | V2_PROXY);
    match one_family(source.ip(), destination.ip()) {
        Pair::V4(s, d) => {
            out.push(V2_TCP4);
            out.extend_from_slice(&(V2_TCP4_LEN as u16).to_be_bytes());
            out.extend_from_slice(&s.octets());
            out.extend_from_slice(&d.octets());
        }
        Pair::V6(s, d) => {
            out.push(V2_TCP6);
            out.extend_from_slice(&(V2_TCP6_LEN as u16).to_be_bytes());
            out.extend_from_slice(&s.octets());
            out.extend_from_slice(&d.octets());
        }
    }
    out.extend_from_slice(&source.port().to_be_bytes());
    out.extend_from_slice(&destination.port().to_be_bytes());
    out
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
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// Section 2.1, the TCP4 example.
    #[test]
    fn tcp4_header_is_parsed_and_its_length_returned() {
        let wire = b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET /";
        let expected = ProxyHeader::Tcp { source: addr("192.168.0.1:56324"), destination: addr("192.168.0.11:443") };
        assert_eq!(parse_v1(wire), Ok(Parsed::Header(expected, wire.len() - 5)));
    }

    #[test]
    fn tcp6_and_unknown_headers() {
        let wire = b"PROXY TCP6 2001:db8::7 2001:db8::1 51234 2121\r\n";
        let expected =
            ProxyHeader::Tcp { source: addr("[2001:db8::7]:51234"), destination: addr("[2001:db8::1]:2121") };
        assert_eq!(parse_v1(wire), Ok(Parsed::Header(expected, wire.len())));
        // Section 2.1: after UNKNOWN, the receiver ignores the rest of the line.
        assert_eq!(parse_v1(b"PROXY UNKNOWN\r\n"), Ok(Parsed::Header(ProxyHeader::Unknown, 15)));
        let long = b"PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n";
        assert_eq!(parse_v1(long), Ok(Parsed::Header(ProxyHeader::Unknown, long.len())));
    }

    /// Section 2.1: the receiver must wait for the CRLF before decoding.
    #[test]
    fn a_partial_header_asks_for_more() {
        assert_eq!(parse_v1(b""), Ok(Parsed::Incomplete));
        assert_eq!(parse_v1(b"PRO"), Ok(Parsed::Incomplete));
        assert_eq!(parse_v1(b"PROXY TCP4 127.0.0.1 127.0.0.1 1 2\r"), Ok(Parsed::Incomplete));
    }

    /// Section 2.1: no CRLF within 107 characters, the line is invalid.
    #[test]
    fn no_crlf_within_107_bytes_is_refused() {
        let mut wire = b"PROXY UNKNOWN ".to_vec();
        wire.resize(V1_MAX_LEN, b'x');
        assert_eq!(parse_v1(&wire), Err(ProxyError::TooLong(V1_MAX_LEN)));
        wire.resize(100_000, b'x');
        assert_eq!(parse_v1(&wire), Err(ProxyError::TooLong(V1_MAX_LEN)));
        // A header of exactly 107 bytes is fine.
        let mut max = b"PROXY UNKNOWN ".to_vec();
        max.resize(V1_MAX_LEN - 2, b'x');
        max.extend_from_slice(b"\r\n");
        assert_eq!(parse_v1(&max), Ok(Parsed::Header(ProxyHeader::Unknown, V1_MAX_LEN)));
    }

    #[test]
    fn what_is_not_a_header_is_recognised_at_once() {
        assert_eq!(parse_v1(b"USER anonymous\r\n"), Err(ProxyError::NotProxy));
        assert_eq!(parse_v1(b"proxy TCP4"), Err(ProxyError::NotProxy));
        assert_eq!(parse_v1(b"PROXYTCP4"), Err(ProxyError::NotProxy));
        // The binary v2 signature starts with CRLF.
        assert_eq!(parse_v1(b"\r\n\r\n\0\r\nQUIT\n"), Err(ProxyError::NotProxy));
    }

    /// Section 2.1: exact syntax; anything else is refused, never guessed.
    #[test]
    fn malformed_headers_are_refused() {
        let bad: &[&[u8]] = &[
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",                  // bare LF
            b"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",               // two spaces
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",                  // a port missing
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",              // a field too many
            b"PROXY TCP4 ::1 5.6.7.8 1 2\r\n",                    // IPv6 in TCP4
            b"PROXY TCP6 1.2.3.4 ::1 1 2\r\n",                    // IPv4 in TCP6
            b"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",               // leading zero
            b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",               // leading zero in a port
            b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",            // port out of range
            b"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",               // sign
            b"PROXY TCP4 256.2.3.4 5.6.7.8 1 2\r\n",              // octet out of range
            b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",                // protocol
            b"PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n",                // case
            b"PROXY \r\n",                                        // nothing
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",               // trailing space
            "PROXY TCP4 1.2.3.4 5.6.7.8 1 \u{e9}\r\n".as_bytes(), // not ASCII
        ];
        for wire in bad {
            assert!(
                matches!(parse_v1(wire), Err(ProxyError::Malformed(_))),
                "{:?} gave {:?}",
                String::from_utf8_lossy(wire),
                parse_v1(wire)
            );
        }
    }

    #[test]
    fn encoding_round_trips_and_keeps_families_together() {
        let v4 = encode_v1(addr("10.0.0.7:40000"), addr("10.0.0.1:2121"));
        assert_eq!(v4, "PROXY TCP4 10.0.0.7 10.0.0.1 40000 2121\r\n");
        // A dual-stack listener reports IPv4 clients as mapped addresses.
        let mapped = encode_v1(addr("[::ffff:10.0.0.7]:40000"), addr("[::ffff:10.0.0.1]:2121"));
        assert_eq!(mapped, v4);
        let v6 = encode_v1(addr("[2001:db8::7]:1"), addr("10.0.0.1:2"));
        assert_eq!(v6, "PROXY TCP6 2001:db8::7 ::ffff:10.0.0.1 1 2\r\n");
        for line in [v4, v6] {
            assert!(
                matches!(parse_v1(line.as_bytes()), Ok(Parsed::Header(ProxyHeader::Tcp { .. }, n)) if n == line.len())
            );
        }
        let longest = encode_v1(
            addr("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"),
            addr("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"),
        );
        assert!(longest.len() <= V1_MAX_LEN);
    }

    /// A v2 header built by hand from section 2.2: signature, 0x21 (version
    /// 2, PROXY), `fam`, length, then `block`.
    fn v2(ver_cmd: u8, fam: u8, block: &[u8]) -> Vec<u8> {
        let mut h = V2_SIGNATURE.to_vec();
        h.extend_from_slice(&[ver_cmd, fam]);
        h.extend_from_slice(&(block.len() as u16).to_be_bytes());
        h.extend_from_slice(block);
        h
    }

    /// Section 2.2: TCP over IPv4, addresses then ports, network order.
    #[test]
    fn v2_tcp4_header_is_parsed_and_its_length_returned() {
        let block = [192, 0, 2, 7, 198, 51, 100, 1, 0xc8, 0x22, 0x08, 0x4a];
        let mut wire = v2(0x21, 0x11, &block);
        assert_eq!(wire.len(), 28);
        wire.extend_from_slice(b"USER x\r\n");
        let expected = ProxyHeader::Tcp { source: addr("192.0.2.7:51234"), destination: addr("198.51.100.1:2122") };
        assert_eq!(parse_v2(&wire), Ok(Parsed::Header(expected, 28)));
        assert_eq!(parse(&wire), Ok(Parsed::Header(expected, 28)));
        assert_eq!(encode_v2(addr("192.0.2.7:51234"), addr("198.51.100.1:2122")), wire[..28]);
    }

    #[test]
    fn v2_tcp6_header_round_trips() {
        let (s, d) = (addr("[2001:db8::7]:40000"), addr("[2001:db8::1]:21"));
        let wire = encode_v2(s, d);
        assert_eq!((wire[13], wire.len()), (0x21, 16 + 36));
        assert_eq!(parse(&wire), Ok(Parsed::Header(ProxyHeader::Tcp { source: s, destination: d }, wire.len())));
        // Mixed families travel as IPv6, as in v1.
        let mixed = encode_v2(addr("10.0.0.7:1"), d);
        assert!(matches!(parse(&mixed), Ok(Parsed::Header(ProxyHeader::Tcp { source, .. }, 52))
            if source == addr("[::ffff:10.0.0.7]:1")));
    }

    /// Section 2.2: TLVs after the addresses are part of the header (its
    /// length counts them) and may be skipped.
    #[test]
    fn v2_tlvs_are_skipped() {
        let mut block = vec![10, 0, 0, 7, 10, 0, 0, 1, 0x9c, 0x40, 0x08, 0x4a];
        block.extend_from_slice(&[0x05, 0x00, 0x03, b'a', b'b', b'c']); // PP2_TYPE_UNIQUE_ID
        block.extend_from_slice(&[0xea, 0x00, 0x02, b'v', b'p']); // AWS's VPC endpoint id
        let wire = v2(0x21, 0x11, &block);
        let expected = ProxyHeader::Tcp { source: addr("10.0.0.7:40000"), destination: addr("10.0.0.1:2122") };
        assert_eq!(parse(&wire), Ok(Parsed::Header(expected, wire.len())));
    }

    /// Section 2.2: LOCAL (health checks) and the families without a TCP
    /// address mean "use the real endpoints"; the length is honoured even
    /// when LOCAL carries addresses.
    #[test]
    fn v2_local_unspec_unix_and_udp_use_the_real_endpoints() {
        let tcp4 = [1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2];
        for wire in [
            v2(0x20, 0x00, &[]),
            v2(0x20, 0x11, &tcp4),
            v2(0x20, 0xff, &[]), // LOCAL: the family is ignored
            v2(0x21, 0x00, &[]),
            v2(0x21, 0x12, &tcp4),
            v2(0x21, 0x31, &[b'/'; 216]),
            v2(0x21, 0x32, &[0; 216]),
        ] {
            assert_eq!(parse(&wire), Ok(Parsed::Header(ProxyHeader::Unknown, wire.len())), "{wire:?}");
        }
    }

    /// Section 2.2: wrong versions, commands, families and protocols "must"
    /// be refused; so is an address block shorter than its family.
    #[test]
    fn v2_malformed_headers_are_refused() {
        let tcp4 = [1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2];
        for wire in [
            v2(0x11, 0x11, &tcp4), // version 1
            v2(0x31, 0x11, &tcp4), // version 3
            v2(0x22, 0x11, &tcp4), // command 2
            v2(0x21, 0x41, &tcp4), // family 4
            v2(0x21, 0x13, &tcp4), // protocol 3
            v2(0x21, 0x11, &tcp4[..11]),
            v2(0x21, 0x21, &[0; 35]),
        ] {
            assert!(matches!(parse(&wire), Err(ProxyError::Malformed(_))), "{wire:?}: {:?}", parse(&wire));
        }
        assert_eq!(parse(b"\r\n\r\n\0\r\nQUIX\n"), Err(ProxyError::NotProxy));
        assert_eq!(parse(b"\r\nUSER x\r\n"), Err(ProxyError::NotProxy));
    }

    /// A length beyond the limit is refused from the fixed part alone,
    /// before its bytes are awaited.
    #[test]
    fn v2_overlong_headers_are_refused_at_once() {
        let mut wire = V2_SIGNATURE.to_vec();
        wire.extend_from_slice(&[0x21, 0x11]);
        wire.extend_from_slice(&((PROXY_V2_MAX_LEN - V2_FIXED_LEN + 1) as u16).to_be_bytes());
        assert_eq!(parse(&wire), Err(ProxyError::TooLong(PROXY_V2_MAX_LEN)));
        wire[14..16].copy_from_slice(&u16::MAX.to_be_bytes());
        assert_eq!(parse(&wire), Err(ProxyError::TooLong(PROXY_V2_MAX_LEN)));
        let longest = v2(0x21, 0x11, &vec![0; PROXY_V2_MAX_LEN - V2_FIXED_LEN]);
        assert!(matches!(parse(&longest), Ok(Parsed::Header(_, n)) if n == PROXY_V2_MAX_LEN));
    }

    /// Section 2.2: a partial header is awaited, and a reader that takes
    /// what [`wanted`] says never reads past the header.
    #[test]
    fn partial_headers_ask_for_more_and_no_byte_past_them() {
        let v1 = b"PROXY TCP4 10.0.0.7 10.0.0.1 40000 2121\r\n".to_vec();
        let v1_unknown = b"PROXY UNKNOWN\r\n".to_vec();
        let v2_local = v2(0x20, 0x00, &[]);
        let v2_tlv = v2(0x21, 0x11, &[1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2, 0x04, 0, 1, 0]);
        for header in [v1, v1_unknown, v2_local, v2_tlv] {
            for cut in 0..header.len() {
                assert_eq!(parse(&header[..cut]), Ok(Parsed::Incomplete), "{header:?} cut at {cut}");
                let want = wanted(&header[..cut]);
                assert!(want >= 1 && cut + want <= header.len(), "{header:?}: {want} wanted after {cut}");
            }
        }
        assert_eq!(wanted(b""), V1_MIN_LEN);
    }

    /// A PROXY line or the start of a v2 signature, seen by a session as its
    /// first line and what follows.
    #[test]
    fn headers_are_recognised_from_a_first_line() {
        assert!(looks_like_header(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2", b""));
        let wire = encode_v2(addr("1.2.3.4:1"), addr("5.6.7.8:2"));
        assert!(looks_like_header(b"", &wire[2..]));
        assert!(!looks_like_header(b"", b"USER x\r\n"));
        assert!(!looks_like_header(b"USER PROXY", b""));
    }
}
