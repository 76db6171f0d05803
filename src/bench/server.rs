//! The server under test: the release `ftpserver` started on a free
//! loopback port, its readiness, its memory, and its end.

use std::io::{self, BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::limits::{BENCH_READY_TIMEOUT, STOP_GRACE};

/// The `ftpserver` beside the running executable (both are built into
/// `target/release`).
pub fn locate_server() -> Result<PathBuf, String> {
    let me = std::env::current_exe().map_err(|e| format!("where am I: {e}"))?;
    let p = me.with_file_name("ftpserver");
    if p.is_file() {
        Ok(p)
    } else {
        Err(format!("{} not found; build it with `cargo build --release --bins`", p.display()))
    }
}

/// A free TCP port of 127.0.0.1 (bound, then released).
pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The uid and gid the workers drop to when the benchmark runs as root
/// (`ftpserver --run-as nobody`, the default).
pub fn worker_ids() -> Option<(nix::unistd::Uid, nix::unistd::Gid)> {
    if !nix::unistd::geteuid().is_root() {
        return None;
    }
    let u = nix::unistd::User::from_name(crate::limits::DEFAULT_RUN_AS).ok().flatten()?;
    Some((u.uid, u.gid))
}

/// Gives `path` (not what is inside) to the workers' user.
pub fn give_to_workers(path: &Path) -> io::Result<()> {
    if let Some((uid, gid)) = worker_ids() {
        nix::unistd::fchownat(None, path, Some(uid), Some(gid), nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)?;
    }
    Ok(())
}

/// A running server; stopped (SIGTERM, then SIGKILL) on drop.
pub struct Server {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its standard error.
    err: PathBuf,
}

impl Server {
    /// Starts `exe` on a free port of 127.0.0.1 with `args`, logging to
    /// `log`, and waits for its greeting.
    pub fn start(exe: &Path, args: &[String], log: &Path) -> Result<Server, String> {
        let mut last = String::new();
        // A port found free may be taken before the server binds it: retry.
        for _ in 0..3 {
            let port = free_port().map_err(|e| format!("no free port: {e}"))?;
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            // Standard error to a file (a pipe nobody reads could fill and block the server).
            let err = log.with_extension("err");
            let err_file = std::fs::File::create(&err).map_err(|e| format!("{}: {e}", err.display()))?;
            let child = Command::new(exe)
                .arg("--listen")
                .arg(addr.to_string())
                .args(args)
                .arg("--log-file")
                .arg(log)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(err_file)
                .spawn()
                .map_err(|e| format!("{}: {e}", exe.display()))?;
            let mut s = Server { child, addr, err };
            match s.wait_ready() {
                Ok(()) => return Ok(s),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Readiness: a connection gets its 220 greeting (no sleeping guesses).
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + BENCH_READY_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(st)) = self.child.try_wait() {
                let err = std::fs::read_to_string(&self.err).unwrap_or_default();
                return Err(format!("ftpserver exited ({st}): {}", err.trim()));
            }
            if let Ok(s) = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let mut line = String::new();
                if BufReader::new(s).read_line(&mut line).is_ok() && line.starts_with("220") {
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Err(format!("ftpserver did not greet on {} within {BENCH_READY_TIMEOUT:?}", self.addr))
    }

    /// The supervisor's pid.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The supervisor and all its descendants.
    pub fn tree(&self) -> Vec<i32> {
        let mut all = vec![self.pid()];
        let parents = parent_table();
        let mut i = 0;
        while i < all.len() {
            let p = all[i];
            all.extend(parents.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
            i += 1;
        }
        all
    }

    /// Summed proportional set size of the whole tree, in bytes, and the
    /// number of processes.
    pub fn pss(&self) -> io::Result<(u64, usize)> {
        let tree = self.tree();
        let mut total = 0;
        for pid in &tree {
            total += pss_of(*pid)?;
        }
        Ok((total, tree.len()))
    }

    /// The number of workers (children of the supervisor).
    pub fn workers(&self) -> usize {
        let me = self.pid();
        parent_table().iter().filter(|(_, pp)| *pp == me).count()
    }

    /// Stops the server: SIGTERM, then SIGKILL after the grace period.
    pub fn stop(&mut self) {
        let pid = Pid::from_raw(self.pid());
        if let Ok(None) = self.child.try_wait() {
            let _ = kill(pid, Signal::SIGTERM);
            let deadline = Instant::now() + STOP_GRACE + Duration::from_secs(1);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = kill(pid, Signal::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `Pss:` of `/proc/PID/smaps_rollup`, in bytes (0 for a process that is gone).
pub fn pss_of(pid: i32) -> io::Result<u64> {
    let text = match std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let kb = text
        .lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("no Pss in /proc/{pid}/smaps_rollup")))?;
    Ok(kb * 1024)
}

/// (pid, parent pid) of every live process, from /proc.
fn parent_table() -> Vec<(i32, i32)> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else { return out };
    for e in rd.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        // pid (comm) state ppid ...
        let Some(rest) = stat.rsplit(')').next() else { continue };
        let mut fields = rest.split_whitespace();
        let state = fields.next();
        if let (Some(s), Some(Ok(ppid))) = (state, fields.next().map(str::parse::<i32>)) {
            if s != "Z" {
                out.push((pid, ppid));
            }
        }
    }
    out
}
