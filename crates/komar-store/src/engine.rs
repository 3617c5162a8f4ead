//! The storage engine under the store: one fjall database with one
//! keyspace per table, opened with the format version checked. The writer
//! commits atomic write batches (`pending.rs`); opening and loading use
//! the database's snapshots and small transactions.
//!
//! Durability: fjall appends each committed batch to its journal. With
//! `PersistMode::Buffer` the journal's buffer is handed to the operating
//! system before `commit` returns (survives the process being killed);
//! with `PersistMode::SyncAll` it is also fsynced (survives power loss).
//! Journal recovery drops a torn last batch, so a batch is all or nothing.

use std::path::{Path, PathBuf};

use fjall::{KeyspaceCreateOptions, Readable, SingleWriterTxDatabase, SingleWriterTxKeyspace};

use crate::error::StoreError;
use crate::keys::{table, FORMAT_KEY, SENTINEL};
use crate::location::{self, DirState};

/// The on-disk format this code reads and writes. Bump it (and add a
/// migration) whenever a key or value layout changes incompatibly.
/// 2: queue and in-flight values may carry their message (`values.rs`).
pub const FORMAT_VERSION: u32 = 2;

/// Engine settings the store passes through.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EngineOptions {
    pub(crate) cache_bytes: u64,
    pub(crate) worker_threads: usize,
}

/// Bound of fjall's journals (see `open`).
const JOURNAL_BYTES: u64 = 64 << 20;
/// Memtable size per table (fjall's default is 64 MiB): smaller memtables
/// are flushed sooner, so the journal behind them can go sooner.
const MEMTABLE_BYTES: u64 = 8 << 20;

/// A table, for writes collected before a batch is committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Table {
    Meta,
    Sessions,
    Subs,
    Msgs,
    Queue,
    Out,
    In,
    Wills,
    Retained,
}

impl Table {
    /// Number of tables.
    pub(crate) const COUNT: usize = 9;
    /// Every table.
    pub(crate) const ALL: [Table; Table::COUNT] = [
        Table::Meta,
        Table::Sessions,
        Table::Subs,
        Table::Msgs,
        Table::Queue,
        Table::Out,
        Table::In,
        Table::Wills,
        Table::Retained,
    ];
}

/// The open database and its tables.
pub(crate) struct Db {
    pub(crate) path: PathBuf,
    pub(crate) db: SingleWriterTxDatabase,
    pub(crate) meta: SingleWriterTxKeyspace,
    pub(crate) sessions: SingleWriterTxKeyspace,
    pub(crate) subs: SingleWriterTxKeyspace,
    pub(crate) msgs: SingleWriterTxKeyspace,
    pub(crate) queue: SingleWriterTxKeyspace,
    pub(crate) out: SingleWriterTxKeyspace,
    pub(crate) incoming: SingleWriterTxKeyspace,
    pub(crate) wills: SingleWriterTxKeyspace,
    pub(crate) retained: SingleWriterTxKeyspace,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("path", &self.path).finish()
    }
}

impl Db {
    /// Every table with its name, in load order.
    pub(crate) fn tables(&self) -> [(&'static str, &SingleWriterTxKeyspace); 8] {
        [
            (table::SESSIONS, &self.sessions),
            (table::SUBS, &self.subs),
            (table::MSGS, &self.msgs),
            (table::QUEUE, &self.queue),
            (table::OUT, &self.out),
            (table::IN, &self.incoming),
            (table::WILLS, &self.wills),
            (table::RETAINED, &self.retained),
        ]
    }

    /// The keyspace of `table`.
    pub(crate) fn keyspace(&self, table: Table) -> &SingleWriterTxKeyspace {
        match table {
            Table::Meta => &self.meta,
            Table::Sessions => &self.sessions,
            Table::Subs => &self.subs,
            Table::Msgs => &self.msgs,
            Table::Queue => &self.queue,
            Table::Out => &self.out,
            Table::In => &self.incoming,
            Table::Wills => &self.wills,
            Table::Retained => &self.retained,
        }
    }

    /// Whether any table holds an entry.
    fn has_data(&self) -> Result<bool, StoreError> {
        let snap = self.db.read_tx();
        for (_, ks) in self.tables() {
            for g in snap.iter(ks).take(2) {
                let k = g.key().map_err(|e| {
                    StoreError::engine(&self.path, "checking whether the store is empty", e)
                })?;
                if &*k != SENTINEL {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// Every table must still hold its sentinel.
    fn check_sentinels(&self) -> Result<(), StoreError> {
        let snap = self.db.read_tx();
        for (name, ks) in self.tables() {
            let present = snap
                .contains_key(ks, SENTINEL)
                .map_err(|e| StoreError::engine(&self.path, "checking the tables", e))?;
            if !present {
                return Err(StoreError::Corrupt {
                    path: self.path.clone(),
                    what: format!(
                        "table {name:?} has lost its contents (engine files missing or damaged)"
                    ),
                });
            }
        }
        Ok(())
    }

    /// Set up a new store: sentinels and format version in one durable
    /// batch, then the marker file.
    fn initialise(&self) -> Result<(), StoreError> {
        let mut tx = self
            .db
            .write_tx()
            .durability(Some(fjall::PersistMode::SyncAll));
        for (_, ks) in self.tables() {
            tx.insert(ks, SENTINEL, b"");
        }
        tx.insert(&self.meta, FORMAT_KEY, FORMAT_VERSION.to_be_bytes());
        tx.commit()
            .map_err(|e| StoreError::engine(&self.path, "initialising the store", e))?;
        location::write_marker(&self.path, FORMAT_VERSION)
    }
}

/// Open (or create) the database in `dir` and check its format version.
pub(crate) fn open(
    dir: &Path,
    mosquitto_file: Option<&Path>,
    opts: EngineOptions,
) -> Result<Db, StoreError> {
    let state = location::prepare(dir, mosquitto_file)?;
    let eng = |doing: &'static str| move |e: fjall::Error| StoreError::engine(dir, doing, e);
    let db = SingleWriterTxDatabase::builder(dir)
        // The store decides per batch how far a commit goes.
        .manual_journal_persist(true)
        .worker_threads(opts.worker_threads.max(1))
        .cache_size(opts.cache_bytes)
        // The journal is replayed at open: bound it, so a restart stays
        // fast however much traffic went through (fjall's default is
        // 512 MiB; 64 MiB is its minimum, and it starts a new journal file
        // every 64 MB, so up to about that much is replayed).
        .max_journaling_size(JOURNAL_BYTES)
        .open()
        .map_err(eng("opening the database"))?;
    // In an existing store every table exists already: creating one now
    // would hide that the engine lost it.
    if state == DirState::Existing {
        if let Some(name) = table::ALL.iter().find(|n| !db.keyspace_exists(n)) {
            return Err(StoreError::Corrupt {
                path: dir.to_path_buf(),
                what: format!("table {name:?} is missing (engine files missing or damaged)"),
            });
        }
    }
    let ks = |name: &'static str| {
        db.keyspace(name, || {
            KeyspaceCreateOptions::default().max_memtable_size(MEMTABLE_BYTES)
        })
        .map_err(eng("opening a table"))
    };
    let store = Db {
        path: dir.to_path_buf(),
        meta: ks(table::META)?,
        sessions: ks(table::SESSIONS)?,
        subs: ks(table::SUBS)?,
        msgs: ks(table::MSGS)?,
        queue: ks(table::QUEUE)?,
        out: ks(table::OUT)?,
        incoming: ks(table::IN)?,
        wills: ks(table::WILLS)?,
        retained: ks(table::RETAINED)?,
        db,
    };
    // Read through a snapshot, as loading does: if the engine's journal is
    // gone, fjall still finds keys by direct lookup but a snapshot sees
    // nothing (and new writes would be shadowed by the old data).
    let format = store
        .db
        .read_tx()
        .get(&store.meta, FORMAT_KEY)
        .map_err(eng("reading the format version"))?;
    if format.is_none()
        && store
            .meta
            .contains_key(FORMAT_KEY)
            .map_err(eng("reading the format version"))?
    {
        return Err(StoreError::Corrupt {
            path: dir.to_path_buf(),
            what: "stored data is not visible to the engine (its journal is missing or damaged)"
                .into(),
        });
    }
    match (format, state) {
        (Some(v), _) => {
            let found = <[u8; 4]>::try_from(&*v)
                .map(u32::from_be_bytes)
                .map_err(|_| StoreError::Corrupt {
                    path: dir.to_path_buf(),
                    what: format!("format version value has {} bytes, expected 4", v.len()),
                })?;
            if found != FORMAT_VERSION {
                return Err(StoreError::UnsupportedVersion {
                    path: dir.to_path_buf(),
                    found,
                    supported: FORMAT_VERSION,
                });
            }
            store.check_sentinels()?;
            if state != DirState::Existing {
                location::write_marker(dir, FORMAT_VERSION)?;
            }
        }
        (None, DirState::Existing) => {
            return Err(StoreError::Corrupt {
                path: dir.to_path_buf(),
                what: "the format version is missing: the store's data is gone or damaged".into(),
            })
        }
        (None, DirState::Unfinished) if store.has_data()? => {
            return Err(StoreError::NotAStore {
                path: dir.to_path_buf(),
                reason: "it holds data but no format version".into(),
            })
        }
        (None, DirState::Fresh | DirState::Unfinished) => store.initialise()?,
    }
    Ok(store)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> EngineOptions {
        EngineOptions {
            cache_bytes: 1 << 20,
            worker_threads: 1,
        }
    }

    #[test]
    fn creates_then_reopens_and_refuses_newer_formats() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("s");
        drop(open(&dir, None, opts()).unwrap());
        let db = open(&dir, None, opts()).unwrap();
        db.meta.insert(FORMAT_KEY, 3u32.to_be_bytes()).unwrap();
        db.db.persist(fjall::PersistMode::SyncAll).unwrap();
        drop(db);
        let e = open(&dir, None, opts()).unwrap_err();
        assert!(
            matches!(
                e,
                StoreError::UnsupportedVersion {
                    found: 3,
                    supported: 2,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("format version 3"));
    }

    #[test]
    fn a_store_of_the_previous_format_is_refused_clearly() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("s");
        let db = open(&dir, None, opts()).unwrap();
        db.meta.insert(FORMAT_KEY, 1u32.to_be_bytes()).unwrap();
        db.db.persist(fjall::PersistMode::SyncAll).unwrap();
        drop(db);
        let e = open(&dir, None, opts()).unwrap_err();
        assert!(
            matches!(e, StoreError::UnsupportedVersion { found: 1, .. }),
            "{e}"
        );
    }

    #[test]
    fn a_missing_format_key_in_a_marked_store_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("s");
        let db = open(&dir, None, opts()).unwrap();
        db.meta.remove(FORMAT_KEY).unwrap();
        db.db.persist(fjall::PersistMode::SyncAll).unwrap();
        drop(db);
        assert!(matches!(
            open(&dir, None, opts()).unwrap_err(),
            StoreError::Corrupt { .. }
        ));
    }

    #[test]
    fn garbage_format_value_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("s");
        let db = open(&dir, None, opts()).unwrap();
        db.meta.insert(FORMAT_KEY, b"xyz").unwrap();
        db.db.persist(fjall::PersistMode::SyncAll).unwrap();
        drop(db);
        assert!(matches!(
            open(&dir, None, opts()).unwrap_err(),
            StoreError::Corrupt { .. }
        ));
    }
}
