//! Why a client command failed, and the one place where a failure becomes
//! the line the user reads.
//!
//! Each kind says what the shell does with it: a refusal or a local error
//! fails the command and the session goes on; a lost connection ends the
//! session (or, at the prompt, offers `reconnect`); an interrupt returns to
//! the prompt.

use std::fmt;
use std::io;

use crate::protocol::Reply;

/// Why a command failed.
#[derive(Debug)]
pub enum ClientError {
    /// The server refused: its reply, shown as it is (`550 a.txt: No such
    /// file or directory.`).
    Refused(Reply),
    /// A local file or directory could not be used: what, and why.
    Local(String, io::Error),
    /// The control connection is gone (closed, reset, timed out, `421`, or
    /// replies that are not FTP): the session cannot go on.
    Lost(String),
    /// Not connected (after a lost connection, before `reconnect`).
    NotConnected,
    /// Ctrl-C: the command was stopped.
    Interrupted,
    /// The command was used wrongly; the text says how to use it.
    Usage(String),
    /// Anything else that failed, said in words.
    Failed(String),
}

impl ClientError {
    /// A local error about `what` (a path, usually).
    pub fn local(what: impl fmt::Display, e: io::Error) -> Self {
        ClientError::Local(what.to_string(), e)
    }

    /// True when the control connection cannot be used any more.
    pub fn is_lost(&self) -> bool {
        matches!(self, ClientError::Lost(_))
    }
}

/// The text of an I/O error without Rust's `(os error N)` tail.
pub fn io_text(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => nix::errno::Errno::from_raw(n).desc().to_string(),
        None => e.to_string(),
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Refused(r) => write!(f, "{r}"),
            ClientError::Local(what, e) => write!(f, "{what}: {}", io_text(e)),
            ClientError::Lost(why) => write!(f, "Connection lost: {why}"),
            ClientError::NotConnected => write!(f, "Not connected. Type 'reconnect' to connect again, or 'bye'."),
            ClientError::Interrupted => write!(f, "Interrupted."),
            ClientError::Usage(u) => write!(f, "{u}"),
            ClientError::Failed(why) => write!(f, "{why}"),
        }
    }
}

impl std::error::Error for ClientError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ReplyCode;

    #[test]
    fn a_refusal_reads_as_the_servers_reply() {
        let e = ClientError::Refused(Reply::new(ReplyCode::FILE_UNAVAILABLE, "a.txt: No such file or directory."));
        assert_eq!(e.to_string(), "550 a.txt: No such file or directory.");
    }

    #[test]
    fn local_errors_name_the_file_without_os_error_numbers() {
        let e = ClientError::local("x.bin", io::Error::from_raw_os_error(libc::EACCES));
        assert_eq!(e.to_string(), "x.bin: Permission denied");
    }
}
