//! Every limit and default of forkftp, named in one place.
//!
//! Each constant says what it bounds and why its value was chosen. Where a limit
//! can be changed at run time, the option that changes it is named.

use std::time::Duration;

/// Longest control line accepted, CRLF included (vsftpd's `VSFTP_MAX_COMMAND_LINE`).
/// A longer line is answered `500` and discarded; the session goes on.
pub const MAX_COMMAND_LINE: usize = 4096;

/// Longest path argument, in bytes (Linux `PATH_MAX`).
pub const MAX_PATH: usize = 4096;

/// Longest user name accepted by `USER`.
pub const MAX_USER_NAME: usize = 256;

/// Longest line of a reply the client accepts from a server.
pub const MAX_REPLY_LINE: usize = 8192;

/// Most lines in one multi-line reply the client accepts (a `STAT dir` of a
/// large directory is the longest reply in practice).
pub const MAX_REPLY_LINES: usize = 1_000_000;

/// Default control port. 21 needs root; 2121 is the unprivileged convention.
pub const DEFAULT_PORT: u16 = 2121;

/// Default listening address (`--listen`).
pub const DEFAULT_LISTEN: &str = "0.0.0.0:2121";

/// Default number of pre-forked workers (`--workers`).
pub const DEFAULT_WORKERS: usize = 8;

/// Default fewest idle workers (`--min-spare`): a burst of four clients is
/// greeted at once while the pool grows.
pub const DEFAULT_MIN_SPARE: usize = 4;

/// Default most idle workers (`--max-spare`): idle workers cost memory.
pub const DEFAULT_MAX_SPARE: usize = 16;

/// Default most workers (`--max-workers`), as Apache's MaxRequestWorkers.
pub const DEFAULT_MAX_WORKERS: usize = 256;

/// Largest batch of workers forked in one supervisor tick while growing.
pub const MAX_SPAWN_BATCH: usize = 64;

/// Upper bound of `--max-workers`: each worker is a process, and the scoreboard
/// is sized once before forking.
pub const MAX_WORKERS: usize = 4096;

/// Backlog of the listening socket: clients beyond the pool wait here until a
/// worker is free (the kernel caps it at `net.core.somaxconn`).
pub const LISTEN_BACKLOG: i32 = 1024;

/// Default served directory (`--root`), relative to the current directory.
pub const DEFAULT_ROOT: &str = "_FTPROOT";

/// Default client download directory (`ftpclient --local-dir`).
pub const DEFAULT_CLIENT_ROOT: &str = "_CLIENTROOT";

/// Size of the buffer used for ASCII conversions, uploads and listings.
pub const IO_BUFFER: usize = 256 * 1024;

/// Largest single `sendfile(2)` call; between calls the control connection
/// is checked for `ABOR` and `STAT`.
pub const SENDFILE_CHUNK: usize = 4 * 1024 * 1024;

/// Time a client has to log in after connecting (vsftpd: 60 s).
pub const LOGIN_TIMEOUT: Duration = Duration::from_secs(60);

/// Time a logged-in client may stay silent between commands (vsftpd: 300 s).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// Time to establish a data connection after PASV/PORT (vsftpd: 60 s).
pub const DATA_CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

/// Time a transfer may make no progress before it is aborted (vsftpd: 300 s).
pub const STALL_TIMEOUT: Duration = Duration::from_secs(300);

/// How often the supervisor checks the pool when no signal arrives.
pub const SUPERVISOR_TICK: Duration = Duration::from_millis(100);

/// Time workers get to finish after SIGTERM before the parent sends SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// Failed `PASS` attempts before the connection is closed.
pub const MAX_LOGIN_FAILS: u32 = 3;

/// Delay before answering the first failed `PASS`; it doubles on each failure.
pub const LOGIN_FAIL_DELAY: Duration = Duration::from_millis(500);

/// Lowest port a `PORT`/`EPRT` may name: privileged ports are refused (FTP bounce).
pub const MIN_ACTIVE_PORT: u16 = 1024;

/// Most entries a single `STAT path` or listing reply may name before it is
/// cut (listings over the data connection stream and have no limit).
pub const MAX_STAT_ENTRIES: usize = 10_000;

/// Attempts to create a unique name for `STOU` or an upload's temporary file.
pub const UNIQUE_NAME_ATTEMPTS: u32 = 100;

// ftpclient

/// Time the client has to establish the control connection to one address
/// of the server (a name may resolve to several; each gets this long).
pub const CLIENT_CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Time the client waits for the reply to one command. The server's slowest
/// honest answer is a `150` after it waited for a data connection (vsftpd and
/// ours: 60 s), so the client waits a little longer.
pub const CLIENT_REPLY_TIMEOUT: Duration = Duration::from_secs(75);

/// Time the client has to establish a data connection (connect in passive
/// mode, the server's connection in active mode).
pub const CLIENT_DATA_TIMEOUT: Duration = Duration::from_secs(60);

/// Time a transfer may make no progress before the client gives it up (the
/// server's own stall timeout is the same).
pub const CLIENT_STALL_TIMEOUT: Duration = Duration::from_secs(300);

/// Time the client waits, after `ABOR`, for the server to answer the abort
/// and the `NOOP` sent behind it; past this the connection is given up.
pub const CLIENT_ABORT_TIMEOUT: Duration = Duration::from_secs(15);

/// How often a waiting client looks at the Ctrl-C flag: the longest delay
/// between Ctrl-C and the client acting on it.
pub const CLIENT_POLL_TICK: Duration = Duration::from_millis(100);

/// Shortest time between two redraws of the progress line.
pub const CLIENT_PROGRESS_INTERVAL: Duration = Duration::from_millis(200);

/// Longest line the client reads from its user or script (a command and two
/// paths of [`MAX_PATH`] bytes, quoted, fit).
pub const CLIENT_MAX_INPUT_LINE: usize = 3 * MAX_PATH;

/// Bytes compared before a resumed transfer appends: the tail of the local
/// partial file against the server's bytes at the same offset (downloads), or
/// the tail of the server's shorter file against the local file (uploads).
/// A partial file of another version of the file is caught here instead of
/// being completed into a wrong file.
pub const RESUME_CHECK_BYTES: u64 = 64 * 1024;

/// Suffix of a download in progress: `NAME.part` is renamed to `NAME` once
/// every byte has arrived, and a later `get` resumes it.
pub const PARTIAL_SUFFIX: &str = ".part";
