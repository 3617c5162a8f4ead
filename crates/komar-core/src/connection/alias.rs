//! Topic aliases the broker sets up towards a v5 client (§3.3.2.3.4): the
//! first `max` distinct topics sent get an alias; afterwards a message to
//! one of them carries only the alias and an empty topic. Aliases belong to
//! one network connection [MQTT-3.3.2-7] and are never reassigned, so the
//! table is bounded by `max` (at most `max_topic_alias_broker`).

use std::collections::HashMap;
use std::sync::Arc;

use foldhash::fast::RandomState;

/// What to send for one topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AliasUse {
    /// No alias: the full topic only.
    None,
    /// A new alias: the full topic and the alias, which the client records.
    Set(u16),
    /// A known alias: an empty topic and the alias.
    Known(u16),
}

/// The broker-to-client alias table of one connection.
#[derive(Debug)]
pub(crate) struct AliasesOut {
    max: u16,
    map: HashMap<Arc<str>, u16, RandomState>,
}

impl AliasesOut {
    /// A table for at most `max` aliases; `None` when `max` is 0.
    pub(crate) fn new(max: u16) -> Option<Box<AliasesOut>> {
        (max > 0).then(|| {
            Box::new(AliasesOut {
                max,
                map: HashMap::default(),
            })
        })
    }

    /// The alias to use for `topic`; a new one is only recorded by
    /// [`AliasesOut::commit`], once the message is really sent (a message
    /// dropped for its size must not leave the client an alias it never
    /// saw).
    pub(crate) fn peek(&self, topic: &str) -> AliasUse {
        if let Some(&a) = self.map.get(topic) {
            return AliasUse::Known(a);
        }
        let next = u16::try_from(self.map.len())
            .unwrap_or(u16::MAX)
            .saturating_add(1);
        if next > self.max {
            AliasUse::None
        } else {
            AliasUse::Set(next)
        }
    }

    /// Record an alias [`AliasesOut::peek`] proposed, after sending it.
    pub(crate) fn commit(&mut self, topic: &str, used: AliasUse) {
        if let AliasUse::Set(a) = used {
            self.map.insert(Arc::from(topic), a);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assigns_until_full_then_sends_topics() {
        let mut a = AliasesOut::new(2).unwrap();
        let mut use_ = |t: &str| {
            let u = a.peek(t);
            a.commit(t, u);
            u
        };
        assert_eq!(use_("a"), AliasUse::Set(1));
        assert_eq!(use_("b"), AliasUse::Set(2));
        assert_eq!(use_("a"), AliasUse::Known(1));
        assert_eq!(use_("c"), AliasUse::None);
        assert_eq!(use_("b"), AliasUse::Known(2));
        assert!(AliasesOut::new(0).is_none());
    }

    #[test]
    fn peek_without_commit_assigns_nothing() {
        let mut a = AliasesOut::new(1).unwrap();
        assert_eq!(a.peek("x"), AliasUse::Set(1));
        assert_eq!(a.peek("y"), AliasUse::Set(1));
        a.commit("y", AliasUse::Set(1));
        assert_eq!(a.peek("x"), AliasUse::None);
        assert_eq!(a.peek("y"), AliasUse::Known(1));
    }
}
