//! Bad input: over-long lines, binary garbage, NUL bytes, invalid UTF-8,
//! commands before login, paths that try to climb out of the root. Each gets
//! its reply, the session goes on, and other clients never notice.

use crate::util::{pseudo_random, Server};
use std::io::Read;

/// vsftpd's rule, ours too (`limits::MAX_COMMAND_LINE`): a line over 4096
/// bytes is answered 500 once and discarded; the session goes on, before
/// and after login.
#[test]
fn a_line_over_4096_bytes_gets_500_and_the_session_goes_on() {
    let s = Server::start(&[]);
    let mut f = s.connect();
    let mut long = vec![b'A'; 5000];
    long.extend_from_slice(b"\r\n");
    f.send_raw(&long);
    assert_eq!(f.reply().code.0, 500);
    assert_eq!(f.code("NOOP"), 200);
    f.login("anonymous", "x@y");
    // An over-long argument to a real verb: 500 too, not a truncated RETR.
    let mut long = b"RETR ".to_vec();
    long.extend(std::iter::repeat_n(b'a', 4200));
    long.extend_from_slice(b"\r\n");
    f.send_raw(&long);
    assert_eq!(f.reply().code.0, 500);
    assert_eq!(f.code("NOOP"), 200);
    // The longest line accepted: 4094 bytes and CRLF.
    let mut edge = b"NOOP ".to_vec();
    edge.extend(std::iter::repeat_n(b'x', 4094 - 5));
    edge.extend_from_slice(b"\r\n");
    f.send_raw(&edge);
    assert_eq!(f.reply().code.0, 501, "a 4096-byte line is parsed (NOOP takes no argument)");
    // Ten megabytes without a line end: one 500, memory stays bounded, and
    // the line end brings the session back.
    let chunk = vec![b'Z'; 1 << 20];
    for _ in 0..10 {
        f.send_raw(&chunk);
    }
    f.send_raw(b"\r\n");
    assert_eq!(f.reply().code.0, 500);
    assert_eq!(f.code("NOOP"), 200);
    assert_eq!(f.retr("hello.txt"), b"hello world\n");
}

/// Binary garbage, NUL bytes and invalid UTF-8 (RFC 2640 wants UTF-8) are
/// answered 500 or 501, never with a crash or silence.
#[test]
fn garbage_nul_bytes_and_invalid_utf8_are_answered_500_or_501() {
    let s = Server::start(&[]);
    let mut f = s.connect();
    for (line, code) in [
        (&b"RETR a\0b\r\n"[..], 501),
        (b"\0\0\0\r\n", 501),
        (b"USER \xc3\x28\r\n", 501),
        (b"\xfe\xfd\xfc\xfb\r\n", 501),
        (b"\x01\x02\x03\x04\r\n", 500),
        (b"\x1b[2J\x1b[H\r\n", 500),
        (b"\r\n", 500),
        (b"     \r\n", 500),
        (b"\xff\xff\xff\r\n", 501),
    ] {
        f.send_raw(line);
        let r = f.reply();
        assert_eq!(r.code.0, code, "{line:?}: {r:?}");
    }
    // Pseudo-random binary lines: each one answered, none taken for a command.
    let noise = pseudo_random(64 * 200, 13);
    for chunk in noise.chunks(64) {
        let mut line: Vec<u8> = chunk.iter().map(|&b| if b == b'\n' { b'#' } else { b }).collect();
        line.extend_from_slice(b"\r\n");
        f.send_raw(&line);
        let r = f.reply();
        // A short run of letters may read as an unknown verb: 502.
        assert!([500, 501, 502].contains(&r.code.0), "{line:?}: {r:?}");
    }
    f.login("anonymous", "x@y");
    f.send_raw(b"CWD \xc0\xaf\xc0\xaf\r\n");
    assert_eq!(f.reply().code.0, 501);
    f.send_raw(b"STOR \0\r\n");
    assert_eq!(f.reply().code.0, 501);
    assert_eq!(f.code("NOOP"), 200);
    assert_eq!(f.retr("hello.txt"), b"hello world\n");
}

/// RFC 959 5.4: before login everything but the harmless commands is 530,
/// whatever the path; nothing is leaked.
#[test]
fn commands_before_login_get_530_whatever_they_name() {
    let s = Server::start(&["-w"]);
    let mut f = s.connect();
    for cmd in ["RETR ../../etc/passwd", "CWD /../..", "LIST /", "STOR evil", "DELE hello.txt", "RNFR hello.txt"] {
        assert_eq!(f.code(cmd), 530, "{cmd}");
    }
    assert!(s.root.join("hello.txt").exists());
    assert_eq!(f.code("NOOP"), 200);
}

/// `..` never climbs above the root: RETR ../../etc/passwd is a missing
/// file of the root (550), CWD /../.. lands on the root, LIST ../.. lists it.
#[test]
fn paths_that_climb_out_of_the_root_stay_inside_it() {
    let s = Server::start_with(|root| std::fs::create_dir(root.join("sub")).unwrap(), &[]);
    let mut f = s.anon();
    for p in ["../../etc/passwd", "/../../../../etc/passwd", "sub/../../etc/passwd", "..\\..\\etc\\passwd"] {
        let _d = f.pasv();
        assert_eq!(f.code(&format!("RETR {p}")), 550, "RETR {p}");
        assert_eq!(f.code(&format!("SIZE {p}")), 550, "SIZE {p}");
    }
    assert_eq!(f.code("CWD /../.."), 250);
    assert_eq!(f.cmd("PWD").lines[0], "\"/\" is the current directory.");
    assert_eq!(f.code("CWD ../../../../etc"), 550);
    assert_eq!(f.code("CWD sub"), 250);
    assert_eq!(f.code("CWD ../../.."), 250);
    assert_eq!(f.cmd("PWD").lines[0], "\"/\" is the current directory.");
    let mut names: Vec<String> = f.listing("NLST ../..").lines().map(String::from).collect();
    names.sort();
    assert_eq!(names, ["hello.txt", "sub"]);
    assert_eq!(f.retr("../hello.txt"), b"hello world\n");
    assert_eq!(f.code("NOOP"), 200);
}

/// One client throws garbage at the server while another downloads: the
/// other client never notices, every garbage line is answered, and
/// afterwards a new client is served and the first session still answers
/// NOOP.
#[test]
fn a_client_sending_garbage_never_disturbs_the_others() {
    const LINES: usize = 1000;
    let s = Server::start_with(|root| std::fs::write(root.join("big.bin"), pseudo_random(4 << 20, 5)).unwrap(), &[]);
    let mut good = s.anon();
    let mut data = good.pasv();
    assert_eq!(good.code("RETR big.bin"), 150);

    let mut bad = s.connect();
    // A megabyte without a line end: one 500.
    let mut blob: Vec<u8> = pseudo_random(1 << 20, 6).into_iter().map(|b| if b == b'\n' { b'#' } else { b }).collect();
    blob.extend_from_slice(b"\r\n");
    bad.send_raw(&blob);
    // A thousand lines of binary noise, each starting with a byte no UTF-8
    // text starts with: each one is 501.
    let mut noise = Vec::new();
    for chunk in pseudo_random(LINES * 200, 7).chunks(200) {
        noise.push(0x80);
        noise.extend(chunk.iter().map(|&b| if b == b'\n' { b'#' } else { b }));
        noise.extend_from_slice(b"\r\n");
    }
    bad.send_raw(&noise);
    bad.send_raw(b"RETR \xff\xfe\0\r\nCWD /../..\r\nNOOP\r\n");
    assert_eq!(bad.reply().code.0, 500);
    for i in 0..LINES {
        let r = bad.reply();
        assert_eq!(r.code.0, 501, "noise line {i}: {r:?}");
    }
    assert_eq!(bad.reply().code.0, 501);
    assert_eq!(bad.reply().code.0, 530);
    assert_eq!(bad.reply().code.0, 200);

    let mut got = Vec::new();
    data.read_to_end(&mut got).unwrap();
    assert_eq!(good.reply().code.0, 226);
    assert!(got == pseudo_random(4 << 20, 5), "the good client's download was damaged");
    assert_eq!(good.code("NOOP"), 200);

    let mut third = s.anon();
    assert_eq!(third.retr("hello.txt"), b"hello world\n");
    assert_eq!(bad.code("NOOP"), 200);
    bad.login("anonymous", "x@y");
    assert_eq!(bad.retr("hello.txt"), b"hello world\n");
    // A client that vanishes in the middle of a line frees its worker.
    {
        let mut gone = s.connect();
        gone.send_raw(b"RETR half-a-li");
    }
    let mut fourth = s.anon();
    assert_eq!(fourth.code("NOOP"), 200);
}
