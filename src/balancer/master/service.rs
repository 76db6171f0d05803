//! The master as a service (issue 13): its configuration file, read again
//! on SIGHUP.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsFd;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::time::{Instant, SystemTime};

use clap::CommandFactory;

use super::Master;
use crate::balancer::config::{MasterCli, MasterConfig};
use crate::limits::{DEFAULT_MASTER_CONFIG, MASTER_START_GRACE, MASTER_TICK};
use crate::service::config_file::{self, ConfigTool, Layered};
use crate::service::exposition::{Exposition, CONTENT_TYPE};
use crate::service::http::{metrics_server, HttpServer};
use crate::service::notify::Notifier;
use crate::service::pidfile::PidFile;
use crate::service::sockets::{self, Inherited};

/// What the master keeps to run as a service.
pub(crate) struct Service {
    /// The command line and the configuration file, to read again.
    layered: Layered,
    /// systemd.
    pub(super) notifier: Notifier,
    /// Sockets handed over by systemd and not taken yet.
    inherited: Inherited,
    /// The pid file, once written.
    pid_file: Option<PidFile>,
    /// The `/metrics` and `/health` server (`--metrics`).
    pub(super) metrics: Option<HttpServer>,
    /// Every slave that registered, with its address: one gone is shown
    /// down.
    known: BTreeMap<u32, String>,
    /// When the master started.
    started: SystemTime,
    /// Until then, while no slave has registered, clients wait in the
    /// backlog ([`MASTER_START_GRACE`]).
    hold_until: Option<Instant>,
}

/// The listening socket `name` systemd handed over, else `addr` bound now;
/// non-blocking.
pub(crate) fn listener(
    inherited: &mut Inherited,
    name: &str,
    addr: SocketAddr,
    what: &str,
) -> Result<TcpListener, String> {
    let Some(l) = inherited.take_tcp(name) else { return super::bind(addr, what) };
    let l = l.and_then(|l| l.set_nonblocking(true).map(|()| l)).map_err(|e| format!("inherited {name} socket: {e}"))?;
    log::info!("{what}: the socket systemd handed over ({})", l.local_addr().map_err(|e| e.to_string())?);
    Ok(l)
}

/// `ftpmaster`'s configuration: the command line `argv` over the file
/// `--config` names, or the default one when it exists.
pub(crate) fn layered(argv: Vec<OsString>, config: Option<PathBuf>) -> Layered {
    Layered::new(MasterCli::command(), argv, config, DEFAULT_MASTER_CONFIG)
}

/// The checked configuration to start with.
pub(crate) fn first_config(layered: &Layered) -> Result<MasterConfig, String> {
    let loaded = layered.load::<MasterCli>()?;
    loaded.value.master.to_config().map_err(|e| loaded.annotate(e))
}

/// `ftpmaster config`.
pub(crate) fn config_tool(tool: ConfigTool) -> Result<(), String> {
    config_file::run_tool::<MasterCli>(MasterCli::command(), tool, DEFAULT_MASTER_CONFIG, |cli| {
        cli.master.to_config().map(drop)
    })
}

impl Service {
    /// The service side of a master started from `layered`, with the
    /// sockets handed over that are left.
    pub(crate) fn new(layered: Layered, mut inherited: Inherited, cfg: &MasterConfig) -> Result<Service, String> {
        let notifier = Notifier::from_env(inherited.upgrade_fd.take());
        let metrics = metrics_server(&mut inherited, cfg.service.metrics.as_deref())?;
        let started = SystemTime::now();
        let hold_until = Some(Instant::now() + MASTER_START_GRACE);
        Ok(Service {
            layered,
            notifier,
            inherited,
            pid_file: None,
            metrics,
            known: BTreeMap::new(),
            started,
            hold_until,
        })
    }

    /// The status socket: handed over, or bound now under `name`; the
    /// sockets handed over that nobody took are closed.
    pub(crate) fn status_socket(&mut self, name: &str) -> Option<UnixListener> {
        let s = self.inherited.take_unix(sockets::STATUS).or_else(|| crate::admin::status_listen_or_warn(name));
        self.inherited.close_rest();
        s
    }

    /// Slave `id` registered with `addr`: the metrics show it from now on,
    /// down once it is gone.
    pub(super) fn registered(&mut self, id: u32, addr: SocketAddr) {
        if self.metrics.is_some() {
            self.known.insert(id, addr.to_string());
        }
    }
}

impl Master {
    /// True while the master has just started and no slave has registered
    /// yet: clients are left in the listening socket's backlog (it stops
    /// watching it for a tick) rather than refused, so that a restarted
    /// master refuses nobody while its slaves come back. Afterwards, never.
    pub(super) fn holding_clients(&mut self, now: Instant) -> bool {
        let Some(until) = self.service.hold_until else { return false };
        if now >= until || self.registry.all().next().is_some() {
            self.service.hold_until = None;
            return false;
        }
        if let Some(l) = &self.clients {
            self.unwatch(l.as_fd());
            self.accept_paused_until = Some(now + MASTER_TICK);
        }
        true
    }

    /// Answers the metrics clients that are ready (never waits).
    pub(super) fn serve_metrics(&mut self) {
        let Some(mut server) = self.service.metrics.take() else { return };
        server.serve(&mut |path| match path {
            "/metrics" => Some((200, CONTENT_TYPE, self.metrics_page())),
            "/health" => {
                let live = self.registry.all().filter(|s| s.available(Instant::now())).count();
                Some(match (self.draining, live) {
                    (true, _) => (503, "text/plain; charset=utf-8", "stopping\n".to_string()),
                    (false, 0) => (503, "text/plain; charset=utf-8", "no slave is live\n".to_string()),
                    (false, n) => (200, "text/plain; charset=utf-8", format!("ok: {n} slaves live\n")),
                })
            }
            _ => None,
        });
        self.service.metrics = Some(server);
    }

    /// The Prometheus page of the master.
    fn metrics_page(&self) -> String {
        let st = &self.stats;
        let now = Instant::now();
        let mut e = Exposition::default();
        e.gauge(
            "forkftp_master_info",
            "The running ftpmaster: its version and its addresses.",
            &[(
                &[
                    ("version", env!("CARGO_PKG_VERSION")),
                    ("listen", &self.cfg.listen.to_string()),
                    ("registry", &self.cfg.registry.to_string()),
                ],
                1.0,
            )],
        );
        let started = self.service.started.duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
        e.gauge("forkftp_master_start_time_seconds", "When the master started, Unix seconds.", &[(&[], started)]);
        e.counter("forkftp_master_clients_accepted_total", "Clients accepted.", &[(&[], st.accepted as f64)]);
        e.counter(
            "forkftp_master_clients_total",
            "Clients handed to a slave, by how: their socket passed, or their control connection relayed.",
            &[(&[("via", "passed")], st.passed as f64), (&[("via", "relayed")], st.relayed as f64)],
        );
        e.counter(
            "forkftp_master_refused_total",
            "Clients refused with 421, by cause.",
            &[(&[("cause", "no_slave")], st.refused as f64)],
        );
        e.gauge(
            "forkftp_master_relayed_connections",
            "Relayed control connections open now.",
            &[(&[], st.relaying as f64)],
        );
        e.counter(
            "forkftp_master_relayed_bytes_total",
            "Control-connection bytes relayed (data connections never pass the master).",
            &[
                (&[("direction", "to_slaves")], st.bytes_to_slaves as f64),
                (&[("direction", "to_clients")], st.bytes_to_clients as f64),
            ],
        );
        let ids: Vec<String> = self.service.known.keys().map(u32::to_string).collect();
        let mut up = Vec::new();
        let mut clients = Vec::new();
        let mut open = Vec::new();
        for (id, (sid, addr)) in ids.iter().zip(&self.service.known) {
            let slave = self.registry.all().find(|s| s.id == *sid);
            let labels = [("slave", id.as_str()), ("address", addr.as_str())];
            up.push((labels, slave.is_some_and(|s| s.available(now)) as u8 as f64));
            if let Some(s) = slave {
                clients.push(([("slave", id.as_str())], s.clients as f64));
                open.push(([("slave", id.as_str())], s.relaying as f64));
            }
        }
        let up: Vec<(&[(&str, &str)], f64)> = up.iter().map(|(l, n)| (&l[..], *n)).collect();
        e.gauge(
            "forkftp_master_slave_up",
            "1 for a slave that takes clients, 0 for one lost or skipped after a failure.",
            &up,
        );
        let clients: Vec<(&[(&str, &str)], f64)> = clients.iter().map(|(l, n)| (&l[..], *n)).collect();
        e.counter("forkftp_master_slave_clients_total", "Clients handed to each slave since it registered.", &clients);
        let open: Vec<(&[(&str, &str)], f64)> = open.iter().map(|(l, n)| (&l[..], *n)).collect();
        e.gauge("forkftp_master_slave_relayed_connections", "Relayed connections open to each slave.", &open);
        e.finish()
    }

    /// The master serves: systemd is told, the pid file written.
    pub(super) fn service_ready(&mut self) {
        if let Some(p) = &self.cfg.service.pid_file {
            match PidFile::write(p) {
                Ok(f) => self.service.pid_file = Some(f),
                Err(e) => log::error!("--pid-file {}: {e}", p.display()),
            }
        }
        let status = format!("clients on {}, registry on {}", self.cfg.listen, self.cfg.registry);
        self.service.notifier.ready(&status);
    }

    /// SIGHUP: reads the configuration again. The cluster key changes at
    /// once (for the registrations that follow); the addresses and the log
    /// need a restart, since the sockets stay bound. A bad file keeps the
    /// running configuration.
    pub(super) fn reload(&mut self) {
        self.service.notifier.reloading();
        let next = first_config(&self.service.layered);
        let status = format!("clients on {}, registry on {}", self.cfg.listen, self.cfg.registry);
        self.service.notifier.ready(&status);
        let mut next = match next {
            Ok(c) => c,
            Err(e) => {
                log::error!("reload failed, keeping the running configuration: {e}");
                return;
            }
        };
        for (what, now, asked) in
            [("--listen", self.cfg.listen, next.listen), ("--registry", self.cfg.registry, next.registry)]
        {
            if asked.port() != 0 && asked != now {
                log::warn!("reload: {what} {asked} takes effect at the next restart; still on {now}");
            }
        }
        next.listen = self.cfg.listen;
        next.registry = self.cfg.registry;
        if next.log_file != self.cfg.log_file || next.log_level != self.cfg.log_level {
            log::warn!("reload: the log's file and level change at the next restart");
            next.log_file.clone_from(&self.cfg.log_file);
            next.log_level = self.cfg.log_level;
        }
        self.cfg = next;
        log::info!(
            "reloaded the configuration{}",
            if self.cfg.key.is_some() { " (cluster key required)" } else { " (no cluster key)" }
        );
    }
}
