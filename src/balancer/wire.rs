//! The registration protocol between slaves and the master: text lines,
//! each ending in LF and at most [`MAX_REGISTRY_LINE`] bytes, parsed by pure
//! functions that refuse anything unexpected.
//!
//! ```text
//! master: FORKFTP-REGISTRY 1 <nonce, 32 hex digits>
//! slave:  REGISTER id=2 addr=127.0.0.1:2102 handoff=forkftp-handoff-0.0.0.0:2102 mac=<64 hex digits>
//! master: OK pass                       (or OK relay, or ERR <reason> and close)
//! slave:  PING                          (every second)
//! master: PONG
//! slave:  BYE                           (leaving; closing works too)
//! ```
//!
//! `addr` is where the master relays clients to; `handoff` names the slave's
//! abstract Unix socket when it runs on the master's host (clients are then
//! passed, not relayed); `mac` is HMAC-SHA256 under the cluster key of
//! [`signed_text`], absent when the slave has no key.

use std::fmt;
use std::net::SocketAddr;

use super::auth::{hex, unhex, ClusterKey, MAC_LEN, NONCE_LEN};
use crate::limits::{MAX_HANDOFF_NAME, MAX_REGISTRY_LINE, MAX_SLAVES};
use crate::protocol::{Frame, LineFramer};

/// The protocol version spoken here.
pub(crate) const VERSION: u32 = 1;

/// Why a line was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WireError {
    /// A line longer than [`MAX_REGISTRY_LINE`].
    TooLong,
    /// Not a line of this protocol; the text says what is wrong.
    Malformed(String),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::TooLong => write!(f, "line longer than {MAX_REGISTRY_LINE} bytes"),
            WireError::Malformed(t) => f.write_str(t),
        }
    }
}

impl std::error::Error for WireError {}

fn bad(t: impl Into<String>) -> WireError {
    WireError::Malformed(t.into())
}

/// How the master hands clients to a slave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The accepted socket itself is passed over a Unix socket (same host).
    Pass,
    /// The master relays the control connection, PROXY header first.
    Relay,
}

impl Mode {
    /// The word on the wire and in the status table.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Pass => "pass",
            Mode::Relay => "relay",
        }
    }
}

/// What a slave registers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Register {
    /// Its id, 1 to [`MAX_SLAVES`]; it greets clients with it.
    pub id: u32,
    /// Its FTP address, for relaying.
    pub addr: SocketAddr,
    /// Its hand-over socket (abstract Unix name) when on the master's host.
    pub handoff: Option<String>,
}

/// The text a MAC covers: a context label, the master's nonce, and the
/// registration line without its `mac` field.
pub(crate) fn signed_text(nonce: &[u8], unsigned_line: &str) -> Vec<u8> {
    format!("forkftp-register-v{VERSION}\n{}\n{unsigned_line}", hex(nonce)).into_bytes()
}

impl Register {
    fn unsigned_line(&self) -> String {
        let mut line = format!("REGISTER id={} addr={}", self.id, self.addr);
        if let Some(h) = &self.handoff {
            line.push_str(" handoff=");
            line.push_str(h);
        }
        line
    }

    /// The line a slave sends, LF included, signed when it has a key.
    pub fn encode(&self, nonce: &[u8; NONCE_LEN], key: Option<&ClusterKey>) -> String {
        let mut line = self.unsigned_line();
        if let Some(k) = key {
            let mac = hex(&k.sign(&signed_text(nonce, &line)));
            line.push_str(" mac=");
            line.push_str(&mac);
        }
        line.push('\n');
        line
    }
}

/// A parsed `REGISTER` line, with what its MAC must cover.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SignedRegister {
    /// The registration.
    pub reg: Register,
    /// The MAC sent, if any.
    pub mac: Option<Vec<u8>>,
    unsigned: String,
}

impl SignedRegister {
    /// Security: true when the MAC is present and right for `nonce` under
    /// `key` (compared in constant time).
    pub(crate) fn verify(&self, nonce: &[u8], key: &ClusterKey) -> bool {
        match &self.mac {
            Some(mac) => key.verify(&signed_text(nonce, &self.unsigned), mac),
            None => false,
        }
    }
}

/// A line from a slave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SlaveLine {
    /// `REGISTER ...`.
    Register(SignedRegister),
    /// `PING`: alive.
    Ping,
    /// `BYE`: leaving.
    Bye,
}

/// A line from the master.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MasterLine {
    /// `FORKFTP-REGISTRY 1 nonce`: the opening challenge.
    Challenge([u8; NONCE_LEN]),
    /// `OK mode`: registered.
    Ok(Mode),
    /// `ERR reason`: refused.
    Err(String),
    /// `PONG`: the master is alive.
    Pong,
}

/// The master's opening line.
pub(crate) fn challenge(nonce: &[u8; NONCE_LEN]) -> String {
    format!("FORKFTP-REGISTRY {VERSION} {}\n", hex(nonce))
}

/// The master's refusal: printable ASCII only, bounded.
pub(crate) fn refusal(reason: &str) -> String {
    let clean: String =
        reason.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' }).take(200).collect();
    format!("ERR {clean}\n")
}

/// Valid hand-over socket names: 1 to [`MAX_HANDOFF_NAME`] characters of
/// letters, digits and `. _ - : [ ]` (socket addresses fit).
pub(crate) fn valid_handoff_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_HANDOFF_NAME
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-:[]".contains(&b))
}

fn text(line: &[u8]) -> Result<&str, WireError> {
    let s = std::str::from_utf8(line).map_err(|_| bad("not ASCII"))?;
    if !s.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        return Err(bad("control characters or non-ASCII bytes"));
    }
    Ok(s)
}

/// Parses a line from a slave (its LF removed).
pub(crate) fn parse_slave_line(line: &[u8]) -> Result<SlaveLine, WireError> {
    let s = text(line)?;
    match s {
        "PING" => return Ok(SlaveLine::Ping),
        "BYE" => return Ok(SlaveLine::Bye),
        _ => {}
    }
    let Some(rest) = s.strip_prefix("REGISTER ") else {
        return Err(bad("expected REGISTER, PING or BYE"));
    };
    let (mut id, mut addr, mut handoff, mut mac) = (None, None, None, None);
    let mut unsigned_end = s.len();
    let mut offset = s.len() - rest.len();
    for field in rest.split(' ') {
        let start = offset;
        offset += field.len() + 1;
        let (k, v) = field.split_once('=').ok_or_else(|| bad(format!("field without '=': {field:.40}")))?;
        if mac.is_some() {
            return Err(bad("mac must be the last field"));
        }
        let dup = match k {
            "id" => {
                let n: u32 = v.parse().map_err(|_| bad("id must be a number"))?;
                if n == 0 || n > MAX_SLAVES || v.starts_with('0') {
                    return Err(bad(format!("id must be 1 to {MAX_SLAVES}")));
                }
                id.replace(n).is_some()
            }
            "addr" => addr.replace(v.parse::<SocketAddr>().map_err(|_| bad("addr must be IP:PORT"))?).is_some(),
            "handoff" => {
                if !valid_handoff_name(v) {
                    return Err(bad("bad handoff name"));
                }
                handoff.replace(v.to_string()).is_some()
            }
            "mac" => {
                let m = unhex(v).filter(|m| m.len() == MAC_LEN).ok_or_else(|| bad("mac must be 64 hex digits"))?;
                // The MAC covers the line up to the space before it.
                unsigned_end = start - 1;
                mac = Some(m);
                false
            }
            _ => return Err(bad(format!("unknown field {k:.20}"))),
        };
        if dup {
            return Err(bad(format!("{k} given twice")));
        }
    }
    let id = id.ok_or_else(|| bad("id missing"))?;
    let addr = addr.ok_or_else(|| bad("addr missing"))?;
    if addr.port() == 0 {
        return Err(bad("addr needs a port"));
    }
    Ok(SlaveLine::Register(SignedRegister {
        reg: Register { id, addr, handoff },
        mac,
        unsigned: s[..unsigned_end].to_string(),
    }))
}

/// Parses a line from the master (its LF removed).
pub fn parse_master_line(line: &[u8]) -> Result<MasterLine, WireError> {
    let s = text(line)?;
    if s == "PONG" {
        return Ok(MasterLine::Pong);
    }
    if let Some(reason) = s.strip_prefix("ERR ") {
        return Ok(MasterLine::Err(reason.to_string()));
    }
    match s {
        "OK pass" => return Ok(MasterLine::Ok(Mode::Pass)),
        "OK relay" => return Ok(MasterLine::Ok(Mode::Relay)),
        _ => {}
    }
    let mut f = s.split(' ');
    match (f.next(), f.next(), f.next(), f.next()) {
        (Some("FORKFTP-REGISTRY"), Some(v), Some(nonce), None) => {
            if v != VERSION.to_string() {
                return Err(bad(format!("registry protocol version {v:.10}, we speak {VERSION}")));
            }
            let n = unhex(nonce).filter(|n| n.len() == NONCE_LEN).ok_or_else(|| bad("bad nonce"))?;
            let mut out = [0u8; NONCE_LEN];
            out.copy_from_slice(&n);
            Ok(MasterLine::Challenge(out))
        }
        _ => Err(bad("not a registry line")),
    }
}

/// Bytes received, cut into lines of at most [`MAX_REGISTRY_LINE`] bytes
/// by the protocol's line framer.
#[derive(Debug)]
pub(crate) struct LineBuf {
    lines: LineFramer,
}

impl Default for LineBuf {
    fn default() -> Self {
        LineBuf { lines: LineFramer::new(MAX_REGISTRY_LINE) }
    }
}

impl LineBuf {
    /// Adds received bytes.
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        self.lines.push(bytes);
    }

    /// The next complete line (LF and a CR before it removed). Security:
    /// bounded; a longer line is an error and the connection ends.
    pub(crate) fn next_line(&mut self) -> Result<Option<Vec<u8>>, WireError> {
        match self.lines.next_frame() {
            Some(Frame::Line(l)) => Ok(Some(l.to_vec())),
            Some(Frame::TooLong) => Err(WireError::TooLong),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> ClusterKey {
        ClusterKey::new(s.as_bytes()).unwrap()
    }

    fn reg(handoff: Option<&str>) -> Register {
        Register { id: 2, addr: "127.0.0.1:2102".parse().unwrap(), handoff: handoff.map(str::to_string) }
    }

    fn parse_reg(line: &str) -> Result<SignedRegister, WireError> {
        match parse_slave_line(line.trim_end().as_bytes())? {
            SlaveLine::Register(r) => Ok(r),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_signed_registration_round_trips_and_verifies() {
        let nonce = [7u8; NONCE_LEN];
        let k = key("0123456789abcdef-cluster");
        let line = reg(Some("forkftp-handoff-0.0.0.0:2102")).encode(&nonce, Some(&k));
        assert!(line.ends_with('\n') && line.len() <= MAX_REGISTRY_LINE);
        let parsed = parse_reg(&line).unwrap();
        assert_eq!(parsed.reg, reg(Some("forkftp-handoff-0.0.0.0:2102")));
        assert!(parsed.verify(&nonce, &k));
        // Another nonce (a replay), another key, or no MAC: refused.
        assert!(!parsed.verify(&[8u8; NONCE_LEN], &k));
        assert!(!parsed.verify(&nonce, &key("0123456789abcdef-other")));
        let unsigned = parse_reg(&reg(None).encode(&nonce, None)).unwrap();
        assert!(unsigned.mac.is_none() && !unsigned.verify(&nonce, &k));
    }

    #[test]
    fn a_tampered_registration_does_not_verify() {
        let nonce = [1u8; NONCE_LEN];
        let k = key("0123456789abcdef-cluster");
        let line = reg(None).encode(&nonce, Some(&k));
        let forged = line.replace("addr=127.0.0.1:2102", "addr=10.6.6.6:2102");
        assert!(!parse_reg(&forged).unwrap().verify(&nonce, &k));
        let forged = line.replace("id=2", "id=3");
        assert!(!parse_reg(&forged).unwrap().verify(&nonce, &k));
    }

    #[test]
    fn malformed_registrations_are_refused() {
        let mac = "0".repeat(64);
        for line in [
            "REGISTER".to_string(),
            "REGISTER ".to_string(),
            "REGISTER id=2".to_string(),
            "REGISTER addr=127.0.0.1:1".to_string(),
            "REGISTER id=0 addr=127.0.0.1:1".to_string(),
            "REGISTER id=02 addr=127.0.0.1:1".to_string(),
            format!("REGISTER id={} addr=127.0.0.1:1", MAX_SLAVES + 1),
            "REGISTER id=x addr=127.0.0.1:1".to_string(),
            "REGISTER id=1 addr=127.0.0.1".to_string(),
            "REGISTER id=1 addr=127.0.0.1:0".to_string(),
            "REGISTER id=1 id=2 addr=127.0.0.1:1".to_string(),
            "REGISTER id=1 addr=127.0.0.1:1 handoff=a/b".to_string(),
            "REGISTER id=1 addr=127.0.0.1:1 handoff=".to_string(),
            format!("REGISTER id=1 addr=127.0.0.1:1 handoff={}", "a".repeat(MAX_HANDOFF_NAME + 1)),
            "REGISTER id=1 addr=127.0.0.1:1 mac=abc".to_string(),
            format!("REGISTER id=1 mac={mac} addr=127.0.0.1:1"),
            "REGISTER id=1 addr=127.0.0.1:1 color=blue".to_string(),
            "REGISTER id=1  addr=127.0.0.1:1".to_string(),
            "REGISTER id=1 addr=127.0.0.1:1\tx".to_string(),
            "register id=1 addr=127.0.0.1:1".to_string(),
            "HELLO".to_string(),
            String::new(),
        ] {
            assert!(parse_slave_line(line.as_bytes()).is_err(), "{line:?} accepted");
        }
        assert!(parse_slave_line(b"REGISTER id=1 addr=127.0.0.1:1 \xff").is_err());
        assert_eq!(parse_slave_line(b"PING"), Ok(SlaveLine::Ping));
        assert_eq!(parse_slave_line(b"BYE"), Ok(SlaveLine::Bye));
    }

    #[test]
    fn master_lines() {
        let nonce = [0xabu8; NONCE_LEN];
        let c = challenge(&nonce);
        assert_eq!(parse_master_line(c.trim_end().as_bytes()), Ok(MasterLine::Challenge(nonce)));
        assert_eq!(parse_master_line(b"OK pass"), Ok(MasterLine::Ok(Mode::Pass)));
        assert_eq!(parse_master_line(b"OK relay"), Ok(MasterLine::Ok(Mode::Relay)));
        assert_eq!(parse_master_line(b"PONG"), Ok(MasterLine::Pong));
        let r = refusal("bad key\r\nOK pass");
        assert_eq!(r.matches('\n').count(), 1);
        assert!(matches!(parse_master_line(r.trim_end().as_bytes()), Ok(MasterLine::Err(_))));
        assert!(parse_master_line(b"FORKFTP-REGISTRY 2 00").is_err());
        assert!(parse_master_line(b"FORKFTP-REGISTRY 1 xyz").is_err());
        assert!(parse_master_line(b"OK maybe").is_err());
    }

    /// The framing and its limit are tested in `protocol::framer`; here,
    /// that a line over the limit ends the exchange.
    #[test]
    fn an_overlong_line_is_an_error() {
        let mut b = LineBuf::default();
        b.push(b"PING\r\n");
        b.push(&vec![b'x'; MAX_REGISTRY_LINE]);
        assert_eq!(b.next_line(), Ok(Some(b"PING".to_vec())));
        assert_eq!(b.next_line(), Err(WireError::TooLong));
    }
}
