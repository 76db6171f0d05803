//! Running a transfer on an established data connection: `sendfile(2)` for
//! binary downloads, `splice(2)` through a pipe for binary uploads, buffered
//! conversion for ASCII (RFC 959 section 3.1.1.1), streamed listings. While bytes move, the
//! control connection is watched: ABOR aborts (RFC 959 section 4.1.3), STAT
//! reports progress, anything else waits until the transfer is done (at
//! most [`MAX_PENDING_COMMANDS`](crate::limits::MAX_PENDING_COMMANDS) of
//! them; then the control connection is not read until the end). An
//! account's rate limit paces the bytes ([`super::rate`]) on every path,
//! and its quota is charged before an upload's bytes reach the file
//! ([`super::quota`]).

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{IpAddr, TcpStream};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::config::Timeouts;
use super::control::{Control, Input};
use super::data::{DataConn, DataSetup};
use super::error::{reply_for, FtpError};
use super::listing::Listing;
use super::quota::Charge;
use super::rate::Throttle;
use super::upload::Upload;
use super::vpath::VPath;
use crate::limits::{
    IO_BUFFER, SENDFILE_CHUNK, SIGNAL_CHECK, SPLICE_PIPE, TLS_DATA_BATCH, UPLOAD_EOF_GRACE, UPLOAD_LOW_WATER,
};
use crate::net::records::RecordStream;
use crate::protocol::ascii::{FromCrlf, ToCrlf};
use crate::protocol::{self, Command, Reply, ReplyCode, TransferType};
use crate::sys;

/// A transfer the session has prepared: file opened, rights checked.
pub struct Transfer {
    /// How to reach the client.
    pub setup: DataSetup,
    /// What to move.
    pub job: Job,
    /// ASCII or binary.
    pub ttype: TransferType,
    /// The path, for the log.
    pub path: VPath,
    /// The 150 reply to send once the data connection is open.
    pub start: Reply,
    /// The account's rate for this direction, bytes per second (0: none).
    pub rate: u64,
    /// An upload's charge against the home's quota.
    pub quota: Option<Charge>,
    /// PROT P: the data connection is encrypted (RFC 4217 section 9).
    pub tls: Option<DataTls>,
}

/// How a private data connection is encrypted.
pub struct DataTls {
    /// The session's TLS configuration (its own session cache).
    pub config: Arc<rustls::ServerConfig>,
    /// The handshake must resume the control connection's session
    /// (vsftpd's `require_ssl_reuse`; off with `--no-require-tls-reuse`).
    pub require_reuse: bool,
    /// Send new TLS 1.3 session tickets (not on uploads: see
    /// `TlsConfig::accept_data`).
    pub tickets: bool,
}

/// The bytes a transfer moves.
pub enum Job {
    /// RETR: `len` bytes of `file` from `offset`.
    Send {
        /// The open file.
        file: File,
        /// Where to start (REST).
        offset: u64,
        /// Its size.
        size: u64,
    },
    /// STOR, STOU, APPE.
    Receive(Upload),
    /// LIST, NLST, MLSD.
    List(Listing),
}

/// How a transfer ended.
pub struct Done {
    /// Bytes moved over the data connection.
    pub bytes: u64,
    /// True when every byte was moved and the file is in place.
    pub complete: bool,
    /// Close the control connection after the replies.
    pub close: bool,
}

/// Why the byte loop stopped early.
pub(super) enum Stop {
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

/// The state of the loop: the control connection and the byte count.
pub(super) struct Pump<'a> {
    ctl: &'a mut Control,
    stall: Duration,
    bytes: u64,
    progress: &'a mut dyn FnMut(u64),
    /// Paces the bytes (`None`: no limit).
    throttle: Option<Throttle>,
    /// Charges an upload's bytes against the quota before they are written.
    charge: Option<Charge>,
    /// What STAT says is in progress.
    what: &'static str,
}

impl<'a> Pump<'a> {
    /// A loop of `what` (for STAT) that watches `ctl`, paced by `throttle`.
    pub(super) fn new(
        ctl: &'a mut Control,
        stall: Duration,
        progress: &'a mut dyn FnMut(u64),
        throttle: Option<Throttle>,
        what: &'static str,
    ) -> Pump<'a> {
        Pump { ctl, stall, bytes: 0, progress, throttle, charge: None, what }
    }

    /// The control connection, once the loop is done.
    pub(super) fn into_control(self) -> &'a mut Control {
        self.ctl
    }

    /// Bytes moved so far.
    pub(super) fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The most to move in one call: `want`, cut to the rate's chunk.
    pub(super) fn limit(&self, want: usize) -> usize {
        self.throttle.as_ref().map_or(want, |t| want.min(t.chunk()))
    }

    /// Waits out the rate limit; ABOR and STAT are answered meanwhile.
    pub(super) fn pace(&mut self) -> Result<(), Stop> {
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
    fn charge(&mut self, n: usize) -> Result<(), Stop> {
        match &mut self.charge {
            Some(c) => c.add(n as u64).map_err(Stop::Fs),
            None => Ok(()),
        }
    }

    /// Handles what the client said meanwhile: ABOR stops, STAT answers,
    /// the rest is kept for later.
    pub(super) fn check_control(&mut self) -> Result<(), Stop> {
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
    fn wait(&mut self, data: BorrowedFd<'_>, events: PollFlags) -> Result<(), Stop> {
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

    pub(super) fn moved(&mut self, n: usize) {
        self.bytes += n as u64;
        if let Some(t) = &mut self.throttle {
            t.spent(n, Instant::now());
        }
        (self.progress)(self.bytes);
    }

    /// Writes all of `buf` to the non-blocking data connection.
    fn write_all(&mut self, data: &mut DataConn, mut buf: &[u8]) -> Result<(), Stop> {
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

    pub(super) fn interrupted(&self) -> Result<(), Stop> {
        if sys::stop_now() {
            Err(Stop::Shutdown)
        } else {
            Ok(())
        }
    }

    /// RETR in binary mode over a plain connection: the kernel copies file
    /// to socket (`sendfile`).
    fn send_file(&mut self, data: &TcpStream, file: &File, offset: u64, size: u64) -> Result<(), Stop> {
        let mut off = offset as i64;
        let end = size as i64;
        while off < end {
            let want = self.limit(((end - off) as usize).min(SENDFILE_CHUNK));
            self.pace()?;
            match nix::sys::sendfile::sendfile64(data.as_fd(), file.as_fd(), Some(&mut off), want) {
                // The file shrank while we sent it: what was there is sent.
                Ok(0) => break,
                Ok(n) => {
                    self.moved(n);
                    self.check_control()?;
                }
                Err(Errno::EAGAIN) => self.wait(data.as_fd(), PollFlags::POLLOUT)?,
                Err(Errno::EINTR) => self.interrupted()?,
                Err(e) => return Err(Stop::DataLost(e.into())),
            }
        }
        Ok(())
    }

    /// RETR in binary mode over TLS (`PROT P`): the file is read straight
    /// into the TLS records (one `preadv` per batch of
    /// [`TLS_DATA_BATCH`]), which are sealed in place and written with one
    /// `write` (`net::records`).
    fn send_records(&mut self, rec: &mut RecordStream, file: &File, offset: u64, end: u64) -> Result<(), Stop> {
        let mut off = offset;
        loop {
            match rec.flush_records() {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.wait(rec.as_fd(), PollFlags::POLLOUT)?;
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    self.interrupted()?;
                    continue;
                }
                Err(e) => return Err(Stop::DataLost(e)),
            }
            self.check_control()?;
            if off >= end {
                return Ok(());
            }
            self.pace()?;
            let want = self.limit(usize::try_from(end - off).unwrap_or(usize::MAX));
            let mut fs_error = None;
            let r = rec.write_with(want, &mut |iov| loop {
                match nix::sys::uio::preadv(file.as_fd(), iov, off as i64) {
                    Ok(n) => return Ok(n),
                    Err(Errno::EINTR) => continue,
                    Err(e) => {
                        fs_error = Some(io::Error::from(e));
                        return Ok(0);
                    }
                }
            });
            if let Some(e) = fs_error {
                return Err(Stop::Fs(e.into()));
            }
            match r {
                // The file shrank while we sent it: what was there is sent.
                Ok(0) => off = end,
                Ok(n) => {
                    off += n as u64;
                    self.moved(n);
                }
                Err(e) => return Err(Stop::DataLost(e)),
            }
        }
    }

    /// RETR through a buffer: in ASCII mode, where each bare LF goes out as
    /// CRLF, or in binary mode where the connection cannot take `sendfile`.
    fn send_buffered(
        &mut self,
        data: &mut DataConn,
        file: &mut File,
        offset: u64,
        end: u64,
        ascii: bool,
    ) -> Result<(), Stop> {
        use std::io::{Seek, SeekFrom};
        file.seek(SeekFrom::Start(offset)).map_err(|e| Stop::Fs(e.into()))?;
        let mut inbuf = vec![0u8; IO_BUFFER];
        let mut out = Vec::with_capacity(IO_BUFFER * 2);
        let mut to_crlf = ToCrlf::default();
        // The file may grow while it is sent: what was there at RETR (or
        // what RANG named) is sent.
        let mut left = end.saturating_sub(offset);
        loop {
            let want = inbuf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            if want == 0 {
                return Ok(());
            }
            let n = match file.read(&mut inbuf[..want]) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Stop::Fs(e.into())),
            };
            left -= n as u64;
            if ascii {
                out.clear();
                to_crlf.convert(&inbuf[..n], &mut out);
                self.write_all(data, &out)?;
            } else {
                self.write_all(data, &inbuf[..n])?;
            }
        }
    }

    /// STOR/APPE/STOU: socket to file; ASCII turns CRLF into LF.
    fn receive(&mut self, data: &mut DataConn, upload: &mut Upload, ttype: TransferType) -> Result<(), Stop> {
        // Woken once per UPLOAD_LOW_WATER bytes, not per packet (issue 15).
        // Not over TLS: the client's close_notify (24 bytes), after which
        // it waits for ours before it closes TCP, would stay below the mark
        // until the stall timeout.
        if !data.is_tls() {
            let _ = sys::set_recv_low_water(data.as_fd(), UPLOAD_LOW_WATER);
        }
        let spliced = match data.plain() {
            Some(sock) if ttype == TransferType::Image => self.receive_spliced(sock, upload.file())?,
            _ => false,
        };
        let said_goodbye = match data.records() {
            Some(rec) if ttype == TransferType::Image => self.receive_records(rec, upload)?,
            _ if !spliced => self.receive_buffered(data, upload, ttype)?,
            _ => false,
        };
        // A client that died closes both connections: a data EOF with the
        // control connection gone is a cut upload, not a complete one. The
        // dying client's kernel closes the data connection first, so the
        // control connection's end may still be on its way: wait a moment.
        // Not after TLS's close_notify: a client sends it on purpose.
        if !said_goodbye {
            let _ = self.ctl.wait_input(UPLOAD_EOF_GRACE);
        }
        self.check_control()
    }

    /// Binary uploads: socket to pipe to file with `splice(2)`, so the bytes
    /// never pass through our memory. Returns false, with every byte moved
    /// so far in the file, when this file system cannot splice: the caller
    /// goes on with buffered copies.
    fn receive_spliced(&mut self, data: &TcpStream, file: &File) -> Result<bool, Stop> {
        use nix::fcntl::{fcntl, splice, FcntlArg, OFlag, SpliceFFlags};
        let Ok((pipe_out, pipe_in)) = nix::unistd::pipe2(OFlag::O_CLOEXEC) else { return Ok(false) };
        let cap = fcntl(pipe_in.as_raw_fd(), FcntlArg::F_SETPIPE_SZ(SPLICE_PIPE as i32))
            .or_else(|_| fcntl(pipe_in.as_raw_fd(), FcntlArg::F_GETPIPE_SZ))
            .map_or(0, |n| n as usize);
        if cap == 0 {
            return Ok(false);
        }
        loop {
            let flags = SpliceFFlags::SPLICE_F_MOVE | SpliceFFlags::SPLICE_F_NONBLOCK;
            self.pace()?;
            let n = match splice(data.as_fd(), None, pipe_in.as_fd(), None, self.limit(cap), flags) {
                Ok(0) => return Ok(true),
                Ok(n) => n,
                Err(Errno::EAGAIN) => {
                    self.wait(data.as_fd(), PollFlags::POLLIN)?;
                    continue;
                }
                Err(Errno::EINTR) => {
                    self.interrupted()?;
                    continue;
                }
                Err(Errno::EINVAL) if self.bytes == 0 => return Ok(false),
                Err(e) => return Err(Stop::DataLost(e.into())),
            };
            self.moved(n);
            // Security: the quota is charged before the bytes reach the file.
            self.charge(n)?;
            let mut left = n;
            while left > 0 {
                match splice(pipe_out.as_fd(), None, file.as_fd(), None, left, SpliceFFlags::SPLICE_F_MOVE) {
                    Ok(0) => return Err(Stop::Fs(io::Error::from(io::ErrorKind::WriteZero).into())),
                    Ok(m) => left -= m,
                    Err(Errno::EINTR) => self.interrupted()?,
                    Err(Errno::EINVAL) => {
                        // This file system has no splice: what the pipe holds goes
                        // to the file the ordinary way.
                        let mut rest = vec![0u8; left];
                        io::Read::read_exact(&mut File::from(pipe_out), &mut rest).map_err(|e| Stop::Fs(e.into()))?;
                        (&mut &*file).write_all(&rest).map_err(|e| Stop::Fs(e.into()))?;
                        return Ok(false);
                    }
                    Err(e) => return Err(Stop::Fs(io::Error::from(e).into())),
                }
            }
        }
    }

    /// Binary uploads over TLS (`PROT P`): one `read` takes many records,
    /// which are opened in place, and one `writev` puts their plaintext,
    /// where it lies, in the file (`net::records`). True when the data
    /// ended with the client's `close_notify`.
    fn receive_records(&mut self, rec: &mut RecordStream, upload: &mut Upload) -> Result<bool, Stop> {
        loop {
            self.pace()?;
            match rec.recv(self.limit(TLS_DATA_BATCH)) {
                // The client's close_notify: the end of the data.
                Ok(0) => return Ok(true),
                Ok(n) => {
                    self.moved(n);
                    // Security: the quota is charged before the bytes reach the file.
                    self.charge(n)?;
                    write_all_vectored(upload.file(), &rec.plaintext()).map_err(|e| Stop::Fs(e.into()))?;
                    rec.consume(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.wait(rec.as_fd(), PollFlags::POLLIN)?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => self.interrupted()?,
                // Without close_notify: accepted as the end, as below.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    log::debug!("TLS upload ended without close_notify after {} bytes", self.bytes);
                    return Ok(false);
                }
                Err(e) => return Err(Stop::DataLost(e)),
            }
        }
    }

    /// Uploads through a buffer: ASCII (CRLF turned into LF), or binary where
    /// splicing is not possible. True when the data ended with TLS's
    /// `close_notify`.
    fn receive_buffered(
        &mut self,
        data: &mut DataConn,
        upload: &mut Upload,
        ttype: TransferType,
    ) -> Result<bool, Stop> {
        let mut said_goodbye = false;
        let mut buf = vec![0u8; IO_BUFFER];
        let mut conv = Vec::new();
        let mut ascii = (ttype == TransferType::Ascii).then(FromCrlf::default);
        loop {
            self.pace()?;
            let len = self.limit(buf.len());
            match data.read(&mut buf[..len]) {
                Ok(0) => {
                    said_goodbye = data.is_tls();
                    break;
                }
                Ok(n) => {
                    self.moved(n);
                    let chunk = match &mut ascii {
                        Some(from_crlf) => {
                            conv.clear();
                            from_crlf.convert(&buf[..n], &mut conv);
                            &conv[..]
                        }
                        None => &buf[..n],
                    };
                    self.charge(chunk.len())?;
                    upload.file().write_all(chunk).map_err(|e| Stop::Fs(e.into()))?;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.wait(data.as_fd(), PollFlags::POLLIN)?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => self.interrupted()?,
                // A TLS upload whose client closed TCP without TLS's
                // goodbye: accepted as the end, as vsftpd does by default
                // (curl and lftp end their uploads so).
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && data.is_tls() => {
                    log::debug!("TLS upload ended without close_notify after {} bytes", self.bytes);
                    break;
                }
                Err(e) => return Err(Stop::DataLost(e)),
            }
        }
        if let Some(from_crlf) = ascii {
            conv.clear();
            from_crlf.finish(&mut conv);
            self.charge(conv.len())?;
            upload.file().write_all(&conv).map_err(|e| Stop::Fs(e.into()))?;
        }
        Ok(said_goodbye)
    }

    /// After the last byte: what an encrypted connection still holds goes
    /// out, then its `close_notify` (RFC 4217 section 10: the end of the
    /// data is a TLS closure), waiting for the socket as the bytes did.
    fn finish(&mut self, data: &mut DataConn) -> Result<(), Stop> {
        if !data.is_tls() {
            return Ok(());
        }
        let mut notified = false;
        loop {
            let r = if notified { data.flush() } else { data.close_notify() };
            notified = true;
            match r {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.wait(data.as_fd(), PollFlags::POLLOUT)?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => self.interrupted()?,
                Err(e) => return Err(Stop::DataLost(e)),
            }
        }
    }

    fn send_listing(&mut self, data: &mut DataConn, listing: &mut Listing) -> Result<(), Stop> {
        let mut out = Vec::with_capacity(IO_BUFFER);
        loop {
            out.clear();
            let more = listing.fill(&mut out, IO_BUFFER);
            self.write_all(data, &out)?;
            if !more {
                return Ok(());
            }
        }
    }
}

/// Writes all of `parts` to `file` with as few `writev` calls as it takes.
fn write_all_vectored(file: &mut File, parts: &[io::IoSlice<'_>]) -> io::Result<()> {
    let mut rest: Vec<&[u8]> = parts.iter().map(|p| &**p).filter(|p| !p.is_empty()).collect();
    while !rest.is_empty() {
        let iov: Vec<io::IoSlice<'_>> = rest.iter().map(|p| io::IoSlice::new(p)).collect();
        let mut n = match file.write_vectored(&iov) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        while n > 0 {
            if n >= rest[0].len() {
                n -= rest[0].len();
                rest.remove(0);
            } else {
                rest[0] = &rest[0][n..];
                n = 0;
            }
        }
    }
    Ok(())
}

/// The TLS handshake of a private data connection (RFC 4217 section 9),
/// within `timeout`. Security: unless `--no-require-tls-reuse`, it must
/// resume the control connection's TLS session, which only the client that
/// holds that session can do: a thief who connected to the passive port
/// first gets a 522 and no byte of the file.
fn secure_data(data: &mut DataConn, tls: &DataTls, timeout: Duration) -> Result<(), FtpError> {
    let conn = super::tls::TlsConfig::accept_data(&tls.config, tls.tickets).map_err(FtpError::DataTls)?;
    data.start_tls(conn, Instant::now() + timeout)
        .map_err(|e| FtpError::DataTls(format!("TLS handshake on the data connection failed: {e}.")))?;
    let resumed = data.tls_resumed();
    if tls.require_reuse && !resumed {
        return Err(FtpError::DataTls(
            "Data connection refused: its TLS session must resume the control connection's (session reuse required)."
                .into(),
        ));
    }
    log::debug!("data connection: {}{}", data.tls_describe(), if resumed { ", resumed" } else { "" });
    Ok(())
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

/// What ABOR during a transfer gets (RFC 959 section 4.1.3): 426 for the
/// transfer, then 226 for the ABOR itself.
fn aborted() -> [Reply; 2] {
    [FtpError::TransferAborted.reply(), Reply::new(ReplyCode::CLOSING_DATA, "ABOR successful.")]
}

/// Runs `t`: opens the data connection, sends the 150, moves the bytes,
/// and sends the final reply(ies). `progress` is told the byte count. A
/// control connection that fails on the way ends the session (`close`).
pub fn run(t: Transfer, ctl: &mut Control, client: IpAddr, timeouts: &Timeouts, progress: &mut dyn FnMut(u64)) -> Done {
    let Transfer { setup, job, ttype, start, rate, quota, tls, .. } = t;
    let failed = Done { bytes: 0, complete: false, close: true };
    // Passive: until the client connects, the control connection is watched
    // too, so that ABOR (RFC 959 4.1.3) or the client leaving is heard at
    // once, not after --data-timeout.
    if let Some(listener) = setup.passive_listener() {
        let mut waiting = Pump::new(&mut *ctl, timeouts.data_connect, &mut *progress, None, "Transfer");
        // An ABOR may already be read, in the same packet as the command.
        match waiting.check_control().and_then(|()| waiting.wait(listener.as_fd(), PollFlags::POLLIN)) {
            // Connected, or a poll failure that connect() below reports.
            Ok(()) | Err(Stop::DataLost(_) | Stop::Fs(_)) => {}
            Err(Stop::Abort) => {
                let sent = aborted().iter().try_for_each(|r| ctl.send(r));
                return Done { close: sent.is_err(), ..failed };
            }
            Err(Stop::Stalled) => {
                let _ = ctl.send(&FtpError::Timeout.reply());
                return failed;
            }
            Err(Stop::Shutdown) => {
                let _ = ctl.send(&FtpError::ShuttingDown.reply());
                return failed;
            }
            Err(Stop::ClientGone | Stop::Control(_)) => return failed,
        }
    }
    let mut data = match setup.connect(client, timeouts.data_connect) {
        Ok(d) => d,
        Err(e) => {
            if sys::stop_now() {
                let _ = ctl.send(&FtpError::ShuttingDown.reply());
                return failed;
            }
            log::info!("data connection failed: {e}");
            // No data connection within --data-timeout: the session ends,
            // like the other timeouts; a refused connection is only a 425.
            if e.kind() == std::io::ErrorKind::TimedOut {
                let _ = ctl.send(&FtpError::Timeout.reply());
                return failed;
            }
            let sent = ctl.send(&FtpError::NoData("Failed to establish connection.".into()).reply());
            return Done { close: sent.is_err(), ..failed };
        }
    };
    if ctl.send(&start).is_err() {
        return failed;
    }
    // RFC 4217 section 9: with PROT P the client starts TLS on the data
    // connection once it has the 150.
    if let Some(tls) = tls {
        if let Err(e) = secure_data(&mut data, &tls, timeouts.data_connect) {
            log::info!("data connection: {}", e.reply().text());
            let sent = ctl.send(&e.reply());
            return Done { close: sent.is_err(), ..failed };
        }
    }
    if data.set_nonblocking(true).is_err() {
        return failed;
    }
    // Listings are not paced: the rates are for files.
    let throttle = if matches!(job, Job::List(_)) { None } else { Throttle::new(rate, Instant::now()) };
    let mut pump = Pump::new(ctl, timeouts.stall, progress, throttle, "Transfer");
    pump.charge = quota;
    let mut upload_to_commit = None;
    let mut upload_start = None;
    let result = match job {
        Job::Send { mut file, offset, size } => match (data.plain(), ttype) {
            (Some(sock), TransferType::Image) => pump.send_file(sock, &file, offset, size),
            (None, TransferType::Image) if data.is_tls() => match data.records() {
                Some(rec) => pump.send_records(rec, &file, offset, size),
                None => pump.send_buffered(&mut data, &mut file, offset, size, false),
            },
            _ => pump.send_buffered(&mut data, &mut file, offset, size, ttype == TransferType::Ascii),
        },
        Job::List(mut listing) => pump.send_listing(&mut data, &mut listing),
        Job::Receive(mut upload) => {
            use std::io::Seek;
            upload_start = upload.file().stream_position().ok();
            let r = pump.receive(&mut data, &mut upload, ttype);
            upload_to_commit = Some(upload);
            // The client said goodbye first; ours is a courtesy it may
            // not wait for.
            let _ = data.close_notify();
            r
        }
    };
    let result = match upload_to_commit {
        None => result.and_then(|()| pump.finish(&mut data)),
        Some(_) => result,
    };
    let bytes = pump.bytes;
    let charge = pump.charge.take();
    // The data connection ends here: the client sees EOF before our 226.
    data.close();
    let ctl = pump.ctl;
    // The file an upload replaced: freed after the replies (see `upload`).
    let mut replaced = None;
    // Replies to send, and whether the session ends afterwards.
    let (replies, complete, close): (Vec<Reply>, bool, bool) = match result {
        Ok(()) => match upload_to_commit.map(Upload::commit) {
            Some(Err(e)) => (vec![reply_for(&e, "")], false, false),
            r => {
                replaced = r.and_then(Result::ok);
                if let Some(c) = charge {
                    c.commit();
                }
                (vec![Reply::new(ReplyCode::CLOSING_DATA, "Transfer complete.")], true, false)
            }
        },
        Err(stop) => {
            // An upload in place refused by the quota keeps nothing of
            // what it appended.
            if let (Some(up), Some(at), Stop::Fs(FtpError::QuotaExceeded)) =
                (&mut upload_to_commit, upload_start, &stop)
            {
                if up.is_in_place() {
                    let _ = up.file().set_len(at);
                }
            }
            // Dropping an unfinished upload removes its temporary file; its
            // charge gives back what it took of the quota.
            drop(upload_to_commit);
            drop(charge);
            match stop {
                Stop::Abort => (aborted().to_vec(), false, false),
                Stop::DataLost(e) => {
                    log::info!("data connection lost after {bytes} bytes: {e}");
                    (vec![FtpError::TransferAborted.reply()], false, false)
                }
                Stop::Fs(e) => (vec![e.reply()], false, false),
                Stop::Stalled => (vec![FtpError::Timeout.reply()], false, true),
                Stop::Shutdown => (vec![FtpError::ShuttingDown.reply()], false, true),
                Stop::ClientGone => (Vec::new(), false, true),
                Stop::Control(e) => {
                    log::info!("control connection failed during the transfer: {e}");
                    (Vec::new(), false, true)
                }
            }
        }
    };
    // The replies get a fresh idle deadline: the transfer may have taken longer.
    ctl.set_write_limit(Instant::now() + timeouts.idle, false);
    let sent = replies.iter().try_for_each(|r| ctl.send(r));
    drop(replaced);
    Done { bytes, complete, close: close || sent.is_err() }
}
