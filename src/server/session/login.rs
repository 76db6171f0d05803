//! The login of a session (RFC 959 section 4.1.1, USER and PASS; the
//! sequence of section 5.4): its states, and how a password is checked
//! against a hostile client. Security: a banned address gets no check, the
//! pool runs a bounded number of password hashes at once, a locked
//! account is refused the way a wrong password is, and each failure
//! waits twice as long as the last before its 530.

use std::sync::Arc;

use super::{ok, Outcome, Session};
use crate::accounts::{is_anonymous_name, Identity};
use crate::escape::Escaped;
use crate::protocol::address::canonical;
use crate::protocol::{Reply, ReplyCode};
use crate::server::error::FtpError;
use crate::server::jail::Jail;
use crate::server::quota::Quota;
use crate::server::wait::Watch;

/// Where a session is in its login.
pub(super) enum Login {
    AwaitUser,
    AwaitPass(String),
    LoggedIn(Identity),
}

impl Session<'_> {
    pub(super) fn user(&mut self, name: String) -> Result<Outcome, FtpError> {
        if self.identity().is_some() {
            return Err(FtpError::ChangeOfUser);
        }
        self.protection.login_allowed(is_anonymous_name(&name))?;
        // The same reply whether the user exists or not: nothing to learn.
        let text = if is_anonymous_name(&name) {
            "Anonymous login ok, send your email address as password."
        } else {
            "Please specify the password."
        };
        self.login = Login::AwaitPass(name);
        ok(ReplyCode::NEED_PASSWORD, text)
    }

    pub(super) fn pass(&mut self, pw: crate::protocol::Password) -> Outcome {
        let name = match std::mem::replace(&mut self.login, Login::AwaitUser) {
            Login::AwaitPass(name) => name,
            Login::LoggedIn(id) => {
                self.login = Login::LoggedIn(id);
                return Outcome::Reply(Reply::new(ReplyCode::LOGGED_IN, "Already logged in."));
            }
            Login::AwaitUser => return Outcome::Reply(FtpError::BadSequence("Login with USER first.").reply()),
        };
        let guard = &self.cfg.guard;
        let ip = self.peer.ip();
        // Security: a banned address gets no password check at all.
        if let Some(left) = guard.address_banned(ip) {
            log::info!("[{}] {}: PASS refused, address banned for {left} s more", std::process::id(), self.peer);
            return Outcome::Close(FtpError::Banned(left).reply());
        }
        // Security: at most `hash_permits` password hashes at once in the
        // pool (each is 19 MiB of argon2 memory); the others wait their turn.
        let permit = if self.cfg.accounts.needs_hash(&name) {
            match guard.hash_permit(self.cfg.hash_permits, self.deadline, Watch::Reply { reclaimable: true }) {
                Some(p) => Some(p),
                None => return Outcome::Close(FtpError::TooManyLogins.reply()),
            }
        } else {
            None
        };
        // Security: a locked account is still checked (the same time and
        // reply as a wrong password), but not let in.
        let checked = self.cfg.accounts.check(&name, &pw).filter(|_| !guard.account_locked(&name));
        drop(permit);
        let Some(id) = checked else {
            self.failures += 1;
            let account = self.cfg.accounts.is_named(&name).then_some(name.as_str());
            let max = self.cfg.max_login_fails;
            let f = guard.login_failed(ip, account, self.cfg.ban_time, max);
            // One line per failed login, in a stable form (fail2ban, README).
            log::warn!(
                "[{}] login failed from {} port {}: user \"{}\", failure {} of {max} from this address",
                std::process::id(),
                canonical(ip),
                self.peer.port(),
                Escaped(&name),
                f.address.count.max(self.failures),
            );
            if f.address.banned {
                log::warn!(
                    "[{}] address {} banned for {} s",
                    std::process::id(),
                    canonical(ip),
                    self.cfg.ban_time.as_secs()
                );
            }
            if f.account.is_some_and(|a| a.banned) {
                let (pid, secs) = (std::process::id(), self.cfg.ban_time.as_secs());
                log::warn!("[{pid}] account \"{}\" locked for {secs} s", Escaped(&name));
            }
            // Brute force: each failure waits twice as long as the last;
            // the last allowed one, or a ban, closes the connection.
            let delay = self.cfg.login_fail_delay * 2u32.saturating_pow(self.failures.saturating_sub(1).min(6));
            let close = self.failures >= max || guard.address_banned(ip).is_some();
            return Outcome::Delayed(delay, FtpError::LoginIncorrect.reply(), close);
        };
        // The server root was opened before fork; a home of its own is
        // opened now, with the worker's (dropped) rights.
        let jail = match &id.home {
            None => Ok(Arc::clone(&self.cfg.root_dir)),
            Some(home) => Jail::new(home).map(Arc::new).map_err(|e| (home, e)),
        };
        match jail {
            Ok(jail) => {
                self.quota = Quota::open(&jail, id.limits, &id.name);
                self.jail = Some(jail);
            }
            Err((home, e)) => {
                log::error!("{}: home {} of {} unusable: {e}", self.peer, home.display(), id.name);
                return Outcome::Close(FtpError::HomeUnavailable.reply());
            }
        }
        log::info!("{}: login ok, user {}", self.peer, id.name);
        let text = if id.anonymous && !id.perms.write {
            "Login successful (anonymous, read-only)."
        } else {
            "Login successful."
        };
        self.login = Login::LoggedIn(id);
        Outcome::Reply(Reply::new(ReplyCode::LOGGED_IN, text))
    }
}
