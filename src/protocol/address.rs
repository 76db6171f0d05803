//! Data-connection addresses on the wire, each encoder beside its decoder:
//! the argument of PORT (RFC 959 section 4.1.2) and of EPRT (RFC 2428
//! section 2), and the address in the text of the 227 (PASV) and 229 (EPSV,
//! RFC 2428 section 3) replies. Pure.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};

/// The address without the IPv4-mapped IPv6 disguise (`::ffff:1.2.3.4`).
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// The network protocol number of RFC 2428 (an IANA address family
/// number): 1 for IPv4, 2 for IPv6.
pub fn family(ip: IpAddr) -> u8 {
    if canonical(ip).is_ipv4() {
        1
    } else {
        2
    }
}

/// `h1,h2,h3,h4,p1,p2` of an IPv4 socket address: the PORT argument, and
/// the address of the 227 reply.
pub fn format_host_port(ip: Ipv4Addr, port: u16) -> String {
    let o = ip.octets();
    format!("{},{},{},{},{},{}", o[0], o[1], o[2], o[3], port >> 8, port & 0xFF)
}

/// Reads `h1,h2,h3,h4,p1,p2` (blanks around the numbers allowed); `None`
/// unless there are exactly six numbers of 0 to 255.
pub fn parse_host_port(arg: &str) -> Option<SocketAddr> {
    let mut n = [0u8; 6];
    let mut parts = arg.trim().split(',');
    for slot in n.iter_mut() {
        let p = parts.next()?.trim();
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *slot = p.parse().ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    let ip = Ipv4Addr::new(n[0], n[1], n[2], n[3]);
    Some(SocketAddr::new(IpAddr::V4(ip), u16::from(n[4]) << 8 | u16::from(n[5])))
}

/// Why an EPRT argument was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EprtError {
    /// Not `<d>proto<d>addr<d>port<d>`.
    Malformed,
    /// A network protocol other than 1 (IPv4) or 2 (IPv6): the server
    /// answers 522 (RFC 2428 section 2).
    UnknownProtocol,
}

/// `|proto|address|port|`: the EPRT argument (RFC 2428 section 2). The
/// address is written as it is (an IPv4-mapped one as IPv6).
pub fn format_eprt(addr: SocketAddr) -> String {
    let proto = if addr.is_ipv4() { 1 } else { 2 };
    format!("|{proto}|{}|{}|", addr.ip(), addr.port())
}

/// Reads `<d>proto<d>addr<d>port<d>`, with any delimiter `d` from `!` to
/// `~` (RFC 2428 section 2).
pub fn parse_eprt(arg: &str) -> Result<SocketAddr, EprtError> {
    let bad = EprtError::Malformed;
    let arg = arg.trim();
    let d = arg.chars().next().ok_or(bad)?;
    if !(33..=126).contains(&(d as u32)) {
        return Err(bad);
    }
    let fields: Vec<&str> = arg.split(d).collect();
    if fields.len() != 5 || !fields[0].is_empty() || !fields[4].is_empty() {
        return Err(bad);
    }
    let port: u16 = fields[3].parse().map_err(|_| bad)?;
    let ip: IpAddr = match fields[1] {
        "1" => IpAddr::V4(fields[2].parse::<Ipv4Addr>().map_err(|_| bad)?),
        "2" => IpAddr::V6(fields[2].parse::<Ipv6Addr>().map_err(|_| bad)?),
        _ => return Err(EprtError::UnknownProtocol),
    };
    Ok(SocketAddr::new(ip, port))
}

/// The text of the 227 reply to PASV (RFC 959 section 4.1.2).
pub fn format_pasv_reply(addr: SocketAddrV4) -> String {
    format!("Entering Passive Mode ({}).", format_host_port(*addr.ip(), addr.port()))
}

/// Reads the address out of a 227 reply text such as
/// `Entering Passive Mode (127,0,0,1,195,80).` (RFC 959 4.1.2; the
/// parentheses are optional in practice, so the first six numbers count).
pub fn parse_pasv_reply(text: &str) -> Option<SocketAddr> {
    let start = text.find(|c: char| c.is_ascii_digit())?;
    let tail = &text[start..];
    let end = tail.find(|c: char| !(c.is_ascii_digit() || c == ',' || c == ' ')).unwrap_or(tail.len());
    parse_host_port(tail[..end].trim_end_matches([',', ' ']))
}

/// The text of the 229 reply to EPSV (RFC 2428 section 3): the port only.
pub fn format_epsv_reply(port: u16) -> String {
    format!("Entering Extended Passive Mode (|||{port}|).")
}

/// Reads the port out of a 229 reply text `(|||port|)` (RFC 2428 section 3).
pub fn parse_epsv_reply(text: &str) -> Option<u16> {
    let open = text.find('(')?;
    let close = text[open..].find(')')? + open;
    let inner = &text[open + 1..close];
    let d = inner.chars().next()?;
    let fields: Vec<&str> = inner.split(d).collect();
    if fields.len() != 5 {
        return None;
    }
    fields[3].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// RFC 959 4.1.2: PORT h1,h2,h3,h4,p1,p2.
    #[test]
    fn port_arguments() {
        assert_eq!(parse_host_port("127,0,0,1,4,1"), Some("127.0.0.1:1025".parse().unwrap()));
        assert_eq!(parse_host_port(" 127, 0,0,1,4,1 "), Some("127.0.0.1:1025".parse().unwrap()));
        assert_eq!(parse_host_port("127,0,0,1,4"), None);
        assert_eq!(parse_host_port("256,0,0,1,4,1"), None);
        assert_eq!(parse_host_port("1,2,3,4,5,6,7"), None);
        assert_eq!(parse_host_port("1,2,3,4,5,-6"), None);
    }

    /// RFC 2428 section 2: EPRT with any delimiter, IPv4 and IPv6.
    #[test]
    fn eprt_arguments() {
        assert_eq!(parse_eprt("|1|132.235.1.2|6275|"), Ok("132.235.1.2:6275".parse().unwrap()));
        assert_eq!(parse_eprt("!2!::1!5282!"), Ok("[::1]:5282".parse().unwrap()));
        assert_eq!(parse_eprt("|3|x|1|"), Err(EprtError::UnknownProtocol));
        assert_eq!(parse_eprt("|1|::1|1|"), Err(EprtError::Malformed));
        assert_eq!(parse_eprt("|1|1.2.3.4|99999|"), Err(EprtError::Malformed));
        assert_eq!(parse_eprt(" |1|1.2.3.4|1"), Err(EprtError::Malformed));
    }

    #[test]
    fn passive_reply_addresses() {
        assert_eq!(
            parse_pasv_reply("Entering Passive Mode (127,0,0,1,195,80)."),
            Some("127.0.0.1:50000".parse().unwrap())
        );
        assert_eq!(
            parse_pasv_reply("Entering Passive Mode 127,0,0,1,195,80"),
            Some("127.0.0.1:50000".parse().unwrap())
        );
        assert_eq!(parse_epsv_reply("Entering Extended Passive Mode (|||6446|)"), Some(6446));
        assert_eq!(parse_epsv_reply("nothing"), None);
    }

    #[test]
    fn mapped_addresses_are_their_ipv4_address() {
        assert_eq!(canonical("::ffff:10.1.2.3".parse().unwrap()), "10.1.2.3".parse::<IpAddr>().unwrap());
        assert_eq!(family("::ffff:10.1.2.3".parse().unwrap()), 1);
        assert_eq!(family("::1".parse().unwrap()), 2);
    }

    fn any_addr() -> impl Strategy<Value = SocketAddr> {
        prop_oneof![
            (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| (Ipv4Addr::from(ip), port).into()),
            (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, port)| (Ipv6Addr::from(ip), port).into()),
        ]
    }

    proptest! {
        #[test]
        fn every_encoded_address_decodes_to_itself(
            v4 in any::<[u8; 4]>().prop_map(Ipv4Addr::from),
            port in any::<u16>(),
            addr in any_addr(),
        ) {
            let a = SocketAddrV4::new(v4, port);
            prop_assert_eq!(parse_host_port(&format_host_port(v4, port)), Some(a.into()));
            prop_assert_eq!(parse_pasv_reply(&format_pasv_reply(a)), Some(a.into()));
            prop_assert_eq!(parse_epsv_reply(&format_epsv_reply(port)), Some(port));
            prop_assert_eq!(parse_eprt(&format_eprt(addr)), Ok(addr));
        }
    }
}
