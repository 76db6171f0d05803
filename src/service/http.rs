//! The HTTP server of `/metrics` and `/health`, run inside a parent's own
//! loop (the pool's supervisor, the master) without ever blocking it.
//!
//! It owns its listening socket, its connections and an epoll instance
//! that watches them; the owner's loop polls that one descriptor
//! ([`AsFd`]) and calls [`HttpServer::serve`], which only does what is
//! ready. Every client is treated as hostile:
//!
//! - at most [`METRICS_MAX_CLIENTS`] connections at once; one more is
//!   closed as soon as it is accepted;
//! - a request head of at most [`METRICS_MAX_REQUEST`] bytes, parsed by
//!   `protocol::http`; nothing else is read;
//! - [`METRICS_CLIENT_TIMEOUT`] for the whole exchange, request and
//!   response, then the connection is closed whatever its state;
//! - sockets are non-blocking: a slow reader costs a buffer of one
//!   response, never a wait.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Instant;

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};

use crate::limits::{METRICS_CLIENT_TIMEOUT, METRICS_MAX_CLIENTS, METRICS_MAX_REQUEST};
use crate::net::would_block;
use crate::protocol::http::{parse_head, response, Method};

/// What the owner answers for a path: the status, the content type and
/// the body; `None` for a path it does not serve (404).
pub(crate) type Answer = Option<(u16, &'static str, String)>;

const LISTENER: u64 = u64::MAX;

/// One client.
struct Conn {
    stream: TcpStream,
    deadline: Instant,
    input: Vec<u8>,
    /// The response, once the request is read, and how much is written.
    output: Option<(Vec<u8>, usize)>,
}

/// The server.
pub(crate) struct HttpServer {
    listener: TcpListener,
    epoll: Epoll,
    conns: Vec<Option<Conn>>,
}

impl HttpServer {
    /// Serves on `listener` (bound by the caller, or handed over).
    pub(crate) fn new(listener: TcpListener) -> io::Result<HttpServer> {
        listener.set_nonblocking(true)?;
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        epoll.add(listener.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, LISTENER))?;
        Ok(HttpServer { listener, epoll, conns: (0..METRICS_MAX_CLIENTS).map(|_| None).collect() })
    }

    /// Binds `addr` and serves there.
    pub(crate) fn bind(addr: SocketAddr) -> io::Result<HttpServer> {
        HttpServer::new(crate::net::bind_listener(addr)?)
    }

    /// The address it listens on.
    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Its listening socket (handed to a new binary on an upgrade).
    pub(crate) fn listener(&self) -> BorrowedFd<'_> {
        self.listener.as_fd()
    }

    /// Does what is ready, without waiting: accepts, reads requests,
    /// answers them with `answer(path)`, writes, and closes connections
    /// that are done or past their deadline.
    pub(crate) fn serve(&mut self, answer: &mut dyn FnMut(&str) -> Answer) {
        let mut events = [EpollEvent::empty(); 16];
        // Events are only hints here: every connection is looked at below.
        let _ = self.epoll.wait(&mut events, EpollTimeout::ZERO);
        self.accept();
        let now = Instant::now();
        for i in 0..self.conns.len() {
            let Some(mut c) = self.conns[i].take() else { continue };
            let keep = now < c.deadline && step(&mut c, answer);
            if keep {
                self.conns[i] = Some(c);
            } else {
                let _ = self.epoll.delete(c.stream.as_fd());
            }
        }
    }

    fn accept(&mut self) {
        loop {
            let (stream, _) = match self.listener.accept() {
                Ok(s) => s,
                Err(e) if would_block(&e) => return,
                // ECONNABORTED, EMFILE...: this client is lost.
                Err(_) => return,
            };
            // Security: a few connections at most; one more is closed at once.
            let Some(slot) = self.conns.iter().position(Option::is_none) else { continue };
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            let flags = EpollFlags::EPOLLIN | EpollFlags::EPOLLOUT | EpollFlags::EPOLLET;
            if self.epoll.add(stream.as_fd(), EpollEvent::new(flags, slot as u64)).is_err() {
                continue;
            }
            let deadline = Instant::now() + METRICS_CLIENT_TIMEOUT;
            self.conns[slot] = Some(Conn { stream, deadline, input: Vec::new(), output: None });
        }
    }
}

/// Moves one connection on; false once it is done (or failed).
fn step(c: &mut Conn, answer: &mut dyn FnMut(&str) -> Answer) -> bool {
    if c.output.is_none() {
        let mut buf = [0u8; 1024];
        loop {
            let room = METRICS_MAX_REQUEST.saturating_sub(c.input.len()).min(buf.len());
            if room == 0 {
                break;
            }
            match c.stream.read(&mut buf[..room]) {
                Ok(0) => return false,
                Ok(n) => c.input.extend_from_slice(&buf[..n]),
                Err(e) if would_block(&e) => break,
                Err(_) => return false,
            }
        }
        let bytes = match parse_head(&c.input, METRICS_MAX_REQUEST) {
            Ok(None) => return true,
            Ok(Some(req)) => {
                let head_only = req.method == Method::Head;
                match answer(&req.path) {
                    Some((status, ctype, body)) => response(status, ctype, body.as_bytes(), head_only),
                    None => response(404, "text/plain", b"not found: /metrics and /health are served\n", head_only),
                }
            }
            Err(e) => response(e.status(), "text/plain", b"bad request\n", false),
        };
        c.output = Some((bytes, 0));
    }
    let Some((out, done)) = c.output.as_mut() else { return false };
    while *done < out.len() {
        match c.stream.write(&out[*done..]) {
            Ok(0) => return false,
            Ok(n) => *done += n,
            Err(e) if would_block(&e) => return true,
            Err(_) => return false,
        }
    }
    let _ = c.stream.shutdown(std::net::Shutdown::Write);
    false
}

impl AsFd for HttpServer {
    /// Readable when a client connects or one of them can move on.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.epoll.0.as_fd()
    }
}

/// The metrics server of `--metrics ADDR`: on the socket handed over
/// (an upgrade, or systemd) when it is on that address, else bound now.
pub(crate) fn metrics_server(
    inherited: &mut crate::service::sockets::Inherited,
    addr: Option<&str>,
) -> Result<Option<HttpServer>, String> {
    let handed = inherited.take_tcp(crate::service::sockets::METRICS).and_then(Result::ok);
    let Some(addr) = addr else { return Ok(None) };
    let want = crate::net::resolve_addr(addr).map_err(|e| format!("--metrics {e}"))?;
    let server = match handed {
        Some(l) if l.local_addr().is_ok_and(|a| a == want || want.port() == 0) => HttpServer::new(l),
        _ => HttpServer::bind(want),
    };
    let server = server.map_err(|e| format!("--metrics: cannot listen on {want}: {e}"))?;
    log::info!("metrics on http://{}/metrics and /health", server.local_addr().map_err(|e| e.to_string())?);
    Ok(Some(server))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn answer(path: &str) -> Answer {
        (path == "/metrics").then(|| (200, "text/plain", "x 1\n".to_string()))
    }

    /// Serves until `client` is done, as an owner's loop would.
    fn exchange(server: &mut HttpServer, request: &[u8]) -> String {
        let mut s = TcpStream::connect(server.local_addr().unwrap()).unwrap();
        s.write_all(request).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            server.serve(&mut answer);
            let mut buf = [0u8; 4096];
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(_) => {}
            }
        }
        String::from_utf8_lossy(&got).into_owned()
    }

    #[test]
    fn requests_get_their_answer_and_the_connection_closes() {
        let mut server = HttpServer::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let ok = exchange(&mut server, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n") && ok.ends_with("\r\n\r\nx 1\n"), "{ok}");
        assert!(exchange(&mut server, b"GET /nothing HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404 "));
        assert!(exchange(&mut server, b"DELETE /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405 "));
        let big = [&b"GET /metrics HTTP/1.1\r\nX: "[..], &vec![b'y'; METRICS_MAX_REQUEST], b"\r\n\r\n"].concat();
        assert!(exchange(&mut server, &big).starts_with("HTTP/1.1 431 "));
    }

    /// Waits until `n` clients wait in the server's accept queue.
    fn wait_queued(server: &HttpServer, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while crate::sys::accept_queue_len(server.listener()).unwrap() < n {
            assert!(Instant::now() < deadline, "{n} connections never reached the accept queue");
            std::thread::yield_now();
        }
    }

    #[test]
    fn silent_clients_are_bounded_in_number() {
        let mut server = HttpServer::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = server.local_addr().unwrap();
        // Silent clients take every place...
        let silent: Vec<TcpStream> = (0..METRICS_MAX_CLIENTS).map(|_| TcpStream::connect(addr).unwrap()).collect();
        wait_queued(&server, METRICS_MAX_CLIENTS);
        server.serve(&mut answer);
        // ... so one more is closed at once, unanswered.
        let mut extra = TcpStream::connect(addr).unwrap();
        extra.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        wait_queued(&server, 1);
        server.serve(&mut answer);
        let mut buf = [0u8; 16];
        assert!(matches!(extra.read(&mut buf), Ok(0) | Err(_)));
        assert_eq!(server.conns.iter().flatten().count(), METRICS_MAX_CLIENTS);
        drop(silent);
    }
}
