//! The interactive prompt (standard input and output both terminals): line
//! editing, a history kept across runs, and tab completion of commands, of
//! remote names (listing the remote directory) and of local names, with
//! rustyline.
//!
//! The history is `$XDG_DATA_HOME/forkftp/history` (else
//! `~/.local/share/forkftp/history`), private to the user (mode 600), at
//! most [`CLIENT_HISTORY_LINES`] lines; a line typed with a leading blank is
//! not kept.
//!
//! While the user types, a watcher thread looks at the control connection
//! (without reading it): a server that closes the session (`421`, or the
//! end of the connection) is announced at once, above a new prompt.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{recv, MsgFlags};
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Config, Context, Helper};

use super::escape::visible;
use super::listing::Kind;
use super::names::check_remote_name;
use super::session::Session;
use super::shell::{command_names, takes_remote_names};
use super::terminal::InputEvent;
use crate::limits::{CLIENT_HISTORY_LINES, CLIENT_MAX_INPUT_LINE, CLIENT_POLL_TICK, MAX_REPLY_LINE};
use crate::protocol::{Frame, LineFramer, ReplyCode, ReplyParser};

/// The prompt.
pub const PROMPT: &str = "ftp> ";

/// The prompt while the session is encrypted (FTPS).
pub const PROMPT_TLS: &str = "ftps> ";

/// Where the history lives: `$XDG_DATA_HOME/forkftp/history`, else
/// `$HOME/.local/share/forkftp/history`.
pub fn history_path() -> Option<PathBuf> {
    let data = match std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".local/share"),
    };
    Some(data.join("forkftp/history"))
}

/// Escapes blanks, quotes and backslashes of a name so that the shell's
/// tokenizer reads it back as one word.
fn quote_word(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, ' ' | '\t' | '"' | '\'' | '\\' | ';' | '#') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The start of the word under the cursor (after the last unescaped blank).
fn word_start(line: &str) -> usize {
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ' ' || c == '\t' || c == ';' {
            start = i + c.len_utf8();
        }
    }
    start
}

/// A word as typed (backslashes removed).
fn unquote(word: &str) -> String {
    let mut out = String::new();
    let mut chars = word.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Completion of commands and names, with the session to list remote
/// directories (each listed once between two commands).
pub struct ShellHelper {
    session: Rc<RefCell<Session>>,
    cache: RefCell<HashMap<String, Vec<(String, bool)>>>,
    /// Odd while completion talks to the server: the watcher must not take
    /// those replies for unsolicited ones (see [`Watcher`]).
    talking: Arc<AtomicU64>,
}

impl ShellHelper {
    fn remote_names(&self, dir: &str) -> Vec<(String, bool)> {
        if let Some(v) = self.cache.borrow().get(dir) {
            return v.clone();
        }
        let Ok(mut s) = self.session.try_borrow_mut() else { return Vec::new() };
        if !s.connected() {
            return Vec::new();
        }
        self.talking.fetch_add(1, Ordering::SeqCst);
        let listed = s.quietly(|s| s.list_dir(dir));
        self.talking.fetch_add(1, Ordering::SeqCst);
        let names: Vec<(String, bool)> = match listed {
            Ok(entries) => entries
                .into_iter()
                .filter(|e| check_remote_name(&e.name).is_ok())
                .map(|e| (e.name, e.kind == Kind::Dir))
                .collect(),
            Err(_) => Vec::new(),
        };
        self.cache.borrow_mut().insert(dir.to_string(), names.clone());
        names
    }

    fn local_names(&self, dir: &str) -> Vec<(String, bool)> {
        let Ok(s) = self.session.try_borrow() else { return Vec::new() };
        let path = if dir.is_empty() { s.local_dir().to_path_buf() } else { s.local_path(dir) };
        let Ok(rd) = std::fs::read_dir(path) else { return Vec::new() };
        rd.filter_map(Result::ok)
            .filter_map(|e| Some((e.file_name().to_str()?.to_string(), e.path().is_dir())))
            .collect()
    }
}

impl Completer for ShellHelper {
    type Candidate = Pair;

    fn complete(&self, line: &str, pos: usize, _: &Context<'_>) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        let start = word_start(before);
        let word = unquote(&before[start..]);
        let command_start = before[..start].rfind(';').map_or(0, |i| i + 1);
        let words_before: Vec<&str> = before[command_start..start].split_whitespace().collect();
        let Some(command) = words_before.first() else {
            let mut names: Vec<Pair> = command_names()
                .filter(|n| n.starts_with(word.as_str()))
                .map(|n| Pair { display: n.to_string(), replacement: format!("{n} ") })
                .collect();
            names.dedup_by(|a, b| a.display == b.display);
            return Ok((start, names));
        };
        if word.starts_with('-') {
            return Ok((start, Vec::new()));
        }
        let (dir, prefix) = match word.rfind('/') {
            Some(i) => (&word[..=i], &word[i + 1..]),
            None => ("", word.as_str()),
        };
        let entries = if takes_remote_names(command) {
            self.remote_names(if dir.is_empty() { "." } else { dir })
        } else {
            self.local_names(dir)
        };
        let mut out: Vec<Pair> = entries
            .into_iter()
            .filter(|(n, _)| n.starts_with(prefix) && (prefix.starts_with('.') || !n.starts_with('.')))
            .map(|(n, is_dir)| {
                let full = format!("{dir}{n}");
                let replacement =
                    if is_dir { format!("{}/", quote_word(&full)) } else { format!("{} ", quote_word(&full)) };
                Pair { display: visible(&n).into_owned() + if is_dir { "/" } else { "" }, replacement }
            })
            .collect();
        out.sort_by(|a, b| a.display.cmp(&b.display));
        Ok((start, out))
    }
}

impl Hinter for ShellHelper {
    type Hint = String;
}
impl Highlighter for ShellHelper {}
impl Validator for ShellHelper {}
impl Helper for ShellHelper {}

/// Watches the control connection while the user types; announces a
/// server that closes the session above the prompt.
///
/// Tab completion talks to the server meanwhile; its replies are not
/// unsolicited. `talking` is odd while it does, and changes with each
/// exchange: what the watcher peeked is announced only when `talking` was
/// the same even number before and after the peek.
struct Watcher {
    stop: Arc<AtomicBool>,
    announced: Arc<AtomicBool>,
}

impl Watcher {
    fn start(fd: OwnedFd, talking: Arc<AtomicU64>, prompt: &'static str) -> Watcher {
        let stop = Arc::new(AtomicBool::new(false));
        let announced = Arc::new(AtomicBool::new(false));
        let (s, a) = (Arc::clone(&stop), Arc::clone(&announced));
        std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                let readable = {
                    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
                    poll(&mut fds, PollTimeout::try_from(CLIENT_POLL_TICK).unwrap_or(PollTimeout::MAX)).unwrap_or(0) > 0
                };
                if !readable {
                    continue;
                }
                let before = talking.load(Ordering::SeqCst);
                // An encrypted connection cannot be read by peeking: the
                // watcher only tells of its end; anything else is read
                // (decrypted) once the line is entered.
                if prompt == PROMPT_TLS && before % 2 == 0 && !peer_closed(&fd) {
                    return;
                }
                let text = if before % 2 == 0 { unsolicited_text(&fd) } else { None };
                if talking.load(Ordering::SeqCst) != before {
                    continue;
                }
                let Some(text) = text else {
                    // Completion is talking, or a reply is not complete yet.
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                if s.load(Ordering::SeqCst) {
                    return;
                }
                a.store(true, Ordering::SeqCst);
                announce(&text, prompt);
                return;
            }
        });
        Watcher { stop, announced }
    }

    /// Stops watching; true when the watcher announced something.
    fn finish(self) -> bool {
        self.stop.store(true, Ordering::SeqCst);
        self.announced.load(Ordering::SeqCst)
    }
}

/// Prints `text` above a fresh prompt while the line editor waits (the
/// terminal is in raw mode: lines end in CR LF). What the user had typed
/// stays in the editor, and shows again with the next key.
///
/// rustyline's own printer for this (`ExternalPrinter`) loses typed-ahead
/// keys before version 19, which needs a newer Rust than this crate's
/// `rust-version`.
fn announce(text: &str, prompt: &str) {
    let body = visible(text).replace('\n', "\r\n");
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "\r\x1b[K{body}\r\n{prompt}");
    let _ = out.flush();
}

/// True when the connection has ended (a peek finds its end, or fails).
fn peer_closed(fd: &OwnedFd) -> bool {
    let mut b = [0u8; 1];
    !matches!(recv(fd.as_raw_fd(), &mut b, MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT), Ok(1))
}

/// Told when what the server said unasked fills the peek buffer (or one of
/// its lines is too long) before a reply ends.
const LONG_REPLY: &str = "The server sent a long reply.";

/// What the server said unasked, read without consuming it (MSG_PEEK): the
/// text to show, or `None` while no complete reply is there.
fn unsolicited_text(fd: &OwnedFd) -> Option<String> {
    let mut buf = vec![0u8; 8192];
    let n = match recv(fd.as_raw_fd(), &mut buf, MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT) {
        Ok(n) => n,
        Err(_) => {
            return Some("Connection lost: the connection failed.\nType 'reconnect' to connect again, or 'bye'.".into())
        }
    };
    if n == 0 {
        return Some(
            "Connection lost: the server closed the connection\nType 'reconnect' to connect again, or 'bye'.".into(),
        );
    }
    // The one line framer: a line not complete yet (the rest of the reply
    // still on its way) is not taken for a whole one.
    let mut lines = LineFramer::new(MAX_REPLY_LINE);
    lines.push(&buf[..n]);
    let mut parser = ReplyParser::new();
    while let Some(frame) = lines.next_frame() {
        let Frame::Line(line) = frame else { return Some(LONG_REPLY.into()) };
        match parser.feed(line) {
            Ok(Some(r)) if r.code == ReplyCode::NOT_AVAILABLE => {
                return Some(format!("Connection lost: {r}\nType 'reconnect' to connect again, or 'bye'."))
            }
            Ok(Some(r)) => return Some(super::reply_text(&r)),
            Ok(None) => {}
            Err(_) => return Some("Connection lost: the server does not speak FTP".into()),
        }
    }
    (n == buf.len()).then(|| LONG_REPLY.into())
}

/// The line editor of the prompt.
pub struct LineEditor {
    rl: rustyline::Editor<ShellHelper, DefaultHistory>,
    history: Option<PathBuf>,
    talking: Arc<AtomicU64>,
}

impl LineEditor {
    /// An editor for the interactive prompt of `session`, its history
    /// loaded. `None` when the terminal cannot be used (then the plain
    /// line reader is).
    pub fn new(session: Rc<RefCell<Session>>) -> Option<LineEditor> {
        let config = Config::builder()
            .max_history_size(CLIENT_HISTORY_LINES)
            .ok()?
            .history_ignore_space(true)
            .history_ignore_dups(true)
            .ok()?
            .auto_add_history(false)
            .completion_type(rustyline::CompletionType::List)
            .build();
        let mut rl = rustyline::Editor::with_config(config).ok()?;
        let talking = Arc::new(AtomicU64::new(0));
        rl.set_helper(Some(ShellHelper {
            session,
            cache: RefCell::new(HashMap::new()),
            talking: Arc::clone(&talking),
        }));
        let history = history_path();
        if let Some(p) = &history {
            // Security: the history is the user's alone (mode 600).
            if let Some(dir) = p.parent() {
                let _ = std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir);
            }
            let _ = std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(p);
            let _ = rl.load_history(p);
        }
        Some(LineEditor { rl, history, talking })
    }

    /// Reads one line at the prompt, watching the control connection
    /// (`watch`, a duplicate of its descriptor). Returns the event and
    /// whether the watcher already told the user what the server said.
    pub fn read_line(&mut self, watch: Option<OwnedFd>, prompt: &'static str) -> (InputEvent, bool) {
        let watcher = watch.map(|fd| Watcher::start(fd, Arc::clone(&self.talking), prompt));
        let r = self.rl.readline(prompt);
        let announced = watcher.is_some_and(Watcher::finish);
        if let Some(h) = self.rl.helper_mut() {
            h.cache.borrow_mut().clear();
        }
        let event = match r {
            Ok(line) if line.len() > CLIENT_MAX_INPUT_LINE => InputEvent::TooLong,
            Ok(line) => {
                if !line.trim().is_empty() && self.rl.add_history_entry(line.as_str()).unwrap_or(false) {
                    if let Some(p) = &self.history {
                        let _ = self.rl.append_history(p);
                    }
                }
                InputEvent::Line(line)
            }
            Err(ReadlineError::Interrupted) => InputEvent::Interrupted,
            Err(_) => InputEvent::Eof,
        };
        let _ = std::io::stdout().flush();
        (event, announced)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_found_and_quoted_as_the_tokenizer_reads_them() {
        assert_eq!(word_start("get my\\ fi"), 4);
        assert_eq!(unquote("my\\ fi"), "my fi");
        assert_eq!(quote_word("a b;c"), "a\\ b\\;c");
        assert_eq!(word_start("pwd; get x"), 9);
        assert_eq!(word_start(""), 0);
    }

    /// The watcher peeks at what has arrived so far: a reply whose end is
    /// still on its way is waited for, not announced as garbage or cut.
    #[test]
    fn only_complete_unsolicited_replies_are_announced() {
        use std::os::unix::net::UnixStream;
        let (mut server, client) = UnixStream::pair().unwrap();
        let fd = OwnedFd::from(client);
        server.write_all(b"42").unwrap();
        assert_eq!(unsolicited_text(&fd), None);
        server.write_all(b"1 Timeout.\r\n").unwrap();
        let text = unsolicited_text(&fd).unwrap();
        assert!(text.starts_with("Connection lost: 421 Timeout."), "{text}");
        let (mut server, client) = UnixStream::pair().unwrap();
        let fd = OwnedFd::from(client);
        server.write_all(b"211-a\r\n211 b").unwrap();
        assert_eq!(unsolicited_text(&fd), None);
        server.write_all(b"ye\n").unwrap();
        assert_eq!(unsolicited_text(&fd).as_deref(), Some("211-a\n211 bye"));
    }

    #[test]
    fn the_history_lives_in_the_data_directory() {
        // Read only: the variables are the test process's own.
        if let Some(p) = history_path() {
            assert!(p.ends_with("forkftp/history"), "{}", p.display());
        }
    }
}
