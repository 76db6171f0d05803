//! The PROXY protocol, version 1 (HAProxy's `doc/proxy-protocol.txt`,
//! section 2.1, "Human-readable header format"): one line a proxy sends
//! first on a connection it relays, naming the client's address, so the
//! server behind it can log, limit and check the real client.
//!
//! ```text
//! PROXY TCP4 192.0.2.7 198.51.100.1 51234 2121\r\n
//! PROXY TCP6 2001:db8::7 2001:db8::1 51234 2121\r\n
//! PROXY UNKNOWN\r\n
//! ```
//!
//! Pure and bounded: [`parse_v1`] looks at no more than [`V1_MAX_LEN`]
//! bytes and never at what follows the header; [`encode_v1`] builds the
//! line the master sends. Whether a header may be believed at all is the
//! caller's business (a slave believes only its master).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Longest v1 header, CRLF included (section 2.1: "a receiver ... knows it
/// can stop reading after 107 characters"; that is
/// `PROXY UNKNOWN ffff:...:ffff ffff:...:ffff 65535 65535\r\n`).
pub const V1_MAX_LEN: usize = 107;

/// The signature every v1 header starts with (section 2.1: the string
/// "PROXY" and exactly one space).
pub const V1_SIGNATURE: &[u8] = b"PROXY ";

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
    /// `UNKNOWN`: the proxy could not tell; the receiver uses the real
    /// endpoints of the connection (section 2.1).
    Unknown,
}

/// Why a header was refused. Each refusal ends the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyError {
    /// The bytes do not start with `PROXY ` (not a v1 header at all).
    NotProxy,
    /// No CRLF within [`V1_MAX_LEN`] bytes (section 2.1: the line is invalid).
    TooLong,
    /// The line is not a valid header; the text names the faulty part.
    Malformed(&'static str),
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyError::NotProxy => f.write_str("not a PROXY header"),
            ProxyError::TooLong => write!(f, "PROXY header longer than {V1_MAX_LEN} bytes"),
            ProxyError::Malformed(what) => write!(f, "malformed PROXY header: {what}"),
        }
    }
}

impl std::error::Error for ProxyError {}

/// The result of looking at the first bytes of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A correct beginning, but no CRLF yet: read more (at most up to
    /// [`V1_MAX_LEN`] bytes in all).
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
        return if head.len() >= V1_MAX_LEN { Err(ProxyError::TooLong) } else { Ok(Parsed::Incomplete) };
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
    let plain = |ip: IpAddr| match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    let (s, d) = (plain(source.ip()), plain(destination.ip()));
    match (s, d) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            format!("PROXY TCP4 {s} {d} {} {}\r\n", source.port(), destination.port())
        }
        _ => {
            let v6 = |ip: IpAddr| match ip {
                IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                IpAddr::V6(v6) => v6,
            };
            format!("PROXY TCP6 {} {} {} {}\r\n", v6(s), v6(d), source.port(), destination.port())
        }
    }
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
        assert_eq!(parse_v1(&wire), Err(ProxyError::TooLong));
        wire.resize(100_000, b'x');
        assert_eq!(parse_v1(&wire), Err(ProxyError::TooLong));
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
}
