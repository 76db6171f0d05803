//! Logging (log + simplelog): to standard error or an append-only file, one
//! `write` per line so that the lines of many workers never interleave.
//! The file can be reopened (SIGUSR1) after a log rotation. The transfer
//! log (`--xferlog`, lines made by `server::xferlog`) is a second such file.

use std::fs::{File, OpenOptions};
use std::io::{self, LineWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use log::LevelFilter;
use simplelog::{ConfigBuilder, WriteLogger};

static TARGET: Mutex<Option<(PathBuf, File)>> = Mutex::new(None);

/// The transfer log (`--xferlog`), reopened and given to the workers' user
/// with the log.
static XFERLOG: Mutex<Option<(PathBuf, File)>> = Mutex::new(None);

/// Owner given to the log file each time the supervisor (root) opens it, so
/// that workers running as `--run-as` can reopen it too.
static OWNER: Mutex<Option<(nix::unistd::Uid, nix::unistd::Gid)>> = Mutex::new(None);

/// Writes to the log file if one is set, otherwise to standard error.
struct Sink;

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut guard = TARGET.lock().unwrap_or_else(|e| e.into_inner());
        match guard.as_mut() {
            Some((_, f)) => f.write(buf),
            None => io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn open(path: &Path) -> io::Result<File> {
    let f = OpenOptions::new().create(true).append(true).open(path)?;
    if let Some((uid, gid)) = *OWNER.lock().unwrap_or_else(|e| e.into_inner()) {
        if nix::unistd::geteuid().is_root() {
            nix::unistd::fchown(std::os::fd::AsRawFd::as_raw_fd(&f), Some(uid), Some(gid))?;
        }
    }
    Ok(f)
}

/// The level `-q` / `-v` / `-vv` ask for: errors only, info (the default),
/// debug, trace.
pub fn level(quiet: bool, verbose: u8) -> LevelFilter {
    match (quiet, verbose) {
        (true, _) => LevelFilter::Error,
        (false, 0) => LevelFilter::Info,
        (false, 1) => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    }
}

/// Starts logging at `level` to `file` (standard error when `None`).
pub fn init(level: LevelFilter, file: Option<&Path>) -> io::Result<()> {
    if let Some(p) = file {
        let f = open(p)?;
        *TARGET.lock().unwrap_or_else(|e| e.into_inner()) = Some((p.to_path_buf(), f));
    }
    let config = ConfigBuilder::new()
        .set_time_format_rfc3339()
        .set_thread_level(LevelFilter::Off)
        .set_target_level(LevelFilter::Off)
        .set_location_level(LevelFilter::Off)
        .build();
    // A second init (tests, or a library user) keeps the first logger.
    let _ = WriteLogger::init(level, config, LineWriter::with_capacity(8192, Sink));
    Ok(())
}

/// Reopens the log file and the transfer log under their names (after
/// `logrotate` moved them).
pub fn reopen() -> io::Result<()> {
    for target in [&TARGET, &XFERLOG] {
        let mut guard = target.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((path, file)) = guard.as_mut() {
            *file = open(path)?;
        }
    }
    Ok(())
}

/// Opens the transfer log (`--xferlog`) for appending.
pub fn open_xferlog(path: &Path) -> io::Result<()> {
    let f = open(path)?;
    *XFERLOG.lock().unwrap_or_else(|e| e.into_inner()) = Some((path.to_path_buf(), f));
    Ok(())
}

/// Appends the line `line` makes (its newline included) to the transfer
/// log, if one is open (else the line is not even made): a single `write`
/// to a file opened for appending, so that the lines of many workers never
/// interleave.
pub fn xferlog(line: impl FnOnce() -> String) {
    let mut guard = XFERLOG.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((path, f)) = guard.as_mut() {
        if let Err(e) = f.write_all(line().as_bytes()) {
            let path = path.clone();
            drop(guard);
            log::error!("xferlog {}: {e}", path.display());
        }
    }
}

/// Reopens the log file (SIGUSR1, after a rotation); a failure is logged
/// where the log still goes.
pub fn reopen_or_complain() {
    if let Err(e) = reopen() {
        log::error!("reopening the log: {e}");
    }
}

/// Gives the log file (now and after every reopen) to the workers' user,
/// so that they can reopen it after a rotation.
pub fn chown(uid: nix::unistd::Uid, gid: nix::unistd::Gid) {
    *OWNER.lock().unwrap_or_else(|e| e.into_inner()) = Some((uid, gid));
    for target in [&TARGET, &XFERLOG] {
        let guard = target.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((path, f)) = guard.as_ref() {
            if let Err(e) = nix::unistd::fchown(std::os::fd::AsRawFd::as_raw_fd(f), Some(uid), Some(gid)) {
                let path = path.clone();
                drop(guard);
                log::warn!("log file {}: chown: {e}", path.display());
            }
        }
    }
}
