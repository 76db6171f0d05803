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

pub use crate::protocol::time::parse_time_val as parse_time;

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
}
