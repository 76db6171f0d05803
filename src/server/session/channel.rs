//! The data channel of a session: PORT and PASV (RFC 959 section 4.1.2),
//! EPRT and EPSV (RFC 2428 sections 2 and 3) set it up, and every command
//! that moves data hands it over in a [`Transfer`], with the account's rate
//! and, with PROT P, this session's TLS configuration (RFC 4217 section 9).
//! Security: active mode connects only to the client's own address, on an
//! unprivileged port (no FTP bounce, RFC 2577).

use std::net::{IpAddr, SocketAddr, SocketAddrV4};

use super::{ok, Outcome, Session};
use crate::limits::MIN_ACTIVE_PORT;
use crate::protocol::address::{self, canonical};
use crate::protocol::{EpsvArg, Reply, ReplyCode};
use crate::server::data::{self, DataSetup};
use crate::server::error::FtpError;
use crate::server::quota::Charge;
use crate::server::tls::Prot;
use crate::server::transfer::{DataTls, Job, Transfer};
use crate::server::vpath::VPath;

impl Session<'_> {
    /// The address announced for passive mode, and the one to bind.
    fn passive_ip(&self) -> IpAddr {
        canonical(self.local.ip())
    }

    /// Opens the passive listener of PASV and EPSV (on [`Self::passive_ip`],
    /// in `--passive-ports`) as the data setup; returns its port.
    fn listen_passive(&mut self) -> Result<u16, FtpError> {
        let listener = data::listen_passive(self.passive_ip(), self.cfg.passive_ports)
            .map_err(|e| FtpError::NoData(format!("Can't open passive connection: {e}.")))?;
        let port = listener.local_addr()?.port();
        self.data = DataSetup::Passive(listener);
        Ok(port)
    }

    pub(super) fn pasv(&mut self) -> Result<Outcome, FtpError> {
        if self.epsv_all {
            return Err(FtpError::EpsvAllOnly);
        }
        let announce = self.cfg.masquerade.map(canonical).unwrap_or_else(|| self.passive_ip());
        let IpAddr::V4(v4) = announce else {
            return Err(FtpError::NoData("PASV is IPv4 only; use EPSV.".into()));
        };
        let port = self.listen_passive()?;
        ok(ReplyCode::PASSIVE_MODE, address::format_pasv_reply(SocketAddrV4::new(v4, port)))
    }

    /// RFC 2428 section 3.
    pub(super) fn epsv(&mut self, arg: EpsvArg) -> Result<Outcome, FtpError> {
        if self.relayed {
            // Clients (curl, lftp, ftplib) fall back to PASV.
            return Err(FtpError::EpsvRelayed);
        }
        let family = address::family(self.passive_ip());
        match arg {
            EpsvArg::All => {
                self.epsv_all = true;
                return ok(ReplyCode::COMMAND_OK, "EPSV ALL ok.");
            }
            EpsvArg::Protocol(p) if p != family => return Err(FtpError::ProtocolNotSupported(Some(family))),
            _ => {}
        }
        let port = self.listen_passive()?;
        ok(ReplyCode::EXTENDED_PASSIVE_MODE, address::format_epsv_reply(port))
    }

    pub(super) fn active(&mut self, addr: SocketAddr, verb: &'static str) -> Result<Outcome, FtpError> {
        if self.epsv_all {
            return Err(FtpError::EpsvAllOnly);
        }
        let family = address::family(self.peer.ip());
        if address::family(addr.ip()) != family {
            return Err(FtpError::ProtocolNotSupported(Some(family)));
        }
        // Security: no FTP bounce (RFC 2577), see `active_target_allowed`.
        if !data::active_target_allowed(addr, self.peer.ip(), MIN_ACTIVE_PORT) {
            log::warn!("{}: refused {verb} to {addr}", self.peer);
            return Err(FtpError::IllegalActive(verb));
        }
        self.data = DataSetup::Active(addr);
        ok(ReplyCode::COMMAND_OK, format!("{verb} command successful. Consider using PASV."))
    }

    /// Starts a transfer with the data setup, which must exist; an upload
    /// carries its `quota` charge. With PROT P the data connection will be
    /// encrypted with this session's TLS configuration.
    pub(super) fn transfer(
        &mut self,
        job: Job,
        path: VPath,
        start: String,
        quota: Option<Charge>,
    ) -> Result<Outcome, FtpError> {
        let anonymous = self.identity().is_some_and(|id| id.anonymous);
        self.protection.transfer_allowed(anonymous)?;
        let tls = match self.protection.prot {
            Prot::Clear => None,
            Prot::Private => {
                let require_reuse = self.cfg.tls.as_ref().is_some_and(|t| t.require_reuse);
                let tickets = !matches!(job, Job::Receive(_));
                self.tls_session().map(|config| DataTls { config, require_reuse, tickets })
            }
        };
        let setup = std::mem::take(&mut self.data);
        let start = Reply::new(ReplyCode::FILE_STATUS_OK, start);
        let limits = self.identity().map(|i| i.limits).unwrap_or_default();
        let rate = match job {
            Job::Send { .. } => limits.download_rate,
            Job::Receive(_) => limits.upload_rate,
            Job::List(_) => 0,
        };
        Ok(Outcome::Transfer(Transfer { setup, job, ttype: self.ttype, path, start, rate, quota, tls }))
    }

    pub(super) fn need_data(&self) -> Result<(), FtpError> {
        if self.data.is_set() {
            Ok(())
        } else {
            Err(FtpError::NoData("Use PORT or PASV first.".into()))
        }
    }
}
