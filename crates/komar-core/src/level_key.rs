//! The key of a child in the subscription trie: one topic level, kept in
//! the key itself when it is short (up to [`INLINE`] bytes, which almost
//! every level is: `sensors`, `kitchen`, `temperature`, a device number),
//! so a trie node costs no separate allocation for its name. A `Box<str>`
//! key took a 32-byte heap chunk for every node of every subscribed filter.
//!
//! The key is 16 bytes, as a `Box<str>` was. Inline bytes past the level's
//! end are `0xFF`, a byte that never occurs in UTF-8, so the length needs
//! no field of its own. Keys hash and compare as their bytes and are looked
//! up by `&[u8]` ([`Borrow`]).

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};

/// Longest level kept inline.
pub const INLINE: usize = 15;

/// Filler after an inline level (never part of UTF-8 text).
const FILL: u8 = 0xFF;

/// One topic level as a trie key.
#[derive(Clone)]
pub enum LevelKey {
    /// Up to [`INLINE`] bytes, padded with `0xFF`.
    Inline([u8; INLINE]),
    /// A longer level (rare), boxed twice so this variant is one pointer
    /// and the key stays 16 bytes.
    #[allow(clippy::box_collection, clippy::redundant_allocation)]
    Long(Box<Box<str>>),
}

impl LevelKey {
    /// The key for `level`.
    pub fn new(level: &str) -> LevelKey {
        let bytes = level.as_bytes();
        if bytes.len() > INLINE {
            return LevelKey::Long(Box::new(Box::from(level)));
        }
        let mut inline = [FILL; INLINE];
        for (slot, b) in inline.iter_mut().zip(bytes) {
            *slot = *b;
        }
        LevelKey::Inline(inline)
    }

    /// The level's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            LevelKey::Inline(b) => {
                let len = b.iter().position(|&c| c == FILL).unwrap_or(INLINE);
                b.get(..len).unwrap_or(b)
            }
            LevelKey::Long(s) => s.as_bytes(),
        }
    }
}

impl Borrow<[u8]> for LevelKey {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl PartialEq for LevelKey {
    fn eq(&self, other: &LevelKey) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for LevelKey {}

impl Hash for LevelKey {
    /// As the bytes hash, which [`Borrow`] requires.
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl std::fmt::Debug for LevelKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn is_as_small_as_a_boxed_str() {
        assert_eq!(std::mem::size_of::<LevelKey>(), 16);
    }

    #[test]
    fn short_levels_are_inline_and_long_ones_are_not() {
        assert!(matches!(LevelKey::new(""), LevelKey::Inline(_)));
        assert!(matches!(
            LevelKey::new("fifteen-bytes!!"),
            LevelKey::Inline(_)
        ));
        assert!(matches!(
            LevelKey::new("sixteen-bytes!!!"),
            LevelKey::Long(_)
        ));
    }

    proptest! {
        /// Every level keeps its bytes, equal keys are equal levels, and a
        /// key is found by its level's bytes in a hash map.
        #[test]
        fn keeps_bytes_and_looks_up_by_them(a in "\\PC{0,24}", b in "\\PC{0,24}") {
            let (ka, kb) = (LevelKey::new(&a), LevelKey::new(&b));
            prop_assert_eq!(ka.as_bytes(), a.as_bytes());
            prop_assert_eq!(ka == kb, a == b);
            let map: HashMap<LevelKey, u8> = [(ka, 1)].into_iter().collect();
            prop_assert_eq!(map.get(a.as_bytes()), Some(&1));
            prop_assert_eq!(map.contains_key(b.as_bytes()), a == b);
        }
    }
}
