//! Every command of the server against the real binary, with its error
//! replies (RFC 959 sections 4.1 and 4.2, RFC 2389, RFC 2428, RFC 3659,
//! RFC 2640). Data transfers use passive mode unless the test is about
//! active mode; transfers over 4 GiB, clients and bad input have their own
//! modules.

use std::collections::BTreeSet;
use std::io::{BufRead, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use forkftp::protocol::address::{format_host_port, parse_epsv_reply, parse_pasv_reply};

use crate::util::{pseudo_random, refusing_port, sparse_file, Ftp, Server};

/// Sends `line` and returns the reply as it came over the wire, one string
/// per line with its CRLF removed (RFC 959 4.2: every line ends in CRLF).
fn wire_reply(f: &mut Ftp, line: &str) -> Vec<String> {
    f.send_raw(format!("{line}\r\n").as_bytes());
    let mut lines: Vec<String> = Vec::new();
    loop {
        let mut l = Vec::new();
        f.reader.read_until(b'\n', &mut l).unwrap();
        assert!(l.ends_with(b"\r\n"), "{line}: reply line without CRLF: {l:?}");
        l.truncate(l.len() - 2);
        let l = String::from_utf8(l).unwrap();
        let last = match lines.first() {
            None => l.as_bytes().get(3) != Some(&b'-'),
            Some(first) => l.starts_with(&format!("{} ", &first[..3])),
        };
        lines.push(l);
        if last {
            return lines;
        }
        assert!(lines.len() < 10_000, "{line}: endless reply");
    }
}

/// RFC 959 4.2: a multi-line reply opens with `xyz-`, closes with `xyz `,
/// and no line between could be taken for the last one.
fn assert_multi_line(lines: &[String], code: &str) {
    assert!(lines.len() >= 2, "not multi-line: {lines:?}");
    assert!(lines[0].starts_with(&format!("{code}-")), "{lines:?}");
    assert!(lines.last().unwrap().starts_with(&format!("{code} ")), "{lines:?}");
    for l in &lines[1..lines.len() - 1] {
        assert!(!l.starts_with(&format!("{code} ")), "a middle line ends the reply early: {lines:?}");
    }
}

/// The body lines of a multi-line reply, their indentation removed.
fn body(lines: &[String]) -> Vec<String> {
    lines[1..lines.len() - 1].iter().map(|l| l.trim_start().to_string()).collect()
}

/// Sets the modification time of `p` to `secs` after the epoch.
fn set_mtime(p: &Path, secs: u64) {
    let f = std::fs::File::options().write(true).open(p).unwrap();
    f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(secs)).unwrap();
}

/// 2001-02-03 04:05:06 UTC.
const FEB_3_2001: u64 = 981_173_106;

/// A root with a file of known bytes and mtime, a sub-directory and a symlink.
fn tree(root: &Path) {
    std::fs::write(root.join("data.bin"), pseudo_random(1000, 7)).unwrap();
    set_mtime(&root.join("data.bin"), FEB_3_2001);
    std::fs::create_dir_all(root.join("sub/deeper")).unwrap();
    std::fs::write(root.join("sub/inner.txt"), b"inner\n").unwrap();
    std::os::unix::fs::symlink("hello.txt", root.join("link")).unwrap();
}

/// Runs a download-like command over an active connection that the client
/// listens for; `announce` turns the listener's address into PORT or EPRT.
fn active_get(f: &mut Ftp, bind: &str, announce: impl Fn(SocketAddr) -> String, cmd: &str) -> Vec<u8> {
    let l = TcpListener::bind((bind, 0)).unwrap();
    let a = l.local_addr().unwrap();
    let r = f.cmd(&announce(a));
    assert_eq!(r.code.0, 200, "{r:?}");
    let r = f.cmd(cmd);
    assert_eq!(r.code.0, 150, "{cmd}: {r:?}");
    let (mut data, _) = l.accept().unwrap();
    let mut got = Vec::new();
    data.read_to_end(&mut got).unwrap();
    assert_eq!(f.reply().code.0, 226);
    got
}

fn port_cmd(a: SocketAddr) -> String {
    let SocketAddr::V4(v4) = a else { panic!("PORT is IPv4") };
    format!("PORT {}", format_host_port(*v4.ip(), v4.port()))
}

fn eprt_cmd(a: SocketAddr) -> String {
    let proto = if a.is_ipv4() { 1 } else { 2 };
    format!("EPRT |{proto}|{}|{}|", a.ip(), a.port())
}

/// RFC 959 4.1.1 and 5.4: PASS needs USER first (503); nothing but the
/// harmless commands is served before login (530); QUIT says 221 and closes.
#[test]
fn login_needs_user_then_pass_and_only_harmless_commands_come_before_it() {
    let s = Server::start(&[]);
    let mut f = s.connect();
    assert_eq!(f.code("PASS nobody@example.com"), 503);
    for cmd in ["LIST", "NLST", "RETR hello.txt", "CWD /", "PWD", "CDUP", "STOR x", "MKD d", "SIZE hello.txt", "PASV"] {
        assert_eq!(f.code(cmd), 530, "{cmd} before login");
    }
    for cmd in ["EPSV", "PORT 127,0,0,1,195,80", "TYPE I", "MLSD", "MLST", "STAT /", "DELE hello.txt", "REST 1"] {
        assert_eq!(f.code(cmd), 530, "{cmd} before login");
    }
    // Harmless before login.
    assert_eq!(f.code("NOOP"), 200);
    assert_eq!(f.code("SYST"), 215);
    assert_eq!(f.code("FEAT"), 211);
    assert_eq!(f.code("HELP"), 214);
    assert_eq!(f.code("STAT"), 211);
    assert_eq!(f.code("USER anonymous"), 331);
    assert_eq!(f.code("PASS nobody@example.com"), 230);
    // Logged in: ACCT is superfluous, a second PASS changes nothing.
    assert_eq!(f.code("ACCT billing"), 202);
    assert_eq!(f.code("PASS again"), 230);
    assert_eq!(f.cmd("PWD").lines[0], "\"/\" is the current directory.");
    f.quit();
}

/// RFC 959 5.3: verbs are case-insensitive; RFC 959 4.1 wants CRLF, and a
/// bare LF is accepted too.
#[test]
fn verbs_are_case_insensitive_and_lines_may_end_in_lf() {
    let s = Server::start(&[]);
    let mut f = s.connect();
    f.send_raw(b"uSeR anonymous\n");
    assert_eq!(f.reply().code.0, 331);
    f.send_raw(b"pass x@y\n");
    assert_eq!(f.reply().code.0, 230);
    f.send_raw(b"pwd\n");
    assert_eq!(f.reply().code.0, 257);
    f.send_raw(b"Syst\r\n");
    assert_eq!(f.reply().code.0, 215);
    // Several commands in one packet, mixed line endings.
    f.send_raw(b"nOoP\nxpwd\r\ntype i\n");
    assert_eq!(f.reply().code.0, 200);
    assert_eq!(f.reply().code.0, 257);
    assert_eq!(f.reply().code.0, 200);
    assert_eq!(f.retr("hello.txt"), b"hello world\n");
}

/// SYST, NOOP, ALLO, and replies for what is not implemented (RFC 959 4.2.1:
/// 500 unrecognized, 501 bad argument, 502 not implemented).
#[test]
fn syst_noop_allo_and_unimplemented_verbs() {
    let s = Server::start(&[]);
    let mut f = s.anon();
    assert_eq!(f.cmd("SYST").lines[0], "UNIX Type: L8");
    assert_eq!(f.code("NOOP"), 200);
    assert_eq!(f.code("NOOP extra"), 501);
    assert_eq!(f.code("SYST now"), 501);
    assert_eq!(f.code("ALLO 1000"), 202);
    assert_eq!(f.code("ALLO 1000 R 10"), 202);
    assert_eq!(f.code("SITE EXEC ls"), 500, "an unknown SITE command");
    assert_eq!(f.code("XYZZY"), 502);
    assert_eq!(f.code("12345"), 500);
    assert_eq!(f.code("RE-TR hello.txt"), 500);
    assert_eq!(f.code("NOOP"), 200);
}

/// RFC 2389 3.2: FEAT is a multi-line reply, one feature per line, each
/// indented by a space; every listed feature is then shown to work.
#[test]
fn feat_lists_exactly_the_features_that_work() {
    let s = Server::start_with(
        |root| std::fs::write(root.join("h\u{e9}llo w\u{f6}rld.txt"), "caf\u{e9}\n").unwrap(),
        &["-w"],
    );
    let mut f = s.anon();
    let lines = wire_reply(&mut f, "FEAT");
    assert_multi_line(&lines, "211");
    for l in &lines[1..lines.len() - 1] {
        assert!(l.starts_with(' ') && !l.starts_with("  "), "RFC 2389: one space before a feature: {l:?}");
    }
    let feats: BTreeSet<String> =
        body(&lines).iter().map(|l| l.split(' ').next().unwrap().to_ascii_uppercase()).collect();
    let expected: BTreeSet<String> = [
        "AVBL", "EPRT", "EPSV", "HASH", "MDTM", "MFF", "MFMT", "MLST", "PASV", "RANG", "REST", "SIZE", "TVFS", "UTF8",
        "XCRC", "XMD5", "XSHA1", "XSHA256", "XSHA512",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(feats, expected, "FEAT changed: test every new feature here");
    assert!(body(&lines).contains(&"REST STREAM".to_string()), "{lines:?}");
    let mlst = body(&lines).into_iter().find(|l| l.starts_with("MLST ")).unwrap();
    for fact in ["type*;", "size*;", "modify*;", "perm*;", "unique*;"] {
        assert!(mlst.contains(fact), "{mlst}");
    }
    // Each one works.
    assert_eq!(active_get(&mut f, "127.0.0.1", eprt_cmd, "RETR hello.txt"), b"hello world\n"); // EPRT
    let mut d = f.epsv(); // EPSV
    assert_eq!(f.code("RETR hello.txt"), 150);
    let mut got = Vec::new();
    d.read_to_end(&mut got).unwrap();
    assert_eq!((got.as_slice(), f.reply().code.0), (&b"hello world\n"[..], 226));
    assert_eq!(f.code("MDTM hello.txt"), 213); // MDTM
    assert_eq!(f.code("MLST hello.txt"), 250); // MLST
    assert_eq!(f.retr("hello.txt"), b"hello world\n"); // PASV
    assert_eq!(f.code("REST 6"), 350); // REST STREAM
    assert_eq!(f.retr("hello.txt"), b"world\n");
    assert_eq!(f.cmd("SIZE hello.txt").lines[0], "12"); // SIZE
    assert_eq!(f.code("CWD /"), 250); // TVFS: slash-separated paths
    assert_eq!(f.code("SIZE /hello.txt"), 213);
    assert_eq!(f.code("OPTS UTF8 ON"), 200); // UTF8 (RFC 2640)
    assert_eq!(f.retr("h\u{e9}llo w\u{f6}rld.txt"), "caf\u{e9}\n".as_bytes());
    assert!(f.listing("NLST").lines().any(|l| l == "h\u{e9}llo w\u{f6}rld.txt"));
    // The extensions of issue 14 (tests/extensions.rs tests them whole).
    assert_eq!(f.code("AVBL"), 213); // AVBL
    assert_eq!(f.cmd("HASH hello.txt").text().split(' ').next(), Some("SHA-256")); // HASH
    assert_eq!(f.code("MFMT 20200101000000 hello.txt"), 213); // MFMT
    assert_eq!(f.cmd("MDTM hello.txt").lines[0], "20200101000000");
    assert_eq!(f.code("MFF modify=20210101000000; hello.txt"), 213); // MFF
    assert_eq!(f.code("RANG 0 4"), 350); // RANG STREAM
    assert_eq!(f.retr("hello.txt"), b"hello");
    for x in ["XCRC", "XMD5", "XSHA1", "XSHA256", "XSHA512"] {
        assert_eq!(f.code(&format!("{x} hello.txt")), 250, "{x}");
    }
}

/// RFC 2389 section 4 (OPTS), RFC 2640 3.2 (UTF8 ON), RFC 3659 7.9 (OPTS MLST).
#[test]
fn opts_utf8_on_and_opts_mlst_select_facts() {
    let s = Server::start(&[]);
    let mut f = s.anon();
    assert_eq!(f.code("OPTS UTF8 ON"), 200);
    assert_eq!(f.code("opts utf8 on"), 200);
    assert_eq!(f.code("OPTS UTF8 MAYBE"), 501);
    assert_eq!(f.code("OPTS NOSUCHOPTION"), 501);
    assert_eq!(f.code("OPTS"), 501);
    let r = f.cmd("OPTS MLST size;type;");
    assert_eq!((r.code.0, r.lines[0].as_str()), (200, "MLST OPTS type;size;"));
    let r = f.cmd("MLST hello.txt");
    // The reply parser removes the one space that indents the entry line.
    assert_eq!(r.lines[1], "type=file;size=12; /hello.txt");
    let feat = f.cmd("FEAT");
    assert!(feat.lines.iter().any(|l| l.contains("type*;size*;modify;perm;unique;")), "{feat:?}");
}

/// RFC 959 4.1.3: HELP lists the commands (214), HELP verb describes one.
#[test]
fn help_lists_every_command_in_a_multi_line_reply() {
    let s = Server::start(&[]);
    let mut f = s.anon();
    let lines = wire_reply(&mut f, "HELP");
    assert_multi_line(&lines, "214");
    let words: BTreeSet<String> = body(&lines).iter().flat_map(|l| l.split_whitespace()).map(String::from).collect();
    for verb in [
        "ABOR", "ACCT", "ALLO", "APPE", "CDUP", "CWD", "DELE", "EPRT", "EPSV", "FEAT", "HELP", "LIST", "MDTM", "MKD",
        "MLSD", "MLST", "MODE", "NLST", "NOOP", "OPTS", "PASS", "PASV", "PORT", "PWD", "QUIT", "REST", "RETR", "RMD",
        "RNFR", "RNTO", "SIZE", "STAT", "STOR", "STOU", "STRU", "SYST", "TYPE", "USER", "XCUP", "XCWD", "XMKD", "XPWD",
        "XRMD", "AVBL", "HASH", "MFF", "MFMT", "RANG", "SITE", "XCRC", "XMD5", "XSHA1", "XSHA256", "XSHA512",
    ] {
        assert!(words.contains(verb), "HELP misses {verb}: {lines:?}");
    }
    assert_eq!(f.code("HELP retr"), 214);
    assert_eq!(f.code("HELP SITE"), 214);
    assert_eq!(f.code("HELP XYZZY"), 502);
}

/// RFC 959 4.1.3: STAT without an argument is the status of the session (211).
#[test]
fn stat_reports_the_session_state() {
    let s = Server::start(&[]);
    let mut f = s.connect();
    let lines = wire_reply(&mut f, "STAT");
    assert_multi_line(&lines, "211");
    assert!(body(&lines).contains(&"Not logged in".to_string()), "{lines:?}");
    f.login("anonymous", "x@y");
    assert_eq!(f.code("TYPE A"), 200);
    let _d = f.pasv();
    let lines = wire_reply(&mut f, "STAT");
    assert_multi_line(&lines, "211");
    let b = body(&lines);
    for want in ["Connected from 127.0.0.1", "Logged in as anonymous", "TYPE: ASCII", "Passive mode set"] {
        assert!(b.iter().any(|l| l == want), "{want}: {lines:?}");
    }
}

/// RFC 959 4.1.3: STAT path lists over the control connection (213), no
/// data connection needed; a missing path is 550.
#[test]
fn stat_with_a_path_lists_over_the_control_connection() {
    let s = Server::start_with(tree, &[]);
    let mut f = s.anon();
    let lines = wire_reply(&mut f, "STAT /");
    assert_multi_line(&lines, "213");
    let b = body(&lines);
    let names: BTreeSet<String> = b.iter().map(|l| ls_line(l).name).collect();
    let want: BTreeSet<String> = ["data.bin", "hello.txt", "link -> hello.txt", "sub"].map(String::from).into();
    assert_eq!(names, want, "{lines:?}");
    let lines = wire_reply(&mut f, "STAT sub/inner.txt");
    assert_multi_line(&lines, "213");
    assert_eq!(body(&lines).len(), 1);
    assert_eq!(ls_line(&body(&lines)[0]).size, 6);
    assert_eq!(f.code("STAT nowhere"), 550);
    // The session goes on as before.
    assert_eq!(f.retr("hello.txt"), b"hello world\n");
}

/// RFC 959 4.1.1: PWD/XPWD (257, the path quoted, RFC 959 appendix II),
/// CWD/XCWD, CDUP/XCUP; nothing climbs above the root.
#[test]
fn pwd_cwd_cdup_and_their_x_variants_move_inside_the_root() {
    let s = Server::start_with(
        |root| {
            tree(root);
            std::fs::create_dir(root.join("say \"hi\"")).unwrap();
        },
        &[],
    );
    let mut f = s.anon();
    let pwd = |f: &mut Ftp| {
        let r = f.cmd("PWD");
        assert_eq!(r.code.0, 257);
        r.lines[0].clone()
    };
    assert_eq!(pwd(&mut f), "\"/\" is the current directory.");
    assert_eq!(f.code("CWD sub"), 250);
    assert_eq!(pwd(&mut f), "\"/sub\" is the current directory.");
    assert_eq!(f.code("XCWD deeper"), 250);
    assert_eq!(f.cmd("XPWD").lines[0], "\"/sub/deeper\" is the current directory.");
    assert_eq!(f.code("CDUP"), 250);
    assert_eq!(pwd(&mut f), "\"/sub\" is the current directory.");
    assert_eq!(f.retr("inner.txt"), b"inner\n");
    assert_eq!(f.code("XCUP"), 250);
    assert_eq!(pwd(&mut f), "\"/\" is the current directory.");
    assert_eq!(f.code("CDUP"), 250, "CDUP at the root stays at the root");
    assert_eq!(pwd(&mut f), "\"/\" is the current directory.");
    assert_eq!(f.code("CWD /sub/deeper/../.."), 250);
    assert_eq!(pwd(&mut f), "\"/\" is the current directory.");
    assert_eq!(f.code("CWD nowhere"), 550);
    assert_eq!(f.code("CWD hello.txt"), 550);
    assert_eq!(f.code("CWD"), 501);
    assert_eq!(f.code("CDUP now"), 501);
    assert_eq!(pwd(&mut f), "\"/\" is the current directory.");
    // A double quote in the path is doubled.
    assert_eq!(f.code("CWD say \"hi\""), 250);
    assert_eq!(pwd(&mut f), "\"/say \"\"hi\"\"\" is the current directory.");
}

/// RFC 959 4.1.3: MKD/XMKD (257 with the quoted path), RMD/XRMD and DELE
/// (250), and their failures (550).
#[test]
fn mkd_rmd_dele_and_their_x_variants() {
    let s = Server::start_with(tree, &["-w"]);
    let mut f = s.anon();
    let r = f.cmd("MKD made");
    assert_eq!((r.code.0, r.lines[0].as_str()), (257, "\"/made\" created."));
    assert!(s.root.join("made").is_dir());
    assert_eq!(f.code("MKD made"), 550, "exists");
    assert_eq!(f.cmd("XMKD sub/made2").lines[0], "\"/sub/made2\" created.");
    assert!(s.root.join("sub/made2").is_dir());
    assert_eq!(f.code("MKD no/such/parent"), 550);
    assert_eq!(f.code("RMD made"), 250);
    assert!(!s.root.join("made").exists());
    assert_eq!(f.code("XRMD /sub/made2"), 250);
    assert!(!s.root.join("sub/made2").exists());
    assert_eq!(f.code("RMD made"), 550, "gone");
    assert_eq!(f.code("RMD sub"), 550, "not empty");
    assert_eq!(f.code("RMD hello.txt"), 550, "not a directory");
    assert_eq!(f.code("RMD /"), 550, "the root");
    assert_eq!(f.code("DELE data.bin"), 250);
    assert!(!s.root.join("data.bin").exists());
    assert_eq!(f.code("DELE data.bin"), 550);
    assert_eq!(f.code("DELE sub"), 550, "a directory");
    // DELE of a symlink removes the link, not its target.
    assert_eq!(f.code("DELE link"), 250);
    assert!(s.root.join("hello.txt").exists() && !s.root.join("link").exists());
    assert_eq!(f.code("MKD"), 501);
    assert_eq!(f.code("DELE"), 501);
}

/// RFC 959 4.1.3: RNFR (350) then RNTO (250); RNTO without RNFR right
/// before it is a bad sequence (503).
#[test]
fn rnfr_then_rnto_renames_and_rnto_needs_rnfr_right_before() {
    let s = Server::start_with(tree, &["-w"]);
    let mut f = s.anon();
    assert_eq!(f.code("RNTO anything"), 503);
    assert_eq!(f.code("RNFR missing"), 550);
    assert_eq!(f.code("RNTO anything"), 503, "a failed RNFR starts nothing");
    assert_eq!(f.code("RNFR data.bin"), 350);
    assert_eq!(f.code("RNTO sub/moved.bin"), 250);
    assert_eq!(std::fs::read(s.root.join("sub/moved.bin")).unwrap(), pseudo_random(1000, 7));
    assert!(!s.root.join("data.bin").exists());
    assert_eq!(f.code("RNFR sub/moved.bin"), 350);
    assert_eq!(f.code("NOOP"), 200);
    assert_eq!(f.code("RNTO data.bin"), 503, "RNTO must follow RNFR at once");
    assert!(s.root.join("sub/moved.bin").exists());
    // Directories rename too.
    assert_eq!(f.code("RNFR sub"), 350);
    assert_eq!(f.code("RNTO renamed"), 250);
    assert!(s.root.join("renamed/moved.bin").exists());
    assert_eq!(f.code("RNFR"), 501);
}

/// RFC 959 3.1.1 and 3.4: TYPE A and I (and L 8), MODE S and STRU F are
/// implemented; other values are 504, nonsense is 501.
#[test]
fn type_mode_stru_accept_what_is_implemented() {
    let s = Server::start(&[]);
    let mut f = s.anon();
    for (cmd, code) in [
        ("TYPE A", 200),
        ("TYPE A N", 200),
        ("TYPE I", 200),
        ("TYPE L 8", 200),
        ("type i", 200),
        ("TYPE E", 504),
        ("TYPE A T", 504),
        ("TYPE X", 501),
        ("TYPE", 501),
        ("MODE S", 200),
        ("MODE B", 504),
        ("MODE C", 504),
        ("MODE", 501),
        ("STRU F", 200),
        ("STRU R", 504),
        ("STRU P", 504),
        ("STRU FF", 501),
    ] {
        assert_eq!(f.code(cmd), code, "{cmd}");
    }
    assert_eq!(f.retr("hello.txt"), b"hello world\n");
}

/// RFC 959 3.1.1.1: in TYPE A, lines travel as CRLF: LF becomes CRLF on
/// download, CRLF becomes LF on upload; TYPE I moves bytes unchanged.
#[test]
fn type_a_converts_line_ends_and_type_i_does_not() {
    let text = b"one\ntwo\r\nthree\n\nlast".to_vec();
    let t = text.clone();
    let s = Server::start_with(move |root| std::fs::write(root.join("text.txt"), &t).unwrap(), &["-w"]);
    let mut f = s.anon();
    assert_eq!(f.code("TYPE A"), 200);
    assert_eq!(f.retr("text.txt"), b"one\r\ntwo\r\nthree\r\n\r\nlast");
    // SIZE stays the file's size in TYPE A, as in vsftpd: RFC 3659 4 would
    // count the converted octets, which means reading the whole file (an I/O
    // DoS), and refusing breaks clients (ftplib's storlines then size).
    assert_eq!(f.cmd("SIZE text.txt").lines[0], text.len().to_string());
    // A long text crosses the server's buffers: no CRLF is doubled or lost.
    let long: Vec<u8> = (0..200_000).flat_map(|i| format!("line {i}\n").into_bytes()).collect();
    let long_crlf: Vec<u8> = (0..200_000).flat_map(|i| format!("line {i}\r\n").into_bytes()).collect();
    assert_eq!(f.put_with("STOR long.txt", &long_crlf).code.0, 226);
    assert_eq!(std::fs::read(s.root.join("long.txt")).unwrap(), long);
    assert_eq!(f.retr("long.txt"), long_crlf);
    assert_eq!(f.put_with("STOR up.txt", b"a\r\nb\r\n\r\nc").code.0, 226);
    assert_eq!(std::fs::read(s.root.join("up.txt")).unwrap(), b"a\nb\n\nc");
    assert_eq!(f.code("TYPE I"), 200);
    assert_eq!(f.cmd("SIZE text.txt").lines[0], text.len().to_string());
    assert_eq!(f.retr("text.txt"), text);
    assert_eq!(f.put_with("STOR raw.txt", b"a\r\nb\n").code.0, 226);
    assert_eq!(std::fs::read(s.root.join("raw.txt")).unwrap(), b"a\r\nb\n");
}

/// RFC 959 4.1.2: PASV answers 227 with h1,h2,h3,h4,p1,p2 of an address on
/// the server the client can reach.
#[test]
fn pasv_announces_the_servers_address_and_a_port() {
    let s = Server::start(&[]);
    let mut f = s.anon();
    let r = f.cmd("PASV");
    assert_eq!(r.code.0, 227);
    assert!(r.lines[0].contains("(127,0,0,1,"), "{r:?}");
    let a = parse_pasv_reply(&r.lines[0]).unwrap();
    assert!(a.port() > 0);
    let mut d = TcpStream::connect(a).unwrap();
    assert_eq!(f.code("RETR hello.txt"), 150);
    let mut got = Vec::new();
    d.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"hello world\n");
    assert_eq!(f.reply().code.0, 226);
    assert_eq!(f.code("PASV now"), 501);
}

/// RFC 2428 section 3: EPSV answers 229 (|||port|); EPSV 1 is IPv4, EPSV 2
/// over IPv4 is 522; after EPSV ALL only EPSV may set up data (PASV, PORT
/// and EPRT get 503).
#[test]
fn epsv_and_epsv_all() {
    let s = Server::start(&[]);
    let mut f = s.anon();
    let r = f.cmd("EPSV");
    assert_eq!(r.code.0, 229);
    assert!(r.lines[0].contains("(|||"), "{r:?}");
    assert!(parse_epsv_reply(&r.lines[0]).is_some());
    assert_eq!(f.code("EPSV 1"), 229);
    assert_eq!(f.code("EPSV 2"), 522);
    assert_eq!(f.code("EPSV x"), 501);
    assert_eq!(f.code("EPSV ALL"), 200);
    assert_eq!(f.code("PASV"), 503);
    assert_eq!(f.code("PORT 127,0,0,1,195,80"), 503);
    assert_eq!(f.code("EPRT |1|127.0.0.1|50000|"), 503);
    let mut d = f.epsv();
    assert_eq!(f.code("LIST"), 150);
    let mut got = String::new();
    d.read_to_string(&mut got).unwrap();
    assert!(got.contains("hello.txt"), "{got}");
    assert_eq!(f.reply().code.0, 226);
}

/// RFC 959 4.1.2 (PORT) and RFC 2428 section 2 (EPRT): the server connects
/// to the client; malformed arguments are 501, an unknown protocol 522.
#[test]
fn port_and_eprt_make_active_connections_over_ipv4() {
    let s = Server::start_with(tree, &[]);
    let mut f = s.anon();
    assert_eq!(active_get(&mut f, "127.0.0.1", port_cmd, "RETR hello.txt"), b"hello world\n");
    assert_eq!(active_get(&mut f, "127.0.0.1", eprt_cmd, "RETR data.bin"), pseudo_random(1000, 7));
    let listing = String::from_utf8(active_get(&mut f, "127.0.0.1", port_cmd, "NLST")).unwrap();
    assert!(listing.lines().any(|l| l == "hello.txt"), "{listing}");
    for bad in ["PORT 127,0,0,1,4", "PORT 127,0,0,1,300,1", "PORT a,b,c,d,e,f", "PORT", "EPRT |1|::1|5000|", "EPRT 1|2"]
    {
        assert_eq!(f.code(bad), 501, "{bad}");
    }
    assert_eq!(f.code("EPRT |3|127.0.0.1|5000|"), 522);
    // An IPv6 target from an IPv4 client names another protocol (RFC 2428 2).
    assert_eq!(f.code("EPRT |2|::1|5000|"), 522);
}

/// RFC 2428: over IPv6, EPSV and EPRT |2| carry the data; IPv4 forms are 522.
#[test]
fn epsv_and_eprt_work_over_ipv6() {
    let s = Server::start_on("::1", tree, &[]);
    let mut f = s.anon();
    let mut d = f.epsv();
    assert_eq!(f.code("RETR data.bin"), 150);
    let mut got = Vec::new();
    d.read_to_end(&mut got).unwrap();
    assert_eq!(got, pseudo_random(1000, 7));
    assert_eq!(f.reply().code.0, 226);
    assert_eq!(active_get(&mut f, "::1", eprt_cmd, "RETR hello.txt"), b"hello world\n");
    assert_eq!(f.code("EPSV 2"), 229);
    assert_eq!(f.code("EPSV 1"), 522);
    assert_eq!(f.code("EPRT |1|127.0.0.1|50000|"), 522);
    assert_eq!(f.code("PORT 127,0,0,1,195,80"), 522);
    // PASV cannot express an IPv6 address: refused (425, as no data
    // connection can be set up that way), and the session goes on.
    let r = f.cmd("PASV");
    assert_eq!((r.code.0, r.text().as_str()), (425, "PASV is IPv4 only; use EPSV."));
    assert_eq!(f.code("NOOP"), 200);
}

/// `--listen [::]:PORT` serves IPv4 clients too (as IPv4-mapped addresses):
/// PASV announces their IPv4 address and PORT names it; IPv6 clients use
/// EPSV and EPRT on the same server.
#[test]
fn a_dual_stack_server_serves_ipv4_and_ipv6_clients() {
    let s = Server::start_on("::", tree, &[]);
    let mut v4 = Ftp::connect(SocketAddr::from(([127, 0, 0, 1], s.addr.port())));
    v4.login("anonymous", "x@y");
    let r = v4.cmd("PASV");
    assert!(r.lines[0].contains("(127,0,0,1,"), "{r:?}");
    assert_eq!(v4.retr("hello.txt"), b"hello world\n");
    assert_eq!(active_get(&mut v4, "127.0.0.1", port_cmd, "RETR data.bin"), pseudo_random(1000, 7));
    assert_eq!(v4.code("EPSV 2"), 522);
    let mut v6 = Ftp::connect(SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, s.addr.port())));
    v6.login("anonymous", "x@y");
    assert_eq!(active_get(&mut v6, "::1", eprt_cmd, "RETR hello.txt"), b"hello world\n");
    let mut d = v6.epsv();
    assert_eq!(v6.code("RETR data.bin"), 150);
    let mut got = Vec::new();
    d.read_to_end(&mut got).unwrap();
    assert_eq!((got, v6.reply().code.0), (pseudo_random(1000, 7), 226));
}

/// One `ls -l` line taken apart.
struct LsLine {
    kind: char,
    size: u64,
    name: String,
}

/// Checks that `line` has the fields of `ls -l`: mode, links, owner, group,
/// size, month, day, time or year, name.
fn ls_line(line: &str) -> LsLine {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let mut rest = line;
    let mut fields = Vec::new();
    for _ in 0..8 {
        let t = rest.trim_start_matches(' ');
        let end = t.find(' ').unwrap_or_else(|| panic!("too few fields: {line:?}"));
        fields.push(&t[..end]);
        rest = &t[end..];
    }
    let name = rest.strip_prefix(' ').unwrap_or_else(|| panic!("no name: {line:?}")).to_string();
    let mode = fields[0].as_bytes();
    assert_eq!(mode.len(), 10, "mode {line:?}");
    assert!(b"-dlcbps".contains(&mode[0]), "type {line:?}");
    for (i, &c) in mode[1..].iter().enumerate() {
        let ok = c == b'-' || c == b"rwxrwxrwx"[i] || (i % 3 == 2 && b"sStT".contains(&c));
        assert!(ok, "permissions {line:?}");
    }
    for n in [fields[1], fields[2], fields[3], fields[4]] {
        assert!(n.parse::<u64>().is_ok(), "number {n:?} in {line:?}");
    }
    assert!(MONTHS.contains(&fields[5]), "month {line:?}");
    assert!((1..=31).contains(&fields[6].parse::<u32>().unwrap_or(0)), "day {line:?}");
    let t = fields[7];
    let time_ok = (t.len() == 5 && t.as_bytes()[2] == b':') || (t.len() == 4 && t.parse::<u32>().is_ok());
    assert!(time_ok, "time or year {line:?}");
    assert!(!name.is_empty(), "{line:?}");
    LsLine { kind: mode[0] as char, size: fields[4].parse().unwrap(), name }
}

/// LIST gives `ls -l` lines (the format curl, lftp and FileZilla parse), over
/// the data connection, for a directory or one file; `ls` options are ignored.
#[test]
fn list_gives_ls_l_lines() {
    let s = Server::start_with(tree, &[]);
    let mut f = s.anon();
    let text = f.listing("LIST");
    assert!(text.ends_with("\r\n"), "{text:?}");
    let lines: Vec<LsLine> = text.lines().map(ls_line).collect();
    let by_name = |n: &str| lines.iter().find(|l| l.name == n).unwrap_or_else(|| panic!("{n} in {text}"));
    assert_eq!((by_name("hello.txt").kind, by_name("hello.txt").size), ('-', 12));
    assert_eq!((by_name("data.bin").kind, by_name("data.bin").size), ('-', 1000));
    assert_eq!(by_name("sub").kind, 'd');
    assert_eq!(by_name("link -> hello.txt").kind, 'l');
    assert_eq!(lines.len(), 4, "no . or .. and nothing else: {text}");
    // An old file shows its year (ls: older than six months).
    assert!(text.lines().any(|l| l.contains(" Feb  3  2001 data.bin")), "{text}");
    assert_eq!(f.listing("LIST -la"), text);
    let one = f.listing("LIST sub/inner.txt");
    assert_eq!(one.lines().count(), 1);
    assert_eq!(ls_line(one.lines().next().unwrap()).size, 6);
    let sub = f.listing("LIST -l sub");
    let names: BTreeSet<String> = sub.lines().map(|l| ls_line(l).name).collect();
    assert_eq!(names, ["deeper", "inner.txt"].map(String::from).into());
    let _d = f.pasv();
    assert_eq!(f.code("LIST nowhere"), 550);
}

/// NLST gives bare names, one per line; a `*` or `?` in the last name is a
/// pattern.
#[test]
fn nlst_gives_names_and_patterns_select_them() {
    let s = Server::start_with(
        |root| {
            tree(root);
            std::fs::write(root.join("notes.txt"), b"n").unwrap();
        },
        &[],
    );
    let mut f = s.anon();
    let all: BTreeSet<String> = f.listing("NLST").lines().map(String::from).collect();
    assert_eq!(all, ["data.bin", "hello.txt", "link", "notes.txt", "sub"].map(String::from).into());
    let txt: BTreeSet<String> = f.listing("NLST *.txt").lines().map(String::from).collect();
    assert_eq!(txt, ["hello.txt", "notes.txt"].map(String::from).into());
    assert_eq!(f.listing("NLST d?ta.*"), "data.bin\r\n");
    assert_eq!(f.listing("NLST sub/*.txt"), "inner.txt\r\n");
    assert_eq!(f.listing("NLST *.none"), "");
}

/// The facts of an MLSD/MLST line: name and `fact=value` pairs.
fn facts(line: &str) -> (String, std::collections::BTreeMap<String, String>) {
    let (facts, name) = line.split_once(' ').unwrap_or_else(|| panic!("no name: {line:?}"));
    assert!(facts.ends_with(';'), "{line:?}");
    let map = facts
        .trim_end_matches(';')
        .split(';')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or_else(|| panic!("fact {kv:?} in {line:?}"));
            (k.to_ascii_lowercase(), v.to_string())
        })
        .collect();
    (name.to_string(), map)
}

/// RFC 3659 section 7: MLSD lists a directory over the data connection and
/// MLST one entry over the control connection, with the type, size, modify,
/// perm and unique facts; MLSD of a file is 501 (RFC 3659 7.1).
#[test]
fn mlsd_and_mlst_give_type_size_modify_perm_and_unique_facts() {
    let s = Server::start_with(tree, &[]);
    let mut f = s.anon();
    let text = f.listing("MLSD");
    let entries: Vec<_> = text.lines().map(facts).collect();
    let get = |n: &str| &entries.iter().find(|(name, _)| name == n).unwrap_or_else(|| panic!("{n}: {text}")).1;
    let data = get("data.bin");
    assert_eq!(data["type"], "file");
    assert_eq!(data["size"], "1000");
    assert_eq!(data["modify"], "20010203040506");
    assert_eq!(data["perm"], "r", "anonymous read-only may only read");
    assert_eq!(get("sub")["type"], "dir");
    assert_eq!(get("sub")["perm"], "el");
    let uniques: BTreeSet<&String> = entries.iter().map(|(_, m)| &m["unique"]).collect();
    assert_eq!(uniques.len(), entries.len(), "unique facts repeat: {text}");
    assert_eq!(f.cmd("MDTM data.bin").lines[0], data["modify"]);
    let sub: BTreeSet<String> = f.listing("MLSD sub").lines().map(|l| facts(l).0).collect();
    assert_eq!(sub, ["deeper", "inner.txt"].map(String::from).into());
    let _d = f.pasv();
    assert_eq!(f.code("MLSD data.bin"), 501, "MLSD names a directory");
    assert_eq!(f.code("MLSD nowhere"), 550);

    // MLST: 250-, the entry line indented by one space, 250 (RFC 3659 7.2).
    let lines = wire_reply(&mut f, "MLST data.bin");
    assert_multi_line(&lines, "250");
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines[1].starts_with(' ') && !lines[1].starts_with("  "), "{lines:?}");
    let (name, m) = facts(&lines[1][1..]);
    assert_eq!(name, "/data.bin");
    assert_eq!((m["type"].as_str(), m["size"].as_str(), m["modify"].as_str()), ("file", "1000", "20010203040506"));
    assert_eq!(m["unique"], data["unique"]);
    let (name, m) = facts(&f.cmd("MLST").lines[1]);
    assert_eq!((name.as_str(), m["type"].as_str()), ("/", "dir"));
    assert_eq!(f.code("MLST nowhere"), 550);
}

/// RETR (150, then 226), REST before RETR resumes at the offset (RFC 3659
/// 5.3), REST past the end is 554 (RFC 3659 5.4); SIZE (RFC 3659 4) and
/// MDTM (RFC 3659 3) of files, 550 for what is missing or not a file.
#[test]
fn retr_rest_size_and_mdtm() {
    let s = Server::start_with(tree, &[]);
    let mut f = s.anon();
    let (bytes, r) = f.get_with("RETR data.bin");
    assert_eq!((bytes, r.code.0), (pseudo_random(1000, 7), 226));
    assert_eq!(f.code("REST 990"), 350);
    assert_eq!(f.retr("data.bin"), pseudo_random(1000, 7)[990..].to_vec());
    assert_eq!(f.retr("data.bin"), pseudo_random(1000, 7), "REST applies to one transfer only");
    assert_eq!(f.code("REST 1000"), 350);
    assert_eq!(f.retr("data.bin"), b"");
    assert_eq!(f.code("REST 1001"), 350);
    let _d = f.pasv();
    assert_eq!(f.code("RETR data.bin"), 554);
    assert_eq!(f.code("REST -1"), 501);
    assert_eq!(f.code("REST x"), 501);
    assert_eq!(f.code("RETR nowhere"), 550);
    assert_eq!(f.code("RETR sub"), 550);
    assert_eq!(f.code("RETR"), 501);
    assert_eq!(f.retr("link"), b"hello world\n", "a symlink inside the root is followed");
    let r = f.cmd("SIZE data.bin");
    assert_eq!((r.code.0, r.lines[0].as_str()), (213, "1000"));
    assert_eq!(f.code("SIZE sub"), 550);
    assert_eq!(f.code("SIZE nowhere"), 550);
    let r = f.cmd("MDTM data.bin");
    assert_eq!((r.code.0, r.lines[0].as_str()), (213, "20010203040506"));
    assert_eq!(f.code("MDTM nowhere"), 550);
}

/// RFC 959 4.1.3: STOR creates or replaces, STOU picks a new name and says
/// which (RFC 1123 4.1.2.9), APPE appends (creating if needed); REST then
/// STOR resumes an upload in place (RFC 3659 5.3).
#[test]
fn stor_stou_appe_and_rest_stor_write_files() {
    let s = Server::start(&["-w"]);
    let mut f = s.anon();
    let content = pseudo_random(100_000, 3);
    assert_eq!(f.put_with("STOR new.bin", &content).code.0, 226);
    assert_eq!(std::fs::read(s.root.join("new.bin")).unwrap(), content);
    assert_eq!(f.put_with("STOR new.bin", b"replaced").code.0, 226);
    assert_eq!(std::fs::read(s.root.join("new.bin")).unwrap(), b"replaced");
    let _d = f.pasv();
    assert_eq!(f.code("STOR sub-missing/x.bin"), 550);

    let stou = |f: &mut Ftp, cmd: &str, bytes: &[u8]| -> String {
        let mut d = f.pasv();
        let r = f.cmd(cmd);
        assert_eq!(r.code.0, 150, "{r:?}");
        let name = r.lines[0].strip_prefix("FILE: ").unwrap_or_else(|| panic!("{r:?}")).to_string();
        d.write_all(bytes).unwrap();
        drop(d);
        assert_eq!(f.reply().code.0, 226);
        name
    };
    let a = stou(&mut f, "STOU", b"first");
    let b = stou(&mut f, "STOU", b"second");
    assert_ne!(a, b);
    assert_eq!(std::fs::read(s.root.join(&a)).unwrap(), b"first");
    assert_eq!(std::fs::read(s.root.join(&b)).unwrap(), b"second");
    let c = stou(&mut f, "STOU hello.txt", b"third");
    assert_ne!(c, "hello.txt");
    assert_eq!(std::fs::read(s.root.join(&c)).unwrap(), b"third");
    assert_eq!(std::fs::read(s.root.join("hello.txt")).unwrap(), b"hello world\n");

    assert_eq!(f.put_with("APPE hello.txt", b"more\n").code.0, 226);
    assert_eq!(std::fs::read(s.root.join("hello.txt")).unwrap(), b"hello world\nmore\n");
    assert_eq!(f.put_with("APPE fresh.log", b"1\n").code.0, 226);
    assert_eq!(std::fs::read(s.root.join("fresh.log")).unwrap(), b"1\n");

    // An upload resumed at 50,000 bytes ends with the whole file.
    std::fs::write(s.root.join("resume.bin"), &content[..50_000]).unwrap();
    crate::util::give_to_worker_user(&s.root.join("resume.bin"));
    assert_eq!(f.code("REST 50000"), 350);
    assert_eq!(f.put_with("STOR resume.bin", &content[50_000..]).code.0, 226);
    assert_eq!(std::fs::read(s.root.join("resume.bin")).unwrap(), content);
    assert_eq!(f.code("STOR"), 501);
    assert_eq!(f.code("APPE"), 501);
}

/// RFC 959 4.2.1: 425 when no data connection can be opened: no PASV/PORT
/// first, or nobody listening at the PORT address.
#[test]
fn a_transfer_without_a_data_connection_gets_425() {
    let s = Server::start(&["-w"]);
    let mut f = s.anon();
    for cmd in ["RETR hello.txt", "LIST", "NLST", "MLSD", "STOR x", "APPE x", "STOU"] {
        assert_eq!(f.code(cmd), 425, "{cmd}");
    }
    let (_held, closed) = refusing_port("127.0.0.1");
    let t = Instant::now();
    assert_eq!(f.code(&format!("PORT 127,0,0,1,{},{}", closed >> 8, closed & 0xff)), 200);
    assert_eq!(f.code("RETR hello.txt"), 425);
    assert!(t.elapsed() < Duration::from_secs(10));
    assert!(!s.root.join("x").exists());
    assert_eq!(f.retr("hello.txt"), b"hello world\n");
}

/// A download large enough to fill the socket buffers while the client
/// does not read (sparse: no disk used).
fn big_file(root: &Path) {
    sparse_file(&root.join("big.bin"), 256 << 20);
}

/// RFC 959 4.1.3: ABOR during a transfer: 426 for the transfer, then 226
/// for the ABOR; the session goes on. ABOR with nothing running is 225.
#[test]
fn abor_stops_a_running_download_with_426_then_226() {
    let s = Server::start_with(big_file, &[]);
    let mut f = s.anon();
    assert_eq!(f.code("ABOR"), 225);
    let mut d = f.pasv();
    assert_eq!(f.code("RETR big.bin"), 150);
    let mut some = [0u8; 4096];
    d.read_exact(&mut some).unwrap();
    // Telnet IP and Synch before ABOR, as RFC 959 4.1.3 describes it.
    f.send_raw(b"\xff\xf4\xff\xf2ABOR\r\n");
    let t = Instant::now();
    assert_eq!(f.reply().code.0, 426);
    assert_eq!(f.reply().code.0, 226);
    assert!(t.elapsed() < Duration::from_secs(5));
    // The server closed its end of the data connection: what the buffers
    // held comes, then the end (a read that times out instead fails).
    d.set_read_timeout(Some(crate::util::ftp::CLOSE_WAIT)).unwrap();
    let mut sink = [0u8; 1 << 16];
    let mut drained = 0u64;
    loop {
        match d.read(&mut sink) {
            Ok(0) => break,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the data connection after ABOR: {e}"),
            Ok(n) => drained += n as u64,
        }
    }
    assert!(drained < 256 << 20, "the whole file came anyway");
    assert_eq!(f.code("NOOP"), 200);
    assert_eq!(f.retr("hello.txt"), b"hello world\n");
}

/// RFC 959 4.1.3: ABOR while the server still waits for the client to open
/// the passive data connection is heard at once (426 for the transfer, 226
/// for the ABOR), not after the data connection timeout; a client that
/// leaves meanwhile frees its worker at once.
#[test]
fn abor_while_the_server_waits_for_the_data_connection_is_heard_at_once() {
    let s = Server::start(&[]);
    let mut f = s.anon();
    f.stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    assert_eq!(f.code("PASV"), 227);
    // The client never connects to the announced port.
    f.send_raw(b"RETR hello.txt\r\n");
    f.send_raw(b"ABOR\r\n");
    let t = Instant::now();
    assert_eq!(f.reply().code.0, 426);
    assert_eq!(f.reply().code.0, 226);
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(f.code("NOOP"), 200);
    assert_eq!(f.retr("hello.txt"), b"hello world\n");

    // The same, the ABOR in the same packet as the RETR.
    assert_eq!(f.code("EPSV"), 229);
    f.send_raw(b"RETR hello.txt\r\nABOR\r\n");
    let t = Instant::now();
    assert_eq!(f.reply().code.0, 426);
    assert_eq!(f.reply().code.0, 226);
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(f.code("NOOP"), 200);

    let mut g = s.anon();
    let me = g.stream.local_addr().unwrap().to_string();
    assert_eq!(g.code("EPSV"), 229);
    g.send_raw(b"LIST\r\n");
    drop(g);
    let gone = format!("{me}: disconnected");
    assert!(crate::util::wait_until(Duration::from_secs(5), || s.log_text().contains(&gone)), "{}", s.log_text());
}

/// The most a kernel socket buffer of this machine holds (`tcp_rmem` or
/// `tcp_wmem`, the third field).
fn tcp_buffer_max(name: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/sys/net/ipv4/{name}"))
        .ok()
        .and_then(|s| s.split_whitespace().nth(2)?.parse().ok())
        .unwrap_or(16 << 20)
}

/// RFC 959 4.1.3: STAT during a transfer reports on it (211) without
/// stopping it: the bytes moved so far, at least what the client has read
/// and at most that plus what the socket buffers hold. Other commands wait
/// for the transfer's end.
#[test]
fn stat_during_a_transfer_reports_progress() {
    let s = Server::start_with(big_file, &[]);
    let mut f = s.anon();
    let mut d = f.pasv();
    assert_eq!(f.code("RETR big.bin"), 150);
    let in_flight = tcp_buffer_max("tcp_wmem") + tcp_buffer_max("tcp_rmem");
    let mut read = 0u64;
    let mut last = 0u64;
    for chunk in [100_000usize, 3 << 20] {
        let mut some = vec![0u8; chunk];
        d.read_exact(&mut some).unwrap();
        read += chunk as u64;
        let r = f.cmd("STAT");
        assert_eq!(r.code.0, 211, "{r:?}");
        let moved: u64 = r.lines[0]
            .strip_prefix("Transfer in progress: ")
            .and_then(|t| t.strip_suffix(" bytes moved."))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{r:?}"));
        assert!(read <= moved && moved <= read + in_flight, "{moved} bytes moved, {read} read, {in_flight} in flight");
        assert!(moved >= last, "the count went back: {last}, then {moved}");
        last = moved;
    }
    // NOOP waits for the end of the transfer; ABOR ends it.
    f.send_raw(b"NOOP\r\nABOR\r\n");
    assert_eq!(f.reply().code.0, 426);
    assert_eq!(f.reply().code.0, 226);
    assert_eq!(f.reply().code.0, 200);
    drop(d);
    assert_eq!(f.code("NOOP"), 200);
}

/// RFC 959 4.2.1: 426 when the data connection breaks during a download.
#[test]
fn a_download_whose_data_connection_is_closed_gets_426() {
    let s = Server::start_with(big_file, &[]);
    let mut f = s.anon();
    let mut d = f.pasv();
    assert_eq!(f.code("RETR big.bin"), 150);
    let mut some = [0u8; 4096];
    d.read_exact(&mut some).unwrap();
    // Unread data makes the close a reset.
    drop(d);
    assert_eq!(f.reply().code.0, 426);
    assert_eq!(f.code("NOOP"), 200);
    assert_eq!(f.retr("hello.txt"), b"hello world\n");
}

/// RFC 959 4.2.1: 553 when the file system refuses a name (longer than
/// NAME_MAX here); nothing is created and the session goes on.
#[test]
fn a_name_the_file_system_refuses_gets_553() {
    let s = Server::start(&["-w"]);
    let mut f = s.anon();
    let long = "n".repeat(300);
    assert_eq!(f.code(&format!("MKD {long}")), 553);
    assert_eq!(f.code(&format!("SIZE {long}")), 553);
    let _d = f.pasv();
    assert_eq!(f.code(&format!("RETR {long}")), 553);
    // Refused before the 150: the client sends no bytes for nothing.
    assert_eq!(f.code(&format!("STOR {long}")), 553);
    assert_eq!(f.code(&format!("APPE {long}")), 553);
    let entries: Vec<_> = std::fs::read_dir(s.root.path()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(entries, vec![std::ffi::OsString::from("hello.txt")]);
    assert_eq!(f.code("NOOP"), 200);
}
