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

use std::cell::RefCell;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::SystemTime;

use glob::{MatchOptions, Pattern};

use super::error::ClientError;
use super::listing::{parse_list_line, parse_mlsd_line, Entry, Kind};
use super::names::{check_local_name, check_remote_name, local_kind, remote_join, Local};
use super::progress::{Direction, TreeCounts, TreeProgress};
use super::session::Session;
use super::{complain, say};
use crate::limits::{CLIENT_MAX_LISTING_LINE, CLIENT_MAX_TREE_DEPTH, CLIENT_MAX_TREE_ENTRIES};
use crate::protocol::Command;

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
    /// Entries seen, bounded by [`CLIENT_MAX_TREE_ENTRIES`].
    seen: usize,
}

/// True when `pattern` holds glob characters.
pub fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}

/// Glob options: `*` never matches `/` nor a leading dot, as in a shell.
const GLOB: MatchOptions =
    MatchOptions { case_sensitive: true, require_literal_separator: true, require_literal_leading_dot: true };

/// The modification time of a local file, in seconds since the epoch.
fn local_mtime(m: &std::fs::Metadata) -> Option<i64> {
    let t = m.modified().ok()?;
    Some(match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs_f64().ceil() as i64),
    })
}

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
    fn plan_download(
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
    fn plan_upload(
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
    fn run_plan(&mut self, plan: Plan, dir: Direction, opts: TreeOptions) -> Result<(), ClientError> {
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
            say(super::progress::tree_summary(dir, &counts, std::time::Duration::ZERO, true));
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
    fn globs_are_shell_globs_without_slashes_or_dots() {
        let p = Pattern::new("*.txt").unwrap();
        assert!(p.matches_with("a b.txt", GLOB));
        assert!(!p.matches_with(".hidden.txt", GLOB));
        assert!(!p.matches_with("../evil.txt", GLOB));
        assert!(is_glob("dir/*") && is_glob("a?") && is_glob("[ab]") && !is_glob("plain.txt"));
    }

    #[test]
    fn mirror_compares_size_and_time() {
        let e = Entry { name: "a".into(), kind: Kind::File, size: Some(3), mtime: Some(100) };
        assert!(same_as_remote(&e, 3, Some(100), true));
        assert!(!same_as_remote(&e, 3, Some(99), true));
        assert!(same_as_remote(&e, 3, Some(99), false), "without MFMT a newer remote copy is the same");
        assert!(!same_as_remote(&e, 3, Some(101), false));
        assert!(!same_as_remote(&e, 4, Some(100), true));
    }

    #[test]
    fn times_convert_both_ways() {
        assert_eq!(system_time(10), SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(10));
        assert!(system_time(-10) < SystemTime::UNIX_EPOCH);
    }
}
