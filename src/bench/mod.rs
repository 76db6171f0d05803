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
//! steps. `measure` has one function per figure, [`client`] the FTP
//! client, [`pattern`] the content and checksums, [`server`] the server
//! under test, `report` the table and `guard` the clean-up.

pub(crate) mod client;
mod guard;
mod hostile;
mod measure;
pub(crate) mod pattern;
mod report;
pub(crate) mod server;
mod tls;

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use clap::Parser;

use crate::limits::{BENCH_QUICK_TIME_LIMIT, BENCH_TIME_LIMIT};
use crate::protocol::{Command, Password};
use client::{Ftp, READ_BUFFER};
use guard::{cleanup_now, start_server, start_watchdog, stop_server, Scratch};
use measure::{
    burst_logins, crowd, list_crowd, listing, login_cycles, mb_per_s, memory, prepare, raw_tcp, retr_big, settle,
    small_files, stor_big, Files,
};
use report::{cpu_times, load_average, machine, median, others_share, print_table, Row, Target};
use server::Server;
use tls::{records_copy, rustls_copy, Tls};

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

/// What the steps share.
struct Bench<'a> {
    plan: &'a Plan,
    addr: SocketAddr,
    user: &'a str,
    pw: &'a str,
    root: PathBuf,
    files: Files,
    ceiling: Option<f64>,
    rows: Vec<Row>,
}

fn size_name(b: u64) -> String {
    if b >= 1 << 30 {
        format!("{} GiB", b >> 30)
    } else {
        format!("{} MiB", b >> 20)
    }
}

impl Bench<'_> {
    fn login(&self) -> Result<Ftp, String> {
        ctx("login", Ftp::login(self.addr, self.user, self.pw))
    }

    fn login_to(&self, addr: SocketAddr) -> io::Result<Ftp> {
        Ftp::login(addr, self.user, self.pw)
    }

    fn with_ceiling(&self, row: Row) -> Row {
        match self.ceiling {
            Some(c) => row.ratio(c),
            None => row,
        }
    }

    fn bulk(&mut self) -> Result<(), String> {
        let plan = self.plan;
        let (mut raw, mut retr, mut stor) = (Vec::new(), Vec::new(), Vec::new());
        let (mut over, mut again) = (Vec::new(), Vec::new());
        let mut buf = vec![0u8; READ_BUFFER];
        let mut ftp = self.login()?;
        // One untimed upload first, for the reason `stor_big` gives.
        ctx("STOR", stor_big(&mut ftp, &self.root, plan, false, None))?;
        for run in 0..plan.runs_bulk {
            raw.push(mb_per_s(plan.raw_bytes, ctx("raw TCP", raw_tcp(plan.raw_bytes))?));
            retr.push(mb_per_s(plan.big_file, ctx("RETR", retr_big(&mut ftp, self.files.big, &mut buf, None))?));
            stor.push(mb_per_s(plan.big_file, ctx("STOR", stor_big(&mut ftp, &self.root, plan, false, None))?));
            // The same upload over the one just made, and once more over
            // that one (issue 15): see `stor_big` on the memory each gets.
            over.push(mb_per_s(plan.big_file, ctx("STOR over", stor_big(&mut ftp, &self.root, plan, true, None))?));
            again.push(mb_per_s(plan.big_file, ctx("STOR over", stor_big(&mut ftp, &self.root, plan, true, None))?));
            progress(&format!(
                "  run {}: raw {:.0}, RETR {:.0}, STOR {:.0}, over it {:.0}, again {:.0} MB/s",
                run + 1,
                raw[run],
                retr[run],
                stor[run],
                over[run],
                again[run]
            ));
        }
        ctx("QUIT", ftp.quit())?;
        ctx("removing the upload", std::fs::remove_file(self.root.join("up/upload.bin")))?;
        let ceiling = median(raw.clone());
        self.ceiling = Some(ceiling);
        let rb = plan.runs_bulk;
        let raw_name = format!("raw loopback TCP, {} (the ceiling)", size_name(plan.raw_bytes));
        self.rows.push(Row::new(raw_name, ceiling, "MB/s", 0, rb));
        // Each run's transfer against the raw TCP run just before it: the
        // pairs share whatever the machine was doing, so the median of
        // their ratios is steadier than a ratio of medians.
        let ratio = |v: &[f64]| median(v.iter().zip(&raw).map(|(x, r)| x / r).collect());
        let big = size_name(plan.big_file);
        let row = Row::new(format!("RETR {big}"), median(retr.clone()), "MB/s", 0, rb).with_ratio(ratio(&retr));
        self.rows.push(row.target(Target::Ratio(0.85), ">= 0.85"));
        let row = Row::new(format!("STOR {big}"), median(stor.clone()), "MB/s", 0, rb).with_ratio(ratio(&stor));
        self.rows.push(row.target(Target::Ratio(0.75), ">= 0.75"));
        let what = format!("STOR {big} over the file just stored");
        self.rows.push(Row::new(what, median(over.clone()), "MB/s", 0, rb).with_ratio(ratio(&over)));
        let what = format!("STOR {big} over it again (repeated STORs)");
        self.rows.push(Row::new(what, median(again.clone()), "MB/s", 0, rb).with_ratio(ratio(&again)));
        // Each repeated overwrite against the fresh upload of its run.
        let share = median(again.iter().zip(&stor).map(|(o, f)| o / f).collect());
        let row = Row::new("  the same, as a share of a fresh STOR", share, "", 2, rb);
        self.rows.push(row.target(Target::AtLeast(0.8), ">= 0.80"));
        Ok(())
    }

    fn small(&mut self) -> Result<(), String> {
        let plan = self.plan;
        let mut buf = vec![0u8; READ_BUFFER];
        let mut ftp = self.login()?;
        let mut v = Vec::new();
        for _ in 0..plan.runs_fast {
            v.push(ctx("small files", small_files(&mut ftp, &self.files, &mut buf))?);
        }
        show_runs("small files/s", &v);
        ctx("QUIT", ftp.quit())?;
        let what = format!("RETR {} files of {} KiB, one session", plan.small_files, plan.small_size >> 10);
        let row = Row::new(what, median(v), "files/s", 0, plan.runs_fast);
        self.rows.push(row.target(Target::AtLeast(4000.0), "> 4000/s"));
        Ok(())
    }

    fn list(&mut self) -> Result<(), String> {
        let plan = self.plan;
        let mut ftp = self.login()?;
        for c in [Command::List(Some("dir".into())), Command::Nlst(Some("dir".into()))] {
            let verb = c.verb();
            let mut v = Vec::new();
            for _ in 0..plan.runs_fast {
                v.push(ctx(&verb, listing(&mut ftp, &c, plan.dir_entries))?);
            }
            show_runs(&format!("{verb} ms"), &v);
            let mut row =
                Row::new(format!("{verb} of {} entries", plan.dir_entries), median(v), "ms", 1, plan.runs_fast);
            if matches!(c, Command::List(_)) {
                row = row.target(Target::AtMost(20.0), "< 20 ms");
            }
            self.rows.push(row);
        }
        ctx("QUIT", ftp.quit())
    }

    fn logins(&mut self) -> Result<(), String> {
        let plan = self.plan;
        let (mut one, mut many) = (Vec::new(), Vec::new());
        for _ in 0..plan.runs_fast {
            let r = login_cycles(self.addr, (self.user, self.pw), None, 1, plan.login_cycles_one, plan.login_time);
            one.push(ctx("logins", r)?);
            let r = login_cycles(
                self.addr,
                (self.user, self.pw),
                None,
                plan.login_clients,
                plan.login_cycles_many,
                plan.login_time,
            );
            many.push(ctx("logins", r)?);
        }
        show_runs("logins/s, 1 client", &one);
        show_runs("logins/s, many clients", &many);
        self.rows.push(Row::new("connect+login+QUIT, 1 client", median(one), "/s", 0, plan.runs_fast));
        let what = format!("connect+login+QUIT, {} clients at once", plan.login_clients);
        let row = Row::new(what, median(many), "/s", 0, plan.runs_fast);
        self.rows.push(row.target(Target::AtLeast(5000.0), ">= 5000/s"));
        Ok(())
    }

    fn crowd(&mut self) -> Result<(), String> {
        let plan = self.plan;
        let mut v = Vec::new();
        for _ in 0..plan.runs_bulk {
            let r = crowd(self.addr, self.user, self.pw, plan.crowd_clients, "crowd.bin", self.files.crowd);
            v.push(ctx("crowd", r)?);
        }
        show_runs("crowd MB/s", &v);
        let what = format!("{} clients RETR {} at once, in all", plan.crowd_clients, size_name(plan.crowd_file));
        let row = self.with_ceiling(Row::new(what, median(v), "MB/s", 0, plan.runs_bulk));
        self.rows.push(row);
        Ok(())
    }

    fn memory(&mut self, srv: &Server) -> Result<(), String> {
        let plan = self.plan;
        // Many workers now serve sessions with big buffers in use (twice:
        // glibc serves a big buffer from fresh memory the first time, from
        // its heap afterwards); what they keep afterwards shows here.
        for _ in 0..2 {
            let r = list_crowd(self.addr, self.user, self.pw, plan.idle_clients, plan.dir_entries);
            ctx("clients listing at once", r)?;
        }
        let (idle_after, _) = ctx("memory", memory(srv))?;
        let what = format!("server PSS, idle after all that and 2 x {} LISTs", plan.idle_clients);
        self.rows.push(Row::new(what, idle_after, "MiB", 1, 3));
        let mut idle = Vec::new();
        for _ in 0..plan.idle_clients {
            idle.push(self.login()?);
        }
        let (busy, _) = ctx("memory", memory(srv))?;
        for f in idle {
            ctx("QUIT", f.quit())?;
        }
        let what = format!("server PSS, {} logged-in idle clients", plan.idle_clients);
        self.rows.push(Row::new(what, busy, "MiB", 1, 3).target(Target::AtMost(25.0), "<= 25 MiB"));
        Ok(())
    }

    /// A burst against a cold pool (issue 15): a server with the default
    /// pool (8 workers, 4 spare), started afresh for each run, meets
    /// `burst_clients` clients connecting and logging in at the same instant.
    fn burst(&mut self, exe: &Path, scratch: &Scratch) -> Result<(), String> {
        let plan = self.plan;
        let spec = format!("{}:{}", self.user, self.pw);
        // The default pool; no per-address limit: every client of the
        // benchmark comes from 127.0.0.1.
        let root = self.root.display().to_string();
        let args: Vec<String> =
            ["--root", &root, "--no-anonymous", "--user", &spec, "--max-per-ip", "0"].map(String::from).to_vec();
        let mut v = Vec::new();
        for _ in 0..plan.runs_fast {
            let srv = start_server(exe, &args, &scratch.dir.join("server-burst.log"))?;
            settle(&srv, crate::limits::DEFAULT_WORKERS);
            let r = burst_logins(srv.addr, self.user, self.pw, plan.burst_clients);
            stop_server(srv);
            v.push(ctx("burst", r)?);
        }
        show_runs("burst ms", &v);
        let what = format!("{} clients connect+login at once, default pool", plan.burst_clients);
        let row = Row::new(what, median(v), "ms", 1, plan.runs_fast);
        self.rows.push(row.target(Target::AtMost(50.0), "<= 50 ms"));
        Ok(())
    }

    /// FTPS (issue 12): a server with a certificate of `ftpserver gencert`
    /// and our client (explicit FTPS, data connections resuming the control
    /// connection's session); RETR and STOR each against the encrypted
    /// loopback copy of the same run (records sealed and opened in place,
    /// the server's own way, with the suite the data connections get), as
    /// the plain ones are against raw TCP; TLS logins; and the memory of
    /// idle TLS sessions against as many plain ones on the same server.
    fn ftps(&mut self, exe: &Path, scratch: &Scratch) -> Result<(), String> {
        let plan = self.plan;
        let (cert, key) = (scratch.dir.join("cert.pem"), scratch.dir.join("key.pem"));
        let made = std::process::Command::new(exe)
            .args(["gencert", "--force", "--name", "127.0.0.1", "--cert"])
            .arg(&cert)
            .arg("--key")
            .arg(&key)
            .stdout(std::process::Stdio::null())
            .status()
            .map_err(|e| format!("ftpserver gencert: {e}"))?;
        if !made.success() {
            return Err(format!("ftpserver gencert: {made}"));
        }
        let tls = ctx("TLS configuration", Tls::new(&cert, &key))?;
        let spec = format!("{}:{}", self.user, self.pw);
        let (c, k) = (cert.display().to_string(), key.display().to_string());
        let args = server_args(&self.root, plan.workers(), &["--user", &spec, "--tls-cert", &c, "--tls-key", &k]);
        let srv = start_server(exe, &args, &scratch.dir.join("server-ftps.log"))?;
        settle(&srv, plan.workers());
        // Idle sessions first, on the fresh pool: plain ones, then as many
        // with TLS on control and data (PROT P).
        let mut pss = Vec::new();
        for encrypted in [false, true] {
            let mut idle = Vec::new();
            for _ in 0..plan.idle_clients {
                idle.push(ctx(
                    "login",
                    if encrypted {
                        Ftp::login_tls(srv.addr, self.user, self.pw, &tls)
                    } else {
                        self.login_to(srv.addr)
                    },
                )?);
            }
            pss.push(ctx("memory", memory(&srv))?.0);
            for f in idle {
                ctx("QUIT", f.quit())?;
            }
        }
        let (mut ceil, mut streams, mut retr, mut stor) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut suite = String::new();
        let mut buf = Vec::new();
        let mut ftp = ctx("TLS login", Ftp::login_tls(srv.addr, self.user, self.pw, &tls))?;
        ctx("STOR over TLS", stor_big(&mut ftp, &self.root, plan, false, Some(&tls)))?;
        for run in 0..plan.runs_bulk {
            let (t, s) = ctx("encrypted copy", records_copy(plan.raw_bytes, &tls))?;
            suite = s;
            ceil.push(mb_per_s(plan.raw_bytes, t));
            streams.push(mb_per_s(plan.raw_bytes, ctx("rustls copy", rustls_copy(plan.raw_bytes, &tls))?));
            let t = ctx("RETR over TLS", retr_big(&mut ftp, self.files.big, &mut buf, Some(&tls)))?;
            retr.push(mb_per_s(plan.big_file, t));
            let t = ctx("STOR over TLS", stor_big(&mut ftp, &self.root, plan, false, Some(&tls)))?;
            stor.push(mb_per_s(plan.big_file, t));
            progress(&format!(
                "  run {}: encrypted copy {:.0} (rustls streams {:.0}), RETR {:.0}, STOR {:.0} MB/s",
                run + 1,
                ceil[run],
                streams[run],
                retr[run],
                stor[run]
            ));
        }
        ctx("QUIT", ftp.quit())?;
        ctx("removing the upload", std::fs::remove_file(self.root.join("up/upload.bin")))?;
        let rb = plan.runs_bulk;
        let ratio = |v: &[f64]| median(v.iter().zip(&ceil).map(|(x, c)| x / c).collect());
        let what = format!("encrypted loopback copy, {}, {suite} (the FTPS ceiling)", size_name(plan.raw_bytes));
        self.rows.push(Row::new(what, median(ceil.clone()), "MB/s", 0, rb));
        let what = "  the same through rustls's own streams";
        self.rows.push(Row::new(what, median(streams.clone()), "MB/s", 0, rb).with_ratio(ratio(&streams)));
        let big = size_name(plan.big_file);
        let row = Row::new(format!("FTPS RETR {big}"), median(retr.clone()), "MB/s", 0, rb).with_ratio(ratio(&retr));
        self.rows.push(row.target(Target::Ratio(0.75), ">= 0.75"));
        let row = Row::new(format!("FTPS STOR {big}"), median(stor.clone()), "MB/s", 0, rb).with_ratio(ratio(&stor));
        self.rows.push(row.target(Target::Ratio(0.6), ">= 0.60"));
        let (mut one, mut many) = (Vec::new(), Vec::new());
        let who = (self.user, self.pw);
        for _ in 0..plan.runs_fast {
            let r = login_cycles(srv.addr, who, Some(&tls), 1, plan.login_cycles_one, plan.login_time);
            one.push(ctx("TLS logins", r)?);
            let r =
                login_cycles(srv.addr, who, Some(&tls), plan.login_clients, plan.login_cycles_many, plan.login_time);
            many.push(ctx("TLS logins", r)?);
        }
        show_runs("TLS logins/s, 1 client", &one);
        show_runs("TLS logins/s, many clients", &many);
        let what = "connect+AUTH TLS+login+QUIT, 1 client";
        self.rows.push(Row::new(what, median(one), "/s", 0, plan.runs_fast));
        let what = format!("connect+AUTH TLS+login+QUIT, {} clients at once", plan.login_clients);
        self.rows.push(Row::new(what, median(many), "/s", 0, plan.runs_fast));
        stop_server(srv);
        let what = format!("server PSS, {} idle TLS sessions (PROT P), x of as many plain", plan.idle_clients);
        let row = Row::new(what, pss[1], "MiB", 1, 3).with_ratio(pss[1] / pss[0]);
        self.rows.push(row.target(Target::RatioAtMost(2.0), "<= 2x plain"));
        Ok(())
    }

    /// The argon2 users file: a login costs what it is meant to cost.
    fn argon2(&mut self, exe: &Path, scratch: &Scratch) -> Result<(), String> {
        let plan = self.plan;
        let line = crate::accounts::users_line(
            self.user,
            &Password::new(self.pw),
            "",
            &crate::accounts::Perms::ALL,
            &crate::accounts::Limits::default(),
        )?;
        let users = scratch.dir.join("users");
        ctx("users file", std::fs::write(&users, format!("{line}\n")))?;
        let args = server_args(&self.root, plan.workers(), &["--users", &users.display().to_string()]);
        let srv = start_server(exe, &args, &scratch.dir.join("server-argon2.log"))?;
        let (mut one, mut many) = (Vec::new(), Vec::new());
        let slow = plan.login_time * 4;
        for _ in 0..plan.argon2_runs {
            let r = login_cycles(srv.addr, (self.user, self.pw), None, 1, plan.argon2_cycles_one, slow);
            one.push(ctx("argon2 logins", r)?);
            let r =
                login_cycles(srv.addr, (self.user, self.pw), None, plan.login_clients, plan.argon2_cycles_many, slow);
            many.push(ctx("argon2 logins", r)?);
        }
        // Each login needs argon2's 19 MiB while the password is checked:
        // none of it may stay with an idle session.
        let mut idle = Vec::new();
        for _ in 0..plan.idle_clients {
            idle.push(ctx("argon2 login", Ftp::login(srv.addr, self.user, self.pw))?);
        }
        let (pss, _) = ctx("memory", memory(&srv))?;
        for f in idle {
            ctx("QUIT", f.quit())?;
        }
        stop_server(srv);
        let what = "connect+login+QUIT, argon2 users file, 1 client";
        self.rows.push(Row::new(what, median(one), "/s", 1, plan.argon2_runs));
        let what = format!("connect+login+QUIT, argon2 users file, {} clients", plan.login_clients);
        self.rows.push(Row::new(what, median(many), "/s", 1, plan.argon2_runs));
        let what = format!("server PSS, argon2 users file, {} idle clients", plan.idle_clients);
        self.rows.push(Row::new(what, pss, "MiB", 1, 3));
        Ok(())
    }
}

impl Bench<'_> {
    /// The flood of issue 10 against a server started with its defaults
    /// (anonymous, read-only), a real client beside it.
    fn flood(&mut self, exe: &Path, scratch: &Scratch) -> Result<(), String> {
        let plan = self.plan;
        let n = plan.flood_connections;
        let (allowed, why) = hostile::sessions_allowed(n + 64);
        if let Some(why) = why {
            return Err(format!("the flood needs {n} connections, {why} {allowed}"));
        }
        let args = vec!["--root".to_string(), self.root.display().to_string()];
        let srv = start_server(exe, &args, &scratch.dir.join("server-flood.log"))?;
        let flood = hostile::Flood::start(srv.addr, n, plan.time_limit);
        // The pool grows to take them all (their workers wait for them).
        let ramp = Instant::now();
        let grown = hostile::wait_workers(&srv, n, Duration::from_secs(60));
        progress(&format!("  {} workers after {:.1} s", srv.workers(), ramp.elapsed().as_secs_f64()));
        if !grown {
            flood.stop();
            return Err(format!("the pool did not grow to {n} workers"));
        }
        let (mut worst, mut pss, mut ok) = (Duration::ZERO, 0.0f64, 0);
        let mut buf = vec![0u8; READ_BUFFER];
        for round in 0..plan.flood_rounds {
            let t = Instant::now();
            let mut ftp = ctx("the real client", Ftp::login(srv.addr, "anonymous", "bench@example.com"))?;
            worst = worst.max(t.elapsed());
            let got = ftp.download(&Command::Retr("crowd.bin".into()), &mut buf, self.files.crowd.len);
            ctx("the real client's download", got.and_then(|g| measure::verify("crowd.bin", g, self.files.crowd)))?;
            ctx("QUIT", ftp.quit())?;
            ok += 1;
            if round % 5 == 0 {
                pss = pss.max(ctx("memory", srv.pss())?.0 as f64 / (1 << 20) as f64);
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        pss = pss.max(ctx("memory", srv.pss())?.0 as f64 / (1 << 20) as f64);
        let opened = flood.stop();
        stop_server(srv);
        progress(&format!("  {opened} hostile connections opened, worst login {:.0} ms", worst.as_secs_f64() * 1e3));
        let what = format!(
            "{n} silent, non-reading, trickling connections (defaults): real client greeted+logged in, worst of {}",
            plan.flood_rounds
        );
        let row = Row::new(what, worst.as_secs_f64() * 1e3, "ms", 0, plan.flood_rounds);
        self.rows.push(row.target(Target::AtMost(2000.0), "< 2 s"));
        let what = format!("  the same: its downloads of {}, checked byte for byte", size_name(plan.crowd_file));
        self.rows.push(Row::new(what, ok as f64, "exact", 0, plan.flood_rounds));
        let what = format!("  the same: server PSS, {n} hostile connections");
        self.rows.push(
            Row::new(what, pss, "MiB", 1, 1 + plan.flood_rounds.div_ceil(5)).target(Target::AtMost(400.0), "< 400 MiB"),
        );
        Ok(())
    }

    /// N logged-in idle sessions in one pool: the worst greeting and the PSS.
    fn capacity(&mut self, exe: &Path, scratch: &Scratch) -> Result<(), String> {
        for wanted in self.plan.capacity {
            let (n, why) = hostile::sessions_allowed(wanted);
            // The default pool sizes, room for every session, no per-address limit.
            let args: Vec<String> = [
                "--root",
                &self.root.display().to_string(),
                "--no-anonymous",
                "--user",
                &format!("{}:{}", self.user, self.pw),
                "--max-workers",
                &(n + 64).to_string(),
                "--max-per-ip",
                "0",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            let srv = start_server(exe, &args, &scratch.dir.join(format!("server-capacity-{n}.log")))?;
            let t = Instant::now();
            let (sessions, worst) = ctx("sessions", hostile::open_sessions(srv.addr, self.user, self.pw, n, 16))?;
            let took = t.elapsed();
            let (pss, procs) = ctx("memory", memory(&srv))?;
            progress(&format!(
                "  {n} sessions in {:.1} s, worst greeting {:.0} ms, {pss:.0} MiB in {procs} processes",
                took.as_secs_f64(),
                worst.as_secs_f64() * 1e3
            ));
            drop(sessions);
            stop_server(srv);
            let note = why.map_or(String::new(), |w| format!(" ({w}; {wanted} asked)"));
            let what = format!("{n} logged-in idle sessions{note}: worst greeting");
            self.rows
                .push(Row::new(what, worst.as_secs_f64() * 1e3, "ms", 0, 1).target(Target::AtMost(1000.0), "< 1 s"));
            let what = format!("  the same: server PSS, {procs} processes");
            let row = Row::new(what, pss, "MiB", 0, 3);
            self.rows.push(if n >= 10_000 { row.target(Target::AtMost(1024.0), "< 1 GiB") } else { row });
        }
        Ok(())
    }
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
