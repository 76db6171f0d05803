//! Test harness: starts the real binaries with their own temporary roots,
//! and speaks FTP to them over raw sockets.
//!
//! - [`daemon`]: the one way a test starts a server process (`ftpserver`,
//!   `ftpmaster`, `ftpslaves`, pyftpdlib). Each listens on port 0 and the
//!   test reads the port it bound from its log, so no test races another
//!   for a port; readiness is a log line or a status answer, never a sleep.
//!   A failing test prints the command line, the log and the directory of
//!   each of its servers, and keeps its directories.
//! - [`server`]: `ftpserver`; [`cluster`]: `ftpmaster`, `ftpslaves` and
//!   slaves started alone.
//! - [`ftp`]: a raw control connection whose every wait has a deadline: a
//!   reply that does not come fails the test, and so does a connection the
//!   server should have closed but keeps open ([`ftp::Ftp::expect_eof`]).
//! - [`ports`]: the few ports that must be known in advance (a server
//!   restarted in place, `ftpslaves`' numbered ports), held under a lock.
//!
//! A test that needs something a machine may lack (root, a tmpfs mount,
//! sparse files, IPv6) fails without it; [`lacking`] names the opt-out.
#![allow(dead_code)]

pub mod cluster;
pub mod daemon;
pub mod ftp;
pub mod ports;
pub mod server;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub use cluster::{Master, SlaveServer, Slaves};
pub use ftp::{expect_closed, Ftp};
pub use ports::{connect_from, refusing_port};
pub use server::Server;

/// How long a server may take to start listening (a loaded machine).
pub const READY: Duration = Duration::from_secs(20);

/// The environment variable that lets a machine without root, tmpfs,
/// sparse files or IPv6 skip the tests that need them (CI never sets it).
pub const SKIP_VAR: &str = "FORKFTP_TEST_SKIP";

/// The machine lacks `what` ("root", "tmpfs", "sparse", "ipv6"): fails the
/// test with `why`, unless `FORKFTP_TEST_SKIP` names `what`, in which case
/// it says so and returns (the caller then skips that part).
pub fn lacking(what: &str, why: &str) {
    let skip = std::env::var(SKIP_VAR).unwrap_or_default();
    if skip.split(',').any(|s| s.trim() == what) {
        eprintln!("skipped ({SKIP_VAR}={skip}): {why}");
        return;
    }
    panic!("{why}\n(on a machine without {what}, {SKIP_VAR}={what} skips this; CI never sets it)");
}

/// True when the tests run as root (as CI does).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// A temporary directory, removed on drop unless the test failed: then it
/// is kept (and named) for the post-mortem.
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
        if std::thread::panicking() {
            eprintln!("kept for the post-mortem: {}", self.0.display());
            return;
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A number unique in this test process (file names).
pub fn unique() -> u32 {
    COUNTER.fetch_add(1, Ordering::SeqCst)
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

/// Runs `BIN status --listen ADDR` (ftpserver or ftpmaster); the table it
/// printed, or `None` when nothing answers.
pub fn try_status_command(bin: &str, addr: SocketAddr) -> Option<String> {
    let out = Command::new(bin).args(["status", "--listen", &addr.to_string()]).output().expect("status command");
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `BIN status --listen ADDR` and returns the table it printed.
pub fn status_command(bin: &str, addr: SocketAddr) -> String {
    let out = Command::new(bin).args(["status", "--listen", &addr.to_string()]).output().expect("status command");
    assert!(out.status.success(), "{bin} status failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The uid and gid the workers run as when the tests run as root
/// (`ftpserver --run-as nobody`, the default); `None` otherwise.
pub fn worker_ids() -> Option<(nix::unistd::Uid, nix::unistd::Gid)> {
    if !is_root() {
        return None;
    }
    let u = nix::unistd::User::from_name("nobody").ok().flatten().expect("user nobody");
    Some((u.uid, u.gid))
}

/// Gives a tree to the workers' user (as an admin would give the upload
/// directories to the server's user), so uploads work when tests run as root.
pub fn give_to_worker_user(path: &Path) {
    let Some((uid, gid)) = worker_ids() else { return };
    nix::unistd::fchownat(None, path, Some(uid), Some(gid), nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)
        .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
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

/// Sends `sig` to `pid`, ignoring a process already gone.
pub fn signal_pid(pid: i32, sig: nix::sys::signal::Signal) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
}

/// A users-file line made by `ftpserver passwd NAME EXTRA...`, the password
/// on standard input.
pub fn passwd_line(name: &str, password: &str, extra: &[&str]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ftpserver"))
        .args(["passwd", name])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(format!("{password}\n").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "passwd: {}", String::from_utf8_lossy(&out.stderr));
    let line = String::from_utf8(out.stdout).unwrap().trim().to_string();
    // The hash field is base64: a short password can turn up in it by
    // chance ("pw" did, about once in 60 lines), so it is checked apart.
    let fields: Vec<&str> = line.split(':').collect();
    assert!(fields.get(1).is_some_and(|h| h.starts_with("$argon2id$")), "no argon2id hash in {line:?}");
    assert!(
        fields.iter().enumerate().all(|(i, f)| i == 1 || !f.contains(password)),
        "the password itself must not be printed"
    );
    line
}

/// sha256 of a file, via the `sha256sum` tool (coreutils).
pub fn sha256_file(p: &Path) -> String {
    let out = Command::new("sha256sum").arg(p).output().expect("sha256sum");
    assert!(out.status.success(), "sha256sum {}: {}", p.display(), String::from_utf8_lossy(&out.stderr));
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

/// A cluster key file in `dir`.
pub fn key_file(dir: &TempDir, key: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(&format!("cluster-{}.key", unique()));
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
