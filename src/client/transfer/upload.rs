//! `put`: an upload resumes when the server holds a shorter file whose last
//! bytes match the local file at the same place, with REST+STOR (RFC 3659
//! section 5), or APPE if REST is refused; otherwise it sends the whole file.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use super::pump::{Capped, Stop};
use super::Opening;
use crate::client::error::{io_text, ClientError};
use crate::client::progress::{Direction, Progress};
use crate::client::session::Session;
use crate::limits::{CLIENT_STALL_TIMEOUT, RESUME_CHECK_BYTES};
use crate::protocol::{Command, TransferType};

impl Session {
    /// True when the server's `rsize` bytes of `remote` end like the local
    /// file at the same place: a shorter remote file is an interrupted upload
    /// of this one, not another file (checked with REST+RETR of its last
    /// [`RESUME_CHECK_BYTES`]).
    fn remote_prefix_matches(&mut self, remote: &str, file: &mut File, rsize: u64) -> Result<bool, ClientError> {
        let from = rsize.saturating_sub(RESUME_CHECK_BYTES);
        let mut local_tail = vec![0u8; (rsize - from) as usize];
        file.seek(SeekFrom::Start(from))
            .and_then(|_| file.read_exact(&mut local_tail))
            .map_err(|e| ClientError::local("local file", e))?;
        let mut data = match self.open_transfer((from > 0).then_some(from), Command::Retr(remote.to_string())) {
            Ok(Opening::Open(data, _)) => data,
            Ok(_) | Err(ClientError::Refused(_) | ClientError::Failed(_)) => return Ok(false),
            Err(e) => return Err(e),
        };
        let mut progress = Progress::new(Direction::Received, from, None, false);
        let intr = self.intr.clone();
        let mut sink = Capped { buf: Vec::new(), cap: local_tail.len() };
        match self.pump(&mut progress, &intr).receive(&mut data, &mut sink, false, &[]) {
            Ok(()) => {
                drop(data);
                let r = self.transfer_reply()?;
                Ok(r.code.is_completion() && sink.buf == local_tail)
            }
            Err(Stop::Interrupted) => {
                self.abort(Some(data))?;
                Err(ClientError::Interrupted)
            }
            Err(_) => {
                self.abort(Some(data))?;
                Ok(false)
            }
        }
    }

    /// `put [-f] LOCAL [REMOTE]`.
    pub fn put(&mut self, local: &str, remote: Option<&str>, force: bool) -> Result<(), ClientError> {
        self.ctl_mut()?;
        let path = self.local_path(local);
        let remote = match remote {
            Some(r) => r.to_string(),
            None => path.file_name().map(|n| n.to_string_lossy().into_owned()).ok_or_else(|| {
                ClientError::Usage(format!("Cannot name a remote file after '{local}': use put LOCAL REMOTE."))
            })?,
        };
        self.upload(&path, &remote, force)
    }

    /// Uploads the local file `path` as `remote`, resuming an interrupted
    /// upload unless `force`.
    pub(in crate::client) fn upload(&mut self, path: &Path, remote: &str, force: bool) -> Result<(), ClientError> {
        let local_err = |e: io::Error| ClientError::local(path.display(), e);
        let mut file = File::open(path).map_err(local_err)?;
        let meta = file.metadata().map_err(local_err)?;
        if !meta.is_file() {
            return Err(local_err(io::Error::other("not a regular file")));
        }
        let len = meta.len();
        let remote = remote.to_string();
        let binary = self.ttype == TransferType::Image;
        let mut offset = 0;
        if binary && !force {
            if let Some(rs) = self.remote_size(&remote)? {
                if rs > 0 && rs < len && self.remote_prefix_matches(&remote, &mut file, rs)? {
                    offset = rs;
                }
            }
        }
        self.ensure_type(self.ttype)?;
        let mut opening = self.open_transfer((offset > 0).then_some(offset), Command::Stor(remote.clone()))?;
        if let Opening::RestRefused(_) = opening {
            // APPE appends at the server's end of file, which is `offset`.
            opening = self.open_transfer(None, Command::Appe(remote.clone()))?;
        }
        let mut data = match opening {
            Opening::Open(data, _) => data,
            Opening::RestRefused(r) | Opening::Finished(r) => {
                return Err(ClientError::Failed(format!("No data connection for the upload: {r}")))
            }
        };
        file.seek(SeekFrom::Start(offset)).map_err(local_err)?;
        if offset > 0 {
            self.inform(format!("Resuming the upload of {remote} at byte {offset}."));
        }
        let mut progress = self.new_progress(Direction::Sent, offset, Some(len));
        let intr = self.intr.clone();
        let result = self.pump(&mut progress, &intr).send(&mut data, &mut file, !binary);
        progress.finish();
        match result {
            Ok(()) => {
                // The end of the data connection is the end of the file
                // (`Pump::end_upload` said so).
                drop(data);
                let r = self.transfer_reply()?;
                if !r.code.is_completion() {
                    return Err(ClientError::Refused(r));
                }
                if binary {
                    if let Some(rs) = self.remote_size(&remote)? {
                        if rs != len {
                            return Err(ClientError::Failed(format!(
                                "The server has {rs} bytes of {remote}; the local file has {len}."
                            )));
                        }
                    }
                }
                self.inform_done(&progress, offset);
                Ok(())
            }
            Err(Stop::Interrupted) => {
                self.abort(Some(data))?;
                self.say_stopped(format!(
                    "Upload aborted after {} bytes; 'put' again resumes it if the server kept them.",
                    offset + progress.moved()
                ));
                Err(ClientError::Interrupted)
            }
            Err(Stop::Local(e)) => {
                self.abort(Some(data))?;
                Err(local_err(e))
            }
            Err(Stop::Data(e)) => {
                drop(data);
                let r = self.transfer_reply()?;
                if r.code.is_failure() {
                    Err(ClientError::Refused(r))
                } else {
                    Err(ClientError::Failed(format!("Data connection failed: {}.", io_text(&e))))
                }
            }
            Err(Stop::Stalled | Stop::Mismatch) => {
                self.abort(Some(data))?;
                Err(ClientError::Failed(format!(
                    "No progress for {} seconds: upload abandoned.",
                    CLIENT_STALL_TIMEOUT.as_secs()
                )))
            }
        }
    }
}
