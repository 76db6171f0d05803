//! The bytes the benchmark moves, and how it checks them.
//!
//! A stream is a shared pseudo-random block repeated, with the first eight
//! bytes of every 4 KiB page replaced by a stamp made from the stream's seed
//! and the page's index. Every page of every stream is thus different, yet
//! producing a stream costs only a copy. [`Checksum`] sums a stream's
//! little-endian 64-bit words: a dropped, doubled or shifted page, a cut or
//! another stream's content all change the sum or the length. It runs at
//! memory speed, so the raw TCP ceiling and every FTP client can afford it
//! on every byte received.

use std::sync::OnceLock;

/// Size of the shared block, and of the chunks a stream is produced in.
pub const BLOCK: usize = 1 << 20;

/// Every `PAGE` bytes a stream carries its stamp.
const PAGE: usize = 4096;

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The shared pseudo-random block (xorshift), made once.
fn base() -> &'static [u8] {
    static BASE: OnceLock<Vec<u8>> = OnceLock::new();
    BASE.get_or_init(|| {
        let mut x = splitmix(0x5EED);
        let mut out = Vec::with_capacity(BLOCK);
        while out.len() < BLOCK {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            out.extend_from_slice(&x.to_le_bytes());
        }
        out
    })
}

/// The content of one stream: `len` bytes named by `seed`.
pub struct Stream {
    seed: u64,
    len: u64,
    buf: Vec<u8>,
}

impl Stream {
    /// The stream `seed` of `len` bytes.
    pub fn new(seed: u64, len: u64) -> Stream {
        let n = (len as usize).min(BLOCK);
        Stream { seed, len, buf: base()[..n].to_vec() }
    }

    /// Number of chunks of at most [`BLOCK`] bytes.
    pub fn chunks(&self) -> u64 {
        self.len.div_ceil(BLOCK as u64)
    }

    /// Chunk `i` (`0..chunks()`): the shared block stamped for this stream.
    pub fn chunk(&mut self, i: u64) -> &[u8] {
        let start = i * BLOCK as u64;
        let n = (self.len.saturating_sub(start) as usize).min(self.buf.len());
        let first_page = start / PAGE as u64;
        for (p, at) in (0..n).step_by(PAGE).enumerate() {
            let stamp = splitmix(self.seed.rotate_left(32) ^ (first_page + p as u64)).to_le_bytes();
            let end = (at + 8).min(n);
            self.buf[at..end].copy_from_slice(&stamp[..end - at]);
        }
        &self.buf[..n]
    }

    /// The checksum of the whole stream.
    pub fn checksum(&mut self) -> Sum {
        let mut c = Checksum::new();
        for i in 0..self.chunks() {
            c.update(self.chunk(i));
        }
        c.finish()
    }
}

/// A finished checksum: length and word sum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sum {
    /// Bytes seen.
    pub len: u64,
    /// Wrapping sum of the little-endian 64-bit words (the last one zero-padded).
    pub sum: u64,
}

/// A running checksum over bytes that arrive in pieces of any size.
#[derive(Clone, Debug, Default)]
pub struct Checksum {
    len: u64,
    sum: u64,
    tail: [u8; 8],
    tail_len: usize,
}

/// Sums whole words; four lanes so that the compiler vectorizes it.
fn sum_words(words: &[u8]) -> u64 {
    let mut lanes = [0u64; 4];
    let mut quads = words.chunks_exact(32);
    for q in &mut quads {
        for (k, lane) in lanes.iter_mut().enumerate() {
            let w = u64::from_le_bytes(q[k * 8..k * 8 + 8].try_into().unwrap_or([0; 8]));
            *lane = lane.wrapping_add(w);
        }
    }
    let mut s = lanes.iter().fold(0u64, |a, &b| a.wrapping_add(b));
    for w in quads.remainder().chunks_exact(8) {
        s = s.wrapping_add(u64::from_le_bytes(w.try_into().unwrap_or([0; 8])));
    }
    s
}

impl Checksum {
    /// An empty checksum.
    pub fn new() -> Checksum {
        Checksum::default()
    }

    /// Adds the next bytes of the stream.
    pub fn update(&mut self, mut data: &[u8]) {
        self.len += data.len() as u64;
        if self.tail_len > 0 {
            let take = (8 - self.tail_len).min(data.len());
            self.tail[self.tail_len..self.tail_len + take].copy_from_slice(&data[..take]);
            self.tail_len += take;
            data = &data[take..];
            if self.tail_len < 8 {
                return;
            }
            self.sum = self.sum.wrapping_add(u64::from_le_bytes(self.tail));
            self.tail_len = 0;
        }
        let whole = data.len() / 8 * 8;
        self.sum = self.sum.wrapping_add(sum_words(&data[..whole]));
        let rest = &data[whole..];
        self.tail[..rest.len()].copy_from_slice(rest);
        self.tail_len = rest.len();
    }

    /// The checksum of everything added.
    pub fn finish(&self) -> Sum {
        let mut last = [0u8; 8];
        last[..self.tail_len].copy_from_slice(&self.tail[..self.tail_len]);
        Sum { len: self.len, sum: self.sum.wrapping_add(u64::from_le_bytes(last)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum_of(pieces: &[&[u8]]) -> Sum {
        let mut c = Checksum::new();
        for p in pieces {
            c.update(p);
        }
        c.finish()
    }

    #[test]
    fn the_checksum_does_not_depend_on_how_the_bytes_are_cut() {
        let mut s = Stream::new(3, 3 * BLOCK as u64 / 2 + 13);
        let whole: Vec<u8> = (0..s.chunks()).flat_map(|i| s.chunk(i).to_vec()).collect();
        let want = sum_of(&[&whole]);
        assert_eq!(s.checksum(), want);
        assert_eq!(want.len, whole.len() as u64);
        let (a, rest) = whole.split_at(5);
        let (b, c) = rest.split_at(4093);
        assert_eq!(sum_of(&[a, b, c]), want);
    }

    #[test]
    fn different_streams_and_damaged_streams_differ() {
        let a = Stream::new(1, 8192).checksum();
        assert_ne!(a, Stream::new(2, 8192).checksum());
        let mut s = Stream::new(1, 3 * PAGE as u64);
        let bytes = s.chunk(0).to_vec();
        // The second page twice instead of the third one.
        let doubled = [&bytes[..2 * PAGE], &bytes[PAGE..2 * PAGE]].concat();
        assert_ne!(sum_of(&[&doubled]), s.checksum());
        // One byte dropped.
        assert_ne!(sum_of(&[&bytes[1..]]).sum, s.checksum().sum);
    }
}
