//! The benchmark's FTP client: a control connection over a raw socket (or
//! TLS over it, for FTPS: [`super::tls`]), commands encoded and replies
//! parsed by [`crate::protocol`], and data connections through EPSV. It only
//! ever connects to loopback addresses.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Instant;

use super::pattern::{Checksum, Stream, Sum};
use crate::limits::{BENCH_IO_TIMEOUT, MAX_REPLY_LINE};
use crate::net::Stream as Conn;
use crate::protocol::address::parse_epsv_reply;
use crate::protocol::{Command, EpsvArg, Frame, LineFramer, Password, Reply, ReplyCode, ReplyParser};

/// Size of the buffer bulk data is read into (the raw TCP ceiling uses the same).
pub const READ_BUFFER: usize = 256 * 1024;

fn bad(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

/// Security of the benchmark: it talks to loopback only.
pub fn check_loopback(addr: SocketAddr) -> io::Result<()> {
    if addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(io::Error::new(io::ErrorKind::PermissionDenied, format!("{addr} is not a loopback address")))
    }
}

/// Connects to a loopback address with the benchmark's timeouts.
pub fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    check_loopback(addr)?;
    let s = TcpStream::connect_timeout(&addr, BENCH_IO_TIMEOUT)?;
    s.set_read_timeout(Some(BENCH_IO_TIMEOUT))?;
    s.set_write_timeout(Some(BENCH_IO_TIMEOUT))?;
    Ok(s)
}

/// Reads `data` to its end into `buf`, checksumming every byte; more than
/// `max` bytes is an error.
pub fn drain(data: &mut TcpStream, buf: &mut [u8], max: u64) -> io::Result<Sum> {
    let mut sum = Checksum::new();
    loop {
        match data.read(buf) {
            Ok(0) => return Ok(sum.finish()),
            Ok(n) => {
                sum.update(&buf[..n]);
                if sum.finish().len > max {
                    return Err(bad(format!("more than the {max} bytes expected")));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Writes the whole of `stream` to `data`.
pub fn pour(data: &mut TcpStream, stream: &mut Stream) -> io::Result<()> {
    for i in 0..stream.chunks() {
        data.write_all(stream.chunk(i))?;
    }
    Ok(())
}

/// One read of a blocking `stream` with the benchmark's timeout: an
/// encrypted one says `WouldBlock` when only part of a record came (and
/// the socket's timeout says it too), so it is read again until the
/// timeout has passed.
pub fn read_some(stream: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let end = Instant::now() + BENCH_IO_TIMEOUT;
    loop {
        match stream.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < end => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            r => return r,
        }
    }
}

/// One control connection.
pub struct Ftp {
    pub(super) stream: Conn,
    lines: LineFramer,
    out: Vec<u8>,
}

impl Ftp {
    /// Connects and reads the 220 greeting.
    pub fn connect(addr: SocketAddr) -> io::Result<Ftp> {
        let stream = connect(addr)?;
        stream.set_nodelay(true)?;
        let mut f =
            Ftp { stream: Conn::from(stream), lines: LineFramer::new(MAX_REPLY_LINE), out: Vec::with_capacity(128) };
        f.expect(ReplyCode::SERVICE_READY)?;
        Ok(f)
    }

    /// Connects, reads the greeting and logs in.
    pub fn login(addr: SocketAddr, user: &str, password: &str) -> io::Result<Ftp> {
        let mut f = Ftp::connect(addr)?;
        f.log_in(user, password)?;
        Ok(f)
    }

    /// USER and PASS on a greeted connection.
    pub fn log_in(&mut self, user: &str, password: &str) -> io::Result<()> {
        self.cmd_expect(&Command::User(user.to_string()), ReplyCode::NEED_PASSWORD)?;
        self.cmd_expect(&Command::Pass(Password::new(password)), ReplyCode::LOGGED_IN).map(drop)
    }

    /// Reads one reply; its lines are at most [`MAX_REPLY_LINE`] long.
    pub fn reply(&mut self) -> io::Result<Reply> {
        let mut p = ReplyParser::new();
        loop {
            match self.lines.next_frame() {
                Some(Frame::Line(line)) => {
                    if let Some(r) = p.feed(line).map_err(|e| bad(e.to_string()))? {
                        return Ok(r);
                    }
                }
                Some(Frame::TooLong) => return Err(bad("reply line too long")),
                None => {
                    let mut chunk = [0u8; 1024];
                    let n = read_some(&mut self.stream, &mut chunk)?;
                    if n == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                    self.lines.push(&chunk[..n]);
                }
            }
        }
    }

    /// Reads one reply and checks its code.
    pub fn expect(&mut self, code: ReplyCode) -> io::Result<Reply> {
        let r = self.reply()?;
        if r.code != code {
            return Err(bad(format!("expected {code}, got {r}")));
        }
        Ok(r)
    }

    /// Sends a command (one write).
    pub fn send(&mut self, c: &Command) -> io::Result<()> {
        self.out.clear();
        self.out.extend_from_slice(c.to_line().as_bytes());
        self.out.extend_from_slice(b"\r\n");
        self.stream.write_all(&self.out)
    }

    /// Sends a command and checks the code of its reply.
    pub fn cmd_expect(&mut self, c: &Command, code: ReplyCode) -> io::Result<Reply> {
        self.send(c)?;
        self.expect(code)
    }

    /// QUIT, and the 221.
    pub fn quit(mut self) -> io::Result<()> {
        self.cmd_expect(&Command::Quit, ReplyCode::CLOSING).map(drop)
    }

    /// The server's address.
    pub fn peer_ip(&self) -> io::Result<IpAddr> {
        Ok(self.stream.socket().peer_addr()?.ip())
    }

    /// EPSV, then the data connection to the same (loopback) address.
    pub fn epsv(&mut self) -> io::Result<TcpStream> {
        let r = self.cmd_expect(&Command::Epsv(EpsvArg::Any), ReplyCode::EXTENDED_PASSIVE_MODE)?;
        let port = parse_epsv_reply(&r.lines[0]).ok_or_else(|| bad(format!("no port in {r}")))?;
        connect(SocketAddr::new(self.peer_ip()?, port))
    }

    /// Runs a download-like command (RETR) and checksums what arrives into
    /// `buf`, at most `max` bytes; checks the 150 and the 226.
    pub fn download(&mut self, c: &Command, buf: &mut [u8], max: u64) -> io::Result<Sum> {
        let mut data = self.epsv()?;
        self.cmd_expect(c, ReplyCode::FILE_STATUS_OK)?;
        let sum = drain(&mut data, buf, max)?;
        self.expect(ReplyCode::CLOSING_DATA)?;
        Ok(sum)
    }

    /// Runs a download-like command and returns the bytes (for listings).
    pub fn download_bytes(&mut self, c: &Command, limit: usize) -> io::Result<Vec<u8>> {
        let data = self.epsv()?;
        self.cmd_expect(c, ReplyCode::FILE_STATUS_OK)?;
        let mut out = Vec::new();
        data.take(limit as u64).read_to_end(&mut out)?;
        self.expect(ReplyCode::CLOSING_DATA)?;
        Ok(out)
    }

    /// STOR `path` with the content of `stream`; checks the 150 and the 226.
    pub fn upload(&mut self, path: &str, stream: &mut Stream) -> io::Result<()> {
        let mut data = self.epsv()?;
        self.cmd_expect(&Command::Stor(path.to_string()), ReplyCode::FILE_STATUS_OK)?;
        pour(&mut data, stream)?;
        data.shutdown(std::net::Shutdown::Write)?;
        drop(data);
        self.expect(ReplyCode::CLOSING_DATA).map(drop)
    }
}
