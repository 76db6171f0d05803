//! The steps of `ftpbench` that share the one server started at the
//! beginning (bulk transfers against raw TCP, small files, listings,
//! logins, a crowd of downloads, memory), and [`Bench`], what every step
//! shares: the plan, the account, the prepared root and the rows of the
//! table so far.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use super::client::{Ftp, READ_BUFFER};
use super::measure::{
    crowd, list_crowd, listing, login_cycles, mb_per_s, memory, raw_tcp, retr_big, small_files, stor_big, Files,
};
use super::report::{median, Row, Target};
use super::server::Server;
use super::{ctx, progress, show_runs, Plan};
use crate::protocol::Command;

/// What the steps share.
pub(super) struct Bench<'a> {
    pub(super) plan: &'a Plan,
    pub(super) addr: SocketAddr,
    pub(super) user: &'a str,
    pub(super) pw: &'a str,
    pub(super) root: PathBuf,
    pub(super) files: Files,
    pub(super) ceiling: Option<f64>,
    pub(super) rows: Vec<Row>,
}

pub(super) fn size_name(b: u64) -> String {
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

    pub(super) fn login_to(&self, addr: SocketAddr) -> io::Result<Ftp> {
        Ftp::login(addr, self.user, self.pw)
    }

    fn with_ceiling(&self, row: Row) -> Row {
        match self.ceiling {
            Some(c) => row.ratio(c),
            None => row,
        }
    }

    pub(super) fn bulk(&mut self) -> Result<(), String> {
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

    pub(super) fn small(&mut self) -> Result<(), String> {
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

    pub(super) fn list(&mut self) -> Result<(), String> {
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

    pub(super) fn logins(&mut self) -> Result<(), String> {
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

    pub(super) fn crowd(&mut self) -> Result<(), String> {
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

    pub(super) fn memory(&mut self, srv: &Server) -> Result<(), String> {
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
}
