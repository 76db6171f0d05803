//! Unit tests of the PROXY header codec, both versions, against the
//! examples and rules of HAProxy's `doc/proxy-protocol.txt`.

use super::*;
use crate::limits::PROXY_V2_MAX_LEN;

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
    let expected = ProxyHeader::Tcp { source: addr("[2001:db8::7]:51234"), destination: addr("[2001:db8::1]:2121") };
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
        assert!(matches!(parse_v1(line.as_bytes()), Ok(Parsed::Header(ProxyHeader::Tcp { .. }, n)) if n == line.len()));
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
