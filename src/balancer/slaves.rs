//! `ftpslaves`: starts COUNT slaves, each a full `ftpserver` pool run as
//! `ftpserver --register MASTER --slave-id i --listen BIND:P+i ...` (the
//! `ftpserver` next to this program), and supervises them: a slave that
//! dies is started again after a delay that grows while it keeps dying;
//! SIGTERM/SIGINT stop them all, SIGQUIT stops them gracefully, SIGHUP and
//! SIGUSR1 are passed on. Each slave dies with `ftpslaves`
//! (`PR_SET_PDEATHSIG`), so none is left behind.
//!
//! Registration is each slave's own business (see [`super::slave`]).

use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::auth::ClusterKey;
use super::config::{SlaveSpec, SlavesCli};
use crate::limits::{SLAVE_HEALTHY_AFTER, SLAVE_RESTART_MAX, SLAVE_RESTART_MIN, STOP_GRACE, SUPERVISOR_TICK};

/// The exit code of a command-line error (clap): restarting cannot help.
const USAGE_ERROR: i32 = 2;

struct Slave {
    spec: SlaveSpec,
    child: Option<Child>,
    started: Instant,
    restart_at: Option<Instant>,
    delay: Duration,
    runs: u32,
}

/// The `ftpserver` program next to this one.
fn server_program() -> Result<PathBuf, String> {
    let me = std::env::current_exe().map_err(|e| format!("cannot find my own program: {e}"))?;
    let server = me.with_file_name("ftpserver");
    if !server.is_file() {
        return Err(format!("{} not found: ftpslaves runs the ftpserver next to it", server.display()));
    }
    Ok(server)
}

fn describe(st: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (st.code(), st.signal()) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(s)) => format!("killed by {}", Signal::try_from(s).map_or(s.to_string(), |s| format!("{s:?}"))),
        _ => "ended".into(),
    }
}

/// Runs `ftpslaves` until it is told to stop.
pub fn main(cli: SlavesCli) -> Result<(), String> {
    let specs = cli.slaves()?;
    crate::logging::init(cli.log_level(), cli.log_file.as_deref()).map_err(|e| format!("log file: {e}"))?;
    let program = server_program()?;
    // Fail now rather than in every slave: the key and the root.
    ClusterKey::load(cli.key_file.as_deref())?;
    if !cli.root.is_dir() {
        return Err(format!("--root {}: not a directory", cli.root.display()));
    }
    let flags = Flags::register().map_err(|e| format!("signals: {e}"))?;
    let now = Instant::now();
    let mut slaves: Vec<Slave> = specs
        .into_iter()
        .map(|spec| Slave { spec, child: None, started: now, restart_at: Some(now), delay: SLAVE_RESTART_MIN, runs: 0 })
        .collect();
    log::info!("ftpslaves: {} slaves, registering with {}", slaves.len(), cli.master);
    loop {
        flags.wait(SUPERVISOR_TICK);
        if flags.term.swap(false, Ordering::SeqCst) {
            stop(&mut slaves, Signal::SIGTERM, &flags);
            return Ok(());
        }
        if flags.quit.swap(false, Ordering::SeqCst) {
            stop(&mut slaves, Signal::SIGQUIT, &flags);
            return Ok(());
        }
        for (flag, sig) in [(&flags.hup, Signal::SIGHUP), (&flags.usr1, Signal::SIGUSR1)] {
            if flag.swap(false, Ordering::SeqCst) {
                signal_all(&slaves, sig);
            }
        }
        let now = Instant::now();
        let mut refused = false;
        for s in &mut slaves {
            if let Some(child) = &mut s.child {
                let Ok(Some(st)) = child.try_wait() else { continue };
                s.child = None;
                if s.runs == 1 && st.code() == Some(USAGE_ERROR) {
                    refused = true;
                    continue;
                }
                if now.duration_since(s.started) > SLAVE_HEALTHY_AFTER {
                    s.delay = SLAVE_RESTART_MIN;
                }
                log::warn!(
                    "slave {} died ({}); starting it again in {:.1}s",
                    s.spec.id,
                    describe(st),
                    s.delay.as_secs_f64()
                );
                s.restart_at = Some(now + s.delay);
                s.delay = (s.delay * 2).min(SLAVE_RESTART_MAX);
            } else if s.restart_at.is_some_and(|t| now >= t) {
                start(s, &program, now);
            }
        }
        if refused {
            stop(&mut slaves, Signal::SIGTERM, &flags);
            return Err("a slave refused its options (see above); stopped".into());
        }
    }
}

fn start(s: &mut Slave, program: &PathBuf, now: Instant) {
    let mut cmd = Command::new(program);
    cmd.args(&s.spec.args).stdin(Stdio::null());
    crate::sys::spawn_dying_with_parent(&mut cmd, Signal::SIGTERM);
    match cmd.spawn() {
        Ok(child) => {
            log::info!("slave {} started (pid {}): ftpserver {}", s.spec.id, child.id(), s.spec.args.join(" "));
            s.child = Some(child);
            s.started = now;
            s.restart_at = None;
            s.runs += 1;
        }
        Err(e) => {
            log::error!("slave {}: cannot start {}: {e}", s.spec.id, program.display());
            s.restart_at = Some(now + s.delay);
            s.delay = (s.delay * 2).min(SLAVE_RESTART_MAX);
        }
    }
}

fn signal_all(slaves: &[Slave], sig: Signal) {
    for child in slaves.iter().filter_map(|s| s.child.as_ref()) {
        let _ = kill(Pid::from_raw(child.id() as i32), sig);
    }
}

/// Stops every slave with `sig` and waits for them: after SIGTERM for the
/// grace period and then SIGKILL; after SIGQUIT until their transfers end
/// (a SIGTERM meanwhile turns it into a fast stop).
fn stop(slaves: &mut [Slave], sig: Signal, flags: &Flags) {
    log::info!("stopping the slaves ({sig:?})");
    signal_all(slaves, sig);
    let mut deadline = (sig == Signal::SIGTERM).then(|| Instant::now() + STOP_GRACE + Duration::from_secs(1));
    loop {
        for s in slaves.iter_mut() {
            if let Some(c) = &mut s.child {
                if let Ok(Some(st)) = c.try_wait() {
                    log::debug!("slave {} stopped ({})", s.spec.id, describe(st));
                    s.child = None;
                }
            }
        }
        if slaves.iter().all(|s| s.child.is_none()) {
            break;
        }
        if deadline.is_none() && flags.term.swap(false, Ordering::SeqCst) {
            signal_all(slaves, Signal::SIGTERM);
            deadline = Some(Instant::now() + STOP_GRACE + Duration::from_secs(1));
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            signal_all(slaves, Signal::SIGKILL);
            for s in slaves.iter_mut() {
                if let Some(mut c) = s.child.take() {
                    let _ = c.wait();
                }
            }
            break;
        }
        flags.wait(Duration::from_millis(20));
    }
    log::info!("stopped");
}

/// Signal flags, and a socket pair that wakes the loop when one arrives.
struct Flags {
    term: Arc<AtomicBool>,
    quit: Arc<AtomicBool>,
    hup: Arc<AtomicBool>,
    usr1: Arc<AtomicBool>,
    wake: UnixStream,
}

impl Flags {
    fn register() -> std::io::Result<Flags> {
        use signal_hook::consts::*;
        let (wake, wake_w) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        wake_w.set_nonblocking(true)?;
        let flag = || Arc::new(AtomicBool::new(false));
        let f = Flags { term: flag(), quit: flag(), hup: flag(), usr1: flag(), wake };
        for (sig, flag) in
            [(SIGTERM, &f.term), (SIGINT, &f.term), (SIGQUIT, &f.quit), (SIGHUP, &f.hup), (SIGUSR1, &f.usr1)]
        {
            signal_hook::flag::register(sig, Arc::clone(flag))?;
            signal_hook::low_level::pipe::register(sig, wake_w.try_clone()?)?;
        }
        signal_hook::low_level::pipe::register(SIGCHLD, wake_w)?;
        Ok(f)
    }

    /// Sleeps up to `t`, less when a signal arrives.
    fn wait(&self, t: Duration) {
        let mut fds = [PollFd::new(self.wake.as_fd(), PollFlags::POLLIN)];
        let _ = poll(&mut fds, PollTimeout::try_from(t).unwrap_or(PollTimeout::MAX));
        let mut buf = [0u8; 64];
        while matches!(std::io::Read::read(&mut &self.wake, &mut buf), Ok(n) if n > 0) {}
    }
}
