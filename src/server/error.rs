//! The one place where a failure becomes a reply. Each error kind documents
//! the reply it turns into; the ones that end the connection (421, RFC 959
//! section 4.2: "service not available, closing control connection") are
//! values here like the others, whoever sends them (a session, the pool
//! refusing a client, the master with no slave).

use std::fmt;
use std::io;

use nix::errno::Errno;

use super::jail::JailError;
use super::vpath::PathError;
use crate::protocol::{ParseError, Reply, ReplyCode};

/// Why a command failed.
#[derive(Debug)]
pub enum FtpError {
    /// The line could not be parsed: see [`parse_error_reply`].
    Parse(ParseError),
    /// The command needs a login: 530.
    NotLoggedIn,
    /// The account may not do this: 550 "Permission denied.".
    Denied,
    /// A wrong password, or an unknown user (the same reply: nothing to
    /// learn): 530.
    LoginIncorrect,
    /// USER once logged in: 530 (one login per session, as vsftpd).
    ChangeOfUser,
    /// A verb (or a HELP topic) we do not implement: 502 (RFC 959 section
    /// 4.2.1).
    NotImplemented(String),
    /// A SITE subcommand we do not know: 500, as vsftpd.
    UnknownSite(String),
    /// An OPTS for a command that has no options: 501 (RFC 2389 section 4).
    UnknownOption,
    /// Commands in the wrong order: 503 with the text.
    BadSequence(&'static str),
    /// A path argument is unusable: 553.
    BadPath(PathError),
    /// The file system refused: mapped by [`errno_reply`].
    Fs(JailError),
    /// CWD or AVBL naming something that exists but is not a directory:
    /// 550.
    NotADirectory,
    /// No PASV/PORT before a transfer, or the data connection failed: 425.
    NoData(String),
    /// REST beyond the end of the file: 554 (RFC 3659 section 5.4).
    RestBeyondEnd(u64),
    /// The disk is full: 452.
    NoSpace,
    /// Another failure on our side: 451 with the text.
    Local(String),
    /// The client was silent too long (login, idle, data connection or
    /// stalled transfer): 421 "Timeout.", and the connection closes.
    Timeout,
    /// The worker must stop (SIGTERM, or SIGQUIT once the transfer is
    /// done): 421, and the connection closes.
    ShuttingDown,
    /// A client's first bytes were a PROXY header, which only a trusted
    /// proxy (the master, `--proxy-protocol-from`) may send: 421, and the
    /// connection closes.
    ProxyRefused,
    /// The account's home directory cannot be opened: 421, and the
    /// connection closes.
    HomeUnavailable,
    /// Every worker of the pool is busy (`--max-workers`): 421.
    TooManyUsers,
    /// The client's address has `--max-per-ip` sessions already: 421.
    TooManyFromAddress,
    /// The master has no slave that can take the client: 421.
    NoServerReady,
    /// Security: the pool is full and clients wait; this client had not
    /// logged in, and its worker is reclaimed for them: 421.
    Reclaimed,
    /// Security: too many failed logins from the client's address within
    /// `--ban-time`; the seconds the ban has left: 421.
    Banned(u64),
    /// Security: the client waited past its deadline for its turn among
    /// the pool's password checks: 421.
    TooManyLogins,
    /// The data connection broke, or ABOR stopped the transfer: 426.
    TransferAborted,
    /// ABOR stopped a checksum (HASH, XSHA256, ...): 426.
    ChecksumAborted,
    /// PASV, PORT or EPRT after `EPSV ALL` (RFC 2428 section 4): 503.
    EpsvAllOnly,
    /// EPSV on a control connection relayed by the master, whose port
    /// would be opened on the master: 502, so that the client falls back
    /// to PASV.
    EpsvRelayed,
    /// EPSV, EPRT or PORT naming a network protocol we cannot use here:
    /// 522 with the ones we can, `(1,2)` when `None` (RFC 2428 section 2).
    ProtocolNotSupported(Option<u8>),
    /// Security: PORT or EPRT (the verb) naming another host or a
    /// privileged port (FTP bounce, RFC 2577): 500.
    IllegalActive(&'static str),
    /// A security command (AUTH, PBSZ, PROT, CCC) in the wrong order or
    /// against the policy, or a login or transfer the TLS policy refuses:
    /// the code RFC 2228 and RFC 4217 give (502, 503, 504, 521, 530, 533,
    /// 534, 536), with the text.
    Security(ReplyCode, &'static str),
    /// The TLS handshake of a data connection failed, or did not resume the
    /// control connection's session when that is required: 522 with why.
    DataTls(String),
    /// The home's quota of bytes or files would be passed: 552 (RFC 959:
    /// "exceeded storage allocation").
    QuotaExceeded,
    /// Security: a path naming one of the server's own files (`.forkftp.`,
    /// uploads in progress and the quota file): 553, as a name not allowed.
    ReservedName,
}

impl From<JailError> for FtpError {
    fn from(e: JailError) -> Self {
        match e {
            JailError::Os(Errno::ENOSPC | Errno::EDQUOT) => FtpError::NoSpace,
            e => FtpError::Fs(e),
        }
    }
}

impl From<Errno> for FtpError {
    fn from(e: Errno) -> Self {
        FtpError::from(JailError::Os(e))
    }
}

impl From<PathError> for FtpError {
    fn from(e: PathError) -> Self {
        FtpError::BadPath(e)
    }
}

impl From<io::Error> for FtpError {
    fn from(e: io::Error) -> Self {
        match e.raw_os_error() {
            Some(n) => FtpError::from(Errno::from_raw(n)),
            None => FtpError::Local(e.to_string()),
        }
    }
}

impl fmt::Display for FtpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", reply_for(self, "").text())
    }
}

/// The reply to a line that did not parse.
///
/// Too long, empty or a bad verb: 500. Not UTF-8, NUL, missing, unexpected
/// or malformed argument: 501. TYPE/MODE/STRU values we lack: 504. EPRT with
/// an unknown protocol: 522 (RFC 2428 section 2). A path over the limit: 553.
pub fn parse_error_reply(e: &ParseError) -> Reply {
    let code = match e {
        ParseError::TooLong | ParseError::Empty | ParseError::BadVerb => ReplyCode::SYNTAX_ERROR,
        ParseError::Unsupported("EPRT") => return reply_for(&FtpError::ProtocolNotSupported(None), ""),
        ParseError::Unsupported(_) => ReplyCode::NOT_IMPLEMENTED_FOR_PARAMETER,
        ParseError::ArgumentTooLong("USER") => ReplyCode::SYNTAX_ERROR_ARGS,
        ParseError::ArgumentTooLong(_) => ReplyCode::BAD_FILE_NAME,
        _ => ReplyCode::SYNTAX_ERROR_ARGS,
    };
    Reply::new(code, e.to_string())
}

/// The reply for a file-system error number, `subject` being the path.
///
/// Missing: 550. No access, or an escape attempt (EXDEV from openat2, ELOOP
/// from a refused symlink): 550 "Permission denied". Exists, not empty, is or
/// is not a directory: 550. Busy: 450. Disk full: 452. Name too long or
/// invalid: 553. Anything else: 451.
pub fn errno_reply(e: Errno, subject: &str) -> Reply {
    let (code, what) = match e {
        Errno::ENOENT | Errno::ENOTDIR => (ReplyCode::FILE_UNAVAILABLE, "No such file or directory"),
        Errno::EACCES | Errno::EPERM | Errno::EROFS => (ReplyCode::FILE_UNAVAILABLE, "Permission denied"),
        // Security: the jail's refusals read like any other denial.
        Errno::EXDEV | Errno::ELOOP => (ReplyCode::FILE_UNAVAILABLE, "Permission denied"),
        Errno::EEXIST => (ReplyCode::FILE_UNAVAILABLE, "File exists"),
        Errno::ENOTEMPTY => (ReplyCode::FILE_UNAVAILABLE, "Directory not empty"),
        Errno::EISDIR => (ReplyCode::FILE_UNAVAILABLE, "Is a directory"),
        Errno::ENOSPC | Errno::EDQUOT => (ReplyCode::INSUFFICIENT_STORAGE, "Insufficient storage space"),
        Errno::EFBIG => (ReplyCode::EXCEEDED_STORAGE, "File too large"),
        Errno::ENAMETOOLONG | Errno::EINVAL => (ReplyCode::BAD_FILE_NAME, "File name not allowed"),
        Errno::EBUSY | Errno::ETXTBSY | Errno::EAGAIN => (ReplyCode::FILE_BUSY, "File busy"),
        _ => (ReplyCode::LOCAL_ERROR, e.desc()),
    };
    if subject.is_empty() {
        Reply::new(code, format!("{what}."))
    } else {
        Reply::new(code, format!("{subject}: {what}."))
    }
}

/// The reply for a failed command about `subject` (a path, or empty).
pub fn reply_for(e: &FtpError, subject: &str) -> Reply {
    match e {
        FtpError::Parse(p) => parse_error_reply(p),
        FtpError::NotLoggedIn => Reply::new(ReplyCode::NOT_LOGGED_IN, "Please login with USER and PASS."),
        FtpError::Denied => Reply::new(ReplyCode::FILE_UNAVAILABLE, "Permission denied."),
        FtpError::LoginIncorrect => Reply::new(ReplyCode::NOT_LOGGED_IN, "Login incorrect."),
        FtpError::ChangeOfUser => Reply::new(ReplyCode::NOT_LOGGED_IN, "Can't change to another user."),
        FtpError::NotImplemented(v) => Reply::new(ReplyCode::NOT_IMPLEMENTED, format!("{v} not implemented.")),
        FtpError::UnknownSite(s) => Reply::new(ReplyCode::SYNTAX_ERROR, format!("Unknown SITE command {s}.")),
        FtpError::UnknownOption => Reply::new(ReplyCode::SYNTAX_ERROR_ARGS, "Option not understood."),
        FtpError::BadSequence(t) => Reply::new(ReplyCode::BAD_SEQUENCE, *t),
        FtpError::BadPath(PathError::TooLong) => Reply::new(ReplyCode::BAD_FILE_NAME, "Path too long."),
        FtpError::BadPath(PathError::Empty) => Reply::new(ReplyCode::BAD_FILE_NAME, "File name not allowed."),
        FtpError::Fs(JailError::Os(n)) => errno_reply(*n, subject),
        FtpError::Fs(JailError::NotRegularFile) => {
            Reply::new(ReplyCode::FILE_UNAVAILABLE, format!("{subject}: Not a regular file."))
        }
        FtpError::Fs(JailError::IsRoot) => Reply::new(ReplyCode::FILE_UNAVAILABLE, "Permission denied."),
        FtpError::NotADirectory if subject.is_empty() => Reply::new(ReplyCode::FILE_UNAVAILABLE, "Not a directory."),
        FtpError::NotADirectory => Reply::new(ReplyCode::FILE_UNAVAILABLE, format!("{subject}: Not a directory.")),
        FtpError::NoData(t) => Reply::new(ReplyCode::CANT_OPEN_DATA, t.clone()),
        FtpError::RestBeyondEnd(n) => {
            Reply::new(ReplyCode::INVALID_REST, format!("Restart offset {n} is beyond the end of the file."))
        }
        FtpError::NoSpace => Reply::new(ReplyCode::INSUFFICIENT_STORAGE, "Insufficient storage space."),
        FtpError::Local(t) => Reply::new(ReplyCode::LOCAL_ERROR, format!("Local error: {t}.")),
        FtpError::Timeout => Reply::new(ReplyCode::NOT_AVAILABLE, "Timeout."),
        FtpError::ShuttingDown => Reply::new(ReplyCode::NOT_AVAILABLE, "Server shutting down."),
        FtpError::ProxyRefused => {
            Reply::new(ReplyCode::NOT_AVAILABLE, "PROXY header refused: only a trusted proxy may send one.")
        }
        FtpError::HomeUnavailable => Reply::new(ReplyCode::NOT_AVAILABLE, "Home directory unavailable."),
        FtpError::TooManyUsers => Reply::new(ReplyCode::NOT_AVAILABLE, "Too many users, try again later."),
        FtpError::TooManyFromAddress => {
            Reply::new(ReplyCode::NOT_AVAILABLE, "Too many connections from your address, try again later.")
        }
        FtpError::NoServerReady => {
            Reply::new(ReplyCode::NOT_AVAILABLE, "Service not available: no server ready, try again later.")
        }
        FtpError::Reclaimed => Reply::new(
            ReplyCode::NOT_AVAILABLE,
            "Server full: connections not logged in make room for waiting clients.",
        ),
        FtpError::Banned(left) => Reply::new(
            ReplyCode::NOT_AVAILABLE,
            format!("Too many failed logins from your address, try again in {left} s."),
        ),
        FtpError::TooManyLogins => Reply::new(ReplyCode::NOT_AVAILABLE, "Too many logins at once, try again later."),
        FtpError::TransferAborted => Reply::new(ReplyCode::TRANSFER_ABORTED, "Connection closed; transfer aborted."),
        FtpError::ChecksumAborted => Reply::new(ReplyCode::TRANSFER_ABORTED, "Checksum aborted."),
        FtpError::EpsvAllOnly => Reply::new(ReplyCode::BAD_SEQUENCE, "Only EPSV is allowed after EPSV ALL."),
        FtpError::EpsvRelayed => {
            Reply::new(ReplyCode::NOT_IMPLEMENTED, "EPSV is not available through the load balancer; use PASV.")
        }
        FtpError::ProtocolNotSupported(family) => {
            let families = family.map_or("1,2".to_string(), |f| f.to_string());
            Reply::new(ReplyCode::PROTOCOL_NOT_SUPPORTED, format!("Network protocol not supported, use ({families})."))
        }
        FtpError::IllegalActive(verb) => Reply::new(ReplyCode::SYNTAX_ERROR, format!("Illegal {verb} command.")),
        FtpError::Security(code, text) => Reply::new(*code, *text),
        FtpError::DataTls(why) => Reply::new(ReplyCode::PROTOCOL_NOT_SUPPORTED, why.clone()),
        FtpError::QuotaExceeded => Reply::new(ReplyCode::EXCEEDED_STORAGE, "Quota exceeded."),
        FtpError::ReservedName => Reply::new(ReplyCode::BAD_FILE_NAME, "File name not allowed."),
    }
}

impl FtpError {
    /// The reply, when no path is concerned.
    pub fn reply(&self) -> Reply {
        reply_for(self, "")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_look_like_denials() {
        assert_eq!(errno_reply(Errno::EXDEV, "x").text(), "x: Permission denied.");
        assert_eq!(errno_reply(Errno::ELOOP, "x").code, ReplyCode::FILE_UNAVAILABLE);
    }

    #[test]
    fn disk_full_is_452() {
        assert_eq!(reply_for(&FtpError::from(Errno::ENOSPC), "f").code, ReplyCode::INSUFFICIENT_STORAGE);
        let io = io::Error::from_raw_os_error(libc::ENOSPC);
        assert_eq!(reply_for(&FtpError::from(io), "f").code, ReplyCode::INSUFFICIENT_STORAGE);
    }

    /// SIZE of a directory and CWD to a file: 550, naming the path.
    #[test]
    fn wrong_kinds_name_the_path() {
        let r = reply_for(&FtpError::Fs(JailError::NotRegularFile), "d");
        assert_eq!((r.code, r.text()), (ReplyCode::FILE_UNAVAILABLE, "d: Not a regular file.".to_string()));
        let r = reply_for(&FtpError::NotADirectory, "f");
        assert_eq!((r.code, r.text()), (ReplyCode::FILE_UNAVAILABLE, "f: Not a directory.".to_string()));
        assert_eq!(FtpError::NotADirectory.reply().text(), "Not a directory.");
    }

    /// RFC 959 4.2: 552 is "exceeded storage allocation".
    #[test]
    fn quota_and_reserved_names() {
        assert_eq!(FtpError::QuotaExceeded.reply().code, ReplyCode::EXCEEDED_STORAGE);
        assert_eq!(FtpError::ReservedName.reply().code, ReplyCode::BAD_FILE_NAME);
    }

    #[test]
    fn parse_errors_map_to_500_501_504_522() {
        assert_eq!(parse_error_reply(&ParseError::TooLong).code, ReplyCode::SYNTAX_ERROR);
        assert_eq!(parse_error_reply(&ParseError::NotUtf8).code, ReplyCode::SYNTAX_ERROR_ARGS);
        assert_eq!(parse_error_reply(&ParseError::Unsupported("MODE")).code, ReplyCode::NOT_IMPLEMENTED_FOR_PARAMETER);
        assert_eq!(parse_error_reply(&ParseError::Unsupported("EPRT")).code, ReplyCode::PROTOCOL_NOT_SUPPORTED);
        assert_eq!(parse_error_reply(&ParseError::ArgumentTooLong("RETR")).code, ReplyCode::BAD_FILE_NAME);
    }

    /// RFC 2428 section 2: 522 names the protocols the server can use.
    #[test]
    fn network_protocol_refusals_name_the_usable_ones() {
        assert_eq!(
            parse_error_reply(&ParseError::Unsupported("EPRT")).text(),
            "Network protocol not supported, use (1,2)."
        );
        assert_eq!(FtpError::ProtocolNotSupported(Some(2)).reply().text(), "Network protocol not supported, use (2).");
    }

    /// RFC 959 4.2: every reply that closes the connection is a 421.
    #[test]
    fn closing_failures_are_421() {
        for e in [
            FtpError::Timeout,
            FtpError::ShuttingDown,
            FtpError::ProxyRefused,
            FtpError::HomeUnavailable,
            FtpError::TooManyUsers,
            FtpError::TooManyFromAddress,
            FtpError::NoServerReady,
            FtpError::Reclaimed,
            FtpError::Banned(60),
            FtpError::TooManyLogins,
        ] {
            assert_eq!(e.reply().code, ReplyCode::NOT_AVAILABLE, "{e:?}");
        }
    }
}
