//! `ftpclient` against real servers: our `ftpserver`, pyftpdlib (a server
//! nobody here wrote), and a few fake servers that misbehave on purpose.
//! Scripts run through `-c` or standard input; the interactive prompt runs
//! on a pseudo-terminal.
//!
//! The harness here runs the client with a time limit, its output in files,
//! starts pyftpdlib on port 0 of 127.0.0.1, and drives a pseudo-terminal.

mod commands;
mod extensions;
mod fake;
mod ours;
mod pyftpdlib;
mod scripting;
mod terminal;
mod transfers;
mod trees;

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::util::daemon::Daemon;
use crate::util::TempDir;

/// Longest run of one client in a test: every test ends well before.
pub const RUN_LIMIT: Duration = Duration::from_secs(60);

static RUNS: AtomicU32 = AtomicU32::new(0);

/// The client's way to name a server: host and port arguments.
pub fn host_port(addr: SocketAddr) -> [String; 2] {
    [addr.ip().to_string(), addr.port().to_string()]
}

/// What a finished client run left.
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "exit: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}", self.status, self.stdout, self.stderr)
    }
}

/// A running client, its output going to files in `dir`.
pub struct Proc {
    pub child: Child,
    out: PathBuf,
    err: PathBuf,
}

impl Proc {
    /// Starts `ftpclient ARGS` in `dir`, standard input from `stdin` (or
    /// nothing), `FTP_PASSWORD` unset unless `env` sets it.
    pub fn spawn(args: &[String], stdin: Option<&str>, env: &[(&str, &str)], dir: &Path) -> Proc {
        let n = RUNS.fetch_add(1, Ordering::SeqCst);
        let out = dir.join(format!(".client-{n}.out"));
        let err = dir.join(format!(".client-{n}.err"));
        let input = match stdin {
            Some(text) => {
                let p = dir.join(format!(".client-{n}.in"));
                std::fs::write(&p, text).unwrap();
                Stdio::from(File::open(p).unwrap())
            }
            None => Stdio::null(),
        };
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ftpclient"));
        cmd.args(args)
            .current_dir(dir)
            .env_remove("FTP_PASSWORD")
            // Hermetic: no ~/.netrc of the machine, no history of its user.
            .env("NETRC", dir.join(".no-netrc"))
            .env("XDG_DATA_HOME", dir.join(".data"))
            .stdin(input)
            .stdout(File::create(&out).unwrap())
            .stderr(File::create(&err).unwrap());
        for (k, v) in env {
            cmd.env(k, v);
        }
        Proc { child: cmd.spawn().expect("start ftpclient"), out, err }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// What it printed so far.
    pub fn stdout_now(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    /// Waits for the end (killing it and failing past [`RUN_LIMIT`]).
    pub fn finish(mut self) -> Output {
        let deadline = Instant::now() + RUN_LIMIT;
        let status = loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                break st;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("ftpclient did not finish in {RUN_LIMIT:?}; stdout:\n{}", self.stdout_now());
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let stdout = std::fs::read_to_string(&self.out).unwrap_or_default();
        let stderr = std::fs::read_to_string(&self.err).unwrap_or_default();
        let o = Output { status, stdout, stderr };
        assert!(!o.stderr.contains("panicked"), "the client panicked:\n{o}");
        o
    }
}

/// The arguments for a client of `server` writing into `local`.
pub fn client_args(server: SocketAddr, local: &Path, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    a.push("--local-dir".into());
    a.push(local.display().to_string());
    a.extend(host_port(server));
    a
}

/// Runs `ftpclient -c COMMANDS` against `server`, downloads into `local`.
pub fn run_c(server: SocketAddr, local: &Path, commands: &str, extra: &[&str]) -> Output {
    let mut args = client_args(server, local, extra);
    args.insert(0, commands.to_string());
    args.insert(0, "-c".into());
    Proc::spawn(&args, None, &[], local.parent().unwrap()).finish()
}

/// Runs `ftpclient` with `input` as its standard input (not a terminal).
pub fn run_stdin(server: SocketAddr, local: &Path, input: &str, extra: &[&str]) -> Output {
    Proc::spawn(&client_args(server, local, extra), Some(input), &[], local.parent().unwrap()).finish()
}

/// A test's own directories: `local` for the client (inside `base`).
pub struct Dirs {
    pub base: TempDir,
    pub local: PathBuf,
}

impl Dirs {
    pub fn new(tag: &str) -> Dirs {
        let base = TempDir::new(tag);
        let local = base.join("local");
        Dirs { base, local }
    }
}

/// Reads a file, failing with its name.
pub fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Asserts two byte strings are equal without printing megabytes.
pub fn assert_same_bytes(got: &[u8], want: &[u8], what: &str) {
    if got != want {
        let first = got.iter().zip(want).position(|(a, b)| a != b).unwrap_or(got.len().min(want.len()));
        panic!("{what}: {} bytes, expected {}; first difference at byte {first}", got.len(), want.len());
    }
}

/// A pyftpdlib server (tests/client/pyftpd.py) on port 0 of 127.0.0.1,
/// serving its own temporary root (which holds `hello.txt`). The script
/// prints `PORT n` once its socket listens.
pub struct PyFtpd {
    daemon: Daemon,
    pub addr: SocketAddr,
    pub root: TempDir,
}

impl PyFtpd {
    pub fn start(setup: impl FnOnce(&Path), extra: &[&str]) -> PyFtpd {
        let root = TempDir::new("pyroot");
        std::fs::write(root.join("hello.txt"), b"hello world\n").unwrap();
        setup(root.path());
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/client/pyftpd.py");
        let mut args = vec![script.to_string(), "--root".into(), root.path().display().to_string()];
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut daemon = Daemon::spawn("python3", &args, "pyftpd");
        let line = daemon.wait_for_line("PORT ");
        let port: u16 = line.trim().strip_prefix("PORT ").and_then(|p| p.parse().ok()).expect("PORT n");
        PyFtpd { daemon, addr: SocketAddr::from(([127, 0, 0, 1], port)), root }
    }

    pub fn log_text(&self) -> String {
        self.daemon.log_text()
    }
}

/// A fake server on port 0 of 127.0.0.1: `serve` gets the first
/// connection (with a read timeout) and plays a scripted dialogue.
pub fn fake_server(serve: impl FnOnce(TcpStream) + Send + 'static) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        if let Ok((s, _)) = listener.accept() {
            s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            serve(s);
        }
    });
    addr
}

/// Greets and logs in whoever connects, answering TYPE; returns the
/// reader for the rest of the dialogue, or `None` when the client left.
pub fn fake_login(s: &TcpStream) -> Option<BufReader<TcpStream>> {
    let mut w = s.try_clone().ok()?;
    let mut r = BufReader::new(s.try_clone().ok()?);
    w.write_all(b"220 fake server\r\n").ok()?;
    for reply in ["331 Password please.\r\n", "230 Logged in.\r\n", "200 Type set.\r\n"] {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        w.write_all(reply.as_bytes()).ok()?;
    }
    Some(r)
}

/// `ftpclient` on a pseudo-terminal, its own session leader (`setsid -c`)
/// so that the terminal's Ctrl-C reaches it as SIGINT.
pub struct Pty {
    master: File,
    child: Child,
    /// Everything the terminal showed so far.
    pub seen: Vec<u8>,
}

impl Pty {
    pub fn spawn(args: &[String], dir: &Path) -> Pty {
        Pty::spawn_env(args, dir, &[])
    }

    /// Like `spawn`, with environment variables (the history's
    /// `XDG_DATA_HOME` is `dir/.data` unless given).
    pub fn spawn_env(args: &[String], dir: &Path, env: &[(&str, &Path)]) -> Pty {
        let pty = nix::pty::openpty(None::<&nix::pty::Winsize>, None::<&nix::sys::termios::Termios>).unwrap();
        let slave = pty.slave;
        let child = Command::new("setsid")
            .args(["-w", "-c", env!("CARGO_BIN_EXE_ftpclient")])
            .args(args)
            .current_dir(dir)
            .env_remove("FTP_PASSWORD")
            .env("NETRC", dir.join(".no-netrc"))
            .env("XDG_DATA_HOME", dir.join(".data"))
            .envs(env.iter().map(|(k, v)| (*k, *v)))
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave))
            .spawn()
            .expect("setsid (util-linux)");
        Pty { master: File::from(pty.master), child, seen: Vec::new() }
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.seen).into_owned()
    }

    /// The terminal's master side (its settings are the terminal's).
    pub fn master(&self) -> std::os::fd::BorrowedFd<'_> {
        self.master.as_fd()
    }

    /// Reads what the terminal shows for at most one tick; false at the end.
    fn pump(&mut self) -> bool {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        let ready = {
            let mut fds = [PollFd::new(self.master.as_fd(), PollFlags::POLLIN)];
            poll(&mut fds, PollTimeout::from(50u16)).unwrap_or(0) > 0
        };
        if ready {
            let mut buf = [0u8; 4096];
            match self.master.read(&mut buf) {
                Ok(0) | Err(_) => return false, // EIO: the client is gone
                Ok(n) => self.seen.extend_from_slice(&buf[..n]),
            }
        }
        true
    }

    /// Waits until the terminal shows `needle` after byte `from`; returns
    /// the position after it.
    pub fn expect_from(&mut self, from: usize, needle: &str, limit: Duration) -> usize {
        let deadline = Instant::now() + limit;
        loop {
            let hay = &self.seen[from.min(self.seen.len())..];
            if let Some(i) = hay.windows(needle.len()).position(|w| w == needle.as_bytes()) {
                return from + i + needle.len();
            }
            if Instant::now() > deadline || !self.pump() {
                panic!("the terminal never showed {needle:?}; it shows:\n{}", self.text());
            }
        }
    }

    /// Waits until the terminal shows `needle` anywhere.
    pub fn expect(&mut self, needle: &str, limit: Duration) -> usize {
        self.expect_from(0, needle, limit)
    }

    /// Types `bytes`.
    pub fn send(&mut self, bytes: &[u8]) {
        self.master.write_all(bytes).unwrap();
    }

    /// Waits for the client to exit, reading the terminal meanwhile.
    pub fn wait(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                while self.pump() && self.master_has_data() {}
                return st;
            }
            if Instant::now() > deadline {
                panic!("the client did not exit; the terminal shows:\n{}", self.text());
            }
            self.pump();
        }
    }

    fn master_has_data(&self) -> bool {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        let mut fds = [PollFd::new(self.master.as_fd(), PollFlags::POLLIN)];
        poll(&mut fds, PollTimeout::ZERO).unwrap_or(0) > 0
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
