//! The cluster key and how a slave proves it knows it.
//!
//! The key never travels. The master opens each registration with a fresh
//! random nonce; the slave answers with HMAC-SHA256 (RFC 2104, with SHA-256
//! from FIPS 180-4; RustCrypto's audited `hmac` and `sha2` crates) of the
//! nonce and its registration line; the master computes the same and
//! compares in constant time. A sniffer learns neither
//! the key nor a reply it could replay.
//!
//! The key comes from `--key-file FILE` or the `FTP_CLUSTER_KEY` environment
//! variable; [`ClusterKey`] prints as stars.

use std::fmt;
use std::io::{self, Read};
use std::path::Path;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::limits::{MAX_CLUSTER_KEY, MIN_CLUSTER_KEY};

type HmacSha256 = Hmac<Sha256>;

/// The environment variable holding the cluster key when no `--key-file`
/// is given.
pub(crate) const KEY_ENV: &str = "FTP_CLUSTER_KEY";

/// Length of a registration nonce, in bytes.
pub const NONCE_LEN: usize = 16;

/// Length of a MAC, in bytes (SHA-256).
pub(crate) const MAC_LEN: usize = 32;

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
    pub(crate) fn load(file: Option<&Path>) -> Result<Option<ClusterKey>, String> {
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
    pub(crate) fn sign(&self, msg: &[u8]) -> [u8; MAC_LEN] {
        hmac_sha256(&self.0, msg)
    }

    /// Security: checks a MAC in time independent of where it differs
    /// (`hmac`'s `verify_slice`).
    pub(crate) fn verify(&self, msg: &[u8], mac: &[u8]) -> bool {
        let Ok(mut m) = HmacSha256::new_from_slice(&self.0) else { return false };
        m.update(msg);
        m.verify_slice(mac).is_ok()
    }
}

/// A fresh random nonce from the kernel (`/dev/urandom`).
pub(crate) fn random_nonce() -> io::Result<[u8; NONCE_LEN]> {
    let mut n = [0u8; NONCE_LEN];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut n)?;
    Ok(n)
}

/// Lower-case hexadecimal.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses hexadecimal (either case); `None` unless every character is a
/// hex digit and there is an even number of them.
pub(crate) fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    s.as_bytes().chunks(2).map(|p| Some(digit(p[0])? << 4 | digit(p[1])?)).collect()
}

/// HMAC-SHA256 (RFC 2104) of `msg` under `key`, by RustCrypto's `hmac` and
/// `sha2` crates.
pub(crate) fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; MAC_LEN] {
    // HMAC takes keys of any length (RFC 2104 section 2), so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

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
