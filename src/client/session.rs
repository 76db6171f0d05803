//! One session with a server: connecting and logging in (RFC 959 section
//! 4.1.1), the remote and local directories, the transfer type and mode, and
//! the commands that need no data connection (`cd`, `pwd`, `mkdir`, `rmdir`,
//! `rm`, `rename`, `size`). The transfers are in [`super::transfer`].
//!
//! Every command waits for its reply through one function (`exchange`); Ctrl-C
//! during such a wait lets the reply arrive (a second Ctrl-C quits), so the
//! replies never fall out of step with the commands.

use std::cell::RefCell;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::config::{is_anonymous, ClientConfig, PasswordSource, ANONYMOUS_PASSWORD};
use super::connection::Control;
use super::error::ClientError;
use super::features::Features;
use super::hash::{self, Algo};
use super::progress::TreeProgress;
use super::terminal::{self, Input, InputEvent, Interrupt};
use super::tls::{self, Tls, TlsMode};
use super::{reply_text, say};
use crate::limits::{CLIENT_CONNECT_TIMEOUT, CLIENT_HASH_TIMEOUT, CLIENT_REPLY_TIMEOUT};
use crate::protocol::reply::parse_quoted_path;
use crate::protocol::{Command, Password, Reply, ReplyCode, TransferType};

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
        if self.ctl.as_ref().is_some_and(|c| c.tls_info().is_some()) {
            super::editor::PROMPT_TLS
        } else {
            super::editor::PROMPT
        }
    }

    /// TLS on the control connection, with its result told to the user.
    fn start_tls(&mut self, tls: &Tls) -> Result<(), ClientError> {
        let host = self.cfg.host.clone();
        let conn = tls.connect().map_err(ClientError::Failed)?;
        let intr = self.intr.clone();
        let ctl = self.ctl_mut()?;
        ctl.start_tls(conn, Instant::now() + CLIENT_CONNECT_TIMEOUT, &intr)
            .map_err(|e| ClientError::Failed(tls::handshake_error(&e, &host)))?;
        let checked = if self.cfg.tls_options.insecure {
            "NOT checked (--insecure)".to_string()
        } else {
            format!("verified for {host}")
        };
        say(format!("TLS: {}, certificate {checked}.", self.ctl_mut()?.tls_info().unwrap_or_default()));
        Ok(())
    }

    /// Shows a reply (unless verbose mode already did).
    pub(super) fn show(&self, r: &Reply) {
        if !self.cfg.verbose {
            say(reply_text(r));
        }
    }

    /// Connects and logs in; after a `reconnect`, returns to the remote
    /// directory. Ctrl-C meanwhile ends the client (except at the password
    /// prompt, which restores the terminal first).
    pub fn connect(&mut self) -> Result<(), ClientError> {
        self.disconnect();
        self.intr.die_on_interrupt(true);
        let r = self.connect_and_login();
        self.intr.die_on_interrupt(false);
        if r.is_err() {
            self.disconnect();
        }
        r
    }

    fn connect_and_login(&mut self) -> Result<(), ClientError> {
        let (host, port) = (self.cfg.host.clone(), self.cfg.port);
        let tls =
            self.cfg.tls.map(|_| Tls::new(&host, &self.cfg.tls_options)).transpose().map_err(ClientError::Failed)?;
        let mut ctl = Control::connect(&host, port, self.cfg.verbose)?;
        ctl.use_pasv_address(self.cfg.use_pasv_address);
        say(format!("Connected to {host} ({}) port {}.", ctl.peer().ip(), ctl.peer().port()));
        self.ctl = Some(ctl);
        if let (Some(TlsMode::Implicit), Some(tls)) = (self.cfg.tls, &tls) {
            self.start_tls(tls)?;
        }
        // RFC 959 section 4.2: 120 (ready soon) may come before the 220.
        loop {
            let r = self.await_reply()?;
            if r.code == ReplyCode::SERVICE_READY_SOON {
                self.show(&r);
            } else if r.code == ReplyCode::SERVICE_READY {
                self.show(&r);
                break;
            } else {
                return Err(ClientError::Refused(r));
            }
        }
        if let (Some(TlsMode::Explicit), Some(tls)) = (self.cfg.tls, &tls) {
            // RFC 4217 section 4; never a silent fall-back to clear text.
            let r = self.exchange(Command::Auth("TLS".into()))?;
            if r.code != ReplyCode::AUTH_OK {
                return Err(ClientError::Failed(format!(
                    "The server refused AUTH TLS ({r}): not logging in in clear text."
                )));
            }
            self.start_tls(tls)?;
        }
        self.login()?;
        if let Some(tls) = tls {
            // RFC 4217 sections 8 and 9: PBSZ 0, then PROT P.
            for cmd in [Command::Pbsz(0), Command::Prot('P')] {
                let r = self.exchange(cmd)?;
                if !r.code.is_completion() {
                    return Err(ClientError::Failed(format!("The server refused encrypted transfers ({r}).")));
                }
            }
            self.data_tls = Some(tls);
        }
        if let Some(r) = self.ensure_type(self.ttype)? {
            if self.ttype == TransferType::Image && !self.cfg.verbose {
                say("Using binary mode to transfer files.");
            } else {
                self.show(&r);
            }
        }
        if let Some(dir) = self.remote_dir.clone() {
            let r = self.exchange(Command::Cwd(dir.clone()))?;
            if r.code.is_completion() {
                say(format!("Back in {dir}."));
            } else {
                super::complain(format!("Cannot return to {dir}: {r}"));
            }
        }
        Ok(())
    }

    /// USER, then PASS when the server asks for it (RFC 959 section 4.1.1).
    fn login(&mut self) -> Result<(), ClientError> {
        let r = self.exchange(Command::User(self.cfg.user.clone()))?;
        if r.code == ReplyCode::LOGGED_IN {
            self.show(&r);
            return Ok(());
        }
        if r.code != ReplyCode::NEED_PASSWORD {
            return Err(ClientError::Refused(r));
        }
        let password = self.password_to_send()?;
        let r = self.exchange(Command::Pass(password.clone()))?;
        if r.code == ReplyCode::NEED_ACCOUNT {
            return Err(ClientError::Failed(format!("{r} (ftpclient does not send accounts: ACCT)")));
        }
        if r.code != ReplyCode::LOGGED_IN {
            return Err(ClientError::Refused(r));
        }
        self.show(&r);
        self.password = Some(password);
        Ok(())
    }

    fn password_to_send(&mut self) -> Result<Password, ClientError> {
        if let Some(p) = &self.password {
            return Ok(p.clone());
        }
        if let (PasswordSource::Ask, Some(netrc)) = (&self.cfg.password, &self.cfg.netrc) {
            if let Some(p) = netrc.password(&self.cfg.host, &self.cfg.user).map_err(ClientError::Failed)? {
                return Ok(p);
            }
        }
        match &self.cfg.password {
            PasswordSource::Given(p) => Ok(p.clone()),
            PasswordSource::Ask if is_anonymous(&self.cfg.user) => Ok(Password::new(ANONYMOUS_PASSWORD)),
            PasswordSource::Ask => {
                // Ctrl-C at the prompt must restore the echo before leaving.
                self.intr.die_on_interrupt(false);
                let prompt = format!("Password for {}: ", self.cfg.user);
                let p = terminal::read_password(&mut self.input, &self.intr, &prompt);
                self.intr.die_on_interrupt(true);
                p
            }
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

    /// The checksum of a remote file: with HASH when the server lists it
    /// (choosing the algorithm with `OPTS HASH`), else with the first of
    /// XSHA256, XSHA512, XSHA1, XMD5, XCRC its FEAT lists. `wanted` limits
    /// the choice to one algorithm.
    pub(super) fn remote_hash(&mut self, path: &str, wanted: Option<Algo>) -> Result<(Algo, String), ClientError> {
        let feats = self.features()?;
        let offered = |a: Algo| wanted.map_or(true, |w| w == a);
        if feats.has("HASH") {
            let listed = feats.hash_algorithms();
            let pick = hash::PREFERENCE
                .into_iter()
                .filter(|&a| offered(a))
                .find_map(|a| listed.iter().find(|(n, _)| Algo::from_name(n) == Some(a)).map(|(_, sel)| (a, *sel)));
            if let Some((algo, starred)) = pick {
                // FEAT's star is the selection when FEAT was answered; an
                // OPTS HASH since changed it.
                let selected = self.hash_selected.map_or(starred, |s| s == algo);
                if !selected {
                    // draft-bryan-ftpext-hash section 4: OPTS HASH selects.
                    let r = self.exchange(Command::Opts("HASH".into(), Some(algo.name().into())))?;
                    if !r.code.is_completion() {
                        return Err(ClientError::Refused(r));
                    }
                }
                self.hash_selected = Some(algo);
                let r = self.exchange_for(Command::Hash(path.to_string()), CLIENT_HASH_TIMEOUT)?;
                if r.code != ReplyCode::FILE_STATUS {
                    return Err(ClientError::Refused(r));
                }
                return hash::digest_in_reply(algo, &r.text())
                    .map(|d| (algo, d))
                    .ok_or_else(|| ClientError::Failed(format!("No {} checksum in the reply: {r}", algo.name())));
            }
        }
        for algo in hash::PREFERENCE.into_iter().filter(|&a| offered(a)) {
            if feats.has(algo.x_verb()) {
                let r = self.exchange_for(Command::XHash(algo, path.to_string()), CLIENT_HASH_TIMEOUT)?;
                if !r.code.is_completion() {
                    return Err(ClientError::Refused(r));
                }
                return hash::digest_in_reply(algo, &r.text())
                    .map(|d| (algo, d))
                    .ok_or_else(|| ClientError::Failed(format!("No {} checksum in the reply: {r}", algo.name())));
            }
        }
        Err(no_checksum(wanted))
    }

    /// Fails with the reason when the server has no checksum command.
    pub(super) fn checksum_available(&mut self) -> Result<(), ClientError> {
        let f = self.features()?;
        let hash = f.hash_algorithms().iter().any(|(n, _)| Algo::from_name(n).is_some());
        if hash || hash::PREFERENCE.iter().any(|a| f.has(a.x_verb())) {
            Ok(())
        } else {
            Err(no_checksum(None))
        }
    }

    /// `hash [-a ALGO] FILE`: shows the server's checksum of FILE.
    pub fn hash(&mut self, path: &str, algo: Option<Algo>) -> Result<(), ClientError> {
        let (algo, digest) = self.remote_hash(path, algo)?;
        say(format!("{} {digest}  {path}", algo.name()));
        Ok(())
    }

    /// `verify [-a ALGO] REMOTE [LOCAL]`: compares the server's checksum of
    /// REMOTE with the local file's.
    pub fn verify(&mut self, remote: &str, local: &Path, algo: Option<Algo>) -> Result<(), ClientError> {
        let mut file = std::fs::File::open(local).map_err(|e| ClientError::local(local.display(), e))?;
        let (algo, theirs) = self.remote_hash(remote, algo)?;
        let ours = hash::digest(algo, &mut file).map_err(|e| ClientError::local(local.display(), e))?;
        if ours != theirs {
            return Err(ClientError::Failed(format!(
                "{}: {} differs from the server's: local {ours}, remote {theirs}.",
                local.display(),
                algo.name()
            )));
        }
        say(format!("{remote}: {} matches ({ours}).", algo.name()));
        Ok(())
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

    /// `open HOST [PORT]`: ends this session (QUIT) and connects to HOST.
    /// The user is the one chosen (`-u`, `user`), else the login of
    /// ~/.netrc for HOST, else anonymous.
    pub fn open(&mut self, host: &str, port: Option<u16>) -> Result<(), ClientError> {
        self.quit();
        let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        self.cfg.host = host.to_string();
        self.cfg.port = port.unwrap_or(crate::limits::DEFAULT_PORT);
        self.password = None;
        self.remote_dir = None;
        if !self.cfg.user_given {
            let login = self.cfg.netrc.as_ref().and_then(|n| n.find(host, None)).and_then(|m| m.login.clone());
            self.cfg.user = login.unwrap_or_else(|| "anonymous".into());
        }
        self.connect()
    }

    /// `user NAME`: logs in again as NAME on this connection (RFC 959
    /// section 4.1.1 allows USER at any time). The password comes from
    /// ~/.netrc, or is asked.
    pub fn relogin(&mut self, name: &str) -> Result<(), ClientError> {
        super::config::check_user(name).map_err(ClientError::Usage)?;
        self.ctl_mut()?;
        self.cfg.user = name.to_string();
        self.cfg.user_given = true;
        self.cfg.password = PasswordSource::Ask;
        self.password = None;
        self.features = None;
        self.wire_type = None;
        self.login()?;
        self.ensure_type(self.ttype).map(drop)
    }

    /// `close`: ends the session (QUIT) and stays at the prompt.
    pub fn close(&mut self) {
        if self.connected() {
            self.quit();
        } else {
            say("Not connected.");
        }
        self.remote_dir = None;
    }

    /// `bye`: QUIT, shows the goodbye, closes. Ctrl-C meanwhile ends the
    /// client at once.
    pub fn quit(&mut self) {
        let Some(mut ctl) = self.ctl.take() else { return };
        self.intr.die_on_interrupt(true);
        if ctl.send(&Command::Quit).is_ok() {
            if let Ok(r) = ctl.reply(&Interrupt::inert(), CLIENT_REPLY_TIMEOUT) {
                self.show(&r);
            }
        }
        self.disconnect();
    }
}

/// Why `hash`, `verify` and `get -c` cannot work with this server.
fn no_checksum(wanted: Option<Algo>) -> ClientError {
    let which = wanted.map_or_else(|| "a checksum".to_string(), |a| format!("{} checksums", a.name()));
    ClientError::Failed(format!(
        "The server cannot compute {which}: its FEAT reply lists no HASH (draft-bryan-ftpext-hash) \
         and none of XSHA256, XSHA512, XSHA1, XMD5, XCRC."
    ))
}

/// `ascii` or `binary`, as the user says it.
pub fn type_name(t: TransferType) -> &'static str {
    match t {
        TransferType::Ascii => "ascii",
        TransferType::Image => "binary",
    }
}
