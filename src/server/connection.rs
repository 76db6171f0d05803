//! One client from greeting to goodbye: reads commands from the control
//! connection, lets the session answer them, runs transfers, enforces the
//! login and idle timeouts, and logs the connection, login, each transfer
//! and the disconnect with the client's address and the worker's pid. What
//! the session is doing is reported through [`Progress`] (the pool shows it
//! in its scoreboard).

use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

use super::control::{Control, Input};
use super::error::{parse_error_reply, FtpError};
use super::intake::Via;
use super::session::{Outcome, Session};
use super::tls::{Encrypted, Switch, TlsConfig};
use super::wait::{self, Watch};
use super::{hash, transfer, xferlog};
use crate::escape::Escaped;
use crate::limits::{PRESSURE_LOGIN_TIMEOUT, RECLAIM_MIN_AGE, SIGNAL_CHECK, TLS_HANDSHAKE_TIMEOUT};
use crate::protocol::{self, Reply, ReplyCode};
use crate::server::config::ServerConfig;
use crate::sys;

/// What a session reports as it goes. Called by the worker serving it;
/// must not block.
pub trait Progress {
    /// The command being served, as the log shows it (password hidden).
    fn command(&self, shown: &str);
    /// The client logged in as `name`: from now on it holds its worker by
    /// right (a full pool reclaims only workers whose client has not).
    fn user(&self, name: &str);
    /// Bytes moved so far by the running transfer.
    fn bytes(&self, n: u64);
    /// A login failed (a wrong password).
    fn login_failed(&self) {}
    /// A file transfer ended (listings are not counted).
    fn transferred(&self, _done: &Transferred) {}
    /// The client was refused with this 421.
    fn refused(&self, _why: &FtpError) {}
    /// What of the session is encrypted now (after each command).
    fn security(&self, _now: Encrypted) {}
    /// A TLS handshake on the control connection succeeded, or failed.
    fn tls_handshake(&self, _ok: bool) {}
}

/// A file transfer that ended, as the metrics count it.
#[derive(Clone, Copy, Debug)]
pub struct Transferred {
    /// An upload (STOR, STOU, APPE), else a download (RETR).
    pub incoming: bool,
    /// Bytes moved over the data connection.
    pub bytes: u64,
    /// How long it took.
    pub secs: f64,
    /// Every byte moved and the file in place.
    pub complete: bool,
}

/// Nobody is told.
impl Progress for () {
    fn command(&self, _: &str) {}
    fn user(&self, _: &str) {}
    fn bytes(&self, _: u64) {}
}

/// Serves one client until it quits, times out or the worker must stop.
/// Every failure stays inside this client's session. For a client whose
/// control connection a proxy relays (an `ftpmaster`, or a load balancer
/// in front: `via`), `peer` came from the proxy's PROXY header, and EPSV is
/// refused (its port would be opened on the proxy). A client of the
/// implicit-FTPS port (`Via::ImplicitTls`) is encrypted from the first byte.
pub fn serve(stream: TcpStream, peer: SocketAddr, cfg: &ServerConfig, progress: &dyn Progress, via: Via) {
    let pid = std::process::id();
    let started = Instant::now();
    let how = match via {
        Via::Relayed => " (relayed by the master)".to_string(),
        Via::Proxied => stream.peer_addr().map(|lb| format!(" (through the load balancer {lb})")).unwrap_or_default(),
        Via::ProxyCheck => " (the load balancer's own connection: a health check)".to_string(),
        Via::ImplicitTls => " (implicit FTPS)".to_string(),
        Via::Direct | Via::Passed => String::new(),
    };
    // A balancer checks every few seconds: not worth two lines each time.
    let level = if via == Via::ProxyCheck { log::Level::Debug } else { log::Level::Info };
    log::log!(level, "[{pid}] {peer}: connected{how}");
    let reason = match serve_inner(stream, peer, cfg, progress, via) {
        Ok(reason) => reason,
        Err(e) => format!("error: {e}"),
    };
    log::log!(level, "[{pid}] {peer}: disconnected ({reason}) after {:.1}s", started.elapsed().as_secs_f64());
}

fn serve_inner(
    stream: TcpStream,
    peer: SocketAddr,
    cfg: &ServerConfig,
    progress: &dyn Progress,
    via: Via,
) -> std::io::Result<String> {
    let pid = std::process::id();
    let local = stream.local_addr()?;
    let mut ctl = Control::new(stream)?;
    let started = Instant::now();
    // Security: once the pool is nearly full, a client that has not logged
    // in has PRESSURE_LOGIN_TIMEOUT, so idle and slow connections make room.
    let login_deadline = || {
        let pressure = cfg.guard.under_pressure();
        started + if pressure { cfg.timeouts.login.min(PRESSURE_LOGIN_TIMEOUT) } else { cfg.timeouts.login }
    };
    ctl.set_write_limit(login_deadline(), true);
    let mut session = Session::new(cfg, peer, local);
    if matches!(via, Via::Relayed | Via::Proxied | Via::ProxyCheck) {
        session.set_relayed();
    }
    if via == Via::ImplicitTls {
        session.set_implicit_tls();
        if let Err(why) = start_tls(&mut ctl, &mut session, peer, progress, login_deadline()) {
            return Ok(why);
        }
        progress.security(session.encrypted());
    }
    ctl.send(&Reply::new(ReplyCode::SERVICE_READY, cfg.greeting.clone()))?;
    let mut idle_deadline = Instant::now() + cfg.timeouts.idle;
    let mut first_line = true;
    loop {
        // Security: the deadline covers the replies too, so a client that
        // does not read them is dropped when it passes; the wait is cut into
        // SIGNAL_CHECK slices so that signals are never missed for long.
        let logged_in = session.identity().is_some();
        if !logged_in && reclaimed(started) {
            log::info!(
                "[{pid}] {peer}: not logged in after {:.1}s, reclaimed for a waiting client",
                started.elapsed().as_secs_f64()
            );
            ctl.set_write_limit(Instant::now(), false);
            progress.refused(&FtpError::Reclaimed);
            let _ = ctl.send(&FtpError::Reclaimed.reply());
            return Ok("reclaimed".into());
        }
        let deadline = if logged_in { idle_deadline } else { login_deadline() };
        ctl.set_write_limit(deadline, !logged_in);
        session.set_deadline(deadline);
        let slice = deadline.saturating_duration_since(Instant::now()).min(SIGNAL_CHECK);
        let line = match ctl.read(slice)? {
            Input::Line(l) => l,
            Input::TooLong => {
                ctl.send(&parse_error_reply(&protocol::ParseError::TooLong))?;
                continue;
            }
            Input::Eof => return Ok("client closed".into()),
            Input::Timeout if Instant::now() >= deadline => {
                ctl.send(&FtpError::Timeout.reply())?;
                return Ok("timeout".into());
            }
            Input::Timeout | Input::Interrupted => {
                if sys::draining() {
                    ctl.send(&FtpError::ShuttingDown.reply())?;
                    return Ok("server stopping".into());
                }
                continue;
            }
        };
        if logged_in {
            ctl.set_write_limit(Instant::now() + cfg.timeouts.idle, false);
        }
        // Security: a PROXY header is believed only from a trusted proxy
        // (the master, `--proxy-protocol-from`), before the greeting
        // (`server::proxied`); from anyone else, as the first bytes of a
        // session (v1's line, or v2's signature, whose CRLF makes an empty
        // first line), it is an attempt to pass for another address.
        if std::mem::take(&mut first_line) && protocol::proxy::looks_like_header(&line, ctl.unread()) {
            log::warn!("[{pid}] {peer}: PROXY header from a peer that is not a trusted proxy, refused");
            progress.refused(&FtpError::ProxyRefused);
            ctl.send(&FtpError::ProxyRefused.reply())?;
            return Ok("PROXY header refused".into());
        }
        let cmd = match protocol::parse(&line) {
            Ok(c) => c,
            Err(e) => {
                log::debug!("[{pid}] {peer}: bad command: {e}");
                ctl.send(&parse_error_reply(&e))?;
                continue;
            }
        };
        // The command as logs and the scoreboard show it (password hidden).
        let shown = cmd.loggable();
        log::debug!("[{pid}] {peer}: {}", Escaped(&shown));
        progress.command(&shown);
        let was_logged_in = session.identity().is_some();
        match session.handle(cmd) {
            Outcome::Reply(r) => ctl.send(&r)?,
            Outcome::Close(r) => {
                ctl.send(&r)?;
                return Ok("quit".into());
            }
            Outcome::Secure(r, switch) => {
                ctl.send(&r)?;
                match switch {
                    Switch::StartTls => {
                        let by = if logged_in { idle_deadline } else { login_deadline() };
                        if let Err(why) = start_tls(&mut ctl, &mut session, peer, progress, by) {
                            return Ok(why);
                        }
                    }
                    Switch::EndTls => {
                        if let Err(e) = ctl.end_tls(Instant::now() + TLS_HANDSHAKE_TIMEOUT) {
                            return Ok(format!("CCC failed: {e}"));
                        }
                        log::info!("[{pid}] {peer}: control connection back in clear text (CCC)");
                    }
                }
            }
            Outcome::Delayed(delay, r, close) => {
                progress.login_failed();
                if !wait::sleep(delay, Watch::Reply { reclaimable: !logged_in }) && sys::draining() {
                    ctl.send(&FtpError::ShuttingDown.reply())?;
                    return Ok("server stopping".into());
                }
                ctl.send(&r)?;
                if close {
                    return Ok("too many failed logins".into());
                }
            }
            Outcome::Transfer(t) => {
                let path = t.path.clone();
                let verb = shown.split(' ').next().unwrap_or_default();
                let tls = if t.tls.is_some() { " tls" } else { "" };
                let file = match t.job {
                    transfer::Job::Send { .. } => Some(false),
                    transfer::Job::Receive(_) => Some(true),
                    transfer::Job::List(_) => None,
                };
                let ascii = t.ttype == crate::protocol::TransferType::Ascii;
                let start = Instant::now();
                progress.bytes(0);
                let done = transfer::run(t, &mut ctl, peer.ip(), &cfg.timeouts, &mut |b| progress.bytes(b));
                let secs = start.elapsed().as_secs_f64();
                log::info!(
                    "[{pid}] {peer}: {verb} {} {} bytes in {secs:.3}s{tls}{}",
                    Escaped(path.as_str()),
                    done.bytes,
                    if done.complete { "" } else { " (incomplete)" }
                );
                if let Some(incoming) = file {
                    let t = Transferred { incoming, bytes: done.bytes, secs, complete: done.complete };
                    progress.transferred(&t);
                    if let Some(id) = session.identity() {
                        let end = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map_or(0, |d| d.as_secs());
                        crate::logging::xferlog(|| {
                            xferlog::line(&xferlog::Record {
                                end: end as i64,
                                secs,
                                peer: peer.ip(),
                                bytes: done.bytes,
                                path: path.as_str(),
                                ascii,
                                incoming,
                                anonymous: id.anonymous,
                                user: &id.name,
                                complete: done.complete,
                            })
                        });
                    }
                }
                if done.close {
                    return Ok("closed during transfer".into());
                }
            }
            Outcome::Hash(job) => {
                let start = Instant::now();
                progress.bytes(0);
                let done = hash::run(job, &mut ctl, &cfg.timeouts, &mut |b| progress.bytes(b));
                log::info!(
                    "[{pid}] {peer}: {shown} {} bytes hashed in {:.3}s{}",
                    done.bytes,
                    start.elapsed().as_secs_f64(),
                    if done.complete { "" } else { " (incomplete)" }
                );
                if done.close {
                    return Ok("closed during a checksum".into());
                }
            }
        }
        if !was_logged_in {
            if let Some(id) = session.identity() {
                progress.user(&id.name);
                // A reclaim racing the login is not for a logged-in client.
                sys::clear_reclaim();
            }
        }
        progress.security(session.encrypted());
        idle_deadline = Instant::now() + cfg.timeouts.idle;
        // QUIT has already ended the session above.
        if sys::draining() {
            ctl.send(&FtpError::ShuttingDown.reply())?;
            return Ok("server stopping".into());
        }
    }
}

/// True when the supervisor reclaims this worker (SIGUSR2) for a waiting
/// client, and the request is for this session: one that began at
/// `started`, held long enough to be chosen (a request that raced the start
/// of a new session is dropped).
fn reclaimed(started: Instant) -> bool {
    if !sys::reclaim_requested() {
        return false;
    }
    sys::clear_reclaim();
    started.elapsed() >= RECLAIM_MIN_AGE / 2
}

/// The TLS handshake on the control connection (after AUTH TLS, or first
/// thing on the implicit port), by `deadline` (at most
/// [`TLS_HANDSHAKE_TIMEOUT`] away), logged with its version, cipher suite
/// and the SNI name. On failure, the reason the session ends (no reply can
/// be sent: the client is in the middle of a handshake, or not speaking
/// TLS).
fn start_tls(
    ctl: &mut Control,
    session: &mut Session<'_>,
    peer: SocketAddr,
    progress: &dyn Progress,
    deadline: Instant,
) -> Result<(), String> {
    let pid = std::process::id();
    let config = session.tls_session().ok_or("TLS is not configured")?;
    let conn = TlsConfig::accept(&config)?;
    let reclaimable = session.identity().is_none();
    let deadline = deadline.min(Instant::now() + TLS_HANDSHAKE_TIMEOUT);
    let done = ctl.start_tls(conn, deadline, Watch::Reply { reclaimable });
    progress.tls_handshake(done.is_ok());
    if let Err(e) = done {
        log::info!("[{pid}] {peer}: TLS handshake failed: {e}");
        return Err(format!("TLS handshake failed: {e}"));
    }
    if let Some((how, sni)) = ctl.tls_info() {
        // Security: the SNI name is the client's text, shown escaped.
        let sni = sni.map_or_else(|| "no SNI".to_string(), |n| format!("SNI {}", Escaped(&n)));
        log::info!("[{pid}] {peer}: control connection encrypted: {how}, {sni}");
    }
    Ok(())
}
