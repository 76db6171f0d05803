//! Who may do what: anonymous is read-only unless `-w`, a `--user` account
//! logs in with its password only, and no password reaches the log file.
//! (Escapes, bounce, FIFOs and cut uploads are in `security.rs`.)

use std::time::Duration;

use crate::util::{wait_until, Server, TempDir};

/// The changes anonymous may not make without `-w`, each with the path it
/// touches.
const WRITES: [&str; 9] = [
    "STOR new.txt",
    "APPE hello.txt",
    "STOU",
    "DELE hello.txt",
    "MKD newdir",
    "XMKD newdir",
    "RMD dir",
    "XRMD dir",
    "RNFR hello.txt",
];

/// Without `-w`, anonymous gets 550 for every change, before any data
/// connection is used, and nothing changes on disk.
#[test]
fn anonymous_cannot_change_anything_without_w() {
    let s = Server::start_with(|root| std::fs::create_dir(root.join("dir")).unwrap(), &[]);
    let mut f = s.anon();
    for cmd in WRITES {
        let _d = f.pasv();
        let r = f.cmd(cmd);
        assert_eq!(r.code.0, 550, "{cmd}: {r:?}");
    }
    assert_eq!(f.code("RNTO renamed.txt"), 503);
    let mut names: Vec<String> =
        std::fs::read_dir(s.root.path()).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into()).collect();
    names.sort();
    assert_eq!(names, ["dir", "hello.txt"]);
    assert_eq!(std::fs::read(s.root.join("hello.txt")).unwrap(), b"hello world\n");
    // Reading still works.
    assert_eq!(f.retr("hello.txt"), b"hello world\n");
}

/// With `-w`, anonymous may upload, append, delete, make and remove
/// directories and rename.
#[test]
fn anonymous_may_change_things_with_w() {
    let s = Server::start_with(|root| std::fs::create_dir(root.join("dir")).unwrap(), &["-w"]);
    let mut f = s.anon();
    assert_eq!(f.put_with("STOR new.txt", b"new").code.0, 226);
    assert_eq!(f.put_with("APPE new.txt", b"er").code.0, 226);
    assert_eq!(std::fs::read(s.root.join("new.txt")).unwrap(), b"newer");
    assert_eq!(f.put_with("STOU", b"unique").code.0, 226);
    assert_eq!(f.code("MKD newdir"), 257);
    assert_eq!(f.code("RMD dir"), 250);
    assert_eq!(f.code("RNFR new.txt"), 350);
    assert_eq!(f.code("RNTO newdir/moved.txt"), 250);
    assert_eq!(std::fs::read(s.root.join("newdir/moved.txt")).unwrap(), b"newer");
    assert_eq!(f.code("DELE hello.txt"), 250);
    assert!(!s.root.join("hello.txt").exists() && !s.root.join("dir").exists());
}

/// `--user NAME:PASSWORD`: the right password logs in with full rights
/// (without `-w`), a wrong one is 530 and so is a retry of anonymous when
/// it is turned off.
#[test]
fn a_user_account_needs_its_password_and_has_full_rights() {
    let s = Server::start(&["--user", "alice:s3cret pass", "--no-anonymous", "--login-fail-delay", "1"]);
    let mut f = s.connect();
    assert_eq!(f.code("USER alice"), 331);
    assert_eq!(f.code("PASS wrong"), 530);
    assert_eq!(f.code("LIST"), 530, "still not logged in");
    assert_eq!(f.code("USER alice"), 331);
    assert_eq!(f.code("PASS s3cret pass"), 230);
    assert_eq!(f.put_with("STOR alice.txt", b"mine").code.0, 226);
    assert_eq!(f.code("MKD alices"), 257);
    assert_eq!(f.code("DELE alice.txt"), 250);
    assert_eq!(f.retr("hello.txt"), b"hello world\n");
    let mut g = s.connect();
    assert_eq!(g.code("USER anonymous"), 331);
    assert_eq!(g.code("PASS a@b"), 530);
    let mut h = s.connect();
    assert_eq!(h.code("USER bob"), 331, "unknown users are asked for a password too");
    assert_eq!(h.code("PASS s3cret pass"), 530);
}

/// With `-v --log-file`, every command is logged but no password: neither a
/// user's, nor a wrong one, nor anonymous's e-mail address.
#[test]
fn no_password_reaches_the_log_file() {
    let dir = TempDir::new("logfile");
    let log = dir.join("ftp.log");
    let log_arg = log.display().to_string();
    let s = Server::start(&["-v", "--log-file", &log_arg, "--user", "carol:Tr0ub4dor", "--login-fail-delay", "1"]);
    let mut f = s.connect();
    f.login("carol", "Tr0ub4dor");
    f.quit();
    let mut g = s.connect();
    assert_eq!(g.code("USER carol"), 331);
    assert_eq!(g.code("PASS correct-horse"), 530);
    g.quit();
    let mut a = s.connect();
    a.login("anonymous", "secret-mail@example.com");
    assert_eq!(a.code("NOOP"), 200);
    a.quit();
    let text = || std::fs::read_to_string(&log).unwrap_or_default();
    assert!(wait_until(Duration::from_secs(5), || text().matches("PASS ****").count() >= 3), "{}", text());
    let text = text();
    assert!(text.contains("USER carol") && text.contains("NOOP"), "-v logs the commands:\n{text}");
    for secret in ["Tr0ub4dor", "correct-horse", "secret-mail"] {
        assert!(!text.contains(secret), "{secret} in the log:\n{text}");
    }
    assert!(!s.log_text().contains("Tr0ub4dor"), "{}", s.log_text());
}
