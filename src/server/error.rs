//! The one place where a failure becomes a reply. Each error kind documents
//! the reply it turns into.

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
    /// Commands in the wrong order: 503 with the text.
    BadSequence(&'static str),
    /// A path argument is unusable: 553.
    BadPath(PathError),
    /// The file system refused: mapped by [`errno_reply`].
    Fs(JailError),
    /// No PASV/PORT before a transfer, or the data connection failed: 425.
    NoData(String),
    /// REST beyond the end of the file: 554 (RFC 3659 section 5.4).
    RestBeyondEnd(u64),
    /// The disk is full: 452.
    NoSpace,
    /// Another failure on our side: 451 with the text.
    Local(String),
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
        ParseError::Unsupported("EPRT") => {
            return Reply::new(ReplyCode::PROTOCOL_NOT_SUPPORTED, "Network protocol not supported, use (1,2).")
        }
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
        FtpError::BadSequence(t) => Reply::new(ReplyCode::BAD_SEQUENCE, *t),
        FtpError::BadPath(PathError::TooLong) => Reply::new(ReplyCode::BAD_FILE_NAME, "Path too long."),
        FtpError::BadPath(PathError::Empty | PathError::Reserved) => {
            Reply::new(ReplyCode::BAD_FILE_NAME, "File name not allowed.")
        }
        FtpError::Fs(JailError::Os(n)) => errno_reply(*n, subject),
        FtpError::Fs(JailError::NotRegularFile) => {
            Reply::new(ReplyCode::FILE_UNAVAILABLE, format!("{subject}: Not a regular file."))
        }
        FtpError::Fs(JailError::IsRoot) => Reply::new(ReplyCode::FILE_UNAVAILABLE, "Permission denied."),
        FtpError::NoData(t) => Reply::new(ReplyCode::CANT_OPEN_DATA, t.clone()),
        FtpError::RestBeyondEnd(n) => {
            Reply::new(ReplyCode::INVALID_REST, format!("Restart offset {n} is beyond the end of the file."))
        }
        FtpError::NoSpace => Reply::new(ReplyCode::INSUFFICIENT_STORAGE, "Insufficient storage space."),
        FtpError::Local(t) => Reply::new(ReplyCode::LOCAL_ERROR, format!("Local error: {t}.")),
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

    #[test]
    fn parse_errors_map_to_500_501_504_522() {
        assert_eq!(parse_error_reply(&ParseError::TooLong).code, ReplyCode::SYNTAX_ERROR);
        assert_eq!(parse_error_reply(&ParseError::NotUtf8).code, ReplyCode::SYNTAX_ERROR_ARGS);
        assert_eq!(parse_error_reply(&ParseError::Unsupported("MODE")).code, ReplyCode::NOT_IMPLEMENTED_FOR_PARAMETER);
        assert_eq!(parse_error_reply(&ParseError::Unsupported("EPRT")).code, ReplyCode::PROTOCOL_NOT_SUPPORTED);
        assert_eq!(parse_error_reply(&ParseError::ArgumentTooLong("RETR")).code, ReplyCode::BAD_FILE_NAME);
    }
}
