//! A map that stays a short vector while it is small and becomes a hash
//! map when it grows: what the subscription trie's nodes and leaves and a
//! session's own subscription list use, because almost all of them hold
//! one or a few entries — an empty or one-entry `HashMap` costs 32–40
//! bytes inline plus a table of four buckets, a one-entry vector here is
//! 24 bytes inline plus exactly one slot. Lookups in the small form are a
//! linear scan over at most [`SPILL`] entries.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;

use foldhash::fast::RandomState;

/// Entries kept in a vector; one more moves them into a hash map.
pub const SPILL: usize = 8;

/// A map from `K` to `V`, small or hashed (see the module header).
#[derive(Debug, Clone)]
pub enum SmallMap<K, V> {
    /// Up to [`SPILL`] entries, in insertion order: a boxed slice, sized
    /// exactly, so the map is 16 bytes (a `Vec` made it 24, in every trie
    /// node, and every node is an entry of its parent's table).
    Few(Box<[(K, V)]>),
    /// More entries.
    Many(Box<HashMap<K, V, RandomState>>),
}

impl<K, V> Default for SmallMap<K, V> {
    fn default() -> Self {
        SmallMap::Few(Box::default())
    }
}

/// Change a boxed slice as a vector (no copy; the result is re-boxed at
/// its exact length).
fn as_vec<T, R>(slice: &mut Box<[T]>, f: impl FnOnce(&mut Vec<T>) -> R) -> R {
    let mut v = std::mem::take(slice).into_vec();
    let r = f(&mut v);
    *slice = v.into_boxed_slice();
    r
}

impl<K: Eq + Hash, V> SmallMap<K, V> {
    /// Number of entries.
    pub fn len(&self) -> usize {
        match self {
            SmallMap::Few(v) => v.len(),
            SmallMap::Many(m) => m.len(),
        }
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value of `key`.
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        match self {
            SmallMap::Few(v) => v.iter().find(|(k, _)| k.borrow() == key).map(|(_, v)| v),
            SmallMap::Many(m) => m.get(key),
        }
    }

    /// The value of `key`, mutably.
    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        match self {
            SmallMap::Few(v) => v
                .iter_mut()
                .find(|(k, _)| k.borrow() == key)
                .map(|(_, v)| v),
            SmallMap::Many(m) => m.get_mut(key),
        }
    }

    /// Whether `key` has a value.
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.get(key).is_some()
    }

    /// Set the value of `key`, returning the one it replaced.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        if let Some(slot) = self.get_mut(&key) {
            return Some(std::mem::replace(slot, value));
        }
        self.push_new(key, value);
        None
    }

    /// The value of `key`, inserting `make()` under `owned(key)` first if
    /// there is none.
    pub fn get_or_insert_with<Q>(
        &mut self,
        key: &Q,
        owned: impl FnOnce(&Q) -> K,
        make: impl FnOnce() -> V,
    ) -> &mut V
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        if let SmallMap::Few(v) = self {
            if v.len() >= SPILL && !v.iter().any(|(k, _)| k.borrow() == key) {
                self.spill();
            }
        }
        match self {
            SmallMap::Few(v) => {
                let i = match v.iter().position(|(k, _)| k.borrow() == key) {
                    Some(i) => i,
                    None => as_vec(v, |v| {
                        v.reserve_exact(1);
                        v.push((owned(key), make()));
                        v.len() - 1
                    }),
                };
                // In bounds: found at, or just pushed to, `i`.
                &mut v[i].1
            }
            SmallMap::Many(m) => m.entry(owned(key)).or_insert_with(make),
        }
    }

    /// Move the entries of the small form into a hash map.
    fn spill(&mut self) {
        if let SmallMap::Few(v) = self {
            let mut m: HashMap<K, V, RandomState> =
                HashMap::with_capacity_and_hasher(SPILL * 2, RandomState::default());
            m.extend(std::mem::take(v).into_vec());
            *self = SmallMap::Many(Box::new(m));
        }
    }

    /// Add an entry known to be absent.
    fn push_new(&mut self, key: K, value: V) {
        match self {
            SmallMap::Few(v) if v.len() < SPILL => as_vec(v, |v| {
                // Exactly the room needed: most maps never grow past one.
                v.reserve_exact(1);
                v.push((key, value));
            }),
            SmallMap::Few(_) => {
                self.spill();
                if let SmallMap::Many(m) = self {
                    m.insert(key, value);
                }
            }
            SmallMap::Many(m) => {
                m.insert(key, value);
            }
        }
    }

    /// Remove `key`, returning its value.
    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        match self {
            SmallMap::Few(v) => {
                let i = v.iter().position(|(k, _)| k.borrow() == key)?;
                let (_, value) = as_vec(v, |v| v.swap_remove(i));
                Some(value)
            }
            SmallMap::Many(m) => {
                let value = m.remove(key)?;
                if m.len() <= SPILL / 2 {
                    let few: Vec<(K, V)> = m.drain().collect();
                    *self = SmallMap::Few(few.into_boxed_slice());
                }
                Some(value)
            }
        }
    }

    /// Every entry (in no particular order).
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        let (few, many) = match self {
            SmallMap::Few(v) => (Some(v.iter().map(|(k, v)| (k, v))), None),
            SmallMap::Many(m) => (None, Some(m.iter())),
        };
        few.into_iter().flatten().chain(many.into_iter().flatten())
    }

    /// Every value, mutably (in no particular order).
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        let (few, many) = match self {
            SmallMap::Few(v) => (Some(v.iter_mut().map(|(_, v)| v)), None),
            SmallMap::Many(m) => (None, Some(m.values_mut())),
        };
        few.into_iter().flatten().chain(many.into_iter().flatten())
    }

    /// Take every entry out, leaving the map empty (and unallocated).
    pub fn drain(&mut self) -> impl Iterator<Item = (K, V)> {
        let taken = std::mem::take(self);
        let (few, many) = match taken {
            SmallMap::Few(v) => (Some(v.into_vec().into_iter()), None),
            SmallMap::Many(m) => (None, Some(m.into_iter())),
        };
        few.into_iter().flatten().chain(many.into_iter().flatten())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Step {
        Insert(u8, u32),
        Remove(u8),
        GetOrInsert(u8),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0u8..24, any::<u32>()).prop_map(|(k, v)| Step::Insert(k, v)),
            (0u8..24).prop_map(Step::Remove),
            (0u8..24).prop_map(Step::GetOrInsert),
        ]
    }

    proptest! {
        /// The same operations give the same answers as a `HashMap`, in
        /// both forms and across the switches between them.
        #[test]
        fn behaves_like_a_hash_map(steps in proptest::collection::vec(step(), 0..200)) {
            let mut small: SmallMap<u8, u32> = SmallMap::default();
            let mut reference: HashMap<u8, u32> = HashMap::new();
            for s in steps {
                match s {
                    Step::Insert(k, v) => prop_assert_eq!(small.insert(k, v), reference.insert(k, v)),
                    Step::Remove(k) => prop_assert_eq!(small.remove(&k), reference.remove(&k)),
                    Step::GetOrInsert(k) => {
                        let a = *small.get_or_insert_with(&k, |k| *k, || 7);
                        let b = *reference.entry(k).or_insert(7);
                        prop_assert_eq!(a, b);
                    }
                }
                prop_assert_eq!(small.len(), reference.len());
                for k in 0u8..24 {
                    prop_assert_eq!(small.get(&k), reference.get(&k));
                }
                let mut all: Vec<(u8, u32)> = small.iter().map(|(k, v)| (*k, *v)).collect();
                all.sort_unstable();
                let mut expected: Vec<(u8, u32)> = reference.iter().map(|(k, v)| (*k, *v)).collect();
                expected.sort_unstable();
                prop_assert_eq!(all, expected);
            }
        }
    }

    #[test]
    fn small_maps_hold_exactly_their_entries() {
        let mut m: SmallMap<u64, u64> = SmallMap::default();
        m.insert(1, 1);
        match &m {
            SmallMap::Few(v) => assert_eq!(v.len(), 1),
            SmallMap::Many(_) => panic!("one entry is small"),
        }
        assert_eq!(std::mem::size_of::<SmallMap<u64, u64>>(), 16);
        for i in 0..=SPILL as u64 {
            m.insert(i, i);
        }
        assert!(matches!(m, SmallMap::Many(_)));
        for i in 0..=SPILL as u64 {
            m.remove(&i);
        }
        assert!(matches!(m, SmallMap::Few(_)));
        assert_eq!(m.drain().count(), 0);
    }

    #[test]
    fn borrowed_keys_find_owned_ones() {
        let mut m: SmallMap<Box<str>, u32> = SmallMap::default();
        *m.get_or_insert_with("a", |k| Box::from(k), || 0) += 1;
        *m.get_or_insert_with("a", |k| Box::from(k), || 0) += 1;
        assert_eq!(m.get("a"), Some(&2));
        assert_eq!(m.remove("a"), Some(2));
        assert!(m.is_empty());
    }
}
