//! The commands that move bytes over a data connection: `get` (RETR), `put`
//! (STOR, APPE) and `ls` (LIST), with resume (REST, RFC 3659 section 5),
//! progress, and abort (ABOR, RFC 959 section 4.1.3).
//!
//! A download never leaves a wrong file: it is written to `NAME.part` and
//! renamed to `NAME` only once complete (and, in binary mode, once its size
//! matches SIZE). A later `get` resumes the partial file: it asks the server
//! to restart [`RESUME_CHECK_BYTES`] before the partial file's end, checks
//! that these bytes match the local ones, then appends; a partial file larger
//! than the remote file, or different from it, is started over. `put`
//! resumes when the server holds a shorter file whose last bytes match the
//! local file at the same place, with REST+STOR, or APPE if REST is refused.
//!
//! Ctrl-C during a transfer sends ABOR and then NOOP, and reads the replies
//! up to the NOOP's `200`: whether the server answers the abort with one
//! reply or two (`426` then `226`, or `226` then `225`), the replies are
//! back in step afterwards. Telnet IP/Synch is not sent: servers of today
//! read the control connection during transfers.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::net::Shutdown;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags};

use super::error::{io_text, ClientError};
use super::progress::{Direction, Progress};
use super::say;
use super::session::Session;
use super::terminal::{poll_tick, Interrupt};
use crate::limits::{
    CLIENT_ABORT_TIMEOUT, CLIENT_MAX_LISTING, CLIENT_POLL_TICK, CLIENT_STALL_TIMEOUT, IO_BUFFER, PARTIAL_SUFFIX,
    RESUME_CHECK_BYTES,
};
use crate::net::Stream;
use crate::protocol::ascii::{FromCrlf, ToCrlf};
use crate::protocol::reply::parse_size_hint;
use crate::protocol::{Command, Reply, ReplyCode, TransferType};

/// How the server answered a transfer command.
enum Opening {
    /// `1yz`, and the data connection is up.
    Open(Stream, Reply),
    /// The server refused the REST before it (the caller starts over, or
    /// uses APPE).
    RestRefused(Reply),
    /// A completion reply with no data connection (some servers answer an
    /// empty listing so).
    Finished(Reply),
}

/// Why a byte loop stopped early.
#[derive(Debug)]
enum Stop {
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

/// How one download attempt ended.
enum Fetched {
    /// The file is in place.
    Done,
    /// The partial file cannot be resumed: start over (the text says why).
    StartOver(String),
}

/// Moves bytes between a data connection and a file, watching Ctrl-C, the
/// stall timer and the rate limit.
struct Pump<'a> {
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
    fn receive(&mut self, data: &mut Stream, sink: &mut dyn Write, ascii: bool, expect: &[u8]) -> Result<(), Stop> {
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
    fn send(&mut self, data: &mut Stream, source: &mut dyn Read, ascii: bool) -> Result<(), Stop> {
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
struct Capped {
    buf: Vec<u8>,
    cap: usize,
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

/// `NAME.part` beside `NAME`.
pub fn partial_path(target: &Path) -> PathBuf {
    let mut name = target.file_name().unwrap_or_default().to_os_string();
    name.push(PARTIAL_SUFFIX);
    target.with_file_name(name)
}

/// The last component of a remote path, to name the local file after it.
pub fn remote_basename(remote: &str) -> Option<&str> {
    let name = remote.trim_end_matches('/').rsplit('/').next()?;
    (!name.is_empty() && name != "." && name != "..").then_some(name)
}

fn file_len(f: &File) -> u64 {
    f.metadata().map_or(0, |m| m.len())
}

/// Removes a partial file that holds nothing.
fn remove_if_empty(part: &Path) {
    if std::fs::metadata(part).is_ok_and(|m| m.is_file() && m.len() == 0) {
        let _ = std::fs::remove_file(part);
    }
}

/// What the user is told about a partial file left behind.
fn kept_note(part: &Path, remote: &str) -> String {
    match std::fs::metadata(part) {
        Ok(m) if m.len() > 0 => {
            format!("partial file kept: {} ({} bytes); 'get {remote}' resumes it", part.display(), m.len())
        }
        _ => "nothing was kept".into(),
    }
}

impl Session {
    /// The progress of a transfer: its own line, or its part of the tree's.
    fn new_progress(&self, dir: Direction, offset: u64, total: Option<u64>) -> Progress {
        match &self.tree {
            Some(tree) => Progress::within(tree.clone(), dir, offset),
            None => Progress::new(dir, offset, total, self.show_progress),
        }
    }

    /// A message about one transfer (resuming, statistics): shown for a
    /// single transfer, not inside a tree, whose line and summary say it.
    fn inform(&self, text: impl std::fmt::Display) {
        if self.tree.is_none() {
            say(text);
        }
    }

    fn pump<'a>(&self, progress: &'a mut Progress, intr: &'a Interrupt) -> Pump<'a> {
        Pump { intr, progress, limit: self.cfg.limit_rate }
    }

    /// Opens a data connection, sends REST (when `rest` is given) and `cmd`,
    /// waits for the `1yz` and, in active mode, for the server's connection.
    fn open_transfer(&mut self, rest: Option<u64>, cmd: Command) -> Result<Opening, ClientError> {
        let intr = self.intr.clone();
        let passive = self.passive;
        // Data setup replies come at once: Ctrl-C is looked at after them.
        let channel =
            self.ctl_mut()?.prepare_data(passive, &Interrupt::inert(), crate::limits::CLIENT_REPLY_TIMEOUT)?;
        if let Some(offset) = rest {
            let r = self.exchange(Command::Rest(offset))?;
            if r.code != ReplyCode::PENDING {
                return Ok(Opening::RestRefused(r));
            }
        }
        if intr.is_set() {
            return Err(ClientError::Interrupted);
        }
        let ctl = self.ctl_mut()?;
        ctl.send(&cmd)?;
        let server = ctl.peer().ip();
        let prelim = loop {
            match ctl.reply(&intr, crate::limits::CLIENT_REPLY_TIMEOUT) {
                // RFC 959 section 5.4: 125 or 150, or (rarely) 110 first.
                Ok(r) if r.code == ReplyCode::RESTART_MARKER => continue,
                Ok(r) if r.code.is_preliminary() => break r,
                Ok(r) if r.code.is_completion() => return Ok(Opening::Finished(r)),
                Ok(r) => return Err(ClientError::Refused(r)),
                Err(ClientError::Interrupted) => {
                    self.abort(None)?;
                    return Err(ClientError::Interrupted);
                }
                Err(e) => return Err(e),
            }
        };
        let mut data = match channel.establish(server, &intr) {
            Ok(data) => Stream::from(data),
            Err(e) => {
                self.abort(None)?;
                return Err(e);
            }
        };
        // PROT P: TLS on the data connection, resuming the control
        // connection's session, once the server said 150 (RFC 4217 section 9).
        if let Some(tls) = self.data_tls() {
            let started = tls.connect_data().map_err(ClientError::Failed).and_then(|conn| {
                data.connect_records(conn, Instant::now() + crate::limits::CLIENT_DATA_TIMEOUT, &|| intr.is_set())
                    .map_err(|e| ClientError::Failed(super::tls::handshake_error(&e, &self.cfg.host)))
            });
            if let Err(e) = started {
                drop(data);
                // The server's reply says why, when it has one (522).
                return match self.transfer_reply() {
                    Ok(r) if r.code.is_failure() => Err(ClientError::Failed(format!("{e} The server said: {r}"))),
                    Ok(_) => Err(e),
                    Err(lost) => Err(lost),
                };
            }
        }
        Ok(Opening::Open(data, prelim))
    }

    /// The final reply of a transfer whose data connection is done.
    fn transfer_reply(&mut self) -> Result<Reply, ClientError> {
        let intr = self.intr.clone();
        match self.ctl_mut()?.reply(&intr, crate::limits::CLIENT_REPLY_TIMEOUT) {
            Err(ClientError::Interrupted) => {
                self.abort(None)?;
                Err(ClientError::Interrupted)
            }
            other => other,
        }
    }

    /// Aborts the running transfer: ABOR, closes the data connection, NOOP,
    /// and reads every reply up to the NOOP's `200`. Returns the transfer's
    /// own final reply, if one came. A second Ctrl-C meanwhile ends the
    /// client; a server that does not answer in [`CLIENT_ABORT_TIMEOUT`]
    /// loses the connection.
    fn abort(&mut self, data: Option<Stream>) -> Result<Option<Reply>, ClientError> {
        self.intr.die_on_interrupt(true);
        let r = self.abort_and_resync(data);
        self.intr.die_on_interrupt(false);
        if r.is_err() {
            self.disconnect();
        }
        r
    }

    fn abort_and_resync(&mut self, data: Option<Stream>) -> Result<Option<Reply>, ClientError> {
        let ctl = self.ctl_mut()?;
        ctl.send(&Command::Abor)?;
        drop(data);
        ctl.send(&Command::Noop)?;
        let deadline = Instant::now() + CLIENT_ABORT_TIMEOUT;
        let mut transfer_reply = None;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let r = ctl.reply(&Interrupt::inert(), left.max(Duration::from_millis(1)))?;
            if r.code == ReplyCode::COMMAND_OK {
                return Ok(transfer_reply);
            }
            if transfer_reply.is_none() && !r.code.is_preliminary() {
                transfer_reply = Some(r);
            }
        }
    }

    /// `get [-f] [-c] REMOTE [LOCAL]`; with `verify`, the download is
    /// checked against the server's checksum afterwards.
    pub fn get(&mut self, remote: &str, local: Option<&str>, force: bool, verify: bool) -> Result<(), ClientError> {
        self.ctl_mut()?;
        if verify {
            // Fail before the download when the server cannot tell a checksum.
            self.checksum_available()?;
        }
        let target = self.download_target(remote, local)?;
        self.download(remote, &target, force, None)?;
        if verify {
            self.verify(remote, &target, None)?;
        }
        Ok(())
    }

    /// Downloads `remote` into `target` (through `target.part`). `size` is
    /// the remote size when a listing already gave it; otherwise SIZE asks.
    pub(super) fn download(
        &mut self,
        remote: &str,
        target: &Path,
        force: bool,
        size: Option<u64>,
    ) -> Result<(), ClientError> {
        let part = partial_path(target);
        let binary = self.ttype == TransferType::Image;
        let size = match (binary, size) {
            (false, _) => None,
            (true, Some(s)) => Some(s),
            (true, None) => self.remote_size(remote)?,
        };
        self.ensure_type(self.ttype)?;
        let mut force = force;
        // The second attempt starts from zero, so it cannot ask for a third.
        for _ in 0..2 {
            match self.get_once(remote, target, &part, size, force)? {
                Fetched::Done => return Ok(()),
                Fetched::StartOver(why) => {
                    self.inform(why);
                    force = true;
                }
            }
        }
        Err(ClientError::Failed(format!("{remote}: the download could not be completed.")))
    }

    /// Where `get` writes: LOCAL (inside it when it is a directory), or the
    /// remote name in the local directory.
    fn download_target(&self, remote: &str, local: Option<&str>) -> Result<PathBuf, ClientError> {
        let base = || {
            remote_basename(remote).ok_or_else(|| {
                ClientError::Usage(format!("Cannot name a local file after '{remote}': use get REMOTE LOCAL."))
            })
        };
        let mut path = self.local_path(local.map_or_else(base, Ok)?);
        if path.is_dir() {
            path = path.join(base()?);
        }
        Ok(path)
    }

    fn get_once(
        &mut self,
        remote: &str,
        target: &Path,
        part: &Path,
        size: Option<u64>,
        force: bool,
    ) -> Result<Fetched, ClientError> {
        let binary = self.ttype == TransferType::Image;
        let local_err = |e: io::Error| ClientError::local(part.display(), e);
        // ASCII transfers change the bytes, so they cannot be resumed.
        let existing = match std::fs::metadata(part) {
            Ok(m) if m.is_file() && binary && !force => m.len(),
            _ => 0,
        };
        let mut offset = existing;
        if let Some(rs) = size {
            if offset > rs {
                self.inform(format!(
                    "The partial file {} is larger than the remote file: starting over.",
                    part.display()
                ));
                offset = 0;
            }
        }
        let check_from = offset.saturating_sub(RESUME_CHECK_BYTES);
        // Opened without truncation only to resume: a download from zero
        // never keeps old trailing bytes.
        let mut file = if offset == 0 {
            OpenOptions::new().read(true).write(true).create(true).truncate(true).open(part)
        } else {
            OpenOptions::new().read(true).write(true).open(part)
        }
        .map_err(local_err)?;
        let mut expect = vec![0u8; (offset - check_from) as usize];
        file.seek(SeekFrom::Start(check_from)).and_then(|_| file.read_exact(&mut expect)).map_err(local_err)?;
        file.seek(SeekFrom::Start(offset)).map_err(local_err)?;

        let rest = (check_from > 0).then_some(check_from);
        let (mut data, prelim) = match self.open_transfer(rest, Command::Retr(remote.to_string())) {
            Ok(Opening::Open(data, prelim)) => (data, prelim),
            Ok(Opening::RestRefused(r)) => {
                return Ok(Fetched::StartOver(format!("The server cannot resume ({r}): starting over.")))
            }
            Ok(Opening::Finished(r)) => {
                remove_if_empty(part);
                return Err(ClientError::Failed(format!("No data connection for the download: {r}")));
            }
            Err(e) => {
                drop(file);
                remove_if_empty(part);
                return Err(e);
            }
        };
        if offset > 0 {
            self.inform(format!("Resuming {remote} at byte {offset}."));
        }
        let total = size.or_else(|| if check_from == 0 { parse_size_hint(&prelim.text()) } else { None });
        let mut progress = self.new_progress(Direction::Received, check_from, total);
        let intr = self.intr.clone();
        let result = {
            let mut sink = BufWriter::with_capacity(IO_BUFFER, &mut file);
            let r = self.pump(&mut progress, &intr).receive(&mut data, &mut sink, !binary, &expect);
            // Flushed in every case: what arrived before an abort is kept.
            let flushed = sink.flush().map_err(Stop::Local);
            r.and(flushed)
        };
        progress.finish();
        match result {
            Ok(()) => {
                drop(data);
                let r = self.transfer_reply()?;
                if !r.code.is_completion() {
                    return Err(ClientError::Failed(format!("{r} ({})", kept_note(part, remote))));
                }
                let len = file_len(&file);
                if let (true, Some(rs)) = (binary, size) {
                    if len != rs {
                        return Err(ClientError::Failed(format!(
                            "Incomplete download: {len} of {rs} bytes ({}).",
                            kept_note(part, remote)
                        )));
                    }
                }
                file.sync_all().map_err(local_err)?;
                drop(file);
                std::fs::rename(part, target).map_err(|e| ClientError::local(target.display(), e))?;
                let mut stats = progress.stats();
                if offset > 0 {
                    stats.push_str(&format!(", resumed at byte {offset}"));
                }
                self.inform(stats);
                Ok(Fetched::Done)
            }
            Err(Stop::Mismatch) => {
                self.abort(Some(data))?;
                file.set_len(0).map_err(local_err)?;
                Ok(Fetched::StartOver(format!(
                    "The partial file {} is not the start of the remote file: starting over.",
                    part.display()
                )))
            }
            Err(Stop::Interrupted) => {
                self.abort(Some(data))?;
                drop(file);
                remove_if_empty(part);
                if let Some(t) = &self.tree {
                    t.borrow_mut().clear_line();
                }
                say(format!("Transfer aborted; {}.", kept_note(part, remote)));
                Err(ClientError::Interrupted)
            }
            Err(Stop::Stalled) => {
                self.abort(Some(data))?;
                Err(ClientError::Failed(format!(
                    "No data for {} seconds: download abandoned ({}).",
                    CLIENT_STALL_TIMEOUT.as_secs(),
                    kept_note(part, remote)
                )))
            }
            Err(Stop::Local(e)) => {
                self.abort(Some(data))?;
                Err(ClientError::local(part.display(), e))
            }
            Err(Stop::Data(e)) => {
                drop(data);
                let r = self.transfer_reply()?;
                Err(ClientError::Failed(format!(
                    "Data connection failed ({}); {r} ({}).",
                    io_text(&e),
                    kept_note(part, remote)
                )))
            }
        }
    }

    /// True when the server's `rsize` bytes of `remote` end like the local
    /// file at the same place: a shorter remote file is an interrupted upload
    /// of this one, not another file (checked with REST+RETR of its last
    /// [`RESUME_CHECK_BYTES`]).
    fn remote_prefix_matches(&mut self, remote: &str, file: &mut File, rsize: u64) -> Result<bool, ClientError> {
        let from = rsize.saturating_sub(RESUME_CHECK_BYTES);
        let mut local_tail = vec![0u8; (rsize - from) as usize];
        file.seek(SeekFrom::Start(from))
            .and_then(|_| file.read_exact(&mut local_tail))
            .map_err(|e| ClientError::local("local file", e))?;
        let mut data = match self.open_transfer((from > 0).then_some(from), Command::Retr(remote.to_string())) {
            Ok(Opening::Open(data, _)) => data,
            Ok(_) | Err(ClientError::Refused(_) | ClientError::Failed(_)) => return Ok(false),
            Err(e) => return Err(e),
        };
        let mut progress = Progress::new(Direction::Received, from, None, false);
        let intr = self.intr.clone();
        let mut sink = Capped { buf: Vec::new(), cap: local_tail.len() };
        match self.pump(&mut progress, &intr).receive(&mut data, &mut sink, false, &[]) {
            Ok(()) => {
                drop(data);
                let r = self.transfer_reply()?;
                Ok(r.code.is_completion() && sink.buf == local_tail)
            }
            Err(Stop::Interrupted) => {
                self.abort(Some(data))?;
                Err(ClientError::Interrupted)
            }
            Err(_) => {
                self.abort(Some(data))?;
                Ok(false)
            }
        }
    }

    /// `put [-f] LOCAL [REMOTE]`.
    pub fn put(&mut self, local: &str, remote: Option<&str>, force: bool) -> Result<(), ClientError> {
        self.ctl_mut()?;
        let path = self.local_path(local);
        let remote = match remote {
            Some(r) => r.to_string(),
            None => path.file_name().map(|n| n.to_string_lossy().into_owned()).ok_or_else(|| {
                ClientError::Usage(format!("Cannot name a remote file after '{local}': use put LOCAL REMOTE."))
            })?,
        };
        self.upload(&path, &remote, force)
    }

    /// Uploads the local file `path` as `remote`, resuming an interrupted
    /// upload unless `force`.
    pub(super) fn upload(&mut self, path: &Path, remote: &str, force: bool) -> Result<(), ClientError> {
        let local_err = |e: io::Error| ClientError::local(path.display(), e);
        let mut file = File::open(path).map_err(local_err)?;
        let meta = file.metadata().map_err(local_err)?;
        if !meta.is_file() {
            return Err(local_err(io::Error::other("not a regular file")));
        }
        let len = meta.len();
        let remote = remote.to_string();
        let binary = self.ttype == TransferType::Image;
        let mut offset = 0;
        if binary && !force {
            if let Some(rs) = self.remote_size(&remote)? {
                if rs > 0 && rs < len && self.remote_prefix_matches(&remote, &mut file, rs)? {
                    offset = rs;
                }
            }
        }
        self.ensure_type(self.ttype)?;
        let mut opening = self.open_transfer((offset > 0).then_some(offset), Command::Stor(remote.clone()))?;
        if let Opening::RestRefused(_) = opening {
            // APPE appends at the server's end of file, which is `offset`.
            opening = self.open_transfer(None, Command::Appe(remote.clone()))?;
        }
        let mut data = match opening {
            Opening::Open(data, _) => data,
            Opening::RestRefused(r) | Opening::Finished(r) => {
                return Err(ClientError::Failed(format!("No data connection for the upload: {r}")))
            }
        };
        file.seek(SeekFrom::Start(offset)).map_err(local_err)?;
        if offset > 0 {
            self.inform(format!("Resuming the upload of {remote} at byte {offset}."));
        }
        let mut progress = self.new_progress(Direction::Sent, offset, Some(len));
        let intr = self.intr.clone();
        let result = self.pump(&mut progress, &intr).send(&mut data, &mut file, !binary);
        progress.finish();
        match result {
            Ok(()) => {
                // The end of the data connection is the end of the file
                // (`Pump::end_upload` said so).
                drop(data);
                let r = self.transfer_reply()?;
                if !r.code.is_completion() {
                    return Err(ClientError::Refused(r));
                }
                if binary {
                    if let Some(rs) = self.remote_size(&remote)? {
                        if rs != len {
                            return Err(ClientError::Failed(format!(
                                "The server has {rs} bytes of {remote}; the local file has {len}."
                            )));
                        }
                    }
                }
                let mut stats = progress.stats();
                if offset > 0 {
                    stats.push_str(&format!(", resumed at byte {offset}"));
                }
                self.inform(stats);
                Ok(())
            }
            Err(Stop::Interrupted) => {
                self.abort(Some(data))?;
                if let Some(t) = &self.tree {
                    t.borrow_mut().clear_line();
                }
                say(format!(
                    "Upload aborted after {} bytes; 'put' again resumes it if the server kept them.",
                    offset + progress.moved()
                ));
                Err(ClientError::Interrupted)
            }
            Err(Stop::Local(e)) => {
                self.abort(Some(data))?;
                Err(local_err(e))
            }
            Err(Stop::Data(e)) => {
                drop(data);
                let r = self.transfer_reply()?;
                if r.code.is_failure() {
                    Err(ClientError::Refused(r))
                } else {
                    Err(ClientError::Failed(format!("Data connection failed: {}.", io_text(&e))))
                }
            }
            Err(Stop::Stalled | Stop::Mismatch) => {
                self.abort(Some(data))?;
                Err(ClientError::Failed(format!(
                    "No progress for {} seconds: upload abandoned.",
                    CLIENT_STALL_TIMEOUT.as_secs()
                )))
            }
        }
    }

    /// The bytes of a listing (MLSD, NLST or LIST), read whole, at most
    /// [`CLIENT_MAX_LISTING`]: a server cannot make the client allocate
    /// without end.
    pub(super) fn fetch_listing(&mut self, cmd: Command) -> Result<Vec<u8>, ClientError> {
        let mut data = match self.open_transfer(None, cmd)? {
            Opening::Open(data, _) => data,
            Opening::Finished(_) => return Ok(Vec::new()),
            Opening::RestRefused(r) => return Err(ClientError::Refused(r)),
        };
        let mut progress = Progress::new(Direction::Received, 0, None, false);
        let intr = self.intr.clone();
        let mut sink = Capped { buf: Vec::new(), cap: CLIENT_MAX_LISTING };
        match self.pump(&mut progress, &intr).receive(&mut data, &mut sink, false, &[]) {
            Ok(()) => {
                drop(data);
                let r = self.transfer_reply()?;
                if r.code.is_completion() {
                    Ok(sink.buf)
                } else {
                    Err(ClientError::Refused(r))
                }
            }
            Err(Stop::Interrupted) => {
                self.abort(Some(data))?;
                Err(ClientError::Interrupted)
            }
            Err(Stop::Local(_)) => {
                self.abort(Some(data))?;
                Err(ClientError::Failed(format!("A listing longer than {CLIENT_MAX_LISTING} bytes: refused.")))
            }
            Err(Stop::Data(e)) => {
                drop(data);
                let r = self.transfer_reply()?;
                Err(ClientError::Failed(format!("Data connection failed ({}); {r}", io_text(&e))))
            }
            Err(Stop::Stalled | Stop::Mismatch) => {
                self.abort(Some(data))?;
                Err(ClientError::Failed("The listing stalled: abandoned.".into()))
            }
        }
    }

    /// `ls [PATH]`: LIST, written to standard output as it arrives.
    pub fn ls(&mut self, path: Option<&str>) -> Result<(), ClientError> {
        let mut data = match self.open_transfer(None, Command::List(path.map(str::to_string)))? {
            Opening::Open(data, _) => data,
            Opening::Finished(_) => return Ok(()),
            Opening::RestRefused(r) => return Err(ClientError::Refused(r)),
        };
        let mut progress = Progress::new(Direction::Received, 0, None, false);
        let intr = self.intr.clone();
        let stdout = io::stdout();
        // Security: listing lines are server text (names with escapes).
        let mut out = super::escape::EscapingWriter::new(stdout.lock());
        let result = self.pump(&mut progress, &intr).receive(&mut data, &mut out, true, &[]);
        let _ = out.flush();
        drop(out);
        match result {
            Ok(()) => {
                drop(data);
                let r = self.transfer_reply()?;
                if r.code.is_completion() {
                    Ok(())
                } else {
                    Err(ClientError::Refused(r))
                }
            }
            Err(Stop::Interrupted) => {
                self.abort(Some(data))?;
                Err(ClientError::Interrupted)
            }
            Err(Stop::Data(e)) => {
                drop(data);
                let r = self.transfer_reply()?;
                Err(ClientError::Failed(format!("Data connection failed ({}); {r}", io_text(&e))))
            }
            Err(Stop::Local(e)) => {
                self.abort(Some(data))?;
                Err(ClientError::local("standard output", e))
            }
            Err(Stop::Stalled | Stop::Mismatch) => {
                self.abort(Some(data))?;
                Err(ClientError::Failed("The listing stalled: abandoned.".into()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_files_sit_beside_their_target() {
        assert_eq!(partial_path(Path::new("/x/a b.bin")), PathBuf::from("/x/a b.bin.part"));
    }

    #[test]
    fn local_names_come_from_the_last_remote_component() {
        assert_eq!(remote_basename("docs/a.txt"), Some("a.txt"));
        assert_eq!(remote_basename("/a/b/"), Some("b"));
        assert_eq!(remote_basename("../x"), Some("x"));
        assert_eq!(remote_basename(".."), None);
        assert_eq!(remote_basename("/"), None);
    }

    #[test]
    fn the_capped_sink_refuses_more_than_expected() {
        let mut c = Capped { buf: Vec::new(), cap: 3 };
        assert!(c.write_all(b"abc").is_ok());
        assert!(c.write_all(b"d").is_err());
    }
}
