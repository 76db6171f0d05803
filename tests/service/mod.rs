//! Running forkftp as a service (issue 13): the configuration files, systemd
//! (socket activation, readiness), the upgrade of the binary under load,
//! the transfer log, syslog and the metrics.

mod config;
pub(crate) mod metrics;
mod syslog;
mod systemd;
mod upgrade;
mod xferlog;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::util::{alive, signal_pid, wait_until, Server, TempDir, READY};

pub const FTPSERVER: &str = env!("CARGO_BIN_EXE_ftpserver");
pub const FTPMASTER: &str = env!("CARGO_BIN_EXE_ftpmaster");

/// Writes `text` to `name` in `dir`; its path.
pub fn write_file(dir: &TempDir, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Runs `program args` to its end (a tool, or a server that refuses to start).
pub fn run(program: &str, args: &[&str]) -> Output {
    let out = Command::new(program).args(args).output().unwrap_or_else(|e| panic!("{program}: {e}"));
    eprintln!(
        "$ {program} {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A process the test did not spawn itself (a supervisor started by an
/// upgrade): killed when the test ends, whatever happens.
pub struct KillOnDrop(pub i32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if self.0 > 0 && alive(self.0) {
            signal_pid(self.0, nix::sys::signal::Signal::SIGKILL);
            wait_until(std::time::Duration::from_secs(5), || !alive(self.0));
        }
    }
}

/// A copy of `ftpserver` in `dir`, which a test may replace by another
/// binary (a new file renamed over it, as package managers do).
pub fn copy_of_ftpserver(dir: &Path) -> PathBuf {
    let p = dir.join("ftpserver");
    install(FTPSERVER, &p);
    p
}

/// Puts a copy of `from` at `to`: written beside it, then renamed over it.
pub fn install(from: &str, to: &Path) {
    let tmp = to.with_extension("new");
    std::fs::copy(from, &tmp).unwrap();
    std::fs::rename(&tmp, to).unwrap();
}

/// The pid of the supervisor a SIGUSR2 upgrade of `s` started: the line
/// `upgrade: pid N serves` that `s` logs after byte `after` of its log,
/// waited for up to [`READY`]. Fails the test, with the log, without it.
pub fn upgraded_supervisor(s: &Server, after: usize) -> i32 {
    let pid = || {
        let log = s.log_text();
        let line = log.get(after..)?.lines().find(|l| l.contains("upgrade: pid ") && l.contains(" serves"))?;
        line.split("upgrade: pid ").nth(1)?.split_whitespace().next()?.parse().ok()
    };
    let mut found = None;
    let done = wait_until(READY, || {
        found = pid();
        found.is_some()
    });
    assert!(done, "the upgrade did not complete (no `upgrade: pid N serves`):\n{}", s.log_text());
    found.unwrap()
}
