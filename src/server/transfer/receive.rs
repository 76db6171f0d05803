//! The bytes of an upload (STOR, STOU, APPE), data connection to file:
//! `splice(2)` through a pipe in binary mode over a plain connection, TLS
//! records opened in place and written with one `writev` with PROT P (RFC
//! 4217 section 9), a buffer where CRLF becomes LF in ASCII mode (RFC 959
//! section 3.1.1.1). Security: every byte is charged to the quota before
//! it reaches the file.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsFd, AsRawFd};

use nix::errno::Errno;
use nix::poll::PollFlags;

use super::{Pump, Stop};
use crate::limits::{IO_BUFFER, SPLICE_PIPE, TLS_DATA_BATCH, UPLOAD_EOF_GRACE, UPLOAD_LOW_WATER};
use crate::net::records::RecordStream;
use crate::protocol::ascii::FromCrlf;
use crate::protocol::TransferType;
use crate::server::data::DataConn;
use crate::server::upload::Upload;
use crate::sys;

impl Pump<'_> {
    /// STOR/APPE/STOU: socket to file; ASCII turns CRLF into LF.
    pub(super) fn receive(
        &mut self,
        data: &mut DataConn,
        upload: &mut Upload,
        ttype: TransferType,
    ) -> Result<(), Stop> {
        // Woken once per UPLOAD_LOW_WATER bytes, not per packet (issue 15).
        // Not over TLS: the client's close_notify (24 bytes), after which
        // it waits for ours before it closes TCP, would stay below the mark
        // until the stall timeout.
        if !data.is_tls() {
            let _ = sys::set_recv_low_water(data.as_fd(), UPLOAD_LOW_WATER);
        }
        let spliced = match data.plain() {
            Some(sock) if ttype == TransferType::Image => self.receive_spliced(sock, upload.file())?,
            _ => false,
        };
        let said_goodbye = match data.records() {
            Some(rec) if ttype == TransferType::Image => self.receive_records(rec, upload)?,
            _ if !spliced => self.receive_buffered(data, upload, ttype)?,
            _ => false,
        };
        // A client that died closes both connections: a data EOF with the
        // control connection gone is a cut upload, not a complete one. The
        // dying client's kernel closes the data connection first, so the
        // control connection's end may still be on its way: wait a moment.
        // Not after TLS's close_notify: a client sends it on purpose.
        if !said_goodbye {
            let _ = self.ctl.wait_input(UPLOAD_EOF_GRACE);
        }
        self.check_control()
    }

    /// Binary uploads: socket to pipe to file with `splice(2)`, so the bytes
    /// never pass through our memory. Returns false, with every byte moved
    /// so far in the file, when this file system cannot splice: the caller
    /// goes on with buffered copies.
    fn receive_spliced(&mut self, data: &TcpStream, file: &File) -> Result<bool, Stop> {
        use nix::fcntl::{fcntl, splice, FcntlArg, OFlag, SpliceFFlags};
        let Ok((pipe_out, pipe_in)) = nix::unistd::pipe2(OFlag::O_CLOEXEC) else { return Ok(false) };
        let cap = fcntl(pipe_in.as_raw_fd(), FcntlArg::F_SETPIPE_SZ(SPLICE_PIPE as i32))
            .or_else(|_| fcntl(pipe_in.as_raw_fd(), FcntlArg::F_GETPIPE_SZ))
            .map_or(0, |n| n as usize);
        if cap == 0 {
            return Ok(false);
        }
        loop {
            let flags = SpliceFFlags::SPLICE_F_MOVE | SpliceFFlags::SPLICE_F_NONBLOCK;
            self.pace()?;
            let n = match splice(data.as_fd(), None, pipe_in.as_fd(), None, self.limit(cap), flags) {
                Ok(0) => return Ok(true),
                Ok(n) => n,
                Err(Errno::EAGAIN) => {
                    self.wait(data.as_fd(), PollFlags::POLLIN)?;
                    continue;
                }
                Err(Errno::EINTR) => {
                    self.interrupted()?;
                    continue;
                }
                Err(Errno::EINVAL) if self.bytes == 0 => return Ok(false),
                Err(e) => return Err(Stop::DataLost(e.into())),
            };
            self.moved(n);
            // Security: the quota is charged before the bytes reach the file.
            self.charge(n)?;
            let mut left = n;
            while left > 0 {
                match splice(pipe_out.as_fd(), None, file.as_fd(), None, left, SpliceFFlags::SPLICE_F_MOVE) {
                    Ok(0) => return Err(Stop::Fs(io::Error::from(io::ErrorKind::WriteZero).into())),
                    Ok(m) => left -= m,
                    Err(Errno::EINTR) => self.interrupted()?,
                    Err(Errno::EINVAL) => {
                        // This file system has no splice: what the pipe holds goes
                        // to the file the ordinary way.
                        let mut rest = vec![0u8; left];
                        io::Read::read_exact(&mut File::from(pipe_out), &mut rest).map_err(|e| Stop::Fs(e.into()))?;
                        (&mut &*file).write_all(&rest).map_err(|e| Stop::Fs(e.into()))?;
                        return Ok(false);
                    }
                    Err(e) => return Err(Stop::Fs(io::Error::from(e).into())),
                }
            }
        }
    }

    /// Binary uploads over TLS (`PROT P`): one `read` takes many records,
    /// which are opened in place, and one `writev` puts their plaintext,
    /// where it lies, in the file (`net::records`). True when the data
    /// ended with the client's `close_notify`.
    fn receive_records(&mut self, rec: &mut RecordStream, upload: &mut Upload) -> Result<bool, Stop> {
        loop {
            self.pace()?;
            match rec.recv(self.limit(TLS_DATA_BATCH)) {
                // The client's close_notify: the end of the data.
                Ok(0) => return Ok(true),
                Ok(n) => {
                    self.moved(n);
                    // Security: the quota is charged before the bytes reach the file.
                    self.charge(n)?;
                    write_all_vectored(upload.file(), &rec.plaintext()).map_err(|e| Stop::Fs(e.into()))?;
                    rec.consume(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.wait(rec.as_fd(), PollFlags::POLLIN)?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => self.interrupted()?,
                // Without close_notify: accepted as the end, as below.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    log::debug!("TLS upload ended without close_notify after {} bytes", self.bytes);
                    return Ok(false);
                }
                Err(e) => return Err(Stop::DataLost(e)),
            }
        }
    }

    /// Uploads through a buffer: ASCII (CRLF turned into LF), or binary where
    /// splicing is not possible. True when the data ended with TLS's
    /// `close_notify`.
    fn receive_buffered(
        &mut self,
        data: &mut DataConn,
        upload: &mut Upload,
        ttype: TransferType,
    ) -> Result<bool, Stop> {
        let mut said_goodbye = false;
        let mut buf = vec![0u8; IO_BUFFER];
        let mut conv = Vec::new();
        let mut ascii = (ttype == TransferType::Ascii).then(FromCrlf::default);
        loop {
            self.pace()?;
            let len = self.limit(buf.len());
            match data.read(&mut buf[..len]) {
                Ok(0) => {
                    said_goodbye = data.is_tls();
                    break;
                }
                Ok(n) => {
                    self.moved(n);
                    let chunk = match &mut ascii {
                        Some(from_crlf) => {
                            conv.clear();
                            from_crlf.convert(&buf[..n], &mut conv);
                            &conv[..]
                        }
                        None => &buf[..n],
                    };
                    self.charge(chunk.len())?;
                    upload.file().write_all(chunk).map_err(|e| Stop::Fs(e.into()))?;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.wait(data.as_fd(), PollFlags::POLLIN)?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => self.interrupted()?,
                // A TLS upload whose client closed TCP without TLS's
                // goodbye: accepted as the end, as vsftpd does by default
                // (curl and lftp end their uploads so).
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && data.is_tls() => {
                    log::debug!("TLS upload ended without close_notify after {} bytes", self.bytes);
                    break;
                }
                Err(e) => return Err(Stop::DataLost(e)),
            }
        }
        if let Some(from_crlf) = ascii {
            conv.clear();
            from_crlf.finish(&mut conv);
            self.charge(conv.len())?;
            upload.file().write_all(&conv).map_err(|e| Stop::Fs(e.into()))?;
        }
        Ok(said_goodbye)
    }
}

/// Writes all of `parts` to `file`: one `writev`, which a file takes whole
/// unless the disk fills or a signal cuts it short; then what it left, part
/// by part.
fn write_all_vectored(file: &mut File, parts: &[io::IoSlice<'_>]) -> io::Result<()> {
    let mut written = loop {
        match file.write_vectored(parts) {
            Ok(n) => break n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    };
    for part in parts {
        if written >= part.len() {
            written -= part.len();
        } else {
            file.write_all(&part[written..])?;
            written = 0;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek};

    #[test]
    fn vectored_writes_put_every_part_in_order() {
        let path = std::env::temp_dir().join(format!("forkftp-writev-{}", std::process::id()));
        let mut f = File::options().read(true).write(true).create_new(true).open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let parts = [io::IoSlice::new(b"abc"), io::IoSlice::new(b""), io::IoSlice::new(b"defg")];
        write_all_vectored(&mut f, &parts).unwrap();
        f.rewind().unwrap();
        let mut got = String::new();
        f.read_to_string(&mut got).unwrap();
        assert_eq!(got, "abcdefg");
    }
}
