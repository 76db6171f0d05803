//! Pools behind a real load balancer: HAProxy (Debian's `haproxy`, installed
//! by `.ci/run`) in front of two `ftpserver` pools that take its PROXY
//! headers (`--proxy-protocol-from`), all on loopback addresses standing for
//! hosts: clients at 127.0.0.10 and up, HAProxy listening on 127.0.0.1 and
//! connecting from 127.0.0.4, the pools on 127.0.0.2 and 127.0.0.3.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use forkftp::protocol::proxy::encode_v2;

use crate::util::daemon::Daemon;
use crate::util::ports::reserve_ports;
use crate::util::{connect_from, expect_closed, run_tool, wait_until, Ftp, Server, TempDir, READY};

/// The balancer's address on the pools' side.
const BALANCER: &str = "127.0.0.4";

/// A running HAProxy with a generated configuration.
struct Haproxy {
    _daemon: Daemon,
    /// Round robin over both pools, PROXY v2.
    both: SocketAddr,
    /// Pool A alone, PROXY v1.
    v1: SocketAddr,
    /// Pool A alone, PROXY v2, but from 127.0.0.6, which A does not trust.
    untrusted: SocketAddr,
    _dir: TempDir,
    _ports: crate::util::ports::Reserved,
}

impl Haproxy {
    /// The configuration the README shows, on test ports: TCP mode, round
    /// robin, `send-proxy-v2`.
    fn start(a: SocketAddr, b: SocketAddr) -> Haproxy {
        let ports = reserve_ports("127.0.0.1", 4);
        let at = |i| SocketAddr::new("127.0.0.1".parse().unwrap(), ports.port(i));
        let (both, v1, untrusted, ready) = (at(1), at(2), at(3), at(4));
        let dir = TempDir::new("haproxy");
        let cfg = format!(
            "global\n    maxconn 200\n\n\
             defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 60s\n    timeout server 60s\n\n\
             frontend ftp\n    bind {both}\n    default_backend pools\n\n\
             backend pools\n    balance roundrobin\n    source {BALANCER}\n    \
             server a {a} send-proxy-v2 check inter 200ms\n    server b {b} send-proxy-v2 check inter 200ms\n\n\
             frontend ftp_v1\n    bind {v1}\n    default_backend pool_a_v1\n\n\
             backend pool_a_v1\n    source {BALANCER}\n    server a {a} send-proxy check inter 200ms\n\n\
             frontend ftp_untrusted\n    bind {untrusted}\n    default_backend pool_a_untrusted\n\n\
             backend pool_a_untrusted\n    source 127.0.0.6\n    server a {a} send-proxy-v2\n\n\
             # Bound last: once it accepts, every listener above is bound.\n\
             frontend ready\n    bind {ready}\n    tcp-request connection reject\n"
        );
        let file = dir.join("haproxy.cfg");
        std::fs::write(&file, cfg).unwrap();
        let check = Command::new("haproxy").arg("-c").arg("-f").arg(&file).output().unwrap_or_else(|e| {
            panic!("haproxy could not be started ({e}); .ci/run installs it (apt-get install haproxy)")
        });
        assert!(check.status.success(), "haproxy -c: {}", String::from_utf8_lossy(&check.stderr));
        let daemon = Daemon::spawn("haproxy", &["-db".into(), "-f".into(), file.display().to_string()], "haproxy");
        let up = wait_until(READY, || TcpStream::connect(ready).is_ok());
        assert!(up, "haproxy does not listen on {ready} after {READY:?}:\n{}", daemon.log_text());
        Haproxy { _daemon: daemon, both, v1, untrusted, _dir: dir, _ports: ports }
    }
}

/// A pool on `ip` that takes PROXY headers from the balancer only.
fn pool(ip: &str) -> Server {
    Server::start_on(ip, |_| {}, &["--proxy-protocol-from", BALANCER, "--workers", "2"])
}

/// The same, logging every command (and health checks).
fn verbose_pool(ip: &str) -> Server {
    Server::start_on(ip, |_| {}, &["--proxy-protocol-from", BALANCER, "--workers", "2", "-v"])
}

/// The pool that served the client at `client`, from the pools' logs.
fn served_by<'a>(client: SocketAddr, pools: &[(&'a str, &Server)]) -> &'a str {
    let needle = format!("{client}: connected (through the load balancer {BALANCER}:");
    let found: Vec<&str> = pools.iter().filter(|(_, s)| s.log_text().contains(&needle)).map(|(n, _)| *n).collect();
    assert_eq!(found.len(), 1, "{client} logged by {found:?}");
    found[0]
}

#[test]
fn haproxy_in_front_clients_alternate_pools_see_real_addresses_and_data_goes_direct() {
    let (a, b) = (pool("127.0.0.2"), pool("127.0.0.3"));
    let lb = Haproxy::start(a.addr, b.addr);
    let pools = [("a", &a), ("b", &b)];
    let mut order = Vec::new();
    for i in 0..4 {
        let from = format!("127.0.0.{}", 10 + i);
        let (mut f, _) = Ftp::connect_greeting_from(&from, lb.both);
        let me = f.stream.local_addr().unwrap();
        f.login("anonymous", "test@example.com");
        // The session knows the real client.
        let st = f.cmd("STAT");
        assert!(st.lines.iter().any(|l| l.contains(&format!("Connected from {from}"))), "{st:?}");
        // EPSV would send the client to the balancer's address: refused.
        assert_eq!(f.code("EPSV"), 502);
        // PASV names the pool that serves the client, not the balancer.
        let r = f.cmd("PASV");
        assert_eq!(r.code.0, 227, "{r:?}");
        let data = forkftp::protocol::address::parse_pasv_reply(&r.lines[0]).expect("227 address");
        let pool_ip = if served_by(me, &pools) == "a" { "127.0.0.2" } else { "127.0.0.3" };
        assert_eq!(data.ip().to_string(), pool_ip, "{r:?}");
        // Security: the passive port takes the real client only. The
        // balancer's own address (the control connection's peer on the
        // pool's side) is refused first, then the client gets its file.
        if i == 0 {
            let mut thief = connect_from(BALANCER, data);
            let mut c = connect_from(&from, data);
            let r = f.cmd("RETR hello.txt");
            assert_eq!(r.code.0, 150, "{r:?}");
            let mut got = Vec::new();
            c.read_to_end(&mut got).unwrap();
            assert_eq!(got, b"hello world\n");
            assert_eq!(f.reply().code.0, 226);
            expect_closed(&mut thief, "a data connection from the balancer's address");
        } else {
            let mut c = connect_from(&from, data);
            assert_eq!(f.cmd("RETR hello.txt").code.0, 150);
            let mut got = Vec::new();
            c.read_to_end(&mut got).unwrap();
            assert_eq!(got, b"hello world\n");
            assert_eq!(f.reply().code.0, 226);
        }
        f.quit();
        order.push(served_by(me, &pools));
    }
    // Round robin: one pool, the other, the first again...
    assert!(order.windows(2).all(|w| w[0] != w[1]), "{order:?}");
    let logs = a.log_text() + &b.log_text();
    assert!(logs.contains(&format!("refused data connection from {BALANCER}:")), "{logs}");
    // The balancer's address is never taken for a client's.
    assert!(!logs.contains(&format!("] {BALANCER}:")), "{logs}");
    drop(lb);
}

#[test]
fn haproxy_send_proxy_v1_health_checks_and_real_clients_through_it() {
    let (a, b) = (verbose_pool("127.0.0.2"), verbose_pool("127.0.0.3"));
    let lb = Haproxy::start(a.addr, b.addr);
    // send-proxy (v1) is read as well as v2.
    let (mut f, _) = Ftp::connect_greeting_from("127.0.0.20", lb.v1);
    let me = f.stream.local_addr().unwrap();
    f.login("anonymous", "x@example.com");
    f.quit();
    assert_eq!(served_by(me, &[("a", &a), ("b", &b)]), "a");
    // curl through the balancer: EPSV refused, PASV to the pool itself
    // (curl ignores a PASV address unless told to trust it).
    let url = format!("ftp://{}/hello.txt", lb.both);
    let run = run_tool(
        Command::new("curl").args(["-sS", "--interface", "127.0.0.21", "--no-ftp-skip-pasv-ip", &url]),
        Duration::from_secs(60),
    );
    run.assert_ok("curl through haproxy");
    assert_eq!(run.stdout, "hello world\n");
    let logs = a.log_text() + &b.log_text();
    assert!(logs.contains("127.0.0.21:"), "{logs}");
    // Our client: by default it keeps the control connection's address
    // for data (a server cannot aim it elsewhere), which is the balancer's;
    // with --use-pasv-address it goes to the pool the 227 reply names.
    let dir = TempDir::new("lb-client");
    let client = |extra: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ftpclient"));
        cmd.args(extra).args(["--no-netrc", "--local-dir"]).arg(dir.path());
        cmd.args(["-c", "get hello.txt", "127.0.0.1", &lb.both.port().to_string()]);
        run_tool(&mut cmd, Duration::from_secs(60))
    };
    let plain = client(&[]);
    assert!(!plain.status.success(), "{}", plain.stdout);
    assert!(plain.stderr.contains("Cannot open the data connection to 127.0.0.1:"), "{}", plain.stderr);
    client(&["--use-pasv-address"]).assert_ok("ftpclient --use-pasv-address through haproxy");
    assert_eq!(std::fs::read(dir.join("hello.txt")).unwrap(), b"hello world\n");
    // HAProxy's health checks (`check`: connect, a PROXY header naming the
    // check's own connection with `send-proxy`, then a reset) are no
    // clients: seen only with -v, whether the reset comes before the worker
    // takes the connection or after; never an error nor a refusal.
    let checks = |log: &str| {
        log.matches("connected (the load balancer's own connection: a health check)").count()
            + log.matches("closed by the trusted proxy before a byte (a health check)").count()
            + log.matches("a connection was reset before it was accepted").count()
    };
    assert!(wait_until(READY, || checks(&a.log_text()) >= 3), "{}", a.log_text());
    assert!(wait_until(READY, || checks(&b.log_text()) >= 3), "{}", b.log_text());
    let as_client = format!("] {BALANCER}:");
    for log in [a.log_text(), b.log_text()] {
        assert!(!log.contains("[ERROR]") && !log.contains("[WARN]"), "{log}");
        assert!(!log.lines().any(|l| l.contains("[INFO]") && l.contains(&as_client)), "{log}");
    }
    drop(lb);
}

#[test]
fn a_v2_header_from_an_untrusted_address_is_refused() {
    let a = pool("127.0.0.2");
    let b = pool("127.0.0.3");
    let lb = Haproxy::start(a.addr, b.addr);
    // HAProxy itself, connecting from an address the pool does not trust:
    // the pool greets it as a client, then refuses the header.
    let mut c = connect_from("127.0.0.30", lb.untrusted);
    let mut r = BufReader::new(c.try_clone().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.starts_with("220 "), "{line:?}");
    line.clear();
    r.read_line(&mut line).unwrap();
    assert_eq!(line, "421 PROXY header refused: only a trusted proxy may send one.\r\n");
    expect_closed(&mut c, "an untrusted PROXY v2 header through haproxy");
    // The same header sent by hand from another host.
    let mut c = connect_from("127.0.0.31", a.addr);
    let mut r = BufReader::new(c.try_clone().unwrap());
    line.clear();
    r.read_line(&mut line).unwrap();
    assert!(line.starts_with("220 "), "{line:?}");
    c.write_all(&encode_v2("203.0.113.9:5555".parse().unwrap(), a.addr)).unwrap();
    line.clear();
    r.read_line(&mut line).unwrap();
    assert_eq!(line, "421 PROXY header refused: only a trusted proxy may send one.\r\n");
    expect_closed(&mut c, "an untrusted PROXY v2 header");
    // From the trusted address, anything but a header ends the connection
    // before the greeting.
    let mut c = connect_from(BALANCER, a.addr);
    c.write_all(b"USER anonymous\r\n").unwrap();
    expect_closed(&mut c, "no PROXY header from the balancer's address");
    let log = a.log_text();
    assert!(log.contains("127.0.0.6:") && log.contains("not a trusted proxy, refused"), "{log}");
    assert!(log.contains(&format!("{BALANCER}:")) && log.contains("connection from a trusted proxy refused"), "{log}");
    assert!(!log.contains("203.0.113.9"), "{log}");
    drop(lb);
}
