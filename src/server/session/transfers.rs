//! The file transfers of a session: RETR, STOR, APPE and STOU (RFC 959
//! section 4.1.3), from the REST offset (RFC 3659 section 5) or the RANG
//! range (draft-bryan-ftp-range). An upload is written atomically under a
//! temporary name, or in place for APPE and REST+STOR, and is charged to
//! the home's quota.

use std::io::{Seek, SeekFrom};
use std::os::unix::fs::PermissionsExt;

use super::{Outcome, Session};
use crate::protocol::TransferType;
use crate::server::error::FtpError;
use crate::server::transfer::Job;
use crate::server::upload::{is_temp_name, Upload};

/// The octets `first..end` of a file of `size` bytes that RETR or HASH
/// reads: from `offset` to the end, or those `RANG first last` named
/// (draft-bryan-ftp-range), cut at the end of the file. A start past the
/// end is 554 (RFC 3659 section 5.4).
pub(super) fn octets(offset: u64, range: Option<(u64, u64)>, size: u64) -> Result<(u64, u64), FtpError> {
    let (first, end) = match range {
        None => (offset, size),
        Some((first, last)) => (first, last.saturating_add(1).min(size)),
    };
    if first > size {
        return Err(FtpError::RestBeyondEnd(first));
    }
    Ok((first, end))
}

impl Session<'_> {
    pub(super) fn retr(&mut self, arg: &str) -> Result<Outcome, FtpError> {
        self.need(|p| p.read)?;
        self.need_data()?;
        let path = self.path(arg)?;
        let offset = std::mem::take(&mut self.rest);
        let range = self.range.take();
        let (file, st) = self.jail()?.open_file(&path)?;
        let size = st.st_size as u64;
        let (offset, end) = octets(offset, range, size)?;
        let start = format!("Opening {} mode data connection for {arg} ({size} bytes).", self.mode_name());
        self.transfer(Job::Send { file, offset, size: end }, path, start, None)
    }

    fn mode_name(&self) -> &'static str {
        if self.ttype == TransferType::Ascii {
            "ASCII"
        } else {
            "BINARY"
        }
    }

    pub(super) fn stor(&mut self, arg: &str, append: bool) -> Result<Outcome, FtpError> {
        self.need(|p| p.write)?;
        self.need_data()?;
        let path = self.path(arg)?;
        let offset = std::mem::take(&mut self.rest);
        self.no_range_for_uploads()?;
        let existing = self.regular_size(&path);
        let in_place = append || offset > 0;
        // A file written in place replaces nothing; STOR replaces the old file.
        let quota = match &self.quota {
            Some(q) => Some(q.begin_upload(if in_place { existing.map(|_| 0) } else { existing })?),
            None => None,
        };
        let mode = self.file_mode();
        let jail = self.jail()?;
        let mut upload = if in_place {
            // APPE and REST+STOR write in place, where the file stands; only
            // APPE creates a missing file (RFC 959 4.1.3), REST+STOR resumes one.
            let (mut file, st) = jail.open_for_append(&path, append)?;
            let size = st.st_size as u64;
            let at = if append { size } else { offset };
            if at > size {
                return Err(FtpError::RestBeyondEnd(offset));
            }
            // No stale tail: bytes past the restart point are replaced.
            file.set_len(at)?;
            file.seek(SeekFrom::Start(at))?;
            if let Some(q) = &self.quota {
                q.shrink(size - at);
            }
            Upload::in_place(file)
        } else {
            Upload::atomic(jail, &path)?
        };
        if existing.is_none() || !in_place {
            upload.file().set_permissions(std::fs::Permissions::from_mode(mode))?;
        }
        let start = format!("Ok to send data ({} mode).", self.mode_name());
        self.transfer(Job::Receive(upload), path, start, quota)
    }

    pub(super) fn stou(&mut self, hint: Option<&str>) -> Result<Outcome, FtpError> {
        self.need(|p| p.write)?;
        self.need_data()?;
        self.rest = 0;
        self.no_range_for_uploads()?;
        if hint.is_some_and(|h| h.split('/').any(|c| is_temp_name(c.as_bytes()))) {
            return Err(FtpError::ReservedName);
        }
        let quota = match &self.quota {
            Some(q) => Some(q.begin_upload(None)?),
            None => None,
        };
        let mode = self.file_mode();
        let (mut upload, name) = Upload::unique(self.jail()?, &self.cwd, hint)?;
        upload.file().set_permissions(std::fs::Permissions::from_mode(mode))?;
        let path = self.cwd.join(&name)?;
        // RFC 1123 section 4.1.2.9: the reply names the file.
        self.transfer(Job::Receive(upload), path, format!("FILE: {name}"), quota)
    }
}
