//! FTPS (RFC 4217, issue 12): the server with its certificate, driven by
//! curl, lftp, Python's `ftplib.FTP_TLS` (with and without a data socket
//! that resumes the control connection's TLS session), our own client (and
//! it against pyftpdlib's TLS_FTPHandler), a rustls client of the test's
//! own for what no tool does (a passive-port thief, a certificate switched
//! mid-session), and through the master, same host and relayed.

use std::io::{BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use forkftp::protocol::address::parse_pasv_reply;
use nix::sys::signal::Signal;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

use crate::service::metrics::{metrics_addr, scrape};
use crate::util::ftp::read_reply;
use crate::util::ports::connect_when_bound;
use crate::util::{
    key_file, pseudo_random, run_tool, sha256, shared_root, wait_until, Ftp, Master, Server, SlaveServer, Slaves,
    TempDir,
};

const LIMIT: Duration = Duration::from_secs(60);

/// A certificate pair made by `ftpserver gencert` in its own directory.
struct Pair {
    dir: TempDir,
}

impl Pair {
    fn new(tag: &str) -> Pair {
        let dir = TempDir::new(tag);
        let out = Command::new(env!("CARGO_BIN_EXE_ftpserver"))
            .current_dir(dir.path())
            .args(["gencert", "--name", "localhost", "--name", "127.0.0.1", "--name", "127.0.0.2"])
            .args(["--name", "127.0.0.3"])
            .output()
            .unwrap();
        assert!(out.status.success(), "gencert: {}", String::from_utf8_lossy(&out.stderr));
        Pair { dir }
    }

    fn cert(&self) -> PathBuf {
        self.dir.join("ftpserver-cert.pem")
    }

    fn key(&self) -> PathBuf {
        self.dir.join("ftpserver-key.pem")
    }

    fn cert_s(&self) -> String {
        self.cert().display().to_string()
    }

    /// The server options that turn FTPS on with this pair.
    fn args(&self) -> Vec<String> {
        vec!["--tls-cert".into(), self.cert_s(), "--tls-key".into(), self.key().display().to_string()]
    }
}

fn start(pair: &Pair, setup: impl FnOnce(&Path), extra: &[&str]) -> Server {
    let mut args: Vec<String> = pair.args();
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::start_with(setup, &args)
}

fn data_tree(root: &Path) {
    std::fs::write(root.join("data.bin"), pseudo_random(3_000_000, 7)).unwrap();
}

fn curl(args: &[&str]) -> crate::util::ToolRun {
    let mut c = Command::new("curl");
    c.args(["--silent", "--show-error", "--max-time", "40", "--disable"]).args(args);
    run_tool(&mut c, LIMIT)
}

// ---- a TLS FTP client of the test's own (rustls), for what tools don't do

fn client_config(ca: &Path) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// How long a read of the test's TLS connections waits.
const TLS_WAIT: Duration = Duration::from_secs(20);

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

fn tls_over(tcp: TcpStream, config: &Arc<rustls::ClientConfig>) -> Result<Tls, std::io::Error> {
    tcp.set_read_timeout(Some(TLS_WAIT)).unwrap();
    let conn = rustls::ClientConnection::new(Arc::clone(config), ServerName::try_from("127.0.0.1").unwrap().to_owned())
        .unwrap();
    let mut s = rustls::StreamOwned::new(conn, tcp);
    while s.conn.is_handshaking() {
        s.conn.complete_io(&mut s.sock)?;
    }
    Ok(s)
}

/// An explicit-FTPS control connection: AUTH TLS, login, PBSZ 0, PROT P.
struct TlsFtp {
    ctl: BufReader<Tls>,
    config: Arc<rustls::ClientConfig>,
}

impl TlsFtp {
    fn login(addr: SocketAddr, ca: &Path) -> TlsFtp {
        TlsFtp::login_as(addr, ca, "anonymous", "x@")
    }

    fn login_as(addr: SocketAddr, ca: &Path, user: &str, password: &str) -> TlsFtp {
        let mut plain = Ftp::connect(addr);
        assert_eq!(plain.code("AUTH TLS"), 234);
        let config = client_config(ca);
        let tls = tls_over(plain.into_stream(), &config).expect("TLS handshake");
        let mut f = TlsFtp { ctl: BufReader::new(tls), config };
        assert_eq!(f.cmd(&format!("USER {user}")).0, 331);
        assert_eq!(f.cmd(&format!("PASS {password}")).0, 230);
        assert_eq!(f.cmd("PBSZ 0").0, 200);
        assert_eq!(f.cmd("PROT P").0, 200);
        f
    }

    /// The control connection's own address (its row in `ftpserver status`).
    fn local_addr(&self) -> SocketAddr {
        self.ctl.get_ref().sock.local_addr().unwrap()
    }

    /// STOR (or another upload verb) over a private data connection; the
    /// final reply. The server may end the data connection early (a
    /// quota): the rest of the write then fails, and the reply says why.
    fn stor(&mut self, verb_path: &str, data: &[u8]) -> (u16, String) {
        let addr = self.pasv();
        let tcp = TcpStream::connect(addr).unwrap();
        let (code, text) = self.cmd(verb_path);
        assert_eq!(code, 150, "{text}");
        let mut conn = tls_over(tcp, &self.config).expect("data handshake");
        if conn.write_all(data).and_then(|()| conn.flush()).is_ok() {
            conn.conn.send_close_notify();
            let _ = conn.flush();
            let mut rest = Vec::new();
            let _ = conn.read_to_end(&mut rest);
        }
        drop(conn);
        self.reply()
    }

    fn reply(&mut self) -> (u16, String) {
        let r = read_reply(&mut self.ctl, TLS_WAIT);
        (r.code.0, r.text())
    }

    fn cmd(&mut self, line: &str) -> (u16, String) {
        self.ctl.get_mut().write_all(format!("{line}\r\n").as_bytes()).unwrap();
        self.ctl.get_mut().flush().unwrap();
        self.reply()
    }

    /// PASV: the data address.
    fn pasv(&mut self) -> SocketAddr {
        let (code, text) = self.cmd("PASV");
        assert_eq!(code, 227, "{text}");
        parse_pasv_reply(&text).unwrap_or_else(|| panic!("no address in {text:?}"))
    }

    /// RETR over a private data connection resuming the session.
    fn retr(&mut self, path: &str) -> Vec<u8> {
        let addr = self.pasv();
        let tcp = TcpStream::connect(addr).unwrap();
        let (code, text) = self.cmd(&format!("RETR {path}"));
        assert_eq!(code, 150, "{text}");
        let mut data = tls_over(tcp, &self.config).expect("data handshake");
        let mut got = Vec::new();
        data.read_to_end(&mut got).unwrap();
        assert_eq!(self.reply().0, 226);
        got
    }
}

// ---- the tests

/// curl: explicit FTPS (`--ssl-reqd`) download, upload and listing with the
/// server's own certificate as the CA; implicit FTPS with `ftps://`.
#[test]
fn curl_explicit_and_implicit_ftps() {
    let pair = Pair::new("curl-tls");
    let s = start(&pair, data_tree, &["-w", "--implicit-tls-listen", "127.0.0.1:0"]);
    let ca = pair.cert_s();
    let local = TempDir::new("curl-tls-local");
    let out = local.join("d.bin");
    let url = |p: &str| format!("ftp://{}/{p}", s.addr);
    curl(&["--ssl-reqd", "--cacert", &ca, "-o", out.to_str().unwrap(), &url("data.bin")]).assert_ok("curl download");
    assert!(std::fs::read(&out).unwrap() == pseudo_random(3_000_000, 7));
    let up = local.join("up.bin");
    std::fs::write(&up, pseudo_random(1_500_000, 8)).unwrap();
    curl(&["--ssl-reqd", "--cacert", &ca, "-T", up.to_str().unwrap(), &url("up.bin")]).assert_ok("curl upload");
    assert!(std::fs::read(s.root.join("up.bin")).unwrap() == pseudo_random(1_500_000, 8));
    let list = curl(&["--ssl-reqd", "--cacert", &ca, &url("")]);
    list.assert_ok("curl LIST");
    assert!(list.stdout.contains(" data.bin") && list.stdout.contains(" up.bin"), "{}", list.stdout);
    // Implicit: the port the log names.
    let implicit = implicit_addr(&s.log_text());
    let got = curl(&["--cacert", &ca, &format!("ftps://{implicit}/hello.txt")]);
    got.assert_ok("curl ftps://");
    assert_eq!(got.stdout, "hello world\n");
    let log = s.log_text();
    assert!(log.contains("control connection encrypted: TLSv1."), "{log}");
    assert!(log.contains("(implicit FTPS)"), "{log}");
    assert!(log.lines().any(|l| l.contains("RETR /data.bin 3000000 bytes") && l.contains(" tls")), "{log}");
    // Without the CA, curl refuses the self-signed certificate.
    assert!(!curl(&["--ssl-reqd", &url("hello.txt")]).status.success());
}

/// lftp with `ftp:ssl-force` and `ssl:ca-file`: a mirror both ways.
#[test]
fn lftp_mirrors_over_ftps() {
    let pair = Pair::new("lftp-tls");
    let s = start(
        &pair,
        |root| {
            std::fs::create_dir_all(root.join("tree/sub")).unwrap();
            std::fs::write(root.join("tree/a.bin"), pseudo_random(400_000, 3)).unwrap();
            std::fs::write(root.join("tree/sub/b.txt"), b"bee\n").unwrap();
        },
        &["-w"],
    );
    let local = TempDir::new("lftp-tls-local");
    let script = format!(
        "set ssl:ca-file {ca}; set ftp:ssl-force true; set ftp:ssl-allow-anonymous true; \
         set ftp:ssl-protect-data true; set ssl:verify-certificate true; set net:max-retries 1; \
         open -p {port} 127.0.0.1; mirror tree {l}/tree; mirror -R {l}/tree back",
        ca = pair.cert_s(),
        port = s.addr.port(),
        l = local.path().display()
    );
    let mut c = Command::new("lftp");
    c.args(["-c", &script]);
    run_tool(&mut c, LIMIT).assert_ok("lftp mirror");
    assert!(std::fs::read(local.join("tree/a.bin")).unwrap() == pseudo_random(400_000, 3));
    assert_eq!(std::fs::read(s.root.join("back/sub/b.txt")).unwrap(), b"bee\n");
    let log = s.log_text();
    assert!(log.contains("control connection encrypted"), "{log}");
    assert!(log.lines().filter(|l| l.contains("RETR ") && l.ends_with(" tls")).count() >= 2, "{log}");
}

const FTPLIB: &str = r#"
import ftplib, ssl, sys
host, port, ca, reuse = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4] == "reuse"
ctx = ssl.create_default_context(cafile=ca)
class Reusing(ftplib.FTP_TLS):
    # What FileZilla and lftp do: the data connection resumes the control connection's session.
    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.host, session=self.sock.session)
        return conn, size
f = (Reusing if reuse else ftplib.FTP_TLS)(context=ctx, timeout=20)
f.connect(host, port)
f.login()
f.prot_p()
out = []
try:
    f.retrbinary("RETR data.bin", out.append)
    print("GOT", len(b"".join(out)))
except Exception as e:
    print("DATA FAILED", type(e).__name__)
    try:
        f.voidresp()
    except ftplib.all_errors as r:
        print("REPLY", r)
f.quit()
"#;

fn ftplib(s: &Server, pair: &Pair, reuse: bool) -> String {
    let mut c = Command::new("python3");
    c.args(["-c", FTPLIB, "127.0.0.1", &s.addr.port().to_string(), &pair.cert_s()]);
    c.arg(if reuse { "reuse" } else { "stock" });
    let r = run_tool(&mut c, LIMIT);
    r.assert_ok("python ftplib");
    r.stdout
}

/// vsftpd's require_ssl_reuse: Python's stock FTP_TLS, whose data sockets
/// do not resume the control connection's session, is refused with a 522
/// that says why; one that resumes works; `--no-require-tls-reuse` lets the
/// stock one through.
#[test]
fn ftplib_data_connections_must_resume_the_session_unless_told_otherwise() {
    let pair = Pair::new("ftplib-tls");
    let s = start(&pair, data_tree, &[]);
    assert!(ftplib(&s, &pair, true).contains("GOT 3000000"));
    let stock = ftplib(&s, &pair, false);
    assert!(stock.contains("DATA FAILED"), "{stock}");
    assert!(stock.contains("REPLY 522") && stock.contains("session reuse required"), "{stock}");
    let lax = start(&pair, data_tree, &["--no-require-tls-reuse"]);
    assert!(ftplib(&lax, &pair, false).contains("GOT 3000000"));
}

/// RFC 4217 with `--tls-required`: USER before AUTH is refused (530) but
/// anonymous is exempt; RETR with PROT C is refused (521), PROT C itself
/// 534; the wrong orders get their codes; FEAT lists AUTH TLS, PBSZ, PROT.
#[test]
fn tls_required_refuses_clear_logins_and_transfers_and_wrong_orders_get_rfc_codes() {
    let pair = Pair::new("required-tls");
    let s = start(&pair, |_| {}, &["--tls-required", "--user", "alice:secret"]);
    let mut f = s.connect();
    let feat = f.cmd("FEAT");
    for want in ["AUTH TLS", "AUTH SSL", "PBSZ", "PROT"] {
        assert!(feat.lines.iter().any(|l| l.trim() == want), "{want}: {feat:?}");
    }
    assert!(!feat.lines.iter().any(|l| l.trim() == "CCC"), "CCC is refused, not announced");
    assert_eq!(f.code("USER alice"), 530);
    assert_eq!(f.code("PBSZ 0"), 503);
    assert_eq!(f.code("PROT P"), 503);
    assert_eq!(f.code("CCC"), 533);
    assert_eq!(f.code("AUTH KERBEROS"), 504);
    f.login("anonymous", "x@");
    let _data = f.pasv();
    let r = f.cmd("RETR hello.txt");
    assert_eq!(r.code.0, 150, "anonymous is exempt: {r:?}");
    // A logged-in user over TLS, with PROT C: 534 for PROT C, 521 for RETR.
    let mut t = TlsFtp::login(s.addr, &pair.cert());
    assert_eq!(t.cmd("AUTH TLS").0, 503, "AUTH twice");
    assert_eq!(t.cmd("PROT C").0, 534);
    assert_eq!(t.cmd("PROT S").0, 536);
    assert_eq!(t.cmd("CCC").0, 534);
    assert_eq!(t.retr("hello.txt"), b"hello world\n");
    let st = t.cmd("STAT");
    assert!(st.1.contains("TLS on control and data"), "{st:?}");
}

/// A client that took a passive port before the real one (same address,
/// TCP completed) but cannot resume the TLS session gets a 522 and no byte.
#[test]
fn a_passive_port_thief_without_the_session_gets_nothing() {
    let pair = Pair::new("thief-tls");
    let s = start(&pair, data_tree, &[]);
    let mut t = TlsFtp::login(s.addr, &pair.cert());
    let addr = t.pasv();
    let thief = TcpStream::connect(addr).unwrap();
    t.ctl.get_mut().write_all(b"RETR data.bin\r\n").unwrap();
    assert_eq!(t.reply().0, 150);
    // The thief handshakes with a fresh configuration (no session to resume).
    let stolen = tls_over(thief, &client_config(&pair.cert())).and_then(|mut d| {
        let mut got = Vec::new();
        d.read_to_end(&mut got).map(|_| got)
    });
    // A failed handshake is the usual end; if it completed, not one byte.
    if let Ok(got) = stolen {
        assert!(got.is_empty(), "the thief got {} bytes", got.len());
    }
    let (code, text) = t.reply();
    assert_eq!(code, 522, "{text}");
    assert!(text.contains("session reuse required"), "{text}");
    // The client itself goes on.
    assert_eq!(sha256(&t.retr("data.bin")), sha256(&pseudo_random(3_000_000, 7)));
}

/// Garbage instead of a ClientHello (after AUTH TLS, and on the implicit
/// port): the session ends, and the worker serves the next client.
#[test]
fn garbage_instead_of_a_client_hello_ends_the_session_only() {
    let pair = Pair::new("garbage-tls");
    let s = start(&pair, |_| {}, &["--workers", "1", "--max-workers", "1", "--implicit-tls-listen", "127.0.0.1:0"]);
    let mut f = s.connect();
    assert_eq!(f.code("AUTH TLS"), 234);
    f.send_raw(b"USER anonymous\r\nPASS x\r\nGET / HTTP/1.0\r\n\r\n");
    let mut raw = f.into_stream();
    raw.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut said = Vec::new();
    raw.read_to_end(&mut said).expect("the session ends (not a timeout)");
    assert!(!said.windows(3).any(|w| w == b"331" || w == b"230"), "{said:?}");
    let mut raw = TcpStream::connect(implicit_addr(&s.log_text())).unwrap();
    raw.write_all(&[0x16, 0x03, 0x01, 0xff, 0xff, 1, 2, 3]).unwrap();
    raw.write_all(&pseudo_random(5000, 1)).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut sink = Vec::new();
    let _ = raw.read_to_end(&mut sink);
    assert!(!sink.starts_with(b"220"), "no greeting in clear");
    // The only worker is free again.
    let mut next = TlsFtp::login(s.addr, &pair.cert());
    assert_eq!(next.retr("hello.txt"), b"hello world\n");
    assert!(s.log_text().contains("TLS handshake failed"), "{}", s.log_text());
}

/// Twenty clients download the same file at once over TLS, byte-exact.
#[test]
fn twenty_concurrent_encrypted_downloads_are_exact() {
    let pair = Pair::new("many-tls");
    let s = start(&pair, data_tree, &["--workers", "20"]);
    let want = sha256(&pseudo_random(3_000_000, 7));
    let addr = s.addr;
    let cert = pair.cert();
    let handles: Vec<_> = (0..20)
        .map(|_| {
            let cert = cert.clone();
            std::thread::spawn(move || {
                let mut t = TlsFtp::login(addr, &cert);
                sha256(&t.retr("data.bin"))
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), want);
    }
}

/// SIGHUP re-reads the certificate: new clients get the new one, a session
/// that was encrypted before goes on (its data connections still resume);
/// a bad new pair keeps the old one and the log says why.
#[test]
fn sighup_switches_the_certificate_while_a_session_goes_on() {
    let old = Pair::new("hup-old");
    let new = Pair::new("hup-new");
    let live = TempDir::new("hup-live");
    let (cert, key) = (live.join("cert.pem"), live.join("key.pem"));
    std::fs::copy(old.cert(), &cert).unwrap();
    std::fs::copy(old.key(), &key).unwrap();
    let s = Server::start(&["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()]);
    let mut before = TlsFtp::login(s.addr, &old.cert());
    assert_eq!(before.retr("hello.txt"), b"hello world\n");
    std::fs::copy(new.cert(), &cert).unwrap();
    std::fs::copy(new.key(), &key).unwrap();
    s.signal(Signal::SIGHUP);
    let switched = wait_until(Duration::from_secs(20), || {
        let mut plain = Ftp::connect(s.addr);
        plain.code("AUTH TLS") == 234 && tls_over(plain.into_stream(), &client_config(&new.cert())).is_ok()
    });
    assert!(switched, "new clients never got the new certificate:\n{}", s.log_text());
    assert_eq!(before.retr("hello.txt"), b"hello world\n", "the old session goes on");
    // A mismatched pair (the old key with the new certificate) is refused.
    std::fs::copy(old.key(), &key).unwrap();
    s.signal(Signal::SIGHUP);
    let said = wait_until(Duration::from_secs(20), || s.log_text().contains("is not the key of the certificate"));
    assert!(said, "{}", s.log_text());
    let mut after = TlsFtp::login(s.addr, &new.cert());
    assert_eq!(after.retr("hello.txt"), b"hello world\n");
}

/// A missing, mismatched or expired pair stops the server at start with a
/// clear message.
#[test]
fn bad_certificates_are_clear_startup_errors() {
    let a = Pair::new("bad-a");
    let b = Pair::new("bad-b");
    let expired = TempDir::new("bad-expired");
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let k = rcgen::KeyPair::generate().unwrap();
    std::fs::write(expired.join("c.pem"), params.self_signed(&k).unwrap().pem()).unwrap();
    std::fs::write(expired.join("k.pem"), k.serialize_pem()).unwrap();
    let root = TempDir::new("bad-root");
    let cases: [(Vec<String>, &str); 3] = [
        (vec![a.dir.join("none.pem").display().to_string(), a.key().display().to_string()], "No such file"),
        (vec![a.cert_s(), b.key().display().to_string()], "is not the key of the certificate"),
        (
            vec![expired.join("c.pem").display().to_string(), expired.join("k.pem").display().to_string()],
            "expired on 2021-01-01",
        ),
    ];
    for (files, want) in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_ftpserver"))
            .args(["--listen", "127.0.0.1:0", "--root", root.path().to_str().unwrap()])
            .args(["--tls-cert", &files[0], "--tls-key", &files[1]])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(want), "{want}: {err}");
    }
}

/// Our client against our server: explicit and implicit, the server's
/// certificate refused without `--ca-file` (and accepted with
/// `--insecure`), uploads, and the prompt-side banner.
#[test]
fn ftpclient_explicit_implicit_bad_certificate_and_insecure() {
    let pair = Pair::new("client-tls");
    let s = start(&pair, data_tree, &["-w", "--implicit-tls-listen", "127.0.0.1:0"]);
    let local = TempDir::new("client-tls-local");
    std::fs::write(local.join("up.bin"), pseudo_random(2_000_000, 9)).unwrap();
    let run = |args: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_ftpclient"));
        c.args(["--no-netrc", "--local-dir", local.path().to_str().unwrap()]).args(args);
        run_tool(&mut c, LIMIT)
    };
    let port = s.addr.port().to_string();
    let ok = run(&["--tls", "--ca-file", &pair.cert_s(), "-c", "get data.bin; put up.bin; ls", "127.0.0.1", &port]);
    ok.assert_ok("ftpclient --tls");
    assert!(ok.stdout.contains("TLS: TLSv1.3"), "{}", ok.stdout);
    assert!(std::fs::read(local.join("data.bin")).unwrap() == pseudo_random(3_000_000, 7));
    assert!(std::fs::read(s.root.join("up.bin")).unwrap() == pseudo_random(2_000_000, 9));
    let bad = run(&["--tls", "-c", "ls", "127.0.0.1", &port]);
    assert!(!bad.status.success());
    assert!(bad.stderr.contains("certificate is refused") && bad.stderr.contains("--ca-file"), "{}", bad.stderr);
    let implicit = implicit_addr(&s.log_text());
    let insecure = run(&["--insecure", "-c", "get hello.txt", &format!("ftps://{implicit}/")]);
    insecure.assert_ok("ftpclient --insecure ftps://");
    assert!(insecure.stdout.contains("NOT checked (--insecure)"), "{}", insecure.stdout);
    // FTP_TLS=1 is --tls.
    let mut c = Command::new(env!("CARGO_BIN_EXE_ftpclient"));
    c.env("FTP_TLS", "1").args(["--no-netrc", "--ca-file", &pair.cert_s(), "-c", "pwd", "127.0.0.1", &port]);
    let env = run_tool(&mut c, LIMIT);
    env.assert_ok("FTP_TLS=1");
    assert!(env.stdout.contains("TLS: "), "{}", env.stdout);
    // The data connections resumed (the server requires it by default).
    assert!(!s.log_text().contains("session reuse required"), "{}", s.log_text());
}

/// Our client against pyftpdlib's TLS_FTPHandler (pyOpenSSL).
#[test]
fn ftpclient_against_pyftpdlib_tls() {
    let pair = Pair::new("py-tls");
    let tls = format!("{}:{}", pair.cert_s(), pair.key().display());
    let py = crate::client::PyFtpd::start(data_tree, &["--tls", &tls]);
    let local = TempDir::new("py-tls-local");
    std::fs::write(local.join("up.bin"), pseudo_random(1_000_000, 4)).unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_ftpclient"));
    c.args(["--no-netrc", "--local-dir", local.path().to_str().unwrap(), "--tls", "--ca-file", &pair.cert_s()]).args([
        "-c",
        "get data.bin; put up.bin; ls",
        "127.0.0.1",
        &py.addr.port().to_string(),
    ]);
    let r = run_tool(&mut c, LIMIT);
    r.assert_ok(&format!("ftpclient --tls against pyftpdlib\n{}", py.log_text()));
    assert!(std::fs::read(local.join("data.bin")).unwrap() == pseudo_random(3_000_000, 7));
    assert!(std::fs::read(py.root.join("up.bin")).unwrap() == pseudo_random(1_000_000, 4));
}

/// Through the master: a client handed to a slave of the same host, and one
/// relayed to a slave on another host, both negotiate TLS with the slave
/// (the master only moves bytes it cannot read); the data connections go
/// to the slave and resume.
#[test]
fn ftps_through_the_master_same_host_and_relayed() {
    let pair = Pair::new("cluster-tls");
    let (root, big) = shared_root(2 << 20);
    let tls = pair.args();
    let ca = pair.cert_s();
    // Same host: sockets passed.
    let m = Master::start(&[]);
    let mut args = vec!["--".to_string()];
    args.extend(tls.iter().cloned());
    let args_ref: Vec<&str> = args.iter().map(String::as_str).collect();
    let _slaves = Slaves::start(m.registry, 2, "127.0.0.1", root.path(), &args_ref);
    m.wait_slaves(&[1, 2], Duration::from_secs(20));
    let local = TempDir::new("cluster-tls-local");
    for i in 0..2 {
        let out = local.join(&format!("same{i}.bin"));
        curl(&["--ssl-reqd", "--cacert", &ca, "-o", out.to_str().unwrap(), &format!("ftp://{}/big.bin", m.addr)])
            .assert_ok("curl through a same-host master");
        assert_eq!(sha256(&std::fs::read(&out).unwrap()), sha256(&big));
    }
    assert_eq!(m.count("passed"), 2);
    // Relayed to "other hosts".
    let keys = TempDir::new("cluster-tls-keys");
    let key = key_file(&keys, "test-cluster-key-0123456789");
    let key = key.to_str().unwrap();
    let rm = Master::start(&["--key-file", key]);
    let mut sargs: Vec<&str> = vec!["--key-file", key];
    sargs.extend(tls.iter().map(String::as_str));
    let s1 = SlaveServer::start("127.0.0.2", rm.registry, 1, root.path(), &sargs);
    let _s2 = SlaveServer::start("127.0.0.3", rm.registry, 2, root.path(), &sargs);
    rm.wait_slaves(&[1, 2], Duration::from_secs(20));
    for i in 0..2 {
        let out = local.join(&format!("relayed{i}.bin"));
        // PASV names the slave: curl must use that address.
        curl(&[
            "--ssl-reqd",
            "--cacert",
            &ca,
            "--no-ftp-skip-pasv-ip",
            "--disable-epsv",
            "-o",
            out.to_str().unwrap(),
            &format!("ftp://{}/big.bin", rm.addr),
        ])
        .assert_ok("curl through a relaying master");
        assert_eq!(sha256(&std::fs::read(&out).unwrap()), sha256(&big));
    }
    assert_eq!(rm.count("relayed"), 2);
    let log = s1.log_text();
    assert!(log.contains("control connection encrypted"), "{log}");
    assert!(log.lines().any(|l| l.contains("RETR /big.bin") && l.ends_with(" tls")), "{log}");
}

// ---- status, metrics, CCC, limits and the implicit port's life

/// `ftpserver status` has a TLS column (`-`, `ctl`, `ctl+data`) and
/// `/metrics` counts the handshakes and the encrypted sessions.
#[test]
fn status_and_metrics_say_what_each_session_encrypts() {
    let pair = Pair::new("status-tls");
    let s = start(&pair, data_tree, &["--metrics", "127.0.0.1:0"]);
    let ca = pair.cert();
    let private = TlsFtp::login(s.addr, &ca);
    let mut control_only = TlsFtp::login(s.addr, &ca);
    assert_eq!(control_only.cmd("PROT C").0, 200);
    let mut plain = s.anon();
    assert_eq!(plain.code("NOOP"), 200);
    // A client that sends garbage instead of a ClientHello.
    let mut junk = Ftp::connect(s.addr);
    assert_eq!(junk.code("AUTH TLS"), 234);
    let mut raw = junk.into_stream();
    raw.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    // Its worker counts the failed handshake, then ends the session: read
    // to that end (past any alert), so that the count is in the page.
    let end = raw.read_to_end(&mut Vec::new());
    assert!(end.as_ref().map_or_else(|e| e.kind() == ErrorKind::ConnectionReset, |_| true), "{end:?}");
    let table = s.status();
    let tls_of = |client: SocketAddr| {
        let me = client.to_string();
        let row = table.lines().find(|l| l.contains(&me)).unwrap_or_else(|| panic!("no row for {me}:\n{table}"));
        row.split_whitespace().nth(6).unwrap().to_string()
    };
    assert!(table.lines().nth(1).unwrap().split_whitespace().nth(6) == Some("TLS"), "{table}");
    assert_eq!(tls_of(private.local_addr()), "ctl+data", "{table}");
    assert_eq!(tls_of(control_only.local_addr()), "ctl", "{table}");
    assert_eq!(tls_of(plain.stream.local_addr().unwrap()), "-", "{table}");
    // Read by prometheus_client's parser, as the metrics tests read theirs.
    let page = scrape(metrics_addr(&s.log_text()));
    assert_eq!(page.get("forkftp_tls_sessions_active{encrypted=\"ctl+data\"}"), 1.0);
    assert_eq!(page.get("forkftp_tls_sessions_active{encrypted=\"ctl\"}"), 1.0);
    let ok = page.get("forkftp_tls_handshakes_total{result=\"ok\"}");
    let failed = page.get("forkftp_tls_handshakes_total{result=\"failed\"}");
    assert!(ok >= 2.0 && failed >= 1.0, "handshakes: {ok} ok, {failed} failed");
    drop((private, control_only));
    plain.quit();
}

/// RFC 4217 section 6, with `--allow-ccc`: after login, CCC clears the
/// control connection (both sides' close_notify, then clear text on the
/// same socket) while data connections stay private (PROT P).
#[test]
fn ccc_when_allowed_clears_the_control_connection_and_data_stays_private() {
    let pair = Pair::new("ccc");
    let s = start(&pair, data_tree, &["--allow-ccc"]);
    let mut f = TlsFtp::login(s.addr, &pair.cert());
    let feat = f.cmd("FEAT").1;
    assert!(feat.lines().any(|l| l.trim() == "CCC"), "{feat}");
    assert_eq!(f.cmd("CCC").0, 200);
    // Our goodbye and the next command in clear in one write, as a client
    // that does not wait for the server's goodbye may send them (RFC 4217
    // section 6): the server must take the goodbye's record and not one
    // byte of the command with it.
    let mut tls = f.ctl.into_inner();
    tls.conn.send_close_notify();
    let mut out = Vec::new();
    while tls.conn.wants_write() {
        tls.conn.write_tls(&mut out).unwrap();
    }
    out.extend_from_slice(b"PWD\r\n");
    tls.sock.write_all(&out).unwrap();
    // The server's goodbye (it may have come with the 200), read record by
    // record: its clear reply follows.
    while !tls.conn.process_new_packets().unwrap().peer_has_closed() {
        let mut record = vec![0u8; 5];
        tls.sock.read_exact(&mut record).unwrap();
        let len = usize::from(u16::from_be_bytes([record[3], record[4]]));
        record.resize(5 + len, 0);
        tls.sock.read_exact(&mut record[5..]).unwrap();
        tls.conn.read_tls(&mut &record[..]).unwrap();
        assert_eq!(tls.conn.process_new_packets().unwrap().plaintext_bytes_to_read(), 0);
    }
    let me = tls.sock.local_addr().unwrap();
    let mut clear = Ftp::from_stream(tls.sock);
    assert_eq!(clear.reply().code.0, 257);
    let row = s.status().lines().find(|l| l.contains(&me.to_string())).map(String::from).unwrap();
    assert_eq!(row.split_whitespace().nth(6), Some("data"), "{row}");
    // A private download: the data connection resumes the session the
    // control connection had.
    let data = clear.pasv();
    assert_eq!(clear.cmd("RETR data.bin").code.0, 150);
    let mut conn = tls_over(data, &f.config).expect("data handshake after CCC");
    let mut got = Vec::new();
    conn.read_to_end(&mut got).unwrap();
    assert!(got == pseudo_random(3_000_000, 7));
    assert_eq!(clear.reply().code.0, 226);
    assert_eq!(clear.code("AUTH TLS"), 503, "TLS does not start again after CCC");
    clear.quit();
    assert!(s.log_text().contains("back in clear text (CCC)"), "{}", s.log_text());
}

/// The encrypted paths keep what the plain ones keep: the account's rate
/// (downloads and uploads through the record layer), its quota (charged
/// before the bytes reach the file; a refused upload leaves nothing), and
/// ASCII's line ends (RFC 959 3.1.1.1) through the buffered path.
#[test]
fn encrypted_transfers_keep_rates_quotas_and_ascii_line_ends() {
    const RATE: f64 = 1024.0 * 1024.0;
    let pair = Pair::new("tls-limits");
    let dir = TempDir::new("tls-limits-users");
    let lines = [
        crate::util::passwd_line("rita", "pw", &["--home", "rita", "--limits", "down=1M,up=1M"]),
        crate::util::passwd_line("quin", "pw", &["--home", "quin", "--limits", "quota=100000"]),
    ];
    let users = dir.join("users");
    std::fs::write(&users, lines.join("\n") + "\n").unwrap();
    let text: Vec<u8> = b"line one\nline two\n".repeat(1000);
    let big = pseudo_random(2 << 20, 11);
    let (t2, b2) = (text.clone(), big.clone());
    let s = start(
        &pair,
        move |root| {
            for home in ["rita", "quin"] {
                std::fs::create_dir(root.join(home)).unwrap();
                crate::util::give_to_worker_user(&root.join(home));
            }
            std::fs::write(root.join("rita/t.txt"), &t2).unwrap();
            std::fs::write(root.join("rita/big.bin"), &b2).unwrap();
        },
        &["--users", users.to_str().unwrap(), "--no-anonymous"],
    );
    let ca = pair.cert();
    let mut f = TlsFtp::login_as(s.addr, &ca, "rita", "pw");
    let started = std::time::Instant::now();
    assert!(f.retr("big.bin") == big);
    let rate = big.len() as f64 / started.elapsed().as_secs_f64();
    assert!(rate <= RATE * 1.1, "an encrypted download at {rate:.0} bytes/s, over its 1M/s");
    let started = std::time::Instant::now();
    assert_eq!(f.stor("STOR up.bin", &big).0, 226);
    let rate = big.len() as f64 / started.elapsed().as_secs_f64();
    assert!(rate <= RATE * 1.1, "an encrypted upload at {rate:.0} bytes/s, over its 1M/s");
    assert!(std::fs::read(s.root.join("rita/up.bin")).unwrap() == big);
    assert_eq!(f.cmd("TYPE A").0, 200);
    let crlf: Vec<u8> = b"line one\r\nline two\r\n".repeat(1000);
    assert!(f.retr("t.txt") == crlf, "LF goes out as CRLF");
    assert_eq!(f.stor("STOR back.txt", &crlf).0, 226);
    assert!(std::fs::read(s.root.join("rita/back.txt")).unwrap() == text, "CRLF comes in as LF");
    let mut q = TlsFtp::login_as(s.addr, &ca, "quin", "pw");
    assert_eq!(q.stor("STOR fits.bin", &big[..60_000]).0, 226);
    let (code, text) = q.stor("STOR over.bin", &big[..60_000]);
    assert_eq!((code, text.as_str()), (552, "Quota exceeded."));
    let home = s.root.join("quin");
    let names: Vec<String> =
        std::fs::read_dir(&home).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    assert!(names.iter().all(|n| n == "fits.bin" || n == ".forkftp.quota"), "{names:?}");
}

/// The first bytes of an implicit-FTPS session on `tcp`: TLS, then the
/// greeting's code.
fn greeting_over(tcp: TcpStream, ca: &Path) -> u16 {
    let config = client_config(ca);
    let tls = tls_over(tcp, &config).expect("implicit handshake");
    TlsFtp { ctl: BufReader::new(tls), config }.reply().0
}

/// [`greeting_over`] a connection to `addr`, which must not be refused.
fn implicit_greeting(addr: SocketAddr, ca: &Path) -> u16 {
    greeting_over(TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}")), ca)
}

/// The implicit port in the log line `implicit FTPS on ADDR`.
fn implicit_addr(log: &str) -> SocketAddr {
    let line = log.lines().find(|l| l.contains("implicit FTPS on ")).expect("implicit listener logged");
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

/// SIGUSR2 hands the implicit-FTPS socket to the new binary (named
/// `ftps`), which serves it; systemd's socket activation may hand it over
/// too, by the same name.
#[test]
fn the_implicit_port_is_handed_over_by_an_upgrade_and_by_systemd() {
    use crate::service::{copy_of_ftpserver, install, upgraded_supervisor, KillOnDrop, FTPSERVER};
    let pair = Pair::new("implicit-handover");
    let ca = pair.cert();
    let bin = TempDir::new("implicit-upgrade-bin");
    let exe = copy_of_ftpserver(bin.path());
    let mut args = pair.args();
    args.extend(["--implicit-tls-listen".to_string(), "127.0.0.1:0".to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let s = Server::start_program(exe.to_str().unwrap(), data_tree, &args, &[]);
    let implicit = implicit_addr(&s.log_text());
    assert_eq!(implicit_greeting(implicit, &ca), 220);
    install(FTPSERVER, &exe);
    let mark = s.log_text().len();
    s.signal(Signal::SIGUSR2);
    let _guard = KillOnDrop(upgraded_supervisor(&s, mark));
    let tail = s.log_text()[mark..].to_string();
    assert!(tail.contains(&format!("implicit FTPS on {implicit}")), "the new binary took the socket:\n{tail}");
    // Old workers are told to leave; the new pool serves the same port.
    for _ in 0..5 {
        assert_eq!(implicit_greeting(implicit, &ca), 220);
    }
    assert!(!tail.contains("is not used; closed"), "{tail}");

    // systemd-socket-activate: the second socket, named ftps.
    let ports = crate::util::ports::reserve_ports("127.0.0.1", 2);
    let (ftp, ftps) = (format!("127.0.0.1:{}", ports.port(1)), format!("127.0.0.1:{}", ports.port(2)));
    let root = TempDir::new("implicit-activated-root");
    crate::util::give_to_worker_user(root.path());
    let mut argv: Vec<String> =
        ["-l", &ftp, "-l", &ftps, "--fdname=ftp:ftps", FTPSERVER, "--root", root.path().to_str().unwrap()]
            .iter()
            .map(|s| s.to_string())
            .collect();
    argv.extend(pair.args());
    let mut d = crate::util::daemon::Daemon::spawn("systemd-socket-activate", &argv, "implicit-activate");
    // The server starts on the first connection, which waits meanwhile.
    let ftps_addr: SocketAddr = ftps.parse().unwrap();
    let ca2 = ca.clone();
    let first = std::thread::spawn(move || greeting_over(connect_when_bound(ftps_addr), &ca2));
    drop(connect_when_bound(ftp.parse().unwrap()));
    d.wait_for_line(&format!("implicit FTPS on {ftps}"));
    assert_eq!(first.join().unwrap(), 220);
    assert_eq!(implicit_greeting(ftps_addr, &ca), 220);
    assert!(!d.log_text().contains("is not used"), "{}", d.log_text());
}

/// A burst on the implicit port: the supervisor reads that port's accept
/// queue too (issue 15's burst logic), so the clients waiting there get
/// their workers in one go, not by a batch doubling per wake-up. The
/// supervisor is paused while they connect, so that all of them wait in
/// the queue when it looks.
#[test]
fn a_burst_on_the_implicit_port_is_met_in_one_go() {
    const CLIENTS: usize = 60;
    let pair = Pair::new("implicit-burst");
    // All from 127.0.0.1: no per-address limit.
    let s = start(&pair, |_| {}, &["--implicit-tls-listen", "127.0.0.1:0", "-v", "--max-per-ip", "0"]);
    let implicit = implicit_addr(&s.log_text());
    assert!(wait_until(Duration::from_secs(5), || s.workers().len() >= 8 && s.busy_workers() == 0));
    let mark = s.log_text().len();
    s.signal(Signal::SIGSTOP);
    // Clients that connect and say nothing: each holds a worker in its TLS
    // handshake, as a burst of real ones would for a moment.
    let held: Vec<TcpStream> = (0..CLIENTS).map(|_| TcpStream::connect(implicit).unwrap()).collect();
    // The idle workers take theirs meanwhile (they say so in the log, the
    // status socket being the paused supervisor's); the rest wait.
    let taken = || s.log_text()[mark..].matches("connected (implicit FTPS)").count();
    assert!(wait_until(Duration::from_secs(10), || taken() >= 8), "{}", s.log_text());
    s.signal(Signal::SIGCONT);
    assert!(wait_until(Duration::from_secs(20), || s.busy_workers() >= CLIENTS), "{}", s.status());
    let log = s.log_text()[mark..].to_string();
    let forks: Vec<usize> = log.lines().filter_map(|l| l.split("; forked ").nth(1)?.trim().parse().ok()).collect();
    let waiting = CLIENTS - 8;
    assert!(forks.first().is_some_and(|&n| n >= waiting), "forks {forks:?} for {waiting} queued clients:\n{log}");
    drop(held);
}
