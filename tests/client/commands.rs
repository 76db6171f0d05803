//! Every command of the client against our `ftpserver`.

use super::{assert_same_bytes, client_args, read, run_c, run_stdin, Dirs, Proc};
use crate::util::Server;

/// The issue's "done when": a new user gets a file into the local directory,
/// sees the greeting and the statistics, and says bye.
#[test]
fn anonymous_user_gets_a_file_into_the_local_dir_and_sees_statistics() {
    let s = Server::start(&[]);
    let d = Dirs::new("cl-get");
    let o = run_c(s.addr, &d.local, "get hello.txt; bye", &[]);
    assert_eq!(o.code(), Some(0), "{o}");
    assert_eq!(read(&d.local.join("hello.txt")), b"hello world\n");
    assert!(o.stdout.contains("220 "), "greeting shown:\n{o}");
    assert!(o.stdout.contains("230 "), "login shown:\n{o}");
    assert!(o.stdout.contains("12 bytes received in "), "statistics:\n{o}");
    assert!(o.stdout.contains(" seconds (") && o.stdout.contains("Kbytes/s)"), "{o}");
    assert!(o.stdout.contains("221 "), "goodbye:\n{o}");
    assert!(!d.local.join("hello.txt.part").exists());
}

#[test]
fn the_local_dir_defaults_to_clientroot_in_the_current_directory() {
    let s = Server::start(&[]);
    let d = Dirs::new("cl-default");
    let mut args = vec!["-c".to_string(), "get hello.txt".to_string()];
    args.extend(super::host_port(s.addr));
    let o = Proc::spawn(&args, None, &[], d.base.path()).finish();
    assert_eq!(o.code(), Some(0), "{o}");
    assert_eq!(read(&d.base.join("_CLIENTROOT/hello.txt")), b"hello world\n");
}

#[test]
fn ls_lists_the_remote_directory_or_a_path() {
    let s = Server::start_with(|root| std::fs::create_dir(root.join("sub")).unwrap(), &[]);
    std::fs::write(s.root.join("sub/inner.txt"), b"x").unwrap();
    let d = Dirs::new("cl-ls");
    let o = run_c(s.addr, &d.local, "ls; ls sub; dir", &[]);
    assert_eq!(o.code(), Some(0), "{o}");
    assert_eq!(o.stdout.matches("hello.txt").count(), 2, "{o}");
    assert!(o.stdout.contains("inner.txt"), "{o}");
    assert!(!o.stdout.contains('\r'), "listing lines end in LF:\n{o}");
    let o = run_c(s.addr, &d.local, "ls nowhere", &[]);
    assert_eq!(o.code(), Some(1), "{o}");
    assert!(o.stderr.contains("550"), "{o}");
}

#[test]
fn cd_pwd_and_cd_dotdot_move_in_the_remote_tree() {
    let s = Server::start_with(|root| std::fs::create_dir(root.join("docs")).unwrap(), &[]);
    let d = Dirs::new("cl-cd");
    let o = run_c(s.addr, &d.local, "cd docs; pwd; cd ..; pwd", &[]);
    assert_eq!(o.code(), Some(0), "{o}");
    let docs = o.stdout.find("257 \"/docs\"").expect("pwd in docs");
    let root = o.stdout.rfind("257 \"/\"").expect("pwd at the root");
    assert!(docs < root, "{o}");
    let o = run_c(s.addr, &d.local, "cd nowhere", &[]);
    assert_eq!(o.code(), Some(1), "{o}");
    assert!(o.stderr.contains("550"), "{o}");
}

#[test]
fn mkdir_put_rename_size_rm_rmdir_change_the_server_tree() {
    let s = Server::start(&["-w"]);
    let d = Dirs::new("cl-tree");
    std::fs::create_dir_all(&d.local).unwrap();
    std::fs::write(d.local.join("up.txt"), b"uploaded\n").unwrap();
    let o = run_c(s.addr, &d.local, "mkdir newdir; put up.txt newdir/up.txt; size newdir/up.txt", &[]);
    assert_eq!(o.code(), Some(0), "{o}");
    assert_eq!(read(&s.root.join("newdir/up.txt")), b"uploaded\n");
    assert!(o.stdout.contains("newdir/up.txt: 9 bytes"), "{o}");
    assert!(o.stdout.contains("9 bytes sent in "), "{o}");

    let o = run_c(s.addr, &d.local, "rename newdir/up.txt moved.txt; rmdir newdir", &[]);
    assert_eq!(o.code(), Some(0), "{o}");
    assert!(!s.root.join("newdir").exists());
    assert_eq!(read(&s.root.join("moved.txt")), b"uploaded\n");

    let o = run_c(s.addr, &d.local, "rm moved.txt; delete hello.txt", &[]);
    assert_eq!(o.code(), Some(0), "{o}");
    assert!(!s.root.join("moved.txt").exists() && !s.root.join("hello.txt").exists());

    let o = run_c(s.addr, &d.local, "rename nothing other", &[]);
    assert_eq!(o.code(), Some(1), "{o}");
    assert!(o.stderr.contains("550"), "{o}");
}

#[test]
fn lcd_and_lpwd_change_where_get_writes_and_put_reads() {
    let s = Server::start(&["-w"]);
    let d = Dirs::new("cl-lcd");
    let other = d.base.join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("mine.txt"), b"mine").unwrap();
    let cmds = format!("lcd '{}'; lpwd; get hello.txt; put mine.txt; lcd /nonexistent-dir-xyz", other.display());
    let o = run_c(s.addr, &d.local, &cmds, &[]);
    assert_eq!(o.code(), Some(1), "the last lcd fails:\n{o}");
    assert!(o.stdout.contains(&format!("Local directory: {}", other.display())), "{o}");
    assert_eq!(read(&other.join("hello.txt")), b"hello world\n");
    assert_eq!(read(&s.root.join("mine.txt")), b"mine");
    assert!(o.stderr.contains("/nonexistent-dir-xyz: No such file or directory"), "{o}");
}

#[test]
fn get_and_put_take_names_with_spaces_when_quoted() {
    let s = Server::start_with(|root| std::fs::write(root.join("my file.txt"), b"spaced").unwrap(), &["-w"]);
    let d = Dirs::new("cl-spaces");
    std::fs::create_dir_all(&d.local).unwrap();
    std::fs::write(d.local.join("a b.txt"), b"ab").unwrap();
    let o = run_c(s.addr, &d.local, r#"get "my file.txt" 'local copy.txt'; put a\ b.txt "remote name.txt""#, &[]);
    assert_eq!(o.code(), Some(0), "{o}");
    assert_eq!(read(&d.local.join("local copy.txt")), b"spaced");
    assert_eq!(read(&s.root.join("remote name.txt")), b"ab");
}

/// RFC 959 3.1.1.1: `ascii` says TYPE A, and text crosses the wire with
/// CRLF line ends (one byte more per line than in the file: both sides
/// count the bytes on the wire), each side keeping its own line ends;
/// `binary` says TYPE I and every byte is kept.
#[test]
fn ascii_mode_converts_line_ends_and_binary_keeps_bytes() {
    let text = b"line one\nline two\n"; // 18 bytes; 20 on the wire
    let crlf = b"dos\r\nbytes\r\n";
    let s = Server::start_with(
        |root| {
            std::fs::write(root.join("text.txt"), text).unwrap();
            std::fs::write(root.join("crlf.bin"), crlf).unwrap();
        },
        &["-w"],
    );
    let d = Dirs::new("cl-ascii");
    std::fs::create_dir_all(&d.local).unwrap();
    std::fs::write(d.local.join("up.txt"), b"a\nb\n").unwrap(); // 4 bytes; 6 on the wire
    let o = run_c(s.addr, &d.local, "ascii; get text.txt; put up.txt; binary; get crlf.bin", &["-v"]);
    assert_eq!(o.code(), Some(0), "{o}");
    let ascii = o.stdout.find("---> TYPE A\n200 ").unwrap_or_else(|| panic!("ascii says TYPE A:\n{o}"));
    let get = o.stdout.find("---> RETR text.txt").unwrap();
    let binary = o.stdout.rfind("---> TYPE I\n200 ").unwrap_or_else(|| panic!("binary says TYPE I:\n{o}"));
    let get_bin = o.stdout.find("---> RETR crlf.bin").unwrap();
    assert!(ascii < get && get < binary && binary < get_bin, "{o}");
    assert!(o.stdout.contains("20 bytes received in "), "CRLF on the wire:\n{o}");
    assert!(o.stdout.contains("6 bytes sent in "), "CRLF on the wire:\n{o}");
    let log = s.log_text();
    for line in ["RETR /text.txt 20 bytes", "STOR /up.txt 6 bytes", "RETR /crlf.bin 12 bytes"] {
        assert!(log.contains(line), "the server counts the bytes on the wire: no {line:?} in\n{log}");
    }
    assert_eq!(read(&d.local.join("text.txt")), text);
    assert_eq!(read(&s.root.join("up.txt")), b"a\nb\n");
    assert_eq!(read(&d.local.join("crlf.bin")), crlf);
}

/// RFC 2428 section 2: EPRT; the server connects back to the client.
#[test]
fn active_mode_transfers_with_eprt() {
    let s = Server::start(&["-w"]);
    let d = Dirs::new("cl-active");
    let o = run_c(s.addr, &d.local, "get hello.txt; ls", &["--active", "-v"]);
    assert_eq!(o.code(), Some(0), "{o}");
    assert!(o.stdout.contains("---> EPRT |1|127.0.0.1|"), "{o}");
    assert!(!o.stdout.contains("---> EPSV"), "{o}");
    assert_eq!(read(&d.local.join("hello.txt")), b"hello world\n");
    // And back to passive from the prompt.
    let o = run_c(s.addr, &d.local, "active; passive; get hello.txt h2.txt", &["-v"]);
    assert_eq!(o.code(), Some(0), "{o}");
    assert!(o.stdout.contains("---> EPSV"), "{o}");
    assert_eq!(read(&d.local.join("h2.txt")), b"hello world\n");
}

#[test]
fn help_lists_the_commands_and_explains_one() {
    let s = Server::start(&[]);
    let d = Dirs::new("cl-help");
    let o = run_c(s.addr, &d.local, "help; help get; ?", &[]);
    assert_eq!(o.code(), Some(0), "{o}");
    for c in
        ["get", "put", "ls", "cd", "pwd", "lcd", "lpwd", "mkdir", "rmdir", "rm", "rename", "size", "ascii", "binary"]
    {
        assert!(o.stdout.contains(&format!("\n  {c}")), "{c} missing:\n{o}");
    }
    assert!(o.stdout.contains("Usage: get [-f] [-c] [-r] REMOTE [LOCAL]"), "{o}");
    let o = run_c(s.addr, &d.local, "help nothing", &[]);
    assert_eq!(o.code(), Some(1), "{o}");
}

/// `bye`, `quit`, `exit` and the end of input all end the session.
#[test]
fn bye_quit_exit_and_end_of_input_say_goodbye() {
    let s = Server::start(&[]);
    let d = Dirs::new("cl-bye");
    for input in ["bye\npwd\n", "quit\n", "exit\n", "pwd\n"] {
        let o = run_stdin(s.addr, &d.local, input, &[]);
        assert_eq!(o.code(), Some(0), "{input:?}: {o}");
        assert!(o.stdout.contains("221 "), "{input:?}: {o}");
        assert!(!(input.starts_with("bye") && o.stdout.contains("257")), "nothing runs after bye:\n{o}");
    }
}

/// The password comes from FTP_PASSWORD or --password-file, never argv.
#[test]
fn users_log_in_with_a_password_from_the_environment_or_a_file() {
    let s = Server::start(&["--user", "alice:s3cret", "--no-anonymous", "--login-fail-delay", "1"]);
    let d = Dirs::new("cl-login");
    let args = client_args(s.addr, &d.local, &["-u", "alice", "-c", "get hello.txt"]);
    let o = Proc::spawn(&args, None, &[("FTP_PASSWORD", "s3cret")], d.base.path()).finish();
    assert_eq!(o.code(), Some(0), "{o}");
    assert_eq!(read(&d.local.join("hello.txt")), b"hello world\n");

    let pw = d.base.join("pw");
    std::fs::write(&pw, "s3cret\n").unwrap();
    let args = client_args(s.addr, &d.local, &["-u", "alice", "--password-file", pw.to_str().unwrap(), "-c", "pwd"]);
    let o = Proc::spawn(&args, None, &[], d.base.path()).finish();
    assert_eq!(o.code(), Some(0), "{o}");
    assert!(!o.stdout.contains("s3cret") && !o.stderr.contains("s3cret"), "{o}");

    let args = client_args(s.addr, &d.local, &["-u", "alice", "-v", "-c", "pwd"]);
    let o = Proc::spawn(&args, None, &[("FTP_PASSWORD", "wrong")], d.base.path()).finish();
    assert_eq!(o.code(), Some(1), "{o}");
    assert!(o.stderr.contains("530"), "{o}");
    assert!(o.stdout.contains("---> PASS ****") && !o.stdout.contains("wrong"), "password hidden:\n{o}");
}

#[test]
fn a_user_without_a_password_and_without_a_terminal_is_told_how_to_give_one() {
    let s = Server::start(&["--user", "alice:s3cret"]);
    let d = Dirs::new("cl-nopw");
    let o = run_c(s.addr, &d.local, "pwd", &["-u", "alice"]);
    assert_eq!(o.code(), Some(1), "{o}");
    assert!(o.stderr.contains("FTP_PASSWORD") && o.stderr.contains("--password-file"), "{o}");
}

/// HOST may be a name that resolves to several addresses (localhost: ::1 and
/// 127.0.0.1), an IPv4 or an IPv6 address.
#[test]
fn host_may_be_a_name_or_an_ipv6_address() {
    let s = Server::start(&[]);
    let d = Dirs::new("cl-hosts");
    let args: Vec<String> = ["-c", "get hello.txt", "--local-dir", d.local.to_str().unwrap(), "localhost"]
        .iter()
        .map(|s| s.to_string())
        .chain([s.addr.port().to_string()])
        .collect();
    let o = Proc::spawn(&args, None, &[], d.base.path()).finish();
    assert_eq!(o.code(), Some(0), "{o}");

    if let Err(e) = std::net::TcpListener::bind("[::1]:0") {
        return crate::util::lacking("ipv6", &format!("no IPv6 loopback here ({e})"));
    }
    let s6 = Server::start_on("::1", |_| {}, &[]);
    let o = run_c(s6.addr, &d.local, "get hello.txt h6.txt; ls", &["-v"]);
    assert_eq!(o.code(), Some(0), "{o}");
    assert!(o.stdout.contains("Connected to ::1 (::1)"), "{o}");
    assert_eq!(read(&d.local.join("h6.txt")), b"hello world\n");
    let o = run_c(s6.addr, &d.local, "get hello.txt h6a.txt", &["--active", "-v"]);
    assert_eq!(o.code(), Some(0), "{o}");
    assert!(o.stdout.contains("---> EPRT |2|::1|"), "{o}");
    assert_same_bytes(&read(&d.local.join("h6a.txt")), b"hello world\n", "IPv6 active download");
}

/// `reconnect` logs in again and returns to the remote directory.
#[test]
fn reconnect_logs_in_again_and_returns_to_the_remote_directory() {
    let s = Server::start_with(|root| std::fs::create_dir(root.join("docs")).unwrap(), &[]);
    let d = Dirs::new("cl-reconnect");
    let o = run_c(s.addr, &d.local, "cd docs; reconnect; pwd", &[]);
    assert_eq!(o.code(), Some(0), "{o}");
    assert_eq!(o.stdout.matches("230 ").count(), 2, "{o}");
    assert!(o.stdout.contains("Back in /docs."), "{o}");
    assert!(o.stdout.contains("257 \"/docs\""), "{o}");
}
