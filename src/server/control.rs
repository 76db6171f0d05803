//! The control connection: the only code that reads and writes the control
//! socket. Lines are bounded by [`MAX_COMMAND_LINE`]; a reply is written
//! with one `write` call when the socket has room, and never blocks past the
//! deadline the connection sets ([`Control::set_write_limit`]): a client
//! that stops reading its replies is dropped when that deadline passes.
//!
//! Its bytes go through a [`Stream`]: FTPS (RFC 4217, `AUTH TLS`)
//! replaces the stream in place with an encrypted one
//! ([`Control::start_tls`]), and every handler keeps using [`Control`] as
//! it is. Waits look at
//! [`Stream::has_buffered_input`] before polling the socket, since an
//! encrypted stream may hold bytes the socket no longer shows.

use std::collections::VecDeque;
use std::io::{self, Read};
use std::net::TcpStream;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use nix::sys::socket::{setsockopt, sockopt};

use super::wait::{self, Watch};
use crate::limits::{LOGIN_TIMEOUT, MAX_COMMAND_LINE, MAX_PENDING_COMMANDS};
use crate::net::{wait_readable, Stream};
use crate::protocol::{Frame, LineFramer, Reply};

/// What reading the control connection gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Input {
    /// One line, its line ending removed.
    Line(Vec<u8>),
    /// A line longer than the limit was discarded (answer 500).
    TooLong,
    /// The client closed the connection.
    Eof,
    /// No complete line within the timeout.
    Timeout,
    /// A signal interrupted the wait (the caller checks why).
    Interrupted,
}

/// The control connection of one session.
pub struct Control {
    stream: Stream,
    lines: LineFramer,
    /// Inputs read during a transfer, to be handled after it.
    pending: VecDeque<Input>,
    out: Vec<u8>,
    /// Replies must be written by then (the login or idle deadline).
    write_deadline: Instant,
    /// What may cut a reply's write short.
    write_watch: Watch,
}

impl Control {
    /// Wraps an accepted connection: TCP_NODELAY (replies are small and
    /// must not wait), SO_OOBINLINE (the Telnet Synch of an ABOR stays in the
    /// stream, where the parser removes it).
    pub fn new(stream: TcpStream) -> io::Result<Control> {
        stream.set_nodelay(true)?;
        let _ = setsockopt(&stream, sockopt::OobInline, &true);
        Ok(Control {
            stream: Stream::from(stream),
            lines: LineFramer::new(MAX_COMMAND_LINE),
            pending: VecDeque::new(),
            out: Vec::with_capacity(512),
            write_deadline: Instant::now() + LOGIN_TIMEOUT,
            write_watch: Watch::Reply { reclaimable: true },
        })
    }

    /// Replies from now on must be written by `deadline`; `reclaimable`
    /// (the client has not logged in) lets a reclaim cut a blocked reply.
    pub fn set_write_limit(&mut self, deadline: Instant, reclaimable: bool) {
        self.write_deadline = deadline;
        self.write_watch = Watch::Reply { reclaimable };
    }

    /// The socket, for polling beside a data connection (see also
    /// [`Control::has_buffered_input`]).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.stream.as_fd()
    }

    /// True when the stream holds input the socket no longer shows as
    /// readable (an encrypted stream's decoded bytes): look before waiting.
    pub fn has_buffered_input(&self) -> bool {
        self.stream.has_buffered_input()
    }

    /// Waits up to `timeout` for the client to say something (or close);
    /// false on timeout. Reads nothing.
    pub fn wait_input(&self, timeout: Duration) -> io::Result<bool> {
        if self.stream.has_buffered_input() {
            return Ok(true);
        }
        wait_readable(self.stream.as_fd(), timeout)
    }

    /// Starts TLS (RFC 4217 section 4: after the 234 to AUTH TLS, or at once
    /// on the implicit-FTPS port), the handshake bounded by `deadline`.
    ///
    /// Security: what the client sent after the AUTH line, still in clear
    /// text, is dropped, never read as commands of the encrypted session (a
    /// man in the middle could have put it there: CVE-2011-0411).
    /// A signal that `watch` stops for (a fast stop; a reclaim before
    /// login) ends the handshake.
    pub fn start_tls(&mut self, conn: rustls::Connection, deadline: Instant, watch: Watch) -> io::Result<()> {
        self.lines = LineFramer::new(MAX_COMMAND_LINE);
        self.pending.clear();
        let stop = || watch.stops(&mut deadline.clone(), &mut false);
        self.stream.start_tls(conn, deadline, &stop)
    }

    /// Back to clear text after CCC (RFC 4217 section 6), both sides'
    /// `close_notify` exchanged by `deadline`.
    pub fn end_tls(&mut self, deadline: Instant) -> io::Result<()> {
        self.lines = LineFramer::new(MAX_COMMAND_LINE);
        self.pending.clear();
        self.stream.end_tls(deadline)
    }

    /// The TLS version and cipher suite, and the host name the client
    /// asked for (SNI), while the connection is encrypted.
    pub fn tls_info(&self) -> Option<(String, Option<String>)> {
        self.stream.tls().map(|t| (t.describe(), t.server_name().map(str::to_string)))
    }

    /// The bytes received after the lines read so far (a PROXY header's
    /// rest, see `connection`).
    pub fn unread(&self) -> &[u8] {
        self.lines.unread()
    }

    /// Sends one reply, in one write when the socket has room, by the
    /// deadline of [`Control::set_write_limit`].
    pub fn send(&mut self, reply: &Reply) -> io::Result<()> {
        self.out.clear();
        reply.encode_into(&mut self.out);
        log::trace!("-> {}", reply);
        wait::write_all(&mut self.stream, &self.out, self.write_deadline, self.write_watch)
    }

    /// Takes a complete line out of the buffer, if one is there. Security:
    /// bounded input; an over-long line is reported once and dropped.
    fn take_line(&mut self) -> Option<Input> {
        self.lines.next_frame().map(|frame| match frame {
            Frame::Line(l) => Input::Line(l.to_vec()),
            Frame::TooLong => Input::TooLong,
        })
    }

    /// Reads whatever the socket has (at most one buffer's worth); false on
    /// EOF. An encrypted stream that got only part of a record gives
    /// nothing yet (true: wait for more).
    fn fill(&mut self) -> io::Result<bool> {
        let mut chunk = [0u8; 4096];
        let n = match self.stream.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && self.stream.tls().is_some() => return Ok(true),
            // A TLS client that closed without its goodbye has gone all the same.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => 0,
            Err(e) => return Err(e),
        };
        self.lines.push(&chunk[..n]);
        Ok(n > 0)
    }

    /// Waits up to `timeout` for the next input.
    pub fn read(&mut self, timeout: Duration) -> io::Result<Input> {
        if let Some(p) = self.pending.pop_front() {
            return Ok(p);
        }
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(input) = self.take_line() {
                return Ok(input);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(Input::Timeout);
            }
            match self.wait_input(left) {
                Ok(false) => return Ok(Input::Timeout),
                Ok(true) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(Input::Interrupted),
                Err(e) => return Err(e),
            }
            match self.fill() {
                Ok(true) => {}
                Ok(false) => return Ok(Input::Eof),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(Input::Interrupted),
                Err(e) => return Err(e),
            }
        }
    }

    /// During a transfer: reads what has arrived without waiting, and returns
    /// the inputs that are complete, no more than the pending queue has room
    /// for. Security: once [`MAX_PENDING_COMMANDS`] wait, nothing more is
    /// read (TCP back-pressure): a client cannot make the session hold more
    /// than that many lines, however fast it sends them.
    pub fn poll_inputs(&mut self) -> io::Result<Vec<Input>> {
        let room = MAX_PENDING_COMMANDS.saturating_sub(self.pending.len());
        let mut got: Vec<Input> = std::iter::from_fn(|| self.take_line()).take(room).collect();
        // The buffer holds no complete line now: read more only if there is room.
        if got.len() == room || !self.wait_input(Duration::ZERO).unwrap_or(false) {
            return Ok(got);
        }
        let eof = match self.fill() {
            Ok(true) => false,
            Ok(false) => true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted || e.kind() == io::ErrorKind::WouldBlock => false,
            Err(e) => return Err(e),
        };
        got.extend(std::iter::from_fn(|| self.take_line()).take(room - got.len()));
        if eof {
            got.push(Input::Eof);
        }
        Ok(got)
    }

    /// False once [`MAX_PENDING_COMMANDS`] wait: the control connection is
    /// not read until the transfer ends.
    pub fn accepting_input(&self) -> bool {
        self.pending.len() < MAX_PENDING_COMMANDS
    }

    /// Keeps an input read during a transfer for after it (the caller takes
    /// no more than [`Control::poll_inputs`] gave room for).
    pub fn defer(&mut self, input: Input) {
        self.pending.push_back(input);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn pair() -> (TcpStream, Control) {
        let (c, s) = crate::net::loopback_pair();
        (c, Control::new(s).unwrap())
    }

    /// The framing itself is tested in `protocol::framer`; here, that the
    /// socket's bytes reach it, in pieces.
    #[test]
    fn lines_arrive_from_the_socket_in_pieces() {
        let (mut c, mut ctl) = pair();
        c.write_all(b"NOOP\r\nPW").unwrap();
        assert_eq!(ctl.read(Duration::from_secs(5)).unwrap(), Input::Line(b"NOOP".to_vec()));
        c.write_all(b"D\n").unwrap();
        assert_eq!(ctl.read(Duration::from_secs(5)).unwrap(), Input::Line(b"PWD".to_vec()));
    }

    #[test]
    fn during_a_transfer_at_most_the_pending_limit_is_read() {
        let (mut c, mut ctl) = pair();
        c.write_all(&vec![b'\n'; 100_000]).unwrap();
        let mut kept = 0;
        for _ in 0..1000 {
            for input in ctl.poll_inputs().unwrap() {
                assert_eq!(input, Input::Line(Vec::new()));
                ctl.defer(input);
                kept += 1;
            }
            if !ctl.accepting_input() {
                break;
            }
            // The rest of the 100,000 bytes is on its way: wait for it.
            assert!(ctl.wait_input(Duration::from_secs(5)).unwrap());
        }
        assert_eq!(kept, MAX_PENDING_COMMANDS);
        assert!(ctl.poll_inputs().unwrap().is_empty());
        assert!(ctl.lines.buffered() <= 2 * MAX_COMMAND_LINE);
        // After the transfer, the queue is served first, then the socket.
        for _ in 0..MAX_PENDING_COMMANDS + 1 {
            assert_eq!(ctl.read(Duration::from_secs(5)).unwrap(), Input::Line(Vec::new()));
        }
    }

    #[test]
    fn timeout_and_eof() {
        let (c, mut ctl) = pair();
        assert_eq!(ctl.read(Duration::from_millis(50)).unwrap(), Input::Timeout);
        drop(c);
        assert_eq!(ctl.read(Duration::from_secs(5)).unwrap(), Input::Eof);
    }
}
