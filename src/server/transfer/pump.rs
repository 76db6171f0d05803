//! The state of a transfer's byte loop ([`Pump`]) and why it stops early
//! ([`Stop`]): while the bytes move, the control connection is watched
//! (ABOR aborts and STAT reports progress, RFC 959 section 4.1.3; the
//! rest waits, at most
//! [`MAX_PENDING_COMMANDS`](crate::limits::MAX_PENDING_COMMANDS) of it),
//! the account's rate paces the bytes ([`crate::server::rate`]), an
//! upload is charged to the quota, and a data connection without
//! progress for the stall timeout ends the transfer. Checksums
//! (`server::hash`) run in the same loop.

use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::limits::SIGNAL_CHECK;
use crate::protocol::{self, Command, Reply, ReplyCode};
use crate::server::control::{Control, Input};
use crate::server::data::DataConn;
use crate::server::error::FtpError;
use crate::server::quota::Charge;
use crate::server::rate::Throttle;
use crate::sys;

/// Why the byte loop stopped early.
pub(in crate::server) enum Stop {
    /// The client sent ABOR.
    Abort,
    /// The data connection failed (reset, closed early).
    DataLost(io::Error),
    /// The file system failed.
    Fs(FtpError),
    /// No progress for the stall timeout.
    Stalled,
    /// The control connection closed.
    ClientGone,
    /// The worker was told to stop now.
    Shutdown,
    /// The control connection failed.
    Control(io::Error),
}

impl Stop {
    /// The replies a job that stopped early gets, and whether the session
    /// ends there: the one place where a `Stop` becomes replies. ABOR (RFC
    /// 959 section 4.1.3) gets `aborted`, the 426 of the stopped command,
    /// then 226 for the ABOR itself; a lost data connection 426; a stall
    /// or the server stopping their reply and the end of the session; a
    /// control connection that is gone nothing.
    pub(in crate::server) fn replies(self, aborted: Reply) -> (Vec<Reply>, bool) {
        match self {
            Stop::Abort => (vec![aborted, Reply::new(ReplyCode::CLOSING_DATA, "ABOR successful.")], false),
            Stop::DataLost(_) => (vec![FtpError::TransferAborted.reply()], false),
            Stop::Fs(e) => (vec![e.reply()], false),
            Stop::Stalled => (vec![FtpError::Timeout.reply()], true),
            Stop::Shutdown => (vec![FtpError::ShuttingDown.reply()], true),
            Stop::ClientGone | Stop::Control(_) => (Vec::new(), true),
        }
    }
}

/// The state of the loop: the control connection and the byte count.
pub(in crate::server) struct Pump<'a> {
    pub(super) ctl: &'a mut Control,
    stall: Duration,
    pub(super) bytes: u64,
    progress: &'a mut dyn FnMut(u64),
    /// Paces the bytes (`None`: no limit).
    throttle: Option<Throttle>,
    /// Charges an upload's bytes against the quota before they are written.
    pub(super) charge: Option<Charge>,
    /// What STAT says is in progress.
    what: &'static str,
}

impl<'a> Pump<'a> {
    /// A loop of `what` (for STAT) that watches `ctl`, paced by `throttle`.
    pub(in crate::server) fn new(
        ctl: &'a mut Control,
        stall: Duration,
        progress: &'a mut dyn FnMut(u64),
        throttle: Option<Throttle>,
        what: &'static str,
    ) -> Pump<'a> {
        Pump { ctl, stall, bytes: 0, progress, throttle, charge: None, what }
    }

    /// The control connection, once the loop is done.
    pub(in crate::server) fn into_control(self) -> &'a mut Control {
        self.ctl
    }

    /// Bytes moved so far.
    pub(in crate::server) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The most to move in one call: `want`, cut to the rate's chunk.
    pub(in crate::server) fn limit(&self, want: usize) -> usize {
        self.throttle.as_ref().map_or(want, |t| want.min(t.chunk()))
    }

    /// Waits out the rate limit; ABOR and STAT are answered meanwhile.
    pub(in crate::server) fn pace(&mut self) -> Result<(), Stop> {
        loop {
            let Some(t) = &mut self.throttle else { return Ok(()) };
            let wait = t.pause(Instant::now());
            if wait.is_zero() {
                return Ok(());
            }
            // Signals are looked at every SIGNAL_CHECK, whatever the rate.
            let wait = wait.min(SIGNAL_CHECK);
            let said = if self.ctl.accepting_input() {
                self.ctl.wait_input(wait)
            } else {
                // Back-pressure (the pending queue is full): the control
                // connection is not read, only watched for its end.
                peer_closed_within(self.ctl.fd(), wait)
            };
            if sys::stop_now() {
                return Err(Stop::Shutdown);
            }
            match said {
                Ok(true) => self.check_control()?,
                Ok(false) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => self.interrupted()?,
                Err(e) => return Err(Stop::Control(e)),
            }
        }
    }

    /// Charges `n` bytes of an upload before they are written.
    pub(super) fn charge(&mut self, n: usize) -> Result<(), Stop> {
        match &mut self.charge {
            Some(c) => c.add(n as u64).map_err(Stop::Fs),
            None => Ok(()),
        }
    }

    /// Handles what the client said meanwhile: ABOR stops, STAT answers,
    /// the rest is kept for later.
    pub(in crate::server) fn check_control(&mut self) -> Result<(), Stop> {
        if !self.ctl.accepting_input() {
            // Back-pressure: nothing more is read until the transfer ends,
            // but a client that has gone is still noticed.
            return if peer_closed(self.ctl.fd()) { Err(Stop::ClientGone) } else { Ok(()) };
        }
        let inputs = self.ctl.poll_inputs().map_err(Stop::Control)?;
        let mut abort = false;
        for input in inputs {
            match input {
                Input::Line(line) => match protocol::parse(&line) {
                    Ok(Command::Abor) => abort = true,
                    Ok(Command::Stat(None)) => {
                        let r = Reply::new(
                            ReplyCode::SYSTEM_STATUS,
                            format!("{} in progress: {} bytes moved.", self.what, self.bytes),
                        );
                        self.ctl.send(&r).map_err(Stop::Control)?;
                    }
                    _ => self.ctl.defer(Input::Line(line)),
                },
                Input::Eof => return Err(Stop::ClientGone),
                other => self.ctl.defer(other),
            }
        }
        if abort {
            Err(Stop::Abort)
        } else {
            Ok(())
        }
    }

    /// Waits until `data` is ready for `events`, watching the control
    /// connection and the stall timer meanwhile.
    pub(super) fn wait(&mut self, data: BorrowedFd<'_>, events: PollFlags) -> Result<(), Stop> {
        // Security: the stall deadline is fixed when the wait begins: what
        // arrives on the control connection meanwhile never moves it.
        let deadline = Instant::now() + self.stall;
        loop {
            if sys::stop_now() {
                return Err(Stop::Shutdown);
            }
            if self.ctl.has_buffered_input() {
                self.check_control()?;
            }
            let left = deadline.saturating_duration_since(Instant::now()).min(SIGNAL_CHECK);
            let (data_ready, ctl_ready) = {
                // With the pending queue full, the control connection is
                // watched only for the client leaving.
                let ctl_events = if self.ctl.accepting_input() { PollFlags::POLLIN } else { POLLRDHUP };
                let mut fds = [PollFd::new(data, events), PollFd::new(self.ctl.fd(), ctl_events)];
                let polled = poll(&mut fds, PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX));
                // One reading of the clock for both arms below: with two, the
                // first could see the deadline ahead and the second past it,
                // and an upload trickling below its low-water mark was taken
                // for stalled with its bytes waiting.
                let expired = Instant::now() >= deadline;
                match polled {
                    // An upload's bytes below its low-water mark are
                    // progress too: read them rather than call it stalled.
                    Ok(0)
                        if expired
                            && events.contains(PollFlags::POLLIN)
                            && sys::bytes_waiting(data).is_ok_and(|n| n > 0) =>
                    {
                        return Ok(())
                    }
                    Ok(0) if expired => return Err(Stop::Stalled),
                    Ok(0) | Err(Errno::EINTR) => continue,
                    Ok(_) => {}
                    Err(e) => return Err(Stop::DataLost(e.into())),
                }
                let r = |f: &PollFd| f.revents().unwrap_or(PollFlags::empty());
                (!r(&fds[0]).is_empty(), !r(&fds[1]).is_empty())
            };
            if ctl_ready {
                self.check_control()?;
            }
            if data_ready {
                return Ok(());
            }
        }
    }

    pub(in crate::server) fn moved(&mut self, n: usize) {
        self.bytes += n as u64;
        if let Some(t) = &mut self.throttle {
            t.spent(n, Instant::now());
        }
        (self.progress)(self.bytes);
    }

    /// Writes all of `buf` to the non-blocking data connection.
    pub(super) fn write_all(&mut self, data: &mut DataConn, mut buf: &[u8]) -> Result<(), Stop> {
        while !buf.is_empty() {
            self.pace()?;
            let part = self.limit(buf.len());
            match data.write(&buf[..part]) {
                Ok(0) => return Err(Stop::DataLost(io::ErrorKind::WriteZero.into())),
                Ok(n) => {
                    buf = &buf[n..];
                    self.moved(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.wait(data.as_fd(), PollFlags::POLLOUT)?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => self.interrupted()?,
                Err(e) => return Err(Stop::DataLost(e)),
            }
        }
        Ok(())
    }

    pub(in crate::server) fn interrupted(&self) -> Result<(), Stop> {
        if sys::stop_now() {
            Err(Stop::Shutdown)
        } else {
            Ok(())
        }
    }
}

/// The peer closed its side of the connection (Linux; not in nix's set).
const POLLRDHUP: PollFlags = PollFlags::from_bits_retain(libc::POLLRDHUP);

/// True when the peer of `fd` has closed its side (or the connection failed).
fn peer_closed(fd: BorrowedFd<'_>) -> bool {
    matches!(peer_closed_within(fd, Duration::ZERO), Ok(true))
}

/// Waits up to `d` for the peer of `fd` to close its side (or the
/// connection to fail); a signal is an `Interrupted` error.
fn peer_closed_within(fd: BorrowedFd<'_>, d: Duration) -> io::Result<bool> {
    let mut fds = [PollFd::new(fd, POLLRDHUP)];
    Ok(poll(&mut fds, PollTimeout::try_from(d).unwrap_or(PollTimeout::MAX))? > 0)
}
