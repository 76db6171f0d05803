//! The measurements, one function per figure, each checking every byte it
//! received.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener};
use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use super::client::{self, Ftp, READ_BUFFER};
use super::pattern::{self, Stream, Sum};
use super::report::median;
use super::server::{self, Server};
use super::tls::Tls;
use super::Plan;
use crate::protocol::Command;

/// The plain TCP socket pair: `bytes` from one thread to another over
/// loopback, written and read like the FTP clients do. Returns the time.
pub(super) fn raw_tcp(bytes: u64) -> io::Result<Duration> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let mut stream = Stream::new(1, bytes);
    let want = stream.checksum();
    let receiver = std::thread::spawn(move || -> io::Result<(Sum, Instant)> {
        let (mut s, _) = listener.accept()?;
        s.set_read_timeout(Some(crate::limits::BENCH_IO_TIMEOUT))?;
        let mut buf = vec![0u8; READ_BUFFER];
        let sum = client::drain(&mut s, &mut buf, bytes)?;
        Ok((sum, Instant::now()))
    });
    let start = Instant::now();
    let mut s = client::connect(addr)?;
    client::pour(&mut s, &mut stream)?;
    s.shutdown(Shutdown::Write)?;
    let (got, end) = receiver.join().map_err(|_| io::Error::other("receiver panicked"))??;
    verify("raw TCP", got, want)?;
    Ok(end - start)
}

/// Fails unless `got` is the checksum of the expected stream.
pub(super) fn verify(what: &str, got: Sum, want: Sum) -> io::Result<()> {
    if got == want {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{what}: received {} bytes (sum {:x}), expected {} (sum {:x})",
                got.len, got.sum, want.len, want.sum
            ),
        ))
    }
}

/// Checksum of a file on disk.
pub(super) fn file_sum(p: &Path) -> io::Result<Sum> {
    let mut f = File::open(p)?;
    let mut sum = pattern::Checksum::new();
    let mut buf = vec![0u8; pattern::BLOCK];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(sum.finish());
        }
        sum.update(&buf[..n]);
    }
}

/// Writes stream `seed` of `len` bytes to `p`; returns its checksum.
pub(super) fn write_stream(p: &Path, seed: u64, len: u64) -> io::Result<Sum> {
    let mut s = Stream::new(seed, len);
    let mut f = File::create(p)?;
    let mut sum = pattern::Checksum::new();
    for i in 0..s.chunks() {
        let c = s.chunk(i);
        sum.update(c);
        f.write_all(c)?;
    }
    Ok(sum.finish())
}

/// What the served root holds.
pub(super) struct Files {
    pub(super) big: Sum,
    pub(super) crowd: Sum,
    pub(super) small: Vec<Sum>,
}

pub(super) const SEED_BIG: u64 = 10;
pub(super) const SEED_UPLOAD: u64 = 11;
pub(super) const SEED_CROWD: u64 = 12;
pub(super) const SEED_SMALL: u64 = 1_000;

pub(super) fn small_name(i: usize) -> String {
    format!("small/f{i:05}")
}

pub(super) fn prepare(plan: &Plan, root: &Path) -> io::Result<Files> {
    let big = write_stream(&root.join("big.bin"), SEED_BIG, plan.big_file)?;
    let crowd = write_stream(&root.join("crowd.bin"), SEED_CROWD, plan.crowd_file)?;
    std::fs::create_dir(root.join("small"))?;
    let small = (0..plan.small_files)
        .map(|i| write_stream(&root.join(small_name(i)), SEED_SMALL + i as u64, plan.small_size))
        .collect::<io::Result<Vec<_>>>()?;
    std::fs::create_dir(root.join("dir"))?;
    for i in 0..plan.dir_entries {
        File::create(root.join(format!("dir/entry-{i:05}.dat")))?;
    }
    std::fs::create_dir(root.join("up"))?;
    // The workers (nobody, when we run as root) write uploads here.
    server::give_to_workers(root)?;
    server::give_to_workers(&root.join("up"))?;
    // On disk now, so that writing these back does not happen during the
    // measurements (the kernel would start 30 s after they were written).
    use std::os::fd::AsRawFd;
    nix::unistd::syncfs(File::open(root)?.as_raw_fd())?;
    Ok(Files { big, crowd, small })
}

/// RETR of the big file over a logged-in session (encrypted with `tls`).
pub(super) fn retr_big(ftp: &mut Ftp, want: Sum, buf: &mut [u8], tls: Option<&Tls>) -> io::Result<Duration> {
    let start = Instant::now();
    let c = Command::Retr("big.bin".into());
    let got = match tls {
        Some(tls) => ftp.download_tls(&c, tls, want.len)?.0,
        None => ftp.download(&c, buf, want.len)?,
    };
    let t = start.elapsed();
    verify("RETR big.bin", got, want)?;
    Ok(t)
}

/// STOR of a stream as big as the big file, checked on disk. Unless it is
/// to `replace` it, the previous upload is removed only now: its pages are
/// freed right before the new file needs pages, as in a server that keeps
/// storing. (On this VM,
/// whose balloon device reports free pages to the host, writing 1 GiB
/// into memory not used for a while ran at 1.4 GB/s where `dd` reached
/// 3.6 GB/s once the pages were in use again: the first upload is untimed.)
/// An upload that replaces the previous one needs its pages while the
/// old file still holds its own (the upload is atomic): the first one
/// after a fresh upload gets memory not used for a while; a repeated one
/// gets the pages of the file the last one replaced, freed after its 226.
/// Over `tls` when given.
pub(super) fn stor_big(
    ftp: &mut Ftp,
    root: &Path,
    plan: &Plan,
    replace: bool,
    tls: Option<&Tls>,
) -> io::Result<Duration> {
    let mut s = Stream::new(SEED_UPLOAD, plan.big_file);
    let want = s.checksum();
    let name = "up/upload.bin";
    let path = root.join(name);
    if path.exists() && !replace {
        std::fs::remove_file(&path)?;
    }
    let start = Instant::now();
    match tls {
        Some(tls) => ftp.upload_tls(name, &mut s, tls)?,
        None => ftp.upload(name, &mut s)?,
    }
    let t = start.elapsed();
    verify("STOR", file_sum(&path)?, want)?;
    Ok(t)
}

/// Runs `clients` threads doing connect+login+QUIT until `cycles` are done
/// or `limit` passes; returns cycles per second. With `tls`, each login
/// starts with `AUTH TLS` and a full handshake.
pub(super) fn login_cycles(
    addr: SocketAddr,
    (user, pw): (&str, &str),
    tls: Option<&Tls>,
    clients: usize,
    cycles: usize,
    limit: Duration,
) -> io::Result<f64> {
    let left = AtomicI64::new(cycles as i64);
    let done = AtomicU64::new(0);
    let barrier = Barrier::new(clients + 1);
    let (t, errors) = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..clients)
            .map(|_| {
                sc.spawn(|| -> io::Result<()> {
                    barrier.wait();
                    let end = Instant::now() + limit;
                    while left.fetch_sub(1, Ordering::SeqCst) > 0 && Instant::now() < end {
                        match tls {
                            Some(tls) => Ftp::login_tls(addr, user, pw, tls)?.quit()?,
                            None => Ftp::login(addr, user, pw)?.quit()?,
                        }
                        done.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(())
                })
            })
            .collect();
        let start = Instant::now();
        barrier.wait();
        let errors: Vec<io::Error> = handles
            .into_iter()
            .filter_map(|h| h.join().unwrap_or_else(|_| Err(io::Error::other("client panicked"))).err())
            .collect();
        (start.elapsed(), errors)
    });
    if let Some(e) = errors.into_iter().next() {
        return Err(e);
    }
    Ok(done.load(Ordering::SeqCst) as f64 / t.as_secs_f64())
}

/// `clients` threads connect and log in at the same instant (released by
/// one barrier) and stay logged in: a burst against the pool. Returns the
/// milliseconds from the first connect to the last `230` (each thread
/// reads the clock itself: a busy machine may run any of them late); they
/// quit afterwards.
pub(super) fn burst_logins(addr: SocketAddr, user: &str, pw: &str, clients: usize) -> io::Result<f64> {
    let barrier = Barrier::new(clients);
    let results = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..clients)
            .map(|_| {
                sc.spawn(|| -> io::Result<(Instant, Instant, Ftp)> {
                    barrier.wait();
                    let start = Instant::now();
                    let ftp = Ftp::login(addr, user, pw)?;
                    Ok((start, Instant::now(), ftp))
                })
            })
            .collect();
        let results: Vec<io::Result<(Instant, Instant, Ftp)>> = handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(io::Error::other("client panicked"))))
            .collect();
        results
    });
    let (mut first, mut last) = (None::<Instant>, None::<Instant>);
    let mut sessions = Vec::with_capacity(clients);
    for r in results {
        let (start, end, ftp) = r?;
        first = Some(first.map_or(start, |f| f.min(start)));
        last = Some(last.map_or(end, |l| l.max(end)));
        sessions.push(ftp);
    }
    for ftp in sessions {
        ftp.quit()?;
    }
    match (first, last) {
        (Some(f), Some(l)) => Ok((l - f).as_secs_f64() * 1e3),
        _ => Ok(0.0),
    }
}

/// RETR of every small file over one session; returns files per second.
pub(super) fn small_files(ftp: &mut Ftp, files: &Files, buf: &mut [u8]) -> io::Result<f64> {
    let start = Instant::now();
    let mut got = Vec::with_capacity(files.small.len());
    for i in 0..files.small.len() {
        got.push(ftp.download(&Command::Retr(small_name(i)), buf, files.small[i].len)?);
    }
    let t = start.elapsed();
    for (i, (g, w)) in got.into_iter().zip(&files.small).enumerate() {
        verify(&small_name(i), g, *w)?;
    }
    Ok(files.small.len() as f64 / t.as_secs_f64())
}

/// LIST or NLST of the big directory; returns milliseconds.
pub(super) fn listing(ftp: &mut Ftp, c: &Command, entries: usize) -> io::Result<f64> {
    let start = Instant::now();
    let bytes = ftp.download_bytes(c, entries * 256 + 4096)?;
    let t = start.elapsed();
    let lines = bytes.windows(2).filter(|w| w == b"\r\n").count();
    let named = bytes.split(|&b| b == b'\n').filter(|l| l.windows(6).any(|w| w == b"entry-")).count();
    if lines != entries || named != entries || !bytes.ends_with(b"\r\n") {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {lines} lines, expected {entries}", c.verb()),
        ));
    }
    Ok(t.as_secs_f64() * 1e3)
}

/// `clients` sessions at once each LIST the big directory and quit (not
/// timed: the work the memory figure after it must not keep).
pub(super) fn list_crowd(addr: SocketAddr, user: &str, pw: &str, clients: usize, entries: usize) -> io::Result<()> {
    std::thread::scope(|sc| {
        let handles: Vec<_> = (0..clients)
            .map(|_| {
                sc.spawn(|| -> io::Result<()> {
                    let mut ftp = Ftp::login(addr, user, pw)?;
                    listing(&mut ftp, &Command::List(Some("dir".into())), entries)?;
                    ftp.quit()
                })
            })
            .collect();
        handles.into_iter().try_for_each(|h| h.join().unwrap_or_else(|_| Err(io::Error::other("client panicked"))))
    })
}

/// `clients` sessions download the crowd file at once; returns MB/s, all together.
pub(super) fn crowd(addr: SocketAddr, user: &str, pw: &str, clients: usize, file: &str, want: Sum) -> io::Result<f64> {
    let barrier = Barrier::new(clients + 1);
    let results = std::thread::scope(|sc| {
        let handles: Vec<_> = (0..clients)
            .map(|_| {
                sc.spawn(|| -> io::Result<Instant> {
                    let ftp = Ftp::login(addr, user, pw);
                    // Everyone waits, even a client that failed to log in.
                    barrier.wait();
                    let mut ftp = ftp?;
                    let mut buf = vec![0u8; READ_BUFFER];
                    let got = ftp.download(&Command::Retr(file.to_string()), &mut buf, want.len)?;
                    let end = Instant::now();
                    verify(file, got, want)?;
                    ftp.quit()?;
                    Ok(end)
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        let ends: Vec<io::Result<Instant>> = handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(io::Error::other("client panicked"))))
            .collect();
        (start, ends)
    });
    let (start, ends) = results;
    let mut last = start;
    for e in ends {
        last = last.max(e?);
    }
    Ok(mb_per_s(want.len * clients as u64, last - start))
}

/// Summed PSS of the server, median of three samples, in MiB.
pub(super) fn memory(s: &Server) -> io::Result<(f64, usize)> {
    let mut v = Vec::new();
    let mut procs = 0;
    for _ in 0..3 {
        let (b, n) = s.pss()?;
        v.push(b as f64 / (1 << 20) as f64);
        procs = n;
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok((median(v), procs))
}

/// Waits (bounded) until the pool has `n` workers.
pub(super) fn settle(s: &Server, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.workers() < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Megabytes (10^6 bytes) per second.
pub(super) fn mb_per_s(bytes: u64, t: Duration) -> f64 {
    bytes as f64 / t.as_secs_f64() / 1e6
}
