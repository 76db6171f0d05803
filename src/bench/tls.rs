//! FTPS in the benchmark (issue 12): the client's TLS configuration (it
//! trusts the certificate the server under test was given), explicit FTPS
//! sessions (`AUTH TLS`, `PBSZ 0`, `PROT P`) whose data connections resume
//! the control connection's session, and the ceiling they are measured
//! against: an encrypted copy over loopback between two threads of this
//! process, with the same certificate and cipher suite, its records sealed
//! and opened by `net::records` as the server's are (and, for comparison,
//! through rustls's own streams).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::client::{TicketRequest, UnbufferedClientConnection};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::UnbufferedServerConnection;
use rustls::{ClientConfig, ServerConfig};

use super::client::{self, read_some, Ftp, READ_BUFFER};
use super::measure::verify;
use super::pattern::{Checksum, Stream, Sum};
use crate::limits::{BENCH_IO_TIMEOUT, CLIENT_TLS_TICKETS};
use crate::net::records::RecordStream;
use crate::net::Stream as Conn;
use crate::net::{tls_provider, TLS_VERSIONS};
use crate::protocol::{Command, ReplyCode};

fn other(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// The TLS side of the benchmark: a client that trusts the server's
/// certificate, and a server with it (for the ceiling).
pub(super) struct Tls {
    client: Arc<ClientConfig>,
    /// The same, with a session store of its own: the ceiling's sessions
    /// are not the FTP server's.
    copier: Arc<ClientConfig>,
    server: Arc<ServerConfig>,
    name: ServerName<'static>,
}

impl Tls {
    /// From the PEM pair the server under test uses.
    pub(super) fn new(cert: &Path, key: &Path) -> io::Result<Tls> {
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(cert).and_then(|i| i.collect()).map_err(other)?;
        let key = PrivateKeyDer::from_pem_file(key).map_err(other)?;
        let mut roots = rustls::RootCertStore::empty();
        roots.add_parsable_certificates(certs.clone());
        let mut client = ClientConfig::builder_with_provider(tls_provider())
            .with_protocol_versions(TLS_VERSIONS)
            .map_err(other)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        client.enable_secret_extraction = true;
        // A ticket for each data connection (rustls uses each once), uploads
        // too: as ftpclient asks.
        client.send_ticket_request = Some(TicketRequest { new_session_count: CLIENT_TLS_TICKETS, resumption_count: 1 });
        let mut server = ServerConfig::builder_with_provider(tls_provider())
            .with_protocol_versions(TLS_VERSIONS)
            .map_err(other)?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(other)?;
        server.enable_secret_extraction = true;
        let name = ServerName::try_from("127.0.0.1").map_err(other)?;
        let mut copier = client.clone();
        copier.resumption = rustls::client::Resumption::default();
        Ok(Tls { client: Arc::new(client), copier: Arc::new(copier), server: Arc::new(server), name })
    }

    fn control(&self) -> io::Result<rustls::Connection> {
        rustls::ClientConnection::new(Arc::clone(&self.client), self.name.clone())
            .map(rustls::Connection::Client)
            .map_err(other)
    }

    fn data(&self) -> io::Result<UnbufferedClientConnection> {
        UnbufferedClientConnection::new(Arc::clone(&self.client), self.name.clone()).map_err(other)
    }
}

fn deadline() -> Instant {
    Instant::now() + BENCH_IO_TIMEOUT
}

/// A connection's records made blocking again, with the benchmark's timeouts.
fn blocking(r: &RecordStream) -> io::Result<()> {
    r.socket().set_nonblocking(false)?;
    r.socket().set_read_timeout(Some(BENCH_IO_TIMEOUT))?;
    r.socket().set_write_timeout(Some(BENCH_IO_TIMEOUT))
}

/// Reads plaintext until the peer's `close_notify`, checksumming it where
/// it lies; more than `max` bytes is an error.
fn drain(r: &mut RecordStream, max: u64) -> io::Result<Sum> {
    let mut sum = Checksum::new();
    let mut len = 0u64;
    let end = deadline();
    loop {
        match r.recv(usize::MAX) {
            Ok(0) => return Ok(sum.finish()),
            Ok(n) => {
                for p in r.plaintext() {
                    sum.update(&p);
                }
                r.consume(n);
                len += n as u64;
                if len > max {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, format!("more than {max} bytes")));
                }
            }
            // Part of a record, or a record without data: read on.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < end => {}
            Err(e) => return Err(e),
        }
    }
}

/// Writes the whole of `stream` (each chunk copied once, into the records)
/// and then `close_notify`.
fn pour(r: &mut RecordStream, stream: &mut Stream) -> io::Result<()> {
    for i in 0..stream.chunks() {
        let mut src = stream.chunk(i);
        while !src.is_empty() {
            let n = r.seal_copy(src)?;
            src = &src[n..];
            r.flush_records()?;
        }
    }
    r.close_notify()
}

impl Ftp {
    /// Connects, reads the greeting, `AUTH TLS` and the handshake, logs in
    /// and asks for encrypted data connections (`PBSZ 0`, `PROT P`).
    pub(super) fn login_tls(addr: SocketAddr, user: &str, password: &str, tls: &Tls) -> io::Result<Ftp> {
        let mut f = Ftp::connect(addr)?;
        f.cmd_expect(&Command::Auth("TLS".into()), ReplyCode::AUTH_OK)?;
        f.stream.start_tls(tls.control()?, deadline(), &|| false)?;
        f.stream.set_nonblocking(false)?;
        f.log_in(user, password)?;
        f.cmd_expect(&Command::Pbsz(0), ReplyCode::COMMAND_OK)?;
        f.cmd_expect(&Command::Prot('P'), ReplyCode::COMMAND_OK)?;
        Ok(f)
    }

    /// The data connection of a command whose 150 came: TLS, resuming the
    /// control connection's session (the server requires it).
    fn secure_data(&mut self, tls: &Tls, data: std::net::TcpStream) -> io::Result<RecordStream> {
        let mut c = Conn::from(data);
        c.connect_records(tls.data()?, deadline(), &|| false)?;
        let Conn::Records(r) = c else { return Err(other("no record layer")) };
        blocking(&r)?;
        if !r.resumed() {
            return Err(other("the data connection did not resume the control connection's TLS session"));
        }
        Ok(*r)
    }

    /// RETR over TLS; the plaintext checksummed; checks the 150 and 226.
    /// Returns the checksum and the data connection's version and suite.
    pub(super) fn download_tls(&mut self, c: &Command, tls: &Tls, max: u64) -> io::Result<(Sum, String)> {
        let data = self.epsv()?;
        self.cmd_expect(c, ReplyCode::FILE_STATUS_OK)?;
        let mut r = self.secure_data(tls, data)?;
        let sum = drain(&mut r, max)?;
        let suite = r.describe();
        drop(r);
        self.expect(ReplyCode::CLOSING_DATA)?;
        Ok((sum, suite))
    }

    /// STOR over TLS of `stream`; checks the 150 and the 226.
    pub(super) fn upload_tls(&mut self, path: &str, stream: &mut Stream, tls: &Tls) -> io::Result<()> {
        let data = self.epsv()?;
        self.cmd_expect(&Command::Stor(path.to_string()), ReplyCode::FILE_STATUS_OK)?;
        let mut r = self.secure_data(tls, data)?;
        pour(&mut r, stream)?;
        // The server's goodbye (and what came before it) is read before the
        // socket closes: unread bytes would reset it.
        drain(&mut r, 0)?;
        drop(r);
        self.expect(ReplyCode::CLOSING_DATA).map(drop)
    }
}

/// The ceiling of encrypted transfers: `bytes` from one thread to another
/// over loopback, TLS with the server's certificate and rustls's choice of
/// suite, the records sealed and opened in place by `net::records` (the
/// server's own way). Returns the time and the suite.
pub(super) fn records_copy(bytes: u64, tls: &Tls) -> io::Result<(Duration, String)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let mut stream = Stream::new(3, bytes);
    let want = stream.checksum();
    let server = Arc::clone(&tls.server);
    let receiver = std::thread::spawn(move || -> io::Result<(Sum, Instant)> {
        let (s, _) = listener.accept()?;
        let conn = UnbufferedServerConnection::new(server).map_err(other)?;
        let mut r = RecordStream::accept(conn, s, deadline(), &|| false)?;
        blocking(&r)?;
        let sum = drain(&mut r, bytes)?;
        r.close_notify()?;
        Ok((sum, Instant::now()))
    });
    let start = Instant::now();
    let conn = UnbufferedClientConnection::new(Arc::clone(&tls.copier), tls.name.clone()).map_err(other)?;
    let mut r = RecordStream::connect(conn, client::connect(addr)?, deadline(), &|| false)?;
    blocking(&r)?;
    pour(&mut r, &mut stream)?;
    let (got, end) = receiver.join().map_err(|_| other("receiver panicked"))??;
    drain(&mut r, 0)?;
    verify("encrypted copy", got, want)?;
    Ok((end - start, r.describe()))
}

/// The same copy through rustls's own streams (`StreamOwned`), reading and
/// writing [`READ_BUFFER`] at a time: what the record layer is for.
pub(super) fn rustls_copy(bytes: u64, tls: &Tls) -> io::Result<Duration> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let mut stream = Stream::new(4, bytes);
    let want = stream.checksum();
    let server = Arc::clone(&tls.server);
    let receiver = std::thread::spawn(move || -> io::Result<(Sum, Instant)> {
        let (s, _) = listener.accept()?;
        s.set_read_timeout(Some(BENCH_IO_TIMEOUT))?;
        let mut t = rustls::StreamOwned::new(rustls::ServerConnection::new(server).map_err(other)?, s);
        let mut buf = vec![0u8; READ_BUFFER];
        let mut sum = Checksum::new();
        loop {
            match read_some(&mut t, &mut buf)? {
                0 => break,
                n => sum.update(&buf[..n]),
            }
        }
        Ok((sum.finish(), Instant::now()))
    });
    let start = Instant::now();
    let s = client::connect(addr)?;
    let conn = rustls::ClientConnection::new(Arc::clone(&tls.copier), tls.name.clone()).map_err(other)?;
    let mut t = rustls::StreamOwned::new(conn, s);
    for i in 0..stream.chunks() {
        for part in stream.chunk(i).chunks(READ_BUFFER) {
            t.write_all(part)?;
        }
    }
    t.conn.send_close_notify();
    t.flush()?;
    let (got, end) = receiver.join().map_err(|_| other("receiver panicked"))??;
    let mut rest = Vec::new();
    let _ = t.read_to_end(&mut rest);
    verify("encrypted copy through rustls's streams", got, want)?;
    Ok(end - start)
}
