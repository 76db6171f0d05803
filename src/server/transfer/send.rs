//! The bytes of a download (RETR) and of a listing (LIST, NLST, MLSD),
//! file to data connection: `sendfile(2)` in binary mode over a plain
//! connection, sealed TLS records read straight from the file with PROT P
//! (RFC 4217 section 9), a buffer where each bare LF goes out as CRLF in
//! ASCII mode (RFC 959 section 3.1.1.1); then TLS's `close_notify`.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsFd;

use nix::errno::Errno;
use nix::poll::PollFlags;

use super::{Pump, Stop};
use crate::limits::{IO_BUFFER, SENDFILE_CHUNK};
use crate::net::records::RecordStream;
use crate::protocol::ascii::ToCrlf;
use crate::server::data::DataConn;
use crate::server::listing::Listing;

impl Pump<'_> {
    /// RETR in binary mode over a plain connection: the kernel copies file
    /// to socket (`sendfile`).
    pub(super) fn send_file(&mut self, data: &TcpStream, file: &File, offset: u64, size: u64) -> Result<(), Stop> {
        let mut off = offset as i64;
        let end = size as i64;
        while off < end {
            let want = self.limit(((end - off) as usize).min(SENDFILE_CHUNK));
            self.pace()?;
            match nix::sys::sendfile::sendfile64(data.as_fd(), file.as_fd(), Some(&mut off), want) {
                // The file shrank while we sent it: what was there is sent.
                Ok(0) => break,
                Ok(n) => {
                    self.moved(n);
                    self.check_control()?;
                }
                Err(Errno::EAGAIN) => self.wait(data.as_fd(), PollFlags::POLLOUT)?,
                Err(Errno::EINTR) => self.interrupted()?,
                Err(e) => return Err(Stop::DataLost(e.into())),
            }
        }
        Ok(())
    }

    /// RETR in binary mode over TLS (`PROT P`): the file is read straight
    /// into the TLS records (one `preadv` per batch of
    /// [`TLS_DATA_BATCH`](crate::limits::TLS_DATA_BATCH)), which are
    /// sealed in place and written with one `write` (`net::records`).
    pub(super) fn send_records(
        &mut self,
        rec: &mut RecordStream,
        file: &File,
        offset: u64,
        end: u64,
    ) -> Result<(), Stop> {
        let mut off = offset;
        loop {
            match rec.flush_records() {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.wait(rec.as_fd(), PollFlags::POLLOUT)?;
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    self.interrupted()?;
                    continue;
                }
                Err(e) => return Err(Stop::DataLost(e)),
            }
            self.check_control()?;
            if off >= end {
                return Ok(());
            }
            self.pace()?;
            let want = self.limit(usize::try_from(end - off).unwrap_or(usize::MAX));
            let mut fs_error = None;
            let r = rec.write_with(want, &mut |iov| loop {
                match nix::sys::uio::preadv(file.as_fd(), iov, off as i64) {
                    Ok(n) => return Ok(n),
                    Err(Errno::EINTR) => continue,
                    Err(e) => {
                        fs_error = Some(io::Error::from(e));
                        return Ok(0);
                    }
                }
            });
            if let Some(e) = fs_error {
                return Err(Stop::Fs(e.into()));
            }
            match r {
                // The file shrank while we sent it: what was there is sent.
                Ok(0) => off = end,
                Ok(n) => {
                    off += n as u64;
                    self.moved(n);
                }
                Err(e) => return Err(Stop::DataLost(e)),
            }
        }
    }

    /// RETR through a buffer: in ASCII mode, where each bare LF goes out as
    /// CRLF, or in binary mode where the connection cannot take `sendfile`.
    pub(super) fn send_buffered(
        &mut self,
        data: &mut DataConn,
        file: &mut File,
        offset: u64,
        end: u64,
        ascii: bool,
    ) -> Result<(), Stop> {
        use std::io::{Seek, SeekFrom};
        file.seek(SeekFrom::Start(offset)).map_err(|e| Stop::Fs(e.into()))?;
        let mut inbuf = vec![0u8; IO_BUFFER];
        let mut out = Vec::with_capacity(IO_BUFFER * 2);
        let mut to_crlf = ToCrlf::default();
        // The file may grow while it is sent: what was there at RETR (or
        // what RANG named) is sent.
        let mut left = end.saturating_sub(offset);
        loop {
            let want = inbuf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            if want == 0 {
                return Ok(());
            }
            let n = match file.read(&mut inbuf[..want]) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Stop::Fs(e.into())),
            };
            left -= n as u64;
            if ascii {
                out.clear();
                to_crlf.convert(&inbuf[..n], &mut out);
                self.write_all(data, &out)?;
            } else {
                self.write_all(data, &inbuf[..n])?;
            }
        }
    }

    /// After the last byte: what an encrypted connection still holds goes
    /// out, then its `close_notify` (RFC 4217 section 10: the end of the
    /// data is a TLS closure), waiting for the socket as the bytes did.
    pub(super) fn finish(&mut self, data: &mut DataConn) -> Result<(), Stop> {
        if !data.is_tls() {
            return Ok(());
        }
        let mut notified = false;
        loop {
            let r = if notified { data.flush() } else { data.close_notify() };
            notified = true;
            match r {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.wait(data.as_fd(), PollFlags::POLLOUT)?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => self.interrupted()?,
                Err(e) => return Err(Stop::DataLost(e)),
            }
        }
    }

    pub(super) fn send_listing(&mut self, data: &mut DataConn, listing: &mut Listing) -> Result<(), Stop> {
        let mut out = Vec::with_capacity(IO_BUFFER);
        loop {
            out.clear();
            let more = listing.fill(&mut out, IO_BUFFER);
            self.write_all(data, &out)?;
            if !more {
                return Ok(());
            }
        }
    }
}
