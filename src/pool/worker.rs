//! A worker: loops on `accept()` on the shared listening socket and serves
//! one client at a time, recording its state in its scoreboard slot.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};

use std::os::fd::AsFd;

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::signal::Signal;

use super::scoreboard::{Scoreboard, State};
use crate::limits::{ACCEPT_PAUSE, ACCEPT_WAKEUP, REFUSAL_WRITE_TIMEOUT};
use crate::protocol::address::canonical;
use crate::server::config::ServerConfig;
use crate::server::connection;
use crate::server::error::FtpError;
use crate::server::intake::{Arrival, Intake, Listening, Via};
use crate::server::proxied;
use crate::sys;

/// Everything a worker needs, inherited from the supervisor at fork.
pub struct WorkerCtx<'a> {
    /// The shared listening socket.
    pub listener: &'a TcpListener,
    /// The configuration of its generation.
    pub cfg: &'a ServerConfig,
    /// The scoreboard.
    pub board: &'a Scoreboard,
    /// Wakes the supervisor when spares run short (issue 15).
    pub alarm: &'a super::burst::Alarm,
    /// Its own slot.
    pub slot: usize,
    /// The supervisor's pid (to notice if it died before PR_SET_PDEATHSIG).
    pub parent: nix::unistd::Pid,
    /// Where clients come from: the listener, or the master too.
    pub intake: &'a dyn Intake,
    /// The user and group to become before serving anyone (started as root).
    pub drop_to: Option<(nix::unistd::Uid, nix::unistd::Gid)>,
    /// The implicit-FTPS socket (non-blocking, as the listener then is).
    pub implicit: Option<&'a TcpListener>,
}

/// A worker's wait for a client on both the listener and the implicit-FTPS
/// socket (both non-blocking). An epoll set made once per worker, each
/// socket in it with `EPOLLEXCLUSIVE`: a client wakes one idle worker, as a
/// blocking `accept` does, not every idle worker of the pool (`poll` on a
/// shared listener wakes them all, for one `accept` to win).
struct Either<'a> {
    epoll: Epoll,
    listener: &'a TcpListener,
    implicit: &'a TcpListener,
}

/// The epoll tokens of [`Either`]'s sockets.
const PLAIN: u64 = 0;
const TLS: u64 = 1;

impl<'a> Either<'a> {
    fn new(listener: &'a TcpListener, implicit: &'a TcpListener) -> std::io::Result<Self> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        let flags = EpollFlags::EPOLLIN | EpollFlags::EPOLLEXCLUSIVE;
        epoll.add(listener.as_fd(), EpollEvent::new(flags, PLAIN))?;
        epoll.add(implicit.as_fd(), EpollEvent::new(flags, TLS))?;
        Ok(Either { epoll, listener, implicit })
    }

    /// Waits for a client, at most [`ACCEPT_WAKEUP`]; another worker
    /// taking the client first costs nothing (`Ok(None)`).
    fn accept(&self, intake: &dyn Intake) -> std::io::Result<Option<Arrival>> {
        let mut events = [EpollEvent::empty(); 2];
        let n = self.epoll.wait(&mut events, EpollTimeout::try_from(ACCEPT_WAKEUP).unwrap_or(EpollTimeout::NONE))?;
        let ready = |token| events[..n].iter().any(|e| e.data() == token);
        if ready(TLS) {
            // A plain pool's accept, the arrival marked as implicit TLS.
            match Listening.accept(self.implicit) {
                Ok(a) => return Ok(a.map(|a| Arrival { via: Via::ImplicitTls, ..a })),
                Err(e) if crate::net::would_block(&e) => {}
                Err(e) => return Err(e),
            }
        }
        if ready(PLAIN) {
            return intake.accept(self.listener);
        }
        Ok(None)
    }
}

/// Becomes `uid`/`gid` for good: supplementary groups, group, then user.
pub(super) fn drop_privileges(uid: nix::unistd::Uid, gid: nix::unistd::Gid) -> nix::Result<()> {
    nix::unistd::setgroups(&[gid])?;
    nix::unistd::setresgid(gid, gid, gid)?;
    nix::unistd::setresuid(uid, uid, uid)
}

/// Sends a one-line refusal and closes (overload, per-address limit).
pub fn refuse(mut stream: TcpStream, why: &FtpError) {
    let _ = stream.set_write_timeout(Some(REFUSAL_WRITE_TIMEOUT));
    let _ = stream.write_all(&why.reply().encode());
}

/// The worker's life. Returns the exit code.
pub fn run(ctx: WorkerCtx<'_>) -> i32 {
    use std::os::fd::AsRawFd;
    if let Err(e) = sys::close_listener_on_retire(ctx.listener.as_raw_fd()).and_then(|_| sys::install_worker_signals())
    {
        log::error!("worker {}: signals: {e}", std::process::id());
        return 1;
    }
    // Security: drop root before reading any client byte, and never serve
    // a client as root.
    if let Some((uid, gid)) = ctx.drop_to {
        if let Err(e) = drop_privileges(uid, gid) {
            log::error!("worker {}: cannot drop privileges: {e}", std::process::id());
            return 1;
        }
    }
    if nix::unistd::geteuid().is_root() {
        log::error!("worker {}: refusing to serve clients as root", std::process::id());
        return 1;
    }
    // If the supervisor dies (even by SIGKILL), the kernel stops us too
    // (set after the uid change, which clears it).
    if sys::die_with_parent(Signal::SIGTERM).is_err() || nix::unistd::getppid() != ctx.parent {
        return 0;
    }
    let either = match ctx.implicit.map(|i| Either::new(ctx.listener, i)).transpose() {
        Ok(e) => e,
        Err(e) => {
            log::error!("worker {}: epoll: {e}", std::process::id());
            return 1;
        }
    };
    let slot = &ctx.board.slots()[ctx.slot];
    let max_sessions = ctx.cfg.pool.max_sessions_per_worker;
    loop {
        if sys::retiring() || (max_sessions > 0 && slot.sessions() >= max_sessions) {
            break;
        }
        if sys::reopen_asked() {
            crate::logging::reopen_or_complain();
        }
        if slot.state() != State::Idle {
            slot.set_state(State::Idle);
        }
        // A client that connected, or one the master hands over (for a
        // slave); `peer` is the client's real address either way.
        // (The implicit-FTPS port takes no PROXY header: see `proxied`.)
        let arrival = match &either {
            Some(e) => e.accept(ctx.intake),
            None => ctx.intake.accept(ctx.listener),
        };
        let arrival = match arrival {
            Ok(Some(a)) => a,
            Ok(None) => continue,
            // Told to retire (the listener is gone), interrupted by a signal,
            // or the periodic wake-up (SO_RCVTIMEO): look at the flags again.
            Err(_) if sys::retiring() => continue,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::Interrupted | std::io::ErrorKind::WouldBlock) => continue,
            Err(e) => {
                // EMFILE, ENOBUFS...: this client is lost, the worker goes on.
                log::error!("[{}] accept: {e}", std::process::id());
                std::thread::sleep(ACCEPT_PAUSE);
                continue;
            }
        };
        // Through a load balancer in front (`--proxy-protocol-from`): its
        // PROXY header names the client, who is then `peer` for everything.
        let Some(Arrival { stream, peer, via }) = proxied::through_balancer(arrival, &ctx.cfg.proxy_from) else {
            continue;
        };
        let ip = canonical(peer.ip());
        let peer = SocketAddr::new(ip, peer.port());
        if ctx.cfg.pool.max_per_ip > 0 {
            let others = ctx.board.serving(ip, ctx.slot);
            if others >= ctx.cfg.pool.max_per_ip {
                log::warn!("[{}] {peer}: refused, {others} connections from this address", std::process::id());
                slot.counters().refused(&FtpError::TooManyFromAddress);
                refuse(stream, &FtpError::TooManyFromAddress);
                continue;
            }
        }
        // Security: a banned address is refused at once, before any worker
        // spends a password check on it (not logged above debug: the failed
        // logins that led to the ban were).
        if let Some(left) = ctx.cfg.guard.address_banned(ip) {
            log::debug!("[{}] {peer}: refused, banned for {left} s more", std::process::id());
            slot.counters().refused(&FtpError::Banned(left));
            refuse(stream, &FtpError::Banned(left));
            continue;
        }
        slot.begin_session(peer);
        // A reclaim meant for the previous client is not for this one.
        sys::clear_reclaim();
        ctx.alarm.after_accept(ctx.board, ctx.cfg.pool.min_spare);
        connection::serve(stream, peer, ctx.cfg, slot, via);
        slot.end_session();
        // The session's buffers go back to the kernel, not to an idle worker.
        sys::release_free_memory();
    }
    slot.set_state(State::Leaving);
    0
}
