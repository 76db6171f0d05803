//! Every limit and default of forkftp, named in one place.
//!
//! Each constant says what it bounds and why its value was chosen. Where a limit
//! can be changed at run time, the option that changes it is named.

use std::time::Duration;

/// Longest control line accepted, CRLF included (vsftpd's `VSFTP_MAX_COMMAND_LINE`);
/// a line ending in a bare LF counts as if it ended in CRLF (see
/// `protocol::framer`). A longer line is answered `500` and discarded; the
/// session goes on.
pub const MAX_COMMAND_LINE: usize = 4096;

/// Longest path argument, in bytes (Linux `PATH_MAX`).
pub const MAX_PATH: usize = 4096;

/// Longest user name accepted by `USER`.
pub const MAX_USER_NAME: usize = 256;

/// Longest line of a reply the client accepts from a server, CRLF included.
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

/// Default most workers (`--max-workers`), as Apache's MaxRequestWorkers
/// (vsftpd's `max_clients` is 2000 too). An idle worker costs about 100 KiB
/// of memory (PSS) and the kernel about as much again: a pool this size
/// serves a flood of 1,000 idle and slow connections and its real clients
/// beside them (see `make bench`).
pub const DEFAULT_MAX_WORKERS: usize = 2000;

/// Default most clients at once from one address (`--max-per-ip`): 1 % of
/// the default pool, room for a small office behind one NAT address with
/// two or three connections per FTP client.
pub const DEFAULT_MAX_PER_IP: usize = 20;

/// Largest batch of workers forked in one supervisor tick while growing.
pub const MAX_SPAWN_BATCH: usize = 64;

/// Upper bound of `--max-workers`: each worker is a process, and the
/// scoreboard (about 250 bytes a slot) is sized once before forking. The
/// machine's own limits (`kernel.pid_max`, `RLIMIT_NPROC`, memory) usually
/// come first; the server warns at start when they do.
pub const MAX_WORKERS: usize = 100_000;

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

/// After an upload's data connection ends, how long the control connection
/// is watched for the client vanishing before the file is put in place. A
/// killed client's kernel closes its sockets last-opened first, so the data
/// EOF comes a few microseconds before the control connection's end; every
/// completed upload waits this long for its 226.
pub const UPLOAD_EOF_GRACE: Duration = Duration::from_millis(10);

/// Time a transfer may make no progress before it is aborted (vsftpd: 300 s).
pub const STALL_TIMEOUT: Duration = Duration::from_secs(300);

/// Files replaced by uploads that may wait, in a worker, for its helper
/// thread to free them (besides the one being freed). A client that replaces
/// files faster than the disk frees them waits after that many (Security:
/// the space held by unlinked files stays bounded); below it, the next
/// command is read at once (pyftpdlib's benchmark replaces a 2 GB file and
/// stores again at once: with no queue, its QUITs waited 0.3 s for that).
pub const PENDING_RELEASES: usize = 2;

/// How often the supervisor checks the pool when no signal arrives.
pub const SUPERVISOR_TICK: Duration = Duration::from_millis(100);

/// Time workers get to finish after SIGTERM before the parent sends SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// Failed `PASS` attempts before the connection is closed, and from one
/// address (any connections) within `--ban-time` before it is banned
/// (`--max-login-fails`).
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

/// Times a path lookup is tried again when the kernel's `openat2` answers
/// EAGAIN (a rename elsewhere raced with a `..` in the path) before the
/// symlink-refusing walk is used instead.
pub const JAIL_RACE_RETRIES: u32 = 8;

/// Attempts to create a unique name for `STOU` or an upload's temporary file.
pub const UNIQUE_NAME_ATTEMPTS: u32 = 100;

// ---- The load balancer: `ftpmaster`, `ftpslaves`, and servers run as slaves.

/// Default address of the master's slave registry (`ftpmaster --registry`):
/// loopback only, so without a cluster key only slaves of this host register.
pub const DEFAULT_REGISTRY: &str = "127.0.0.1:2190";

/// Port of the registry when `ftpslaves MASTER_HOST` names no port.
pub const DEFAULT_REGISTRY_PORT: u16 = 2190;

/// Default number of slaves started by `ftpslaves` (`-n`).
pub const DEFAULT_SLAVES: u32 = 2;

/// Default base port of `ftpslaves` (`--base-port`): slave `i` listens on
/// base + i, so 2101, 2102... as in the original.
pub const DEFAULT_SLAVE_BASE_PORT: u16 = 2100;

/// Most slaves one `ftpslaves` starts, and the highest slave id.
pub const MAX_SLAVES: u32 = 1000;

/// How often a slave tells the master it is alive.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);

/// Silence after which the master drops a slave, and a slave its master
/// (three heartbeats missed, plus slack).
pub const HEARTBEAT_TIMEOUT: Duration = Duration::from_millis(3500);

/// First delay before a slave registers again after losing its master; it
/// doubles on each failure up to [`REGISTER_RETRY_MAX`].
pub const REGISTER_RETRY_MIN: Duration = Duration::from_millis(100);

/// Longest delay between two registration attempts: a restarted master has
/// its slaves back within this time.
pub const REGISTER_RETRY_MAX: Duration = Duration::from_secs(2);

/// Time a registration connection has to complete the exchange.
pub const REGISTER_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest line of the registration protocol, either way, counted as if it
/// ended in CRLF (its lines end in LF).
pub const MAX_REGISTRY_LINE: usize = 512;

/// Most registration connections the master keeps (registered or not):
/// more are refused, so a flood cannot exhaust its descriptors.
pub const MAX_REGISTRATIONS: usize = 2 * MAX_SLAVES as usize;

/// Shortest cluster key accepted (`--key-file`, `FTP_CLUSTER_KEY`).
pub const MIN_CLUSTER_KEY: usize = 16;

/// Longest cluster key accepted.
pub const MAX_CLUSTER_KEY: usize = 4096;

/// Time a slave has to take a client the master hands over (fd passing:
/// a worker acknowledges; relaying: the connection is made and the slave
/// greets). After it the master tries the next slave. Generous: under a
/// burst, clients wait here while the slave's pool grows; a slave that
/// stopped altogether is dropped sooner, by [`HEARTBEAT_TIMEOUT`], and its
/// clients go elsewhere at once.
pub const HANDOVER_TIMEOUT: Duration = Duration::from_secs(10);

/// After a failed hand-over (refused, reset, closed), the slave is skipped
/// for this long, unless it registers again sooner.
pub const SLAVE_SUSPEND: Duration = Duration::from_secs(2);

/// Time a relayed slave waits for the master's PROXY header.
pub const PROXY_HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// Bytes the master reads from one side of a relayed control connection at
/// a time; what the other side cannot take yet is kept, and reading stops
/// until it is sent (so a connection holds at most this much in the master).
pub const RELAY_CHUNK: usize = 16 * 1024;

/// Events the master's epoll loop takes per wake-up.
pub const MASTER_EVENTS: usize = 256;

/// How often the master's loop checks heartbeats and hand-over deadlines.
pub const MASTER_TICK: Duration = Duration::from_millis(100);

/// Pause before the master or a worker accepts again after `accept` failed
/// (out of descriptors, of buffers): the waiting clients stay in the backlog.
pub const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// Delay before `ftpslaves` restarts a slave that died; it doubles while the
/// slave keeps dying within [`SLAVE_RESTART_MAX`], capped there.
pub const SLAVE_RESTART_MIN: Duration = Duration::from_millis(500);

/// Longest delay before `ftpslaves` restarts a slave.
pub const SLAVE_RESTART_MAX: Duration = Duration::from_secs(30);

/// How long a slave's idle worker waits on its two sockets (TCP and
/// hand-over) before looking at its flags again.
pub const SLAVE_WORKER_WAKEUP: Duration = Duration::from_millis(500);

/// Time a relayed connection may stay half-closed (one side finished, the
/// other silent) before the master closes it.
pub const HALF_CLOSE_TIMEOUT: Duration = Duration::from_secs(30);

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

/// Longest run of `ftpbench`; past it the benchmark kills the server,
/// removes its temporary root and fails (the issue asks for under 5 minutes).
pub const BENCH_TIME_LIMIT: Duration = Duration::from_secs(290);

/// Longest run of `ftpbench --quick` (CI).
pub const BENCH_QUICK_TIME_LIMIT: Duration = Duration::from_secs(120);

/// Longest wait of a benchmark client for one connect, read or write.
pub const BENCH_IO_TIMEOUT: Duration = Duration::from_secs(30);

/// Time the benchmark gives a started server to send its first greeting.
pub const BENCH_READY_TIMEOUT: Duration = Duration::from_secs(20);

// ---- Limits gathered from the modules that used them (pool, admin, balancer)

/// How long a worker blocked in `accept` waits before it looks at its flags
/// again (closes the race between checking a flag and blocking).
pub const ACCEPT_WAKEUP: Duration = Duration::from_millis(500);

/// Longest a reload (SIGHUP) waits for the old idle workers to leave `accept`.
pub const RELOAD_SETTLE: Duration = Duration::from_secs(2);

/// Time a client refused at once (all workers busy, too many from its
/// address, no slave) has to take its one-line 421 before it is closed.
pub const REFUSAL_WRITE_TIMEOUT: Duration = Duration::from_secs(1);

/// Longest client address, user name and command a scoreboard slot keeps
/// for `ftpserver status` (longer ones are cut).
pub const SCOREBOARD_TEXT: usize = 64;

/// Time a status request (`ftpserver status`, `ftpmaster status`) has to
/// take its table, on the answering side.
pub const STATUS_WRITE_TIMEOUT: Duration = Duration::from_secs(1);

/// Time `status` waits for the running process's table.
pub const STATUS_QUERY_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest hand-over socket name a slave may register.
pub const MAX_HANDOFF_NAME: usize = 100;

/// Most descriptors a worker makes room for in one hand-over message; a
/// message with more than one is refused (and all of them closed).
pub const HANDOFF_MAX_FDS: usize = 4;

/// A slave that ran this long is healthy again: `ftpslaves`' restart delay
/// starts over from [`SLAVE_RESTART_MIN`].
pub const SLAVE_HEALTHY_AFTER: Duration = Duration::from_secs(60);

// ---- ftpclient (issue 14): trees, checksums, line editing, and what a
// hostile server may send (issue 10).

/// Most bytes of one reply, all its lines together, the client accepts.
/// Without it a multi-line reply could grow to [`MAX_REPLY_LINES`] lines of
/// [`MAX_REPLY_LINE`] bytes (8 GB). The longest honest reply the client
/// asks for is FEAT or HELP (a few KiB); 1 MiB leaves room for a `STAT` of
/// thousands of names.
pub const CLIENT_MAX_REPLY: usize = 1024 * 1024;

/// Longest line of a listing the client prints or parses at once; longer
/// ones are printed in pieces (`ls`) or refused (MLSD, NLST, LIST).
pub const CLIENT_MAX_LISTING_LINE: usize = 64 * 1024;

/// Most bytes of one directory listing read for `mget`, trees and tab
/// completion (about 100,000 entries of MLSD): a server cannot make the
/// client allocate without end.
pub const CLIENT_MAX_LISTING: usize = 16 * 1024 * 1024;

/// Deepest directory a tree transfer descends into, counted from the
/// tree's top. A server whose tree loops (a symbolic link to `.`) stops
/// here instead of filling the disk.
pub const CLIENT_MAX_TREE_DEPTH: usize = 64;

/// Most entries (files and directories) of one tree transfer.
pub const CLIENT_MAX_TREE_ENTRIES: usize = 1_000_000;

/// Time the client waits for a checksum (HASH, XSHA256...): the server reads
/// the whole file first, 10 GB at 100 MB/s.
pub const CLIENT_HASH_TIMEOUT: Duration = Duration::from_secs(120);

/// Lines of prompt history kept across runs (in the user's data directory).
pub const CLIENT_HISTORY_LINES: usize = 1000;

/// Largest `~/.netrc` read.
pub const CLIENT_MAX_NETRC: u64 = 1024 * 1024;

// ---- FTPS (issue 12)

/// Time a client has to complete the TLS handshake on the control
/// connection (after `AUTH TLS`, or on connecting to the implicit-FTPS
/// port); a data connection's handshake has `--data-timeout`.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// TLS sessions one FTP session keeps for its data connections to resume
/// (the control connection's, and those of its data connections; each is a
/// few hundred bytes). The oldest goes first.
pub const TLS_SESSION_CACHE: usize = 16;

/// TLS 1.3 session tickets the server sends after each handshake (rustls
/// clients use a ticket once; one per data connection, and spares for a
/// transfer aborted before its new tickets were read).
pub const TLS13_TICKETS: usize = 4;

/// TLS 1.3 session tickets `ftpclient` asks for on a full handshake (RFC
/// 9149); on a resumed one (a data connection), one, for the next.
pub const CLIENT_TLS_TICKETS: u8 = 4;

/// Plaintext an encrypted data connection moves per batch: a download
/// reads this much of the file into its TLS records and writes them with
/// one call; an upload reads up to this much with one call and writes the
/// plaintext with one more (`net::records`). 16 records of 16 KiB.
pub const TLS_DATA_BATCH: usize = 256 * 1024;

/// Empty TLS records a data connection's peer may send in a row (each
/// costs a decryption and carries nothing); one more ends the connection.
/// rustls allows as many.
pub const TLS_MAX_EMPTY_RECORDS: usize = 32;

/// Largest TLS 1.3 post-handshake message taken on a data connection (a
/// KeyUpdate is 5 bytes, a session ticket a few hundred).
pub const TLS_MAX_POST_HANDSHAKE: usize = 64 * 1024;

/// Largest certificate or key file read (a chain of a few certificates is
/// a few KiB).
pub const MAX_PEM_FILE: u64 = 1024 * 1024;

/// A certificate that expires within this many days is warned about at
/// start-up and on every reload.
pub const TLS_EXPIRY_WARNING_DAYS: i64 = 30;

/// Days a certificate made by `ftpserver gencert` stays valid.
pub const GENCERT_DAYS: i64 = 365;

/// Where `ftpserver gencert` writes the certificate by default.
pub const GENCERT_CERT_FILE: &str = "ftpserver-cert.pem";

/// Where `ftpserver gencert` writes the private key by default.
pub const GENCERT_KEY_FILE: &str = "ftpserver-key.pem";

// ---- server extensions (issue 14): checksums, rate limits, quotas, modes

/// Bytes per second a HASH or X-verb checksum reads (a token bucket, see
/// `server::rate`). Security: a client asking for checksums of huge files
/// gets them at this pace: a quarter of a core for SHA-256 on a core
/// without SHA instructions, less for the others; 10 GB take 80 s, within
/// the client's [`CLIENT_HASH_TIMEOUT`].
pub const HASH_RATE: u64 = 128 * 1024 * 1024;

/// Bytes a checksum reads from the file at a time; between reads the
/// control connection is checked for ABOR and STAT.
pub const HASH_CHUNK: usize = 256 * 1024;

/// A rate-limited transfer moves what its rate allows in this time per
/// call (so 1 MB per `sendfile` at 10 MB/s), and may run this far ahead of
/// its rate: over 3 s, 3 % at most.
pub const RATE_SLICE: Duration = Duration::from_millis(100);

/// The smallest piece a rate-limited transfer moves at once (slow rates),
/// and the lowest rate an account may have (`down=1K`).
pub const RATE_MIN_CHUNK: usize = 1024;

/// Default mask of the modes of uploaded files (0666) and created
/// directories (0777), as vsftpd's `local_umask` (`--umask`, `SITE UMASK`).
pub const DEFAULT_UMASK: u32 = 0o022;

/// Name of the file, in a home with a quota, that keeps the bytes and files
/// used (hidden from listings, refused to clients like every `.forkftp.`
/// name; deleting it makes the next login count again).
pub const QUOTA_FILE: &str = ".forkftp.quota";

/// Most entries the count of a home's usage visits; past it the count
/// stops (and the log says so): a login never walks without end.
pub const QUOTA_SCAN_MAX_ENTRIES: u64 = 1_000_000;

/// Deepest directory the count of a home's usage descends into.
pub const QUOTA_SCAN_MAX_DEPTH: usize = 64;

/// Longest wait for the lock of a quota file (held by another session of
/// the home for one read and one write): past it the command gets 451.
pub const QUOTA_LOCK_TIMEOUT: Duration = Duration::from_secs(2);

/// The window over which `ftpserver status` measures a session's current
/// rate.
pub const SCOREBOARD_RATE_WINDOW: Duration = Duration::from_secs(1);

// ---- service (issue 13): configuration file, systemd, upgrade, logs, metrics.

/// The configuration file `ftpserver` reads when it exists and no
/// `--config` names another.
pub const DEFAULT_SERVER_CONFIG: &str = "/etc/forkftp/ftpserver.toml";

/// The configuration file `ftpmaster` reads when it exists and no
/// `--config` names another.
pub const DEFAULT_MASTER_CONFIG: &str = "/etc/forkftp/ftpmaster.toml";

/// Largest configuration file read (a real one is a few KiB).
pub const CONFIG_FILE_MAX: u64 = 1024 * 1024;

/// Largest count a counted flag takes in a configuration file (`verbose`).
pub const CONFIG_MAX_COUNT: i64 = 8;

/// The local syslog socket (`--syslog-socket`).
pub const DEFAULT_SYSLOG_SOCKET: &str = "/dev/log";

/// Time a binary started by an upgrade (SIGUSR2) has to say it serves;
/// past it, it is killed and the running one goes on.
pub const UPGRADE_READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Time the sessions of the replaced binary have to end by themselves
/// after an upgrade; then they are told to stop after their running
/// transfer (as SIGQUIT does).
pub const UPGRADE_DRAIN_TIMEOUT: Duration = Duration::from_secs(600);

/// Longest syslog datagram sent (`--syslog`), header included; a longer
/// line is cut. rsyslog and journald take at least this much.
pub const SYSLOG_MAX_MESSAGE: usize = 2048;

/// Most HTTP clients of `/metrics` and `/health` served at once; one more
/// is closed at once (Prometheus scrapes with one connection).
pub const METRICS_MAX_CLIENTS: usize = 4;

/// Longest request head read from a metrics client (`431` beyond).
pub const METRICS_MAX_REQUEST: usize = 8 * 1024;

/// Time a metrics client has for its request and the response, together.
pub const METRICS_CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// After it starts, and until a first slave registers, `ftpmaster` leaves
/// clients in its socket's backlog for up to this long instead of refusing
/// them: a restarted master (whose socket systemd kept open) has its slaves
/// back within [`REGISTER_RETRY_MAX`] and a little more.
pub const MASTER_START_GRACE: Duration = Duration::from_secs(5);

// ---- burst and overwrite (issue 15)

/// Most workers the supervisor forks in one wake-up for the clients waiting
/// in the accept queue: forking 256 workers takes it about 50 ms on 2 cores,
/// after which it looks at signals and the queue again.
pub const MAX_BURST_FORKS: usize = 256;

/// The batch of workers forked when spares run short doubles each time
/// they do, and starts again from one only after the pool went this long
/// without growing: clients arriving one after another (pyftpdlib's
/// benchmark logs 100 in a row) find the pool ahead of them, not one
/// worker at a time behind. Idle spares are retired only after as long
/// without growth, so a burst never retires the workers it just forked.
pub const SPAWN_BATCH_RESET: Duration = Duration::from_secs(1);

/// An upload's data connection wakes its worker once this many bytes are
/// waiting (or at its end), not at every packet (`SO_RCVLOWAT`). A client
/// writing 8 KiB at a time (ftplib, pyftpdlib's benchmark) otherwise pays
/// for a wake-up of the worker in every `send` (12 % of such a client's
/// profile): 100 of them uploading 10 MiB each at once took a median of
/// 2.62 s instead of 1.75 s (pyftpdlib: 1.70 s, same runs).
/// 64 KiB fits the socket's default receive buffer (`tcp_rmem`: 128 KiB,
/// half of it for data), so the kernel neither grows the buffer nor clamps
/// the window for it. Bytes below the mark still count as progress when the
/// stall timer runs out.
pub const UPLOAD_LOW_WATER: usize = 64 * 1024;

// ---- ops (issue 13): pools behind a load balancer, containers.

/// Longest PROXY protocol v2 header accepted (section 2.2 of HAProxy's
/// `proxy-protocol.txt`), its 16 fixed bytes included. The length field
/// allows 65,551 bytes; what balancers send is far less: 16 + 36 for TCP
/// over IPv6, plus TLVs (AWS's VPC endpoint id, HAProxy's TLS details,
/// a unique id of at most 128 bytes, the SNI of at most 255). Longer is
/// refused, so a header never costs a worker more than this.
pub const PROXY_V2_MAX_LEN: usize = 2048;

// ---- Hostile clients (issue 10): deadlines, bounded memory, floods, login abuse.

/// Longest a worker waits on a client (read, write, connect, a delay)
/// without looking at its signal flags: a stop, graceful stop, reload or
/// reclaim is acted on within this time even if the signal raced the wait.
pub const SIGNAL_CHECK: Duration = Duration::from_millis(250);

/// Once the worker must leave (SIGQUIT, SIGHUP), a reply that a client does
/// not read is given up after this long instead of the session's deadline.
pub const LEAVING_WRITE_GRACE: Duration = Duration::from_secs(1);

/// Most commands a session keeps for later while a transfer runs or waits
/// for its data connection (ABOR and STAT are answered at once). Once this
/// many wait, the server stops reading the control connection until the
/// transfer ends: the rest waits in the kernel's socket buffer, and TCP
/// back-pressure slows the client down (vsftpd does not read at all).
pub const MAX_PENDING_COMMANDS: usize = 16;

/// The resident memory a worker stays under whatever a client sends (the
/// tests flood it to check): the program, a 256 KiB transfer buffer or two,
/// at most [`MAX_PENDING_COMMANDS`] lines of [`MAX_COMMAND_LINE`] bytes, and
/// argon2's 19 MiB while a password of the users file is checked (with the
/// parameters `ftpserver passwd` writes).
pub const WORKER_RSS_BOUND: usize = 32 << 20;

/// Time a client that has not logged in may take once the pool is nearly
/// full (at least [`PRESSURE_BUSY_PERCENT`] of `--max-workers` busy), instead
/// of `--login-timeout`: idle and slow connections then make room ten times
/// sooner, while a client that logs in (a few round trips) is not hurried.
pub const PRESSURE_LOGIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Share of `--max-workers`, in percent, busy from which the pool is
/// nearly full ([`PRESSURE_LOGIN_TIMEOUT`]).
pub const PRESSURE_BUSY_PERCENT: usize = 75;

/// At `--max-workers` with clients waiting in the accept queue, the
/// supervisor reclaims the workers held longest by clients that have not
/// logged in (they get `421`), one per waiting client, but only those held
/// at least this long: enough for any client to log in over a slow link,
/// short enough that a queue of a few pools' worth passes within seconds.
pub const RECLAIM_MIN_AGE: Duration = Duration::from_secs(1);

/// After reclaiming workers, the supervisor leaves the listener alone this
/// long: the reclaimed workers take the waiting clients meanwhile.
pub const RECLAIM_SETTLE: Duration = Duration::from_millis(20);

/// Default `--ban-time`: the window in which `--max-login-fails` failed
/// logins from one address ban it, and how long the ban lasts (fail2ban's
/// defaults are 10 minutes for both).
pub const BAN_TIME: Duration = Duration::from_secs(600);

/// An account is locked for `--ban-time` after this many times
/// `--max-login-fails` failures within `--ban-time`, from any addresses: a
/// guesser spread over many addresses is stopped too, while one address's
/// typos cannot lock its owner out.
pub const ACCOUNT_FAILS_FACTOR: u32 = 10;

/// Entries of the table of failed logins and bans shared by the workers
/// (24 bytes each): bounded, whatever the number of addresses.
pub const BAN_TABLE_ENTRIES: usize = 16_384;

/// Password hashes (argon2id, 19 MiB and ~30 ms each) that may run at once
/// in the whole pool, per CPU: a flood of PASS lines then waits its turn
/// instead of exhausting memory and CPU.
pub const HASHES_PER_CPU: usize = 1;

/// Most hashes at once, whatever the number of CPUs.
pub const MAX_HASH_PERMITS: usize = 64;

/// Deepest directory the sweep of stale upload temporaries walks into.
pub const MAX_SWEEP_DEPTH: usize = 64;
