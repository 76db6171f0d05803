//! The session's server extensions (issue 14): what sync tools and hosting
//! admins expect beyond RFC 959 and 3659.
//!
//! - MFMT and MFF (draft-somers-ftp-mfxx), and MDTM with a time argument
//!   as vsftpd answers it: set a file's modification time.
//! - HASH and `OPTS HASH` (draft-bryan-ftpext-hash), the X verbs, and RANG
//!   (draft-bryan-ftp-range) for the octets of the next RETR or HASH.
//! - AVBL (draft-peterson-streamlined-ftp-command-extensions): bytes free
//!   for this user, the quota included.
//! - SITE CHMOD, SITE UMASK, SITE HELP.
//!
//! Changing a file needs the account's `write` right, as uploading does.

use super::{ok, Outcome, Session};
use crate::accounts::Limits;
use crate::protocol::checksum::{Algo, ALGOS};
use crate::protocol::command::SITE_COMMANDS;
use crate::protocol::time::{split_time_arg, time_val};
use crate::protocol::{MffFacts, ParseError, Reply, ReplyCode, SiteCommand};
use crate::server::error::FtpError;
use crate::server::hash::HashJob;
use crate::server::jail::{is_dir, is_regular, Jail};
use crate::server::vpath::VPath;

/// `SHA-256*;SHA-512;SHA-1;MD5;CRC32`: the algorithms, the selected one
/// starred (draft-bryan-ftpext-hash section 4).
pub(super) fn hash_feat(selected: Algo) -> String {
    ALGOS.iter().map(|a| format!("{}{}", a.name(), if *a == selected { "*" } else { "" })).collect::<Vec<_>>().join(";")
}

impl Session<'_> {
    /// The size of the regular file `path` names (not following a last
    /// symbolic link), if it is one: what deleting or replacing it frees.
    pub(super) fn regular_size(&self, path: &VPath) -> Option<u64> {
        let (dir, name) = self.jail().ok()?.parent(path).ok()?;
        let st = Jail::lstat_in(&dir, name).ok()?;
        is_regular(&st).then_some(st.st_size as u64)
    }

    /// A file of `size` bytes left the home (`None`: nothing did).
    pub(super) fn released(&self, size: Option<u64>) {
        if let (Some(q), Some(size)) = (&self.quota, size) {
            q.release(size);
        }
    }

    /// The mode of an uploaded file: 0666 less the umask.
    pub(super) fn file_mode(&self) -> u32 {
        0o666 & !self.umask
    }

    /// The lines STAT shows of the account's limits (as vsftpd shows its
    /// bandwidth limit) and the umask.
    pub(super) fn limits_status(&self, limits: &Limits) -> Vec<String> {
        let rate = |n: u64| if n == 0 { "none".to_string() } else { format!("{n} bytes/s") };
        let mut lines = vec![
            format!("Rate limits: download {}, upload {}", rate(limits.download_rate), rate(limits.upload_rate)),
            format!("UMASK: {:03o}", self.umask),
        ];
        if let Some(u) = self.quota.as_ref().and_then(|q| q.usage().ok()) {
            let of = |max: Option<u64>| max.map_or("no limit".to_string(), |m| m.to_string());
            lines.push(format!(
                "Quota: {} bytes of {}, {} files of {}",
                u.bytes,
                of(limits.quota_bytes),
                u.files,
                of(limits.quota_files)
            ));
        }
        lines
    }

    /// RANG is for RETR and HASH; an upload after it is refused (and the
    /// range forgotten).
    pub(super) fn no_range_for_uploads(&mut self) -> Result<(), FtpError> {
        match self.range.take() {
            Some(_) => Err(FtpError::BadSequence("RANG applies to RETR and HASH only.")),
            None => Ok(()),
        }
    }

    /// MDTM path: the modification time (RFC 3659 section 3). MDTM TIME
    /// path, when `TIME path` names nothing, sets it, as vsftpd does
    /// (`213 File modification time set.`).
    pub(super) fn mdtm(&mut self, arg: &str) -> Result<Outcome, FtpError> {
        let whole = self.path(arg).and_then(|p| Ok(self.jail()?.stat(&p)?));
        match (whole, split_time_arg(arg)) {
            (Ok(st), _) => ok(ReplyCode::FILE_STATUS, time_val(st.st_mtime)),
            (Err(_), Some((secs, name))) => {
                self.need(|p| p.write)?;
                let path = self.path(name)?;
                self.jail()?.set_mtime(&path, secs)?;
                ok(ReplyCode::FILE_STATUS, "File modification time set.")
            }
            (Err(e), None) => Err(e),
        }
    }

    /// MFMT time path (draft-somers-ftp-mfxx section 3):
    /// `213 Modify=YYYYMMDDHHMMSS; path`.
    pub(super) fn mfmt(&mut self, secs: i64, arg: &str) -> Result<Outcome, FtpError> {
        self.need(|p| p.write)?;
        let path = self.path(arg)?;
        self.jail()?.set_mtime(&path, secs)?;
        ok(ReplyCode::FILE_STATUS, format!("Modify={}; {arg}", time_val(secs)))
    }

    /// MFF facts path (draft-somers-ftp-mfxx section 4): every fact, or
    /// none when the first fails; the reply repeats the facts set.
    pub(super) fn mff(&mut self, facts: MffFacts, arg: &str) -> Result<Outcome, FtpError> {
        self.need(|p| p.write)?;
        let path = self.path(arg)?;
        let jail = self.jail()?;
        if let Some(mode) = facts.mode {
            jail.chmod(&path, mode)?;
        }
        if let Some(t) = facts.modify {
            jail.set_mtime(&path, t)?;
        }
        ok(ReplyCode::FILE_STATUS, format!("{} {arg}", facts.encode()))
    }

    /// `OPTS HASH [name]` (draft-bryan-ftpext-hash section 4): shows or
    /// selects the algorithm of HASH.
    pub(super) fn opts_hash(&mut self, value: Option<&str>) -> Result<Outcome, FtpError> {
        if let Some(v) = value {
            match Algo::from_name(v) {
                Some(a) => self.hash_algo = a,
                None => return Err(FtpError::Parse(ParseError::Unsupported("OPTS HASH"))),
            }
        }
        ok(ReplyCode::COMMAND_OK, self.hash_algo.name())
    }

    /// HASH path, or an X verb: the checksum job of the file, or of the
    /// octets RANG named.
    pub(super) fn hash(&mut self, algo: Algo, arg: &str, x_verb: bool) -> Result<Outcome, FtpError> {
        self.need(|p| p.read)?;
        let range = self.range.take();
        let path = self.path(arg)?;
        let (file, st) = self.jail()?.open_file(&path)?;
        let (first, end) = super::transfers::octets(0, range, st.st_size as u64)?;
        Ok(Outcome::Hash(HashJob { file, algo, first, end, path: arg.to_string(), x_verb }))
    }

    /// RANG first last (draft-bryan-ftp-range section 3); `RANG 1 0` resets.
    pub(super) fn rang(&mut self, first: u64, last: u64) -> Outcome {
        self.rest = 0;
        let text = if (first, last) == (1, 0) {
            self.range = None;
            "Range reset.".to_string()
        } else {
            self.range = Some((first, last));
            format!("Restarting at {first}. End byte range at {last}.")
        };
        Outcome::Reply(Reply::new(ReplyCode::PENDING, text))
    }

    /// AVBL \[dir\]: bytes this user may still upload there: the free space
    /// of its file system, and no more than the quota leaves.
    pub(super) fn avbl(&mut self, arg: Option<String>) -> Result<Outcome, FtpError> {
        self.need(|p| p.write)?;
        let path = match &arg {
            Some(a) => self.path(a)?,
            None => self.cwd.clone(),
        };
        let jail = self.jail()?;
        if !is_dir(&jail.stat(&path)?) {
            return Err(FtpError::NotADirectory);
        }
        let mut free = jail.free_bytes(&path)?;
        if let Some(q) = &self.quota {
            if let Some(left) = q.bytes_left()? {
                free = free.min(left);
            }
        }
        ok(ReplyCode::FILE_STATUS, free.to_string())
    }

    /// SITE CHMOD, UMASK, HELP.
    pub(super) fn site(&mut self, sub: SiteCommand) -> Result<Outcome, FtpError> {
        match sub {
            SiteCommand::Chmod(mode, arg) => {
                // Security: only what the account may write, and only the
                // permission bits (the parser refused the others).
                self.need(|p| p.write)?;
                let path = self.path(&arg)?;
                self.jail()?.chmod(&path, mode)?;
                ok(ReplyCode::COMMAND_OK, "SITE CHMOD command ok.")
            }
            SiteCommand::Umask(None) => ok(ReplyCode::COMMAND_OK, format!("Your current UMASK is {:03o}", self.umask)),
            SiteCommand::Umask(Some(mask)) => {
                self.umask = mask;
                ok(ReplyCode::COMMAND_OK, format!("UMASK set to {mask:03o}"))
            }
            SiteCommand::Help => Ok(Outcome::Reply(Reply::multi(
                ReplyCode::HELP,
                "The following SITE commands are recognized:",
                vec![SITE_COMMANDS.join(" ")],
                "Help OK.",
            ))),
            SiteCommand::Unknown(s) => Err(FtpError::UnknownSite(s)),
        }
    }
}
