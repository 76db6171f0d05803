//! File checksums as FTP names and computes them, shared by server and
//! client: the algorithms of HASH (draft-bryan-ftpext-hash: `OPTS HASH
//! SHA-256` selects one, `HASH path` answers `213 SHA-256 0-49 <hex> path`)
//! and of the older one-algorithm verbs XSHA256, XSHA512, XSHA1, XMD5 and
//! XCRC (ProFTPD's mod_digest, FileZilla, Serv-U), and an incremental
//! [`Hasher`] that the server feeds chunk by chunk.

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

/// Every algorithm, from the strongest down.
pub const ALGOS: [Algo; 5] = [Algo::Sha256, Algo::Sha512, Algo::Sha1, Algo::Md5, Algo::Crc32];

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

    /// The algorithm of an X verb (`XSHA256`), upper-case.
    pub fn from_x_verb(verb: &str) -> Option<Algo> {
        ALGOS.into_iter().find(|a| a.x_verb() == verb)
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

/// A digest being computed, fed in chunks.
#[derive(Clone)]
pub enum Hasher {
    /// SHA-256.
    Sha256(Sha256),
    /// SHA-512.
    Sha512(Sha512),
    /// SHA-1.
    Sha1(Sha1),
    /// MD5.
    Md5(Md5),
    /// CRC-32.
    Crc32(crc32fast::Hasher),
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Hasher {
    /// A fresh digest of `algo`.
    pub fn new(algo: Algo) -> Hasher {
        match algo {
            Algo::Sha256 => Hasher::Sha256(Sha256::new()),
            Algo::Sha512 => Hasher::Sha512(Sha512::new()),
            Algo::Sha1 => Hasher::Sha1(Sha1::new()),
            Algo::Md5 => Hasher::Md5(Md5::new()),
            Algo::Crc32 => Hasher::Crc32(crc32fast::Hasher::new()),
        }
    }

    /// Adds `bytes`.
    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha256(d) => d.update(bytes),
            Hasher::Sha512(d) => d.update(bytes),
            Hasher::Sha1(d) => d.update(bytes),
            Hasher::Md5(d) => d.update(bytes),
            Hasher::Crc32(d) => d.update(bytes),
        }
    }

    /// The digest in lower-case hex.
    pub fn finish(self) -> String {
        match self {
            Hasher::Sha256(d) => hex(&d.finalize()),
            Hasher::Sha512(d) => hex(&d.finalize()),
            Hasher::Sha1(d) => hex(&d.finalize()),
            Hasher::Md5(d) => hex(&d.finalize()),
            Hasher::Crc32(d) => format!("{:08x}", d.finalize()),
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

/// The text of a HASH reply (draft-bryan-ftpext-hash section 3.2): the
/// algorithm, the octets hashed as `first-last` (inclusive, as RANG names
/// them; `0-0` for an empty file), the digest and the path.
pub fn hash_reply_text(algo: Algo, first: u64, last: u64, digest: &str, path: &str) -> String {
    format!("{} {first}-{last} {digest} {path}", algo.name())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(a: Algo, bytes: &[u8]) -> String {
        let mut h = Hasher::new(a);
        for chunk in bytes.chunks(2) {
            h.update(chunk);
        }
        h.finish()
    }

    #[test]
    fn digests_fed_in_chunks_match_the_known_values() {
        assert_eq!(digest(Algo::Sha256, b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(digest(Algo::Sha1, b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(digest(Algo::Md5, b"abc"), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(digest(Algo::Crc32, b"abc"), "352441c2");
        assert!(digest(Algo::Sha512, b"abc").starts_with("ddaf35a193617aba"));
        for a in ALGOS {
            assert_eq!(digest(a, b"").len(), a.hex_len(), "{a:?}");
        }
    }

    /// draft-bryan-ftpext-hash section 3.2's reply, and X-verb replies.
    #[test]
    fn digests_are_found_in_replies() {
        let sha = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let text = hash_reply_text(Algo::Sha256, 0, 2, &sha.to_uppercase(), "my file");
        assert_eq!(text, format!("SHA-256 0-2 {} my file", sha.to_uppercase()));
        assert_eq!(digest_in_reply(Algo::Sha256, &text), Some(sha.into()));
        assert_eq!(digest_in_reply(Algo::Crc32, "352441C2"), Some("352441c2".into()));
        assert_eq!(digest_in_reply(Algo::Sha1, "File not found"), None);
    }

    #[test]
    fn algorithm_names_are_read_loosely() {
        assert_eq!(Algo::from_name("sha256"), Some(Algo::Sha256));
        assert_eq!(Algo::from_name("SHA-1"), Some(Algo::Sha1));
        assert_eq!(Algo::from_name("crc"), Some(Algo::Crc32));
        assert_eq!(Algo::from_name("whirlpool"), None);
        assert_eq!(Algo::from_x_verb("XSHA512"), Some(Algo::Sha512));
        assert_eq!(Algo::from_x_verb("XSHA"), None);
    }
}
