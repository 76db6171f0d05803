//! A raw FTP control connection. Every wait has a deadline and every way a
//! wait can end is told apart: a reply, the end of the connection, or
//! nothing before the deadline (which fails the test, whatever it expected).

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use forkftp::protocol::address::{parse_epsv_reply, parse_pasv_reply};
use forkftp::protocol::{Reply, ReplyParser};

/// How long a reply may take (generous: a loaded machine, an argon2 login).
pub const REPLY_WAIT: Duration = Duration::from_secs(30);

/// How long a server may take to close a connection once it has ended it
/// (after its last reply, or at once). A server that keeps the connection
/// open instead fails the test within this time.
pub const CLOSE_WAIT: Duration = Duration::from_secs(3);

/// Requires the end of `stream` within [`CLOSE_WAIT`]: end-of-stream or a
/// reset. Bytes, or silence until the deadline, fail the test.
pub fn expect_closed(stream: &mut TcpStream, what: &str) {
    stream.set_read_timeout(Some(CLOSE_WAIT)).unwrap();
    let mut buf = [0u8; 4096];
    match stream.read(&mut buf) {
        Ok(0) => {}
        Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted) => {}
        Ok(n) => panic!("{what}: expected the end of the connection, got {:?}", String::from_utf8_lossy(&buf[..n])),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            panic!("{what}: the connection is still open {CLOSE_WAIT:?} after it should have ended")
        }
        Err(e) => panic!("{what}: {e}"),
    }
}

/// Reads one reply from a control connection (plain, or TLS over it)
/// whose reads time out after `wait`; the end of the connection or no
/// reply in time fails the test.
pub fn read_reply(reader: &mut impl BufRead, wait: Duration) -> Reply {
    let mut p = ReplyParser::new();
    loop {
        let mut line = Vec::new();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => panic!("the server closed the connection instead of replying"),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("no reply within {wait:?} (got {:?} so far)", String::from_utf8_lossy(&line))
            }
            Err(e) => panic!("reading a reply: {e}"),
        }
        while matches!(line.last(), Some(b'\n' | b'\r')) {
            line.pop();
        }
        if let Some(r) = p.feed(&line).expect("well-formed reply") {
            return r;
        }
    }
}

/// A raw FTP control connection.
pub struct Ftp {
    pub reader: BufReader<TcpStream>,
    pub stream: TcpStream,
}

impl Ftp {
    /// Takes over a connected stream (nothing read yet).
    pub fn from_stream(stream: TcpStream) -> Ftp {
        stream.set_read_timeout(Some(REPLY_WAIT)).unwrap();
        let reader = BufReader::new(stream.try_clone().unwrap());
        Ftp { reader, stream }
    }

    /// The socket, for a TLS layer over it (after `AUTH TLS`'s 234);
    /// nothing may be left unread.
    pub fn into_stream(self) -> TcpStream {
        assert!(self.reader.buffer().is_empty(), "unread bytes: {:?}", String::from_utf8_lossy(self.reader.buffer()));
        self.stream
    }

    /// Connects and reads the 220 greeting.
    pub fn connect(addr: SocketAddr) -> Ftp {
        Ftp::connect_greeting(addr).0
    }

    /// Connects and returns the session with its greeting (asserted 220).
    pub fn connect_greeting(addr: SocketAddr) -> (Ftp, Reply) {
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
        Ftp::greeted(stream)
    }

    /// Connects from the local address `from` (see [`super::connect_from`]).
    pub fn connect_greeting_from(from: &str, addr: SocketAddr) -> (Ftp, Reply) {
        Ftp::greeted(super::connect_from(from, addr))
    }

    fn greeted(stream: TcpStream) -> (Ftp, Reply) {
        let mut f = Ftp::from_stream(stream);
        let g = f.reply();
        assert_eq!(g.code.0, 220, "greeting: {g:?}");
        (f, g)
    }

    /// Reads one reply; the end of the connection or no reply within
    /// [`REPLY_WAIT`] fails the test.
    pub fn reply(&mut self) -> Reply {
        read_reply(&mut self.reader, REPLY_WAIT)
    }

    /// Requires the end of the connection within [`CLOSE_WAIT`], with
    /// nothing more said.
    pub fn expect_eof(&mut self) {
        let pending = self.reader.buffer();
        assert!(pending.is_empty(), "expected the end of the connection, got {:?}", String::from_utf8_lossy(pending));
        expect_closed(&mut self.stream, "control connection");
    }

    /// Requires the reply `code text`, then the end of the connection.
    pub fn expect_close_with(&mut self, code: u16, text: &str) {
        let r = self.reply();
        assert_eq!((r.code.0, r.text().as_str()), (code, text), "{r:?}");
        self.expect_eof();
    }

    /// Sends raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Sends a line (CRLF added) and reads the reply.
    pub fn cmd(&mut self, line: &str) -> Reply {
        self.send_raw(format!("{line}\r\n").as_bytes());
        self.reply()
    }

    /// Sends a line and returns the reply code.
    pub fn code(&mut self, line: &str) -> u16 {
        self.cmd(line).code.0
    }

    pub fn login(&mut self, user: &str, pass: &str) {
        assert_eq!(self.code(&format!("USER {user}")), 331);
        let r = self.cmd(&format!("PASS {pass}"));
        assert_eq!(r.code.0, 230, "login: {r:?}");
    }

    /// QUIT: 221, then the server closes (RFC 959 4.1.1).
    pub fn quit(mut self) {
        let r = self.cmd("QUIT");
        assert_eq!(r.code.0, 221, "{r:?}");
        self.expect_eof();
    }

    /// PASV, then connect the data channel.
    pub fn pasv(&mut self) -> TcpStream {
        self.pasv_addr().1
    }

    /// PASV; returns the announced address and the connected data channel.
    pub fn pasv_addr(&mut self) -> (SocketAddr, TcpStream) {
        let r = self.cmd("PASV");
        assert_eq!(r.code.0, 227, "{r:?}");
        let addr = parse_pasv_reply(&r.lines[0]).expect("227 address");
        (addr, data_stream(TcpStream::connect(addr).unwrap()))
    }

    /// EPSV, then connect the data channel to the control peer's address.
    pub fn epsv(&mut self) -> TcpStream {
        let r = self.cmd("EPSV");
        assert_eq!(r.code.0, 229, "{r:?}");
        let port = parse_epsv_reply(&r.lines[0]).expect("229 port");
        data_stream(TcpStream::connect(SocketAddr::new(self.stream.peer_addr().unwrap().ip(), port)).unwrap())
    }

    /// Runs a download-like command over PASV; returns (bytes, final reply).
    pub fn get_with(&mut self, line: &str) -> (Vec<u8>, Reply) {
        let mut data = self.pasv();
        let r = self.cmd(line);
        assert!(r.code.0 == 150 || r.code.0 == 125, "{line}: {r:?}");
        let mut buf = Vec::new();
        data.read_to_end(&mut buf).unwrap();
        (buf, self.reply())
    }

    /// RETR over PASV; asserts 226.
    pub fn retr(&mut self, path: &str) -> Vec<u8> {
        let (b, r) = self.get_with(&format!("RETR {path}"));
        assert_eq!(r.code.0, 226, "{r:?}");
        b
    }

    /// RETR over EPSV; asserts 226.
    pub fn retr_epsv(&mut self, path: &str) -> Vec<u8> {
        let mut data = self.epsv();
        let r = self.cmd(&format!("RETR {path}"));
        assert!(r.code.0 == 150 || r.code.0 == 125, "{r:?}");
        let mut buf = Vec::new();
        data.read_to_end(&mut buf).unwrap();
        let r = self.reply();
        assert_eq!(r.code.0, 226, "{r:?}");
        buf
    }

    /// LIST/NLST/MLSD over PASV as text.
    pub fn listing(&mut self, line: &str) -> String {
        let (b, r) = self.get_with(line);
        assert_eq!(r.code.0, 226, "{r:?}");
        String::from_utf8_lossy(&b).into_owned()
    }

    /// STOR-like command over PASV; returns the final reply.
    pub fn put_with(&mut self, line: &str, content: &[u8]) -> Reply {
        let mut data = self.pasv();
        let r = self.cmd(line);
        assert!(r.code.0 == 150 || r.code.0 == 125, "{line}: {r:?}");
        data.write_all(content).unwrap();
        drop(data);
        self.reply()
    }

    /// The slave id in a `220 forkftp slave N ready` greeting.
    pub fn slave_id(greeting: &Reply) -> u32 {
        let t = greeting.text();
        t.split_whitespace()
            .skip_while(|w| *w != "slave")
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no slave id in {t:?}"))
    }
}

/// A data connection: reads that never end fail the test.
fn data_stream(s: TcpStream) -> TcpStream {
    s.set_read_timeout(Some(REPLY_WAIT)).unwrap();
    s
}
