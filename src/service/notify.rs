//! systemd's readiness protocol (sd_notify(3)), without libsystemd: when
//! systemd starts a `Type=notify` service it sets `NOTIFY_SOCKET` to a Unix
//! datagram socket (a path, or an abstract name written with a leading
//! `@`), and each change of state is one datagram of `KEY=VALUE` lines:
//!
//! - `READY=1` once the service serves (with `MAINPID=`, so that a binary
//!   started by an upgrade becomes the service's main process);
//! - `RELOADING=1` and `MONOTONIC_USEC=` when it starts reading its
//!   configuration again, then `READY=1` when done;
//! - `STOPPING=1` when it starts to stop;
//! - `STATUS=` a line for `systemctl status`.
//!
//! A binary started by an upgrade also tells its predecessor that it is
//! ready, on the descriptor named by [`UPGRADE_FD_VAR`] (see
//! `service::sockets`). Nothing here is fatal: a lost notification is
//! logged, and the service goes on.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr as UnixAddr, UnixDatagram};

/// The variable systemd sets to its notification socket.
pub(crate) const NOTIFY_SOCKET_VAR: &str = "NOTIFY_SOCKET";

/// The variable naming the descriptor on which a binary started by an
/// upgrade says `READY` to the binary it replaces.
pub(crate) const UPGRADE_FD_VAR: &str = "FORKFTP_UPGRADE_FD";

/// What the predecessor reads on that descriptor once the new binary
/// serves.
pub(crate) const UPGRADE_READY: &[u8] = b"READY\n";

/// Where the state changes of this process are told.
#[derive(Debug, Default)]
pub(crate) struct Notifier {
    /// systemd's socket, when started by it.
    systemd: Option<UnixAddr>,
    /// The predecessor's readiness pipe, when started by an upgrade
    /// (written once, then closed).
    upgrade: Option<File>,
}

/// The address in `NOTIFY_SOCKET`: a path, or `@name` for an abstract one.
fn notify_addr(value: &str) -> io::Result<UnixAddr> {
    match value.strip_prefix('@') {
        Some(name) => UnixAddr::from_abstract_name(name.as_bytes()),
        None if value.starts_with('/') => UnixAddr::from_pathname(value),
        None => Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{NOTIFY_SOCKET_VAR}={value:?}"))),
    }
}

/// The `READY=1` datagram.
pub(crate) fn ready_message(pid: u32, status: &str) -> String {
    format!("READY=1\nMAINPID={pid}\nSTATUS={}\n", one_line(status))
}

/// The `RELOADING=1` datagram (`MONOTONIC_USEC` is required by systemd's
/// `Type=notify-reload`, and harmless elsewhere).
pub(crate) fn reloading_message(monotonic_usec: u64) -> String {
    format!("RELOADING=1\nMONOTONIC_USEC={monotonic_usec}\nSTATUS=reloading the configuration\n")
}

/// The `STOPPING=1` datagram.
pub(crate) fn stopping_message(status: &str) -> String {
    format!("STOPPING=1\nSTATUS={}\n", one_line(status))
}

/// A status text cannot span lines: each line is a field.
fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

fn monotonic_usec() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map_or(0, |t| t.tv_sec() as u64 * 1_000_000 + t.tv_nsec() as u64 / 1000)
}

impl Notifier {
    /// Reads `NOTIFY_SOCKET` (left set: a binary started by an upgrade
    /// needs it too), and takes the upgrade descriptor `upgrade_fd`, if
    /// this binary was started by an upgrade.
    pub(crate) fn from_env(upgrade_fd: Option<OwnedFd>) -> Notifier {
        let systemd = std::env::var(NOTIFY_SOCKET_VAR).ok().and_then(|v| {
            notify_addr(&v).map_err(|e| log::warn!("{NOTIFY_SOCKET_VAR}: {e}; systemd will not be told")).ok()
        });
        Notifier { systemd, upgrade: upgrade_fd.map(File::from) }
    }

    fn send(&self, msg: &str) {
        let Some(addr) = &self.systemd else { return };
        let sent = UnixDatagram::unbound().and_then(|s| s.send_to_addr(msg.as_bytes(), addr));
        if let Err(e) = sent {
            log::warn!("{NOTIFY_SOCKET_VAR}: {e}; systemd was not told {:?}", msg.lines().next().unwrap_or(""));
        }
    }

    /// The service serves: tells systemd, and the binary this one replaces.
    pub(crate) fn ready(&mut self, status: &str) {
        self.send(&ready_message(std::process::id(), status));
        if let Some(mut pipe) = self.upgrade.take() {
            if let Err(e) = pipe.write_all(UPGRADE_READY) {
                log::warn!("could not tell the previous binary that this one is ready: {e}");
            }
        }
    }

    /// The configuration is being read again.
    pub(crate) fn reloading(&self) {
        self.send(&reloading_message(monotonic_usec()));
    }

    /// The service stops.
    pub(crate) fn stopping(&self, status: &str) {
        self.send(&stopping_message(status));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_newline_separated_assignments() {
        assert_eq!(ready_message(42, "8 workers\nidle"), "READY=1\nMAINPID=42\nSTATUS=8 workers idle\n");
        assert!(reloading_message(7).starts_with("RELOADING=1\nMONOTONIC_USEC=7\n"));
        assert_eq!(stopping_message("bye"), "STOPPING=1\nSTATUS=bye\n");
    }

    #[test]
    fn addresses_are_paths_or_abstract_names() {
        assert!(notify_addr("/run/systemd/notify").unwrap().as_pathname().is_some());
        assert_eq!(notify_addr("@sd-notify").unwrap().as_abstract_name(), Some(&b"sd-notify"[..]));
        assert!(notify_addr("relative").is_err());
    }

    #[test]
    fn a_test_owned_socket_receives_the_datagrams() {
        let dir = std::env::temp_dir().join(format!("forkftp-notify-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("notify");
        let _ = std::fs::remove_file(&path);
        let sock = UnixDatagram::bind(&path).unwrap();
        sock.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        let mut n = Notifier { systemd: Some(notify_addr(path.to_str().unwrap()).unwrap()), upgrade: None };
        n.ready("serving");
        let mut buf = [0u8; 512];
        let len = sock.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], ready_message(std::process::id(), "serving").as_bytes());
        n.stopping("bye");
        let len = sock.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"STOPPING=1\nSTATUS=bye\n");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
