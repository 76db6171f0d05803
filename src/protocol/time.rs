//! Times on the wire: the `YYYYMMDDHHMMSS[.sss]` time-val of RFC 3659
//! section 2.3 (always UTC), as MDTM, MLSD's `modify=` fact, MFMT and MFF
//! (draft-somers-ftp-mfxx) carry it, and the civil date of a Unix time
//! that `ls -l` lines show, and the log formats that follow the same
//! conventions (xferlog, syslog). Pure; shared by server and client.

/// Civil date and time (UTC) of a Unix time: (year, month 1-12, day, h, m, s).
pub fn civil(secs: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, (rem / 3600) as u32, (rem % 3600 / 60) as u32, (rem % 60) as u32)
}

/// The English month abbreviations of `ls -l`, xferlog and syslog.
pub const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// Days since 1970-01-01 of a date of the proleptic Gregorian calendar
/// (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYYMMDDHHMMSS` in UTC (RFC 3659 section 2.3), for MDTM, `modify=`,
/// MFMT and MFF.
pub fn time_val(secs: i64) -> String {
    TimeVal(secs).to_string()
}

/// [`time_val`] written in place (`write!`), as MLSD does for each entry.
pub struct TimeVal(pub i64);

impl std::fmt::Display for TimeVal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (y, mo, d, h, mi, s) = civil(self.0);
        write!(f, "{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}")
    }
}

/// `YYYYMMDDHHMMSS[.sss]` (RFC 3659 section 2.3, UTC) as seconds since the
/// epoch; the fraction (1 to 3 digits) is checked and dropped. `None` when
/// it is not such a time, or not a date of the calendar's days (a month 13,
/// an hour 24; a leap second 60 is taken as the next second).
pub fn parse_time_val(s: &str) -> Option<i64> {
    let (whole, fraction) = match s.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (s, None),
    };
    if let Some(f) = fraction {
        if f.is_empty() || f.len() > 3 || !f.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
    }
    if whole.len() != 14 || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| whole[r].parse::<i64>().ok();
    let (y, mo, d, h, mi, se) = (n(0..4)?, n(4..6)?, n(6..8)?, n(8..10)?, n(10..12)?, n(12..14)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se)
}

/// Splits `TIME NAME` (vsftpd's MDTM with a time argument, and MFMT) into
/// the time and the name. `None` unless the first word is a time-val and a
/// name follows it.
pub fn split_time_arg(arg: &str) -> Option<(i64, &str)> {
    let (time, name) = arg.split_once(' ')?;
    let secs = parse_time_val(time)?;
    (!name.is_empty()).then_some((secs, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(time_val(951_782_400), "20000229000000");
        assert_eq!(time_val(1_795_000_000), "20261118110640");
        assert_eq!(civil(-1), (1969, 12, 31, 23, 59, 59));
    }

    /// RFC 3659 section 2.3: UTC, the fraction optional.
    #[test]
    fn times_round_trip_in_utc() {
        assert_eq!(parse_time_val("19700101000000"), Some(0));
        assert_eq!(parse_time_val("20000229235959.123"), Some(951_868_799));
        assert_eq!(time_val(951_868_799), "20000229235959");
        for t in [0, 1, 86_399, 1_700_000_000, 4_102_444_800, -86_401] {
            assert_eq!(parse_time_val(&time_val(t)), Some(t), "{t}");
        }
        for bad in ["2026013112", "20261301000000", "2026x101000000", "20260101000000.", "20260101000000.1234", ""] {
            assert_eq!(parse_time_val(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn time_arguments_split_from_their_name() {
        assert_eq!(split_time_arg("20000229235959 a b.txt"), Some((951_868_799, "a b.txt")));
        assert_eq!(split_time_arg("20000229235959"), None);
        assert_eq!(split_time_arg("20000229235959 "), None);
        assert_eq!(split_time_arg("notatime file"), None);
    }
}
