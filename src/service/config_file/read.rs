//! Reading a configuration file: the TOML parsed, each key found among
//! the program's options and its value checked with the option's own
//! parser, then turned into the command-line arguments it stands for; every
//! error names the file and the line.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::{Arg, ArgAction, Command};
use toml_edit::{Document, Value};

use super::keys::{closest, keys, valid_keys, Key, Kind};
use crate::limits::{CONFIG_FILE_MAX, CONFIG_MAX_COUNT};

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
pub(super) struct Entry {
    pub(super) id: String,
    pub(super) args: Vec<OsString>,
    pub(super) line: usize,
}

/// The keys a file sets, checked, as command-line arguments.
#[derive(Clone, Debug)]
pub(super) struct FileValues {
    pub(super) path: PathBuf,
    pub(super) entries: Vec<Entry>,
}

/// Reads and checks the file at `path` against the options of `cmd`.
pub(super) fn read_file(path: &Path, cmd: &Command) -> Result<FileValues, String> {
    let shown = path.display();
    let len = std::fs::metadata(path).map_err(|e| format!("{shown}: {e}"))?.len();
    if len > CONFIG_FILE_MAX {
        return Err(format!("{shown}: {len} bytes, more than the {CONFIG_FILE_MAX} a configuration file may have"));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{shown}: {e}"))?;
    parse_text(path, &text, cmd)
}

pub(super) fn parse_text(path: &Path, text: &str, cmd: &Command) -> Result<FileValues, String> {
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
