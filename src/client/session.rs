//! One session with a server: connecting and logging in (RFC 959 section
//! 4.1.1), the remote and local directories, the transfer type and mode, and
//! the commands that need no data connection (`cd`, `pwd`, `mkdir`, `rmdir`,
//! `rm`, `rename`, `size`). The transfers are in [`super::transfer`].
//!
//! Every command waits for its reply through one function (`exchange`); Ctrl-C
//! during such a wait lets the reply arrive (a second Ctrl-C quits), so the
//! replies never fall out of step with the commands.
//!
//! Connecting, logging in and leaving are in `session/login.rs`, the
//! checksums of remote files in `session/checksum.rs`.

use std::cell::RefCell;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use super::config::ClientConfig;
use super::connection::Control;
use super::error::ClientError;
use super::features::Features;
use super::hash::Algo;
use super::progress::TreeProgress;
use super::terminal::{self, Input, InputEvent, Interrupt};
use super::tls::Tls;
use super::{reply_text, say};
use crate::limits::CLIENT_REPLY_TIMEOUT;
use crate::protocol::reply::parse_quoted_path;
use crate::protocol::{Command, Password, Reply, ReplyCode, TransferType};

mod checksum;
mod login;

/// A session: the connection (when there is one) and what the user chose.
#[derive(Debug)]
pub struct Session {
    pub(super) cfg: ClientConfig,
    pub(super) ctl: Option<Control>,
    pub(super) intr: Interrupt,
    pub(super) input: Input,
    /// The password that worked, kept for `reconnect`.
    password: Option<Password>,
    /// The type the user wants for transfers.
    pub(super) ttype: TransferType,
    /// The type the server was last told (`TYPE`), if any.
    wire_type: Option<TransferType>,
    /// Passive (true) or active data connections.
    pub(super) passive: bool,
    /// The remote directory, to return to after `reconnect`.
    remote_dir: Option<String>,
    /// The local directory (absolute): downloads go there, uploads come from there.
    pub(super) local_dir: PathBuf,
    /// Show the progress line (standard output is a terminal).
    pub(super) show_progress: bool,
    /// The server's FEAT reply, asked for when first needed.
    features: Option<Features>,
    /// The HASH algorithm the server has selected, once OPTS HASH chose it.
    hash_selected: Option<Algo>,
    /// The tree transfer running, if any: its progress line and counts.
    pub(super) tree: Option<Rc<RefCell<TreeProgress>>>,
    /// FTPS: the TLS configuration of this server (its session cache), once
    /// the control connection is encrypted and data is private (PROT P).
    data_tls: Option<Tls>,
}

impl Session {
    /// A session not yet connected; creates the local directory if missing.
    pub fn new(cfg: ClientConfig, intr: Interrupt) -> Result<Session, ClientError> {
        let dir = &cfg.local_dir;
        std::fs::create_dir_all(dir).map_err(|e| ClientError::local(dir.display(), e))?;
        let local_dir = std::fs::canonicalize(dir).map_err(|e| ClientError::local(dir.display(), e))?;
        Ok(Session {
            passive: cfg.passive,
            cfg,
            ctl: None,
            intr,
            input: Input::new(),
            password: None,
            ttype: TransferType::Image,
            wire_type: None,
            remote_dir: None,
            local_dir,
            show_progress: terminal::stdout_is_tty(),
            features: None,
            hash_selected: None,
            tree: None,
            data_tls: None,
        })
    }

    /// True while connected.
    pub fn connected(&self) -> bool {
        self.ctl.is_some()
    }

    /// The connection, or [`ClientError::NotConnected`].
    pub(super) fn ctl_mut(&mut self) -> Result<&mut Control, ClientError> {
        self.ctl.as_mut().ok_or(ClientError::NotConnected)
    }

    /// Forgets the connection (after it was lost).
    pub fn disconnect(&mut self) {
        self.ctl = None;
        self.wire_type = None;
        self.features = None;
        self.hash_selected = None;
        self.data_tls = None;
    }

    /// The TLS of data connections (PROT P), when the session is encrypted.
    pub(super) fn data_tls(&self) -> Option<Tls> {
        self.data_tls.clone()
    }

    /// The prompt: `ftps> ` while the control connection is encrypted.
    pub fn prompt(&self) -> &'static str {
        if self.ctl.as_ref().is_some_and(|c| c.is_encrypted()) {
            super::editor::PROMPT_TLS
        } else {
            super::editor::PROMPT
        }
    }

    /// Shows a reply (unless verbose mode already did).
    pub(super) fn show(&self, r: &Reply) {
        if !self.cfg.verbose {
            say(reply_text(r));
        }
    }

    /// Waits for the next reply. After Ctrl-C the wait goes on (the reply
    /// must be read to stay in step), a second Ctrl-C ends the client, and
    /// the command is reported as interrupted.
    pub(super) fn await_reply(&mut self) -> Result<Reply, ClientError> {
        self.await_reply_for(CLIENT_REPLY_TIMEOUT)
    }

    fn await_reply_for(&mut self, timeout: Duration) -> Result<Reply, ClientError> {
        let intr = self.intr.clone();
        let ctl = self.ctl_mut()?;
        match ctl.reply(&intr, timeout) {
            Err(ClientError::Interrupted) => {
                intr.die_on_interrupt(true);
                let r = ctl.reply(&Interrupt::inert(), timeout);
                intr.die_on_interrupt(false);
                r.and(Err(ClientError::Interrupted))
            }
            other => other,
        }
    }

    /// Sends `cmd` and waits for its reply.
    pub(super) fn exchange(&mut self, cmd: Command) -> Result<Reply, ClientError> {
        self.ctl_mut()?.send(&cmd)?;
        self.await_reply()
    }

    /// Sends `cmd` and waits `timeout` for its reply (a checksum takes the
    /// server longer than other commands). Security: a path holding CR, LF
    /// or NUL would smuggle a second command, and is refused.
    fn exchange_for(&mut self, cmd: Command, timeout: Duration) -> Result<Reply, ClientError> {
        if cmd.to_line().contains(['\r', '\n', '\0']) {
            return Err(ClientError::Usage("Names cannot hold line breaks or NUL.".into()));
        }
        self.ctl_mut()?.send(&cmd)?;
        self.await_reply_for(timeout)
    }

    /// The server's features (FEAT, RFC 2389), asked once per connection.
    /// A server that lists UTF8 is told `OPTS UTF8 ON` (RFC 2640 section
    /// 3.2), which some servers need before they take UTF-8 names.
    pub(super) fn features(&mut self) -> Result<Features, ClientError> {
        if let Some(f) = &self.features {
            return Ok(f.clone());
        }
        let r = self.exchange(Command::Feat)?;
        let f = Features::parse(&r);
        if f.has("UTF8") {
            self.exchange(Command::Opts("UTF8".into(), Some("ON".into())))?;
        }
        self.features = Some(f.clone());
        Ok(f)
    }

    /// Sets the modification time of a remote file (MFMT,
    /// draft-somers-ftp-mfxx) when the server lists MFMT. Returns false
    /// when it cannot.
    pub(super) fn set_remote_mtime(&mut self, path: &str, mtime: i64) -> Result<bool, ClientError> {
        if !self.features()?.has("MFMT") {
            return Ok(false);
        }
        let r = self.exchange_for(Command::Mfmt(mtime, path.to_string()), CLIENT_REPLY_TIMEOUT)?;
        Ok(r.code == ReplyCode::FILE_STATUS)
    }

    /// Sends `cmd`; its reply must be a completion (2yz), which is shown.
    fn simple(&mut self, cmd: Command) -> Result<Reply, ClientError> {
        let r = self.exchange(cmd)?;
        if !r.code.is_completion() {
            return Err(ClientError::Refused(r));
        }
        self.show(&r);
        Ok(r)
    }

    /// Tells the server the transfer type `t` unless it already knows it.
    /// Returns the reply when TYPE was sent.
    pub(super) fn ensure_type(&mut self, t: TransferType) -> Result<Option<Reply>, ClientError> {
        if self.wire_type == Some(t) {
            return Ok(None);
        }
        let r = self.exchange(Command::Type(t))?;
        if !r.code.is_completion() {
            return Err(ClientError::Refused(r));
        }
        self.wire_type = Some(t);
        Ok(Some(r))
    }

    /// The size of a remote file (SIZE, RFC 3659 section 4), `None` when
    /// the server will not tell. SIZE counts bytes of the binary form, so it
    /// is asked in binary mode (pyftpdlib refuses it in ASCII mode).
    pub(super) fn remote_size(&mut self, path: &str) -> Result<Option<u64>, ClientError> {
        self.ensure_type(TransferType::Image)?;
        let r = self.exchange(Command::Size(path.to_string()))?;
        if r.code != ReplyCode::FILE_STATUS {
            return Ok(None);
        }
        Ok(r.lines.last().and_then(|l| l.trim().parse().ok()))
    }

    /// `cd PATH`: CWD (CDUP for `..`).
    pub fn cd(&mut self, path: &str) -> Result<(), ClientError> {
        let cmd = if path == ".." { Command::Cdup } else { Command::Cwd(path.to_string()) };
        self.simple(cmd)?;
        // Remembered for `reconnect`; a server without PWD just forgets.
        if let Ok(r) = self.exchange(Command::Pwd) {
            if r.code == ReplyCode::PATH_CREATED {
                self.remote_dir = parse_quoted_path(&r.text());
            }
        }
        Ok(())
    }

    /// `pwd`: PWD.
    pub fn pwd(&mut self) -> Result<(), ClientError> {
        let r = self.simple(Command::Pwd)?;
        if let Some(dir) = parse_quoted_path(&r.text()) {
            self.remote_dir = Some(dir);
        }
        Ok(())
    }

    /// `mkdir DIR`: MKD.
    pub fn mkdir(&mut self, path: &str) -> Result<(), ClientError> {
        self.simple(Command::Mkd(path.to_string())).map(drop)
    }

    /// `rmdir DIR`: RMD.
    pub fn rmdir(&mut self, path: &str) -> Result<(), ClientError> {
        self.simple(Command::Rmd(path.to_string())).map(drop)
    }

    /// `rm FILE`: DELE.
    pub fn rm(&mut self, path: &str) -> Result<(), ClientError> {
        self.simple(Command::Dele(path.to_string())).map(drop)
    }

    /// `rename FROM TO`: RNFR, then RNTO once the server answered 350.
    pub fn rename(&mut self, from: &str, to: &str) -> Result<(), ClientError> {
        let r = self.exchange(Command::Rnfr(from.to_string()))?;
        if r.code != ReplyCode::PENDING {
            return Err(ClientError::Refused(r));
        }
        self.simple(Command::Rnto(to.to_string())).map(drop)
    }

    /// `size FILE`: SIZE, shown as `FILE: N bytes`.
    pub fn size(&mut self, path: &str) -> Result<(), ClientError> {
        self.ensure_type(TransferType::Image)?;
        let r = self.exchange(Command::Size(path.to_string()))?;
        if r.code != ReplyCode::FILE_STATUS {
            return Err(ClientError::Refused(r));
        }
        match r.lines.last().and_then(|l| l.trim().parse::<u64>().ok()) {
            Some(n) => say(format!("{path}: {n} bytes")),
            None => self.show(&r),
        }
        Ok(())
    }

    /// `ascii` / `binary`: the transfer type (RFC 959 section 3.1.1), told
    /// to the server at once when connected.
    pub fn set_type(&mut self, t: TransferType) -> Result<(), ClientError> {
        self.ttype = t;
        if self.connected() {
            self.wire_type = None;
            if let Some(r) = self.ensure_type(t)? {
                self.show(&r);
            }
        } else {
            say(format!("Transfer type: {}.", type_name(t)));
        }
        Ok(())
    }

    /// `passive` / `active`.
    pub fn set_passive(&mut self, passive: bool) {
        self.passive = passive;
        if passive {
            say("Passive mode: the client opens data connections (EPSV, or PASV).");
        } else {
            say("Active mode: the server connects back for data (EPRT, or PORT).");
        }
    }

    /// The local directory.
    pub fn local_dir(&self) -> &Path {
        &self.local_dir
    }

    /// A local path as the user wrote it: `~` is the home directory, a
    /// relative path is relative to the local directory.
    pub fn local_path(&self, p: &str) -> PathBuf {
        let home = || std::env::var_os("HOME").map(PathBuf::from);
        if p == "~" {
            if let Some(h) = home() {
                return h;
            }
        }
        if let Some(rest) = p.strip_prefix("~/") {
            if let Some(h) = home() {
                return h.join(rest);
            }
        }
        self.local_dir.join(p)
    }

    /// `lcd PATH`: changes the local directory.
    pub fn lcd(&mut self, path: &str) -> Result<(), ClientError> {
        let p = self.local_path(path);
        let dir = std::fs::canonicalize(&p).map_err(|e| ClientError::local(p.display(), e))?;
        if !dir.is_dir() {
            return Err(ClientError::local(p.display(), io::Error::from_raw_os_error(libc::ENOTDIR)));
        }
        self.local_dir = dir;
        self.lpwd();
        Ok(())
    }

    /// `lpwd`: shows the local directory.
    pub fn lpwd(&self) {
        say(format!("Local directory: {}", self.local_dir.display()));
    }

    /// Reads the next command line. At the prompt the control connection
    /// is watched too, so that a server closing it is noticed at once.
    pub fn read_line(&mut self, watch_server: bool) -> io::Result<InputEvent> {
        let watch = if watch_server { self.ctl.as_ref().map(|c| c.fd()) } else { None };
        self.input.read_line(&self.intr, watch)
    }

    /// Handles what the server said at the prompt, unasked (a `421`
    /// before closing, or the close). Returns true when a reply was shown.
    pub fn check_server(&mut self) -> Result<bool, ClientError> {
        match self.ctl_mut()?.unsolicited()? {
            Some(r) => {
                say("");
                self.show(&r);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// A duplicate of the control connection's descriptor, for the prompt's
    /// watcher (which only peeks at it).
    pub fn control_fd(&self) -> Option<std::os::fd::OwnedFd> {
        self.ctl.as_ref().and_then(|c| c.fd().try_clone_to_owned().ok())
    }

    /// True when the server has said something unasked (or closed).
    pub fn server_spoke(&self) -> bool {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        let Some(ctl) = &self.ctl else { return false };
        if ctl.has_buffered_input() {
            return true;
        }
        let mut fds = [PollFd::new(ctl.fd(), PollFlags::POLLIN)];
        poll(&mut fds, PollTimeout::ZERO).unwrap_or(0) > 0
    }

    /// Runs `f` without showing the dialogue or progress (tab completion
    /// lists a directory under the user's cursor).
    pub fn quietly<T>(&mut self, f: impl FnOnce(&mut Session) -> T) -> T {
        let verbose = self.ctl.as_mut().map(|c| c.set_verbose(false));
        let progress = std::mem::replace(&mut self.show_progress, false);
        let r = f(self);
        self.show_progress = progress;
        if let (Some(v), Some(c)) = (verbose, self.ctl.as_mut()) {
            c.set_verbose(v);
        }
        r
    }
}

/// `ascii` or `binary`, as the user says it.
pub fn type_name(t: TransferType) -> &'static str {
    match t {
        TransferType::Ascii => "ascii",
        TransferType::Image => "binary",
    }
}
