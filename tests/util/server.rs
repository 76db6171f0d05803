//! A running `ftpserver` on port 0 of a loopback address, with a fresh
//! root. It is ready when its log says `forkftp listening on ADDR` (ADDR is
//! the bound address, read from that line) and `ftpserver status` shows an
//! idle worker: no client session is spent on finding out.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::daemon::Daemon;
use super::{children_of, give_to_worker_user, status_command, try_status_command, wait_until, Ftp, TempDir, READY};

/// The line the supervisor logs once its socket listens.
pub const LISTENING: &str = "forkftp listening on ";

/// The address in a `forkftp listening on ADDR, ...` line.
pub fn listening_addr(line: &str) -> SocketAddr {
    let rest = &line[line.find(LISTENING).expect("a listening line") + LISTENING.len()..];
    let addr = rest.split(',').next().unwrap_or_default();
    addr.parse().unwrap_or_else(|e| panic!("{addr:?} in {line:?}: {e}"))
}

/// The idle workers in a `ftpserver status` table.
fn idle_workers(status: &str) -> usize {
    status.lines().skip(2).filter(|l| l.split_whitespace().nth(1) == Some("idle")).count()
}

pub struct Server {
    pub daemon: Daemon,
    pub addr: SocketAddr,
    pub root: TempDir,
}

impl Server {
    /// Starts `ftpserver` on 127.0.0.1 with a fresh root holding
    /// `hello.txt`, plus `extra` arguments.
    pub fn start(extra: &[&str]) -> Server {
        Server::start_with(|_| {}, extra)
    }

    /// Like `start`, letting `setup` fill the root first.
    pub fn start_with(setup: impl FnOnce(&Path), extra: &[&str]) -> Server {
        Server::start_on("127.0.0.1", setup, extra)
    }

    /// Starts on `ip` (e.g. "::1" for IPv6).
    pub fn start_on(ip: &str, setup: impl FnOnce(&Path), extra: &[&str]) -> Server {
        Server::start_program_on(ip, env!("CARGO_BIN_EXE_ftpserver"), setup, extra, &[])
    }

    /// Starts `program` (a copy of ftpserver) on 127.0.0.1 with variables
    /// added to its environment.
    pub fn start_program(program: &str, setup: impl FnOnce(&Path), extra: &[&str], env: &[(&str, &str)]) -> Server {
        Server::start_program_on("127.0.0.1", program, setup, extra, env)
    }

    fn start_program_on(
        ip: &str,
        program: &str,
        setup: impl FnOnce(&Path),
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Server {
        let root = TempDir::new("root");
        std::fs::write(root.join("hello.txt"), b"hello world\n").unwrap();
        setup(root.path());
        give_to_worker_user(root.path());
        let served = root.path().to_path_buf();
        Server::launch(ip, program, root, served, extra, env)
    }

    /// Serves `dir/sub` as it is (no file added, owners unchanged).
    pub fn start_in(dir: TempDir, sub: &str, extra: &[&str]) -> Server {
        let served = dir.join(sub);
        Server::launch("127.0.0.1", env!("CARGO_BIN_EXE_ftpserver"), dir, served, extra, &[])
    }

    fn launch(ip: &str, program: &str, root: TempDir, served: PathBuf, extra: &[&str], env: &[(&str, &str)]) -> Server {
        assert!(!extra.iter().any(|a| *a == "-q" || *a == "--quiet"), "the harness reads the info line {LISTENING:?}");
        let listen = if ip.contains(':') { format!("[{ip}]:0") } else { format!("{ip}:0") };
        let mut args: Vec<String> = vec!["--listen".into(), listen, "--root".into(), served.display().to_string()];
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut daemon = Daemon::spawn_env(program, &args, "server", env);
        let addr = listening_addr(&daemon.wait_for_line(LISTENING));
        let s = Server { daemon, addr, root };
        let ready = wait_until(READY, || s.try_status().is_some_and(|t| idle_workers(&t) > 0));
        assert!(ready, "no idle worker after {READY:?}; status:\n{:?}", s.try_status());
        s
    }

    pub fn pid(&self) -> i32 {
        self.daemon.pid()
    }

    /// Everything the server logged.
    pub fn log_text(&self) -> String {
        self.daemon.log_text()
    }

    /// The worker pids (children of the supervisor).
    pub fn workers(&self) -> Vec<i32> {
        children_of(self.pid())
    }

    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        self.daemon.signal(sig);
    }

    /// Waits for the supervisor to exit; returns its status.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        self.daemon.wait_exit(limit)
    }

    /// The output of `ftpserver status` for this server.
    pub fn status(&self) -> String {
        status_command(env!("CARGO_BIN_EXE_ftpserver"), self.addr)
    }

    fn try_status(&self) -> Option<String> {
        try_status_command(env!("CARGO_BIN_EXE_ftpserver"), self.addr)
    }

    /// How many workers `ftpserver status` shows idle.
    pub fn idle_workers(&self) -> usize {
        idle_workers(&self.status())
    }

    /// How many workers `ftpserver status` shows busy.
    pub fn busy_workers(&self) -> usize {
        self.status().lines().skip(2).filter(|l| l.split_whitespace().nth(1) == Some("busy")).count()
    }

    /// The pid of the worker serving the client whose socket is `client`,
    /// read from `ftpserver status`.
    pub fn worker_serving(&self, client: SocketAddr) -> Option<i32> {
        let needle = client.to_string();
        self.status()
            .lines()
            .find(|l| l.split_whitespace().any(|w| w == needle))
            .and_then(|l| l.split_whitespace().next()?.parse().ok())
    }

    pub fn connect(&self) -> Ftp {
        Ftp::connect(self.addr)
    }

    /// A logged-in anonymous session.
    pub fn anon(&self) -> Ftp {
        let mut f = self.connect();
        f.login("anonymous", "test@example.com");
        f
    }
}
