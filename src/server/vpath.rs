//! Virtual paths: what a client names, normalized inside its root.
//!
//! Pure and lexical: `..` at the root stays at the root, absolute paths start
//! at the root, `.` and empty components vanish. The result never holds `..`,
//! so it can only name something inside the root; symlinks are the jail's
//! business (see [`super::jail`]).

use std::fmt;

use crate::limits::MAX_PATH;

/// A normalized absolute path inside a session's root: `/` or `/a/b`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct VPath(String);

/// Why a client path cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathError {
    /// Longer than [`MAX_PATH`].
    TooLong,
    /// Empty where a name is needed.
    Empty,
}

impl VPath {
    /// The root of the session.
    pub fn root() -> Self {
        VPath("/".to_string())
    }

    /// Resolves `arg` (absolute, or relative to `self`) lexically.
    pub fn join(&self, arg: &str) -> Result<VPath, PathError> {
        if arg.len() > MAX_PATH {
            return Err(PathError::TooLong);
        }
        if arg.is_empty() {
            return Err(PathError::Empty);
        }
        let mut parts: Vec<&str> = if arg.starts_with('/') { Vec::new() } else { self.components().collect() };
        for comp in arg.split('/') {
            match comp {
                "" | "." => {}
                // Lexical `..` never climbs above the root.
                ".." => {
                    parts.pop();
                }
                c => parts.push(c),
            }
        }
        let mut s = String::with_capacity(arg.len() + self.0.len() + 1);
        for p in &parts {
            s.push('/');
            s.push_str(p);
        }
        if s.is_empty() {
            s.push('/');
        }
        if s.len() > MAX_PATH {
            return Err(PathError::TooLong);
        }
        Ok(VPath(s))
    }

    /// The components, without the leading slash.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|c| !c.is_empty())
    }

    /// True for `/`.
    pub fn is_root(&self) -> bool {
        self.0 == "/"
    }

    /// The path relative to the root, as the jail opens it (`.` for the root).
    pub fn relative(&self) -> &str {
        if self.is_root() {
            "."
        } else {
            &self.0[1..]
        }
    }

    /// The parent directory and the last name; `None` for the root.
    pub fn split_last(&self) -> Option<(VPath, &str)> {
        if self.is_root() {
            return None;
        }
        let i = self.0.rfind('/').unwrap_or(0);
        let parent = if i == 0 { VPath::root() } else { VPath(self.0[..i].to_string()) };
        Some((parent, &self.0[i + 1..]))
    }

    /// The last name (`/` for the root).
    pub fn file_name(&self) -> &str {
        self.split_last().map(|(_, n)| n).unwrap_or("/")
    }

    /// The path as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path as a 257 reply names it (RFC 959 appendix II).
    pub fn quoted(&self) -> String {
        crate::protocol::reply::quote_path(&self.0)
    }
}

impl fmt::Display for VPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(p: &str) -> VPath {
        VPath::root().join(p).unwrap()
    }

    #[test]
    fn dot_dot_never_climbs_above_the_root() {
        assert_eq!(at("../../etc/passwd").as_str(), "/etc/passwd");
        assert_eq!(at("/../..").as_str(), "/");
        assert_eq!(at("a/b/../../../..").as_str(), "/");
        assert_eq!(at("a/../b").as_str(), "/b");
    }

    #[test]
    fn absolute_paths_start_at_the_root() {
        let cwd = at("/pub/docs");
        assert_eq!(cwd.join("/x").unwrap().as_str(), "/x");
        assert_eq!(cwd.join("x").unwrap().as_str(), "/pub/docs/x");
        assert_eq!(cwd.join("..").unwrap().as_str(), "/pub");
        assert_eq!(cwd.join("./y//z/.").unwrap().as_str(), "/pub/docs/y/z");
    }

    #[test]
    fn relative_and_split() {
        assert_eq!(VPath::root().relative(), ".");
        assert_eq!(at("/a/b").relative(), "a/b");
        let p = at("/a/b");
        let (parent, name) = p.split_last().unwrap();
        assert_eq!((parent.as_str(), name), ("/a", "b"));
        assert_eq!(at("/a").split_last().unwrap().0, VPath::root());
        assert!(VPath::root().split_last().is_none());
    }

    #[test]
    fn limits_and_quotes() {
        assert_eq!(VPath::root().join(""), Err(PathError::Empty));
        assert_eq!(VPath::root().join(&"a".repeat(MAX_PATH + 1)), Err(PathError::TooLong));
    }

    proptest::proptest! {
        #[test]
        fn client_paths_never_leave_the_root(cwd in "(/[a-z.]{1,5}){1,4}", arg in "[a-z./]{1,40}") {
            let base = VPath::root().join(&cwd).unwrap();
            let p = base.join(&arg).unwrap();
            proptest::prop_assert!(p.as_str().starts_with('/'));
            proptest::prop_assert!(p.components().all(|c| c != ".." && c != "." && !c.is_empty()));
        }
    }
}
