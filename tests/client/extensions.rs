//! Checksums (`hash`, `verify`, `get -c`: HASH, the X verbs, and a server
//! with neither), `~/.netrc`, URLs, `open`/`user`/`close`/`!`, the rate
//! limit, and what a hostile server's text and endless replies cannot do.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::Digest;

use super::fake::{Fake, Script};
use super::{client_args, fake_login, fake_server, read, run_c, run_stdin, Dirs, Proc, PyFtpd};
use crate::util::{pseudo_random, Server};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A fake server with `feat`, serving `files`, answering HASH with the
/// algorithm chosen by OPTS HASH (draft-bryan-ftpext-hash) and XSHA1.
/// `lie` makes it answer a wrong digest.
fn hashing_server(feat: &[&str], files: HashMap<String, Vec<u8>>, lie: bool) -> Fake {
    let chosen = Arc::new(Mutex::new("SHA-256".to_string()));
    let table = files.clone();
    let extra = move |verb: &str, arg: &str| -> Option<String> {
        let digest = |algo: &str, data: &[u8]| -> String {
            let mut d = match algo {
                "SHA-256" => hex(&sha2::Sha256::digest(data)),
                "SHA-1" => hex(&sha1::Sha1::digest(data)),
                "MD5" => hex(&md5::Md5::digest(data)),
                _ => format!("{:08x}", crc32fast::hash(data)),
            };
            if lie {
                d = d.chars().rev().collect();
            }
            d
        };
        match verb {
            "OPTS" if arg.to_ascii_uppercase().starts_with("HASH ") => {
                let algo = arg[5..].trim().to_ascii_uppercase();
                *chosen.lock().unwrap() = algo.clone();
                Some(format!("200 {algo}"))
            }
            "HASH" => Some(match table.get(arg) {
                Some(data) => {
                    let algo = chosen.lock().unwrap().clone();
                    format!("213 {algo} 0-{} {} {arg}", data.len(), digest(&algo, data).to_uppercase())
                }
                None => "550 No such file.".into(),
            }),
            "XSHA1" => Some(match table.get(arg) {
                Some(data) => format!("250 {}", digest("SHA-1", data)),
                None => "550 No such file.".into(),
            }),
            _ => None,
        }
    };
    Fake::start(Script {
        feat: feat.iter().map(|s| s.to_string()).collect(),
        files,
        extra: Some(Box::new(extra)),
        ..Script::default()
    })
}

#[test]
fn hash_verify_and_get_c_use_the_hash_command_and_opts_hash() {
    let data = pseudo_random(100_000, 61);
    let fake =
        hashing_server(&["HASH SHA-256*;SHA-1;MD5;CRC32"], HashMap::from([("f.bin".into(), data.clone())]), false);
    let d = Dirs::new("ext-hash");
    let o = run_c(fake.addr, &d.local, "hash f.bin; hash -a md5 f.bin; get -c f.bin; verify f.bin", &[]);
    assert_eq!(o.code(), Some(0), "{o}");
    assert!(o.stdout.contains(&format!("SHA-256 {}  f.bin", hex(&sha2::Sha256::digest(&data)))), "{o}");
    assert!(o.stdout.contains(&format!("MD5 {}  f.bin", hex(&md5::Md5::digest(&data)))), "{o}");
    assert_eq!(o.stdout.matches("f.bin: SHA-256 matches").count(), 2, "{o}");
    assert_eq!(read(&d.local.join("f.bin")), data);
    let cmds = fake.commands();
    assert!(cmds.contains(&"OPTS HASH MD5".to_string()), "{cmds:?}");
    assert!(cmds.contains(&"OPTS HASH SHA-256".to_string()), "back to SHA-256 after MD5: {cmds:?}");
}

#[test]
fn a_checksum_that_differs_fails_get_c_and_verify() {
    let fake = hashing_server(&["HASH SHA-256*"], HashMap::from([("f.bin".into(), b"data".to_vec())]), true);
    let d = Dirs::new("ext-hash-bad");
    let o = run_c(fake.addr, &d.local, "get -c f.bin", &[]);
    assert_eq!(o.code(), Some(1), "{o}");
    assert!(o.stderr.contains("SHA-256 differs from the server's"), "{o}");
}

/// A server without HASH that lists XSHA1 in FEAT: the older verb is used.
#[test]
fn verify_falls_back_to_the_x_verbs_the_server_lists() {
    let fake = hashing_server(&["XSHA1", "MDTM"], HashMap::from([("f.bin".into(), b"abc".to_vec())]), false);
    let d = Dirs::new("ext-xsha1");
    std::fs::create_dir_all(&d.local).unwrap();
    std::fs::write(d.local.join("f.bin"), b"abc").unwrap();
    let o = run_c(fake.addr, &d.local, "verify f.bin; hash -a sha256 f.bin", &[]);
    assert_eq!(o.code(), Some(1), "the SHA-256 hash cannot be had:\n{o}");
    assert!(o.stdout.contains("f.bin: SHA-1 matches (a9993e364706816aba3e25717850c26c9cd0d89d)."), "{o}");
    assert!(o.stderr.contains("The server cannot compute SHA-256 checksums"), "{o}");
    assert!(fake.commands().contains(&"XSHA1 f.bin".to_string()));
}

/// pyftpdlib has no checksum command: the user is told so, before a
/// download that could not be verified.
#[test]
fn a_server_without_checksums_is_said_clearly() {
    let py = PyFtpd::start(|_| {}, &[]);
    let d = Dirs::new("ext-nohash");
    let o = run_c(py.addr, &d.local, "get -c hello.txt", &[]);
    assert_eq!(o.code(), Some(1), "{o}");
    assert!(o.stderr.contains("The server cannot compute a checksum: its FEAT reply lists no HASH"), "{o}");
    assert!(!d.local.join("hello.txt").exists(), "nothing downloaded unverified");
    let o = run_c(py.addr, &d.local, "hash hello.txt; get hello.txt", &[]);
    assert_eq!(o.code(), Some(1), "{o}");
    assert!(d.local.join("hello.txt").exists());
}

fn write_netrc(path: &Path, text: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// ftp(1): the login comes from ~/.netrc; a file others may read is
/// refused when it holds a password.
#[test]
fn netrc_gives_the_login_and_is_refused_when_others_may_read_it() {
    let s = Server::start(&["--user", "alice:s3cret", "--no-anonymous"]);
    let d = Dirs::new("ext-netrc");
    let netrc = d.base.join("my netrc");
    let text = format!("machine {} login alice password s3cret\ndefault login anonymous password x@\n", s.addr.ip());
    let args = client_args(s.addr, &d.local, &["-c", "get hello.txt"]);
    let env = [("NETRC", netrc.to_str().unwrap())];

    write_netrc(&netrc, &text, 0o644);
    let o = Proc::spawn(&args, None, &env, d.base.path()).finish();
    assert_eq!(o.code(), Some(1), "{o}");
    assert!(o.stderr.contains("holds a password and other users may read it: refused"), "{o}");
    assert!(o.stderr.contains("chmod 600"), "{o}");
    assert!(!d.local.join("hello.txt").exists());

    write_netrc(&netrc, &text, 0o600);
    let o = Proc::spawn(&args, None, &env, d.base.path()).finish();
    assert_eq!(o.code(), Some(0), "{o}");
    assert_eq!(read(&d.local.join("hello.txt")), b"hello world\n");
    assert!(!o.stdout.contains("s3cret"), "{o}");

    // --no-netrc: back to anonymous, which this server refuses.
    let mut args = args.clone();
    args.insert(0, "--no-netrc".into());
    let o = Proc::spawn(&args, None, &env, d.base.path()).finish();
    assert_eq!(o.code(), Some(1), "{o}");
    assert!(o.stderr.contains("530"), "{o}");
}

/// `ftpclient ftp://host:port/path/file` downloads and exits, like curl;
/// `ftp://host:port/dir/` opens the session there.
#[test]
fn urls_download_a_file_or_open_a_directory() {
    let s = Server::start_with(
        |root| {
            std::fs::create_dir(root.join("my dir")).unwrap();
            std::fs::write(root.join("my dir/f.txt"), b"from a url").unwrap();
        },
        &[],
    );
    let d = Dirs::new("ext-url");
    let url = format!("ftp://anonymous@{}/my%20dir/f.txt", s.addr);
    let o = Proc::spawn(&[url], None, &[], d.base.path()).finish();
    assert_eq!(o.code(), Some(0), "{o}");
    assert_eq!(read(&d.base.join("f.txt")), b"from a url", "saved in the current directory");
    assert!(o.stdout.contains("221 "), "{o}");

    let o = Proc::spawn(&[format!("ftp://{}/nothing.txt", s.addr)], None, &[], d.base.path()).finish();
    assert_eq!(o.code(), Some(1), "{o}");
    assert!(o.stderr.contains("550"), "{o}");

    let args = vec!["--local-dir".into(), d.local.display().to_string(), format!("ftp://{}/my%20dir/", s.addr)];
    let o = Proc::spawn(&args, Some("pwd\nget f.txt\n"), &[], d.base.path()).finish();
    assert_eq!(o.code(), Some(0), "{o}");
    assert!(o.stdout.contains("257 \"/my dir\""), "{o}");
    assert_eq!(read(&d.local.join("f.txt")), b"from a url");

    let o = Proc::spawn(&["ftp://u:pw@localhost/".to_string()], None, &[], d.base.path()).finish();
    assert_eq!(o.code(), Some(2), "{o}");
    assert!(o.stderr.contains("a password in the URL would show in ps"), "{o}");
}

/// `close`, `open` another server, `user` to log in again, `!` commands.
#[test]
fn open_user_close_and_local_commands() {
    let a = Server::start(&[]);
    // 127.0.0.2 stands for another host: ~/.netrc has a login for it only.
    let b = Server::start_on("127.0.0.2", |_| {}, &["--user", "alice:pw"]);
    let d = Dirs::new("ext-open");
    let netrc = d.base.join("netrc");
    write_netrc(&netrc, &format!("machine {} login alice password pw\n", b.addr.ip()), 0o600);
    let script = format!(
        "get hello.txt\nclose\nclose\nopen {} {}\npwd\nuser anonymous\npwd\n!echo local-said-hi\n!exit 3\nclose\n",
        b.addr.ip(),
        b.addr.port()
    );
    let env = [("NETRC", netrc.to_str().unwrap())];
    let o = Proc::spawn(&client_args(a.addr, &d.local, &["--no-netrc"]), Some(&script), &env, d.base.path()).finish();
    // --no-netrc: alice's password is not known, so `open` logs in as anonymous.
    assert_eq!(o.code(), Some(1), "{o}");
    assert!(o.stdout.contains("Not connected."), "close after close:\n{o}");
    assert!(
        o.stdout.contains(&format!("Connected to {} ({}) port {}.", b.addr.ip(), b.addr.ip(), b.addr.port())),
        "{o}"
    );
    assert!(o.stdout.contains("local-said-hi"), "{o}");
    assert!(o.stderr.contains("!exit 3: exit status: 3"), "{o}");
    assert_eq!(o.stdout.matches("221 ").count(), 2, "{o}");

    let script = format!("open {} {}\npwd\n", b.addr.ip(), b.addr.port());
    let o = Proc::spawn(&client_args(a.addr, &d.local, &[]), Some(&script), &env, d.base.path()).finish();
    assert_eq!(o.code(), Some(0), "{o}");
    assert!(o.stdout.contains("230 Login successful.\n"), "alice from ~/.netrc:\n{o}");
}

/// `--limit-rate 500k` (curl's syntax, 1024-based): a 1.5 MiB download
/// and upload each take 3 s, within 10 %.
#[test]
fn the_rate_limit_holds_within_ten_percent_both_ways() {
    let size = 3 * 512 * 1024;
    let data = pseudo_random(size, 62);
    let s = Server::start_with(|root| std::fs::write(root.join("f.bin"), &data).unwrap(), &["-w"]);
    let d = Dirs::new("ext-rate");
    std::fs::create_dir_all(&d.local).unwrap();
    std::fs::write(d.local.join("up.bin"), &data).unwrap();
    for cmd in ["get f.bin", "put up.bin"] {
        let start = Instant::now();
        let o = run_c(s.addr, &d.local, cmd, &["--limit-rate", "500k"]);
        let wall = start.elapsed();
        assert_eq!(o.code(), Some(0), "{o}");
        let line = o.stdout.lines().find(|l| l.contains(&format!("{size} bytes "))).unwrap_or_else(|| panic!("{o}"));
        let secs: f64 = line.split(" in ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
        assert!((2.7..=3.3).contains(&secs), "{cmd}: {secs} s for 3 s of data at the limit:\n{o}");
        assert!(wall >= Duration::from_millis(2700), "{cmd}: the whole run took {wall:?}");
    }
    assert_eq!(read(&s.root.join("up.bin")), data);
}

/// Security (issue 10): server text reaches the terminal with its control
/// characters, C1, bidi and line separators as visible escapes (the
/// crate's one escaping function: a C1 character shows as `\u{9b}`, a byte
/// that is not UTF-8 as `\xNN`).
#[test]
fn server_text_is_escaped_before_the_terminal() {
    let evil = "\u{1b}]0;PWNED\u{7}\u{1b}[2J\u{9b}31m \u{202e}txt.exe \u{2028}x\rOVER";
    let listing = format!("-rw-r--r-- 1 u g 5 Jan 01 2020 {evil}\r\n");
    let fake = Fake::start(Script {
        greeting: Some(format!("220 {evil}")),
        listings: HashMap::from([(String::new(), listing)]),
        extra: Some(Box::new(move |verb: &str, _: &str| {
            (verb == "CWD").then(|| format!("550 {}", "\u{1b}[31mred\u{1b}[0m"))
        })),
        ..Script::default()
    });
    let d = Dirs::new("ext-escape");
    let o = run_c(fake.addr, &d.local, "ls; cd x", &[]);
    assert_eq!(o.code(), Some(1), "{o}");
    for out in [&o.stdout, &o.stderr] {
        for bad in ['\u{1b}', '\u{7}', '\u{9b}', '\u{202e}', '\u{2028}', '\r'] {
            assert!(!out.contains(bad), "{bad:?} reached the terminal:\n{out:?}");
        }
    }
    assert!(o.stdout.contains("220 \\x1b]0;PWNED\\x07\\x1b[2J\\u{9b}31m \\u{202e}txt.exe \\u{2028}x\\rOVER"), "{o}");
    assert!(o.stdout.contains("2020 \\x1b]0;PWNED"), "the listing too:\n{o}");
    assert!(o.stderr.contains("550 \\x1b[31mred\\x1b[0m"), "{o}");
}

/// Security (issue 10): a reply that never ends (here a multi-line PWD
/// reply of endless lines) is cut at the client's limit, in bounded time.
#[test]
fn an_endless_reply_is_cut_and_the_client_exits() {
    let addr = fake_server(|s| {
        if let Some(mut r) = fake_login(&s) {
            let mut line = String::new();
            let _ = r.read_line(&mut line);
            let mut w = &s;
            let _ = w.write_all(b"257-here it comes\r\n");
            let body = " and on and on and on and on and on and on and on and on and on\r\n".repeat(1000);
            while w.write_all(body.as_bytes()).is_ok() {}
        }
    });
    let d = Dirs::new("ext-endless");
    let start = Instant::now();
    let o = run_c(addr, &d.local, "pwd", &[]);
    assert_eq!(o.code(), Some(1), "{o}");
    assert!(o.stderr.contains("the server's reply is longer than 1048576 bytes"), "{o}");
    assert!(start.elapsed() < Duration::from_secs(30), "{:?}", start.elapsed());
    // And a greeting that never ends.
    let addr = fake_server(|mut s| {
        let _ = s.write_all(b"220-welcome\r\n");
        let body = "220-more\r\n".repeat(10_000);
        while s.write_all(body.as_bytes()).is_ok() {}
    });
    let o = run_stdin(addr, &d.local, "pwd\n", &[]);
    assert_eq!(o.code(), Some(1), "{o}");
    assert!(o.stderr.contains("longer than 1048576 bytes"), "{o}");
}
