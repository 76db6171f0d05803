//! The process pool: the supervisor (the parent) binds the listening socket,
//! forks workers that each loop on `accept()`, and keeps the pool the right
//! size (`sizing`): it replaces workers that die, grows the pool when fewer
//! than `--min-spare` are idle (the batch doubling each time, as Apache's
//! prefork does) and at once for every client waiting in the accept queue
//! ([`burst`]), retires idle workers beyond `--max-spare`; when
//! `--max-workers` are all busy and clients wait, reclaims the workers held
//! longest by clients that have not logged in (`reclaim`), and answers
//! `421` itself only when every client has; and handles the signals
//! (nginx's set):
//!
//! | signal | effect |
//! |---|---|
//! | SIGTERM, SIGINT | fast stop: clients get 421, workers exit, the parent last |
//! | SIGQUIT | graceful stop: no new clients, running transfers finish, then exit |
//! | SIGHUP | reload the configuration; old workers finish their sessions |
//! | SIGUSR1 | reopen the log file and the xferlog |
//! | SIGUSR2 | upgrade: start the binary again with the sockets handed over (`upgrade.rs`) |

pub(crate) mod burst;
pub(crate) mod children;
mod metrics;
mod preflight;
mod reclaim;
pub(crate) mod scoreboard;
mod service;
mod sizing;
pub(crate) mod status;
mod sweep;
mod upgrade;
pub(crate) mod worker;

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::admin::SignalFlags;
use crate::limits::{ACCEPT_WAKEUP, MALLOC_MMAP_THRESHOLD, RELOAD_SETTLE, STOP_GRACE, SUPERVISOR_TICK};
use crate::net;
use crate::server::config::{ServerArgs, ServerCli, ServerCommand, ServerConfig, SlaveArgs};
use crate::server::intake::{Intake, Listening};
use crate::service::config_file::Layered;
use crate::service::sockets::{self as handed, Inherited};
use crate::sys;
use scoreboard::{Scoreboard, State};
use service::Service;

/// Binds the pool's listening socket ([`net::bind_listener`]); a worker
/// blocked in `accept` wakes up every [`ACCEPT_WAKEUP`] to look at its flags.
pub(crate) fn bind_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let listener = net::bind_listener(addr)?;
    net::wake_accept_every(&listener, ACCEPT_WAKEUP)?;
    Ok(listener)
}

/// The parent of the pool.
pub(crate) struct Supervisor {
    args: ServerArgs,
    cfg: ServerConfig,
    generation: u32,
    listener: TcpListener,
    board: Scoreboard,
    /// The pids it forked, by slot (never read from the shared scoreboard).
    children: children::Children,
    /// Reclaims in flight (see `reclaim`).
    reclaims: reclaim::Reclaims,
    /// The sweeps of stale upload temporaries (see `sweep`).
    sweeper: sweep::Sweeper,
    status: Option<std::os::unix::net::UnixListener>,
    signals: SignalFlags,
    batch: usize,
    /// When the pool last grew because spares ran short.
    last_growth: Instant,
    /// Until then, a readable listener is not a reason to grow again.
    settle_until: Instant,
    /// Rung by workers when spares run short.
    alarm: burst::Alarm,
    parent_pid: Pid,
    /// Who the workers become (when started as root).
    drop_to: Option<(nix::unistd::Uid, nix::unistd::Gid)>,
    /// Where the workers take their clients from.
    intake: Box<dyn Intake>,
    /// The implicit-FTPS listening socket (`--implicit-tls-listen`).
    implicit: Option<TcpListener>,
    /// Configuration file, systemd, upgrade, metrics (`service.rs`).
    service: Service,
}

/// Makes the [`Intake`] of a pool that is a slave of an `ftpmaster`, when
/// `--register` asks for one (`None` otherwise), for a pool that will
/// listen on the address given. The binary passes the balancer's
/// (`balancer::slave::intake`); the pool does not know the balancer.
pub type SlaveIntake = fn(&SlaveArgs, SocketAddr) -> Result<Option<Box<dyn Intake>>, String>;

/// `ftpserver`: runs a pool, or a tool.
pub fn main(cli: ServerCli, argv: Vec<std::ffi::OsString>, slave: SlaveIntake) -> Result<(), String> {
    match cli.command {
        Some(ServerCommand::Config(tool)) => service::config_tool(tool),
        Some(ServerCommand::Status { listen }) => crate::admin::print_status("server", &listen, status::socket_name),
        Some(ServerCommand::Passwd { name, home, perms, limits }) => {
            let perms = crate::accounts::Perms::parse(&perms)?;
            let limits = crate::accounts::Limits::parse(&limits)?;
            let pw = crate::term::read_password(&format!("Password for {name}: ")).map_err(|e| e.to_string())?;
            if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                let again = crate::term::read_password("Again: ").map_err(|e| e.to_string())?;
                if again != pw {
                    return Err("the passwords differ".into());
                }
            }
            let line = crate::accounts::users_line(&name, &crate::protocol::Password::new(pw), &home, &perms, &limits)?;
            println!("{line}");
            Ok(())
        }
        Some(ServerCommand::Gencert { names, cert, key, force }) => {
            let names = if names.is_empty() { crate::server::cert::default_names() } else { names };
            let g = crate::server::cert::generate(&names, &cert, &key, force)?;
            println!(
                "Wrote {} and {} (mode 0600): a self-signed certificate for {}, valid until {}.",
                g.cert.display(),
                g.key.display(),
                g.names.join(", "),
                g.until
            );
            println!("Run: ftpserver --tls-cert {} --tls-key {}", g.cert.display(), g.key.display());
            println!("Clients must trust this certificate (curl --cacert, ftpclient --ca-file) or skip the check.");
            Ok(())
        }
        None => run(service::layered(argv, cli.config), slave),
    }
}

/// The user the workers become, when the server runs as root.
///
/// Security: a server started as root (to bind port 21) never serves a
/// client as root; `--run-as` must name an unprivileged user.
pub(crate) fn resolve_run_as(cfg: &ServerConfig) -> Result<Option<(nix::unistd::Uid, nix::unistd::Gid)>, String> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    let user = nix::unistd::User::from_name(&cfg.run_as)
        .map_err(|e| format!("--run-as {}: {e}", cfg.run_as))?
        .ok_or_else(|| format!("--run-as {}: no such user", cfg.run_as))?;
    if user.uid.is_root() {
        return Err(format!("--run-as {}: refusing to serve clients as root", cfg.run_as));
    }
    Ok(Some((user.uid, user.gid)))
}

/// Runs a pool with the options of `layered` (the command line over the
/// configuration file) until it is told to stop.
pub(crate) fn run(layered: Layered, slave: SlaveIntake) -> Result<(), String> {
    let (args, mut cfg) = service::first_config(&layered)?;
    service::open_logs(&args, &cfg)?;
    // Sockets from systemd or from the binary this one replaces, if any.
    let mut inherited = Inherited::from_env()?;
    let listener = Service::ftp_listener(&mut inherited, &cfg)?;
    cfg.listen = listener.local_addr().map_err(|e| e.to_string())?;
    let intake = slave(&args.cluster, cfg.listen)?.unwrap_or_else(|| Box::new(Listening));
    if let Some(g) = intake.greeting() {
        cfg.greeting = g;
    }
    let implicit = implicit_listener(&mut inherited, &mut cfg, &args)?;
    if implicit.is_some() {
        // Workers wait on both sockets with poll and accept without blocking.
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    }
    let service = Service::new(layered, inherited, &args)?;
    Supervisor::new(args, cfg, listener, implicit, intake, service)?.run()
}

/// The implicit-FTPS socket: the one named `ftps` that systemd or the
/// previous binary handed over, else `--implicit-tls-listen` bound now;
/// `None` without either. A slave takes explicit FTPS only (its workers also wait
/// for the master's hand-overs).
fn implicit_listener(
    inherited: &mut Inherited,
    cfg: &mut ServerConfig,
    args: &ServerArgs,
) -> Result<Option<TcpListener>, String> {
    let handed = inherited.take_tcp(handed::FTPS);
    // `wanted` comes from the TLS settings: only a handed socket can come
    // without them.
    let wanted = cfg.tls.as_ref().and_then(|t| t.implicit_listen);
    let l = match (handed, wanted) {
        (None, None) => return Ok(None),
        (Some(_), _) if cfg.tls.is_none() => {
            return Err(format!(
                "a socket named {} (implicit FTPS) was handed over, but FTPS needs --tls-cert",
                handed::FTPS
            ))
        }
        _ if args.cluster.register.is_some() => {
            return Err("--implicit-tls-listen is not available with --register: a slave serves explicit FTPS".into())
        }
        (Some(l), _) => {
            let l = l.map_err(|e| format!("inherited FTPS socket: {e}"))?;
            if let Some(addr) = wanted.filter(|a| a.port() != 0) {
                log::info!("--implicit-tls-listen {addr} is not used: the socket handed over is");
            }
            l
        }
        (None, Some(addr)) => {
            bind_listener(addr).map_err(|e| format!("cannot listen on {addr} (--implicit-tls-listen): {e}"))?
        }
    };
    let bound = l.local_addr().map_err(|e| e.to_string())?;
    l.set_nonblocking(true).map_err(|e| e.to_string())?;
    if let Some(t) = cfg.tls.as_mut() {
        t.implicit_listen = Some(bound);
    }
    log::info!("implicit FTPS on {bound}");
    Ok(Some(l))
}

impl Supervisor {
    /// A supervisor for an already bound listener (and implicit-FTPS
    /// socket, if any).
    pub(crate) fn new(
        args: ServerArgs,
        cfg: ServerConfig,
        listener: TcpListener,
        implicit: Option<TcpListener>,
        mut intake: Box<dyn Intake>,
        mut service: Service,
    ) -> Result<Supervisor, String> {
        sys::ignore_sigpipe().map_err(|e| e.to_string())?;
        // Big buffers (transfers, listings, argon2's 19 MiB per login) are
        // unmapped when freed, never kept for the rest of an idle session.
        // Set here, before any fork, so that the workers share the page.
        sys::fixed_mmap_threshold(MALLOC_MMAP_THRESHOLD);
        let drop_to = resolve_run_as(&cfg)?;
        if let Some((uid, gid)) = drop_to {
            crate::logging::chown(uid, gid);
        }
        let board = Scoreboard::new(cfg.pool.max_workers).map_err(|e| format!("scoreboard: {e}"))?;
        let alarm = burst::Alarm::new().map_err(|e| format!("alarm pipe: {e}"))?;
        // Before the signal handlers: its own child exits as a plain process.
        preflight::check(&cfg, drop_to);
        use signal_hook::consts::*;
        let signals = SignalFlags::register(&[SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2], &[SIGCHLD])
            .map_err(|e| format!("signals: {e}"))?;
        let status = service.status_socket(&status::socket_name(&cfg.listen));
        service.close_unused();
        intake.start(cfg.listen, &listener)?;
        Ok(Supervisor {
            args,
            cfg,
            generation: 1,
            listener,
            children: children::Children::new(board.slots().len()).map_err(|e| format!("children table: {e}"))?,
            reclaims: reclaim::Reclaims::default(),
            sweeper: sweep::Sweeper::new(),
            board,
            status,
            signals,
            batch: 1,
            last_growth: Instant::now(),
            settle_until: Instant::now(),
            alarm,
            parent_pid: nix::unistd::getpid(),
            drop_to,
            intake,
            implicit,
            service,
        })
    }

    /// Signals our workers (of older generations only, when `only_old`).
    fn signal_workers(&self, sig: Signal, only_old: bool) {
        for (i, pid) in self.children.iter() {
            if !only_old || self.board.slots()[i].generation() != self.generation {
                let _ = kill(pid, sig);
            }
        }
    }

    /// Workers of an older configuration still waiting in `accept`.
    fn old_idle_workers(&self) -> usize {
        let g = self.generation;
        let slots = self.board.slots();
        self.children.iter().filter(|&(i, _)| slots[i].generation() != g && slots[i].state() == State::Idle).count()
    }

    fn workers_left(&self) -> usize {
        self.children.len()
    }

    /// SIGTERM/SIGINT: every worker stops now; the stragglers are killed
    /// after the grace period.
    fn fast_stop(&mut self) {
        log::info!("stopping (fast)");
        self.abort_upgrade();
        self.service_stopping("stopping: clients get 421");
        self.signal_workers(Signal::SIGTERM, false);
        let deadline = Instant::now() + STOP_GRACE;
        while self.workers_left() > 0 && Instant::now() < deadline {
            self.wait_events(Duration::from_millis(20), false, false);
            self.reap();
        }
        if self.workers_left() > 0 {
            self.signal_workers(Signal::SIGKILL, false);
            while self.workers_left() > 0 {
                self.wait_events(Duration::from_millis(20), false, false);
                self.reap();
            }
        }
    }

    /// SIGHUP: a new configuration, new workers; old ones finish their sessions.
    fn reload(&mut self) {
        match self.reread_config() {
            Ok(mut cfg) => {
                // The sockets stay bound: the addresses cannot change; the
                // workers' shared defences (bans, hash permits) carry on.
                cfg.listen = self.cfg.listen;
                if let (Some(new), Some(old)) = (cfg.tls.as_mut(), self.cfg.tls.as_ref()) {
                    new.implicit_listen = old.implicit_listen;
                }
                cfg.guard = std::sync::Arc::clone(&self.cfg.guard);
                if let Some(g) = self.intake.greeting() {
                    cfg.greeting = g;
                }
                match resolve_run_as(&cfg) {
                    Ok(d) => self.drop_to = d,
                    Err(e) => {
                        log::error!("reload failed, keeping the running configuration: {e}");
                        return;
                    }
                }
                self.cfg = cfg;
                self.generation += 1;
                // New workers first, so someone with the new configuration
                // is accepting; then the old ones are told to leave.
                self.maintain(false);
                self.signal_workers(Signal::SIGHUP, true);
                // The kernel may still give a queued client to a signalled
                // worker that has not run yet (accept prefers a waiting
                // connection to a pending signal). The reload is complete
                // once no old worker waits in accept any more: from then on
                // every new client meets the new configuration.
                let deadline = Instant::now() + RELOAD_SETTLE;
                while Instant::now() < deadline && self.old_idle_workers() > 0 {
                    std::thread::sleep(Duration::from_millis(1));
                    self.reap();
                }
                log::info!("reloaded the configuration (generation {})", self.generation);
            }
            Err(e) => log::error!("reload failed, keeping the running configuration: {e}"),
        }
    }

    /// Waits for a signal, a status request or (when `watch_listener`) a
    /// waiting client. Returns whether the listener, and the implicit-FTPS
    /// socket (watched with it while the pool can still grow: its clients
    /// cannot be told 421 in clear text, so they wait), are readable.
    fn wait_events(&mut self, timeout: Duration, watch_listener: bool, watch_implicit: bool) -> (bool, bool) {
        let mut fds = vec![PollFd::new(self.signals.as_fd(), PollFlags::POLLIN)];
        if let Some(st) = &self.status {
            fds.push(PollFd::new(st.as_fd(), PollFlags::POLLIN));
        }
        let aidx = fds.len();
        fds.push(PollFd::new(self.alarm.fd(), PollFlags::POLLIN));
        let lidx = fds.len();
        if watch_listener {
            fds.push(PollFd::new(self.listener.as_fd(), PollFlags::POLLIN));
        }
        let iidx = fds.len();
        let watch_implicit = watch_implicit && self.implicit.is_some();
        if let Some(l) = self.implicit.as_ref().filter(|_| watch_implicit) {
            fds.push(PollFd::new(l.as_fd(), PollFlags::POLLIN));
        }
        // Last: the metrics server (served below, whatever woke us).
        if let Some(m) = &self.service.metrics {
            fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
        }
        let ready = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
        let (status_ready, listener_ready, implicit_ready) =
            match poll(&mut fds, PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX)) {
                Ok(n) if n > 0 => (
                    self.status.is_some() && ready(&fds[1]),
                    watch_listener && ready(&fds[lidx]),
                    watch_implicit && ready(&fds[iidx]),
                ),
                _ => (false, false, false),
            };
        let alarm_rang = ready(&fds[aidx]);
        drop(fds);
        self.signals.drain();
        if alarm_rang {
            self.alarm.drain();
        }
        if status_ready {
            if let Some(st) = &self.status {
                status::answer(st, &self.board, &self.cfg);
            }
        }
        self.serve_metrics();
        (listener_ready, implicit_ready)
    }

    /// A stopping slave tells its master first, so no more clients come.
    fn leave_master(&mut self) {
        self.intake.withdraw();
    }

    /// The supervisor's loop.
    pub(crate) fn run(mut self) -> Result<(), String> {
        log::info!(
            "forkftp listening on {}, serving {}, {} workers (max {})",
            self.cfg.listen,
            self.cfg.root.display(),
            self.cfg.pool.workers,
            self.cfg.pool.max_workers
        );
        if let Some(t) = &self.cfg.tls {
            log::info!(
                "FTPS: AUTH TLS{}; certificate valid until {}",
                t.implicit_listen.map_or(String::new(), |a| format!(", implicit on {a}")),
                crate::server::cert::date(t.not_after)
            );
        }
        let mut graceful = false;
        self.maintain(false);
        self.service_ready();
        loop {
            let (_, idle, total) = self.counts();
            let settled = Instant::now() >= self.settle_until && self.reclaims.settled();
            let watch = !graceful && idle == 0 && settled;
            let can_grow = total < self.cfg.pool.max_workers;
            let (waiting, implicit_waiting) = self.wait_events(SUPERVISOR_TICK, watch, watch && can_grow);
            self.reap();
            self.intake.tick();
            if !graceful {
                self.sweeper.tick(&self.cfg, self.drop_to);
            }
            if self.signals.take(libc::SIGTERM) | self.signals.take(libc::SIGINT) {
                self.leave_master();
                self.fast_stop();
                break;
            }
            if !graceful && self.signals.take(libc::SIGQUIT) {
                log::info!("stopping (graceful): running transfers finish first");
                self.service_stopping("stopping: running transfers finish first");
                self.leave_master();
                graceful = true;
                self.signal_workers(Signal::SIGQUIT, false);
            }
            if self.signals.take(libc::SIGUSR1) {
                crate::logging::reopen_or_complain();
                self.signal_workers(Signal::SIGUSR1, false);
            }
            self.upgrade_tick(&mut graceful);
            if graceful {
                if self.workers_left() == 0 {
                    break;
                }
                continue;
            }
            if self.signals.take(libc::SIGHUP) {
                self.reload();
            }
            self.publish_pressure();
            if waiting && total >= self.cfg.pool.max_workers && idle == 0 {
                // Security: a full pool first gives up clients that have not
                // logged in; a newcomer is refused only when all have.
                if !self.reclaim_for_waiting() {
                    self.refuse_overload();
                }
                continue;
            }
            self.maintain(waiting || implicit_waiting);
        }
        log::info!("stopped");
        Ok(())
    }
}
