//! The cluster key and how a slave proves it knows it.
//!
//! The key never travels. The master opens each registration with a fresh
//! random nonce; the slave answers with HMAC-SHA256 (RFC 2104, with SHA-256
//! from FIPS 180-4) of the nonce and its registration line; the master
//! computes the same and compares in constant time. A sniffer learns neither
//! the key nor a reply it could replay.
//!
//! The key comes from `--key-file FILE` or the `FTP_CLUSTER_KEY` environment
//! variable; [`ClusterKey`] prints as stars.

use std::fmt;
use std::io::{self, Read};
use std::path::Path;

use crate::accounts::constant_time_eq;
use crate::limits::{MAX_CLUSTER_KEY, MIN_CLUSTER_KEY};

/// The environment variable holding the cluster key when no `--key-file`
/// is given.
pub const KEY_ENV: &str = "FTP_CLUSTER_KEY";

/// Length of a registration nonce, in bytes.
pub const NONCE_LEN: usize = 16;

/// Length of a MAC, in bytes (SHA-256).
pub const MAC_LEN: usize = 32;

/// The shared secret of a master and its slaves. Its `Debug` prints stars,
/// and nothing else exposes it.
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterKey(Vec<u8>);

impl fmt::Debug for ClusterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClusterKey(****)")
    }
}

impl ClusterKey {
    /// A key from its bytes; trailing line breaks and spaces (from `echo` or
    /// an editor) are dropped. Security: short keys are refused.
    pub fn new(bytes: &[u8]) -> Result<ClusterKey, String> {
        let end = bytes.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(0, |i| i + 1);
        let key = &bytes[..end];
        if key.len() < MIN_CLUSTER_KEY {
            return Err(format!("the cluster key must be at least {MIN_CLUSTER_KEY} bytes"));
        }
        if key.len() > MAX_CLUSTER_KEY {
            return Err(format!("the cluster key must be at most {MAX_CLUSTER_KEY} bytes"));
        }
        Ok(ClusterKey(key.to_vec()))
    }

    /// The key of `--key-file FILE` if given, else of `FTP_CLUSTER_KEY` if
    /// set, else none.
    pub fn load(file: Option<&Path>) -> Result<Option<ClusterKey>, String> {
        if let Some(path) = file {
            let mut bytes = Vec::new();
            let mut f = std::fs::File::open(path).map_err(|e| format!("--key-file {}: {e}", path.display()))?;
            f.by_ref()
                .take(MAX_CLUSTER_KEY as u64 + 64)
                .read_to_end(&mut bytes)
                .map_err(|e| format!("--key-file {}: {e}", path.display()))?;
            // Security: a key others can read is no secret; say so.
            use std::os::unix::fs::PermissionsExt;
            if f.metadata().map(|m| m.permissions().mode() & 0o077 != 0).unwrap_or(false) {
                log::warn!("--key-file {}: readable by other users; chmod 600 it", path.display());
            }
            return ClusterKey::new(&bytes).map(Some).map_err(|e| format!("--key-file {}: {e}", path.display()));
        }
        match std::env::var_os(KEY_ENV) {
            Some(v) => {
                use std::os::unix::ffi::OsStrExt;
                ClusterKey::new(v.as_bytes()).map(Some).map_err(|e| format!("{KEY_ENV}: {e}"))
            }
            None => Ok(None),
        }
    }

    /// The MAC of `msg` under this key.
    pub fn sign(&self, msg: &[u8]) -> [u8; MAC_LEN] {
        hmac_sha256(&self.0, msg)
    }

    /// Security: checks a MAC in time independent of where it differs.
    pub fn verify(&self, msg: &[u8], mac: &[u8]) -> bool {
        constant_time_eq(&self.sign(msg), mac)
    }
}

/// A fresh random nonce from the kernel (`/dev/urandom`).
pub fn random_nonce() -> io::Result<[u8; NONCE_LEN]> {
    let mut n = [0u8; NONCE_LEN];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut n)?;
    Ok(n)
}

/// Lower-case hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses hexadecimal (either case); `None` unless every character is a
/// hex digit and there is an even number of them.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    s.as_bytes().chunks(2).map(|p| Some(digit(p[0])? << 4 | digit(p[1])?)).collect()
}

/// SHA-256 round constants (FIPS 180-4 section 4.2.2).
const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
    0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
    0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
    0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2,
];

/// Initial hash value (FIPS 180-4 section 5.3.3).
const H0: [u32; 8] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

/// One 64-byte block into the state (FIPS 180-4 section 6.2.2).
fn compress(h: &mut [u32; 8], block: &[u8]) {
    let mut w = [0u32; 64];
    for (i, word) in block.chunks_exact(4).enumerate() {
        w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
    }
    for t in 16..64 {
        let s0 = w[t - 15].rotate_right(7) ^ w[t - 15].rotate_right(18) ^ (w[t - 15] >> 3);
        let s1 = w[t - 2].rotate_right(17) ^ w[t - 2].rotate_right(19) ^ (w[t - 2] >> 10);
        w[t] = w[t - 16].wrapping_add(s0).wrapping_add(w[t - 7]).wrapping_add(s1);
    }
    let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = *h;
    for t in 0..64 {
        let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
        let ch = (e & f) ^ (!e & g);
        let t1 = hh.wrapping_add(s1).wrapping_add(ch).wrapping_add(K[t]).wrapping_add(w[t]);
        let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
        let maj = (a & b) ^ (a & c) ^ (b & c);
        let t2 = s0.wrapping_add(maj);
        hh = g;
        g = f;
        f = e;
        e = d.wrapping_add(t1);
        d = c;
        c = b;
        b = a;
        a = t1.wrapping_add(t2);
    }
    for (x, v) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
        *x = x.wrapping_add(v);
    }
}

/// SHA-256 of the concatenation of `parts` (FIPS 180-4 section 6.2).
fn sha256_parts(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = H0;
    let mut block = [0u8; 64];
    let mut fill = 0;
    let mut total: u64 = 0;
    for part in parts {
        total += part.len() as u64;
        for &byte in *part {
            block[fill] = byte;
            fill += 1;
            if fill == 64 {
                compress(&mut h, &block);
                fill = 0;
            }
        }
    }
    // Padding (section 5.1.1): a 1 bit, zeroes, the length in bits.
    block[fill] = 0x80;
    block[fill + 1..].fill(0);
    if fill >= 56 {
        compress(&mut h, &block);
        block.fill(0);
    }
    block[56..].copy_from_slice(&(total * 8).to_be_bytes());
    compress(&mut h, &block);
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(h) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// SHA-256 (FIPS 180-4).
pub fn sha256(data: &[u8]) -> [u8; 32] {
    sha256_parts(&[data])
}

/// HMAC-SHA256 (RFC 2104 section 2, block size 64 bytes).
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&sha256(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    let inner = sha256_parts(&[&ipad, msg]);
    sha256_parts(&[&opad, &inner])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FIPS 180-2 appendix B examples, and the empty message.
    #[test]
    fn sha256_known_answers() {
        assert_eq!(hex(&sha256(b"abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(hex(&sha256(b"")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(
            hex(&sha256(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
        // One million 'a' (appendix B.3): many blocks.
        assert_eq!(
            hex(&sha256(&vec![b'a'; 1_000_000])),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        );
    }

    /// RFC 4231 section 4, test cases 1, 2 and 6 (a key longer than a block).
    #[test]
    fn hmac_sha256_known_answers() {
        assert_eq!(
            hex(&hmac_sha256(&[0x0b; 20], b"Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex(&hmac_sha256(&[0xaa; 131], b"Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn keys_are_checked_trimmed_and_never_printed() {
        assert!(ClusterKey::new(b"short").is_err());
        assert!(ClusterKey::new(&[b'k'; MAX_CLUSTER_KEY + 1]).is_err());
        let k = ClusterKey::new(b"correct horse battery staple\n").unwrap();
        assert_eq!(k, ClusterKey::new(b"correct horse battery staple").unwrap());
        assert_eq!(format!("{k:?}"), "ClusterKey(****)");
        let mac = k.sign(b"nonce REGISTER");
        assert!(k.verify(b"nonce REGISTER", &mac));
        assert!(!k.verify(b"nonce REGISTER ", &mac));
        assert!(!k.verify(b"nonce REGISTER", &mac[..31]));
        let other = ClusterKey::new(b"correct horse battery stapler").unwrap();
        assert!(!other.verify(b"nonce REGISTER", &mac));
    }

    #[test]
    fn hex_round_trips_and_refuses_garbage() {
        assert_eq!(unhex(&hex(&[0, 1, 0xab, 0xff])), Some(vec![0, 1, 0xab, 0xff]));
        assert_eq!(unhex("ABcd"), Some(vec![0xab, 0xcd]));
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("zz"), None);
        assert_eq!(unhex("+1"), None);
        let a = random_nonce().unwrap();
        assert_ne!(a, random_nonce().unwrap());
    }
}
