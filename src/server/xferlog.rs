//! The transfer log (`--xferlog`): one line per file transfer in the
//! format of wu-ftpd's xferlog(5), which vsftpd and ProFTPD write too, so
//! that `xferstats` and log shippers' parsers read it. The line is made
//! here; `logging` appends it to the file.
//!
//! ```text
//! Thu Nov 26 14:03:30 2026 2 127.0.0.1 1048576 /pub/a.iso b _ o a anonymous ftp 0 * c
//! ```
//!
//! Fields, separated by one space: the time the transfer ended (`DDD MMM
//! dd hh:mm:ss YYYY`, in UTC, as vsftpd writes it by default), the
//! transfer's seconds (rounded, at least 1), the client's address (never a
//! name: no DNS), the bytes moved, the path (as the client sees it, from
//! its root), `a` or `b` (ASCII or binary), `_` (no special action), `o` or
//! `i` (download or upload), `a` or `r` (anonymous or a real account), the
//! user, `ftp`, `0` (no RFC 931 authentication), `*` (no authenticated user
//! id), and `c` or `i` (complete or incomplete).
//!
//! Security: the path and the user name come from the client. Every space
//! and control character in them (and Unicode's line separators and bidi
//! controls) is written `_`, as ProFTPD does, so that a name can neither
//! add a field nor forge a line. The anonymous "password" (by convention
//! an email address, sometimes a real password typed by mistake) is never
//! written: the user field of an anonymous transfer is `anonymous`.

use std::net::IpAddr;

use crate::protocol::time::{civil, MONTHS};

/// One finished transfer.
#[derive(Clone, Debug)]
pub(crate) struct Record<'a> {
    /// When it ended, Unix seconds.
    pub end: i64,
    /// How long it took.
    pub secs: f64,
    /// The client.
    pub peer: IpAddr,
    /// Bytes moved over the data connection.
    pub bytes: u64,
    /// The path, as the client sees it.
    pub path: &'a str,
    /// `TYPE A`.
    pub ascii: bool,
    /// An upload.
    pub incoming: bool,
    /// An anonymous login.
    pub anonymous: bool,
    /// The user's name.
    pub user: &'a str,
    /// Every byte moved and the file in place.
    pub complete: bool,
}

const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/// `DDD MMM dd hh:mm:ss YYYY`, in UTC (ctime(3)'s layout: the day of the
/// month padded with a space).
pub(crate) fn ctime(secs: i64) -> String {
    let (y, mo, d, h, mi, s) = civil(secs);
    let weekday = DAYS[(secs.div_euclid(86_400) + 4).rem_euclid(7) as usize];
    format!("{weekday} {} {d:>2} {h:02}:{mi:02}:{s:02} {y}", MONTHS[mo as usize - 1])
}

/// A client-supplied field, made safe: spaces, and the characters the
/// crate's escaping shows as escapes (control characters, line separators,
/// bidi controls: [`crate::escape::hidden`]), become `_`; an empty one is
/// `_` too.
pub(crate) fn field(s: &str) -> String {
    let unsafe_char = |c: char| c.is_whitespace() || crate::escape::hidden(c);
    let out: String = s.chars().map(|c| if unsafe_char(c) { '_' } else { c }).collect();
    if out.is_empty() {
        "_".into()
    } else {
        out
    }
}

/// The line, its newline included.
pub(crate) fn line(r: &Record<'_>) -> String {
    let secs = (r.secs.round() as u64).max(1);
    let user = if r.anonymous { "anonymous".to_string() } else { field(r.user) };
    format!(
        "{} {secs} {} {} {} {} _ {} {} {user} ftp 0 * {}\n",
        ctime(r.end),
        crate::protocol::address::canonical(r.peer),
        r.bytes,
        field(r.path),
        if r.ascii { 'a' } else { 'b' },
        if r.incoming { 'i' } else { 'o' },
        if r.anonymous { 'a' } else { 'r' },
        if r.complete { 'c' } else { 'i' },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_time_is_ctimes_layout_in_utc() {
        assert_eq!(ctime(0), "Thu Jan  1 00:00:00 1970");
        // 2026-11-21 07:00:05 UTC, a Saturday.
        assert_eq!(ctime(1_795_244_405), "Sat Nov 21 07:00:05 2026");
    }

    #[test]
    fn a_line_has_the_eighteen_fields_of_xferlog5() {
        let r = Record {
            end: 0,
            secs: 0.2,
            peer: "::ffff:192.0.2.7".parse().unwrap(),
            bytes: 1234,
            path: "/pub/my file\n.txt",
            ascii: false,
            incoming: true,
            anonymous: false,
            user: "alice",
            complete: true,
        };
        let l = line(&r);
        assert_eq!(l, "Thu Jan  1 00:00:00 1970 1 192.0.2.7 1234 /pub/my_file_.txt b _ i r alice ftp 0 * c\n");
        assert_eq!(l.split_whitespace().count(), 18);
        let anon = line(&Record { anonymous: true, user: "evil user", ascii: true, complete: false, secs: 2.6, ..r });
        assert!(anon.ends_with(" 3 192.0.2.7 1234 /pub/my_file_.txt a _ i a anonymous ftp 0 * i\n"), "{anon}");
    }

    #[test]
    fn client_fields_cannot_add_fields_or_lines() {
        assert_eq!(field("a b\tc\rd\u{2028}e\u{202e}f\u{85}g"), "a_b_c_d_e_f_g");
        assert_eq!(field(""), "_");
        assert_eq!(field("Ünïcödé.txt"), "Ünïcödé.txt");
    }
}
