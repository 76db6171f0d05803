//! Checksums for `hash`, `verify` and `get -c`: which algorithm the client
//! prefers, and the local digest of a file. The algorithms, their names on
//! the wire and the digest in a reply are [`crate::protocol::checksum`]'s,
//! shared with the server.

use std::io::{self, Read};

use crate::protocol::checksum::Hasher;
pub use crate::protocol::checksum::{digest_in_reply, Algo, ALGOS as PREFERENCE};

/// The digest of everything `r` holds, in lower-case hex.
pub fn digest(algo: Algo, r: &mut dyn Read) -> io::Result<String> {
    let mut h = Hasher::new(algo);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return Ok(h.finish()),
            Ok(n) => h.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_digests_match_the_known_values() {
        let d = |a| digest(a, &mut &b"abc"[..]).unwrap();
        assert_eq!(d(Algo::Sha256), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(d(Algo::Crc32), "352441c2");
    }

    /// The client asks for the strongest the server has first.
    #[test]
    fn the_strongest_algorithm_comes_first() {
        assert_eq!(PREFERENCE[0], Algo::Sha256);
        assert_eq!(PREFERENCE[PREFERENCE.len() - 1], Algo::Crc32);
    }
}
