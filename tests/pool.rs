//! The process pool: workers replaced when they die, clean stops, clients
//! beyond the pool served as workers free up.

use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::util::{alive, wait_until, Server};

#[test]
fn the_pool_has_the_requested_number_of_workers() {
    let s = Server::start(&["--workers", "3", "--min-spare", "0"]);
    assert!(wait_until(Duration::from_secs(5), || s.workers().len() == 3), "workers: {:?}", s.workers());
}

#[test]
fn a_killed_worker_is_replaced_and_the_other_clients_never_notice() {
    let s = Server::start(&["--workers", "3", "--min-spare", "0"]);
    assert!(wait_until(Duration::from_secs(5), || s.workers().len() == 3));
    // Client A is in the middle of its session; kill a worker that is not its own.
    let mut a = s.anon();
    let mine = s.worker_serving(a.stream.local_addr().unwrap()).expect("A's worker in status");
    let victim = *s.workers().iter().find(|&&p| p != mine).unwrap();
    kill(Pid::from_raw(victim), Signal::SIGKILL).unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || {
            let now = s.workers();
            now.len() == 3 && !now.contains(&victim)
        }),
        "pool not refilled: {:?}",
        s.workers()
    );
    assert!(!alive(victim));
    // A never noticed; new clients are served.
    assert_eq!(a.code("NOOP"), 200);
    assert_eq!(a.retr("hello.txt"), b"hello world\n");
    for _ in 0..5 {
        let mut f = s.anon();
        assert_eq!(f.retr("hello.txt"), b"hello world\n");
        f.quit();
    }
    assert!(s.log_text().contains("killed by SIGKILL"), "{}", s.log_text());
}

#[test]
fn killing_a_busy_worker_cuts_only_its_own_client() {
    let s = Server::start(&["--workers", "3", "--min-spare", "0"]);
    let mut a = s.anon();
    let mut b = s.anon();
    let a_worker = s.worker_serving(a.stream.local_addr().unwrap()).expect("A's worker");
    kill(Pid::from_raw(a_worker), Signal::SIGKILL).unwrap();
    a.send_raw(b"NOOP\r\n");
    a.expect_eof();
    assert_eq!(b.code("NOOP"), 200);
    assert!(wait_until(Duration::from_secs(5), || s.workers().len() == 3 && !s.workers().contains(&a_worker)));
}

#[test]
fn sigterm_stops_every_worker_and_the_parent_exits() {
    let mut s = Server::start(&["--workers", "4"]);
    assert!(wait_until(Duration::from_secs(5), || s.workers().len() >= 4));
    let workers = s.workers();
    let mut f = s.anon();
    s.signal(Signal::SIGTERM);
    // The connected client is told before the connection closes.
    f.expect_close_with(421, "Server shutting down.");
    let st = s.wait_exit(Duration::from_secs(10)).expect("supervisor exited");
    assert!(st.success(), "{st:?}");
    for w in workers {
        assert!(!alive(w), "worker {w} survived");
    }
}

#[test]
fn sigint_stops_the_server_too() {
    let mut s = Server::start(&["--workers", "2"]);
    assert!(wait_until(Duration::from_secs(5), || s.workers().len() >= 2), "workers: {:?}", s.workers());
    let workers = s.workers();
    let mut f = s.anon();
    s.signal(Signal::SIGINT);
    f.expect_close_with(421, "Server shutting down.");
    let st = s.wait_exit(Duration::from_secs(10)).expect("supervisor exited");
    assert!(st.success(), "{st:?}");
    assert!(workers.iter().all(|w| !alive(*w)));
}

#[test]
fn more_clients_than_workers_are_all_served_at_once() {
    // Two workers at start; ten clients hold their sessions at the same time,
    // so the pool must grow for all of them to get through.
    let s = Server::start(&["--workers", "2", "--min-spare", "1"]);
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(10));
    let handles: Vec<_> = (0..10)
        .map(|_| {
            let addr = s.addr;
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let mut f = crate::util::Ftp::connect(addr);
                f.login("anonymous", "x");
                barrier.wait();
                let b = f.retr("hello.txt");
                f.quit();
                b
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), b"hello world\n");
    }
}

// ---- The pool in production (issue 4) ----

use std::io::Read;
use std::time::Instant;

use crate::util::{Ftp, TempDir};

/// Connects and asserts the 220 greeting arrives within a second.
fn greeted_within_a_second(addr: std::net::SocketAddr) -> Ftp {
    let t = Instant::now();
    let f = Ftp::connect(addr);
    assert!(t.elapsed() < Duration::from_secs(1), "greeting took {:?}", t.elapsed());
    f
}

/// Connects and returns the connection with its first reply (a greeting
/// or a refusal).
fn first_reply(addr: std::net::SocketAddr) -> (Ftp, forkftp::protocol::Reply) {
    let mut f = Ftp::from_stream(std::net::TcpStream::connect(addr).unwrap());
    let r = f.reply();
    (f, r)
}

/// A client refused at the door: `421 <text>`, and the connection closed.
fn refused_with(addr: std::net::SocketAddr, text: &str) {
    let (mut f, r) = first_reply(addr);
    assert_eq!((r.code.0, r.text().as_str()), (421, text), "{r:?}");
    f.expect_eof();
}

#[test]
fn the_pool_grows_for_a_crowd_and_shrinks_back_to_max_spare() {
    let s = Server::start(&["--workers", "2", "--min-spare", "2", "--max-spare", "4", "--max-per-ip", "0"]);
    let crowd: Vec<Ftp> = (0..24).map(|_| greeted_within_a_second(s.addr)).collect();
    assert!(s.workers().len() >= 24, "{} workers", s.workers().len());
    drop(crowd);
    assert!(
        wait_until(Duration::from_secs(10), || s.workers().len() == 4),
        "pool did not shrink to max-spare: {} workers",
        s.workers().len()
    );
}

#[test]
fn at_max_workers_the_next_client_is_told_at_once() {
    let s = Server::start(&["--workers", "2", "--min-spare", "0", "--max-workers", "2"]);
    assert!(wait_until(Duration::from_secs(5), || s.busy_workers() == 0));
    let _a = s.anon();
    let _b = s.anon();
    let t = Instant::now();
    refused_with(s.addr, "Too many users, try again later.");
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
}

#[test]
fn the_per_address_limit_refuses_with_its_own_reason() {
    let s = Server::start(&["--max-per-ip", "2"]);
    let a = s.anon();
    let _b = s.anon();
    refused_with(s.addr, "Too many connections from your address, try again later.");
    // Once A has left, the address has room again.
    a.quit();
    assert!(wait_until(Duration::from_secs(5), || first_reply(s.addr).1.code.0 == 220));
}

#[test]
fn three_hundred_clients_are_greeted_within_a_second_and_the_next_is_refused() {
    let s = Server::start(&["--max-workers", "300", "--max-per-ip", "0"]);
    let crowd: Vec<Ftp> = (0..300)
        .map(|_| {
            let mut f = greeted_within_a_second(s.addr);
            f.login("anonymous", "x");
            f
        })
        .collect();
    // Every worker serves a logged-in client: nothing to reclaim (see
    // tests/hostile.rs for a full pool of clients that have not logged in).
    refused_with(s.addr, "Too many users, try again later.");
    drop(crowd);
}

/// `--max-sessions-per-worker 2`: a worker serves exactly two sessions, one
/// after the other, then exits and a new worker takes its place.
#[test]
fn a_worker_is_recycled_after_its_sessions() {
    let s =
        Server::start(&["--workers", "1", "--min-spare", "0", "--max-spare", "1", "--max-sessions-per-worker", "2"]);
    let mut served = Vec::new();
    for i in 0..3 {
        // Each session comes to a pool at rest (one worker, idle), so the
        // pool has no reason to grow for it.
        let at_rest = wait_until(Duration::from_secs(10), || {
            s.workers().len() == 1 && s.idle_workers() == 1 && s.busy_workers() == 0
        });
        assert!(at_rest, "session {i}: the pool is not at rest:\n{}", s.status());
        let f = s.anon();
        served.push(s.worker_serving(f.stream.local_addr().unwrap()).expect("the session's worker in status"));
        f.quit();
    }
    assert_eq!(served[0], served[1], "the first worker serves two sessions: {served:?}");
    assert_ne!(served[1], served[2], "then a new worker serves the third: {served:?}");
    assert!(wait_until(Duration::from_secs(10), || !alive(served[0])), "the recycled worker is still alive");
}

#[test]
fn the_login_timeout_says_421_and_closes() {
    let s = Server::start(&["--login-timeout", "1"]);
    let mut f = s.connect();
    let t = Instant::now();
    let r = f.reply();
    assert_eq!((r.code.0, r.lines[0].as_str()), (421, "Timeout."));
    assert!(t.elapsed() >= Duration::from_millis(900));
    f.expect_eof();
    // The worker is back in the pool.
    s.anon().quit();
}

#[test]
fn the_idle_timeout_says_421_but_never_cuts_a_running_transfer() {
    let content = crate::util::pseudo_random(8 << 20, 4);
    let c2 = content.clone();
    let s =
        Server::start_with(move |root| std::fs::write(root.join("big.bin"), &c2).unwrap(), &["--idle-timeout", "1"]);
    // A slow download that lasts longer than the idle timeout.
    let mut f = s.anon();
    let mut data = f.pasv();
    assert_eq!(f.code("RETR big.bin"), 150);
    let mut got = Vec::new();
    let mut buf = vec![0u8; 256 * 1024];
    let started = Instant::now();
    loop {
        let n = data.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        if started.elapsed() < Duration::from_millis(2500) {
            std::thread::sleep(Duration::from_millis(80));
        }
    }
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert_eq!(got, content);
    assert_eq!(f.reply().code.0, 226);
    // Then silence: the idle timer fires.
    f.expect_close_with(421, "Timeout.");
}

#[test]
fn the_data_connection_timeout_says_421() {
    let s = Server::start(&["--data-timeout", "1"]);
    let mut f = s.anon();
    let r = f.cmd("PASV");
    assert_eq!(r.code.0, 227);
    // Never connect.
    f.send_raw(b"RETR hello.txt\r\n");
    f.expect_close_with(421, "Timeout.");
}

#[test]
fn a_stalled_transfer_times_out_with_421() {
    let s = Server::start_with(
        |root| {
            let f = std::fs::File::create(root.join("huge.bin")).unwrap();
            f.set_len(256 << 20).unwrap();
        },
        &["--stall-timeout", "1"],
    );
    let mut f = s.anon();
    let data = f.pasv();
    assert_eq!(f.code("RETR huge.bin"), 150);
    // Read nothing: the socket buffers fill and the transfer stalls.
    let t = Instant::now();
    let r = f.reply();
    assert_eq!((r.code.0, r.lines[0].as_str()), (421, "Timeout."));
    assert!(t.elapsed() < Duration::from_secs(20));
    f.expect_eof();
    drop(data);
}

#[test]
fn sigquit_lets_a_running_download_finish_then_the_server_exits() {
    let content = crate::util::pseudo_random(8 << 20, 5);
    let c2 = content.clone();
    let mut s = Server::start_with(move |root| std::fs::write(root.join("big.bin"), &c2).unwrap(), &[]);
    let workers = s.workers();
    let mut f = s.anon();
    let mut data = f.pasv();
    assert_eq!(f.code("RETR big.bin"), 150);
    let mut got = vec![0u8; 1 << 20];
    data.read_exact(&mut got).unwrap();
    s.signal(Signal::SIGQUIT);
    let mut rest = Vec::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = data.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        rest.extend_from_slice(&buf[..n]);
        std::thread::sleep(Duration::from_millis(20));
    }
    got.extend_from_slice(&rest);
    assert_eq!(crate::util::sha256(&got), crate::util::sha256(&content));
    assert_eq!(f.reply().code.0, 226);
    // Then the session ends: the server is stopping.
    f.expect_close_with(421, "Server shutting down.");
    let st = s.wait_exit(Duration::from_secs(10)).expect("the server exits after the transfer");
    assert!(st.success());
    assert!(workers.iter().all(|w| !alive(*w)));
}

#[test]
fn sighup_reloads_accounts_and_keeps_open_sessions() {
    let dir = TempDir::new("hup");
    let users = dir.join("users");
    let line = |name: &str| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_ftpserver"))
            .args(["passwd", name])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut c.stdin.take().unwrap(), b"pw\n").unwrap();
        String::from_utf8(c.wait_with_output().unwrap().stdout).unwrap()
    };
    std::fs::write(&users, line("ann")).unwrap();
    let s = Server::start(&["--users", &users.display().to_string()]);
    let mut old = s.connect();
    old.login("ann", "pw");
    {
        let mut f = s.connect();
        assert_eq!(f.code("USER ben"), 331);
        assert_eq!(f.code("PASS pw"), 530);
    }
    std::fs::write(&users, line("ann") + &line("ben")).unwrap();
    s.signal(Signal::SIGHUP);
    assert!(wait_until(Duration::from_secs(5), || s.log_text().contains("reloaded the configuration")));
    let mut ben = s.connect();
    assert_eq!(ben.code("USER ben"), 331);
    let r = ben.cmd("PASS pw");
    assert_eq!(r.code.0, 230, "{r:?}\n{}", s.log_text());
    assert_eq!(old.code("NOOP"), 200);
    assert_eq!(old.retr("hello.txt"), b"hello world\n");
}

#[test]
fn kill_9_of_the_parent_leaves_no_worker_behind() {
    let mut s = Server::start(&["--workers", "4"]);
    let mut f = s.anon();
    // Readiness is the first worker's greeting; the others may still be forking.
    assert!(wait_until(Duration::from_secs(5), || s.workers().len() >= 4), "workers: {:?}", s.workers());
    let workers = s.workers();
    s.signal(Signal::SIGKILL);
    s.wait_exit(Duration::from_secs(5)).expect("parent dead");
    assert!(
        wait_until(Duration::from_secs(10), || workers.iter().all(|w| !alive(*w))),
        "surviving workers: {:?}",
        workers.iter().filter(|w| alive(**w)).collect::<Vec<_>>()
    );
    // The worker died with its parent (PR_SET_PDEATHSIG: SIGTERM), telling
    // its client first.
    f.expect_close_with(421, "Server shutting down.");
}

#[test]
fn status_shows_a_busy_worker_with_its_client_and_command() {
    let s = Server::start(&[]);
    let mut f = s.anon();
    assert_eq!(f.code("NOOP"), 200);
    let me = f.stream.local_addr().unwrap().to_string();
    let table = s.status();
    let row = table.lines().find(|l| l.contains(&me)).unwrap_or_else(|| panic!("no row for {me}:\n{table}"));
    assert!(row.contains("busy") && row.contains("anonymous") && row.contains("NOOP"), "{row}");
    assert!(table.lines().next().unwrap().contains("workers"), "{table}");
}

#[test]
fn sigusr1_reopens_the_log_file_after_a_rotation() {
    let dir = TempDir::new("logs");
    crate::util::give_to_worker_user(dir.path());
    let log = dir.join("ftp.log");
    let s = Server::start(&["--log-file", &log.display().to_string(), "--workers", "2"]);
    assert!(wait_until(Duration::from_secs(5), || std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("listening")));
    std::fs::rename(&log, dir.join("ftp.log.1")).unwrap();
    s.signal(Signal::SIGUSR1);
    assert!(wait_until(Duration::from_secs(5), || log.exists()), "the supervisor did not reopen the log");
    // Workers reopen too: the lines of a new session land in the new file.
    assert!(wait_until(Duration::from_secs(10), || {
        s.anon().quit();
        std::fs::read_to_string(&log).unwrap_or_default().contains("connected")
    }));
}
