//! The batch the writer thread is building: every write of the batch by
//! table and key, the last one per key winning, readable before it is
//! committed (read-your-own-writes), then committed as one atomic engine
//! batch with one entry per key.
//!
//! This replaces an engine transaction, which keeps its writes in a skip
//! list of its own and copies them into the engine's memtables at commit:
//! a hash map is several times cheaper to fill and to drop, and the
//! committed batch is the same (one entry per key, all or nothing).

use std::collections::HashMap;

use fjall::{PersistMode, UserKey, UserValue};

use crate::engine::{Db, Table};

type EngineResult<T> = Result<T, fjall::Error>;

/// One write: the value to insert, or `None` to remove.
#[derive(Debug)]
struct Write {
    value: Option<UserValue>,
    /// A removal whose tombstone may vanish with the value it deletes
    /// (only for keys written once, see [`Pending::remove_written_once`]).
    weak: bool,
}

type Writes = HashMap<UserKey, Write>;

/// Most committed queue values kept in memory (see [`Pending`]).
const RECENT_MAX: usize = 16_384;

/// The writes of one batch, not yet committed.
///
/// It also keeps the committed values of recently written queue entries:
/// every write goes through here, so they stay exact, and the queue entry
/// a dequeue removes (whose value tells which message it releases) is
/// usually one queued a few batches before — found here instead of by a
/// lookup in the engine.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    /// By table, in [`Table::ALL`] order.
    writes: [Writes; Table::COUNT],
    /// Committed queue values (a subset; emptied when it grows beyond
    /// [`RECENT_MAX`]).
    recent: HashMap<UserKey, UserValue>,
}

impl Pending {
    /// Insert `key` → `value` into `table`.
    pub(crate) fn insert(
        &mut self,
        table: Table,
        key: impl Into<UserKey>,
        value: impl Into<UserValue>,
    ) {
        let w = Write {
            value: Some(value.into()),
            weak: false,
        };
        self.table(table).insert(key.into(), w);
    }

    fn table(&mut self, table: Table) -> &mut Writes {
        let [meta, sessions, subs, msgs, queue, out, incoming, wills, retained] = &mut self.writes;
        match table {
            Table::Meta => meta,
            Table::Sessions => sessions,
            Table::Subs => subs,
            Table::Msgs => msgs,
            Table::Queue => queue,
            Table::Out => out,
            Table::In => incoming,
            Table::Wills => wills,
            Table::Retained => retained,
        }
    }

    fn table_ref(&self, table: Table) -> &Writes {
        let [meta, sessions, subs, msgs, queue, out, incoming, wills, retained] = &self.writes;
        match table {
            Table::Meta => meta,
            Table::Sessions => sessions,
            Table::Subs => subs,
            Table::Msgs => msgs,
            Table::Queue => queue,
            Table::Out => out,
            Table::In => incoming,
            Table::Wills => wills,
            Table::Retained => retained,
        }
    }

    /// Remove `key` from `table` (a no-op if absent).
    pub(crate) fn remove(&mut self, table: Table, key: impl Into<UserKey>) {
        let w = Write {
            value: None,
            weak: false,
        };
        self.table(table).insert(key.into(), w);
    }

    /// Remove `key`, which was inserted at most once since it was last
    /// removed: its tombstone and the value it deletes may then both
    /// vanish when the engine writes them out together, instead of both
    /// being written to disk and compacted later. (Were the key written
    /// twice, the older value could reappear: use it only where that is
    /// harmless.)
    pub(crate) fn remove_written_once(&mut self, table: Table, key: impl Into<UserKey>) {
        let w = Write {
            value: None,
            weak: true,
        };
        self.table(table).insert(key.into(), w);
    }

    /// The value of `key` in `table` as this batch leaves it.
    ///
    /// # Errors
    /// The engine could not read the committed value.
    pub(crate) fn get(&self, db: &Db, table: Table, key: &[u8]) -> EngineResult<Option<UserValue>> {
        match self.table_ref(table).get(key) {
            Some(w) => Ok(w.value.clone()),
            None => self.committed(db, table, key),
        }
    }

    /// Remove `key` from `table` and return the value it had.
    ///
    /// # Errors
    /// The engine could not read the committed value.
    pub(crate) fn take(
        &mut self,
        db: &Db,
        table: Table,
        key: impl Into<UserKey>,
    ) -> EngineResult<Option<UserValue>> {
        let key = key.into();
        if let Some(w) = self.table(table).get_mut(&*key) {
            w.weak = false;
            return Ok(w.value.take());
        }
        let old = self.committed(db, table, &key)?;
        let w = Write {
            value: None,
            weak: false,
        };
        self.table(table).insert(key, w);
        Ok(old)
    }

    /// The committed value of `key` in `table`.
    fn committed(&self, db: &Db, table: Table, key: &[u8]) -> EngineResult<Option<UserValue>> {
        if table == Table::Queue {
            if let Some(v) = self.recent.get(key) {
                return Ok(Some(v.clone()));
            }
        }
        db.keyspace(table).get(key)
    }

    /// The entries of `table` whose key starts with `prefix`, as this
    /// batch leaves them (rare: deleting a session).
    ///
    /// # Errors
    /// The engine could not read the committed entries.
    pub(crate) fn scan(
        &self,
        db: &Db,
        table: Table,
        prefix: &[u8],
    ) -> EngineResult<Vec<(UserKey, UserValue)>> {
        let mut found: std::collections::BTreeMap<UserKey, UserValue> =
            std::collections::BTreeMap::new();
        for g in db.keyspace(table).inner().prefix(prefix) {
            let (k, v) = g.into_inner()?;
            found.insert(k, v);
        }
        for (k, w) in self.table_ref(table) {
            if k.starts_with(prefix) {
                match &w.value {
                    Some(v) => {
                        found.insert(k.clone(), v.clone());
                    }
                    None => {
                        found.remove(k);
                    }
                }
            }
        }
        Ok(found.into_iter().collect())
    }

    /// Forget every write (the batch failed).
    pub(crate) fn clear(&mut self) {
        for w in &mut self.writes {
            w.clear();
        }
    }

    /// Commit every write as one atomic engine batch at durability `mode`,
    /// and start empty again.
    ///
    /// # Errors
    /// The engine could not write the batch (it is then poisoned).
    pub(crate) fn commit(&mut self, db: &Db, mode: PersistMode) -> EngineResult<()> {
        let len = self.writes.iter().map(HashMap::len).sum();
        if self.recent.len() > RECENT_MAX {
            self.recent.clear();
        }
        let mut batch = fjall::OwnedWriteBatch::with_capacity(db.db.inner().clone(), len)
            .durability(Some(mode));
        for (table, writes) in Table::ALL.into_iter().zip(&mut self.writes) {
            let ks = db.keyspace(table).inner();
            let mut recent = (table == Table::Queue).then_some(&mut self.recent);
            for (k, w) in writes.drain() {
                if let Some(recent) = recent.as_deref_mut() {
                    match &w.value {
                        Some(v) => recent.insert(k.clone(), v.clone()),
                        None => recent.remove(&*k),
                    };
                }
                match w.value {
                    Some(v) => batch.insert(ks, k, v),
                    None if w.weak => batch.remove_weak(ks, k),
                    None => batch.remove(ks, k),
                }
            }
        }
        let result = batch.commit();
        if result.is_err() {
            self.recent.clear();
        }
        result
    }
}
