//! Listening sockets a service is given instead of binding them, and how
//! it hands its own to the binary that replaces it.
//!
//! One protocol for both, systemd's socket activation (sd_listen_fds(3)):
//! `LISTEN_PID` is the process the sockets are for, `LISTEN_FDS` how many
//! there are (from descriptor 3 on), `LISTEN_FDNAMES` their names,
//! separated by `:`. systemd sets them from a `.socket` unit
//! (`FileDescriptorName=`); an upgrade sets them for the new binary
//! ([`spawn_successor`]), which therefore starts exactly as under socket
//! activation. The variables are removed once read, so that nothing the
//! service starts takes them for its own.
//!
//! The names a program knows: [`FTP`] (the control port; also any TCP
//! socket without a name we know, so that `systemd-socket-activate -l
//! PORT` works unnamed), [`FTPS`] (implicit TLS), [`METRICS`],
//! [`STATUS`] (the status socket, Unix) and, for `ftpmaster`, [`REGISTRY`].
//! A socket nobody takes is closed, and logged.
//!
//! A binary started by an upgrade also finds the variable
//! [`UPGRADE_FD_VAR`]: the descriptor on which it tells its predecessor
//! that it is ready (`service::notify`).

use std::ffi::{CString, OsString};
use std::fs::File;
use std::io;
use std::net::TcpListener;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixListener;
use std::path::Path;

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::socket::{getsockname, getsockopt, sockopt, AddressFamily, SockaddrLike, SockaddrStorage};
use nix::unistd::Pid;

pub(crate) use super::notify::UPGRADE_FD_VAR;

/// The name of the FTP control port's socket.
pub(crate) const FTP: &str = "ftp";
/// The name of the implicit-FTPS port's socket.
pub(crate) const FTPS: &str = "ftps";
/// The name of the metrics port's socket.
pub(crate) const METRICS: &str = "metrics";
/// The name of the status socket (a Unix socket).
pub(crate) const STATUS: &str = "status";
/// The name of `ftpmaster`'s slave registry.
pub(crate) const REGISTRY: &str = "registry";
/// Names that are never taken for [`FTP`] by default.
const KNOWN: &[&str] = &[FTP, FTPS, METRICS, STATUS, REGISTRY];

const LISTEN_PID: &str = "LISTEN_PID";
const LISTEN_FDS: &str = "LISTEN_FDS";
const LISTEN_FDNAMES: &str = "LISTEN_FDNAMES";
/// The first descriptor of sd_listen_fds(3).
const FIRST_FD: RawFd = 3;
/// Most sockets taken (a service has a handful).
const MAX_INHERITED: usize = 64;

/// The sockets this process was given, by name.
#[derive(Debug, Default)]
pub(crate) struct Inherited {
    fds: Vec<(String, OwnedFd)>,
    /// The readiness pipe of an upgrade.
    pub(crate) upgrade_fd: Option<OwnedFd>,
}

/// What the environment hands over (pure): the descriptors and their
/// names, or `None` when the sockets are not for `pid`.
fn parse_env(
    pid: u32,
    listen_pid: Option<&str>,
    fds: Option<&str>,
    names: Option<&str>,
) -> Result<Vec<(RawFd, String)>, String> {
    let (Some(listen_pid), Some(fds)) = (listen_pid, fds) else { return Ok(Vec::new()) };
    if listen_pid.trim().parse::<u32>().ok() != Some(pid) {
        // Meant for another process (our parent's): not ours.
        return Ok(Vec::new());
    }
    let n: usize = fds.trim().parse().map_err(|_| format!("{LISTEN_FDS}={fds:?} is not a number"))?;
    if n > MAX_INHERITED {
        return Err(format!("{LISTEN_FDS}={n}: more than {MAX_INHERITED} sockets"));
    }
    let names: Vec<&str> = names.map(|s| s.split(':').collect()).unwrap_or_default();
    Ok((0..n).map(|i| (FIRST_FD + i as RawFd, names.get(i).copied().unwrap_or("").to_string())).collect())
}

fn is_listening_stream(fd: BorrowedFd<'_>, family: &[AddressFamily]) -> bool {
    let listening = getsockopt(&fd, sockopt::AcceptConn).unwrap_or(false);
    let stream = getsockopt(&fd, sockopt::SockType).is_ok_and(|t| t == nix::sys::socket::SockType::Stream);
    let fam = getsockname::<SockaddrStorage>(fd.as_raw_fd()).ok().and_then(|a| a.family());
    listening && stream && fam.is_some_and(|f| family.contains(&f))
}

impl Inherited {
    /// Takes the sockets (and the upgrade descriptor) the environment
    /// names for this process, and removes the variables.
    pub(crate) fn from_env() -> Result<Inherited, String> {
        let var = |k: &str| std::env::var(k).ok();
        let listed = parse_env(
            std::process::id(),
            var(LISTEN_PID).as_deref(),
            var(LISTEN_FDS).as_deref(),
            var(LISTEN_FDNAMES).as_deref(),
        )?;
        let upgrade: Option<RawFd> = match var(UPGRADE_FD_VAR) {
            Some(v) if !listed.is_empty() => Some(v.parse().map_err(|_| format!("{UPGRADE_FD_VAR}={v:?}"))?),
            _ => None,
        };
        for k in [LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES, UPGRADE_FD_VAR] {
            // Single-threaded still: nothing reads the environment meanwhile.
            std::env::remove_var(k);
        }
        let mut numbers: Vec<RawFd> = listed.iter().map(|(fd, _)| *fd).collect();
        numbers.extend(upgrade);
        let mut taken = crate::sys::take_inherited_fds(&numbers).into_iter();
        let mut out = Inherited::default();
        for (fd, name) in listed {
            match taken.next() {
                Some(Ok(owned)) => out.fds.push((name, owned)),
                Some(Err(e)) => return Err(format!("inherited descriptor {fd} ({name}): {e}")),
                None => break,
            }
        }
        if upgrade.is_some() {
            out.upgrade_fd = taken.next().transpose().map_err(|e| format!("{UPGRADE_FD_VAR}: {e}"))?;
        }
        Ok(out)
    }

    fn take(&mut self, name: &str, family: &[AddressFamily]) -> Option<OwnedFd> {
        let fits = |(n, fd): &(String, OwnedFd)| n == name && is_listening_stream(fd.as_fd(), family);
        let i = self.fds.iter().position(fits).or_else(|| {
            // The control port may come unnamed (`systemd-socket-activate
            // -l PORT`, or a .socket unit without FileDescriptorName=).
            (name == FTP).then(|| {
                self.fds
                    .iter()
                    .position(|(n, fd)| !KNOWN.contains(&n.as_str()) && is_listening_stream(fd.as_fd(), family))
            })?
        })?;
        Some(self.fds.remove(i).1)
    }

    /// The listening TCP socket named `name`, made blocking (the caller
    /// sets what it needs).
    pub(crate) fn take_tcp(&mut self, name: &str) -> Option<io::Result<TcpListener>> {
        let fd = self.take(name, &[AddressFamily::Inet, AddressFamily::Inet6])?;
        let l = TcpListener::from(fd);
        Some(l.set_nonblocking(false).map(|()| l))
    }

    /// The listening Unix socket named `name`, non-blocking.
    pub(crate) fn take_unix(&mut self, name: &str) -> Option<UnixListener> {
        let fd = self.take(name, &[AddressFamily::Unix])?;
        let l = UnixListener::from(fd);
        l.set_nonblocking(true).ok().map(|()| l)
    }

    /// Closes what no one took, saying so.
    pub(crate) fn close_rest(&mut self) {
        for (name, fd) in self.fds.drain(..) {
            log::warn!(
                "inherited socket {} (descriptor {}) is not used; closed",
                if name.is_empty() { "without a name" } else { &name },
                fd.as_raw_fd()
            );
        }
    }
}

/// A binary started by [`spawn_successor`]: its pid, and the pipe on which
/// it says it is ready (end of file: it failed, or exited).
#[derive(Debug)]
pub(crate) struct Successor {
    /// Its pid (our child).
    pub pid: Pid,
    /// The read end of its readiness pipe, non-blocking.
    pub ready: File,
}

fn cstring(b: &[u8]) -> io::Result<CString> {
    CString::new(b).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in an argument"))
}

/// Starts `exe` with the command line `argv` (its name first), handing it
/// `sockets` by name as socket activation does, and a pipe on which it
/// says it is ready. Must be called from a single-threaded process (it
/// forks, and the child builds its environment before `exec`).
pub(crate) fn spawn_successor(
    exe: &Path,
    argv: &[OsString],
    sockets: &[(&str, BorrowedFd<'_>)],
) -> io::Result<Successor> {
    let path = cstring(exe.as_os_str().as_bytes())?;
    let args: Vec<CString> = argv.iter().map(|a| cstring(a.as_bytes())).collect::<io::Result<_>>()?;
    let ours = [LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES, UPGRADE_FD_VAR];
    let mut env: Vec<CString> = std::env::vars_os()
        .filter(|(k, _)| !ours.iter().any(|o| k == o))
        .map(|(k, v)| cstring(&[k.as_bytes(), b"=", v.as_bytes()].concat()))
        .collect::<io::Result<_>>()?;
    let n = sockets.len();
    let names: Vec<&str> = sockets.iter().map(|(name, _)| *name).collect();
    env.push(cstring(format!("{LISTEN_FDS}={n}").as_bytes())?);
    env.push(cstring(format!("{LISTEN_FDNAMES}={}", names.join(":")).as_bytes())?);
    env.push(cstring(format!("{UPGRADE_FD_VAR}={}", FIRST_FD + n as RawFd).as_bytes())?);
    let (ready_r, ready_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    let mut sources: Vec<RawFd> = sockets.iter().map(|(_, fd)| fd.as_raw_fd()).collect();
    sources.push(ready_w.as_raw_fd());
    match crate::sys::fork()? {
        crate::sys::Forked::Child => {
            // In the child: copies of the sockets above the range they go
            // to (a source may stand where another must go), then into
            // 3, 4, ... without close-on-exec, then exec.
            let above = FIRST_FD + sources.len() as RawFd + 1;
            let result = (|| -> nix::Result<()> {
                // A process group of its own: if it fails, the supervisor
                // kills the group, whatever it started included.
                nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0))?;
                let mut temps = Vec::with_capacity(sources.len());
                for &fd in &sources {
                    temps.push(fcntl(fd, FcntlArg::F_DUPFD_CLOEXEC(above))?);
                }
                for (i, &t) in temps.iter().enumerate() {
                    nix::unistd::dup2(t, FIRST_FD + i as RawFd)?;
                }
                env.push(CString::new(format!("{LISTEN_PID}={}", std::process::id())).expect("no NUL"));
                nix::unistd::execve(&path, &args, &env).map(drop)
            })();
            if let Err(e) = result {
                eprintln!("upgrade: cannot start {}: {e}", exe.display());
            }
            std::process::exit(127);
        }
        crate::sys::Forked::Parent(pid) => {
            drop(ready_w);
            let ready = File::from(ready_r);
            nix::fcntl::fcntl(ready.as_raw_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK))?;
            Ok(Successor { pid, ready })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_names_sockets_from_descriptor_3() {
        let got = parse_env(42, Some("42"), Some("2"), Some("ftp:metrics")).unwrap();
        assert_eq!(got, [(3, "ftp".to_string()), (4, "metrics".to_string())]);
        let unnamed = parse_env(42, Some("42"), Some("1"), None).unwrap();
        assert_eq!(unnamed, [(3, String::new())]);
    }

    #[test]
    fn sockets_for_another_process_are_not_ours() {
        assert!(parse_env(42, Some("41"), Some("2"), None).unwrap().is_empty());
        assert!(parse_env(42, None, Some("2"), None).unwrap().is_empty());
        assert!(parse_env(42, Some("42"), Some("x"), None).is_err());
        assert!(parse_env(42, Some("42"), Some("100000"), None).is_err());
    }
}
