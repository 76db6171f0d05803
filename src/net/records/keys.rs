//! The keys and the record shape a handshake negotiated: each direction's
//! AEAD key, IV and sequence number, with the nonce they make (RFC 8446
//! 5.3); TLS 1.2's additional data (RFC 5246 6.2.3.3); the layout of a
//! record of the version and suite (RFC 8446 5.2, RFC 5288, RFC 7905); and
//! rustls's half of the connection after the handshake, which renews keys
//! (RFC 8446 4.6.3) and takes session tickets.

use std::io;

use ring::aead::{self, LessSafeKey, UnboundKey};
use rustls::client::ClientConnectionData;
use rustls::kernel::KernelConnection;
use rustls::server::ServerConnectionData;
use rustls::ConnectionTrafficSecrets;

use super::{bad, EXPLICIT_NONCE, MAX_CIPHERTEXT_13, TAG};
use crate::net::tls::{HEADER, MAX_CIPHERTEXT_12, MAX_FRAGMENT};

/// One direction's key: the AEAD key, its IV and the record sequence number.
pub(super) struct Key {
    pub(super) key: LessSafeKey,
    pub(super) iv: [u8; 12],
    pub(super) seq: u64,
}

impl Key {
    pub(super) fn new((seq, secrets): (u64, ConnectionTrafficSecrets)) -> io::Result<Key> {
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
    pub(super) fn nonce(&self) -> [u8; 12] {
        let mut n = self.iv;
        for (b, s) in n[4..].iter_mut().zip(self.seq.to_be_bytes()) {
            *b ^= s;
        }
        n
    }
}

/// TLS 1.2's additional data (RFC 5246 6.2.3.3).
pub(super) fn aad12(seq: u64, typ: u8, version: [u8; 2], len: usize) -> [u8; 13] {
    let mut a = [0u8; 13];
    a[..8].copy_from_slice(&seq.to_be_bytes());
    a[8] = typ;
    a[9..11].copy_from_slice(&version);
    a[11..].copy_from_slice(&(len as u16).to_be_bytes());
    a
}

/// The shape of a record of the negotiated version and suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Shape {
    pub(super) tls13: bool,
    /// TLS 1.2 AES-GCM: 8 bytes of nonce before the ciphertext.
    pub(super) explicit: bool,
}

impl Shape {
    /// Bytes before the plaintext: the header, and the explicit nonce.
    pub(super) fn before(self) -> usize {
        HEADER + if self.explicit { EXPLICIT_NONCE } else { 0 }
    }
    /// Bytes after it: TLS 1.3's content type, and the tag.
    pub(super) fn after(self) -> usize {
        TAG + usize::from(self.tls13)
    }
    /// The room one full record takes.
    pub(super) fn slot(self) -> usize {
        self.before() + MAX_FRAGMENT + self.after()
    }
    pub(super) fn max_ciphertext(self) -> usize {
        if self.tls13 {
            MAX_CIPHERTEXT_13
        } else {
            MAX_CIPHERTEXT_12
        }
    }
}

/// rustls's half after the handshake: it renews keys and takes tickets.
pub(super) enum Kernel {
    Server(KernelConnection<ServerConnectionData>),
    Client(KernelConnection<ClientConnectionData>),
}

impl Kernel {
    pub(super) fn update_tx(&mut self) -> Result<(u64, ConnectionTrafficSecrets), rustls::Error> {
        match self {
            Kernel::Server(k) => k.update_tx_secret(),
            Kernel::Client(k) => k.update_tx_secret(),
        }
    }
    pub(super) fn update_rx(&mut self) -> Result<(u64, ConnectionTrafficSecrets), rustls::Error> {
        match self {
            Kernel::Server(k) => k.update_rx_secret(),
            Kernel::Client(k) => k.update_rx_secret(),
        }
    }
}
