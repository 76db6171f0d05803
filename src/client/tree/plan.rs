//! The plan of a tree command: both sides are listed, and each entry
//! becomes a directory to create, a file to move, a file left alone
//! (`mirror`: same size and time), or something to delete (`--delete`).
//! Names are checked here, before any becomes a path or a command.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::{Delete, Job, Mkdir, Plan, TreeOptions};
use crate::client::error::ClientError;
use crate::client::listing::{Entry, Kind};
use crate::client::names::{check_local_name, check_remote_name, local_kind, remote_join, Local};
use crate::client::session::Session;
use crate::limits::{CLIENT_MAX_TREE_DEPTH, CLIENT_MAX_TREE_ENTRIES};

/// The modification time of a local file, in seconds since the epoch.
fn local_mtime(m: &std::fs::Metadata) -> Option<i64> {
    let t = m.modified().ok()?;
    Some(match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs_f64().ceil() as i64),
    })
}

impl Session {
    /// Counts an entry of the plan; fails past [`CLIENT_MAX_TREE_ENTRIES`].
    fn count_entry(plan: &mut Plan) -> Result<(), ClientError> {
        plan.seen += 1;
        if plan.seen > CLIENT_MAX_TREE_ENTRIES {
            return Err(ClientError::Failed(format!(
                "The tree holds more than {CLIENT_MAX_TREE_ENTRIES} entries: nothing was done."
            )));
        }
        Ok(())
    }

    /// Plans the download of the remote directory `rdir` into `ldir`.
    pub(super) fn plan_download(
        &mut self,
        rdir: &str,
        ldir: &Path,
        depth: usize,
        opts: TreeOptions,
        plan: &mut Plan,
    ) -> Result<(), ClientError> {
        if depth > CLIENT_MAX_TREE_DEPTH {
            self.tree_problem(format!("{rdir}: deeper than {CLIENT_MAX_TREE_DEPTH} levels: not followed."));
            plan.counts.refused += 1;
            return Ok(());
        }
        let local_state = local_kind(ldir).map_err(|e| ClientError::local(ldir.display(), e))?;
        match local_state {
            Local::Missing => plan.mkdirs.push(Mkdir::Local(ldir.to_path_buf())),
            Local::Dir => {}
            Local::File | Local::Other => {
                self.tree_problem(format!(
                    "{}: not a directory (or a symbolic link, never followed): {rdir} skipped.",
                    ldir.display()
                ));
                plan.counts.failed += 1;
                return Ok(());
            }
        }
        let entries = match self.list_dir(rdir) {
            Ok(e) => e,
            Err(e @ ClientError::Refused(_)) if depth > 0 => {
                self.tree_problem(format!("{rdir}: {e}"));
                plan.counts.failed += 1;
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let mut names = HashSet::new();
        for e in entries {
            Self::count_entry(plan)?;
            if let Err(why) = check_remote_name(&e.name) {
                self.tree_problem(format!("Refused the remote name {:?} in {rdir}: {why}.", e.name));
                plan.counts.refused += 1;
                continue;
            }
            names.insert(e.name.clone());
            let rpath = remote_join(rdir, &e.name);
            let lpath = ldir.join(&e.name);
            match e.kind {
                Kind::Dir => self.plan_download(&rpath, &lpath, depth + 1, opts, plan)?,
                Kind::File => {
                    let size = e.size.unwrap_or(0);
                    let here = if local_state == Local::Dir {
                        local_kind(&lpath).map_err(|err| ClientError::local(lpath.display(), err))?
                    } else {
                        Local::Missing
                    };
                    match here {
                        Local::Dir | Local::Other => {
                            self.tree_problem(format!(
                                "{}: not a regular file (or a symbolic link, never followed): {rpath} skipped.",
                                lpath.display()
                            ));
                            plan.counts.failed += 1;
                            continue;
                        }
                        Local::File if opts.compare && same_as_local(&lpath, &e) => plan.counts.unchanged += 1,
                        _ => plan.jobs.push(Job::Get { remote: rpath, local: lpath, size, mtime: e.mtime }),
                    }
                }
                Kind::Other => {}
            }
        }
        if opts.delete && local_state == Local::Dir {
            let dir = std::fs::read_dir(ldir).map_err(|e| ClientError::local(ldir.display(), e))?;
            // A local name that is not UTF-8 cannot be on the server: kept.
            let mut gone: Vec<PathBuf> = dir
                .filter_map(Result::ok)
                .filter(|d| d.file_name().to_str().is_some_and(|n| !names.contains(n)))
                .map(|d| d.path())
                .collect();
            gone.sort();
            plan.deletes.extend(gone.into_iter().map(Delete::Local));
        }
        Ok(())
    }

    /// Plans the upload of the local directory `ldir` to `rdir`
    /// (`rdir_exists`: the server has it).
    pub(super) fn plan_upload(
        &mut self,
        ldir: &Path,
        rdir: &str,
        rdir_exists: bool,
        depth: usize,
        opts: TreeOptions,
        plan: &mut Plan,
    ) -> Result<(), ClientError> {
        if depth > CLIENT_MAX_TREE_DEPTH {
            self.tree_problem(format!("{}: deeper than {CLIENT_MAX_TREE_DEPTH} levels: not followed.", ldir.display()));
            plan.counts.refused += 1;
            return Ok(());
        }
        let remote: Vec<Entry> = if rdir_exists {
            self.list_dir(rdir)?.into_iter().filter(|e| check_remote_name(&e.name).is_ok()).collect()
        } else {
            plan.mkdirs.push(Mkdir::Remote(rdir.to_string()));
            Vec::new()
        };
        let can_set_times = opts.compare && self.features()?.has("MFMT");
        let mut local: Vec<_> = std::fs::read_dir(ldir)
            .map_err(|e| ClientError::local(ldir.display(), e))?
            .filter_map(Result::ok)
            .collect();
        local.sort_by_key(|d| d.file_name());
        let mut names = HashSet::new();
        for d in local {
            Self::count_entry(plan)?;
            let path = d.path();
            let file_name = d.file_name();
            let name = match check_local_name(&file_name) {
                Ok(n) => n.to_string(),
                Err(why) => {
                    self.tree_problem(format!("Refused the local name {:?}: {why}.", path.display()));
                    plan.counts.refused += 1;
                    continue;
                }
            };
            names.insert(name.clone());
            // Links are followed to files, never to directories (loops).
            let Ok(meta) = std::fs::metadata(&path) else { continue };
            let is_link = d.file_type().is_ok_and(|t| t.is_symlink());
            let rpath = remote_join(rdir, &name);
            let there = remote.iter().find(|e| e.name == name);
            if meta.is_dir() && !is_link {
                match there.map(|e| e.kind) {
                    Some(Kind::Dir) => self.plan_upload(&path, &rpath, true, depth + 1, opts, plan)?,
                    Some(_) => {
                        self.tree_problem(format!("{rpath}: not a directory on the server: skipped."));
                        plan.counts.failed += 1;
                    }
                    None => self.plan_upload(&path, &rpath, false, depth + 1, opts, plan)?,
                }
            } else if meta.is_file() {
                let mtime = local_mtime(&meta);
                match there {
                    Some(e) if e.kind == Kind::Dir => {
                        self.tree_problem(format!("{rpath}: a directory on the server: skipped."));
                        plan.counts.failed += 1;
                    }
                    Some(e) if opts.compare && same_as_remote(e, meta.len(), mtime, can_set_times) => {
                        plan.counts.unchanged += 1
                    }
                    _ => plan.jobs.push(Job::Put { local: path, remote: rpath, size: meta.len(), mtime }),
                }
            }
        }
        if opts.delete {
            for e in remote.iter().filter(|e| !names.contains(&e.name)) {
                let rpath = remote_join(rdir, &e.name);
                plan.deletes.push(if e.kind == Kind::Dir {
                    Delete::RemoteDir(rpath)
                } else {
                    Delete::RemoteFile(rpath)
                });
            }
        }
        Ok(())
    }
}

/// True when the local file at `path` has the remote entry's size and time
/// (to the second; the time only when the listing gave one).
fn same_as_local(path: &Path, e: &Entry) -> bool {
    let Ok(m) = std::fs::symlink_metadata(path) else { return false };
    let same_size = e.size.is_some_and(|s| s == m.len());
    let same_time = match e.mtime {
        Some(t) => local_mtime(&m) == Some(t),
        None => true,
    };
    same_size && same_time
}

/// True when the remote entry is the local file: same size, and the same
/// time where MFMT sets remote times, else a remote copy not older.
fn same_as_remote(e: &Entry, len: u64, mtime: Option<i64>, exact_times: bool) -> bool {
    if e.size != Some(len) {
        return false;
    }
    match (e.mtime, mtime) {
        (Some(r), Some(l)) if exact_times => r == l,
        (Some(r), Some(l)) => r >= l,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirror_compares_size_and_time() {
        let e = Entry { name: "a".into(), kind: Kind::File, size: Some(3), mtime: Some(100) };
        assert!(same_as_remote(&e, 3, Some(100), true));
        assert!(!same_as_remote(&e, 3, Some(99), true));
        assert!(same_as_remote(&e, 3, Some(99), false), "without MFMT a newer remote copy is the same");
        assert!(!same_as_remote(&e, 3, Some(101), false));
        assert!(!same_as_remote(&e, 4, Some(100), true));
    }
}
