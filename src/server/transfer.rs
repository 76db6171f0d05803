//! Running a transfer on an established data connection: `sendfile(2)` for
//! binary downloads, `splice(2)` through a pipe for binary uploads, buffered
//! conversion for ASCII (RFC 959 section 3.1.1.1), streamed listings. While bytes move, the
//! control connection is watched: ABOR aborts (RFC 959 section 4.1.3), STAT
//! reports progress, anything else waits until the transfer is done (at
//! most [`MAX_PENDING_COMMANDS`](crate::limits::MAX_PENDING_COMMANDS) of
//! them; then the control connection is not read until the end). An
//! account's rate limit paces the bytes ([`super::rate`]) on every path,
//! and its quota is charged before an upload's bytes reach the file
//! ([`super::quota`]).
//!
//! This file holds what a transfer is and [`run`], which opens the data
//! connection and sends the replies; `transfer/pump.rs` is the loop's
//! watch over the control connection, its pacing and its stall timer;
//! `transfer/send.rs` moves a download's or a listing's bytes, and
//! `transfer/receive.rs` an upload's.

use std::fs::File;
use std::net::IpAddr;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::poll::PollFlags;

use super::config::Timeouts;
use super::control::Control;
use super::data::{DataConn, DataSetup};
use super::error::{reply_for, FtpError};
use super::listing::Listing;
use super::quota::Charge;
use super::rate::Throttle;
use super::upload::Upload;
use super::vpath::VPath;
use crate::protocol::{Reply, ReplyCode, TransferType};
use crate::sys;

mod pump;
mod receive;
mod send;

pub(super) use pump::{Pump, Stop};

/// A transfer the session has prepared: file opened, rights checked.
pub struct Transfer {
    /// How to reach the client.
    pub setup: DataSetup,
    /// What to move.
    pub job: Job,
    /// ASCII or binary.
    pub ttype: TransferType,
    /// The path, for the log.
    pub path: VPath,
    /// The 150 reply to send once the data connection is open.
    pub start: Reply,
    /// The account's rate for this direction, bytes per second (0: none).
    pub rate: u64,
    /// An upload's charge against the home's quota.
    pub quota: Option<Charge>,
    /// PROT P: the data connection is encrypted (RFC 4217 section 9).
    pub tls: Option<DataTls>,
}

/// How a private data connection is encrypted.
pub struct DataTls {
    /// The session's TLS configuration (its own session cache).
    pub config: Arc<rustls::ServerConfig>,
    /// The handshake must resume the control connection's session
    /// (vsftpd's `require_ssl_reuse`; off with `--no-require-tls-reuse`).
    pub require_reuse: bool,
    /// Send new TLS 1.3 session tickets (not on uploads: see
    /// `TlsConfig::accept_data`).
    pub tickets: bool,
}

/// The bytes a transfer moves.
pub enum Job {
    /// RETR: `len` bytes of `file` from `offset`.
    Send {
        /// The open file.
        file: File,
        /// Where to start (REST).
        offset: u64,
        /// Its size.
        size: u64,
    },
    /// STOR, STOU, APPE.
    Receive(Upload),
    /// LIST, NLST, MLSD.
    List(Listing),
}

/// How a transfer ended.
pub struct Done {
    /// Bytes moved over the data connection.
    pub bytes: u64,
    /// True when every byte was moved and the file is in place.
    pub complete: bool,
    /// Close the control connection after the replies.
    pub close: bool,
}

/// The TLS handshake of a private data connection (RFC 4217 section 9),
/// within `timeout`. Security: unless `--no-require-tls-reuse`, it must
/// resume the control connection's TLS session, which only the client that
/// holds that session can do: a thief who connected to the passive port
/// first gets a 522 and no byte of the file.
fn secure_data(data: &mut DataConn, tls: &DataTls, timeout: Duration) -> Result<(), FtpError> {
    let conn = super::tls::TlsConfig::accept_data(&tls.config, tls.tickets).map_err(FtpError::DataTls)?;
    data.start_tls(conn, Instant::now() + timeout)
        .map_err(|e| FtpError::DataTls(format!("TLS handshake on the data connection failed: {e}.")))?;
    let resumed = data.tls_resumed();
    if tls.require_reuse && !resumed {
        return Err(FtpError::DataTls(
            "Data connection refused: its TLS session must resume the control connection's (session reuse required)."
                .into(),
        ));
    }
    log::debug!("data connection: {}{}", data.tls_describe(), if resumed { ", resumed" } else { "" });
    Ok(())
}

/// Runs `t`: opens the data connection, sends the 150, moves the bytes,
/// and sends the final reply(ies). `progress` is told the byte count. A
/// control connection that fails on the way ends the session (`close`).
pub fn run(t: Transfer, ctl: &mut Control, client: IpAddr, timeouts: &Timeouts, progress: &mut dyn FnMut(u64)) -> Done {
    let Transfer { setup, job, ttype, start, rate, quota, tls, .. } = t;
    let failed = Done { bytes: 0, complete: false, close: true };
    // Passive: until the client connects, the control connection is watched
    // too, so that ABOR (RFC 959 4.1.3) or the client leaving is heard at
    // once, not after --data-timeout.
    if let Some(listener) = setup.passive_listener() {
        let mut waiting = Pump::new(&mut *ctl, timeouts.data_connect, &mut *progress, None, "Transfer");
        // An ABOR may already be read, in the same packet as the command.
        match waiting.check_control().and_then(|()| waiting.wait(listener.as_fd(), PollFlags::POLLIN)) {
            // Connected, or a poll failure that connect() below reports.
            Ok(()) | Err(Stop::DataLost(_) | Stop::Fs(_)) => {}
            Err(stop) => {
                let (replies, close) = stop.replies(FtpError::TransferAborted.reply());
                let sent = replies.iter().try_for_each(|r| ctl.send(r));
                return Done { close: close || sent.is_err(), ..failed };
            }
        }
    }
    let mut data = match setup.connect(client, timeouts.data_connect) {
        Ok(d) => d,
        Err(e) => {
            if sys::stop_now() {
                let _ = ctl.send(&FtpError::ShuttingDown.reply());
                return failed;
            }
            log::info!("data connection failed: {e}");
            // No data connection within --data-timeout: the session ends,
            // like the other timeouts; a refused connection is only a 425.
            if e.kind() == std::io::ErrorKind::TimedOut {
                let _ = ctl.send(&FtpError::Timeout.reply());
                return failed;
            }
            let sent = ctl.send(&FtpError::NoData("Failed to establish connection.".into()).reply());
            return Done { close: sent.is_err(), ..failed };
        }
    };
    if ctl.send(&start).is_err() {
        return failed;
    }
    // RFC 4217 section 9: with PROT P the client starts TLS on the data
    // connection once it has the 150.
    if let Some(tls) = tls {
        if let Err(e) = secure_data(&mut data, &tls, timeouts.data_connect) {
            log::info!("data connection: {}", e.reply().text());
            let sent = ctl.send(&e.reply());
            return Done { close: sent.is_err(), ..failed };
        }
    }
    if data.set_nonblocking(true).is_err() {
        return failed;
    }
    // Listings are not paced: the rates are for files.
    let throttle = if matches!(job, Job::List(_)) { None } else { Throttle::new(rate, Instant::now()) };
    let mut pump = Pump::new(ctl, timeouts.stall, progress, throttle, "Transfer");
    pump.charge = quota;
    let mut upload_to_commit = None;
    let mut upload_start = None;
    let result = match job {
        Job::Send { mut file, offset, size } => match (data.plain(), ttype) {
            (Some(sock), TransferType::Image) => pump.send_file(sock, &file, offset, size),
            // A data connection's TLS is always `net::records`.
            (None, TransferType::Image) => match data.records() {
                Some(rec) => pump.send_records(rec, &file, offset, size),
                None => pump.send_buffered(&mut data, &mut file, offset, size, false),
            },
            (_, TransferType::Ascii) => pump.send_buffered(&mut data, &mut file, offset, size, true),
        }
        .and_then(|()| pump.finish(&mut data)),
        Job::List(mut listing) => pump.send_listing(&mut data, &mut listing).and_then(|()| pump.finish(&mut data)),
        Job::Receive(mut upload) => {
            use std::io::Seek;
            upload_start = upload.file().stream_position().ok();
            let r = pump.receive(&mut data, &mut upload, ttype);
            upload_to_commit = Some(upload);
            // The client said goodbye first; ours is a courtesy it may
            // not wait for.
            let _ = data.close_notify();
            r
        }
    };
    let bytes = pump.bytes;
    let charge = pump.charge.take();
    // The data connection ends here: the client sees EOF before our 226.
    data.close();
    let ctl = pump.ctl;
    // The file an upload replaced: freed after the replies (see `upload`).
    let mut replaced = None;
    // Replies to send, and whether the session ends afterwards.
    let (replies, complete, close): (Vec<Reply>, bool, bool) = match result {
        Ok(()) => match upload_to_commit.map(Upload::commit) {
            Some(Err(e)) => (vec![reply_for(&e, "")], false, false),
            r => {
                replaced = r.and_then(Result::ok);
                if let Some(c) = charge {
                    c.commit();
                }
                (vec![Reply::new(ReplyCode::CLOSING_DATA, "Transfer complete.")], true, false)
            }
        },
        Err(stop) => {
            // An upload in place refused by the quota keeps nothing of
            // what it appended.
            if let (Some(up), Some(at), Stop::Fs(FtpError::QuotaExceeded)) =
                (&mut upload_to_commit, upload_start, &stop)
            {
                if up.is_in_place() {
                    let _ = up.file().set_len(at);
                }
            }
            // Dropping an unfinished upload removes its temporary file; its
            // charge gives back what it took of the quota.
            drop(upload_to_commit);
            drop(charge);
            match &stop {
                Stop::DataLost(e) => log::info!("data connection lost after {bytes} bytes: {e}"),
                Stop::Control(e) => log::info!("control connection failed during the transfer: {e}"),
                _ => {}
            }
            let (replies, close) = stop.replies(FtpError::TransferAborted.reply());
            (replies, false, close)
        }
    };
    // The replies get a fresh idle deadline: the transfer may have taken longer.
    ctl.set_write_limit(Instant::now() + timeouts.idle, false);
    let sent = replies.iter().try_for_each(|r| ctl.send(r));
    drop(replaced);
    Done { bytes, complete, close: close || sent.is_err() }
}
