//! Sans-IO session state of one connection: packet identifier allocation
//! with the requests waiting on them, the broker's Receive Maximum window,
//! incoming QoS 2 identifiers awaiting PUBREL and incoming topic aliases.
//! No sockets and no clock here, so every rule is unit-tested directly.

use std::collections::HashMap;

use komar_proto::{PacketId, Publish, TopicName};

use crate::error::ClientError;

/// Packet identifiers in use, each with the request waiting on it. At most
/// 65,535 entries: the identifier space [MQTT-2.2.1-3].
#[derive(Debug)]
pub(crate) struct PacketIds<T> {
    map: HashMap<u16, T>,
    next: u16,
}

impl<T> PacketIds<T> {
    pub(crate) fn new() -> PacketIds<T> {
        PacketIds {
            map: HashMap::new(),
            next: 1,
        }
    }

    /// Take the next free identifier for `value`; gives `value` back when
    /// all 65,535 are in use. An identifier is reused only once the
    /// exchange that held it is complete [MQTT-2.2.1-3].
    pub(crate) fn allocate(&mut self, value: T) -> Result<PacketId, T> {
        if self.map.len() >= usize::from(u16::MAX) {
            return Err(value);
        }
        let mut candidate = self.next;
        loop {
            if candidate == 0 {
                candidate = 1;
            }
            if !self.map.contains_key(&candidate) {
                break;
            }
            candidate = candidate.wrapping_add(1);
        }
        let Some(id) = PacketId::new(candidate) else {
            // Unreachable: the loop above never settles on 0.
            return Err(value);
        };
        self.next = candidate.wrapping_add(1);
        self.map.insert(candidate, value);
        Ok(id)
    }

    pub(crate) fn get_mut(&mut self, id: PacketId) -> Option<&mut T> {
        self.map.get_mut(&id.get())
    }

    pub(crate) fn remove(&mut self, id: PacketId) -> Option<T> {
        self.map.remove(&id.get())
    }

    pub(crate) fn is_full(&self) -> bool {
        self.map.len() >= usize::from(u16::MAX)
    }

    /// Remove every entry (the connection is gone).
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = T> + '_ {
        self.map.drain().map(|(_, v)| v)
    }
}

/// The broker's Receive Maximum: QoS 1/2 publishes sent and not yet
/// acknowledged may not exceed it [MQTT-4.9.0-2].
#[derive(Debug, Clone, Copy)]
pub(crate) struct SendQuota {
    max: u16,
    used: u16,
}

impl SendQuota {
    pub(crate) fn new(max: u16) -> SendQuota {
        SendQuota {
            max: max.max(1),
            used: 0,
        }
    }

    pub(crate) fn try_take(&mut self) -> bool {
        if self.used < self.max {
            self.used += 1;
            true
        } else {
            false
        }
    }

    pub(crate) fn give_back(&mut self) {
        self.used = self.used.saturating_sub(1);
    }

    pub(crate) fn available(&self) -> bool {
        self.used < self.max
    }
}

/// Incoming QoS 2 identifiers whose PUBREL has not arrived, each with the
/// message when delivery waits for PUBREL. Bounded by the Receive Maximum
/// this client announced; more is a Protocol Error [MQTT-3.3.4-9].
#[derive(Debug)]
pub(crate) struct IncomingQos2 {
    max: usize,
    pending: HashMap<u16, Option<Publish>>,
}

impl IncomingQos2 {
    pub(crate) fn new(max: u16) -> IncomingQos2 {
        IncomingQos2 {
            max: usize::from(max.max(1)),
            pending: HashMap::new(),
        }
    }

    /// Record a QoS 2 PUBLISH; `Ok(true)` when it is new, `Ok(false)` for a
    /// re-sent one already received. `held` is kept until PUBREL.
    pub(crate) fn on_publish(
        &mut self,
        id: PacketId,
        held: Option<Publish>,
    ) -> Result<bool, ClientError> {
        if self.pending.contains_key(&id.get()) {
            return Ok(false);
        }
        if self.pending.len() >= self.max {
            return Err(ClientError::Protocol(format!(
                "broker exceeded the receive maximum of {}",
                self.max
            )));
        }
        self.pending.insert(id.get(), held);
        Ok(true)
    }

    /// PUBREL: `None` when the identifier was unknown, else the held
    /// message, if any.
    pub(crate) fn on_pubrel(&mut self, id: PacketId) -> Option<Option<Publish>> {
        self.pending.remove(&id.get())
    }
}

/// Topic aliases the broker set on PUBLISH packets to this client (5.0,
/// §3.3.2.3.4). At most the Topic Alias Maximum this client announced.
#[derive(Debug)]
pub(crate) struct InboundAliases {
    max: u16,
    map: HashMap<u16, TopicName>,
}

impl InboundAliases {
    pub(crate) fn new(max: u16) -> InboundAliases {
        InboundAliases {
            max,
            map: HashMap::new(),
        }
    }

    /// Give `publish` its full topic: remember the alias when the topic is
    /// present, look it up when the topic is empty. The alias property is
    /// kept so the application can see it.
    ///
    /// # Errors
    /// An alias of 0 or above the maximum [MQTT-3.3.2-9], or an empty
    /// topic with an alias never set.
    pub(crate) fn resolve(&mut self, publish: &mut Publish) -> Result<(), ClientError> {
        let Some(alias) = publish.properties.topic_alias else {
            return Ok(());
        };
        if alias == 0 || alias > self.max {
            return Err(ClientError::Protocol(format!(
                "topic alias {alias} outside 1..={}",
                self.max
            )));
        }
        if publish.topic.is_empty() {
            match self.map.get(&alias) {
                Some(t) => publish.topic = t.clone(),
                None => {
                    return Err(ClientError::Protocol(format!(
                        "topic alias {alias} used before it was set"
                    )))
                }
            }
        } else {
            self.map.insert(alias, publish.topic.clone());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use komar_proto::QosPid;

    #[test]
    fn ids_skip_used_and_wrap() {
        let mut ids = PacketIds::new();
        let a = ids.allocate('a').unwrap();
        let b = ids.allocate('b').unwrap();
        assert_eq!((a.get(), b.get()), (1, 2));
        assert_eq!(ids.remove(a), Some('a'));
        ids.next = u16::MAX;
        assert_eq!(ids.allocate('c').unwrap().get(), u16::MAX);
        // 1 is free again, 2 is taken.
        assert_eq!(ids.allocate('d').unwrap().get(), 1);
        assert_eq!(ids.allocate('e').unwrap().get(), 3);
    }

    #[test]
    fn ids_exhaust() {
        let mut ids = PacketIds::new();
        for _ in 0..u16::MAX {
            ids.allocate(()).unwrap();
        }
        assert!(ids.is_full());
        assert!(ids.allocate(()).is_err());
        ids.remove(PacketId::new(77).unwrap());
        assert_eq!(ids.allocate(()).unwrap().get(), 77);
    }

    #[test]
    fn quota_counts() {
        let mut q = SendQuota::new(2);
        assert!(q.try_take() && q.try_take());
        assert!(!q.try_take());
        q.give_back();
        assert!(q.available());
    }

    #[test]
    fn qos2_dedup_and_bound() {
        let mut q = IncomingQos2::new(1);
        let one = PacketId::new(1).unwrap();
        assert!(q.on_publish(one, None).unwrap());
        assert!(!q.on_publish(one, None).unwrap());
        assert!(q.on_publish(PacketId::new(2).unwrap(), None).is_err());
        assert_eq!(q.on_pubrel(one), Some(None));
        assert_eq!(q.on_pubrel(one), None);
        let held = publish("h", None);
        assert!(q.on_publish(one, Some(held.clone())).unwrap());
        assert_eq!(q.on_pubrel(one), Some(Some(held)));
    }

    fn publish(topic: &str, alias: Option<u16>) -> Publish {
        let mut p = Publish {
            dup: false,
            qos_pid: QosPid::AtMostOnce,
            retain: false,
            topic: if topic.is_empty() {
                TopicName::empty_for_alias()
            } else {
                TopicName::new(topic).unwrap()
            },
            properties: Default::default(),
            payload: Bytes::new(),
        };
        p.properties.topic_alias = alias;
        p
    }

    #[test]
    fn aliases_resolve() {
        let mut a = InboundAliases::new(2);
        let mut p = publish("a/b", Some(1));
        a.resolve(&mut p).unwrap();
        let mut q = publish("", Some(1));
        a.resolve(&mut q).unwrap();
        assert_eq!(q.topic.as_str(), "a/b");
        assert!(a.resolve(&mut publish("", Some(2))).is_err());
        assert!(a.resolve(&mut publish("x", Some(3))).is_err());
        assert!(a.resolve(&mut publish("x", Some(0))).is_err());
        let mut plain = publish("x", None);
        a.resolve(&mut plain).unwrap();
    }
}
