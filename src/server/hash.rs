//! Checksums computed by the worker: HASH (draft-bryan-ftpext-hash), and
//! the older XSHA256, XSHA512, XSHA1, XMD5 and XCRC verbs.
//!
//! The file is read in [`HASH_CHUNK`] pieces, paced at [`HASH_RATE`]
//! (Security: a client cannot turn checksums of huge files into a busy
//! core), and between pieces the control connection is watched as during
//! a transfer: ABOR stops the checksum (`426`, then `226`), STAT says how
//! far it is, other commands wait until it is done, a client that leaves
//! ends it. RANG limits the octets read.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::time::Instant;

use super::config::Timeouts;
use super::control::Control;
use super::error::FtpError;
use super::rate::Throttle;
use super::transfer::{Pump, Stop};
use crate::limits::{HASH_CHUNK, HASH_RATE};
use crate::protocol::checksum::{hash_reply_text, Algo, Hasher};
use crate::protocol::{Reply, ReplyCode};

/// A checksum the session has prepared: file opened, rights checked.
pub struct HashJob {
    /// The open file.
    pub file: File,
    /// The algorithm.
    pub algo: Algo,
    /// The first octet to read.
    pub first: u64,
    /// One past the last octet to read.
    pub end: u64,
    /// The path as the client named it, for the reply.
    pub path: String,
    /// The reply of the X verbs (`250 <hex>`, as ProFTPD's mod_digest)
    /// instead of HASH's (`213 SHA-256 0-49 <hex> path`).
    pub x_verb: bool,
}

/// How a checksum ended.
pub struct HashDone {
    /// Octets read.
    pub bytes: u64,
    /// The digest was sent.
    pub complete: bool,
    /// Close the control connection after the replies.
    pub close: bool,
}

/// The reply for a computed digest.
fn reply(job: &HashJob, digest: &str) -> Reply {
    if job.x_verb {
        return Reply::new(ReplyCode::FILE_ACTION_OK, digest.to_string());
    }
    // draft-bryan-ftpext-hash section 3.2: the range is inclusive.
    let last = job.end.saturating_sub(1).max(job.first);
    Reply::new(ReplyCode::FILE_STATUS, hash_reply_text(job.algo, job.first, last, digest, &job.path))
}

/// Reads and digests the job's octets.
fn digest(pump: &mut Pump<'_>, job: &mut HashJob) -> Result<String, Stop> {
    job.file.seek(SeekFrom::Start(job.first)).map_err(|e| Stop::Fs(e.into()))?;
    let mut h = Hasher::new(job.algo);
    let mut buf = vec![0u8; HASH_CHUNK];
    let mut left = job.end - job.first;
    while left > 0 {
        pump.pace()?;
        let want = pump.limit(buf.len()).min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = match job.file.read(&mut buf[..want]) {
            // The file shrank meanwhile: what was there is the answer.
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                pump.interrupted()?;
                continue;
            }
            Err(e) => return Err(Stop::Fs(e.into())),
        };
        h.update(&buf[..n]);
        left -= n as u64;
        pump.moved(n);
        pump.check_control()?;
    }
    Ok(h.finish())
}

/// Computes `job`'s checksum and sends its reply (or the replies of its
/// end: ABOR, the server stopping). `progress` is told the octets read.
pub fn run(mut job: HashJob, ctl: &mut Control, timeouts: &Timeouts, progress: &mut dyn FnMut(u64)) -> HashDone {
    let mut pump = Pump::new(ctl, timeouts.stall, progress, Throttle::new(HASH_RATE, Instant::now()), "Checksum");
    let result = digest(&mut pump, &mut job);
    let bytes = pump.bytes();
    let ctl = pump.into_control();
    let (replies, complete, close) = match result {
        Ok(d) => (vec![reply(&job, &d)], true, false),
        Err(stop) => {
            let (replies, close) = stop.replies(FtpError::ChecksumAborted.reply());
            (replies, false, close)
        }
    };
    let sent = replies.iter().try_for_each(|r| ctl.send(r));
    HashDone { bytes, complete, close: close || sent.is_err() }
}
