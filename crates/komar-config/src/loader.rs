//! How the parser reaches files: the [`Loader`] trait, [`FsLoader`] (the
//! only code in this crate that touches the file system) and [`MemLoader`]
//! for tests and for callers that already hold the text.
//!
//! Ordering and filtering of `include_dir` entries is the parser's job, not
//! the loader's, so every loader gives the same result.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};

/// Source of configuration files.
pub trait Loader {
    /// Read a whole configuration file as text.
    ///
    /// # Errors
    /// Any I/O error (missing file, permission denied, a directory).
    fn read(&self, path: &Path) -> Result<String, io::Error>;

    /// List the entries of a directory as full paths (`dir` joined with the
    /// entry name), in any order. Sub-directories may be included; the
    /// parser filters and sorts.
    ///
    /// # Errors
    /// Any I/O error (missing directory, permission denied).
    fn list_dir(&self, dir: &Path) -> Result<Vec<PathBuf>, io::Error>;
}

/// Reads real files with `std::fs`.
///
/// Mosquitto reads bytes and only requires UTF-8 in string values, so a
/// Latin-1 comment is fine there. To match, invalid UTF-8 is replaced by
/// U+FFFD here and the parser rejects U+FFFD inside string values (as
/// Mosquitto rejects malformed UTF-8 in them).
#[derive(Debug, Clone, Copy, Default)]
pub struct FsLoader;

impl Loader for FsLoader {
    fn read(&self, path: &Path) -> Result<String, io::Error> {
        let bytes = std::fs::read(path)?;
        Ok(match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    }

    fn list_dir(&self, dir: &Path) -> Result<Vec<PathBuf>, io::Error> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            out.push(entry?.path());
        }
        Ok(out)
    }
}

/// In-memory files and directories. A directory exists when it was added
/// with [`MemLoader::with_dir`] or when a file lies directly in it.
#[derive(Debug, Clone, Default)]
pub struct MemLoader {
    files: BTreeMap<PathBuf, String>,
    dirs: BTreeSet<PathBuf>,
}

impl MemLoader {
    /// An empty loader: every read fails with `NotFound`.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Add (or replace) a file.
    #[must_use]
    pub fn with_file(mut self, path: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        self.files.insert(path.into(), text.into());
        self
    }

    /// Add an (initially empty) directory.
    #[must_use]
    pub fn with_dir(mut self, path: impl Into<PathBuf>) -> Self {
        self.dirs.insert(path.into());
        self
    }
}

impl Loader for MemLoader {
    fn read(&self, path: &Path) -> Result<String, io::Error> {
        if let Some(text) = self.files.get(path) {
            return Ok(text.clone());
        }
        if self.dirs.contains(path) {
            return Err(io::Error::other("is a directory"));
        }
        Err(io::Error::new(io::ErrorKind::NotFound, "no such file"))
    }

    fn list_dir(&self, dir: &Path) -> Result<Vec<PathBuf>, io::Error> {
        let children: Vec<PathBuf> = self
            .files
            .keys()
            .chain(self.dirs.iter())
            .filter(|p| p.parent() == Some(dir))
            .cloned()
            .collect();
        if children.is_empty() && !self.dirs.contains(dir) {
            return Err(io::Error::new(io::ErrorKind::NotFound, "no such directory"));
        }
        Ok(children)
    }
}

/// A loader for text that did not come from a file: every access fails, so
/// `include_dir` reports that it cannot be used.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct NoLoader;

impl Loader for NoLoader {
    fn read(&self, _path: &Path) -> Result<String, io::Error> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "no file loader (configuration given as a string)",
        ))
    }

    fn list_dir(&self, _dir: &Path) -> Result<Vec<PathBuf>, io::Error> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "no file loader (configuration given as a string)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_loader_lists_direct_children_only() {
        let l = MemLoader::new()
            .with_file("/d/a.conf", "")
            .with_file("/d/sub/b.conf", "")
            .with_dir("/d/sub")
            .with_dir("/empty");
        let mut got = l.list_dir(Path::new("/d")).unwrap();
        got.sort();
        assert_eq!(
            got,
            vec![PathBuf::from("/d/a.conf"), PathBuf::from("/d/sub")]
        );
        assert!(l.list_dir(Path::new("/empty")).unwrap().is_empty());
        assert!(l.list_dir(Path::new("/nope")).is_err());
        assert!(l.read(Path::new("/d/sub")).is_err());
    }

    #[test]
    fn fs_loader_reads_latin1_lossily() {
        let dir = std::env::temp_dir().join(format!("komar-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("latin1.conf");
        std::fs::write(&f, b"# caf\xe9\nsys_interval 5\n").unwrap();
        let text = FsLoader.read(&f).unwrap();
        assert!(text.contains('\u{fffd}'));
        assert!(FsLoader.list_dir(&dir).unwrap().contains(&f));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
