//! Version 1 of the PROXY protocol (HAProxy's `doc/proxy-protocol.txt`,
//! section 2.1, "Human-readable header format"): one ASCII line, parsed
//! strictly, and built for the line a relaying `ftpmaster` sends.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::{one_family, Pair, Parsed, ProxyError, ProxyHeader};

/// Longest v1 header, CRLF included (section 2.1: "a receiver ... knows it
/// can stop reading after 107 characters"; that is
/// `PROXY UNKNOWN ffff:...:ffff ffff:...:ffff 65535 65535\r\n`).
pub const V1_MAX_LEN: usize = 107;

/// The signature every v1 header starts with (section 2.1: the string
/// "PROXY" and exactly one space).
pub const V1_SIGNATURE: &[u8] = b"PROXY ";

/// Shortest v1 header, `PROXY UNKNOWN\r\n`, and so the shortest header of
/// either version (a v2 header has at least [`V2_FIXED_LEN`] bytes).
///
/// [`V2_FIXED_LEN`]: super::V2_FIXED_LEN
pub const V1_MIN_LEN: usize = 15;

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
