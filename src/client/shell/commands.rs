//! The client's commands: their table (names, usage and the text of
//! `help`), and the parser from the words of one command to a [`Cmd`] (pure,
//! no I/O): options, the number of arguments, and names that could smuggle
//! a second command to the server.

use crate::client::hash::Algo;
use crate::protocol::TransferType;

/// One command of the client, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cmd {
    /// `get [-f] [-c] [-r] REMOTE [LOCAL]`.
    Get {
        /// The remote file (a directory with `-r`).
        remote: String,
        /// The local name, if given.
        local: Option<String>,
        /// `-f`: start over instead of resuming.
        force: bool,
        /// `-c`: compare checksums after the download.
        verify: bool,
        /// `-r`: a whole directory.
        recursive: bool,
    },
    /// `put [-f] [-r] LOCAL [REMOTE]`.
    Put {
        /// The local file (a directory with `-r`).
        local: String,
        /// The remote name, if given.
        remote: Option<String>,
        /// `-f`: send it all instead of resuming.
        force: bool,
        /// `-r`: a whole directory.
        recursive: bool,
    },
    /// `mget PATTERN...`.
    Mget(Vec<String>),
    /// `mput PATTERN...`.
    Mput(Vec<String>),
    /// `mirror [-R] [--delete] [--dry-run] [SOURCE [TARGET]]`.
    Mirror {
        /// `-R`: upload (local to remote).
        reverse: bool,
        /// `--delete`: remove from the target what the source lacks.
        delete: bool,
        /// `--dry-run`: only say what would be done.
        dry_run: bool,
        /// The source directory (remote, or local with `-R`).
        source: Option<String>,
        /// The target directory.
        target: Option<String>,
    },
    /// `hash [-a ALGO] FILE`.
    Hash(String, Option<Algo>),
    /// `verify [-a ALGO] REMOTE [LOCAL]`.
    Verify(String, Option<String>, Option<Algo>),
    /// `ls [PATH]`.
    Ls(Option<String>),
    /// `cd PATH`.
    Cd(String),
    /// `pwd`.
    Pwd,
    /// `lcd PATH`.
    Lcd(String),
    /// `lpwd`.
    Lpwd,
    /// `mkdir DIR`.
    Mkdir(String),
    /// `rmdir DIR`.
    Rmdir(String),
    /// `rm FILE`.
    Rm(String),
    /// `rename FROM TO`.
    Rename(String, String),
    /// `size FILE`.
    Size(String),
    /// `ascii` or `binary`.
    Type(TransferType),
    /// `passive` (true) or `active` (false).
    Passive(bool),
    /// `open HOST [PORT]`.
    Open(String, Option<u16>),
    /// `user NAME`.
    User(String),
    /// `close`.
    Close,
    /// `reconnect`.
    Reconnect,
    /// `!COMMAND`: a local shell command (`!` alone: a shell).
    Local(String),
    /// `help [CMD]`.
    Help(Option<String>),
    /// `bye`, `quit`, `exit`.
    Bye,
}

/// A command's names, usage and one-line description (for `help`).
struct Spec {
    names: &'static [&'static str],
    usage: &'static str,
    about: &'static str,
}

const SPECS: &[Spec] = &[
    Spec {
        names: &["get", "recv"],
        usage: "get [-f] [-c] [-r] REMOTE [LOCAL]",
        about: "download REMOTE into the local directory (into LOCAL if given); a partial download is resumed, \
                -f starts over, -c compares checksums afterwards, -r downloads a whole directory",
    },
    Spec {
        names: &["put", "send"],
        usage: "put [-f] [-r] LOCAL [REMOTE]",
        about: "upload LOCAL; when the server has a shorter copy (an interrupted upload) it is resumed, -f sends it \
                all, -r uploads a whole directory",
    },
    Spec {
        names: &["mget"],
        usage: "mget PATTERN...",
        about: "download the remote files matching each pattern (*.txt, dir/*) into the local directory",
    },
    Spec {
        names: &["mput"],
        usage: "mput PATTERN...",
        about: "upload the local files matching each pattern (*.txt, dir/*) into the remote directory",
    },
    Spec {
        names: &["mirror"],
        usage: "mirror [-R] [--delete] [--dry-run] [SOURCE [TARGET]]",
        about: "make TARGET a copy of the remote directory SOURCE (with -R: of the local one), moving only files \
                whose size or time differ; --delete removes what SOURCE lacks, --dry-run only says what it would do",
    },
    Spec {
        names: &["hash", "checksum"],
        usage: "hash [-a ALGO] FILE",
        about: "show the server's checksum of FILE (HASH, or XSHA256/XSHA1/XMD5/XCRC); ALGO: sha256, sha512, sha1, \
                md5, crc32",
    },
    Spec {
        names: &["verify"],
        usage: "verify [-a ALGO] REMOTE [LOCAL]",
        about: "compare the server's checksum of REMOTE with the local copy's",
    },
    Spec { names: &["ls", "dir"], usage: "ls [PATH]", about: "list a remote directory" },
    Spec { names: &["cd", "cwd"], usage: "cd PATH", about: "change the remote directory" },
    Spec { names: &["pwd"], usage: "pwd", about: "show the remote directory" },
    Spec { names: &["lcd"], usage: "lcd PATH", about: "change the local directory" },
    Spec { names: &["lpwd"], usage: "lpwd", about: "show the local directory" },
    Spec { names: &["mkdir"], usage: "mkdir DIR", about: "make a remote directory" },
    Spec { names: &["rmdir"], usage: "rmdir DIR", about: "remove an empty remote directory" },
    Spec { names: &["rm", "delete"], usage: "rm FILE", about: "delete a remote file" },
    Spec { names: &["rename"], usage: "rename FROM TO", about: "rename a remote file or directory" },
    Spec { names: &["size"], usage: "size FILE", about: "show the size of a remote file" },
    Spec { names: &["ascii"], usage: "ascii", about: "transfer text: line ends are converted" },
    Spec { names: &["binary", "image"], usage: "binary", about: "transfer bytes as they are (the default)" },
    Spec {
        names: &["passive"],
        usage: "passive",
        about: "the client opens data connections: EPSV, or PASV if refused (the default)",
    },
    Spec { names: &["active"], usage: "active", about: "the server connects back for data: EPRT, or PORT if refused" },
    Spec { names: &["open"], usage: "open HOST [PORT]", about: "close this connection and connect to another server" },
    Spec { names: &["user"], usage: "user NAME", about: "log in again as NAME (password from ~/.netrc or asked)" },
    Spec {
        names: &["close", "disconnect"],
        usage: "close",
        about: "end the session with the server, stay at the prompt",
    },
    Spec { names: &["reconnect"], usage: "reconnect", about: "connect and log in again after a lost connection" },
    Spec { names: &["!"], usage: "!COMMAND", about: "run COMMAND in a local shell (! alone starts a shell)" },
    Spec { names: &["help", "?"], usage: "help [CMD]", about: "list the commands, or show how to use CMD" },
    Spec { names: &["bye", "quit", "exit"], usage: "bye", about: "end the session (also quit, exit, end of input)" },
];

/// The names of every command, for tab completion.
pub fn command_names() -> impl Iterator<Item = &'static str> {
    SPECS.iter().flat_map(|s| s.names.iter().copied()).filter(|n| *n != "!" && *n != "?")
}

/// True when the command takes remote names as arguments (tab completion
/// lists the remote directory for them, local files for the others).
pub fn takes_remote_names(name: &str) -> bool {
    let local = ["lcd", "put", "mput", "!", "open", "user", "help", "bye"];
    spec(name).is_some_and(|s| !local.contains(&s.names[0]))
}

fn spec(name: &str) -> Option<&'static Spec> {
    let name = name.to_ascii_lowercase();
    SPECS.iter().find(|s| s.names.contains(&name.as_str()))
}

/// Security: a name with CR, LF or NUL would end the command line early
/// and smuggle another command to the server.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("An empty name is not a file name.".into());
    }
    if name.contains(['\r', '\n', '\0']) {
        return Err("File names cannot hold line breaks or NUL.".into());
    }
    Ok(())
}

/// A command's options: its flags, the algorithm of `-a`, and the words
/// after the options.
type Options<'a> = (Vec<String>, Option<Algo>, &'a [String]);

/// The options of a command (before its names; `--` ends them) and the
/// rest. `-a ALGO` takes a value.
fn options<'a>(args: &'a [String], allowed: &[&str]) -> Result<Options<'a>, String> {
    let mut flags = Vec::new();
    let mut algo = None;
    let mut rest = args;
    while let Some((first, tail)) = rest.split_first() {
        match first.as_str() {
            "--" => return Ok((flags, algo, tail)),
            "-a" if allowed.contains(&"-a") => {
                let (name, tail) =
                    tail.split_first().ok_or("-a needs an algorithm: sha256, sha512, sha1, md5, crc32.")?;
                algo =
                    Some(Algo::from_name(name).ok_or_else(|| {
                        format!("Unknown algorithm '{name}': use sha256, sha512, sha1, md5 or crc32.")
                    })?);
                rest = tail;
                continue;
            }
            o if allowed.contains(&o) => flags.push(o.to_string()),
            o if o.starts_with('-') && o.len() > 1 => return Err(format!("Unknown option {o}.")),
            _ => break,
        }
        rest = tail;
    }
    Ok((flags, algo, rest))
}

/// Parses the words of one command.
pub fn parse_command(words: &[String]) -> Result<Cmd, String> {
    let Some((name, args)) = words.split_first() else {
        return Err("Empty command.".into());
    };
    let Some(s) = spec(name) else {
        return Err(format!("Unknown command '{name}'. Type 'help' for the list of commands."));
    };
    let usage = || format!("Usage: {}", s.usage);
    let allowed: &[&str] = match s.names[0] {
        "get" => &["-f", "-c", "-r"],
        "put" => &["-f", "-r"],
        "mirror" => &["-R", "--delete", "--dry-run"],
        "hash" | "verify" => &["-a"],
        _ => &[],
    };
    let (flags, algo, args) = options(args, allowed).map_err(|e| format!("{e} {}", usage()))?;
    let flag = |f: &str| flags.iter().any(|x| x == f);
    for a in args {
        check_name(a)?;
    }
    let one = || match args {
        [a] => Ok(a.clone()),
        _ => Err(usage()),
    };
    let none = |cmd: Cmd| if args.is_empty() { Ok(cmd) } else { Err(usage()) };
    let one_or_two = || match args {
        [a] => Ok((a.clone(), None)),
        [a, b] => Ok((a.clone(), Some(b.clone()))),
        _ => Err(usage()),
    };
    let some = || if args.is_empty() { Err(usage()) } else { Ok(args.to_vec()) };
    match s.names[0] {
        "get" => {
            let (remote, local) = one_or_two()?;
            if flag("-r") && flag("-c") {
                return Err(format!("-c checks one file: use 'verify' after 'get -r'. {}", usage()));
            }
            Ok(Cmd::Get { remote, local, force: flag("-f"), verify: flag("-c"), recursive: flag("-r") })
        }
        "put" => {
            let (local, remote) = one_or_two()?;
            Ok(Cmd::Put { local, remote, force: flag("-f"), recursive: flag("-r") })
        }
        "mget" => some().map(Cmd::Mget),
        "mput" => some().map(Cmd::Mput),
        "mirror" => {
            let (source, target) = match args {
                [] => (None, None),
                [a] => (Some(a.clone()), None),
                [a, b] => (Some(a.clone()), Some(b.clone())),
                _ => return Err(usage()),
            };
            Ok(Cmd::Mirror {
                reverse: flag("-R"),
                delete: flag("--delete"),
                dry_run: flag("--dry-run"),
                source,
                target,
            })
        }
        "hash" => one().map(|f| Cmd::Hash(f, algo)),
        "verify" => one_or_two().map(|(r, l)| Cmd::Verify(r, l, algo)),
        "ls" => match args {
            [] => Ok(Cmd::Ls(None)),
            [p] => Ok(Cmd::Ls(Some(p.clone()))),
            _ => Err(usage()),
        },
        "cd" => one().map(Cmd::Cd),
        "pwd" => none(Cmd::Pwd),
        "lcd" => one().map(Cmd::Lcd),
        "lpwd" => none(Cmd::Lpwd),
        "mkdir" => one().map(Cmd::Mkdir),
        "rmdir" => one().map(Cmd::Rmdir),
        "rm" => one().map(Cmd::Rm),
        "rename" => match args {
            [a, b] => Ok(Cmd::Rename(a.clone(), b.clone())),
            _ => Err(usage()),
        },
        "size" => one().map(Cmd::Size),
        "ascii" => none(Cmd::Type(TransferType::Ascii)),
        "binary" => none(Cmd::Type(TransferType::Image)),
        "passive" => none(Cmd::Passive(true)),
        "active" => none(Cmd::Passive(false)),
        "open" => {
            let (host, port) = one_or_two()?;
            let port = match port {
                None => None,
                Some(p) => match p.parse::<u16>() {
                    Ok(n) if n > 0 => Some(n),
                    _ => return Err(format!("'{p}' is not a port. {}", usage())),
                },
            };
            Ok(Cmd::Open(host, port))
        }
        "user" => one().map(Cmd::User),
        "close" => none(Cmd::Close),
        "reconnect" => none(Cmd::Reconnect),
        "!" => Ok(Cmd::Local(args.join(" "))),
        "help" => match args {
            [] => Ok(Cmd::Help(None)),
            [c] => Ok(Cmd::Help(Some(c.clone()))),
            _ => Err(usage()),
        },
        _ => none(Cmd::Bye),
    }
}

/// The text of `help` (every command) or `help CMD`.
pub fn help_text(topic: Option<&str>) -> Result<String, String> {
    match topic {
        None => {
            let width = SPECS.iter().map(|s| s.usage.len()).max().unwrap_or(0);
            let mut out = String::from("Commands (names with spaces go in quotes; ';' separates commands):\n");
            for s in SPECS {
                out.push_str(&format!("  {:width$}  {}\n", s.usage, s.about));
            }
            out.push_str("Ctrl-C aborts a transfer; at the prompt it leaves.");
            Ok(out)
        }
        Some(t) => match spec(t) {
            Some(s) => {
                let mut out = format!("Usage: {}\n  {}", s.usage, s.about);
                if s.names.len() > 1 {
                    out.push_str(&format!("\n  Also: {}", s.names[1..].join(", ")));
                }
                Ok(out)
            }
            None => Err(format!("Unknown command '{t}'. Type 'help' for the list of commands.")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::shell::words::tokenize;

    fn cmd(line: &str) -> Result<Cmd, String> {
        let mut c = tokenize(line).unwrap();
        parse_command(&c.pop().unwrap_or_default())
    }

    #[test]
    fn commands_parse_with_their_arguments() {
        let get = |remote: &str, local: Option<&str>, force, verify, recursive| {
            Ok(Cmd::Get { remote: remote.into(), local: local.map(Into::into), force, verify, recursive })
        };
        assert_eq!(cmd("get a.txt"), get("a.txt", None, false, false, false));
        assert_eq!(cmd("GET -f a b"), get("a", Some("b"), true, false, false));
        assert_eq!(cmd("get -- -f"), get("-f", None, false, false, false));
        assert_eq!(
            cmd("get -c -r d"),
            Err("-c checks one file: use 'verify' after 'get -r'. Usage: get [-f] [-c] [-r] REMOTE [LOCAL]".into())
        );
        assert_eq!(cmd("get -r d l"), get("d", Some("l"), false, false, true));
        assert_eq!(cmd("get -c f"), get("f", None, false, true, false));
        assert_eq!(cmd("put x"), Ok(Cmd::Put { local: "x".into(), remote: None, force: false, recursive: false }));
        assert_eq!(cmd("put -r d"), Ok(Cmd::Put { local: "d".into(), remote: None, force: false, recursive: true }));
        assert_eq!(cmd("mget *.txt 'a b/*'"), Ok(Cmd::Mget(vec!["*.txt".into(), "a b/*".into()])));
        assert_eq!(cmd("mput"), Err("Usage: mput PATTERN...".into()));
        assert_eq!(
            cmd("mirror -R --delete --dry-run src dst"),
            Ok(Cmd::Mirror {
                reverse: true,
                delete: true,
                dry_run: true,
                source: Some("src".into()),
                target: Some("dst".into())
            })
        );
        assert_eq!(
            cmd("mirror"),
            Ok(Cmd::Mirror { reverse: false, delete: false, dry_run: false, source: None, target: None })
        );
        assert_eq!(cmd("hash -a md5 f"), Ok(Cmd::Hash("f".into(), Some(Algo::Md5))));
        assert!(cmd("hash -a rot13 f").unwrap_err().starts_with("Unknown algorithm"));
        assert_eq!(cmd("verify r l"), Ok(Cmd::Verify("r".into(), Some("l".into()), None)));
        assert_eq!(cmd("open h 21"), Ok(Cmd::Open("h".into(), Some(21))));
        assert!(cmd("open h x").is_err());
        assert_eq!(cmd("user bob"), Ok(Cmd::User("bob".into())));
        assert_eq!(cmd("close"), Ok(Cmd::Close));
        assert_eq!(cmd("rename a b"), Ok(Cmd::Rename("a".into(), "b".into())));
        assert_eq!(cmd("quit"), Ok(Cmd::Bye));
        assert_eq!(cmd("exit"), Ok(Cmd::Bye));
        assert_eq!(cmd("ls"), Ok(Cmd::Ls(None)));
        assert_eq!(cmd("binary"), Ok(Cmd::Type(TransferType::Image)));
        assert_eq!(cmd("active"), Ok(Cmd::Passive(false)));
    }

    #[test]
    fn wrong_use_says_how_to_use() {
        assert_eq!(cmd("get"), Err("Usage: get [-f] [-c] [-r] REMOTE [LOCAL]".into()));
        assert_eq!(cmd("cd a b"), Err("Usage: cd PATH".into()));
        assert_eq!(cmd("pwd x"), Err("Usage: pwd".into()));
        assert!(cmd("get -x a").unwrap_err().starts_with("Unknown option -x."));
        assert!(cmd("mirror -r").unwrap_err().starts_with("Unknown option -r."));
    }

    #[test]
    fn unknown_commands_point_to_help() {
        let e = cmd("fetch a").unwrap_err();
        assert_eq!(e, "Unknown command 'fetch'. Type 'help' for the list of commands.");
    }

    /// Security: CR or LF in a name would smuggle a second command.
    #[test]
    fn names_cannot_smuggle_commands() {
        assert!(cmd("get \"a\rDELE b\"").is_err());
        assert!(cmd("cd ''").is_err());
    }

    #[test]
    fn help_lists_every_command_and_explains_one() {
        let all = help_text(None).unwrap();
        for name in ["get", "put", "ls", "cd", "pwd", "lcd", "lpwd", "mkdir", "rmdir", "rm", "rename", "size"] {
            assert!(all.contains(&format!("\n  {name}")), "{name} missing from help:\n{all}");
        }
        for name in ["ascii", "binary", "passive", "active", "help", "bye"] {
            assert!(all.contains(name), "{name} missing");
        }
        assert!(help_text(Some("get")).unwrap().contains("resumed"));
        assert!(help_text(Some("nope")).is_err());
    }
}
