//! FTP replies: named reply codes, encoding for the server and incremental
//! parsing for the client (RFC 959 section 4.2).
//!
//! This is the only file that spells reply numbers. A [`ReplyCode`] is a
//! number with a name, so a client can still carry the codes of servers that
//! use ones we never send.

use std::fmt;

use super::framer::fits;
use crate::limits::{MAX_REPLY_LINE, MAX_REPLY_LINES};

/// A three-digit FTP reply code (RFC 959 section 4.2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReplyCode(pub u16);

impl ReplyCode {
    /// 110: restart marker reply.
    pub const RESTART_MARKER: Self = Self(110);
    /// 120: service ready in nnn minutes.
    pub const SERVICE_READY_SOON: Self = Self(120);
    /// 125: data connection already open; transfer starting.
    pub const DATA_ALREADY_OPEN: Self = Self(125);
    /// 150: file status okay; about to open data connection.
    pub const FILE_STATUS_OK: Self = Self(150);
    /// 200: command okay.
    pub const COMMAND_OK: Self = Self(200);
    /// 202: command not implemented, superfluous at this site.
    pub const SUPERFLUOUS: Self = Self(202);
    /// 211: system status, or system help reply.
    pub const SYSTEM_STATUS: Self = Self(211);
    /// 212: directory status.
    pub const DIRECTORY_STATUS: Self = Self(212);
    /// 213: file status.
    pub const FILE_STATUS: Self = Self(213);
    /// 214: help message.
    pub const HELP: Self = Self(214);
    /// 215: NAME system type.
    pub const SYSTEM_TYPE: Self = Self(215);
    /// 220: service ready for new user.
    pub const SERVICE_READY: Self = Self(220);
    /// 221: service closing control connection.
    pub const CLOSING: Self = Self(221);
    /// 225: data connection open; no transfer in progress.
    pub const DATA_OPEN_NO_TRANSFER: Self = Self(225);
    /// 226: closing data connection; requested file action successful.
    pub const CLOSING_DATA: Self = Self(226);
    /// 227: entering passive mode (h1,h2,h3,h4,p1,p2).
    pub const PASSIVE_MODE: Self = Self(227);
    /// 229: entering extended passive mode (|||port|) (RFC 2428).
    pub const EXTENDED_PASSIVE_MODE: Self = Self(229);
    /// 230: user logged in, proceed.
    pub const LOGGED_IN: Self = Self(230);
    /// 250: requested file action okay, completed.
    pub const FILE_ACTION_OK: Self = Self(250);
    /// 257: "PATHNAME" created (also the reply to PWD).
    pub const PATH_CREATED: Self = Self(257);
    /// 331: user name okay, need password.
    pub const NEED_PASSWORD: Self = Self(331);
    /// 332: need account for login.
    pub const NEED_ACCOUNT: Self = Self(332);
    /// 350: requested file action pending further information.
    pub const PENDING: Self = Self(350);
    /// 421: service not available, closing control connection.
    pub const NOT_AVAILABLE: Self = Self(421);
    /// 425: can't open data connection.
    pub const CANT_OPEN_DATA: Self = Self(425);
    /// 426: connection closed; transfer aborted.
    pub const TRANSFER_ABORTED: Self = Self(426);
    /// 450: requested file action not taken; file unavailable (busy).
    pub const FILE_BUSY: Self = Self(450);
    /// 451: requested action aborted: local error in processing.
    pub const LOCAL_ERROR: Self = Self(451);
    /// 452: requested action not taken; insufficient storage space.
    pub const INSUFFICIENT_STORAGE: Self = Self(452);
    /// 500: syntax error, command unrecognized (also: line too long).
    pub const SYNTAX_ERROR: Self = Self(500);
    /// 501: syntax error in parameters or arguments.
    pub const SYNTAX_ERROR_ARGS: Self = Self(501);
    /// 502: command not implemented.
    pub const NOT_IMPLEMENTED: Self = Self(502);
    /// 503: bad sequence of commands.
    pub const BAD_SEQUENCE: Self = Self(503);
    /// 504: command not implemented for that parameter.
    pub const NOT_IMPLEMENTED_FOR_PARAMETER: Self = Self(504);
    /// 522: network protocol not supported (RFC 2428 section 2).
    pub const PROTOCOL_NOT_SUPPORTED: Self = Self(522);
    /// 234: security data exchange complete: AUTH TLS accepted, the TLS
    /// handshake follows (RFC 2228, RFC 4217 section 4).
    pub const AUTH_OK: Self = Self(234);
    /// 521: data connection cannot be opened with this PROT setting (RFC
    /// 4217 section 9: the server requires PROT P).
    pub const PROT_REQUIRED: Self = Self(521);
    /// 533: command protection level denied for policy reasons (RFC 2228).
    pub const PROTECTION_DENIED: Self = Self(533);
    /// 534: request denied for policy reasons (RFC 2228).
    pub const POLICY_DENIED: Self = Self(534);
    /// 536: requested PROT level not supported by the mechanism (RFC 2228).
    pub const PROT_NOT_SUPPORTED: Self = Self(536);
    /// 530: not logged in.
    pub const NOT_LOGGED_IN: Self = Self(530);
    /// 550: requested action not taken; file unavailable (not found, no access).
    pub const FILE_UNAVAILABLE: Self = Self(550);
    /// 552: requested file action aborted; exceeded storage allocation.
    pub const EXCEEDED_STORAGE: Self = Self(552);
    /// 553: requested action not taken; file name not allowed.
    pub const BAD_FILE_NAME: Self = Self(553);
    /// 554: requested action not taken: invalid REST parameter (RFC 3659 section 5.4).
    pub const INVALID_REST: Self = Self(554);

    /// The number itself.
    pub fn value(self) -> u16 {
        self.0
    }

    /// 1yz: positive preliminary (a transfer is starting, another reply follows).
    pub fn is_preliminary(self) -> bool {
        (100..200).contains(&self.0)
    }

    /// 2yz: positive completion.
    pub fn is_completion(self) -> bool {
        (200..300).contains(&self.0)
    }

    /// 3yz: positive intermediate (send the next command of the sequence).
    pub fn is_intermediate(self) -> bool {
        (300..400).contains(&self.0)
    }

    /// 4yz or 5yz: the command failed.
    pub fn is_failure(self) -> bool {
        self.0 >= 400
    }

    /// 5yz: the command failed and would fail again as it is (unknown or
    /// refused command, for instance): a client falls back to another one.
    pub fn is_permanent_failure(self) -> bool {
        (500..600).contains(&self.0)
    }
}

impl fmt::Display for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:03}", self.0)
    }
}

/// One reply: a code and one or more lines of text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The reply code.
    pub code: ReplyCode,
    /// The text lines, without code or line ending. Never empty.
    pub lines: Vec<String>,
}

impl Reply {
    /// A single-line reply.
    pub fn new(code: ReplyCode, text: impl Into<String>) -> Self {
        Reply { code, lines: vec![text.into()] }
    }

    /// A multi-line reply (RFC 959 section 4.2): `first` opens it, `last`
    /// closes it, `body` goes between.
    pub fn multi(code: ReplyCode, first: impl Into<String>, body: Vec<String>, last: impl Into<String>) -> Self {
        let mut lines = Vec::with_capacity(body.len() + 2);
        lines.push(first.into());
        lines.extend(body);
        lines.push(last.into());
        Reply { code, lines }
    }

    /// The text of all lines joined by newlines.
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }

    /// Appends the wire form of this reply to `out`.
    ///
    /// RFC 959 section 4.2: a multi-line reply starts with `code-`, ends with
    /// `code `; lines between are indented by one space so that none of them
    /// can be taken for the last line. CR and LF inside a line would end it
    /// early, so they are sent as NUL, as RFC 959 prescribes for path names.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let n = self.lines.len();
        for (i, line) in self.lines.iter().enumerate() {
            let clean = line.replace(['\r', '\n'], "\0");
            if n == 1 {
                out.extend_from_slice(format!("{} {}\r\n", self.code, clean).as_bytes());
            } else if i == 0 {
                out.extend_from_slice(format!("{}-{}\r\n", self.code, clean).as_bytes());
            } else if i == n - 1 {
                out.extend_from_slice(format!("{} {}\r\n", self.code, clean).as_bytes());
            } else {
                out.push(b' ');
                out.extend_from_slice(clean.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
        }
    }

    /// The wire form of this reply.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        self.encode_into(&mut out);
        out
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.lines.join(" / "))
    }
}

/// A path as a `257` reply (to PWD or MKD) names it: between double quotes,
/// a quote inside doubled (RFC 959 Appendix II). [`parse_quoted_path`]
/// reads it back.
pub fn quote_path(path: &str) -> String {
    format!("\"{}\"", path.replace('"', "\"\""))
}

/// The path in a `257` reply (to PWD or MKD): the text between the first
/// double quote and its closing quote, with `""` standing for one quote
/// (RFC 959 Appendix II). `None` when the reply holds no quoted path.
pub fn parse_quoted_path(text: &str) -> Option<String> {
    let start = text.find('"')? + 1;
    let mut out = String::new();
    let mut chars = text[start..].chars().peekable();
    while let Some(c) = chars.next() {
        if c == '"' {
            if chars.peek() == Some(&'"') {
                out.push('"');
                chars.next();
            } else {
                return Some(out);
            }
        } else {
            out.push(c);
        }
    }
    None
}

/// The size a server announces in the text of its `150` reply, as in
/// `Opening BINARY mode data connection for a.txt (1234 bytes).` (a habit of
/// wu-ftpd, vsftpd and ours; RFC 959 does not ask for it). Only a hint.
pub fn parse_size_hint(text: &str) -> Option<u64> {
    let end = text.rfind(" bytes)")?;
    let open = text[..end].rfind('(')?;
    text[open + 1..end].trim().parse().ok()
}

/// Why a server's reply could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyError {
    /// A line did not start with three digits where a reply had to start.
    Malformed(String),
    /// A line was longer than [`MAX_REPLY_LINE`] (CRLF included).
    LineTooLong,
    /// A multi-line reply went on past [`MAX_REPLY_LINES`].
    TooManyLines,
}

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplyError::Malformed(l) => write!(f, "malformed reply line: {l:?}"),
            ReplyError::LineTooLong => write!(f, "reply line longer than {MAX_REPLY_LINE} bytes"),
            ReplyError::TooManyLines => write!(f, "reply longer than {MAX_REPLY_LINES} lines"),
        }
    }
}

impl std::error::Error for ReplyError {}

/// Incremental reply parser for the client side: feed it lines, it yields a
/// [`Reply`] once the last line of one arrives (RFC 959 section 4.2).
#[derive(Debug, Default)]
pub struct ReplyParser {
    pending: Option<(ReplyCode, Vec<String>)>,
}

fn three_digits(line: &[u8]) -> Option<u16> {
    if line.len() >= 3 && line[..3].iter().all(u8::is_ascii_digit) {
        let n = (line[0] - b'0') as u16 * 100 + (line[1] - b'0') as u16 * 10 + (line[2] - b'0') as u16;
        Some(n)
    } else {
        None
    }
}

impl ReplyParser {
    /// A parser waiting for the first line of a reply.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one line (CRLF or LF already removed). Returns the reply when
    /// this line completes one.
    pub fn feed(&mut self, line: &[u8]) -> Result<Option<Reply>, ReplyError> {
        if !fits(line.len(), MAX_REPLY_LINE) {
            return Err(ReplyError::LineTooLong);
        }
        let text = |from: usize| String::from_utf8_lossy(line.get(from..).unwrap_or(&[])).into_owned();
        match self.pending.take() {
            None => {
                let code = three_digits(line).ok_or_else(|| ReplyError::Malformed(text(0)))?;
                match line.get(3) {
                    Some(b'-') => {
                        self.pending = Some((ReplyCode(code), vec![text(4)]));
                        Ok(None)
                    }
                    Some(b' ') | None => Ok(Some(Reply { code: ReplyCode(code), lines: vec![text(4)] })),
                    Some(_) => Err(ReplyError::Malformed(text(0))),
                }
            }
            Some((code, mut lines)) => {
                let last = three_digits(line) == Some(code.0) && matches!(line.get(3), Some(b' ') | None);
                if last {
                    lines.push(text(4));
                    return Ok(Some(Reply { code, lines }));
                }
                if lines.len() >= MAX_REPLY_LINES {
                    return Err(ReplyError::TooManyLines);
                }
                // Middle lines may repeat the code with a hyphen (`220-text`)
                // or be indented; both prefixes are dropped.
                let body = if three_digits(line) == Some(code.0) && line.get(3) == Some(&b'-') {
                    &line[4..]
                } else {
                    line.strip_prefix(b" ").unwrap_or(line)
                };
                lines.push(String::from_utf8_lossy(body).into_owned());
                self.pending = Some((code, lines));
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(wire: &[u8]) -> Vec<Reply> {
        let mut p = ReplyParser::new();
        let mut out = Vec::new();
        for line in wire.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if let Some(r) = p.feed(line).unwrap() {
                out.push(r);
            }
        }
        out
    }

    #[test]
    fn single_line_reply_encodes_code_space_text_crlf() {
        assert_eq!(Reply::new(ReplyCode::COMMAND_OK, "OK").encode(), b"200 OK\r\n");
    }

    /// RFC 959 4.2: multi-line replies open with `xyz-` and close with `xyz `.
    #[test]
    fn multi_line_reply_round_trips() {
        let r = Reply::multi(
            ReplyCode::SYSTEM_STATUS,
            "Features:",
            vec!["EPSV".into(), "211 looks like an end".into()],
            "End",
        );
        let wire = r.encode();
        assert_eq!(wire, b"211-Features:\r\n EPSV\r\n 211 looks like an end\r\n211 End\r\n");
        assert_eq!(parse_all(&wire), vec![r]);
    }

    #[test]
    fn line_breaks_inside_text_cannot_end_a_reply_early() {
        let wire = Reply::new(ReplyCode::FILE_UNAVAILABLE, "a\r\n200 fake").encode();
        assert_eq!(wire.iter().filter(|&&b| b == b'\n').count(), 1);
    }

    #[test]
    fn parser_reads_replies_of_other_servers() {
        let replies = parse_all(b"220-Welcome\r\n220-second\r\n220 ready\r\n331 Password\r\n");
        assert_eq!(replies.len(), 2);
        assert_eq!(replies[0].lines, vec!["Welcome", "second", "ready"]);
        assert_eq!(replies[1].code, ReplyCode::NEED_PASSWORD);
    }

    #[test]
    fn parser_rejects_garbage_and_bounds_lines() {
        assert!(ReplyParser::new().feed(b"hello").is_err());
        assert_eq!(ReplyParser::new().feed(&vec![b'2'; MAX_REPLY_LINE + 1]), Err(ReplyError::LineTooLong));
    }

    /// RFC 959 Appendix II: a quote inside the path is doubled.
    #[test]
    fn quoted_path_of_257_replies() {
        assert_eq!(quote_path("/say \"hi\""), "\"/say \"\"hi\"\"\"");
        assert_eq!(parse_quoted_path(r#""/docs" is the current directory."#), Some("/docs".into()));
        assert_eq!(parse_quoted_path(r#""/a ""b"" c" created."#), Some(r#"/a "b" c"#.into()));
        assert_eq!(parse_quoted_path("no quotes"), None);
        assert_eq!(parse_quoted_path(r#""unterminated"#), None);
    }

    #[test]
    fn size_hint_of_150_replies() {
        assert_eq!(parse_size_hint("Opening BINARY mode data connection for a b.txt (1234 bytes)."), Some(1234));
        assert_eq!(parse_size_hint("Data connection already open. Transfer starting."), None);
        assert_eq!(parse_size_hint("x (many bytes)"), None);
    }

    #[test]
    fn code_classes() {
        assert!(ReplyCode::FILE_STATUS_OK.is_preliminary());
        assert!(ReplyCode::CLOSING_DATA.is_completion());
        assert!(ReplyCode::PENDING.is_intermediate());
        assert!(ReplyCode::FILE_UNAVAILABLE.is_failure());
        assert!(ReplyCode::NOT_IMPLEMENTED.is_permanent_failure());
        assert!(!ReplyCode::CANT_OPEN_DATA.is_permanent_failure());
        assert_eq!(ReplyCode(5).to_string(), "005");
    }
}
