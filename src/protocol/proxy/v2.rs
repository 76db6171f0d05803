//! Version 2 of the PROXY protocol (HAProxy's `doc/proxy-protocol.txt`,
//! section 2.2, "Binary header format"): a signature, a fixed part and a
//! length-prefixed block of addresses and TLVs, as HAProxy
//! (`send-proxy-v2`), AWS's Network Load Balancer and Kubernetes ingress
//! controllers send it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::{one_family, Pair, Parsed, ProxyError, ProxyHeader};
use crate::limits::PROXY_V2_MAX_LEN;

/// The signature every v2 header starts with (section 2.2). Its NUL and
/// `QUIT` make a server that does not expect it drop the connection.
pub const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";

/// The fixed part of a v2 header (section 2.2): signature, version and
/// command, family and protocol, and the length of what follows.
pub const V2_FIXED_LEN: usize = 16;

/// The length field of a v2 header whose fixed part `buf` holds.
pub(super) fn v2_length(buf: &[u8]) -> usize {
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
///
/// [`encode_v1`]: super::encode_v1
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
