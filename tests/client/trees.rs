//! Trees: `mirror` both ways against our server and pyftpdlib (a second run
//! moves nothing, `--delete` removes what the source lost), `get -r`,
//! `put -r`, `mget`, `mput`, and a hostile server whose names climb out of
//! the target.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, SystemTime};

use super::fake::{Fake, Script};
use super::{run_c, Dirs, PyFtpd};
use crate::util::{pseudo_random, Server};

/// Every file of a tree: relative path to contents; directories end in `/`.
fn snapshot(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_str().unwrap().to_string();
            if e.file_type().unwrap().is_dir() {
                out.insert(format!("{rel}/"), Vec::new());
                walk(root, &p, out);
            } else {
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn assert_same_tree(got: &Path, want: &Path) {
    let (g, w) = (snapshot(got), snapshot(want));
    let names = |m: &BTreeMap<String, Vec<u8>>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&g), names(&w), "{} against {}", got.display(), want.display());
    for (k, v) in &w {
        assert!(g[k] == *v, "{k}: contents differ");
    }
}

fn mtime(p: &Path) -> SystemTime {
    std::fs::metadata(p).unwrap().modified().unwrap()
}

/// A three-level tree with blanks and UTF-8 in its names, an empty
/// directory, and files with old times (so a copy's time tells).
fn make_tree(top: &Path) {
    let deep = top.join("ünï cödé 日本/deep dir");
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::create_dir_all(top.join("empty dir")).unwrap();
    std::fs::write(top.join("top file.txt"), b"top\n").unwrap();
    std::fs::write(top.join("big.bin"), pseudo_random(300_000, 51)).unwrap();
    std::fs::write(top.join("ünï cödé 日本/mid é.txt"), b"middle\n").unwrap();
    std::fs::write(deep.join("file three.txt"), b"deep\n").unwrap();
    std::fs::write(deep.join("zero"), b"").unwrap();
    let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    for f in ["top file.txt", "big.bin", "ünï cödé 日本/mid é.txt", "ünï cödé 日本/deep dir/file three.txt"]
    {
        std::fs::File::options().write(true).open(top.join(f)).unwrap().set_modified(old).unwrap();
    }
}

/// The files a summary line says were moved (`N files, ...`).
fn files_moved(stdout: &str) -> u64 {
    let line = stdout.lines().rev().find(|l| l.contains(" files, ")).unwrap_or_else(|| panic!("no summary:\n{stdout}"));
    line.split(' ').next().unwrap().parse().unwrap()
}

/// Runs the whole mirror story against a server whose root is `root`.
fn mirror_both_ways(addr: std::net::SocketAddr, root: &Path, d: &Dirs, can_set_times: bool) {
    // Download: the remote tree "src tree" into local "src tree".
    let o = run_c(addr, &d.local, "mirror 'src tree'", &[]);
    assert_eq!(o.code(), Some(0), "{o}");
    assert_same_tree(&d.local.join("src tree"), &root.join("src tree"));
    assert_eq!(files_moved(&o.stdout), 5, "{o}");
    assert!(o.stdout.contains("bytes received in "), "{o}");
    let f = "src tree/ünï cödé 日本/deep dir/file three.txt";
    assert_eq!(mtime(&d.local.join(f)), mtime(&root.join(f)), "the remote time is kept");

    // A second run moves nothing.
    let o = run_c(addr, &d.local, "mirror 'src tree'", &["-v"]);
    assert_eq!(o.code(), Some(0), "{o}");
    assert_eq!(files_moved(&o.stdout), 0, "{o}");
    assert!(o.stdout.contains("5 unchanged"), "{o}");
    assert!(!o.stdout.contains("---> RETR"), "{o}");

    // The source loses a file and a directory, gains one, changes one.
    std::fs::remove_file(root.join("src tree/top file.txt")).unwrap();
    std::fs::remove_dir_all(root.join("src tree/ünï cödé 日本/deep dir")).unwrap();
    std::fs::write(root.join("src tree/new.txt"), b"new\n").unwrap();
    std::fs::write(root.join("src tree/big.bin"), b"now small\n").unwrap();
    let o = run_c(addr, &d.local, "mirror --dry-run --delete 'src tree'", &[]);
    assert_eq!(o.code(), Some(0), "{o}");
    assert!(o.stdout.contains("Dry run: 2 files"), "{o}");
    assert!(d.local.join("src tree/top file.txt").exists(), "a dry run changes nothing");
    let o = run_c(addr, &d.local, "mirror --delete 'src tree'", &[]);
    assert_eq!(o.code(), Some(0), "{o}");
    assert!(o.stdout.contains("2 deleted"), "{o}");
    assert_same_tree(&d.local.join("src tree"), &root.join("src tree"));

    // Upload: a local tree to the server, twice, then with --delete.
    make_tree(&d.local.join("up tree"));
    let o = run_c(addr, &d.local, "mirror -R 'up tree' 'up tree'", &["-v"]);
    assert_eq!(o.code(), Some(0), "{o}");
    assert_same_tree(&root.join("up tree"), &d.local.join("up tree"));
    assert_eq!(files_moved(&o.stdout), 5, "{o}");
    assert_eq!(o.stdout.contains("---> MFMT "), can_set_times, "{o}");
    if can_set_times {
        let f = "up tree/top file.txt";
        assert_eq!(mtime(&root.join(f)), mtime(&d.local.join(f)), "MFMT set the time");
    }
    let o = run_c(addr, &d.local, "mirror -R 'up tree' 'up tree'", &["-v"]);
    assert_eq!(o.code(), Some(0), "{o}");
    assert_eq!(files_moved(&o.stdout), 0, "{o}");
    assert!(!o.stdout.contains("---> STOR"), "{o}");
    std::fs::remove_dir_all(d.local.join("up tree/ünï cödé 日本")).unwrap();
    std::fs::remove_file(d.local.join("up tree/big.bin")).unwrap();
    let o = run_c(addr, &d.local, "mirror -R --delete 'up tree' 'up tree'", &[]);
    assert_eq!(o.code(), Some(0), "{o}");
    assert!(o.stdout.contains("2 deleted"), "{o}");
    assert_same_tree(&root.join("up tree"), &d.local.join("up tree"));
}

/// Our server lists MFMT (draft-somers-ftp-mfxx): `mirror -R` gives each
/// uploaded file its local time.
#[test]
fn mirror_copies_a_tree_both_ways_with_our_server_and_sets_times_with_mfmt() {
    let s = Server::start_with(|root| make_tree(&root.join("src tree")), &["-w"]);
    let d = Dirs::new("tree-ours");
    std::fs::create_dir_all(&d.local).unwrap();
    mirror_both_ways(s.addr, s.root.path(), &d, true);
}

#[test]
fn mirror_copies_a_tree_both_ways_with_pyftpdlib_and_sets_times_with_mfmt() {
    let py = PyFtpd::start(|root| make_tree(&root.join("src tree")), &[]);
    let d = Dirs::new("tree-py");
    std::fs::create_dir_all(&d.local).unwrap();
    mirror_both_ways(py.addr, py.root.path(), &d, true);
}

#[test]
fn get_r_put_r_mget_and_mput_move_trees_and_globs() {
    let s = Server::start_with(
        |root| {
            make_tree(&root.join("t"));
            for n in ["a.txt", "b.txt", "c.log"] {
                std::fs::write(root.join(n), n.as_bytes()).unwrap();
            }
        },
        &["-w"],
    );
    let d = Dirs::new("tree-globs");
    let o = run_c(s.addr, &d.local, "get -r t; mget *.txt 't/ünï cödé 日本/*'", &[]);
    assert_eq!(o.code(), Some(0), "{o}");
    assert_same_tree(&d.local.join("t"), &s.root.join("t"));
    assert_eq!(std::fs::read(d.local.join("a.txt")).unwrap(), b"a.txt");
    assert!(d.local.join("b.txt").exists() && !d.local.join("c.log").exists());
    assert!(d.local.join("mid é.txt").exists(), "dir/* takes the files of dir");
    assert!(!d.local.join("deep dir").exists(), "mget skips directories");

    let o = run_c(s.addr, &d.local, "mkdir up; cd up; put -r t; mput *.txt; mget nothing*", &[]);
    assert_eq!(o.code(), Some(1), "the pattern that matches nothing fails:\n{o}");
    assert!(o.stderr.contains("nothing*: no remote file matches."), "{o}");
    assert_same_tree(&s.root.join("up/t"), &d.local.join("t"));
    assert_eq!(std::fs::read(s.root.join("up/b.txt")).unwrap(), b"b.txt");
    assert!(o.stdout.contains("4 files, 29 bytes sent"), "mput: a, b, hello and mid é:\n{o}");
}

/// Security: a server that lists `../evil`, `/etc/x`, an absolute path
/// into the test's directory and `sub/../../x` gets none of them asked
/// for, let alone written, by `get -r`, `mget` or `mirror`; each is
/// reported, and the command fails.
#[test]
fn a_hostile_server_cannot_make_trees_write_outside_the_target() {
    let d = Dirs::new("tree-evil");
    let outside = d.base.join("abs-evil");
    let names = ["../evil", "/etc/x", outside.to_str().unwrap(), "a/../../x", ".."];
    for mlsd in [true, false] {
        let mut listings = HashMap::new();
        let mut top = String::new();
        let mut sub = String::new();
        for n in names {
            if mlsd {
                top.push_str(&format!("type=file;size=5;modify=20200101000000; {n}\r\n"));
                sub.push_str(&format!("type=dir; {n}\r\n"));
            } else {
                top.push_str(&format!("-rw-r--r-- 1 u g 5 Jan 01 2020 {n}\r\n"));
                sub.push_str(&format!("drwxr-xr-x 1 u g 5 Jan 01 2020 {n}\r\n"));
            }
        }
        let (ok, dir) = if mlsd {
            ("type=file;size=2; ok.txt\r\ntype=dir; sub\r\n", "type=file;size=2; in.txt\r\n")
        } else {
            ("-rw-r--r-- 1 u g 2 Jan 01 2020 ok.txt\r\ndrwxr-xr-x 2 u g 5 Jan 01 2020 sub\r\n", "")
        };
        top.push_str(ok);
        sub.push_str(dir);
        listings.insert(String::new(), top.clone());
        listings.insert("/".into(), top);
        listings.insert("sub".into(), sub);
        let feat = if mlsd { vec!["MLST type*;size*;modify*;".into()] } else { vec![] };
        let fake = Fake::start(Script {
            feat,
            listings,
            any_file: Some(b"EVIL!".to_vec()),
            files: HashMap::from([("ok.txt".into(), b"ok".to_vec()), ("sub/in.txt".into(), b"in".to_vec())]),
            ..Script::default()
        });
        let target = d.local.join(if mlsd { "mlsd" } else { "list" });
        std::fs::create_dir_all(&target).unwrap();
        let t = target.to_str().unwrap();
        let cmds = format!("lcd '{t}'; get -r . '{t}/r'; mget * sub/*; mirror . '{t}/m'");
        let o = run_c(fake.addr, &d.local, &cmds, &[]);
        assert_eq!(o.code(), Some(1), "{o}");
        for n in ["../evil", "/etc/x", "a/../../x"] {
            assert!(o.stderr.contains(&format!("Refused the remote name \"{n}\"")), "{n} not reported:\n{o}");
        }
        let asked: Vec<String> = fake.commands().into_iter().filter(|c| c.starts_with("RETR")).collect();
        assert!(asked.iter().all(|c| ["RETR ok.txt", "RETR sub/in.txt"].contains(&c.as_str())), "{asked:?}");
        assert!(asked.contains(&"RETR ok.txt".to_string()), "the good names still came: {asked:?}\n{o}");
        assert!(!outside.exists() && !d.base.join("evil").exists() && !d.base.join("x").exists());
        assert!(!d.local.join("evil").exists() && !d.local.join("x").exists());
        for (rel, _) in snapshot(d.base.path()) {
            assert!(!rel.contains("evil") && !rel.ends_with("/x"), "written: {rel}");
        }
        assert_eq!(std::fs::read(target.join("r/ok.txt")).unwrap(), b"ok");
        assert_eq!(std::fs::read(target.join("ok.txt")).unwrap(), b"ok", "mget got the plain name");
    }
}

/// Security: a symbolic link in the local target is never followed by a
/// tree download, even when the server lists a directory of that name.
#[test]
fn trees_do_not_follow_local_symbolic_links() {
    let s = Server::start_with(
        |root| {
            std::fs::create_dir_all(root.join("t/sub")).unwrap();
            std::fs::write(root.join("t/sub/f.txt"), b"f").unwrap();
        },
        &[],
    );
    let d = Dirs::new("tree-link");
    let elsewhere = d.base.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::create_dir_all(d.local.join("t")).unwrap();
    std::os::unix::fs::symlink(&elsewhere, d.local.join("t/sub")).unwrap();
    let o = run_c(s.addr, &d.local, "get -r t", &[]);
    assert_eq!(o.code(), Some(1), "{o}");
    assert!(o.stderr.contains("symbolic link, never followed"), "{o}");
    assert!(std::fs::read_dir(&elsewhere).unwrap().next().is_none(), "nothing written through the link");
}
