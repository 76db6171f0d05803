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

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::builder::ValueParser;
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command, FromArgMatches};
use toml_edit::{Document, Value};

use crate::limits::{CONFIG_FILE_MAX, CONFIG_MAX_COUNT};

/// How a key takes its value, from the option's clap action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A flag: `true` or `false` (`inverted` for a flag that turns
    /// something off: `false` gives the flag).
    Flag { inverted: bool },
    /// A counted flag (`-v -v`): a number.
    Count,
    /// One value.
    One,
    /// A repeatable option: a list, or one value.
    List,
}

/// One key of the file: a long option of the program.
#[derive(Clone, Debug)]
struct Key {
    /// clap's id of the option.
    id: String,
    /// The key: the long option's name.
    long: String,
    /// Other names of the option, accepted as keys too.
    aliases: Vec<String>,
    kind: Kind,
    /// For each `:`-separated part of a value, whether it is a secret
    /// (from the option's value name: `NAME:PASSWORD`).
    secret: Vec<bool>,
    /// Integer values are written unquoted.
    number: bool,
    /// Its value parser, to check a value where it stands in the file.
    parser: ValueParser,
    /// Its help text and section, for the commented example.
    help: String,
    heading: Option<String>,
    value_name: String,
}

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

/// The option that names the file itself: never a key.
const CONFIG_ID: &str = "config";

fn is_secret_word(w: &str) -> bool {
    let w = w.to_ascii_uppercase();
    ["PASSWORD", "SECRET", "TOKEN"].iter().any(|s| w.contains(s))
}

fn number_parsers() -> Vec<ValueParser> {
    vec![
        clap::value_parser!(u8).into(),
        clap::value_parser!(u16).into(),
        clap::value_parser!(u32).into(),
        clap::value_parser!(u64).into(),
        clap::value_parser!(usize).into(),
        clap::value_parser!(i32).into(),
        clap::value_parser!(i64).into(),
    ]
}

/// The keys of a program: its long options, but help, version and the
/// option naming the file.
fn keys(cmd: &Command) -> Vec<Key> {
    let numbers = number_parsers();
    cmd.get_arguments()
        .filter(|a| !a.is_positional() && a.get_id().as_str() != CONFIG_ID)
        .filter_map(|a| {
            let long = a.get_long()?.to_string();
            let kind = match a.get_action() {
                ArgAction::SetTrue => Kind::Flag { inverted: false },
                ArgAction::SetFalse => Kind::Flag { inverted: true },
                ArgAction::Count => Kind::Count,
                ArgAction::Append => Kind::List,
                ArgAction::Set => Kind::One,
                _ => return None,
            };
            let value_name = a.get_value_names().and_then(|v| v.first()).map(|s| s.to_string()).unwrap_or_default();
            let parser = a.get_value_parser().clone();
            let number = numbers.iter().any(|n| n.type_id() == parser.type_id());
            Some(Key {
                id: a.get_id().to_string(),
                long,
                aliases: a.get_all_aliases().unwrap_or_default().into_iter().map(str::to_string).collect(),
                kind,
                secret: value_name.split(':').map(is_secret_word).collect(),
                number,
                parser,
                help: a.get_help().map(|h| h.to_string()).unwrap_or_default(),
                heading: a.get_help_heading().map(str::to_string),
                value_name,
            })
        })
        .collect()
}

fn valid_keys(keys: &[Key]) -> String {
    keys.iter().map(|k| k.long.as_str()).collect::<Vec<_>>().join(", ")
}

/// The valid key closest to `name`: the same with `-` for `_`, or the one
/// that differs by fewest letters.
fn closest<'k>(name: &str, keys: &'k [Key]) -> Option<&'k str> {
    let dashed = name.replace('_', "-").to_ascii_lowercase();
    let distance = |a: &str, b: &str| {
        let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.iter().enumerate() {
            let mut prev = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let cur = row[j + 1];
                row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
                prev = cur;
            }
        }
        row[b.len()]
    };
    keys.iter()
        .map(|k| (distance(&dashed, &k.long), k.long.as_str()))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// The line (from 1) of byte `offset` of `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1
}

/// A value of the file, as the text an option takes on the command line.
fn scalar(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.value().clone()),
        Value::Integer(i) => Ok(i.value().to_string()),
        Value::Float(f) => Ok(f.value().to_string()),
        Value::Boolean(b) => Ok(b.value().to_string()),
        Value::Datetime(d) => Ok(d.value().to_string()),
        Value::Array(_) => Err("a list where one value is expected".into()),
        Value::InlineTable(_) => Err("a table where a value is expected".into()),
    }
}

/// Checks `value` with the option's own parser (the message clap would
/// give on the command line, without its decorations).
fn check_value(key: &Key, value: &str) -> Result<(), String> {
    let arg = Arg::new("v").long("v").action(ArgAction::Set).value_parser(key.parser.clone());
    let probe = Command::new("config").no_binary_name(true).arg(arg);
    probe.try_get_matches_from([format!("--v={value}")]).map(drop).map_err(|e| {
        let text = e.to_string();
        let first = text.lines().next().unwrap_or_default();
        let first = first.strip_prefix("error: ").unwrap_or(first);
        // "invalid value 'x' for '--v <v>': reason" -> "reason"
        first.rsplit_once("': ").map_or(first, |(_, why)| why).trim().to_string()
    })
}

/// One key of the file, turned into command-line arguments.
#[derive(Clone, Debug)]
struct Entry {
    id: String,
    args: Vec<OsString>,
    line: usize,
}

/// The keys a file sets, checked, as command-line arguments.
#[derive(Clone, Debug)]
struct FileValues {
    path: PathBuf,
    entries: Vec<Entry>,
}

/// Reads and checks the file at `path` against the options of `cmd`.
fn read_file(path: &Path, cmd: &Command) -> Result<FileValues, String> {
    let shown = path.display();
    let len = std::fs::metadata(path).map_err(|e| format!("{shown}: {e}"))?.len();
    if len > CONFIG_FILE_MAX {
        return Err(format!("{shown}: {len} bytes, more than the {CONFIG_FILE_MAX} a configuration file may have"));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{shown}: {e}"))?;
    parse_text(path, &text, cmd)
}

fn parse_text(path: &Path, text: &str, cmd: &Command) -> Result<FileValues, String> {
    let shown = path.display();
    let doc = Document::parse(text).map_err(|e| {
        let at = e.span().map(|s| s.start).unwrap_or(0);
        let col = at - text[..at.min(text.len())].rfind('\n').map_or(0, |i| i + 1) + 1;
        format!("{shown}:{}:{col}: {}", line_of(text, at), e.message().trim())
    })?;
    let keys = keys(cmd);
    let table = doc.as_table();
    let mut entries: Vec<Entry> = Vec::new();
    for (name, item) in table.iter() {
        let line = table.key(name).and_then(|k| k.span()).map_or(0, |s| line_of(text, s.start));
        let at = |msg: String| format!("{shown}:{line}: {msg}");
        let Some(value) = item.as_value() else {
            return Err(at(format!("[{name}] is a table; every key of the file is at the top, before any [table]")));
        };
        let Some(key) = keys.iter().find(|k| k.long == name || k.aliases.iter().any(|a| a == name)) else {
            let hint = closest(name, &keys).map(|k| format!(" (did you mean {k:?}?)")).unwrap_or_default();
            return Err(at(format!("unknown key {name:?}{hint}; valid keys: {}", valid_keys(&keys))));
        };
        if let Some(first) = entries.iter().find(|e| e.id == key.id) {
            return Err(at(format!("{name:?} sets --{} again (first on line {})", key.long, first.line)));
        }
        let flag = OsString::from(format!("--{}", key.long));
        let args: Vec<OsString> = match key.kind {
            Kind::Flag { inverted } => match value {
                Value::Boolean(b) if *b.value() != inverted => vec![flag],
                Value::Boolean(_) => vec![],
                _ => return Err(at(format!("{name} is true or false, not {}", value.type_name()))),
            },
            Kind::Count => match value {
                Value::Integer(n) if (0..=CONFIG_MAX_COUNT).contains(n.value()) => {
                    std::iter::repeat(flag).take(*n.value() as usize).collect()
                }
                _ => return Err(at(format!("{name} is a number from 0 to {CONFIG_MAX_COUNT}"))),
            },
            Kind::One | Kind::List => {
                let values: Vec<&Value> = match value {
                    Value::Array(a) if key.kind == Kind::List => a.iter().collect(),
                    Value::Array(_) => return Err(at(format!("{name} takes one value, not a list"))),
                    v => vec![v],
                };
                let mut args = Vec::new();
                for v in values {
                    let s = scalar(v).map_err(|e| at(format!("{name}: {e}")))?;
                    // A secret part of the value is not repeated in the message.
                    let quoted =
                        if key.secret.iter().any(|&s| s) { name.to_string() } else { format!("{name} = {s:?}") };
                    check_value(key, &s).map_err(|e| at(format!("{quoted}: {e}")))?;
                    args.push(OsString::from(format!("--{}={s}", key.long)));
                }
                args
            }
        };
        entries.push(Entry { id: key.id.clone(), args, line });
    }
    Ok(FileValues { path: path.to_path_buf(), entries })
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

/// A value as TOML: a number unquoted when the option takes a number, any
/// other text as a basic string.
fn toml_value(text: &str, number: bool) -> String {
    if number && text.parse::<i64>().is_ok() {
        return text.to_string();
    }
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Stars the secret parts of a value (`alice:secret` -> `alice:****`).
fn redact(value: &str, secret: &[bool]) -> String {
    if !secret.iter().any(|&s| s) {
        return value.to_string();
    }
    value
        .splitn(secret.len().max(1), ':')
        .zip(secret.iter().chain(std::iter::repeat(&true)))
        .map(|(part, &s)| if s { "****" } else { part })
        .collect::<Vec<_>>()
        .join(":")
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

    /// The effective configuration as a configuration file: every key with
    /// its value and where it came from; secrets starred.
    pub(crate) fn print(&self, program: &str) -> String {
        let mut out = format!("# The effective configuration of {program}: ");
        match &self.file {
            Some(f) => {
                let _ = writeln!(out, "the command line, over {}, over the defaults.", f.display());
            }
            None => out.push_str("the command line over the defaults (no configuration file).\n"),
        }
        for k in &self.keys {
            let source = self.matches.value_source(&k.id);
            let origin = match (source, self.lines.get(&k.id), &self.file) {
                (Some(ValueSource::CommandLine), Some(line), Some(f)) => format!("{}:{line}", f.display()),
                (Some(ValueSource::CommandLine), _, _) => "command line".into(),
                (Some(ValueSource::EnvVariable), _, _) => "environment".into(),
                _ => "default".into(),
            };
            let value = match k.kind {
                Kind::Flag { .. } => Some(self.matches.get_flag(&k.id).to_string()),
                Kind::Count => Some(self.matches.get_count(&k.id).to_string()),
                Kind::One | Kind::List => {
                    let raw: Vec<String> = self
                        .matches
                        .get_raw(&k.id)
                        .map(|v| v.map(|s| toml_value(&redact(&s.to_string_lossy(), &k.secret), k.number)).collect())
                        .unwrap_or_default();
                    match (k.kind, raw.len()) {
                        (_, 0) => None,
                        (Kind::One, _) => Some(raw.join(" ")),
                        _ => Some(format!("[{}]", raw.join(", "))),
                    }
                }
            };
            match value {
                Some(v) => {
                    let _ = writeln!(out, "{} = {v}  # {origin}", k.long);
                }
                None => {
                    let _ = writeln!(out, "# {} is not set", k.long);
                }
            }
        }
        out
    }
}

/// A commented example of the configuration file of `command`: every key
/// with its help text, commented out with its default value.
pub(crate) fn example(command: &Command, intro: &str) -> String {
    let mut out = String::new();
    for line in intro.lines() {
        let _ = writeln!(out, "# {line}").map(drop);
    }
    let defaults = command.clone().try_get_matches_from([command.get_name()]).ok();
    let mut heading: Option<String> = None;
    for k in keys(command) {
        if k.heading != heading {
            heading.clone_from(&k.heading);
            if let Some(h) = &heading {
                let _ = write!(out, "\n# ---- {h}\n");
            }
        }
        out.push('\n');
        for l in wrap(&k.help, 100) {
            let _ = writeln!(out, "# {l}");
        }
        let default: Vec<String> = defaults
            .as_ref()
            .and_then(|m| m.get_raw(&k.id))
            .map(|v| v.map(|s| toml_value(&s.to_string_lossy(), k.number)).collect())
            .unwrap_or_default();
        let value = match k.kind {
            Kind::Flag { inverted } => (inverted).to_string(),
            Kind::Count => "0".into(),
            Kind::One if !default.is_empty() => default.join(" "),
            Kind::One => toml_value(&k.value_name, false),
            Kind::List => format!("[{}]", toml_value(&k.value_name, false)),
        };
        let _ = writeln!(out, "#{} = {value}", k.long);
    }
    out
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

/// `text` in lines of at most `width` characters, cut between words.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split_whitespace() {
        let last = lines.last_mut().expect("one line");
        if !last.is_empty() && last.len() + 1 + word.len() > width {
            lines.push(word.to_string());
        } else {
            if !last.is_empty() {
                last.push(' ');
            }
            last.push_str(word);
        }
    }
    lines
}

/// The keys of `command`.
#[cfg(test)]
pub(crate) fn key_names(command: &Command) -> Vec<String> {
    keys(command).into_iter().map(|k| k.long).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Args, Parser};

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

    #[test]
    fn redaction_keeps_the_name() {
        assert_eq!(redact("alice:pw:with:colons", &[false, true]), "alice:****");
        assert_eq!(redact("x", &[true]), "****");
        assert_eq!(redact("x", &[false]), "x");
    }
}
