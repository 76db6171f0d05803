//! The supervisor as a service (issue 13): its configuration file (read
//! again on SIGHUP), the sockets systemd or a previous binary handed over,
//! systemd's readiness notifications, the pid file. The upgrade is in
//! `upgrade.rs`.

use std::ffi::OsString;
use std::net::TcpListener;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::time::SystemTime;

use clap::CommandFactory;

use super::metrics::{health, page, PoolState, Totals};
use super::{bind_listener, Supervisor};
use crate::limits::{ACCEPT_WAKEUP, DEFAULT_SERVER_CONFIG};
use crate::server::config::{ServerArgs, ServerCli, ServerConfig};
use crate::service::config_file::{self, ConfigTool, Layered};
use crate::service::exposition::CONTENT_TYPE;
use crate::service::http::{metrics_server, Answer, HttpServer};
use crate::service::notify::Notifier;
use crate::service::pidfile::PidFile;
use crate::service::sockets::{self, Inherited};

/// What the supervisor keeps to run as a service.
pub(crate) struct Service {
    /// The command line and the configuration file, to read again.
    layered: Layered,
    /// systemd, and the binary this one replaces.
    pub(super) notifier: Notifier,
    /// Sockets handed over and not taken yet.
    inherited: Inherited,
    /// The binary an upgrade starts: the file this one was started from.
    pub(super) exe: Option<PathBuf>,
    /// The pid file, once written.
    pid_file: Option<PidFile>,
    /// Where an upgrade stands.
    pub(super) upgrade: super::upgrade::Upgrade,
    /// New binaries killed after a failed upgrade, not reaped yet.
    pub(super) failed_successors: Vec<nix::unistd::Pid>,
    /// The `/metrics` and `/health` server (`--metrics`).
    pub(super) metrics: Option<HttpServer>,
    /// What exited workers and the supervisor counted.
    pub(super) totals: Totals,
    /// When this supervisor started.
    started: SystemTime,
    /// Set once the pool stops: `/health` says so.
    stopping: bool,
}

/// `ftpserver`'s configuration: the command line `argv` over the file
/// `--config` names, or the default one when it exists.
pub(crate) fn layered(argv: Vec<OsString>, config: Option<PathBuf>) -> Layered {
    Layered::new(ServerCli::command(), argv, config, DEFAULT_SERVER_CONFIG)
}

/// The options and the checked configuration to start with.
pub(crate) fn first_config(layered: &Layered) -> Result<(ServerArgs, ServerConfig), String> {
    let loaded = layered.load::<ServerCli>()?;
    let cfg = loaded.value.server.to_config().map_err(|e| loaded.annotate(e))?;
    Ok((loaded.value.server, cfg))
}

/// `ftpserver config`.
pub(crate) fn config_tool(tool: ConfigTool) -> Result<(), String> {
    config_file::run_tool::<ServerCli>(ServerCli::command(), tool, DEFAULT_SERVER_CONFIG, |cli| {
        cli.server.to_config().map(drop)
    })
}

/// The log (a file, standard error or syslog) and the transfer log.
pub(crate) fn open_logs(args: &ServerArgs, cfg: &ServerConfig) -> Result<(), String> {
    let common = &args.service.common;
    if common.syslog {
        crate::service::syslog::init(cfg.log_level, &common.syslog_socket, "ftpserver")?;
    } else {
        crate::logging::init(cfg.log_level, cfg.log_file.as_deref()).map_err(|e| format!("log file: {e}"))?;
    }
    open_xferlog(args)
}

fn open_xferlog(args: &ServerArgs) -> Result<(), String> {
    match &args.service.xferlog {
        Some(p) => crate::logging::open_xferlog(p).map_err(|e| format!("--xferlog {}: {e}", p.display())),
        None => Ok(()),
    }
}

impl Service {
    /// The service side of a supervisor started from `layered`, with the
    /// sockets handed over that are left.
    pub(crate) fn new(layered: Layered, mut inherited: Inherited, args: &ServerArgs) -> Result<Service, String> {
        let metrics = metrics_server(&mut inherited, args.service.common.metrics.as_deref())?;
        Ok(Service {
            layered,
            notifier: Notifier::from_env(inherited.upgrade_fd.take()),
            inherited,
            exe: std::env::current_exe().ok(),
            pid_file: None,
            upgrade: Default::default(),
            failed_successors: Vec::new(),
            metrics,
            totals: Totals::default(),
            started: SystemTime::now(),
            stopping: false,
        })
    }

    /// The FTP control port: the socket systemd or the previous binary
    /// handed over, else `cfg.listen`, bound now.
    pub(crate) fn ftp_listener(inherited: &mut Inherited, cfg: &ServerConfig) -> Result<TcpListener, String> {
        let Some(l) = inherited.take_tcp(sockets::FTP) else {
            return bind_listener(cfg.listen).map_err(|e| format!("cannot listen on {}: {e}", cfg.listen));
        };
        let l = l.map_err(|e| format!("inherited FTP socket: {e}"))?;
        crate::net::wake_accept_every(&l, ACCEPT_WAKEUP).map_err(|e| format!("inherited FTP socket: {e}"))?;
        let addr = l.local_addr().map_err(|e| e.to_string())?;
        let from = if inherited.upgrade_fd.is_some() { "the previous binary" } else { "systemd" };
        log::info!("listening on {addr}, a socket handed over by {from}");
        if cfg.listen.port() != 0 && cfg.listen != addr && cfg.listen.to_string() != crate::limits::DEFAULT_LISTEN {
            log::info!("--listen {} is not used: the socket handed over is", cfg.listen);
        }
        Ok(l)
    }

    /// The status socket: handed over, or bound now under `name`.
    pub(crate) fn status_socket(&mut self, name: &str) -> Option<UnixListener> {
        self.inherited.take_unix(sockets::STATUS).or_else(|| crate::admin::status_listen_or_warn(name))
    }

    /// Closes the sockets handed over that nobody took.
    pub(crate) fn close_unused(&mut self) {
        self.inherited.close_rest();
    }

    /// The pool serves: systemd (and a previous binary) are told, and the
    /// pid file is written.
    pub(crate) fn ready(&mut self, status: &str, pid_file: Option<&std::path::Path>) {
        if let Some(p) = pid_file {
            match PidFile::write(p) {
                Ok(f) => self.pid_file = Some(f),
                Err(e) => log::error!("--pid-file {}: {e}", p.display()),
            }
        }
        self.notifier.ready(status);
    }
}

impl Supervisor {
    /// The configuration read again (SIGHUP): the file over the defaults,
    /// the command line over both. On success the supervisor keeps the new
    /// options; on failure, nothing changes.
    pub(super) fn reread_config(&mut self) -> Result<ServerConfig, String> {
        self.service.notifier.reloading();
        let loaded = self.service.layered.load::<ServerCli>();
        let next = loaded.and_then(|l| match l.value.server.to_config() {
            Ok(c) => Ok((l.value.server, c)),
            Err(e) => Err(l.annotate(e)),
        });
        let status = self.status_line();
        self.service.notifier.ready(&status);
        let (args, cfg) = next?;
        if args.service.xferlog != self.args.service.xferlog {
            open_xferlog(&args)?;
        }
        self.args = args;
        Ok(cfg)
    }

    /// The line systemd shows (`systemctl status`).
    pub(super) fn status_line(&self) -> String {
        let (live, idle, _) = self.counts();
        format!("serving on {}: {live} workers, {idle} idle", self.cfg.listen)
    }

    /// The pool serves.
    pub(super) fn service_ready(&mut self) {
        let status = self.status_line();
        let pid_file = self.args.service.common.pid_file.clone();
        self.service.ready(&status, pid_file.as_deref());
    }

    /// The pool stops.
    pub(super) fn service_stopping(&mut self, how: &str) {
        self.service.stopping = true;
        self.service.notifier.stopping(how);
    }

    /// A worker exited: what it counted goes to the totals, before its
    /// slot is freed.
    pub(super) fn count_exited(&mut self, slot: usize) {
        let s = &self.board.slots()[slot];
        self.service.totals.add(s.counters(), s.sessions());
    }

    /// Answers the metrics clients that are ready (never waits).
    pub(super) fn serve_metrics(&mut self) {
        let Some(mut server) = self.service.metrics.take() else { return };
        server.serve(&mut |path| self.metrics_answer(path));
        self.service.metrics = Some(server);
    }

    fn metrics_answer(&self, path: &str) -> Answer {
        let views = self.board.snapshot();
        let pool = PoolState { views: &views, cfg: &self.cfg, started: self.service.started };
        match path {
            "/metrics" => {
                let mut totals = self.service.totals.clone();
                for s in self.board.slots().iter().filter(|s| s.pid() != 0) {
                    totals.add(s.counters(), s.sessions());
                }
                Some((200, CONTENT_TYPE, page(&totals, &pool)))
            }
            "/health" => {
                let (status, text) = health(self.service.stopping, &pool);
                Some((status, "text/plain; charset=utf-8", text))
            }
            _ => None,
        }
    }

    /// The command line of this binary, for the next one.
    pub(super) fn command_line(&self) -> Vec<OsString> {
        self.service.layered.argv().to_vec()
    }
}
