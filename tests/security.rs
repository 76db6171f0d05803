//! Accounts and security (issue 6): users file, homes and rights, brute
//! force, the jail under attack, no bounce, no data theft, atomic uploads,
//! disk full, privilege drop.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use forkftp::protocol::address::parse_pasv_reply;

use crate::util::{
    expect_closed, give_to_worker_user, is_root, lacking, pseudo_random, wait_until, Ftp, Server, TempDir,
};

/// A users-file line made by `ftpserver passwd`, the password on stdin.
fn passwd_line(name: &str, password: &str, home: &str, perms: &str) -> String {
    crate::util::passwd_line(name, password, &["--home", home, "--perms", perms])
}

fn no_temporaries(dir: &Path) -> bool {
    std::fs::read_dir(dir).unwrap().flatten().all(|e| !e.file_name().to_string_lossy().starts_with(".forkftp."))
}

#[test]
fn users_file_accounts_are_confined_to_their_home_with_their_rights() {
    let outside = TempDir::new("bobhome");
    let users_dir = TempDir::new("users");
    let users = users_dir.join("users");
    let lines = [
        "# forkftp users".to_string(),
        passwd_line("alice", "alice pw", "alice", "read,mkdir"),
        passwd_line("bob", "bob-pw", &outside.path().display().to_string(), "all"),
    ];
    std::fs::write(&users, lines.join("\n") + "\n").unwrap();
    give_to_worker_user(outside.path());
    let users_arg = users.display().to_string();
    let s = Server::start_with(
        |root| {
            std::fs::create_dir(root.join("alice")).unwrap();
            std::fs::write(root.join("alice/a.txt"), b"alice's").unwrap();
            std::fs::write(root.join("secret.txt"), b"top").unwrap();
        },
        &["--users", &users_arg, "--no-anonymous"],
    );
    let mut a = s.connect();
    a.login("alice", "alice pw");
    assert_eq!(a.cmd("PWD").lines[0], "\"/\" is the current directory.");
    let list = a.listing("NLST");
    assert!(list.contains("a.txt") && !list.contains("secret.txt"), "{list}");
    assert_eq!(a.retr("a.txt"), b"alice's");
    for escape in ["/secret.txt", "../secret.txt", "../../secret.txt"] {
        let (_, r) = {
            let _data = a.pasv();
            (0, a.cmd(&format!("RETR {escape}")))
        };
        assert_eq!(r.code.0, 550, "{escape}: {r:?}");
    }
    // read,mkdir: no upload, no delete, no rename; mkdir yes.
    let _d = a.pasv();
    assert_eq!(a.code("STOR new.txt"), 550);
    assert_eq!(a.code("DELE a.txt"), 550);
    assert_eq!(a.code("RNFR a.txt"), 550);
    assert_eq!(a.code("MKD made"), 257);
    assert!(s.root.join("alice/made").is_dir());
    a.quit();

    // bob's home is outside the server root; he may do everything there.
    let mut b = s.connect();
    b.login("bob", "bob-pw");
    assert_eq!(b.put_with("STOR up.bin", b"from bob").code.0, 226);
    assert_eq!(std::fs::read(outside.join("up.bin")).unwrap(), b"from bob");
    assert!(!b.listing("NLST").contains("secret.txt"));
    b.quit();

    // Anonymous is off.
    let mut c = s.connect();
    assert_eq!(c.code("USER anonymous"), 331);
    assert_eq!(c.code("PASS x"), 530);
}

#[test]
fn a_malformed_users_file_is_refused_with_its_line_number() {
    let dir = TempDir::new("badusers");
    let good = passwd_line("carol", "carol-password", "", "read");
    std::fs::write(dir.join("users"), format!("{good}\ndave:not-a-hash::read\n")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ftpserver"))
        .args(["--listen", "127.0.0.1:0", "--root", &dir.path().display().to_string()])
        .args(["--users", &dir.join("users").display().to_string()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2") && err.contains("bad password hash"), "{err}");
}

#[test]
fn failed_logins_wait_longer_each_time_and_the_third_closes_the_connection() {
    let s = Server::start(&["--user", "erin:right", "--login-fail-delay", "150"]);
    let mut f = s.connect();
    let mut waited = Vec::new();
    for _ in 0..2 {
        assert_eq!(f.code("USER erin"), 331);
        let t = Instant::now();
        assert_eq!(f.code("PASS wrong"), 530);
        waited.push(t.elapsed());
    }
    assert!(waited[0] >= Duration::from_millis(150), "{waited:?}");
    assert!(waited[1] >= Duration::from_millis(300), "{waited:?}");
    assert_eq!(f.code("USER erin"), 331);
    let t = Instant::now();
    assert_eq!(f.code("PASS wrong"), 530);
    waited.push(t.elapsed());
    assert!(waited[2] >= Duration::from_millis(600), "the delay doubles each time: {waited:?}");
    // The third failure ends the session.
    f.expect_eof();
    // The count follows the address (tests/hostile.rs): it is banned now,
    // and the right password still works from another address.
    let (mut g, _) = crate::util::Ftp::connect_greeting_from("127.0.0.2", s.addr);
    g.login("erin", "right");
}

#[test]
fn user_is_answered_the_same_for_known_and_unknown_names() {
    let dir = TempDir::new("u");
    std::fs::write(dir.join("users"), passwd_line("frank", "frank-password", "", "read") + "\n").unwrap();
    let users = dir.join("users").display().to_string();
    let s = Server::start(&["--users", &users, "--user", "gina:pw"]);
    let mut f = s.connect();
    let known = f.cmd("USER frank");
    let plain = f.cmd("USER gina");
    let unknown = f.cmd("USER nosuchuser");
    assert_eq!(known, unknown);
    assert_eq!(plain, unknown);
}

#[test]
fn every_escape_attempt_is_refused() {
    let outside = TempDir::new("outside");
    std::fs::write(outside.join("secret"), b"outside-secret").unwrap();
    let target = outside.join("secret");
    let target_dir = outside.path().to_path_buf();
    let s = Server::start_with(
        |root| {
            symlink(&target, root.join("abs-link")).unwrap();
            symlink(&target_dir, root.join("dir-link")).unwrap();
            std::fs::create_dir(root.join("sub")).unwrap();
            let rel = format!("../../{}/secret", target_dir.file_name().unwrap().to_string_lossy());
            symlink(rel, root.join("sub/rel-link")).unwrap();
            symlink("../hello.txt", root.join("sub/inside-link")).unwrap();
        },
        &[],
    );
    let mut f = s.anon();
    for p in ["../../etc/passwd", "/etc/passwd", "abs-link", "sub/rel-link", "dir-link/secret", "/../../../etc/passwd"]
    {
        let _d = f.pasv();
        let r = f.cmd(&format!("RETR {p}"));
        assert_eq!(r.code.0, 550, "RETR {p}: {r:?}");
    }
    assert_eq!(f.code("CWD dir-link"), 550);
    assert_eq!(f.code("SIZE abs-link"), 550);
    let _d = f.pasv();
    assert_eq!(f.code("LIST dir-link"), 550);
    // CWD /../.. lands on the root, which holds hello.txt.
    assert_eq!(f.code("CWD /../.."), 250);
    assert_eq!(f.cmd("PWD").lines[0], "\"/\" is the current directory.");
    // A symlink that stays inside the root works.
    assert_eq!(f.retr("sub/inside-link"), b"hello world\n");
}

#[test]
fn a_symlink_swapped_in_during_requests_never_escapes() {
    let outside = TempDir::new("swap-out");
    std::fs::write(outside.join("secret"), b"outside-secret").unwrap();
    let s = Server::start_with(|root| std::fs::write(root.join("flip"), b"inside").unwrap(), &[]);
    let root = s.root.path().to_path_buf();
    let secret = outside.join("secret");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flipped = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let flipper = {
        let (stop, flipped) = (stop.clone(), flipped.clone());
        std::thread::spawn(move || {
            // Atomically swap `flip` between a file and a symlink out of the root.
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < deadline {
                let tmp = root.join(format!("flip.tmp{}", i % 2));
                let _ = std::fs::remove_file(&tmp);
                if i % 2 == 0 {
                    symlink(&secret, &tmp).unwrap();
                } else {
                    std::fs::write(&tmp, b"inside").unwrap();
                }
                std::fs::rename(&tmp, root.join("flip")).unwrap();
                i += 1;
                flipped.store(i, std::sync::atomic::Ordering::Relaxed);
            }
            i
        })
    };
    let mut f = s.anon();
    let (mut served, mut refused) = (0, 0);
    // At least 300 requests, and on until both outcomes and a few flips were
    // seen: a busy machine may starve the flipper for a while.
    let deadline = Instant::now() + Duration::from_secs(8);
    let mut requests = 0;
    let raced = |served, refused| served > 0 && refused > 0 && flipped.load(std::sync::atomic::Ordering::Relaxed) > 10;
    while requests < 300 || (!raced(served, refused) && Instant::now() < deadline) {
        requests += 1;
        let (bytes, r) = {
            let mut data = f.pasv();
            let r = f.cmd("RETR flip");
            if r.code.0 == 150 {
                let mut b = Vec::new();
                data.read_to_end(&mut b).unwrap();
                (b, f.reply())
            } else {
                (Vec::new(), r)
            }
        };
        match r.code.0 {
            226 => {
                assert_eq!(bytes, b"inside", "escaped through a swapped symlink");
                served += 1;
            }
            550 => refused += 1,
            other => panic!("unexpected reply {other}: {r:?}"),
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let flips = flipper.join().unwrap();
    assert!(flips > 10 && served > 0 && refused > 0, "flips {flips}, served {served}, refused {refused}");
}

#[test]
fn retr_of_a_directory_fifo_or_device_is_refused_without_hanging() {
    let s = Server::start_with(
        |root| {
            std::fs::create_dir(root.join("adir")).unwrap();
            nix::unistd::mkfifo(&root.join("fifo"), nix::sys::stat::Mode::from_bits_truncate(0o666)).unwrap();
            if is_root() {
                use nix::sys::stat::{makedev, mknod, Mode, SFlag};
                mknod(&root.join("zero"), SFlag::S_IFCHR, Mode::from_bits_truncate(0o666), makedev(1, 5)).unwrap();
            }
        },
        &[],
    );
    let mut f = s.anon();
    let mut names = vec!["adir", "fifo"];
    if is_root() {
        names.push("zero");
    } else {
        lacking("root", "the device case needs root (mknod)");
    }
    for name in names {
        let _d = f.pasv();
        let t = Instant::now();
        let r = f.cmd(&format!("RETR {name}"));
        assert_eq!(r.code.0, 550, "RETR {name}: {r:?}");
        assert!(t.elapsed() < Duration::from_secs(5));
    }
}

#[test]
fn port_and_eprt_to_another_host_or_a_privileged_port_are_refused() {
    let s = Server::start(&[]);
    let mut f = s.anon();
    for cmd in ["PORT 127,0,0,2,195,80", "EPRT |1|127.0.0.2|50000|", "PORT 127,0,0,1,0,80", "EPRT |1|127.0.0.1|21|"] {
        let r = f.cmd(cmd);
        assert_eq!(r.code.0, 500, "{cmd}: {r:?}");
        assert!(r.lines[0].contains("Illegal"), "{r:?}");
    }
    assert_eq!(f.code("PORT 127,0,0,1,195,80"), 200);
}

#[test]
fn a_passive_connection_from_another_address_is_refused_and_the_client_still_gets_its_data() {
    let s = Server::start(&[]);
    let mut f = s.anon();
    let r = f.cmd("PASV");
    let addr = parse_pasv_reply(&r.lines[0]).unwrap();
    // The thief, on "another host", gets there first.
    let mut thief = crate::util::connect_from("127.0.0.2", addr);
    let mut real = TcpStream::connect(addr).unwrap();
    assert_eq!(f.code("RETR hello.txt"), 150);
    let mut got = Vec::new();
    real.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"hello world\n");
    assert_eq!(f.reply().code.0, 226);
    // The thief's connection is closed at once, without a byte.
    expect_closed(&mut thief, "the thief's data connection");
    assert!(s.log_text().contains("refused data connection from 127.0.0.2"), "{}", s.log_text());
}

#[test]
fn an_upload_cut_in_the_middle_leaves_the_old_file_and_no_temporary() {
    let s = Server::start_with(|root| std::fs::write(root.join("keep.bin"), b"old content").unwrap(), &["-w"]);
    // Cut by the client vanishing: both connections reset mid-transfer.
    {
        let mut f = s.anon();
        let mut data = f.pasv();
        assert_eq!(f.code("STOR keep.bin"), 150);
        data.write_all(&pseudo_random(300_000, 1)).unwrap();
        for sock in [&data, &f.stream] {
            nix::sys::socket::setsockopt(
                sock,
                nix::sys::socket::sockopt::Linger,
                &libc::linger { l_onoff: 1, l_linger: 0 },
            )
            .unwrap();
        }
    }
    assert!(wait_until(Duration::from_secs(10), || s.log_text().contains("STOR /keep.bin")), "{}", s.log_text());
    assert_eq!(std::fs::read(s.root.join("keep.bin")).unwrap(), b"old content");
    assert!(no_temporaries(s.root.path()));
    // Cut by ABOR.
    let mut f = s.anon();
    let mut data = f.pasv();
    assert_eq!(f.code("STOR keep.bin"), 150);
    data.write_all(&pseudo_random(100_000, 2)).unwrap();
    f.send_raw(b"ABOR\r\n");
    assert_eq!(f.reply().code.0, 426);
    assert_eq!(f.reply().code.0, 226);
    drop(data);
    assert_eq!(std::fs::read(s.root.join("keep.bin")).unwrap(), b"old content");
    assert!(no_temporaries(s.root.path()));
    // A complete upload replaces it.
    assert_eq!(f.put_with("STOR keep.bin", b"new content").code.0, 226);
    assert_eq!(std::fs::read(s.root.join("keep.bin")).unwrap(), b"new content");
    assert!(no_temporaries(s.root.path()));
}

#[test]
fn two_clients_storing_the_same_name_end_with_one_complete_file() {
    let s = Server::start(&["-w"]);
    let a_bytes = pseudo_random(2 << 20, 10);
    let b_bytes = pseudo_random(2 << 20, 11);
    let addr = s.addr;
    let handles: Vec<_> = [a_bytes.clone(), b_bytes.clone()]
        .into_iter()
        .map(|content| {
            std::thread::spawn(move || {
                let mut f = Ftp::connect(addr);
                f.login("anonymous", "x");
                let mut data = f.pasv();
                assert_eq!(f.code("STOR same.bin"), 150);
                for chunk in content.chunks(64 * 1024) {
                    data.write_all(chunk).unwrap();
                }
                drop(data);
                f.reply().code.0
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 226);
    }
    let got = std::fs::read(s.root.join("same.bin")).unwrap();
    assert!(got == a_bytes || got == b_bytes, "a mix of both uploads");
    assert!(no_temporaries(s.root.path()));
}

/// Unmounts on drop.
struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = nix::mount::umount(&self.0);
    }
}

#[test]
fn a_full_disk_gives_452_and_keeps_the_old_file() {
    if !is_root() {
        return lacking("root", "mounting a small tmpfs needs root");
    }
    let s = Server::start_with(|root| std::fs::create_dir(root.join("small")).unwrap(), &["-w"]);
    let small = s.root.join("small");
    if let Err(e) = nix::mount::mount(
        Some("tmpfs"),
        &small,
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        Some("size=256k,mode=0777"),
    ) {
        return lacking("tmpfs", &format!("cannot mount a tmpfs here ({e})"));
    }
    let _m = Mount(small.clone());
    std::fs::write(small.join("old.bin"), b"old").unwrap();
    give_to_worker_user(&small);
    let mut f = s.anon();
    let r = f.put_with("STOR small/old.bin", &pseudo_random(1 << 20, 3));
    assert_eq!(r.code.0, 452, "{r:?}");
    assert_eq!(std::fs::read(small.join("old.bin")).unwrap(), b"old");
    assert!(no_temporaries(&small));
    // The session goes on.
    assert_eq!(f.code("NOOP"), 200);
}

fn uid_of(pid: i32) -> u32 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    line.split_whitespace().nth(2).unwrap().parse().unwrap()
}

#[test]
fn workers_started_as_root_drop_to_the_run_as_user_before_serving() {
    if !is_root() {
        return lacking("root", "the privilege drop needs the tests to run as root");
    }
    let s = Server::start(&["--workers", "2"]);
    let nobody = crate::util::worker_ids().unwrap().0.as_raw();
    let mut f = s.anon();
    let serving = s.worker_serving(f.stream.local_addr().unwrap()).unwrap();
    assert_eq!(uid_of(serving), nobody);
    // A worker forked a moment ago (the pool grows to keep spares) is root
    // until it drops, before it accepts anyone: wait for the drop.
    assert!(
        wait_until(Duration::from_secs(5), || s.workers().iter().all(|&w| uid_of(w) == nobody)),
        "a worker stayed root: {:?}",
        s.workers().iter().map(|&w| (w, uid_of(w))).collect::<Vec<_>>()
    );
    assert_eq!(uid_of(s.pid()), 0, "the supervisor keeps root to bind and fork");
    assert_eq!(f.code("NOOP"), 200);
    // Serving as root is refused outright.
    let out = Command::new(env!("CARGO_BIN_EXE_ftpserver"))
        .args(["--listen", "127.0.0.1:0", "--root", "/tmp", "--run-as", "root"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("refusing to serve clients as root"));
}

#[test]
fn passwords_never_reach_the_log() {
    let s = Server::start(&["-vv", "--user", "hal:hunter2-is-secret"]);
    let mut f = s.connect();
    f.login("hal", "hunter2-is-secret");
    f.quit();
    let mut g = s.connect();
    assert_eq!(g.code("USER hal"), 331);
    assert_eq!(g.code("PASS wrong-secret-too"), 530);
    assert!(wait_until(Duration::from_secs(5), || s.log_text().contains("PASS ****")), "{}", s.log_text());
    let log = s.log_text();
    assert!(!log.contains("hunter2") && !log.contains("wrong-secret"), "{log}");
}

#[test]
fn rest_then_stor_resumes_in_place_and_never_creates_a_stray_file() {
    let s = Server::start_with(|root| std::fs::write(root.join("part.bin"), b"0123456789").unwrap(), &["-w"]);
    let mut f = s.anon();
    // Resume at 4: the bytes after the offset are replaced, no stale tail.
    assert_eq!(f.code("REST 4"), 350);
    assert_eq!(f.put_with("STOR part.bin", b"ab").code.0, 226);
    assert_eq!(std::fs::read(s.root.join("part.bin")).unwrap(), b"0123ab");
    // Beyond the end: 554, file untouched.
    assert_eq!(f.code("REST 99"), 350);
    let _d = f.pasv();
    assert_eq!(f.code("STOR part.bin"), 554);
    assert_eq!(std::fs::read(s.root.join("part.bin")).unwrap(), b"0123ab");
    // REST+STOR of a missing file: refused, and nothing is created.
    assert_eq!(f.code("REST 3"), 350);
    let _d = f.pasv();
    assert_eq!(f.code("STOR missing.bin"), 550);
    assert!(!s.root.join("missing.bin").exists());
    // APPE creates.
    assert_eq!(f.put_with("APPE new.log", b"line 1\n").code.0, 226);
    assert_eq!(f.put_with("APPE new.log", b"line 2\n").code.0, 226);
    assert_eq!(std::fs::read(s.root.join("new.log")).unwrap(), b"line 1\nline 2\n");
}

#[test]
fn a_root_below_a_directory_the_workers_cannot_enter_is_still_served() {
    if !is_root() {
        return lacking("root", "needs root to have workers of another user");
    }
    // As `make && ./ftpserver` from a checkout in /root (mode 0700): the
    // root is opened before the workers drop to nobody.
    let private = TempDir::new("private");
    std::fs::create_dir(private.join("served")).unwrap();
    std::fs::write(private.join("served/x.txt"), b"reachable").unwrap();
    std::fs::set_permissions(private.path(), std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let s = Server::start_in(private, "served", &[]);
    let mut f = s.anon();
    assert_eq!(f.retr("x.txt"), b"reachable");
}

#[test]
fn a_file_name_with_a_line_break_cannot_forge_listing_entries() {
    let s = Server::start_with(
        |root| std::fs::write(root.join("x\r\n-rw-r--r-- 1 0 0 9 Jan 1 2020 forged"), b"").unwrap(),
        &[],
    );
    let mut f = s.anon();
    for cmd in ["LIST", "NLST", "MLSD"] {
        let text = f.listing(cmd);
        assert_eq!(text.lines().count(), 2, "{cmd}: {text:?}");
        assert!(text.contains("x\\r\\n-rw-r--r--"), "{cmd}: {text:?}");
    }
}
