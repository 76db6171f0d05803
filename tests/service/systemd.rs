//! systemd: socket activation through `systemd-socket-activate` (Debian's
//! `systemd` package), and the readiness protocol through a datagram
//! socket the test owns, as `NOTIFY_SOCKET`.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::UnixDatagram;

use nix::sys::signal::Signal;

use super::FTPSERVER;
use crate::util::daemon::Daemon;
use crate::util::ports::{connect_when_bound, reserve_ports};
use crate::util::server::{listening_addr, LISTENING};
use crate::util::{Ftp, Server, TempDir, READY};

/// `systemd-socket-activate`, which .ci/run installs (Debian: systemd).
const ACTIVATE: &str = "systemd-socket-activate";

#[test]
fn socket_activation_serves_on_the_sockets_systemd_hands_over() {
    let root = TempDir::new("activated-root");
    std::fs::write(root.join("hello.txt"), b"hello world\n").unwrap();
    crate::util::give_to_worker_user(root.path());
    let ports = reserve_ports("127.0.0.1", 2);
    let (port, metrics_port) = (ports.port(1), ports.port(2));
    let metrics = format!("127.0.0.1:{metrics_port}");
    let args: Vec<String> = [
        "-l",
        &format!("127.0.0.1:{port}"),
        "-l",
        &metrics,
        "--fdname=ftp:metrics",
        FTPSERVER,
        "--root",
        root.path().to_str().unwrap(),
        // Not used: the socket handed over is.
        "--listen",
        "127.0.0.1:1",
        "--metrics",
        &metrics,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut d = Daemon::spawn(ACTIVATE, &args, "activate");
    // systemd-socket-activate starts the server on the first connection,
    // which waits in the socket's backlog meanwhile.
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let first = std::thread::spawn(move || connect_when_bound(addr));
    let line = d.wait_for_line(LISTENING);
    assert_eq!(listening_addr(&line), addr, "the socket systemd made, not --listen");
    assert!(d.log_text().contains("a socket handed over by systemd"), "{}", d.log_text());
    let mut f = Ftp::from_stream(first.join().unwrap());
    assert_eq!(f.reply().code.0, 220);
    f.login("anonymous", "a@b");
    assert_eq!(f.retr("hello.txt"), b"hello world\n");
    f.quit();
    // The status socket is named after the address systemd bound.
    let status = crate::util::status_command(FTPSERVER, addr);
    assert!(status.starts_with(&format!("forkftp on {addr}:")), "{status}");
    // The second socket, named "metrics", serves the metrics.
    let (code, body) = super::metrics::get(metrics.parse().unwrap(), "/health");
    assert_eq!(code, 200, "{body}");
    assert!(!d.log_text().contains("is not used; closed"), "{}", d.log_text());
}

/// The next datagram on `sock`, as text.
fn next_message(sock: &UnixDatagram) -> String {
    let mut buf = [0u8; 4096];
    let n = sock.recv(&mut buf).expect("a notification within the reply wait");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn readiness_reload_and_stop_are_told_to_notify_socket() {
    let dir = TempDir::new("notify");
    let path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(READY)).unwrap();
    let mut s = Server::start_program(FTPSERVER, |_| {}, &[], &[("NOTIFY_SOCKET", path.to_str().unwrap())]);
    let ready = next_message(&sock);
    assert!(ready.starts_with(&format!("READY=1\nMAINPID={}\nSTATUS=serving on {}: ", s.pid(), s.addr)), "{ready:?}");
    s.signal(Signal::SIGHUP);
    let reloading = next_message(&sock);
    assert!(reloading.starts_with("RELOADING=1\nMONOTONIC_USEC="), "{reloading:?}");
    assert!(next_message(&sock).starts_with("READY=1\n"));
    s.signal(Signal::SIGTERM);
    assert!(next_message(&sock).starts_with("STOPPING=1\n"));
    assert!(s.wait_exit(READY).is_some());
    // An abstract name (`@name`) works too.
    let name = format!("forkftp-test-notify-{}", std::process::id());
    let abs =
        UnixDatagram::bind_addr(&std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap()).unwrap();
    abs.set_read_timeout(Some(READY)).unwrap();
    let s = Server::start_program(FTPSERVER, |_| {}, &[], &[("NOTIFY_SOCKET", &format!("@{name}"))]);
    assert!(next_message(&abs).starts_with(&format!("READY=1\nMAINPID={}\n", s.pid())));
}

#[test]
fn ftpmaster_takes_its_client_and_registry_sockets_from_systemd() {
    let ports = reserve_ports("127.0.0.1", 2);
    let (clients, registry) = (format!("127.0.0.1:{}", ports.port(1)), format!("127.0.0.1:{}", ports.port(2)));
    let args: Vec<String> = ["-l", &clients, "-l", &registry, "--fdname=ftp:registry", super::FTPMASTER]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut d = Daemon::spawn(ACTIVATE, &args, "activate-master");
    // Started on the first connection, which waits in the backlog meanwhile.
    let addr: std::net::SocketAddr = clients.parse().unwrap();
    let first = std::thread::spawn(move || connect_when_bound(addr));
    let line = d.wait_for_line("forkftp master: clients on ");
    assert!(line.contains(&format!("clients on {clients}, slaves register on {registry}")), "{line}");
    // No slave: the waiting client is told so.
    let mut f = Ftp::from_stream(first.join().unwrap());
    assert_eq!(f.reply().code.0, 421);
}
