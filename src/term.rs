//! Terminal input: echo turned off while a password is typed (restored on
//! every way out), and a password read from standard input.

use std::io::{self, BufRead, IsTerminal, Write};
use std::os::fd::AsFd;

use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg, Termios};

/// While alive, the terminal on standard input does not echo what is typed
/// (Enter still moves to the next line); dropping it restores the settings,
/// also when Ctrl-C or an error cuts the prompt short.
pub struct EchoOff(Termios);

impl EchoOff {
    /// Turns echo off. TCSAFLUSH: what was typed before the prompt is not
    /// taken as the password.
    pub fn new() -> io::Result<EchoOff> {
        let stdin = io::stdin();
        let saved = tcgetattr(stdin.as_fd())?;
        let mut quiet = saved.clone();
        quiet.local_flags.remove(LocalFlags::ECHO);
        quiet.local_flags.insert(LocalFlags::ECHONL);
        tcsetattr(stdin.as_fd(), SetArg::TCSAFLUSH, &quiet)?;
        Ok(EchoOff(saved))
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        let _ = tcsetattr(io::stdin().as_fd(), SetArg::TCSANOW, &self.0);
    }
}

/// Reads one line from standard input without its line ending. With a
/// terminal, `prompt` is shown on standard error and echo is off while the
/// user types.
pub fn read_password(prompt: &str) -> io::Result<String> {
    let stdin = io::stdin();
    let _quiet = if stdin.is_terminal() {
        let guard = EchoOff::new()?;
        eprint!("{prompt}");
        io::stderr().flush()?;
        Some(guard)
    } else {
        None
    };
    let mut line = String::new();
    if stdin.lock().read_line(&mut line)? == 0 {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "no password given"));
    }
    while line.ends_with(['\n', '\r']) {
        line.pop();
    }
    Ok(line)
}
