//! Real clients against the server: curl (passive and active, IPv4 and
//! IPv6, resume), wget, Python's ftplib and lftp (including `mirror` both
//! ways).
//! Each tool runs with a time limit; its exit status and the bytes it moved
//! are checked.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::util::{pseudo_random, run_tool, Server, TempDir};

const LIMIT: Duration = Duration::from_secs(30);

/// curl with a time limit of its own, quiet but for errors.
fn curl(args: &[&str]) -> crate::util::ToolRun {
    let mut c = Command::new("curl");
    c.args(["--silent", "--show-error", "--max-time", "20", "--disable"]).args(args);
    run_tool(&mut c, LIMIT)
}

fn url(s: &Server, path: &str) -> String {
    format!("ftp://{}/{path}", s.addr)
}

/// A root with a small tree: text, binary, a sub-directory.
fn tree(root: &Path) {
    std::fs::write(root.join("data.bin"), pseudo_random(300_000, 1)).unwrap();
    std::fs::create_dir_all(root.join("src/nested/deep")).unwrap();
    std::fs::write(root.join("src/a.txt"), b"alpha\n").unwrap();
    std::fs::write(root.join("src/nested/b.bin"), pseudo_random(70_000, 2)).unwrap();
    std::fs::write(root.join("src/nested/deep/c.txt"), b"").unwrap();
}

/// Every regular file under `dir`, by relative path, with its bytes
/// (directories as `path/`).
fn files_under(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(base).unwrap().display().to_string();
            if p.is_dir() {
                out.insert(format!("{rel}/"), Vec::new());
                walk(base, &p, out);
            } else {
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

#[test]
fn curl_downloads_uploads_and_lists() {
    let s = Server::start_with(tree, &["-w"]);
    let local = TempDir::new("curl");
    let out = local.join("data.bin");
    curl(&["-o", &out.display().to_string(), &url(&s, "data.bin")]).assert_ok("curl download");
    assert!(std::fs::read(&out).unwrap() == pseudo_random(300_000, 1));

    let up = local.join("up.bin");
    std::fs::write(&up, pseudo_random(200_000, 3)).unwrap();
    curl(&["-T", &up.display().to_string(), &url(&s, "src/uploaded.bin")]).assert_ok("curl upload");
    assert!(std::fs::read(s.root.join("src/uploaded.bin")).unwrap() == pseudo_random(200_000, 3));

    let list = curl(&[&url(&s, "src/")]);
    list.assert_ok("curl LIST");
    for name in ["a.txt", "nested", "uploaded.bin"] {
        assert!(list.stdout.lines().any(|l| l.ends_with(&format!(" {name}"))), "{name}: {}", list.stdout);
    }
    assert!(list.stdout.lines().any(|l| l.starts_with('d') && l.ends_with(" nested")), "{}", list.stdout);
    let names = curl(&["--list-only", &url(&s, "src/")]);
    names.assert_ok("curl NLST");
    let mut got: Vec<&str> = names.stdout.lines().collect();
    got.sort();
    assert_eq!(got, ["a.txt", "nested", "uploaded.bin"]);
    // A missing file is an error for curl (550 -> exit 78).
    let missing = curl(&["-o", "/dev/null", &url(&s, "nowhere.bin")]);
    assert_eq!(missing.status.code(), Some(78), "{}", missing.stderr);
}

/// `curl -C -` continues a partial download with REST (RFC 3659 5).
#[test]
fn curl_resumes_a_partial_download() {
    let s = Server::start_with(tree, &[]);
    let local = TempDir::new("curl-resume");
    let out = local.join("data.bin");
    std::fs::write(&out, &pseudo_random(300_000, 1)[..123_457]).unwrap();
    let r = curl(&["-v", "-C", "-", "-o", &out.display().to_string(), &url(&s, "data.bin")]);
    r.assert_ok("curl -C -");
    assert!(r.stderr.contains("REST 123457"), "{}", r.stderr);
    assert!(std::fs::read(&out).unwrap() == pseudo_random(300_000, 1));
}

/// `curl -P 127.0.0.1`: active mode, the server connects to curl (EPRT, or
/// PORT when curl falls back).
#[test]
fn curl_in_active_mode() {
    let s = Server::start_with(tree, &["-w"]);
    let local = TempDir::new("curl-active");
    let out = local.join("data.bin");
    let r = curl(&["-v", "-P", "127.0.0.1", "-o", &out.display().to_string(), &url(&s, "data.bin")]);
    r.assert_ok("curl -P");
    assert!(r.stderr.contains("> EPRT |1|127.0.0.1|") || r.stderr.contains("> PORT 127,0,0,1,"), "{}", r.stderr);
    assert!(std::fs::read(&out).unwrap() == pseudo_random(300_000, 1));
    let up = local.join("up.txt");
    std::fs::write(&up, b"actively uploaded\n").unwrap();
    curl(&["--ftp-port", "127.0.0.1", "-T", &up.display().to_string(), &url(&s, "up.txt")]).assert_ok("curl -P -T");
    assert_eq!(std::fs::read(s.root.join("up.txt")).unwrap(), b"actively uploaded\n");
}

/// Over IPv6 (`::1`): curl's default passive mode uses EPSV, and `-P ::1`
/// uses EPRT |2| (RFC 2428).
#[test]
fn curl_over_ipv6_with_epsv_and_eprt() {
    let s = Server::start_on("::1", tree, &[]);
    let local = TempDir::new("curl-v6");
    let out = local.join("data.bin");
    let r = curl(&["-v", "-o", &out.display().to_string(), &url(&s, "data.bin")]);
    r.assert_ok("curl EPSV over IPv6");
    assert!(r.stderr.contains("> EPSV"), "{}", r.stderr);
    assert!(std::fs::read(&out).unwrap() == pseudo_random(300_000, 1));
    std::fs::remove_file(&out).unwrap();
    let r = curl(&["-v", "-P", "::1", "-o", &out.display().to_string(), &url(&s, "data.bin")]);
    r.assert_ok("curl EPRT over IPv6");
    assert!(r.stderr.contains("> EPRT |2|::1|"), "{}", r.stderr);
    assert!(std::fs::read(&out).unwrap() == pseudo_random(300_000, 1));
    let list = curl(&[&url(&s, "")]);
    list.assert_ok("curl LIST over IPv6");
    assert!(list.stdout.contains(" data.bin"), "{}", list.stdout);
}

/// Python's ftplib: the standard library's client, its own parsers
/// (PASV, MLSD, SIZE, PWD, multi-line replies).
#[test]
fn python_ftplib_does_a_whole_session() {
    let s = Server::start_with(tree, &["-w"]);
    let script = r#"
import ftplib, io, sys
port = int(sys.argv[1])
ftp = ftplib.FTP(timeout=10)
ftp.connect("127.0.0.1", port)
print(ftp.login())
assert ftp.pwd() == "/", ftp.pwd()
print("FEAT", ftp.sendcmd("FEAT").splitlines()[0])
assert sorted(ftp.nlst()) == ["data.bin", "hello.txt", "src"], ftp.nlst()
buf = io.BytesIO()
ftp.retrbinary("RETR data.bin", buf.write)
sys.stdout.write("data %d\n" % len(buf.getvalue()))
open(sys.argv[2], "wb").write(buf.getvalue())
assert ftp.size("data.bin") == 300000
lines = []
ftp.retrlines("LIST src", lines.append)
assert any(l.endswith(" a.txt") for l in lines), lines
facts = dict(ftp.mlsd("src"))
assert facts["a.txt"]["type"] == "file" and facts["a.txt"]["size"] == "6", facts
assert facts["nested"]["type"] == "dir", facts
ftp.cwd("src")
assert ftp.pwd() == "/src"
ftp.storbinary("STOR py.bin", io.BytesIO(bytes(range(256)) * 100))
ftp.storlines("STOR py.txt", io.BytesIO(b"one\ntwo\n"))
print(ftp.mkd("made"))
ftp.rename("py.bin", "made/py.bin")
assert ftp.size("made/py.bin") == 25600
ftp.delete("py.txt")
ftp.mkd("gone")
ftp.rmd("gone")
try:
    ftp.retrbinary("RETR nowhere", buf.write)
    raise SystemExit("RETR of a missing file succeeded")
except ftplib.error_perm as e:
    assert str(e).startswith("550"), e
print(ftp.quit())
"#;
    let local = TempDir::new("ftplib");
    let out = local.join("data.bin");
    let mut c = Command::new("python3");
    c.args(["-c", script, &s.addr.port().to_string(), &out.display().to_string()]);
    let r = run_tool(&mut c, LIMIT);
    r.assert_ok("python3 ftplib");
    assert!(r.stdout.contains("230") && r.stdout.contains("data 300000") && r.stdout.contains("221"), "{}", r.stdout);
    assert!(std::fs::read(&out).unwrap() == pseudo_random(300_000, 1));
    assert_eq!(
        std::fs::read(s.root.join("src/made/py.bin")).unwrap(),
        (0..=255u8).cycle().take(25_600).collect::<Vec<_>>()
    );
    assert!(!s.root.join("src/py.txt").exists());
    assert!(!s.root.join("src/gone").exists() && s.root.join("src/nested/deep/c.txt").exists());
}

/// lftp with a time limit, its settings isolated from the user's.
fn lftp(s: &Server, home: &Path, commands: &str) -> crate::util::ToolRun {
    let script = format!(
        "set net:timeout 10; set net:max-retries 1; set net:reconnect-interval-base 1; set cmd:fail-exit yes; \
         set xfer:clobber yes; open -u anonymous,lftp@example.com -p {} {}; {commands}",
        s.addr.port(),
        s.addr.ip()
    );
    let mut c = Command::new("lftp");
    c.env("HOME", home).args(["-c", &script]);
    run_tool(&mut c, LIMIT)
}

/// lftp: ls, get, then `mirror` a tree down and `mirror -R` one up; the
/// trees come out identical.
#[test]
fn lftp_lists_gets_and_mirrors_a_tree_both_ways() {
    let s = Server::start_with(tree, &["-w"]);
    let local = TempDir::new("lftp");
    let r = lftp(&s, local.path(), "ls src");
    r.assert_ok("lftp ls");
    assert!(r.stdout.contains(" a.txt") && r.stdout.contains(" nested"), "{}", r.stdout);

    let got = local.join("got.bin");
    lftp(&s, local.path(), &format!("get data.bin -o {}", got.display())).assert_ok("lftp get");
    assert!(std::fs::read(&got).unwrap() == pseudo_random(300_000, 1));

    let down = local.join("down");
    lftp(&s, local.path(), &format!("mirror src {}", down.display())).assert_ok("lftp mirror");
    assert_eq!(files_under(&down), files_under(&s.root.join("src")));

    let up = local.join("up");
    std::fs::create_dir_all(up.join("x/y")).unwrap();
    std::fs::write(up.join("top.txt"), b"top\n").unwrap();
    std::fs::write(up.join("x/y/bin.dat"), pseudo_random(150_000, 9)).unwrap();
    std::fs::write(up.join("x/empty"), b"").unwrap();
    lftp(&s, local.path(), &format!("mirror -R {} /uploaded", up.display())).assert_ok("lftp mirror -R");
    assert_eq!(files_under(&s.root.join("uploaded")), files_under(&up));
    assert!(
        std::fs::read_dir(s.root.join("uploaded/x/y"))
            .unwrap()
            .flatten()
            .all(|e| !e.file_name().to_string_lossy().starts_with(".forkftp.")),
        "a temporary was left behind"
    );
}

#[test]
fn wget_downloads_a_file_and_a_tree() {
    let s = Server::start_with(tree, &[]);
    let local = TempDir::new("wget");
    let wget = |args: &[&str]| {
        let mut c = Command::new("wget");
        c.args(["--quiet", "--timeout=20", "--tries=1"]).args(args).current_dir(local.path());
        run_tool(&mut c, LIMIT)
    };
    let out = local.join("data.bin");
    wget(&["-O", &out.display().to_string(), &url(&s, "data.bin")]).assert_ok("wget download");
    assert!(std::fs::read(&out).unwrap() == pseudo_random(300_000, 1));
    // Recursive: wget reads the LIST output to walk the tree.
    wget(&["--recursive", "--no-host-directories", &url(&s, "src/")]).assert_ok("wget --recursive");
    assert_eq!(std::fs::read(local.join("src/nested/b.bin")).unwrap(), pseudo_random(70_000, 2));
    assert_eq!(std::fs::read(local.join("src/a.txt")).unwrap(), b"alpha\n");
}
