//! Accounts: who may log in, with which password, where and with what rights.
//!
//! First version: anonymous (`anonymous` or `ftp`, any password; read-only
//! unless `--write`) and `--user NAME:PASSWORD` accounts with full access.

use std::fmt;
use std::path::PathBuf;

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
}

/// One named account.
#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    /// The login name.
    pub name: String,
    /// The password.
    pub password: Password,
    /// Its rights.
    pub perms: Perms,
    /// Its home, confined like the root; `None` means the server root.
    pub home: Option<PathBuf>,
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("name", &self.name)
            .field("perms", &self.perms)
            .field("home", &self.home)
            .finish()
    }
}

impl Account {
    /// Parses `NAME:PASSWORD` (the form of `--user`).
    pub fn parse_spec(spec: &str) -> Result<Account, String> {
        let (name, password) = spec.split_once(':').ok_or("expected NAME:PASSWORD")?;
        if name.is_empty() || name.len() > crate::limits::MAX_USER_NAME || name.contains(char::is_whitespace) {
            return Err("the name must be 1 to 256 characters without spaces".into());
        }
        if is_anonymous_name(name) {
            return Err(format!("'{name}' is the anonymous account"));
        }
        Ok(Account { name: name.to_string(), password: Password::new(password), perms: Perms::ALL, home: None })
    }
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
}

/// The table of accounts, built once before the workers fork.
#[derive(Clone, Debug, Default)]
pub struct Accounts {
    /// Rights of anonymous users; `None` when anonymous login is off.
    pub anonymous: Option<Perms>,
    /// Named accounts.
    pub users: Vec<Account>,
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
    /// Checks a login. Named accounts come first, so an admin may not shadow
    /// anonymous by accident (their names are refused by `parse_spec`).
    pub fn check(&self, user: &str, password: &Password) -> Option<Identity> {
        if let Some(acc) = self.users.iter().find(|a| a.name == user) {
            return constant_time_eq(acc.password.expose().as_bytes(), password.expose().as_bytes()).then(|| {
                Identity { name: acc.name.clone(), perms: acc.perms, home: acc.home.clone(), anonymous: false }
            });
        }
        if is_anonymous_name(user) {
            return self.anonymous.map(|perms| Identity {
                name: "anonymous".into(),
                perms,
                home: None,
                anonymous: true,
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_takes_any_password_and_is_read_only_by_default() {
        let acc = Accounts { anonymous: Some(Perms::READ_ONLY), users: vec![] };
        let id = acc.check("FTP", &Password::new("me@example")).unwrap();
        assert!(id.anonymous && !id.perms.write);
        assert!(Accounts::default().check("anonymous", &Password::new("")).is_none());
    }

    #[test]
    fn named_accounts_need_their_password() {
        let acc = Accounts { anonymous: None, users: vec![Account::parse_spec("bob:s3:cr:et").unwrap()] };
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
}
