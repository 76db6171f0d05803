//! `ftpclient`: an FTP client with a prompt and a scripting mode.
//!
//! It connects, shows the server's greeting, logs in, then runs commands
//! (`get`, `put`, `ls`, `cd`...) typed at the `ftp> ` prompt, given with
//! `-c`, or read from standard input. Downloads go to a partial file renamed
//! when complete, and resume (REST, RFC 3659 section 5) when a partial file
//! is there; uploads resume with REST+STOR or APPE. Transfers show progress
//! on a terminal and end with a statistics line. Ctrl-C aborts a transfer
//! (ABOR, RFC 959 section 4.1.3) and returns to the prompt.
//!
//! # Layout
//!
//! - [`config`]: the command line and the checked [`ClientConfig`].
//! - [`connection`]: the control connection (commands, replies) and the data
//!   connections (EPSV/PASV, EPRT/PORT).
//! - [`session`]: one logged-in session: login, the remote and local
//!   directories, the simple commands.
//! - [`transfer`]: `get`, `put` and `ls`: data connections, resume, the byte
//!   loops, abort.
//! - [`tree`]: `get -r`, `put -r`, `mirror`, `mget`, `mput`: a plan, then
//!   the transfers under one progress line, and a summary.
//! - [`listing`]: MLSD and `ls -l` lines, and the times of MDTM and MFMT.
//! - [`names`]: the checks between server names and local paths.
//! - [`features`]: the server's FEAT reply.
//! - [`netrc`]: logins from `~/.netrc`.
//! - [`hash`]: checksums (HASH, XSHA256...) for `hash`, `verify`, `get -c`.
//! - [`shell`]: the command line: tokenizing with quotes, the commands, help,
//!   dispatch, exit codes.
//! - [`progress`]: the progress line and the statistics line.
//! - [`terminal`]: Ctrl-C, reading lines, the password without echo.
//! - [`editor`]: the prompt's line editing, history and tab completion.
//! - [`error`]: why a command failed, as the user reads it.
//! - [`escape`]: server text made harmless before it reaches the terminal.
//! - [`tls`]: FTPS (RFC 4217): trusted roots, `--insecure`, certificate errors.

use std::fmt::Display;
use std::io::Write;

pub(crate) mod config;
pub(crate) mod connection;
pub(crate) mod editor;
pub(crate) mod error;
pub(crate) mod escape;
pub(crate) mod features;
pub(crate) mod hash;
pub(crate) mod listing;
pub(crate) mod names;
pub(crate) mod netrc;
pub(crate) mod progress;
pub(crate) mod session;
pub(crate) mod shell;
pub(crate) mod terminal;
pub(crate) mod tls;
pub(crate) mod transfer;
pub(crate) mod tree;

pub use config::{ClientCli, ClientConfig};

use crate::protocol::Reply;

/// Exit status: every command succeeded.
pub const EXIT_OK: u8 = 0;
/// Exit status: a command failed, or the connection or the login did.
pub const EXIT_FAILED: u8 = 1;
/// Exit status: the command line was wrong (clap's own code as well).
pub const EXIT_USAGE: u8 = 2;
/// Exit status after Ctrl-C at the prompt or during a script (128 + SIGINT,
/// as shells report it).
pub const EXIT_INTERRUPTED: u8 = 130;

/// Writes a line on standard output. A closed output (`| head`) is not an
/// error worth dying for: the line is dropped.
///
/// Security: the text often holds server text (replies, names); its control
/// characters are escaped ([`escape::visible`]) here, where every line of
/// the client passes.
pub fn say(text: impl Display) {
    let text = text.to_string();
    let _ = writeln!(std::io::stdout(), "{}", escape::visible(&text));
}

/// Writes a line on standard error, after what standard output holds
/// (escaped as [`say`] does).
pub fn complain(text: impl Display) {
    let text = text.to_string();
    let _ = std::io::stdout().flush();
    let _ = writeln!(std::io::stderr(), "{}", escape::visible(&text));
}

/// A reply as the server sent it: `220 text`, or for a multi-line reply
/// `220-first`, the middle lines, and `220 last`.
pub fn reply_text(r: &Reply) -> String {
    let n = r.lines.len();
    let mut out = String::new();
    for (i, line) in r.lines.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if n == 1 || i == n - 1 {
            out.push_str(&format!("{} {line}", r.code));
        } else if i == 0 {
            out.push_str(&format!("{}-{line}", r.code));
        } else {
            out.push_str(line);
        }
    }
    out
}

/// Runs `ftpclient` with its parsed command line; returns the exit status.
pub fn main(cli: ClientCli) -> u8 {
    let env_password = std::env::var(config::PASSWORD_ENV).ok();
    let env_tls = std::env::var(config::TLS_ENV).is_ok_and(|v| v == "1");
    let cfg = match ClientConfig::from_cli(cli, env_password, env_tls) {
        Ok(c) => c,
        Err(e) => {
            complain(format!("ftpclient: {e}"));
            return EXIT_USAGE;
        }
    };
    run(cfg)
}

/// Connects, logs in, and runs the commands of `cfg` (or the prompt).
pub fn run(cfg: ClientConfig) -> u8 {
    // A server that vanishes is an EPIPE on write, not the client's death.
    if let Err(e) = crate::sys::ignore_sigpipe() {
        complain(format!("ftpclient: {e}"));
        return EXIT_FAILED;
    }
    let intr = match terminal::Interrupt::install() {
        Ok(i) => i,
        Err(e) => {
            complain(format!("ftpclient: cannot catch Ctrl-C: {e}"));
            return EXIT_FAILED;
        }
    };
    let mut session = match session::Session::new(cfg, intr) {
        Ok(s) => s,
        Err(e) => {
            complain(format!("ftpclient: {e}"));
            return EXIT_FAILED;
        }
    };
    let url_target = session.cfg.url_target.clone();
    if let Err(e) = session.connect() {
        complain(&e);
        return if matches!(e, error::ClientError::Interrupted) { EXIT_INTERRUPTED } else { EXIT_FAILED };
    }
    match url_target {
        // `ftpclient ftp://host/path/file`: download it and leave, as curl.
        Some(config::UrlTarget::File(path)) => {
            let r = session.get(&path, None, false, false);
            let code = match &r {
                Ok(()) => EXIT_OK,
                Err(error::ClientError::Interrupted) => EXIT_INTERRUPTED,
                Err(_) => EXIT_FAILED,
            };
            if let Err(e) = r {
                complain(e);
            }
            session.quit();
            return code;
        }
        Some(config::UrlTarget::Dir(dir)) => {
            if let Err(e) = session.cd(&dir) {
                complain(e);
                session.quit();
                return EXIT_FAILED;
            }
        }
        None => {}
    }
    shell::Shell::new(session).run()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ReplyCode;

    #[test]
    fn replies_print_as_the_server_sent_them() {
        assert_eq!(reply_text(&Reply::new(ReplyCode::SERVICE_READY, "hi")), "220 hi");
        let r = Reply::multi(ReplyCode::SERVICE_READY, "Welcome", vec!["slave 2".into()], "ready");
        assert_eq!(reply_text(&r), "220-Welcome\nslave 2\n220 ready");
    }
}
