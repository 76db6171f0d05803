//! The record layer against rustls's own (buffered) connections, which
//! know TLS independently of it: data both ways in TLS 1.3 and 1.2 (AES-GCM
//! and ChaCha20-Poly1305), key updates, session tickets and resumption, and
//! records a peer breaks.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::client::UnbufferedClientConnection;
use rustls::crypto::ring as provider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::server::UnbufferedServerConnection;
use rustls::{ClientConfig, HandshakeKind, ServerConfig, StreamOwned, SupportedCipherSuite};

use super::*;
use crate::limits::TLS_MAX_EMPTY_RECORDS;

/// A connected pair on loopback; no wait on either lasts past 20 s.
fn pair() -> (TcpStream, TcpStream) {
    let (c, s) = crate::net::loopback_pair();
    for x in [&c, &s] {
        x.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        x.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
    }
    (c, s)
}

struct Certs {
    cert: CertificateDer<'static>,
    key: Vec<u8>,
}

fn certs() -> Certs {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    Certs { cert: ck.cert.der().clone(), key: ck.key_pair.serialize_der() }
}

fn provider_with(suites: Option<Vec<SupportedCipherSuite>>) -> Arc<rustls::crypto::CryptoProvider> {
    let mut p = Arc::unwrap_or_clone(crate::net::tls_provider());
    if let Some(s) = suites {
        p.cipher_suites = s;
    }
    Arc::new(p)
}

fn server_config(c: &Certs, suites: Option<Vec<SupportedCipherSuite>>, extract: bool) -> Arc<ServerConfig> {
    let mut cfg = ServerConfig::builder_with_provider(provider_with(suites))
        .with_protocol_versions(crate::net::TLS_VERSIONS)
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![c.cert.clone()], PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(c.key.clone())))
        .unwrap();
    cfg.enable_secret_extraction = extract;
    cfg.send_tls13_tickets = 2;
    Arc::new(cfg)
}

fn client_config(c: &Certs, suites: Option<Vec<SupportedCipherSuite>>, extract: bool) -> Arc<ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(c.cert.clone()).unwrap();
    let mut cfg = ClientConfig::builder_with_provider(provider_with(suites))
        .with_protocol_versions(crate::net::TLS_VERSIONS)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.enable_secret_extraction = extract;
    Arc::new(cfg)
}

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

/// Our server on `ss`, once its handshake is done, its socket blocking.
fn accept(scfg: Arc<ServerConfig>, ss: TcpStream) -> RecordStream {
    let s = RecordStream::accept(UnbufferedServerConnection::new(scfg).unwrap(), ss, deadline(), &|| false).unwrap();
    s.sock.set_nonblocking(false).unwrap();
    s
}

/// The name in the test certificate.
fn localhost() -> ServerName<'static> {
    ServerName::try_from("localhost").unwrap()
}

/// rustls's own client connection.
fn rustls_client(ccfg: Arc<ClientConfig>) -> rustls::ClientConnection {
    rustls::ClientConnection::new(ccfg, localhost()).unwrap()
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 9) as u8).collect()
}

/// Reads everything the peer sends until its `close_notify`, by `recv`,
/// `plaintext` and `consume` (the upload path), on a blocking socket.
fn drain(s: &mut RecordStream) -> std::io::Result<Vec<u8>> {
    let mut got = Vec::new();
    loop {
        match s.recv(usize::MAX) {
            Ok(0) => return Ok(got),
            Ok(_) => {
                let n: usize = s.plaintext().iter().map(|p| p.len()).sum();
                for p in s.plaintext() {
                    got.extend_from_slice(&p);
                }
                s.consume(n);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
}

/// `read_exact`, where a record without data (a KeyUpdate) is a
/// `WouldBlock` even on a blocking socket (one socket read per call).
fn read_exact(s: &mut RecordStream, mut buf: &mut [u8]) {
    while !buf.is_empty() {
        match s.read(buf) {
            Ok(0) => panic!("end of data with {} bytes to go", buf.len()),
            Ok(n) => buf = &mut buf[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("{e}"),
        }
    }
}

/// Sends `data` by `write_with` (the download path, through `seal_copy`),
/// then `close_notify`.
fn pour(s: &mut RecordStream, data: &[u8]) {
    let mut src = data;
    while !src.is_empty() {
        let n = s.seal_copy(src).unwrap();
        src = &src[n..];
        s.flush_records().unwrap();
    }
    s.close_notify().unwrap();
}

/// Our server against rustls's client: `up` bytes to us, then `down` back.
fn server_roundtrip(suites: Option<Vec<SupportedCipherSuite>>, version: ProtocolVersion) {
    let c = certs();
    let scfg = server_config(&c, suites.clone(), true);
    let ccfg = client_config(&c, suites, false);
    let (cs, ss) = pair();
    let up = pattern(1_000_003, 1);
    let down = pattern(700_001, 2);
    let (up2, down2) = (up.clone(), down.clone());
    let client = std::thread::spawn(move || {
        let mut t = StreamOwned::new(rustls_client(ccfg), cs);
        t.write_all(&up2).unwrap();
        t.conn.send_close_notify();
        t.flush().unwrap();
        let mut got = Vec::new();
        t.read_to_end(&mut got).unwrap();
        assert!(got == down2, "the client got {} bytes of {}", got.len(), down2.len());
    });
    let mut s = accept(scfg, ss);
    assert_eq!(s.version, version);
    assert!(drain(&mut s).unwrap() == up);
    pour(&mut s, &down);
    client.join().unwrap();
}

#[test]
fn tls13_data_both_ways_with_rustls() {
    server_roundtrip(None, ProtocolVersion::TLSv1_3);
}

#[test]
fn tls12_aes_gcm_with_its_explicit_nonce() {
    let s = vec![provider::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256];
    server_roundtrip(Some(s), ProtocolVersion::TLSv1_2);
}

#[test]
fn tls12_chacha20_poly1305() {
    let s = vec![provider::cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256];
    server_roundtrip(Some(s), ProtocolVersion::TLSv1_2);
}

#[test]
fn tls13_chacha20_and_aes128() {
    for s in [provider::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256, provider::cipher_suite::TLS13_AES_128_GCM_SHA256]
    {
        server_roundtrip(Some(vec![s]), ProtocolVersion::TLSv1_3);
    }
}

/// RFC 8446 4.6.3: the client renews its keys and asks for ours to be
/// renewed, twice, between writes; the data keeps flowing both ways.
#[test]
fn key_updates_from_the_peer_renew_both_keys() {
    let c = certs();
    let scfg = server_config(&c, None, true);
    let ccfg = client_config(&c, None, false);
    let (cs, ss) = pair();
    let client = std::thread::spawn(move || {
        let mut t = StreamOwned::new(rustls_client(ccfg), cs);
        for round in 0..3u8 {
            t.write_all(&pattern(50_000, round)).unwrap();
            t.flush().unwrap();
            let mut back = vec![0u8; 40_000];
            t.read_exact(&mut back).unwrap();
            assert!(back == pattern(40_000, round + 10), "round {round}");
            t.conn.refresh_traffic_keys().unwrap();
        }
        t.conn.send_close_notify();
        t.flush().unwrap();
        let mut rest = Vec::new();
        t.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
    });
    let mut s = accept(scfg, ss);
    for round in 0..3u8 {
        let mut got = vec![0u8; 50_000];
        read_exact(&mut s, &mut got);
        assert!(got == pattern(50_000, round), "round {round}");
        s.write_all(&pattern(40_000, round + 10)).unwrap();
    }
    assert!(drain(&mut s).unwrap().is_empty());
    s.close_notify().unwrap();
    client.join().unwrap();
    assert!(s.rx.seq < 10 && s.tx.seq < 10, "the keys were renewed (sequence numbers start again)");
}

/// Our client against rustls's server: data both ways, the server's
/// session tickets kept by rustls through the record layer, and a second
/// connection that resumes with one of them.
#[test]
fn our_client_takes_tickets_and_resumes() {
    let c = certs();
    let scfg = server_config(&c, None, false);
    let ccfg = client_config(&c, None, true);
    for round in 0..2 {
        let (cs, ss) = pair();
        let scfg = Arc::clone(&scfg);
        let server = std::thread::spawn(move || {
            let conn = rustls::ServerConnection::new(scfg).unwrap();
            let mut t = StreamOwned::new(conn, ss);
            let mut got = vec![0u8; 300_000];
            t.read_exact(&mut got).unwrap();
            assert!(got == pattern(300_000, 5));
            t.write_all(&pattern(200_000, 6)).unwrap();
            t.conn.send_close_notify();
            t.flush().unwrap();
            let resumed = t.conn.handshake_kind() == Some(HandshakeKind::Resumed);
            let mut rest = Vec::new();
            let _ = t.read_to_end(&mut rest);
            resumed
        });
        let conn = UnbufferedClientConnection::new(Arc::clone(&ccfg), localhost()).unwrap();
        let mut s = RecordStream::connect(conn, cs, deadline(), &|| false).unwrap();
        s.sock.set_nonblocking(false).unwrap();
        s.write_all(&pattern(300_000, 5)).unwrap();
        assert!(drain(&mut s).unwrap() == pattern(200_000, 6));
        s.close_notify().unwrap();
        drop(s);
        let resumed = server.join().unwrap();
        assert_eq!(resumed, round == 1, "round {round}: the second connection resumes");
    }
}

/// Two of ours, for the tests that break records.
fn ours() -> (RecordStream, RecordStream) {
    let c = certs();
    let scfg = server_config(&c, None, true);
    let ccfg = client_config(&c, None, true);
    let (cs, ss) = pair();
    let client = std::thread::spawn(move || {
        let conn = UnbufferedClientConnection::new(ccfg, localhost()).unwrap();
        RecordStream::connect(conn, cs, deadline(), &|| false).unwrap()
    });
    let s = accept(scfg, ss);
    let c = client.join().unwrap();
    for x in [&s, &c] {
        x.sock.set_nonblocking(false).unwrap();
        x.sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    }
    (c, s)
}

#[test]
fn a_changed_byte_fails_the_integrity_check() {
    let (mut c, mut s) = ours();
    c.write_with(1000, &mut |iov| {
        iov[0][..1000].fill(7);
        Ok(1000)
    })
    .unwrap();
    let at = c.filled - 20;
    c.out[at] ^= 1;
    c.flush_records().unwrap();
    let e = drain(&mut s).unwrap_err();
    assert!(e.to_string().contains("integrity"), "{e}");
}

#[test]
fn an_oversized_record_is_refused_before_it_is_read() {
    let (c, mut s) = ours();
    (&c.sock).write_all(&[23, 3, 3, 0x48, 0x00]).unwrap();
    let e = drain(&mut s).unwrap_err();
    assert!(e.to_string().contains("TLS record of 18432 bytes"), "{e}");
}

#[test]
fn a_flood_of_empty_records_ends_the_connection() {
    let (mut c, mut s) = ours();
    for _ in 0..=TLS_MAX_EMPTY_RECORDS {
        let at = c.filled;
        let len = c.seal(at, 0, APPLICATION_DATA).unwrap();
        c.filled = at + len;
    }
    c.flush_records().unwrap();
    let e = drain(&mut s).unwrap_err();
    assert!(e.to_string().contains("empty"), "{e}");
}

#[test]
fn a_tcp_end_without_close_notify_is_a_cut_transfer() {
    let (mut c, mut s) = ours();
    c.write_all(b"half of it").unwrap();
    drop(c);
    let e = drain(&mut s).unwrap_err();
    // A reset when the client left our session tickets unread.
    assert!(matches!(e.kind(), std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset), "{e}");
}

#[test]
fn ours_talk_to_each_other_with_close_notify() {
    let (mut c, mut s) = ours();
    let data = pattern(2_000_000, 9);
    let d2 = data.clone();
    let t = std::thread::spawn(move || {
        pour(&mut c, &d2);
        drain(&mut c).unwrap()
    });
    assert!(drain(&mut s).unwrap() == data);
    s.close_notify().unwrap();
    assert!(t.join().unwrap().is_empty());
}

/// Our key is renewed before the suite's limit (RFC 8446 5.5): the peer
/// (rustls) follows the KeyUpdate and reads on.
#[test]
fn our_key_is_renewed_before_its_limit() {
    let c = certs();
    let scfg = server_config(&c, None, true);
    let ccfg = client_config(&c, None, false);
    let (cs, ss) = pair();
    let data = pattern(3_000_000, 4);
    let d2 = data.clone();
    let client = std::thread::spawn(move || {
        let mut t = StreamOwned::new(rustls_client(ccfg), cs);
        let mut got = Vec::new();
        t.read_to_end(&mut got).unwrap();
        assert!(got == d2);
    });
    let mut s = accept(scfg, ss);
    s.tx_limit = s.tx.seq + 40;
    pour(&mut s, &data);
    client.join().unwrap();
    assert!(s.tx.seq < 40, "renewed: {}", s.tx.seq);
}

/// A short upload: the client's data and `close_notify` come in the same
/// flight as its Finished (lftp does this); rustls opened them during the
/// handshake, and they are read all the same.
#[test]
fn data_and_goodbye_with_the_clients_finished() {
    let c = certs();
    let scfg = server_config(&c, None, true);
    let ccfg = client_config(&c, None, false);
    let (cs, ss) = pair();
    let client = std::thread::spawn(move || {
        let mut conn = rustls_client(ccfg);
        conn.writer().write_all(b"tiny").unwrap();
        let mut sock = Held { sock: cs, held: Vec::new() };
        // The client's last flight (Finished, the data) is held back...
        while conn.is_handshaking() {
            conn.complete_io(&mut sock).unwrap();
        }
        conn.write_tls(&mut sock).unwrap();
        // ... until its goodbye joins it: one write for all three.
        conn.send_close_notify();
        conn.write_tls(&mut sock).unwrap();
        sock.sock.write_all(&sock.held).unwrap();
        let mut rest = Vec::new();
        let _ = sock.sock.read_to_end(&mut rest);
    });
    let mut s = accept(scfg, ss);
    assert_eq!(drain(&mut s).unwrap(), b"tiny");
    s.close_notify().unwrap();
    drop(s);
    client.join().unwrap();
}

/// A socket whose writes after the first flight are held (see above).
struct Held {
    sock: TcpStream,
    held: Vec<u8>,
}

impl Read for Held {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.sock.read(buf)
    }
}

impl Write for Held {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // The ClientHello goes out; what follows the server's answer waits.
        if buf.first() == Some(&22) && self.held.is_empty() && buf.get(5) == Some(&1) {
            return self.sock.write(buf);
        }
        self.held.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
