//! Sending: plaintext laid out in records, sealed in place (RFC 8446 5.2-5.3,
//! RFC 5246 6.2.3.3) and written many records to one `write`; our own key
//! renewed before the suite's confidentiality limit (TLS 1.3's KeyUpdate,
//! RFC 8446 4.6.3); our `close_notify` (RFC 4217 section 10).

use std::io::{self, IoSliceMut, Write};

use ring::aead::{Aad, Nonce};

use super::keys::{aad12, Key};
use super::{
    bad, tls_error, RecordStream, ALERT, APPLICATION_DATA, CLOSE_NOTIFY, CONTROL_ROOM, EXPLICIT_NONCE, HANDSHAKE,
    KEY_UPDATE, TAG,
};
use crate::limits::TLS_DATA_BATCH;
use crate::net::tls::{NoWait, HEADER, MAX_FRAGMENT};

impl RecordStream {
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
    pub(super) fn seal(&mut self, at: usize, plen: usize, typ: u8) -> io::Result<usize> {
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
    pub(super) fn renew_tx(&mut self, ask: bool) -> io::Result<()> {
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
        self.send_queued(false)
    }

    /// Sends sealed records, never waiting (`WouldBlock`), whatever the
    /// socket's blocking mode.
    pub fn flush_now(&mut self) -> io::Result<()> {
        self.send_queued(true)
    }

    /// Writes `out[sent..filled]` to the socket (without ever waiting when
    /// `now`) until all went, then empties the queue.
    fn send_queued(&mut self, now: bool) -> io::Result<()> {
        while self.sent < self.filled {
            let queued = &self.out[self.sent..self.filled];
            match if now { NoWait(&self.sock).write(queued) } else { (&self.sock).write(queued) }? {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                n => self.sent += n,
            }
        }
        self.sent = 0;
        self.filled = 0;
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

    /// Seals (a copy of) as much of `buf` as one batch takes and queues the
    /// records; returns the bytes taken. Call it only when nothing is
    /// pending, as [`RecordStream::write_with`].
    pub fn seal_copy(&mut self, buf: &[u8]) -> io::Result<usize> {
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
}
