//! The load balancer: `ftpmaster`, `ftpslaves` and slaves started alone
//! (`ftpserver --register`). Loopback only: 127.0.0.1 is the master's host;
//! 127.0.0.2 and 127.0.0.3 stand for other hosts.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use forkftp::balancer::auth::ClusterKey;
use forkftp::balancer::wire::{self, MasterLine, Register};
use nix::sys::signal::Signal;

use crate::util::{
    alive, children_of, connect_from, expect_closed, key_file, sha256, shared_root, signal_pid, wait_until, Ftp,
    Master, SlaveServer, Slaves, TempDir,
};

const KEY: &str = "test-cluster-key-0123456789";
const READY: Duration = Duration::from_secs(20);

fn addr(ip: &str, port: u16) -> SocketAddr {
    format!("{ip}:{port}").parse().unwrap()
}

/// Two slaves on 127.0.0.2 and 127.0.0.3 ("other hosts"), relayed.
fn relayed_cluster(root: &TempDir, extra: &[&str]) -> (Master, SlaveServer, SlaveServer, TempDir) {
    let keys = TempDir::new("keys");
    let key = key_file(&keys, KEY);
    let key = key.to_str().unwrap();
    let m = Master::start(&["--key-file", key]);
    let mut args = vec!["--key-file", key];
    args.extend_from_slice(extra);
    let s1 = SlaveServer::start("127.0.0.2", m.registry, 1, root.path(), &args);
    let s2 = SlaveServer::start("127.0.0.3", m.registry, 2, root.path(), &args);
    m.wait_slaves(&[1, 2], READY);
    (m, s1, s2, keys)
}

/// Processes stopped with SIGSTOP, continued when dropped (even when the
/// test fails), so that nothing stays frozen.
struct Stopped(Vec<i32>);

impl Stopped {
    fn pool(s: &SlaveServer) -> Stopped {
        let mut pids = vec![s.pid()];
        pids.extend(children_of(s.pid()));
        for p in &pids {
            signal_pid(*p, Signal::SIGSTOP);
        }
        Stopped(pids)
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        for p in &self.0 {
            signal_pid(*p, Signal::SIGCONT);
        }
    }
}

/// Stage 3 of the original, with standard FTP: clients 1, 2, 3... go to
/// slaves 1, 2, 1...; on the same host the socket itself is passed, so
/// EPSV works and the master relays nothing.
#[test]
fn same_host_clients_alternate_between_slaves_and_epsv_works() {
    let (root, big) = shared_root(300_000);
    let m = Master::start(&[]);
    let slaves = Slaves::start(m.registry, 2, "127.0.0.1", root.path(), &[]);
    m.wait_slaves(&[1, 2], READY);
    let mut seen = Vec::new();
    for i in 0..6 {
        let (mut f, greeting) = m.connect();
        seen.push(Ftp::slave_id(&greeting));
        f.login("anonymous", "x");
        // RFC 2428: EPSV names only a port, on the address the client
        // connected to; the slave serves that socket itself.
        let got = if i % 2 == 0 { f.retr_epsv("big.bin") } else { f.retr("big.bin") };
        assert_eq!(sha256(&got), sha256(&big), "client {i}");
        assert!(f.cmd("STAT").text().contains("Connected from 127.0.0.1"));
        f.quit();
    }
    assert_eq!(seen, [1, 2, 1, 2, 1, 2], "greetings");
    assert_eq!(m.count("passed"), 6);
    assert_eq!(m.relayed_bytes(), (0, 0), "the master is out of the path");
    let log = m.log_text();
    assert!(log.contains("-> slave 1 (socket passed)") && log.contains("-> slave 2 (socket passed)"), "{log}");
    assert!(log.contains("slave 1 registered") && log.contains("slave 2 registered"), "{log}");
    // The command shows the live slaves and how many clients each got.
    let status = m.status_command();
    let rows: Vec<&str> = status.lines().filter(|l| l.starts_with("1 ") || l.starts_with("2 ")).collect();
    assert_eq!(rows.len(), 2, "{status}");
    for row in rows {
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cols[1..3], ["live", "pass"], "{row}");
        assert_eq!(cols[4], "3", "clients of slave {}: {row}", cols[0]);
    }
    drop(slaves);
}

/// IPv6 clients and EPRT (RFC 2428 section 2) pass through unchanged.
#[test]
fn ipv6_clients_and_eprt_work_through_a_same_host_master() {
    let (root, big) = shared_root(50_000);
    let m = Master::start_on("::1", "127.0.0.1", &[]);
    let _slaves = Slaves::start(m.registry, 2, "127.0.0.1", root.path(), &[]);
    m.wait_slaves(&[1, 2], READY);
    let (mut f, _) = m.connect();
    f.login("anonymous", "x");
    assert!(f.cmd("STAT").text().contains("Connected from ::1"));
    assert_eq!(f.retr_epsv("big.bin"), big);
    let l = TcpListener::bind("[::1]:0").unwrap();
    let r = f.cmd(&format!("EPRT |2|::1|{}|", l.local_addr().unwrap().port()));
    assert_eq!(r.code.0, 200, "{r:?}");
    assert_eq!(f.code("RETR hello.txt"), 150);
    let (mut data, _) = l.accept().unwrap();
    let mut got = Vec::new();
    data.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"hello world\n");
    assert_eq!(f.reply().code.0, 226);
}

/// Across hosts the master relays the control connection only: each PASV
/// reply names the slave's own address, the data goes straight there, and
/// the master's byte counters show control traffic only.
#[test]
fn across_hosts_clients_alternate_and_no_data_passes_the_master() {
    let (root, big) = shared_root(1 << 20);
    let (m, s1, _s2, _keys) = relayed_cluster(&root, &[]);
    let mut seen = Vec::new();
    for i in 0..6 {
        let (mut f, greeting) = m.connect();
        let id = Ftp::slave_id(&greeting);
        seen.push(id);
        f.login("anonymous", "x");
        // EPSV would name a port on the master: refused, and not announced.
        assert_eq!(f.code("EPSV"), 502, "client {i}");
        assert!(!f.cmd("FEAT").lines.iter().any(|l| l.trim() == "EPSV"));
        // The slave knows the client's real address (PROXY header).
        assert!(f.cmd("STAT").text().contains("Connected from 127.0.0.1"));
        let (pasv, mut data) = f.pasv_addr();
        assert_eq!(pasv.ip().to_string(), if id == 1 { "127.0.0.2" } else { "127.0.0.3" }, "client {i}");
        let r = f.cmd("RETR big.bin");
        assert_eq!(r.code.0, 150, "{r:?}");
        let mut got = Vec::new();
        data.read_to_end(&mut got).unwrap();
        assert_eq!(f.reply().code.0, 226);
        assert_eq!(sha256(&got), sha256(&big), "client {i}");
        f.quit();
    }
    assert_eq!(seen, [1, 2, 1, 2, 1, 2], "greetings");
    assert_eq!(m.count("relayed"), 6);
    // 6 MiB went to the clients; through the master only control lines.
    let (up, down) = m.relayed_bytes();
    assert!(up > 0 && down > 0, "nothing relayed? {up} {down}");
    assert!(up + down < 16 * 1024, "data passed the master: {up} + {down} bytes");
    assert!(s1.log_text().contains("relayed by the master"), "{}", s1.log_text());
}

/// Both slaves serve one root: what a client uploads through the master
/// on one slave, the next client downloads through the master from the
/// other.
#[test]
fn an_upload_through_one_slave_is_downloaded_from_the_other() {
    let (root, _) = shared_root(10);
    let m = Master::start(&[]);
    let _slaves = Slaves::start(m.registry, 2, "127.0.0.1", root.path(), &["--", "--write"]);
    m.wait_slaves(&[1, 2], READY);
    let content = crate::util::pseudo_random(700_000, 42);
    let (mut up, g1) = m.connect();
    up.login("anonymous", "x");
    assert_eq!(up.put_with("STOR shared.bin", &content).code.0, 226);
    up.quit();
    let (mut down, g2) = m.connect();
    assert_ne!(Ftp::slave_id(&g1), Ftp::slave_id(&g2), "both clients reached the same slave");
    down.login("anonymous", "x");
    assert_eq!(sha256(&down.retr("shared.bin")), sha256(&content));
    down.quit();
}

/// A dead slave is skipped without the clients noticing; started again, it
/// takes its turn again.
#[test]
fn a_killed_slave_is_skipped_and_rejoins_when_started_again() {
    let (root, big) = shared_root(100_000);
    let m = Master::start(&[]);
    let _s1 = SlaveServer::start("127.0.0.1", m.registry, 1, root.path(), &[]);
    let mut s2 = SlaveServer::start_restartable("127.0.0.1", m.registry, 2, root.path(), &[]);
    m.wait_slaves(&[1, 2], READY);
    s2.kill_pool();
    // At once (the master may not even have noticed): every client is served.
    for i in 0..4 {
        let (mut f, g) = m.connect();
        assert_eq!(Ftp::slave_id(&g), 1, "client {i}");
        f.login("anonymous", "x");
        assert_eq!(f.retr("big.bin"), big);
        f.quit();
    }
    m.wait_slaves(&[1], READY);
    assert!(m.log_text().contains("slave 2 lost"), "{}", m.log_text());
    s2.restart();
    m.wait_slaves(&[1, 2], READY);
    let mut seen: Vec<u32> = (0..4)
        .map(|_| {
            let (mut f, g) = m.connect();
            f.login("anonymous", "x");
            assert_eq!(f.retr("hello.txt"), b"hello world\n");
            Ftp::slave_id(&g)
        })
        .collect();
    seen.sort();
    assert_eq!(seen, [1, 1, 2, 2], "slave 2 is back in the rotation");
}

/// A slave that stops (SIGSTOP: its sockets stay open, nothing answers) is
/// dropped when its heartbeats stop, and the client offered to it goes to
/// the other slave; continued, it registers again and takes its turn.
#[test]
fn a_stopped_slave_is_skipped_and_rejoins_when_continued() {
    let (root, _) = shared_root(10);
    let m = Master::start(&[]);
    let _s1 = SlaveServer::start("127.0.0.1", m.registry, 1, root.path(), &[]);
    let s2 = SlaveServer::start("127.0.0.1", m.registry, 2, root.path(), &[]);
    m.wait_slaves(&[1, 2], READY);
    let stopped = Stopped::pool(&s2);
    let started = Instant::now();
    for i in 0..4 {
        let (mut f, g) = m.connect();
        assert_eq!(Ftp::slave_id(&g), 1, "client {i}");
        f.login("anonymous", "x");
        assert_eq!(f.retr("hello.txt"), b"hello world\n");
    }
    // Within the heartbeat timeout, plus slack for a loaded machine.
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    assert!(m.log_text().contains("slave 2 lost: no heartbeat"), "{}", m.log_text());
    drop(stopped);
    m.wait_slaves(&[1, 2], READY);
    let mut seen: Vec<u32> = (0..4).map(|_| Ftp::slave_id(&m.connect().1)).collect();
    seen.sort();
    assert_eq!(seen, [1, 1, 2, 2]);
}

/// The same for relayed slaves; and with every slave gone, 421.
#[test]
fn relayed_slaves_that_die_are_skipped_and_without_any_clients_get_421() {
    let (root, _) = shared_root(10);
    let (m, mut s1, mut s2, _keys) = relayed_cluster(&root, &[]);
    s1.kill_pool();
    for _ in 0..3 {
        let (mut f, g) = m.connect();
        assert_eq!(Ftp::slave_id(&g), 2);
        f.login("anonymous", "x");
        assert_eq!(f.retr("hello.txt"), b"hello world\n");
    }
    s2.kill_pool();
    // RFC 959 4.2: 421, service not available, closing control connection.
    let mut s = Ftp::from_stream(TcpStream::connect(m.addr).unwrap());
    let r = s.reply();
    assert_eq!(r.code.0, 421, "{r:?}");
    assert!(r.text().starts_with("Service not available"), "{r:?}");
    s.expect_eof();
    assert_eq!(m.count("refused"), 1);
}

/// ftpslaves restarts a slave that dies; a restarted master gets its
/// slaves back on their own; stopping ftpslaves stops every slave, and
/// then clients are told 421.
#[test]
fn slaves_come_back_to_a_restarted_master_and_ftpslaves_leaves_no_orphan() {
    let (root, big) = shared_root(20_000);
    let mut m = Master::start_restartable(&[]);
    let mut slaves = Slaves::start(m.registry, 2, "127.0.0.1", root.path(), &[]);
    m.wait_slaves(&[1, 2], READY);
    // A slave killed under ftpslaves is started again.
    let before = slaves.slave_pids();
    assert_eq!(before.len(), 2, "{before:?}");
    signal_pid(before[0], Signal::SIGKILL);
    assert!(
        wait_until(READY, || slaves.log_text().contains("died") && {
            let now = slaves.slave_pids();
            now.len() == 2 && !now.contains(&before[0])
        }),
        "not restarted: {}",
        slaves.log_text()
    );
    m.wait_slaves(&[1, 2], READY);

    // The master restarts on the same ports: the slaves register again.
    m.kill();
    let started = Instant::now();
    m.restart();
    let m2 = m;
    m2.wait_slaves(&[1, 2], Duration::from_secs(10));
    eprintln!("slaves back {:.1}s after the master restarted", started.elapsed().as_secs_f64());
    for _ in 0..2 {
        let (mut f, _) = m2.connect();
        f.login("anonymous", "x");
        assert_eq!(f.retr("big.bin"), big);
    }

    // Stopping ftpslaves stops its slaves, and their workers.
    let pools = slaves.slave_pids();
    let workers: Vec<i32> = pools.iter().flat_map(|p| children_of(*p)).collect();
    assert!(!workers.is_empty());
    slaves.daemon.signal(Signal::SIGTERM);
    let st = slaves.daemon.wait_exit(Duration::from_secs(15)).expect("ftpslaves exits");
    assert!(st.success(), "{st:?}");
    assert!(wait_until(Duration::from_secs(10), || pools.iter().chain(&workers).all(|p| !alive(*p))), "orphans left");
    m2.wait_slaves(&[], Duration::from_secs(10));
    let mut s = Ftp::from_stream(TcpStream::connect(m2.addr).unwrap());
    assert_eq!(s.reply().code.0, 421);
    s.expect_eof();
}

/// Reads the registry's challenge from a raw connection.
fn challenge(registry: SocketAddr, from: &str) -> (TcpStream, [u8; 16]) {
    let s = connect_from(from, registry);
    let mut line = String::new();
    BufReader::new(s.try_clone().unwrap()).read_line(&mut line).unwrap();
    match wire::parse_master_line(line.trim_end().as_bytes()) {
        Ok(MasterLine::Challenge(n)) => (s, n),
        other => panic!("{line:?}: {other:?}"),
    }
}

/// Sends a line, returns the master's answer line ("" when it closed; no
/// answer before the read deadline fails the test).
fn ask(s: &mut TcpStream, line: &str) -> String {
    s.write_all(line.as_bytes()).unwrap();
    let mut answer = String::new();
    match BufReader::new(s.try_clone().unwrap()).read_line(&mut answer) {
        Ok(_) => answer,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => answer,
        Err(e) => panic!("no answer to {line:.40?}: {e}"),
    }
}

#[test]
fn a_registration_with_a_wrong_key_or_garbage_is_refused() {
    let keys = TempDir::new("keys");
    let key = key_file(&keys, KEY);
    let m = Master::start(&["--key-file", key.to_str().unwrap()]);
    let reg = Register { id: 7, addr: addr("127.0.0.2", 2107), handoff: None };
    let wrong = ClusterKey::new(b"another-key-0123456789").unwrap();
    let (mut s, nonce) = challenge(m.registry, "127.0.0.2");
    let answer = ask(&mut s, &reg.encode(&nonce, Some(&wrong)));
    assert!(answer.starts_with("ERR authentication failed"), "{answer:?}");
    let (mut s, nonce) = challenge(m.registry, "127.0.0.2");
    assert!(ask(&mut s, &reg.encode(&nonce, None)).starts_with("ERR "), "an unsigned registration");
    // A MAC for another nonce (a replay) is worthless.
    let (mut s, _) = challenge(m.registry, "127.0.0.2");
    assert!(ask(&mut s, &reg.encode(&[0; 16], Some(&ClusterKey::new(KEY.as_bytes()).unwrap()))).starts_with("ERR "));
    for garbage in ["HELLO\n".to_string(), "REGISTER id=1\n".into(), format!("{}\n", "x".repeat(5000)), "\0\n".into()] {
        let (mut s, _) = challenge(m.registry, "127.0.0.2");
        let answer = ask(&mut s, &garbage);
        assert!(answer.starts_with("ERR "), "{garbage:.20?}: {answer:?}");
    }
    assert_eq!(m.live_slaves(), Vec::<u32>::new());
    // A real slave with the wrong key is refused too, and says so.
    let wrong_file = key_file(&keys, "another-key-0123456789");
    let (root, _) = shared_root(10);
    let s = SlaveServer::start("127.0.0.2", m.registry, 3, root.path(), &["--key-file", wrong_file.to_str().unwrap()]);
    assert!(wait_until(READY, || s.log_text().contains("refused: authentication failed")), "{}", s.log_text());
    // The right key works, and the master survived all of the above.
    let (mut s, nonce) = challenge(m.registry, "127.0.0.2");
    assert_eq!(ask(&mut s, &reg.encode(&nonce, Some(&ClusterKey::new(KEY.as_bytes()).unwrap()))), "OK relay\n");
    assert_eq!(m.live_slaves(), [7]);
    drop(s);
    m.wait_slaves(&[], READY);
}

/// Without a cluster key, only slaves of the master's own host register.
#[test]
fn without_a_key_the_registry_takes_only_its_own_host() {
    let m = Master::start(&[]);
    let reg = Register { id: 1, addr: addr("127.0.0.2", 2101), handoff: None };
    let (mut s, nonce) = challenge(m.registry, "127.0.0.2");
    let answer = ask(&mut s, &reg.encode(&nonce, None));
    assert!(answer.starts_with("ERR this master has no cluster key"), "{answer:?}");
    let (mut s, nonce) = challenge(m.registry, "127.0.0.1");
    assert_eq!(ask(&mut s, &reg.encode(&nonce, None)), "OK relay\n");
}

#[test]
fn a_proxy_header_from_a_peer_that_is_not_the_master_is_refused() {
    let (root, _) = shared_root(10);
    let (m, s1, _s2, _keys) = relayed_cluster(&root, &[]);
    // 127.0.0.5 is not the master: greeted as a client, and its PROXY line
    // is refused (it would pass for 203.0.113.9).
    let mut c = connect_from("127.0.0.5", s1.addr);
    let mut r = BufReader::new(c.try_clone().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.starts_with("220 forkftp slave 1"), "{line:?}");
    c.write_all(b"PROXY TCP4 203.0.113.9 127.0.0.2 5555 21\r\n").unwrap();
    line.clear();
    r.read_line(&mut line).unwrap();
    assert_eq!(line, "421 PROXY header refused: only a trusted proxy may send one.\r\n");
    assert!(r.buffer().is_empty(), "{:?}", String::from_utf8_lossy(r.buffer()));
    expect_closed(&mut c, "a foreign PROXY header");
    // From the master's address, a broken header closes the connection
    // without a greeting.
    let mut c = connect_from("127.0.0.1", s1.addr);
    c.write_all(b"PROXY TCP4 nonsense\r\n").unwrap();
    expect_closed(&mut c, "a broken PROXY header from the master's address");
    // Through the master, a client cannot smuggle its own header either.
    let (mut f, _) = m.connect();
    assert_eq!(f.code("PROXY TCP4 203.0.113.9 127.0.0.1 5555 21"), 421);
    let log = s1.log_text();
    assert!(log.contains("127.0.0.5") && log.contains("refused"), "{log}");
    assert!(!log.contains("203.0.113.9"), "{log}");
}

fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().expect("run");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// curl and lftp through a master that passes sockets: nothing special.
#[test]
fn curl_and_lftp_work_through_a_same_host_master() {
    let (root, big) = shared_root(200_000);
    let m = Master::start(&[]);
    let _slaves = Slaves::start(m.registry, 2, "127.0.0.1", root.path(), &["--", "--write"]);
    m.wait_slaves(&[1, 2], READY);
    let out = TempDir::new("clients");
    let url = format!("ftp://127.0.0.1:{}", m.addr.port());
    let got = out.join("curl.bin");
    let (ok, _, err) =
        run(Command::new("curl").args(["-sS", "--max-time", "60", "-o"]).arg(&got).arg(format!("{url}/big.bin")));
    assert!(ok, "{err}");
    assert_eq!(std::fs::read(&got).unwrap(), big);
    let up = out.join("up.txt");
    std::fs::write(&up, b"from curl\n").unwrap();
    let (ok, _, err) =
        run(Command::new("curl").args(["-sS", "--max-time", "60", "-T"]).arg(&up).arg(format!("{url}/up.txt")));
    assert!(ok, "{err}");
    assert_eq!(std::fs::read(root.join("up.txt")).unwrap(), b"from curl\n");
    let lftp_out = out.join("lftp.bin");
    let script =
        format!("set net:max-retries 1; set net:timeout 20; get big.bin -o {}; cls -1; quit", lftp_out.display());
    let (ok, stdout, err) =
        run(Command::new("lftp").args(["-p", &m.addr.port().to_string(), "-e", &script, "127.0.0.1"]));
    assert!(ok, "{err}");
    assert!(stdout.contains("hello.txt") && stdout.contains("up.txt"), "{stdout}");
    assert_eq!(std::fs::read(&lftp_out).unwrap(), big);
}

/// curl and lftp through a relaying master. curl tries EPSV, is refused
/// and falls back to PASV; since 7.74 it ignores the address of a PASV
/// reply unless told (`--no-ftp-skip-pasv-ip`). lftp replaces any PASV
/// address in 127/8 other than 127.0.0.1 (our stand-ins for other hosts),
/// so here it goes active (PORT), which the slave makes to the client's
/// real address from the PROXY header.
#[test]
fn curl_and_lftp_work_through_a_relaying_master() {
    let (root, big) = shared_root(200_000);
    let (m, _s1, _s2, _keys) = relayed_cluster(&root, &[]);
    let out = TempDir::new("clients");
    let url = format!("ftp://127.0.0.1:{}", m.addr.port());
    for i in 0..2 {
        let got = out.join(&format!("curl{i}.bin"));
        let (ok, _, err) = run(Command::new("curl")
            .args(["-sS", "-v", "--no-ftp-skip-pasv-ip", "--max-time", "60", "-o"])
            .arg(&got)
            .arg(format!("{url}/big.bin")));
        assert!(ok, "{err}");
        assert!(err.contains("< 502") && err.contains("> PASV"), "{err}");
        assert_eq!(std::fs::read(&got).unwrap(), big);
    }
    let lftp_out = out.join("lftp.bin");
    let script = format!(
        "set ftp:passive-mode off; set net:max-retries 1; set net:timeout 20; get big.bin -o {}; cls -1; quit",
        lftp_out.display()
    );
    let (ok, stdout, err) =
        run(Command::new("lftp").args(["-p", &m.addr.port().to_string(), "-e", &script, "127.0.0.1"]));
    assert!(ok, "{err}");
    assert!(stdout.contains("hello.txt"), "{stdout}");
    assert_eq!(std::fs::read(&lftp_out).unwrap(), big);
    assert!(m.relayed_bytes().0 + m.relayed_bytes().1 < 16 * 1024);
}

#[test]
fn two_hundred_concurrent_clients_through_the_master_all_succeed() {
    const N: usize = 200;
    let (root, big) = shared_root(64 * 1024);
    // On 127.0.0.7 (master, slaves) and 127.0.0.8 (clients): the 600
    // sockets of this test take no port of 127.0.0.1, where the other
    // tests connect. The master relays every client from 127.0.0.7: no
    // per-address limit on the slaves.
    let m = Master::start_on("127.0.0.7", "127.0.0.7", &[]);
    let _slaves = Slaves::start(
        m.registry,
        2,
        "127.0.0.7",
        root.path(),
        &["--", "--workers", "16", "--min-spare", "8", "--max-per-ip", "0"],
    );
    m.wait_slaves(&[1, 2], READY);
    // Everyone holds a session at the same time (bounded: a client that
    // failed to connect does not hold the others forever).
    let connected = Arc::new(AtomicUsize::new(0));
    let expected = sha256(&big);
    let started = Instant::now();
    let handles: Vec<_> = (0..N)
        .map(|_| {
            let (a, connected, expected) = (m.addr, connected.clone(), expected.clone());
            std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || -> Result<u32, String> {
                    let (mut f, g) = Ftp::connect_greeting_from("127.0.0.8", a);
                    connected.fetch_add(1, Ordering::SeqCst);
                    wait_until(Duration::from_secs(60), || connected.load(Ordering::SeqCst) == N);
                    f.login("anonymous", "x");
                    let r = f.cmd("PASV");
                    let pasv = forkftp::protocol::address::parse_pasv_reply(&r.lines[0]).ok_or(format!("{r:?}"))?;
                    let mut data = connect_from("127.0.0.8", pasv);
                    let r = f.cmd("RETR big.bin");
                    if r.code.0 != 150 {
                        return Err(format!("RETR: {r:?}"));
                    }
                    let mut got = Vec::new();
                    data.read_to_end(&mut got).map_err(|e| format!("data: {e}"))?;
                    let r = f.reply();
                    if r.code.0 != 226 || sha256(&got) != expected {
                        return Err(format!("transfer: {r:?}, {} bytes", got.len()));
                    }
                    f.quit();
                    Ok(Ftp::slave_id(&g))
                })
                .unwrap()
        })
        .collect();
    let results: Vec<Result<u32, String>> =
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("panicked (see above)".into()))).collect();
    let failures: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(failures.is_empty(), "{} of {N} failed: {failures:?}\n{}", failures.len(), m.log_text());
    let ones = results.iter().filter(|r| matches!(r, Ok(1))).count();
    assert_eq!(ones, N / 2, "round robin");
    eprintln!("{N} concurrent clients in {:.1}s", started.elapsed().as_secs_f64());
}

/// A stand-in slave for the capacity test: registers (relay mode) and
/// greets every relayed connection, holding them open.
struct FakeSlave {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl FakeSlave {
    fn start(registry: SocketAddr) -> FakeSlave {
        let listener = TcpListener::bind(addr("127.0.0.2", 0)).unwrap();
        let me = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        let heart = std::thread::spawn(move || {
            // From the registry's own address: no key needed.
            let (mut s, nonce) = challenge(registry, &registry.ip().to_string());
            let reg = Register { id: 1, addr: me, handoff: None };
            assert_eq!(ask(&mut s, &reg.encode(&nonce, None)), "OK relay\n");
            while !st.load(Ordering::SeqCst) {
                if s.write_all(b"PING\n").is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        });
        let st = stop.clone();
        listener.set_nonblocking(true).unwrap();
        let server = std::thread::spawn(move || {
            let mut held = Vec::new();
            while !st.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((s, _)) => {
                        s.set_nonblocking(false).unwrap();
                        let h = forkftp::server::proxied::read_header(&s, Duration::from_secs(10));
                        assert!(h.is_ok(), "{h:?}");
                        (&s).write_all(b"220 fake slave ready\r\n").unwrap();
                        held.push(s);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(1)),
                }
            }
        });
        FakeSlave { stop, threads: vec![heart, server] }
    }
}

impl Drop for FakeSlave {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let r = t.join();
            // A failure in its threads fails the test (unless it is failing already).
            if !std::thread::panicking() {
                r.expect("a thread of the fake slave failed");
            }
        }
    }
}

/// Resident and proportional memory of a process, in KiB (/proc).
fn memory_kib(pid: i32) -> (u64, u64) {
    let field = |file: &str, name: &str| -> u64 {
        let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).unwrap_or_else(|e| panic!("{file}: {e}"));
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/{file}"))
    };
    (field("status", "VmRSS:"), field("smaps_rollup", "Pss:"))
}

/// One process and one thread hold 1000 relayed control connections, each
/// greeted, in little memory.
#[test]
fn the_master_holds_a_thousand_relayed_connections_in_little_memory() {
    const N: usize = 1000;
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard).unwrap();
    assert!(hard >= 3 * N as u64, "RLIMIT_NOFILE hard limit {hard} too low for this test");
    // 2000 connections: clients come from 127.0.0.4 and the master relays
    // from 127.0.0.6 (its registry address), so that none of their ports is
    // taken from 127.0.0.1, where the other tests connect.
    let m = Master::start_on("127.0.0.1", "127.0.0.6", &[]);
    let slave = FakeSlave::start(m.registry);
    m.wait_slaves(&[1], READY);
    let started = Instant::now();
    let mut clients = Vec::with_capacity(N);
    for i in 0..N {
        let s = connect_from("127.0.0.4", m.addr);
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut greeting = [0u8; 22];
        (&s).read_exact(&mut greeting).unwrap_or_else(|e| panic!("client {i}: {e}\n{}", m.log_text()));
        assert_eq!(&greeting, b"220 fake slave ready\r\n", "client {i}");
        clients.push(s);
    }
    let status = m.status();
    assert!(status.contains(&format!("{N} relayed connections open")), "{status}");
    let (rss, pss) = memory_kib(m.pid());
    eprintln!(
        "{N} relayed connections in {:.1}s; master RSS {} KiB, PSS {} KiB",
        started.elapsed().as_secs_f64(),
        rss,
        pss
    );
    assert!(rss > 0 && rss < 64 * 1024, "master RSS {rss} KiB");
    assert!(pss < 64 * 1024, "master PSS {pss} KiB");
    // The clients leave; the master passes the end on (half-close) and
    // closes each relay once the slave closes its side too.
    drop(clients);
    drop(slave);
    assert!(
        wait_until(READY, || m.status().contains(" 0 relayed connections open")),
        "connections not closed: {}",
        m.status()
    );
}

#[test]
fn ftpclient_works_through_the_master_and_names_the_slave_it_reached() {
    use crate::client::{run_c, Dirs};
    let (root, big) = shared_root(300_000);
    let m = Master::start(&[]);
    let _slaves = Slaves::start(m.registry, 2, "127.0.0.1", root.path(), &[]);
    m.wait_slaves(&[1, 2], READY);
    let mut reached = Vec::new();
    for i in 0..2 {
        let dirs = Dirs::new(&format!("via-master-{i}"));
        let out = run_c(m.addr, &dirs.local, "get big.bin; ls; bye", &[]);
        assert_eq!(out.code(), Some(0), "{}\n{}", out.stdout, out.stderr);
        assert_eq!(sha256(&std::fs::read(dirs.local.join("big.bin")).unwrap()), sha256(&big));
        // The greeting shows which slave the client reached, as the
        // original client printed it.
        let id = if out.stdout.contains("slave 1 ready") {
            1
        } else if out.stdout.contains("slave 2 ready") {
            2
        } else {
            0
        };
        assert_ne!(id, 0, "no slave named in:\n{}", out.stdout);
        reached.push(id);
    }
    assert_eq!(reached, [1, 2]);
}
