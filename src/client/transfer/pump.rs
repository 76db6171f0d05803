//! The byte loops of a transfer: a [`Pump`] moves bytes between a data
//! connection and a file or a buffer, turning line ends in ASCII mode (RFC
//! 959 section 3.1.1.1), keeping to `--limit-rate`, watching Ctrl-C and the
//! stall timer, and ending an upload as TLS wants (RFC 4217 section 10).

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags};

use crate::client::progress::Progress;
use crate::client::session::Session;
use crate::client::terminal::{poll_tick, Interrupt};
use crate::limits::{CLIENT_POLL_TICK, CLIENT_STALL_TIMEOUT, IO_BUFFER};
use crate::net::Stream;
use crate::protocol::ascii::{FromCrlf, ToCrlf};

/// Why a byte loop stopped early.
#[derive(Debug)]
pub(super) enum Stop {
    /// Ctrl-C.
    Interrupted,
    /// The data connection failed.
    Data(io::Error),
    /// The local file (or standard output) failed.
    Local(io::Error),
    /// No byte moved for [`CLIENT_STALL_TIMEOUT`].
    Stalled,
    /// The first bytes did not match the local partial file.
    Mismatch,
}

/// Moves bytes between a data connection and a file, watching Ctrl-C, the
/// stall timer and the rate limit.
pub(super) struct Pump<'a> {
    intr: &'a Interrupt,
    progress: &'a mut Progress,
    /// Bytes per second, 0 for no limit.
    limit: u64,
}

impl Pump<'_> {
    fn chunk_size(&self) -> usize {
        if self.limit == 0 {
            IO_BUFFER
        } else {
            // About ten chunks a second keep a limited transfer smooth.
            usize::try_from(self.limit / 10).unwrap_or(IO_BUFFER).clamp(1024, IO_BUFFER)
        }
    }

    /// Sleeps (in ticks, watching Ctrl-C) until `moved` bytes are within the
    /// rate limit.
    fn throttle(&self, moved: u64) -> Result<(), Stop> {
        if self.limit == 0 {
            return Ok(());
        }
        let due = Duration::from_secs_f64(moved as f64 / self.limit as f64);
        loop {
            if self.intr.is_set() {
                return Err(Stop::Interrupted);
            }
            let elapsed = self.progress.elapsed();
            if elapsed >= due {
                return Ok(());
            }
            std::thread::sleep((due - elapsed).min(CLIENT_POLL_TICK));
        }
    }

    /// Waits (one tick) for the data connection to be ready; fails when
    /// nothing moved for [`CLIENT_STALL_TIMEOUT`].
    fn wait(&self, data: &Stream, events: PollFlags, last_move: Instant) -> Result<(), Stop> {
        use std::os::fd::AsFd;
        let mut fds = [PollFd::new(data.as_fd(), events)];
        let ready = poll_tick(&mut fds, CLIENT_POLL_TICK).map_err(Stop::Data)?;
        if !ready && last_move.elapsed() >= CLIENT_STALL_TIMEOUT {
            return Err(Stop::Stalled);
        }
        Ok(())
    }

    /// Reads the data connection to its end into `sink`. The first bytes
    /// must equal `expect` (the tail of a partial file) and are not written
    /// again. ASCII mode turns CRLF into LF (RFC 959 section 3.1.1.1).
    pub(super) fn receive(
        &mut self,
        data: &mut Stream,
        sink: &mut dyn Write,
        ascii: bool,
        expect: &[u8],
    ) -> Result<(), Stop> {
        data.set_nonblocking(true).map_err(Stop::Data)?;
        let mut buf = vec![0u8; self.chunk_size()];
        let mut conv = Vec::new();
        let mut from_crlf = FromCrlf::default();
        let mut checked = 0usize;
        let mut moved = 0u64;
        let mut last_move = Instant::now();
        loop {
            if self.intr.is_set() {
                return Err(Stop::Interrupted);
            }
            let n = match data.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.wait(data, PollFlags::POLLIN, last_move)?;
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // A TLS server that closed TCP without its goodbye: the
                // end all the same (a binary download's size is checked).
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && data.is_encrypted() => break,
                Err(e) => return Err(Stop::Data(e)),
            };
            last_move = Instant::now();
            moved += n as u64;
            let mut chunk = &buf[..n];
            if checked < expect.len() {
                let k = (expect.len() - checked).min(chunk.len());
                if chunk[..k] != expect[checked..checked + k] {
                    return Err(Stop::Mismatch);
                }
                checked += k;
                chunk = &chunk[k..];
            }
            let out = if ascii {
                conv.clear();
                from_crlf.convert(chunk, &mut conv);
                &conv[..]
            } else {
                chunk
            };
            sink.write_all(out).map_err(Stop::Local)?;
            self.progress.update(moved);
            self.throttle(moved)?;
        }
        conv.clear();
        from_crlf.finish(&mut conv);
        sink.write_all(&conv).map_err(Stop::Local)?;
        if checked < expect.len() {
            // The server's file ends inside our partial file.
            return Err(Stop::Mismatch);
        }
        Ok(())
    }

    /// Sends `source` to its end over the data connection. ASCII mode turns
    /// LF into CRLF.
    pub(super) fn send(&mut self, data: &mut Stream, source: &mut dyn Read, ascii: bool) -> Result<(), Stop> {
        data.set_nonblocking(true).map_err(Stop::Data)?;
        let mut buf = vec![0u8; self.chunk_size()];
        let mut conv = Vec::new();
        let mut to_crlf = ToCrlf::default();
        let mut moved = 0u64;
        let mut last_move = Instant::now();
        loop {
            if self.intr.is_set() {
                return Err(Stop::Interrupted);
            }
            let n = match source.read(&mut buf) {
                Ok(0) => return self.end_upload(data, last_move),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Stop::Local(e)),
            };
            let mut out = if ascii {
                conv.clear();
                to_crlf.convert(&buf[..n], &mut conv);
                &conv[..]
            } else {
                &buf[..n]
            };
            while !out.is_empty() {
                if self.intr.is_set() {
                    return Err(Stop::Interrupted);
                }
                match data.write(out) {
                    Ok(0) => return Err(Stop::Data(io::ErrorKind::WriteZero.into())),
                    Ok(k) => {
                        out = &out[k..];
                        moved += k as u64;
                        last_move = Instant::now();
                        self.progress.update(moved);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.wait(data, PollFlags::POLLOUT, last_move)?
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(Stop::Data(e)),
                }
            }
            self.throttle(moved)?;
        }
    }
}

impl Pump<'_> {
    /// The end of an upload: what TLS still holds goes out, then its
    /// `close_notify` (RFC 4217 section 10), then TCP's end of data.
    fn end_upload(&self, data: &mut Stream, last_move: Instant) -> Result<(), Stop> {
        if data.is_encrypted() {
            let mut r = data.close_notify();
            loop {
                match r {
                    Ok(()) => break,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.wait(data, PollFlags::POLLOUT, last_move)?;
                        if self.intr.is_set() {
                            return Err(Stop::Interrupted);
                        }
                        r = data.flush();
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => r = data.flush(),
                    Err(e) => return Err(Stop::Data(e)),
                }
            }
        }
        let _ = data.socket().shutdown(Shutdown::Write);
        if data.is_encrypted() {
            // Read the server's goodbye: it carries new TLS session tickets
            // for the next data connections, and a socket closed with
            // unread bytes would be reset under the last of the upload.
            let mut sink = [0u8; 4096];
            loop {
                match data.read(&mut sink) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.wait(data, PollFlags::POLLIN, last_move)?;
                        if self.intr.is_set() {
                            return Err(Stop::Interrupted);
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
        }
        Ok(())
    }
}

/// A sink that takes at most `cap` bytes (for the resume check of `put`).
pub(super) struct Capped {
    pub(super) buf: Vec<u8>,
    pub(super) cap: usize,
}

impl Write for Capped {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        if self.buf.len() + b.len() > self.cap {
            return Err(io::Error::other("more bytes than expected"));
        }
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Session {
    /// A pump for one transfer, at the user's rate limit (`--limit-rate`).
    pub(super) fn pump<'a>(&self, progress: &'a mut Progress, intr: &'a Interrupt) -> Pump<'a> {
        Pump { intr, progress, limit: self.cfg.limit_rate }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_capped_sink_refuses_more_than_expected() {
        let mut c = Capped { buf: Vec::new(), cap: 3 };
        assert!(c.write_all(b"abc").is_ok());
        assert!(c.write_all(b"d").is_err());
    }
}
