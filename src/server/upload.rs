//! Uploads that never leave a half-written file under its final name.
//!
//! STOR writes into a hidden temporary file in the target's directory and
//! renames it over the target only once every byte has arrived; a failed,
//! aborted or cut upload removes the temporary and leaves the old file as it
//! was. Two clients storing the same name end with one complete file: the
//! last rename wins, never a mix. APPE and REST+STOR append in place, as
//! their meaning requires (documented in the README).

use std::fs::File;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU32, Ordering};

use super::error::FtpError;
use super::jail::{is_dir, Jail, JailError};
use super::vpath::VPath;
use crate::limits::UNIQUE_NAME_ATTEMPTS;

/// Names of temporary upload files start with this; listings hide them.
pub const TEMP_PREFIX: &[u8] = b".forkftp.";

/// True for the name of an upload in progress.
pub fn is_temp_name(name: &[u8]) -> bool {
    name.starts_with(TEMP_PREFIX)
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn temp_name() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("{}{}.{n}.{t:x}.part", String::from_utf8_lossy(TEMP_PREFIX), std::process::id())
}

/// An upload in progress.
pub struct Upload {
    file: File,
    kind: Kind,
}

enum Kind {
    /// Written to `temp` in `dir`, renamed to `target` on commit.
    Atomic { dir: OwnedFd, temp: String, target: String, reserved: bool, done: bool },
    /// Written in place (APPE, REST+STOR).
    InPlace,
}

fn create_temp(dir: &OwnedFd) -> Result<(File, String), FtpError> {
    for _ in 0..UNIQUE_NAME_ATTEMPTS {
        let name = temp_name();
        match Jail::create_new_in(dir, &name) {
            Ok(f) => return Ok((f, name)),
            Err(JailError::Os(nix::errno::Errno::EEXIST)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(FtpError::Local("no free temporary name".into()))
}

impl Upload {
    /// STOR: a new temporary file beside `path`.
    pub fn atomic(jail: &Jail, path: &VPath) -> Result<Upload, FtpError> {
        let (dir, name) = jail.parent(path)?;
        // A directory cannot be replaced by a file, and a name the file
        // system refuses (too long...) is refused now, before the 150.
        match Jail::lstat_in(&dir, name) {
            Ok(st) if is_dir(&st) => return Err(JailError::Os(nix::errno::Errno::EISDIR).into()),
            Ok(_) | Err(nix::errno::Errno::ENOENT) => {}
            Err(e) => return Err(JailError::Os(e).into()),
        }
        let (file, temp) = create_temp(&dir)?;
        let target = name.to_string();
        Ok(Upload { file, kind: Kind::Atomic { dir, temp, target, reserved: false, done: false } })
    }

    /// STOU: reserves a unique name in `dir` (from `hint`, or `ftp`), then
    /// uploads to a temporary file renamed over it at the end. Returns the
    /// upload and the name chosen.
    pub fn unique(jail: &Jail, dir: &VPath, hint: Option<&str>) -> Result<(Upload, String), FtpError> {
        let base = hint.map(|h| h.rsplit('/').next().unwrap_or(h)).filter(|h| !h.is_empty() && *h != "." && *h != "..");
        let base = base.unwrap_or("ftp").to_string();
        let dirfd = jail.open_dir(dir)?;
        for i in 0..UNIQUE_NAME_ATTEMPTS {
            let name = if i == 0 { base.clone() } else { format!("{base}.{i}") };
            match Jail::create_new_in(&dirfd, &name) {
                Ok(_) => {
                    let (file, temp) = match create_temp(&dirfd) {
                        Ok(t) => t,
                        Err(e) => {
                            let _ = Jail::unlink_in(&dirfd, &name);
                            return Err(e);
                        }
                    };
                    let kind = Kind::Atomic { dir: dirfd, temp, target: name.clone(), reserved: true, done: false };
                    return Ok((Upload { file, kind }, name));
                }
                Err(JailError::Os(nix::errno::Errno::EEXIST)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(FtpError::Local("no unique name found".into()))
    }

    /// APPE and REST+STOR: write into `file` where it stands.
    pub fn in_place(file: File) -> Upload {
        Upload { file, kind: Kind::InPlace }
    }

    /// The file being written.
    pub fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// True for APPE and REST+STOR, which write where the file stands.
    pub fn is_in_place(&self) -> bool {
        matches!(self.kind, Kind::InPlace)
    }

    /// Every byte arrived: put the file in place.
    pub fn commit(mut self) -> Result<(), FtpError> {
        if let Kind::Atomic { dir, temp, target, done, .. } = &mut self.kind {
            Jail::rename_in(dir, temp, target)?;
            *done = true;
        }
        Ok(())
    }
}

impl Drop for Upload {
    /// An upload dropped before `commit` leaves no temporary behind (and,
    /// for STOU, no reserved name).
    fn drop(&mut self) {
        if let Kind::Atomic { dir, temp, target, reserved, done: false } = &self.kind {
            let _ = Jail::unlink_in(dir, temp);
            if *reserved {
                let _ = Jail::unlink_in(dir, target);
            }
        }
    }
}
