//! A burst against a cold pool (issue 15): clients that arrive together
//! while no worker is idle are all served at once, not as the pool ramps up.

use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use crate::util::{wait_until, Ftp, Server};

/// Clients of the burst: as many as pyftpdlib's benchmark uses (`-n 100`).
const BURST: usize = 100;

/// The bound of the test. The target is 50 ms on a quiet machine; a busy CI
/// machine (two cores shared with builds) gets four times that. Before the
/// supervisor read the accept queue, the pool grew by doubling a batch per
/// 100 ms tick and this test took 715 to 745 ms here, every attempt; since,
/// 11 to 53 ms at load averages up to 80.
const BURST_BOUND: Duration = Duration::from_millis(200);

/// Connects `n` clients at the same instant (threads released by one
/// barrier), each logging in as anonymous; returns the time from the first
/// connect to the last `230` (each thread reads the clock itself: on a busy
/// machine any of them may run late), and the clients, still logged in.
pub fn burst_of_logins(addr: SocketAddr, n: usize) -> (Duration, Vec<Ftp>) {
    let ready = Arc::new(Barrier::new(n));
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let ready = ready.clone();
            std::thread::spawn(move || {
                ready.wait();
                let start = Instant::now();
                let stream = TcpStream::connect(addr).expect("connect");
                stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                let reader = std::io::BufReader::new(stream.try_clone().unwrap());
                let mut f = Ftp { reader, stream };
                assert_eq!(f.reply().code.0, 220);
                f.login("anonymous", "burst@");
                (start, Instant::now(), f)
            })
        })
        .collect();
    let mut clients = Vec::with_capacity(n);
    let (mut first, mut last) = (None::<Instant>, None::<Instant>);
    for t in threads {
        let (start, done, f) = t.join().expect("client thread");
        first = Some(first.map_or(start, |x| x.min(start)));
        last = Some(last.map_or(done, |x| x.max(done)));
        clients.push(f);
    }
    let took = match (first, last) {
        (Some(f), Some(l)) => l - f,
        _ => Duration::ZERO,
    };
    (took, clients)
}

/// Attempts, each against a server started afresh: a machine busy enough
/// to stall the test's own 100 threads once (seen: 250 and 535 ms at a load
/// average of 37) does not fail it, while the ramp it guards against takes
/// four supervisor ticks every time.
const ATTEMPTS: usize = 3;

#[test]
fn a_hundred_clients_at_once_are_all_logged_in_without_waiting_for_the_pool_to_ramp_up() {
    let mut took = Vec::new();
    for _ in 0..ATTEMPTS {
        // Defaults: 8 workers, 4 spare; the burst is twelve times the pool.
        // No per-address limit: every client comes from 127.0.0.1.
        let s = Server::start(&["--max-per-ip", "0"]);
        assert!(wait_until(Duration::from_secs(5), || s.workers().len() >= 8 && s.busy_workers() == 0));
        let (t, clients) = burst_of_logins(s.addr, BURST);
        eprintln!("{BURST} clients logged in within {t:?}");
        assert!(s.workers().len() >= BURST, "{} workers for {BURST} clients", s.workers().len());
        for f in clients {
            f.quit();
        }
        took.push(t);
        if t < BURST_BOUND {
            return;
        }
    }
    panic!("{BURST} clients took {took:?} to log in, in {ATTEMPTS} attempts (bound {BURST_BOUND:?})");
}
