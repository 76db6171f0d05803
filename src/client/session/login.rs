//! Beginning and ending a session: connecting, the greeting (RFC 959
//! section 4.2), FTPS on the control connection (AUTH TLS, PBSZ, PROT: RFC
//! 4217 sections 4, 8 and 9), logging in (RFC 959 section 4.1.1), and the
//! commands `open`, `user`, `close` and `bye` (`reconnect` is
//! [`Session::connect`]).

use std::time::Instant;

use super::Session;
use crate::accounts::is_anonymous_name;
use crate::client::config::{host_default_port, PasswordSource, ANONYMOUS_PASSWORD};
use crate::client::connection::Control;
use crate::client::error::ClientError;
use crate::client::say;
use crate::client::terminal::{self, Interrupt};
use crate::client::tls::{self, Tls, TlsMode};
use crate::limits::{CLIENT_CONNECT_TIMEOUT, CLIENT_REPLY_TIMEOUT};
use crate::protocol::{Command, Password, ReplyCode, TransferType};

impl Session {
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
                crate::client::complain(format!("Cannot return to {dir}: {r}"));
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
            PasswordSource::Ask if is_anonymous_name(&self.cfg.user) => Ok(Password::new(ANONYMOUS_PASSWORD)),
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

    /// `open HOST [PORT]`: ends this session (QUIT) and connects to HOST,
    /// at PORT, else 2121 (990 when the session is implicit FTPS). The user
    /// is the one chosen (`-u`, `user`), else the login of ~/.netrc for
    /// HOST, else anonymous.
    pub fn open(&mut self, host: &str, port: Option<u16>) -> Result<(), ClientError> {
        self.quit();
        let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        self.cfg.host = host.to_string();
        // The session keeps its FTPS mode, and implicit FTPS its port.
        self.cfg.port = port.unwrap_or(host_default_port(self.cfg.tls == Some(TlsMode::Implicit)));
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
        crate::client::config::check_user(name).map_err(ClientError::Usage)?;
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
