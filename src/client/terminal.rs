//! The user's side: Ctrl-C as a flag, lines read from standard input in a way
//! Ctrl-C can cut, and the password read with the terminal's echo off.
//!
//! Ctrl-C sets a flag (signal-hook) instead of killing the client; every
//! wait of the client is a `poll` in ticks of [`CLIENT_POLL_TICK`] that looks
//! at the flag, so the running transfer can be aborted cleanly. Where dying
//! at once is the right answer (while connecting), [`Interrupt::die_on_interrupt`]
//! turns the default action back on.

use std::io::{self, IsTerminal, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::error::ClientError;
use crate::limits::{CLIENT_MAX_INPUT_LINE, CLIENT_POLL_TICK};
use crate::protocol::Password;

/// The Ctrl-C flag, shared with the signal handler.
#[derive(Clone, Debug)]
pub struct Interrupt {
    hit: Arc<AtomicBool>,
    die: Arc<AtomicBool>,
}

impl Interrupt {
    /// Catches SIGINT from now on: it sets the flag, or kills the process
    /// when [`Interrupt::die_on_interrupt`] is on.
    pub fn install() -> io::Result<Interrupt> {
        let intr = Interrupt::inert();
        // Order matters: the conditional default must run before the flag
        // is set, so that it looks at `die` only.
        signal_hook::flag::register_conditional_default(libc::SIGINT, Arc::clone(&intr.die))?;
        signal_hook::flag::register(libc::SIGINT, Arc::clone(&intr.hit))?;
        Ok(intr)
    }

    /// A flag no signal sets (for tests, and code that must not be cut).
    pub fn inert() -> Interrupt {
        Interrupt { hit: Arc::new(AtomicBool::new(false)), die: Arc::new(AtomicBool::new(false)) }
    }

    /// True once Ctrl-C was pressed since the last [`Interrupt::clear`].
    pub fn is_set(&self) -> bool {
        self.hit.load(Ordering::SeqCst)
    }

    /// Forgets an earlier Ctrl-C.
    pub fn clear(&self) {
        self.hit.store(false, Ordering::SeqCst);
    }

    /// With `true`, Ctrl-C kills the client at once (its default action);
    /// with `false`, it only sets the flag.
    pub fn die_on_interrupt(&self, die: bool) {
        self.die.store(die, Ordering::SeqCst);
    }
}

/// What [`Input::read_line`] got.
#[derive(Debug, PartialEq, Eq)]
pub enum InputEvent {
    /// A line, without its line end (invalid UTF-8 replaced).
    Line(String),
    /// End of input (Ctrl-D on a terminal, end of a script).
    Eof,
    /// Ctrl-C.
    Interrupted,
    /// A line longer than [`CLIENT_MAX_INPUT_LINE`]; it was dropped.
    TooLong,
    /// The watched descriptor became readable before a line was complete.
    Watched,
}

/// Lines from standard input, read through `poll` so that Ctrl-C (and the
/// server closing the connection) are noticed while the user types.
#[derive(Debug, Default)]
pub struct Input {
    buf: Vec<u8>,
    eof: bool,
    discarding: bool,
}

/// Waits until one of `fds` is ready, at most one tick. EINTR counts as
/// "nothing ready": the caller looks at the Ctrl-C flag and calls again.
pub fn poll_tick(fds: &mut [PollFd], tick: std::time::Duration) -> io::Result<bool> {
    let timeout = PollTimeout::try_from(tick).unwrap_or(PollTimeout::MAX);
    match poll(fds, timeout) {
        Ok(n) => Ok(n > 0),
        Err(Errno::EINTR) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

fn ready(fd: &PollFd) -> bool {
    fd.revents().is_some_and(|r| !r.is_empty())
}

impl Input {
    /// A reader of standard input.
    pub fn new() -> Input {
        Input::default()
    }

    /// Reads one line. Returns [`InputEvent::Watched`] as soon as `watch`
    /// is readable (the control connection, at the prompt).
    pub fn read_line(&mut self, intr: &Interrupt, watch: Option<BorrowedFd<'_>>) -> io::Result<InputEvent> {
        let stdin = io::stdin();
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                if std::mem::take(&mut self.discarding) {
                    return Ok(InputEvent::TooLong);
                }
                return Ok(InputEvent::Line(to_text(&line)));
            }
            if self.eof {
                if std::mem::take(&mut self.discarding) {
                    self.buf.clear();
                    return Ok(InputEvent::TooLong);
                }
                if self.buf.is_empty() {
                    return Ok(InputEvent::Eof);
                }
                let line = std::mem::take(&mut self.buf);
                return Ok(InputEvent::Line(to_text(&line)));
            }
            if self.buf.len() > CLIENT_MAX_INPUT_LINE {
                // Bounded input: the rest of this line is dropped as it comes.
                self.buf.clear();
                self.discarding = true;
            }
            if intr.is_set() {
                return Ok(InputEvent::Interrupted);
            }
            let (input_ready, watch_ready) = {
                let mut fds = vec![PollFd::new(stdin.as_fd(), PollFlags::POLLIN)];
                if let Some(w) = watch {
                    fds.push(PollFd::new(w, PollFlags::POLLIN));
                }
                if !poll_tick(&mut fds, CLIENT_POLL_TICK)? {
                    continue;
                }
                (ready(&fds[0]), fds.get(1).is_some_and(ready))
            };
            if watch_ready {
                return Ok(InputEvent::Watched);
            }
            if input_ready {
                let mut chunk = [0u8; 4096];
                match nix::unistd::read(stdin.as_raw_fd(), &mut chunk) {
                    Ok(0) => self.eof = true,
                    Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                    Err(Errno::EINTR | Errno::EAGAIN) => {}
                    // A terminal that went away (EIO after a hang-up) ends the input.
                    Err(Errno::EIO) => self.eof = true,
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
}

fn to_text(line: &[u8]) -> String {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    String::from_utf8_lossy(line).into_owned()
}

/// True when standard input is a terminal: the client is interactive.
pub fn stdin_is_tty() -> bool {
    io::stdin().is_terminal()
}

/// True when standard output is a terminal: progress is shown.
pub fn stdout_is_tty() -> bool {
    io::stdout().is_terminal()
}

/// Asks for the password on the terminal with echo off (the typed password
/// never appears on the screen), as `getpass(3)` does. Fails when standard
/// input is not a terminal: a script gives its password through
/// `FTP_PASSWORD` or `--password-file`.
pub fn read_password(input: &mut Input, intr: &Interrupt, prompt: &str) -> Result<Password, ClientError> {
    let stdin = io::stdin();
    if !stdin.is_terminal() {
        return Err(ClientError::Failed(
            "A password is needed: set FTP_PASSWORD or use --password-file (standard input is not a terminal).".into(),
        ));
    }
    let _quiet = crate::term::EchoOff::new().map_err(|e| ClientError::local("terminal", e))?;
    let mut err = io::stderr();
    let _ = io::stdout().flush();
    let _ = write!(err, "{prompt}");
    let _ = err.flush();
    match input.read_line(intr, None).map_err(|e| ClientError::local("standard input", e))? {
        InputEvent::Line(p) => Ok(Password::new(p)),
        InputEvent::Interrupted => Err(ClientError::Interrupted),
        InputEvent::TooLong => Err(ClientError::Failed("Password too long.".into())),
        InputEvent::Eof | InputEvent::Watched => Err(ClientError::Failed("No password given.".into())),
    }
}
