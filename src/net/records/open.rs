//! Receiving: many records read with one `read`, opened in place (RFC 8446
//! 5.2-5.4, RFC 5246 6.2.3.3) and their plaintext handed over where it
//! lies; alerts (`close_notify` ends the data, RFC 4217 section 10) and
//! TLS 1.3's post-handshake messages (RFC 8446 4.6: KeyUpdate, and
//! NewSessionTicket on a client) acted on.

use std::io::{self, IoSlice, Read};

use ring::aead::{Aad, Nonce};

use super::keys::{aad12, Kernel, Key};
use super::{
    bad, tls_error, RecordStream, ALERT, APPLICATION_DATA, CLOSE_NOTIFY, EXPLICIT_NONCE, HANDSHAKE, KEY_UPDATE,
    NEW_SESSION_TICKET, TAG, USER_CANCELED,
};
use crate::limits::{TLS_MAX_EMPTY_RECORDS, TLS_MAX_POST_HANDSHAKE};
use crate::net::tls::{HEADER, MAX_FRAGMENT};

impl RecordStream {
    /// Plaintext received and opened, not consumed yet.
    pub fn available(&self) -> usize {
        self.pieces().map(<[u8]>::len).sum()
    }

    /// The plaintext waiting, where it lies, piece by piece (no piece
    /// empty).
    pub(super) fn pieces(&self) -> impl Iterator<Item = &[u8]> {
        let early = Some(&self.early[..]).filter(|e| !e.is_empty());
        early.into_iter().chain(self.plain.iter().map(|&(at, len)| &self.inbuf[at..at + len]))
    }

    /// True when plaintext (or the peer's goodbye) waits, so a reader must
    /// not wait for the socket.
    pub fn has_buffered_input(&self) -> bool {
        self.available() > 0 || self.peer_closed
    }

    /// The plaintext waiting, where it lies (for one `writev`).
    pub fn plaintext(&self) -> Vec<IoSlice<'_>> {
        self.pieces().map(IoSlice::new).collect()
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
