//! `get`: a download goes to `NAME.part`, renamed to `NAME` once complete
//! (and, in binary mode, once its size matches SIZE). A partial file is
//! resumed (REST, RFC 3659 section 5) after a check that the bytes before
//! its end are the server's; otherwise it is started over.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::pump::Stop;
use super::{remote_basename, Opening};
use crate::client::error::{io_text, ClientError};
use crate::client::progress::Direction;
use crate::client::session::Session;
use crate::limits::{CLIENT_STALL_TIMEOUT, IO_BUFFER, PARTIAL_SUFFIX, RESUME_CHECK_BYTES};
use crate::protocol::reply::parse_size_hint;
use crate::protocol::{Command, TransferType};

/// How one download attempt ended.
enum Fetched {
    /// The file is in place.
    Done,
    /// The partial file cannot be resumed: start over (the text says why).
    StartOver(String),
}

/// `NAME.part` beside `NAME`.
pub fn partial_path(target: &Path) -> PathBuf {
    let mut name = target.file_name().unwrap_or_default().to_os_string();
    name.push(PARTIAL_SUFFIX);
    target.with_file_name(name)
}

fn file_len(f: &File) -> u64 {
    f.metadata().map_or(0, |m| m.len())
}

/// Removes a partial file that holds nothing.
fn remove_if_empty(part: &Path) {
    if std::fs::metadata(part).is_ok_and(|m| m.is_file() && m.len() == 0) {
        let _ = std::fs::remove_file(part);
    }
}

/// What the user is told about a partial file left behind.
fn kept_note(part: &Path, remote: &str) -> String {
    match std::fs::metadata(part) {
        Ok(m) if m.len() > 0 => {
            format!("partial file kept: {} ({} bytes); 'get {remote}' resumes it", part.display(), m.len())
        }
        _ => "nothing was kept".into(),
    }
}

impl Session {
    /// `get [-f] [-c] REMOTE [LOCAL]`; with `verify`, the download is
    /// checked against the server's checksum afterwards.
    pub fn get(&mut self, remote: &str, local: Option<&str>, force: bool, verify: bool) -> Result<(), ClientError> {
        self.ctl_mut()?;
        if verify {
            // Fail before the download when the server cannot tell a checksum.
            self.checksum_available()?;
        }
        let target = self.download_target(remote, local)?;
        self.download(remote, &target, force, None)?;
        if verify {
            self.verify(remote, &target, None)?;
        }
        Ok(())
    }

    /// Downloads `remote` into `target` (through `target.part`). `size` is
    /// the remote size when a listing already gave it; otherwise SIZE asks.
    pub(in crate::client) fn download(
        &mut self,
        remote: &str,
        target: &Path,
        force: bool,
        size: Option<u64>,
    ) -> Result<(), ClientError> {
        let part = partial_path(target);
        let binary = self.ttype == TransferType::Image;
        let size = match (binary, size) {
            (false, _) => None,
            (true, Some(s)) => Some(s),
            (true, None) => self.remote_size(remote)?,
        };
        self.ensure_type(self.ttype)?;
        let mut force = force;
        // The second attempt starts from zero, so it cannot ask for a third.
        for _ in 0..2 {
            match self.get_once(remote, target, &part, size, force)? {
                Fetched::Done => return Ok(()),
                Fetched::StartOver(why) => {
                    self.inform(why);
                    force = true;
                }
            }
        }
        Err(ClientError::Failed(format!("{remote}: the download could not be completed.")))
    }

    /// Where `get` writes: LOCAL (inside it when it is a directory), or the
    /// remote name in the local directory.
    fn download_target(&self, remote: &str, local: Option<&str>) -> Result<PathBuf, ClientError> {
        let base = || {
            remote_basename(remote).ok_or_else(|| {
                ClientError::Usage(format!("Cannot name a local file after '{remote}': use get REMOTE LOCAL."))
            })
        };
        let mut path = self.local_path(local.map_or_else(base, Ok)?);
        if path.is_dir() {
            path = path.join(base()?);
        }
        Ok(path)
    }

    fn get_once(
        &mut self,
        remote: &str,
        target: &Path,
        part: &Path,
        size: Option<u64>,
        force: bool,
    ) -> Result<Fetched, ClientError> {
        let binary = self.ttype == TransferType::Image;
        let local_err = |e: io::Error| ClientError::local(part.display(), e);
        // ASCII transfers change the bytes, so they cannot be resumed.
        let existing = match std::fs::metadata(part) {
            Ok(m) if m.is_file() && binary && !force => m.len(),
            _ => 0,
        };
        let mut offset = existing;
        if let Some(rs) = size {
            if offset > rs {
                self.inform(format!(
                    "The partial file {} is larger than the remote file: starting over.",
                    part.display()
                ));
                offset = 0;
            }
        }
        let check_from = offset.saturating_sub(RESUME_CHECK_BYTES);
        // Opened without truncation only to resume: a download from zero
        // never keeps old trailing bytes.
        let mut file = if offset == 0 {
            OpenOptions::new().read(true).write(true).create(true).truncate(true).open(part)
        } else {
            OpenOptions::new().read(true).write(true).open(part)
        }
        .map_err(local_err)?;
        let mut expect = vec![0u8; (offset - check_from) as usize];
        file.seek(SeekFrom::Start(check_from)).and_then(|_| file.read_exact(&mut expect)).map_err(local_err)?;
        file.seek(SeekFrom::Start(offset)).map_err(local_err)?;

        let rest = (check_from > 0).then_some(check_from);
        let (mut data, prelim) = match self.open_transfer(rest, Command::Retr(remote.to_string())) {
            Ok(Opening::Open(data, prelim)) => (data, prelim),
            Ok(Opening::RestRefused(r)) => {
                return Ok(Fetched::StartOver(format!("The server cannot resume ({r}): starting over.")))
            }
            Ok(Opening::Finished(r)) => {
                remove_if_empty(part);
                return Err(ClientError::Failed(format!("No data connection for the download: {r}")));
            }
            Err(e) => {
                drop(file);
                remove_if_empty(part);
                return Err(e);
            }
        };
        if offset > 0 {
            self.inform(format!("Resuming {remote} at byte {offset}."));
        }
        let total = size.or_else(|| if check_from == 0 { parse_size_hint(&prelim.text()) } else { None });
        let mut progress = self.new_progress(Direction::Received, check_from, total);
        let intr = self.intr.clone();
        let result = {
            let mut sink = BufWriter::with_capacity(IO_BUFFER, &mut file);
            let r = self.pump(&mut progress, &intr).receive(&mut data, &mut sink, !binary, &expect);
            // Flushed in every case: what arrived before an abort is kept.
            let flushed = sink.flush().map_err(Stop::Local);
            r.and(flushed)
        };
        progress.finish();
        match result {
            Ok(()) => {
                drop(data);
                let r = self.transfer_reply()?;
                if !r.code.is_completion() {
                    return Err(ClientError::Failed(format!("{r} ({})", kept_note(part, remote))));
                }
                let len = file_len(&file);
                if let (true, Some(rs)) = (binary, size) {
                    if len != rs {
                        return Err(ClientError::Failed(format!(
                            "Incomplete download: {len} of {rs} bytes ({}).",
                            kept_note(part, remote)
                        )));
                    }
                }
                file.sync_all().map_err(local_err)?;
                drop(file);
                std::fs::rename(part, target).map_err(|e| ClientError::local(target.display(), e))?;
                self.inform_done(&progress, offset);
                Ok(Fetched::Done)
            }
            Err(Stop::Mismatch) => {
                self.abort(Some(data))?;
                file.set_len(0).map_err(local_err)?;
                Ok(Fetched::StartOver(format!(
                    "The partial file {} is not the start of the remote file: starting over.",
                    part.display()
                )))
            }
            Err(Stop::Interrupted) => {
                self.abort(Some(data))?;
                drop(file);
                remove_if_empty(part);
                self.say_stopped(format!("Transfer aborted; {}.", kept_note(part, remote)));
                Err(ClientError::Interrupted)
            }
            Err(Stop::Stalled) => {
                self.abort(Some(data))?;
                Err(ClientError::Failed(format!(
                    "No data for {} seconds: download abandoned ({}).",
                    CLIENT_STALL_TIMEOUT.as_secs(),
                    kept_note(part, remote)
                )))
            }
            Err(Stop::Local(e)) => {
                self.abort(Some(data))?;
                Err(ClientError::local(part.display(), e))
            }
            Err(Stop::Data(e)) => {
                drop(data);
                let r = self.transfer_reply()?;
                Err(ClientError::Failed(format!(
                    "Data connection failed ({}); {r} ({}).",
                    io_text(&e),
                    kept_note(part, remote)
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_files_sit_beside_their_target() {
        assert_eq!(partial_path(Path::new("/x/a b.bin")), PathBuf::from("/x/a b.bin.part"));
    }
}
