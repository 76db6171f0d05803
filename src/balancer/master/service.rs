//! The master as a service (issue 13): its configuration file, read again
//! on SIGHUP.

use std::ffi::OsString;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;

use clap::CommandFactory;

use super::Master;
use crate::balancer::config::{MasterCli, MasterConfig};
use crate::limits::DEFAULT_MASTER_CONFIG;
use crate::service::config_file::{self, ConfigTool, Layered};
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
    let intro = "ftpmaster's configuration file (TOML): one key for each option of `ftpmaster --help`,\n\
                 named as the option without its dashes. Options given on the command line win over this file.\n\
                 Read at start and again on SIGHUP; `ftpmaster config --print` shows the result.\n\
                 Every key below is commented out with its default value.";
    config_file::run_tool::<MasterCli>(MasterCli::command(), tool, DEFAULT_MASTER_CONFIG, intro, |cli| {
        cli.master.to_config().map(drop)
    })
}

impl Service {
    /// The service side of a master started from `layered`, with the
    /// sockets handed over that are left.
    pub(crate) fn new(layered: Layered, mut inherited: Inherited) -> Service {
        let notifier = Notifier::from_env(inherited.upgrade_fd.take());
        Service { layered, notifier, inherited, pid_file: None }
    }

    /// The status socket: handed over, or bound now under `name`; the
    /// sockets handed over that nobody took are closed.
    pub(crate) fn status_socket(&mut self, name: &str) -> Option<UnixListener> {
        let s = self.inherited.take_unix(sockets::STATUS).or_else(|| crate::admin::status_listen_or_warn(name));
        self.inherited.close_rest();
        s
    }
}

impl Master {
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
