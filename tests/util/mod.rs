//! Test harness: starts the real binaries on free loopback ports with their
//! own temporary roots, and speaks FTP to them over raw sockets.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use forkftp::protocol::address::{parse_epsv_reply, parse_pasv_reply};
use forkftp::protocol::{Reply, ReplyParser};

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let p = std::env::temp_dir().join(format!("forkftp-test-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    pub fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A free TCP port on `ip` (bound then released), taken below the kernel's
/// ephemeral range: a port the kernel hands out (`bind(0)`) can be handed
/// again to a passive listener or an outgoing connection of a concurrent
/// test before the server binds it ("Address already in use").
pub fn free_port_on(ip: &str) -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32768);
    const LOW: u32 = 10_000;
    if ephemeral_low > LOW + 1000 {
        let span = ephemeral_low - LOW;
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let seed = std::process::id().wrapping_mul(2_654_435_761) ^ nanos;
        for _ in 0..1000 {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let port = (LOW + seed.wrapping_add(n.wrapping_mul(7919)) % span) as u16;
            if TcpListener::bind((ip, port)).is_ok() {
                return port;
            }
        }
    }
    TcpListener::bind((ip, 0)).unwrap().local_addr().unwrap().port()
}

pub fn free_port() -> u16 {
    free_port_on("127.0.0.1")
}

/// Deterministic pseudo-random bytes.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407) | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Waits until `f` returns true, polling every 10 ms, up to `limit`.
pub fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    f()
}

/// A running `ftpserver`.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub root: TempDir,
    pub log: PathBuf,
}

impl Server {
    /// Starts `ftpserver` on a free port of 127.0.0.1 with a fresh root
    /// holding `hello.txt`, plus `extra` arguments.
    pub fn start(extra: &[&str]) -> Server {
        Server::start_with(|_| {}, extra)
    }

    /// Like `start`, letting `setup` fill the root first.
    pub fn start_with(setup: impl FnOnce(&Path), extra: &[&str]) -> Server {
        Server::start_on("127.0.0.1", setup, extra)
    }

    /// Starts on `ip` (e.g. "::1" for IPv6).
    pub fn start_on(ip: &str, setup: impl FnOnce(&Path), extra: &[&str]) -> Server {
        let root = TempDir::new("root");
        std::fs::write(root.join("hello.txt"), b"hello world\n").unwrap();
        setup(root.path());
        give_to_worker_user(root.path());
        let port = free_port_on(ip);
        let addr: SocketAddr =
            if ip.contains(':') { format!("[{ip}]:{port}") } else { format!("{ip}:{port}") }.parse().unwrap();
        let log = root.path().with_extension("log");
        let mut args: Vec<String> =
            vec!["--listen".into(), addr.to_string(), "--root".into(), root.path().display().to_string()];
        args.extend(extra.iter().map(|s| s.to_string()));
        let child = Command::new(env!("CARGO_BIN_EXE_ftpserver"))
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start ftpserver");
        let mut s = Server { child, addr, root, log };
        s.wait_ready();
        s
    }

    /// Readiness: a connection gets its 220 greeting (fails at once if the
    /// server exited instead).
    pub fn wait_ready(&mut self) {
        let ok = wait_until(Duration::from_secs(20), || {
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!("the server exited ({st}); log:\n{}", std::fs::read_to_string(&self.log).unwrap_or_default());
            }
            TcpStream::connect(self.addr)
                .ok()
                .and_then(|mut s| {
                    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
                    let mut r = BufReader::new(s.try_clone().ok()?);
                    let mut line = String::new();
                    r.read_line(&mut line).ok()?;
                    // End the probe's session properly (QUIT, then the
                    // server's close), so its worker is free for the test.
                    s.write_all(b"QUIT\r\n").ok()?;
                    let _ = r.read_to_end(&mut Vec::new());
                    Some(line.starts_with("220"))
                })
                .unwrap_or(false)
        });
        assert!(ok, "server did not start; log:\n{}", self.log_text());
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The worker pids (children of the supervisor).
    pub fn workers(&self) -> Vec<i32> {
        children_of(self.pid())
    }

    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), sig).unwrap();
    }

    /// Waits for the supervisor to exit; returns its status.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(st) = self.child.try_wait().unwrap() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// The output of `ftpserver status` for this server.
    pub fn status(&self) -> String {
        status_command(env!("CARGO_BIN_EXE_ftpserver"), self.addr)
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

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.log);
        // Not when already reaped (wait_exit): the pid may be reused.
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// Runs `BIN status --listen ADDR` (ftpserver or ftpmaster) and returns
/// the table it printed.
pub fn status_command(bin: &str, addr: SocketAddr) -> String {
    let out = Command::new(bin).args(["status", "--listen", &addr.to_string()]).output().expect("status command");
    assert!(out.status.success(), "{bin} status failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The uid and gid the workers run as when the tests run as root
/// (`ftpserver --run-as nobody`, the default); `None` otherwise.
pub fn worker_ids() -> Option<(nix::unistd::Uid, nix::unistd::Gid)> {
    if !nix::unistd::geteuid().is_root() {
        return None;
    }
    let u = nix::unistd::User::from_name("nobody").ok().flatten().expect("user nobody");
    Some((u.uid, u.gid))
}

/// Gives a tree to the workers' user (as an admin would give the upload
/// directories to the server's user), so uploads work when tests run as root.
pub fn give_to_worker_user(path: &Path) {
    let Some((uid, gid)) = worker_ids() else { return };
    let _ = nix::unistd::fchownat(None, path, Some(uid), Some(gid), nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW);
    if path.is_dir() && !path.is_symlink() {
        for e in std::fs::read_dir(path).unwrap().flatten() {
            give_to_worker_user(&e.path());
        }
    }
}

/// The pids whose parent is `pid` (from /proc).
pub fn children_of(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            let Ok(p) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
            if let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) {
                // pid (comm) state ppid ...
                if let Some(rest) = stat.rsplit(')').next() {
                    let fields: Vec<&str> = rest.split_whitespace().collect();
                    if fields.get(1).and_then(|s| s.parse::<i32>().ok()) == Some(pid) && fields.first() != Some(&"Z") {
                        out.push(p);
                    }
                }
            }
        }
    }
    out.sort();
    out
}

/// True while a process with this pid exists (and is not a zombie).
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s.rsplit(')').next().and_then(|r| r.split_whitespace().next()) != Some("Z"),
        Err(_) => false,
    }
}

/// A raw FTP control connection.
pub struct Ftp {
    pub reader: BufReader<TcpStream>,
    pub stream: TcpStream,
}

impl Ftp {
    /// Connects and reads the 220 greeting.
    pub fn connect(addr: SocketAddr) -> Ftp {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let reader = BufReader::new(stream.try_clone().unwrap());
        let mut f = Ftp { reader, stream };
        let g = f.reply();
        assert_eq!(g.code.0, 220, "greeting: {g:?}");
        f
    }

    /// Reads one reply.
    pub fn reply(&mut self) -> Reply {
        self.try_reply().expect("reply")
    }

    /// Reads one reply; `None` on EOF.
    pub fn try_reply(&mut self) -> Option<Reply> {
        let mut p = ReplyParser::new();
        loop {
            let mut line = Vec::new();
            let n = self.reader.read_until(b'\n', &mut line).ok()?;
            if n == 0 {
                return None;
            }
            while matches!(line.last(), Some(b'\n' | b'\r')) {
                line.pop();
            }
            if let Some(r) = p.feed(&line).expect("well-formed reply") {
                return Some(r);
            }
        }
    }

    /// Sends raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Sends a line (CRLF added) and reads the reply.
    pub fn cmd(&mut self, line: &str) -> Reply {
        self.send_raw(format!("{line}\r\n").as_bytes());
        self.reply()
    }

    /// Sends a line and returns the reply code.
    pub fn code(&mut self, line: &str) -> u16 {
        self.cmd(line).code.0
    }

    pub fn login(&mut self, user: &str, pass: &str) {
        assert_eq!(self.code(&format!("USER {user}")), 331);
        let r = self.cmd(&format!("PASS {pass}"));
        assert_eq!(r.code.0, 230, "login: {r:?}");
    }

    /// PASV, then connect the data channel.
    pub fn pasv(&mut self) -> TcpStream {
        let r = self.cmd("PASV");
        assert_eq!(r.code.0, 227, "{r:?}");
        let addr = parse_pasv_reply(&r.lines[0]).expect("227 address");
        TcpStream::connect(addr).unwrap()
    }

    /// EPSV, then connect the data channel to the control peer's address.
    pub fn epsv(&mut self) -> TcpStream {
        let r = self.cmd("EPSV");
        assert_eq!(r.code.0, 229, "{r:?}");
        let port = parse_epsv_reply(&r.lines[0]).expect("229 port");
        TcpStream::connect(SocketAddr::new(self.stream.peer_addr().unwrap().ip(), port)).unwrap()
    }

    /// Runs a download-like command over PASV; returns (bytes, final reply).
    pub fn get_with(&mut self, line: &str) -> (Vec<u8>, Reply) {
        let mut data = self.pasv();
        let r = self.cmd(line);
        assert!(r.code.0 == 150 || r.code.0 == 125, "{line}: {r:?}");
        let mut buf = Vec::new();
        data.read_to_end(&mut buf).unwrap();
        (buf, self.reply())
    }

    /// RETR over PASV; asserts 226.
    pub fn retr(&mut self, path: &str) -> Vec<u8> {
        let (b, r) = self.get_with(&format!("RETR {path}"));
        assert_eq!(r.code.0, 226, "{r:?}");
        b
    }

    /// LIST/NLST/MLSD over PASV as text.
    pub fn listing(&mut self, line: &str) -> String {
        let (b, r) = self.get_with(line);
        assert_eq!(r.code.0, 226, "{r:?}");
        String::from_utf8_lossy(&b).into_owned()
    }

    /// STOR-like command over PASV; returns the final reply.
    pub fn put_with(&mut self, line: &str, content: &[u8]) -> Reply {
        let mut data = self.pasv();
        let r = self.cmd(line);
        assert!(r.code.0 == 150 || r.code.0 == 125, "{line}: {r:?}");
        data.write_all(content).unwrap();
        drop(data);
        self.reply()
    }

    pub fn quit(mut self) {
        let _ = self.cmd("QUIT");
    }
}

/// sha256 of a file, via the `sha256sum` tool (coreutils).
pub fn sha256_file(p: &Path) -> String {
    let out = Command::new("sha256sum").arg(p).output().expect("sha256sum");
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or("").to_string()
}

/// sha256 of bytes.
pub fn sha256(bytes: &[u8]) -> String {
    let mut child = Command::new("sha256sum").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or("").to_string()
}

/// What an external tool (curl, lftp, python3) printed, and how it ended.
pub struct ToolRun {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl ToolRun {
    /// Panics with everything the tool said unless it exited with 0.
    pub fn assert_ok(&self, what: &str) {
        assert!(self.status.success(), "{what}: {:?}\nstdout:\n{}\nstderr:\n{}", self.status, self.stdout, self.stderr);
    }
}

/// Runs `cmd` with stdin closed, killing it if it has not exited within
/// `limit` (then the test fails with what the tool printed so far).
pub fn run_tool(cmd: &mut Command, limit: Duration) -> ToolRun {
    let name = format!("{:?}", cmd.get_program());
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{name} could not be started ({e}); .ci/run installs curl, lftp and python3"));
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = r.read_to_end(&mut s);
            String::from_utf8_lossy(&s).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{name} did not finish within {limit:?}\nstdout:\n{}\nstderr:\n{}",
                out.join().unwrap(),
                err.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    ToolRun { status, stdout: out.join().unwrap(), stderr: err.join().unwrap() }
}

/// Makes `path` a sparse file of `len` bytes (no disk blocks).
pub fn sparse_file(path: &Path, len: u64) {
    std::fs::File::create(path).unwrap().set_len(len).unwrap();
}

// ---- The load balancer: `ftpmaster`, `ftpslaves`, slaves (issue 5).

impl Ftp {
    /// Connects and returns the session with its greeting (asserted 220).
    pub fn connect_greeting(addr: SocketAddr) -> (Ftp, Reply) {
        let stream = TcpStream::connect(addr).expect("connect");
        Ftp::greeted(stream)
    }

    /// Connects from the local address `from` (see [`connect_from`]).
    pub fn connect_greeting_from(from: &str, addr: SocketAddr) -> (Ftp, Reply) {
        Ftp::greeted(connect_from(from, addr))
    }

    fn greeted(stream: TcpStream) -> (Ftp, Reply) {
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let reader = BufReader::new(stream.try_clone().unwrap());
        let mut f = Ftp { reader, stream };
        let g = f.reply();
        assert_eq!(g.code.0, 220, "greeting: {g:?}");
        (f, g)
    }

    /// The slave id in a `220 forkftp slave N ready` greeting.
    pub fn slave_id(greeting: &Reply) -> u32 {
        let t = greeting.text();
        t.split_whitespace()
            .skip_while(|w| *w != "slave")
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no slave id in {t:?}"))
    }

    /// PASV; returns the announced address and the connected data channel.
    pub fn pasv_addr(&mut self) -> (SocketAddr, TcpStream) {
        let r = self.cmd("PASV");
        assert_eq!(r.code.0, 227, "{r:?}");
        let addr = parse_pasv_reply(&r.lines[0]).expect("227 address");
        (addr, TcpStream::connect(addr).unwrap())
    }

    /// RETR over EPSV; asserts 226.
    pub fn retr_epsv(&mut self, path: &str) -> Vec<u8> {
        let mut data = self.epsv();
        let r = self.cmd(&format!("RETR {path}"));
        assert!(r.code.0 == 150 || r.code.0 == 125, "{r:?}");
        let mut buf = Vec::new();
        data.read_to_end(&mut buf).unwrap();
        let r = self.reply();
        assert_eq!(r.code.0, 226, "{r:?}");
        buf
    }
}

/// A TCP connection to `to` from the local address `from` (loopback
/// addresses other than 127.0.0.1 stand for other hosts).
pub fn connect_from(from: &str, to: SocketAddr) -> TcpStream {
    use nix::sys::socket::{bind, connect, socket, AddressFamily, SockFlag, SockType, SockaddrStorage};
    use std::os::fd::AsRawFd;
    let fd = socket(AddressFamily::Inet, SockType::Stream, SockFlag::SOCK_CLOEXEC, None).unwrap();
    let src: SocketAddr = format!("{from}:0").parse().unwrap();
    bind(fd.as_raw_fd(), &SockaddrStorage::from(src)).unwrap();
    connect(fd.as_raw_fd(), &SockaddrStorage::from(to)).unwrap();
    let s = TcpStream::from(fd);
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

/// A base port P such that P+1 ... P+n are free on `ip`.
pub fn free_port_run(ip: &str, n: u16) -> u16 {
    let seed = std::process::id() as u64 * 7919 + COUNTER.fetch_add(1, Ordering::SeqCst) as u64 * 104_729;
    for attempt in 0..200u64 {
        let base = 20_000 + ((seed + attempt * 613) % 12_000) as u16;
        if (1..=n).all(|i| TcpListener::bind((ip, base + i)).is_ok()) {
            return base;
        }
    }
    panic!("no run of {n} free ports");
}

/// A free port on `ip` below the ephemeral range (see [`free_port_on`]).
pub fn free_low_port(ip: &str) -> u16 {
    free_port_on(ip)
}

/// Sends `sig` to `pid`, ignoring a process already gone.
pub fn signal_pid(pid: i32, sig: nix::sys::signal::Signal) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
}

/// Stops a child: SIGTERM, then SIGKILL after `grace`; reaps it.
pub fn stop_child(child: &mut Child, grace: Duration) {
    // Already reaped: its pid may belong to another process by now.
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    signal_pid(child.id() as i32, nix::sys::signal::Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A running `ftpmaster` on free loopback ports.
pub struct Master {
    pub child: Child,
    pub addr: SocketAddr,
    pub registry: SocketAddr,
    pub log: PathBuf,
    pub dir: TempDir,
}

impl Master {
    /// Starts `ftpmaster` on 127.0.0.1 (clients and registry on free
    /// ports) with `extra` options.
    pub fn start(extra: &[&str]) -> Master {
        let base = free_port_run("127.0.0.1", 2);
        let addr = SocketAddr::new("127.0.0.1".parse().unwrap(), base + 1);
        let registry = SocketAddr::new("127.0.0.1".parse().unwrap(), base + 2);
        Master::start_at(addr, registry, TempDir::new("master"), extra)
    }

    /// Starts `ftpmaster` on given addresses (to restart one in place).
    pub fn start_at(addr: SocketAddr, registry: SocketAddr, dir: TempDir, extra: &[&str]) -> Master {
        let log = dir.join(&format!("master-{}.log", COUNTER.fetch_add(1, Ordering::SeqCst)));
        let mut args: Vec<String> =
            vec!["--listen".into(), addr.to_string(), "--registry".into(), registry.to_string()];
        args.extend(extra.iter().map(|s| s.to_string()));
        let child = Command::new(env!("CARGO_BIN_EXE_ftpmaster"))
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start ftpmaster");
        let mut m = Master { child, addr, registry, log, dir };
        let ready = wait_until(Duration::from_secs(20), || {
            m.try_status().is_some() || matches!(m.child.try_wait(), Ok(Some(_)))
        });
        assert!(ready && m.try_status().is_some(), "master did not start: {}", m.log_text());
        m
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The status table, if the master answers (asked directly, without
    /// starting a process: readiness checks poll this).
    pub fn try_status(&self) -> Option<String> {
        forkftp::balancer::status::query(&self.addr).ok()
    }

    /// `ftpmaster status`, the command.
    pub fn status_command(&self) -> String {
        status_command(env!("CARGO_BIN_EXE_ftpmaster"), self.addr)
    }

    pub fn status(&self) -> String {
        self.try_status().unwrap_or_else(|| panic!("no status; log:\n{}", self.log_text()))
    }

    /// Ids of the slaves the status table shows as live.
    pub fn live_slaves(&self) -> Vec<u32> {
        parse_live_slaves(&self.try_status().unwrap_or_default())
    }

    /// Waits until exactly `ids` are live.
    pub fn wait_slaves(&self, ids: &[u32], limit: Duration) {
        let ok = wait_until(limit, || self.live_slaves() == ids);
        assert!(ok, "expected live slaves {ids:?}; status:\n{}\nlog:\n{}", self.status(), self.log_text());
    }

    /// The counter named `what` in the status (e.g. "passed", "relayed", "refused").
    pub fn count(&self, what: &str) -> u64 {
        status_number(&self.status(), what)
    }

    /// Control bytes relayed (client->slave, slave->client).
    pub fn relayed_bytes(&self) -> (u64, u64) {
        let s = self.status();
        (status_number(&s, "client->slave"), status_number(&s, "slave->client"))
    }

    pub fn connect(&self) -> (Ftp, Reply) {
        Ftp::connect_greeting(self.addr)
    }

    /// Kills the master with SIGKILL and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Master {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Live slave ids of a status table (rows start with the id).
pub fn parse_live_slaves(status: &str) -> Vec<u32> {
    let mut ids: Vec<u32> = status
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let id = w.next()?.parse().ok()?;
            (w.next()? == "live").then_some(id)
        })
        .collect();
    ids.sort();
    ids
}

/// The number written just before `word` in `text` ("6 passed").
pub fn status_number(text: &str, word: &str) -> u64 {
    let words: Vec<&str> = text.split(|c: char| c.is_whitespace() || c == ',' || c == ';').collect();
    words
        .windows(2)
        .find(|w| w[1] == word)
        .and_then(|w| w[0].parse().ok())
        .unwrap_or_else(|| panic!("no number before {word:?} in:\n{text}"))
}

/// A running `ftpslaves`.
pub struct Slaves {
    pub child: Child,
    pub base_port: u16,
    pub log: PathBuf,
    _dir: TempDir,
}

impl Slaves {
    /// `ftpslaves REGISTRY -n COUNT --bind IP --base-port (free) --root ROOT ARGS`.
    pub fn start(registry: SocketAddr, count: u16, bind: &str, root: &Path, args: &[&str]) -> Slaves {
        let dir = TempDir::new("slaves");
        let log = dir.join("slaves.log");
        let base_port = free_port_run(bind, count);
        let mut all: Vec<String> = vec![
            registry.to_string(),
            "-n".into(),
            count.to_string(),
            "--bind".into(),
            bind.into(),
            "--base-port".into(),
            base_port.to_string(),
            "--root".into(),
            root.display().to_string(),
        ];
        all.extend(args.iter().map(|s| s.to_string()));
        let child = Command::new(env!("CARGO_BIN_EXE_ftpslaves"))
            .args(&all)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start ftpslaves");
        Slaves { child, base_port, log, _dir: dir }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The slave pools (children of `ftpslaves`).
    pub fn slave_pids(&self) -> Vec<i32> {
        children_of(self.pid())
    }
}

impl Drop for Slaves {
    fn drop(&mut self) {
        stop_child(&mut self.child, Duration::from_secs(10));
    }
}

/// One slave started alone: `ftpserver --listen ADDR --register REGISTRY
/// --slave-id ID --root ROOT ARGS`.
pub struct SlaveServer {
    pub child: Child,
    pub addr: SocketAddr,
    pub log: PathBuf,
    pub args: Vec<String>,
    _dir: TempDir,
}

impl SlaveServer {
    pub fn start(addr: SocketAddr, registry: SocketAddr, id: u32, root: &Path, extra: &[&str]) -> SlaveServer {
        let mut args: Vec<String> = vec![
            "--listen".into(),
            addr.to_string(),
            "--register".into(),
            registry.to_string(),
            "--slave-id".into(),
            id.to_string(),
            "--root".into(),
            root.display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let dir = TempDir::new("slave");
        let log = dir.join("slave.log");
        let child = SlaveServer::spawn(&args, &log);
        SlaveServer { child, addr, log, args, _dir: dir }
    }

    fn spawn(args: &[String], log: &Path) -> Child {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
        Command::new(env!("CARGO_BIN_EXE_ftpserver"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("start ftpserver")
    }

    /// Starts it again with the same options (after it was killed).
    pub fn restart(&mut self) {
        let _ = self.child.wait();
        // The old workers die with their supervisor; wait for the port.
        assert!(wait_until(Duration::from_secs(10), || TcpListener::bind(self.addr).is_ok()), "port still busy");
        self.child = SlaveServer::spawn(&self.args, &self.log);
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for SlaveServer {
    fn drop(&mut self) {
        stop_child(&mut self.child, Duration::from_secs(10));
    }
}

/// A cluster key file in `dir`.
pub fn key_file(dir: &TempDir, key: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(&format!("cluster-{}.key", COUNTER.fetch_add(1, Ordering::SeqCst)));
    std::fs::write(&p, format!("{key}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

/// A directory holding `hello.txt` and `big.bin` (`size` pseudo-random bytes).
pub fn shared_root(size: usize) -> (TempDir, Vec<u8>) {
    let root = TempDir::new("shared-root");
    std::fs::write(root.join("hello.txt"), b"hello world\n").unwrap();
    let big = pseudo_random(size, 5);
    std::fs::write(root.join("big.bin"), &big).unwrap();
    give_to_worker_user(root.path());
    (root, big)
}
