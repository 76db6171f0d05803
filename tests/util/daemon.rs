//! The one process spawner for servers: a program started with its
//! standard output and error in a log file of its own directory, watched
//! for the log line that says it is ready, and stopped when dropped. When
//! the test fails, the drop prints what a post-mortem needs: the command
//! line, the directory and the end of its log.

use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::{TempDir, READY};

/// Lines of a log printed when a test fails (the whole log stays on disk).
const REPORT_LINES: usize = 150;

/// A running server process.
pub struct Daemon {
    child: Child,
    program: PathBuf,
    args: Vec<OsString>,
    /// Its standard output and error.
    out: PathBuf,
    /// The file it logs to itself (`--log-file`), if any.
    log_file: Option<PathBuf>,
    /// Where each log stood when the process was last started: readiness
    /// lines are looked for after it.
    marks: (usize, usize),
    /// Set once it has been reaped: its pid may then belong to another.
    reaped: bool,
    dir: TempDir,
    /// Variables added to its environment.
    env: Vec<(String, String)>,
    /// The user and group it runs as, when not the tests' own.
    ids: Option<(nix::unistd::Uid, nix::unistd::Gid)>,
}

impl Daemon {
    /// Starts `program args`, its output in a fresh directory tagged `tag`.
    pub fn spawn(program: impl AsRef<Path>, args: &[String], tag: &str) -> Daemon {
        Daemon::spawn_env(program, args, tag, &[])
    }

    /// Like `spawn`, with variables added to its environment.
    pub fn spawn_env(program: impl AsRef<Path>, args: &[String], tag: &str, env: &[(&str, &str)]) -> Daemon {
        Daemon::spawn_with(program, args, tag, env, None)
    }

    /// Like `spawn`, as the user and group `ids` (the tests run as root):
    /// another local user's program.
    pub fn spawn_as(
        program: impl AsRef<Path>,
        args: &[String],
        tag: &str,
        ids: (nix::unistd::Uid, nix::unistd::Gid),
    ) -> Daemon {
        Daemon::spawn_with(program, args, tag, &[], Some(ids))
    }

    fn spawn_with(
        program: impl AsRef<Path>,
        args: &[String],
        tag: &str,
        env: &[(&str, &str)],
        ids: Option<(nix::unistd::Uid, nix::unistd::Gid)>,
    ) -> Daemon {
        let dir = TempDir::new(tag);
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let out = dir.join("output.log");
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        let log_file = args.iter().position(|a| a == "--log-file").and_then(|i| args.get(i + 1)).map(PathBuf::from);
        let program = program.as_ref().to_path_buf();
        // Where its own log file stands before it starts (it appends).
        let marks = (0, log_file.as_deref().map_or(0, |p| read(p).len()));
        let child = start(&program, &args, &out, &env, ids);
        Daemon { child, program, args, out, log_file, marks, reaped: false, dir, env, ids }
    }

    /// Starts the same command again (after it was killed), appending to
    /// the same log.
    pub fn respawn(&mut self) {
        assert!(self.try_wait().is_some(), "respawn of {}, which is still running", self.name());
        self.marks = (read(&self.out).len(), self.log_file.as_deref().map_or(0, |p| read(p).len()));
        self.child = start(&self.program, &self.args, &self.out, &self.env, self.ids);
        self.reaped = false;
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The directory of its output.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Everything it logged: its output, then its `--log-file`.
    pub fn log_text(&self) -> String {
        let mut s = read(&self.out);
        if let Some(p) = &self.log_file {
            s.push_str(&read(p));
        }
        s
    }

    /// What it logged since it was last started.
    fn log_since_start(&self) -> String {
        let mut s = read(&self.out).get(self.marks.0..).unwrap_or_default().to_string();
        if let Some(p) = &self.log_file {
            s.push_str(read(p).get(self.marks.1..).unwrap_or_default());
        }
        s
    }

    /// Waits until a line logged since the start contains `needle`, and
    /// returns it; fails at once if the process exits, and after [`READY`].
    pub fn wait_for_line(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + READY;
        loop {
            if let Some(l) = self.log_since_start().lines().find(|l| l.contains(needle)) {
                return l.to_string();
            }
            // (The report follows: a panicking test's Daemon prints it.)
            if let Some(st) = self.try_wait() {
                panic!("{} exited ({st}) before logging {needle:?}", self.name());
            }
            if Instant::now() > deadline {
                panic!("no {needle:?} in the log of {} after {READY:?}", self.name());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Its exit status, if it has exited (it is then reaped).
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        let st = self.child.try_wait().expect("waitpid");
        self.reaped |= st.is_some();
        st
    }

    /// Sends `sig` (never to a process already reaped: its pid may be
    /// another process's by now).
    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        assert!(!self.reaped, "signal {sig} to {}, which exited", self.name());
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), sig).unwrap();
    }

    /// Waits for it to exit; its status, or `None` after `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(st) = self.try_wait() {
                return Some(st);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGKILL, and reaps it.
    pub fn kill(&mut self) {
        if self.try_wait().is_none() {
            let _ = self.child.kill();
            self.child.wait().expect("waitpid");
            self.reaped = true;
        }
    }

    /// SIGTERM, then SIGKILL after `grace`; reaps it.
    pub fn stop(&mut self, grace: Duration) {
        if self.try_wait().is_some() {
            return;
        }
        self.signal(nix::sys::signal::Signal::SIGTERM);
        if self.wait_exit(grace).is_none() {
            self.kill();
        }
    }

    /// The program's name.
    fn name(&self) -> String {
        self.program.file_name().unwrap_or_default().to_string_lossy().into_owned()
    }

    /// The command line, the directory and the end of the log.
    pub fn report(&self) -> String {
        let name = self.name();
        let mut cmd = self.program.display().to_string();
        for a in &self.args {
            cmd.push(' ');
            cmd.push_str(&a.to_string_lossy());
        }
        let log = self.log_text();
        let lines: Vec<&str> = log.lines().collect();
        let shown = &lines[lines.len().saturating_sub(REPORT_LINES)..];
        let mut logs = self.out.display().to_string();
        if let Some(p) = &self.log_file {
            logs.push_str(&format!(" and {}", p.display()));
        }
        format!(
            "---- {name} (pid {}) ----\ncommand: {cmd}\ndirectory: {}\nlog ({} of {} lines; all in {logs}):\n{}\n----",
            self.pid(),
            self.dir.path().display(),
            shown.len(),
            lines.len(),
            shown.join("\n")
        )
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.report());
        }
        self.kill();
    }
}

fn start(
    program: &Path,
    args: &[OsString],
    out: &Path,
    env: &[(String, String)],
    ids: Option<(nix::unistd::Uid, nix::unistd::Gid)>,
) -> Child {
    use std::os::unix::process::CommandExt;
    let file = File::options().create(true).append(true).open(out).unwrap();
    let mut cmd = Command::new(program);
    if let Some((uid, gid)) = ids {
        cmd.uid(uid.as_raw()).gid(gid.as_raw());
    }
    cmd.args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()))
}

fn read(p: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned()
}
