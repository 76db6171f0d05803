//! Uploads that never leave a half-written file under its final name.
//!
//! STOR writes into a hidden temporary file in the target's directory and
//! renames it over the target only once every byte has arrived; a failed,
//! aborted or cut upload removes the temporary and leaves the old file as it
//! was. Two clients storing the same name end with one complete file: the
//! last rename wins, never a mix. APPE and REST+STOR append in place, as
//! their meaning requires (documented in the README).
//!
//! Replacing a file costs no more than creating one (issue 15). A plain
//! rename over an existing file made ext4 write the new file out inside the
//! rename (its `auto_da_alloc` heuristic for "replace via rename") and free
//! the old one's blocks and pages there too, 0.3 to 0.7 s per GiB before
//! the `226`. So the two names are exchanged instead (`RENAME_EXCHANGE`,
//! just as atomic for the target's name), the old file is unlinked while a
//! descriptor still holds it, and that descriptor is closed after the reply
//! ([`Replaced`]), by a helper thread whatever the file's size. ext4's
//! rename also started writing the new file to disk, so that a crash soon
//! after a replace leaves the old content or the new, not an empty file;
//! the same thread starts that writeback after the reply instead.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{sync_channel, SendError, SyncSender};
use std::sync::Mutex;

use super::error::FtpError;
use super::jail::{is_dir, Jail, JailError};
use super::vpath::VPath;
use crate::limits::{PENDING_RELEASES, UNIQUE_NAME_ATTEMPTS};

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

    /// Every byte arrived: put the file in place. Returns the file it
    /// replaced, to be dropped once the client has its reply.
    pub fn commit(mut self) -> Result<Replaced, FtpError> {
        let old = match &mut self.kind {
            Kind::Atomic { dir, temp, target, done, .. } => {
                let old = put_in_place(dir, temp, target)?;
                *done = true;
                old
            }
            Kind::InPlace => None,
        };
        Ok(Replaced(old.map(|old| (old, self.file.try_clone().ok().map(OwnedFd::from)))))
    }
}

/// Puts `temp` under the name `target`, both in `dir`. Where `target`
/// exists, the names are exchanged and the old file, now under `temp`, is
/// unlinked while a descriptor keeps it alive: the kernel frees it when the
/// returned [`Replaced`] is dropped. Where there is nothing to replace, or
/// the file system cannot exchange names, a plain rename.
fn put_in_place(dir: &OwnedFd, temp: &str, target: &str) -> Result<Option<OwnedFd>, FtpError> {
    if Jail::exchange_in(dir, temp, target).is_err() {
        Jail::rename_in(dir, temp, target)?;
        return Ok(None);
    }
    // `temp` now names whatever stood at `target`. A directory made there
    // since the STOR's check goes back: a file never replaces a directory
    // (the plain rename refuses with EISDIR too).
    if matches!(Jail::lstat_in(dir, temp), Ok(st) if is_dir(&st)) {
        if let Err(e) = Jail::exchange_in(dir, temp, target) {
            log::error!("upload: cannot put the directory back from {temp:?}: {e}");
        }
        return Err(JailError::Os(nix::errno::Errno::EISDIR).into());
    }
    let held = Jail::hold_in(dir, temp).ok();
    if let Err(e) = Jail::unlink_in(dir, temp) {
        log::warn!("upload: the replaced file stays as {temp:?}: {e}");
    }
    Ok(held)
}

/// The file an upload replaced: unlinked, still open. Closing the last
/// descriptor of a file makes the kernel free its blocks and page cache,
/// 50 to 190 ms per GiB here, and longer while its pages are being written
/// out; dropping this after the `226` hands that to a helper thread, so the
/// worker reads the next command at once. The same thread first starts the
/// writeback of the file that replaced it, as ext4 did inside the
/// plain rename: under a write burst that too can wait for the disk (100
/// clients storing 10 MiB over one name: up to 0.3 s each, which the
/// worker used to spend before reading the next command).
pub struct Replaced(Option<Release>);

impl Drop for Replaced {
    fn drop(&mut self) {
        if let Some(release) = self.0.take() {
            release_in_background(release);
        }
    }
}

/// Starts writing `new` out, then closes `old` (freeing it).
fn release((old, new): Release) {
    if let Some(new) = new {
        let _ = crate::sys::start_writeback(std::os::fd::AsFd::as_fd(&new));
    }
    drop(old);
}

/// A replaced file to free, and the file that replaced it.
type Release = (OwnedFd, Option<OwnedFd>);

/// The queue to the worker's helper thread, once it runs.
static RELEASER: Mutex<Option<SyncSender<Release>>> = Mutex::new(None);

/// Hands [`release`] to the worker's helper thread, started at the first
/// replace (after the fork: threads do not survive one). The worker goes on
/// at once while a previous file is still being freed; only when
/// [`PENDING_RELEASES`] more wait does it wait too, so a client replacing
/// files faster than the disk frees them is slowed to the disk's pace. The
/// thread blocks every signal, so that the worker's signals still interrupt
/// the worker itself. If no thread can be made, [`release`] runs here, in
/// the worker.
fn release_in_background(files: Release) {
    let mut queue = RELEASER.lock().unwrap_or_else(|e| e.into_inner());
    if queue.is_none() {
        *queue = start_releaser();
    }
    let Some(sender) = queue.as_ref() else { return release(files) };
    if let Err(SendError(files)) = sender.send(files) {
        *queue = None;
        release(files);
    }
}

/// Starts the helper thread, with every signal blocked.
fn start_releaser() -> Option<SyncSender<Release>> {
    use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow};
    let (sender, receiver) = sync_channel::<Release>(PENDING_RELEASES);
    let mut mask = SigSet::empty();
    pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&SigSet::all()), Some(&mut mask)).ok()?;
    let started = std::thread::Builder::new().name("release".into()).spawn(move || receiver.iter().for_each(release));
    let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&mask), None);
    started.ok().map(|_| sender)
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
