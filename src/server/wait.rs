//! Every wait of a worker on its client has a deadline, and looks at the
//! worker's signal flags at least every [`SIGNAL_CHECK`].
//!
//! A client can stall each of them: not read its replies, never connect
//! its data connection, trickle a byte a second. So nothing here blocks
//! without a deadline, and a fast stop (SIGTERM), a graceful stop (SIGQUIT),
//! a reload (SIGHUP) or the supervisor reclaiming the worker (SIGUSR2) is
//! acted on within [`SIGNAL_CHECK`] even when the signal arrived just before
//! the wait began (a signal only interrupts a wait it lands in).
//!
//! What ends a wait early depends on what waits ([`Watch`]): a transfer
//! stops only for a fast stop (a graceful stop and a reload let it finish);
//! a reply stops for a fast stop, for a reclaim while its client has not
//! logged in, and is given [`LEAVING_WRITE_GRACE`] more once the worker is
//! leaving (SIGQUIT, SIGHUP).

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::limits::{LEAVING_WRITE_GRACE, SIGNAL_CHECK};
use crate::net::{self, Stream};
use crate::sys;

/// What may cut a wait short, besides its deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Watch {
    /// Only a fast stop: a transfer, or a delay.
    Stop,
    /// A reply to the client: a fast stop, or a reclaim when `reclaimable`
    /// (the client has not logged in); once the worker is leaving, the
    /// deadline is at most [`LEAVING_WRITE_GRACE`] away.
    Reply {
        /// The client has not logged in: a reclaim gives it up.
        reclaimable: bool,
    },
}

/// How a wait ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Waited {
    /// The descriptor is ready.
    Ready,
    /// The deadline passed.
    Deadline,
    /// The flags say to give up (see [`Watch`]).
    Stopped,
}

impl Watch {
    /// True when the wait must end now; may bring `deadline` closer
    /// (`shrunk` remembers that it did). For waits written elsewhere (the
    /// turn of a password check).
    pub(crate) fn stops(self, deadline: &mut Instant, shrunk: &mut bool) -> bool {
        if sys::stop_now() {
            return true;
        }
        match self {
            Watch::Stop => false,
            Watch::Reply { reclaimable } => {
                if reclaimable && sys::reclaim_requested() {
                    return true;
                }
                if sys::retiring() && !*shrunk {
                    *shrunk = true;
                    *deadline = (*deadline).min(Instant::now() + LEAVING_WRITE_GRACE);
                }
                false
            }
        }
    }

    /// The error a stopped wait becomes.
    fn error(self) -> io::Error {
        if sys::stop_now() {
            io::Error::new(io::ErrorKind::Interrupted, "server stopping")
        } else {
            io::Error::new(io::ErrorKind::Interrupted, "connection reclaimed for a waiting client")
        }
    }
}

/// Waits until `fd` is ready for `events` (or in error), until `deadline`,
/// or until `watch` says to give up.
pub fn ready(fd: BorrowedFd<'_>, events: PollFlags, deadline: Instant, watch: Watch) -> io::Result<Waited> {
    let (mut deadline, mut shrunk) = (deadline, false);
    loop {
        if watch.stops(&mut deadline, &mut shrunk) {
            return Ok(Waited::Stopped);
        }
        let left = deadline.saturating_duration_since(Instant::now()).min(SIGNAL_CHECK);
        let mut fds = [PollFd::new(fd, events)];
        match poll(&mut fds, PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX)) {
            Ok(n) if n > 0 => return Ok(Waited::Ready),
            Ok(_) if Instant::now() >= deadline => return Ok(Waited::Deadline),
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Writes all of `buf` to `stream` by `deadline`, without ever blocking in
/// `write` (a client that stops reading fills its socket buffer, and a
/// blocking write would wait for ever, deaf to signals). Errors: `TimedOut`
/// at the deadline, `Interrupted` when `watch` gives up.
/// An encrypted stream may take all of `buf` before the socket has taken
/// all of its records: they are sent the same way before it returns.
pub fn write_all(stream: &mut Stream, mut buf: &[u8], deadline: Instant, watch: Watch) -> io::Result<()> {
    while !buf.is_empty() || stream.has_pending_output() {
        let written = if buf.is_empty() { stream.flush_now().map(|()| 0) } else { stream.write_now(buf) };
        match written {
            Ok(0) if !buf.is_empty() => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                match ready(stream.as_fd(), PollFlags::POLLOUT, deadline, watch)? {
                    Waited::Ready => {}
                    // Security: a client that does not read its replies holds
                    // the worker only until its deadline.
                    Waited::Deadline => {
                        return Err(io::Error::new(io::ErrorKind::TimedOut, "the client does not read its replies"))
                    }
                    Waited::Stopped => return Err(watch.error()),
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Sleeps for `d`, unless `watch` gives up first. True when it slept all of it.
pub fn sleep(d: Duration, watch: Watch) -> bool {
    let (mut deadline, mut shrunk) = (Instant::now() + d, false);
    loop {
        if watch.stops(&mut deadline, &mut shrunk) {
            return false;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(SIGNAL_CHECK));
    }
}

/// Connects to `addr` by `deadline` (active data connections): the client
/// may drop our SYNs, so the connect is non-blocking ([`net`]) and watched.
/// Errors: `TimedOut` at the deadline, `Interrupted` on a fast stop.
pub fn connect(addr: SocketAddr, deadline: Instant) -> io::Result<TcpStream> {
    let stream = net::connect_nonblocking(addr, None)?;
    match ready(stream.as_fd(), PollFlags::POLLOUT, deadline, Watch::Stop)? {
        Waited::Ready => {}
        Waited::Deadline => return Err(io::Error::new(io::ErrorKind::TimedOut, "data connection timed out")),
        Waited::Stopped => return Err(Watch::Stop.error()),
    }
    net::connect_error(&stream)?;
    stream.set_nonblocking(false)?;
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;

    use crate::net::loopback_pair as pair;

    #[test]
    fn a_write_to_a_client_that_never_reads_ends_at_its_deadline() {
        let (_client, server) = pair();
        let mut server = Stream::from(server);
        let big = vec![b'x'; 64 << 20];
        let t = Instant::now();
        let e = write_all(&mut server, &big, t + Duration::from_millis(300), Watch::Reply { reclaimable: false })
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert!(t.elapsed() >= Duration::from_millis(300) && t.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_write_to_a_reading_client_completes() {
        let (mut client, server) = pair();
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            client.read_to_end(&mut got).unwrap();
            got.len()
        });
        let big = vec![b'y'; 8 << 20];
        let mut server = Stream::from(server);
        write_all(&mut server, &big, Instant::now() + Duration::from_secs(30), Watch::Stop).unwrap();
        drop(server);
        assert_eq!(reader.join().unwrap(), 8 << 20);
    }

    #[test]
    fn sleeps_and_connects_keep_their_deadlines() {
        let t = Instant::now();
        assert!(sleep(Duration::from_millis(50), Watch::Stop));
        assert!(t.elapsed() >= Duration::from_millis(50));
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let s = connect(l.local_addr().unwrap(), Instant::now() + Duration::from_secs(5)).unwrap();
        assert_eq!(s.peer_addr().unwrap(), l.local_addr().unwrap());
        let port = l.local_addr().unwrap().port();
        drop(l);
        let refused = connect(SocketAddr::from(([127, 0, 0, 1], port)), Instant::now() + Duration::from_secs(5));
        assert!(refused.is_err());
    }
}
