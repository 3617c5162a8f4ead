//! A map whose first entry lives inline: what a trie leaf keeps its
//! subscribers in, because almost every filter has exactly one, and a
//! session its subscriptions, because most clients have one. A
//! [`SmallMap`] would hold that one entry in a heap vector of its own (a
//! 48-byte chunk for a subscriber); here it costs nothing beyond the
//! leaf. A second key moves both into a [`SmallMap`].

use std::hash::Hash;

use crate::small_map::SmallMap;

/// A map from `K` to `V` (see the module header).
#[derive(Debug, Default)]
pub enum OneMap<K, V> {
    /// No entry.
    #[default]
    Empty,
    /// Exactly one entry.
    One(K, V),
    /// Any number, after a second key arrived.
    Map(SmallMap<K, V>),
}

impl<K: Eq + Hash, V> OneMap<K, V> {
    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        match self {
            OneMap::Empty => true,
            OneMap::One(..) => false,
            OneMap::Map(m) => m.is_empty(),
        }
    }

    /// Insert, returning the value `key` had.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match std::mem::take(self) {
            OneMap::Empty => {
                *self = OneMap::One(key, value);
                None
            }
            OneMap::One(k, v) if k == key => {
                *self = OneMap::One(k, value);
                Some(v)
            }
            OneMap::One(k, v) => {
                let mut m = SmallMap::default();
                m.insert(k, v);
                m.insert(key, value);
                *self = OneMap::Map(m);
                None
            }
            OneMap::Map(mut m) => {
                let old = m.insert(key, value);
                *self = OneMap::Map(m);
                old
            }
        }
    }

    /// Remove `key`, returning its value.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        match self {
            OneMap::Empty => None,
            OneMap::One(k, _) if k != key => None,
            OneMap::One(..) => match std::mem::take(self) {
                OneMap::One(_, v) => Some(v),
                _ => None,
            },
            OneMap::Map(m) => m.remove(key),
        }
    }

    /// Take every entry out, leaving the map empty.
    pub fn drain(&mut self) -> impl Iterator<Item = (K, V)> {
        let (one, many) = match std::mem::take(self) {
            OneMap::Empty => (None, None),
            OneMap::One(k, v) => (Some((k, v)), None),
            OneMap::Map(mut m) => (None, Some(m.drain().collect::<Vec<_>>())),
        };
        one.into_iter().chain(many.into_iter().flatten())
    }

    /// The entries.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        let (one, many) = match self {
            OneMap::Empty => (None, None),
            OneMap::One(k, v) => (Some((k, v)), None),
            OneMap::Map(m) => (None, Some(m.iter())),
        };
        one.into_iter().chain(many.into_iter().flatten())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u8, u32),
        Remove(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..12, any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
            (0u8..12).prop_map(Op::Remove),
        ]
    }

    proptest! {
        /// Any sequence of inserts and removes leaves the same entries as
        /// a `HashMap`, with the same returned values.
        #[test]
        fn behaves_like_a_hash_map(ops in proptest::collection::vec(op(), 0..60)) {
            let mut m = OneMap::default();
            let mut reference = HashMap::new();
            for op in ops {
                match op {
                    Op::Insert(k, v) => prop_assert_eq!(m.insert(k, v), reference.insert(k, v)),
                    Op::Remove(k) => prop_assert_eq!(m.remove(&k), reference.remove(&k)),
                }
                prop_assert_eq!(m.is_empty(), reference.is_empty());
                let mut got: Vec<(u8, u32)> = m.iter().map(|(k, v)| (*k, *v)).collect();
                let mut want: Vec<(u8, u32)> = reference.iter().map(|(k, v)| (*k, *v)).collect();
                got.sort_unstable();
                want.sort_unstable();
                prop_assert_eq!(got, want);
            }
            let mut drained: Vec<(u8, u32)> = m.drain().collect();
            let mut want: Vec<(u8, u32)> = reference.drain().collect();
            drained.sort_unstable();
            want.sort_unstable();
            prop_assert_eq!(drained, want);
            prop_assert!(m.is_empty());
        }
    }
}
