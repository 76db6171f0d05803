//! The configuration file of `ftpserver` and `ftpmaster`: TOML, one key
//! for every long option of the program, named as the option without its
//! dashes (`--max-workers 64` is `max-workers = 64`).
//!
//! Nothing here knows the options: the keys are read from the program's
//! clap definition ([`clap::Command`]), so an option added to `ServerArgs`
//! or `MasterArgs` has its key with no other code. A file is turned into
//! command-line arguments placed before the real ones, and clap parses the
//! whole, so a value means in the file exactly what it means on the command
//! line:
//!
//! - an option given on the command line wins over the file (a repeatable
//!   option given there replaces the file's whole list), and so does one
//!   that conflicts with it (`-q` on the command line, `verbose = 1` in
//!   the file);
//! - a flag is `true` or `false`; a counted flag (`-v -v`) is a number; a
//!   repeatable option is a list (or one value);
//! - an unknown key, a value of the wrong kind, or a value the option's own
//!   parser refuses is an error naming the file and the line (and, for an
//!   unknown key, the valid keys);
//! - relative paths are relative to the program's working directory, as on
//!   the command line.
//!
//! [`Layered`] keeps the command line and the file's name, so that the
//! file can be read again (SIGHUP).
//!
//! Here: the layering (the file's arguments merged under the command line)
//! and `PROGRAM config`. `keys` reads the keys from the clap definition,
//! `read` turns a file into arguments, `render` writes the effective
//! configuration and the commented example.

mod keys;
mod read;
mod render;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::parser::ValueSource;
use clap::{Arg, ArgMatches, Command, FromArgMatches};

use keys::{keys, Key};
use read::{read_file, FileValues};
use render::example;

/// `ftpserver config` and `ftpmaster config`: the configuration file,
/// checked, as the program would run with it.
#[derive(clap::Args, Debug, Clone)]
pub struct ConfigTool {
    /// Print the effective configuration (the file over the defaults, options after `--` over both; secrets starred).
    #[arg(long, conflicts_with = "example")]
    pub print: bool,
    /// Print a commented example file with every key and its default.
    #[arg(long)]
    pub example: bool,
    /// The configuration file [default: the program's, if it exists].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Options as the program would get them on its command line, after `--`.
    #[arg(last = true, value_name = "OPTIONS")]
    pub options: Vec<std::ffi::OsString>,
}

/// A program's configuration: its command line over its file (if any)
/// over its defaults. Kept by the running program to read the file again.
#[derive(Clone, Debug)]
pub(crate) struct Layered {
    command: Command,
    /// The command line, the program's name first, without `--config`.
    argv: Vec<OsString>,
    /// The file, if one is used.
    file: Option<PathBuf>,
}

/// A configuration read: the program's options, and where each came from.
#[derive(Debug)]
pub(crate) struct Loaded<C> {
    /// The options, as the program's clap type.
    pub value: C,
    matches: ArgMatches,
    keys: Vec<Key>,
    file: Option<PathBuf>,
    /// The line of the file each key the file gave (and the command line
    /// did not override) stands on, by option id.
    lines: BTreeMap<String, usize>,
}

impl Layered {
    /// The configuration of the program `command` given by `argv` (its
    /// name first) and the file `explicit` (`--config`), else `default`
    /// when that file exists.
    pub(crate) fn new(command: Command, argv: Vec<OsString>, explicit: Option<PathBuf>, default: &str) -> Layered {
        let file = explicit.or_else(|| Some(PathBuf::from(default)).filter(|p| p.exists()));
        Layered { command, argv, file }
    }

    /// The command line, the program's name first.
    pub(crate) fn argv(&self) -> &[OsString] {
        &self.argv
    }

    /// The file read, if any.
    pub(crate) fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// Reads the file (again) and parses the whole.
    pub(crate) fn load<C: FromArgMatches>(&self) -> Result<Loaded<C>, String> {
        let file = self.file.as_deref().map(|p| read_file(p, &self.command)).transpose()?;
        self.merge(file)
    }

    fn merge<C: FromArgMatches>(&self, file: Option<FileValues>) -> Result<Loaded<C>, String> {
        let clap_error = |e: clap::Error| {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or_default();
            first.strip_prefix("error: ").unwrap_or(first).to_string()
        };
        let cli = self.command.clone().try_get_matches_from(&self.argv).map_err(clap_error)?;
        let given: Vec<&Arg> = self
            .command
            .get_arguments()
            .filter(|a| cli.value_source(a.get_id().as_str()) == Some(ValueSource::CommandLine))
            .collect();
        let mut merged: Vec<OsString> = self.argv.first().cloned().into_iter().collect();
        let mut lines = BTreeMap::new();
        if let Some(f) = &file {
            for e in &f.entries {
                let Some(arg) = self.command.get_arguments().find(|a| a.get_id() == e.id.as_str()) else { continue };
                let conflicts =
                    |a: &Arg, b: &Arg| self.command.get_arg_conflicts_with(a).iter().any(|c| c.get_id() == b.get_id());
                let overridden =
                    given.iter().any(|g| g.get_id() == arg.get_id() || conflicts(g, arg) || conflicts(arg, g));
                if !overridden {
                    merged.extend(e.args.iter().cloned());
                    lines.insert(e.id.clone(), e.line);
                }
            }
        }
        merged.extend(self.argv.iter().skip(1).cloned());
        let shown = file.as_ref().map(|f| f.path.display().to_string());
        let matches = self.command.clone().try_get_matches_from(&merged).map_err(|e| match &shown {
            Some(p) => format!("{p}: {}", clap_error(e)),
            None => clap_error(e),
        })?;
        let value = C::from_arg_matches(&matches).map_err(clap_error)?;
        Ok(Loaded { value, matches, keys: keys(&self.command), file: file.map(|f| f.path), lines })
    }
}

impl<C> Loaded<C> {
    /// Where an error about `--NAME ...` came from: prefixed with the file
    /// and line when the file gave that option.
    pub(crate) fn annotate(&self, err: String) -> String {
        let Some(rest) = err.strip_prefix("--") else { return err };
        let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
        let key = self.keys.iter().find(|k| k.long == name || k.aliases.contains(&name));
        match (key.and_then(|k| self.lines.get(&k.id)), &self.file) {
            (Some(line), Some(file)) => format!("{}:{line}: {err}", file.display()),
            _ => err,
        }
    }
}

/// `PROGRAM config`: checks the configuration (the file over the defaults,
/// `tool.options` over both) with `check`, then prints it (`--print`), or
/// prints the commented example (`--example`). `command` is the
/// program's clap definition, `default` its default file.
pub(crate) fn run_tool<C: FromArgMatches>(
    command: Command,
    tool: ConfigTool,
    default: &str,
    check: impl FnOnce(&C) -> Result<(), String>,
) -> Result<(), String> {
    let program = command.get_name().to_string();
    if tool.example {
        let intro = format!(
            "{program}'s configuration file (TOML): one key for each option of `{program} --help`,\n\
             named as the option without its dashes. Options given on the command line win over this file.\n\
             Read at start and again on SIGHUP; `{program} config --print` shows the result.\n\
             Every key below is commented out with its default value."
        );
        print!("{}", example(&command, &intro));
        return Ok(());
    }
    let mut argv = vec![OsString::from(&program)];
    argv.extend(tool.options);
    let layered = Layered::new(command, argv, tool.config, default);
    let loaded = layered.load::<C>()?;
    check(&loaded.value).map_err(|e| loaded.annotate(e))?;
    if tool.print {
        print!("{}", loaded.print(&program));
    } else {
        match layered.file() {
            Some(f) => println!("{}: configuration OK", f.display()),
            None => println!("no configuration file ({default} does not exist); the options are OK"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::keys::key_names;
    use super::read::parse_text;
    use super::*;
    use clap::{ArgAction, Args, Parser};

    #[derive(Parser, Debug)]
    #[command(name = "prog")]
    struct Cli {
        #[arg(long)]
        config: Option<PathBuf>,
        #[command(flatten)]
        opts: Opts,
    }

    #[derive(Args, Debug)]
    struct Opts {
        #[arg(long, default_value = "0.0.0.0:21")]
        listen: String,
        #[arg(long, default_value_t = 8)]
        workers: usize,
        #[arg(short, long)]
        write: bool,
        #[arg(long = "user", value_name = "NAME:PASSWORD")]
        users: Vec<String>,
        #[arg(long, visible_alias = "public-addr")]
        masquerade: Option<String>,
        #[arg(short, long, action = ArgAction::Count, conflicts_with = "quiet")]
        verbose: u8,
        #[arg(short, long)]
        quiet: bool,
    }

    fn layered(argv: &[&str]) -> Layered {
        Layered {
            command: <Cli as clap::CommandFactory>::command(),
            argv: argv.iter().map(OsString::from).collect(),
            file: None,
        }
    }

    fn load(text: &str, argv: &[&str]) -> Result<Loaded<Cli>, String> {
        let l = layered(argv);
        let file = parse_text(Path::new("/etc/prog.toml"), text, &l.command)?;
        l.merge(Some(file))
    }

    #[test]
    fn every_long_option_is_a_key_but_help_and_config() {
        let names = key_names(&<Cli as clap::CommandFactory>::command());
        assert_eq!(names, ["listen", "workers", "write", "user", "masquerade", "verbose", "quiet"]);
    }

    #[test]
    fn the_file_sets_options_and_the_command_line_overrides_it() {
        let text = "workers = 3\nwrite = true\nuser = [\"a:x\", \"b:y\"]\npublic-addr = \"192.0.2.1\"\nverbose = 2\n";
        let c = load(text, &["prog"]).unwrap();
        assert_eq!(c.value.opts.workers, 3);
        assert!(c.value.opts.write);
        assert_eq!(c.value.opts.users, ["a:x", "b:y"]);
        assert_eq!(c.value.opts.masquerade.as_deref(), Some("192.0.2.1"));
        assert_eq!(c.value.opts.verbose, 2);
        let c = load(text, &["prog", "--workers", "5", "--user", "c:z", "-q"]).unwrap();
        assert_eq!(c.value.opts.workers, 5);
        assert_eq!(c.value.opts.users, ["c:z"]);
        // -q on the command line beats the file's conflicting verbose.
        assert!(c.value.opts.quiet);
        assert_eq!(c.value.opts.verbose, 0);
        assert_eq!(c.annotate("--workers must be 1".into()), "--workers must be 1");
        assert_eq!(c.annotate("--masquerade x: bad".into()), "/etc/prog.toml:4: --masquerade x: bad");
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_file_and_line() {
        let e = load("# comment\n\nmax_worker = 3\n", &["prog"]).unwrap_err();
        assert!(e.starts_with("/etc/prog.toml:3: unknown key \"max_worker\""), "{e}");
        assert!(e.contains("valid keys: listen, workers, write, user, masquerade, verbose, quiet"), "{e}");
        let e = load("worker = 3\n", &["prog"]).unwrap_err();
        assert!(e.contains("(did you mean \"workers\"?)"), "{e}");
        let e = load("listen = \"x\"\nworkers = \"many\"\n", &["prog"]).unwrap_err();
        assert!(e.starts_with("/etc/prog.toml:2: workers = \"many\": invalid digit"), "{e}");
        let e = load("workers = -1\n", &["prog"]).unwrap_err();
        assert!(e.starts_with("/etc/prog.toml:1: workers = \"-1\""), "{e}");
        let e = load("write = \"yes\"\n", &["prog"]).unwrap_err();
        assert_eq!(e, "/etc/prog.toml:1: write is true or false, not string");
        let e = load("listen = [\"a\", \"b\"]\n", &["prog"]).unwrap_err();
        assert_eq!(e, "/etc/prog.toml:1: listen takes one value, not a list");
        let e = load("[server]\nworkers = 3\n", &["prog"]).unwrap_err();
        assert!(e.starts_with("/etc/prog.toml:1: [server] is a table"), "{e}");
        let e = load("workers = 3\nworkers = 4\n", &["prog"]).unwrap_err();
        assert!(e.starts_with("/etc/prog.toml:2:"), "a TOML duplicate: {e}");
        let e = load("masquerade = \"a\"\npublic-addr = \"b\"\n", &["prog"]).unwrap_err();
        assert!(e.starts_with("/etc/prog.toml:2: \"public-addr\" sets --masquerade again (first on line 1)"), "{e}");
        let e = load("workers = \n", &["prog"]).unwrap_err();
        assert!(e.starts_with("/etc/prog.toml:1:"), "{e}");
        let e = load("verbose = 1\nquiet = true\n", &["prog"]).unwrap_err();
        assert!(e.starts_with("/etc/prog.toml: "), "{e}");
    }

    #[test]
    fn print_shows_every_key_with_its_origin_and_stars_secrets() {
        let c = load("workers = 3\nuser = [\"alice:s3cret\"]\n", &["prog", "--listen", "127.0.0.1:21"]).unwrap();
        let p = c.print("prog");
        assert!(p.contains("listen = \"127.0.0.1:21\"  # command line\n"), "{p}");
        assert!(p.contains("workers = 3  # /etc/prog.toml:1\n"), "{p}");
        assert!(p.contains("user = [\"alice:****\"]  # /etc/prog.toml:2\n"), "{p}");
        assert!(p.contains("write = false  # default\n"), "{p}");
        assert!(p.contains("# masquerade is not set\n"), "{p}");
        assert!(!p.contains("s3cret"));
        // What print shows is a configuration file that gives the same.
        let again = load(&p, &["prog"]).unwrap();
        assert_eq!(again.value.opts.workers, 3);
        assert_eq!(again.value.opts.listen, "127.0.0.1:21");
    }

    #[test]
    fn the_example_names_every_key_commented_out() {
        let ex = example(&<Cli as clap::CommandFactory>::command(), "An example.");
        for k in key_names(&<Cli as clap::CommandFactory>::command()) {
            assert!(ex.contains(&format!("\n#{k} = ")), "{k} missing in:\n{ex}");
        }
        assert!(ex.contains("#workers = 8\n") && ex.contains("#user = [\"NAME:PASSWORD\"]\n"), "{ex}");
        // Uncommented, it is a valid file.
        let text: String = ex
            .lines()
            .map(|l| l.strip_prefix('#').filter(|l| l.contains(" = ")).unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        let text = text.replace("verbose = 0\n", "").replace("quiet = false", "");
        assert!(load(&text, &["prog"]).is_ok(), "{text}");
    }
}
