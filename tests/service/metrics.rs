//! `--metrics`: the Prometheus page and the health check of `ftpserver`
//! and `ftpmaster`, scraped before and after traffic and read with Python's
//! `prometheus_client` text parser (installed by .ci/run); and HTTP clients
//! that behave badly, which must not slow the FTP service.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::util::{wait_until, Ftp, Master, Server, SlaveServer, TempDir, READY};

/// The address in `metrics on http://ADDR/metrics`.
pub(crate) fn metrics_addr(log: &str) -> SocketAddr {
    let at = log.find("metrics on http://").unwrap_or_else(|| panic!("no metrics line in:\n{log}"));
    log[at + "metrics on http://".len()..].split('/').next().unwrap().parse().unwrap()
}

/// One HTTP/1.1 request; the status and the body.
fn http(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    s.write_all(request).unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    let text = String::from_utf8_lossy(&got).into_owned();
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or_else(|| panic!("not HTTP: {text:?}"));
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_string();
    (status, body)
}

pub(super) fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    http(addr, format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes())
}

/// A scrape, read by prometheus_client's parser: every sample as
/// `name{label="v",...}` (labels sorted) to its value, and every family's
/// type by name.
pub(crate) struct Scrape {
    samples: BTreeMap<String, f64>,
    types: BTreeMap<String, String>,
}

const PARSER: &str = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
for fam in text_string_to_metric_families(sys.stdin.read()):
    print("TYPE", fam.name, fam.type)
    for s in fam.samples:
        labels = ",".join('%s="%s"' % (k, v) for k, v in sorted(s.labels.items()))
        print("SAMPLE", "%s{%s}" % (s.name, labels), repr(float(s.value)))
"#;

pub(crate) fn scrape(addr: SocketAddr) -> Scrape {
    let (status, page) = get(addr, "/metrics");
    assert_eq!(status, 200, "{page}");
    let mut py = Command::new("python3")
        .args(["-c", PARSER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 (.ci/run installs prometheus_client)");
    py.stdin.take().unwrap().write_all(page.as_bytes()).unwrap();
    let out = py.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client refused the page:\n{}\n{page}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut s = Scrape { samples: BTreeMap::new(), types: BTreeMap::new() };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut w = line.splitn(3, ' ');
        match (w.next(), w.next(), w.next()) {
            (Some("TYPE"), Some(name), Some(t)) => {
                s.types.insert(name.into(), t.into());
            }
            (Some("SAMPLE"), Some(name), Some(v)) => {
                s.samples.insert(name.into(), v.parse().unwrap());
            }
            _ => panic!("{line}"),
        }
    }
    s
}

impl Scrape {
    pub(crate) fn get(&self, sample: &str) -> f64 {
        *self.samples.get(sample).unwrap_or_else(|| panic!("no sample {sample} in {:#?}", self.samples))
    }
}

#[test]
fn ftpserver_metrics_count_traffic_and_parse_with_prometheus_client() {
    let s = Server::start(&[
        "--metrics",
        "127.0.0.1:0",
        "-w",
        "--user",
        "alice:secret",
        "--max-per-ip",
        "2",
        "--workers",
        "4",
    ]);
    let m = metrics_addr(&s.log_text());
    let before = scrape(m);
    for (family, t) in [
        ("forkftp_sessions_active", "gauge"),
        ("forkftp_sessions", "counter"),
        ("forkftp_logins", "counter"),
        ("forkftp_refused", "counter"),
        ("forkftp_transfer_bytes", "counter"),
        ("forkftp_transfer_files", "counter"),
        ("forkftp_transfer_duration_seconds", "histogram"),
        ("forkftp_workers", "gauge"),
        ("forkftp_workers_max", "gauge"),
    ] {
        assert_eq!(before.types.get(family).map(String::as_str), Some(t), "{family}: {:?}", before.types);
    }
    assert_eq!(before.get("forkftp_sessions_total{}"), 0.0);
    assert_eq!(before.get("forkftp_logins_total{result=\"ok\"}"), 0.0);
    assert_eq!(before.get("forkftp_transfer_bytes_total{direction=\"out\"}"), 0.0);
    assert_eq!(before.get("forkftp_workers_max{}"), forkftp::limits::DEFAULT_MAX_WORKERS as f64);
    assert!(before.get("forkftp_workers{state=\"idle\"}") >= 1.0);

    // Traffic: two downloads, an upload, a failed login, a refusal.
    for _ in 0..2 {
        let mut f = s.anon();
        assert_eq!(f.retr("hello.txt"), b"hello world\n");
        f.quit();
    }
    // Their workers leave the scoreboard a moment after the end of their
    // connections: only then do a and b below make two from 127.0.0.1.
    assert!(wait_until(READY, || s.busy_workers() == 0), "{}", s.status());
    let mut a = s.connect();
    assert_eq!(a.code("USER alice"), 331);
    assert_eq!(a.code("PASS wrong"), 530);
    a.login("alice", "secret");
    assert_eq!(a.put_with("STOR up.bin", &[1u8; 1000]).code.0, 226);
    // Two sessions open from 127.0.0.1 (a and b): a third is refused.
    let mut b = s.anon();
    let mut c = Ftp::from_stream(TcpStream::connect(s.addr).unwrap());
    let greeting = c.reply();
    assert_eq!(greeting.code.0, 421, "{greeting:?}");
    c.expect_eof();
    assert_eq!(b.code("NOOP"), 200);

    // A worker counts a transfer just after its 226 (the client may be
    // faster than that worker on a busy machine): wait for the upload's count.
    let upload_counted = || scrape(m).get("forkftp_transfer_files_total{direction=\"in\"}") == 1.0;
    assert!(wait_until(Duration::from_secs(10), upload_counted), "the upload was never counted");
    let after = scrape(m);
    assert_eq!(after.get("forkftp_sessions_active{}"), 2.0, "a and b are being served");
    assert_eq!(after.get("forkftp_logins_total{result=\"ok\"}"), 4.0);
    assert_eq!(after.get("forkftp_logins_total{result=\"failed\"}"), 1.0);
    assert_eq!(after.get("forkftp_refused_total{cause=\"max_per_ip\"}"), 1.0);
    assert_eq!(after.get("forkftp_refused_total{cause=\"max_workers\"}"), 0.0);
    assert_eq!(after.get("forkftp_transfer_bytes_total{direction=\"out\"}"), 24.0);
    assert_eq!(after.get("forkftp_transfer_bytes_total{direction=\"in\"}"), 1000.0);
    assert_eq!(after.get("forkftp_transfer_files_total{direction=\"out\"}"), 2.0);
    assert_eq!(after.get("forkftp_transfer_files_total{direction=\"in\"}"), 1.0);
    assert_eq!(after.get("forkftp_transfer_duration_seconds_count{direction=\"out\"}"), 2.0);
    assert_eq!(after.get("forkftp_transfer_duration_seconds_bucket{direction=\"in\",le=\"+Inf\"}"), 1.0);
    assert!(after.get("forkftp_transfer_duration_seconds_sum{direction=\"out\"}") >= 0.0);
    assert_eq!(after.get("forkftp_workers{state=\"busy\"}"), 2.0);
    assert_eq!(after.get("forkftp_sessions_total{}"), 4.0, "two anonymous, a and b (the refused client had none)");
    a.quit();
    b.quit();
    // What workers counted stays counted once they have exited: retire them all.
    let old = s.workers();
    s.signal(nix::sys::signal::Signal::SIGHUP);
    assert!(wait_until(READY, || old.iter().all(|w| !crate::util::alive(*w))), "old workers {old:?} still there");
    let later = scrape(m);
    for sample in [
        "forkftp_sessions_total{}",
        "forkftp_logins_total{result=\"ok\"}",
        "forkftp_logins_total{result=\"failed\"}",
        "forkftp_refused_total{cause=\"max_per_ip\"}",
        "forkftp_transfer_bytes_total{direction=\"in\"}",
        "forkftp_transfer_duration_seconds_count{direction=\"out\"}",
    ] {
        assert_eq!(later.get(sample), after.get(sample), "{sample} after the workers that counted it exited");
    }
    let (status, body) = get(m, "/health");
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("ok: ") && body.ends_with(" 0 busy\n"), "{body}");
}

#[test]
fn health_says_503_when_every_worker_is_busy() {
    let s = Server::start(&["--metrics", "127.0.0.1:0", "--workers", "1", "--max-workers", "1", "--min-spare", "0"]);
    let m = metrics_addr(&s.log_text());
    assert_eq!(get(m, "/health").0, 200);
    let f = s.anon();
    let (status, body) = get(m, "/health");
    assert_eq!((status, body.as_str()), (503, "saturated: all 1 workers busy\n"));
    f.quit();
    assert!(wait_until(READY, || get(m, "/health").0 == 200));
    // HEAD: the same status, no body.
    let (status, body) = http(m, b"HEAD /health HTTP/1.1\r\n\r\n");
    assert_eq!((status, body.as_str()), (200, ""));
}

#[test]
fn hostile_http_clients_never_stall_the_supervisor() {
    let s = Server::start(&["--metrics", "127.0.0.1:0"]);
    let m = metrics_addr(&s.log_text());
    assert_eq!(get(m, "/nowhere").0, 404);
    assert_eq!(http(m, b"POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc").0, 405);
    assert_eq!(http(m, b"\x16\x03\x01\x02\x00garbage\r\n\r\n").0, 400);
    let mut endless = b"GET /metrics HTTP/1.1\r\n".to_vec();
    endless.extend(b"X-Padding: yyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\r\n".repeat(300));
    assert_eq!(http(m, &endless).0, 431);
    // Silent clients (slowloris) take every place the server gives...
    let silent: Vec<TcpStream> = (0..20).map(|_| TcpStream::connect(m).unwrap()).collect();
    // ... while the supervisor answers `status` and FTP clients are served.
    for _ in 0..3 {
        let mut f = s.anon();
        assert_eq!(f.retr("hello.txt"), b"hello world\n");
        f.quit();
        assert!(s.status().starts_with("forkftp on "));
    }
    // They are dropped after their deadline; then scrapes work again.
    assert!(wait_until(Duration::from_secs(20), || {
        let mut c = TcpStream::connect(m).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let _ = c.write_all(b"GET /health HTTP/1.1\r\n\r\n");
        let mut buf = [0u8; 12];
        matches!(c.read(&mut buf), Ok(n) if n >= 12 && buf.starts_with(b"HTTP/1.1 200"))
    }));
    drop(silent);
}

#[test]
fn ftpmaster_metrics_show_slaves_clients_and_relayed_bytes() {
    let keys = TempDir::new("keys");
    let key = crate::util::key_file(&keys, "metrics-test-cluster-key-0123456789");
    let key = key.to_str().unwrap();
    let master = Master::start(&["--metrics", "127.0.0.1:0", "--key-file", key]);
    let m = metrics_addr(&master.log_text());
    let before = scrape(m);
    assert_eq!(before.get("forkftp_master_clients_accepted_total{}"), 0.0);
    assert_eq!(before.types.get("forkftp_master_slave_up").map(String::as_str), Some("gauge"));
    assert_eq!(get(m, "/health").0, 503, "no slave yet");

    let root = TempDir::new("master-metrics-root");
    std::fs::write(root.join("hello.txt"), b"hello world\n").unwrap();
    crate::util::give_to_worker_user(root.path());
    // A slave of "another host" (127.0.0.2): its control connections are relayed.
    let mut slave = SlaveServer::start("127.0.0.2", master.registry, 7, root.path(), &["--key-file", key]);
    master.wait_slaves(&[7], READY);
    for _ in 0..2 {
        let (mut f, _) = master.connect();
        f.login("anonymous", "x@y");
        f.quit();
    }
    let addr = slave.addr.to_string();
    let after = scrape(m);
    assert_eq!(after.get("forkftp_master_clients_accepted_total{}"), 2.0);
    assert_eq!(after.get("forkftp_master_clients_total{via=\"relayed\"}"), 2.0);
    assert_eq!(after.get(&format!("forkftp_master_slave_up{{address=\"{addr}\",slave=\"7\"}}")), 1.0);
    assert_eq!(after.get("forkftp_master_slave_clients_total{slave=\"7\"}"), 2.0);
    assert!(after.get("forkftp_master_relayed_bytes_total{direction=\"to_slaves\"}") > 0.0);
    assert!(after.get("forkftp_master_relayed_bytes_total{direction=\"to_clients\"}") > 0.0);
    assert_eq!(get(m, "/health").0, 200);

    // The slave dies: it is shown down, and the master is not healthy.
    slave.kill_pool();
    assert!(wait_until(READY, || scrape(m)
        .samples
        .get(&format!("forkftp_master_slave_up{{address=\"{addr}\",slave=\"7\"}}"))
        == Some(&0.0)));
    assert_eq!(get(m, "/health").0, 503);
}
