//! The rows of hostile clients and capacity (issue 10).
//!
//! - The flood: a server started with its defaults, hit by connections
//!   from 127.0.0.2 to 127.0.0.251 (four each), in equal parts silent,
//!   never reading their replies (a tiny window, HELP over and over), and
//!   trickling a byte a second, each renewed as soon as the server closes
//!   it; meanwhile a real client from 127.0.0.1 connects, logs in and
//!   downloads a file again and again. Reported: its worst greeting and
//!   login, its downloads (each checked byte for byte) and the server's
//!   PSS.
//! - Capacity: one pool with N logged-in idle sessions, opened by a few
//!   threads at once; reported: the worst greeting and the server's PSS.
//!
//! Both need many descriptors: the soft limit is raised to the hard one,
//! and a figure the machine cannot reach is lowered to what it allows,
//! saying why.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{self, sockopt, AddressFamily, SockFlag, SockType, SockaddrStorage};

use super::client::{check_loopback, Ftp};
use super::server::Server;

/// How a connection of the flood behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Connects and says nothing.
    Silent,
    /// Sends HELP over and over with a tiny window and never reads.
    NonReading,
    /// Sends one byte a second (of `NOOP` lines).
    Trickling,
}

/// One connection of the flood, renewed when the server closes it.
struct Hostile {
    kind: Kind,
    from: IpAddr,
    sock: Option<TcpStream>,
    retry_at: Instant,
    next_byte: Instant,
    sent: usize,
}

/// Opens a non-blocking connection from `from` to `to`; `tiny` makes its
/// receive buffer and segments small (set before connecting), so that
/// the server's socket buffer fills after a few replies nobody reads.
fn open_from(from: IpAddr, to: SocketAddr, tiny: bool) -> io::Result<TcpStream> {
    check_loopback(to)?;
    let fd =
        socket::socket(AddressFamily::Inet, SockType::Stream, SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK, None)?;
    if tiny {
        socket::setsockopt(&fd, sockopt::RcvBuf, &2048)?;
        socket::setsockopt(&fd, sockopt::TcpMaxSeg, &536)?;
    }
    socket::bind(fd.as_raw_fd(), &SockaddrStorage::from(SocketAddr::new(from, 0)))?;
    match socket::connect(fd.as_raw_fd(), &SockaddrStorage::from(to)) {
        Ok(()) | Err(Errno::EINPROGRESS) => Ok(TcpStream::from(fd)),
        Err(e) => Err(e.into()),
    }
}

/// A running flood.
pub(super) struct Flood {
    stop: Arc<AtomicBool>,
    opened: Arc<AtomicUsize>,
    thread: std::thread::JoinHandle<()>,
}

impl Flood {
    /// Starts `n` connections to `to` (a third of each kind) from
    /// 127.0.0.2 on, four per address; they run until [`Flood::stop`] or
    /// `limit`.
    pub(super) fn start(to: SocketAddr, n: usize, limit: Duration) -> Flood {
        let now = Instant::now();
        let kinds = [Kind::Silent, Kind::NonReading, Kind::Trickling];
        let mut all: Vec<Hostile> = (0..n)
            .map(|i| Hostile {
                kind: kinds[i % 3],
                from: IpAddr::from([127, 0, 0, (2 + (i / 4) % 250) as u8]),
                sock: None,
                retry_at: now,
                next_byte: now,
                sent: 0,
            })
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let opened = Arc::new(AtomicUsize::new(0));
        let (s, o) = (Arc::clone(&stop), Arc::clone(&opened));
        let thread = std::thread::spawn(move || drive(&mut all, to, &s, &o, now + limit));
        Flood { stop, opened, thread }
    }

    /// Stops the flood and closes its connections; returns how many were opened.
    pub(super) fn stop(self) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.thread.join();
        self.opened.load(Ordering::SeqCst)
    }
}

/// The flood's loop: one thread, one `poll` over every connection.
fn drive(all: &mut [Hostile], to: SocketAddr, stop: &AtomicBool, opened: &AtomicUsize, end: Instant) {
    let help = b"HELP\r\n".repeat(100);
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::SeqCst) && Instant::now() < end {
        let now = Instant::now();
        for h in all.iter_mut().filter(|h| h.sock.is_none() && now >= h.retry_at) {
            match open_from(h.from, to, h.kind == Kind::NonReading) {
                Ok(s) => {
                    h.sock = Some(s);
                    h.next_byte = now + Duration::from_secs(1);
                    opened.fetch_add(1, Ordering::SeqCst);
                }
                Err(_) => h.retry_at = now + Duration::from_millis(50),
            }
        }
        // Which connection each poll entry is.
        let open: Vec<usize> = (0..all.len()).filter(|&i| all[i].sock.is_some()).collect();
        let revents: Vec<PollFlags> = {
            let mut fds: Vec<PollFd> = open
                .iter()
                .map(|&i| {
                    let h = &all[i];
                    let ev = if h.kind == Kind::NonReading { PollFlags::POLLOUT } else { PollFlags::POLLIN };
                    PollFd::new(h.sock.as_ref().expect("open").as_fd(), ev)
                })
                .collect();
            if poll(&mut fds, PollTimeout::from(100u16)).is_err() {
                continue;
            }
            fds.iter().map(|f| f.revents().unwrap_or(PollFlags::empty())).collect()
        };
        let now = Instant::now();
        for (k, &i) in open.iter().enumerate() {
            let h = &mut all[i];
            let ev = revents[k];
            let mut closed = ev.intersects(PollFlags::POLLERR | PollFlags::POLLNVAL);
            let sock = h.sock.as_mut().expect("open");
            if !closed && h.kind == Kind::NonReading && ev.contains(PollFlags::POLLOUT) {
                closed = matches!(sock.write(&help), Err(e) if e.kind() != io::ErrorKind::WouldBlock)
                    || ev.contains(PollFlags::POLLHUP);
            }
            if !closed && h.kind != Kind::NonReading && ev.intersects(PollFlags::POLLIN | PollFlags::POLLHUP) {
                closed = match sock.read(&mut buf) {
                    Ok(0) => true,
                    Ok(_) => false,
                    Err(e) => e.kind() != io::ErrorKind::WouldBlock,
                };
            }
            if !closed && h.kind == Kind::Trickling && now >= h.next_byte {
                let line = b"NOOP\r\n";
                closed = matches!(sock.write(&line[h.sent % 6..h.sent % 6 + 1]), Err(e) if e.kind() != io::ErrorKind::WouldBlock);
                h.sent += 1;
                h.next_byte += Duration::from_secs(1);
            }
            if closed {
                // Renewed at once: the worst case for the server.
                h.sock = None;
                h.retry_at = now;
            }
        }
    }
}

/// Raises the soft limit of open descriptors to the hard limit; returns it.
pub(super) fn raise_nofile() -> io::Result<u64> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    }
    Ok(hard.max(soft))
}

/// The most sessions this machine lets one pool hold, and why when fewer
/// than `wanted`: descriptors of this process (one per session, plus
/// margin), processes (`kernel.pid_max`, `threads-max`), and memory
/// (about 300 KiB a session, kernel included).
pub(super) fn sessions_allowed(wanted: usize) -> (usize, Option<String>) {
    let read = |p: &str| std::fs::read_to_string(p).ok().and_then(|s| s.trim().parse::<u64>().ok());
    let mem_kib = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        m.lines().find_map(|l| l.strip_prefix("MemAvailable:"))?.split_whitespace().next()?.parse::<u64>().ok()
    });
    let fds = raise_nofile().unwrap_or(1024);
    let procs = std::fs::read_dir("/proc").map_or(0, |d| d.count()) as u64;
    let limits = [
        (fds.saturating_sub(256), "descriptors (ulimit -n)"),
        (read("/proc/sys/kernel/pid_max").unwrap_or(u64::MAX).saturating_sub(procs + 256), "kernel.pid_max"),
        (read("/proc/sys/kernel/threads-max").unwrap_or(u64::MAX).saturating_sub(procs + 256), "kernel.threads-max"),
        (mem_kib.map_or(u64::MAX, |k| k / 2 / 300), "half the available memory"),
    ];
    match limits.iter().filter(|(n, _)| *n < wanted as u64).min() {
        Some(&(n, why)) => (n as usize, Some(format!("the most {why} allow"))),
        None => (wanted, None),
    }
}

/// Opens `n` logged-in sessions with `threads` threads at once; returns
/// them and the worst time from connect to greeting.
pub(super) fn open_sessions(
    addr: SocketAddr,
    user: &str,
    pw: &str,
    n: usize,
    threads: usize,
) -> io::Result<(Vec<Ftp>, Duration)> {
    let left = AtomicUsize::new(n);
    let worst = Mutex::new(Duration::ZERO);
    let sessions = Mutex::new(Vec::with_capacity(n));
    std::thread::scope(|sc| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                sc.spawn(|| -> io::Result<()> {
                    while left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| l.checked_sub(1)).is_ok() {
                        let t = Instant::now();
                        let mut f = Ftp::connect(addr)?;
                        let greeted = t.elapsed();
                        f.log_in(user, pw)?;
                        {
                            let mut w = worst.lock().unwrap_or_else(|e| e.into_inner());
                            *w = (*w).max(greeted);
                        }
                        sessions.lock().unwrap_or_else(|e| e.into_inner()).push(f);
                    }
                    Ok(())
                })
            })
            .collect();
        handles.into_iter().try_for_each(|h| h.join().unwrap_or_else(|_| Err(io::Error::other("client panicked"))))
    })?;
    let worst = *worst.lock().unwrap_or_else(|e| e.into_inner());
    Ok((sessions.into_inner().unwrap_or_else(|e| e.into_inner()), worst))
}

/// Waits (bounded) until the server has at least `n` workers.
pub(super) fn wait_workers(s: &Server, n: usize, limit: Duration) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if s.workers() >= n {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}
