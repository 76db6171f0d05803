//! The names a tree transfer writes: every name that comes from a server is
//! checked before it becomes a local path, so that nothing is ever written
//! outside the local target directory; and every local name is checked
//! before it goes into a command line.

use std::ffi::OsStr;
use std::io;
use std::path::Path;

/// Why a name is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused(pub &'static str);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// Checks a name a server gave for one entry of a directory (MLSD, NLST,
/// LIST). It becomes one component of a local path, so it must be exactly
/// one: not empty, not `.` or `..`, without `/` (which makes `/etc/x` or
/// `a/../../x`) and without NUL.
///
/// Security: a hostile server lists `../evil` or `/etc/cron.d/x` to make a
/// recursive download write outside its target. This check is the only
/// door from server names to local paths.
pub fn check_remote_name(name: &str) -> Result<(), Refused> {
    if name.is_empty() {
        return Err(Refused("an empty name"));
    }
    if name == "." || name == ".." {
        return Err(Refused("a name that points out of its directory"));
    }
    if name.contains('/') {
        return Err(Refused("a name with '/' in it (a path, not a name)"));
    }
    if name.contains('\0') {
        return Err(Refused("a name with a NUL byte"));
    }
    Ok(())
}

/// Checks the name of a local file or directory before it is sent to the
/// server: it must be UTF-8 (RFC 2640) and hold no CR or LF.
///
/// Security: a local file named `a\r\nDELE b` would end the command line
/// early and smuggle a second command.
pub fn check_local_name(name: &OsStr) -> Result<&str, Refused> {
    let s = name.to_str().ok_or(Refused("a name that is not UTF-8"))?;
    if s.contains(['\r', '\n']) {
        return Err(Refused("a name with a line break"));
    }
    Ok(s)
}

/// What stands at a local path a tree transfer is about to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Local {
    /// Nothing.
    Missing,
    /// A directory (not a link to one).
    Dir,
    /// A regular file (not a link to one).
    File,
    /// A symbolic link, or anything else (device, socket, fifo).
    Other,
}

/// What stands at `path`, links not followed.
///
/// Security: a tree transfer never goes through a symbolic link it finds
/// in the local target, so a link placed there cannot send a server's files
/// somewhere else.
pub fn local_kind(path: &Path) -> io::Result<Local> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_dir() => Ok(Local::Dir),
        Ok(m) if m.file_type().is_file() => Ok(Local::File),
        Ok(_) => Ok(Local::Other),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Local::Missing),
        Err(e) => Err(e),
    }
}

/// Joins a remote directory and a name (`.` stays out of the path).
pub fn remote_join(dir: &str, name: &str) -> String {
    if dir.is_empty() || dir == "." {
        name.to_string()
    } else if dir.ends_with('/') {
        format!("{dir}{name}")
    } else {
        format!("{dir}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_leave_the_target_are_refused() {
        for bad in ["", ".", "..", "../evil", "/etc/x", "a/b", "a\0b", "sub/../../x"] {
            assert!(check_remote_name(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["a.txt", "my file", "日本語.txt", "..hidden", "a..b", "-rf", "\u{1b}[2J"] {
            assert_eq!(check_remote_name(good), Ok(()), "{good:?} refused");
        }
    }

    #[test]
    fn local_names_cannot_smuggle_commands() {
        assert!(check_local_name(OsStr::new("a\r\nDELE b")).is_err());
        assert_eq!(check_local_name(OsStr::new("é b.txt")), Ok("é b.txt"));
        use std::os::unix::ffi::OsStrExt;
        assert!(check_local_name(OsStr::from_bytes(b"\xff.bin")).is_err());
    }

    #[test]
    fn remote_paths_join_without_dot() {
        assert_eq!(remote_join(".", "a"), "a");
        assert_eq!(remote_join("d", "a"), "d/a");
        assert_eq!(remote_join("/", "a"), "/a");
    }

    #[test]
    fn links_are_not_directories() {
        let dir = std::env::temp_dir().join(format!("forkftp-names-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("d")).unwrap();
        std::os::unix::fs::symlink("/", dir.join("link")).unwrap();
        assert_eq!(local_kind(&dir.join("d")).unwrap(), Local::Dir);
        assert_eq!(local_kind(&dir.join("link")).unwrap(), Local::Other);
        assert_eq!(local_kind(&dir.join("none")).unwrap(), Local::Missing);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
