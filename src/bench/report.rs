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
    /// At least this ratio to raw TCP.
    Ratio(f64),
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

    pub(super) fn target(mut self, t: Target, text: &'static str) -> Row {
        self.target = t;
        self.target_text = text;
        self
    }

    fn verdict(&self) -> &'static str {
        let ok = match self.target {
            Target::Ratio(r) => self.ratio.is_some_and(|x| x >= r),
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
                format!("{:.*} {}", r.decimals, r.value, r.unit),
                r.ratio.map_or(String::new(), |x| format!("{x:.2}")),
                target,
                r.runs.to_string(),
            ]
        })
        .collect();
    let head = ["measurement", "result", "vs raw TCP", "target", "runs"];
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
    let (y, mo, d, h, mi, _) = crate::server::listing::civil(now);
    format!("{cores} cores, Linux {kernel}, {y:04}-{mo:02}-{d:02} {h:02}:{mi:02} UTC")
}

/// (all busy CPU time of the machine, CPU time of this process and its
/// reaped children), in clock ticks.
pub(super) fn cpu_times() -> (u64, u64) {
    let busy = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            let line = s.lines().next()?.to_string();
            let v: Vec<u64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
            // user nice system idle iowait irq softirq steal: all but idle and iowait.
            Some(v.iter().enumerate().filter(|(i, _)| *i != 3 && *i != 4).map(|(_, x)| x).sum())
        })
        .unwrap_or(0);
    let mine = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit(')').next()?.to_string();
            let f: Vec<u64> = rest.split_whitespace().filter_map(|x| x.parse().ok()).collect();
            // After the state field: utime is field 14 of stat, i.e. index 11 here.
            Some(f.get(10..14)?.iter().sum())
        })
        .unwrap_or(0);
    (busy, mine)
}

/// How much of the machine other processes used since `before`, over
/// `elapsed`: the load average cannot tell the benchmark's own load from
/// theirs.
pub(super) fn others_share(before: (u64, u64), elapsed: Duration) -> String {
    let after = cpu_times();
    let tick = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok().flatten().unwrap_or(100) as f64;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let others = after.0.saturating_sub(before.0).saturating_sub(after.1.saturating_sub(before.1)) as f64 / tick;
    format!("other processes used {:.0}% of the CPUs during the run", 100.0 * others / (cores * elapsed.as_secs_f64()))
}
