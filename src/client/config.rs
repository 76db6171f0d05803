//! The client's command line (clap) and the checked [`ClientConfig`] built
//! from it: where to connect, who to be, where the password comes from.
//!
//! The password never comes from the command line alone (it would show in
//! `ps` and in the shell's history): it is read from the terminal without
//! echo, from `FTP_PASSWORD`, or from `--password-file`.

use std::io::Read;
use std::path::PathBuf;

use clap::Parser;

use crate::limits::{DEFAULT_CLIENT_ROOT, DEFAULT_PORT, MAX_USER_NAME};
use crate::protocol::Password;

/// The environment variable that may hold the password.
pub const PASSWORD_ENV: &str = "FTP_PASSWORD";

/// The password sent for an anonymous login when none is given (RFC 1635
/// asks for an e-mail address; any text is accepted in practice).
pub const ANONYMOUS_PASSWORD: &str = "anonymous@";

/// Longest password file read (a password is one short line).
const MAX_PASSWORD_FILE: u64 = 4096;

const AFTER_HELP: &str = "\
Commands (at the ftp> prompt, after -c, or one per line on standard input):
  get [-f] [-c] [-r] REMOTE [LOCAL]  download; resumes a partial download (-f: start over,
                                     -c: compare checksums afterwards, -r: a whole directory)
  put [-f] [-r] LOCAL [REMOTE]       upload; resumes when the server has a shorter copy
  mget PATTERN...  mput PATTERN...   many files by glob (*.txt, dir/*)
  mirror [-R] [--delete] [--dry-run] [SOURCE [TARGET]]
                                     copy a remote tree here (-R: a local tree there), moving only
                                     files whose size or time differ
  hash [-a ALGO] FILE  verify [-a ALGO] REMOTE [LOCAL]   server checksums (HASH, XSHA256...)
  ls [PATH]  cd PATH  pwd  mkdir DIR  rmdir DIR  rm FILE  rename FROM TO  size FILE
  lcd PATH  lpwd  ascii  binary  passive  active  open HOST [PORT]  user NAME  close
  reconnect  !COMMAND  help [CMD]  bye (quit, exit)
  Quote names with spaces: get \"my file.txt\". Separate commands with ';'. At the prompt, Tab
  completes commands and remote names; the history is kept in $XDG_DATA_HOME/forkftp/history.

Password: from --password-file, else from FTP_PASSWORD, else from ~/.netrc (or $NETRC: machine,
default, login, password; refused when others may read the file), else asked on the terminal
without echo (never from the command line). Anonymous logins send 'anonymous@' unless one is given.

FTPS: --tls (or FTP_TLS=1) encrypts with AUTH TLS, --implicit or ftps://HOST/ from the first byte (port
990); the server's certificate is checked against the system's roots, or --ca-file, unless --insecure.
The prompt is ftps> while the session is encrypted.

URLs: ftp://[USER@]HOST[:PORT]/PATH (port 21 unless given). A PATH naming a file downloads it into
the current directory (or --local-dir) and exits; a PATH ending in / opens the prompt there.

Exit status: 0 when every command succeeded, 1 when any failed (or the connection or login failed),
2 for a bad command line, 130 after Ctrl-C at the prompt or during a script.

Examples:
  ftpclient localhost                               interactive session, anonymous
  ftpclient -u alice ftp.example.org 21             prompts for alice's password
  ftpclient -c 'get welcome.txt; bye' localhost     one download, then exit
  ftpclient -c 'mirror pub' localhost               copy the remote tree pub into _CLIENTROOT/pub
  ftpclient ftp://localhost:2121/pub/a.iso          download a.iso here, like curl -O
  ftpclient --limit-rate 500k ::1 2121 < cmds.txt   a script on standard input, at 500 KiB/s
  ftpclient --tls --ca-file ftpserver-cert.pem localhost   FTPS with the server's own certificate";

/// `ftpclient`: an interactive FTP client.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "ftpclient",
    version,
    about = "An FTP client: get and put with resume, progress and statistics, a prompt or a script.",
    after_help = AFTER_HELP
)]
pub struct ClientCli {
    /// The server: a host name, an IPv4 or an IPv6 address, or a URL
    /// (ftp://[USER@]HOST[:PORT]/PATH).
    #[arg(value_name = "HOST|URL")]
    pub host: String,

    /// The server's control port.
    #[arg(value_name = "PORT")]
    pub port: Option<u16>,

    /// User name to log in with [default: the login of ~/.netrc for the host, else anonymous].
    #[arg(short, long, value_name = "NAME")]
    pub user: Option<String>,

    /// Do not read ~/.netrc (or $NETRC).
    #[arg(long)]
    pub no_netrc: bool,

    /// Read the password from the first line of FILE (instead of FTP_PASSWORD or the terminal).
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,

    /// Local directory: downloads go there, uploads are read from there (created if missing)
    /// [default: _CLIENTROOT; for a URL naming a file, the current directory].
    #[arg(long, value_name = "DIR")]
    pub local_dir: Option<PathBuf>,

    /// Active mode: the server connects back to the client (EPRT, or PORT if refused).
    #[arg(long)]
    pub active: bool,

    /// Passive mode: connect to the address of the server's PASV reply, not the control connection's (a server behind a load balancer, or a slave an ftpmaster relays to, names itself there). Only for servers you trust: such a reply can aim the data connection at any host.
    #[arg(long)]
    pub use_pasv_address: bool,

    /// Run these commands (separated by ';' or newlines), then exit.
    #[arg(short = 'c', long = "commands", value_name = "COMMANDS")]
    pub commands: Option<String>,

    /// Limit transfers to RATE bytes per second, as curl's --limit-rate (suffix k, m or g: 500k, 2m); 0 for no limit.
    #[arg(long, value_name = "RATE", value_parser = parse_rate, default_value = "0")]
    pub limit_rate: u64,

    /// Show every command sent and every reply received (the password as ****).
    #[arg(short, long)]
    pub verbose: bool,

    /// Explicit FTPS: AUTH TLS before logging in, then encrypted transfers (PROT P); FTP_TLS=1 does the same.
    #[arg(long, help_heading = "FTPS (TLS)")]
    pub tls: bool,

    /// Implicit FTPS: TLS from the first byte (port 990 unless given), as ftps:// URLs.
    #[arg(long, help_heading = "FTPS (TLS)", conflicts_with = "tls")]
    pub implicit: bool,

    /// Trust the certificates in FILE (PEM) instead of the system's trusted roots.
    #[arg(long, value_name = "FILE", help_heading = "FTPS (TLS)")]
    pub ca_file: Option<PathBuf>,

    /// Do not check the server's certificate (the connection is encrypted, but to a server nobody vouched for).
    #[arg(long, help_heading = "FTPS (TLS)")]
    pub insecure: bool,
}

/// The environment variable that turns on explicit FTPS (`FTP_TLS=1`).
pub const TLS_ENV: &str = "FTP_TLS";

/// The control port of `ftps://` URLs and `--implicit` without one.
pub const IMPLICIT_DEFAULT_PORT: u16 = 990;

/// The control port of a HOST given without one (on the command line or to
/// `open`): [`IMPLICIT_DEFAULT_PORT`] for implicit FTPS, else
/// [`DEFAULT_PORT`].
pub fn host_default_port(implicit: bool) -> u16 {
    if implicit {
        IMPLICIT_DEFAULT_PORT
    } else {
        DEFAULT_PORT
    }
}

/// Parses a rate such as `500k` or `2M` (powers of 1024) into bytes per
/// second, as the users file's rates are read.
pub fn parse_rate(s: &str) -> Result<u64, String> {
    crate::accounts::parse_size(s).ok_or_else(|| format!("'{}' is not a rate (e.g. 500k, 2m)", s.trim()))
}

/// Where the password comes from.
#[derive(Clone, Debug)]
pub enum PasswordSource {
    /// Given by `--password-file` or `FTP_PASSWORD`.
    Given(Password),
    /// Asked on the terminal when the server wants one (anonymous users get
    /// [`ANONYMOUS_PASSWORD`] instead).
    Ask,
}

/// What a URL on the command line asks for after the login.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UrlTarget {
    /// `ftp://host/dir/`: the prompt (or the commands) start in `dir`.
    Dir(String),
    /// `ftp://host/path/file`: download it, then exit.
    File(String),
}

/// The parts of an `ftp://` URL (RFC 1738 section 3.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FtpUrl {
    /// The user, if the URL names one.
    pub user: Option<String>,
    /// The host, without IPv6 brackets.
    pub host: String,
    /// The port, if the URL names one.
    pub port: Option<u16>,
    /// The directory or file after the login, if any.
    pub target: Option<UrlTarget>,
    /// `ftps://`: implicit FTPS.
    pub implicit: bool,
}

/// The control port of `ftp://` URLs without one (RFC 1738 section 3.2).
pub const URL_DEFAULT_PORT: u16 = 21;

/// `%XX` escapes decoded (RFC 3986 section 2.1).
fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok());
            out.push(hex.ok_or_else(|| format!("bad %-escape in '{s}'"))?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("'{s}' is not UTF-8 once decoded"))
}

/// Parses `ftp://[USER@]HOST[:PORT][/PATH]`. The path is relative to the
/// login directory (RFC 1738 section 3.2.2; `%2F` makes it absolute); one
/// that ends in `/` is a directory. Security: a password in the URL is
/// refused, as it would show in `ps` and in the shell's history.
pub fn parse_url(url: &str) -> Result<FtpUrl, String> {
    let (rest, implicit) = match url.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("ftp") => (rest, false),
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("ftps") => (rest, true),
        Some((scheme, _)) => return Err(format!("'{scheme}://' URLs are not supported: use ftp:// or ftps://")),
        None => return Err(format!("'{url}' is not a URL")),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let (user, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => {
            if u.contains(':') {
                return Err("a password in the URL would show in ps and in the shell's history: \
                            use ~/.netrc, FTP_PASSWORD or --password-file"
                    .into());
            }
            (Some(percent_decode(u)?), h)
        }
        None => (None, authority),
    };
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, after) = v6.split_once(']').ok_or("unclosed '[' in the URL's host")?;
        (h.to_string(), after.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (hostport.to_string(), None),
        }
    };
    let port = match port {
        None | Some("") => None,
        Some(p) => Some(p.parse::<u16>().ok().filter(|&n| n > 0).ok_or_else(|| format!("'{p}' is not a port"))?),
    };
    if host.is_empty() {
        return Err("the URL names no host".into());
    }
    let target = match path.map(percent_decode).transpose()? {
        None => None,
        Some(p) if p.is_empty() => None,
        Some(p) if p.contains(['\r', '\n', '\0']) => return Err("the URL's path holds a line break or NUL".into()),
        Some(p) => match p.strip_suffix('/') {
            Some(dir) => Some(UrlTarget::Dir(if dir.is_empty() { "/".into() } else { dir.to_string() })),
            None => Some(UrlTarget::File(p)),
        },
    };
    Ok(FtpUrl { user: user.filter(|u| !u.is_empty()), host, port, target, implicit })
}

/// The checked configuration of one client run.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Host name or address, without IPv6 brackets.
    pub host: String,
    /// Control port.
    pub port: u16,
    /// User name.
    pub user: String,
    /// The user name was chosen (`-u`, the URL, `user`): ~/.netrc does not
    /// replace it.
    pub user_given: bool,
    /// ~/.netrc, unless `--no-netrc`.
    pub netrc: Option<super::netrc::Netrc>,
    /// What the URL asks for after the login.
    pub url_target: Option<UrlTarget>,
    /// Where the password comes from.
    pub password: PasswordSource,
    /// The local directory (created if missing).
    pub local_dir: PathBuf,
    /// Passive mode (the default) or active.
    pub passive: bool,
    /// Passive data connections go to the PASV reply's address.
    pub use_pasv_address: bool,
    /// Commands given with `-c`.
    pub commands: Option<String>,
    /// Bytes per second, 0 for no limit.
    pub limit_rate: u64,
    /// Show the protocol dialogue.
    pub verbose: bool,
    /// FTPS, explicit or implicit.
    pub tls: Option<super::tls::TlsMode>,
    /// Which certificates to trust.
    pub tls_options: super::tls::TlsOptions,
}

/// Checks a user name: 1 to [`MAX_USER_NAME`] bytes on one line.
pub fn check_user(user: &str) -> Result<(), String> {
    if user.is_empty() || user.len() > MAX_USER_NAME || user.contains(['\r', '\n', '\0']) {
        return Err(format!("the user name must be 1 to {MAX_USER_NAME} bytes on one line"));
    }
    Ok(())
}

/// The first line of a password file, without its line end.
fn read_password_file(path: &std::path::Path) -> Result<Password, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {}", path.display(), super::error::io_text(&e)))?;
    let mut text = String::new();
    file.take(MAX_PASSWORD_FILE)
        .read_to_string(&mut text)
        .map_err(|e| format!("{}: {}", path.display(), super::error::io_text(&e)))?;
    let line = text.lines().next().unwrap_or("");
    Ok(Password::new(line))
}

impl ClientConfig {
    /// Checks the command line; `env_password` is the value of
    /// [`PASSWORD_ENV`], if set; `env_tls` is [`TLS_ENV`] set to `1`, which
    /// asks for explicit FTPS as `--tls` does, unless the command line
    /// already chose implicit FTPS.
    pub fn from_cli(cli: ClientCli, env_password: Option<String>, env_tls: bool) -> Result<ClientConfig, String> {
        let arg = cli.host.trim();
        let (host, port, url_user, url_target, implicit) = if arg.contains("://") {
            if cli.port.is_some() {
                return Err("give the port inside the URL (ftp://host:port/), not after it".into());
            }
            let u = parse_url(arg)?;
            if u.implicit && cli.tls {
                return Err("ftps:// is implicit FTPS; --tls asks for explicit FTPS (use ftp:// with it)".into());
            }
            let default = if u.implicit { IMPLICIT_DEFAULT_PORT } else { URL_DEFAULT_PORT };
            (u.host, u.port.unwrap_or(default), u.user, u.target, u.implicit || cli.implicit)
        } else {
            let host = arg.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(arg).to_string();
            if host.is_empty() {
                return Err("the host name is empty".into());
            }
            (host, cli.port.unwrap_or(host_default_port(cli.implicit)), None, None, cli.implicit)
        };
        let tls = match (implicit, cli.tls || env_tls) {
            (true, _) => Some(super::tls::TlsMode::Implicit),
            (false, true) => Some(super::tls::TlsMode::Explicit),
            (false, false) => None,
        };
        if tls.is_none() && (cli.insecure || cli.ca_file.is_some()) {
            return Err("--ca-file and --insecure are for FTPS: add --tls (or --implicit)".into());
        }
        if port == 0 {
            return Err("port 0 is not a port".into());
        }
        if matches!(url_target, Some(UrlTarget::File(_))) && cli.commands.is_some() {
            return Err("a URL naming a file downloads it and exits: -c cannot be used with it".into());
        }
        let netrc = if cli.no_netrc { None } else { super::netrc::Netrc::load()? };
        let user_given = cli.user.is_some() || url_user.is_some();
        let user = match cli.user.or(url_user) {
            Some(u) => u,
            None => netrc
                .as_ref()
                .and_then(|n| n.find(&host, None))
                .and_then(|m| m.login.clone())
                .unwrap_or_else(|| "anonymous".into()),
        };
        check_user(&user)?;
        let password = match (&cli.password_file, env_password) {
            (Some(path), _) => PasswordSource::Given(read_password_file(path)?),
            (None, Some(p)) => PasswordSource::Given(Password::new(p)),
            (None, None) => PasswordSource::Ask,
        };
        if let PasswordSource::Given(p) = &password {
            if p.expose().contains(['\r', '\n']) {
                return Err("the password must be on one line".into());
            }
        }
        let local_dir = cli.local_dir.unwrap_or_else(|| match url_target {
            Some(UrlTarget::File(_)) => PathBuf::from("."),
            _ => PathBuf::from(DEFAULT_CLIENT_ROOT),
        });
        Ok(ClientConfig {
            host,
            port,
            user,
            user_given,
            netrc,
            url_target,
            password,
            local_dir,
            passive: !cli.active,
            use_pasv_address: cli.use_pasv_address,
            commands: cli.commands,
            limit_rate: cli.limit_rate,
            verbose: cli.verbose,
            tls,
            tls_options: super::tls::TlsOptions { ca_file: cli.ca_file, insecure: cli.insecure },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> ClientCli {
        ClientCli::try_parse_from(std::iter::once("ftpclient").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn defaults_port_user_directory_and_passive() {
        let c = ClientConfig::from_cli(cli(&["--no-netrc", "localhost"]), None, false).unwrap();
        assert_eq!(c.port, DEFAULT_PORT);
        assert_eq!(c.user, "anonymous");
        assert_eq!(c.local_dir, PathBuf::from(DEFAULT_CLIENT_ROOT));
        assert!(c.passive);
        assert!(matches!(c.password, PasswordSource::Ask));
    }

    #[test]
    fn urls_give_user_host_port_and_what_to_do() {
        let u = parse_url("ftp://bob@example.org:2121/pub/my%20file.txt").unwrap();
        assert_eq!((u.user.as_deref(), u.host.as_str(), u.port), (Some("bob"), "example.org", Some(2121)));
        assert_eq!(u.target, Some(UrlTarget::File("pub/my file.txt".into())));
        let u = parse_url("FTP://[::1]/dir/").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.target), ("::1", None, Some(UrlTarget::Dir("dir".into()))));
        assert_eq!(parse_url("ftp://h").unwrap().target, None);
        assert_eq!(parse_url("ftp://h/%2Fetc/").unwrap().target, Some(UrlTarget::Dir("/etc".into())));
        assert!(parse_url("ftp://u:secret@h/").unwrap_err().contains("password"));
        assert!(parse_url("http://h/").is_err());
        assert!(parse_url("ftp://h:99999/").is_err());
        assert!(parse_url("ftp://h/a%0d%0aDELE%20x").is_err());
        let c = ClientConfig::from_cli(cli(&["--no-netrc", "ftp://h:2121/f.txt"]), None, false).unwrap();
        assert_eq!((c.port, c.local_dir), (2121, PathBuf::from(".")));
        assert!(ClientConfig::from_cli(cli(&["ftp://h/f", "21"]), None, false).is_err());
    }

    #[test]
    fn ipv6_hosts_lose_their_brackets() {
        assert_eq!(ClientConfig::from_cli(cli(&["--no-netrc", "[::1]", "21"]), None, false).unwrap().host, "::1");
        assert_eq!(ClientConfig::from_cli(cli(&["--no-netrc", "::1"]), None, false).unwrap().host, "::1");
    }

    #[test]
    fn the_password_comes_from_the_environment_but_never_from_argv() {
        let c = ClientConfig::from_cli(cli(&["--no-netrc", "-u", "alice", "h"]), Some("pw".into()), false).unwrap();
        assert!(matches!(c.password, PasswordSource::Given(ref p) if p.expose() == "pw"));
        assert!(ClientCli::try_parse_from(["ftpclient", "--password", "x", "h"]).is_err());
        assert!(!format!("{c:?}").contains("pw\""));
    }

    /// FTP_TLS=1 is `--tls`, except where the command line chose implicit
    /// FTPS (an `ftps://` URL in any case, or `--implicit`).
    #[test]
    fn the_environment_asks_for_explicit_ftps_unless_implicit_was_chosen() {
        use crate::client::tls::TlsMode;
        let tls = |args: &[&str], env_tls| ClientConfig::from_cli(cli(args), None, env_tls).map(|c| (c.tls, c.port));
        assert_eq!(tls(&["--no-netrc", "h"], false), Ok((None, DEFAULT_PORT)));
        assert_eq!(tls(&["--no-netrc", "h"], true), Ok((Some(TlsMode::Explicit), DEFAULT_PORT)));
        for implicit in
            [&["--no-netrc", "FTPS://h/"][..], &["--no-netrc", "ftps://h/"], &["--no-netrc", "--implicit", "h"]]
        {
            assert_eq!(tls(implicit, true), Ok((Some(TlsMode::Implicit), IMPLICIT_DEFAULT_PORT)), "{implicit:?}");
        }
        assert!(tls(&["--no-netrc", "--tls", "ftps://h/"], false).is_err());
    }

    #[test]
    fn rates_take_units() {
        assert_eq!(parse_rate("500"), Ok(500));
        assert_eq!(parse_rate("500k"), Ok(500 * 1024));
        assert_eq!(parse_rate("2M"), Ok(2 << 20));
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("1x").is_err());
        assert!(parse_rate("99999999999999g").is_err());
    }
}
