//! The client's sockets: the control connection (commands out, replies in,
//! RFC 959 sections 4.1 and 4.2) and the data connections (RFC 959 section
//! 3.2, RFC 2428).
//!
//! Replies are read through the shared [`ReplyParser`], bounded by
//! [`MAX_REPLY_LINE`] per line and [`CLIENT_MAX_REPLY`] in all; every wait is a `poll` in ticks, so Ctrl-C is seen.
//! Data connections are passive by default (EPSV, then PASV if the server
//! refuses EPSV) or active (EPRT, then PORT if refused).

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags};

use super::error::{io_text, ClientError};
use super::terminal::{poll_tick, Interrupt};
use super::{reply_text, say};
use crate::limits::{CLIENT_CONNECT_TIMEOUT, CLIENT_DATA_TIMEOUT, CLIENT_MAX_REPLY, CLIENT_POLL_TICK, MAX_REPLY_LINE};
use crate::net::Stream;
use crate::protocol::address::canonical;
use crate::protocol::address::{parse_epsv_reply, parse_pasv_reply};
use crate::protocol::{Command, EpsvArg, Frame, LineFramer, Reply, ReplyCode, ReplyParser};

/// The control connection to one server.
#[derive(Debug)]
pub struct Control {
    stream: Stream,
    lines: LineFramer,
    parser: ReplyParser,
    /// Bytes of the reply being read so far (bounded by [`CLIENT_MAX_REPLY`]).
    reply_bytes: usize,
    peer: SocketAddr,
    local: SocketAddr,
    verbose: bool,
    /// The server answered EPSV with a permanent failure: use PASV.
    epsv_refused: bool,
    /// The server answered EPRT with a permanent failure: use PORT.
    eprt_refused: bool,
    /// Connect passive data connections to the PASV reply's address.
    use_pasv_address: bool,
}

/// A data connection being set up: already connected (passive) or waiting
/// for the server to connect (active).
#[derive(Debug)]
pub enum DataChannel {
    /// Passive: we connected to the server's port.
    Connected(TcpStream),
    /// Active: the server connects to this listener after its `150`.
    Listening(TcpListener),
}

impl Control {
    /// Connects to `host` (a name, an IPv4 or an IPv6 address) on `port`,
    /// trying each address the name resolves to.
    pub fn connect(host: &str, port: u16, verbose: bool) -> Result<Control, ClientError> {
        let addrs: Vec<SocketAddr> = (host, port)
            .to_socket_addrs()
            .map_err(|e| ClientError::Failed(format!("{host}: {}", io_text(&e))))?
            .collect();
        let mut last = None;
        for addr in &addrs {
            match TcpStream::connect_timeout(addr, CLIENT_CONNECT_TIMEOUT) {
                Ok(stream) => return Control::over(stream, verbose),
                Err(e) => last = Some((addr, e)),
            }
        }
        Err(ClientError::Failed(match last {
            Some((addr, e)) => format!("Cannot connect to {host} ({}) port {port}: {}", addr.ip(), io_text(&e)),
            None => format!("{host}: no address found"),
        }))
    }

    /// A control connection over an established stream.
    pub fn over(stream: TcpStream, verbose: bool) -> Result<Control, ClientError> {
        let lost = |e: io::Error| ClientError::Lost(io_text(&e));
        let peer = stream.peer_addr().map_err(lost)?;
        let local = stream.local_addr().map_err(lost)?;
        // Commands are small and each waits for its reply: send at once.
        let _ = stream.set_nodelay(true);
        Ok(Control {
            stream: Stream::from(stream),
            lines: LineFramer::new(MAX_REPLY_LINE),
            parser: ReplyParser::new(),
            reply_bytes: 0,
            peer,
            local,
            verbose,
            epsv_refused: false,
            eprt_refused: false,
            use_pasv_address: false,
        })
    }

    /// The server's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The socket, to watch it at the prompt.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.stream.as_fd()
    }

    /// Starts TLS on the control connection (after `234` to AUTH TLS, or
    /// first thing for implicit FTPS), by `deadline`. What the server sent
    /// in clear after its 234 is dropped, never read as its replies. Ctrl-C
    /// (`intr`) ends the handshake.
    pub fn start_tls(&mut self, conn: rustls::Connection, deadline: Instant, intr: &Interrupt) -> io::Result<()> {
        self.lines = LineFramer::new(MAX_REPLY_LINE);
        self.stream.start_tls(conn, deadline, &|| intr.is_set())
    }

    /// The TLS version and cipher suite, while encrypted.
    pub fn tls_info(&self) -> Option<String> {
        self.stream.tls().map(|t| t.describe())
    }

    /// True once TLS runs on the connection.
    pub fn is_encrypted(&self) -> bool {
        self.stream.is_encrypted()
    }

    /// True when decrypted bytes wait to be read (the socket may not show
    /// them as readable).
    pub fn has_buffered_input(&self) -> bool {
        self.stream.has_buffered_input()
    }

    /// Sends one command. In verbose mode it is shown (the password as
    /// `****`).
    pub fn send(&mut self, cmd: &Command) -> Result<(), ClientError> {
        if self.verbose {
            say(format!("---> {}", cmd.loggable()));
        }
        self.stream.write_all(&cmd.encode()).map_err(|e| ClientError::Lost(io_text(&e)))
    }

    /// Passive data connections go to the address a PASV reply names
    /// (`--use-pasv-address`) instead of the control connection's.
    pub fn use_pasv_address(&mut self, on: bool) {
        self.use_pasv_address = on;
    }

    /// Turns the protocol dialogue display on or off (off while tab
    /// completion lists a directory under the user's cursor); returns the
    /// setting it replaces.
    pub fn set_verbose(&mut self, verbose: bool) -> bool {
        std::mem::replace(&mut self.verbose, verbose)
    }

    /// Takes one complete reply out of the bytes received so far.
    fn parse_buffered(&mut self) -> Result<Option<Reply>, ClientError> {
        while let Some(frame) = self.lines.next_frame() {
            let Frame::Line(line) = frame else {
                return Err(ClientError::Lost(format!("a reply line is longer than {MAX_REPLY_LINE} bytes")));
            };
            // Security: a reply of a million lines of 8 KiB each is
            // well-formed; the client takes at most CLIENT_MAX_REPLY bytes.
            self.reply_bytes += line.len() + 2;
            if self.reply_bytes > CLIENT_MAX_REPLY {
                return Err(ClientError::Lost(format!("the server's reply is longer than {CLIENT_MAX_REPLY} bytes")));
            }
            let reply = self
                .parser
                .feed(line)
                .map_err(|e| ClientError::Lost(format!("the server does not speak FTP ({e})")))?;
            if let Some(r) = reply {
                self.reply_bytes = 0;
                if self.verbose {
                    say(reply_text(&r));
                }
                // RFC 959 4.2: 421 means the server is closing the connection.
                if r.code == ReplyCode::NOT_AVAILABLE {
                    return Err(ClientError::Lost(r.to_string()));
                }
                return Ok(Some(r));
            }
        }
        Ok(None)
    }

    /// Reads what the socket holds now (it was found readable). An
    /// encrypted connection may give nothing yet (part of a record).
    fn fill(&mut self) -> Result<(), ClientError> {
        let mut chunk = [0u8; 8192];
        loop {
            return match self.stream.read(&mut chunk) {
                Ok(0) => Err(ClientError::Lost("the server closed the connection".into())),
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    Err(ClientError::Lost("the server closed the connection".into()))
                }
                Ok(n) => {
                    self.lines.push(&chunk[..n]);
                    Ok(())
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
                Err(e) => Err(ClientError::Lost(io_text(&e))),
            };
        }
    }

    /// Waits for the next reply, at most `timeout`. Ctrl-C stops the wait
    /// with [`ClientError::Interrupted`]; the reply may still come, so the
    /// caller must either resynchronize or give the connection up.
    pub fn reply(&mut self, intr: &Interrupt, timeout: Duration) -> Result<Reply, ClientError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(r) = self.parse_buffered()? {
                return Ok(r);
            }
            if intr.is_set() {
                return Err(ClientError::Interrupted);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ClientError::Lost(format!("no reply from the server in {} seconds", timeout.as_secs())));
            }
            let readable = self.stream.has_buffered_input() || {
                let mut fds = [PollFd::new(self.stream.as_fd(), PollFlags::POLLIN)];
                poll_tick(&mut fds, left.min(CLIENT_POLL_TICK)).map_err(|e| ClientError::Lost(io_text(&e)))?
            };
            if readable {
                self.fill()?;
            }
        }
    }

    /// What the server said without being asked (at the prompt): a `421`
    /// before it closes, or the close itself, both as [`ClientError::Lost`].
    pub fn unsolicited(&mut self) -> Result<Option<Reply>, ClientError> {
        self.fill()?;
        self.parse_buffered()
    }

    /// Sends `cmd` and waits for its reply.
    pub fn command(&mut self, cmd: &Command, intr: &Interrupt, timeout: Duration) -> Result<Reply, ClientError> {
        self.send(cmd)?;
        self.reply(intr, timeout)
    }

    /// Prepares the data connection of the next transfer: passive (EPSV,
    /// or PASV when the server refuses EPSV) or active (EPRT, or PORT when
    /// refused).
    pub fn prepare_data(
        &mut self,
        passive: bool,
        intr: &Interrupt,
        timeout: Duration,
    ) -> Result<DataChannel, ClientError> {
        if passive {
            self.passive(intr, timeout).map(DataChannel::Connected)
        } else {
            self.active(intr, timeout).map(DataChannel::Listening)
        }
    }

    fn passive(&mut self, intr: &Interrupt, timeout: Duration) -> Result<TcpStream, ClientError> {
        let ip = self.peer.ip();
        if !self.epsv_refused {
            let r = self.command(&Command::Epsv(EpsvArg::Any), intr, timeout)?;
            if r.code == ReplyCode::EXTENDED_PASSIVE_MODE {
                let port = parse_epsv_reply(&r.text())
                    .ok_or_else(|| ClientError::Failed(format!("Unreadable EPSV reply: {r}")))?;
                return connect_data(SocketAddr::new(ip, port), intr);
            }
            if !r.code.is_permanent_failure() {
                return Err(ClientError::Refused(r));
            }
            // RFC 2428 section 3: a server without EPSV; PASV may still work.
            self.epsv_refused = true;
            if canonical(ip).is_ipv6() {
                return Err(ClientError::Failed(format!("The server refused EPSV ({r}); PASV cannot work over IPv6.")));
            }
        }
        let r = self.command(&Command::Pasv, intr, timeout)?;
        if r.code != ReplyCode::PASSIVE_MODE {
            return Err(ClientError::Refused(r));
        }
        let announced =
            parse_pasv_reply(&r.text()).ok_or_else(|| ClientError::Failed(format!("Unreadable PASV reply: {r}")))?;
        // Security (RFC 2577) and NAT: only the port of the 227 reply is
        // used, with the control connection's address (as curl does). A
        // server cannot aim our connection at a third host, and a server
        // behind NAT that announces its private address still works. Unless
        // the user trusts the server to name itself (behind a balancer:
        // `--use-pasv-address`, curl's `--no-ftp-skip-pasv-ip`).
        if self.use_pasv_address {
            return connect_data(announced, intr);
        }
        connect_data(SocketAddr::new(ip, announced.port()), intr)
    }

    fn active(&mut self, intr: &Interrupt, timeout: Duration) -> Result<TcpListener, ClientError> {
        let listener = TcpListener::bind(SocketAddr::new(self.local.ip(), 0))
            .map_err(|e| ClientError::local("data connection listener", e))?;
        let addr = listener.local_addr().map_err(|e| ClientError::local("data connection listener", e))?;
        if !self.eprt_refused {
            let r = self.command(&Command::Eprt(addr), intr, timeout)?;
            if r.code.is_completion() {
                return Ok(listener);
            }
            if !r.code.is_permanent_failure() {
                return Err(ClientError::Refused(r));
            }
            self.eprt_refused = true;
            if addr.is_ipv6() {
                return Err(ClientError::Failed(format!("The server refused EPRT ({r}); PORT cannot work over IPv6.")));
            }
        }
        let r = self.command(&Command::Port(addr), intr, timeout)?;
        if r.code.is_completion() {
            Ok(listener)
        } else {
            Err(ClientError::Refused(r))
        }
    }
}

/// Connects the data connection of passive mode.
fn connect_data(addr: SocketAddr, intr: &Interrupt) -> Result<TcpStream, ClientError> {
    let stream = TcpStream::connect_timeout(&addr, CLIENT_DATA_TIMEOUT)
        .map_err(|e| ClientError::Failed(format!("Cannot open the data connection to {addr}: {}", io_text(&e))))?;
    if intr.is_set() {
        return Err(ClientError::Interrupted);
    }
    Ok(stream)
}

impl DataChannel {
    /// The established data connection. Active mode waits for the server
    /// (at most [`CLIENT_DATA_TIMEOUT`]).
    ///
    /// Security: in active mode, a connection from another host than the
    /// server is refused and the client keeps waiting for the server.
    pub fn establish(self, server: IpAddr, intr: &Interrupt) -> Result<TcpStream, ClientError> {
        let listener = match self {
            DataChannel::Connected(s) => return Ok(s),
            DataChannel::Listening(l) => l,
        };
        let local_err = |e: io::Error| ClientError::local("data connection", e);
        listener.set_nonblocking(true).map_err(local_err)?;
        let deadline = Instant::now() + CLIENT_DATA_TIMEOUT;
        loop {
            if intr.is_set() {
                return Err(ClientError::Interrupted);
            }
            if Instant::now() >= deadline {
                return Err(ClientError::Failed(format!(
                    "The server did not connect back in {} seconds (active mode; try 'passive').",
                    CLIENT_DATA_TIMEOUT.as_secs()
                )));
            }
            {
                let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
                if !poll_tick(&mut fds, CLIENT_POLL_TICK).map_err(local_err)? {
                    continue;
                }
            }
            match listener.accept() {
                Ok((stream, from)) if canonical(from.ip()) == canonical(server) => {
                    stream.set_nonblocking(false).map_err(local_err)?;
                    return Ok(stream);
                }
                Ok((_, from)) => {
                    super::complain(format!("Refused a data connection from {from}: the server is {server}."))
                }
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => {}
                Err(e) => return Err(local_err(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A control connection whose server side has said `server_says` and
    /// stays open (returned with it).
    fn pair(server_says: &'static [u8]) -> (Control, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            s.write_all(server_says).unwrap();
            s
        });
        let c = Control::over(TcpStream::connect(addr).unwrap(), false).unwrap();
        (c, t.join().unwrap())
    }

    #[test]
    fn multi_line_replies_of_other_servers_are_one_reply() {
        let (mut c, _server) = pair(b"220-Welcome\r\n220-to the slave 2\r\n220 ready\r\n331 Password\n");
        let intr = Interrupt::inert();
        let r = c.reply(&intr, Duration::from_secs(5)).unwrap();
        assert_eq!(r.code, ReplyCode::SERVICE_READY);
        assert_eq!(r.lines, ["Welcome", "to the slave 2", "ready"]);
        assert_eq!(c.reply(&intr, Duration::from_secs(5)).unwrap().code, ReplyCode::NEED_PASSWORD);
    }

    /// RFC 959 4.2: 421 closes the connection, whatever was asked.
    #[test]
    fn a_421_is_a_lost_connection() {
        let (mut c, _server) = pair(b"421 Timeout.\r\n");
        assert!(c.reply(&Interrupt::inert(), Duration::from_secs(5)).unwrap_err().is_lost());
    }

    #[test]
    fn garbage_is_a_lost_connection_not_a_panic() {
        let (mut c, _server) = pair(b"HTTP/1.1 400 Bad Request\r\n");
        let e = c.reply(&Interrupt::inert(), Duration::from_secs(5)).unwrap_err();
        assert!(e.is_lost(), "{e}");
    }

    /// Security (issue 10): a multi-line reply that never ends is cut at
    /// CLIENT_MAX_REPLY bytes, not read into memory until the end.
    #[test]
    fn an_endless_reply_is_cut_at_the_limit() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let _ = s.write_all(b"211-start\r\n");
            let line = [b"x".repeat(1000), b"\r\n".to_vec()].concat();
            while s.write_all(&line).is_ok() {}
        });
        let mut c = Control::over(TcpStream::connect(addr).unwrap(), false).unwrap();
        let e = c.reply(&Interrupt::inert(), Duration::from_secs(20)).unwrap_err();
        assert!(e.to_string().contains(&format!("longer than {CLIENT_MAX_REPLY} bytes")), "{e}");
        assert!(c.lines.buffered() <= 64 * 1024, "{} bytes kept", c.lines.buffered());
    }

    #[test]
    fn silence_times_out() {
        let (mut c, _server) = pair(b"");
        let e = c.reply(&Interrupt::inert(), Duration::from_millis(200)).unwrap_err();
        assert!(e.is_lost(), "{e}");
    }
}
