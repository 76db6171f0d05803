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
//!
//! [`TLS_MAX_POST_HANDSHAKE`]: crate::limits::TLS_MAX_POST_HANDSHAKE
//! [`TLS_MAX_EMPTY_RECORDS`]: crate::limits::TLS_MAX_EMPTY_RECORDS
//!
//! Layout: `keys` the keys and record shape negotiated, `handshake` the
//! handshake and the key extraction, `seal` sending, `open` receiving; this
//! file the stream itself.

mod handshake;
mod keys;
mod open;
mod seal;

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsFd;

use rustls::{ProtocolVersion, SupportedCipherSuite};

use super::tls::{tls_error, version_name, HEADER, MAX_FRAGMENT};
use keys::{Kernel, Key, Shape};

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
        format!("{} {:?}", version_name(self.version), self.suite.suite())
    }
}

impl Read for RecordStream {
    /// Copies plaintext into `buf` (the fast way is [`RecordStream::recv`]
    /// and [`RecordStream::plaintext`]): one read of the socket at most, no
    /// allocation.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.recv(buf.len())? == 0 {
            return Ok(0);
        }
        let mut n = 0;
        for s in self.pieces() {
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
