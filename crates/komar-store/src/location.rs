//! Where the store lives and what may already be there.
//!
//! Mosquitto keeps its state in one file, `persistence_location` +
//! `persistence_file` (default `mosquitto.db`). Komar's store is a
//! directory next to it:
//!
//! | `persistence_file`        | Komar's store directory          |
//! |---------------------------|----------------------------------|
//! | unset / `mosquitto.db`    | `<persistence_location>/komar.db/` |
//! | any other name `X`        | `<persistence_location>/X.komar/`  |
//!
//! A different name means going back to Mosquitto never trips over Komar's
//! directory. If the file Mosquitto would use exists, opening is refused
//! ([`StoreError::MosquittoFile`]): Komar cannot read that format and a
//! silent start without its retained messages and sessions would lose
//! them; the file is never written to.
//!
//! Inside the directory, a marker file ([`MARKER_FILE`]) written once the
//! store is initialised tells an existing store from an empty directory,
//! so a store whose engine files vanished is an error, not an empty start.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::error::StoreError;

/// Mosquitto's default `persistence_file`.
pub const MOSQUITTO_DEFAULT_FILE: &str = "mosquitto.db";
/// Komar's store directory for the default `persistence_file`.
pub const DEFAULT_STORE_DIR: &str = "komar.db";
/// The marker file inside an initialised store directory.
pub const MARKER_FILE: &str = "KOMAR-STORE";
/// The first 15 bytes of a Mosquitto persistence file.
pub const MOSQUITTO_MAGIC: &[u8; 15] = b"\x00\xB5\x00mosquitto db";
/// The storage engine's own marker (fjall writes it when it creates a
/// database), used to recognise a creation that was interrupted.
const ENGINE_MARKER: &str = "version";

/// The store directory and the Mosquitto file to look out for, derived
/// from a Mosquitto-style configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreLocation {
    /// Komar's store directory.
    pub dir: PathBuf,
    /// Where Mosquitto would keep its persistence file.
    pub mosquitto_file: PathBuf,
}

impl StoreLocation {
    /// Locations for `persistence_location` (`None`: the current directory,
    /// as Mosquitto does) and `persistence_file` (`None`: `mosquitto.db`).
    pub fn from_config(location: Option<&Path>, file: Option<&str>) -> StoreLocation {
        let base = location.unwrap_or_else(|| Path::new("."));
        let file = file.unwrap_or(MOSQUITTO_DEFAULT_FILE);
        let dir = if file == MOSQUITTO_DEFAULT_FILE {
            base.join(DEFAULT_STORE_DIR)
        } else {
            base.join(format!("{file}.komar"))
        };
        StoreLocation {
            dir,
            mosquitto_file: base.join(file),
        }
    }
}

/// What the store directory held before opening.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DirState {
    /// Nothing: a new store is created.
    Fresh,
    /// An initialised store (marker present).
    Existing,
    /// Engine files but no marker: a creation interrupted before it
    /// finished. Accepted only if the engine holds no data.
    Unfinished,
}

fn starts_with_mosquitto_magic(path: &Path) -> bool {
    let mut head = [0u8; 15];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| &head == MOSQUITTO_MAGIC)
}

/// Check the paths before the engine touches anything, creating the
/// directory if it does not exist.
pub(crate) fn prepare(dir: &Path, mosquitto_file: Option<&Path>) -> Result<DirState, StoreError> {
    if let Some(f) = mosquitto_file {
        if f.is_file() {
            return Err(StoreError::MosquittoFile {
                path: f.to_path_buf(),
            });
        }
    }
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::io(dir, "creating the store directory", e))?;
            Ok(DirState::Fresh)
        }
        Err(e) => Err(StoreError::io(dir, "looking at the store directory", e)),
        Ok(m) if !m.is_dir() => {
            if starts_with_mosquitto_magic(dir) {
                Err(StoreError::MosquittoFile {
                    path: dir.to_path_buf(),
                })
            } else {
                Err(StoreError::NotADirectory {
                    path: dir.to_path_buf(),
                })
            }
        }
        Ok(_) => {
            if dir.join(MARKER_FILE).is_file() {
                return Ok(DirState::Existing);
            }
            let mut entries = std::fs::read_dir(dir)
                .map_err(|e| StoreError::io(dir, "listing the store directory", e))?;
            if entries.next().is_none() {
                Ok(DirState::Fresh)
            } else if dir.join(ENGINE_MARKER).is_file() {
                Ok(DirState::Unfinished)
            } else {
                Err(StoreError::NotAStore {
                    path: dir.to_path_buf(),
                    reason: format!("the directory is not empty and has no {MARKER_FILE} file"),
                })
            }
        }
    }
}

/// Write the marker file (and make it durable) once the store is set up.
pub(crate) fn write_marker(dir: &Path, format: u32) -> Result<(), StoreError> {
    let path = dir.join(MARKER_FILE);
    let text = format!(
        "Komar broker store (format {format}). Do not edit or delete files in this directory.\n"
    );
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&path)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        // Make the new directory entry durable too.
        std::fs::File::open(dir)?.sync_all()
    };
    write().map_err(|e| StoreError::io(&path, "writing the store marker", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_follow_the_configuration() {
        let l = StoreLocation::from_config(Some(Path::new("/var/lib/mosquitto")), None);
        assert_eq!(l.dir, Path::new("/var/lib/mosquitto/komar.db"));
        assert_eq!(
            l.mosquitto_file,
            Path::new("/var/lib/mosquitto/mosquitto.db")
        );
        let l = StoreLocation::from_config(None, Some("broker.db"));
        assert_eq!(l.dir, Path::new("./broker.db.komar"));
        assert_eq!(l.mosquitto_file, Path::new("./broker.db"));
    }

    #[test]
    fn mosquitto_files_are_refused_and_left_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let loc = StoreLocation::from_config(Some(tmp.path()), None);
        let mut content = MOSQUITTO_MAGIC.to_vec();
        content.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 6]);
        std::fs::write(&loc.mosquitto_file, &content).unwrap();
        let e = prepare(&loc.dir, Some(&loc.mosquitto_file)).unwrap_err();
        assert!(matches!(e, StoreError::MosquittoFile { .. }));
        assert!(e.to_string().contains("mosquitto.db"));
        assert_eq!(std::fs::read(&loc.mosquitto_file).unwrap(), content);
        assert!(!loc.dir.exists());
        // The Mosquitto file given as the store directory itself.
        let e = prepare(&loc.mosquitto_file, None).unwrap_err();
        assert!(matches!(e, StoreError::MosquittoFile { .. }));
    }

    #[test]
    fn directories_are_classified() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("s");
        assert_eq!(prepare(&d, None).unwrap(), DirState::Fresh);
        assert_eq!(prepare(&d, None).unwrap(), DirState::Fresh);
        std::fs::write(d.join("other"), b"x").unwrap();
        assert!(matches!(
            prepare(&d, None).unwrap_err(),
            StoreError::NotAStore { .. }
        ));
        std::fs::write(d.join(ENGINE_MARKER), b"x").unwrap();
        assert_eq!(prepare(&d, None).unwrap(), DirState::Unfinished);
        write_marker(&d, 1).unwrap();
        assert_eq!(prepare(&d, None).unwrap(), DirState::Existing);
        let f = tmp.path().join("file");
        std::fs::write(&f, b"plain").unwrap();
        assert!(matches!(
            prepare(&f, None).unwrap_err(),
            StoreError::NotADirectory { .. }
        ));
    }
}
