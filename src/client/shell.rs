//! The command line of the client: lines are split into commands and words
//! (quotes and backslashes keep spaces in names), each command is parsed
//! into a [`Cmd`] (pure, no I/O), then run on the [`Session`].
//!
//! Input comes from `-c`, from standard input when it is not a terminal (a
//! script), or from the `ftp> ` prompt. The exit status is non-zero when any
//! command failed, so that scripts can rely on it.
//!
//! The words of a line are in `shell/words.rs`, the table of commands and
//! their parser in `shell/commands.rs`; here is the shell that reads lines
//! and runs the commands.

use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;

use super::editor::LineEditor;
use super::error::ClientError;
use super::session::Session;
use super::terminal::{self, InputEvent};
use super::tree::TreeOptions;
use super::{complain, say, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK};
use crate::limits::CLIENT_MAX_INPUT_LINE;

mod commands;
mod words;

pub use commands::{command_names, takes_remote_names};
use commands::{help_text, parse_command, Cmd};
use words::tokenize;

/// `!COMMAND`: runs COMMAND with `sh -c` (`!` alone: the user's shell),
/// its input and output the terminal's. A non-zero exit fails the command.
fn run_local(command: &str) -> Result<(), ClientError> {
    let mut cmd = if command.trim().is_empty() {
        std::process::Command::new(std::env::var_os("SHELL").unwrap_or_else(|| "/bin/sh".into()))
    } else {
        let mut c = std::process::Command::new("/bin/sh");
        c.arg("-c").arg(command);
        c
    };
    let _ = std::io::stdout().flush();
    let status = cmd.status().map_err(|e| ClientError::local("/bin/sh", e))?;
    if status.success() {
        Ok(())
    } else {
        Err(ClientError::Failed(format!("!{command}: {status}")))
    }
}

/// What the shell does after a command.
enum Flow {
    Continue,
    Quit,
}

/// The shell: reads commands, runs them, keeps the exit status.
pub struct Shell {
    /// Shared with the line editor's completion, which lists remote
    /// directories while the user types (never while a command runs).
    session: Rc<RefCell<Session>>,
    interactive: bool,
    editor: Option<LineEditor>,
    failed: bool,
}

impl Shell {
    /// A shell over a connected session. It is interactive (a prompt) when
    /// there is no `-c` and standard input is a terminal; the prompt edits
    /// lines (history, completion) when standard output is one too.
    pub fn new(session: Session) -> Shell {
        let interactive = session.cfg.commands.is_none() && terminal::stdin_is_tty();
        let session = Rc::new(RefCell::new(session));
        let editor = if interactive && terminal::stdout_is_tty() { LineEditor::new(Rc::clone(&session)) } else { None };
        Shell { session, interactive, editor, failed: false }
    }

    fn status(&self) -> u8 {
        if self.failed {
            EXIT_FAILED
        } else {
            EXIT_OK
        }
    }

    /// The next event of the input: the line editor's, or the plain
    /// reader's (a script, or a prompt without line editing).
    fn next_event(&mut self, prompt: bool) -> InputEvent {
        if let Some(editor) = &mut self.editor {
            let (watch, prompt) = {
                let s = self.session.borrow();
                (s.control_fd(), s.prompt())
            };
            let (event, announced) = editor.read_line(watch, prompt);
            // The watcher told the user already: forget the connection quietly.
            if announced || self.session.borrow().server_spoke() {
                let r = self.session.borrow_mut().check_server();
                match r {
                    Err(e) if announced => {
                        if e.is_lost() {
                            self.failed = true;
                            self.session.borrow_mut().disconnect();
                        }
                    }
                    Err(e) => self.report(e),
                    Ok(_) => {}
                }
            }
            return event;
        }
        if self.interactive && prompt {
            let mut out = std::io::stdout();
            let prompt = self.session.borrow().prompt();
            let _ = out.write_all(prompt.as_bytes()).and_then(|_| out.flush());
        }
        let interactive = self.interactive;
        match self.session.borrow_mut().read_line(interactive) {
            Ok(e) => e,
            Err(e) => {
                complain(format!("ftpclient: standard input: {e}"));
                self.failed = true;
                InputEvent::Eof
            }
        }
    }

    /// Runs until `bye`, the end of input, Ctrl-C at the prompt, or (in a
    /// script) a lost connection. Returns the exit status.
    pub fn run(mut self) -> u8 {
        let script = self.session.borrow().cfg.commands.clone();
        if let Some(script) = script {
            if let Some(code) = self.run_line(&script) {
                return code;
            }
            self.session.borrow_mut().quit();
            return self.status();
        }
        let mut prompt = true;
        loop {
            let event = self.next_event(prompt);
            prompt = true;
            match event {
                InputEvent::Line(line) => {
                    if let Some(code) = self.run_line(&line) {
                        return code;
                    }
                }
                InputEvent::Eof => {
                    if self.interactive {
                        say("");
                    }
                    self.session.borrow_mut().quit();
                    return self.status();
                }
                InputEvent::Interrupted => {
                    if self.interactive {
                        say("");
                    }
                    self.session.borrow_mut().quit();
                    return EXIT_INTERRUPTED;
                }
                InputEvent::TooLong => {
                    complain(format!("Line too long (at most {CLIENT_MAX_INPUT_LINE} bytes): ignored."));
                    self.failed = true;
                }
                InputEvent::Watched => {
                    // The server spoke unasked: a 421, or it closed the connection.
                    let r = self.session.borrow_mut().check_server();
                    match r {
                        Ok(shown) => prompt = shown,
                        Err(e) => {
                            say("");
                            self.report(e);
                        }
                    }
                }
            }
        }
    }

    /// Runs the commands of one line. Returns the exit status when the
    /// shell must stop.
    fn run_line(&mut self, line: &str) -> Option<u8> {
        // `!COMMAND` hands the rest of the line to the shell as it is.
        if let Some(command) = line.trim_start().strip_prefix('!') {
            if let Err(e) = run_local(command) {
                self.report(e);
            }
            return None;
        }
        let commands = match tokenize(line) {
            Ok(c) => c,
            Err(e) => {
                complain(e);
                self.failed = true;
                return None;
            }
        };
        for words in commands {
            let result = match parse_command(&words) {
                Ok(cmd) => self.execute(cmd),
                Err(e) => Err(ClientError::Usage(e)),
            };
            match result {
                Ok(Flow::Continue) => {}
                Ok(Flow::Quit) => return Some(self.status()),
                Err(e) => {
                    let interrupted = matches!(e, ClientError::Interrupted);
                    let lost = e.is_lost() || matches!(e, ClientError::NotConnected);
                    self.report(e);
                    if !self.interactive && lost {
                        complain("ftpclient: no connection: the remaining commands are not run.");
                        return Some(EXIT_FAILED);
                    }
                    if !self.interactive && interrupted {
                        self.session.borrow_mut().quit();
                        return Some(EXIT_INTERRUPTED);
                    }
                }
            }
            let mut session = self.session.borrow_mut();
            if !self.interactive && session.intr.is_set() {
                session.quit();
                return Some(EXIT_INTERRUPTED);
            }
            // A Ctrl-C that came while nothing could be interrupted is forgotten.
            session.intr.clear();
        }
        None
    }

    /// Tells the user why a command failed; forgets a lost connection.
    fn report(&mut self, e: ClientError) {
        self.failed = true;
        let lost = e.is_lost();
        complain(&e);
        if lost {
            self.session.borrow_mut().disconnect();
            if self.interactive {
                complain("Type 'reconnect' to connect again, or 'bye'.");
            }
        }
    }

    fn execute(&mut self, cmd: Cmd) -> Result<Flow, ClientError> {
        let mut guard = self.session.borrow_mut();
        let s = &mut *guard;
        match cmd {
            Cmd::Get { remote, local, recursive: true, .. } => {
                s.get_tree(&remote, local.as_deref(), TreeOptions::default())?
            }
            Cmd::Get { remote, local, force, verify, .. } => s.get(&remote, local.as_deref(), force, verify)?,
            Cmd::Put { local, remote, recursive: true, .. } => {
                s.put_tree(&local, remote.as_deref(), TreeOptions::default())?
            }
            Cmd::Put { local, remote, force, .. } => s.put(&local, remote.as_deref(), force)?,
            Cmd::Mget(patterns) => s.mget(&patterns)?,
            Cmd::Mput(patterns) => s.mput(&patterns)?,
            Cmd::Mirror { reverse, delete, dry_run, source, target } => {
                let opts = TreeOptions { compare: true, delete, dry_run };
                s.mirror(reverse, source.as_deref(), target.as_deref(), opts)?
            }
            Cmd::Hash(path, algo) => s.hash(&path, algo)?,
            Cmd::Verify(remote, local, algo) => {
                let local = match local {
                    Some(l) => s.local_path(&l),
                    None => s.local_path(super::transfer::remote_basename(&remote).unwrap_or(&remote)),
                };
                s.verify(&remote, &local, algo)?
            }
            Cmd::Open(host, port) => s.open(&host, port)?,
            Cmd::User(name) => s.relogin(&name)?,
            Cmd::Close => s.close(),
            Cmd::Local(command) => run_local(&command)?,
            Cmd::Ls(path) => s.ls(path.as_deref())?,
            Cmd::Cd(p) => s.cd(&p)?,
            Cmd::Pwd => s.pwd()?,
            Cmd::Lcd(p) => s.lcd(&p)?,
            Cmd::Lpwd => s.lpwd(),
            Cmd::Mkdir(p) => s.mkdir(&p)?,
            Cmd::Rmdir(p) => s.rmdir(&p)?,
            Cmd::Rm(p) => s.rm(&p)?,
            Cmd::Rename(a, b) => s.rename(&a, &b)?,
            Cmd::Size(p) => s.size(&p)?,
            Cmd::Type(t) => s.set_type(t)?,
            Cmd::Passive(p) => s.set_passive(p),
            Cmd::Reconnect => s.connect()?,
            Cmd::Help(topic) => say(help_text(topic.as_deref()).map_err(ClientError::Usage)?),
            Cmd::Bye => {
                s.quit();
                return Ok(Flow::Quit);
            }
        }
        Ok(Flow::Continue)
    }
}
