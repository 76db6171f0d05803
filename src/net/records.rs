//! TLS records sealed and opened here, for the bulk of FTPS data
//! connections (RFC 4217 section 9): rustls runs the handshake and keeps the
//! keys (its unbuffered connection, then its `kernel` API, made for kTLS);
//! the application data records are then ours, as the kernel's would be
//! with kTLS (RFC 8446 section 5, RFC 5246 section 6.2).
//!
//! Why: rustls's own streams copy every byte twice or three times on the
//! way (into its record buffers, out of them into the caller's) and read
//! the socket 4 KiB at a time. Here a download reads the file straight into
//! the records it then seals in place, and writes many records with one
//! `write`; an upload reads many records with one `read`, opens them in
//! place and hands the plaintext, where it lies, to one `writev` into the
//! file. Each byte is copied by the kernel twice (file to buffer, buffer to
//! socket, or the other way) and touched once by the cipher, which is all
//! userspace TLS can do.
//!
//! What the record layer does itself:
//!
//! - TLS 1.3 (RFC 8446 5.2-5.3): the nonce is the IV xor the sequence
//!   number, the additional data the record header, the content type after
//!   the plaintext, padding stripped on receipt; KeyUpdate from the peer
//!   switches its key (and, when it asks, ours, with a KeyUpdate of ours),
//!   and our own key is renewed before the suite's confidentiality limit;
//!   the server's NewSessionTickets, on a client, go to rustls's session
//!   store.
//! - TLS 1.2 (RFC 5246 6.2.3.3, RFC 5288, RFC 7905): AES-GCM with its
//!   explicit nonce, ChaCha20-Poly1305 without; the additional data is the
//!   sequence number, type, version and length. A TLS 1.2 connection cannot
//!   renew its keys: at the suite's confidentiality limit it fails.
//! - `close_notify` ends the data (RFC 4217 section 10); any other alert,
//!   or a record that does not open, is an error.
//!
//! Security: every length comes from the peer and is bounded before use
//! (a record at most the RFC's maximum, post-handshake messages at most
//! [`TLS_MAX_POST_HANDSHAKE`], empty records at most
//! [`TLS_MAX_EMPTY_RECORDS`] in a row); a record is used only once its
//! authentication tag checks; renegotiation (TLS 1.2 handshake messages
//! after the handshake) is refused.

use std::collections::VecDeque;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsFd;
use std::time::Instant;

use nix::poll::PollFlags;
use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use rustls::client::{ClientConnectionData, UnbufferedClientConnection};
use rustls::kernel::KernelConnection;
use rustls::server::{ServerConnectionData, UnbufferedServerConnection};
use rustls::unbuffered::{ConnectionState, EncodeError, UnbufferedStatus};
use rustls::{
    CommonState, ConnectionTrafficSecrets, ExtractedSecrets, HandshakeKind, ProtocolVersion, SupportedCipherSuite,
};

use super::tls::{wait, NoWait, HEADER, MAX_CIPHERTEXT_12, MAX_FRAGMENT};
use crate::limits::{TLS_DATA_BATCH, TLS_MAX_EMPTY_RECORDS, TLS_MAX_POST_HANDSHAKE};

/// The AEAD tag of every suite we speak.
const TAG: usize = 16;
/// TLS 1.2 AES-GCM's explicit nonce, in each record.
const EXPLICIT_NONCE: usize = 8;
/// Largest ciphertext of a TLS 1.3 record (RFC 8446 5.2).
const MAX_CIPHERTEXT_13: usize = MAX_FRAGMENT + 256;

// Content types (RFC 8446 B.1) and the handshake messages we meet.
const ALERT: u8 = 21;
const HANDSHAKE: u8 = 22;
const APPLICATION_DATA: u8 = 23;
const NEW_SESSION_TICKET: u8 = 4;
const KEY_UPDATE: u8 = 24;
const CLOSE_NOTIFY: u8 = 0;
const USER_CANCELED: u8 = 90;

/// The error for bytes that are not the TLS they should be.
fn bad(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// One direction's key: the AEAD key, its IV and the record sequence number.
struct Key {
    key: LessSafeKey,
    iv: [u8; 12],
    seq: u64,
}

impl Key {
    fn new((seq, secrets): (u64, ConnectionTrafficSecrets)) -> io::Result<Key> {
        let (alg, key, iv) = match &secrets {
            ConnectionTrafficSecrets::Aes128Gcm { key, iv } => (&aead::AES_128_GCM, key, iv),
            ConnectionTrafficSecrets::Aes256Gcm { key, iv } => (&aead::AES_256_GCM, key, iv),
            ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv } => (&aead::CHACHA20_POLY1305, key, iv),
            _ => return Err(bad("a TLS cipher suite this record layer does not know")),
        };
        let key = UnboundKey::new(alg, key.as_ref()).map_err(|_| bad("bad TLS key length"))?;
        let iv: [u8; 12] = iv.as_ref().try_into().map_err(|_| bad("bad TLS IV length"))?;
        Ok(Key { key: LessSafeKey::new(key), iv, seq })
    }

    /// The IV xor the sequence number (RFC 8446 5.3; rustls does the same
    /// for TLS 1.2, whose AES-GCM then sends the last 8 bytes in clear).
    fn nonce(&self) -> [u8; 12] {
        let mut n = self.iv;
        for (b, s) in n[4..].iter_mut().zip(self.seq.to_be_bytes()) {
            *b ^= s;
        }
        n
    }
}

/// TLS 1.2's additional data (RFC 5246 6.2.3.3).
fn aad12(seq: u64, typ: u8, version: [u8; 2], len: usize) -> [u8; 13] {
    let mut a = [0u8; 13];
    a[..8].copy_from_slice(&seq.to_be_bytes());
    a[8] = typ;
    a[9..11].copy_from_slice(&version);
    a[11..].copy_from_slice(&(len as u16).to_be_bytes());
    a
}

/// The shape of a record of the negotiated version and suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Shape {
    tls13: bool,
    /// TLS 1.2 AES-GCM: 8 bytes of nonce before the ciphertext.
    explicit: bool,
}

impl Shape {
    /// Bytes before the plaintext: the header, and the explicit nonce.
    fn before(self) -> usize {
        HEADER + if self.explicit { EXPLICIT_NONCE } else { 0 }
    }
    /// Bytes after it: TLS 1.3's content type, and the tag.
    fn after(self) -> usize {
        TAG + usize::from(self.tls13)
    }
    /// The room one full record takes.
    fn slot(self) -> usize {
        self.before() + MAX_FRAGMENT + self.after()
    }
    fn max_ciphertext(self) -> usize {
        if self.tls13 {
            MAX_CIPHERTEXT_13
        } else {
            MAX_CIPHERTEXT_12
        }
    }
}

/// rustls's half after the handshake: it renews keys and takes tickets.
enum Kernel {
    Server(KernelConnection<ServerConnectionData>),
    Client(KernelConnection<ClientConnectionData>),
}

impl Kernel {
    fn update_tx(&mut self) -> Result<(u64, ConnectionTrafficSecrets), rustls::Error> {
        match self {
            Kernel::Server(k) => k.update_tx_secret(),
            Kernel::Client(k) => k.update_tx_secret(),
        }
    }
    fn update_rx(&mut self) -> Result<(u64, ConnectionTrafficSecrets), rustls::Error> {
        match self {
            Kernel::Server(k) => k.update_rx_secret(),
            Kernel::Client(k) => k.update_rx_secret(),
        }
    }
}

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
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Err(e),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A data connection whose TLS records this module seals and opens.
pub struct RecordStream {
    sock: TcpStream,
    kernel: Kernel,
    shape: Shape,
    suite: SupportedCipherSuite,
    version: ProtocolVersion,
    resumed: bool,
    tx: Key,
    rx: Key,
    /// Our key is renewed (TLS 1.3) or the connection fails (TLS 1.2)
    /// when its sequence number reaches this.
    tx_limit: u64,
    /// Received bytes: `rd..end` not opened yet; `plain` the plaintext
    /// opened in place and not consumed yet.
    inbuf: Vec<u8>,
    rd: usize,
    end: usize,
    plain: VecDeque<(usize, usize)>,
    /// Plaintext that came during the handshake (rustls opened it).
    early: Vec<u8>,
    /// Sealed records waiting for the socket: `out[sent..filled]`.
    out: Vec<u8>,
    sent: usize,
    filled: usize,
    /// A post-handshake message split over records, joined here.
    pending_handshake: Vec<u8>,
    empties: usize,
    /// The peer's `close_notify` came.
    peer_closed: bool,
    /// We queued ours.
    closed: bool,
}

impl std::fmt::Debug for RecordStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordStream").field("sock", &self.sock).field("version", &self.version).finish()
    }
}

/// Room kept after a batch of records for a few small ones (a KeyUpdate, a
/// `close_notify`).
const CONTROL_ROOM: usize = 4 * (HEADER + EXPLICIT_NONCE + 64 + TAG);

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

    /// The TCP socket under the records.
    pub fn socket(&self) -> &TcpStream {
        &self.sock
    }

    /// Whether the handshake resumed an earlier session (RFC 4217 section
    /// 10: a data connection resuming the control connection's).
    pub fn resumed(&self) -> bool {
        self.resumed
    }

    /// "TLSv1.3 TLS13_AES_256_GCM_SHA384", for logs.
    pub fn describe(&self) -> String {
        let v = self.version.as_str().map_or_else(|| format!("{:?}", self.version), |s| s.replace("TLSv1_", "TLSv1."));
        format!("{v} {:?}", self.suite.suite())
    }

    // ---- sending

    /// True while sealed records wait for the socket.
    pub fn has_pending_output(&self) -> bool {
        self.sent < self.filled
    }

    /// Seals one record of `typ` holding `body` after what is queued (a
    /// KeyUpdate, an alert: small records, in the room kept for them).
    fn queue_small(&mut self, typ: u8, body: &[u8]) -> io::Result<()> {
        let shape = self.shape;
        let need = shape.before() + body.len() + shape.after();
        if self.sent == self.filled {
            self.sent = 0;
            self.filled = 0;
        }
        if self.filled + need > self.out.len() {
            return Err(bad("no room for a TLS control record"));
        }
        let at = self.filled;
        self.out[at + shape.before()..at + shape.before() + body.len()].copy_from_slice(body);
        let len = self.seal(at, body.len(), typ)?;
        self.filled = at + len;
        Ok(())
    }

    /// Seals the plaintext at `out[at + before..][..plen]` as a record of
    /// `typ`; returns the record's length.
    fn seal(&mut self, at: usize, plen: usize, typ: u8) -> io::Result<usize> {
        let shape = self.shape;
        if self.tx.seq >= self.tx_limit {
            return Err(bad("TLS 1.2 record limit of this cipher suite reached; the connection must end"));
        }
        let nonce = self.tx.nonce();
        let body = at + shape.before();
        let (outer, inner_len) = if shape.tls13 {
            self.out[body + plen] = typ;
            (APPLICATION_DATA, plen + 1)
        } else {
            (typ, plen)
        };
        let ct_len = inner_len + TAG + if shape.explicit { EXPLICIT_NONCE } else { 0 };
        let header = [outer, 3, 3, (ct_len >> 8) as u8, ct_len as u8];
        self.out[at..at + HEADER].copy_from_slice(&header);
        if shape.explicit {
            self.out[at + HEADER..body].copy_from_slice(&nonce[4..]);
        }
        let nonce_v = Nonce::assume_unique_for_key(nonce);
        let region = &mut self.out[body..body + inner_len];
        let tag = if shape.tls13 {
            self.tx.key.seal_in_place_separate_tag(nonce_v, Aad::from(header), region)
        } else {
            let aad = aad12(self.tx.seq, typ, [3, 3], plen);
            self.tx.key.seal_in_place_separate_tag(nonce_v, Aad::from(aad), region)
        }
        .map_err(|_| bad("TLS encryption failed"))?;
        self.out[body + inner_len..body + inner_len + TAG].copy_from_slice(tag.as_ref());
        self.tx.seq += 1;
        Ok(HEADER + ct_len)
    }

    /// TLS 1.3: a KeyUpdate (RFC 8446 4.6.3) sealed with the old key, then
    /// the new key for what follows. `ask` asks the peer to renew its own.
    fn renew_tx(&mut self, ask: bool) -> io::Result<()> {
        self.queue_small(HANDSHAKE, &[KEY_UPDATE, 0, 0, 1, u8::from(ask)])?;
        self.tx = Key::new(self.kernel.update_tx().map_err(tls_error)?)?;
        Ok(())
    }

    /// Lays out up to `max` bytes of plaintext in records, has `fill` put
    /// the plaintext in place (one vectored read: a file's `read_vectored`
    /// is one `readv`), seals what it put there, and queues the records.
    /// Call it only when nothing is pending ([`RecordStream::flush`]).
    /// Returns the plaintext bytes queued; 0 when `fill` gave none.
    pub fn write_with(
        &mut self,
        max: usize,
        fill: &mut dyn FnMut(&mut [IoSliceMut<'_>]) -> io::Result<usize>,
    ) -> io::Result<usize> {
        debug_assert!(!self.has_pending_output());
        self.sent = 0;
        self.filled = 0;
        if self.shape.tls13 && self.tx.seq + (TLS_DATA_BATCH / MAX_FRAGMENT) as u64 >= self.tx_limit {
            self.renew_tx(false)?;
        }
        let shape = self.shape;
        let base = self.filled;
        let slots = (self.out.len() - base - CONTROL_ROOM) / shape.slot();
        let max = max.min(slots * MAX_FRAGMENT);
        let n = {
            let mut rest = &mut self.out[base..];
            let mut iov = Vec::with_capacity(slots);
            let mut left = max;
            while left > 0 {
                let (slot, tail) = rest.split_at_mut(shape.slot());
                let take = left.min(MAX_FRAGMENT);
                iov.push(IoSliceMut::new(&mut slot[shape.before()..shape.before() + take]));
                left -= take;
                rest = tail;
            }
            fill(&mut iov)?
        };
        let n = n.min(max);
        let mut at = base;
        let mut left = n;
        while left > 0 {
            let plen = left.min(MAX_FRAGMENT);
            at += self.seal(at, plen, APPLICATION_DATA)?;
            left -= plen;
        }
        self.filled = at;
        Ok(n)
    }

    /// Writes sealed records to the socket until none is left, or until
    /// the (non-blocking) socket takes no more (`WouldBlock`).
    pub fn flush_records(&mut self) -> io::Result<()> {
        while self.sent < self.filled {
            match (&self.sock).write(&self.out[self.sent..self.filled]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.sent += n,
                Err(e) => return Err(e),
            }
        }
        self.sent = 0;
        self.filled = 0;
        Ok(())
    }

    /// Sends sealed records, never waiting (`WouldBlock`), whatever the
    /// socket's blocking mode.
    pub fn flush_now(&mut self) -> io::Result<()> {
        while self.sent < self.filled {
            match NoWait(&self.sock).write(&self.out[self.sent..self.filled])? {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                n => self.sent += n,
            }
        }
        Ok(())
    }

    /// Seals as much of `buf` as a batch takes and sends what the socket
    /// takes now, never waiting: `WouldBlock` while earlier records wait
    /// (then nothing of `buf` is taken).
    pub fn write_now(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.flush_now()?;
        let n = self.seal_copy(buf)?;
        match self.flush_now() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(n),
            r => r.map(|()| n),
        }
    }

    /// Seals (a copy of) as much of `buf` as one batch takes.
    fn seal_copy(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut src = buf;
        self.write_with(buf.len(), &mut |iov| {
            let mut n = 0;
            for s in iov.iter_mut() {
                let k = s.len().min(src.len());
                s[..k].copy_from_slice(&src[..k]);
                src = &src[k..];
                n += k;
            }
            Ok(n)
        })
    }

    /// Queues our `close_notify` (RFC 4217 section 10) and sends what the
    /// socket takes now.
    pub fn close_notify(&mut self) -> io::Result<()> {
        if !self.closed {
            self.closed = true;
            self.queue_small(ALERT, &[1, CLOSE_NOTIFY])?;
        }
        self.flush_records()
    }

    // ---- receiving

    /// Plaintext received and opened, not consumed yet.
    pub fn available(&self) -> usize {
        self.early.len() + self.plain.iter().map(|(_, l)| l).sum::<usize>()
    }

    /// True when plaintext (or the peer's goodbye) waits, so a reader must
    /// not wait for the socket.
    pub fn has_buffered_input(&self) -> bool {
        self.available() > 0 || self.peer_closed
    }

    /// The plaintext waiting, where it lies (for one `writev`).
    pub fn plaintext(&self) -> Vec<IoSlice<'_>> {
        let mut v = Vec::with_capacity(self.plain.len() + 1);
        if !self.early.is_empty() {
            v.push(IoSlice::new(&self.early));
        }
        v.extend(self.plain.iter().map(|&(at, len)| IoSlice::new(&self.inbuf[at..at + len])));
        v
    }

    /// `n` bytes of the plaintext are used.
    pub fn consume(&mut self, mut n: usize) {
        let e = n.min(self.early.len());
        self.early.drain(..e);
        n -= e;
        while n > 0 {
            let Some((at, len)) = self.plain.front_mut() else { break };
            let k = n.min(*len);
            *at += k;
            *len -= k;
            n -= k;
            if *len == 0 {
                self.plain.pop_front();
            }
        }
    }

    /// Reads the socket once (at most `max` bytes, at least room for a
    /// record) unless plaintext waits, and opens every whole record.
    /// Returns the plaintext available: `Ok(0)` at the peer's
    /// `close_notify`; `WouldBlock` when no whole record came; a TCP end
    /// without `close_notify` is `UnexpectedEof` (a cut transfer, RFC 4217
    /// section 10).
    pub fn recv(&mut self, max: usize) -> io::Result<usize> {
        let have = self.available();
        if have > 0 || self.peer_closed {
            return Ok(have);
        }
        // Everything opened was consumed: keep the partial record only.
        if self.rd > 0 {
            self.inbuf.copy_within(self.rd..self.end, 0);
            self.end -= self.rd;
            self.rd = 0;
        }
        self.plain.clear();
        if self.end > 0 {
            // What came with the handshake's last flight.
            self.open_records()?;
            let have = self.available();
            if have > 0 || self.peer_closed {
                return Ok(have);
            }
        }
        let room = (self.inbuf.len() - self.end).min(max.max(HEADER + self.shape.max_ciphertext()));
        match (&self.sock).read(&mut self.inbuf[self.end..self.end + room])? {
            0 => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the data connection ended without TLS's close_notify",
                ))
            }
            n => self.end += n,
        }
        self.open_records()?;
        match self.available() {
            0 if !self.peer_closed => Err(io::ErrorKind::WouldBlock.into()),
            n => Ok(n),
        }
    }

    /// Opens the whole records in `inbuf[rd..end]`.
    fn open_records(&mut self) -> io::Result<()> {
        while !self.peer_closed && self.end - self.rd >= HEADER {
            let h = &self.inbuf[self.rd..self.rd + HEADER];
            let (typ, version, len) = (h[0], [h[1], h[2]], usize::from(u16::from_be_bytes([h[3], h[4]])));
            let header = [typ, version[0], version[1], h[3], h[4]];
            // Security: a length from the peer, bounded before anything is read into it.
            if len > self.shape.max_ciphertext() || len < TAG {
                return Err(bad(format!("TLS record of {len} bytes")));
            }
            if version[0] != 3 {
                return Err(bad("not a TLS record"));
            }
            if self.end - self.rd < HEADER + len {
                break;
            }
            let body = self.rd + HEADER;
            self.rd = body + len;
            let (typ, start, plen) = self.open(header, body, len)?;
            self.take(typ, start, plen)?;
        }
        Ok(())
    }

    /// Opens the record at `inbuf[body..][..len]` in place; returns its
    /// content type and where its plaintext lies.
    fn open(&mut self, header: [u8; 5], body: usize, len: usize) -> io::Result<(u8, usize, usize)> {
        let shape = self.shape;
        let seq = self.rx.seq;
        let (nonce, start) = if shape.explicit {
            if len < EXPLICIT_NONCE + TAG {
                return Err(bad("TLS record too short"));
            }
            let mut n = [0u8; 12];
            n[..4].copy_from_slice(&self.rx.iv[..4]);
            n[4..].copy_from_slice(&self.inbuf[body..body + EXPLICIT_NONCE]);
            (n, body + EXPLICIT_NONCE)
        } else {
            (self.rx.nonce(), body)
        };
        let ct = &mut self.inbuf[start..body + len];
        let nonce = Nonce::assume_unique_for_key(nonce);
        let plain_len = if shape.tls13 {
            // RFC 8446 5.2: the outer type of every protected record.
            if header[0] != APPLICATION_DATA {
                return Err(bad(format!("TLS 1.3 record of type {} after the handshake", header[0])));
            }
            self.rx.key.open_in_place(nonce, Aad::from(header), ct)
        } else {
            let aad = aad12(seq, header[0], [header[1], header[2]], ct.len() - TAG);
            self.rx.key.open_in_place(nonce, Aad::from(aad), ct)
        }
        .map_err(|_| bad("a TLS record failed its integrity check"))?
        .len();
        self.rx.seq += 1;
        if !shape.tls13 {
            if plain_len > MAX_FRAGMENT {
                return Err(bad("TLS record too large"));
            }
            return Ok((header[0], start, plain_len));
        }
        // RFC 8446 5.4: zeros of padding, then the real content type.
        let inner = &self.inbuf[start..start + plain_len];
        let Some(last) = inner.iter().rposition(|&b| b != 0) else {
            return Err(bad("TLS 1.3 record without a content type"));
        };
        if last > MAX_FRAGMENT {
            return Err(bad("TLS record too large"));
        }
        Ok((inner[last], start, last))
    }

    /// Acts on an opened record.
    fn take(&mut self, typ: u8, start: usize, len: usize) -> io::Result<()> {
        match typ {
            APPLICATION_DATA => {
                if !self.pending_handshake.is_empty() {
                    return Err(bad("TLS data inside a split handshake message"));
                }
                if len == 0 {
                    // Security: empty records cost us work and carry nothing.
                    self.empties += 1;
                    if self.empties > TLS_MAX_EMPTY_RECORDS {
                        return Err(bad("too many empty TLS records"));
                    }
                    return Ok(());
                }
                self.empties = 0;
                self.plain.push_back((start, len));
                Ok(())
            }
            ALERT => {
                let a = &self.inbuf[start..start + len];
                match a {
                    [_, CLOSE_NOTIFY] => {
                        self.peer_closed = true;
                        Ok(())
                    }
                    [_, USER_CANCELED] => Ok(()),
                    [_, d] => Err(bad(format!("TLS alert {d} from the peer"))),
                    _ => Err(bad("malformed TLS alert")),
                }
            }
            HANDSHAKE if self.shape.tls13 => {
                // Security: a bounded join of messages split over records.
                if self.pending_handshake.len() + len > TLS_MAX_POST_HANDSHAKE {
                    return Err(bad("TLS post-handshake message too large"));
                }
                let mut msgs = std::mem::take(&mut self.pending_handshake);
                msgs.extend_from_slice(&self.inbuf[start..start + len]);
                let mut at = 0;
                while msgs.len() - at >= 4 {
                    let mlen = u32::from_be_bytes([0, msgs[at + 1], msgs[at + 2], msgs[at + 3]]) as usize;
                    if msgs.len() - at - 4 < mlen {
                        break;
                    }
                    self.post_handshake(msgs[at], &msgs[at + 4..at + 4 + mlen])?;
                    at += 4 + mlen;
                }
                msgs.drain(..at);
                self.pending_handshake = msgs;
                Ok(())
            }
            // Security: no renegotiation (RFC 5746 allows refusing it).
            HANDSHAKE => Err(bad("TLS renegotiation refused")),
            other => Err(bad(format!("unexpected TLS record type {other}"))),
        }
    }

    /// A TLS 1.3 post-handshake message (RFC 8446 4.6).
    fn post_handshake(&mut self, typ: u8, body: &[u8]) -> io::Result<()> {
        match (typ, &mut self.kernel) {
            (KEY_UPDATE, _) => {
                let ask = match body {
                    [0] => false,
                    [1] => true,
                    _ => return Err(bad("malformed TLS KeyUpdate")),
                };
                self.rx = Key::new(self.kernel.update_rx().map_err(tls_error)?)?;
                if ask {
                    self.renew_tx(false)?;
                }
                Ok(())
            }
            (NEW_SESSION_TICKET, Kernel::Client(k)) => k.handle_new_session_ticket(body).map_err(tls_error),
            (t, _) => Err(bad(format!("unexpected TLS handshake message {t} after the handshake"))),
        }
    }
}

impl Read for RecordStream {
    /// Copies plaintext into `buf` (the fast way is [`RecordStream::recv`]
    /// and [`RecordStream::plaintext`]): one read of the socket at most.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.recv(buf.len())? == 0 {
            return Ok(0);
        }
        let mut n = 0;
        for s in self.plaintext() {
            let k = s.len().min(buf.len() - n);
            buf[n..n + k].copy_from_slice(&s[..k]);
            n += k;
            if n == buf.len() {
                break;
            }
        }
        self.consume(n);
        Ok(n)
    }
}

impl Write for RecordStream {
    /// Seals as much of `buf` as a batch takes (one copy) and writes it to
    /// the socket; `WouldBlock` once the socket takes no more and nothing
    /// of `buf` was taken.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.flush_records()?;
        let n = self.seal_copy(buf)?;
        match self.flush_records() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && n > 0 => Ok(n),
            r => r.map(|()| n),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_records()
    }
}

impl AsFd for RecordStream {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

#[cfg(test)]
mod tests;
