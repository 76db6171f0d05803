//! FTPS on the server (RFC 4217): the options, the TLS configuration the
//! supervisor builds before it forks, each session's own TLS session cache,
//! and [`Protection`], the pure state machine of AUTH, PBSZ, PROT and CCC
//! with the policy (`--tls-required`) that refuses what must not go in clear.
//!
//! Data connections must resume the control connection's TLS session
//! (vsftpd's `require_ssl_reuse`): every session gets a cache of its own
//! ([`SessionCache`]) and no session tickets that another session's keys
//! could open, so a data connection that resumes proves it comes from the
//! client that holds the control connection's secrets. A worker serves one
//! client at a time, so nothing else can resume from that cache.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use clap::Args;
use rustls::server::{StoresServerSessions, UnbufferedServerConnection};

use super::cert;
use super::error::FtpError;
use crate::limits::{TLS13_TICKETS, TLS_SESSION_CACHE};
use crate::net::{resolve_addr, tls_provider, TLS_VERSIONS};
use crate::protocol::{Reply, ReplyCode};

/// The FTPS options of a server pool.
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "FTPS (TLS, RFC 4217)")]
pub struct TlsArgs {
    /// Certificate file (PEM; the server's certificate first, then its chain): turns on AUTH TLS. Re-read on SIGHUP.
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,

    /// Private key file (PEM: PKCS#8, PKCS#1 or SEC1) [default: in the --tls-cert file]. Re-read on SIGHUP.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Also listen for implicit FTPS (TLS from the first byte; conventionally port 990).
    #[arg(long, value_name = "ADDR:PORT", requires = "tls_cert")]
    pub implicit_tls_listen: Option<String>,

    /// Refuse logins before AUTH TLS (530) and transfers without PROT P (521); anonymous users are exempt.
    #[arg(long, requires = "tls_cert")]
    pub tls_required: bool,

    /// With --tls-required: anonymous users must use TLS too.
    #[arg(long, requires = "tls_required")]
    pub tls_required_anonymous: bool,

    /// Accept encrypted data connections that do not resume the control connection's TLS session (vsftpd's require_ssl_reuse=NO), for old clients.
    #[arg(long, requires = "tls_cert")]
    pub no_require_tls_reuse: bool,

    /// Allow CCC (RFC 4217 section 6): the control connection goes back to clear text after login, for NAT helpers.
    #[arg(long, requires = "tls_cert")]
    pub allow_ccc: bool,
}

/// The checked FTPS configuration, shared by the workers.
#[derive(Clone, Debug)]
pub(crate) struct TlsConfig {
    /// rustls's configuration with the certificate; each session makes its
    /// own copy with its own cache ([`TlsConfig::for_session`]).
    base: Arc<rustls::ServerConfig>,
    /// The implicit-FTPS listening address.
    pub implicit_listen: Option<SocketAddr>,
    /// `--tls-required`.
    pub required: bool,
    /// `--tls-required-anonymous`.
    pub required_anonymous: bool,
    /// Data connections must resume the control connection's session.
    pub require_reuse: bool,
    /// `--allow-ccc`.
    pub allow_ccc: bool,
    /// The certificate's end of validity (Unix time), for the log.
    pub not_after: i64,
}

impl TlsArgs {
    /// Loads the certificate pair and builds the configuration; `None`
    /// without `--tls-cert`.
    pub(crate) fn to_config(&self) -> Result<Option<TlsConfig>, String> {
        let Some(cert_file) = &self.tls_cert else { return Ok(None) };
        let pair = cert::load(cert_file, self.tls_key.as_deref(), cert::unix_now())?;
        let not_after = pair.not_after;
        let key_file = self.tls_key.as_ref().unwrap_or(cert_file);
        let mut base = rustls::ServerConfig::builder_with_provider(tls_provider())
            .with_protocol_versions(TLS_VERSIONS)
            .map_err(|e| format!("TLS: {e}"))?
            .with_no_client_auth()
            .with_single_cert(pair.chain, pair.key)
            .map_err(|e| match e {
                rustls::Error::InconsistentKeys(_) => format!(
                    "--tls-key {}: this key is not the key of the certificate in {}",
                    key_file.display(),
                    cert_file.display()
                ),
                e => format!("--tls-cert {} / --tls-key {}: {e}", cert_file.display(), key_file.display()),
            })?;
        // Security: no stateless tickets (whose key every session of the
        // worker would share) and no cache until a session brings its own.
        base.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        // A few TLS 1.3 tickets per handshake: clients use each once, and
        // a client whose transfer was aborted before it read the new ones
        // still has one for its next data connection.
        base.send_tls13_tickets = TLS13_TICKETS;
        // RFC 9149: a client may ask for fewer, or for some where none
        // would be sent (an upload's data connection, below).
        base.max_tls13_tickets = TLS13_TICKETS;
        // Data connections hand their keys to `net::records` after the
        // handshake (the control connection's stay in rustls).
        base.enable_secret_extraction = true;
        let implicit_listen = self
            .implicit_tls_listen
            .as_deref()
            .map(resolve_addr)
            .transpose()
            .map_err(|e| format!("--implicit-tls-listen {e}"))?;
        Ok(Some(TlsConfig {
            base: Arc::new(base),
            implicit_listen,
            required: self.tls_required,
            required_anonymous: self.tls_required_anonymous,
            require_reuse: !self.no_require_tls_reuse,
            allow_ccc: self.allow_ccc,
            not_after,
        }))
    }
}

impl TlsConfig {
    /// A configuration for one session: the shared certificate, a cache of
    /// the session's own.
    pub(crate) fn for_session(&self) -> Arc<rustls::ServerConfig> {
        let mut c = (*self.base).clone();
        c.session_storage = Arc::new(SessionCache::default());
        Arc::new(c)
    }

    /// A server connection for the control connection.
    pub(crate) fn accept(session: &Arc<rustls::ServerConfig>) -> Result<rustls::Connection, String> {
        rustls::ServerConnection::new(Arc::clone(session)).map(rustls::Connection::Server).map_err(|e| e.to_string())
    }

    /// A server connection for a data connection: rustls runs its
    /// handshake, then `net::records` its records (the session's
    /// configuration allows it: `enable_secret_extraction`). An
    /// upload's (`tickets` false) sends no TLS 1.3 session tickets unless
    /// the client asks for them (RFC 9149, as ours does): a client that only
    /// writes never reads them (curl), and a socket closed with unread bytes
    /// is reset, which drops the end of its upload still in its send
    /// buffer. Such clients resume the next data connection with a ticket
    /// they already have (this session's cache keeps them, see
    /// [`SessionCache`]).
    pub(crate) fn accept_data(
        session: &Arc<rustls::ServerConfig>,
        tickets: bool,
    ) -> Result<UnbufferedServerConnection, String> {
        let config = if tickets {
            Arc::clone(session)
        } else {
            let mut c = (**session).clone();
            c.send_tls13_tickets = 0;
            Arc::new(c)
        };
        UnbufferedServerConnection::new(config).map_err(|e| e.to_string())
    }
}

/// One session's TLS session cache: the control connection's session (and
/// those of its data connections), for resumption. Entries are not taken
/// out when used (rustls takes a TLS 1.3 ticket out by default): clients
/// such as Python's ssl or GnuTLS (lftp) offer the control connection's
/// ticket on every data connection. Replays only matter for 0-RTT data,
/// which we never accept.
///
/// The first entries (the control connection's) stay for the whole
/// session; those of data connections are bounded by
/// [`TLS_SESSION_CACHE`], oldest out first.
#[derive(Debug, Default)]
pub(crate) struct SessionCache {
    entries: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    /// The control connection's sessions (one per ticket it was sent).
    pinned: Vec<(Vec<u8>, Vec<u8>)>,
    /// Data connections' sessions.
    recent: VecDeque<(Vec<u8>, Vec<u8>)>,
}

impl StoresServerSessions for SessionCache {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        let Ok(mut e) = self.entries.lock() else { return false };
        if e.pinned.len() < TLS13_TICKETS.max(1) {
            e.pinned.push((key, value));
            return true;
        }
        e.recent.retain(|(k, _)| *k != key);
        if e.recent.len() >= TLS_SESSION_CACHE {
            e.recent.pop_front();
        }
        e.recent.push_back((key, value));
        true
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        let e = self.entries.lock().ok()?;
        e.pinned.iter().chain(e.recent.iter()).find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.get(key)
    }

    fn can_cache(&self) -> bool {
        true
    }
}

/// Data-channel protection (RFC 2228 PROT, RFC 4217 section 9).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Prot {
    /// Clear.
    Clear,
    /// Private: TLS.
    Private,
}

/// The security state of one control connection, and what it allows.
#[derive(Debug)]
pub(crate) struct Protection {
    /// FTPS is configured.
    available: bool,
    /// The control connection is encrypted.
    pub control: bool,
    /// PBSZ was accepted after AUTH.
    pbsz: bool,
    /// The data protection level.
    pub prot: Prot,
    /// CCC cleared the control connection.
    cleared: bool,
    /// `--tls-required` (for which users: see [`Protection::login_allowed`]).
    required: bool,
    required_anonymous: bool,
    allow_ccc: bool,
}

/// What of a session is encrypted now: for `ftpserver status` and the
/// metrics (the scoreboard keeps it as its `u8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Encrypted {
    /// Nothing.
    None = 0,
    /// The control connection (data in clear, PROT C).
    Control = 1,
    /// Control and data connections (PROT P).
    Both = 2,
    /// The data connections only (CCC after PROT P).
    Data = 3,
}

impl Encrypted {
    /// Every value, in the order of their numbers.
    pub const ALL: [Encrypted; 4] = [Encrypted::None, Encrypted::Control, Encrypted::Both, Encrypted::Data];

    /// The short name of the status table and the metrics' label.
    pub fn name(self) -> &'static str {
        match self {
            Encrypted::None => "-",
            Encrypted::Control => "ctl",
            Encrypted::Both => "ctl+data",
            Encrypted::Data => "data",
        }
    }

    /// The value of [`Encrypted::ALL`] numbered `n` (`None` past them).
    pub fn from_u8(n: u8) -> Encrypted {
        Encrypted::ALL.get(usize::from(n)).copied().unwrap_or(Encrypted::None)
    }
}

/// What AUTH and CCC ask the connection to do after their reply.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Switch {
    /// AUTH: the TLS handshake on the control connection.
    StartTls,
    /// CCC: back to clear text.
    EndTls,
}

fn reply(code: ReplyCode, text: &str) -> Result<Reply, FtpError> {
    Ok(Reply::new(code, text))
}

impl Protection {
    /// The state at the start of a session: `implicit` for a client of the
    /// implicit-FTPS port (encrypted from the first byte, PROT P).
    pub(crate) fn new(cfg: Option<&TlsConfig>, implicit: bool) -> Protection {
        Protection {
            available: cfg.is_some(),
            control: implicit,
            pbsz: implicit,
            prot: if implicit { Prot::Private } else { Prot::Clear },
            cleared: false,
            required: cfg.is_some_and(|c| c.required),
            required_anonymous: cfg.is_some_and(|c| c.required_anonymous),
            allow_ccc: cfg.is_some_and(|c| c.allow_ccc),
        }
    }

    /// FEAT lines (RFC 4217 section 6).
    pub(crate) fn features(&self) -> Vec<String> {
        if !self.available {
            return Vec::new();
        }
        let mut f = vec!["AUTH TLS".to_string(), "AUTH SSL".into(), "PBSZ".into(), "PROT".into()];
        if self.allow_ccc {
            f.push("CCC".into());
        }
        f
    }

    /// AUTH mechanism (RFC 4217 section 4).
    pub(crate) fn auth(&mut self, mechanism: &str) -> Result<(Reply, Switch), FtpError> {
        if !self.available {
            return Err(FtpError::Security(ReplyCode::NOT_IMPLEMENTED, "TLS is not configured on this server."));
        }
        if !matches!(mechanism, "TLS" | "SSL" | "TLS-C" | "TLS-P") {
            return Err(FtpError::Security(
                ReplyCode::NOT_IMPLEMENTED_FOR_PARAMETER,
                "Unknown security mechanism; use AUTH TLS.",
            ));
        }
        if self.control {
            return Err(FtpError::Security(ReplyCode::BAD_SEQUENCE, "Already using TLS."));
        }
        if self.cleared {
            return Err(FtpError::Security(ReplyCode::BAD_SEQUENCE, "TLS cannot start again after CCC."));
        }
        self.control = true;
        // The old draft's AUTH TLS-P also protected data at once.
        if mechanism == "TLS-P" {
            self.pbsz = true;
            self.prot = Prot::Private;
        }
        Ok((
            Reply::new(ReplyCode::AUTH_OK, format!("AUTH {mechanism} ok, proceed with the TLS handshake.")),
            Switch::StartTls,
        ))
    }

    /// PBSZ n (RFC 4217 section 8): 0 for TLS; a larger value is answered
    /// with `PBSZ=0`.
    pub(crate) fn pbsz(&mut self, size: u64) -> Result<Reply, FtpError> {
        if !self.control {
            return Err(FtpError::Security(ReplyCode::BAD_SEQUENCE, "PBSZ needs AUTH TLS first."));
        }
        self.pbsz = true;
        if size == 0 {
            reply(ReplyCode::COMMAND_OK, "PBSZ=0 ok.")
        } else {
            reply(ReplyCode::COMMAND_OK, "PBSZ=0")
        }
    }

    /// PROT level (RFC 4217 section 9).
    pub(crate) fn prot(&mut self, level: char) -> Result<Reply, FtpError> {
        if !self.control && !self.cleared {
            return Err(FtpError::Security(ReplyCode::BAD_SEQUENCE, "PROT needs AUTH TLS first."));
        }
        if !self.pbsz {
            return Err(FtpError::Security(ReplyCode::BAD_SEQUENCE, "PROT needs PBSZ first."));
        }
        match level {
            'P' => {
                self.prot = Prot::Private;
                reply(ReplyCode::COMMAND_OK, "PROT now Private.")
            }
            'C' if self.required => Err(FtpError::Security(
                ReplyCode::POLICY_DENIED,
                "PROT C refused: this server requires encrypted data connections (PROT P).",
            )),
            'C' => {
                self.prot = Prot::Clear;
                reply(ReplyCode::COMMAND_OK, "PROT now Clear.")
            }
            'S' | 'E' => Err(FtpError::Security(
                ReplyCode::PROT_NOT_SUPPORTED,
                "PROT S and E are not supported with TLS; use C or P.",
            )),
            _ => Err(FtpError::Security(ReplyCode::NOT_IMPLEMENTED_FOR_PARAMETER, "Unknown PROT level; use C or P.")),
        }
    }

    /// CCC (RFC 4217 section 6): refused unless `--allow-ccc`.
    pub(crate) fn ccc(&mut self, logged_in: bool) -> Result<(Reply, Switch), FtpError> {
        if !self.control {
            return Err(FtpError::Security(ReplyCode::PROTECTION_DENIED, "CCC needs an encrypted control connection."));
        }
        if !self.allow_ccc {
            return Err(FtpError::Security(ReplyCode::POLICY_DENIED, "CCC is not allowed on this server."));
        }
        if !logged_in {
            return Err(FtpError::Security(ReplyCode::POLICY_DENIED, "CCC is allowed after login only."));
        }
        self.control = false;
        self.cleared = true;
        Ok((Reply::new(ReplyCode::COMMAND_OK, "CCC ok, the control connection is now in clear text."), Switch::EndTls))
    }

    /// Security: with `--tls-required`, USER before AUTH TLS is refused
    /// (530), except anonymous unless `--tls-required-anonymous`. The
    /// password would otherwise cross the network in clear text.
    pub(crate) fn login_allowed(&self, anonymous: bool) -> Result<(), FtpError> {
        if !self.required || self.control || self.cleared || (anonymous && !self.required_anonymous) {
            return Ok(());
        }
        Err(FtpError::Security(ReplyCode::NOT_LOGGED_IN, "This server requires TLS for logins: use AUTH TLS first."))
    }

    /// Security: with `--tls-required`, a transfer with PROT C is refused
    /// (RFC 4217 section 9: 521), with the same exemption as logins.
    pub(crate) fn transfer_allowed(&self, anonymous: bool) -> Result<(), FtpError> {
        if !self.required || self.prot == Prot::Private || (anonymous && !self.required_anonymous) {
            return Ok(());
        }
        Err(FtpError::Security(
            ReplyCode::PROT_REQUIRED,
            "Data connections must be encrypted on this server: use PBSZ 0 and PROT P.",
        ))
    }

    /// What is encrypted now.
    pub(crate) fn encrypted(&self) -> Encrypted {
        match (self.control, self.prot) {
            (true, Prot::Private) => Encrypted::Both,
            (true, Prot::Clear) => Encrypted::Control,
            (false, Prot::Private) => Encrypted::Data,
            (false, Prot::Clear) => Encrypted::None,
        }
    }

    /// What STAT and the log say.
    pub(crate) fn describe(&self) -> &'static str {
        match self.encrypted() {
            Encrypted::Both => "TLS on control and data",
            Encrypted::Control => "TLS on control, data in clear",
            Encrypted::Data => "control in clear (CCC), TLS on data",
            Encrypted::None => "no TLS",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reply, alone (PBSZ, PROT) or with its switch (AUTH, CCC).
    trait Answer {
        fn reply(&self) -> &Reply;
    }
    impl Answer for Reply {
        fn reply(&self) -> &Reply {
            self
        }
    }
    impl Answer for (Reply, Switch) {
        fn reply(&self) -> &Reply {
            &self.0
        }
    }

    fn code(r: Result<impl Answer, FtpError>) -> u16 {
        match r {
            Ok(a) => a.reply().code.value(),
            Err(e) => e.reply().code.value(),
        }
    }

    fn ftps(required: bool, ccc: bool) -> Protection {
        let mut p = Protection::new(None, false);
        p.available = true;
        p.required = required;
        p.allow_ccc = ccc;
        p
    }

    /// RFC 4217 sections 4, 8, 9 and RFC 2228: every wrong order has its reply.
    #[test]
    fn wrong_orders_get_the_rfc_replies() {
        let mut p = ftps(false, false);
        assert_eq!(code(p.pbsz(0)), 503, "PBSZ before AUTH");
        assert_eq!(code(p.prot('P')), 503, "PROT P without AUTH");
        assert_eq!(code(p.ccc(true)), 533, "CCC in clear");
        assert_eq!(code(p.auth("KERBEROS_V4")), 504);
        let (r, s) = p.auth("TLS").unwrap();
        assert_eq!((r.code.value(), s), (234, Switch::StartTls));
        assert_eq!(code(p.auth("TLS")), 503, "AUTH twice");
        assert_eq!(code(p.prot('P')), 503, "PROT before PBSZ");
        assert_eq!(code(p.pbsz(0)), 200);
        assert_eq!(p.pbsz(1 << 20).unwrap().text(), "PBSZ=0");
        assert_eq!(code(p.prot('S')), 536);
        assert_eq!(code(p.prot('X')), 504);
        assert_eq!(code(p.prot('P')), 200);
        assert_eq!(p.prot, Prot::Private);
        assert_eq!(code(p.ccc(true)), 534, "CCC refused unless allowed");
        assert_eq!(code(Protection::new(None, false).auth("TLS")), 502, "no certificate");
    }

    #[test]
    fn tls_required_refuses_clear_logins_and_transfers_but_not_anonymous() {
        let mut p = ftps(true, false);
        assert_eq!(p.login_allowed(false).unwrap_err().reply().code.value(), 530);
        assert!(p.login_allowed(true).is_ok());
        assert_eq!(p.transfer_allowed(false).unwrap_err().reply().code.value(), 521);
        assert!(p.transfer_allowed(true).is_ok());
        p.required_anonymous = true;
        assert!(p.login_allowed(true).is_err());
        p.auth("TLS").unwrap();
        assert!(p.login_allowed(false).is_ok());
        p.pbsz(0).unwrap();
        assert_eq!(code(p.prot('C')), 534);
        p.prot('P').unwrap();
        assert!(p.transfer_allowed(false).is_ok());
    }

    #[test]
    fn ccc_when_allowed_clears_the_control_connection_after_login() {
        let mut p = ftps(false, true);
        p.auth("SSL").unwrap();
        assert_eq!(code(p.ccc(false)), 534);
        let (_, s) = p.ccc(true).unwrap();
        assert_eq!(s, Switch::EndTls);
        assert!(!p.control);
        assert_eq!(code(p.auth("TLS")), 503);
    }

    #[test]
    fn implicit_sessions_start_encrypted_and_private() {
        let p = Protection::new(None, true);
        assert!(p.control && p.prot == Prot::Private);
    }

    #[test]
    fn the_session_cache_keeps_the_control_sessions_for_reuse_and_is_bounded() {
        let c = SessionCache::default();
        for i in 0..(TLS13_TICKETS + TLS_SESSION_CACHE + 5) {
            c.put(vec![i as u8], vec![1]);
        }
        // The control connection's tickets stay, and may be used again and again.
        assert_eq!(c.take(&[0]), Some(vec![1]));
        assert_eq!(c.take(&[0]), Some(vec![1]));
        // The oldest data connections' go first.
        assert_eq!(c.take(&[TLS13_TICKETS as u8]), None);
        let last = [(TLS13_TICKETS + TLS_SESSION_CACHE + 4) as u8];
        assert_eq!(c.take(&last), Some(vec![1]));
    }
}
