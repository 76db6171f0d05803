//! Changing what a file is rather than what it holds (issue 14): its
//! modification time (MFMT, MFF, MDTM with a time), its permission bits
//! (SITE CHMOD, MFF `UNIX.mode`, and the umask of new files and
//! directories), the free space under it (AVBL), and the quota file of a
//! home. Every entry is reached through the [`Jail`]: the parent directory
//! is opened beneath the root, and the last name is changed without
//! following a symbolic link, so nothing outside the root can be touched.

use std::fs::File;
use std::os::fd::AsRawFd;

use nix::errno::Errno;
use nix::fcntl::{self, OFlag};
use nix::sys::stat::{self, FchmodatFlags, Mode, UtimensatFlags};
use nix::sys::time::TimeSpec;

use super::jail::{is_dir, is_regular, Jail, JailError};
use super::vpath::VPath;
use crate::sys::adopt;

impl Jail {
    /// The regular file or directory `p` names, itself (a symbolic link is
    /// refused: changing it would change nothing a client sees, and its
    /// target may lie outside the root).
    fn entry<'a>(&self, p: &'a VPath) -> Result<(std::os::fd::OwnedFd, &'a str), JailError> {
        let (dir, name) = self.parent(p)?;
        let st = Jail::lstat_in(&dir, name)?;
        if !is_regular(&st) && !is_dir(&st) {
            return Err(JailError::NotRegularFile);
        }
        Ok((dir, name))
    }

    /// Sets the modification time of `p` (seconds since the epoch, UTC);
    /// the access time is left as it is.
    pub fn set_mtime(&self, p: &VPath, secs: i64) -> Result<(), JailError> {
        let (dir, name) = self.entry(p)?;
        let mtime = TimeSpec::new(secs, 0);
        Ok(stat::utimensat(
            Some(dir.as_raw_fd()),
            name,
            &TimeSpec::UTIME_OMIT,
            &mtime,
            UtimensatFlags::NoFollowSymlink,
        )?)
    }

    /// Sets the permission bits of `p` (`mode` is at most 0777: the parser
    /// refuses the others). A directory keeps its owner's `rwx`.
    pub fn chmod(&self, p: &VPath, mode: u32) -> Result<(), JailError> {
        if p.is_root() {
            // Security: a home made unreadable would lock its user out.
            return Err(JailError::IsRoot);
        }
        let (dir, name) = self.entry(p)?;
        // Security: a directory its owner (the worker's user) cannot read
        // would hide its files from the count of a quota.
        if mode & 0o700 != 0o700 && is_dir(&Jail::lstat_in(&dir, name)?) {
            return Err(JailError::Os(Errno::EPERM));
        }
        // Security: only the permission bits, never setuid, setgid or sticky.
        let mode = Mode::from_bits_truncate(mode & 0o777);
        match stat::fchmodat(Some(dir.as_raw_fd()), name, mode, FchmodatFlags::NoFollowSymlink) {
            // glibc's no-follow chmod says this of a symbolic link.
            Err(Errno::EOPNOTSUPP) => Err(JailError::NotRegularFile),
            other => Ok(other?),
        }
    }

    /// Bytes free for an unprivileged user on the file system of `p`.
    pub fn free_bytes(&self, p: &VPath) -> Result<u64, JailError> {
        let fd = self.open_dir(p)?;
        let vfs = nix::sys::statvfs::fstatvfs(&fd)?;
        Ok((vfs.blocks_available() as u64).saturating_mul(vfs.fragment_size() as u64))
    }

    /// Opens (creating it, owner-only) the quota file `name` in the root.
    pub fn open_quota_file(&self, name: &str) -> Result<File, JailError> {
        let root = self.open_dir(&VPath::root())?;
        let flags = OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NOCTTY;
        let fd = adopt(fcntl::openat(Some(root.as_raw_fd()), name, flags, Mode::from_bits_truncate(0o600)))?;
        let st = stat::fstat(fd.as_raw_fd())?;
        if !is_regular(&st) {
            return Err(JailError::NotRegularFile);
        }
        Ok(File::from(fd))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn root(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("forkftp-attrs-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("root/sub")).unwrap();
        std::fs::write(d.join("root/f"), b"x").unwrap();
        std::fs::write(d.join("outside"), b"x").unwrap();
        std::os::unix::fs::symlink(d.join("outside"), d.join("root/out")).unwrap();
        d
    }

    fn vp(s: &str) -> VPath {
        VPath::root().join(s).unwrap()
    }

    #[test]
    fn times_and_modes_change_inside_and_links_are_refused() {
        let d = root("set");
        let jail = Jail::new(&d.join("root")).unwrap();
        jail.set_mtime(&vp("f"), 951_868_799).unwrap();
        jail.set_mtime(&vp("sub"), 1_000_000_000).unwrap();
        assert_eq!(std::fs::metadata(d.join("root/f")).unwrap().mtime(), 951_868_799);
        jail.chmod(&vp("f"), 0o640).unwrap();
        assert_eq!(std::fs::metadata(d.join("root/f")).unwrap().permissions().mode() & 0o7777, 0o640);
        let before = std::fs::metadata(d.join("outside")).unwrap();
        assert!(matches!(jail.chmod(&vp("out"), 0o777), Err(JailError::NotRegularFile)));
        assert!(matches!(jail.set_mtime(&vp("out"), 0), Err(JailError::NotRegularFile)));
        let after = std::fs::metadata(d.join("outside")).unwrap();
        assert_eq!((before.mode(), before.mtime()), (after.mode(), after.mtime()));
        assert!(matches!(jail.chmod(&VPath::root(), 0o700), Err(JailError::IsRoot)));
        assert!(matches!(jail.chmod(&vp("sub"), 0o500), Err(JailError::Os(Errno::EPERM))), "a directory keeps u+rwx");
        jail.chmod(&vp("sub"), 0o700).unwrap();
        jail.chmod(&vp("f"), 0o000).unwrap();
        assert!(jail.free_bytes(&VPath::root()).unwrap() > 0);
        let _ = std::fs::remove_dir_all(&d);
    }
}
