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
//!
//! The encrypted variants are [`TlsStream`] (`net::tls`, rustls's own
//! records, for control connections) and [`RecordStream`] (`net::records`,
//! records sealed and opened in place, for the bulk of data connections):
//! a read never waits twice on the socket, so a blocking socket keeps its
//! deadlines (a read may return `WouldBlock` when only part of a record
//! came).

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Instant;

use super::records::RecordStream;
use super::tls::{NoWait, TlsStream};

/// A connected stream: plain TCP, or TLS over it (FTPS, RFC 4217).
#[derive(Debug)]
pub enum Stream {
    /// Bytes as they are on the socket.
    Plain(TcpStream),
    /// Encrypted (boxed: rustls's state is large, a plain stream is not).
    Tls(Box<TlsStream>),
    /// Encrypted, records sealed and opened by `net::records`.
    Records(Box<RecordStream>),
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
            Stream::Tls(_) | Stream::Records(_) => None,
        }
    }

    /// The TLS layer, while there is one (rustls's records).
    pub fn tls(&self) -> Option<&TlsStream> {
        match self {
            Stream::Tls(t) => Some(t),
            Stream::Plain(_) | Stream::Records(_) => None,
        }
    }

    /// The record layer of a data connection, while there is one.
    pub fn records(&self) -> Option<&RecordStream> {
        match self {
            Stream::Records(r) => Some(r),
            Stream::Plain(_) | Stream::Tls(_) => None,
        }
    }

    /// The record layer, mutably.
    pub fn records_mut(&mut self) -> Option<&mut RecordStream> {
        match self {
            Stream::Records(r) => Some(r),
            Stream::Plain(_) | Stream::Tls(_) => None,
        }
    }

    /// TLS's goodbye (`close_notify`) as far as the socket takes it now
    /// (`WouldBlock`: flush again when writable); nothing on a plain one.
    pub fn close_notify(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(_) => Ok(()),
            Stream::Tls(t) => t.close_notify(),
            Stream::Records(r) => r.close_notify(),
        }
    }

    /// True when the stream is encrypted, either way.
    pub fn is_encrypted(&self) -> bool {
        !matches!(self, Stream::Plain(_))
    }

    /// Makes a plain stream encrypted: runs the handshake of `conn` (a
    /// rustls server or client connection) until `deadline`. On failure
    /// the stream is unusable (its socket is shut down) and the caller
    /// ends the connection.
    /// `stop`, asked whenever a signal interrupts the wait and at least
    /// every [`crate::limits::SIGNAL_CHECK`], ends it early.
    pub fn start_tls(
        &mut self,
        conn: rustls::Connection,
        deadline: Instant,
        stop: &dyn Fn() -> bool,
    ) -> io::Result<()> {
        self.encrypt(|sock| Ok(Stream::Tls(Box::new(TlsStream::handshake(conn, sock, deadline, stop)?))))
    }

    /// Makes a plain data connection encrypted with the record layer: runs
    /// the handshake of `conn` (rustls's unbuffered server connection, its
    /// configuration allowing secret extraction) until `deadline`. On
    /// failure the socket is shut down.
    pub fn start_records(
        &mut self,
        conn: rustls::server::UnbufferedServerConnection,
        deadline: Instant,
        stop: &dyn Fn() -> bool,
    ) -> io::Result<()> {
        self.encrypt(|sock| Ok(Stream::Records(Box::new(RecordStream::accept(conn, sock, deadline, stop)?))))
    }

    /// The client side of [`Stream::start_records`].
    pub fn connect_records(
        &mut self,
        conn: rustls::client::UnbufferedClientConnection,
        deadline: Instant,
        stop: &dyn Fn() -> bool,
    ) -> io::Result<()> {
        self.encrypt(|sock| Ok(Stream::Records(Box::new(RecordStream::connect(conn, sock, deadline, stop)?))))
    }

    /// Replaces a plain stream by what `handshake` makes of its socket; on
    /// failure the socket is shut down.
    fn encrypt(&mut self, handshake: impl FnOnce(TcpStream) -> io::Result<Stream>) -> io::Result<()> {
        let Stream::Plain(sock) = self else {
            return Err(io::Error::new(io::ErrorKind::AlreadyExists, "already encrypted"));
        };
        // The socket moves under the TLS layer; `self` keeps a duplicate
        // of its descriptor until the layer replaces it.
        let sock = sock.try_clone()?;
        match handshake(sock) {
            Ok(encrypted) => {
                *self = encrypted;
                Ok(())
            }
            Err(e) => {
                let _ = self.socket().shutdown(std::net::Shutdown::Both);
                Err(e)
            }
        }
    }

    /// Makes an encrypted stream plain again (CCC, RFC 4217 section 6),
    /// after both sides said goodbye to TLS, by `deadline`.
    pub fn end_tls(&mut self, deadline: Instant) -> io::Result<()> {
        let Stream::Tls(_) = self else { return Ok(()) };
        // (Data connections, the only users of `Records`, never end TLS.)
        let placeholder = Stream::Plain(self.socket().try_clone()?);
        let Stream::Tls(t) = std::mem::replace(self, placeholder) else { unreachable!() };
        let sock = t.into_plain(deadline)?;
        *self = Stream::Plain(sock);
        Ok(())
    }

    /// The TCP socket under the stream (encrypted or not): for its
    /// addresses and options, never for its bytes.
    pub fn socket(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(t) => t.socket(),
            Stream::Records(r) => r.socket(),
        }
    }

    /// True when bytes were received and decoded but not read yet, so a
    /// reader must not wait for the socket to become readable. Never for a
    /// plain stream.
    pub fn has_buffered_input(&self) -> bool {
        match self {
            Stream::Plain(_) => false,
            Stream::Tls(t) => t.has_buffered_input(),
            Stream::Records(r) => r.has_buffered_input(),
        }
    }

    /// Writes what the connection takes now without ever waiting, whatever
    /// its blocking mode: `WouldBlock` when the socket's buffer is full (a
    /// peer that stops reading must not hold a writer that has deadlines
    /// to keep; see `server::wait::write_all`).
    pub fn write_now(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => NoWait(s).write(buf),
            Stream::Tls(t) => t.write_now(buf),
            Stream::Records(r) => r.write_now(buf),
        }
    }

    /// True while encrypted bytes wait for the socket (after
    /// [`Stream::write_now`] took a whole buffer the socket could not):
    /// [`Stream::flush_now`] until false.
    pub fn has_pending_output(&self) -> bool {
        match self {
            Stream::Plain(_) => false,
            Stream::Tls(t) => t.has_pending_output(),
            Stream::Records(r) => r.has_pending_output(),
        }
    }

    /// Writes what waits, never waiting: `WouldBlock` when the socket takes
    /// no more.
    pub fn flush_now(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(_) => Ok(()),
            Stream::Tls(t) => t.flush_now(),
            Stream::Records(r) => r.flush_now(),
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
            Stream::Tls(t) => t.read(buf),
            Stream::Records(r) => r.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(t) => t.write(buf),
            Stream::Records(r) => r.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(t) => t.flush(),
            Stream::Records(r) => r.flush(),
        }
    }
}

impl AsFd for Stream {
    /// The socket, for `poll`.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket().as_fd()
    }
}
