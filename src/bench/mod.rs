//! `ftpbench`: measures the release `ftpserver` on this machine and prints
//! one table.
//!
//! It starts the server found beside its own executable on a free loopback
//! port, with a temporary root under the system temp directory (removed at
//! the end, also on Ctrl-C or when the time limit strikes), and drives it with
//! threads of raw-socket clients ([`client`]) that speak through
//! [`crate::protocol`]. Every figure is the median of several runs; bulk
//! rates are also given as a ratio to a plain TCP socket pair measured in
//! the same process, interleaved with them: RETR and STOR as the median of
//! each run's ratio to the raw TCP run just before it, so that a busy
//! machine skews both sides of a ratio alike. Every byte received is checksummed and compared ([`pattern`]), so
//! no figure can come from a broken transfer. Only loopback addresses are
//! ever connected to; every loop is bounded in count and in time.
//!
//! `--quick` shrinks every size and count so that CI runs the program in a
//! few seconds and it never rots; its numbers mean little.
//!
//! Here: the options, the [`Plan`] (sizes and counts) and the order of the
//! steps. `steps` has the steps on the first server, `own_server` those
//! that start a server of their own, `measure` one function per figure,
//! [`client`] the FTP client, [`pattern`] the content and checksums,
//! [`server`] the server under test, `report` the table and `guard` the
//! clean-up.

pub(crate) mod client;
mod guard;
mod hostile;
mod measure;
mod own_server;
pub(crate) mod pattern;
mod report;
pub(crate) mod server;
mod steps;
mod tls;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use clap::Parser;

use crate::limits::{BENCH_QUICK_TIME_LIMIT, BENCH_TIME_LIMIT};
use guard::{cleanup_now, start_server, start_watchdog, stop_server, Scratch};
use measure::{memory, prepare, settle};
use report::{cpu_times, load_average, machine, others_share, print_table, Row};
use steps::Bench;

/// `ftpbench`: the benchmark of forkftp.
#[derive(Parser, Debug, Clone)]
#[command(
    name = "ftpbench",
    version,
    about = "Benchmarks the release ftpserver on loopback and prints one table (about a minute; --quick: seconds)."
)]
pub struct BenchCli {
    /// Small sizes and counts (for CI): checks that everything works, in seconds.
    #[arg(long)]
    pub quick: bool,

    /// The account the clients log in with; the server gets it with `--user`.
    #[arg(long, value_name = "NAME:PASSWORD", default_value = "bench:bench-password")]
    pub user: String,

    /// The server to measure [default: `ftpserver` beside this executable].
    #[arg(long, value_name = "PATH")]
    pub server: Option<PathBuf>,

    /// Run only these parts (for profiling one of them); the table then has only their lines.
    #[arg(long, value_enum, value_delimiter = ',', value_name = "STEP,...")]
    pub only: Vec<Step>,
}

/// Sizes, counts and time caps of one benchmark.
#[derive(Clone, Debug)]
pub struct Plan {
    /// "full" or "quick".
    pub name: &'static str,
    /// Runs of each bulk measurement (raw TCP, RETR, STOR, the crowd).
    pub runs_bulk: usize,
    /// Runs of each fast measurement (logins, small files, listings).
    pub runs_fast: usize,
    /// Bytes through the plain TCP socket pair.
    pub raw_bytes: u64,
    /// Size of the file of RETR and STOR.
    pub big_file: u64,
    /// Most connect+login+QUIT cycles of the one sequential client, per run.
    pub login_cycles_one: usize,
    /// Clients cycling at once.
    pub login_clients: usize,
    /// Most cycles of all of them together, per run.
    pub login_cycles_many: usize,
    /// Most seconds of one login run.
    pub login_time: Duration,
    /// Cycles of the sequential client with the argon2 users file, per run.
    pub argon2_cycles_one: usize,
    /// Cycles of the concurrent clients with the argon2 users file, per run.
    pub argon2_cycles_many: usize,
    /// Runs with the argon2 users file.
    pub argon2_runs: usize,
    /// Small files fetched over one session.
    pub small_files: usize,
    /// Size of each small file.
    pub small_size: u64,
    /// Entries of the listed directory.
    pub dir_entries: usize,
    /// Clients downloading at once.
    pub crowd_clients: usize,
    /// Size of the file they download.
    pub crowd_file: u64,
    /// Logged-in idle clients during the memory measurement.
    pub idle_clients: usize,
    /// Clients connecting and logging in at once against the default pool.
    pub burst_clients: usize,
    /// Hostile connections of the flood (1,000: the figure of issue 10).
    pub flood_connections: usize,
    /// Downloads of the real client during the flood.
    pub flood_rounds: usize,
    /// Logged-in idle sessions of the two capacity measurements.
    pub capacity: [usize; 2],
    /// The whole benchmark stops (and fails) after this.
    pub time_limit: Duration,
}

impl Plan {
    /// The measurement the README reports (about a minute on 2 cores).
    pub fn full() -> Plan {
        Plan {
            name: "full",
            runs_bulk: 7,
            runs_fast: 5,
            raw_bytes: 2 << 30,
            big_file: 1 << 30,
            login_cycles_one: 2_000,
            login_clients: 50,
            login_cycles_many: 10_000,
            login_time: Duration::from_secs(5),
            argon2_cycles_one: 10,
            argon2_cycles_many: 50,
            argon2_runs: 3,
            small_files: 2_000,
            small_size: 4 << 10,
            dir_entries: 10_000,
            crowd_clients: 100,
            crowd_file: 10 << 20,
            idle_clients: 100,
            burst_clients: 100,
            flood_connections: 1_000,
            flood_rounds: 20,
            capacity: [1_000, 10_000],
            time_limit: BENCH_TIME_LIMIT,
        }
    }

    /// Everything small, for CI.
    pub fn quick() -> Plan {
        Plan {
            name: "quick",
            runs_bulk: 3,
            runs_fast: 3,
            raw_bytes: 64 << 20,
            big_file: 32 << 20,
            login_cycles_one: 200,
            login_clients: 10,
            login_cycles_many: 500,
            login_time: Duration::from_secs(2),
            argon2_cycles_one: 2,
            argon2_cycles_many: 4,
            argon2_runs: 1,
            small_files: 200,
            small_size: 4 << 10,
            dir_entries: 1_000,
            crowd_clients: 10,
            crowd_file: 1 << 20,
            idle_clients: 10,
            burst_clients: 20,
            flood_connections: 60,
            flood_rounds: 4,
            capacity: [100, 300],
            time_limit: BENCH_QUICK_TIME_LIMIT,
        }
    }

    /// Workers the server keeps: enough for the largest group of clients
    /// at once, plus spares.
    fn workers(&self) -> usize {
        self.idle_clients.max(self.crowd_clients).max(self.login_clients) + 8
    }
}

/// Runs the benchmark and prints the table.
pub fn run(cli: BenchCli) -> Result<(), String> {
    let plan = if cli.quick { Plan::quick() } else { Plan::full() };
    let exe = match &cli.server {
        Some(p) => p.clone(),
        None => server::locate_server()?,
    };
    let done = start_watchdog(plan.time_limit).map_err(|e| format!("signals: {e}"))?;
    let result = run_steps(&plan, &exe, &cli.user, &cli.only);
    cleanup_now();
    done.store(true, Ordering::SeqCst);
    let (header, rows) = result?;
    print_table(&plan, &header, &rows);
    Ok(())
}

/// The server's options: the root, a pool large enough for the biggest
/// group of clients (kept, never retired), no per-address limit (every
/// client of the benchmark comes from 127.0.0.1), and the accounts.
fn server_args(root: &Path, workers: usize, accounts: &[&str]) -> Vec<String> {
    let mut args: Vec<String> =
        vec!["--root".into(), root.display().to_string(), "--no-anonymous".into(), "--max-per-ip".into(), "0".into()];
    for (opt, n) in [("--workers", workers), ("--max-spare", workers), ("--max-workers", workers * 2)] {
        args.extend([opt.to_string(), n.to_string()]);
    }
    args.extend(accounts.iter().map(|s| s.to_string()));
    args
}

/// Tells what runs now (on standard error; the table goes to standard output).
fn progress(msg: &str) {
    eprintln!("ftpbench: {msg}");
}

/// Shows the figure of every run (the table has their median).
fn show_runs(what: &str, v: &[f64]) {
    let runs: Vec<String> = v.iter().map(|x| format!("{x:.1}")).collect();
    progress(&format!("  {what}: {}", runs.join(", ")));
}

/// The error of a step, with what it was doing.
fn ctx<T>(what: &str, r: io::Result<T>) -> Result<T, String> {
    r.map_err(|e| format!("{what}: {e}"))
}

/// The parts of the benchmark, in the order they run (`--only` picks some).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Step {
    /// Raw TCP ceiling, RETR and STOR of the big file, interleaved.
    Bulk,
    /// RETR of many small files over one session.
    Small,
    /// LIST and NLST of the big directory.
    List,
    /// connect+login+QUIT cycles, one client and many.
    Login,
    /// Many clients downloading at once.
    Crowd,
    /// Memory with many logged-in idle clients.
    Memory,
    /// Logins checked against an argon2 users file.
    Argon2,
    /// Many clients logging in at the same instant against the default pool.
    Burst,
    /// A real client beside a flood of silent, non-reading and trickling connections.
    Flood,
    /// Many logged-in idle sessions in one pool.
    Capacity,
    /// FTPS: encrypted RETR, STOR, TLS logins and idle TLS sessions, beside
    /// an encrypted loopback copy.
    Ftps,
}

fn run_steps(plan: &Plan, exe: &Path, spec: &str, only: &[Step]) -> Result<(String, Vec<Row>), String> {
    let (user, pw) = spec.split_once(':').ok_or("--user: expected NAME:PASSWORD")?;
    let wanted = |s: Step| only.is_empty() || only.contains(&s);
    let began = Instant::now();
    let load_before = load_average();
    let cpu_before = cpu_times();
    let scratch = ctx("temporary directory", Scratch::new())?;
    let root = scratch.root();
    progress(&format!("{} run: preparing {}", plan.name, root.display()));
    let files = ctx("preparing the root", prepare(plan, &root))?;
    let workers = plan.workers();
    let args = server_args(&root, workers, &["--user", spec]);
    let srv = start_server(exe, &args, &scratch.dir.join("server.log"))?;
    settle(&srv, workers);
    let (idle_fresh, procs) = ctx("memory", memory(&srv))?;
    let mut b = Bench { plan, addr: srv.addr, user, pw, root, files, ceiling: None, rows: Vec::new() };
    let fresh = Row::new(format!("server PSS, idle, {procs} processes"), idle_fresh, "MiB", 1, 3);
    let steps: [(Step, &str); 6] = [
        (Step::Bulk, "raw TCP, RETR, STOR"),
        (Step::Small, "small files"),
        (Step::List, "listings"),
        (Step::Login, "logins"),
        (Step::Crowd, "many clients downloading at once"),
        (Step::Memory, "memory with idle clients"),
    ];
    for (step, what) in steps {
        if !wanted(step) {
            continue;
        }
        progress(what);
        match step {
            Step::Bulk => b.bulk()?,
            Step::Small => b.small()?,
            Step::List => b.list()?,
            Step::Login => b.logins()?,
            Step::Crowd => b.crowd()?,
            Step::Memory => {
                b.rows.push(fresh.clone());
                b.memory(&srv)?
            }
            Step::Argon2 | Step::Burst | Step::Flood | Step::Capacity | Step::Ftps => {}
        }
    }
    stop_server(srv);
    if wanted(Step::Argon2) {
        progress("logins with an argon2 users file");
        b.argon2(exe, &scratch)?;
    }
    if wanted(Step::Burst) {
        progress("a burst of logins against the default pool");
        b.burst(exe, &scratch)?;
    }
    if wanted(Step::Flood) {
        progress(&format!("a real client beside {} hostile connections", plan.flood_connections));
        b.flood(exe, &scratch)?;
    }
    if wanted(Step::Capacity) {
        progress("logged-in idle sessions in one pool");
        b.capacity(exe, &scratch)?;
    }
    if wanted(Step::Ftps) {
        progress("FTPS: encrypted copy, RETR, STOR, TLS logins, idle TLS sessions");
        b.ftps(exe, &scratch)?;
    }
    drop(scratch);
    let header = format!(
        "ftpbench ({}): {}; load average {load_before} at the start, {}; {:.0} s",
        plan.name,
        machine(),
        others_share(cpu_before, began.elapsed()),
        began.elapsed().as_secs_f64()
    );
    Ok((header, b.rows))
}
