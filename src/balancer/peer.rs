//! Which user is at the other end of a TCP connection on this host.
//!
//! `SO_PEERCRED` answers only for Unix sockets; for TCP, the kernel lists
//! every socket with its owner's uid in `/proc/net/tcp` and
//! `/proc/net/tcp6`: the peer's socket is the one whose local address is
//! our peer's and whose remote address is ours.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::protocol::address::canonical;

/// `ADDR:PORT` as `/proc/net/tcp` prints it: the address's bytes as one or
/// four 32-bit numbers in the machine's byte order, the port in hex.
fn parse_addr(field: &str) -> Option<SocketAddr> {
    let (addr, port) = field.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| u32::from_str_radix(addr.get(i * 8..i * 8 + 8)?, 16).ok().map(u32::to_ne_bytes);
    let ip = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            IpAddr::V6(Ipv6Addr::from(b))
        }
        _ => return None,
    };
    Some(SocketAddr::new(canonical(ip), port))
}

/// One line of `/proc/net/tcp{,6}`: local address, remote address, owner uid.
pub fn parse_line(line: &str) -> Option<(SocketAddr, SocketAddr, u32)> {
    let f: Vec<&str> = line.split_whitespace().collect();
    Some((parse_addr(f.get(1)?)?, parse_addr(f.get(2)?)?, f.get(7)?.parse().ok()?))
}

/// The uid owning the other end of our connection from `local` to `peer`,
/// when both ends are on this host.
pub fn tcp_peer_uid(local: SocketAddr, peer: SocketAddr) -> Option<u32> {
    let local = SocketAddr::new(canonical(local.ip()), local.port());
    let peer = SocketAddr::new(canonical(peer.ip()), peer.port());
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().find_map(|table| {
        let text = std::fs::read_to_string(table).ok()?;
        text.lines().skip(1).filter_map(parse_line).find(|&(l, r, _)| l == peer && r == local).map(|(_, _, uid)| uid)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_net_tcp_lines_are_read() {
        let v4 = "   3: 0100007F:0E46 0200007F:9C40 01 00000000:00000000 00:00000000 00000000  65534        0 41 1";
        if cfg!(target_endian = "little") {
            let (l, r, uid) = parse_line(v4).unwrap();
            assert_eq!((l, r, uid), ("127.0.0.1:3654".parse().unwrap(), "127.0.0.2:40000".parse().unwrap(), 65534));
            let v6 = "  0: 0000000000000000FFFF00000100007F:0B3E 00000000000000000000000001000000:D431 01 \
                      00000000:00000000 00:00000000 00000000     0        0 42 1";
            let (l, r, uid) = parse_line(v6).unwrap();
            assert_eq!((l, r, uid), ("127.0.0.1:2878".parse().unwrap(), "[::1]:54321".parse().unwrap(), 0));
        }
        assert!(parse_line("  sl  local_address rem_address   st tx_queue rx_queue").is_none());
    }

    #[test]
    fn the_owner_of_a_local_connection_is_found() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, peer) = l.accept().unwrap();
        let me = nix::unistd::geteuid().as_raw();
        assert_eq!(tcp_peer_uid(s.local_addr().unwrap(), peer), Some(me));
        drop(c);
    }
}
