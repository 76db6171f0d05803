//! What the server says it can do: the FEAT reply (RFC 2389 section 3),
//! parsed once per connection and asked for only when a command needs it.
//!
//! The client looks for `MLST` (machine listings, RFC 3659 section 7),
//! `MFMT` (draft-somers-ftp-mfxx: set a file's modification time), `HASH`
//! (draft-bryan-ftpext-hash) and the older checksum verbs `XSHA256`,
//! `XSHA1`, `XMD5`, `XCRC`, and `UTF8` (RFC 2640).

use crate::protocol::{Reply, ReplyCode};

/// The features of one server, from its FEAT reply.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Features {
    /// Each feature line: the name upper-cased, and its parameters.
    lines: Vec<(String, String)>,
}

impl Features {
    /// The features listed in a FEAT reply; none when FEAT was refused
    /// (a server older than RFC 2389 has no extension worth guessing).
    pub fn parse(reply: &Reply) -> Features {
        if reply.code != ReplyCode::SYSTEM_STATUS || reply.lines.len() < 2 {
            return Features::default();
        }
        // RFC 2389 section 3.2: the lines between the first and the last,
        // each a feature name and its optional parameters.
        let lines = reply.lines[1..reply.lines.len() - 1]
            .iter()
            .filter_map(|l| {
                let l = l.trim();
                let (name, args) = l.split_once(' ').unwrap_or((l, ""));
                (!name.is_empty()).then(|| (name.to_ascii_uppercase(), args.trim().to_string()))
            })
            .collect();
        Features { lines }
    }

    /// True when the server lists `name`.
    pub fn has(&self, name: &str) -> bool {
        self.lines.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    /// The parameters of `name` (`type*;size*;modify*;` for MLST).
    pub fn params(&self, name: &str) -> Option<&str> {
        self.lines.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, a)| a.as_str())
    }

    /// The algorithms of the HASH feature (`HASH SHA-256*;SHA-1;MD5`):
    /// each name upper-cased, and whether it is the selected one (`*`).
    pub fn hash_algorithms(&self) -> Vec<(String, bool)> {
        self.params("HASH")
            .map(|p| {
                p.split(';')
                    .map(str::trim)
                    .filter(|a| !a.is_empty())
                    .map(|a| match a.strip_suffix('*') {
                        Some(n) => (n.to_ascii_uppercase(), true),
                        None => (a.to_ascii_uppercase(), false),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feat(lines: &[&str]) -> Features {
        let body = lines.iter().map(|s| s.to_string()).collect();
        Features::parse(&Reply::multi(ReplyCode::SYSTEM_STATUS, "Features:", body, "End"))
    }

    /// RFC 2389 section 3.2: one feature per line, after a space.
    #[test]
    fn feature_lines_give_names_and_parameters() {
        let f = feat(&[" MDTM", " MLST type*;size*;modify*;", " mfmt", " HASH SHA-256*;SHA-1;MD5;CRC32", " UTF8"]);
        assert!(f.has("MFMT") && f.has("mdtm") && f.has("UTF8"));
        assert!(!f.has("XSHA256"));
        assert_eq!(f.params("MLST"), Some("type*;size*;modify*;"));
        assert_eq!(
            f.hash_algorithms(),
            [("SHA-256".into(), true), ("SHA-1".into(), false), ("MD5".into(), false), ("CRC32".into(), false)]
        );
    }

    #[test]
    fn a_refused_feat_means_no_features() {
        let f = Features::parse(&Reply::new(ReplyCode::SYNTAX_ERROR, "FEAT not understood"));
        assert_eq!(f, Features::default());
        assert!(f.hash_algorithms().is_empty());
        // A 211 with no body lists nothing.
        assert!(!Features::parse(&Reply::new(ReplyCode::SYSTEM_STATUS, "No features")).has("MLST"));
    }
}
