//! `--syslog`: the test owns the syslog socket (a Unix datagram socket in
//! its directory, named with `--syslog-socket`; `/dev/log` by default) and
//! reads what the server sends there.

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use super::{run, stderr, FTPMASTER, FTPSERVER};
use crate::util::daemon::Daemon;
use crate::util::server::{listening_addr, LISTENING};
use crate::util::{Ftp, TempDir, READY};

/// Reads datagrams until one contains `needle`; all of them so far.
fn until(sock: &UnixDatagram, got: &mut Vec<String>, needle: &str) -> String {
    let deadline = Instant::now() + READY;
    let mut buf = [0u8; 8192];
    while Instant::now() < deadline {
        if let Some(m) = got.iter().find(|m| m.contains(needle)) {
            return m.clone();
        }
        if let Ok(n) = sock.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    panic!("no {needle:?} in the syslog datagrams:\n{}", got.join("\n"));
}

/// `<PRI>Mmm dd hh:mm:ss IDENT[PID]: MESSAGE`: (facility, severity, ident, pid, message).
fn fields(m: &str) -> (u32, u32, String, i32, String) {
    let pri: u32 = m[1..m.find('>').unwrap()].parse().unwrap();
    let rest = &m[m.find('>').unwrap() + 1..];
    // "Mmm dd hh:mm:ss " is 16 characters.
    let stamp = &rest[..15];
    assert!(
        stamp.as_bytes()[3] == b' ' && stamp[7..].len() == 8 && &stamp[9..10] == ":",
        "timestamp {stamp:?} in {m:?}"
    );
    let rest = &rest[16..];
    let (tag, msg) = rest.split_once("]: ").unwrap();
    let (ident, pid) = tag.split_once('[').unwrap();
    (pri / 8, pri % 8, ident.to_string(), pid.parse().unwrap(), msg.to_string())
}

#[test]
fn syslog_gets_one_datagram_per_line_with_facility_ftp() {
    let dir = TempDir::new("syslog");
    let path = dir.join("log.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let root = TempDir::new("root");
    std::fs::write(root.join("hello.txt"), b"hello world\n").unwrap();
    crate::util::give_to_worker_user(root.path());
    let args: Vec<String> = [
        "--listen",
        "127.0.0.1:0",
        "--root",
        root.path().to_str().unwrap(),
        "--syslog",
        "--syslog-socket",
        path.to_str().unwrap(),
        "--user",
        "alice:secret",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // The socket is the test's: the directory and the socket writable by
    // the workers' user when the tests run as root.
    crate::util::give_to_worker_user(dir.path());
    let d = Daemon::spawn(FTPSERVER, &args, "syslog");
    let mut got = Vec::new();
    let listening = until(&sock, &mut got, LISTENING);
    let (facility, severity, ident, pid, msg) = fields(&listening);
    assert_eq!((facility, severity, ident.as_str(), pid), (11, 6, "ftpserver", d.pid()), "{listening}");
    let addr = listening_addr(&msg);
    // Nothing goes to standard error meanwhile.
    assert!(!d.log_text().contains(LISTENING), "{}", d.log_text());

    let mut f = Ftp::connect(addr);
    assert_eq!(f.code("USER alice"), 331);
    assert_eq!(f.code("PASS wrong"), 530);
    f.login("alice", "secret");
    assert_eq!(f.retr("hello.txt"), b"hello world\n");
    f.quit();
    let failed = until(&sock, &mut got, "login failed from 127.0.0.1 port ");
    assert!(failed.contains("user \"alice\""), "{failed}");
    let (facility, severity, _, worker, _) = fields(&failed);
    assert_eq!((facility, severity), (11, 4), "a warning: {failed}");
    assert_ne!(worker, d.pid(), "logged by the worker, with its own pid");
    let retr = until(&sock, &mut got, "RETR /hello.txt 12 bytes");
    assert_eq!(fields(&retr).3, worker);
    assert!(!got.iter().any(|m| m.contains("secret")), "no password in the log");
    assert!(got.iter().all(|m| !m.contains('\n')), "one line per datagram");
}

#[test]
fn an_unreachable_syslog_socket_is_said_at_start() {
    let dir = TempDir::new("syslog");
    let missing = dir.join("no-such.sock");
    let out = run(
        FTPSERVER,
        &[
            "--listen",
            "127.0.0.1:0",
            "--root",
            dir.path().to_str().unwrap(),
            "--syslog",
            "--syslog-socket",
            missing.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains(&format!("--syslog-socket {}: No such file", missing.display())), "{}", stderr(&out));
    // --syslog and --log-file are one or the other.
    let out = run(FTPMASTER, &["--syslog", "--log-file", "/tmp/x"]);
    assert!(!out.status.success() && stderr(&out).contains("cannot be used with"), "{}", stderr(&out));
}
