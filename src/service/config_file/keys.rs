//! The keys of a program's configuration file, read from its clap
//! definition: one for every long option (but help, version and the option
//! naming the file), with how it takes its value, which parts of a value
//! are secret, and its help text for the commented example; and the valid
//! key closest to a mistyped one.

use clap::builder::ValueParser;
use clap::{ArgAction, Command};

/// How a key takes its value, from the option's clap action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
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
pub(super) struct Key {
    /// clap's id of the option.
    pub(super) id: String,
    /// The key: the long option's name.
    pub(super) long: String,
    /// Other names of the option, accepted as keys too.
    pub(super) aliases: Vec<String>,
    pub(super) kind: Kind,
    /// For each `:`-separated part of a value, whether it is a secret
    /// (from the option's value name: `NAME:PASSWORD`).
    pub(super) secret: Vec<bool>,
    /// Integer values are written unquoted.
    pub(super) number: bool,
    /// Its value parser, to check a value where it stands in the file.
    pub(super) parser: ValueParser,
    /// Its help text and section, for the commented example.
    pub(super) help: String,
    pub(super) heading: Option<String>,
    pub(super) value_name: String,
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
pub(super) fn keys(cmd: &Command) -> Vec<Key> {
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

pub(super) fn valid_keys(keys: &[Key]) -> String {
    keys.iter().map(|k| k.long.as_str()).collect::<Vec<_>>().join(", ")
}

/// The valid key closest to `name`: the same with `-` for `_`, or the one
/// that differs by fewest letters.
pub(super) fn closest<'k>(name: &str, keys: &'k [Key]) -> Option<&'k str> {
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

/// The keys of `command`.
#[cfg(test)]
pub(super) fn key_names(command: &Command) -> Vec<String> {
    keys(command).into_iter().map(|k| k.long).collect()
}
