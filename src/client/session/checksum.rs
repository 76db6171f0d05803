//! Checksums of remote files for `hash`, `verify` and `get -c`: HASH with
//! `OPTS HASH` (draft-bryan-ftpext-hash) when the server lists it, else the
//! X verbs (XSHA256, XSHA512, XSHA1, XMD5, XCRC).

use std::path::Path;

use super::Session;
use crate::client::error::ClientError;
use crate::client::hash::{self, Algo};
use crate::client::say;
use crate::limits::CLIENT_HASH_TIMEOUT;
use crate::protocol::{Command, ReplyCode};

impl Session {
    /// The checksum of a remote file: with HASH when the server lists it
    /// (choosing the algorithm with `OPTS HASH`), else with the first of
    /// XSHA256, XSHA512, XSHA1, XMD5, XCRC its FEAT lists. `wanted` limits
    /// the choice to one algorithm.
    fn remote_hash(&mut self, path: &str, wanted: Option<Algo>) -> Result<(Algo, String), ClientError> {
        let feats = self.features()?;
        let offered = |a: Algo| wanted.map_or(true, |w| w == a);
        if feats.has("HASH") {
            let listed = feats.hash_algorithms();
            let pick = hash::PREFERENCE
                .into_iter()
                .filter(|&a| offered(a))
                .find_map(|a| listed.iter().find(|(n, _)| Algo::from_name(n) == Some(a)).map(|(_, sel)| (a, *sel)));
            if let Some((algo, starred)) = pick {
                // FEAT's star is the selection when FEAT was answered; an
                // OPTS HASH since changed it.
                let selected = self.hash_selected.map_or(starred, |s| s == algo);
                if !selected {
                    // draft-bryan-ftpext-hash section 4: OPTS HASH selects.
                    let r = self.exchange(Command::Opts("HASH".into(), Some(algo.name().into())))?;
                    if !r.code.is_completion() {
                        return Err(ClientError::Refused(r));
                    }
                }
                self.hash_selected = Some(algo);
                let r = self.exchange_for(Command::Hash(path.to_string()), CLIENT_HASH_TIMEOUT)?;
                if r.code != ReplyCode::FILE_STATUS {
                    return Err(ClientError::Refused(r));
                }
                return hash::digest_in_reply(algo, &r.text())
                    .map(|d| (algo, d))
                    .ok_or_else(|| ClientError::Failed(format!("No {} checksum in the reply: {r}", algo.name())));
            }
        }
        for algo in hash::PREFERENCE.into_iter().filter(|&a| offered(a)) {
            if feats.has(algo.x_verb()) {
                let r = self.exchange_for(Command::XHash(algo, path.to_string()), CLIENT_HASH_TIMEOUT)?;
                if !r.code.is_completion() {
                    return Err(ClientError::Refused(r));
                }
                return hash::digest_in_reply(algo, &r.text())
                    .map(|d| (algo, d))
                    .ok_or_else(|| ClientError::Failed(format!("No {} checksum in the reply: {r}", algo.name())));
            }
        }
        Err(no_checksum(wanted))
    }

    /// Fails with the reason when the server has no checksum command.
    pub(in crate::client) fn checksum_available(&mut self) -> Result<(), ClientError> {
        let f = self.features()?;
        let hash = f.hash_algorithms().iter().any(|(n, _)| Algo::from_name(n).is_some());
        if hash || hash::PREFERENCE.iter().any(|a| f.has(a.x_verb())) {
            Ok(())
        } else {
            Err(no_checksum(None))
        }
    }

    /// `hash [-a ALGO] FILE`: shows the server's checksum of FILE.
    pub fn hash(&mut self, path: &str, algo: Option<Algo>) -> Result<(), ClientError> {
        let (algo, digest) = self.remote_hash(path, algo)?;
        say(format!("{} {digest}  {path}", algo.name()));
        Ok(())
    }

    /// `verify [-a ALGO] REMOTE [LOCAL]`: compares the server's checksum of
    /// REMOTE with the local file's.
    pub fn verify(&mut self, remote: &str, local: &Path, algo: Option<Algo>) -> Result<(), ClientError> {
        let mut file = std::fs::File::open(local).map_err(|e| ClientError::local(local.display(), e))?;
        let (algo, theirs) = self.remote_hash(remote, algo)?;
        let ours = hash::digest(algo, &mut file).map_err(|e| ClientError::local(local.display(), e))?;
        if ours != theirs {
            return Err(ClientError::Failed(format!(
                "{}: {} differs from the server's: local {ours}, remote {theirs}.",
                local.display(),
                algo.name()
            )));
        }
        say(format!("{remote}: {} matches ({ours}).", algo.name()));
        Ok(())
    }
}

/// Why `hash`, `verify` and `get -c` cannot work with this server.
fn no_checksum(wanted: Option<Algo>) -> ClientError {
    let which = wanted.map_or_else(|| "a checksum".to_string(), |a| format!("{} checksums", a.name()));
    ClientError::Failed(format!(
        "The server cannot compute {which}: its FEAT reply lists no HASH (draft-bryan-ftpext-hash) \
         and none of XSHA256, XSHA512, XSHA1, XMD5, XCRC."
    ))
}
