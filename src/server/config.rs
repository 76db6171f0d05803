//! The server's configuration: `ftpserver`'s command line (clap) and the
//! checked [`ServerConfig`] built from it once, before the workers fork.
//! The options that make a pool a slave of an `ftpmaster` ([`SlaveArgs`])
//! are read here and interpreted by the balancer (`balancer::config`).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand};
use log::LevelFilter;

use super::guard::Guard;
use super::jail::Jail;
use super::proxied::Network;
use super::tls::{TlsArgs, TlsConfig};
use crate::accounts::{self, Account, Accounts, Limits, Perms};
use crate::limits;
use crate::net::resolve_addr;
use crate::service::args::ServiceArgs;
use crate::service::config_file::ConfigTool;

/// `ftpserver`: a pre-forked FTP server.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "ftpserver",
    version,
    about = "A pre-forked FTP server: the parent binds the port and keeps a pool of worker processes, each serving one client at a time.",
    args_conflicts_with_subcommands = true,
    after_help = "Examples:\n  ftpserver                                  serve ./_FTPROOT on port 2121, anonymous read-only\n  ftpserver --listen [::]:2121 -w            IPv6 (and IPv4), anonymous may upload\n  ftpserver --user alice:secret --root /srv  an account with full access\n  ftpserver status                           the workers of the server on port 2121\n  ftpserver --config /etc/forkftp/ftpserver.toml   options from a file (TOML, one key per option)\n  ftpserver config --print                   the effective configuration\n  ftpserver gencert && ftpserver --tls-cert ftpserver-cert.pem --tls-key ftpserver-key.pem\n                                             FTPS (explicit AUTH TLS) with a self-signed certificate\n  ftpserver --listen 0.0.0.0:2103 --register master:2190 --slave-id 3 --key-file cluster.key\n                                             a slave of an ftpmaster, on another host"
)]
pub struct ServerCli {
    /// Instead of serving: a tool.
    #[command(subcommand)]
    pub command: Option<ServerCommand>,
    /// Configuration file: one key per option, e.g. `max-workers = 64`; options given here win over it [default: /etc/forkftp/ftpserver.toml if it exists].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The server's options.
    #[command(flatten)]
    pub server: ServerArgs,
}

/// The tools of `ftpserver`.
#[derive(Subcommand, Debug, Clone)]
pub enum ServerCommand {
    /// Print the workers of a running server: pid, state, client, user, command, bytes, duration.
    Status {
        /// The --listen address of the server to ask.
        #[arg(long, value_name = "ADDR:PORT", default_value = limits::DEFAULT_LISTEN)]
        listen: String,
    },
    /// Print a users-file line for NAME (password read without echo, or from standard input).
    Passwd {
        /// The login name.
        name: String,
        /// Home directory: relative to --root, or absolute [default: the root].
        #[arg(long, value_name = "DIR", default_value = "")]
        home: String,
        /// Rights: read,write,delete,mkdir,rename (any subset), all, or none.
        #[arg(long, value_name = "LIST", default_value = "all")]
        perms: String,
        /// Limits: down=RATE,up=RATE,quota=SIZE,files=N (bytes/s and bytes; K, M, G suffixes) [default: none].
        #[arg(long, value_name = "LIST", default_value = "none")]
        limits: String,
    },
    /// Write a self-signed certificate and its key for FTPS, then run: ftpserver --tls-cert ftpserver-cert.pem --tls-key ftpserver-key.pem
    Gencert {
        /// A host name or IP address the certificate is for (repeatable) [default: this host's name, localhost, 127.0.0.1, ::1].
        #[arg(long = "name", value_name = "HOST")]
        names: Vec<String>,
        /// Where to write the certificate.
        #[arg(long, value_name = "FILE", default_value = limits::GENCERT_CERT_FILE)]
        cert: PathBuf,
        /// Where to write the private key (mode 0600).
        #[arg(long, value_name = "FILE", default_value = limits::GENCERT_KEY_FILE)]
        key: PathBuf,
        /// Replace existing files.
        #[arg(long)]
        force: bool,
    },
    /// Check the configuration file, print the effective configuration, or print a commented example.
    Config(ConfigTool),
}

/// The options of one server pool (shared by `ftpserver` and `ftpslaves`).
#[derive(Args, Debug, Clone)]
pub struct ServerArgs {
    /// Address and port to listen on; use [::]:PORT for IPv6 (and IPv4).
    #[arg(long, value_name = "ADDR:PORT", default_value = limits::DEFAULT_LISTEN)]
    pub listen: String,

    /// Directory served to clients; nobody gets outside it.
    #[arg(long, value_name = "DIR", default_value = limits::DEFAULT_ROOT)]
    pub root: PathBuf,

    /// Workers forked at start and the fewest kept; each serves one client at a time, more are forked under load.
    #[arg(long, value_name = "N", default_value_t = limits::DEFAULT_WORKERS)]
    pub workers: usize,

    /// Let anonymous users upload, delete, rename and make directories.
    #[arg(short = 'w', long)]
    pub write: bool,

    /// Refuse anonymous logins.
    #[arg(long)]
    pub no_anonymous: bool,

    /// Fewest idle workers: below this the pool grows, doubling the batch each time; clients waiting in the queue get a worker each at once.
    #[arg(long, value_name = "N", default_value_t = limits::DEFAULT_MIN_SPARE)]
    pub min_spare: usize,

    /// Most idle workers: above this, idle workers are retired.
    #[arg(long, value_name = "N", default_value_t = limits::DEFAULT_MAX_SPARE)]
    pub max_spare: usize,

    /// Most workers, so most clients served at once; when all are busy, clients not logged in make room for newcomers, and once all have logged in the next client gets 421.
    #[arg(long, value_name = "N", default_value_t = limits::DEFAULT_MAX_WORKERS)]
    pub max_workers: usize,

    /// Replace a worker after it served this many clients (0 = never).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub max_sessions_per_worker: u32,

    /// Most simultaneous clients from one IP address (0 = no limit).
    #[arg(long, value_name = "N", default_value_t = limits::DEFAULT_MAX_PER_IP)]
    pub max_per_ip: usize,

    /// Add an account with full access (repeatable). Note: visible in `ps`; prefer --users.
    #[arg(long = "user", value_name = "NAME:PASSWORD")]
    pub users: Vec<String>,

    /// Accounts file, one `name:argon2-hash:home:permissions` per line (see `ftpserver passwd`); re-read on SIGHUP.
    #[arg(long = "users", value_name = "FILE")]
    pub users_file: Option<PathBuf>,

    /// Limits of anonymous users: down=RATE,up=RATE,quota=SIZE,files=N (bytes/s and bytes; K, M, G suffixes).
    #[arg(long, value_name = "LIST", default_value = "none")]
    pub anon_limits: String,

    /// Limits of the --user accounts, as --anon-limits (users-file accounts have their own field).
    #[arg(long, value_name = "LIST", default_value = "none")]
    pub user_limits: String,

    /// Mask of the modes of uploaded files (0666) and new directories (0777), octal; SITE UMASK changes it per session.
    #[arg(long, value_name = "OCTAL", default_value = "022")]
    pub umask: String,

    /// When started as root, workers drop to this user before reading any client byte.
    #[arg(long, value_name = "USER", default_value = limits::DEFAULT_RUN_AS)]
    pub run_as: String,

    /// Address announced in PASV replies instead of the control connection's local address.
    #[arg(long, value_name = "ADDR", visible_alias = "public-addr")]
    pub masquerade: Option<String>,

    /// Port range for passive data connections [default: any free port].
    #[arg(long, value_name = "MIN-MAX")]
    pub passive_ports: Option<String>,

    /// A load balancer in front (HAProxy, a cloud's): connections from ADDR or the network ADDR/PREFIX must start with a PROXY header, v1 or v2, naming the real client (repeatable).
    #[arg(long = "proxy-protocol-from", value_name = "ADDR[/PREFIX]")]
    pub proxy_protocol_from: Vec<String>,

    /// Seconds a client has to log in (10 at most while the pool is nearly full).
    #[arg(long, value_name = "SECS", default_value_t = limits::LOGIN_TIMEOUT.as_secs())]
    pub login_timeout: u64,

    /// Seconds a logged-in client may stay silent between commands.
    #[arg(long, value_name = "SECS", default_value_t = limits::IDLE_TIMEOUT.as_secs())]
    pub idle_timeout: u64,

    /// Seconds to establish a data connection.
    #[arg(long, value_name = "SECS", default_value_t = limits::DATA_CONNECT_TIMEOUT.as_secs())]
    pub data_timeout: u64,

    /// Seconds a transfer may make no progress before it is aborted.
    #[arg(long, value_name = "SECS", default_value_t = limits::STALL_TIMEOUT.as_secs())]
    pub stall_timeout: u64,

    /// Failed logins before the connection is closed, and, counted across connections, before the client's address is banned for --ban-time.
    #[arg(long, value_name = "N", default_value_t = limits::MAX_LOGIN_FAILS)]
    pub max_login_fails: u32,

    /// Seconds an address is banned after --max-login-fails failed logins within as many seconds (0 = no bans).
    #[arg(long, value_name = "SECS", default_value_t = limits::BAN_TIME.as_secs())]
    pub ban_time: u64,

    /// Milliseconds before answering the first failed login; doubles with each failure.
    #[arg(long, value_name = "MS", default_value_t = limits::LOGIN_FAIL_DELAY.as_millis() as u64)]
    pub login_fail_delay: u64,

    /// Append the log to FILE instead of standard error.
    #[arg(long, value_name = "FILE")]
    pub log_file: Option<PathBuf>,

    /// Log every command (-v), or every reply too (-vv).
    #[arg(short, long, action = ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Log errors only.
    #[arg(short, long)]
    pub quiet: bool,

    /// Slave of an ftpmaster: --register, --slave-id, --key-file.
    #[command(flatten)]
    pub cluster: SlaveArgs,

    /// FTPS: --tls-cert, --tls-key, --implicit-tls-listen, the TLS policy.
    #[command(flatten)]
    pub tls: TlsArgs,

    /// Pid file, syslog, metrics, and the transfer log.
    #[command(flatten)]
    pub service: ServerServiceArgs,
}

/// What a server pool takes to run as a service: the options it shares
/// with `ftpmaster`, and the transfer log.
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "Running as a service")]
pub struct ServerServiceArgs {
    /// Append one line per transfer to FILE in the wu-ftpd/vsftpd xferlog format (reopened on SIGUSR1).
    #[arg(long, value_name = "FILE")]
    pub xferlog: Option<PathBuf>,

    /// Pid file, syslog, metrics.
    #[command(flatten)]
    pub common: ServiceArgs,
}

/// The options that make a server pool a slave of an `ftpmaster`.
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "Slave of an ftpmaster")]
pub struct SlaveArgs {
    /// Register with the ftpmaster whose registry is at HOST:PORT, and stay registered (heartbeats; registers again when the master restarts).
    #[arg(long, value_name = "HOST:PORT")]
    pub register: Option<String>,

    /// This slave's id, 1-1000: the master takes slaves in id order, and clients see it in the greeting [default: 1].
    #[arg(long, value_name = "N", requires = "register")]
    pub slave_id: Option<u32>,

    /// File holding the cluster key shared with the master [default: $FTP_CLUSTER_KEY if set].
    #[arg(long, value_name = "FILE", requires = "register")]
    pub key_file: Option<PathBuf>,
}

/// Timeouts of a session.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timeouts {
    /// From connect to a successful login.
    pub login: Duration,
    /// Between two commands once logged in.
    pub idle: Duration,
    /// To establish a data connection.
    pub data_connect: Duration,
    /// Without progress during a transfer.
    pub stall: Duration,
}

/// How the pool grows and shrinks (Apache prefork's model).
#[derive(Clone, Copy, Debug)]
pub(crate) struct PoolConfig {
    /// Workers forked at start, and the fewest kept.
    pub workers: usize,
    /// Fewest idle workers.
    pub min_spare: usize,
    /// Most idle workers.
    pub max_spare: usize,
    /// Most workers.
    pub max_workers: usize,
    /// Clients a worker serves before it is replaced (0 = never).
    pub max_sessions_per_worker: u32,
    /// Most simultaneous clients per address (0 = no limit).
    pub max_per_ip: usize,
}

/// The checked configuration of one server pool.
#[derive(Clone, Debug)]
pub(crate) struct ServerConfig {
    /// Listening address.
    pub listen: SocketAddr,
    /// The served root, absolute.
    pub root: PathBuf,
    /// The root, opened once before the workers fork (and before they drop
    /// privileges): its ancestors need not be reachable by `--run-as`.
    pub root_dir: Arc<Jail>,
    /// Pool sizes and limits.
    pub pool: PoolConfig,
    /// Who may log in.
    pub accounts: Accounts,
    /// Address announced in PASV replies.
    pub masquerade: Option<IpAddr>,
    /// Passive port range, inclusive.
    pub passive_ports: Option<(u16, u16)>,
    /// Load balancers whose PROXY header names the client.
    pub proxy_from: Vec<Network>,
    /// Session timeouts.
    pub timeouts: Timeouts,
    /// Failed logins before disconnect, and (across connections) before a ban.
    pub max_login_fails: u32,
    /// The window of failed logins, and the length of a ban (zero: no bans).
    pub ban_time: Duration,
    /// Password hashes at once in the whole pool.
    pub hash_permits: usize,
    /// Delay before the first failed-login reply.
    pub login_fail_delay: Duration,
    /// The 220 greeting text.
    pub greeting: String,
    /// User the workers run as when started as root.
    pub run_as: String,
    /// Log destination (standard error when `None`).
    pub log_file: Option<PathBuf>,
    /// Log level.
    pub log_level: LevelFilter,
    /// FTPS, when a certificate is configured.
    pub tls: Option<TlsConfig>,
    /// Mask of the modes of new files and directories (`--umask`).
    pub umask: u32,
    /// The defences the workers share (mapped before they fork; a reload
    /// keeps the running one).
    pub guard: Arc<Guard>,
}

/// Parses `MIN-MAX` into an inclusive port range.
pub(crate) fn parse_port_range(s: &str) -> Result<(u16, u16), String> {
    let (a, b) = s.split_once('-').ok_or("expected MIN-MAX, e.g. 50000-50100")?;
    let lo: u16 = a.trim().parse().map_err(|_| format!("bad port '{a}'"))?;
    let hi: u16 = b.trim().parse().map_err(|_| format!("bad port '{b}'"))?;
    if lo == 0 || lo > hi {
        return Err(format!("empty or invalid range {lo}-{hi}"));
    }
    Ok((lo, hi))
}

/// Security: anonymous users read the whole root, so an account's home
/// inside it (not the root itself: that is the public tree, shared) would
/// be theirs to read. Refused at start (and on reload), naming the way out.
fn private_homes_outside(users: &[Account], root: &std::path::Path) -> Result<(), String> {
    for a in users {
        let Some(home) = &a.home else { continue };
        // Symlinks resolved where the home exists; `..` folded where not.
        let resolved = std::fs::canonicalize(home).unwrap_or_else(|_| {
            home.components().fold(PathBuf::new(), |mut p, c| {
                match c {
                    std::path::Component::ParentDir => {
                        p.pop();
                    }
                    std::path::Component::CurDir => {}
                    c => p.push(c),
                }
                p
            })
        });
        if resolved != root && resolved.starts_with(root) {
            return Err(format!(
                "the home {} of user {} is inside the root {}, which anonymous users can read: \
                 give the account a home outside the root (an absolute path in the users file), \
                 or turn anonymous logins off with --no-anonymous",
                resolved.display(),
                a.name,
                root.display()
            ));
        }
    }
    Ok(())
}

impl ServerArgs {
    /// Checks the options and builds the configuration.
    pub(crate) fn to_config(&self) -> Result<ServerConfig, String> {
        let listen = resolve_addr(&self.listen).map_err(|e| format!("--listen {e}"))?;
        let root = std::fs::canonicalize(&self.root).map_err(|e| format!("--root {}: {e}", self.root.display()))?;
        if !root.is_dir() {
            return Err(format!("--root {}: not a directory", root.display()));
        }
        let root_dir = Arc::new(Jail::new(&root).map_err(|e| format!("--root {}: {e}", root.display()))?);
        if self.max_workers == 0 || self.max_workers > limits::MAX_WORKERS {
            return Err(format!("--max-workers must be between 1 and {}", limits::MAX_WORKERS));
        }
        if self.workers == 0 || self.workers > self.max_workers {
            return Err(format!("--workers must be between 1 and --max-workers ({})", self.max_workers));
        }
        if self.min_spare > self.max_spare {
            return Err("--min-spare must not exceed --max-spare".into());
        }
        let pool = PoolConfig {
            workers: self.workers,
            min_spare: self.min_spare,
            max_spare: self.max_spare.max(1),
            max_workers: self.max_workers,
            max_sessions_per_worker: self.max_sessions_per_worker,
            max_per_ip: self.max_per_ip,
        };
        let mut users: Vec<Account> = match &self.users_file {
            None => Vec::new(),
            Some(f) => {
                let text = std::fs::read_to_string(f).map_err(|e| format!("--users {}: {e}", f.display()))?;
                accounts::parse_users_file(&text, &root).map_err(|e| format!("--users {}: {e}", f.display()))?
            }
        };
        let user_limits = Limits::parse(&self.user_limits).map_err(|e| format!("--user-limits: {e}"))?;
        let anonymous_limits = Limits::parse(&self.anon_limits).map_err(|e| format!("--anon-limits: {e}"))?;
        let umask = u32::from_str_radix(&self.umask, 8)
            .ok()
            .filter(|m| *m <= 0o777)
            .ok_or_else(|| format!("--umask {}: expected an octal mask, 000 to 777", self.umask))?;
        for spec in &self.users {
            let mut acc = Account::parse_spec(spec).map_err(|e| format!("--user: {e}"))?;
            acc.limits = user_limits;
            if users.iter().any(|u| u.name == acc.name) {
                return Err(format!("--user {}: defined twice", acc.name));
            }
            users.push(acc);
        }
        let anonymous = (!self.no_anonymous).then_some(if self.write { Perms::ALL } else { Perms::READ_ONLY });
        if anonymous.is_some() {
            private_homes_outside(&users, &root)?;
        }
        let masquerade = match &self.masquerade {
            None => None,
            Some(m) => Some(match m.parse::<IpAddr>() {
                Ok(ip) => ip,
                Err(_) => resolve_addr(&format!("{m}:0")).map_err(|e| format!("--masquerade {e}"))?.ip(),
            }),
        };
        let passive_ports = self
            .passive_ports
            .as_deref()
            .map(parse_port_range)
            .transpose()
            .map_err(|e| format!("--passive-ports: {e}"))?;
        let proxy_from = self
            .proxy_protocol_from
            .iter()
            .map(|n| n.parse::<Network>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("--proxy-protocol-from {e}"))?;
        let secs = |n: u64, name: &str| {
            if n == 0 {
                Err(format!("--{name} must be at least 1 second"))
            } else {
                Ok(Duration::from_secs(n))
            }
        };
        let timeouts = Timeouts {
            login: secs(self.login_timeout, "login-timeout")?,
            idle: secs(self.idle_timeout, "idle-timeout")?,
            data_connect: secs(self.data_timeout, "data-timeout")?,
            stall: secs(self.stall_timeout, "stall-timeout")?,
        };
        let log_level = crate::logging::level(self.quiet, self.verbose);
        let tls = self.tls.to_config()?;
        Ok(ServerConfig {
            listen,
            root,
            root_dir,
            pool,
            accounts: Accounts::new(anonymous, anonymous_limits, users),
            masquerade,
            passive_ports,
            proxy_from,
            timeouts,
            max_login_fails: self.max_login_fails.max(1),
            ban_time: Duration::from_secs(self.ban_time),
            hash_permits: std::thread::available_parallelism()
                .map_or(1, |n| n.get() * limits::HASHES_PER_CPU)
                .clamp(1, limits::MAX_HASH_PERMITS),
            login_fail_delay: Duration::from_millis(self.login_fail_delay),
            run_as: self.run_as.clone(),
            // A slave changes it (`server::intake::Intake::greeting`).
            greeting: "forkftp ready.".to_string(),
            log_file: self.log_file.clone(),
            log_level,
            tls,
            umask,
            guard: Arc::new(Guard::new().map_err(|e| format!("shared memory: {e}"))?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges() {
        assert_eq!(parse_port_range("50000-50010"), Ok((50000, 50010)));
        assert!(parse_port_range("5-1").is_err());
        assert!(parse_port_range("0-10").is_err());
        assert!(parse_port_range("x").is_err());
    }

    #[test]
    fn a_home_inside_the_anonymous_root_is_refused() {
        let root = std::path::Path::new("/nonexistent-forkftp/ftp");
        let mut a = Account::parse_spec("alice:pw").unwrap();
        for (home, inside) in [
            ("/nonexistent-forkftp/ftp/alice", true),
            ("/nonexistent-forkftp/ftp/pub/../alice", true),
            ("/nonexistent-forkftp/ftp/../users/alice", false),
            ("/nonexistent-forkftp/ftp", false),
            ("/nonexistent-forkftp/ftpx", false),
        ] {
            a.home = Some(PathBuf::from(home));
            let r = private_homes_outside(std::slice::from_ref(&a), root);
            assert_eq!(r.is_err(), inside, "{home}: {r:?}");
            if let Err(e) = r {
                assert!(e.contains("--no-anonymous") && e.contains("alice"), "{e}");
            }
        }
    }

    #[test]
    fn defaults_build_a_config() {
        let cli = ServerCli::parse_from(["ftpserver", "--root", "/tmp"]);
        let cfg = cli.server.to_config().unwrap();
        assert_eq!(cfg.listen.port(), limits::DEFAULT_PORT);
        assert_eq!(cfg.pool.workers, limits::DEFAULT_WORKERS);
        assert_eq!(cfg.accounts.anonymous, Some(Perms::READ_ONLY));
        assert!(cfg.proxy_from.is_empty());
        assert_eq!(cfg.umask, limits::DEFAULT_UMASK);
    }

    #[test]
    fn limits_and_umask_options() {
        let args = ["ftpserver", "--root", "/tmp", "--user", "a:b", "--user-limits", "up=1K", "--umask", "027"];
        let cfg = ServerCli::parse_from(args).server.to_config().unwrap();
        assert_eq!(cfg.accounts.users[0].limits.upload_rate, 1024);
        assert_eq!(cfg.umask, 0o027);
        for bad in [&["--umask", "8"][..], &["--umask", "1777"], &["--anon-limits", "down=x"]] {
            let mut args = vec!["ftpserver", "--root", "/tmp"];
            args.extend_from_slice(bad);
            assert!(ServerCli::parse_from(args).server.to_config().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn trusted_proxies_are_checked() {
        let cli = ServerCli::parse_from([
            "ftpserver",
            "--root",
            "/tmp",
            "--proxy-protocol-from",
            "10.0.0.0/8",
            "--proxy-protocol-from",
            "::1",
        ]);
        let cfg = cli.server.to_config().unwrap();
        assert_eq!(cfg.proxy_from, vec!["10.0.0.0/8".parse().unwrap(), "::1".parse().unwrap()]);
        let cli = ServerCli::parse_from(["ftpserver", "--root", "/tmp", "--proxy-protocol-from", "10.0.0.1/8"]);
        let e = cli.server.to_config().unwrap_err();
        assert!(e.starts_with("--proxy-protocol-from 10.0.0.1/8: ") && e.contains("10.0.0.0/8"), "{e}");
    }
}
