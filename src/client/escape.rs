//! Server text made harmless before it reaches the terminal.
//!
//! Everything a server sends (replies, listings, file names) is text chosen
//! by someone else. Printed raw, `\e]0;...\a` retitles the window, `\e[2J`
//! clears the screen, a `\r` overwrites what the user just read, and the
//! bidi controls (U+202E...) make `exe.txt` read as `txt.exe`. Every line
//! the client prints goes through [`visible`]: control characters (C0, DEL,
//! C1), the bidi controls and the Unicode line and paragraph separators
//! become visible escapes (`\r`, `\x1b`, `\u{202e}`).
//!
//! The server (branch `hostile`, issue 10) escapes its logs the same way;
//! the two functions are meant to become one in `protocol` once both exist.

use std::borrow::Cow;
use std::io::{self, Write};

use crate::limits::CLIENT_MAX_LISTING_LINE;

/// True for a character that must not reach a terminal as it is.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            // Arabic letter mark, LRM and RLM.
            '\u{061c}' | '\u{200e}' | '\u{200f}'
            // Line and paragraph separators.
            | '\u{2028}' | '\u{2029}'
            // Bidi embeddings, overrides and isolates.
            | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

fn push_escape(out: &mut String, c: char) {
    match c {
        '\t' => out.push_str("\\t"),
        '\r' => out.push_str("\\r"),
        '\n' => out.push_str("\\n"),
        c if (c as u32) < 0x100 => out.push_str(&format!("\\x{:02x}", c as u32)),
        c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
    }
}

/// `text` with every unsafe character escaped; line feeds are kept when
/// `keep_newlines` (text made of several lines the client split itself).
///
/// Security: this is the last step before a terminal for all server text.
pub fn escape(text: &str, keep_newlines: bool) -> Cow<'_, str> {
    if !text.chars().any(|c| is_unsafe(c) && !(keep_newlines && c == '\n')) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_unsafe(c) && !(keep_newlines && c == '\n') {
            push_escape(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Text of several lines, each made safe (line feeds kept).
pub fn visible(text: &str) -> Cow<'_, str> {
    escape(text, true)
}

/// One name or one line, every control character escaped (a line feed too).
pub fn visible_line(text: &str) -> Cow<'_, str> {
    escape(text, false)
}

/// A writer that escapes what passes through it line by line (a listing on
/// its way to standard output). Bytes that are not UTF-8 are shown as
/// U+FFFD. A line longer than [`CLIENT_MAX_LISTING_LINE`] is written in
/// pieces, so memory stays bounded whatever the server sends.
pub struct EscapingWriter<W: Write> {
    inner: W,
    line: Vec<u8>,
}

impl<W: Write> EscapingWriter<W> {
    /// Escapes into `inner`.
    pub fn new(inner: W) -> Self {
        EscapingWriter { inner, line: Vec::new() }
    }

    fn emit(&mut self, newline: bool) -> io::Result<()> {
        let text = String::from_utf8_lossy(&self.line);
        self.inner.write_all(visible_line(&text).as_bytes())?;
        if newline {
            self.inner.write_all(b"\n")?;
        }
        self.line.clear();
        Ok(())
    }
}

impl<W: Write> Write for EscapingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        for &b in buf {
            if b == b'\n' {
                self.emit(true)?;
            } else {
                self.line.push(b);
                if self.line.len() >= CLIENT_MAX_LISTING_LINE {
                    self.emit(false)?;
                }
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.line.is_empty() {
            self.emit(false)?;
        }
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_escapes_become_visible() {
        assert_eq!(visible("220 \u{1b}]0;PWNED\u{7}\u{1b}[2J"), "220 \\x1b]0;PWNED\\x07\\x1b[2J");
        assert_eq!(visible_line("a\rb\nc\td"), "a\\rb\\nc\\td");
        assert_eq!(visible("one\ntwo"), "one\ntwo");
    }

    #[test]
    fn c1_bidi_and_separators_become_visible() {
        assert_eq!(visible("\u{9b}2J"), "\\x9b2J");
        assert_eq!(visible("evil\u{202e}txt.exe"), "evil\\u{202e}txt.exe");
        assert_eq!(visible("a\u{2028}b\u{2029}c\u{2066}"), "a\\u{2028}b\\u{2029}c\\u{2066}");
        assert_eq!(visible("\u{7f}"), "\\x7f");
    }

    #[test]
    fn ordinary_text_is_untouched_and_not_copied() {
        assert!(matches!(visible("200 ok: é ü 日本 \\ \"q\""), Cow::Borrowed(_)));
    }

    #[test]
    fn the_writer_escapes_each_line_and_bounds_memory() {
        let mut out = Vec::new();
        {
            let mut w = EscapingWriter::new(&mut out);
            w.write_all(b"-rw a\x1b[2J\nname\xff\r\npartial").unwrap();
            w.flush().unwrap();
        }
        assert_eq!(String::from_utf8(out).unwrap(), "-rw a\\x1b[2J\nname\u{fffd}\\r\npartial");
        let mut out = Vec::new();
        let mut w = EscapingWriter::new(&mut out);
        w.write_all(&vec![b'x'; 3 * CLIENT_MAX_LISTING_LINE]).unwrap();
        assert!(w.line.len() < CLIENT_MAX_LISTING_LINE);
    }
}
