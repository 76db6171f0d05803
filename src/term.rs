//! Terminal input: reading a password without echo (termios), or a line
//! from standard input when it is not a terminal (scripts, tests).

use std::io::{self, BufRead, IsTerminal, Write};

use nix::sys::termios::{self, LocalFlags, SetArg};

/// Reads one line from standard input without its line ending. With a
/// terminal, `prompt` is shown on standard error and echo is off while the
/// user types; the terminal is restored afterwards, whatever happens.
pub fn read_password(prompt: &str) -> io::Result<String> {
    let stdin = io::stdin();
    let tty = stdin.is_terminal();
    let saved = if tty {
        eprint!("{prompt}");
        io::stderr().flush()?;
        let old = termios::tcgetattr(&stdin).map_err(io::Error::from)?;
        let mut quiet = old.clone();
        quiet.local_flags.remove(LocalFlags::ECHO);
        quiet.local_flags.insert(LocalFlags::ECHONL);
        termios::tcsetattr(&stdin, SetArg::TCSANOW, &quiet).map_err(io::Error::from)?;
        Some(old)
    } else {
        None
    };
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if let Some(old) = saved {
        termios::tcsetattr(&stdin, SetArg::TCSANOW, &old).map_err(io::Error::from)?;
    }
    if read? == 0 {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "no password given"));
    }
    while line.ends_with(['\n', '\r']) {
        line.pop();
    }
    Ok(line)
}
