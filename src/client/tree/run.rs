//! Carrying out the plan of a tree command: the directories first, then
//! the transfers under one progress line, then the deletions, and the
//! summary. A downloaded file gets the remote time; an uploaded one the
//! local time, with MFMT (draft-somers-ftp-mfxx) where the server lists it.

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;
use std::time::SystemTime;

use super::{Delete, Job, Mkdir, Plan, TreeOptions};
use crate::client::error::ClientError;
use crate::client::listing::Kind;
use crate::client::names::{check_remote_name, local_kind, remote_join, Local};
use crate::client::progress::{Direction, TreeCounts, TreeProgress};
use crate::client::say;
use crate::client::session::Session;
use crate::limits::CLIENT_MAX_TREE_DEPTH;
use crate::protocol::Command;

fn system_time(secs: i64) -> SystemTime {
    let d = std::time::Duration::from_secs(secs.unsigned_abs());
    if secs >= 0 {
        SystemTime::UNIX_EPOCH + d
    } else {
        SystemTime::UNIX_EPOCH - d
    }
}

/// Sets a local file's modification time (the remote file's, after a download).
fn set_local_mtime(path: &Path, secs: i64) -> std::io::Result<()> {
    std::fs::File::options().write(true).open(path)?.set_modified(system_time(secs))
}

impl Session {
    /// Removes a remote directory and everything in it.
    fn remove_remote_tree(&mut self, dir: &str, depth: usize) -> Result<(), ClientError> {
        if depth > CLIENT_MAX_TREE_DEPTH {
            return Err(ClientError::Failed(format!("{dir}: deeper than {CLIENT_MAX_TREE_DEPTH} levels.")));
        }
        for e in self.list_dir(dir)? {
            check_remote_name(&e.name)
                .map_err(|why| ClientError::Failed(format!("{dir}: refused the name {:?}: {why}.", e.name)))?;
            let path = remote_join(dir, &e.name);
            if e.kind == Kind::Dir {
                self.remove_remote_tree(&path, depth + 1)?;
            } else {
                self.quiet_ok(Command::Dele(path))?;
            }
        }
        self.quiet_ok(Command::Rmd(dir.to_string()))
    }

    /// Sends `cmd`; a failure reply is an error. Nothing is shown.
    fn quiet_ok(&mut self, cmd: Command) -> Result<(), ClientError> {
        let r = self.exchange(cmd)?;
        if r.code.is_completion() {
            Ok(())
        } else {
            Err(ClientError::Refused(r))
        }
    }

    /// Carries out a plan under one progress line; ends with the summary.
    /// A Ctrl-C or a lost connection stops it; other failures are reported
    /// and counted, and make the command fail at the end.
    pub(super) fn run_plan(&mut self, plan: Plan, dir: Direction, opts: TreeOptions) -> Result<(), ClientError> {
        if opts.dry_run {
            for m in &plan.mkdirs {
                match m {
                    Mkdir::Local(p) => say(format!("mkdir {}", p.display())),
                    Mkdir::Remote(r) => say(format!("mkdir {r} (remote)")),
                }
            }
            for j in &plan.jobs {
                match j {
                    Job::Get { remote, local, .. } => say(format!("get {remote} -> {}", local.display())),
                    Job::Put { local, remote, .. } => say(format!("put {} -> {remote}", local.display())),
                }
            }
            for d in &plan.deletes {
                match d {
                    Delete::Local(p) => say(format!("delete {}", p.display())),
                    Delete::RemoteFile(r) | Delete::RemoteDir(r) => say(format!("delete {r} (remote)")),
                }
            }
            let mut counts = plan.counts;
            counts.files = plan.jobs.len() as u64;
            counts.bytes = plan.jobs.iter().map(Job::size).sum();
            counts.deleted = plan.deletes.len() as u64;
            say(crate::client::progress::tree_summary(dir, &counts, std::time::Duration::ZERO, true));
            return finish_status(&counts);
        }
        let total: u64 = plan.jobs.iter().map(Job::size).sum();
        let tree = Rc::new(RefCell::new(TreeProgress::new(dir, plan.jobs.len() as u64, total, self.show_progress)));
        tree.borrow_mut().counts = plan.counts;
        self.tree = Some(tree.clone());
        let result = self.run_jobs(&plan, &tree);
        self.tree = None;
        let summary = tree.borrow_mut().finish(false);
        say(summary);
        result?;
        let counts = tree.borrow().counts;
        finish_status(&counts)
    }

    fn run_jobs(&mut self, plan: &Plan, tree: &Rc<RefCell<TreeProgress>>) -> Result<(), ClientError> {
        let stop = |e: &ClientError| e.is_lost() || matches!(e, ClientError::Interrupted | ClientError::NotConnected);
        for m in &plan.mkdirs {
            let r = match m {
                Mkdir::Local(p) => match local_kind(p) {
                    // Checked again now: nothing may have put a link there since.
                    Ok(Local::Missing) => std::fs::create_dir(p).map_err(|e| ClientError::local(p.display(), e)),
                    Ok(Local::Dir) => Ok(()),
                    Ok(_) => Err(ClientError::Failed(format!("{}: not a directory: not followed.", p.display()))),
                    Err(e) => Err(ClientError::local(p.display(), e)),
                },
                Mkdir::Remote(r) => self.quiet_ok(Command::Mkd(r.clone())),
            };
            if let Err(e) = r {
                if stop(&e) {
                    return Err(e);
                }
                self.tree_problem(&e);
                tree.borrow_mut().counts.failed += 1;
            }
        }
        for job in &plan.jobs {
            let r = match job {
                Job::Get { remote, local, size, mtime } => self.tree_get(remote, local, *size, *mtime),
                Job::Put { local, remote, mtime, .. } => self.tree_put(local, remote, *mtime),
            };
            match r {
                Ok(()) => tree.borrow_mut().file_done(job.size(), true),
                Err(e) if stop(&e) => return Err(e),
                Err(e) => {
                    let what = match job {
                        Job::Get { remote, .. } => remote.clone(),
                        Job::Put { local, .. } => local.display().to_string(),
                    };
                    self.tree_problem(format!("{what}: {e}"));
                    tree.borrow_mut().file_done(job.size(), false);
                }
            }
        }
        for d in &plan.deletes {
            let r = match d {
                Delete::Local(p) => match local_kind(p) {
                    Ok(Local::Dir) => std::fs::remove_dir_all(p),
                    // A link is removed itself, never what it points to.
                    Ok(_) => std::fs::remove_file(p),
                    Err(e) => Err(e),
                }
                .map_err(|e| ClientError::local(p.display(), e)),
                Delete::RemoteFile(r) => self.quiet_ok(Command::Dele(r.clone())),
                Delete::RemoteDir(r) => self.remove_remote_tree(r, 0),
            };
            match r {
                Ok(()) => tree.borrow_mut().counts.deleted += 1,
                Err(e) if stop(&e) => return Err(e),
                Err(e) => {
                    self.tree_problem(&e);
                    tree.borrow_mut().counts.failed += 1;
                }
            }
        }
        Ok(())
    }

    /// One download of a tree; the local file gets the remote time.
    fn tree_get(&mut self, remote: &str, local: &Path, size: u64, mtime: Option<i64>) -> Result<(), ClientError> {
        // Checked again now: the plan was made before the first transfer.
        match local_kind(local).map_err(|e| ClientError::local(local.display(), e))? {
            Local::Missing | Local::File => {}
            _ => return Err(ClientError::Failed("not a regular file locally: skipped.".into())),
        }
        self.download(remote, local, false, Some(size))?;
        if let Some(t) = mtime {
            set_local_mtime(local, t).map_err(|e| ClientError::local(local.display(), e))?;
        }
        Ok(())
    }

    /// One upload of a tree; the remote file gets the local time (MFMT)
    /// when the server can set it.
    fn tree_put(&mut self, local: &Path, remote: &str, mtime: Option<i64>) -> Result<(), ClientError> {
        self.upload(local, remote, false)?;
        if let Some(t) = mtime {
            self.set_remote_mtime(remote, t)?;
        }
        Ok(())
    }
}

/// The exit of a tree command: it fails when anything failed or was refused
/// (each was reported above the summary).
fn finish_status(c: &TreeCounts) -> Result<(), ClientError> {
    if c.failed > 0 || c.refused > 0 {
        Err(ClientError::Failed(format!(
            "Not everything was done: {} failed, {} refused (see above).",
            c.failed, c.refused
        )))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_convert_both_ways() {
        assert_eq!(system_time(10), SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(10));
        assert!(system_time(-10) < SystemTime::UNIX_EPOCH);
    }
}
