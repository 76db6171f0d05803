//! [`Session`] as what it promises to be: a mapping from [`Command`] to
//! [`Outcome`], tested without a socket or a server (RFC 959 section 5.4
//! gives the command sequences).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;

use super::{Job, Outcome, Session};
use crate::protocol::{Command, EpsvArg, Password, Reply, ReplyCode};
use crate::server::config::{ServerCli, ServerConfig};
use crate::server::data::DataSetup;

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
    assert_eq!(code(&mut s, Command::Pass(Password::new("secret"))), 230, "already logged in");
    assert_eq!(code(&mut s, Command::User("bob".into())), 530, "no change of user");
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
    assert_eq!(code(&mut s, Command::Cwd("a.txt".into())), 550);
    assert_eq!(reply(s.handle(Command::Size("a.txt".into()))).text(), "10");
}
