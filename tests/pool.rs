//! The process pool: workers replaced when they die, clean stops, clients
//! beyond the pool served as workers free up.

use std::io::Write;
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
fn a_worker_killed_with_sigkill_is_replaced_and_others_keep_serving() {
    let s = Server::start(&["--workers", "3", "--min-spare", "0"]);
    assert!(wait_until(Duration::from_secs(5), || s.workers().len() == 3));
    // A client in the middle of its session, served by some worker.
    let mut busy = s.anon();
    let before = s.workers();
    let victim = before[0];
    kill(Pid::from_raw(victim), Signal::SIGKILL).unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || {
            let now = s.workers();
            now.len() == 3 && !now.contains(&victim)
        }),
        "pool not refilled: {:?}",
        s.workers()
    );
    // Whoever still has a session keeps it, and new clients are served.
    if alive(victim) {
        panic!("victim still alive");
    }
    // The victim may have been the one serving `busy`: then it is gone,
    // and that is fine; either way nothing else is affected.
    let _ = busy.stream.write_all(b"NOOP\r\n");
    let _ = busy.try_reply();
    for _ in 0..5 {
        let mut f = s.anon();
        assert_eq!(f.retr("hello.txt"), b"hello world\n");
        f.quit();
    }
    assert!(s.log_text().contains("killed by SIGKILL"), "{}", s.log_text());
}

#[test]
fn sigterm_stops_every_worker_and_the_parent_exits() {
    let mut s = Server::start(&["--workers", "4"]);
    assert!(wait_until(Duration::from_secs(5), || s.workers().len() >= 4));
    let workers = s.workers();
    let mut f = s.anon();
    s.signal(Signal::SIGTERM);
    // The connected client is told before the connection closes.
    let r = f.try_reply();
    assert!(r.is_none() || r.unwrap().code.0 == 421);
    let st = s.wait_exit(Duration::from_secs(10)).expect("supervisor exited");
    assert!(st.success(), "{st:?}");
    for w in workers {
        assert!(!alive(w), "worker {w} survived");
    }
}

#[test]
fn sigint_stops_the_server_too() {
    let mut s = Server::start(&["--workers", "2"]);
    let workers = s.workers();
    s.signal(Signal::SIGINT);
    assert!(s.wait_exit(Duration::from_secs(10)).is_some());
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
