//! Remote directory listings read by the client (pure, no I/O): MLSD lines
//! (RFC 3659 section 7), `ls -l` lines of LIST for servers without MLSD
//! (vsftpd), and the `YYYYMMDDHHMMSS` times of MDTM, MLSD and MFMT (RFC 3659
//! section 2.3, always UTC).

/// What a listing says an entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// Anything else (a link, a device, an unknown type): trees skip it.
    Other,
}

/// One entry of a remote directory, its name not yet checked (see
/// [`super::names::check_remote_name`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The name as the server gave it.
    pub name: String,
    /// File, directory or other.
    pub kind: Kind,
    /// Size in bytes, when listed.
    pub size: Option<u64>,
    /// Modification time, seconds since the Unix epoch, when listed to the
    /// second (MLSD `modify=`; LIST times are too coarse and not used).
    pub mtime: Option<i64>,
}

/// One MLSD line: `fact=value;fact=value; name` (RFC 3659 section 7.2).
/// The `.` and `..` entries (`type=cdir`, `type=pdir`) give `None`, as does
/// a line without the space before the name.
pub fn parse_mlsd_line(line: &str) -> Option<Entry> {
    let (facts, name) = line.split_once(' ')?;
    let mut entry = Entry { name: name.to_string(), kind: Kind::Other, size: None, mtime: None };
    for fact in facts.split(';').filter(|f| !f.is_empty()) {
        let (key, value) = fact.split_once('=')?;
        match key.to_ascii_lowercase().as_str() {
            "type" => {
                entry.kind = match value.to_ascii_lowercase().as_str() {
                    "file" => Kind::File,
                    "dir" => Kind::Dir,
                    "cdir" | "pdir" => return None,
                    _ => Kind::Other,
                }
            }
            "size" => entry.size = value.parse().ok(),
            "modify" => entry.mtime = parse_time(value),
            _ => {}
        }
    }
    Some(entry)
}

/// One line of a Unix `ls -l` listing (LIST): `drwxr-xr-x 2 u g 4096 Jan 1
/// 12:00 name`. Links (`l`) are [`Kind::Other`] with the ` -> target` left
/// in the name; `total N` lines and other formats give `None`.
pub fn parse_list_line(line: &str) -> Option<Entry> {
    let kind = match line.chars().next()? {
        '-' => Kind::File,
        'd' => Kind::Dir,
        'l' | 'c' | 'b' | 'p' | 's' => Kind::Other,
        _ => return None,
    };
    // Eight blank-separated fields come before the name, which may itself
    // hold blanks: mode, links, owner, group, size, month, day, time/year.
    let mut rest = line;
    let mut fields = Vec::with_capacity(8);
    for _ in 0..8 {
        rest = rest.trim_start_matches(' ');
        let end = rest.find(' ')?;
        fields.push(&rest[..end]);
        rest = &rest[end..];
    }
    let name = rest.strip_prefix(' ')?.to_string();
    let size = fields[4].parse().ok();
    (!name.is_empty()).then_some(Entry { name, kind, size, mtime: None })
}

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

/// The date of a day counted from 1970-01-01 (`civil_from_days`).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `YYYYMMDDHHMMSS[.sss]` (RFC 3659 section 2.3, UTC) as seconds since the
/// epoch; the fraction is dropped. `None` when it is not such a time.
pub fn parse_time(s: &str) -> Option<i64> {
    let whole = s.split('.').next()?;
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

/// Seconds since the epoch as `YYYYMMDDHHMMSS` (UTC), for MFMT.
pub fn format_time(secs: i64) -> String {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!("{y:04}{m:02}{d:02}{:02}{:02}{:02}", s / 3600, s / 60 % 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 3659 section 7.7.4's example lines.
    #[test]
    fn mlsd_lines_give_kind_size_time_and_name() {
        let e = parse_mlsd_line("type=file;size=10;modify=20260129123456;perm=r; my file.txt").unwrap();
        assert_eq!(e.name, "my file.txt");
        assert_eq!((e.kind, e.size), (Kind::File, Some(10)));
        assert_eq!(e.mtime, parse_time("20260129123456"));
        assert_eq!(parse_mlsd_line("Type=dir;Modify=19990929011250; sub").unwrap().kind, Kind::Dir);
        assert_eq!(parse_mlsd_line("type=OS.unix=slink:/x; l").unwrap().kind, Kind::Other);
        assert_eq!(parse_mlsd_line("type=cdir; ."), None);
        assert_eq!(parse_mlsd_line("type=pdir; .."), None);
        assert_eq!(parse_mlsd_line("no-space"), None);
        // The name is kept as sent: checking it is the caller's job.
        assert_eq!(parse_mlsd_line("type=file; ../evil").unwrap().name, "../evil");
    }

    #[test]
    fn ls_lines_give_kind_size_and_names_with_blanks() {
        let e = parse_list_line("-rw-r--r--    1 ftp  ftp   1234 Jan 01 12:00 a  b.txt").unwrap();
        assert_eq!((e.name.as_str(), e.kind, e.size), ("a  b.txt", Kind::File, Some(1234)));
        assert_eq!(parse_list_line("drwxr-xr-x 2 0 0 4096 Feb  3  2024 sub").unwrap().kind, Kind::Dir);
        assert_eq!(parse_list_line("lrwxrwxrwx 1 0 0 4 Feb 3 2024 l -> /etc").unwrap().kind, Kind::Other);
        assert_eq!(parse_list_line("total 12"), None);
        assert_eq!(parse_list_line("-rw-r--r-- 1 a b"), None);
    }

    #[test]
    fn times_round_trip_in_utc() {
        assert_eq!(parse_time("19700101000000"), Some(0));
        assert_eq!(parse_time("20000229235959.123"), Some(951_868_799));
        assert_eq!(format_time(951_868_799), "20000229235959");
        for t in [0, 1, 86_399, 1_700_000_000, 4_102_444_800, -86_401] {
            assert_eq!(parse_time(&format_time(t)), Some(t), "{t}");
        }
        assert_eq!(parse_time("2026013112"), None);
        assert_eq!(parse_time("20261301000000"), None);
        assert_eq!(parse_time("2026x101000000"), None);
    }
}
