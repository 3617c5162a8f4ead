//! The packet ids of incoming QoS 2 messages received and not yet released
//! (PUBREC sent, PUBREL awaited) — a set that costs one pointer in every
//! session until a QoS 2 message arrives, and gives its memory back when
//! the last id is released.

use std::collections::HashSet;

use foldhash::fast::RandomState;

/// A set of packet ids, allocated only while it holds any (boxed: an empty
/// `HashSet` inline would cost every session 40 bytes, the box 8).
#[derive(Debug, Default, Clone)]
#[allow(clippy::box_collection)]
pub struct PidSet(Option<Box<HashSet<u16, RandomState>>>);

impl PidSet {
    /// Whether `pid` is in the set.
    pub fn contains(&self, pid: u16) -> bool {
        self.0.as_ref().is_some_and(|s| s.contains(&pid))
    }

    /// Number of ids held.
    pub fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |s| s.len())
    }

    /// Whether no id is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Add `pid`; false if it was there already.
    pub fn insert(&mut self, pid: u16) -> bool {
        self.0.get_or_insert_with(Box::default).insert(pid)
    }

    /// Remove `pid`; false if it was not there.
    pub fn remove(&mut self, pid: u16) -> bool {
        let Some(s) = self.0.as_mut() else {
            return false;
        };
        let found = s.remove(&pid);
        if s.is_empty() {
            self.0 = None;
        }
        found
    }

    /// Remove every id.
    pub fn clear(&mut self) {
        self.0 = None;
    }
}

impl FromIterator<u16> for PidSet {
    fn from_iter<I: IntoIterator<Item = u16>>(iter: I) -> Self {
        let mut set = PidSet::default();
        for pid in iter {
            set.insert(pid);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_memory_only_while_not_empty() {
        let mut s = PidSet::default();
        assert!(s.is_empty() && !s.contains(7) && !s.remove(7));
        assert!(s.insert(7));
        assert!(!s.insert(7));
        assert!(s.insert(9));
        assert_eq!(s.len(), 2);
        assert!(s.contains(7));
        assert!(s.remove(7) && s.remove(9));
        assert!(s.0.is_none());
        let s: PidSet = [1, 2, 2].into_iter().collect();
        assert_eq!(s.len(), 2);
    }
}
