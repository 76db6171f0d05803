//! [`Session`] as what it promises to be: a mapping from [`Command`] to
//! [`Outcome`], tested without a socket or a server (RFC 959 section 5.4
//! gives the command sequences).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;

use super::{Outcome, Session};
use crate::protocol::{Command, EpsvArg, Password, Reply, ReplyCode};
use crate::server::config::{ServerCli, ServerConfig};
use crate::server::data::DataSetup;
use crate::server::transfer::Job;

/// A served root with `a.txt` (10 bytes) and `dir/`, removed on drop.
struct Root(PathBuf);

impl Root {
    fn new(tag: &str) -> Root {
        let d = std::env::temp_dir().join(format!("forkftp-session-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("dir")).unwrap();
        std::fs::write(d.join("a.txt"), b"0123456789").unwrap();
        Root(d)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The configuration `ftpserver --root ROOT` plus `extra` would run with.
fn config(root: &Root, extra: &[&str]) -> ServerConfig {
    let mut args = vec!["ftpserver", "--root", root.path().to_str().unwrap()];
    args.extend_from_slice(extra);
    let mut cfg = ServerCli::parse_from(args).server.to_config().unwrap();
    cfg.login_fail_delay = Duration::from_millis(10);
    cfg
}

const CLIENT: &str = "127.0.0.1:40000";

fn session(cfg: &ServerConfig) -> Session<'_> {
    Session::new(cfg, CLIENT.parse().unwrap(), "127.0.0.1:2121".parse().unwrap())
}

/// The reply of an outcome that must be a plain reply.
fn reply(o: Outcome) -> Reply {
    match o {
        Outcome::Reply(r) => r,
        Outcome::Close(r) => panic!("closed with {r}"),
        Outcome::Delayed(_, r, _) => panic!("delayed {r}"),
        Outcome::Transfer(t) => panic!("transfer starting with {}", t.start),
        Outcome::Secure(r, _) => panic!("TLS switch after {r}"),
        Outcome::Hash(j) => panic!("checksum of {}", j.path),
    }
}

fn code(s: &mut Session<'_>, c: Command) -> u16 {
    reply(s.handle(c)).code.value()
}

fn login(s: &mut Session<'_>, user: &str, pw: &str) {
    assert_eq!(code(s, Command::User(user.into())), 331);
    assert_eq!(code(s, Command::Pass(Password::new(pw))), 230);
}

/// RFC 959 5.4: USER, then PASS; before that only a few commands work.
#[test]
fn login_sequence() {
    let root = Root::new("login");
    let cfg = config(&root, &["--user", "alice:secret", "--max-login-fails", "2"]);
    let mut s = session(&cfg);
    assert_eq!(code(&mut s, Command::Pwd), 530);
    assert_eq!(code(&mut s, Command::Noop), 200);
    assert_eq!(code(&mut s, Command::Pass(Password::new("secret"))), 503, "PASS before USER");
    assert_eq!(code(&mut s, Command::User("alice".into())), 331);
    // A wrong password waits, longer each time; the last allowed one closes.
    match s.handle(Command::Pass(Password::new("wrong"))) {
        Outcome::Delayed(d, r, close) => {
            assert_eq!((d, r.code.value(), close), (Duration::from_millis(10), 530, false))
        }
        _ => panic!("not delayed"),
    }
    assert!(s.identity().is_none());
    assert_eq!(code(&mut s, Command::User("alice".into())), 331);
    match s.handle(Command::Pass(Password::new("wrong again"))) {
        Outcome::Delayed(d, r, close) => assert_eq!((d, r.code.value(), close), (Duration::from_millis(20), 530, true)),
        _ => panic!("not delayed"),
    }
    // The failures follow the address across sessions (the pool's shared
    // ban table): from the same address, even the right password gets 421
    // and no check; another address logs in.
    let mut s = session(&cfg);
    assert_eq!(code(&mut s, Command::User("alice".into())), 331);
    match s.handle(Command::Pass(Password::new("secret"))) {
        Outcome::Close(r) => assert_eq!(r.code.value(), 421),
        _ => panic!("a banned address was let in"),
    }
    let mut s = Session::new(&cfg, "127.0.0.2:40000".parse().unwrap(), "127.0.0.1:2121".parse().unwrap());
    login(&mut s, "alice", "secret");
    assert_eq!(s.identity().map(|i| i.name.as_str()), Some("alice"));
    // One login per session (as vsftpd): USER again is refused, PASS again
    // changes nothing.
    assert_eq!(code(&mut s, Command::User("bob".into())), 530, "no change of user");
    assert_eq!(code(&mut s, Command::Pass(Password::new("secret"))), 230, "already logged in");
    assert_eq!(s.identity().map(|i| i.name.as_str()), Some("alice"));
    assert_eq!(reply(s.handle(Command::Pwd)).text(), "\"/\" is the current directory.");
    match s.handle(Command::Quit) {
        Outcome::Close(r) => assert_eq!(r.code, ReplyCode::CLOSING),
        _ => panic!("QUIT must close"),
    }
}

/// RFC 959 4.1.3: RNTO must come right after RNFR.
#[test]
fn rename_sequence() {
    let root = Root::new("rename");
    let cfg = config(&root, &["--user", "alice:secret"]);
    let mut s = session(&cfg);
    login(&mut s, "alice", "secret");
    assert_eq!(code(&mut s, Command::Rnto("b.txt".into())), 503, "RNTO without RNFR");
    assert_eq!(code(&mut s, Command::Rnfr("missing".into())), 550);
    assert_eq!(code(&mut s, Command::Rnfr("a.txt".into())), 350);
    assert_eq!(code(&mut s, Command::Noop), 200);
    assert_eq!(code(&mut s, Command::Rnto("b.txt".into())), 503, "a command between RNFR and RNTO");
    assert_eq!(code(&mut s, Command::Rnfr("a.txt".into())), 350);
    assert_eq!(code(&mut s, Command::Rnto("dir/b.txt".into())), 250);
    assert!(root.path().join("dir/b.txt").is_file() && !root.path().join("a.txt").exists());
}

/// RFC 3659 section 5: REST sets where the next RETR starts, once.
#[test]
fn rest_then_retr() {
    let root = Root::new("rest");
    let cfg = config(&root, &[]);
    let mut s = session(&cfg);
    login(&mut s, "anonymous", "a@b");
    assert_eq!(code(&mut s, Command::Retr("a.txt".into())), 425, "no PORT or PASV yet");
    let port: SocketAddr = "127.0.0.1:40001".parse().unwrap();
    let retr = |s: &mut Session<'_>| match s.handle(Command::Retr("a.txt".into())) {
        Outcome::Transfer(t) => {
            assert!(matches!(t.setup, DataSetup::Active(a) if a == port));
            assert_eq!(t.start.text(), "Opening BINARY mode data connection for a.txt (10 bytes).");
            match t.job {
                Job::Send { offset, size, .. } => (offset, size),
                _ => panic!("not a download"),
            }
        }
        _ => panic!("no transfer"),
    };
    assert_eq!(code(&mut s, Command::Port(port)), 200);
    assert_eq!(code(&mut s, Command::Rest(4)), 350);
    assert_eq!(retr(&mut s), (4, 10));
    // The data setup and the restart point are used up.
    assert_eq!(code(&mut s, Command::Retr("a.txt".into())), 425);
    assert_eq!(code(&mut s, Command::Port(port)), 200);
    assert_eq!(retr(&mut s), (0, 10));
    assert_eq!(code(&mut s, Command::Port(port)), 200);
    assert_eq!(code(&mut s, Command::Rest(11)), 350);
    assert_eq!(code(&mut s, Command::Retr("a.txt".into())), 554, "beyond the end");
}

#[test]
fn anonymous_is_read_only() {
    let root = Root::new("perms");
    let cfg = config(&root, &[]);
    let mut s = session(&cfg);
    login(&mut s, "anonymous", "a@b");
    assert_eq!(code(&mut s, Command::Port("127.0.0.1:40001".parse().unwrap())), 200);
    for c in [
        Command::Stor("new.txt".into()),
        Command::Appe("a.txt".into()),
        Command::Dele("a.txt".into()),
        Command::Mkd("d2".into()),
        Command::Rmd("dir".into()),
        Command::Rnfr("a.txt".into()),
    ] {
        let shown = c.loggable();
        assert_eq!(reply(s.handle(c)).text(), "Permission denied.", "{shown}");
    }
    assert!(root.path().join("a.txt").is_file() && root.path().join("dir").is_dir());
    assert!(!root.path().join("new.txt").exists() && !root.path().join("d2").exists());
}

#[test]
fn no_anonymous_login_when_refused() {
    let root = Root::new("noanon");
    let cfg = config(&root, &["--no-anonymous"]);
    let mut s = session(&cfg);
    assert_eq!(code(&mut s, Command::User("anonymous".into())), 331, "the same answer for every name");
    assert!(matches!(s.handle(Command::Pass(Password::new("a@b"))), Outcome::Delayed(_, _, _)));
    assert!(s.identity().is_none());
}

/// RFC 2577: PORT and EPRT name the client's own address and no
/// privileged port; after EPSV ALL (RFC 2428 section 4), only EPSV.
#[test]
fn data_connections_are_refused_where_they_could_be_abused() {
    let root = Root::new("bounce");
    let cfg = config(&root, &[]);
    let mut s = session(&cfg);
    login(&mut s, "anonymous", "a@b");
    assert_eq!(reply(s.handle(Command::Port("127.0.0.2:40001".parse().unwrap()))).text(), "Illegal PORT command.");
    assert_eq!(code(&mut s, Command::Eprt("127.0.0.1:25".parse().unwrap())), 500);
    assert_eq!(code(&mut s, Command::Eprt("[::1]:40001".parse().unwrap())), 522);
    assert_eq!(code(&mut s, Command::Epsv(EpsvArg::Protocol(2))), 522);
    assert_eq!(code(&mut s, Command::Epsv(EpsvArg::All)), 200);
    assert_eq!(code(&mut s, Command::Pasv), 503);
    assert_eq!(code(&mut s, Command::Port("127.0.0.1:40001".parse().unwrap())), 503);
}

/// Paths stay inside the root; CWD only to directories.
#[test]
fn the_current_directory_stays_inside_the_root() {
    let root = Root::new("cwd");
    let cfg = config(&root, &[]);
    let mut s = session(&cfg);
    login(&mut s, "anonymous", "a@b");
    let pwd = |s: &mut Session<'_>| reply(s.handle(Command::Pwd)).text();
    assert_eq!(code(&mut s, Command::Cwd("dir".into())), 250);
    assert_eq!(pwd(&mut s), "\"/dir\" is the current directory.");
    assert_eq!(code(&mut s, Command::Cwd("../../..".into())), 250);
    assert_eq!(pwd(&mut s), "\"/\" is the current directory.");
    let r = reply(s.handle(Command::Cwd("a.txt".into())));
    assert_eq!((r.code.value(), r.text().as_str()), (550, "a.txt: Not a directory."));
    assert_eq!(reply(s.handle(Command::Size("a.txt".into()))).text(), "10");
    let r = reply(s.handle(Command::Size("dir".into())));
    assert_eq!((r.code.value(), r.text().as_str()), (550, "dir: Not a regular file."));
}

/// draft-somers-ftp-mfxx: MFMT and MFF set times; vsftpd's MDTM TIME path
/// too; only with the write right.
#[test]
fn modification_times_are_set_by_writers_only() {
    use std::os::unix::fs::MetadataExt;
    let root = Root::new("mfmt");
    let cfg = config(&root, &["--user", "alice:secret"]);
    let mut s = session(&cfg);
    login(&mut s, "alice", "secret");
    let mtime = |p: &str| std::fs::metadata(root.path().join(p)).unwrap().mtime();
    let r = reply(s.handle(Command::Mfmt(951_868_799, "a.txt".into())));
    assert_eq!((r.code.value(), r.text()), (213, "Modify=20000229235959; a.txt".to_string()));
    assert_eq!(mtime("a.txt"), 951_868_799);
    assert_eq!(reply(s.handle(Command::Mdtm("a.txt".into()))).text(), "20000229235959");
    let r = reply(s.handle(Command::Mdtm("20010101000000 a.txt".into())));
    assert_eq!((r.code.value(), r.text()), (213, "File modification time set.".to_string()));
    assert_eq!(mtime("a.txt"), 978_307_200);
    assert_eq!(code(&mut s, Command::Mdtm("20010101000000 missing".into())), 550);
    assert_eq!(code(&mut s, Command::Mfmt(0, "missing".into())), 550);
    let facts = crate::protocol::MffFacts { modify: Some(0), mode: Some(0o700) };
    let r = reply(s.handle(Command::Mff(facts, "dir".into())));
    assert_eq!((r.code.value(), r.text()), (213, "modify=19700101000000;UNIX.mode=0700; dir".to_string()));
    assert_eq!(mtime("dir"), 0);

    let mut anon = session(&cfg);
    login(&mut anon, "anonymous", "a@b");
    assert_eq!(reply(anon.handle(Command::Mfmt(0, "a.txt".into()))).text(), "Permission denied.");
    assert_eq!(code(&mut anon, Command::Mdtm("20020101000000 a.txt".into())), 550);
    assert_eq!(mtime("a.txt"), 978_307_200, "unchanged");
}

/// SITE CHMOD changes permission bits, SITE UMASK the modes of what MKD
/// and STOR create; the server's own files are out of reach.
#[test]
fn modes_umask_and_reserved_names() {
    use crate::protocol::SiteCommand;
    use std::os::unix::fs::PermissionsExt;
    let root = Root::new("chmod");
    let cfg = config(&root, &["--user", "alice:secret", "--umask", "027"]);
    let mut s = session(&cfg);
    login(&mut s, "alice", "secret");
    let mode = |p: &str| std::fs::metadata(root.path().join(p)).unwrap().permissions().mode() & 0o7777;
    assert_eq!(code(&mut s, Command::Site(SiteCommand::Chmod(0o604, "a.txt".into()))), 200);
    assert_eq!(mode("a.txt"), 0o604);
    assert_eq!(code(&mut s, Command::Site(SiteCommand::Chmod(0o604, "nope".into()))), 550);
    assert_eq!(code(&mut s, Command::Site(SiteCommand::Chmod(0o700, "/".into()))), 550);
    assert_eq!(reply(s.handle(Command::Site(SiteCommand::Umask(None)))).text(), "Your current UMASK is 027");
    assert_eq!(code(&mut s, Command::Mkd("d1".into())), 257);
    assert_eq!(mode("d1"), 0o750);
    assert_eq!(code(&mut s, Command::Site(SiteCommand::Umask(Some(0o002)))), 200);
    assert_eq!(code(&mut s, Command::Mkd("d2".into())), 257);
    assert_eq!(mode("d2"), 0o775);
    assert_eq!(code(&mut s, Command::Port("127.0.0.1:40001".parse().unwrap())), 200);
    match s.handle(Command::Stor("new.txt".into())) {
        Outcome::Transfer(mut t) => match &mut t.job {
            Job::Receive(up) => assert_eq!(up.file().metadata().unwrap().permissions().mode() & 0o777, 0o664),
            _ => panic!("not an upload"),
        },
        _ => panic!("no transfer"),
    }
    assert_eq!(code(&mut s, Command::Site(SiteCommand::Unknown("EXEC".into()))), 500);
    assert_eq!(reply(s.handle(Command::Site(SiteCommand::Help))).lines[1].trim(), "CHMOD HELP UMASK");
    for c in [
        Command::Retr(".forkftp.quota".into()),
        Command::Dele("dir/.forkftp.1.part".into()),
        Command::Stor(".forkftp.quota".into()),
        Command::Stou(Some(".forkftp.quota".into())),
        Command::Rnfr(".forkftp.x".into()),
    ] {
        let shown = c.loggable();
        assert_eq!(code(&mut s, Command::Port("127.0.0.1:40001".parse().unwrap())), 200);
        assert_eq!(code(&mut s, c), 553, "{shown}");
    }
    let mut anon = session(&cfg);
    login(&mut anon, "anonymous", "a@b");
    assert_eq!(code(&mut anon, Command::Site(SiteCommand::Chmod(0o777, "a.txt".into()))), 550);
    assert_eq!(mode("a.txt"), 0o604);
}

/// draft-bryan-ftpext-hash: OPTS HASH selects; HASH and the X verbs give
/// the connection a checksum to compute; RANG narrows it, once.
#[test]
fn checksums_are_jobs_with_their_algorithm_and_range() {
    use crate::protocol::checksum::Algo;
    let root = Root::new("hash");
    let cfg = config(&root, &[]);
    let mut s = session(&cfg);
    login(&mut s, "anonymous", "a@b");
    let job = |s: &mut Session<'_>, c: Command| match s.handle(c) {
        Outcome::Hash(j) => (j.algo, j.first, j.end, j.x_verb),
        Outcome::Reply(r) => panic!("{r}"),
        _ => panic!("not a checksum"),
    };
    assert_eq!(reply(s.handle(Command::Opts("HASH".into(), None))).text(), "SHA-256");
    assert_eq!(job(&mut s, Command::Hash("a.txt".into())), (Algo::Sha256, 0, 10, false));
    assert_eq!(reply(s.handle(Command::Opts("HASH".into(), Some("md5".into())))).text(), "MD5");
    assert_eq!(code(&mut s, Command::Opts("HASH".into(), Some("SHA-3".into()))), 504);
    let feat = reply(s.handle(Command::Feat));
    assert!(feat.lines.iter().any(|l| l.trim() == "HASH SHA-256;SHA-512;SHA-1;MD5*;CRC32"), "{feat}");
    for f in ["MFMT", "MFF modify;UNIX.mode;", "AVBL", "RANG STREAM", "XSHA256", "XCRC"] {
        assert!(feat.lines.iter().any(|l| l.trim() == f), "{f}: {feat}");
    }
    assert_eq!(code(&mut s, Command::Rang(2, 5)), 350);
    assert_eq!(job(&mut s, Command::Hash("a.txt".into())), (Algo::Md5, 2, 6, false));
    assert_eq!(job(&mut s, Command::XHash(Algo::Crc32, "a.txt".into())), (Algo::Crc32, 0, 10, true));
    assert_eq!(code(&mut s, Command::Rang(3, 100)), 350);
    assert_eq!(job(&mut s, Command::Hash("a.txt".into())), (Algo::Md5, 3, 10, false));
    assert_eq!(code(&mut s, Command::Rang(11, 12)), 350);
    assert_eq!(code(&mut s, Command::Hash("a.txt".into())), 554, "beyond the end");
    assert_eq!(code(&mut s, Command::Hash("dir".into())), 550);
    assert_eq!(code(&mut s, Command::Hash("missing".into())), 550);
    assert_eq!(code(&mut s, Command::Rang(0, 1)), 350);
    assert_eq!(code(&mut s, Command::Rang(1, 0)), 350, "reset");
    assert_eq!(job(&mut s, Command::Hash("a.txt".into())), (Algo::Md5, 0, 10, false));
}

/// A home's quota: AVBL says what is left; a new file needs room in the
/// files quota before its 150; DELE gives room back; RANG is not for
/// uploads.
#[test]
fn quotas_hold_before_the_transfer_starts() {
    let root = Root::new("quota");
    let cfg = config(&root, &["--user", "alice:secret", "--user-limits", "quota=100,files=1"]);
    let mut s = session(&cfg);
    login(&mut s, "alice", "secret");
    let stat = reply(s.handle(Command::Stat(None)));
    assert!(stat.lines.iter().any(|l| l.trim() == "Quota: 10 bytes of 100, 1 files of 1"), "{stat}");
    assert!(stat.lines.iter().any(|l| l.trim() == "Rate limits: download none, upload none"), "{stat}");
    assert_eq!(reply(s.handle(Command::Avbl(None))).text(), "90");
    assert_eq!(code(&mut s, Command::Avbl(Some("a.txt".into()))), 550);
    assert_eq!(code(&mut s, Command::Port("127.0.0.1:40001".parse().unwrap())), 200);
    assert_eq!(reply(s.handle(Command::Stor("b.txt".into()))).text(), "Quota exceeded.");
    assert!(matches!(s.handle(Command::Stor("a.txt".into())), Outcome::Transfer(_)), "replacing needs no new file");
    assert_eq!(code(&mut s, Command::Dele("a.txt".into())), 250);
    assert_eq!(reply(s.handle(Command::Avbl(None))).text(), "100");
    assert_eq!(code(&mut s, Command::Port("127.0.0.1:40001".parse().unwrap())), 200);
    assert_eq!(code(&mut s, Command::Rang(0, 1)), 350);
    assert_eq!(code(&mut s, Command::Stor("b.txt".into())), 503);
    assert!(matches!(s.handle(Command::Stor("b.txt".into())), Outcome::Transfer(_)));
    let mut anon = session(&cfg);
    login(&mut anon, "anonymous", "a@b");
    assert_eq!(code(&mut anon, Command::Avbl(None)), 550, "no write right");
}
