//! The server's certificate for FTPS: reading the PEM pair the admin names
//! (`--tls-cert`, `--tls-key`), the checks that turn a bad pair into a
//! clear error at start-up or reload (missing, unreadable, empty, a key
//! that is not the certificate's, expired), and `ftpserver gencert`, which
//! writes a self-signed pair so that FTPS can be tried in two commands.
//!
//! The supervisor reads the files (as root, if it started as root) before
//! it forks; workers never open them.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::limits::{GENCERT_DAYS, MAX_PEM_FILE, TLS_EXPIRY_WARNING_DAYS};
use crate::protocol::time::{civil, parse_time_val};

/// A certificate chain and its private key, as read from the files.
pub(crate) struct CertPair {
    /// The server's certificate first, then its chain.
    pub chain: Vec<CertificateDer<'static>>,
    /// The private key.
    pub key: PrivateKeyDer<'static>,
    /// When the server's certificate stops being valid (Unix time).
    pub not_after: i64,
}

impl std::fmt::Debug for CertPair {
    /// Security: never the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CertPair({} certificates, key ****, until {})", self.chain.len(), date(self.not_after))
    }
}

/// Reads a PEM file of at most [`MAX_PEM_FILE`] bytes.
fn read_pem(option: &str, path: &Path) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{option} {}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{option} {}: not a file", path.display()));
    }
    if meta.len() > MAX_PEM_FILE {
        return Err(format!("{option} {}: larger than {MAX_PEM_FILE} bytes", path.display()));
    }
    std::fs::read(path).map_err(|e| format!("{option} {}: {e}", path.display()))
}

/// Loads and checks the pair: `key` may be `None` when the key is in the
/// certificate's file (as vsftpd allows). `now` is the Unix time to check
/// the validity against.
pub(crate) fn load(cert: &Path, key: Option<&Path>, now: i64) -> Result<CertPair, String> {
    let cert_pem = read_pem("--tls-cert", cert)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("--tls-cert {}: not a PEM certificate file ({e})", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("--tls-cert {}: holds no PEM certificate (-----BEGIN CERTIFICATE-----)", cert.display()));
    }
    let (key_option, key_path) = match key {
        Some(k) => ("--tls-key", k),
        None => ("--tls-cert", cert),
    };
    let key_pem = if key.is_some() { read_pem(key_option, key_path)? } else { cert_pem };
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        format!("{key_option} {}: holds no private key in PEM (PKCS#8, PKCS#1 or SEC1): {e}", key_path.display())
    })?;
    let (not_before, not_after) = validity(&chain[0])
        .ok_or_else(|| format!("--tls-cert {}: the first certificate cannot be read", cert.display()))?;
    if now > not_after {
        return Err(format!(
            "--tls-cert {}: the certificate expired on {} (make a new one: ftpserver gencert)",
            cert.display(),
            date(not_after)
        ));
    }
    if now < not_before {
        return Err(format!(
            "--tls-cert {}: the certificate is not valid before {} (is the clock right?)",
            cert.display(),
            date(not_before)
        ));
    }
    if not_after - now < TLS_EXPIRY_WARNING_DAYS * 86_400 {
        log::warn!("--tls-cert {}: the certificate expires on {}", cert.display(), date(not_after));
    }
    Ok(CertPair { chain, key, not_after })
}

/// The current Unix time.
pub(crate) fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// One DER element: its tag, its contents, and what follows it.
fn der_element(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = b.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |acc, &x| (acc << 8) | usize::from(x));
        (len, &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// A Unix time as `2026-11-29 13:30:00 UTC`.
pub(crate) fn date(t: i64) -> String {
    let (y, m, d, h, mi, s) = civil(t);
    format!("{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02} UTC")
}

/// An X.509 time (RFC 5280 section 4.1.2.5): UTCTime `YYMMDDHHMMSSZ` or
/// GeneralizedTime `YYYYMMDDHHMMSSZ`, as a Unix time. Without its `Z`
/// (and with its century, for UTCTime: `YY` from 50 is 19YY, else 20YY)
/// it is RFC 3659's time-val, which `protocol::time` reads and checks.
fn x509_time(tag: u8, v: &[u8]) -> Option<i64> {
    let digits = std::str::from_utf8(v).ok()?.strip_suffix('Z')?;
    let time_val = match (tag, digits.len()) {
        (0x17, 12) => format!("{}{digits}", if digits >= "50" { "19" } else { "20" }),
        (0x18, 14) => digits.to_string(),
        _ => return None,
    };
    // Fourteen characters: a fraction (which X.509 forbids here) would
    // leave fewer than the fourteen digits a time-val needs, and is refused.
    parse_time_val(&time_val)
}

/// The validity of a certificate (RFC 5280 section 4.1: `Certificate` ->
/// `tbsCertificate` -> version, serial, signature, issuer, `validity`), as
/// Unix times `(notBefore, notAfter)`.
pub(crate) fn validity(cert: &[u8]) -> Option<(i64, i64)> {
    let (0x30, cert, _) = der_element(cert)? else { return None };
    let (0x30, tbs, _) = der_element(cert)? else { return None };
    let mut rest = tbs;
    let (mut tag, _, mut after) = der_element(rest)?;
    if tag == 0xa0 {
        // [0] EXPLICIT version
        rest = after;
        (tag, _, after) = der_element(rest)?;
    }
    if tag != 0x02 {
        return None;
    }
    for expected in [0x30, 0x30] {
        // signature AlgorithmIdentifier, issuer Name
        let (t, _, a) = der_element(after)?;
        if t != expected {
            return None;
        }
        after = a;
    }
    let (0x30, validity, _) = der_element(after)? else { return None };
    let (t1, v1, rest) = der_element(validity)?;
    let (t2, v2, _) = der_element(rest)?;
    Some((x509_time(t1, v1)?, x509_time(t2, v2)?))
}

/// What `ftpserver gencert` wrote.
#[derive(Debug)]
pub struct Generated {
    /// The certificate file.
    pub cert: PathBuf,
    /// The key file (mode 0600).
    pub key: PathBuf,
    /// The names the certificate is for.
    pub names: Vec<String>,
    /// Its last valid day.
    pub until: String,
}

/// The names a generated certificate is for when none are given: this
/// host's name, `localhost` and the loopback addresses.
pub fn default_names() -> Vec<String> {
    let mut names = Vec::new();
    if let Ok(h) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let h = h.trim();
        if !h.is_empty() && h != "localhost" && h.len() <= 253 && !h.contains(char::is_whitespace) {
            names.push(h.to_string());
        }
    }
    names.extend(["localhost", "127.0.0.1", "::1"].map(String::from));
    names
}

/// Writes a new self-signed certificate (ECDSA P-256, valid from yesterday
/// for [`GENCERT_DAYS`] days, for `names`: host names or IP addresses) to
/// `cert` and its key to `key` (created with mode 0600). Existing files are
/// replaced only when `force`.
pub fn generate(names: &[String], cert: &Path, key: &Path, force: bool) -> Result<Generated, String> {
    if names.is_empty() {
        return Err("give at least one --name".into());
    }
    for n in names {
        if n.is_empty() || n.len() > 253 || n.contains(|c: char| c.is_whitespace() || c.is_control() || c == ',') {
            return Err(format!("--name {n:?}: not a host name or address"));
        }
    }
    let mut params = rcgen::CertificateParams::new(names.to_vec()).map_err(|e| format!("--name: {e}"))?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(rcgen::DnType::CommonName, names[0].clone());
    params.distinguished_name.push(rcgen::DnType::OrganizationName, "forkftp (self-signed)");
    let today = unix_now().div_euclid(86_400);
    let ymd = |days: i64| {
        let (y, m, d, ..) = civil(days * 86_400);
        rcgen::date_time_ymd(y as i32, m as u8, d as u8)
    };
    params.not_before = ymd(today - 1);
    params.not_after = ymd(today + GENCERT_DAYS);
    params.is_ca = rcgen::IsCa::NoCa;
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let key_pair = rcgen::KeyPair::generate().map_err(|e| format!("key generation: {e}"))?;
    let made = params.self_signed(&key_pair).map_err(|e| format!("certificate: {e}"))?;
    write_new(key, key_pair.serialize_pem().as_bytes(), 0o600, force)?;
    write_new(cert, made.pem().as_bytes(), 0o644, force)?;
    Ok(Generated {
        cert: cert.to_path_buf(),
        key: key.to_path_buf(),
        names: names.to_vec(),
        until: date((today + GENCERT_DAYS) * 86_400).split(' ').next().unwrap_or("").to_string(),
    })
}

/// Writes `bytes` to a new file of mode `mode`; an existing one only when
/// `force` (replaced through a temporary file, so that its old mode goes).
fn write_new(path: &Path, bytes: &[u8], mode: u32, force: bool) -> Result<(), String> {
    if !force && path.symlink_metadata().is_ok() {
        return Err(format!("{} exists; give --force to replace it", path.display()));
    }
    let tmp = path.with_extension("tmp-gencert");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(|e| format!("{}: {e}", tmp.display()))?;
    f.write_all(bytes).and_then(|()| f.sync_all()).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_convert_both_ways() {
        assert_eq!(date(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(date(951_782_400 + 3661), "2000-02-29 01:01:01 UTC");
        assert_eq!(x509_time(0x17, b"491231235959Z"), Some(2_524_607_999));
        assert_eq!(x509_time(0x17, b"500101000000Z"), Some(-631_152_000));
        assert_eq!(x509_time(0x18, b"20380119031408Z"), Some(2_147_483_648));
        assert_eq!(x509_time(0x17, b"491231235959+"), None);
        assert_eq!(x509_time(0x17, b"491331235959Z"), None);
        assert_eq!(x509_time(0x18, b"2038011903.4Z"), None);
        assert_eq!(x509_time(0x17, b"4912312359.5Z"), None);
    }

    #[test]
    fn generated_pairs_load_and_bad_ones_say_why() {
        let dir = std::env::temp_dir().join(format!("forkftp-cert-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (c, k) = (dir.join("c.pem"), dir.join("k.pem"));
        let g = generate(&["example.test".into(), "127.0.0.1".into()], &c, &k, false).unwrap();
        assert_eq!(g.names.len(), 2);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&k).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(generate(&["x".into()], &c, &k, false).unwrap_err().contains("exists"));
        let now = unix_now();
        let pair = load(&c, Some(&k), now).unwrap();
        assert!(pair.not_after > now + 300 * 86_400 && !format!("{pair:?}").contains("PRIVATE"));
        let err = load(&c, Some(&k), now + 400 * 86_400).unwrap_err();
        assert!(err.contains("expired on"), "{err}");
        assert!(load(&c, Some(&k), now - 3 * 86_400).unwrap_err().contains("not valid before"));
        assert!(load(&dir.join("none.pem"), Some(&k), now).unwrap_err().contains("No such file"));
        assert!(load(&k, Some(&k), now).unwrap_err().contains("no PEM certificate"));
        assert!(load(&c, Some(&c), now).unwrap_err().contains("no private key"));
        // Both in one file, as vsftpd allows.
        let both = dir.join("both.pem");
        std::fs::write(&both, [std::fs::read(&c).unwrap(), std::fs::read(&k).unwrap()].concat()).unwrap();
        assert!(load(&both, None, now).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
