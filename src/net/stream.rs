//! The one stream type under FTP control and data connections.
//!
//! Everything above reads and writes a connection through [`Stream`], never
//! through its socket, so that FTPS (RFC 4217) can make a connection
//! encrypted by adding a variant here (a rustls connection over the same
//! blocking `TcpStream`, driven by the same `poll` with deadlines) without
//! touching the code that speaks FTP. What stays the socket's:
//!
//! - readiness: [`AsFd`] gives the socket to `poll`. A TLS variant may hold
//!   decrypted bytes the socket no longer shows as readable:
//!   [`Stream::has_buffered_input`] says so, and readers look at it before
//!   they wait;
//! - zero-copy transfers (`sendfile`, `splice`) need the bytes unchanged on
//!   the socket: [`Stream::plain`] gives the socket only while the stream is
//!   plain, and callers fall back to buffered copies otherwise;
//! - addresses, socket options and blocking mode act on the socket
//!   ([`Stream::socket`]).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsFd, BorrowedFd};

/// A connected stream: plain TCP (FTPS will add an encrypted variant).
#[derive(Debug)]
pub enum Stream {
    /// Bytes as they are on the socket.
    Plain(TcpStream),
}

impl From<TcpStream> for Stream {
    fn from(s: TcpStream) -> Stream {
        Stream::Plain(s)
    }
}

impl Stream {
    /// The socket itself while the stream is plain: for `sendfile` and
    /// `splice`, which move bytes without looking at them.
    pub fn plain(&self) -> Option<&TcpStream> {
        match self {
            Stream::Plain(s) => Some(s),
        }
    }

    /// The TCP socket under the stream (encrypted or not): for its
    /// addresses and options, never for its bytes.
    pub fn socket(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
        }
    }

    /// True when bytes were received and decoded but not read yet, so a
    /// reader must not wait for the socket to become readable. Never for a
    /// plain stream.
    pub fn has_buffered_input(&self) -> bool {
        match self {
            Stream::Plain(_) => false,
        }
    }

    /// Writes what the connection takes now without ever waiting, whatever
    /// its blocking mode: `WouldBlock` when the socket's buffer is full (a
    /// peer that stops reading must not hold a writer that has deadlines
    /// to keep; see `server::wait::write_all`).
    pub fn write_now(&mut self, buf: &[u8]) -> io::Result<usize> {
        use nix::sys::socket::{send, MsgFlags};
        use std::os::fd::AsRawFd;
        match self {
            Stream::Plain(s) => Ok(send(s.as_raw_fd(), buf, MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL)?),
        }
    }

    /// Blocking or not (reads and writes then fail with `WouldBlock`).
    pub fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        self.socket().set_nonblocking(on)
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
        }
    }
}

impl AsFd for Stream {
    /// The socket, for `poll`.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket().as_fd()
    }
}
