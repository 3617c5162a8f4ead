//! One shard of the session table: sessions by client identifier. Each
//! entry is the session's `Arc` alone, found by the client identifier the
//! session itself holds — an entry is 8 bytes where a map from a separate
//! `Arc<str>` key took 24 (a hash table keeps about twice as many slots as
//! entries, for every client the broker knows).

use std::borrow::Borrow;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use foldhash::fast::RandomState;

use crate::session::Session;

/// A session as a table entry: it hashes and compares as its client id.
#[derive(Debug)]
struct ById(Arc<Session>);

impl Borrow<str> for ById {
    fn borrow(&self) -> &str {
        self.0.client_id()
    }
}

impl Hash for ById {
    /// As the client id's `str` hashes, which [`Borrow`] requires.
    fn hash<H: Hasher>(&self, state: &mut H) {
        let id: &str = self.0.client_id();
        id.hash(state);
    }
}

impl PartialEq for ById {
    fn eq(&self, other: &ById) -> bool {
        self.0.client_id() == other.0.client_id()
    }
}

impl Eq for ById {}

/// Sessions by client identifier.
#[derive(Debug, Default)]
pub(crate) struct SessionTable {
    set: HashSet<ById, RandomState>,
}

impl SessionTable {
    /// The session of `client_id`.
    pub(crate) fn get(&self, client_id: &str) -> Option<&Arc<Session>> {
        self.set.get(client_id).map(|e| &e.0)
    }

    /// Put `session` in under its client id, returning the session it
    /// replaces.
    pub(crate) fn insert(&mut self, session: Arc<Session>) -> Option<Arc<Session>> {
        self.set.replace(ById(session)).map(|e| e.0)
    }

    /// Take the session of `client_id` out.
    pub(crate) fn remove(&mut self, client_id: &str) -> Option<Arc<Session>> {
        self.set.take(client_id).map(|e| e.0)
    }

    /// Every session.
    pub(crate) fn values(&self) -> impl Iterator<Item = &Arc<Session>> {
        self.set.iter().map(|e| &e.0)
    }

    /// Number of sessions.
    pub(crate) fn len(&self) -> usize {
        self.set.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::queue::QueueLimits;
    use komar_proto::ProtocolVersion;

    fn session(id: u64, client_id: &str) -> Arc<Session> {
        let limits = Arc::new(QueueLimits {
            max_messages: 0,
            max_bytes: 0,
            queue_qos0_offline: false,
            stall_timeout: std::time::Duration::ZERO,
        });
        Arc::new(Session::new(
            id,
            client_id.into(),
            ProtocolVersion::V311,
            limits,
        ))
    }

    #[test]
    fn finds_replaces_and_removes_by_client_id() {
        let mut t = SessionTable::default();
        assert!(t.insert(session(1, "a")).is_none());
        assert!(t.insert(session(2, "b")).is_none());
        assert_eq!(t.get("a").map(|s| s.id()), Some(1));
        assert!(t.get("c").is_none());
        // A new session of the same client replaces the old one.
        assert_eq!(t.insert(session(3, "a")).map(|s| s.id()), Some(1));
        assert_eq!(t.get("a").map(|s| s.id()), Some(3));
        assert_eq!(t.len(), 2);
        assert_eq!(t.remove("a").map(|s| s.id()), Some(3));
        assert!(t.remove("a").is_none());
        let ids: Vec<u64> = t.values().map(|s| s.id()).collect();
        assert_eq!(ids, vec![2]);
    }
}
