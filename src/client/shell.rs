//! The command line of the client: lines are split into commands and words
//! (quotes and backslashes keep spaces in names), each command is parsed
//! into a [`Cmd`] (pure, no I/O), then run on the [`Session`].
//!
//! Input comes from `-c`, from standard input when it is not a terminal (a
//! script), or from the `ftp> ` prompt. The exit status is non-zero when any
//! command failed, so that scripts can rely on it.

use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;

use super::editor::LineEditor;
use super::error::ClientError;
use super::hash::Algo;
use super::session::Session;
use super::terminal::{self, InputEvent};
use super::tree::TreeOptions;
use super::{complain, say, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK};
use crate::limits::CLIENT_MAX_INPUT_LINE;
use crate::protocol::TransferType;

/// One command of the client, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cmd {
    /// `get [-f] [-c] [-r] REMOTE [LOCAL]`.
    Get {
        /// The remote file (a directory with `-r`).
        remote: String,
        /// The local name, if given.
        local: Option<String>,
        /// `-f`: start over instead of resuming.
        force: bool,
        /// `-c`: compare checksums after the download.
        verify: bool,
        /// `-r`: a whole directory.
        recursive: bool,
    },
    /// `put [-f] [-r] LOCAL [REMOTE]`.
    Put {
        /// The local file (a directory with `-r`).
        local: String,
        /// The remote name, if given.
        remote: Option<String>,
        /// `-f`: send it all instead of resuming.
        force: bool,
        /// `-r`: a whole directory.
        recursive: bool,
    },
    /// `mget PATTERN...`.
    Mget(Vec<String>),
    /// `mput PATTERN...`.
    Mput(Vec<String>),
    /// `mirror [-R] [--delete] [--dry-run] [SOURCE [TARGET]]`.
    Mirror {
        /// `-R`: upload (local to remote).
        reverse: bool,
        /// `--delete`: remove from the target what the source lacks.
        delete: bool,
        /// `--dry-run`: only say what would be done.
        dry_run: bool,
        /// The source directory (remote, or local with `-R`).
        source: Option<String>,
        /// The target directory.
        target: Option<String>,
    },
    /// `hash [-a ALGO] FILE`.
    Hash(String, Option<Algo>),
    /// `verify [-a ALGO] REMOTE [LOCAL]`.
    Verify(String, Option<String>, Option<Algo>),
    /// `ls [PATH]`.
    Ls(Option<String>),
    /// `cd PATH`.
    Cd(String),
    /// `pwd`.
    Pwd,
    /// `lcd PATH`.
    Lcd(String),
    /// `lpwd`.
    Lpwd,
    /// `mkdir DIR`.
    Mkdir(String),
    /// `rmdir DIR`.
    Rmdir(String),
    /// `rm FILE`.
    Rm(String),
    /// `rename FROM TO`.
    Rename(String, String),
    /// `size FILE`.
    Size(String),
    /// `ascii` or `binary`.
    Type(TransferType),
    /// `passive` (true) or `active` (false).
    Passive(bool),
    /// `open HOST [PORT]`.
    Open(String, Option<u16>),
    /// `user NAME`.
    User(String),
    /// `close`.
    Close,
    /// `reconnect`.
    Reconnect,
    /// `!COMMAND`: a local shell command (`!` alone: a shell).
    Local(String),
    /// `help [CMD]`.
    Help(Option<String>),
    /// `bye`, `quit`, `exit`.
    Bye,
}

/// A command's names, usage and one-line description (for `help`).
struct Spec {
    names: &'static [&'static str],
    usage: &'static str,
    about: &'static str,
}

const SPECS: &[Spec] = &[
    Spec {
        names: &["get", "recv"],
        usage: "get [-f] [-c] [-r] REMOTE [LOCAL]",
        about: "download REMOTE into the local directory (into LOCAL if given); a partial download is resumed, \
                -f starts over, -c compares checksums afterwards, -r downloads a whole directory",
    },
    Spec {
        names: &["put", "send"],
        usage: "put [-f] [-r] LOCAL [REMOTE]",
        about: "upload LOCAL; when the server has a shorter copy (an interrupted upload) it is resumed, -f sends it \
                all, -r uploads a whole directory",
    },
    Spec {
        names: &["mget"],
        usage: "mget PATTERN...",
        about: "download the remote files matching each pattern (*.txt, dir/*) into the local directory",
    },
    Spec {
        names: &["mput"],
        usage: "mput PATTERN...",
        about: "upload the local files matching each pattern (*.txt, dir/*) into the remote directory",
    },
    Spec {
        names: &["mirror"],
        usage: "mirror [-R] [--delete] [--dry-run] [SOURCE [TARGET]]",
        about: "make TARGET a copy of the remote directory SOURCE (with -R: of the local one), moving only files \
                whose size or time differ; --delete removes what SOURCE lacks, --dry-run only says what it would do",
    },
    Spec {
        names: &["hash", "checksum"],
        usage: "hash [-a ALGO] FILE",
        about: "show the server's checksum of FILE (HASH, or XSHA256/XSHA1/XMD5/XCRC); ALGO: sha256, sha512, sha1, \
                md5, crc32",
    },
    Spec {
        names: &["verify"],
        usage: "verify [-a ALGO] REMOTE [LOCAL]",
        about: "compare the server's checksum of REMOTE with the local copy's",
    },
    Spec { names: &["ls", "dir"], usage: "ls [PATH]", about: "list a remote directory" },
    Spec { names: &["cd", "cwd"], usage: "cd PATH", about: "change the remote directory" },
    Spec { names: &["pwd"], usage: "pwd", about: "show the remote directory" },
    Spec { names: &["lcd"], usage: "lcd PATH", about: "change the local directory" },
    Spec { names: &["lpwd"], usage: "lpwd", about: "show the local directory" },
    Spec { names: &["mkdir"], usage: "mkdir DIR", about: "make a remote directory" },
    Spec { names: &["rmdir"], usage: "rmdir DIR", about: "remove an empty remote directory" },
    Spec { names: &["rm", "delete"], usage: "rm FILE", about: "delete a remote file" },
    Spec { names: &["rename"], usage: "rename FROM TO", about: "rename a remote file or directory" },
    Spec { names: &["size"], usage: "size FILE", about: "show the size of a remote file" },
    Spec { names: &["ascii"], usage: "ascii", about: "transfer text: line ends are converted" },
    Spec { names: &["binary", "image"], usage: "binary", about: "transfer bytes as they are (the default)" },
    Spec {
        names: &["passive"],
        usage: "passive",
        about: "the client opens data connections: EPSV, or PASV if refused (the default)",
    },
    Spec { names: &["active"], usage: "active", about: "the server connects back for data: EPRT, or PORT if refused" },
    Spec { names: &["open"], usage: "open HOST [PORT]", about: "close this connection and connect to another server" },
    Spec { names: &["user"], usage: "user NAME", about: "log in again as NAME (password from ~/.netrc or asked)" },
    Spec {
        names: &["close", "disconnect"],
        usage: "close",
        about: "end the session with the server, stay at the prompt",
    },
    Spec { names: &["reconnect"], usage: "reconnect", about: "connect and log in again after a lost connection" },
    Spec { names: &["!"], usage: "!COMMAND", about: "run COMMAND in a local shell (! alone starts a shell)" },
    Spec { names: &["help", "?"], usage: "help [CMD]", about: "list the commands, or show how to use CMD" },
    Spec { names: &["bye", "quit", "exit"], usage: "bye", about: "end the session (also quit, exit, end of input)" },
];

/// The names of every command, for tab completion.
pub fn command_names() -> impl Iterator<Item = &'static str> {
    SPECS.iter().flat_map(|s| s.names.iter().copied()).filter(|n| *n != "!" && *n != "?")
}

/// True when the command takes remote names as arguments (tab completion
/// lists the remote directory for them, local files for the others).
pub fn takes_remote_names(name: &str) -> bool {
    let local = ["lcd", "put", "mput", "!", "open", "user", "help", "bye"];
    spec(name).is_some_and(|s| !local.contains(&s.names[0]))
}

fn spec(name: &str) -> Option<&'static Spec> {
    let name = name.to_ascii_lowercase();
    SPECS.iter().find(|s| s.names.contains(&name.as_str()))
}

/// Splits a line into commands (separated by `;` or newlines) of words
/// (separated by blanks). `'...'` keeps everything literally; `"..."` keeps
/// blanks and `;`, with `\"` and `\\` inside; a backslash outside quotes
/// keeps the next character. A command starting with `#` is a comment.
pub fn tokenize(line: &str) -> Result<Vec<Vec<String>>, String> {
    let mut commands = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '#' if !in_word && words.is_empty() => {
                // A comment runs to the end of the line.
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
                commands.push(std::mem::take(&mut words));
            }
            ' ' | '\t' | '\r' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            ';' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
                commands.push(std::mem::take(&mut words));
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("Unclosed quote (').".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("Unclosed quote (\").".into()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("Unclosed quote (\").".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                word.push(chars.next().unwrap_or('\\'));
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    commands.push(words);
    commands.retain(|c| !c.is_empty());
    Ok(commands)
}

/// Security: a name with CR, LF or NUL would end the command line early
/// and smuggle another command to the server.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("An empty name is not a file name.".into());
    }
    if name.contains(['\r', '\n', '\0']) {
        return Err("File names cannot hold line breaks or NUL.".into());
    }
    Ok(())
}

/// A command's options: its flags, the algorithm of `-a`, and the words
/// after the options.
type Options<'a> = (Vec<String>, Option<Algo>, &'a [String]);

/// The options of a command (before its names; `--` ends them) and the
/// rest. `-a ALGO` takes a value.
fn options<'a>(args: &'a [String], allowed: &[&str]) -> Result<Options<'a>, String> {
    let mut flags = Vec::new();
    let mut algo = None;
    let mut rest = args;
    while let Some((first, tail)) = rest.split_first() {
        match first.as_str() {
            "--" => return Ok((flags, algo, tail)),
            "-a" if allowed.contains(&"-a") => {
                let (name, tail) =
                    tail.split_first().ok_or("-a needs an algorithm: sha256, sha512, sha1, md5, crc32.")?;
                algo =
                    Some(Algo::from_name(name).ok_or_else(|| {
                        format!("Unknown algorithm '{name}': use sha256, sha512, sha1, md5 or crc32.")
                    })?);
                rest = tail;
                continue;
            }
            o if allowed.contains(&o) => flags.push(o.to_string()),
            o if o.starts_with('-') && o.len() > 1 => return Err(format!("Unknown option {o}.")),
            _ => break,
        }
        rest = tail;
    }
    Ok((flags, algo, rest))
}

/// Parses the words of one command.
pub fn parse_command(words: &[String]) -> Result<Cmd, String> {
    let Some((name, args)) = words.split_first() else {
        return Err("Empty command.".into());
    };
    let Some(s) = spec(name) else {
        return Err(format!("Unknown command '{name}'. Type 'help' for the list of commands."));
    };
    let usage = || format!("Usage: {}", s.usage);
    let allowed: &[&str] = match s.names[0] {
        "get" => &["-f", "-c", "-r"],
        "put" => &["-f", "-r"],
        "mirror" => &["-R", "--delete", "--dry-run"],
        "hash" | "verify" => &["-a"],
        _ => &[],
    };
    let (flags, algo, args) = options(args, allowed).map_err(|e| format!("{e} {}", usage()))?;
    let flag = |f: &str| flags.iter().any(|x| x == f);
    for a in args {
        check_name(a)?;
    }
    let one = || match args {
        [a] => Ok(a.clone()),
        _ => Err(usage()),
    };
    let none = |cmd: Cmd| if args.is_empty() { Ok(cmd) } else { Err(usage()) };
    let one_or_two = || match args {
        [a] => Ok((a.clone(), None)),
        [a, b] => Ok((a.clone(), Some(b.clone()))),
        _ => Err(usage()),
    };
    let some = || if args.is_empty() { Err(usage()) } else { Ok(args.to_vec()) };
    match s.names[0] {
        "get" => {
            let (remote, local) = one_or_two()?;
            if flag("-r") && flag("-c") {
                return Err(format!("-c checks one file: use 'verify' after 'get -r'. {}", usage()));
            }
            Ok(Cmd::Get { remote, local, force: flag("-f"), verify: flag("-c"), recursive: flag("-r") })
        }
        "put" => {
            let (local, remote) = one_or_two()?;
            Ok(Cmd::Put { local, remote, force: flag("-f"), recursive: flag("-r") })
        }
        "mget" => some().map(Cmd::Mget),
        "mput" => some().map(Cmd::Mput),
        "mirror" => {
            let (source, target) = match args {
                [] => (None, None),
                [a] => (Some(a.clone()), None),
                [a, b] => (Some(a.clone()), Some(b.clone())),
                _ => return Err(usage()),
            };
            Ok(Cmd::Mirror {
                reverse: flag("-R"),
                delete: flag("--delete"),
                dry_run: flag("--dry-run"),
                source,
                target,
            })
        }
        "hash" => one().map(|f| Cmd::Hash(f, algo)),
        "verify" => one_or_two().map(|(r, l)| Cmd::Verify(r, l, algo)),
        "ls" => match args {
            [] => Ok(Cmd::Ls(None)),
            [p] => Ok(Cmd::Ls(Some(p.clone()))),
            _ => Err(usage()),
        },
        "cd" => one().map(Cmd::Cd),
        "pwd" => none(Cmd::Pwd),
        "lcd" => one().map(Cmd::Lcd),
        "lpwd" => none(Cmd::Lpwd),
        "mkdir" => one().map(Cmd::Mkdir),
        "rmdir" => one().map(Cmd::Rmdir),
        "rm" => one().map(Cmd::Rm),
        "rename" => match args {
            [a, b] => Ok(Cmd::Rename(a.clone(), b.clone())),
            _ => Err(usage()),
        },
        "size" => one().map(Cmd::Size),
        "ascii" => none(Cmd::Type(TransferType::Ascii)),
        "binary" => none(Cmd::Type(TransferType::Image)),
        "passive" => none(Cmd::Passive(true)),
        "active" => none(Cmd::Passive(false)),
        "open" => {
            let (host, port) = one_or_two()?;
            let port = match port {
                None => None,
                Some(p) => match p.parse::<u16>() {
                    Ok(n) if n > 0 => Some(n),
                    _ => return Err(format!("'{p}' is not a port. {}", usage())),
                },
            };
            Ok(Cmd::Open(host, port))
        }
        "user" => one().map(Cmd::User),
        "close" => none(Cmd::Close),
        "reconnect" => none(Cmd::Reconnect),
        "!" => Ok(Cmd::Local(args.join(" "))),
        "help" => match args {
            [] => Ok(Cmd::Help(None)),
            [c] => Ok(Cmd::Help(Some(c.clone()))),
            _ => Err(usage()),
        },
        _ => none(Cmd::Bye),
    }
}

/// The text of `help` (every command) or `help CMD`.
pub fn help_text(topic: Option<&str>) -> Result<String, String> {
    match topic {
        None => {
            let width = SPECS.iter().map(|s| s.usage.len()).max().unwrap_or(0);
            let mut out = String::from("Commands (names with spaces go in quotes; ';' separates commands):\n");
            for s in SPECS {
                out.push_str(&format!("  {:width$}  {}\n", s.usage, s.about));
            }
            out.push_str("Ctrl-C aborts a transfer; at the prompt it leaves.");
            Ok(out)
        }
        Some(t) => match spec(t) {
            Some(s) => {
                let mut out = format!("Usage: {}\n  {}", s.usage, s.about);
                if s.names.len() > 1 {
                    out.push_str(&format!("\n  Also: {}", s.names[1..].join(", ")));
                }
                Ok(out)
            }
            None => Err(format!("Unknown command '{t}'. Type 'help' for the list of commands.")),
        },
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<Vec<String>> {
        tokenize(line).unwrap()
    }

    fn cmd(line: &str) -> Result<Cmd, String> {
        let mut c = tokenize(line).unwrap();
        parse_command(&c.pop().unwrap_or_default())
    }

    #[test]
    fn quotes_keep_spaces_in_names() {
        assert_eq!(words(r#"get "my file.txt" 'local name'"#), [["get", "my file.txt", "local name"]]);
        assert_eq!(words(r"get my\ file.txt"), [["get", "my file.txt"]]);
        assert_eq!(words(r#"get "a \"q\" b""#), [["get", r#"a "q" b"#]]);
        assert_eq!(words(r#"get """#), [["get", ""]]);
    }

    #[test]
    fn semicolons_and_newlines_separate_commands_outside_quotes() {
        assert_eq!(words("get a.txt; bye"), [vec!["get", "a.txt"], vec!["bye"]]);
        assert_eq!(words("pwd\nls"), [vec!["pwd"], vec!["ls"]]);
        assert_eq!(words("get 'a;b'"), [["get", "a;b"]]);
    }

    /// The C original crashed on an empty line.
    #[test]
    fn empty_and_comment_lines_hold_no_command() {
        assert!(words("").is_empty());
        assert!(words("   \t ").is_empty());
        assert!(words(" ; ;").is_empty());
        assert!(words("# a comment; get x").is_empty());
        assert_eq!(words("# c\npwd"), [["pwd"]]);
    }

    #[test]
    fn unclosed_quotes_are_an_error() {
        assert!(tokenize("get 'a").is_err());
        assert!(tokenize("get \"a").is_err());
    }

    #[test]
    fn commands_parse_with_their_arguments() {
        let get = |remote: &str, local: Option<&str>, force, verify, recursive| {
            Ok(Cmd::Get { remote: remote.into(), local: local.map(Into::into), force, verify, recursive })
        };
        assert_eq!(cmd("get a.txt"), get("a.txt", None, false, false, false));
        assert_eq!(cmd("GET -f a b"), get("a", Some("b"), true, false, false));
        assert_eq!(cmd("get -- -f"), get("-f", None, false, false, false));
        assert_eq!(
            cmd("get -c -r d"),
            Err("-c checks one file: use 'verify' after 'get -r'. Usage: get [-f] [-c] [-r] REMOTE [LOCAL]".into())
        );
        assert_eq!(cmd("get -r d l"), get("d", Some("l"), false, false, true));
        assert_eq!(cmd("get -c f"), get("f", None, false, true, false));
        assert_eq!(cmd("put x"), Ok(Cmd::Put { local: "x".into(), remote: None, force: false, recursive: false }));
        assert_eq!(cmd("put -r d"), Ok(Cmd::Put { local: "d".into(), remote: None, force: false, recursive: true }));
        assert_eq!(cmd("mget *.txt 'a b/*'"), Ok(Cmd::Mget(vec!["*.txt".into(), "a b/*".into()])));
        assert_eq!(cmd("mput"), Err("Usage: mput PATTERN...".into()));
        assert_eq!(
            cmd("mirror -R --delete --dry-run src dst"),
            Ok(Cmd::Mirror {
                reverse: true,
                delete: true,
                dry_run: true,
                source: Some("src".into()),
                target: Some("dst".into())
            })
        );
        assert_eq!(
            cmd("mirror"),
            Ok(Cmd::Mirror { reverse: false, delete: false, dry_run: false, source: None, target: None })
        );
        assert_eq!(cmd("hash -a md5 f"), Ok(Cmd::Hash("f".into(), Some(Algo::Md5))));
        assert!(cmd("hash -a rot13 f").unwrap_err().starts_with("Unknown algorithm"));
        assert_eq!(cmd("verify r l"), Ok(Cmd::Verify("r".into(), Some("l".into()), None)));
        assert_eq!(cmd("open h 21"), Ok(Cmd::Open("h".into(), Some(21))));
        assert!(cmd("open h x").is_err());
        assert_eq!(cmd("user bob"), Ok(Cmd::User("bob".into())));
        assert_eq!(cmd("close"), Ok(Cmd::Close));
        assert_eq!(cmd("rename a b"), Ok(Cmd::Rename("a".into(), "b".into())));
        assert_eq!(cmd("quit"), Ok(Cmd::Bye));
        assert_eq!(cmd("exit"), Ok(Cmd::Bye));
        assert_eq!(cmd("ls"), Ok(Cmd::Ls(None)));
        assert_eq!(cmd("binary"), Ok(Cmd::Type(TransferType::Image)));
        assert_eq!(cmd("active"), Ok(Cmd::Passive(false)));
    }

    #[test]
    fn wrong_use_says_how_to_use() {
        assert_eq!(cmd("get"), Err("Usage: get [-f] [-c] [-r] REMOTE [LOCAL]".into()));
        assert_eq!(cmd("cd a b"), Err("Usage: cd PATH".into()));
        assert_eq!(cmd("pwd x"), Err("Usage: pwd".into()));
        assert!(cmd("get -x a").unwrap_err().starts_with("Unknown option -x."));
        assert!(cmd("mirror -r").unwrap_err().starts_with("Unknown option -r."));
    }

    #[test]
    fn unknown_commands_point_to_help() {
        let e = cmd("fetch a").unwrap_err();
        assert_eq!(e, "Unknown command 'fetch'. Type 'help' for the list of commands.");
    }

    /// Security: CR or LF in a name would smuggle a second command.
    #[test]
    fn names_cannot_smuggle_commands() {
        assert!(cmd("get \"a\rDELE b\"").is_err());
        assert!(cmd("cd ''").is_err());
    }

    #[test]
    fn help_lists_every_command_and_explains_one() {
        let all = help_text(None).unwrap();
        for name in ["get", "put", "ls", "cd", "pwd", "lcd", "lpwd", "mkdir", "rmdir", "rm", "rename", "size"] {
            assert!(all.contains(&format!("\n  {name}")), "{name} missing from help:\n{all}");
        }
        for name in ["ascii", "binary", "passive", "active", "help", "bye"] {
            assert!(all.contains(name), "{name} missing");
        }
        assert!(help_text(Some("get")).unwrap().contains("resumed"));
        assert!(help_text(Some("nope")).is_err());
    }
}
