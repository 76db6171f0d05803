//! Options of the balancer: `ftpmaster`, `ftpslaves`, and what the options
//! that make an `ftpserver` a slave (`--register`, `--slave-id`,
//! `--key-file`, read by `server::config::SlaveArgs`) mean, each checked
//! once into a configuration.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand};
use log::LevelFilter;

use super::auth::ClusterKey;
use super::handoff;
use super::wire::Mode;
use crate::limits::{self, MAX_SLAVES};
use crate::net::{is_local_ip, resolve_addr};
use crate::protocol::address::canonical;
use crate::server::config::SlaveArgs;
use crate::service::args::ServiceArgs;
use crate::service::config_file::ConfigTool;

/// The checked configuration of a slave.
#[derive(Clone, Debug)]
pub(crate) struct SlaveConfig {
    /// Its id.
    pub id: u32,
    /// The master's registry, every address its name resolved to.
    pub masters: Vec<SocketAddr>,
    /// The cluster key, if any.
    pub key: Option<ClusterKey>,
    /// How the master hands clients over, decided at start: `Pass` when
    /// the master is on this host and we listen on all addresses or on the
    /// master's own; `Relay` otherwise.
    pub mode: Mode,
    /// The hand-over socket's name, in `Pass` mode.
    pub handoff: Option<String>,
}

impl SlaveConfig {
    /// Security: a PROXY header is believed only from the master, and only
    /// in relay mode (a same-host master passes sockets and never relays).
    pub(crate) fn trusts_proxy_from(&self, ip: IpAddr) -> bool {
        self.mode == Mode::Relay && self.masters.iter().any(|m| canonical(m.ip()) == canonical(ip))
    }
}

/// Every address of `HOST:PORT`, IPv4 first (a master on `localhost`
/// usually listens on 127.0.0.1).
pub(crate) fn resolve_all(s: &str) -> Result<Vec<SocketAddr>, String> {
    let mut v: Vec<SocketAddr> = s.to_socket_addrs().map_err(|e| format!("{s}: {e}"))?.collect();
    v.sort_by_key(|a| !a.is_ipv4());
    v.dedup();
    if v.is_empty() {
        return Err(format!("{s}: no address"));
    }
    Ok(v)
}

/// Hand-over by socket passing when the master's host is ours and our
/// listening address is all addresses or the master's (pure decision).
pub(crate) fn choose_mode(master_is_local: bool, listen: IpAddr, masters: &[IpAddr]) -> Mode {
    let same = listen.is_unspecified() || masters.iter().any(|m| canonical(*m) == canonical(listen));
    if master_is_local && same {
        Mode::Pass
    } else {
        Mode::Relay
    }
}

// `SlaveArgs` is part of `ftpserver`'s command line (`server::config`);
// what its options mean is the balancer's business, here.
impl SlaveArgs {
    /// The slave configuration of a pool listening on `listen`, if
    /// `--register` was given.
    pub(crate) fn to_config(&self, listen: SocketAddr) -> Result<Option<SlaveConfig>, String> {
        let Some(register) = &self.register else { return Ok(None) };
        let masters = resolve_all(register).map_err(|e| format!("--register {e}"))?;
        let id = self.slave_id.unwrap_or(1);
        if id == 0 || id > MAX_SLAVES {
            return Err(format!("--slave-id must be between 1 and {MAX_SLAVES}"));
        }
        let key = ClusterKey::load(self.key_file.as_deref())?;
        let ips: Vec<IpAddr> = masters.iter().map(SocketAddr::ip).collect();
        let mode = choose_mode(ips.iter().any(|ip| is_local_ip(*ip)), listen.ip(), &ips);
        let handoff = (mode == Mode::Pass).then(|| handoff::socket_name(&listen));
        Ok(Some(SlaveConfig { id, masters, key, mode, handoff }))
    }
}

/// `ftpmaster`: the load balancer.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "ftpmaster",
    version,
    about = "The load balancer: FTP clients connect here, and each new client goes to the next live slave in round-robin order. Slaves (ftpslaves, or ftpserver --register) register themselves.",
    args_conflicts_with_subcommands = true,
    after_help = "Examples:\n  ftpmaster &                                clients on :2121, slaves register on 127.0.0.1:2190\n  ftpslaves localhost &                      two slaves on this host (ports 2101, 2102)\n  ftpmaster --registry 0.0.0.0:2190 --key-file cluster.key    slaves of other hosts too\n  ftpmaster status                           the live slaves and how many clients each got\n\nSignals: TERM/INT stop, QUIT stops once relayed clients are gone, HUP reads the configuration file again, USR1 reopens the log, USR2 logs the status."
)]
pub struct MasterCli {
    /// Instead of running: a tool.
    #[command(subcommand)]
    pub command: Option<MasterCommand>,
    /// Configuration file: one key per option, e.g. `registry = "0.0.0.0:2190"`; options given here win over it [default: /etc/forkftp/ftpmaster.toml if it exists].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The master's options.
    #[command(flatten)]
    pub master: MasterArgs,
}

/// The tools of `ftpmaster`.
#[derive(Subcommand, Debug, Clone)]
pub enum MasterCommand {
    /// Print the live slaves of a running master, the clients each got, and the bytes relayed.
    Status {
        /// The --listen address of the master to ask.
        #[arg(long, value_name = "ADDR:PORT", default_value = limits::DEFAULT_LISTEN)]
        listen: String,
    },
    /// Check the configuration file, print the effective configuration, or print a commented example.
    Config(ConfigTool),
}

/// The options of `ftpmaster`.
#[derive(Args, Debug, Clone)]
pub struct MasterArgs {
    /// Address and port FTP clients connect to; [::]:PORT for IPv6 (and IPv4).
    #[arg(long, value_name = "ADDR:PORT", default_value = limits::DEFAULT_LISTEN)]
    pub listen: String,

    /// Address and port where slaves register. Without a cluster key only slaves of this host are accepted.
    #[arg(long, value_name = "ADDR:PORT", default_value = limits::DEFAULT_REGISTRY)]
    pub registry: String,

    /// File holding the cluster key slaves must prove they know [default: $FTP_CLUSTER_KEY if set].
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,

    /// Append the log to FILE instead of standard error.
    #[arg(long, value_name = "FILE")]
    pub log_file: Option<PathBuf>,

    /// Log more (-v: every relayed connection's end).
    #[arg(short, long, action = ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Log errors only.
    #[arg(short, long)]
    pub quiet: bool,

    /// Pid file, syslog, metrics.
    #[command(flatten)]
    pub service: ServiceArgs,
}

/// The checked configuration of the master.
#[derive(Clone, Debug)]
pub(crate) struct MasterConfig {
    /// Where clients connect.
    pub listen: SocketAddr,
    /// Where slaves register.
    pub registry: SocketAddr,
    /// The cluster key, if any.
    pub key: Option<ClusterKey>,
    /// Log destination (standard error when `None`).
    pub log_file: Option<PathBuf>,
    /// Log level.
    pub log_level: LevelFilter,
    /// Pid file, syslog, metrics.
    pub service: ServiceArgs,
}

use crate::logging::level as log_level;

impl MasterArgs {
    /// Checks the options.
    pub(crate) fn to_config(&self) -> Result<MasterConfig, String> {
        Ok(MasterConfig {
            listen: resolve_addr(&self.listen).map_err(|e| format!("--listen {e}"))?,
            registry: resolve_addr(&self.registry).map_err(|e| format!("--registry {e}"))?,
            key: ClusterKey::load(self.key_file.as_deref())?,
            log_file: self.log_file.clone(),
            log_level: log_level(self.quiet, self.verbose),
            service: self.service.clone(),
        })
    }
}

/// `ftpslaves`: starts slave servers and keeps them registered.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "ftpslaves",
    version,
    about = "Starts COUNT slave servers, each a full pre-forked ftpserver pool on its own port, registers them with the master and restarts any that dies.",
    after_help = "Examples:\n  ftpslaves localhost                        slaves 1 and 2 on ports 2101 and 2102, master on this host\n  ftpslaves localhost -n 5 -- --write        five slaves; anonymous users may upload\n  ftpslaves master.lan -n 2 --first-id 3 --bind 10.0.0.12 --key-file cluster.key --root /mnt/nfs/ftp\n                                             slaves 3 and 4 on another host, sharing the root over NFS\n\nSignals: TERM/INT stop every slave, QUIT stops them gracefully, HUP and USR1 are passed on to them."
)]
pub struct SlavesCli {
    /// The master's host, with its registry port if not 2190 (HOST, HOST:PORT or [IPv6]:PORT).
    #[arg(value_name = "MASTER_HOST")]
    pub master: String,

    /// How many slaves to start.
    #[arg(short = 'n', long = "count", value_name = "COUNT", default_value_t = limits::DEFAULT_SLAVES)]
    pub count: u32,

    /// Slave i listens on port P+i.
    #[arg(long, value_name = "P", default_value_t = limits::DEFAULT_SLAVE_BASE_PORT)]
    pub base_port: u16,

    /// Address the slaves listen on. The default (all addresses) on the master's host means clients are passed, not relayed.
    #[arg(long, value_name = "IP", default_value = "0.0.0.0")]
    pub bind: IpAddr,

    /// Directory the slaves serve (the same for all; on several hosts, a shared file system such as NFS).
    #[arg(long, value_name = "DIR", default_value = limits::DEFAULT_ROOT)]
    pub root: PathBuf,

    /// Id of the first slave; the others follow (for slaves on several hosts).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub first_id: u32,

    /// Address the slaves announce in PASV replies, when clients must reach them at another one than --bind.
    #[arg(long, value_name = "ADDR")]
    pub public_addr: Option<String>,

    /// File holding the cluster key [default: $FTP_CLUSTER_KEY if set].
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,

    /// Append the logs (ftpslaves' and the slaves') to FILE instead of standard error.
    #[arg(long, value_name = "FILE")]
    pub log_file: Option<PathBuf>,

    /// Log more (passed on to the slaves).
    #[arg(short, long, action = ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Log errors only (passed on to the slaves).
    #[arg(short, long)]
    pub quiet: bool,

    /// More ftpserver options for every slave, after `--` (e.g. -- --write --workers 4).
    #[arg(last = true, value_name = "SERVER OPTIONS")]
    pub server_args: Vec<String>,
}

/// One slave `ftpslaves` runs: its id and the `ftpserver` arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SlaveSpec {
    /// Its id.
    pub id: u32,
    /// Its `ftpserver` command line (without the program).
    pub args: Vec<String>,
}

/// `MASTER_HOST` as `HOST:PORT` (the registry port added when missing).
pub(crate) fn registry_address(master: &str) -> String {
    if let Ok(ip) = master.parse::<IpAddr>() {
        return SocketAddr::new(ip, limits::DEFAULT_REGISTRY_PORT).to_string();
    }
    if master.contains(':') {
        master.to_string()
    } else {
        format!("{master}:{}", limits::DEFAULT_REGISTRY_PORT)
    }
}

impl SlavesCli {
    /// The slaves to run, checked.
    pub(crate) fn slaves(&self) -> Result<Vec<SlaveSpec>, String> {
        if self.count == 0 || self.count > MAX_SLAVES {
            return Err(format!("-n must be between 1 and {MAX_SLAVES}"));
        }
        if self.first_id == 0 || self.first_id.saturating_add(self.count - 1) > MAX_SLAVES {
            return Err(format!("slave ids must stay between 1 and {MAX_SLAVES}"));
        }
        if u32::from(self.base_port) + self.count > u32::from(u16::MAX) {
            return Err("--base-port plus -n goes beyond port 65535".into());
        }
        let register = registry_address(&self.master);
        Ok((0..self.count)
            .map(|i| {
                let id = self.first_id + i;
                let port = self.base_port + 1 + i as u16;
                let mut args = vec![
                    "--listen".into(),
                    SocketAddr::new(self.bind, port).to_string(),
                    "--root".into(),
                    self.root.display().to_string(),
                    "--register".into(),
                    register.clone(),
                    "--slave-id".into(),
                    id.to_string(),
                ];
                if let Some(a) = &self.public_addr {
                    args.extend(["--public-addr".into(), a.clone()]);
                }
                if let Some(k) = &self.key_file {
                    args.extend(["--key-file".into(), k.display().to_string()]);
                }
                if let Some(l) = &self.log_file {
                    args.extend(["--log-file".into(), l.display().to_string()]);
                }
                if self.quiet {
                    args.push("--quiet".into());
                }
                args.extend(std::iter::repeat("--verbose".to_string()).take(self.verbose.into()));
                args.extend(self.server_args.iter().cloned());
                SlaveSpec { id, args }
            })
            .collect())
    }

    /// Log level of `ftpslaves` itself.
    pub(crate) fn log_level(&self) -> LevelFilter {
        log_level(self.quiet, self.verbose)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_addresses_get_the_default_port() {
        assert_eq!(registry_address("localhost"), "localhost:2190");
        assert_eq!(registry_address("master:3000"), "master:3000");
        assert_eq!(registry_address("127.0.0.1"), "127.0.0.1:2190");
        assert_eq!(registry_address("::1"), "[::1]:2190");
        assert_eq!(registry_address("[::1]:9"), "[::1]:9");
    }

    #[test]
    fn same_host_slaves_get_clients_passed_others_relayed() {
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let any: IpAddr = "0.0.0.0".parse().unwrap();
        let other: IpAddr = "127.0.0.2".parse().unwrap();
        assert_eq!(choose_mode(true, any, &[lo]), Mode::Pass);
        assert_eq!(choose_mode(true, lo, &[lo]), Mode::Pass);
        // 127.0.0.2 stands for another host in the tests.
        assert_eq!(choose_mode(true, other, &[lo]), Mode::Relay);
        assert_eq!(choose_mode(false, any, &["192.0.2.1".parse().unwrap()]), Mode::Relay);
    }

    #[test]
    fn ftpslaves_builds_one_command_line_per_slave() {
        let cli = SlavesCli::parse_from(["ftpslaves", "localhost", "-n", "3", "--base-port", "3000", "--", "-w"]);
        let s = cli.slaves().unwrap();
        assert_eq!(s.iter().map(|s| s.id).collect::<Vec<_>>(), [1, 2, 3]);
        let a = &s[2].args;
        assert_eq!(a[..2], ["--listen", "0.0.0.0:3003"]);
        assert!(a.windows(2).any(|w| w == ["--register", "localhost:2190"]));
        assert!(a.windows(2).any(|w| w == ["--slave-id", "3"]));
        assert_eq!(a.last().unwrap(), "-w");
        assert!(SlavesCli::parse_from(["ftpslaves", "h", "-n", "0"]).slaves().is_err());
        assert!(SlavesCli::parse_from(["ftpslaves", "h", "--base-port", "65535"]).slaves().is_err());
        assert!(SlavesCli::parse_from(["ftpslaves", "h", "--first-id", "1000", "-n", "2"]).slaves().is_err());
    }

    #[test]
    fn a_slave_registering_with_a_local_master_gets_a_handoff_socket() {
        let args = SlaveArgs { register: Some("127.0.0.1:2190".into()), slave_id: Some(2), key_file: None };
        let cfg = args.to_config("0.0.0.0:2102".parse().unwrap()).unwrap().unwrap();
        assert_eq!((cfg.id, cfg.mode), (2, Mode::Pass));
        assert_eq!(cfg.handoff.as_deref(), Some("forkftp-handoff-0.0.0.0:2102"));
        assert!(!cfg.trusts_proxy_from("127.0.0.1".parse().unwrap()));
        let relayed = args.to_config("127.0.0.2:2102".parse().unwrap()).unwrap().unwrap();
        assert_eq!(relayed.mode, Mode::Relay);
        assert!(relayed.trusts_proxy_from("127.0.0.1".parse().unwrap()));
        assert!(!relayed.trusts_proxy_from("127.0.0.5".parse().unwrap()));
        let bad = SlaveArgs { slave_id: Some(0), ..args };
        assert!(bad.to_config("0.0.0.0:1".parse().unwrap()).is_err());
    }
}
