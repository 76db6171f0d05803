//! Accounts: who may log in, with which password, where, and with what
//! rights.
//!
//! - Anonymous (`anonymous` or `ftp`, any password): read-only unless
//!   `--write`; off with `--no-anonymous`.
//! - `--user NAME:PASSWORD`: full access to the whole root.
//! - `--users FILE`: one account per line, `name:hash:home:permissions`, the
//!   hash an argon2id PHC string made by `ftpserver passwd NAME`, and an
//!   optional fifth field of [`Limits`] (`:down=1M,up=512K,quota=1G,files=1000`).
//! - Anonymous and `--user` accounts take their limits from `--anon-limits`
//!   and `--user-limits`.

use std::fmt;
use std::path::{Path, PathBuf};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::limits::{MAX_USER_NAME, RATE_MIN_CHUNK};
use crate::protocol::Password;

/// What a logged-in user may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Perms {
    /// Download and list.
    pub read: bool,
    /// Upload (STOR, STOU, APPE).
    pub write: bool,
    /// Delete files and directories (DELE, RMD).
    pub delete: bool,
    /// Create directories (MKD).
    pub mkdir: bool,
    /// Rename (RNFR/RNTO).
    pub rename: bool,
}

impl Perms {
    /// Everything.
    pub const ALL: Perms = Perms { read: true, write: true, delete: true, mkdir: true, rename: true };
    /// Download and list only.
    pub const READ_ONLY: Perms = Perms { read: true, write: false, delete: false, mkdir: false, rename: false };

    /// Parses `read,write,delete,mkdir,rename` (any subset, any order), or
    /// `all`, or `none`.
    pub fn parse(s: &str) -> Result<Perms, String> {
        let mut p = Perms::default();
        for word in s.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            match word {
                "all" => p = Perms::ALL,
                "none" => {}
                "read" => p.read = true,
                "write" => p.write = true,
                "delete" => p.delete = true,
                "mkdir" => p.mkdir = true,
                "rename" => p.rename = true,
                other => return Err(format!("unknown permission '{other}' (read, write, delete, mkdir, rename, all)")),
            }
        }
        Ok(p)
    }
}

impl fmt::Display for Perms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (self.read, "read"),
            (self.write, "write"),
            (self.delete, "delete"),
            (self.mkdir, "mkdir"),
            (self.rename, "rename"),
        ];
        let on: Vec<&str> = names.iter().filter(|(b, _)| *b).map(|(_, n)| *n).collect();
        if on.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&on.join(","))
        }
    }
}

/// Per-account limits (issue 14): transfer rates and the quota of its home.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Limits {
    /// Download rate in bytes per second (0: no limit).
    pub download_rate: u64,
    /// Upload rate in bytes per second (0: no limit).
    pub upload_rate: u64,
    /// Most bytes of regular files in the home.
    pub quota_bytes: Option<u64>,
    /// Most regular files in the home.
    pub quota_files: Option<u64>,
}

/// `1000`, `64K`, `10M`, `2G`, `1T` (powers of 1024, either case, a `B` or
/// `/s` after the unit allowed) as a number: the users file's sizes and
/// rates, and the client's `--limit-rate`.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (digits, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    };
    let shift = match unit.to_ascii_uppercase().trim_end_matches(['B', '/', 'S']) {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return None,
    };
    let n: u64 = digits.parse().ok()?;
    n.checked_mul(1u64 << shift)
}

impl Limits {
    /// Parses `down=RATE,up=RATE,quota=SIZE,files=N` (any subset, any
    /// order; sizes and rates take K, M, G, T suffixes of 1024), or `none`.
    pub fn parse(s: &str) -> Result<Limits, String> {
        let mut l = Limits::default();
        for word in s.split(',').map(str::trim).filter(|w| !w.is_empty() && *w != "none") {
            let (key, value) = word.split_once('=').ok_or_else(|| format!("expected key=value, found '{word}'"))?;
            let n = parse_size(value).ok_or_else(|| format!("{key}: '{value}' is not a size (1000, 64K, 10M, 2G)"))?;
            let rate = |n: u64| {
                if n != 0 && n < RATE_MIN_CHUNK as u64 {
                    return Err(format!("{key}: rates start at 1K (1024 bytes/s)"));
                }
                Ok(n)
            };
            match key.trim() {
                "down" => l.download_rate = rate(n)?,
                "up" => l.upload_rate = rate(n)?,
                "quota" => l.quota_bytes = Some(n),
                "files" => l.quota_files = Some(n),
                other => return Err(format!("unknown limit '{other}' (down, up, quota, files)")),
            }
        }
        Ok(l)
    }

    /// True when a quota of bytes or files applies.
    pub fn has_quota(&self) -> bool {
        self.quota_bytes.is_some() || self.quota_files.is_some()
    }
}

/// A size as [`parse_size`] reads it, with the largest suffix that divides it.
fn size_text(n: u64) -> String {
    for (shift, unit) in [(40, "T"), (30, "G"), (20, "M"), (10, "K")] {
        if n != 0 && n % (1u64 << shift) == 0 {
            return format!("{}{unit}", n >> shift);
        }
    }
    n.to_string()
}

impl fmt::Display for Limits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if self.download_rate > 0 {
            parts.push(format!("down={}", size_text(self.download_rate)));
        }
        if self.upload_rate > 0 {
            parts.push(format!("up={}", size_text(self.upload_rate)));
        }
        if let Some(q) = self.quota_bytes {
            parts.push(format!("quota={}", size_text(q)));
        }
        if let Some(n) = self.quota_files {
            parts.push(format!("files={n}"));
        }
        if parts.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&parts.join(","))
        }
    }
}

/// How an account's password is checked.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// Given on the command line (`--user NAME:PASSWORD`).
    Plain(Password),
    /// An argon2 PHC string from the users file.
    Argon2(String),
}

/// One named account.
#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    /// The login name.
    pub name: String,
    /// How its password is checked.
    pub secret: Secret,
    /// Its rights.
    pub perms: Perms,
    /// Its home, confined like the root; `None` means the server root.
    pub home: Option<PathBuf>,
    /// Its rates and quota.
    pub limits: Limits,
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Secrets never reach a log, not even as a hash.
        f.debug_struct("Account")
            .field("name", &self.name)
            .field("perms", &self.perms)
            .field("home", &self.home)
            .field("limits", &self.limits)
            .finish()
    }
}

fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_USER_NAME || name.contains(|c: char| c.is_whitespace() || c == ':') {
        return Err("the name must be 1 to 256 characters without spaces or ':'".into());
    }
    if is_anonymous_name(name) {
        return Err(format!("'{name}' is the anonymous account"));
    }
    Ok(())
}

impl Account {
    /// Parses `NAME:PASSWORD` (the form of `--user`).
    pub fn parse_spec(spec: &str) -> Result<Account, String> {
        let (name, password) = spec.split_once(':').ok_or("expected NAME:PASSWORD")?;
        check_name(name)?;
        Ok(Account {
            name: name.to_string(),
            secret: Secret::Plain(Password::new(password)),
            perms: Perms::ALL,
            home: None,
            limits: Limits::default(),
        })
    }

    /// True when `password` is this account's.
    pub fn verify(&self, password: &Password) -> bool {
        match &self.secret {
            Secret::Plain(p) => constant_time_eq(p.expose().as_bytes(), password.expose().as_bytes()),
            Secret::Argon2(phc) => verify_hash(phc, password),
        }
    }
}

fn verify_hash(phc: &str, password: &Password) -> bool {
    match PasswordHash::new(phc) {
        Ok(h) => Argon2::default().verify_password(password.expose().as_bytes(), &h).is_ok(),
        Err(_) => false,
    }
}

/// A hash checked when the user does not exist, so that an unknown name
/// costs as much time and memory as a wrong password (no user enumeration
/// by timing): made with the parameters of `like`, a real account's hash.
/// Built with the configuration, before the workers fork: made lazily in
/// each worker, the first unknown name cost twice as much there.
fn dummy_hash_like(like: &str) -> Option<String> {
    let params = argon2::Params::try_from(&PasswordHash::new(like).ok()?).ok()?;
    let salt = SaltString::encode_b64(&[7u8; 16]).ok()?;
    Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password(b"forkftp-dummy", &salt)
        .ok()
        .map(|h| h.to_string())
}

/// Hashes a password with argon2id and the given 16-byte salt (PHC string).
pub fn hash_password(password: &Password, salt: &[u8]) -> Result<String, String> {
    let salt = SaltString::encode_b64(salt).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(password.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// 16 random bytes from the kernel, for a salt.
pub fn random_salt() -> std::io::Result<[u8; 16]> {
    let mut salt = [0u8; 16];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut salt)?;
    Ok(salt)
}

/// The users-file line for an account (what `ftpserver passwd` prints);
/// the limits field only when there are limits.
pub fn users_line(
    name: &str,
    password: &Password,
    home: &str,
    perms: &Perms,
    limits: &Limits,
) -> Result<String, String> {
    check_name(name)?;
    if home.contains(':') || home.contains('\n') {
        return Err("the home must not contain ':'".into());
    }
    let salt = random_salt().map_err(|e| format!("no randomness: {e}"))?;
    let tail = if *limits == Limits::default() { String::new() } else { format!(":{limits}") };
    Ok(format!("{name}:{}:{home}:{perms}{tail}", hash_password(password, &salt)?))
}

/// Parses a users file: `name:hash:home:permissions[:limits]` per line;
/// blank lines and lines starting with `#` are ignored. `home` relative to
/// `root`, or absolute; empty means the root. Errors name the line.
pub fn parse_users_file(text: &str, root: &Path) -> Result<Vec<Account>, String> {
    let mut out: Vec<Account> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split(':').collect();
        let (name, hash, home, perms, limits) = match fields[..] {
            [name, hash, home, perms] => (name, hash, home, perms, ""),
            [name, hash, home, perms, limits] => (name, hash, home, perms, limits),
            _ => {
                return Err(format!(
                    "line {n}: expected name:hash:home:permissions[:limits], found {} fields",
                    fields.len()
                ))
            }
        };
        check_name(name).map_err(|e| format!("line {n}: {e}"))?;
        if out.iter().any(|a| a.name == name) {
            return Err(format!("line {n}: user '{name}' is defined twice"));
        }
        let parsed = PasswordHash::new(hash).map_err(|e| format!("line {n}: bad password hash ({e})"))?;
        if parsed.algorithm.as_str() != "argon2id" {
            return Err(format!("line {n}: the hash must be argon2id (use `ftpserver passwd {name}`)"));
        }
        let perms = Perms::parse(perms).map_err(|e| format!("line {n}: {e}"))?;
        let limits = Limits::parse(limits).map_err(|e| format!("line {n}: {e}"))?;
        let home = match home.trim() {
            "" => None,
            h if h.starts_with('/') => Some(PathBuf::from(h)),
            h => Some(root.join(h)),
        };
        out.push(Account { name: name.to_string(), secret: Secret::Argon2(hash.to_string()), perms, home, limits });
    }
    Ok(out)
}

/// True for the names anonymous users log in with (RFC 1635).
pub fn is_anonymous_name(name: &str) -> bool {
    name.eq_ignore_ascii_case("anonymous") || name.eq_ignore_ascii_case("ftp")
}

/// Who is logged in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The name as the log shows it (`anonymous` for both anonymous names).
    pub name: String,
    /// Rights.
    pub perms: Perms,
    /// Home directory, `None` for the server root.
    pub home: Option<PathBuf>,
    /// True for anonymous.
    pub anonymous: bool,
    /// Rates and quota.
    pub limits: Limits,
}

/// The table of accounts, built once before the workers fork.
#[derive(Clone, Default)]
pub struct Accounts {
    /// Rights of anonymous users; `None` when anonymous login is off.
    pub anonymous: Option<Perms>,
    /// Rates and quota of anonymous users (`--anon-limits`).
    pub anonymous_limits: Limits,
    /// Named accounts.
    pub users: Vec<Account>,
    /// The hash checked for unknown names (when some account has a hash).
    dummy: Option<String>,
}

impl fmt::Debug for Accounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No hash reaches a log, not even the dummy one.
        f.debug_struct("Accounts")
            .field("anonymous", &self.anonymous)
            .field("anonymous_limits", &self.anonymous_limits)
            .field("users", &self.users)
            .finish()
    }
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

impl Accounts {
    /// The accounts, with the hash unknown names are checked against made
    /// now (argon2: tens of milliseconds, once).
    pub fn new(anonymous: Option<Perms>, anonymous_limits: Limits, users: Vec<Account>) -> Accounts {
        let dummy = users.iter().find_map(|a| match &a.secret {
            Secret::Argon2(phc) => dummy_hash_like(phc),
            Secret::Plain(_) => None,
        });
        Accounts { anonymous, anonymous_limits, users, dummy }
    }

    /// True when `user` is a named account (not anonymous, not unknown).
    pub fn is_named(&self, user: &str) -> bool {
        self.users.iter().any(|a| a.name == user)
    }

    /// True when checking a password for `user` costs a hash (an argon2
    /// account, or an unknown name while some account has a hash).
    pub fn needs_hash(&self, user: &str) -> bool {
        match self.users.iter().find(|a| a.name == user) {
            Some(a) => matches!(a.secret, Secret::Argon2(_)),
            None => !is_anonymous_name(user) && self.dummy.is_some(),
        }
    }

    /// Checks a login. Named accounts come first; anonymous names cannot be
    /// taken by named accounts.
    pub fn check(&self, user: &str, password: &Password) -> Option<Identity> {
        if let Some(acc) = self.users.iter().find(|a| a.name == user) {
            return acc.verify(password).then(|| Identity {
                name: acc.name.clone(),
                perms: acc.perms,
                home: acc.home.clone(),
                anonymous: false,
                limits: acc.limits,
            });
        }
        if is_anonymous_name(user) {
            return self.anonymous.map(|perms| Identity {
                name: "anonymous".into(),
                perms,
                home: None,
                anonymous: true,
                limits: self.anonymous_limits,
            });
        }
        // Unknown user: spend the time a hash check costs, then refuse.
        if let Some(dummy) = &self.dummy {
            let _ = verify_hash(dummy, password);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_takes_any_password_and_is_read_only_by_default() {
        let acc = Accounts { anonymous: Some(Perms::READ_ONLY), users: vec![], ..Accounts::default() };
        let id = acc.check("FTP", &Password::new("me@example")).unwrap();
        assert!(id.anonymous && !id.perms.write);
        assert!(Accounts::default().check("anonymous", &Password::new("")).is_none());
    }

    #[test]
    fn named_accounts_need_their_password() {
        let acc = Accounts {
            anonymous: None,
            users: vec![Account::parse_spec("bob:s3:cr:et").unwrap()],
            ..Accounts::default()
        };
        assert!(!acc.needs_hash("bob") && !acc.needs_hash("alice") && acc.is_named("bob"));
        assert_eq!(acc.check("bob", &Password::new("s3:cr:et")).unwrap().perms, Perms::ALL);
        assert!(acc.check("bob", &Password::new("s3")).is_none());
        assert!(acc.check("alice", &Password::new("s3:cr:et")).is_none());
    }

    #[test]
    fn bad_specs_are_refused() {
        assert!(Account::parse_spec("nopassword").is_err());
        assert!(Account::parse_spec(":x").is_err());
        assert!(Account::parse_spec("anonymous:x").is_err());
        assert!(!format!("{:?}", Account::parse_spec("a:hunter2").unwrap()).contains("hunter2"));
    }

    #[test]
    fn constant_time_comparison_is_equality() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn users_file_lines_round_trip_through_argon2() {
        let line = users_line(
            "carol",
            &Password::new("pw one"),
            "carol",
            &Perms::parse("read,mkdir").unwrap(),
            &Limits::default(),
        )
        .unwrap();
        assert!(line.starts_with("carol:$argon2id$"), "{line}");
        assert!(line.ends_with(":carol:read,mkdir"), "{line}");
        let users = parse_users_file(&format!("# comment\n\n{line}\n"), Path::new("/srv")).unwrap();
        assert_eq!(users[0].home, Some(PathBuf::from("/srv/carol")));
        assert_eq!(users[0].perms, Perms { read: true, mkdir: true, ..Perms::default() });
        let acc = Accounts::new(None, Limits::default(), users);
        assert!(acc.needs_hash("carol") && acc.needs_hash("dave") && !acc.needs_hash("anonymous"));
        assert!(acc.dummy.as_deref().is_some_and(|d| d.starts_with("$argon2id$v=19$m=19456,t=2,p=1$")));
        assert!(acc.check("carol", &Password::new("pw one")).is_some());
        assert!(acc.check("carol", &Password::new("pw two")).is_none());
        assert!(acc.check("dave", &Password::new("pw one")).is_none());
        assert!(!format!("{acc:?}").contains("argon2"));
    }

    #[test]
    fn malformed_users_lines_name_their_line() {
        let root = Path::new("/srv");
        let good = users_line("a", &Password::new("x"), "", &Perms::ALL, &Limits::default()).unwrap();
        for (text, want) in [
            (format!("{good}\nb:nohash::read\n"), "line 2: bad password hash"),
            (format!("\n{good}\n{good}\n"), "line 3: user 'a' is defined twice"),
            ("x:y\n".to_string(), "line 1: expected name:hash:home:permissions[:limits]"),
            (format!("{good}:down=fast\n"), "line 1: down: 'fast' is not a size"),
            (format!("{good}:speed=1\n"), "line 1: unknown limit 'speed'"),
            (format!("{good}:quota=1:x\n"), "line 1: expected name:hash:home:permissions[:limits]"),
            (
                good.replace(":all", ":fly").replace(":read,write,delete,mkdir,rename", ":fly"),
                "line 1: unknown permission 'fly'",
            ),
        ] {
            let err = parse_users_file(&text, root).unwrap_err();
            assert!(err.starts_with(want), "{err}");
        }
    }

    #[test]
    fn anonymous_names() {
        assert!(is_anonymous_name("anonymous") && is_anonymous_name("FTP"));
        assert!(!is_anonymous_name("alice"));
    }

    #[test]
    fn sizes_and_rates() {
        assert_eq!(parse_size("500"), Some(500));
        assert_eq!(parse_size("500k"), Some(500 << 10));
        assert_eq!(parse_size("2M"), Some(2 << 20));
        assert_eq!(parse_size("1MB/s"), Some(1 << 20));
        assert_eq!(parse_size("1T"), Some(1 << 40));
        for bad in ["", "fast", "1x", "k", "-1", "99999999999999g"] {
            assert_eq!(parse_size(bad), None, "{bad:?}");
        }
    }

    /// The fifth field of the users file, and what `--anon-limits` takes.
    #[test]
    fn limits_parse_print_and_reach_the_identity() {
        let l = Limits::parse("down=1M, up=512k,quota=2G,files=1000").unwrap();
        assert_eq!(l.download_rate, 1 << 20);
        assert_eq!(l.upload_rate, 512 << 10);
        assert_eq!(l.quota_bytes, Some(2 << 30));
        assert_eq!(l.quota_files, Some(1000));
        assert_eq!(Limits::parse(&l.to_string()), Ok(l));
        assert_eq!(l.to_string(), "down=1M,up=512K,quota=2G,files=1000");
        assert_eq!(Limits::parse("quota=1000").unwrap().to_string(), "quota=1000");
        assert_eq!(Limits::parse("none"), Ok(Limits::default()));
        assert_eq!(Limits::default().to_string(), "none");
        assert_eq!(Limits::parse("down=10MB/s").unwrap().download_rate, 10 << 20);
        assert!(Limits::parse("quota=99999999999T").is_err());
        assert_eq!(Limits::parse("down=100"), Err("down: rates start at 1K (1024 bytes/s)".into()));
        let line = users_line("d", &Password::new("p"), "h", &Perms::ALL, &l).unwrap();
        assert!(line.ends_with(&format!(":{l}")), "{line}");
        let users = parse_users_file(&line, Path::new("/srv")).unwrap();
        let acc = Accounts {
            users,
            anonymous_limits: Limits { download_rate: 7, ..Limits::default() },
            ..Accounts::default()
        };
        assert_eq!(acc.check("d", &Password::new("p")).unwrap().limits, l);
        let anon = Accounts { anonymous: Some(Perms::ALL), ..acc };
        assert_eq!(anon.check("ftp", &Password::new("")).unwrap().limits.download_rate, 7);
    }

    #[test]
    fn perms_parse_and_print() {
        assert_eq!(Perms::parse("all").unwrap(), Perms::ALL);
        assert_eq!(Perms::parse("none").unwrap(), Perms::default());
        assert_eq!(Perms::ALL.to_string(), "read,write,delete,mkdir,rename");
        assert_eq!(Perms::default().to_string(), "none");
        assert!(Perms::parse("read,fly").is_err());
    }
}
