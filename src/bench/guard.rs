//! Clean-up: the temporary root and the servers go away however the
//! benchmark ends (done, failed, interrupted, or out of time).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::server::Server;

struct Cleanup {
    dir: Option<PathBuf>,
    pids: Vec<i32>,
}

static CLEANUP: Mutex<Cleanup> = Mutex::new(Cleanup { dir: None, pids: Vec::new() });

pub(super) fn cleanup_now() {
    let mut c = CLEANUP.lock().unwrap_or_else(|e| e.into_inner());
    for pid in c.pids.drain(..) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    }
    if let Some(d) = c.dir.take() {
        // The main thread may still be creating files in it: try again.
        for _ in 0..CLEANUP_ATTEMPTS {
            if std::fs::remove_dir_all(&d).is_ok() || !d.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Attempts at removing the temporary directory while it may still grow.
const CLEANUP_ATTEMPTS: u32 = 50;

/// Kills everything and exits when the time limit passes or on SIGINT/SIGTERM.
pub(super) fn start_watchdog(limit: Duration) -> io::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&stop))?;
    signal_hook::flag::register(signal_hook::consts::SIGTERM, Arc::clone(&stop))?;
    let done = Arc::new(AtomicBool::new(false));
    let (s, d) = (Arc::clone(&stop), Arc::clone(&done));
    let deadline = Instant::now() + limit;
    std::thread::spawn(move || {
        while !d.load(Ordering::SeqCst) {
            let late = Instant::now() >= deadline;
            if late || s.load(Ordering::SeqCst) {
                cleanup_now();
                if late {
                    eprintln!("ftpbench: stopped after the time limit of {limit:?}");
                } else {
                    eprintln!("ftpbench: interrupted");
                }
                std::process::exit(2);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    Ok(done)
}

/// The temporary directory of this run: the served root and the log.
pub(super) struct Scratch {
    pub(super) dir: PathBuf,
}

impl Scratch {
    pub(super) fn new() -> io::Result<Scratch> {
        let dir = std::env::temp_dir().join(format!("ftpbench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("root"))?;
        CLEANUP.lock().unwrap_or_else(|e| e.into_inner()).dir = Some(dir.clone());
        Ok(Scratch { dir })
    }

    pub(super) fn root(&self) -> PathBuf {
        self.dir.join("root")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        CLEANUP.lock().unwrap_or_else(|e| e.into_inner()).dir = None;
    }
}

pub(super) fn start_server(exe: &Path, args: &[String], log: &Path) -> Result<Server, String> {
    let s = Server::start(exe, args, log)?;
    CLEANUP.lock().unwrap_or_else(|e| e.into_inner()).pids.push(s.pid());
    Ok(s)
}

pub(super) fn stop_server(mut s: Server) {
    let pid = s.pid();
    s.stop();
    CLEANUP.lock().unwrap_or_else(|e| e.into_inner()).pids.retain(|p| *p != pid);
}
