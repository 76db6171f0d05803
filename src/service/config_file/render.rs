//! The configuration as TOML text: the effective configuration, every key
//! with its value and where it came from (`config --print`, secrets
//! starred), and the commented example of the file (`config --example`).

use std::fmt::Write as _;

use clap::parser::ValueSource;
use clap::Command;

use super::keys::{keys, Kind};
use super::Loaded;

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
pub(super) fn example(command: &Command, intro: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_keeps_the_name() {
        assert_eq!(redact("alice:pw:with:colons", &[false, true]), "alice:****");
        assert_eq!(redact("x", &[true]), "****");
        assert_eq!(redact("x", &[false]), "x");
    }
}
