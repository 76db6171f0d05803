//! The parser of control lines (RFC 959 section 4.1, and the extensions
//! [`Command`] lists): one line, as bytes, to a [`Command`] or a
//! [`ParseError`], bounded and pure. Telnet sequences are removed first
//! (RFC 959 section 4.1.3, RFC 854), `ls` options from LIST and NLST;
//! [`VERBS`] and [`SITE_COMMANDS`] name what it knows, for HELP.

use std::net::SocketAddr;

use super::{Command, EpsvArg, MffFacts, ParseError, Password, SiteCommand, TransferType};
use crate::limits::{MAX_COMMAND_LINE, MAX_PATH, MAX_USER_NAME};
use crate::protocol::address::{self, EprtError};
use crate::protocol::checksum::Algo;
use crate::protocol::framer::fits;
use crate::protocol::time;

/// Every verb [`parse`] knows, for HELP (the others are [`Command::Unknown`]).
pub const VERBS: &[&str] = &[
    "ABOR", "ACCT", "ALLO", "APPE", "AUTH", "AVBL", "CCC", "CDUP", "CWD", "DELE", "EPRT", "EPSV", "FEAT", "HASH",
    "HELP", "LIST", "MDTM", "MFF", "MFMT", "MKD", "MLSD", "MLST", "MODE", "NLST", "NOOP", "OPTS", "PASS", "PASV",
    "PBSZ", "PORT", "PROT", "PWD", "QUIT", "RANG", "REST", "RETR", "RMD", "RNFR", "RNTO", "SITE", "SIZE", "STAT",
    "STOR", "STOU", "STRU", "SYST", "TYPE", "USER", "XCRC", "XCUP", "XCWD", "XMD5", "XMKD", "XPWD", "XRMD", "XSHA1",
    "XSHA256", "XSHA512",
];

/// Every subcommand of SITE, for `SITE HELP`.
pub const SITE_COMMANDS: &[&str] = &["CHMOD", "HELP", "UMASK"];

/// Telnet "interpret as command" byte (RFC 854).
const IAC: u8 = 0xFF;

/// Removes Telnet sequences from a control line (RFC 959 section 4.1.3: ABOR
/// may be preceded by Telnet IP and Synch). `IAC IAC` is a literal 0xFF;
/// `IAC WILL/WONT/DO/DONT x` is three bytes; other `IAC x` with x >= 240 is
/// two; a stray IAC before a plain byte (its partner taken as urgent data)
/// is dropped alone.
pub fn strip_telnet(line: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if !line.contains(&IAC) {
        return std::borrow::Cow::Borrowed(line);
    }
    let mut out = Vec::with_capacity(line.len());
    let mut i = 0;
    while i < line.len() {
        if line[i] != IAC {
            out.push(line[i]);
            i += 1;
            continue;
        }
        match line.get(i + 1) {
            Some(&IAC) => {
                out.push(IAC);
                i += 2;
            }
            Some(&(251..=254)) => i += 3,
            Some(&(240..=250)) => i += 2,
            _ => i += 1,
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Parses one control line (with or without its CRLF or LF) into a command.
///
/// The line may be [`MAX_COMMAND_LINE`] bytes long with a CRLF, whichever
/// terminator it has: the framer's limit ([`framer::fits`](fits)), so that
/// every line accepted is re-encoded by [`Command::encode`] within it.
pub fn parse(line: &[u8]) -> Result<Command, ParseError> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if !fits(line.len(), MAX_COMMAND_LINE) {
        return Err(ParseError::TooLong);
    }
    let line = strip_telnet(line);
    if line.contains(&0) {
        return Err(ParseError::Nul);
    }
    let line = std::str::from_utf8(&line).map_err(|_| ParseError::NotUtf8)?;
    // Leading blanks are tolerated (some clients send them after Telnet IP).
    let line = line.trim_start_matches([' ', '\t']);
    let (verb, arg) = match line.find(' ') {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => (line, ""),
    };
    if verb.is_empty() {
        return Err(ParseError::Empty);
    }
    // Letters, then digits for the X verbs (XMD5, XSHA256).
    let digits = verb.bytes().rev().take_while(u8::is_ascii_digit).count();
    let letters = &verb.as_bytes()[..verb.len() - digits];
    if verb.len() > 8 || letters.is_empty() || !letters.iter().all(u8::is_ascii_alphabetic) {
        return Err(ParseError::BadVerb);
    }
    // Upper-cased on the stack (at most 8 ASCII bytes, checked above): no
    // allocation per command.
    let mut upper = [0u8; 8];
    let upper = &mut upper[..verb.len()];
    upper.copy_from_slice(verb.as_bytes());
    upper.make_ascii_uppercase();
    let verb = std::str::from_utf8(upper).map_err(|_| ParseError::BadVerb)?;
    let arg = if arg.is_empty() { None } else { Some(arg) };
    parse_verb(verb, arg)
}

/// The shape of the decimal numbers of REST, PBSZ and RANG: 1 to 20 ASCII
/// digits (a `u64`'s width; no sign, which `u64::from_str` would take). A
/// number of that shape may still be too large for a `u64`.
fn decimal(w: &str) -> bool {
    (1..=20).contains(&w.len()) && w.bytes().all(|b| b.is_ascii_digit())
}

fn none(v: &'static str, arg: Option<&str>) -> Result<(), ParseError> {
    match arg {
        Some(a) if !a.trim().is_empty() => Err(ParseError::UnexpectedArgument(v)),
        _ => Ok(()),
    }
}

fn path(v: &'static str, arg: Option<&str>) -> Result<String, ParseError> {
    match arg {
        None => Err(ParseError::MissingArgument(v)),
        Some(a) if a.len() > MAX_PATH => Err(ParseError::ArgumentTooLong(v)),
        Some(a) => Ok(a.to_string()),
    }
}

fn opt_path(v: &'static str, arg: Option<&str>) -> Result<Option<String>, ParseError> {
    match arg {
        None => Ok(None),
        Some(a) if a.len() > MAX_PATH => Err(ParseError::ArgumentTooLong(v)),
        Some(a) => Ok(Some(a.to_string())),
    }
}

/// Removes `ls`-style options (`-la`, `-a -l`) that clients such as lftp and
/// FileZilla put before the path of LIST and NLST. A lone `-` is a name.
pub fn strip_ls_options(arg: Option<String>) -> Option<String> {
    let mut rest = arg?;
    loop {
        let trimmed = rest.trim_start();
        if trimmed.starts_with('-') && trimmed.len() > 1 {
            let end = trimmed.find(' ').unwrap_or(trimmed.len());
            let opt = &trimmed[1..end];
            if !opt.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Some(rest);
            }
            rest = trimmed[end..].to_string();
        } else {
            let t = trimmed.to_string();
            return if t.is_empty() { None } else { Some(t) };
        }
    }
}

fn parse_verb(verb: &str, arg: Option<&str>) -> Result<Command, ParseError> {
    use Command as C;
    Ok(match verb {
        "USER" => {
            let name = arg.ok_or(ParseError::MissingArgument("USER"))?;
            if name.len() > MAX_USER_NAME {
                return Err(ParseError::ArgumentTooLong("USER"));
            }
            C::User(name.to_string())
        }
        "PASS" => C::Pass(Password::new(arg.unwrap_or(""))),
        "ACCT" => C::Acct(path("ACCT", arg)?),
        "QUIT" => none("QUIT", arg).map(|_| C::Quit)?,
        "NOOP" => none("NOOP", arg).map(|_| C::Noop)?,
        "SYST" => none("SYST", arg).map(|_| C::Syst)?,
        "FEAT" => none("FEAT", arg).map(|_| C::Feat)?,
        "OPTS" => {
            let a = arg.map(str::trim).filter(|a| !a.is_empty()).ok_or(ParseError::MissingArgument("OPTS"))?;
            let (name, value) = match a.find(' ') {
                Some(i) => (&a[..i], Some(a[i + 1..].trim().to_string())),
                None => (a, None),
            };
            C::Opts(name.to_ascii_uppercase(), value.filter(|v| !v.is_empty()))
        }
        "HELP" => C::Help(arg.map(|a| a.trim().to_ascii_uppercase()).filter(|a| !a.is_empty())),
        "STAT" => C::Stat(opt_path("STAT", arg)?),
        "PWD" | "XPWD" => none("PWD", arg).map(|_| C::Pwd)?,
        "CWD" | "XCWD" => C::Cwd(path("CWD", arg)?),
        "CDUP" | "XCUP" => none("CDUP", arg).map(|_| C::Cdup)?,
        "TYPE" => C::Type(parse_type(arg)?),
        "MODE" => C::Mode(single_letter("MODE", arg, 'S')?),
        "STRU" => C::Stru(single_letter("STRU", arg, 'F')?),
        "PASV" => none("PASV", arg).map(|_| C::Pasv)?,
        "EPSV" => C::Epsv(parse_epsv(arg)?),
        "PORT" => C::Port(parse_port(arg.ok_or(ParseError::MissingArgument("PORT"))?)?),
        "EPRT" => C::Eprt(parse_eprt(arg.ok_or(ParseError::MissingArgument("EPRT"))?)?),
        "LIST" => C::List(strip_ls_options(opt_path("LIST", arg)?)),
        "NLST" => C::Nlst(strip_ls_options(opt_path("NLST", arg)?)),
        "MLSD" => C::Mlsd(opt_path("MLSD", arg)?),
        "MLST" => C::Mlst(opt_path("MLST", arg)?),
        "RETR" => C::Retr(path("RETR", arg)?),
        "STOR" => C::Stor(path("STOR", arg)?),
        "STOU" => C::Stou(opt_path("STOU", arg)?),
        "APPE" => C::Appe(path("APPE", arg)?),
        "REST" => {
            let a = arg.ok_or(ParseError::MissingArgument("REST"))?.trim();
            if !decimal(a) {
                return Err(ParseError::BadArgument("REST", "offset must be a decimal number"));
            }
            C::Rest(a.parse().map_err(|_| ParseError::BadArgument("REST", "offset too large"))?)
        }
        "SIZE" => C::Size(path("SIZE", arg)?),
        "MDTM" => C::Mdtm(path("MDTM", arg)?),
        "DELE" => C::Dele(path("DELE", arg)?),
        "MKD" | "XMKD" => C::Mkd(path("MKD", arg)?),
        "RMD" | "XRMD" => C::Rmd(path("RMD", arg)?),
        "RNFR" => C::Rnfr(path("RNFR", arg)?),
        "RNTO" => C::Rnto(path("RNTO", arg)?),
        "ABOR" => C::Abor,
        "ALLO" => C::Allo,
        "AUTH" => {
            let a = arg.map(str::trim).filter(|a| !a.is_empty()).ok_or(ParseError::MissingArgument("AUTH"))?;
            if a.len() > 16 {
                return Err(ParseError::ArgumentTooLong("AUTH"));
            }
            C::Auth(a.to_ascii_uppercase())
        }
        "PBSZ" => {
            let a = arg.ok_or(ParseError::MissingArgument("PBSZ"))?.trim();
            if !decimal(a) {
                return Err(ParseError::BadArgument("PBSZ", "size must be a decimal number"));
            }
            C::Pbsz(a.parse().unwrap_or(u64::MAX))
        }
        "PROT" => {
            let a = arg.ok_or(ParseError::MissingArgument("PROT"))?.trim();
            let mut chars = a.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) if c.is_ascii_alphabetic() => C::Prot(c.to_ascii_uppercase()),
                _ => return Err(ParseError::BadArgument("PROT", "expected C or P")),
            }
        }
        "CCC" => none("CCC", arg).map(|_| C::Ccc)?,
        "MFMT" => {
            let a = arg.ok_or(ParseError::MissingArgument("MFMT"))?;
            let (secs, name) =
                time::split_time_arg(a).ok_or(ParseError::BadArgument("MFMT", "expected YYYYMMDDHHMMSS and a path"))?;
            C::Mfmt(secs, path("MFMT", Some(name))?)
        }
        "MFF" => parse_mff(arg.ok_or(ParseError::MissingArgument("MFF"))?)?,
        "HASH" => C::Hash(path("HASH", arg)?),
        "XSHA256" | "XSHA512" | "XSHA1" | "XMD5" | "XCRC" => {
            let algo = Algo::from_x_verb(verb).ok_or(ParseError::BadVerb)?;
            C::XHash(algo, path(algo.x_verb(), arg)?)
        }
        "RANG" => parse_rang(arg.ok_or(ParseError::MissingArgument("RANG"))?)?,
        "AVBL" => C::Avbl(opt_path("AVBL", arg)?),
        "SITE" => C::Site(parse_site(arg.ok_or(ParseError::MissingArgument("SITE"))?)?),
        other => C::Unknown(other.to_string()),
    })
}

/// `MFF fact=value;fact=value; path` (draft-somers-ftp-mfxx section 4).
/// A fact we cannot set is `Unsupported` (504), before anything is set.
fn parse_mff(arg: &str) -> Result<Command, ParseError> {
    const SYNTAX: ParseError = ParseError::BadArgument("MFF", "expected fact=value; and a path");
    let (facts, name) = arg.split_once("; ").ok_or(SYNTAX)?;
    let mut out = MffFacts::default();
    for fact in facts.split(';') {
        let (k, v) = fact.split_once('=').ok_or(SYNTAX)?;
        if k.eq_ignore_ascii_case("modify") {
            let t = time::parse_time_val(v).ok_or(ParseError::BadArgument("MFF", "modify= takes YYYYMMDDHHMMSS"))?;
            out.modify = Some(t);
        } else if k.eq_ignore_ascii_case("UNIX.mode") {
            out.mode = Some(octal_mode("MFF", v)?);
        } else if k.is_empty() {
            return Err(SYNTAX);
        } else {
            return Err(ParseError::Unsupported("MFF"));
        }
    }
    Ok(Command::Mff(out, path("MFF", Some(name))?))
}

/// `RANG first last` (draft-bryan-ftp-range section 3): two decimal
/// numbers, first <= last, or `1 0` to reset.
fn parse_rang(arg: &str) -> Result<Command, ParseError> {
    const SYNTAX: ParseError = ParseError::BadArgument("RANG", "expected two octet positions");
    let num = |w: Option<&str>| -> Result<u64, ParseError> {
        w.filter(|w| decimal(w)).ok_or(SYNTAX)?.parse().map_err(|_| SYNTAX)
    };
    let mut words = arg.split_ascii_whitespace();
    let (first, last) = (num(words.next())?, num(words.next())?);
    if words.next().is_some() {
        return Err(SYNTAX);
    }
    if first > last && (first, last) != (1, 0) {
        return Err(ParseError::BadArgument("RANG", "the first octet comes after the last"));
    }
    Ok(Command::Rang(first, last))
}

/// An octal mode of permission bits only: 1 to 4 digits, at most 0777.
fn octal_mode(v: &'static str, word: &str) -> Result<u32, ParseError> {
    if word.is_empty() || word.len() > 4 || !word.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Err(ParseError::BadArgument(v, "expected an octal mode"));
    }
    let mode = u32::from_str_radix(word, 8).map_err(|_| ParseError::BadArgument(v, "expected an octal mode"))?;
    // Security: setuid, setgid and sticky are never a client's to set.
    if mode > 0o777 {
        return Err(ParseError::BadArgument(v, "only the permission bits 0-777 may be set"));
    }
    Ok(mode)
}

/// `SITE CHMOD mode path`, `SITE UMASK [mask]`, `SITE HELP`.
fn parse_site(arg: &str) -> Result<SiteCommand, ParseError> {
    let arg = arg.trim_start();
    let (sub, rest) = arg.split_once(' ').unwrap_or((arg, ""));
    let sub = sub.to_ascii_uppercase();
    Ok(match sub.as_str() {
        "" => return Err(ParseError::MissingArgument("SITE")),
        "CHMOD" => {
            let rest = rest.trim_start();
            let (mode, name) = rest.split_once(' ').ok_or(ParseError::MissingArgument("SITE CHMOD"))?;
            SiteCommand::Chmod(octal_mode("SITE CHMOD", mode)?, path("SITE CHMOD", Some(name))?)
        }
        "UMASK" => match rest.trim() {
            "" => SiteCommand::Umask(None),
            m => SiteCommand::Umask(Some(octal_mode("SITE UMASK", m)?)),
        },
        "HELP" => SiteCommand::Help,
        _ if sub.len() > 16 => SiteCommand::Unknown(sub[..16].to_string()),
        _ => SiteCommand::Unknown(sub),
    })
}

fn parse_type(arg: Option<&str>) -> Result<TransferType, ParseError> {
    let a = arg.ok_or(ParseError::MissingArgument("TYPE"))?.trim().to_ascii_uppercase();
    let mut words = a.split_ascii_whitespace();
    let kind = words.next().unwrap_or("");
    let param = words.next();
    if words.next().is_some() {
        return Err(ParseError::BadArgument("TYPE", "too many parameters"));
    }
    match (kind, param) {
        ("A", None | Some("N")) => Ok(TransferType::Ascii),
        ("I", None) | ("L", Some("8")) => Ok(TransferType::Image),
        ("A" | "E", Some(_)) | ("E", None) | ("L", _) => Err(ParseError::Unsupported("TYPE")),
        _ => Err(ParseError::BadArgument("TYPE", "unknown type")),
    }
}

fn single_letter(v: &'static str, arg: Option<&str>, supported: char) -> Result<char, ParseError> {
    let a = arg.ok_or(ParseError::MissingArgument(v))?.trim();
    let mut chars = a.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if c.eq_ignore_ascii_case(&supported) => Ok(supported),
        (Some(c), None) if c.is_ascii_alphabetic() => Err(ParseError::Unsupported(v)),
        _ => Err(ParseError::BadArgument(v, "expected a single letter")),
    }
}

fn parse_epsv(arg: Option<&str>) -> Result<EpsvArg, ParseError> {
    match arg.map(str::trim) {
        None | Some("") => Ok(EpsvArg::Any),
        Some(a) if a.eq_ignore_ascii_case("ALL") => Ok(EpsvArg::All),
        Some("1") => Ok(EpsvArg::Protocol(1)),
        Some("2") => Ok(EpsvArg::Protocol(2)),
        Some(a) if a.len() <= 3 && a.bytes().all(|b| b.is_ascii_digit()) => {
            Ok(EpsvArg::Protocol(a.parse().unwrap_or(0)))
        }
        Some(_) => Err(ParseError::BadArgument("EPSV", "expected ALL, 1 or 2")),
    }
}

/// `PORT h1,h2,h3,h4,p1,p2` (RFC 959 section 4.1.2).
fn parse_port(arg: &str) -> Result<SocketAddr, ParseError> {
    address::parse_host_port(arg).ok_or(ParseError::BadArgument("PORT", "expected h1,h2,h3,h4,p1,p2"))
}

/// `EPRT <d>proto<d>addr<d>port<d>` (RFC 2428 section 2). Returns
/// `Unsupported` for a protocol other than 1 or 2, which the server answers
/// with 522.
fn parse_eprt(arg: &str) -> Result<SocketAddr, ParseError> {
    address::parse_eprt(arg).map_err(|e| match e {
        EprtError::Malformed => ParseError::BadArgument("EPRT", "expected |proto|address|port|"),
        EprtError::UnknownProtocol => ParseError::Unsupported("EPRT"),
    })
}
