//! The steps of `ftpbench` that start a server of their own, configured
//! for what they measure: logins against an argon2 users file, a burst
//! against the default pool (issue 15), the flood of hostile connections
//! (issue 10), the capacity in idle sessions, and FTPS (issue 12).

use std::path::Path;
use std::time::{Duration, Instant};

use super::client::{Ftp, READ_BUFFER};
use super::guard::{start_server, stop_server, Scratch};
use super::measure::{self, burst_logins, login_cycles, mb_per_s, memory, retr_big, settle, stor_big};
use super::report::{median, Row, Target};
use super::steps::{size_name, Bench};
use super::tls::{records_copy, rustls_copy, Tls};
use super::{ctx, hostile, progress, server_args, show_runs};
use crate::protocol::{Command, Password};

impl Bench<'_> {
    /// A burst against a cold pool (issue 15): a server with the default
    /// pool (8 workers, 4 spare), started afresh for each run, meets
    /// `burst_clients` clients connecting and logging in at the same instant.
    pub(super) fn burst(&mut self, exe: &Path, scratch: &Scratch) -> Result<(), String> {
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
    pub(super) fn ftps(&mut self, exe: &Path, scratch: &Scratch) -> Result<(), String> {
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
    pub(super) fn argon2(&mut self, exe: &Path, scratch: &Scratch) -> Result<(), String> {
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

    /// The flood of issue 10 against a server started with its defaults
    /// (anonymous, read-only), a real client beside it.
    pub(super) fn flood(&mut self, exe: &Path, scratch: &Scratch) -> Result<(), String> {
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
    pub(super) fn capacity(&mut self, exe: &Path, scratch: &Scratch) -> Result<(), String> {
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
