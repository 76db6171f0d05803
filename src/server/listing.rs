//! Directory listings: LIST (`ls -l` lines), NLST (names), MLSD/MLST facts
//! (RFC 3659 section 7); dates and times come from `protocol::time`.
//!
//! A directory is read once through its descriptor, each entry stat'ed with
//! `fstatat` relative to it, and lines are formatted into the caller's
//! buffer a chunk at a time, so a huge directory streams in constant memory.

use std::io::Write as _;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd};

use nix::dir::{Dir, OwningIter, Type};
use nix::fcntl::AtFlags;
use nix::sys::stat::{fstatat, SFlag};

use std::sync::Arc;

use super::jail::{is_dir, Jail, Stat};
use super::upload::is_temp_name;
use super::vpath::VPath;
use crate::accounts::Perms;
use crate::protocol::time::{civil, TimeVal, MONTHS};

/// What kind of listing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// LIST: `ls -l` lines, the format lftp, curl and FileZilla parse.
    List,
    /// NLST: one name per line.
    Nlst,
    /// MLSD: one line of facts per entry (RFC 3659 section 7.2).
    Mlsd,
}

/// The MLST facts a client selected with `OPTS MLST` (RFC 3659 section 7.9).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Facts {
    /// type=
    pub kind: bool,
    /// size=
    pub size: bool,
    /// modify=
    pub modify: bool,
    /// perm=
    pub perm: bool,
    /// unique=
    pub unique: bool,
    /// UNIX.mode=
    pub unix_mode: bool,
}

impl Default for Facts {
    fn default() -> Self {
        Facts { kind: true, size: true, modify: true, perm: true, unique: true, unix_mode: false }
    }
}

const FACT_NAMES: [&str; 6] = ["type", "size", "modify", "perm", "unique", "UNIX.mode"];

impl Facts {
    fn flags(&self) -> [bool; 6] {
        [self.kind, self.size, self.modify, self.perm, self.unique, self.unix_mode]
    }

    /// Selects facts from `OPTS MLST type;size;` (unknown names ignored).
    pub fn select(list: &str) -> Facts {
        let mut f = [false; 6];
        for want in list.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            if let Some(i) = FACT_NAMES.iter().position(|n| n.eq_ignore_ascii_case(want)) {
                f[i] = true;
            }
        }
        Facts { kind: f[0], size: f[1], modify: f[2], perm: f[3], unique: f[4], unix_mode: f[5] }
    }

    /// `type;size;` : the selected facts, as the OPTS reply repeats them.
    pub fn selected(&self) -> String {
        FACT_NAMES.iter().zip(self.flags()).filter(|(_, on)| *on).map(|(n, _)| format!("{n};")).collect()
    }

    /// `type*;size*;...` : every supported fact, the selected ones starred (FEAT).
    pub fn feat_line(&self) -> String {
        FACT_NAMES.iter().zip(self.flags()).map(|(n, on)| format!("{n}{};", if on { "*" } else { "" })).collect()
    }
}

fn kind_char(mode: u32) -> char {
    match SFlag::from_bits_truncate(mode & SFlag::S_IFMT.bits()) {
        SFlag::S_IFDIR => 'd',
        SFlag::S_IFLNK => 'l',
        SFlag::S_IFCHR => 'c',
        SFlag::S_IFBLK => 'b',
        SFlag::S_IFIFO => 'p',
        SFlag::S_IFSOCK => 's',
        _ => '-',
    }
}

fn mode_string(mode: u32) -> [u8; 10] {
    let mut s = *b"----------";
    s[0] = kind_char(mode) as u8;
    let bits = b"rwxrwxrwx";
    for (i, b) in bits.iter().enumerate() {
        if mode & (0o400 >> i) != 0 {
            s[i + 1] = *b;
        }
    }
    if mode & 0o4000 != 0 {
        s[3] = if mode & 0o100 != 0 { b's' } else { b'S' };
    }
    if mode & 0o2000 != 0 {
        s[6] = if mode & 0o010 != 0 { b's' } else { b'S' };
    }
    if mode & 0o1000 != 0 {
        s[9] = if mode & 0o001 != 0 { b't' } else { b'T' };
    }
    s
}

/// Appends a file name to a listing. Security: a name holding CR or LF
/// would end its line early and forge entries, and control, bidi and
/// separator characters would act on the terminal of whoever reads the
/// listing: they are shown as visible escapes ([`crate::escape`]).
pub fn push_name(out: &mut Vec<u8>, name: &[u8]) {
    crate::escape::escape_into(out, name);
}

/// Appends `n` in decimal (`-` first when `negative`), padded with spaces
/// to `width`: before the digits when `right`, after them otherwise.
fn push_num(out: &mut Vec<u8>, negative: bool, mut n: u64, width: usize, right: bool) {
    let mut buf = [0u8; 21];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if negative {
        i -= 1;
        buf[i] = b'-';
    }
    let pad = width.saturating_sub(buf.len() - i);
    if right {
        out.resize(out.len() + pad, b' ');
    }
    out.extend_from_slice(&buf[i..]);
    if !right {
        out.resize(out.len() + pad, b' ');
    }
}

fn push_signed(out: &mut Vec<u8>, n: i64, width: usize, right: bool) {
    push_num(out, n < 0, n.unsigned_abs(), width, right);
}

fn push_two_digits(out: &mut Vec<u8>, n: u32) {
    out.extend_from_slice(&[b'0' + (n / 10 % 10) as u8, b'0' + (n % 10) as u8]);
}

/// Appends one `ls -l` line: mode, links, owner, group, size, date, name
/// (vsftpd's layout; dates within six months show the time, older ones the
/// year; times in UTC; owner and group as numbers, so no name lookup).
///
/// Written digit by digit rather than with `format!`: a LIST of 10,000
/// entries spent a fifth of its time in the formatting machinery.
pub fn list_line(out: &mut Vec<u8>, name: &[u8], st: &Stat, link_target: Option<&str>, now: i64) {
    let (y, mo, d, h, mi, _) = civil(st.st_mtime);
    let recent = (now - st.st_mtime).abs() < 180 * 86_400;
    out.extend_from_slice(&mode_string(st.st_mode));
    out.push(b' ');
    // st_nlink is u64 here, u32 on some other targets.
    #[allow(clippy::useless_conversion)]
    push_num(out, false, u64::from(st.st_nlink), 4, true);
    out.push(b' ');
    push_num(out, false, u64::from(st.st_uid), 8, false);
    out.push(b' ');
    push_num(out, false, u64::from(st.st_gid), 8, false);
    out.push(b' ');
    push_signed(out, st.st_size, 12, true);
    out.push(b' ');
    out.extend_from_slice(MONTHS[(mo - 1) as usize].as_bytes());
    out.push(b' ');
    push_num(out, false, u64::from(d), 2, true);
    out.push(b' ');
    if recent {
        push_two_digits(out, h);
        out.push(b':');
        push_two_digits(out, mi);
    } else {
        out.push(b' ');
        push_signed(out, y, 4, true);
    }
    out.push(b' ');
    push_name(out, name);
    if let Some(t) = link_target {
        out.extend_from_slice(b" -> ");
        push_name(out, t.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

/// The perm= fact of an entry for a user with `perms` (RFC 3659 section 7.5.5).
pub fn perm_fact(st: &Stat, perms: &Perms) -> String {
    // Each right of the account gives these letters, on a directory or on
    // a file; renaming gives `f` on both.
    let letters: [(bool, &str); 4] = if is_dir(st) {
        [(perms.read, "el"), (perms.write, "c"), (perms.mkdir, "m"), (perms.delete, "dp")]
    } else {
        [(perms.read, "r"), (perms.write, "aw"), (perms.delete, "d"), (false, "")]
    };
    let mut p: String = letters.iter().filter(|(on, _)| *on).map(|(_, l)| *l).collect();
    if perms.rename {
        p.push('f');
    }
    p
}

/// Appends the facts of one entry, `fact=value;` each, then a space (the
/// caller appends the name) (RFC 3659 section 7.2). Written in place: an
/// MLSD of 10,000 entries made up to eight Strings per entry. (Writing to a Vec
/// cannot fail.)
pub fn facts_into(out: &mut Vec<u8>, st: &Stat, perms: &Perms, facts: &Facts, type_override: Option<&str>) {
    let mode = st.st_mode;
    if facts.kind {
        let t = type_override.unwrap_or(match kind_char(mode) {
            'd' => "dir",
            '-' => "file",
            'l' => "OS.unix=symlink",
            _ => "OS.unix=special",
        });
        let _ = write!(out, "type={t};");
    }
    if facts.size && !is_dir(st) {
        let _ = write!(out, "size={};", st.st_size);
    }
    if facts.modify {
        let _ = write!(out, "modify={};", TimeVal(st.st_mtime));
    }
    if facts.perm {
        let _ = write!(out, "perm={};", perm_fact(st, perms));
    }
    if facts.unique {
        let _ = write!(out, "unique={:x}g{:x};", st.st_dev, st.st_ino);
    }
    if facts.unix_mode {
        let _ = write!(out, "UNIX.mode=0{:o};", mode & 0o7777);
    }
    out.push(b' ');
}

/// True when `name` matches the shell pattern `pat` (`*` and `?`).
pub fn glob_match(pat: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n, mut star, mut mark) = (0, 0, None, 0);
    while n < name.len() {
        if p < pat.len() && (pat[p] == b'?' || pat[p] == name[n]) {
            p += 1;
            n += 1;
        } else if p < pat.len() && pat[p] == b'*' {
            star = Some(p);
            mark = n;
            p += 1;
        } else if let Some(s) = star {
            p = s + 1;
            mark += 1;
            n = mark;
        } else {
            return false;
        }
    }
    pat[p..].iter().all(|&c| c == b'*')
}

/// True when a path's last name is a pattern (holds `*` or `?`).
pub fn is_pattern(name: &str) -> bool {
    name.contains(['*', '?'])
}

/// A directory being listed, a chunk at a time.
pub struct DirListing {
    entries: OwningIter,
    format: Format,
    perms: Perms,
    facts: Facts,
    pattern: Option<Vec<u8>>,
    now: i64,
    /// The root and the directory's path in it, to check where a symlink
    /// leads before LIST shows its target.
    within: Option<(Arc<Jail>, VPath)>,
}

impl DirListing {
    /// Starts listing the open directory `dir`, keeping only names that
    /// match `pattern`. `within` is the root and `dir`'s path in it: LIST
    /// shows a symlink's target only when it resolves inside that root.
    pub fn new(
        dir: OwnedFd,
        format: Format,
        perms: Perms,
        facts: Facts,
        pattern: Option<String>,
        within: Option<(Arc<Jail>, VPath)>,
    ) -> nix::Result<Self> {
        let entries = Dir::from_fd(dir.into_raw_fd())?.into_iter();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        Ok(DirListing { entries, format, perms, facts, pattern: pattern.map(String::into_bytes), now, within })
    }

    /// The target of the symlink `name`, if it resolves inside the root.
    /// Security: a link to `/etc/passwd` or `../../outside` tells a client
    /// nothing about the world outside its root (it could not follow it
    /// anyway: the jail refuses).
    fn link_target(&self, dirfd: i32, name: &std::ffi::CStr) -> Option<String> {
        let (jail, dir) = self.within.as_ref()?;
        let path = dir.join(name.to_str().ok()?).ok()?;
        jail.stat(&path).ok()?;
        nix::fcntl::readlinkat(Some(dirfd), name).ok().map(|t| t.to_string_lossy().into_owned())
    }

    /// Appends lines to `out` until it holds at least `target` bytes or the
    /// directory is done. Returns false once the directory is done.
    pub fn fill(&mut self, out: &mut Vec<u8>, target: usize) -> bool {
        while out.len() < target {
            let Some(entry) = self.entries.next() else { return false };
            let Ok(entry) = entry else { continue };
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." || is_temp_name(name) {
                continue;
            }
            if let Some(p) = &self.pattern {
                if !glob_match(p, name) {
                    continue;
                }
            }
            if self.format == Format::Nlst {
                push_name(out, name);
                out.extend_from_slice(b"\r\n");
                continue;
            }
            let dirfd = self.entries.as_raw_fd();
            // An entry that vanished since the read is skipped.
            let Ok(st) = fstatat(Some(dirfd), entry.file_name(), AtFlags::AT_SYMLINK_NOFOLLOW) else { continue };
            match self.format {
                Format::List => {
                    let target = if entry.file_type() == Some(Type::Symlink) || kind_char(st.st_mode) == 'l' {
                        self.link_target(dirfd, entry.file_name())
                    } else {
                        None
                    };
                    list_line(out, name, &st, target.as_deref(), self.now);
                }
                Format::Mlsd => {
                    facts_into(out, &st, &self.perms, &self.facts, None);
                    push_name(out, name);
                    out.extend_from_slice(b"\r\n");
                }
                Format::Nlst => unreachable!("handled above"),
            }
        }
        true
    }
}

/// What a listing transfer sends.
pub enum Listing {
    /// The entries of a directory.
    Dir(DirListing),
    /// Prepared bytes (the listing of a single file).
    Bytes(Vec<u8>),
}

impl Listing {
    /// The single line for one named file.
    pub fn single(format: Format, name: &str, st: &Stat, perms: &Perms, facts: &Facts) -> Listing {
        let mut out = Vec::new();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        match format {
            Format::List => list_line(&mut out, name.as_bytes(), st, None, now),
            Format::Nlst => {
                push_name(&mut out, name.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            Format::Mlsd => {
                facts_into(&mut out, st, perms, facts, None);
                push_name(&mut out, name.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
        }
        Listing::Bytes(out)
    }

    /// Appends more of the listing to `out`; false once done.
    pub fn fill(&mut self, out: &mut Vec<u8>, target: usize) -> bool {
        match self {
            Listing::Dir(d) => d.fill(out, target),
            Listing::Bytes(b) => {
                out.append(b);
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stat with chosen fields, built from a real one (FileStat has no
    /// safe constructor).
    fn stat_of(mode: u32, size: i64, mtime: i64) -> Stat {
        let mut st: Stat = nix::sys::stat::stat("/").unwrap();
        st.st_mode = mode;
        st.st_size = size;
        st.st_mtime = mtime;
        st.st_nlink = 1;
        st
    }
    #[test]
    fn ls_lines_look_like_ls() {
        let st = stat_of(0o100644, 1234, 1_795_000_000);
        let mut out = Vec::new();
        list_line(&mut out, b"a b.txt", &st, None, 1_795_000_000);
        let line = String::from_utf8(out).unwrap();
        assert!(line.starts_with("-rw-r--r--    1 "), "{line}");
        assert!(line.ends_with(" 1234 Nov 18 11:06 a b.txt\r\n"), "{line}");
        let mut old = Vec::new();
        list_line(&mut old, b"d", &stat_of(0o040755, 0, 0), None, 1_795_000_000);
        assert!(String::from_utf8(old).unwrap().contains("drwxr-xr-x"));
    }

    /// The line as `format!` made it before `list_line` wrote digits itself.
    fn list_line_by_format(name: &str, st: &Stat, now: i64) -> String {
        let (y, mo, d, h, mi, _) = civil(st.st_mtime);
        let recent = (now - st.st_mtime).abs() < 180 * 86_400;
        let when = if recent {
            format!("{} {:2} {:02}:{:02}", MONTHS[(mo - 1) as usize], d, h, mi)
        } else {
            format!("{} {:2}  {:4}", MONTHS[(mo - 1) as usize], d, y)
        };
        let mode = String::from_utf8(mode_string(st.st_mode).to_vec()).unwrap();
        format!("{mode} {:4} {:<8} {:<8} {:>12} {when} {name}\r\n", st.st_nlink, st.st_uid, st.st_gid, st.st_size)
    }

    #[test]
    fn ls_lines_are_the_same_as_format_made_them() {
        let now = 1_795_000_000;
        let mut x: u64 = 12345;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let specials = [0, 1, 9, 10, 99, 12345, 99_999_999, 123_456_789_012, i64::MAX];
        for i in 0..2000 {
            let mut st = stat_of(0o100644, 0, 0);
            st.st_size = if i < specials.len() { specials[i] } else { (next() >> (next() % 64)) as i64 };
            st.st_nlink = [1, 2, 10, 9999, 123_456][i % 5];
            st.st_uid = [0, 65534, 1000, 4_294_967_295][i % 4];
            st.st_gid = (next() % 100_000) as u32;
            // From 1900 to 2200: recent dates, old ones, years before 1970.
            st.st_mtime = now + (next() % (18_000_000_000)) as i64 - 9_000_000_000;
            if i % 3 == 0 {
                st.st_mtime = now - (next() % (400 * 86_400)) as i64;
            }
            let mut out = Vec::new();
            list_line(&mut out, b"n", &st, None, now);
            assert_eq!(String::from_utf8(out).unwrap(), list_line_by_format("n", &st, now));
        }
    }

    #[test]
    fn facts_follow_rfc_3659() {
        let st = stat_of(0o100644, 10, 0);
        let mut out = Vec::new();
        facts_into(&mut out, &st, &Perms::READ_ONLY, &Facts::default(), None);
        let s = String::from_utf8(out).unwrap();
        assert!(s.starts_with("type=file;size=10;modify=19700101000000;perm=r;unique="), "{s}");
        assert!(s.ends_with("; "));
        let sel = Facts::select("size;TYPE;bogus;");
        assert_eq!(sel.selected(), "type;size;");
        assert_eq!(Facts::default().feat_line(), "type*;size*;modify*;perm*;unique*;UNIX.mode;");
    }

    #[test]
    fn line_breaks_in_names_cannot_forge_entries() {
        let mut out = Vec::new();
        push_name(&mut out, b"evil\r\n-rw-r--r-- 1 0 0 1 Jan 1 00:00 fake");
        assert!(!out.contains(&b'\n') && !out.contains(&b'\r'));
        assert!(out.starts_with(b"evil\\r\\n-rw"));
    }

    #[test]
    fn globbing() {
        assert!(glob_match(b"*.txt", b"a.txt"));
        assert!(glob_match(b"a?c", b"abc"));
        assert!(!glob_match(b"*.txt", b"a.bin"));
        assert!(glob_match(b"*", b""));
        assert!(glob_match(b"a*b*c", b"axxbyyc"));
    }
}
