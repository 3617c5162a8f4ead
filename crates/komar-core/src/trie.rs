//! The subscription trie: topic filters indexed level by level, with the
//! single-level (`+`) and multi-level (`#`) wildcards in their own slots, so
//! matching a topic visits only the branches that can match (never a scan
//! of every filter). Generic over the subscriber value so it can be tested
//! against a naive matcher.
//!
//! Shared subscriptions (`$share/{group}/{filter}`) live at the node of
//! their filter, one group per name; choosing the member is the caller's.
//!
//! Depth is bounded by [`komar_proto::topic::MAX_TOPIC_LEVELS`], which
//! bounds the recursion of every walk.

use std::sync::atomic::{AtomicUsize, Ordering};

use komar_proto::TopicFilter;

use crate::level_key::LevelKey;
use crate::one_map::OneMap;
use crate::small_map::SmallMap;

/// Subscribers of one filter: plain subscriptions by subscriber key, and
/// shared groups by name.
#[derive(Debug)]
struct Leaf<T> {
    /// Plain subscriptions: almost always one, kept inline.
    direct: OneMap<u64, T>,
    /// Shared groups, boxed: most filters have none, and every leaf of
    /// every subscribed filter pays for this field.
    #[allow(clippy::box_collection)]
    shared: Option<Box<Vec<SharedGroup<T>>>>,
}

impl<T> Default for Leaf<T> {
    fn default() -> Self {
        Leaf {
            direct: OneMap::default(),
            shared: None,
        }
    }
}

impl<T> Leaf<T> {
    fn is_empty(&self) -> bool {
        self.direct.is_empty() && self.shared.is_none()
    }

    /// The shared groups on this filter.
    fn groups(&self) -> &[SharedGroup<T>] {
        self.shared.as_deref().map_or(&[], |g| g.as_slice())
    }
}

/// The members of one shared subscription group on one filter.
#[derive(Debug)]
pub struct SharedGroup<T> {
    name: Box<str>,
    /// The whole `$share/{group}/{filter}` text.
    filter: TopicFilter,
    members: Vec<(u64, T)>,
    /// Round-robin cursor; atomic so choosing a member needs only the read
    /// lock of the trie.
    cursor: AtomicUsize,
}

impl<T> SharedGroup<T> {
    /// The group name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The shared filter, `$share/{group}/{filter}`.
    pub fn filter(&self) -> &TopicFilter {
        &self.filter
    }

    /// Members in subscription order.
    pub fn members(&self) -> &[(u64, T)] {
        &self.members
    }

    /// Advance the round-robin cursor and return the starting index for
    /// this message.
    pub fn next_index(&self) -> usize {
        let n = self.members.len().max(1);
        self.next_count() % n
    }

    /// Advance the cursor and return its raw value (a per-group counter).
    pub fn next_count(&self) -> usize {
        self.cursor.fetch_add(1, Ordering::Relaxed)
    }
}

#[derive(Debug)]
struct Node<T> {
    children: SmallMap<LevelKey, Node<T>>,
    /// The `+` and `#` slots, boxed together: few nodes have either, and
    /// every node is an entry in its parent's table.
    wild: Option<Box<Wild<T>>>,
    /// Subscriptions ending exactly at this node.
    leaf: Option<Box<Leaf<T>>>,
}

impl<T> Default for Node<T> {
    fn default() -> Self {
        Node {
            children: SmallMap::default(),
            wild: None,
            leaf: None,
        }
    }
}

impl<T> Node<T> {
    fn is_empty(&self) -> bool {
        self.children.is_empty() && self.wild.is_none() && self.leaf.is_none()
    }
}

/// The wildcard slots of a node.
#[derive(Debug)]
struct Wild<T> {
    /// Filters with `+` at the next level.
    plus: Option<Box<Node<T>>>,
    /// Subscriptions to `<this node>/#`.
    hash: Option<Box<Leaf<T>>>,
}

impl<T> Default for Wild<T> {
    fn default() -> Self {
        Wild {
            plus: None,
            hash: None,
        }
    }
}

/// One match found for a topic.
#[derive(Debug)]
pub enum Match<'a, T> {
    /// A plain subscription of subscriber `key`.
    Direct(u64, &'a T),
    /// A shared group; the caller picks one member.
    Shared(&'a SharedGroup<T>),
}

/// Subscriptions indexed by topic filter.
#[derive(Debug)]
pub struct SubscriptionTrie<T> {
    root: Node<T>,
    count: usize,
    shared_count: usize,
}

impl<T> Default for SubscriptionTrie<T> {
    fn default() -> Self {
        SubscriptionTrie {
            root: Node::default(),
            count: 0,
            shared_count: 0,
        }
    }
}

impl<T> SubscriptionTrie<T> {
    /// An empty trie.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of subscriptions (plain and shared).
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when there is no subscription.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Number of shared subscriptions.
    pub fn shared_len(&self) -> usize {
        self.shared_count
    }

    /// Add or replace the subscription of `key` to `filter`. Returns the
    /// previous value if the subscriber already had this exact filter.
    pub fn insert(&mut self, filter: &TopicFilter, key: u64, value: T) -> Option<T> {
        let leaf = leaf_for(&mut self.root, filter.match_filter());
        let old = match filter.shared() {
            None => leaf.direct.insert(key, value),
            Some((group, _)) => {
                let groups = leaf.shared.get_or_insert_with(Box::default);
                let idx = match groups.iter().position(|g| &*g.name == group) {
                    Some(i) => i,
                    None => {
                        groups.push(SharedGroup {
                            name: group.into(),
                            filter: filter.clone(),
                            members: Vec::new(),
                            cursor: AtomicUsize::new(0),
                        });
                        groups.len() - 1
                    }
                };
                let members = match groups.get_mut(idx) {
                    Some(g) => &mut g.members,
                    None => return None,
                };
                match members.iter_mut().find(|(k, _)| *k == key) {
                    Some(slot) => Some(std::mem::replace(&mut slot.1, value)),
                    None => {
                        members.push((key, value));
                        None
                    }
                }
            }
        };
        if old.is_none() {
            self.count += 1;
            if filter.shared().is_some() {
                self.shared_count += 1;
            }
        }
        old
    }

    /// Remove the subscription of `key` to `filter`, pruning empty nodes.
    pub fn remove(&mut self, filter: &TopicFilter, key: u64) -> Option<T> {
        let mut levels = filter.match_filter().split('/');
        let removed = remove_in(
            &mut self.root,
            &mut levels,
            filter.shared().map(|s| s.0),
            key,
        );
        if removed.is_some() {
            self.count -= 1;
            if filter.shared().is_some() {
                self.shared_count -= 1;
            }
        }
        removed
    }

    /// The group of the shared filter `$share/{group}/{filter}`, if it has
    /// members.
    pub fn shared_group(&self, filter: &TopicFilter) -> Option<&SharedGroup<T>> {
        let (group, f) = filter.shared()?;
        let mut node = &self.root;
        let mut levels = f.split('/').peekable();
        let leaf = loop {
            let Some(level) = levels.next() else {
                break node.leaf.as_deref()?;
            };
            if level == "#" && levels.peek().is_none() {
                break node.wild.as_ref()?.hash.as_deref()?;
            }
            node = if level == "+" {
                node.wild.as_ref()?.plus.as_deref()?
            } else {
                node.children.get(level.as_bytes())?
            };
        };
        leaf.groups().iter().find(|g| &*g.name == group)
    }

    /// Visit every subscription matching `topic` (a valid topic name).
    /// Topics starting with `$` are not matched by a first-level wildcard
    /// [MQTT-4.7.2-1]. A subscriber with several matching filters is visited
    /// once per filter; merging is the caller's.
    pub fn for_each_match<'a>(&'a self, topic: &str, f: &mut impl FnMut(Match<'a, T>)) {
        let dollar = topic.starts_with('$');
        walk(&self.root, topic.split('/'), !dollar, f);
    }
}

fn emit<'a, T>(leaf: &'a Option<Box<Leaf<T>>>, f: &mut impl FnMut(Match<'a, T>)) {
    if let Some(leaf) = leaf {
        for (k, v) in leaf.direct.iter() {
            f(Match::Direct(*k, v));
        }
        for g in leaf.groups() {
            if !g.members.is_empty() {
                f(Match::Shared(g));
            }
        }
    }
}

fn walk<'a, T>(
    node: &'a Node<T>,
    mut levels: std::str::Split<'_, char>,
    wildcards_ok: bool,
    f: &mut impl FnMut(Match<'a, T>),
) {
    let Some(level) = levels.next() else {
        // End of topic: exact subscriptions, and `x/#` also matches `x`.
        emit(&node.leaf, f);
        if let Some(wild) = &node.wild {
            emit(&wild.hash, f);
        }
        return;
    };
    if let Some(wild) = node.wild.as_ref().filter(|_| wildcards_ok) {
        emit(&wild.hash, f);
        if let Some(plus) = &wild.plus {
            walk(plus, levels.clone(), true, f);
        }
    }
    if let Some(child) = node.children.get(level.as_bytes()) {
        walk(child, levels, true, f);
    }
}

fn leaf_for<'n, T>(root: &'n mut Node<T>, filter: &str) -> &'n mut Leaf<T> {
    let mut node = root;
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        if level == "#" && levels.peek().is_none() {
            let wild = node.wild.get_or_insert_with(Box::default);
            return wild.hash.get_or_insert_with(Box::default);
        }
        node = if level == "+" {
            let wild = node.wild.get_or_insert_with(Box::default);
            wild.plus.get_or_insert_with(Box::default)
        } else {
            node.children.get_or_insert_with(
                level.as_bytes(),
                |_| LevelKey::new(level),
                Node::default,
            )
        };
    }
    node.leaf.get_or_insert_with(Box::default)
}

fn remove_from_leaf<T>(
    slot: &mut Option<Box<Leaf<T>>>,
    group: Option<&str>,
    key: u64,
) -> Option<T> {
    let leaf = slot.as_mut()?;
    let removed = match group {
        None => leaf.direct.remove(&key),
        Some(name) => {
            let groups = leaf.shared.as_mut()?;
            let gi = groups.iter().position(|g| &*g.name == name)?;
            let g = groups.get_mut(gi)?;
            let mi = g.members.iter().position(|(k, _)| *k == key)?;
            let (_, v) = g.members.remove(mi);
            if g.members.is_empty() {
                groups.remove(gi);
                if groups.is_empty() {
                    leaf.shared = None;
                }
            }
            Some(v)
        }
    };
    if leaf.is_empty() {
        *slot = None;
    }
    removed
}

fn remove_in<T>(
    node: &mut Node<T>,
    levels: &mut std::str::Split<'_, char>,
    group: Option<&str>,
    key: u64,
) -> Option<T> {
    let Some(level) = levels.next() else {
        return remove_from_leaf(&mut node.leaf, group, key);
    };
    if level == "#" || level == "+" {
        let wild = node.wild.as_mut()?;
        let removed = if level == "#" {
            remove_from_leaf(&mut wild.hash, group, key)
        } else {
            let child = wild.plus.as_mut()?;
            let removed = remove_in(child, levels, group, key);
            if child.is_empty() {
                wild.plus = None;
            }
            removed
        };
        if wild.plus.is_none() && wild.hash.is_none() {
            node.wild = None;
        }
        return removed;
    }
    let child = node.children.get_mut(level.as_bytes())?;
    let removed = remove_in(child, levels, group, key);
    if child.is_empty() {
        node.children.remove(level.as_bytes());
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(s: &str) -> TopicFilter {
        TopicFilter::new(s).unwrap()
    }

    fn matched(t: &SubscriptionTrie<u32>, topic: &str) -> Vec<u64> {
        let mut keys = Vec::new();
        t.for_each_match(topic, &mut |m| match m {
            Match::Direct(k, _) => keys.push(k),
            Match::Shared(g) => keys.extend(g.members().iter().map(|(k, _)| *k)),
        });
        keys.sort_unstable();
        keys
    }

    #[test]
    fn wildcards_and_dollar_topics() {
        let mut t = SubscriptionTrie::new();
        t.insert(&f("#"), 1, 0);
        t.insert(&f("a/+"), 2, 0);
        t.insert(&f("a/#"), 3, 0);
        t.insert(&f("a/b"), 4, 0);
        t.insert(&f("$SYS/#"), 5, 0);
        t.insert(&f("+/b"), 6, 0);
        assert_eq!(matched(&t, "a/b"), vec![1, 2, 3, 4, 6]);
        assert_eq!(matched(&t, "a"), vec![1, 3]);
        assert_eq!(matched(&t, "$SYS/b"), vec![5]);
        assert_eq!(matched(&t, "x/y/z"), vec![1]);
        assert_eq!(t.len(), 6);
    }

    #[test]
    fn remove_prunes_and_counts() {
        let mut t = SubscriptionTrie::new();
        t.insert(&f("a/b/c"), 1, 0);
        t.insert(&f("a/+/c"), 1, 0);
        assert_eq!(t.insert(&f("a/b/c"), 1, 9), Some(0));
        assert_eq!(t.len(), 2);
        assert_eq!(t.remove(&f("a/b/c"), 1), Some(9));
        assert_eq!(t.remove(&f("a/b/c"), 1), None);
        assert_eq!(t.remove(&f("a/+/c"), 1), Some(0));
        assert!(t.root.is_empty());
        assert!(t.is_empty());
    }

    mod against_the_filter_rules {
        use proptest::prelude::*;

        use super::*;

        /// Levels that exercise every branch: short and long names (inline
        /// and boxed keys), empty levels, `$` topics.
        const LEVELS: [&str; 6] = ["a", "b", "", "$s", "a-level-longer-than-15", "c"];

        fn topic() -> impl Strategy<Value = String> {
            proptest::collection::vec(proptest::sample::select(&LEVELS[..]), 1..4)
                .prop_map(|l| l.join("/"))
                .prop_filter("a valid topic name", |t| {
                    komar_proto::TopicName::new(t.as_str()).is_ok()
                })
        }

        fn filter() -> impl Strategy<Value = String> {
            let level = prop_oneof![
                4 => proptest::sample::select(&LEVELS[..]),
                1 => Just("+"),
            ];
            (proptest::collection::vec(level, 1..4), any::<bool>())
                .prop_map(|(l, hash)| {
                    let mut f = l.join("/");
                    if hash {
                        f.push_str("/#");
                    }
                    f
                })
                .prop_filter("a valid filter", |f| TopicFilter::new(f.as_str()).is_ok())
        }

        proptest! {
            /// After any subscribes and unsubscribes, a topic matches
            /// exactly the subscribers whose filter matches it by the
            /// filter rules (`TopicFilter::matches`, itself checked
            /// against a reference in komar-proto), each once.
            #[test]
            fn matches_what_the_rules_match(
                subs in proptest::collection::vec((0u64..6, filter()), 0..24),
                unsubs in proptest::collection::vec(0usize..24, 0..8),
                topics in proptest::collection::vec(topic(), 1..8),
            ) {
                let mut t = SubscriptionTrie::new();
                let mut live: Vec<(u64, TopicFilter)> = Vec::new();
                for (key, text) in &subs {
                    let filter = f(text);
                    t.insert(&filter, *key, 0u32);
                    if !live.iter().any(|(k, f)| k == key && f == &filter) {
                        live.push((*key, filter));
                    }
                }
                for i in unsubs {
                    if i < live.len() {
                        let (key, filter) = live.remove(i);
                        prop_assert!(t.remove(&filter, key).is_some());
                    }
                }
                prop_assert_eq!(t.len(), live.len());
                for topic in &topics {
                    let got = matched(&t, topic);
                    let mut want: Vec<u64> = live
                        .iter()
                        .filter(|(_, f)| f.matches(topic))
                        .map(|(k, _)| *k)
                        .collect();
                    want.sort_unstable();
                    prop_assert_eq!(got, want, "topic {}", topic);
                }
                for (key, filter) in &live {
                    t.remove(filter, *key);
                }
                prop_assert!(t.root.is_empty());
            }
        }
    }

    #[test]
    fn shared_groups_hold_members() {
        let mut t = SubscriptionTrie::new();
        t.insert(&f("$share/g/a/#"), 1, 0);
        t.insert(&f("$share/g/a/#"), 2, 0);
        t.insert(&f("$share/h/a/#"), 3, 0);
        let mut groups = Vec::new();
        t.for_each_match("a/x", &mut |m| {
            if let Match::Shared(g) = m {
                groups.push((g.name().to_owned(), g.members().len()));
            }
        });
        groups.sort();
        assert_eq!(groups, vec![("g".into(), 2), ("h".into(), 1)]);
        assert_eq!(t.shared_len(), 3);
        t.remove(&f("$share/g/a/#"), 1);
        t.remove(&f("$share/g/a/#"), 2);
        t.remove(&f("$share/h/a/#"), 3);
        assert!(t.root.is_empty());
    }
}
