//! Quotas of bytes and files per home (issue 14): `quota=` and `files=` of
//! an account's limits.
//!
//! What counts: the regular files of the home (directories and symbolic
//! links do not), their sizes in bytes. The usage is kept in a small file
//! of the home, [`QUOTA_FILE`] (`BYTES FILES`), that every session of the
//! home updates under `flock` as it goes, so that two sessions of one
//! account (or of two accounts sharing a home) cannot together exceed the
//! quota. It is counted by walking the home at the first login (and when
//! it is missing or unreadable: deleting it makes the next login count
//! again, after files were changed by other means than FTP). Where the
//! home does not let the worker write that file (an anonymous root that
//! only has a writable `incoming/`), the usage is counted at each login
//! and kept by the session alone.
//!
//! An upload is charged as its bytes arrive, before they are written
//! ([`Charge::add`]): the chunk that would pass the quota is refused with
//! `552`, never written, and the upload's temporary file removed. A STOR
//! that replaces a file may grow to the old file's size before it is
//! charged anything. A new file needs room in `files=` before its `150`.

use std::cell::Cell;
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::rc::Rc;
use std::time::Instant;

use nix::dir::{Dir, OwningIter, Type};
use nix::errno::Errno;
use nix::fcntl::{AtFlags, Flock, FlockArg, OFlag};
use nix::sys::stat::{fstatat, Mode};

use super::error::FtpError;
use super::jail::{is_dir, is_regular, Jail};
use super::upload::is_temp_name;
use super::vpath::VPath;
use crate::accounts::Limits;
use crate::limits::{QUOTA_FILE, QUOTA_LOCK_TIMEOUT, QUOTA_SCAN_MAX_DEPTH, QUOTA_SCAN_MAX_ENTRIES};

/// What a home holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Bytes of regular files.
    pub bytes: u64,
    /// Regular files.
    pub files: u64,
}

impl Usage {
    /// `BYTES FILES`, the quota file's text; `None` when it is not that.
    pub fn parse(text: &str) -> Option<Usage> {
        let mut w = text.split_ascii_whitespace();
        let usage = Usage { bytes: w.next()?.parse().ok()?, files: w.next()?.parse().ok()? };
        w.next().is_none().then_some(usage)
    }

    fn text(&self) -> String {
        format!("{} {}\n", self.bytes, self.files)
    }
}

enum Store {
    /// The home's quota file, shared by its sessions.
    File(File),
    /// This session's own count.
    Memory(Cell<Usage>),
}

struct Inner {
    limits: Limits,
    store: Store,
}

/// The quota of one session's home; clones share it.
#[derive(Clone)]
pub struct Quota(Rc<Inner>);

/// Counts the regular files under `dir`, up to the depth and entry limits.
/// Returns the usage and whether the count was complete. Depth first, one
/// open directory per level: at most [`QUOTA_SCAN_MAX_DEPTH`] descriptors,
/// however wide the tree.
fn scan(dir: OwnedFd) -> (Usage, bool) {
    use std::os::fd::IntoRawFd;
    let mut usage = Usage::default();
    let mut seen = 0u64;
    let mut complete = true;
    let Ok(top) = Dir::from_fd(dir.into_raw_fd()) else { return (usage, false) };
    let mut path: Vec<OwningIter> = vec![top.into_iter()];
    while let Some(level) = path.last_mut() {
        let Some(entry) = level.next() else {
            path.pop();
            continue;
        };
        let Ok(entry) = entry else { continue };
        let name = entry.file_name();
        let bytes = name.to_bytes();
        if bytes == b"." || bytes == b".." || is_temp_name(bytes) {
            continue;
        }
        seen += 1;
        if seen > QUOTA_SCAN_MAX_ENTRIES {
            return (usage, false);
        }
        if entry.file_type() == Some(Type::Symlink) {
            continue;
        }
        let fd = level.as_raw_fd();
        // Security: symbolic links are never followed, here or below.
        let Ok(st) = fstatat(Some(fd), name, AtFlags::AT_SYMLINK_NOFOLLOW) else { continue };
        if is_regular(&st) {
            usage.bytes += st.st_size as u64;
            usage.files += 1;
        } else if is_dir(&st) {
            if path.len() >= QUOTA_SCAN_MAX_DEPTH {
                complete = false;
                continue;
            }
            let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
            match Dir::openat(Some(fd), name, flags, Mode::empty()) {
                Ok(sub) => path.push(sub.into_iter()),
                Err(_) => complete = false,
            }
        }
    }
    (usage, complete)
}

/// Takes the file's lock, waiting at most [`QUOTA_LOCK_TIMEOUT`].
fn lock(file: &File) -> Result<Flock<File>, FtpError> {
    let deadline = Instant::now() + QUOTA_LOCK_TIMEOUT;
    loop {
        let dup = file.try_clone()?;
        match Flock::lock(dup, FlockArg::LockExclusiveNonblock) {
            Ok(l) => return Ok(l),
            Err((_, Errno::EWOULDBLOCK)) if Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(2))
            }
            Err((_, Errno::EWOULDBLOCK)) => return Err(FtpError::Local("the quota file is busy".into())),
            Err((_, e)) => return Err(e.into()),
        }
    }
}

fn read_usage(file: &File) -> Option<Usage> {
    let mut buf = [0u8; 64];
    let n = file.read_at(&mut buf, 0).ok()?;
    Usage::parse(std::str::from_utf8(&buf[..n]).ok()?)
}

fn write_usage(file: &File, u: Usage) -> Result<(), FtpError> {
    let text = u.text();
    file.write_all_at(text.as_bytes(), 0)?;
    file.set_len(text.len() as u64)?;
    Ok(())
}

impl Quota {
    /// At login: the quota of the home `jail` is, for an account with
    /// `limits`; `None` when the account has no quota.
    pub fn open(jail: &Jail, limits: Limits, who: &str) -> Option<Quota> {
        if !limits.has_quota() {
            return None;
        }
        let count = || {
            let (usage, complete) = jail.open_dir(&VPath::root()).map(scan).unwrap_or_default();
            if !complete {
                log::warn!("quota of {who}: the home is too large or deep to count whole; counted {usage:?}");
            }
            usage
        };
        let store = match jail.open_quota_file(QUOTA_FILE) {
            Ok(file) => {
                let counted = lock(&file).and_then(|_guard| match read_usage(&file) {
                    Some(u) => Ok(u),
                    None => {
                        let u = count();
                        write_usage(&file, u).map(|()| u)
                    }
                });
                match counted {
                    Ok(_) => Store::File(file),
                    Err(e) => {
                        log::warn!("quota of {who}: {QUOTA_FILE}: {e}; counting for this session only");
                        Store::Memory(Cell::new(count()))
                    }
                }
            }
            Err(e) => {
                log::info!("quota of {who}: no {QUOTA_FILE} in the home ({e:?}); counting for this session only");
                Store::Memory(Cell::new(count()))
            }
        };
        Some(Quota(Rc::new(Inner { limits, store })))
    }

    /// Reads and changes the usage in one step (under the file's lock);
    /// `f` returning an error changes nothing.
    fn update<T>(&self, f: impl FnOnce(&mut Usage) -> Result<T, FtpError>) -> Result<T, FtpError> {
        match &self.0.store {
            Store::Memory(cell) => {
                let mut u = cell.get();
                let out = f(&mut u)?;
                cell.set(u);
                Ok(out)
            }
            Store::File(file) => {
                let _guard = lock(file)?;
                let before = read_usage(file).unwrap_or_default();
                let mut u = before;
                let out = f(&mut u)?;
                if u != before {
                    write_usage(file, u)?;
                }
                Ok(out)
            }
        }
    }

    /// The usage now.
    pub fn usage(&self) -> Result<Usage, FtpError> {
        self.update(|u| Ok(*u))
    }

    /// Bytes that may still be stored (`None`: no byte quota).
    pub fn bytes_left(&self) -> Result<Option<u64>, FtpError> {
        let u = self.usage()?;
        Ok(self.0.limits.quota_bytes.map(|q| q.saturating_sub(u.bytes)))
    }

    /// A file of `bytes` left the home (DELE, or replaced by RNTO).
    pub fn release(&self, bytes: u64) {
        let r = self.update(|u| {
            u.bytes = u.bytes.saturating_sub(bytes);
            u.files = u.files.saturating_sub(1);
            Ok(())
        });
        if let Err(e) = r {
            log::warn!("quota: {e}");
        }
    }

    /// Bytes freed without a file leaving (REST+STOR cutting a file).
    pub fn shrink(&self, bytes: u64) {
        let r = self.update(|u| {
            u.bytes = u.bytes.saturating_sub(bytes);
            Ok(())
        });
        if let Err(e) = r {
            log::warn!("quota: {e}");
        }
    }

    /// Before an upload's `150`: a new file (`replaced` is `None`) needs
    /// room in the files quota; a replaced file's bytes may be reused.
    pub fn begin_upload(&self, replaced: Option<u64>) -> Result<Charge, FtpError> {
        let new_file = replaced.is_none();
        if new_file {
            let max = self.0.limits.quota_files;
            self.update(|u| {
                // Security: the quota holds before the 150.
                if max.is_some_and(|m| u.files >= m) {
                    return Err(FtpError::QuotaExceeded);
                }
                u.files += 1;
                Ok(())
            })?;
        }
        Ok(Charge {
            quota: self.clone(),
            replaced: replaced.unwrap_or(0),
            new_file,
            written: 0,
            charged: 0,
            done: false,
        })
    }
}

/// An upload's account with the quota: what it was charged so far.
pub struct Charge {
    quota: Quota,
    replaced: u64,
    new_file: bool,
    written: u64,
    charged: u64,
    done: bool,
}

impl Charge {
    /// `n` more bytes are about to be written: charges them, or refuses
    /// with [`FtpError::QuotaExceeded`] (nothing charged) when they would
    /// pass the quota.
    pub fn add(&mut self, n: u64) -> Result<(), FtpError> {
        let written = self.written + n;
        let due = written.saturating_sub(self.replaced);
        let need = due - self.charged;
        if need > 0 {
            let max = self.quota.0.limits.quota_bytes;
            self.quota.update(|u| {
                // Security: the bytes that would pass the quota are never written.
                if max.is_some_and(|m| u.bytes + need > m) {
                    return Err(FtpError::QuotaExceeded);
                }
                u.bytes += need;
                Ok(())
            })?;
            self.charged = due;
        }
        self.written = written;
        Ok(())
    }

    /// The upload is in place: a replaced file larger than the new one
    /// gives back the difference.
    pub fn commit(mut self) {
        self.done = true;
        let back = self.replaced.saturating_sub(self.written);
        if back > 0 {
            self.quota.shrink(back);
        }
    }
}

impl Drop for Charge {
    /// An upload that failed gives back what it was charged, and its file.
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let (bytes, files) = (self.charged, u64::from(self.new_file));
        let r = self.quota.update(|u| {
            u.bytes = u.bytes.saturating_sub(bytes);
            u.files = u.files.saturating_sub(files);
            Ok(())
        });
        if let Err(e) = r {
            log::warn!("quota: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn home(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("forkftp-quota-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("a/b")).unwrap();
        std::fs::write(d.join("one"), [0u8; 100]).unwrap();
        std::fs::write(d.join("a/b/two"), [0u8; 50]).unwrap();
        std::fs::write(d.join(".forkftp.1.part"), [0u8; 999]).unwrap();
        std::os::unix::fs::symlink("one", d.join("link")).unwrap();
        d
    }

    fn limits(bytes: u64, files: u64) -> Limits {
        Limits { quota_bytes: Some(bytes), quota_files: Some(files), ..Limits::default() }
    }

    #[test]
    fn the_first_login_counts_regular_files_and_keeps_the_count() {
        let d = home("count");
        let jail = Jail::new(&d).unwrap();
        let q = Quota::open(&jail, limits(1000, 10), "t").unwrap();
        assert_eq!(q.usage().unwrap(), Usage { bytes: 150, files: 2 });
        assert_eq!(std::fs::read_to_string(d.join(QUOTA_FILE)).unwrap(), "150 2\n");
        // A later login reads the file instead of counting.
        std::fs::write(d.join(QUOTA_FILE), "7 1\n").unwrap();
        assert_eq!(Quota::open(&jail, limits(1000, 10), "t").unwrap().usage().unwrap(), Usage { bytes: 7, files: 1 });
        assert!(Quota::open(&jail, Limits::default(), "t").is_none());
        // A deep tree is counted down to the limit; a wide one whole.
        let (_, complete) = scan(jail.open_dir(&VPath::root()).unwrap());
        assert!(complete);
        let mut deep = d.join("wide");
        for i in 0..300 {
            std::fs::create_dir_all(d.join(format!("wide/{i}"))).unwrap();
            std::fs::write(d.join(format!("wide/{i}/f")), b"x").unwrap();
        }
        for _ in 0..QUOTA_SCAN_MAX_DEPTH + 2 {
            deep = deep.join("d");
        }
        std::fs::create_dir_all(&deep).unwrap();
        let (u, complete) = scan(jail.open_dir(&VPath::root()).unwrap());
        assert_eq!((u.files, complete), (302, false), "{u:?}");
        let _ = std::fs::remove_dir_all(&d);
    }

    /// Exactly at the quota is allowed; one byte over is refused, and a
    /// failed upload gives back what it took.
    #[test]
    fn charges_stop_at_the_quota_and_failures_refund() {
        let d = home("charge");
        let jail = Jail::new(&d).unwrap();
        let q = Quota::open(&jail, limits(200, 3), "t").unwrap();
        let mut c = q.begin_upload(None).unwrap();
        c.add(40).unwrap();
        c.add(10).unwrap();
        assert!(matches!(c.add(1), Err(FtpError::QuotaExceeded)));
        assert_eq!(q.usage().unwrap(), Usage { bytes: 200, files: 3 });
        c.commit();
        assert!(matches!(q.begin_upload(None), Err(FtpError::QuotaExceeded)), "no room for a fourth file");
        // Replacing the 100-byte file with 100 bytes needs no room...
        let mut r = q.begin_upload(Some(100)).unwrap();
        r.add(100).unwrap();
        assert!(matches!(r.add(1), Err(FtpError::QuotaExceeded)));
        drop(r);
        assert_eq!(q.usage().unwrap(), Usage { bytes: 200, files: 3 });
        // ...and a smaller replacement gives back the difference.
        let mut r = q.begin_upload(Some(100)).unwrap();
        r.add(30).unwrap();
        r.commit();
        assert_eq!(q.usage().unwrap(), Usage { bytes: 130, files: 3 });
        q.release(30);
        assert_eq!(q.usage().unwrap(), Usage { bytes: 100, files: 2 });
        assert_eq!(q.bytes_left().unwrap(), Some(100));
        let _ = std::fs::remove_dir_all(&d);
    }

    /// A home where the quota file cannot be made: each session counts at
    /// login and keeps its own usage.
    #[test]
    fn without_a_quota_file_each_session_counts_alone() {
        let d = home("memory");
        std::fs::create_dir(d.join(QUOTA_FILE)).unwrap();
        let jail = Jail::new(&d).unwrap();
        let q = Quota::open(&jail, limits(200, 10), "t").unwrap();
        assert!(matches!(q.0.store, Store::Memory(_)));
        assert_eq!(q.usage().unwrap(), Usage { bytes: 150, files: 2 });
        let mut c = q.begin_upload(None).unwrap();
        c.add(50).unwrap();
        assert!(matches!(c.add(1), Err(FtpError::QuotaExceeded)));
        c.commit();
        assert_eq!(q.bytes_left().unwrap(), Some(0));
        let other = Quota::open(&jail, limits(200, 10), "t").unwrap();
        assert_eq!(other.usage().unwrap(), Usage { bytes: 150, files: 2 }, "counted anew");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn usage_text() {
        assert_eq!(Usage::parse("12 3\n"), Some(Usage { bytes: 12, files: 3 }));
        assert_eq!(Usage::parse("12"), None);
        assert_eq!(Usage::parse("12 3 4"), None);
        assert_eq!(Usage::parse("x y"), None);
    }
}
