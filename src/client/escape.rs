//! Server text made harmless before it reaches the terminal.
//!
//! Everything a server sends (replies, listings, file names) is text chosen
//! by someone else. Printed raw, `\e]0;...\a` retitles the window, `\e[2J`
//! clears the screen, a `\r` overwrites what the user just read, and the
//! bidi controls (U+202E...) make `exe.txt` read as `txt.exe`. Every line
//! the client prints goes through [`visible`], which applies the crate's one
//! escaping function ([`crate::escape`], the same rules as the server's logs
//! and listings) to each line: control characters (C0, DEL, C1), bytes that
//! are not UTF-8, the bidi controls and the Unicode line and paragraph
//! separators become visible escapes (`\r`, `\x1b`, `\u{202e}`).

use std::borrow::Cow;
use std::io::{self, Write};

use crate::escape::{escape_into, hidden};
use crate::limits::CLIENT_MAX_LISTING_LINE;

/// Text of several lines, each made safe; the line feeds between them are
/// kept (text the client split into lines itself).
///
/// Security: this is the last step before a terminal for all server text.
pub fn visible(text: &str) -> Cow<'_, str> {
    // `text` is UTF-8: only its hidden characters need escaping.
    if !text.chars().any(|c| c != '\n' && hidden(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = Vec::with_capacity(text.len() + 16);
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push(b'\n');
        }
        escape_into(&mut out, line.as_bytes());
    }
    // `escape_into` appends UTF-8 only.
    Cow::Owned(String::from_utf8(out).unwrap_or_default())
}

/// A writer that escapes what passes through it line by line (a listing on
/// its way to standard output). A line longer than
/// [`CLIENT_MAX_LISTING_LINE`] is written in pieces, so memory stays
/// bounded whatever the server sends.
pub struct EscapingWriter<W: Write> {
    inner: W,
    line: Vec<u8>,
    escaped: Vec<u8>,
}

impl<W: Write> EscapingWriter<W> {
    /// Escapes into `inner`.
    pub fn new(inner: W) -> Self {
        EscapingWriter { inner, line: Vec::new(), escaped: Vec::new() }
    }

    fn emit(&mut self, newline: bool) -> io::Result<()> {
        self.escaped.clear();
        escape_into(&mut self.escaped, &self.line);
        if newline {
            self.escaped.push(b'\n');
        }
        self.inner.write_all(&self.escaped)?;
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
    fn terminal_escapes_become_visible_and_line_feeds_stay() {
        assert_eq!(visible("220 \u{1b}]0;PWNED\u{7}\u{1b}[2J"), "220 \\x1b]0;PWNED\\x07\\x1b[2J");
        assert_eq!(visible("a\rb\nc\td"), "a\\rb\nc\\td");
        assert_eq!(visible("one\ntwo"), "one\ntwo");
        assert_eq!(visible("evil\u{202e}txt.exe\n\u{9b}2J"), "evil\\u{202e}txt.exe\n\\u{9b}2J");
    }

    #[test]
    fn ordinary_text_is_untouched_and_not_copied() {
        assert!(matches!(visible("200 ok: é ü 日本 \\ \"q\"\nline two"), Cow::Borrowed(_)));
    }

    #[test]
    fn the_writer_escapes_each_line_and_bounds_memory() {
        let mut out = Vec::new();
        {
            let mut w = EscapingWriter::new(&mut out);
            w.write_all(b"-rw a\x1b[2J\nname\xff\r\npartial").unwrap();
            w.flush().unwrap();
        }
        assert_eq!(String::from_utf8(out).unwrap(), "-rw a\\x1b[2J\nname\\xff\\r\npartial");
        let mut out = Vec::new();
        let mut w = EscapingWriter::new(&mut out);
        w.write_all(&vec![b'x'; 3 * CLIENT_MAX_LISTING_LINE]).unwrap();
        assert!(w.line.len() < CLIENT_MAX_LISTING_LINE);
    }
}
