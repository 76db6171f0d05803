//! The `--pid-file` of a long-running parent: written once it serves (by
//! a binary started by an upgrade too, which so takes the file over), and
//! removed at exit only while it still names this process.

use std::io::Write;
use std::path::{Path, PathBuf};

/// A pid file this process wrote.
#[derive(Debug)]
pub(crate) struct PidFile {
    path: PathBuf,
}

impl PidFile {
    /// Writes our pid to `path` (a new file renamed into place, so that a
    /// reader never sees it half-written).
    pub(crate) fn write(path: &Path) -> std::io::Result<PidFile> {
        let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
        let mut f = std::fs::File::create(&tmp)?;
        writeln!(f, "{}", std::process::id())?;
        drop(f);
        std::fs::rename(&tmp, path).inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })?;
        Ok(PidFile { path: path.to_path_buf() })
    }

    /// True while the file names this process.
    fn ours(&self) -> bool {
        std::fs::read_to_string(&self.path).is_ok_and(|s| s.trim() == std::process::id().to_string())
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        if self.ours() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
