//! The handshake of a data connection (RFC 4217 section 9), run by rustls's
//! unbuffered connection on the non-blocking socket, then the key
//! extraction: the negotiated version, suite and traffic secrets, taken
//! from rustls (its `kernel` API) into a [`RecordStream`] whose records are
//! ours from then on.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Instant;

use nix::poll::PollFlags;
use rustls::client::{ClientConnectionData, UnbufferedClientConnection};
use rustls::server::{ServerConnectionData, UnbufferedServerConnection};
use rustls::unbuffered::{ConnectionState, EncodeError, UnbufferedStatus};
use rustls::{
    CommonState, ConnectionTrafficSecrets, ExtractedSecrets, HandshakeKind, ProtocolVersion, SupportedCipherSuite,
};

use super::keys::{Kernel, Key, Shape};
use super::{bad, tls_error, RecordStream, CONTROL_ROOM};
use crate::limits::TLS_DATA_BATCH;
use crate::net::tls::{wait, HEADER, MAX_CIPHERTEXT_12, MAX_FRAGMENT};

/// What both sides of rustls's unbuffered API give the handshake driver.
trait Unbuffered {
    type Data;
    fn process<'c, 'i>(&'c mut self, incoming: &'i mut [u8]) -> UnbufferedStatus<'c, 'i, Self::Data>;
    fn state(&self) -> &CommonState;
    fn into_kernel(self) -> Result<(ExtractedSecrets, Kernel), rustls::Error>;
}

impl Unbuffered for UnbufferedServerConnection {
    type Data = ServerConnectionData;
    fn process<'c, 'i>(&'c mut self, incoming: &'i mut [u8]) -> UnbufferedStatus<'c, 'i, Self::Data> {
        self.process_tls_records(incoming)
    }
    fn state(&self) -> &CommonState {
        self
    }
    fn into_kernel(self) -> Result<(ExtractedSecrets, Kernel), rustls::Error> {
        self.dangerous_into_kernel_connection().map(|(s, k)| (s, Kernel::Server(k)))
    }
}

impl Unbuffered for UnbufferedClientConnection {
    type Data = ClientConnectionData;
    fn process<'c, 'i>(&'c mut self, incoming: &'i mut [u8]) -> UnbufferedStatus<'c, 'i, Self::Data> {
        self.process_tls_records(incoming)
    }
    fn state(&self) -> &CommonState {
        self
    }
    fn into_kernel(self) -> Result<(ExtractedSecrets, Kernel), rustls::Error> {
        self.dangerous_into_kernel_connection().map(|(s, k)| (s, Kernel::Client(k)))
    }
}

/// Writes all of `buf` to the non-blocking `sock` by `deadline`.
fn send_all(mut sock: &TcpStream, mut buf: &[u8], deadline: Instant, stop: &dyn Fn() -> bool) -> io::Result<()> {
    while !buf.is_empty() {
        match sock.write(buf) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait(sock, PollFlags::POLLOUT, deadline, stop)?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

impl RecordStream {
    /// The server side: runs the handshake of `conn` on `sock` until
    /// `deadline` (`TimedOut`), then takes the records over. `stop`, asked
    /// when a signal interrupts a wait, ends it early (`Interrupted`).
    pub fn accept(
        conn: UnbufferedServerConnection,
        sock: TcpStream,
        deadline: Instant,
        stop: &dyn Fn() -> bool,
    ) -> io::Result<RecordStream> {
        Self::handshake(conn, sock, deadline, stop)
    }

    /// The client side, the same way.
    pub fn connect(
        conn: UnbufferedClientConnection,
        sock: TcpStream,
        deadline: Instant,
        stop: &dyn Fn() -> bool,
    ) -> io::Result<RecordStream> {
        Self::handshake(conn, sock, deadline, stop)
    }

    fn handshake<C: Unbuffered>(
        mut conn: C,
        sock: TcpStream,
        deadline: Instant,
        stop: &dyn Fn() -> bool,
    ) -> io::Result<RecordStream> {
        sock.set_nonblocking(true)?;
        let mut inbuf = vec![0u8; TLS_DATA_BATCH + MAX_CIPHERTEXT_12 + HEADER];
        let mut end = 0usize;
        let mut out = vec![0u8; 4096];
        let mut out_len = 0usize;
        let mut early = Vec::new();
        let mut peer_closed = false;
        loop {
            let UnbufferedStatus { mut discard, state } = conn.process(&mut inbuf[..end]);
            let mut need_input = false;
            let mut writable = false;
            match state.map_err(tls_error)? {
                ConnectionState::EncodeTlsData(mut e) => loop {
                    match e.encode(&mut out[out_len..]) {
                        Ok(n) => {
                            out_len += n;
                            break;
                        }
                        Err(EncodeError::InsufficientSize(s)) => out.resize(out_len + s.required_size, 0),
                        Err(e) => return Err(bad(e.to_string())),
                    }
                },
                ConnectionState::TransmitTlsData(t) => {
                    send_all(&sock, &out[..out_len], deadline, stop)?;
                    out_len = 0;
                    t.done();
                }
                ConnectionState::BlockedHandshake => need_input = true,
                ConnectionState::ReadTraffic(mut r) => {
                    while let Some(rec) = r.next_record() {
                        let rec = rec.map_err(tls_error)?;
                        discard += rec.discard;
                        early.extend_from_slice(rec.payload);
                    }
                }
                ConnectionState::WriteTraffic(_) => writable = true,
                // A short upload's data and goodbye may come with the
                // client's Finished.
                ConnectionState::PeerClosed => {
                    peer_closed = true;
                    writable = true;
                }
                ConnectionState::Closed => {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "TLS closed during the handshake"))
                }
                _ => return Err(bad("unexpected TLS state during the handshake (early data?)")),
            }
            if discard > 0 {
                inbuf.copy_within(discard..end, 0);
                end -= discard;
            }
            // A server may write before the client's Finished; the
            // handshake is over once both directions are open.
            if writable {
                if !conn.state().is_handshaking() {
                    break;
                }
                if peer_closed {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "TLS closed during the handshake"));
                }
                need_input = true;
            }
            if need_input {
                if end == inbuf.len() {
                    return Err(bad("TLS handshake message too large"));
                }
                match (&sock).read(&mut inbuf[end..]) {
                    Ok(0) => {
                        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed during the TLS handshake"))
                    }
                    Ok(n) => end += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait(&sock, PollFlags::POLLIN, deadline, stop)?,
                    Err(e) => return Err(e),
                }
            }
        }
        let state = conn.state();
        let resumed = state.handshake_kind() == Some(HandshakeKind::Resumed);
        let version = state.protocol_version().ok_or_else(|| bad("no TLS version"))?;
        let suite = state.negotiated_cipher_suite().ok_or_else(|| bad("no TLS cipher suite"))?;
        let (secrets, kernel) = conn.into_kernel().map_err(tls_error)?;
        let tls13 = version == ProtocolVersion::TLSv1_3;
        let explicit = !tls13 && !matches!(secrets.tx.1, ConnectionTrafficSecrets::Chacha20Poly1305 { .. });
        let limit = match suite {
            SupportedCipherSuite::Tls13(s) => s.common.confidentiality_limit,
            SupportedCipherSuite::Tls12(s) => s.common.confidentiality_limit,
        };
        let shape = Shape { tls13, explicit };
        let slots = TLS_DATA_BATCH / MAX_FRAGMENT;
        Ok(RecordStream {
            sock,
            kernel,
            shape,
            suite,
            version,
            resumed,
            tx: Key::new(secrets.tx)?,
            rx: Key::new(secrets.rx)?,
            tx_limit: limit,
            inbuf,
            rd: 0,
            end,
            plain: VecDeque::new(),
            early,
            out: vec![0u8; slots * shape.slot() + CONTROL_ROOM],
            sent: 0,
            filled: 0,
            pending_handshake: Vec::new(),
            empties: 0,
            peer_closed,
            closed: false,
        })
    }
}
