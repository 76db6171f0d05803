//! One client's session: the login state machine and the meaning of every
//! command (RFC 959 section 4.1, RFC 2389, 2428, 3659, 2640).
//!
//! [`Session::handle`] turns a [`Command`] into an [`Outcome`]: a reply, a
//! transfer or a checksum for the connection to run, or the end of the
//! session. It never reads or writes the control socket. The commands of
//! one family are in submodules: `session/login.rs` (USER, PASS),
//! `session/channel.rs` (PORT, EPRT, PASV, EPSV and the start of every
//! transfer), `session/listings.rs` (LIST, NLST, MLSD, MLST, STAT path),
//! `session/transfers.rs` (RETR, STOR, APPE, STOU). The extensions of
//! issue 14 (MFMT, MFF, HASH, RANG, AVBL, SITE, rates, quotas) are in
//! `session/ext.rs`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::data::DataSetup;
use super::error::{reply_for, FtpError};
use super::hash::HashJob;
use super::jail::{is_dir, is_regular, Jail, JailError};
use super::listing::{Facts, Format};
use super::quota::Quota;
use super::tls::{Protection, Switch};
use super::transfer::Transfer;
use super::upload::is_temp_name;
use super::vpath::VPath;
use crate::accounts::{Identity, Perms};
use crate::protocol::address::canonical;
use crate::protocol::checksum::Algo;
use crate::protocol::command::VERBS;
use crate::protocol::{Command, Reply, ReplyCode, TransferType};
use crate::server::config::ServerConfig;
use login::Login;

/// What the connection does after a command.
pub enum Outcome {
    /// Send this reply and read the next command.
    Reply(Reply),
    /// Run this transfer (it sends its own replies).
    Transfer(Transfer),
    /// Compute this checksum (it sends its own replies).
    Hash(HashJob),
    /// Wait, then send the reply; close the connection if `close`.
    Delayed(Duration, Reply, bool),
    /// Send this reply and close the connection.
    Close(Reply),
    /// Send this reply, then start (AUTH) or end (CCC) TLS on the control
    /// connection (RFC 4217 sections 4 and 6).
    Secure(Reply, Switch),
}

/// The state of one control connection.
pub struct Session<'c> {
    cfg: &'c ServerConfig,
    /// The client's address (from the socket, or a trusted PROXY header).
    pub peer: SocketAddr,
    /// Our end of the control connection.
    pub local: SocketAddr,
    login: Login,
    failures: u32,
    jail: Option<Arc<Jail>>,
    cwd: VPath,
    ttype: TransferType,
    rest: u64,
    rename_from: Option<VPath>,
    data: DataSetup,
    epsv_all: bool,
    facts: Facts,
    /// An `ftpmaster` relays this control connection.
    relayed: bool,
    /// FTPS: AUTH, PBSZ, PROT, CCC and the TLS policy.
    protection: Protection,
    /// This session's own TLS configuration (its own session cache), made
    /// when TLS first starts.
    tls_session: Option<Arc<rustls::ServerConfig>>,
    /// Mask of the modes of new files and directories (`SITE UMASK`).
    umask: u32,
    /// The algorithm of HASH (`OPTS HASH`).
    hash_algo: Algo,
    /// The octets of the next RETR or HASH (`RANG`), inclusive.
    range: Option<(u64, u64)>,
    /// The quota of the home, for an account that has one.
    quota: Option<Quota>,
    /// The connection's deadline (login or idle): how long a password
    /// check may wait for its turn.
    deadline: Instant,
}

/// Commands served before login (RFC 959 section 5.4 lets these through).
fn allowed_before_login(c: &Command) -> bool {
    use Command::*;
    matches!(
        c,
        User(_)
            | Pass(_)
            | Acct(_)
            | Quit
            | Noop
            | Syst
            | Feat
            | Opts(..)
            | Help(_)
            | Abor
            | Stat(None)
            | Auth(_)
            | Pbsz(_)
            | Prot(_)
            | Ccc
    )
}

fn ok(code: ReplyCode, text: impl Into<String>) -> Result<Outcome, FtpError> {
    Ok(Outcome::Reply(Reply::new(code, text)))
}

impl<'c> Session<'c> {
    /// A new session for a client at `peer`, connected to our `local`.
    pub fn new(cfg: &'c ServerConfig, peer: SocketAddr, local: SocketAddr) -> Self {
        Session {
            cfg,
            peer,
            local,
            login: Login::AwaitUser,
            failures: 0,
            jail: None,
            cwd: VPath::root(),
            ttype: TransferType::Image,
            rest: 0,
            rename_from: None,
            data: DataSetup::None,
            epsv_all: false,
            facts: Facts::default(),
            relayed: false,
            protection: Protection::new(cfg.tls.as_ref(), false),
            tls_session: None,
            umask: cfg.umask,
            hash_algo: Algo::Sha256,
            range: None,
            quota: None,
            deadline: Instant::now() + cfg.timeouts.login,
        }
    }

    /// The client came to the implicit-FTPS port: the control connection
    /// is encrypted from the first byte and data is private (PROT P).
    pub fn set_implicit_tls(&mut self) {
        self.protection = Protection::new(self.cfg.tls.as_ref(), true);
    }

    /// The TLS configuration of this session (its own session cache, so
    /// that a data connection resuming from it proves it is this client):
    /// `None` without a certificate.
    pub fn tls_session(&mut self) -> Option<Arc<rustls::ServerConfig>> {
        if self.tls_session.is_none() {
            self.tls_session = self.cfg.tls.as_ref().map(|t| t.for_session());
        }
        self.tls_session.clone()
    }

    /// What of this session is encrypted now.
    pub fn encrypted(&self) -> super::tls::Encrypted {
        self.protection.encrypted()
    }

    /// The connection's current deadline (see [`Session::pass`]).
    pub fn set_deadline(&mut self, deadline: Instant) {
        self.deadline = deadline;
    }

    /// The control connection is relayed by an `ftpmaster`: EPSV is refused
    /// and not announced, since its reply carries only a port, which the
    /// client would open on the master (RFC 2428 section 3); PASV names our
    /// own address instead.
    pub fn set_relayed(&mut self) {
        self.relayed = true;
    }

    /// The logged-in identity, if any.
    pub fn identity(&self) -> Option<&Identity> {
        match &self.login {
            Login::LoggedIn(id) => Some(id),
            _ => None,
        }
    }

    /// Handles one command.
    pub fn handle(&mut self, cmd: Command) -> Outcome {
        // RNTO must come right after RNFR (RFC 959 4.1.3).
        let rename_from = self.rename_from.take();
        if self.identity().is_none() && !allowed_before_login(&cmd) {
            return Outcome::Reply(reply_for(&FtpError::NotLoggedIn, ""));
        }
        let subject = match &cmd {
            Command::Retr(p) | Command::Stor(p) | Command::Appe(p) | Command::Size(p) | Command::Mdtm(p) => p.clone(),
            Command::Dele(p) | Command::Mkd(p) | Command::Rmd(p) | Command::Rnfr(p) | Command::Rnto(p) => p.clone(),
            Command::Cwd(p) => p.clone(),
            Command::List(Some(p)) | Command::Nlst(Some(p)) | Command::Mlsd(Some(p)) | Command::Mlst(Some(p)) => {
                p.clone()
            }
            Command::Stat(Some(p)) => p.clone(),
            Command::Mfmt(_, p) | Command::Mff(_, p) | Command::Hash(p) | Command::XHash(_, p) => p.clone(),
            Command::Avbl(Some(p)) | Command::Site(crate::protocol::SiteCommand::Chmod(_, p)) => p.clone(),
            _ => String::new(),
        };
        match self.dispatch(cmd, rename_from) {
            Ok(o) => o,
            Err(e) => Outcome::Reply(reply_for(&e, &subject)),
        }
    }

    fn dispatch(&mut self, cmd: Command, rename_from: Option<VPath>) -> Result<Outcome, FtpError> {
        use Command as C;
        match cmd {
            C::User(name) => self.user(name),
            C::Pass(pw) => Ok(self.pass(pw)),
            C::Acct(_) => ok(ReplyCode::SUPERFLUOUS, "ACCT not needed."),
            C::Quit => Ok(Outcome::Close(Reply::new(ReplyCode::CLOSING, "Goodbye."))),
            C::Noop => ok(ReplyCode::COMMAND_OK, "NOOP ok."),
            C::Syst => ok(ReplyCode::SYSTEM_TYPE, "UNIX Type: L8"),
            C::Feat => Ok(Outcome::Reply(self.feat())),
            C::Opts(name, value) => self.opts(&name, value.as_deref()),
            C::Help(topic) => Ok(Outcome::Reply(help(topic.as_deref()))),
            C::Stat(None) => Ok(Outcome::Reply(self.status())),
            C::Stat(Some(p)) => self.stat_path(&p),
            C::Pwd => ok(ReplyCode::PATH_CREATED, format!("{} is the current directory.", self.cwd.quoted())),
            C::Cwd(p) => self.cwd_to(&p),
            C::Cdup => self.cwd_to(".."),
            C::Type(t) => {
                self.ttype = t;
                let mode = if t == TransferType::Ascii { "ASCII" } else { "Binary" };
                ok(ReplyCode::COMMAND_OK, format!("Switching to {mode} mode."))
            }
            C::Mode(_) => ok(ReplyCode::COMMAND_OK, "Mode set to S."),
            C::Stru(_) => ok(ReplyCode::COMMAND_OK, "Structure set to F."),
            C::Pasv => self.pasv(),
            C::Epsv(arg) => self.epsv(arg),
            C::Port(addr) => self.active(addr, "PORT"),
            C::Eprt(addr) => self.active(addr, "EPRT"),
            C::List(p) => self.list(p, Format::List),
            C::Nlst(p) => self.list(p, Format::Nlst),
            C::Mlsd(p) => self.list(p, Format::Mlsd),
            C::Mlst(p) => self.mlst(p),
            C::Retr(p) => self.retr(&p),
            C::Stor(p) => self.stor(&p, false),
            C::Appe(p) => self.stor(&p, true),
            C::Stou(hint) => self.stou(hint.as_deref()),
            C::Rest(n) => {
                // draft-bryan-ftp-range: REST and RANG replace each other.
                self.range = None;
                self.rest = n;
                ok(ReplyCode::PENDING, format!("Restart position accepted ({n})."))
            }
            C::Size(p) => {
                let st = self.jail()?.stat(&self.path(&p)?)?;
                if !is_regular(&st) {
                    return Err(JailError::NotRegularFile.into());
                }
                ok(ReplyCode::FILE_STATUS, st.st_size.to_string())
            }
            C::Mdtm(p) => self.mdtm(&p),
            C::Dele(p) => {
                self.need(|p| p.delete)?;
                let path = self.path(&p)?;
                let size = self.regular_size(&path);
                self.jail()?.unlink(&path)?;
                self.released(size);
                ok(ReplyCode::FILE_ACTION_OK, "Delete operation successful.")
            }
            C::Mkd(p) => {
                self.need(|p| p.mkdir)?;
                let path = self.path(&p)?;
                self.jail()?.mkdir(&path)?;
                // The session's umask, whatever the process's is; the owner
                // keeps rwx (see `Jail::chmod`).
                if let Err(e) = self.jail()?.chmod(&path, (0o777 & !self.umask) | 0o700) {
                    log::warn!("{}: mode of the new directory {path}: {e:?}", self.peer);
                }
                ok(ReplyCode::PATH_CREATED, format!("{} created.", path.quoted()))
            }
            C::Rmd(p) => {
                self.need(|p| p.delete)?;
                self.jail()?.rmdir(&self.path(&p)?)?;
                ok(ReplyCode::FILE_ACTION_OK, "Remove directory operation successful.")
            }
            C::Rnfr(p) => {
                self.need(|p| p.rename)?;
                let path = self.path(&p)?;
                self.jail()?.stat(&path)?;
                self.rename_from = Some(path);
                ok(ReplyCode::PENDING, "Ready for RNTO.")
            }
            C::Rnto(p) => {
                let from = rename_from.ok_or(FtpError::BadSequence("RNFR required first."))?;
                self.need(|p| p.rename)?;
                let to = self.path(&p)?;
                let replaced = if from == to { None } else { self.regular_size(&to) };
                self.jail()?.rename(&from, &to)?;
                self.released(replaced);
                ok(ReplyCode::FILE_ACTION_OK, "Rename successful.")
            }
            C::Abor => {
                self.data = DataSetup::None;
                ok(ReplyCode::DATA_OPEN_NO_TRANSFER, "No transfer to ABOR.")
            }
            C::Allo => ok(ReplyCode::SUPERFLUOUS, "ALLO command ignored."),
            C::Auth(m) => self.protection.auth(&m).map(|(r, s)| Outcome::Secure(r, s)),
            C::Pbsz(n) => self.protection.pbsz(n).map(Outcome::Reply),
            C::Prot(l) => self.protection.prot(l).map(Outcome::Reply),
            C::Ccc => {
                let logged_in = self.identity().is_some();
                self.protection.ccc(logged_in).map(|(r, s)| Outcome::Secure(r, s))
            }
            C::Mfmt(t, p) => self.mfmt(t, &p),
            C::Mff(facts, p) => self.mff(facts, &p),
            C::Hash(p) => self.hash(self.hash_algo, &p, false),
            C::XHash(algo, p) => self.hash(algo, &p, true),
            C::Rang(first, last) => Ok(self.rang(first, last)),
            C::Avbl(p) => self.avbl(p),
            C::Site(sub) => self.site(sub),
            C::Unknown(v) => Err(FtpError::NotImplemented(v)),
        }
    }

    fn feat(&self) -> Reply {
        // RFC 2389 section 3.2: one feature per line, each indented by a space.
        let mut body: Vec<String> = vec![
            "AVBL".into(),
            "EPRT".into(),
            "EPSV".into(),
            format!("HASH {}", ext::hash_feat(self.hash_algo)),
            "MDTM".into(),
            "MFF modify;UNIX.mode;".into(),
            "MFMT".into(),
            format!("MLST {}", self.facts.feat_line()),
            "PASV".into(),
            "RANG STREAM".into(),
            "REST STREAM".into(),
            "SIZE".into(),
            "TVFS".into(),
            "UTF8".into(),
        ];
        body.extend(crate::protocol::checksum::ALGOS.iter().map(|a| a.x_verb().to_string()));
        if self.relayed {
            body.retain(|f| f != "EPSV");
        }
        body.extend(self.protection.features());
        body.sort();
        Reply::multi(ReplyCode::SYSTEM_STATUS, "Features:", body, "End")
    }

    fn opts(&mut self, name: &str, value: Option<&str>) -> Result<Outcome, FtpError> {
        match (name, value) {
            // RFC 2640 section 3.2: names are always UTF-8 here.
            ("UTF8", Some(v)) if v.eq_ignore_ascii_case("on") || v.eq_ignore_ascii_case("off") => {
                ok(ReplyCode::COMMAND_OK, "Always in UTF8 mode.")
            }
            // RFC 3659 section 7.9.
            ("MLST", v) => {
                self.facts = Facts::select(v.unwrap_or(""));
                ok(ReplyCode::COMMAND_OK, format!("MLST OPTS {}", self.facts.selected()))
            }
            ("HASH", v) => self.opts_hash(v),
            _ => Err(FtpError::UnknownOption),
        }
    }

    fn status(&self) -> Reply {
        let mut body = vec![format!("Connected from {}", canonical(self.peer.ip()))];
        match self.identity() {
            Some(id) => body.push(format!("Logged in as {}", id.name)),
            None => body.push("Not logged in".into()),
        }
        body.push(format!("TYPE: {}", if self.ttype == TransferType::Ascii { "ASCII" } else { "BINARY" }));
        body.push("MODE: Stream; STRUcture: File".into());
        if self.cfg.tls.is_some() {
            body.push(format!("Security: {}", self.protection.describe()));
        }
        if let Some(id) = self.identity() {
            body.extend(self.limits_status(&id.limits));
        }
        body.push(match &self.data {
            DataSetup::None => "No data connection".into(),
            DataSetup::Passive(_) => "Passive mode set".into(),
            DataSetup::Active(a) => format!("Active mode to {a}"),
        });
        Reply::multi(ReplyCode::SYSTEM_STATUS, "forkftp status:", body, "End of status")
    }

    fn jail(&self) -> Result<&Jail, FtpError> {
        self.jail.as_deref().ok_or(FtpError::NotLoggedIn)
    }

    fn perms(&self) -> Perms {
        self.identity().map(|i| i.perms).unwrap_or_default()
    }

    /// Refuses unless the account has the right `f` picks.
    fn need(&self, f: impl Fn(&Perms) -> bool) -> Result<(), FtpError> {
        if f(&self.perms()) {
            Ok(())
        } else {
            Err(FtpError::Denied)
        }
    }

    fn path(&self, arg: &str) -> Result<VPath, FtpError> {
        let path = self.cwd.join(arg)?;
        // Security: the server's own files (uploads in progress, a home's
        // quota file) are not the client's to read, replace or remove.
        if path.components().any(|c| is_temp_name(c.as_bytes())) {
            return Err(FtpError::ReservedName);
        }
        Ok(path)
    }

    fn cwd_to(&mut self, arg: &str) -> Result<Outcome, FtpError> {
        let target = self.path(arg)?;
        let st = self.jail()?.stat(&target)?;
        if !is_dir(&st) {
            return Err(FtpError::NotADirectory);
        }
        self.cwd = target;
        ok(ReplyCode::FILE_ACTION_OK, "Directory successfully changed.")
    }
}

/// HELP \[command\] (RFC 959 4.1.3).
fn help(topic: Option<&str>) -> Reply {
    match topic {
        None | Some("") => {
            let body =
                VERBS.chunks(8).map(|c| c.iter().map(|v| format!("{v:<5}")).collect::<Vec<_>>().join(" ")).collect();
            Reply::multi(ReplyCode::HELP, "The following commands are recognized:", body, "Help OK.")
        }
        Some(t) if VERBS.contains(&t) => {
            Reply::new(ReplyCode::HELP, format!("{t} is supported; see RFC 959, 2389, 2428 and 3659."))
        }
        Some(t) => FtpError::NotImplemented(t.to_string()).reply(),
    }
}

mod channel;
mod ext;
mod listings;
mod login;
mod transfers;

#[cfg(test)]
mod tests;
