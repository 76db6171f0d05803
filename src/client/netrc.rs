//! `~/.netrc`: logins by host, as ftp(1), curl and lftp read them.
//!
//! Tokens are separated by blanks and newlines: `machine NAME` starts an
//! entry, `default` the entry for every other host, then `login`,
//! `password`, `account`; `macdef NAME` starts a macro that runs to the
//! next empty line (skipped: the client runs no macros). Quotes are not
//! part of the format; a token is any run of non-blank characters.
//!
//! Security: as ftp(1) does, a password is not used from a file that other
//! users may read (any of the mode bits 077): the login fails with a
//! message saying how to fix it.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::limits::CLIENT_MAX_NETRC;
use crate::protocol::Password;

/// One entry of the file.
#[derive(Clone, Debug, Default)]
pub struct Machine {
    /// The host it is for; `None` for `default`.
    pub host: Option<String>,
    /// The user name.
    pub login: Option<String>,
    /// The password (its `Debug` shows stars).
    pub password: Option<Password>,
}

/// A parsed netrc file.
#[derive(Clone, Debug, Default)]
pub struct Netrc {
    /// Where it was read from (for messages).
    pub path: PathBuf,
    /// Its entries, in order.
    pub machines: Vec<Machine>,
    /// Other users may read it (mode & 077).
    pub exposed: bool,
}

/// The entries of a netrc text.
pub fn parse(text: &str) -> Vec<Machine> {
    // The tokens, without the macros: `macdef NAME` and the lines up to
    // the next empty one.
    let mut tokens = Vec::new();
    let mut in_macro = false;
    for line in text.lines() {
        if in_macro {
            in_macro = !line.trim().is_empty();
            continue;
        }
        for word in line.split_whitespace() {
            if word == "macdef" {
                in_macro = true;
                break;
            }
            tokens.push(word);
        }
    }
    let mut machines: Vec<Machine> = Vec::new();
    let mut tokens = tokens.into_iter();
    while let Some(tok) = tokens.next() {
        match tok {
            "machine" => machines.push(Machine { host: tokens.next().map(str::to_string), ..Machine::default() }),
            "default" => machines.push(Machine::default()),
            "login" | "password" | "account" => {
                let value = tokens.next().map(str::to_string);
                if let Some(m) = machines.last_mut() {
                    match tok {
                        "login" => m.login = value,
                        "password" => m.password = value.map(Password::new),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    machines
}

impl Netrc {
    /// Reads the netrc file: `$NETRC` when set, else `~/.netrc`. A missing
    /// file is `Ok(None)`.
    pub fn load() -> Result<Option<Netrc>, String> {
        let path = match std::env::var_os("NETRC") {
            Some(p) => PathBuf::from(p),
            None => match std::env::var_os("HOME") {
                Some(h) => Path::new(&h).join(".netrc"),
                None => return Ok(None),
            },
        };
        Netrc::load_from(&path)
    }

    /// Reads the netrc file at `path` (`Ok(None)` when there is none).
    pub fn load_from(path: &Path) -> Result<Option<Netrc>, String> {
        let shown = path.display();
        let file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{shown}: {}", super::error::io_text(&e))),
        };
        let meta = file.metadata().map_err(|e| format!("{shown}: {}", super::error::io_text(&e)))?;
        let mut text = String::new();
        file.take(CLIENT_MAX_NETRC + 1)
            .read_to_string(&mut text)
            .map_err(|e| format!("{shown}: {}", super::error::io_text(&e)))?;
        if text.len() as u64 > CLIENT_MAX_NETRC {
            return Err(format!("{shown}: larger than {CLIENT_MAX_NETRC} bytes"));
        }
        Ok(Some(Netrc {
            path: path.to_path_buf(),
            machines: parse(&text),
            exposed: meta.permissions().mode() & 0o077 != 0,
        }))
    }

    /// The entry for `host` (its `machine`, else `default`), for `user`
    /// when one is asked: an entry naming another login does not match.
    pub fn find(&self, host: &str, user: Option<&str>) -> Option<&Machine> {
        let fits = |m: &&Machine| match (user, &m.login) {
            (Some(u), Some(l)) => u == l,
            _ => true,
        };
        self.machines
            .iter()
            .filter(|m| m.host.as_deref().is_some_and(|h| h.eq_ignore_ascii_case(host)))
            .find(fits)
            .or_else(|| self.machines.iter().filter(|m| m.host.is_none()).find(fits))
    }

    /// The password of `user` at `host`, if the file has one.
    ///
    /// Security: refused (with the fix) when others may read the file, as
    /// ftp(1) does; anonymous logins are exempt, as there.
    pub fn password(&self, host: &str, user: &str) -> Result<Option<Password>, String> {
        let Some(m) = self.find(host, Some(user)) else { return Ok(None) };
        let Some(p) = &m.password else { return Ok(None) };
        if self.exposed && !crate::accounts::is_anonymous_name(user) {
            let shown = self.path.display();
            return Err(format!(
                "{shown} holds a password and other users may read it: refused. \
                 Make it private (chmod 600 {shown}) or remove the password."
            ));
        }
        Ok(Some(p.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "machine ftp.example.org login alice password s3cret\n\
                        macdef init\ncd /pub\nget x\n\n\
                        machine other\n  login bob\n  password pw2\n\
                        default login anonymous password me@\n";

    #[test]
    fn entries_by_host_then_default() {
        let n = Netrc { machines: parse(TEXT), ..Netrc::default() };
        assert_eq!(n.machines.len(), 3);
        let m = n.find("FTP.example.org", None).unwrap();
        assert_eq!(m.login.as_deref(), Some("alice"));
        assert_eq!(n.password("ftp.example.org", "alice").unwrap().unwrap().expose(), "s3cret");
        assert_eq!(n.find("other", None).unwrap().login.as_deref(), Some("bob"));
        assert_eq!(n.find("elsewhere", None).unwrap().login.as_deref(), Some("anonymous"));
        // Another user at a known host falls to the default entry.
        assert_eq!(n.find("other", Some("carol")).map(|m| m.host.clone()), None);
        assert!(n.password("other", "carol").unwrap().is_none());
    }

    #[test]
    fn a_password_others_may_read_is_refused_with_the_fix() {
        let n = Netrc { machines: parse(TEXT), exposed: true, path: "/h/.netrc".into() };
        let e = n.password("ftp.example.org", "alice").unwrap_err();
        assert!(e.contains("chmod 600 /h/.netrc"), "{e}");
        // ftp(1) lets anonymous passwords (an e-mail address) through.
        assert!(n.password("elsewhere", "anonymous").unwrap().is_some());
    }

    #[test]
    fn the_debug_form_hides_passwords() {
        assert!(!format!("{:?}", parse(TEXT)).contains("s3cret"));
    }
}
