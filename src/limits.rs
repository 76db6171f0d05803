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

/// Default user the workers drop to when the server starts as root (`--run-as`).
pub const DEFAULT_RUN_AS: &str = "nobody";

/// Default client download directory (`ftpclient --local-dir`).
pub const DEFAULT_CLIENT_ROOT: &str = "_CLIENTROOT";

/// Size of the buffer used for ASCII conversions, uploads and listings.
pub const IO_BUFFER: usize = 256 * 1024;

/// Size asked for the pipe of a binary upload (socket to pipe to file with
/// `splice(2)`): 1 MiB, the most an unprivileged process may ask
/// (`/proc/sys/fs/pipe-max-size`). Measured here, a 1 MiB pipe needs 0.31 to
/// 0.45 CPU-seconds per GiB stored where 256 KiB `read`/`write` need 0.53
/// to 0.83. Refused beyond the user's pipe quota, where the default 64 KiB
/// pipe still works.
pub const SPLICE_PIPE: usize = 1024 * 1024;

/// Blocks of this size or more get their own mapping from malloc in a
/// worker, returned to the kernel when freed (glibc's initial threshold,
/// kept fixed: glibc would otherwise raise it to the largest block freed,
/// and an idle session could keep argon2's 19 MiB or a 256 KiB buffer).
pub const MALLOC_MMAP_THRESHOLD: usize = 128 * 1024;

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

/// Random ports of the ephemeral range tried for PASV/EPSV (without
/// `--passive-ports`) before the kernel is asked for any port.
pub const PASSIVE_BIND_ATTEMPTS: u32 = 16;

/// Ephemeral port range assumed when `/proc/sys/net/ipv4/ip_local_port_range`
/// cannot be read (Linux's default).
pub const DEFAULT_EPHEMERAL_PORTS: (u16, u16) = (32768, 60999);

/// Lowest port a `PORT`/`EPRT` may name: privileged ports are refused (FTP bounce).
pub const MIN_ACTIVE_PORT: u16 = 1024;

/// Most entries a single `STAT path` or listing reply may name before it is
/// cut (listings over the data connection stream and have no limit).
pub const MAX_STAT_ENTRIES: usize = 10_000;

/// Attempts to create a unique name for `STOU` or an upload's temporary file.
pub const UNIQUE_NAME_ATTEMPTS: u32 = 100;

/// Longest run of `ftpbench`; past it the benchmark kills the server,
/// removes its temporary root and fails (the issue asks for under 5 minutes).
pub const BENCH_TIME_LIMIT: Duration = Duration::from_secs(290);

/// Longest run of `ftpbench --quick` (CI).
pub const BENCH_QUICK_TIME_LIMIT: Duration = Duration::from_secs(120);

/// Longest wait of a benchmark client for one connect, read or write.
pub const BENCH_IO_TIMEOUT: Duration = Duration::from_secs(30);

/// Time the benchmark gives a started server to send its first greeting.
pub const BENCH_READY_TIMEOUT: Duration = Duration::from_secs(20);
