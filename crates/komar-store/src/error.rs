//! The store's error type. Every variant says what went wrong and where
//! (the store directory, the table, the key), so an operator can act on it.
//! Errors are `Clone` (sources are shared) because one failed commit is
//! reported to every operation group it contained.

use std::path::PathBuf;
use std::sync::Arc;

/// What can go wrong opening, loading or writing the store.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// A Mosquitto persistence file is where Komar's store would go. Komar
    /// cannot read Mosquitto's format and never overwrites it.
    #[error(
        "{path}: this is a Mosquitto persistence file; Komar cannot read it and will not \
         overwrite it — move it away (its retained messages and sessions are not migrated) \
         or point persistence_location elsewhere"
    )]
    MosquittoFile {
        /// The file found.
        path: PathBuf,
    },
    /// The store path exists but is not a directory.
    #[error("{path}: exists and is not a directory, so it cannot be a Komar store")]
    NotADirectory {
        /// The path.
        path: PathBuf,
    },
    /// The directory holds something other than a Komar store (or a store
    /// whose engine files are gone). Refused rather than started empty.
    #[error("{path}: not a Komar store ({reason}); refusing to start with an empty store")]
    NotAStore {
        /// The directory.
        path: PathBuf,
        /// What is missing or unexpected.
        reason: String,
    },
    /// The store was written in another format version (older, newer or
    /// unknown): it is refused rather than misread.
    #[error(
        "{path}: store format version {found}, this Komar reads version {supported}; \
         use the Komar version that wrote it"
    )]
    UnsupportedVersion {
        /// The directory.
        path: PathBuf,
        /// Version found on disk.
        found: u32,
        /// Version this code reads and writes.
        supported: u32,
    },
    /// The storage engine failed (IO error, corrupt file, checksum mismatch).
    #[error("{path}: storage engine error while {doing}: {source}")]
    Engine {
        /// The directory.
        path: PathBuf,
        /// What the store was doing.
        doing: &'static str,
        /// The engine's error.
        #[source]
        source: Arc<fjall::Error>,
    },
    /// A file system operation failed.
    #[error("{path}: {doing}: {source}")]
    Io {
        /// The path concerned.
        path: PathBuf,
        /// What the store was doing.
        doing: &'static str,
        /// The error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// Something the store itself needs is unreadable (e.g. the format key).
    #[error("{path}: corrupt store: {what}")]
    Corrupt {
        /// The directory.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// A group of operations was rejected before anything of it was
    /// applied (e.g. a delivery refers to a message that is not stored).
    #[error("operation group rejected: {0}")]
    InvalidOp(String),
    /// An earlier commit failed; the store accepts no more writes. The
    /// broker should stop (or carry on without persistence) and restart.
    #[error("store failed earlier and takes no more writes: {0}")]
    Failed(String),
    /// The store was closed (or its writer thread is gone).
    #[error("store is closed")]
    Closed,
}

impl StoreError {
    pub(crate) fn engine(
        path: &std::path::Path,
        doing: &'static str,
        e: fjall::Error,
    ) -> StoreError {
        StoreError::Engine {
            path: path.to_path_buf(),
            doing,
            source: Arc::new(e),
        }
    }

    pub(crate) fn io(path: &std::path::Path, doing: &'static str, e: std::io::Error) -> StoreError {
        StoreError::Io {
            path: path.to_path_buf(),
            doing,
            source: Arc::new(e),
        }
    }
}
