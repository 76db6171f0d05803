//! The path jail: every file a client names is opened relative to a
//! directory descriptor of its root, and the kernel refuses any escape.
//!
//! Resolution uses `openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`: `..`
//! above the root, absolute symlinks and symlinks leading out of the root are
//! refused by the kernel at the moment of opening, so a symlink swapped in
//! while a request runs cannot escape either. Symlinks that stay inside the
//! root work. Where the kernel lacks openat2 (before Linux 5.6), a
//! component-by-component walk with `O_NOFOLLOW` is used instead: it refuses
//! every symlink, which is stricter but just as safe.
//!
//! Operations that name an entry (mkdir, unlink, rename) open the parent
//! directory this way and then act on the last name with the `*at` calls;
//! the last name never holds `/` or `..` (see [`super::vpath`]).

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use nix::errno::Errno;
use nix::fcntl::{self, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{self, FileStat, Mode, SFlag};
use nix::unistd::{self, UnlinkatFlags};

use super::vpath::VPath;
use crate::limits::JAIL_RACE_RETRIES;
use crate::sys::adopt;

/// False once openat2 answered ENOSYS: use the O_NOFOLLOW walk from then on.
static HAVE_OPENAT2: AtomicBool = AtomicBool::new(true);

/// A client's root directory, held open.
#[derive(Debug)]
pub struct Jail {
    root: OwnedFd,
}

/// Why a path cannot be served, beyond what the OS says.
#[derive(Debug)]
pub enum JailError {
    /// The OS refused (ENOENT, EACCES, EXDEV for an escape, ELOOP...).
    Os(Errno),
    /// RETR of a directory, device, FIFO or socket.
    NotRegularFile,
    /// The root itself was named where an entry is needed (RMD /, DELE /).
    IsRoot,
}

impl From<Errno> for JailError {
    fn from(e: Errno) -> Self {
        JailError::Os(e)
    }
}

impl From<JailError> for io::Error {
    fn from(e: JailError) -> io::Error {
        match e {
            JailError::Os(e) => io::Error::from(e),
            JailError::NotRegularFile => io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"),
            JailError::IsRoot => io::Error::new(io::ErrorKind::PermissionDenied, "the root cannot be changed"),
        }
    }
}

/// What a stat of an entry tells a listing or a SIZE/MDTM reply.
pub type Stat = FileStat;

/// True when the mode is a regular file.
pub fn is_regular(st: &Stat) -> bool {
    SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) == SFlag::S_IFREG
}

/// True when the mode is a directory.
pub fn is_dir(st: &Stat) -> bool {
    SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) == SFlag::S_IFDIR
}

impl Jail {
    /// Opens `dir` as a root.
    pub fn new(dir: &Path) -> io::Result<Jail> {
        let fd = adopt(fcntl::open(dir, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty()))?;
        Ok(Jail { root: fd })
    }

    /// Opens `path` beneath the root with `flags` (and `mode` for O_CREAT).
    fn open_beneath(&self, rel: &str, flags: OFlag, mode: Mode) -> Result<OwnedFd, Errno> {
        let flags = flags | OFlag::O_CLOEXEC;
        if HAVE_OPENAT2.load(Ordering::Relaxed) {
            let how = OpenHow::new()
                .flags(flags)
                .mode(if flags.contains(OFlag::O_CREAT) { mode } else { Mode::empty() })
                .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS);
            // Security: the kernel refuses `..` above the root and any symlink
            // that leads out of it (EXDEV), at the moment of the open. It
            // answers EAGAIN when a rename anywhere on the system raced with
            // a `..` in the lookup: tried again a few times, then the walk,
            // which refuses every symlink (a safe answer, if a strict one).
            for _ in 0..JAIL_RACE_RETRIES {
                match adopt(fcntl::openat2(self.root.as_raw_fd(), rel, how)) {
                    Err(Errno::ENOSYS) => {
                        HAVE_OPENAT2.store(false, Ordering::Relaxed);
                        break;
                    }
                    Err(Errno::EAGAIN) => continue,
                    other => return other,
                }
            }
        }
        self.walk_nofollow(rel, flags, mode)
    }

    /// The fallback resolver: one `openat(O_NOFOLLOW)` per component, so no
    /// symlink is ever followed (ELOOP) and no component can be `..`.
    fn walk_nofollow(&self, rel: &str, flags: OFlag, mode: Mode) -> Result<OwnedFd, Errno> {
        let comps: Vec<&str> = rel.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
        if comps.contains(&"..") {
            return Err(Errno::EXDEV);
        }
        let Some((last, dirs)) = comps.split_last() else {
            return adopt(fcntl::openat(Some(self.root.as_raw_fd()), ".", flags, mode));
        };
        let mut cur: Option<OwnedFd> = None;
        for d in dirs {
            let at = cur.as_ref().map_or(self.root.as_raw_fd(), |f| f.as_raw_fd());
            let next = adopt(fcntl::openat(
                Some(at),
                *d,
                OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            ))?;
            cur = Some(next);
        }
        let at = cur.as_ref().map_or(self.root.as_raw_fd(), |f| f.as_raw_fd());
        adopt(fcntl::openat(Some(at), *last, flags | OFlag::O_NOFOLLOW, mode))
    }

    /// Opens a regular file for reading, and returns it with its stat.
    pub fn open_file(&self, p: &VPath) -> Result<(File, Stat), JailError> {
        // O_NONBLOCK: opening a FIFO must not hang the worker; O_NOCTTY: a
        // terminal device must not become our controlling terminal.
        let fd =
            self.open_beneath(p.relative(), OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY, Mode::empty())?;
        let st = stat::fstat(fd.as_raw_fd())?;
        // Security: only regular files are served, never a directory, device,
        // FIFO or socket (vsftpd: "No games please").
        if !is_regular(&st) {
            return Err(JailError::NotRegularFile);
        }
        let flags = OFlag::from_bits_truncate(fcntl::fcntl(fd.as_raw_fd(), fcntl::F_GETFL)?);
        fcntl::fcntl(fd.as_raw_fd(), fcntl::F_SETFL(flags - OFlag::O_NONBLOCK))?;
        Ok((File::from(fd), st))
    }

    /// Opens a directory for listing.
    pub fn open_dir(&self, p: &VPath) -> Result<OwnedFd, JailError> {
        Ok(self.open_beneath(p.relative(), OFlag::O_RDONLY | OFlag::O_DIRECTORY, Mode::empty())?)
    }

    /// The status of whatever `p` names (symlinks inside the root followed).
    pub fn stat(&self, p: &VPath) -> Result<Stat, JailError> {
        let fd = self.open_beneath(p.relative(), OFlag::O_PATH, Mode::empty())?;
        Ok(stat::fstat(fd.as_raw_fd())?)
    }

    /// Opens the directory that holds `p`, and returns it with the last name.
    pub fn parent<'a>(&self, p: &'a VPath) -> Result<(OwnedFd, &'a str), JailError> {
        let (parent, name) = p.split_last().ok_or(JailError::IsRoot)?;
        let fd = self.open_beneath(parent.relative(), OFlag::O_PATH | OFlag::O_DIRECTORY, Mode::empty())?;
        Ok((fd, name))
    }

    /// Creates a directory.
    pub fn mkdir(&self, p: &VPath) -> Result<(), JailError> {
        let (dir, name) = self.parent(p)?;
        Ok(stat::mkdirat(Some(dir.as_raw_fd()), name, Mode::from_bits_truncate(0o755))?)
    }

    /// Removes an empty directory.
    pub fn rmdir(&self, p: &VPath) -> Result<(), JailError> {
        let (dir, name) = self.parent(p)?;
        Ok(unistd::unlinkat(Some(dir.as_raw_fd()), name, UnlinkatFlags::RemoveDir)?)
    }

    /// Removes a file (or a symlink itself, never its target).
    pub fn unlink(&self, p: &VPath) -> Result<(), JailError> {
        let (dir, name) = self.parent(p)?;
        let st = stat::fstatat(Some(dir.as_raw_fd()), name, fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)?;
        if is_dir(&st) {
            return Err(JailError::Os(Errno::EISDIR));
        }
        Ok(unistd::unlinkat(Some(dir.as_raw_fd()), name, UnlinkatFlags::NoRemoveDir)?)
    }

    /// Renames `from` to `to` (both inside the root).
    pub fn rename(&self, from: &VPath, to: &VPath) -> Result<(), JailError> {
        let (fdir, fname) = self.parent(from)?;
        let (tdir, tname) = self.parent(to)?;
        Ok(fcntl::renameat(Some(fdir.as_raw_fd()), fname, Some(tdir.as_raw_fd()), tname)?)
    }

    /// Opens an existing regular file for writing at its end (APPE, REST+STOR).
    pub fn open_for_append(&self, p: &VPath, create: bool) -> Result<(File, Stat), JailError> {
        let mut flags = OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY;
        if create {
            flags |= OFlag::O_CREAT;
        }
        let fd = self.open_beneath(p.relative(), flags, Mode::from_bits_truncate(0o644))?;
        let st = stat::fstat(fd.as_raw_fd())?;
        // Security: only regular files are written to.
        if !is_regular(&st) {
            return Err(JailError::NotRegularFile);
        }
        let fl = OFlag::from_bits_truncate(fcntl::fcntl(fd.as_raw_fd(), fcntl::F_GETFL)?);
        fcntl::fcntl(fd.as_raw_fd(), fcntl::F_SETFL(fl - OFlag::O_NONBLOCK))?;
        Ok((File::from(fd), st))
    }

    /// Creates a new file named `name` in `dir` that must not exist yet.
    pub fn create_new_in(dir: &OwnedFd, name: &str) -> Result<File, JailError> {
        let fd = adopt(fcntl::openat(
            Some(dir.as_raw_fd()),
            name,
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o644),
        ))?;
        Ok(File::from(fd))
    }

    /// Status of `name` in `dir`, symlinks not followed (for listings).
    pub fn lstat_in(dir: &OwnedFd, name: &str) -> Result<Stat, Errno> {
        stat::fstatat(Some(dir.as_raw_fd()), name, fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)
    }

    /// Renames `from` to `to`, both names in `dir` (finishing an upload).
    pub fn rename_in(dir: &OwnedFd, from: &str, to: &str) -> Result<(), Errno> {
        fcntl::renameat(Some(dir.as_raw_fd()), from, Some(dir.as_raw_fd()), to)
    }

    /// Swaps the names `a` and `b` in `dir` in one step
    /// (`renameat2(RENAME_EXCHANGE)`): an upload that replaces a file.
    pub fn exchange_in(dir: &OwnedFd, a: &str, b: &str) -> Result<(), Errno> {
        let d = Some(dir.as_raw_fd());
        fcntl::renameat2(d, a, d, b, fcntl::RenameFlags::RENAME_EXCHANGE)
    }

    /// A descriptor that keeps `name` in `dir` from being freed, without
    /// opening it for I/O (`O_PATH`; a symlink itself, never its target).
    pub fn hold_in(dir: &OwnedFd, name: &str) -> Result<OwnedFd, Errno> {
        let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        adopt(fcntl::openat(Some(dir.as_raw_fd()), name, flags, Mode::empty()))
    }

    /// Removes the file `name` from `dir` (cleaning up a failed upload).
    pub fn unlink_in(dir: &OwnedFd, name: &str) -> Result<(), Errno> {
        unistd::unlinkat(Some(dir.as_raw_fd()), name, UnlinkatFlags::NoRemoveDir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tmp(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("forkftp-jail-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("root/sub")).unwrap();
        std::fs::write(d.join("root/sub/f.txt"), b"inside").unwrap();
        std::fs::write(d.join("secret"), b"outside").unwrap();
        d
    }

    fn vp(s: &str) -> VPath {
        VPath::root().join(s).unwrap()
    }

    #[test]
    fn symlinks_out_of_the_root_are_refused_and_inside_ones_work() {
        let d = tmp("sym");
        symlink(d.join("secret"), d.join("root/abs-out")).unwrap();
        symlink("../secret", d.join("root/rel-out")).unwrap();
        symlink("sub/f.txt", d.join("root/in")).unwrap();
        let jail = Jail::new(&d.join("root")).unwrap();
        assert!(jail.open_file(&vp("abs-out")).is_err());
        assert!(jail.open_file(&vp("rel-out")).is_err());
        assert!(jail.open_file(&vp("in")).is_ok() || !HAVE_OPENAT2.load(Ordering::Relaxed));
        assert!(jail.open_file(&vp("sub/f.txt")).is_ok());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_rename_elsewhere_does_not_make_an_inside_symlink_fail() {
        // openat2 answers EAGAIN when any rename on the system races with a
        // `..` of the lookup; the jail tries again instead of refusing.
        let d = tmp("race");
        symlink("../sub/f.txt", d.join("root/sub/up-link")).unwrap();
        let jail = Jail::new(&d.join("root")).unwrap();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let renamer = {
            let (stop, a, b) = (stop.clone(), d.join("a"), d.join("b"));
            std::fs::write(&a, b"x").unwrap();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let _ = std::fs::rename(&a, &b);
                    let _ = std::fs::rename(&b, &a);
                }
            })
        };
        let failed = (0..20_000).filter(|_| jail.open_file(&vp("sub/up-link")).is_err()).count();
        stop.store(true, Ordering::Relaxed);
        renamer.join().unwrap();
        let _ = std::fs::remove_dir_all(&d);
        assert_eq!(failed, 0, "opens of an inside symlink failed while files were renamed");
    }

    #[test]
    fn fallback_walk_refuses_every_symlink() {
        let d = tmp("walk");
        symlink("sub", d.join("root/link")).unwrap();
        let jail = Jail::new(&d.join("root")).unwrap();
        assert!(jail.walk_nofollow("link/f.txt", OFlag::O_RDONLY, Mode::empty()).is_err());
        assert!(jail.walk_nofollow("sub/f.txt", OFlag::O_RDONLY, Mode::empty()).is_ok());
        assert!(jail.walk_nofollow("../secret", OFlag::O_RDONLY, Mode::empty()).is_err());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn only_regular_files_are_opened_for_reading() {
        let d = tmp("reg");
        let jail = Jail::new(&d.join("root")).unwrap();
        assert!(matches!(jail.open_file(&vp("sub")), Err(JailError::NotRegularFile)));
        assert!(matches!(jail.rmdir(&VPath::root()), Err(JailError::IsRoot)));
        let _ = std::fs::remove_dir_all(&d);
    }
}
