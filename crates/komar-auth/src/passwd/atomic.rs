//! Replacing a password file without ever leaving it half-written: write a
//! temporary file in the same directory, flush it to disk, give it the old
//! file's permissions (and owner, where allowed), then rename it over the
//! target.
//!
//! Unlike `mosquitto_passwd` (which rewrites the file in place through a
//! backup copy) this gives the file a new inode: hard links to the old file
//! keep the old contents.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Attempts at finding an unused temporary name.
const TEMP_ATTEMPTS: usize = 16;

/// Write `contents` to `path` atomically (see the module header). A new
/// file gets the default mode for the process umask, as `fopen` gives it.
///
/// # Errors
/// The first I/O error; the temporary file is removed and `path` is left
/// as it was.
pub(crate) fn write_atomically(path: &Path, contents: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?;
    let previous = fs::metadata(path).ok();
    let (temp_path, mut file) = create_temp(dir, &name.to_string_lossy())?;
    let result = (|| {
        file.write_all(contents)?;
        if let Some(meta) = &previous {
            file.set_permissions(meta.permissions())?;
            keep_owner(&file, meta);
        }
        file.sync_all()?;
        drop(file);
        fs::rename(&temp_path, path)?;
        // Make the rename itself durable; not all systems allow this.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp_path);
    }
    result
}

fn create_temp(dir: &Path, name: &str) -> io::Result<(PathBuf, File)> {
    let mut last = io::Error::new(io::ErrorKind::AlreadyExists, "no free temporary name");
    for attempt in 0..TEMP_ATTEMPTS {
        let candidate = dir.join(format!(".{name}.tmp-{:016x}", suffix(attempt)));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&candidate)
        {
            Ok(f) => return Ok((candidate, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

fn suffix(attempt: usize) -> u64 {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_ok() {
        return u64::from_le_bytes(bytes);
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ (u64::from(std::process::id()) << 32) ^ attempt as u64
}

#[cfg(unix)]
fn keep_owner(file: &File, previous: &fs::Metadata) {
    use std::os::unix::fs::MetadataExt;
    // Only root may give a file away; otherwise the new file stays ours.
    let _ = std::os::unix::fs::fchown(file, Some(previous.uid()), Some(previous.gid()));
}

#[cfg(not(unix))]
fn keep_owner(_: &File, _: &fs::Metadata) {}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "komar-auth-atomic-{tag}-{}-{:x}",
            std::process::id(),
            suffix(0)
        ));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn replaces_and_keeps_mode() {
        let dir = temp_dir("mode");
        let path = dir.join("pw");
        write_atomically(&path, b"one\n").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"one\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
            write_atomically(&path, b"two\n").unwrap();
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o640);
        }
        assert_eq!(fs::read(&path).unwrap(), b"two\n");
        let leftovers: Vec<_> = fs::read_dir(&dir).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "temporary file left behind");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_directory_is_an_error() {
        let dir = temp_dir("missing");
        let path = dir.join("no/such/dir/pw");
        assert!(write_atomically(&path, b"x").is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
