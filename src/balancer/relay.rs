//! One relayed control connection: the bytes between a client and a slave
//! on another host, moved by the master's event loop without blocking.
//!
//! What one side sends is written to the other at once; what the other
//! cannot take yet waits in a buffer, and reading from the first side stops
//! until it is through (so a connection holds at most [`RELAY_CHUNK`] bytes
//! each way, and an idle one none). An end of file is passed on as a TCP
//! half-close once the bytes before it are through, as HAProxy does; the
//! relay is over when both ends are done, or a socket breaks.
//!
//! [`RELAY_CHUNK`]: crate::limits::RELAY_CHUNK

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Instant;

use crate::net::would_block;

/// Readiness a relay wants to hear about, per socket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Interest {
    /// Wants to read.
    pub read: bool,
    /// Wants to write.
    pub write: bool,
}

/// A relayed control connection (the client's socket is kept by the caller).
#[derive(Debug)]
pub struct Relay {
    /// The slave it goes to.
    pub slave: u32,
    /// The connection to the slave.
    pub up: TcpStream,
    /// Received from the client, not yet taken by the slave.
    to_up: Vec<u8>,
    /// Received from the slave, not yet taken by the client.
    to_client: Vec<u8>,
    client_eof: bool,
    up_eof: bool,
    up_shut: bool,
    client_shut: bool,
    /// Since when one side has ended (a relay may not stay half-closed forever).
    pub half_closed: Option<Instant>,
    /// Bytes relayed from the client to the slave.
    pub bytes_up: u64,
    /// Bytes relayed from the slave to the client.
    pub bytes_down: u64,
}

/// Writes what it can of `pending` to `dst`, keeping the rest.
fn flush(dst: &mut TcpStream, pending: &mut Vec<u8>) -> io::Result<()> {
    while !pending.is_empty() {
        match dst.write(pending) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                pending.drain(..n);
            }
            Err(e) if would_block(&e) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
    // An idle connection holds no buffer.
    *pending = Vec::new();
    Ok(())
}

/// Moves bytes from `src` to `dst` until `src` has no more, `dst` takes no
/// more (the rest waits in `pending`), or `src` ends (true).
fn pump(
    src: &mut TcpStream,
    dst: &mut TcpStream,
    pending: &mut Vec<u8>,
    scratch: &mut [u8],
    count: &mut u64,
) -> io::Result<bool> {
    // A few reads per wake-up, so one busy connection cannot starve others.
    for _ in 0..4 {
        if !pending.is_empty() {
            return Ok(false);
        }
        let n = match src.read(scratch) {
            Ok(0) => return Ok(true),
            Ok(n) => n,
            Err(e) if would_block(&e) => return Ok(false),
            Err(e) => return Err(e),
        };
        *count += n as u64;
        pending.extend_from_slice(&scratch[..n]);
        flush(dst, pending)?;
    }
    Ok(false)
}

impl Relay {
    /// A relay to `slave` over `up`, starting with the slave's first bytes
    /// (its greeting) still to be sent to the client.
    pub fn new(slave: u32, up: TcpStream, greeting: Vec<u8>) -> Relay {
        Relay {
            slave,
            up,
            bytes_down: greeting.len() as u64,
            to_up: Vec::new(),
            to_client: greeting,
            client_eof: false,
            up_eof: false,
            up_shut: false,
            client_shut: false,
            half_closed: None,
            bytes_up: 0,
        }
    }

    /// Moves what can be moved after an event on the client's socket
    /// (`from_slave` false) or the slave's; `broken` when the event said
    /// error or hang-up. Returns true when the relay is over.
    pub fn on_event(
        &mut self,
        client: &mut TcpStream,
        from_slave: bool,
        broken: bool,
        scratch: &mut [u8],
    ) -> io::Result<bool> {
        // Writes first: they make room for reads.
        flush(client, &mut self.to_client)?;
        flush(&mut self.up, &mut self.to_up)?;
        if !self.client_eof && (!from_slave || broken) {
            self.client_eof = pump(client, &mut self.up, &mut self.to_up, scratch, &mut self.bytes_up)?;
        }
        if !self.up_eof && (from_slave || broken) {
            self.up_eof = pump(&mut self.up, client, &mut self.to_client, scratch, &mut self.bytes_down)?;
        }
        // An end is passed on once the bytes before it are through.
        if self.client_eof && self.to_up.is_empty() && !self.up_shut {
            let _ = self.up.shutdown(Shutdown::Write);
            self.up_shut = true;
        }
        if self.up_eof && self.to_client.is_empty() && !self.client_shut {
            let _ = client.shutdown(Shutdown::Write);
            self.client_shut = true;
        }
        if self.client_eof || self.up_eof {
            self.half_closed.get_or_insert_with(Instant::now);
        }
        // Both ends done, or a socket broken (reset, or closed both ways):
        // nothing more can move.
        Ok((self.up_shut && self.client_shut) || broken)
    }

    /// What to watch on the client's socket and on the slave's.
    pub fn interest(&self) -> (Interest, Interest) {
        (
            Interest { read: !self.client_eof && self.to_up.is_empty(), write: !self.to_client.is_empty() },
            Interest { read: !self.up_eof && self.to_client.is_empty(), write: !self.to_up.is_empty() },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::time::Duration;

    /// Two connected sockets: (the far end, the master's end, non-blocking).
    fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let far = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (near, _) = l.accept().unwrap();
        near.set_nonblocking(true).unwrap();
        far.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        (far, near)
    }

    /// Runs the relay for `rounds` events (alternating sides, 1 ms apart);
    /// true as soon as it ends.
    fn spin(r: &mut Relay, client: &mut TcpStream, rounds: u32) -> bool {
        let mut scratch = vec![0u8; 1024];
        for i in 0..rounds {
            if r.on_event(client, i % 2 == 1, false, &mut scratch).unwrap() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        false
    }

    #[test]
    fn bytes_go_both_ways_and_the_greeting_first() {
        let (mut user, mut client) = pair();
        let (mut slave, up) = pair();
        let mut r = Relay::new(2, up, b"220 hi\r\n".to_vec());
        user.write_all(b"USER x\r\n").unwrap();
        let mut got = [0u8; 8];
        spin(&mut r, &mut client, 50);
        user.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"220 hi\r\n");
        slave.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"USER x\r\n");
        slave.write_all(b"331 ok\r\n").unwrap();
        spin(&mut r, &mut client, 50);
        user.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"331 ok\r\n");
        assert_eq!((r.bytes_up, r.bytes_down), (8, 16));
    }

    #[test]
    fn a_slow_reader_stops_the_reading_and_holds_a_bounded_buffer() {
        let (mut user, mut client) = pair();
        let (slave, up) = pair();
        let mut r = Relay::new(1, up, Vec::new());
        // The slave does not read: the kernel buffers fill, then ours.
        let big = vec![b'x'; 8 << 20];
        let writer = std::thread::spawn(move || {
            let _ = user.write_all(&big);
            user
        });
        let mut scratch = vec![0u8; 16 * 1024];
        for _ in 0..500 {
            r.on_event(&mut client, false, false, &mut scratch).unwrap();
            std::thread::sleep(Duration::from_millis(1));
        }
        let (front, back) = r.interest();
        assert!(!front.read && back.write, "reading stops while the slave is slow: {front:?} {back:?}");
        assert!(r.to_up.len() <= scratch.len());
        drop(slave);
        drop(client);
        let _ = writer.join();
    }

    #[test]
    fn an_end_is_passed_on_and_both_ends_close_the_relay() {
        let (mut user, mut client) = pair();
        let (mut slave, up) = pair();
        let mut r = Relay::new(1, up, Vec::new());
        user.write_all(b"QUIT\r\n").unwrap();
        user.shutdown(Shutdown::Write).unwrap();
        assert!(!spin(&mut r, &mut client, 50));
        // The slave gets the line, then the end of the stream.
        let mut all = Vec::new();
        slave.read_to_end(&mut all).unwrap();
        assert_eq!(all, b"QUIT\r\n");
        assert!(r.half_closed.is_some());
        slave.write_all(b"221 bye\r\n").unwrap();
        drop(slave);
        assert!(spin(&mut r, &mut client, 2000), "the relay ends");
        let mut tail = Vec::new();
        user.read_to_end(&mut tail).unwrap();
        assert_eq!(tail, b"221 bye\r\n");
    }
}
