//! Text a client chose, made safe to show: in a log, in `ftpserver status`
//! on an admin's terminal, in a listing on another client's terminal.
//!
//! Client text may hold terminal escape sequences (`ESC ] 0 ; title BEL`
//! retitles the admin's terminal, `ESC [ 2 J` clears it), line breaks that
//! forge log lines or listing entries, and Unicode controls that reorder or
//! break what is shown (bidi overrides make `txt.exe` look like `exe.txt`).
//! [`escape_into`] turns each of those into a visible escape and leaves
//! everything else alone:
//!
//! | what | shown as |
//! |---|---|
//! | C0 controls and DEL | `\t` `\n` `\r`, else `\xNN` |
//! | bytes that are not UTF-8 | `\xNN` |
//! | C1 controls (U+0080 to U+009F) | `\u{85}` |
//! | bidi controls (U+061C, U+200E, U+200F, U+202A to U+202E, U+2066 to U+2069) | `\u{202e}` |
//! | line and paragraph separators (U+2028, U+2029), the BOM (U+FEFF) | `\u{2028}` |
//!
//! A backslash itself is left as it is, so that a name holding one is listed
//! as it is named; an escape in a log may thus also be those characters
//! typed literally, which changes nothing of what the terminal does.
//!
//! Pure, no dependencies: the server and the client use it alike.

use std::borrow::Cow;
use std::fmt;

/// True for a character shown as an escape: C0 and C1 controls, DEL, the
/// bidi controls, the line and paragraph separators and the BOM. (Formats
/// with their own rule for such characters, as the xferlog's fields, use
/// this to find them.)
pub fn hidden(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}'
        | '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        | '\u{2028}' | '\u{2029}' | '\u{feff}')
}

fn push_char_escape(out: &mut Vec<u8>, c: char) {
    let text = match c {
        '\t' => "\\t".to_string(),
        '\n' => "\\n".to_string(),
        '\r' => "\\r".to_string(),
        c if (c as u32) < 0x80 => format!("\\x{:02x}", c as u32),
        c => format!("\\u{{{:x}}}", c as u32),
    };
    out.extend_from_slice(text.as_bytes());
}

/// Appends `bytes` to `out`, every control, bidi and separator character
/// and every byte that is not UTF-8 turned into a visible escape (see the
/// module's table). What it appends is always valid UTF-8.
pub fn escape_into(out: &mut Vec<u8>, bytes: &[u8]) {
    // Printable ASCII, the common case, is copied as it is.
    if bytes.iter().all(|&b| (0x20..0x7f).contains(&b)) {
        out.extend_from_slice(bytes);
        return;
    }
    let mut rest = bytes;
    while !rest.is_empty() {
        let (valid, bad) = match std::str::from_utf8(rest) {
            Ok(s) => (s, &[][..]),
            Err(e) => {
                let (v, b) = rest.split_at(e.valid_up_to());
                // The prefix was just found to be UTF-8.
                (std::str::from_utf8(v).unwrap_or_default(), b)
            }
        };
        for c in valid.chars() {
            if hidden(c) {
                push_char_escape(out, c);
            } else {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
        match bad.split_first() {
            Some((&b, tail)) => {
                out.extend_from_slice(format!("\\x{b:02x}").as_bytes());
                rest = tail;
            }
            None => rest = &[],
        }
    }
}

/// `text` made safe to show (see [`escape_into`]); borrowed when nothing
/// needed escaping.
pub fn escape(text: &[u8]) -> Cow<'_, str> {
    if text.iter().all(|&b| (0x20..0x7f).contains(&b)) {
        // Printable ASCII is UTF-8.
        return Cow::Borrowed(std::str::from_utf8(text).unwrap_or_default());
    }
    if let Ok(s) = std::str::from_utf8(text) {
        if !s.chars().any(hidden) {
            return Cow::Borrowed(s);
        }
    }
    let mut out = Vec::with_capacity(text.len() + 8);
    escape_into(&mut out, text);
    Cow::Owned(String::from_utf8(out).unwrap_or_default())
}

/// Shows its text escaped, for `format!` and the log macros:
/// `log::info!("user {}", Escaped(name))`.
#[derive(Clone, Copy)]
pub struct Escaped<'a, T: AsRef<[u8]> + ?Sized>(pub &'a T);

impl<T: AsRef<[u8]> + ?Sized> fmt::Display for Escaped<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&escape(self.0.as_ref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_escape_sequences_become_visible() {
        assert_eq!(escape(b"USER \x1b]0;PWNED\x07\x1b[2J"), "USER \\x1b]0;PWNED\\x07\\x1b[2J");
        assert_eq!(escape(b"a\r\nb\tc\x7f\x00"), "a\\r\\nb\\tc\\x7f\\x00");
    }

    #[test]
    fn c1_bidi_and_separators_become_visible_and_other_text_stays() {
        assert_eq!(escape("\u{9b}31m".as_bytes()), "\\u{9b}31m");
        assert_eq!(escape("photo\u{202e}gpj.exe".as_bytes()), "photo\\u{202e}gpj.exe");
        assert_eq!(escape("\u{2066}x\u{2069}\u{200f}\u{61c}".as_bytes()), "\\u{2066}x\\u{2069}\\u{200f}\\u{61c}");
        assert_eq!(escape("one\u{2028}two\u{2029}\u{feff}".as_bytes()), "one\\u{2028}two\\u{2029}\\u{feff}");
        for kept in ["café", "日本語.txt", "a\\b", "emoji 👩‍💻", "\"quoted\""] {
            assert_eq!(escape(kept.as_bytes()), kept);
        }
        assert!(matches!(escape(b"plain ascii"), Cow::Borrowed(_)));
        assert!(matches!(escape("é ü 日本".as_bytes()), Cow::Borrowed(_)));
    }

    #[test]
    fn bytes_that_are_not_utf8_become_visible() {
        assert_eq!(escape(b"caf\xe9 \xff\xfe"), "caf\\xe9 \\xff\\xfe");
        assert_eq!(escape(b"ok \xe2\x80"), "ok \\xe2\\x80");
        assert_eq!(format!("<{}>", Escaped("x\ny")), "<x\\ny>");
    }

    #[test]
    fn nothing_a_terminal_acts_on_survives_any_input() {
        // Every byte value, alone and after a UTF-8 lead byte.
        for b in 0..=255u8 {
            for input in [vec![b], vec![0xc2, b], vec![0xe2, 0x80, b]] {
                let out = escape(&input);
                assert!(out.chars().all(|c| !hidden(c)), "{input:?} -> {out:?}");
            }
        }
    }
}
