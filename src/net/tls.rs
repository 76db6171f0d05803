//! TLS over a blocking TCP socket, for FTPS (RFC 4217): the encrypted
//! variant of [`super::Stream`], on either side (rustls's server or client
//! connection).
//!
//! rustls does no I/O of its own; this type gives it the socket without
//! ever letting a read wait past its caller's deadline:
//!
//! - the handshake runs with the socket non-blocking, each wait a `poll`
//!   bounded by the deadline given ([`TlsStream::handshake`]);
//! - a read reads the socket at most once, and returns `WouldBlock` when
//!   what came was not yet a whole record, so a client trickling a record
//!   byte by byte cannot hold the worker in `read` (callers wait with
//!   `poll` and their own deadline, as for a plain socket); what it owes
//!   the peer (a key update's answer, an alert) it sends only as far as
//!   the socket takes it at once, so a client that stops reading cannot
//!   hold it either;
//! - decrypted bytes that were not read yet are reported by
//!   [`TlsStream::has_buffered_input`], since the socket no longer shows
//!   them as readable;
//! - writes encrypt into rustls's buffer and write it to the socket at
//!   once, several records per `writev`.
//!
//! rustls speaks TLS 1.2 and 1.3 only and never renegotiates.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Instant;

use crate::limits::SIGNAL_CHECK;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use rustls::crypto::CryptoProvider;
use rustls::{Connection, SupportedProtocolVersion};

/// The crypto provider of every TLS configuration (server, client,
/// benchmark): *ring* builds with only cargo and a C compiler (aws-lc-rs
/// needs cmake); its default suites are the modern AEADs with forward
/// secrecy, each of which the record layer (`net::records`) speaks.
pub fn tls_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The TLS versions spoken, by both sides: 1.3 and 1.2 (RFC 8446, RFC
/// 5246), the two the record layer knows.
pub const TLS_VERSIONS: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13, &rustls::version::TLS12];

/// Most plaintext in one record (RFC 8446 5.1, RFC 5246 6.2.1).
pub const MAX_FRAGMENT: usize = 16 * 1024;
/// A record's header: type, legacy version, length (RFC 8446 5.1).
pub(super) const HEADER: usize = 5;
/// Largest ciphertext of a TLS 1.2 record (RFC 5246 6.2.3), the larger of
/// the two versions' bounds.
pub(super) const MAX_CIPHERTEXT_12: usize = MAX_FRAGMENT + 2048;

/// An established TLS connection over its TCP socket.
pub struct TlsStream {
    conn: Connection,
    sock: TcpStream,
    /// Decrypted bytes not read yet.
    plaintext: usize,
    /// The peer said goodbye (`close_notify`) or the socket ended.
    ended: bool,
}

impl std::fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream").field("sock", &self.sock).field("version", &self.conn.protocol_version()).finish()
    }
}

/// The error for a TLS failure: the peer's bytes were not TLS, or did not
/// check out.
pub(super) fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// A version as logs and banners name it: "TLSv1.3".
pub(super) fn version_name(v: rustls::ProtocolVersion) -> String {
    v.as_str().map_or_else(|| format!("{v:?}"), |s| s.replace("TLSv1_", "TLSv1."))
}

/// Waits until `sock` is ready for `events`, at most until `deadline`
/// (`TimedOut`). `stop` is asked when a signal interrupts the wait and at
/// least every [`SIGNAL_CHECK`]: true ends it (`Interrupted`).
pub(super) fn wait(sock: &TcpStream, events: PollFlags, deadline: Instant, stop: &dyn Fn() -> bool) -> io::Result<()> {
    loop {
        if stop() {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "stopped during the TLS handshake"));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"));
        }
        let mut fds = [PollFd::new(sock.as_fd(), events)];
        match poll(&mut fds, PollTimeout::try_from(left.min(SIGNAL_CHECK)).unwrap_or(PollTimeout::MAX)) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => {}
            Ok(_) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Writes to a socket without ever waiting, whatever its blocking mode
/// (`WouldBlock` when its buffer is full): for writers that keep deadlines.
pub(super) struct NoWait<'a>(pub(super) &'a TcpStream);

impl Write for NoWait<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        use nix::sys::socket::{send, MsgFlags};
        use std::os::fd::AsRawFd;
        Ok(send(self.0.as_raw_fd(), buf, MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL)?)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl TlsStream {
    /// Runs the handshake of `conn` over `sock` until it completes, fails
    /// or `deadline` passes (`TimedOut`). A signal ends it (`Interrupted`).
    /// The socket is left blocking, as the caller's streams are.
    ///
    /// Security: bytes that are not TLS (a plain FTP client, an HTTP
    /// request, noise) fail here, with an alert sent, and nothing else.
    pub fn handshake(
        mut conn: Connection,
        sock: TcpStream,
        deadline: Instant,
        stop: &dyn Fn() -> bool,
    ) -> io::Result<TlsStream> {
        sock.set_nonblocking(true)?;
        let result = Self::drive(&mut conn, &sock, deadline, stop);
        sock.set_nonblocking(false)?;
        result?;
        let mut s = TlsStream { conn, sock, plaintext: 0, ended: false };
        // Application data may have come with the last handshake flight.
        s.note_state()?;
        Ok(s)
    }

    fn drive(
        conn: &mut Connection,
        mut sock: &TcpStream,
        deadline: Instant,
        stop: &dyn Fn() -> bool,
    ) -> io::Result<()> {
        while conn.is_handshaking() || conn.wants_write() {
            if conn.wants_write() {
                match conn.write_tls(&mut sock) {
                    Ok(_) => continue,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        wait(sock, PollFlags::POLLOUT, deadline, stop)?;
                        continue;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            }
            if !conn.is_handshaking() {
                break;
            }
            match conn.read_tls(&mut sock) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed during the TLS handshake")),
                Ok(_) => {
                    if let Err(e) = conn.process_new_packets() {
                        // The alert that says why goes out, if it can.
                        let _ = conn.write_tls(&mut sock);
                        return Err(tls_error(e));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait(sock, PollFlags::POLLIN, deadline, stop)?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Brings `plaintext` and `ended` up to date after `process_new_packets`.
    fn note_state(&mut self) -> io::Result<()> {
        let state = self.conn.process_new_packets().map_err(|e| {
            // The alert that says why, if the socket takes it now.
            // Security: never a wait for a peer that does not read.
            let _ = self.conn.write_tls(&mut NoWait(&self.sock));
            tls_error(e)
        })?;
        self.plaintext = state.plaintext_bytes_to_read();
        self.ended |= state.peer_has_closed();
        Ok(())
    }

    /// True when decrypted bytes (or the peer's goodbye) wait to be read.
    pub fn has_buffered_input(&self) -> bool {
        self.plaintext > 0 || self.ended
    }

    /// The TCP socket under the encryption.
    pub fn socket(&self) -> &TcpStream {
        &self.sock
    }

    /// The host name the client asked for (SNI), on the server side.
    pub fn server_name(&self) -> Option<&str> {
        match &self.conn {
            Connection::Server(s) => s.server_name(),
            Connection::Client(_) => None,
        }
    }

    /// "TLSv1.3 TLS13_AES_256_GCM_SHA384", for logs and the client's banner.
    pub fn describe(&self) -> String {
        let version = self.conn.protocol_version().map_or("TLS".to_string(), version_name);
        match self.conn.negotiated_cipher_suite() {
            Some(cs) => format!("{version} {:?}", cs.suite()),
            None => version,
        }
    }

    /// Sends what rustls holds for the socket; `WouldBlock` when the socket
    /// (non-blocking) takes no more.
    fn flush_tls(&mut self) -> io::Result<()> {
        send_pending(&mut self.conn, &self.sock)
    }

    /// True while encrypted bytes wait for the socket.
    pub fn has_pending_output(&self) -> bool {
        self.conn.wants_write()
    }

    /// Sends what waits for the socket, never waiting (`WouldBlock`).
    pub fn flush_now(&mut self) -> io::Result<()> {
        send_pending(&mut self.conn, NoWait(&self.sock))
    }

    /// Encrypts what rustls's buffer takes of `buf` and sends what the
    /// socket takes now, never waiting: `WouldBlock` while earlier bytes
    /// still wait (then nothing of `buf` is taken). What is taken but not
    /// sent waits for [`TlsStream::flush_now`].
    pub fn write_now(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.flush_now()?;
        let n = self.conn.writer().write(buf)?;
        match self.flush_now() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(n),
            r => r.map(|()| n),
        }
    }

    /// Says goodbye (`close_notify`, RFC 4217 section 10: the end of the
    /// data is marked by TLS closure, not only by TCP's) and sends what is
    /// pending, as far as the socket takes it now.
    pub fn close_notify(&mut self) -> io::Result<()> {
        self.conn.send_close_notify();
        self.flush_tls()
    }

    /// Ends the TLS layer and gives the plain socket back (CCC, RFC 4217
    /// section 6): our `close_notify` goes out, then the peer's is awaited
    /// until `deadline`.
    pub fn into_plain(mut self, deadline: Instant) -> io::Result<TcpStream> {
        self.conn.send_close_notify();
        self.sock.set_nonblocking(true)?;
        let result = (|| {
            loop {
                match self.flush_tls() {
                    Ok(()) => break,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        wait(&self.sock, PollFlags::POLLOUT, deadline, &|| false)?
                    }
                    Err(e) => return Err(e),
                }
            }
            // One record at a time, never a byte past it: the peer may send
            // clear text right behind its goodbye, and those bytes belong
            // to the plain connection, not to rustls's buffer.
            let mut record = Vec::with_capacity(HEADER + MAX_CIPHERTEXT_12);
            while !self.ended {
                record.clear();
                read_exactly(&self.sock, &mut record, HEADER, deadline)?;
                let len = usize::from(u16::from_be_bytes([record[3], record[4]]));
                // Security: a length no record may have is refused, not read.
                if len > MAX_CIPHERTEXT_12 {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "a TLS record longer than TLS allows"));
                }
                read_exactly(&self.sock, &mut record, HEADER + len, deadline)?;
                let mut rest = &record[..];
                while !rest.is_empty() {
                    if self.conn.read_tls(&mut rest)? == 0 {
                        // rustls takes nothing more (a record after the goodbye).
                        return Err(io::Error::new(io::ErrorKind::InvalidData, "TLS data after close_notify"));
                    }
                    self.note_state()?;
                    // Plaintext before the goodbye is not expected and dropped.
                    let mut sink = [0u8; 512];
                    while self.conn.reader().read(&mut sink).is_ok_and(|n| n > 0) {}
                }
            }
            Ok(())
        })();
        self.sock.set_nonblocking(false)?;
        result.map(|()| self.sock)
    }
}

/// Writes what `conn` holds for the socket to `to` (the socket, or
/// [`NoWait`] on it) until nothing is left or `to` fails (`WouldBlock`).
fn send_pending(conn: &mut Connection, mut to: impl Write) -> io::Result<()> {
    while conn.wants_write() {
        if conn.write_tls(&mut to)? == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
    }
    Ok(())
}

/// Reads from the non-blocking `sock` until `buf` holds `len` bytes, never
/// more, waiting at most until `deadline` (`TimedOut`); the socket's end
/// first is `UnexpectedEof`.
fn read_exactly(mut sock: &TcpStream, buf: &mut Vec<u8>, len: usize, deadline: Instant) -> io::Result<()> {
    let mut chunk = [0u8; 4096];
    while buf.len() < len {
        let want = (len - buf.len()).min(chunk.len());
        match sock.read(&mut chunk[..want]) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait(sock, PollFlags::POLLIN, deadline, &|| false)?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

impl Read for TlsStream {
    /// Decrypted bytes when there are some; else one read of the socket,
    /// then `WouldBlock` if no whole record came (never a second wait).
    /// `Ok(0)` at the peer's `close_notify`; a TCP end without it is
    /// `UnexpectedEof` (a cut transfer, RFC 4217 section 10).
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.plaintext == 0 && !self.ended {
            // Anything owed to the peer first (a key update's answer), as
            // far as the socket takes it now: the rest goes with the next
            // write. Security: a read never waits for the peer to read.
            if self.conn.wants_write() {
                let _ = self.flush_now();
            }
            match self.conn.read_tls(&mut self.sock)? {
                0 => self.ended = true,
                _ => self.note_state()?,
            }
            if self.plaintext == 0 && !self.ended {
                return Err(io::ErrorKind::WouldBlock.into());
            }
        }
        match self.conn.reader().read(buf) {
            Ok(n) => {
                self.plaintext = self.plaintext.saturating_sub(n);
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.plaintext = 0;
                Err(e)
            }
            Err(e) => Err(e),
        }
    }
}

impl Write for TlsStream {
    /// Encrypts as much of `buf` as rustls's buffer takes and writes it to
    /// the socket; on a non-blocking socket, `WouldBlock` once the socket
    /// takes no more and nothing of `buf` was taken.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // What an earlier call left in the buffer goes first.
        self.flush_tls()?;
        let n = self.conn.writer().write(buf)?;
        match self.flush_tls() {
            Ok(()) => Ok(n),
            // Taken: the rest goes out with the next call.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && n > 0 => Ok(n),
            Err(e) => Err(e),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_tls()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};

    /// A server and a client `TlsStream` over loopback, both blocking.
    fn connected() -> (TlsStream, TlsStream) {
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.key_pair.serialize_der()));
        let scfg = rustls::ServerConfig::builder_with_provider(tls_provider())
            .with_protocol_versions(TLS_VERSIONS)
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![ck.cert.der().clone()], key)
            .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ck.cert.der().clone()).unwrap();
        let ccfg = rustls::ClientConfig::builder_with_provider(tls_provider())
            .with_protocol_versions(TLS_VERSIONS)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let (c, s) = crate::net::loopback_pair();
        let deadline = Instant::now() + Duration::from_secs(10);
        let client = std::thread::spawn(move || {
            let conn = rustls::ClientConnection::new(Arc::new(ccfg), ServerName::try_from("localhost").unwrap());
            TlsStream::handshake(Connection::Client(conn.unwrap()), c, deadline, &|| false).unwrap()
        });
        let conn = rustls::ServerConnection::new(Arc::new(scfg)).unwrap();
        let server = TlsStream::handshake(Connection::Server(conn), s, deadline, &|| false).unwrap();
        (server, client.join().unwrap())
    }

    /// Security: a peer that stops reading (our socket full, records still
    /// waiting in rustls) and then sends a record that does not check out
    /// gets an error from our read at once: neither what waits nor the
    /// alert holds the (blocking) read until the peer reads.
    #[test]
    fn a_read_never_waits_for_a_peer_that_does_not_read() {
        let (mut server, client) = connected();
        let chunk = [7u8; 16 * 1024];
        loop {
            match server.write_now(&chunk) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
        // More waits in rustls than the socket could ever take unread.
        server.conn.set_buffer_limit(None);
        for _ in 0..256 {
            server.conn.writer().write_all(&chunk).unwrap();
        }
        // An application data record whose tag cannot check out.
        let mut forged = vec![23, 3, 3, 0, 64];
        forged.resize(HEADER + 64, 0x55);
        client.socket().write_all(&forged).unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 64];
            let r = server.read(&mut buf).map_err(|e| e.kind());
            let _ = tx.send(r);
        });
        let got = rx.recv_timeout(Duration::from_secs(10)).expect("the read waited for the peer to read");
        assert_eq!(got, Err(io::ErrorKind::InvalidData));
        drop(client);
    }
}
