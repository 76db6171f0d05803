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
  get [-f] REMOTE [LOCAL]  download into the local directory; resumes a partial download (-f: start over)
  put [-f] LOCAL [REMOTE]  upload; resumes when the server has a shorter copy (-f: send it all again)
  ls [PATH]  cd PATH  pwd  mkdir DIR  rmdir DIR  rm FILE  rename FROM TO  size FILE
  lcd PATH  lpwd  ascii  binary  passive  active  reconnect  help [CMD]  bye (quit, exit)
  Quote names with spaces: get \"my file.txt\". Separate commands with ';'.

Password: from --password-file, else from FTP_PASSWORD, else asked on the terminal without echo
(never from the command line). Anonymous logins send 'anonymous@' unless one is given.

Exit status: 0 when every command succeeded, 1 when any failed (or the connection or login failed),
2 for a bad command line, 130 after Ctrl-C at the prompt or during a script.

Examples:
  ftpclient localhost                               interactive session, anonymous
  ftpclient -u alice ftp.example.org 21             prompts for alice's password
  ftpclient -c 'get welcome.txt; bye' localhost     one download, then exit
  ftpclient ::1 2121 < commands.txt                 a script on standard input";

/// `ftpclient`: an interactive FTP client.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "ftpclient",
    version,
    about = "An FTP client: get and put with resume, progress and statistics, a prompt or a script.",
    after_help = AFTER_HELP
)]
pub struct ClientCli {
    /// The server: a host name, an IPv4 or an IPv6 address.
    #[arg(value_name = "HOST")]
    pub host: String,

    /// The server's control port.
    #[arg(value_name = "PORT", default_value_t = DEFAULT_PORT)]
    pub port: u16,

    /// User name to log in with.
    #[arg(short, long, value_name = "NAME", default_value = "anonymous")]
    pub user: String,

    /// Read the password from the first line of FILE (instead of FTP_PASSWORD or the terminal).
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,

    /// Local directory: downloads go there, uploads are read from there (created if missing).
    #[arg(long, value_name = "DIR", default_value = DEFAULT_CLIENT_ROOT)]
    pub local_dir: PathBuf,

    /// Active mode: the server connects back to the client (EPRT, or PORT if refused).
    #[arg(long)]
    pub active: bool,

    /// Run these commands (separated by ';' or newlines), then exit.
    #[arg(short = 'c', long = "commands", value_name = "COMMANDS")]
    pub commands: Option<String>,

    /// Limit transfers to RATE bytes per second (suffix k, m or g: 500k, 2m); 0 for no limit.
    #[arg(long, value_name = "RATE", value_parser = parse_rate, default_value = "0")]
    pub limit_rate: u64,

    /// Show every command sent and every reply received (the password as ****).
    #[arg(short, long)]
    pub verbose: bool,
}

/// Parses a rate such as `500k` or `2M` (powers of 1024) into bytes per
/// second.
pub fn parse_rate(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (digits, mult) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m: u64 = match c.to_ascii_lowercase() {
                'k' => 1 << 10,
                'm' => 1 << 20,
                'g' => 1 << 30,
                _ => return Err(format!("unknown unit '{c}' (use k, m or g)")),
            };
            (&s[..i], m)
        }
        _ => (s, 1),
    };
    let n: u64 = digits.parse().map_err(|_| format!("'{s}' is not a rate (e.g. 500k, 2m)"))?;
    n.checked_mul(mult).ok_or_else(|| format!("'{s}' is too large"))
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

/// The checked configuration of one client run.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Host name or address, without IPv6 brackets.
    pub host: String,
    /// Control port.
    pub port: u16,
    /// User name.
    pub user: String,
    /// Where the password comes from.
    pub password: PasswordSource,
    /// The local directory (created if missing).
    pub local_dir: PathBuf,
    /// Passive mode (the default) or active.
    pub passive: bool,
    /// Commands given with `-c`.
    pub commands: Option<String>,
    /// Bytes per second, 0 for no limit.
    pub limit_rate: u64,
    /// Show the protocol dialogue.
    pub verbose: bool,
}

/// True for the user names of anonymous FTP (RFC 1635).
pub fn is_anonymous(user: &str) -> bool {
    user.eq_ignore_ascii_case("anonymous") || user.eq_ignore_ascii_case("ftp")
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
    /// [`PASSWORD_ENV`], if set.
    pub fn from_cli(cli: ClientCli, env_password: Option<String>) -> Result<ClientConfig, String> {
        let host = cli.host.trim();
        let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host).to_string();
        if host.is_empty() {
            return Err("the host name is empty".into());
        }
        if cli.user.is_empty() || cli.user.len() > MAX_USER_NAME || cli.user.contains(['\r', '\n']) {
            return Err(format!("the user name must be 1 to {MAX_USER_NAME} bytes on one line"));
        }
        if cli.port == 0 {
            return Err("port 0 is not a port".into());
        }
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
        Ok(ClientConfig {
            host,
            port: cli.port,
            user: cli.user,
            password,
            local_dir: cli.local_dir,
            passive: !cli.active,
            commands: cli.commands,
            limit_rate: cli.limit_rate,
            verbose: cli.verbose,
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
        let c = ClientConfig::from_cli(cli(&["localhost"]), None).unwrap();
        assert_eq!(c.port, DEFAULT_PORT);
        assert_eq!(c.user, "anonymous");
        assert_eq!(c.local_dir, PathBuf::from(DEFAULT_CLIENT_ROOT));
        assert!(c.passive);
        assert!(matches!(c.password, PasswordSource::Ask));
    }

    #[test]
    fn ipv6_hosts_lose_their_brackets() {
        assert_eq!(ClientConfig::from_cli(cli(&["[::1]", "21"]), None).unwrap().host, "::1");
        assert_eq!(ClientConfig::from_cli(cli(&["::1"]), None).unwrap().host, "::1");
    }

    #[test]
    fn the_password_comes_from_the_environment_but_never_from_argv() {
        let c = ClientConfig::from_cli(cli(&["-u", "alice", "h"]), Some("pw".into())).unwrap();
        assert!(matches!(c.password, PasswordSource::Given(ref p) if p.expose() == "pw"));
        assert!(ClientCli::try_parse_from(["ftpclient", "--password", "x", "h"]).is_err());
        assert!(!format!("{c:?}").contains("pw\""));
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

    #[test]
    fn anonymous_names() {
        assert!(is_anonymous("anonymous") && is_anonymous("FTP"));
        assert!(!is_anonymous("alice"));
    }
}
