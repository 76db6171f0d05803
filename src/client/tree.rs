//! Trees and globs: `get -r`, `put -r`, `mirror [-R] [--delete]
//! [--dry-run]`, `mget` and `mput`.
//!
//! Each first makes a plan (the directories to create, the files to move,
//! what to delete) by listing both sides, then carries it out under one
//! progress line, and ends with a summary. Listing the remote side uses MLSD
//! (RFC 3659 section 7) when FEAT lists MLST, and LIST otherwise.
//!
//! `mirror` moves only files whose size or modification time differ. A
//! download gets the remote time (the local file's time is set); an upload
//! sets the remote time with MFMT where the server lists it. Where it does
//! not, the remote time is the upload's, and an upload is skipped when the
//! remote copy has the same size and is not older than the local file.
//!
//! Security: names from the server pass [`check_remote_name`] before they
//! become local paths; nothing is ever written through a symbolic link of
//! the local target; local names pass [`check_local_name`] before they
//! reach a command line.
//!
//! The plan is made in `tree/plan.rs` and carried out in `tree/run.rs`;
//! here are the commands, and the listing of a remote directory.

use std::path::PathBuf;

use glob::{MatchOptions, Pattern};

use super::complain;
use super::error::ClientError;
use super::listing::{parse_list_line, parse_mlsd_line, Entry, Kind};
use super::names::{check_local_name, check_remote_name, local_kind, remote_join, Local};
use super::progress::{Direction, TreeCounts};
use super::session::Session;
use crate::limits::CLIENT_MAX_LISTING_LINE;
use crate::protocol::Command;

mod plan;
mod run;

/// How a tree command runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TreeOptions {
    /// Move only what differs by size and time (`mirror`); otherwise every
    /// file (`get -r`, `put -r`, `mget`, `mput`).
    pub compare: bool,
    /// Delete on the target what the source does not have.
    pub delete: bool,
    /// Say what would be done, do nothing.
    pub dry_run: bool,
}

/// One file to move.
#[derive(Clone, Debug)]
enum Job {
    Get { remote: String, local: PathBuf, size: u64, mtime: Option<i64> },
    Put { local: PathBuf, remote: String, size: u64, mtime: Option<i64> },
}

impl Job {
    fn size(&self) -> u64 {
        match self {
            Job::Get { size, .. } | Job::Put { size, .. } => *size,
        }
    }
}

/// Something to remove from the target (`--delete`).
#[derive(Clone, Debug)]
enum Delete {
    Local(PathBuf),
    RemoteFile(String),
    RemoteDir(String),
}

/// A directory to create on the target, before the files.
#[derive(Clone, Debug)]
enum Mkdir {
    Local(PathBuf),
    Remote(String),
}

/// What a tree command will do.
#[derive(Debug, Default)]
struct Plan {
    mkdirs: Vec<Mkdir>,
    jobs: Vec<Job>,
    deletes: Vec<Delete>,
    counts: TreeCounts,
    /// Entries seen, bounded by [`CLIENT_MAX_TREE_ENTRIES`](crate::limits::CLIENT_MAX_TREE_ENTRIES).
    seen: usize,
}

/// True when `pattern` holds glob characters.
pub fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}

/// Glob options: `*` never matches `/` nor a leading dot, as in a shell.
const GLOB: MatchOptions =
    MatchOptions { case_sensitive: true, require_literal_separator: true, require_literal_leading_dot: true };

impl Session {
    /// Reports a problem with one entry of a tree (above the progress line).
    fn tree_problem(&self, text: impl std::fmt::Display) {
        if let Some(t) = &self.tree {
            t.borrow_mut().clear_line();
        }
        complain(text);
    }

    /// The entries of a remote directory: MLSD when the server lists MLST,
    /// LIST (`ls -l` lines) otherwise. Lines that are not UTF-8 or not
    /// understood are reported and left out.
    pub(super) fn list_dir(&mut self, dir: &str) -> Result<Vec<Entry>, ClientError> {
        let mlsd = self.features()?.has("MLST");
        let arg = (dir != ".").then(|| dir.to_string());
        let bytes = self.fetch_listing(if mlsd { Command::Mlsd(arg) } else { Command::List(arg) })?;
        let mut entries = Vec::new();
        for raw in bytes.split(|&b| b == b'\n') {
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            if raw.is_empty() {
                continue;
            }
            if raw.len() > CLIENT_MAX_LISTING_LINE {
                self.tree_problem(format!(
                    "{dir}: a listing line longer than {CLIENT_MAX_LISTING_LINE} bytes: skipped."
                ));
                continue;
            }
            let Ok(line) = std::str::from_utf8(raw) else {
                let shown = String::from_utf8_lossy(raw);
                self.tree_problem(format!("{dir}: refused a name that is not UTF-8: {shown}"));
                continue;
            };
            let entry = if mlsd { parse_mlsd_line(line) } else { parse_list_line(line) };
            if let Some(e) = entry {
                entries.push(e);
            }
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    /// `get -r REMOTE_DIR [LOCAL_DIR]`: the whole remote tree.
    pub fn get_tree(&mut self, remote: &str, local: Option<&str>, opts: TreeOptions) -> Result<(), ClientError> {
        self.ctl_mut()?;
        let ldir = match local {
            Some(l) => self.local_path(l),
            None if remote == "." || remote == "/" => self.local_dir.clone(),
            None => {
                let base = super::transfer::remote_basename(remote).ok_or_else(|| {
                    ClientError::Usage(format!("Cannot name a local directory after '{remote}': give LOCAL_DIR."))
                })?;
                self.local_dir.join(base)
            }
        };
        let mut plan = Plan::default();
        self.plan_download(remote, &ldir, 0, opts, &mut plan)?;
        self.run_plan(plan, Direction::Received, opts)
    }

    /// `put -r LOCAL_DIR [REMOTE_DIR]`: the whole local tree.
    pub fn put_tree(&mut self, local: &str, remote: Option<&str>, opts: TreeOptions) -> Result<(), ClientError> {
        self.ctl_mut()?;
        let ldir = self.local_path(local);
        if local_kind(&ldir).map_err(|e| ClientError::local(ldir.display(), e))? != Local::Dir {
            return Err(ClientError::Failed(format!("{}: not a directory.", ldir.display())));
        }
        let rdir = match remote {
            Some(r) => r.to_string(),
            None if local == "." => ".".to_string(),
            None => {
                let name = ldir.file_name().ok_or_else(|| {
                    ClientError::Usage(format!("Cannot name a remote directory after '{local}': give REMOTE_DIR."))
                })?;
                check_local_name(name).map_err(|why| ClientError::Failed(format!("{local}: {why}")))?.to_string()
            }
        };
        let exists = rdir == "." || self.remote_dir_exists(&rdir)?;
        let mut plan = Plan::default();
        self.plan_upload(&ldir, &rdir, exists, 0, opts, &mut plan)?;
        self.run_plan(plan, Direction::Sent, opts)
    }

    /// True when `dir` is a directory on the server (CWD there and back).
    fn remote_dir_exists(&mut self, dir: &str) -> Result<bool, ClientError> {
        let r = self.exchange(Command::Pwd)?;
        let Some(back) = crate::protocol::reply::parse_quoted_path(&r.text()) else {
            // Without PWD, MLSD or LIST of the directory tells.
            return Ok(self.fetch_listing(Command::Mlsd(Some(dir.to_string()))).is_ok());
        };
        let r = self.exchange(Command::Cwd(dir.to_string()))?;
        if !r.code.is_completion() {
            return Ok(false);
        }
        let r = self.exchange(Command::Cwd(back.clone()))?;
        if !r.code.is_completion() {
            return Err(ClientError::Failed(format!("Cannot return to {back}: {r}")));
        }
        Ok(true)
    }

    /// `mirror [-R] [--delete] [--dry-run] [SOURCE [TARGET]]`.
    pub fn mirror(
        &mut self,
        reverse: bool,
        source: Option<&str>,
        target: Option<&str>,
        opts: TreeOptions,
    ) -> Result<(), ClientError> {
        let opts = TreeOptions { compare: true, ..opts };
        if reverse {
            self.put_tree(source.unwrap_or("."), target, opts)
        } else {
            self.get_tree(source.unwrap_or("."), target, opts)
        }
    }

    /// `mget PATTERN...`: the remote files matching each pattern (a glob
    /// in the last component: `*.txt`, `dir/*`), into the local directory.
    pub fn mget(&mut self, patterns: &[String]) -> Result<(), ClientError> {
        self.ctl_mut()?;
        let mut plan = Plan::default();
        for pattern in patterns {
            let (dir, last) = match pattern.rsplit_once('/') {
                Some(("", last)) => ("/", last),
                Some((dir, last)) => (dir, last),
                None => (".", pattern.as_str()),
            };
            if !is_glob(last) {
                // A plain name: its last component names the local file.
                if let Err(why) = check_remote_name(last) {
                    self.tree_problem(format!("Refused {pattern:?}: {why}."));
                    plan.counts.refused += 1;
                    continue;
                }
                let size = self.remote_size(pattern)?;
                let local = self.local_dir.join(last);
                plan.jobs.push(Job::Get { remote: pattern.clone(), local, size: size.unwrap_or(0), mtime: None });
                continue;
            }
            let glob = Pattern::new(last).map_err(|e| ClientError::Usage(format!("{pattern}: {e}")))?;
            let mut matched = 0;
            for e in self.list_dir(dir)? {
                if !glob.matches_with(&e.name, GLOB) {
                    // A name such as `../evil` or `/etc/x` never matches a
                    // glob; it is still reported, as a refused name.
                    if check_remote_name(&e.name).is_err() {
                        self.tree_problem(format!("Refused the remote name {:?} in {dir}: not a plain name.", e.name));
                        plan.counts.refused += 1;
                    }
                    continue;
                }
                if let Err(why) = check_remote_name(&e.name) {
                    self.tree_problem(format!("Refused the remote name {:?} in {dir}: {why}.", e.name));
                    plan.counts.refused += 1;
                    continue;
                }
                if e.kind != Kind::File {
                    continue;
                }
                matched += 1;
                let local = self.local_dir.join(&e.name);
                if local_kind(&local).map_err(|err| ClientError::local(local.display(), err))? == Local::Other {
                    self.tree_problem(format!("{}: a symbolic link or special file: not written.", local.display()));
                    plan.counts.failed += 1;
                    continue;
                }
                let remote = remote_join(dir, &e.name);
                plan.jobs.push(Job::Get { remote, local, size: e.size.unwrap_or(0), mtime: None });
            }
            if matched == 0 {
                self.tree_problem(format!("{pattern}: no remote file matches."));
                plan.counts.failed += 1;
            }
        }
        self.run_plan(plan, Direction::Received, TreeOptions::default())
    }

    /// `mput PATTERN...`: the local files matching each pattern (a shell
    /// glob, relative to the local directory), into the remote directory.
    pub fn mput(&mut self, patterns: &[String]) -> Result<(), ClientError> {
        self.ctl_mut()?;
        let mut plan = Plan::default();
        for pattern in patterns {
            let full = self.local_path(pattern);
            let full = full.to_str().ok_or_else(|| ClientError::Usage(format!("{pattern}: not UTF-8")))?;
            let full = if is_glob(pattern) { full.to_string() } else { Pattern::escape(full) };
            let paths = glob::glob_with(&full, GLOB).map_err(|e| ClientError::Usage(format!("{pattern}: {e}")))?;
            let mut matched = 0;
            for path in paths.filter_map(Result::ok) {
                let Ok(meta) = std::fs::metadata(&path) else { continue };
                if !meta.is_file() {
                    continue;
                }
                let Some(file_name) = path.file_name() else { continue };
                let name = match check_local_name(file_name) {
                    Ok(n) => n.to_string(),
                    Err(why) => {
                        self.tree_problem(format!("Refused the local name {:?}: {why}.", path.display()));
                        plan.counts.refused += 1;
                        continue;
                    }
                };
                matched += 1;
                plan.jobs.push(Job::Put { local: path, remote: name, size: meta.len(), mtime: None });
            }
            if matched == 0 {
                self.tree_problem(format!("{pattern}: no local file matches."));
                plan.counts.failed += 1;
            }
        }
        self.run_plan(plan, Direction::Sent, TreeOptions::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_are_shell_globs_without_slashes_or_dots() {
        let p = Pattern::new("*.txt").unwrap();
        assert!(p.matches_with("a b.txt", GLOB));
        assert!(!p.matches_with(".hidden.txt", GLOB));
        assert!(!p.matches_with("../evil.txt", GLOB));
        assert!(is_glob("dir/*") && is_glob("a?") && is_glob("[ab]") && !is_glob("plain.txt"));
    }
}
