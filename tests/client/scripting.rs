//! Non-interactive use: commands from standard input or `-c`, exit codes
//! scripts can rely on, and clear one-line errors (never a panic) for bad
//! input, dropped connections and servers that do not speak FTP.

use std::io::{BufRead, Write};
use std::time::Duration;

use super::{fake_login, fake_server, host_port, read, run_c, run_stdin, Dirs, Proc};
use crate::util::{refusing_port, Server};

#[test]
fn commands_from_standard_input_run_in_order_and_exit_zero() {
    let s = Server::start(&[]);
    let d = Dirs::new("cl-stdin");
    let o = run_stdin(s.addr, &d.local, "pwd\nget hello.txt\nsize hello.txt\nbye\n", &[]);
    assert_eq!(o.code(), Some(0), "{o}");
    let pwd = o.stdout.find("257 ").unwrap();
    let stats = o.stdout.find("bytes received").unwrap();
    let size = o.stdout.find("hello.txt: 12 bytes").unwrap();
    assert!(pwd < stats && stats < size, "{o}");
    assert!(!o.stdout.contains("ftp> "), "no prompt in a script:\n{o}");
    assert_eq!(read(&d.local.join("hello.txt")), b"hello world\n");
}

#[test]
fn the_exit_status_is_non_zero_when_any_command_failed() {
    let s = Server::start(&[]);
    let d = Dirs::new("cl-status");
    let o = run_c(s.addr, &d.local, "get nosuch.txt; get hello.txt", &[]);
    assert_eq!(o.code(), Some(1), "{o}");
    assert!(o.stderr.contains("550 nosuch.txt: No such file or directory."), "{o}");
    assert_eq!(o.stderr.lines().count(), 1, "one line per error:\n{o}");
    // The script went on after the failure.
    assert_eq!(read(&d.local.join("hello.txt")), b"hello world\n");
    let o = run_stdin(s.addr, &d.local, "cd nowhere\nbye\n", &[]);
    assert_eq!(o.code(), Some(1), "{o}");
}

/// The C original crashed on an empty line.
#[test]
fn empty_lines_blanks_and_comments_are_not_errors() {
    let s = Server::start(&[]);
    let d = Dirs::new("cl-empty");
    let o = run_stdin(s.addr, &d.local, "\n\n   \t\n# a comment\n;;\nget hello.txt\n\n", &[]);
    assert_eq!(o.code(), Some(0), "{o}");
    assert!(o.stderr.is_empty(), "{o}");
    let o = run_c(s.addr, &d.local, "", &[]);
    assert_eq!(o.code(), Some(0), "{o}");
}

#[test]
fn unknown_commands_and_bad_arguments_point_to_help_and_fail() {
    let s = Server::start(&[]);
    let d = Dirs::new("cl-unknown");
    let o = run_stdin(s.addr, &d.local, "frobnicate now\nget\ncd a b\nget 'unclosed\npwd\n", &[]);
    assert_eq!(o.code(), Some(1), "{o}");
    assert!(o.stderr.contains("Unknown command 'frobnicate'. Type 'help' for the list of commands."), "{o}");
    assert!(o.stderr.contains("Usage: get [-f] [-c] [-r] REMOTE [LOCAL]"), "{o}");
    assert!(o.stderr.contains("Usage: cd PATH"), "{o}");
    assert!(o.stderr.contains("Unclosed quote"), "{o}");
    assert!(o.stdout.contains("257 "), "the session went on:\n{o}");
}

#[test]
fn an_over_long_input_line_is_refused_and_the_script_goes_on() {
    let s = Server::start(&[]);
    let d = Dirs::new("cl-long");
    let input = format!("get {}\npwd\n", "a".repeat(64 * 1024));
    let o = run_stdin(s.addr, &d.local, &input, &[]);
    assert_eq!(o.code(), Some(1), "{o}");
    assert!(o.stderr.contains("Line too long"), "{o}");
    assert!(o.stdout.contains("257 "), "{o}");
}

#[test]
fn a_refused_connection_is_one_clear_line_and_exit_one() {
    let d = Dirs::new("cl-refused");
    let (_held, port) = refusing_port("127.0.0.1");
    let args: Vec<String> =
        ["-c", "pwd", "127.0.0.1"].iter().map(|s| s.to_string()).chain([port.to_string()]).collect();
    let o = Proc::spawn(&args, None, &[], d.base.path()).finish();
    assert_eq!(o.code(), Some(1), "{o}");
    assert_eq!(o.stderr.trim(), format!("Cannot connect to 127.0.0.1 (127.0.0.1) port {port}: Connection refused"));
}

#[test]
fn a_bad_command_line_exits_two() {
    let d = Dirs::new("cl-usage");
    for args in [vec!["--limit-rate", "fast", "h"], vec![], vec!["h", "notaport"], vec!["--password", "x", "h"]] {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let o = Proc::spawn(&args, None, &[], d.base.path()).finish();
        assert_eq!(o.code(), Some(2), "{args:?}: {o}");
    }
}

/// A connection the server drops: said once, the rest of the script is not
/// run, the exit status is 1.
#[test]
fn a_dropped_connection_says_so_and_stops_the_script() {
    let (heard, rx) = std::sync::mpsc::channel();
    let addr = fake_server(move |s| {
        if let Some(mut r) = fake_login(&s) {
            // Read the next command, then hang up without a word.
            let mut line = String::new();
            let _ = r.read_line(&mut line);
            let _ = heard.send(line);
        }
    });
    let d = Dirs::new("cl-dropped");
    let o = run_c(addr, &d.local, "pwd; get hello.txt; ls", &[]);
    assert_eq!(rx.try_recv().as_deref(), Ok("PWD\r\n"), "the server hangs up after the client's PWD:\n{o}");
    assert_eq!(o.code(), Some(1), "{o}");
    assert!(o.stderr.contains("Connection lost: the server closed the connection"), "{o}");
    assert!(o.stderr.contains("the remaining commands are not run"), "{o}");
}

/// RFC 959 4.2: 421 closes the session, whatever the command was.
#[test]
fn a_421_reply_is_a_lost_connection() {
    let (heard, rx) = std::sync::mpsc::channel();
    let addr = fake_server(move |s| {
        if let Some(mut r) = fake_login(&s) {
            let mut line = String::new();
            let _ = r.read_line(&mut line);
            let _ = heard.send(line);
            (&s).write_all(b"421 Too many users, closing.\r\n").unwrap();
            // What comes next: the end, or at most a QUIT; never the next PWD.
            let mut more = String::new();
            let _ = heard.send(match r.read_line(&mut more) {
                Ok(_) => more,
                Err(e) => format!("{e}"),
            });
        }
    });
    let d = Dirs::new("cl-421");
    let o = run_c(addr, &d.local, "pwd; pwd", &[]);
    assert_eq!(rx.try_recv().as_deref(), Ok("PWD\r\n"), "{o}");
    let after = rx.recv_timeout(Duration::from_secs(20)).unwrap();
    assert!(after.is_empty() || after == "QUIT\r\n", "after 421 the client leaves, it sent {after:?}:\n{o}");
    assert_eq!(o.code(), Some(1), "{o}");
    assert!(o.stderr.contains("Connection lost: 421 Too many users, closing."), "{o}");
}

#[test]
fn a_server_that_does_not_speak_ftp_is_an_error_not_a_panic() {
    let addr = fake_server(|mut s| {
        let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
    });
    let d = Dirs::new("cl-http");
    let o = run_c(addr, &d.local, "pwd", &[]);
    assert_eq!(o.code(), Some(1), "{o}");
    assert!(o.stderr.contains("does not speak FTP"), "{o}");
}

/// Another server's multi-line greeting (RFC 959 4.2) and a 120 "ready
/// soon" before it are shown whole.
#[test]
fn multi_line_and_delayed_greetings_are_shown_whole() {
    let addr = fake_server(|s| {
        let mut w = s.try_clone().unwrap();
        let _ = w.write_all(b"120 Ready in a moment.\r\n220-Welcome to slave 3\r\n220-of the pool\r\n220 Ready.\r\n");
        let mut r = std::io::BufReader::new(s);
        let mut line = String::new();
        while r.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
            let reply: &[u8] = match line.split_whitespace().next().unwrap_or("") {
                "USER" => b"230 No password needed.\r\n",
                "TYPE" | "NOOP" => b"200 OK.\r\n",
                "QUIT" => b"221 Bye.\r\n",
                _ => b"502 Not here.\r\n",
            };
            let _ = w.write_all(reply);
            line.clear();
        }
    });
    let d = Dirs::new("cl-greet");
    let o = run_c(addr, &d.local, "bye", &[]);
    assert_eq!(o.code(), Some(0), "{o}");
    assert!(o.stdout.contains("120 Ready in a moment.\n220-Welcome to slave 3\nof the pool\n220 Ready."), "{o}");
    assert!(o.stdout.contains("221 Bye."), "{o}");
}

#[test]
fn host_and_port_are_named_in_the_connection_line() {
    let s = Server::start(&[]);
    let d = Dirs::new("cl-connected");
    let [host, port] = host_port(s.addr);
    let o = run_c(s.addr, &d.local, "bye", &[]);
    assert!(o.stdout.starts_with(&format!("Connected to {host} ({host}) port {port}.\n220 ")), "{o}");
}
