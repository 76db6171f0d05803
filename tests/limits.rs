//! Per-user limits (issue 14): download and upload rates measured over a
//! 3 s transfer (within 10 %), shown by `ftpserver status`; quotas of
//! bytes and files at their boundary (exactly at, one byte over, a cut
//! upload), across sessions and logins.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use crate::util::{give_to_worker_user, pseudo_random, Ftp, Server, TempDir};

/// A users-file line made by `ftpserver passwd`, with its limits.
fn passwd_line(name: &str, password: &str, home: &str, limits: &str) -> String {
    crate::util::passwd_line(name, password, &["--home", home, "--limits", limits])
}

/// A server whose users file holds `lines`, with `home` made in its root;
/// without anonymous logins (a home inside the root anonymous users read
/// is refused at start).
fn server_with_users(dir: &TempDir, homes: &[&str], lines: &[String], extra: &[&str]) -> Server {
    let users = dir.join("users");
    std::fs::write(&users, lines.join("\n") + "\n").unwrap();
    let users_arg = users.display().to_string();
    let mut args = vec!["--users", users_arg.as_str(), "--no-anonymous"];
    args.extend_from_slice(extra);
    let homes: Vec<String> = homes.iter().map(|h| h.to_string()).collect();
    Server::start_with(
        move |root| {
            for h in &homes {
                std::fs::create_dir_all(root.join(h)).unwrap();
            }
        },
        &args,
    )
}

const RATE: u64 = 1 << 20;
const SECONDS: u64 = 3;

fn assert_within_ten_percent(what: &str, bytes: u64, took: Duration) {
    let measured = bytes as f64 / took.as_secs_f64();
    let (lo, hi) = (RATE as f64 * 0.9, RATE as f64 * 1.1);
    assert!(
        (lo..=hi).contains(&measured),
        "{what}: {bytes} bytes in {took:?} = {measured:.0} bytes/s, outside {lo:.0}..{hi:.0}"
    );
}

/// A download and an upload of 3 s at 1 MiB/s (a users-file account):
/// the rate measured by the client is within 10 %; `ftpserver status`
/// shows the session's current rate meanwhile.
#[test]
fn rates_hold_within_ten_percent_over_three_seconds() {
    let dir = TempDir::new("rates");
    let line = passwd_line("carol", "pw", "carol", "down=1M,up=1M");
    let s = server_with_users(&dir, &["carol"], &[line], &[]);
    let data = pseudo_random((RATE * SECONDS) as usize, 101);
    std::fs::write(s.root.join("carol/f.bin"), &data).unwrap();
    give_to_worker_user(&s.root.join("carol"));
    let mut f = s.connect();
    f.login("carol", "pw");
    let me = f.stream.local_addr().unwrap().to_string();

    let mut data_conn = f.pasv();
    let r = f.cmd("RETR f.bin");
    assert_eq!(r.code.0, 150, "{r:?}");
    let start = Instant::now();
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        data_conn.read_to_end(&mut got).unwrap();
        (got, start.elapsed())
    });
    // The status table shows the rate once a window of it has passed.
    let mut shown = None;
    while shown.is_none() && !reader.is_finished() {
        let table = s.status();
        let row = table.lines().find(|l| l.contains(&me)).map(str::to_string);
        shown = row.and_then(|r| r.split_whitespace().find(|w| w.ends_with("/s")).map(str::to_string));
        std::thread::sleep(Duration::from_millis(100));
    }
    let (got, took) = reader.join().unwrap();
    assert_eq!(f.reply().code.0, 226);
    assert!(got == data, "the download is byte-exact");
    assert_within_ten_percent("download", got.len() as u64, took);
    let shown = shown.expect("ftpserver status showed no rate during the download");
    let mib: f64 = shown.trim_end_matches("M/s").parse().unwrap_or_else(|_| panic!("rate {shown:?}"));
    assert!((0.8..=1.2).contains(&mib), "status showed {shown}");

    let mut data_conn = f.pasv();
    let r = f.cmd("STOR up.bin");
    assert_eq!(r.code.0, 150, "{r:?}");
    let start = Instant::now();
    data_conn.write_all(&data).unwrap();
    drop(data_conn);
    let r = f.reply();
    let took = start.elapsed();
    assert_eq!(r.code.0, 226, "{r:?}");
    assert_within_ten_percent("upload", data.len() as u64, took);
    assert!(std::fs::read(s.root.join("carol/up.bin")).unwrap() == data);
    f.quit();
}

/// ASCII transfers go through a buffer rather than sendfile and splice
/// (as encrypted ones will): the rate holds there too, over 2 s.
#[test]
fn rates_hold_on_the_buffered_path() {
    let data: Vec<u8> =
        pseudo_random((2 * RATE) as usize, 105).into_iter().map(|b| if b == b'\n' { b'x' } else { b }).collect();
    let d2 = data.clone();
    let s = Server::start_with(
        move |root| std::fs::write(root.join("t.txt"), &d2).unwrap(),
        &["--user", "fay:pw", "--user-limits", "down=1M,up=1M"],
    );
    let mut f = s.connect();
    f.login("fay", "pw");
    assert_eq!(f.code("TYPE A"), 200);
    let mut data_conn = f.pasv();
    assert_eq!(f.cmd("RETR t.txt").code.0, 150);
    let start = Instant::now();
    let mut got = Vec::new();
    data_conn.read_to_end(&mut got).unwrap();
    assert_within_ten_percent("ASCII download", got.len() as u64, start.elapsed());
    assert_eq!(f.reply().code.0, 226);
    assert!(got == data, "no line ends: the same bytes");
    let mut data_conn = f.pasv();
    assert_eq!(f.cmd("STOR u.txt").code.0, 150);
    let start = Instant::now();
    data_conn.write_all(&data).unwrap();
    drop(data_conn);
    assert_eq!(f.reply().code.0, 226);
    assert_within_ten_percent("ASCII upload", data.len() as u64, start.elapsed());
    f.quit();
}

/// ABOR works while a slow transfer waits for its rate.
#[test]
fn abor_stops_a_rate_limited_download_at_once() {
    let s = Server::start_with(
        |root| std::fs::write(root.join("f.bin"), pseudo_random(1 << 20, 103)).unwrap(),
        &["--anon-limits", "down=10K"],
    );
    let mut f = s.anon();
    let mut data = f.pasv();
    assert_eq!(f.cmd("RETR f.bin").code.0, 150);
    let mut first = [0u8; 1024];
    data.read_exact(&mut first).unwrap();
    let start = Instant::now();
    let r = f.cmd("ABOR");
    assert_eq!(r.code.0, 426, "{r:?}");
    assert_eq!(f.reply().code.0, 226);
    assert!(start.elapsed() < Duration::from_secs(2), "ABOR took {:?}", start.elapsed());
    f.quit();
}

/// STOR over PASV; the final reply.
fn stor(f: &mut Ftp, name: &str, content: &[u8]) -> forkftp::protocol::Reply {
    f.put_with(&format!("STOR {name}"), content)
}

fn no_temporaries(dir: &std::path::Path) -> bool {
    std::fs::read_dir(dir).unwrap().flatten().all(|e| {
        let n = e.file_name().to_string_lossy().into_owned();
        !n.starts_with(".forkftp.") || n == ".forkftp.quota"
    })
}

/// A quota of 1000 bytes and 3 files: exactly at it is allowed, one byte
/// over is refused with 552 and leaves nothing, a replaced file's bytes
/// are reused, an aborted upload gives back what it took, and the files
/// quota holds before the 150.
#[test]
fn quotas_hold_at_the_boundary() {
    let dir = TempDir::new("quota");
    let line = passwd_line("dave", "pw", "dave", "quota=1000,files=3");
    let s = server_with_users(&dir, &["dave"], &[line], &[]);
    let home = s.root.join("dave");
    let mut f = s.connect();
    f.login("dave", "pw");
    assert_eq!(f.cmd("AVBL").text(), "1000");

    let r = stor(&mut f, "a.bin", &[1u8; 1000]);
    assert_eq!(r.code.0, 226, "exactly at the quota: {r:?}");
    assert_eq!(f.cmd("AVBL").text(), "0");
    let r = stor(&mut f, "b.bin", &[2u8; 1]);
    assert_eq!((r.code.0, r.text()), (552, "Quota exceeded.".to_string()), "one byte over");
    assert!(!home.join("b.bin").exists() && no_temporaries(&home), "nothing left of the refused upload");

    // Replacing a.bin: the same size fits, one byte more does not, and the
    // old file stays whole.
    assert_eq!(stor(&mut f, "a.bin", &[3u8; 1000]).code.0, 226);
    let r = stor(&mut f, "a.bin", &[4u8; 1001]);
    assert_eq!(r.code.0, 552, "{r:?}");
    assert_eq!(std::fs::read(home.join("a.bin")).unwrap(), vec![3u8; 1000]);
    // APPE of one byte: refused, and nothing appended.
    let r = f.put_with("APPE a.bin", b"x");
    assert_eq!(r.code.0, 552, "{r:?}");
    assert_eq!(std::fs::read(home.join("a.bin")).unwrap(), vec![3u8; 1000]);
    assert!(no_temporaries(&home));

    // A smaller replacement gives room back.
    assert_eq!(stor(&mut f, "a.bin", &[5u8; 400]).code.0, 226);
    assert_eq!(f.cmd("AVBL").text(), "600");

    // A cut upload (ABOR halfway) leaves nothing and gives back its bytes.
    let mut data = f.pasv();
    assert_eq!(f.cmd("STOR cut.bin").code.0, 150);
    data.write_all(&[6u8; 300]).unwrap();
    let r = f.cmd("ABOR");
    assert_eq!(r.code.0, 426, "{r:?}");
    assert_eq!(f.reply().code.0, 226);
    drop(data);
    assert!(!home.join("cut.bin").exists() && no_temporaries(&home));
    assert_eq!(f.cmd("AVBL").text(), "600");

    // Files: a.bin plus two more; the fourth is refused before its 150.
    assert_eq!(stor(&mut f, "c.bin", b"").code.0, 226);
    assert_eq!(stor(&mut f, "d.bin", &[7u8; 600]).code.0, 226);
    let _data = f.pasv();
    let r = f.cmd("STOR e.bin");
    assert_eq!((r.code.0, r.text()), (552, "Quota exceeded.".to_string()), "no 150 for a fourth file");
    assert!(!home.join("e.bin").exists());

    // DELE frees a file and its bytes.
    assert_eq!(f.code("DELE d.bin"), 250);
    assert_eq!(f.cmd("AVBL").text(), "600");
    assert_eq!(f.code("DELE c.bin"), 250);
    f.quit();

    // The usage is kept across logins, and shared by the sessions of the
    // home: two sessions cannot together pass the quota.
    let mut g = s.connect();
    g.login("dave", "pw");
    let mut h = s.connect();
    h.login("dave", "pw");
    assert_eq!(g.cmd("AVBL").text(), "600");
    assert_eq!(stor(&mut g, "g.bin", &[8u8; 500]).code.0, 226);
    assert_eq!(stor(&mut h, "h.bin", &[9u8; 500]).code.0, 552, "the other session's upload counts");
    assert_eq!(h.cmd("AVBL").text(), "100");
    assert_eq!(std::fs::read_to_string(home.join(".forkftp.quota")).unwrap(), "900 2\n");
    let _d = h.pasv();
    assert_eq!(h.code("RETR .forkftp.quota"), 553, "the quota file is the server's");
    g.quit();
    h.quit();
}

/// A client that dies in the middle of an upload (both connections cut)
/// leaves no file and gives its bytes back.
#[test]
fn a_client_killed_during_an_upload_gives_its_quota_back() {
    let s = Server::start(&["--user", "erin:pw", "--user-limits", "quota=100000"]);
    let mut f = s.connect();
    f.login("erin", "pw");
    let before: u64 = f.cmd("AVBL").text().parse().unwrap();
    let mut data = f.pasv();
    assert_eq!(f.cmd("STOR dying.bin").code.0, 150);
    data.write_all(&[1u8; 50_000]).unwrap();
    // Killed: the kernel closes both connections.
    drop(data);
    drop(f);
    let mut g = s.connect();
    g.login("erin", "pw");
    let ok =
        crate::util::wait_until(Duration::from_secs(10), || g.cmd("AVBL").text().parse::<u64>().unwrap() == before);
    assert!(ok, "the cut upload's bytes came back: AVBL {}", g.cmd("AVBL").text());
    assert!(!s.root.join("dying.bin").exists());
    g.quit();
}
