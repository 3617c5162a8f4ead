//! The retained-message store: the last retained message of every topic,
//! indexed level by level so a new subscription's filter walks only the
//! branches it can match. Clearing (an empty retained payload) removes the
//! topic and prunes empty nodes [MQTT-3.3.1-6] [MQTT-3.3.1-7].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use foldhash::fast::RandomState;

use crate::message::Message;

#[derive(Debug, Default)]
struct Node {
    children: HashMap<Box<str>, Node, RandomState>,
    msg: Option<Arc<Message>>,
    /// When this node was created: siblings are visited in creation order,
    /// so a wildcard subscription receives retained messages in the order
    /// Mosquitto sends them (its tree keeps insertion order).
    seq: u64,
}

impl Node {
    fn is_empty(&self) -> bool {
        self.children.is_empty() && self.msg.is_none()
    }
}

/// Retained messages by topic.
#[derive(Debug, Default)]
pub struct RetainedStore {
    /// Storage position of the last change recorded (see
    /// `persist::ticket_after`).
    pub(crate) last_pos: u64,
    root: Node,
    count: usize,
    bytes: usize,
    next_seq: u64,
}

impl RetainedStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of retained messages.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when nothing is retained.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Payload and topic bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Store `msg` as the retained message of its topic, replacing any
    /// previous one [MQTT-3.3.1-5]; an empty payload clears the topic
    /// instead [MQTT-3.3.1-6]. Returns the message that was replaced.
    pub fn set(&mut self, msg: Arc<Message>) -> Option<Arc<Message>> {
        if msg.payload.is_empty() {
            return self.remove(msg.topic.as_str());
        }
        let mut node = &mut self.root;
        for level in msg.topic.levels() {
            let seq = &mut self.next_seq;
            node = node.children.entry(level.into()).or_insert_with(|| {
                *seq += 1;
                Node {
                    seq: *seq,
                    ..Node::default()
                }
            });
        }
        self.bytes += msg.cost();
        let old = node.msg.replace(msg);
        match &old {
            Some(o) => self.bytes -= o.cost(),
            None => self.count += 1,
        }
        old
    }

    /// Remove the retained message of `topic`.
    pub fn remove(&mut self, topic: &str) -> Option<Arc<Message>> {
        let removed = remove_in(&mut self.root, &mut topic.split('/'))?;
        self.count -= 1;
        self.bytes -= removed.cost();
        Some(removed)
    }

    /// The retained message of exactly `topic`.
    pub fn get(&self, topic: &str) -> Option<&Arc<Message>> {
        let mut node = &self.root;
        for level in topic.split('/') {
            node = node.children.get(level)?;
        }
        node.msg.as_ref()
    }

    /// Visit every unexpired retained message whose topic matches `filter`
    /// (a non-shared filter). A first-level wildcard does not match topics
    /// starting with `$` [MQTT-4.7.2-1].
    pub fn for_each_match(&self, filter: &str, now: Instant, f: &mut impl FnMut(&Arc<Message>)) {
        walk(&self.root, filter.split('/'), true, now, f);
    }

    /// Drop every expired message; returns the topics dropped.
    pub fn remove_expired(&mut self, now: Instant) -> Vec<Arc<str>> {
        let mut expired = Vec::new();
        collect_expired(&self.root, now, &mut expired);
        for topic in &expired {
            self.remove(topic);
        }
        expired
    }
}

/// Children in creation order.
fn ordered(node: &Node) -> Vec<(&str, &Node)> {
    let mut kids: Vec<(&str, &Node)> = node.children.iter().map(|(k, n)| (&**k, n)).collect();
    kids.sort_unstable_by_key(|(_, n)| n.seq);
    kids
}

fn visible(msg: &Option<Arc<Message>>, now: Instant) -> Option<&Arc<Message>> {
    msg.as_ref().filter(|m| !m.is_expired(now))
}

fn walk(
    node: &Node,
    mut levels: std::str::Split<'_, char>,
    at_root: bool,
    now: Instant,
    f: &mut impl FnMut(&Arc<Message>),
) {
    let Some(level) = levels.next() else {
        if let Some(m) = visible(&node.msg, now) {
            f(m);
        }
        return;
    };
    match level {
        "#" => {
            // `a/#` also matches `a` itself (§4.7.1.2).
            if !at_root {
                if let Some(m) = visible(&node.msg, now) {
                    f(m);
                }
            }
            for (name, child) in ordered(node) {
                if !(at_root && name.starts_with('$')) {
                    all_below(child, now, f);
                }
            }
        }
        "+" => {
            for (name, child) in ordered(node) {
                if !(at_root && name.starts_with('$')) {
                    walk(child, levels.clone(), false, now, f);
                }
            }
        }
        _ => {
            if let Some(child) = node.children.get(level) {
                walk(child, levels, false, now, f);
            }
        }
    }
}

fn all_below(node: &Node, now: Instant, f: &mut impl FnMut(&Arc<Message>)) {
    if let Some(m) = visible(&node.msg, now) {
        f(m);
    }
    for (_, child) in ordered(node) {
        all_below(child, now, f);
    }
}

fn collect_expired(node: &Node, now: Instant, out: &mut Vec<Arc<str>>) {
    if let Some(m) = &node.msg {
        if m.is_expired(now) {
            out.push(m.topic.as_arc().clone());
        }
    }
    for child in node.children.values() {
        collect_expired(child, now, out);
    }
}

fn remove_in(node: &mut Node, levels: &mut std::str::Split<'_, char>) -> Option<Arc<Message>> {
    let Some(level) = levels.next() else {
        return node.msg.take();
    };
    let child = node.children.get_mut(level)?;
    let removed = remove_in(child, levels);
    if child.is_empty() {
        node.children.remove(level);
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Origin;
    use bytes::Bytes;
    use komar_proto::{QoS, TopicName};

    fn msg(topic: &str, payload: &'static str) -> Arc<Message> {
        Arc::new(Message {
            topic: TopicName::new(topic).unwrap(),
            payload: Bytes::from_static(payload.as_bytes()),
            qos: QoS::AtMostOnce,
            retain: true,
            properties: Default::default(),
            expires_at: None,
            origin: Origin::broker(),
        })
    }

    fn topics(s: &RetainedStore, filter: &str) -> Vec<String> {
        let mut v = in_order(s, filter);
        v.sort();
        v
    }

    fn in_order(s: &RetainedStore, filter: &str) -> Vec<String> {
        let mut v = Vec::new();
        s.for_each_match(filter, Instant::now(), &mut |m| v.push(m.topic.to_string()));
        v
    }

    #[test]
    fn wildcards_visit_topics_in_creation_order_depth_first() {
        let mut s = RetainedStore::new();
        for t in ["r/2", "r/0", "q/x", "r/1", "r/0/deep"] {
            s.set(msg(t, "x"));
        }
        assert_eq!(in_order(&s, "r/#"), vec!["r/2", "r/0", "r/0/deep", "r/1"]);
        assert_eq!(
            in_order(&s, "#"),
            vec!["r/2", "r/0", "r/0/deep", "r/1", "q/x"]
        );
    }

    #[test]
    fn set_replace_clear() {
        let mut s = RetainedStore::new();
        s.set(msg("a/b", "1"));
        s.set(msg("a/b", "22"));
        assert_eq!(s.len(), 1);
        assert_eq!(s.get("a/b").unwrap().payload, "22");
        assert_eq!(s.bytes(), 5);
        s.set(msg("a/b", ""));
        assert!(s.is_empty());
        assert!(s.root.is_empty());
        assert_eq!(s.bytes(), 0);
    }

    #[test]
    fn filters_match_like_subscriptions() {
        let mut s = RetainedStore::new();
        for t in ["a", "a/b", "a/b/c", "b/b", "$SYS/x", "/a"] {
            s.set(msg(t, "x"));
        }
        assert_eq!(topics(&s, "#"), vec!["/a", "a", "a/b", "a/b/c", "b/b"]);
        assert_eq!(topics(&s, "a/#"), vec!["a", "a/b", "a/b/c"]);
        assert_eq!(topics(&s, "+/b"), vec!["a/b", "b/b"]);
        assert_eq!(topics(&s, "+"), vec!["a"]);
        assert_eq!(topics(&s, "+/+"), vec!["/a", "a/b", "b/b"]);
        assert_eq!(topics(&s, "$SYS/#"), vec!["$SYS/x"]);
        assert_eq!(topics(&s, "a/b"), vec!["a/b"]);
    }
}
