//! The listings of a session: LIST and NLST (RFC 959 section 4.1.3) and
//! MLSD (RFC 3659 section 7) over the data connection, with a `*` or `?`
//! pattern in the last name; STAT with a path (RFC 959 section 4.1.3) and
//! MLST (RFC 3659 section 7.2) over the control connection.

use super::{Outcome, Session};
use crate::limits::MAX_STAT_ENTRIES;
use crate::protocol::{ParseError, Reply, ReplyCode};
use crate::server::error::FtpError;
use crate::server::jail::is_dir;
use crate::server::listing::{self, Format, Listing};
use crate::server::transfer::Job;
use crate::server::vpath::VPath;

impl Session<'_> {
    /// Splits `dir/pattern` when the last name holds `*` or `?`.
    fn split_pattern(&self, arg: Option<String>) -> Result<(VPath, Option<String>), FtpError> {
        let Some(arg) = arg else { return Ok((self.cwd.clone(), None)) };
        let path = self.path(&arg)?;
        if let Some((parent, name)) = path.split_last() {
            if listing::is_pattern(name) {
                return Ok((parent.clone(), Some(name.to_string())));
            }
        }
        Ok((path, None))
    }

    pub(super) fn list(&mut self, arg: Option<String>, format: Format) -> Result<Outcome, FtpError> {
        self.need(|p| p.read)?;
        self.need_data()?;
        let (path, pattern) = self.split_pattern(arg)?;
        let listing = self.listing(&path, pattern, format)?;
        self.transfer(Job::List(listing), path, "Here comes the directory listing.".into(), None)
    }

    fn listing(&self, path: &VPath, pattern: Option<String>, format: Format) -> Result<Listing, FtpError> {
        let jail = self.jail()?;
        let st = jail.stat(path)?;
        if !is_dir(&st) {
            // RFC 3659 7.1: MLSD lists a directory; naming anything else is 501.
            if format == Format::Mlsd {
                return Err(FtpError::Parse(ParseError::BadArgument("MLSD", "not a directory")));
            }
            return Ok(Listing::single(format, path.file_name(), &st, &self.perms(), &self.facts));
        }
        let dir = jail.open_dir(path)?;
        let within = self.jail.clone().map(|j| (j, path.clone()));
        Ok(Listing::Dir(listing::DirListing::new(dir, format, self.perms(), self.facts, pattern, within)?))
    }

    /// STAT path: the LIST lines over the control connection (RFC 959 4.1.3).
    pub(super) fn stat_path(&mut self, arg: &str) -> Result<Outcome, FtpError> {
        self.need(|p| p.read)?;
        let (path, pattern) = self.split_pattern(Some(arg.to_string()))?;
        let mut listing = self.listing(&path, pattern, Format::List)?;
        let mut buf = Vec::new();
        let mut body = Vec::new();
        loop {
            buf.clear();
            let more = listing.fill(&mut buf, 1);
            body.extend(String::from_utf8_lossy(&buf).lines().map(str::to_string));
            if !more || body.len() >= MAX_STAT_ENTRIES {
                break;
            }
        }
        Ok(Outcome::Reply(Reply::multi(ReplyCode::FILE_STATUS, format!("Status of {path}:"), body, "End of status")))
    }

    /// MLST: the facts of one entry over the control connection (RFC 3659 7.2).
    pub(super) fn mlst(&mut self, arg: Option<String>) -> Result<Outcome, FtpError> {
        self.need(|p| p.read)?;
        let path = match arg {
            Some(a) => self.path(&a)?,
            None => self.cwd.clone(),
        };
        let st = self.jail()?.stat(&path)?;
        let mut line = Vec::new();
        listing::facts_into(&mut line, &st, &self.perms(), &self.facts, None);
        let mut text = String::from_utf8_lossy(&line).into_owned();
        text.push_str(path.as_str());
        // RFC 3659 7.2: the entry line starts with a single space.
        Ok(Outcome::Reply(Reply::multi(ReplyCode::FILE_ACTION_OK, format!("Listing {path}"), vec![text], "End")))
    }
}
