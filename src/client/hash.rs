//! Checksums for `hash`, `verify` and `get -c`: the algorithms, the local
//! digest of a file, and the digest in a server's reply.
//!
//! The server's side is HASH (draft-bryan-ftpext-hash: `OPTS HASH SHA-256`
//! chooses, `HASH path` answers `213 SHA-256 0-49 <hex> path`) or, on
//! servers without it, the older one-algorithm verbs XSHA256, XSHA512,
//! XSHA1, XMD5 and XCRC (ProFTPD's mod_digest, FileZilla and Serv-U answer
//! `2yz <hex>`).

use std::io::{self, Read};

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};

/// A checksum algorithm both sides may know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algo {
    /// SHA-256 (the default where the server offers it).
    Sha256,
    /// SHA-512.
    Sha512,
    /// SHA-1.
    Sha1,
    /// MD5.
    Md5,
    /// CRC-32 (IEEE, as `cksum -o 3` and zip): finds accidents, not attacks.
    Crc32,
}

/// The algorithms from the strongest down: the first the server has is used.
pub const PREFERENCE: [Algo; 5] = [Algo::Sha256, Algo::Sha512, Algo::Sha1, Algo::Md5, Algo::Crc32];

impl Algo {
    /// The name of the HASH draft's registry (`SHA-256`).
    pub fn name(self) -> &'static str {
        match self {
            Algo::Sha256 => "SHA-256",
            Algo::Sha512 => "SHA-512",
            Algo::Sha1 => "SHA-1",
            Algo::Md5 => "MD5",
            Algo::Crc32 => "CRC32",
        }
    }

    /// The older verb that answers this algorithm alone (`XSHA256`).
    pub fn x_verb(self) -> &'static str {
        match self {
            Algo::Sha256 => "XSHA256",
            Algo::Sha512 => "XSHA512",
            Algo::Sha1 => "XSHA1",
            Algo::Md5 => "XMD5",
            Algo::Crc32 => "XCRC",
        }
    }

    /// Hex digits of a digest.
    pub fn hex_len(self) -> usize {
        match self {
            Algo::Sha256 => 64,
            Algo::Sha512 => 128,
            Algo::Sha1 => 40,
            Algo::Md5 => 32,
            Algo::Crc32 => 8,
        }
    }

    /// The algorithm a user or a FEAT line names (`sha256`, `SHA-256`, `crc`).
    pub fn from_name(s: &str) -> Option<Algo> {
        let s: String = s.chars().filter(|c| *c != '-' && *c != '_').collect::<String>().to_ascii_uppercase();
        match s.as_str() {
            "SHA256" => Some(Algo::Sha256),
            "SHA512" => Some(Algo::Sha512),
            "SHA1" => Some(Algo::Sha1),
            "MD5" => Some(Algo::Md5),
            "CRC32" | "CRC" => Some(Algo::Crc32),
            _ => None,
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn digest_with<D: Digest>(r: &mut dyn Read) -> io::Result<String> {
    let mut d = D::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return Ok(hex(&d.finalize())),
            Ok(n) => d.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// The digest of everything `r` holds, in lower-case hex.
pub fn digest(algo: Algo, r: &mut dyn Read) -> io::Result<String> {
    match algo {
        Algo::Sha256 => digest_with::<Sha256>(r),
        Algo::Sha512 => digest_with::<Sha512>(r),
        Algo::Sha1 => digest_with::<Sha1>(r),
        Algo::Md5 => digest_with::<Md5>(r),
        Algo::Crc32 => {
            let mut h = crc32fast::Hasher::new();
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                match r.read(&mut buf) {
                    Ok(0) => return Ok(format!("{:08x}", h.finalize())),
                    Ok(n) => h.update(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
}

/// The digest in the text of a server's reply: the first word made of
/// exactly as many hex digits as the algorithm's digest, lower-cased.
/// This reads `SHA-256 0-49 <hex> name` (HASH) as well as `<hex>` or
/// `<hex> name` (the X verbs).
pub fn digest_in_reply(algo: Algo, text: &str) -> Option<String> {
    text.split_whitespace()
        .find(|w| w.len() == algo.hex_len() && w.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(|w| w.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_digests_match_the_known_values() {
        let d = |a| digest(a, &mut &b"abc"[..]).unwrap();
        assert_eq!(d(Algo::Sha256), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(d(Algo::Sha1), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(d(Algo::Md5), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(d(Algo::Crc32), "352441c2");
        assert!(d(Algo::Sha512).starts_with("ddaf35a193617aba"));
    }

    /// draft-bryan-ftpext-hash section 3.2's reply, and X-verb replies.
    #[test]
    fn digests_are_found_in_replies() {
        let sha = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(
            digest_in_reply(Algo::Sha256, &format!("SHA-256 0-2 {} my file", sha.to_uppercase())),
            Some(sha.into())
        );
        assert_eq!(digest_in_reply(Algo::Crc32, "352441C2"), Some("352441c2".into()));
        assert_eq!(
            digest_in_reply(Algo::Md5, "900150983cd24fb0d6963f7d28e17f72 a.txt"),
            Some("900150983cd24fb0d6963f7d28e17f72".into())
        );
        assert_eq!(digest_in_reply(Algo::Sha1, "File not found"), None);
    }

    #[test]
    fn algorithm_names_are_read_loosely() {
        assert_eq!(Algo::from_name("sha256"), Some(Algo::Sha256));
        assert_eq!(Algo::from_name("SHA-1"), Some(Algo::Sha1));
        assert_eq!(Algo::from_name("crc"), Some(Algo::Crc32));
        assert_eq!(Algo::from_name("whirlpool"), None);
    }
}
