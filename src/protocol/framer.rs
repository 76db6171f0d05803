//! The one line framer of every text protocol we speak: FTP control
//! connections both ways (RFC 959 section 4: lines end in CRLF; a bare LF is
//! accepted) and the balancer's registration protocol. Pure: bytes are
//! pushed in as they arrive, complete lines are popped out; no I/O.
//!
//! # The limit, defined once
//!
//! A framer is built with the longest line it accepts, **its CRLF
//! included**, whichever terminator the peer actually sent: a line fits when
//! its content and two bytes fit ([`fits`]). A bare LF counts as CRLF so that
//! every line accepted is re-encoded (with CRLF) within the same limit, and
//! `protocol::command::parse` uses the same [`fits`].
//!
//! A line that cannot fit is reported once as [`Frame::TooLong`]; its bytes
//! are dropped as they arrive, up to and including its LF, and the line after
//! it is read normally (vsftpd's behaviour for control lines; the balancer
//! ends the connection instead). The framer never holds more than the
//! complete lines pushed and not yet popped, plus `max` bytes.

/// True when a line of `content_len` bytes (its terminator removed) fits a
/// limit of `max` bytes that counts a CRLF.
pub fn fits(content_len: usize, max: usize) -> bool {
    content_len.saturating_add(2) <= max
}

/// What [`LineFramer::next_frame`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// One line, its LF and a CR before it removed.
    Line(&'a [u8]),
    /// A line longer than the limit; its bytes are being dropped.
    TooLong,
}

/// Cuts a byte stream into bounded lines.
#[derive(Debug)]
pub struct LineFramer {
    buf: Vec<u8>,
    /// Where the unread bytes of `buf` start.
    start: usize,
    /// The longest line accepted, CRLF included.
    max: usize,
    /// An over-long line was reported: drop bytes up to the next LF.
    discarding: bool,
    /// The unfinished line at the end of `buf` is already over the limit:
    /// report it once complete or, at the latest, when it is popped.
    overflowed: bool,
}

impl LineFramer {
    /// A framer for lines of at most `max` bytes, CRLF included.
    pub fn new(max: usize) -> LineFramer {
        LineFramer { buf: Vec::new(), start: 0, max, discarding: false, overflowed: false }
    }

    /// The limit it was built with.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Bytes held and not yet popped.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The bytes held and not yet popped, as they came.
    pub fn unread(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Adds received bytes.
    pub fn push(&mut self, mut bytes: &[u8]) {
        if self.discarding || self.overflowed {
            // The rest of an over-long line: dropped up to its LF.
            let Some(i) = bytes.iter().position(|&b| b == b'\n') else { return };
            bytes = &bytes[i + 1..];
            if self.overflowed {
                // Its first bytes wait in the buffer: end that line, so that
                // it is reported in its turn.
                self.buf.push(b'\n');
                self.overflowed = false;
            }
            self.discarding = false;
        }
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
        self.bound_tail();
    }

    /// Security: bounded memory. Whatever lies after the last LF is one
    /// unfinished line; once it cannot fit, only its first `max` bytes are
    /// kept (it is reported as too long) and the rest is dropped as it comes.
    fn bound_tail(&mut self) {
        let tail = self.buf[self.start..].iter().rposition(|&b| b == b'\n').map_or(self.start, |i| self.start + i + 1);
        if self.buf.len() - tail >= self.max {
            self.buf.truncate(tail + self.max);
            self.overflowed = true;
        }
    }

    /// The next complete line, or a report of an over-long one; `None`
    /// when more bytes are needed.
    pub fn next_frame(&mut self) -> Option<Frame<'_>> {
        let unread = &self.buf[self.start..];
        match unread.iter().position(|&b| b == b'\n') {
            Some(i) => {
                let from = self.start;
                self.start += i + 1;
                let mut end = from + i;
                if end > from && self.buf[end - 1] == b'\r' {
                    end -= 1;
                }
                if fits(end - from, self.max) {
                    Some(Frame::Line(&self.buf[from..end]))
                } else {
                    Some(Frame::TooLong)
                }
            }
            // No LF, and the bytes already there cannot fit with one.
            None if self.overflowed || unread.len() >= self.max => {
                self.buf.truncate(self.start);
                self.overflowed = false;
                self.discarding = true;
                Some(Frame::TooLong)
            }
            None => {
                // Keep the unfinished line at the front, so the buffer does
                // not grow with the lines already popped.
                if self.start > 0 {
                    self.buf.drain(..self.start);
                    self.start = 0;
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(f: &mut LineFramer) -> Vec<Option<Vec<u8>>> {
        let mut out = Vec::new();
        while let Some(frame) = f.next_frame() {
            out.push(match frame {
                Frame::Line(l) => Some(l.to_vec()),
                Frame::TooLong => None,
            });
        }
        out
    }

    /// RFC 959 section 4: CRLF ends a line; a bare LF is accepted too.
    #[test]
    fn lines_end_in_crlf_or_lf_and_may_arrive_in_pieces() {
        let mut f = LineFramer::new(64);
        f.push(b"NOOP\r\nPW");
        assert_eq!(lines(&mut f), [Some(b"NOOP".to_vec())]);
        f.push(b"D\n\r\n");
        assert_eq!(lines(&mut f), [Some(b"PWD".to_vec()), Some(Vec::new())]);
        assert_eq!(f.buffered(), 0);
    }

    /// The limit counts a CRLF, whichever terminator was sent.
    #[test]
    fn the_limit_counts_the_line_with_its_crlf() {
        let max = 16;
        let line = |n: usize, end: &[u8]| [vec![b'x'; n], end.to_vec()].concat();
        for (content, end, fits_) in
            [(14, &b"\r\n"[..], true), (15, b"\r\n", false), (14, b"\n", true), (15, b"\n", false)]
        {
            let mut f = LineFramer::new(max);
            f.push(&line(content, end));
            let want = if fits_ { Some(vec![b'x'; content]) } else { None };
            assert_eq!(lines(&mut f), [want], "{content} bytes and {end:?}");
            assert_eq!(fits(content, max), fits_);
        }
    }

    /// vsftpd's rule: an over-long line is reported once and dropped up to
    /// its LF, and the next line is read, whether its bytes came at once,
    /// in pieces, popped as they came or all at the end.
    #[test]
    fn an_overlong_line_is_reported_once_and_the_next_line_is_read() {
        let mut wire = vec![b'A'; 100];
        wire.extend_from_slice(b"\r\nNOOP\r\n");
        for chunk in [1, 7, 16, 200] {
            for pop_each_time in [true, false] {
                let mut f = LineFramer::new(16);
                let mut got = Vec::new();
                for piece in wire.chunks(chunk) {
                    f.push(piece);
                    if pop_each_time {
                        got.extend(lines(&mut f));
                    }
                }
                got.extend(lines(&mut f));
                assert_eq!(got, [None, Some(b"NOOP".to_vec())], "chunks of {chunk}, pop {pop_each_time}");
            }
        }
    }

    /// Security: megabytes without a line end hold at most the limit.
    #[test]
    fn memory_stays_bounded_without_a_line_end() {
        let mut f = LineFramer::new(4096);
        f.push(b"USER a\r\n");
        for _ in 0..100 {
            f.push(&[b'Z'; 100_000]);
            assert!(f.buffered() <= 4096 + 8, "{} bytes held", f.buffered());
        }
        f.push(b"\r\nNOOP\r\n");
        assert_eq!(lines(&mut f), [Some(b"USER a".to_vec()), None, Some(b"NOOP".to_vec())]);
    }
}
