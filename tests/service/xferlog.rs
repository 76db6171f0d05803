//! `--xferlog`: one line per transfer, checked field by field against
//! xferlog(5) (wu-ftpd's format, which vsftpd and ProFTPD write too).

use std::io::Read;
use std::time::{SystemTime, UNIX_EPOCH};

use nix::sys::signal::Signal;

use crate::util::{pseudo_random, wait_until, Server, TempDir, READY};

const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// One xferlog line, read by its definition.
#[derive(Debug)]
struct Entry {
    /// Unix seconds of `current-time` (read as UTC).
    time: i64,
    transfer_time: u64,
    remote_host: String,
    file_size: u64,
    filename: String,
    transfer_type: String,
    special_action_flag: String,
    direction: String,
    access_mode: String,
    username: String,
    service_name: String,
    authentication_method: String,
    authenticated_user_id: String,
    completion_status: String,
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn parse(line: &str) -> Entry {
    // "DDD MMM dd hh:mm:ss YYYY": the day of the month may be padded with
    // a space, so the fields are split on runs of spaces.
    let f: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(f.len(), 18, "18 fields in {line:?}");
    let day_of_week = DAYS.iter().position(|d| *d == f[0]).unwrap_or_else(|| panic!("day {:?} in {line:?}", f[0]));
    let month =
        MONTHS.iter().position(|m| *m == f[1]).unwrap_or_else(|| panic!("month {:?} in {line:?}", f[1])) as i64 + 1;
    let day: i64 = f[2].parse().unwrap();
    assert!((1..=31).contains(&day));
    let hms: Vec<i64> = f[3].split(':').map(|x| x.parse().unwrap()).collect();
    assert_eq!(f[3].len(), 8, "hh:mm:ss in {line:?}");
    let year: i64 = f[4].parse().unwrap();
    let days = days_from_civil(year, month, day);
    assert_eq!((days + 4).rem_euclid(7) as usize, day_of_week, "the weekday matches the date in {line:?}");
    Entry {
        time: days * 86_400 + hms[0] * 3600 + hms[1] * 60 + hms[2],
        transfer_time: f[5].parse().unwrap_or_else(|_| panic!("transfer-time {:?}", f[5])),
        remote_host: f[6].into(),
        file_size: f[7].parse().unwrap(),
        filename: f[8].into(),
        transfer_type: f[9].into(),
        special_action_flag: f[10].into(),
        direction: f[11].into(),
        access_mode: f[12].into(),
        username: f[13].into(),
        service_name: f[14].into(),
        authentication_method: f[15].into(),
        authenticated_user_id: f[16].into(),
        completion_status: f[17].into(),
    }
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

fn entries(path: &std::path::Path) -> Vec<Entry> {
    std::fs::read_to_string(path).unwrap_or_default().lines().map(parse).collect()
}

#[test]
fn xferlog_has_one_line_per_transfer_field_by_field() {
    let logs = TempDir::new("xferlog");
    let xferlog = logs.join("xferlog");
    let big = pseudo_random(8 * 1024 * 1024, 3);
    let big2 = big.clone();
    let s = Server::start_with(
        move |root| {
            std::fs::write(root.join("big.bin"), &big2).unwrap();
            std::fs::write(root.join("my notes.txt"), b"line 1\nline 2\n").unwrap();
        },
        &["--xferlog", xferlog.to_str().unwrap(), "-w", "--user", "alice:secret"],
    );
    let start = now();
    // 1. An anonymous binary download.
    let mut f = s.anon();
    assert_eq!(f.retr("hello.txt"), b"hello world\n");
    // 2. An ASCII download of a name with a space; a listing is not logged.
    assert_eq!(f.code("TYPE A"), 200);
    assert_eq!(f.retr("my notes.txt"), b"line 1\r\nline 2\r\n");
    let _ = f.listing("LIST");
    f.quit();
    // 3. An upload by a real account.
    let mut a = s.connect();
    a.login("alice", "secret");
    assert_eq!(a.put_with("STOR up.bin", &[7u8; 1000]).code.0, 226);
    // 4. A download the client cuts short: incomplete.
    let mut data = a.pasv();
    assert_eq!(a.cmd("RETR big.bin").code.0, 150);
    let mut first = [0u8; 1000];
    data.read_exact(&mut first).unwrap();
    drop(data);
    let r = a.reply();
    assert_eq!(r.code.0, 426, "{r:?}");
    a.quit();

    assert!(wait_until(READY, || entries(&xferlog).len() == 4), "{:?}", std::fs::read_to_string(&xferlog));
    let e = entries(&xferlog);
    let end = now();
    for x in &e {
        assert!(
            (start - 1..=end + 1).contains(&x.time),
            "current-time {} not within the test ({start}..{end}), UTC",
            x.time
        );
        assert!(x.transfer_time >= 1, "transfer-time is whole seconds, at least 1");
        assert_eq!(x.remote_host, "127.0.0.1");
        assert_eq!(x.special_action_flag, "_");
        assert_eq!(
            (x.service_name.as_str(), x.authentication_method.as_str(), x.authenticated_user_id.as_str()),
            ("ftp", "0", "*")
        );
    }
    let summary: Vec<(&str, u64, &str, &str, &str, &str, &str)> = e
        .iter()
        .map(|x| {
            (
                x.filename.as_str(),
                x.file_size,
                x.transfer_type.as_str(),
                x.direction.as_str(),
                x.access_mode.as_str(),
                x.username.as_str(),
                x.completion_status.as_str(),
            )
        })
        .collect();
    assert_eq!(summary[0], ("/hello.txt", 12, "b", "o", "a", "anonymous", "c"));
    // A space in a name is written `_` (one field per value).
    assert_eq!(summary[1], ("/my_notes.txt", 16, "a", "o", "a", "anonymous", "c"));
    assert_eq!(summary[2], ("/up.bin", 1000, "b", "i", "r", "alice", "c"));
    assert_eq!(
        (summary[3].0, summary[3].2, summary[3].3, summary[3].4, summary[3].5, summary[3].6),
        ("/big.bin", "b", "o", "r", "alice", "i")
    );
    assert!(summary[3].1 >= 1000 && summary[3].1 < big.len() as u64, "{:?}", summary[3]);
    // The anonymous password is never written.
    assert!(!std::fs::read_to_string(&xferlog).unwrap().contains("test@example.com"));

    // logrotate: the file is moved, SIGUSR1 reopens it under its name.
    let rotated = logs.join("xferlog.1");
    std::fs::rename(&xferlog, &rotated).unwrap();
    s.signal(Signal::SIGUSR1);
    // Workers reopen when they next look at their flags: retry until the
    // line lands in the new file (each try is one more transfer). A
    // worker writes its line before it reads the QUIT, so each try's line
    // is in one of the two files once the 221 came.
    let mut tries = 0;
    assert!(wait_until(READY, || {
        tries += 1;
        let mut f = s.anon();
        assert_eq!(f.retr("hello.txt"), b"hello world\n");
        f.quit();
        !entries(&xferlog).is_empty()
    }));
    assert_eq!(entries(&rotated).len(), 4 + tries - entries(&xferlog).len());
}

#[test]
fn a_name_cannot_forge_an_xferlog_line() {
    let logs = TempDir::new("xferlog");
    let xferlog = logs.join("xferlog");
    let s = Server::start(&["--xferlog", xferlog.to_str().unwrap(), "-w"]);
    let mut f = s.anon();
    // A CR cannot reach a name over FTP, but a tab, spaces and a bidi
    // control can; none may add a field or a line.
    let name = "a b\tc\u{202e}d 1 127.0.0.1 99 x b _ o a anonymous ftp 0 * c";
    assert_eq!(f.put_with(&format!("STOR {name}"), b"x").code.0, 226);
    f.quit();
    assert!(wait_until(READY, || entries(&xferlog).len() == 1));
    let text = std::fs::read_to_string(&xferlog).unwrap();
    assert_eq!(text.lines().count(), 1, "{text:?}");
    let e = parse(text.lines().next().unwrap());
    assert_eq!(e.filename, "/a_b_c_d_1_127.0.0.1_99_x_b___o_a_anonymous_ftp_0_*_c");
    assert_eq!((e.direction.as_str(), e.file_size), ("i", 1));
}
