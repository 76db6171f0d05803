//! The table: medians, rows with their targets, and the machine they were
//! measured on.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::Plan;

/// The median of some runs.
pub(super) fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Whether a target holds.
#[derive(Clone, Copy, Debug)]
pub(super) enum Target {
    /// At least this ratio to the ceiling (raw TCP, or the encrypted copy).
    Ratio(f64),
    /// At most this ratio (to what the row says).
    RatioAtMost(f64),
    /// At least this value.
    AtLeast(f64),
    /// At most this value.
    AtMost(f64),
    /// None.
    None,
}

/// One line of the table.
#[derive(Clone)]
pub(super) struct Row {
    what: String,
    value: f64,
    unit: &'static str,
    decimals: usize,
    ratio: Option<f64>,
    target: Target,
    target_text: &'static str,
    runs: usize,
}

impl Row {
    pub(super) fn new(what: impl Into<String>, value: f64, unit: &'static str, decimals: usize, runs: usize) -> Row {
        Row { what: what.into(), value, unit, decimals, ratio: None, target: Target::None, target_text: "", runs }
    }

    pub(super) fn ratio(mut self, ceiling: f64) -> Row {
        self.ratio = Some(self.value / ceiling);
        self
    }

    /// The ratio given as is (the median of per-run ratios).
    pub(super) fn with_ratio(mut self, ratio: f64) -> Row {
        self.ratio = Some(ratio);
        self
    }

    pub(super) fn target(mut self, t: Target, text: &'static str) -> Row {
        self.target = t;
        self.target_text = text;
        self
    }

    fn verdict(&self) -> &'static str {
        let ok = match self.target {
            Target::Ratio(r) => self.ratio.is_some_and(|x| x >= r),
            Target::RatioAtMost(r) => self.ratio.is_some_and(|x| x <= r),
            Target::AtLeast(v) => self.value >= v,
            Target::AtMost(v) => self.value <= v,
            Target::None => return "",
        };
        if ok {
            " met"
        } else {
            " MISSED"
        }
    }
}

pub(super) fn print_table(plan: &Plan, header: &str, rows: &[Row]) {
    println!("{header}");
    println!();
    let judged = plan.name == "full";
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|r| {
            let target = if r.target_text.is_empty() {
                String::new()
            } else if judged {
                format!("{}{}", r.target_text, r.verdict())
            } else {
                format!("({})", r.target_text)
            };
            [
                r.what.clone(),
                format!("{:.*} {}", r.decimals, r.value, r.unit).trim_end().to_string(),
                r.ratio.map_or(String::new(), |x| format!("{x:.2}")),
                target,
                r.runs.to_string(),
            ]
        })
        .collect();
    let head = ["measurement", "result", "vs ceiling", "target", "runs"];
    let mut w = head.map(str::len);
    for c in &cells {
        for (i, s) in c.iter().enumerate() {
            w[i] = w[i].max(s.chars().count());
        }
    }
    let line = |c: &[String; 5]| {
        let pad = |i: usize| {
            let n = w[i] - c[i].chars().count();
            if i == 0 || i == 3 {
                format!("{}{}", c[i], " ".repeat(n))
            } else {
                format!("{}{}", " ".repeat(n), c[i])
            }
        };
        println!("| {} | {} | {} | {} | {} |", pad(0), pad(1), pad(2), pad(3), pad(4));
    };
    line(&head.map(String::from));
    println!(
        "|{}|{}:|{}:|{}|{}:|",
        "-".repeat(w[0] + 2),
        "-".repeat(w[1] + 1),
        "-".repeat(w[2] + 1),
        "-".repeat(w[3] + 2),
        "-".repeat(w[4] + 1)
    );
    for c in &cells {
        line(c);
    }
}

pub(super) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

pub(super) fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel: String =
        std::fs::read_to_string("/proc/sys/kernel/osrelease").map_or_else(|_| "?".into(), |s| s.trim().into());
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let (y, mo, d, h, mi, _) = crate::protocol::time::civil(now);
    format!("{cores} cores, Linux {kernel}, {y:04}-{mo:02}-{d:02} {h:02}:{mi:02} UTC")
}

/// CPU time in clock ticks, from `/proc`.
#[derive(Clone, Copy, Default)]
pub(super) struct CpuTimes {
    /// Of the whole machine: user, nice and system (interrupts are left
    /// out: on loopback they are mostly the benchmark's own packets).
    busy: u64,
    /// Taken by the hypervisor for other machines.
    steal: u64,
    /// Of this process and the children it has reaped (the servers).
    mine: u64,
}

pub(super) fn cpu_times() -> CpuTimes {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    // cpu user nice system idle iowait irq softirq steal ...
    let v: Vec<u64> =
        stat.lines().next().unwrap_or("").split_whitespace().skip(1).map(|x| x.parse().unwrap_or(0)).collect();
    let at = |i: usize| v.get(i).copied().unwrap_or(0);
    let me = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // After "pid (comm) ": state is field 0, utime 11, stime 12, cutime 13, cstime 14.
    let f: Vec<&str> = me.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let mine = (11..15).map(|i| f.get(i).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0)).sum();
    CpuTimes { busy: at(0) + at(1) + at(2), steal: at(7), mine }
}

/// How much of the machine other processes (and the hypervisor) used since
/// `before`, over `elapsed`: the load average cannot tell the benchmark's
/// own load from theirs.
pub(super) fn others_share(before: CpuTimes, elapsed: Duration) -> String {
    let after = cpu_times();
    let tick = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok().flatten().unwrap_or(100) as f64;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let share = |ticks: u64| 100.0 * ticks as f64 / tick / (cores * elapsed.as_secs_f64());
    let others = (after.busy - before.busy).saturating_sub(after.mine - before.mine);
    let mut text = format!("other processes used {:.0}% of the CPUs meanwhile", share(others));
    let steal = share(after.steal - before.steal);
    if steal >= 1.0 {
        text.push_str(&format!(", the hypervisor {steal:.0}%"));
    }
    text
}
