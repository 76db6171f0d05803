//! The interactive prompt on a pseudo-terminal: the password is typed
//! without echo, transfers show a progress line, Ctrl-C aborts a transfer
//! and returns to the prompt, Ctrl-C at the prompt exits.

use std::time::Duration;

use super::{assert_same_bytes, client_args, read, Dirs, Pty};
use crate::util::{pseudo_random, Server};

const WAIT: Duration = Duration::from_secs(20);

#[test]
fn the_password_is_typed_without_echo_and_transfers_show_progress() {
    let data = pseudo_random(1024 * 1024, 31);
    let s = Server::start_with(
        |root| std::fs::write(root.join("f.bin"), &data).unwrap(),
        &["--user", "alice:typed-secret-42", "--no-anonymous"],
    );
    let d = Dirs::new("pty-login");
    // Limited to 2 MiB/s, the download lasts half a second: several redraws.
    let mut t = Pty::spawn(&client_args(s.addr, &d.local, &["-u", "alice", "--limit-rate", "2m"]), d.base.path());
    t.expect("Password for alice: ", WAIT);
    t.send(b"typed-secret-42\r");
    let at = t.expect("230 ", WAIT);
    t.expect_from(at, "ftp> ", WAIT);
    assert!(!t.text().contains("typed-secret-42"), "the password was echoed:\n{}", t.text());

    t.send(b"get f.bin\r");
    let end = t.expect("bytes received in ", WAIT);
    let screen = t.text();
    assert!(screen.contains("\r[  0%] received") || screen.contains("\r[ "), "no progress line:\n{screen}");
    assert!(screen.contains(&format!("[100%] received {} bytes of {}", data.len(), data.len())), "{screen}");
    assert!(screen.contains(" left)"), "time left shown:\n{screen}");
    assert!(screen.matches("%] received").count() >= 2, "the progress line is redrawn:\n{screen}");
    assert_same_bytes(&read(&d.local.join("f.bin")), &data, "download");

    let at = t.expect_from(end, "ftp> ", WAIT);
    t.send(b"\r");
    // An empty line is no command: the prompt comes back. (Keys typed
    // before the next prompt is drawn are lost by rustyline: its reader
    // and what it has read end with each line.)
    t.expect_from(at, "ftp> ", WAIT);
    t.send(b"bye\r");
    let st = t.wait(WAIT);
    assert_eq!(st.code(), Some(0), "{}", t.text());
    assert!(t.text().contains("221 "), "{}", t.text());
}

#[test]
fn ctrl_c_aborts_a_transfer_back_to_the_prompt_and_ctrl_c_at_the_prompt_exits() {
    let data = pseudo_random(2 * 1024 * 1024, 32);
    let s = Server::start_with(|root| std::fs::write(root.join("f.bin"), &data).unwrap(), &[]);
    let d = Dirs::new("pty-ctrlc");
    let mut t = Pty::spawn(&client_args(s.addr, &d.local, &["--limit-rate", "1m"]), d.base.path());
    t.expect("ftp> ", WAIT);
    t.send(b"get f.bin\r");
    let at = t.expect("%] received", WAIT);
    t.send(b"\x03");
    let at = t.expect_from(at, "Transfer aborted; partial file kept", WAIT);
    let at = t.expect_from(at, "ftp> ", WAIT);
    let part = read(&d.local.join("f.bin.part"));
    assert!(!part.is_empty() && part.len() < data.len(), "partial file: {} bytes", part.len());
    assert!(!d.local.join("f.bin").exists());

    // The session is still in step: the same get resumes.
    t.send(b"get f.bin\r");
    let at = t.expect_from(at, &format!("resumed at byte {}", part.len()), WAIT);
    t.expect_from(at, "ftp> ", WAIT);
    assert_same_bytes(&read(&d.local.join("f.bin")), &data, "resumed download");

    t.send(b"\x03");
    let st = t.wait(WAIT);
    assert_eq!(st.code(), Some(130), "{}", t.text());
}

/// Ctrl-C at the password prompt leaves, and gives the terminal its echo back.
#[test]
fn ctrl_c_at_the_password_prompt_exits_and_restores_the_echo() {
    use nix::sys::termios::{tcgetattr, LocalFlags};
    let s = Server::start(&["--user", "alice:pw"]);
    let d = Dirs::new("pty-pwctrlc");
    let mut t = Pty::spawn(&client_args(s.addr, &d.local, &["-u", "alice"]), d.base.path());
    t.expect("Password for alice: ", WAIT);
    assert!(!tcgetattr(t.master()).unwrap().local_flags.contains(LocalFlags::ECHO), "echo off while typing");
    t.send(b"\x03");
    let st = t.wait(WAIT);
    assert_eq!(st.code(), Some(130), "{}", t.text());
    assert!(tcgetattr(t.master()).unwrap().local_flags.contains(LocalFlags::ECHO), "echo restored");
}

/// The server closes an idle session (421): the prompt says so at once and
/// offers `reconnect`, which logs in again.
#[test]
fn a_connection_closed_at_the_prompt_is_announced_and_reconnect_works() {
    let s = Server::start(&["--idle-timeout", "1"]);
    let d = Dirs::new("pty-idle");
    let mut t = Pty::spawn(&client_args(s.addr, &d.local, &[]), d.base.path());
    let at = t.expect("ftp> ", WAIT);
    let at = t.expect_from(at, "Connection lost: 421", WAIT);
    let at = t.expect_from(at, "Type 'reconnect' to connect again, or 'bye'.", WAIT);
    t.send(b"pwd\r");
    let at = t.expect_from(at, "Not connected.", WAIT);
    t.send(b"reconnect\r");
    let at = t.expect_from(at, "230 ", WAIT);
    t.send(b"get hello.txt\r");
    t.expect_from(at, "12 bytes received in ", WAIT);
    t.send(b"bye\r");
    let st = t.wait(WAIT);
    assert_eq!(st.code(), Some(1), "a command failed on the way:\n{}", t.text());
    assert_eq!(read(&d.local.join("hello.txt")), b"hello world\n");
}

/// The prompt keeps a history across runs in the user's data directory
/// (private to the user); Up brings the last command back.
#[test]
fn the_history_survives_the_session_and_up_recalls_it() {
    use std::os::unix::fs::PermissionsExt;
    let s = Server::start(&[]);
    let d = Dirs::new("pty-history");
    let data = d.base.join("data home");
    let args = client_args(s.addr, &d.local, &[]);
    let mut t = Pty::spawn_env(&args, d.base.path(), &[("XDG_DATA_HOME", &data)]);
    let at = t.expect("ftp> ", WAIT);
    t.send(b"size hello.txt\r");
    let at = t.expect_from(at, "hello.txt: 12 bytes", WAIT);
    let at = t.expect_from(at, "ftp> ", WAIT);
    t.send(b" pwd\r");
    let at = t.expect_from(at, "257 ", WAIT);
    t.expect_from(at, "ftp> ", WAIT);
    t.send(b"bye\r");
    assert_eq!(t.wait(WAIT).code(), Some(0), "{}", t.text());
    let file = data.join("forkftp/history");
    let kept = std::fs::read_to_string(&file).unwrap();
    assert!(kept.contains("size hello.txt") && kept.contains("bye"), "{kept}");
    assert!(!kept.contains("pwd"), "a line typed after a blank is not kept:\n{kept}");
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);

    let mut t = Pty::spawn_env(&args, d.base.path(), &[("XDG_DATA_HOME", &data)]);
    let at = t.expect("ftp> ", WAIT);
    // Up twice: `bye`, then `size hello.txt`; Enter runs it.
    t.send(b"\x1b[A");
    let at = t.expect_from(at, "bye", WAIT);
    t.send(b"\x1b[A");
    let at = t.expect_from(at, "size hello.txt", WAIT);
    t.send(b"\r");
    let at = t.expect_from(at, "hello.txt: 12 bytes", WAIT);
    t.expect_from(at, "ftp> ", WAIT);
    t.send(b"\x04");
    assert_eq!(t.wait(WAIT).code(), Some(0), "{}", t.text());
}

/// Tab completes command names, and remote names from a listing of the
/// remote directory (a name with a blank comes back escaped).
#[test]
fn tab_completes_commands_and_remote_names() {
    let s = Server::start_with(
        |root| {
            std::fs::write(root.join("unique-name.bin"), b"unique").unwrap();
            std::fs::write(root.join("my file.txt"), b"spaced").unwrap();
            std::fs::create_dir(root.join("subdir-x")).unwrap();
            std::fs::write(root.join("subdir-x/inner-file.txt"), b"inner").unwrap();
        },
        &[],
    );
    let d = Dirs::new("pty-complete");
    let mut t = Pty::spawn(&client_args(s.addr, &d.local, &[]), d.base.path());
    let at = t.expect("ftp> ", WAIT);
    t.send(b"mir\t");
    let at = t.expect_from(at, "mirror ", WAIT);
    // Ctrl-U clears the line.
    t.send(b"\x15get uniq\t");
    let at = t.expect_from(at, "get unique-name.bin ", WAIT);
    t.send(b"\r");
    let at = t.expect_from(at, "6 bytes received in ", WAIT);
    let at = t.expect_from(at, "ftp> ", WAIT);
    t.send(b"get my\t");
    let at = t.expect_from(at, "get my\\ file.txt ", WAIT);
    t.send(b"\r");
    let at = t.expect_from(at, "6 bytes received in ", WAIT);
    let at = t.expect_from(at, "ftp> ", WAIT);
    t.send(b"get subd\t");
    let at = t.expect_from(at, "get subdir-x/", WAIT);
    t.send(b"inn\t");
    let at = t.expect_from(at, "get subdir-x/inner-file.txt ", WAIT);
    t.send(b"\r");
    let at = t.expect_from(at, "5 bytes received in ", WAIT);
    t.expect_from(at, "ftp> ", WAIT);
    t.send(b"bye\r");
    assert_eq!(t.wait(WAIT).code(), Some(0), "{}", t.text());
    assert_eq!(read(&d.local.join("unique-name.bin")), b"unique");
    assert_eq!(read(&d.local.join("my file.txt")), b"spaced");
    assert_eq!(read(&d.local.join("inner-file.txt")), b"inner");
}
