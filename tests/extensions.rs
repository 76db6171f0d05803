//! The server extensions sync tools need (issue 14), driven by real
//! clients: Python's ftplib for every new verb and its error replies,
//! rclone (`sync` both ways, `touch`, `lsl`, a sync that moves nothing but
//! a time), lftp's `mirror` keeping times, and HASH paced, answering STAT
//! and stopped by ABOR.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::{lacking, pseudo_random, run_tool, sparse_file, Server, TempDir};

const LIMIT: Duration = Duration::from_secs(60);

/// Every new verb through ftplib, with its replies; the script asserts,
/// and prints what it checked.
const FTPLIB_SCRIPT: &str = r#"
import ftplib, hashlib, sys, zlib
host, port = sys.argv[1], int(sys.argv[2])
data = open(sys.argv[3], "rb").read()

def expect_error(code, f, *args):
    try:
        r = f(*args)
    except ftplib.all_errors as e:
        assert str(e).startswith(code), f"{args}: expected {code}, got {e}"
        return str(e)
    raise AssertionError(f"{args}: expected {code}, got success {r!r}")

ftp = ftplib.FTP()
ftp.connect(host, port, timeout=30)
ftp.login("alice", "secret")
feat = ftp.sendcmd("FEAT").splitlines()
for f in ["MFMT", "MFF modify;UNIX.mode;", "HASH SHA-256*;SHA-512;SHA-1;MD5;CRC32", "AVBL", "RANG STREAM",
          "XSHA256", "XSHA512", "XSHA1", "XMD5", "XCRC", "MDTM"]:
    assert " " + f in feat, f"{f} not in FEAT: {feat}"

# MFMT (draft-somers-ftp-mfxx section 3).
assert ftp.sendcmd("MFMT 20200102030405 a.txt") == "213 Modify=20200102030405; a.txt"
assert ftp.sendcmd("MDTM a.txt") == "213 20200102030405"
expect_error("550", ftp.sendcmd, "MFMT 20200102030405 missing.txt")
expect_error("501", ftp.sendcmd, "MFMT 2020010203040 a.txt")
expect_error("501", ftp.sendcmd, "MFMT 20201302030405 a.txt")
expect_error("501", ftp.sendcmd, "MFMT")
# MDTM with a time, as vsftpd answers it.
assert ftp.sendcmd("MDTM 20210101000000 a.txt") == "213 File modification time set."
assert ftp.sendcmd("MDTM a.txt") == "213 20210101000000"
expect_error("550", ftp.sendcmd, "MDTM 20210101000000 missing.txt")
# MFF (section 4): modify and UNIX.mode; another fact is 504, before any change.
assert ftp.sendcmd("MFF modify=20220101000000;UNIX.mode=0640; a.txt") == "213 modify=20220101000000;UNIX.mode=0640; a.txt"
expect_error("504", ftp.sendcmd, "MFF UNIX.owner=0;modify=20000101000000; a.txt")
expect_error("501", ftp.sendcmd, "MFF modify=2022; a.txt")
expect_error("501", ftp.sendcmd, "MFF UNIX.mode=4755; a.txt")
expect_error("550", ftp.sendcmd, "MFF modify=20220101000000; missing.txt")
assert ftp.sendcmd("MDTM a.txt") == "213 20220101000000"

# HASH (draft-bryan-ftpext-hash) with OPTS HASH, and the X verbs.
want = {"SHA-256": hashlib.sha256(data).hexdigest(), "SHA-512": hashlib.sha512(data).hexdigest(),
        "SHA-1": hashlib.sha1(data).hexdigest(), "MD5": hashlib.md5(data).hexdigest(),
        "CRC32": "%08x" % zlib.crc32(data)}
assert ftp.sendcmd("OPTS HASH") == "200 SHA-256"
for algo, digest in want.items():
    assert ftp.sendcmd("OPTS HASH " + algo) == "200 " + algo
    r = ftp.sendcmd("HASH a.txt")
    assert r == f"213 {algo} 0-{len(data) - 1} {digest} a.txt", (r, digest)
expect_error("504", ftp.sendcmd, "OPTS HASH SHA-3")
assert ftp.sendcmd("OPTS HASH") == "200 CRC32", "a refused OPTS HASH changes nothing"
for verb, algo in [("XSHA256", "SHA-256"), ("XSHA512", "SHA-512"), ("XSHA1", "SHA-1"), ("XMD5", "MD5"), ("XCRC", "CRC32")]:
    assert ftp.sendcmd(f"{verb} a.txt") == "250 " + want[algo], verb
expect_error("550", ftp.sendcmd, "HASH missing.txt")
expect_error("550", ftp.sendcmd, "HASH sub")
expect_error("501", ftp.sendcmd, "HASH")
expect_error("501", ftp.sendcmd, "XSHA256")
# RANG (draft-bryan-ftp-range): the octets of the next HASH or RETR, inclusive.
ftp.sendcmd("OPTS HASH SHA-1")
assert ftp.sendcmd("RANG 10 19").startswith("350")
assert ftp.sendcmd("HASH a.txt") == f"213 SHA-1 10-19 {hashlib.sha1(data[10:20]).hexdigest()} a.txt"
assert ftp.sendcmd("HASH a.txt").startswith(f"213 SHA-1 0-{len(data) - 1} "), "RANG applies once"
ftp.sendcmd("RANG 5 9")
got = bytearray()
ftp.retrbinary("RETR a.txt", got.extend)
assert bytes(got) == data[5:10], got
expect_error("501", ftp.sendcmd, "RANG 9 3")
expect_error("501", ftp.sendcmd, "RANG 1")
ftp.sendcmd("RANG 0 1")
expect_error("503", ftp.storbinary, "STOR new.txt", __import__("io").BytesIO(b"x"))
assert ftp.sendcmd("RANG 1 0").startswith("350"), "RANG 1 0 resets"

# SITE CHMOD, UMASK, HELP.
assert ftp.sendcmd("SITE CHMOD 600 a.txt").startswith("200")
expect_error("501", ftp.sendcmd, "SITE CHMOD 4755 a.txt")
expect_error("501", ftp.sendcmd, "SITE CHMOD 1777 sub")
expect_error("501", ftp.sendcmd, "SITE CHMOD 9 a.txt")
expect_error("550", ftp.sendcmd, "SITE CHMOD 600 missing.txt")
expect_error("550", ftp.sendcmd, "SITE CHMOD 600 /")
assert ftp.sendcmd("SITE UMASK") == "200 Your current UMASK is 022"
assert ftp.sendcmd("SITE UMASK 077") == "200 UMASK set to 077"
ftp.mkd("private")
ftp.storbinary("STOR private/p.txt", __import__("io").BytesIO(b"p"))
expect_error("501", ftp.sendcmd, "SITE UMASK 8")
help = ftp.sendcmd("SITE HELP")
assert help.startswith("214") and "CHMOD" in help and "UMASK" in help, help
expect_error("500", ftp.sendcmd, "SITE EXEC /bin/sh")
expect_error("501", ftp.sendcmd, "SITE")

# AVBL: free bytes, quota-aware.
avbl = ftp.sendcmd("AVBL")
assert avbl.startswith("213 ") and int(avbl[4:]) > 0, avbl
assert int(ftp.sendcmd("AVBL sub")[4:]) > 0
expect_error("550", ftp.sendcmd, "AVBL a.txt")
expect_error("550", ftp.sendcmd, "AVBL missing")

# The server's own files are not the client's.
expect_error("553", ftp.sendcmd, "MFMT 20200101000000 .forkftp.quota")
ftp.quit()

# Anonymous (read-only): no time, mode or space to change; checksums yes.
anon = ftplib.FTP()
anon.connect(host, port, timeout=30)
anon.login()
for cmd in ["MFMT 20200101000000 a.txt", "MDTM 20200101000000 a.txt", "MFF modify=20200101000000; a.txt",
            "SITE CHMOD 777 a.txt", "AVBL"]:
    expect_error("550", anon.sendcmd, cmd)
assert anon.sendcmd("XCRC a.txt") == "250 " + want["CRC32"]
anon.quit()
print("ftplib: every check passed")
"#;

#[test]
fn ftplib_every_new_verb_and_its_error_replies() {
    let data = pseudo_random(5000, 81);
    let d2 = data.clone();
    let s = Server::start_with(
        move |root| {
            std::fs::write(root.join("a.txt"), &d2).unwrap();
            std::fs::create_dir(root.join("sub")).unwrap();
        },
        &["--user", "alice:secret"],
    );
    let dir = TempDir::new("ftplib-ext");
    let copy = dir.join("a.txt");
    std::fs::write(&copy, &data).unwrap();
    let port = s.addr.port().to_string();
    let run = run_tool(
        Command::new("python3").args(["-c", FTPLIB_SCRIPT, "127.0.0.1", &port, copy.to_str().unwrap()]),
        LIMIT,
    );
    run.assert_ok("ftplib script");
    assert!(run.stdout.contains("every check passed"), "{}", run.stdout);
    let meta = |p: &str| std::fs::metadata(s.root.join(p)).unwrap();
    assert_eq!(meta("a.txt").permissions().mode() & 0o7777, 0o600, "SITE CHMOD 600");
    assert_eq!(meta("a.txt").mtime(), 1_640_995_200, "MFF modify=20220101000000");
    assert_eq!(meta("private").permissions().mode() & 0o7777, 0o700, "MKD after SITE UMASK 077");
    assert_eq!(meta("private/p.txt").permissions().mode() & 0o7777, 0o600, "STOR after SITE UMASK 077");
    assert!(!s.root.join("new.txt").exists(), "STOR after RANG is refused");
}

/// The number in a `211 Checksum in progress: N bytes moved.` reply.
fn progress_bytes(text: &str) -> u64 {
    text.split_whitespace().find_map(|w| w.parse().ok()).unwrap_or_else(|| panic!("no count in {text:?}"))
}

/// CPU seconds a process has used (user and system, from /proc).
fn cpu_seconds(pid: i32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap().split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).unwrap().unwrap() as f64
}

/// Security: a checksum of a huge file goes at `HASH_RATE` (128 MiB/s), so
/// the worker does not spend a core on it; STAT says how far it is; ABOR
/// stops it (426, then 226) and the session goes on.
#[test]
fn hash_is_paced_answers_stat_and_stops_on_abor() {
    let s = Server::start(&[]);
    let big = s.root.join("huge.bin");
    sparse_file(&big, 8 << 30);
    if std::fs::metadata(&big).unwrap().blocks() > 0 {
        return lacking("sparse", "this file system has no sparse files");
    }
    let mut f = s.anon();
    let me = f.stream.local_addr().unwrap();
    f.send_raw(b"HASH huge.bin\r\n");
    let worker = s.worker_serving(me).expect("the worker serving us");
    let stat = |f: &mut crate::util::Ftp| {
        let r = f.cmd("STAT");
        assert_eq!(r.code.0, 211, "{r:?}");
        assert!(r.text().starts_with("Checksum in progress: "), "{r:?}");
        (Instant::now(), progress_bytes(&r.text()), cpu_seconds(worker))
    };
    let (t0, b0, c0) = stat(&mut f);
    // Measuring a pace takes time; a second and a half is enough to see it.
    std::thread::sleep(Duration::from_millis(1500));
    let (t1, b1, c1) = stat(&mut f);
    let secs = t1.duration_since(t0).as_secs_f64();
    let rate = (b1 - b0) as f64 / secs;
    let limit = forkftp::limits::HASH_RATE as f64;
    assert!(b1 > b0, "the checksum makes progress: {b0} then {b1}");
    assert!(rate < limit * 1.15, "{rate:.0} bytes/s, over the pace of {limit}");
    assert!((c1 - c0) < secs * 0.8, "the worker used {:.2} s of CPU in {secs:.2} s", c1 - c0);
    let r = f.cmd("ABOR");
    assert_eq!((r.code.0, r.text()), (426, "Checksum aborted.".to_string()));
    let r = f.reply();
    assert_eq!(r.code.0, 226, "{r:?}");
    assert_eq!(f.code("NOOP"), 200);
    f.quit();
}

/// rclone against our server: `sync` up and down keeps times, `touch -t`
/// sets one (MFMT) that `lsl` shows, and after a `touch` of the source a
/// sync moves nothing but the time (`--refresh-times`: the FTP backend has
/// no checksums to compare, so this is how rclone keeps from uploading).
#[test]
fn rclone_syncs_both_ways_and_sets_times() {
    let s = Server::start(&["--user", "alice:secret", "-v"]);
    let dir = TempDir::new("rclone");
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("sub dir")).unwrap();
    std::fs::write(src.join("a.txt"), b"alpha\n").unwrap();
    std::fs::write(src.join("sub dir/b.bin"), pseudo_random(300_000, 91)).unwrap();
    let set_time = |p: &Path, secs: u64| {
        let t = std::time::UNIX_EPOCH + Duration::from_secs(secs);
        std::fs::File::options().write(true).open(p).unwrap().set_modified(t).unwrap();
    };
    set_time(&src.join("a.txt"), 1_577_934_245); // 2020-01-02 03:04:05
    set_time(&src.join("sub dir/b.bin"), 1_262_304_000); // 2010-01-01
    let obscured = run_tool(Command::new("rclone").args(["obscure", "secret"]), LIMIT);
    obscured.assert_ok("rclone obscure");
    let remote = format!(":ftp,host=127.0.0.1,port={},user=alice,pass={}:", s.addr.port(), obscured.stdout.trim());
    let rclone = |args: &[&str]| {
        let mut c = Command::new("rclone");
        c.args(["--config", "/dev/null", "--retries", "1", "--low-level-retries", "1", "-v"]).args(args);
        let run = run_tool(&mut c, LIMIT);
        run.assert_ok(&format!("rclone {args:?}"));
        run
    };
    let mtime = |p: &Path| std::fs::metadata(p).unwrap().mtime();

    rclone(&["sync", src.to_str().unwrap(), &format!("{remote}dst")]);
    assert_eq!(std::fs::read(s.root.join("dst/sub dir/b.bin")).unwrap(), pseudo_random(300_000, 91));
    assert_eq!(mtime(&s.root.join("dst/a.txt")), 1_577_934_245, "rclone set the time with MFMT");
    assert_eq!(mtime(&s.root.join("dst/sub dir/b.bin")), 1_262_304_000);

    rclone(&["touch", "-t", "2021-05-06T07:08:09", &format!("{remote}dst/a.txt")]);
    let lsl = rclone(&["lsl", &format!("{remote}dst")]);
    let line = lsl.stdout.lines().find(|l| l.ends_with(" a.txt")).unwrap_or_else(|| panic!("{}", lsl.stdout));
    assert!(line.contains("2021-05-06 07:08:09"), "{line}");
    assert!(
        lsl.stdout.lines().any(|l| l.contains("2010-01-01 00:00:00") && l.ends_with(" sub dir/b.bin")),
        "{}",
        lsl.stdout
    );

    // Down: the server's tree into a new local directory, times kept.
    let down = dir.join("down");
    rclone(&["sync", &format!("{remote}dst"), down.to_str().unwrap()]);
    assert_eq!(mtime(&down.join("a.txt")), 1_620_284_889, "2021-05-06 07:08:09");
    assert_eq!(std::fs::read(down.join("sub dir/b.bin")).unwrap(), pseudo_random(300_000, 91));

    // A touch on the source: the next sync sets the time and moves no byte.
    set_time(&src.join("a.txt"), 1_672_531_200); // 2023-01-01
    let stors = |log: &str| log.lines().filter(|l| l.contains(": STOR ")).count();
    let before = stors(&s.log_text());
    let run = rclone(&["sync", "--refresh-times", src.to_str().unwrap(), &format!("{remote}dst")]);
    assert!(run.stderr.contains("a.txt: Updated modification time in destination"), "{}", run.stderr);
    assert!(run.stderr.contains("There was nothing to transfer"), "{}", run.stderr);
    assert_eq!(stors(&s.log_text()), before, "no upload");
    assert_eq!(mtime(&s.root.join("dst/a.txt")), 1_672_531_200);
}

/// lftp's `mirror` keeps modification times both ways: down from MLSD's
/// `modify`, up through MFMT.
#[test]
fn lftp_mirror_keeps_modification_times() {
    let s = Server::start_with(
        |root| {
            std::fs::create_dir_all(root.join("tree/deep")).unwrap();
            std::fs::write(root.join("tree/deep/f.txt"), b"deep\n").unwrap();
            let t = std::time::UNIX_EPOCH + Duration::from_secs(1_262_304_000);
            std::fs::File::options().write(true).open(root.join("tree/deep/f.txt")).unwrap().set_modified(t).unwrap();
        },
        &["--user", "alice:secret"],
    );
    let dir = TempDir::new("lftp-times");
    let up = dir.join("up");
    std::fs::create_dir_all(up.join("x")).unwrap();
    std::fs::write(up.join("x/g.txt"), b"up\n").unwrap();
    let t = std::time::UNIX_EPOCH + Duration::from_secs(1_577_934_245);
    std::fs::File::options().write(true).open(up.join("x/g.txt")).unwrap().set_modified(t).unwrap();
    let script = format!(
        "set cmd:fail-exit yes; set net:max-retries 1; open -u alice,secret -p {} 127.0.0.1; mirror tree {}; mirror -R {} up; quit",
        s.addr.port(),
        dir.join("down").display(),
        up.display()
    );
    run_tool(Command::new("lftp").args(["-c", &script]), LIMIT).assert_ok("lftp mirror");
    let mtime = |p: &Path| std::fs::metadata(p).unwrap().mtime();
    assert_eq!(mtime(&dir.join("down/deep/f.txt")), 1_262_304_000, "mirror down keeps the time");
    assert_eq!(std::fs::read(s.root.join("up/x/g.txt")).unwrap(), b"up\n");
    assert_eq!(mtime(&s.root.join("up/x/g.txt")), 1_577_934_245, "mirror -R sets the time (MFMT)");
}

/// A checksum read as fast as allowed is right: HASH of a 20 MB file
/// through our raw connection matches sha256sum.
#[test]
fn hash_of_a_large_file_matches_sha256sum() {
    let data = pseudo_random(20_000_000, 93);
    let d2 = data.clone();
    let s = Server::start_with(move |root| std::fs::write(root.join("big.bin"), &d2).unwrap(), &[]);
    let mut f = s.anon();
    let r = f.cmd("HASH big.bin");
    assert_eq!(r.code.0, 213, "{r:?}");
    let want = crate::util::sha256(&data);
    assert_eq!(r.text(), format!("SHA-256 0-19999999 {want} big.bin"));
    f.quit();
}
