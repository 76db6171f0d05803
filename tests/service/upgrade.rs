//! The binary upgraded under load (SIGUSR2): clients connecting and
//! downloading throughout see no refused or reset connection and get every
//! byte; a session open across the upgrade goes on; a new binary that
//! fails leaves the old one serving.

use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::{copy_of_ftpserver, install, upgraded_supervisor, KillOnDrop, FTPSERVER};
use crate::util::{alive, pseudo_random, signal_pid, wait_until, Ftp, Server, TempDir, READY};

/// One client session: connect, log in, download `big.bin` and
/// `hello.txt`, compare, quit. Any refusal, reset or wrong byte is an error.
fn one_session(addr: SocketAddr, big: &[u8]) -> Result<(), String> {
    let stream = std::net::TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut f = Ftp::from_stream(stream);
    let greet = f.reply();
    if greet.code.0 != 220 {
        return Err(format!("greeting {greet:?}"));
    }
    f.login("anonymous", "load@test");
    let mut data = f.pasv();
    let r = f.cmd("RETR big.bin");
    if r.code.0 != 150 {
        return Err(format!("RETR: {r:?}"));
    }
    let mut got = Vec::with_capacity(big.len());
    data.read_to_end(&mut got).map_err(|e| format!("data: {e}"))?;
    let r = f.reply();
    if r.code.0 != 226 || got != big {
        return Err(format!(
            "RETR ended {r:?} with {} of {} bytes{}",
            got.len(),
            big.len(),
            if got == big { "" } else { ", not the file's" }
        ));
    }
    if f.retr("hello.txt") != b"hello world\n" {
        return Err("hello.txt differs".into());
    }
    f.quit();
    Ok(())
}

#[test]
fn an_upgrade_under_load_refuses_no_connection_and_loses_no_byte() {
    let bin = TempDir::new("upgrade-bin");
    let exe = copy_of_ftpserver(bin.path());
    let big = pseudo_random(512 * 1024, 13);
    let big2 = big.clone();
    let s = Server::start_program(
        exe.to_str().unwrap(),
        move |root| std::fs::write(root.join("big.bin"), &big2).unwrap(),
        &["--workers", "4", "--min-spare", "2", "--metrics", "127.0.0.1:0"],
        &[],
    );
    let addr = s.addr;
    let metrics = super::metrics::metrics_addr(&s.log_text());
    // A session opened before the upgrade, which must go on after it.
    let mut early = Some(s.anon());

    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let big = Arc::new(big);
    let clients: Vec<_> = (0..3)
        .map(|_| {
            let (stop, done, errors, big) = (stop.clone(), done.clone(), errors.clone(), big.clone());
            std::thread::spawn(move || {
                // Bounded: stops when told, or after 2 minutes at most.
                let limit = Instant::now() + Duration::from_secs(120);
                while !stop.load(Ordering::SeqCst) && Instant::now() < limit {
                    match one_session(addr, &big) {
                        Ok(()) => {
                            done.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(e) => errors.lock().unwrap().push(e),
                    }
                }
            })
        })
        .collect();
    let sessions_at_least =
        |n: usize| assert!(wait_until(READY, || done.load(Ordering::SeqCst) >= n), "sessions stalled");
    sessions_at_least(10);

    // Two upgrades in a row: the first binary hands over to the second,
    // which hands over to the third.
    let mut owners = vec![s.pid()];
    let mut guards = Vec::new();
    for _ in 0..2 {
        let mark = s.log_text().len();
        install(FTPSERVER, &exe);
        signal_pid(*owners.last().unwrap(), Signal::SIGUSR2);
        let next = upgraded_supervisor(&s, mark);
        guards.push(KillOnDrop(next));
        let old = *owners.last().unwrap();
        owners.push(next);
        let before = done.load(Ordering::SeqCst);
        sessions_at_least(before + 10);
        if let Some(mut f) = early.take() {
            // The early session is served by a worker of the first binary,
            // which ends when that session does.
            assert_eq!(f.code("NOOP"), 200);
            assert_eq!(f.retr("hello.txt"), b"hello world\n");
            assert!(alive(old), "the old supervisor waits for its last session");
            f.quit();
        }
        assert!(wait_until(READY, || !alive(old)), "the old supervisor {old} did not end after its sessions");
    }
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.join().unwrap();
    }
    let errors = errors.lock().unwrap();
    assert!(
        errors.is_empty(),
        "{} sessions failed during the upgrades (of {}): {:?}",
        errors.len(),
        done.load(Ordering::SeqCst),
        &errors[..errors.len().min(10)]
    );
    // The last binary serves, and answers `status` on the socket handed over.
    let last = *owners.last().unwrap();
    assert!(alive(last));
    let status = crate::util::status_command(FTPSERVER, addr);
    assert!(status.starts_with(&format!("forkftp on {addr}:")), "{status}");
    assert_eq!(crate::util::children_of(last).len(), crate::util::status_number(&status, "workers") as usize);
    // And `/metrics` on the socket handed over, from the last binary.
    let (code, page) = super::metrics::get(metrics, "/metrics");
    assert_eq!(code, 200);
    assert!(page.contains("forkftp_sessions_total "), "{page}");
    assert_eq!(super::metrics::get(metrics, "/health").0, 200);
}

#[test]
fn a_new_binary_that_fails_leaves_the_old_one_serving() {
    let bin = TempDir::new("upgrade-bin");
    let exe = copy_of_ftpserver(bin.path());
    let dir = TempDir::new("pid");
    let pid_file = dir.join("ftpserver.pid");
    let s = Server::start_program(exe.to_str().unwrap(), |_| {}, &["--pid-file", pid_file.to_str().unwrap()], &[]);
    assert!(wait_until(READY, || std::fs::read_to_string(&pid_file).is_ok_and(|p| p.trim() == s.pid().to_string())));

    // A binary that exits at once, after starting a child of its own.
    let broken = bin.join("broken");
    let child_pid = bin.join("child.pid");
    let script =
        format!("#!/bin/sh\nsleep 300 &\necho $! > {}\necho 'broken build' >&2\nexit 3\n", child_pid.display());
    std::fs::write(&broken, script).unwrap();
    std::fs::set_permissions(&broken, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::rename(&broken, &exe).unwrap();
    s.signal(Signal::SIGUSR2);
    assert!(wait_until(READY, || s.log_text().contains("upgrade failed: the new binary")), "{}", s.log_text());
    assert!(s.log_text().contains("exit code 3"), "{}", s.log_text());
    let mut f = s.anon();
    assert_eq!(f.retr("hello.txt"), b"hello world\n");
    f.quit();
    assert!(crate::util::status_command(FTPSERVER, s.addr).starts_with("forkftp on "));
    assert_eq!(std::fs::read_to_string(&pid_file).unwrap().trim(), s.pid().to_string());
    // The failed binary is not taken for a worker, and what it started
    // was stopped with it (its process group).
    assert!(!s.log_text().contains("died (exit code 3)"), "{}", s.log_text());
    let child: i32 = std::fs::read_to_string(&child_pid).unwrap().trim().parse().unwrap();
    assert!(wait_until(READY, || !alive(child)), "the failed binary's child {child} still runs");

    // Then a good binary: the upgrade works, and the new supervisor takes
    // the pid file over.
    install(FTPSERVER, &exe);
    let mark = s.log_text().len();
    s.signal(Signal::SIGUSR2);
    let next = upgraded_supervisor(&s, mark);
    let _guard = KillOnDrop(next);
    assert!(wait_until(READY, || std::fs::read_to_string(&pid_file).is_ok_and(|p| p.trim() == next.to_string())));
    let mut f = s.connect();
    f.login("anonymous", "x");
    f.quit();
}

/// `ftpmaster` across its own restart: its slaves register again on their
/// own, and the clients that arrive meanwhile wait in the backlog (not
/// refused) until one has; a client passed to a slave before the restart
/// never notices it.
#[test]
fn a_restarted_master_holds_its_first_clients_until_its_slaves_are_back() {
    use crate::util::{Master, SlaveServer};
    let (root, _) = crate::util::shared_root(10);
    let mut m = Master::start_restartable(&[]);
    let _slave = SlaveServer::start("127.0.0.1", m.registry, 1, root.path(), &[]);
    m.wait_slaves(&[1], READY);
    // A client passed to the slave (same host): the master is out of its path.
    let (mut passed, _) = m.connect();
    passed.login("anonymous", "x");
    m.kill();
    m.restart();
    // At once, before the slave is back: the client waits, then is served.
    let (mut f, greeting) = m.connect();
    assert_eq!(Ftp::slave_id(&greeting), 1);
    f.login("anonymous", "x");
    assert_eq!(f.retr("hello.txt"), b"hello world\n");
    f.quit();
    assert!(!m.log_text().contains("refused, no slave available"), "{}", m.log_text());
    assert_eq!(passed.retr("hello.txt"), b"hello world\n", "the passed client never noticed");
    passed.quit();
}
