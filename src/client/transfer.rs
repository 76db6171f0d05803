//! The commands that move bytes over a data connection: `get` (RETR), `put`
//! (STOR, APPE) and `ls` (LIST), with resume (REST, RFC 3659 section 5),
//! progress, and abort (ABOR, RFC 959 section 4.1.3).
//!
//! A download never leaves a wrong file: it is written to `NAME.part` and
//! renamed to `NAME` only once complete (and, in binary mode, once its size
//! matches SIZE). A later `get` resumes the partial file: it asks the server
//! to restart [`RESUME_CHECK_BYTES`](crate::limits::RESUME_CHECK_BYTES)
//! before the partial file's end, checks that these bytes match the local
//! ones, then appends; a partial file larger than the remote file, or
//! different from it, is started over. `put`
//! resumes when the server holds a shorter file whose last bytes match the
//! local file at the same place, with REST+STOR, or APPE if REST is refused.
//!
//! Ctrl-C during a transfer sends ABOR and then NOOP, and reads the replies
//! up to the NOOP's `200`: whether the server answers the abort with one
//! reply or two (`426` then `226`, or `226` then `225`), the replies are
//! back in step afterwards. Telnet IP/Synch is not sent: servers of today
//! read the control connection during transfers.
//!
//! The byte loops are in `transfer/pump.rs`, `get` in `transfer/download.rs`
//! and `put` in `transfer/upload.rs`; here are the data connection's opening,
//! its final reply and its abort, and the listings.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use super::error::{io_text, ClientError};
use super::progress::{Direction, Progress};
use super::say;
use super::session::Session;
use super::terminal::Interrupt;
use crate::limits::{CLIENT_ABORT_TIMEOUT, CLIENT_MAX_LISTING};
use crate::net::Stream;
use crate::protocol::{Command, Reply, ReplyCode};

mod download;
mod pump;
mod upload;

use pump::{Capped, Stop};

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

/// The last component of a remote path, to name the local file after it.
pub fn remote_basename(remote: &str) -> Option<&str> {
    let name = remote.trim_end_matches('/').rsplit('/').next()?;
    (!name.is_empty() && name != "." && name != "..").then_some(name)
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

    /// The figures of a finished transfer, and where it resumed.
    fn inform_done(&self, progress: &Progress, offset: u64) {
        let mut stats = progress.stats();
        if offset > 0 {
            stats.push_str(&format!(", resumed at byte {offset}"));
        }
        self.inform(stats);
    }

    /// Says why a transfer stopped on a line of its own, above a tree's
    /// progress line.
    fn say_stopped(&self, text: impl std::fmt::Display) {
        if let Some(t) = &self.tree {
            t.borrow_mut().clear_line();
        }
        say(text);
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
    fn local_names_come_from_the_last_remote_component() {
        assert_eq!(remote_basename("docs/a.txt"), Some("a.txt"));
        assert_eq!(remote_basename("/a/b/"), Some("b"));
        assert_eq!(remote_basename("../x"), Some("x"));
        assert_eq!(remote_basename(".."), None);
        assert_eq!(remote_basename("/"), None);
    }
}
