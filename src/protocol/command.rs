//! FTP commands: a pure, bounded parser from one control line to a
//! [`Command`], and the encoding the client sends (RFC 959 section 4.1,
//! RFC 2389, RFC 2428, RFC 3659, RFC 2640; and the drafts of the server
//! extensions sync tools use: MFMT and MFF (draft-somers-ftp-mfxx), HASH
//! (draft-bryan-ftpext-hash), RANG (draft-bryan-ftp-range), AVBL
//! (draft-peterson-streamlined-ftp-command-extensions), and SITE).
//!
//! The parser knows nothing of sessions: whether a command is allowed now is
//! the session's business. An unknown verb is a value ([`Command::Unknown`]),
//! not an error.
//!
//! This file holds the commands and their encoding; `parser` the parser.

mod parser;

use std::fmt;
use std::net::SocketAddr;

use super::address;
use super::checksum::Algo;
use super::time::time_val;
use crate::limits::MAX_COMMAND_LINE;

pub use parser::{parse, strip_ls_options, strip_telnet, SITE_COMMANDS, VERBS};

/// A password, kept out of logs: its `Debug` and `Display` print stars.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Password(String);

impl Password {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Password(secret.into())
    }

    /// The secret itself, for comparison or to send it on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(****)")
    }
}

impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

/// Representation type (RFC 959 section 3.1.1, command TYPE).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferType {
    /// `TYPE A` (optionally `A N`): text, lines end in CRLF on the wire.
    Ascii,
    /// `TYPE I` (also `L 8`): bytes as they are.
    Image,
}

/// Argument of EPSV (RFC 2428 section 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EpsvArg {
    /// No argument: the protocol of the control connection.
    Any,
    /// `EPSV 1` (IPv4) or `EPSV 2` (IPv6).
    Protocol(u8),
    /// `EPSV ALL`: from now on only EPSV may set up data connections.
    All,
}

/// What `SITE` asks for (RFC 959 4.1.3 leaves its subcommands to the server).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SiteCommand {
    /// `SITE CHMOD mode path`: the permission bits only (0-777, octal).
    Chmod(u32, String),
    /// `SITE UMASK [mask]`: shows, or sets (octal, 0-777), the mask of new
    /// files and directories.
    Umask(Option<u32>),
    /// `SITE HELP`: the subcommands.
    Help,
    /// A subcommand we do not have, upper-cased.
    Unknown(String),
}

/// The facts an MFF command sets (draft-somers-ftp-mfxx section 4); at
/// least one is there.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MffFacts {
    /// `modify=YYYYMMDDHHMMSS`: the modification time, seconds since the epoch.
    pub modify: Option<i64>,
    /// `UNIX.mode=0644`: the permission bits (0-777).
    pub mode: Option<u32>,
}

/// One parsed FTP command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// USER name (RFC 959 4.1.1).
    User(String),
    /// PASS password.
    Pass(Password),
    /// ACCT account.
    Acct(String),
    /// QUIT.
    Quit,
    /// NOOP.
    Noop,
    /// SYST.
    Syst,
    /// FEAT (RFC 2389 section 3).
    Feat,
    /// OPTS name \[value\] (RFC 2389 section 4): the option name upper-cased.
    Opts(String, Option<String>),
    /// HELP \[command\].
    Help(Option<String>),
    /// STAT \[path\].
    Stat(Option<String>),
    /// PWD or XPWD.
    Pwd,
    /// CWD or XCWD.
    Cwd(String),
    /// CDUP or XCUP.
    Cdup,
    /// TYPE.
    Type(TransferType),
    /// MODE: only `S` (stream) is supported; the letter as given.
    Mode(char),
    /// STRU: only `F` (file) is supported; the letter as given.
    Stru(char),
    /// PASV.
    Pasv,
    /// EPSV (RFC 2428 section 3).
    Epsv(EpsvArg),
    /// PORT h1,h2,h3,h4,p1,p2.
    Port(SocketAddr),
    /// EPRT |proto|addr|port| (RFC 2428 section 2).
    Eprt(SocketAddr),
    /// LIST \[path\]; `ls` options such as `-la` are removed.
    List(Option<String>),
    /// NLST \[path\]; `ls` options removed.
    Nlst(Option<String>),
    /// MLSD \[path\] (RFC 3659 section 7).
    Mlsd(Option<String>),
    /// MLST \[path\] (RFC 3659 section 7).
    Mlst(Option<String>),
    /// RETR path.
    Retr(String),
    /// STOR path.
    Stor(String),
    /// STOU [name hint].
    Stou(Option<String>),
    /// APPE path.
    Appe(String),
    /// REST offset (RFC 3659 section 5: stream-mode restart).
    Rest(u64),
    /// SIZE path (RFC 3659 section 4).
    Size(String),
    /// MDTM path (RFC 3659 section 3).
    Mdtm(String),
    /// DELE path.
    Dele(String),
    /// MKD or XMKD path.
    Mkd(String),
    /// RMD or XRMD path.
    Rmd(String),
    /// RNFR path.
    Rnfr(String),
    /// RNTO path.
    Rnto(String),
    /// ABOR.
    Abor,
    /// ALLO (accepted, nothing to reserve).
    Allo,
    /// AUTH mechanism (RFC 2228, RFC 4217 section 4): upper-cased, `TLS`
    /// or its alias `SSL` (and `TLS-C`, `TLS-P` of old drafts).
    Auth(String),
    /// PBSZ size (RFC 2228, RFC 4217 section 8): 0 for TLS.
    Pbsz(u64),
    /// PROT level (RFC 2228, RFC 4217 section 9): the letter, upper-cased
    /// (`C` clear, `P` private; `S`, `E` are not used with TLS).
    Prot(char),
    /// CCC: clear the command channel (RFC 4217 section 6).
    Ccc,
    /// MFMT time path (draft-somers-ftp-mfxx section 3): set the
    /// modification time, in seconds since the epoch (UTC).
    Mfmt(i64, String),
    /// MFF facts path (draft-somers-ftp-mfxx section 4): the facts to set,
    /// of those we can (`modify`, `UNIX.mode`).
    Mff(MffFacts, String),
    /// HASH path (draft-bryan-ftpext-hash section 3): the checksum with the
    /// algorithm `OPTS HASH` selected.
    Hash(String),
    /// XSHA256, XSHA512, XSHA1, XMD5, XCRC path: the checksum with the
    /// verb's algorithm.
    XHash(Algo, String),
    /// RANG first last (draft-bryan-ftp-range): the octets, inclusive, of
    /// the next RETR or HASH; `RANG 1 0` resets.
    Rang(u64, u64),
    /// AVBL \[path\]: bytes free for this user's uploads.
    Avbl(Option<String>),
    /// SITE subcommand.
    Site(SiteCommand),
    /// A verb we do not implement, upper-cased.
    Unknown(String),
}

/// Why a control line is not a valid command. Each variant documents the
/// reply the server gives (see `server::error::parse_error_reply`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// The line is longer than [`MAX_COMMAND_LINE`]: 500.
    TooLong,
    /// The line holds no verb: 500.
    Empty,
    /// The line is not UTF-8 (RFC 2640 asks for UTF-8): 501.
    NotUtf8,
    /// The line holds a NUL byte, which no path may contain: 501.
    Nul,
    /// The verb is not made of letters: 500.
    BadVerb,
    /// The command needs an argument and has none: 501.
    MissingArgument(&'static str),
    /// The command takes no argument and got one: 501.
    UnexpectedArgument(&'static str),
    /// The argument is malformed: 501, with the reason.
    BadArgument(&'static str, &'static str),
    /// TYPE, MODE or STRU with a value we do not implement: 504.
    Unsupported(&'static str),
    /// An argument longer than its limit: 501 (or 553 for paths).
    ArgumentTooLong(&'static str),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::TooLong => write!(f, "Command line too long (max {MAX_COMMAND_LINE} bytes)."),
            ParseError::Empty => write!(f, "Empty command."),
            ParseError::NotUtf8 => write!(f, "Command is not valid UTF-8."),
            ParseError::Nul => write!(f, "Command contains a NUL byte."),
            ParseError::BadVerb => write!(f, "Unknown command."),
            ParseError::MissingArgument(v) => write!(f, "{v} needs an argument."),
            ParseError::UnexpectedArgument(v) => write!(f, "{v} takes no argument."),
            ParseError::BadArgument(v, why) => write!(f, "{v}: {why}."),
            ParseError::Unsupported(v) => write!(f, "{v} not implemented for that parameter."),
            ParseError::ArgumentTooLong(v) => write!(f, "{v}: argument too long."),
        }
    }
}

impl std::error::Error for ParseError {}

impl MffFacts {
    /// `modify=YYYYMMDDHHMMSS;UNIX.mode=0644;`: the facts as MFF sends them
    /// and its 213 reply repeats them.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Some(t) = self.modify {
            out.push_str(&format!("modify={};", time_val(t)));
        }
        if let Some(m) = self.mode {
            out.push_str(&format!("UNIX.mode={m:04o};"));
        }
        out
    }
}

impl Command {
    /// The line the client sends for this command, without CRLF.
    pub fn to_line(&self) -> String {
        use Command as C;
        let with = |v: &str, a: &str| format!("{v} {a}");
        let opt = |v: &str, a: &Option<String>| match a {
            Some(a) => format!("{v} {a}"),
            None => v.to_string(),
        };
        match self {
            C::User(u) => with("USER", u),
            C::Pass(p) => with("PASS", p.expose()),
            C::Acct(a) => with("ACCT", a),
            C::Quit => "QUIT".into(),
            C::Noop => "NOOP".into(),
            C::Syst => "SYST".into(),
            C::Feat => "FEAT".into(),
            C::Opts(n, v) => opt(&format!("OPTS {n}"), v),
            C::Help(c) => opt("HELP", c),
            C::Stat(p) => opt("STAT", p),
            C::Pwd => "PWD".into(),
            C::Cwd(p) => with("CWD", p),
            C::Cdup => "CDUP".into(),
            C::Type(TransferType::Ascii) => "TYPE A".into(),
            C::Type(TransferType::Image) => "TYPE I".into(),
            C::Mode(m) => format!("MODE {m}"),
            C::Stru(s) => format!("STRU {s}"),
            C::Pasv => "PASV".into(),
            C::Epsv(EpsvArg::Any) => "EPSV".into(),
            C::Epsv(EpsvArg::All) => "EPSV ALL".into(),
            C::Epsv(EpsvArg::Protocol(p)) => format!("EPSV {p}"),
            C::Port(SocketAddr::V4(a)) => with("PORT", &address::format_host_port(*a.ip(), a.port())),
            C::Port(a) | C::Eprt(a) => with("EPRT", &address::format_eprt(*a)),
            C::List(p) => opt("LIST", p),
            C::Nlst(p) => opt("NLST", p),
            C::Mlsd(p) => opt("MLSD", p),
            C::Mlst(p) => opt("MLST", p),
            C::Retr(p) => with("RETR", p),
            C::Stor(p) => with("STOR", p),
            C::Stou(p) => opt("STOU", p),
            C::Appe(p) => with("APPE", p),
            C::Rest(n) => format!("REST {n}"),
            C::Size(p) => with("SIZE", p),
            C::Mdtm(p) => with("MDTM", p),
            C::Dele(p) => with("DELE", p),
            C::Mkd(p) => with("MKD", p),
            C::Rmd(p) => with("RMD", p),
            C::Rnfr(p) => with("RNFR", p),
            C::Rnto(p) => with("RNTO", p),
            C::Abor => "ABOR".into(),
            C::Allo => "ALLO".into(),
            C::Auth(m) => with("AUTH", m),
            C::Pbsz(n) => format!("PBSZ {n}"),
            C::Prot(l) => format!("PROT {l}"),
            C::Ccc => "CCC".into(),
            C::Mfmt(t, p) => format!("MFMT {} {p}", time_val(*t)),
            C::Mff(f, p) => format!("MFF {} {p}", f.encode()),
            C::Hash(p) => with("HASH", p),
            C::XHash(a, p) => with(a.x_verb(), p),
            C::Rang(a, b) => format!("RANG {a} {b}"),
            C::Avbl(p) => opt("AVBL", p),
            C::Site(SiteCommand::Chmod(m, p)) => format!("SITE CHMOD {m:03o} {p}"),
            C::Site(SiteCommand::Umask(None)) => "SITE UMASK".into(),
            C::Site(SiteCommand::Umask(Some(m))) => format!("SITE UMASK {m:03o}"),
            C::Site(SiteCommand::Help) => "SITE HELP".into(),
            C::Site(SiteCommand::Unknown(s)) => with("SITE", s),
            C::Unknown(v) => v.clone(),
        }
    }

    /// The wire form: the line and CRLF.
    pub fn encode(&self) -> Vec<u8> {
        let mut line = self.to_line().into_bytes();
        line.extend_from_slice(b"\r\n");
        line
    }

    /// The verb as the log shows it, with the argument, the password hidden.
    pub fn loggable(&self) -> String {
        match self {
            Command::Pass(_) => "PASS ****".to_string(),
            other => other.to_line(),
        }
    }

    /// The verb alone.
    pub fn verb(&self) -> String {
        let line = self.to_line();
        line.split(' ').next().unwrap_or("").to_string()
    }
}

#[cfg(test)]
mod tests;
