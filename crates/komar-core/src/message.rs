//! Application messages as the broker holds them: one immutable, shared
//! [`Message`] per publication, and a [`Delivery`] per recipient that adds
//! what differs between recipients (QoS, retain flag, subscription ids).

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use komar_proto::{PublishProperties, QoS, TopicName};

/// Where a message came from, for no-local [MQTT-3.8.3-3] and for
/// re-checking a retained message's publisher (`check_retain_source`).
#[derive(Debug, Clone)]
pub struct Origin {
    /// The publishing session, if the message came from a client.
    pub session: Option<u64>,
    /// Who published it (`None` for messages the broker made itself).
    pub client: Option<Arc<crate::auth::ClientIdentity>>,
}

impl Origin {
    /// A message the broker made itself (`$SYS`, logs).
    pub fn broker() -> Origin {
        Origin {
            session: None,
            client: None,
        }
    }
}

/// One publication, shared by every recipient, the retained store and the
/// queues. Its payload is its own allocation (never a view into a read
/// buffer), so holding it costs what it counts.
#[derive(Debug, Clone)]
pub struct Message {
    /// Topic as published (after mount point and alias resolution).
    pub topic: TopicName,
    /// The payload.
    pub payload: Bytes,
    /// QoS the publisher used (the most any recipient gets).
    pub qos: QoS,
    /// RETAIN flag as published.
    pub retain: bool,
    /// v5 properties to pass on: payload format, content type, response
    /// topic, correlation data, user properties, message expiry. Topic alias
    /// and subscription identifiers are per-hop and never stored.
    pub properties: PublishProperties,
    /// When the message expires (v5 Message Expiry Interval), if ever.
    pub expires_at: Option<Instant>,
    /// Who published it.
    pub origin: Origin,
}

impl Message {
    /// Whether the message has expired at `now` [MQTT-3.3.2-5].
    pub fn is_expired(&self, now: Instant) -> bool {
        self.expires_at.is_some_and(|t| now >= t)
    }

    /// Seconds left before expiry, for the Message Expiry Interval sent on
    /// delivery [MQTT-3.3.2-6], rounded up (a message sent within the second
    /// it arrived keeps its interval, as with Mosquitto); `None` if the
    /// message never expires.
    pub fn remaining_expiry(&self, now: Instant) -> Option<u32> {
        let left = self.expires_at?.saturating_duration_since(now);
        let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
        Some(u32::try_from(secs).unwrap_or(u32::MAX).max(1))
    }

    /// Bytes this message costs in queues: payload plus topic, the measure
    /// `max_queued_bytes` applies to (Mosquitto counts the payload).
    pub fn cost(&self) -> usize {
        self.payload.len() + self.topic.as_str().len()
    }

    /// The message as published at `now`: a message that still carries its
    /// Message Expiry Interval in its properties (a will, kept unarmed
    /// through its Will Delay) starts its expiry now.
    pub fn armed(self: Arc<Self>, now: Instant) -> Arc<Message> {
        if self.properties.message_expiry_interval.is_none() {
            return self;
        }
        Arc::new(Message::clone(&self).with_expiry_from_properties(now))
    }

    /// Set `expires_at` from a v5 Message Expiry Interval received at `now`.
    /// The interval leaves the stored properties: each delivery sends what
    /// is left of it.
    pub fn with_expiry_from_properties(mut self, now: Instant) -> Message {
        self.expires_at = self
            .properties
            .message_expiry_interval
            .take()
            .map(|s| now + Duration::from_secs(u64::from(s)));
        self
    }
}

/// Subscription identifiers attached to one delivery [MQTT-3.3.4-3]. Most
/// deliveries carry none or one, so those cases do not allocate.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SubIds {
    /// No identifier.
    #[default]
    None,
    /// One identifier.
    One(NonZeroU32),
    /// Several overlapping subscriptions with identifiers.
    Many(Box<[u32]>),
}

impl SubIds {
    /// Add an identifier (keeps all of them, in order of addition).
    pub fn push(&mut self, id: NonZeroU32) {
        *self = match std::mem::take(self) {
            SubIds::None => SubIds::One(id),
            SubIds::One(a) => SubIds::Many(Box::new([a.get(), id.get()])),
            SubIds::Many(v) => {
                let mut v = v.into_vec();
                v.push(id.get());
                SubIds::Many(v.into_boxed_slice())
            }
        };
    }

    /// The identifiers as a list for the PUBLISH properties.
    pub fn to_vec(&self) -> Vec<u32> {
        match self {
            SubIds::None => Vec::new(),
            SubIds::One(a) => vec![a.get()],
            SubIds::Many(v) => v.to_vec(),
        }
    }
}

/// A message on its way to one client: the shared message plus what this
/// recipient's subscription decided.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The message.
    pub msg: Arc<Message>,
    /// QoS for this recipient: min(published, granted) [MQTT-3.8.4-8].
    pub qos: QoS,
    /// RETAIN flag to send (retain-as-published, or set for retained
    /// messages sent because of a new subscription [MQTT-3.3.1-8]).
    pub retain: bool,
    /// Identifiers of the matching subscriptions.
    pub sub_ids: SubIds,
    /// The shared subscription (`$share/group/filter`) this delivery was
    /// chosen for, so it can go to another member if this one disconnects
    /// before acknowledging it (§4.8.2).
    pub shared: Option<komar_proto::TopicFilter>,
    /// Where durable storage holds this delivery, if it does (deliveries of
    /// QoS 1/2 messages to persistent sessions).
    pub stored: Option<Stored>,
}

/// A delivery's place in durable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    /// Position in the session's stored queue.
    pub queue_seq: u64,
    /// The stored message it refers to.
    pub msg_id: u64,
}

impl Delivery {
    /// Bytes this delivery holds in a queue.
    pub fn cost(&self) -> usize {
        self.msg.cost()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_ids_grow_without_losing_order() {
        let mut s = SubIds::None;
        for i in [3u32, 1, 7] {
            s.push(NonZeroU32::new(i).unwrap());
        }
        assert_eq!(s.to_vec(), vec![3, 1, 7]);
    }

    #[test]
    fn expiry_counts_down_and_never_sends_zero() {
        let now = Instant::now();
        let m = Message {
            topic: TopicName::new("t").unwrap(),
            payload: Bytes::new(),
            qos: QoS::AtMostOnce,
            retain: false,
            properties: PublishProperties {
                message_expiry_interval: Some(10),
                ..Default::default()
            },
            expires_at: None,
            origin: Origin::broker(),
        }
        .with_expiry_from_properties(now);
        assert_eq!(m.remaining_expiry(now), Some(10));
        assert_eq!(
            m.remaining_expiry(now + Duration::from_millis(9_500)),
            Some(1)
        );
        assert!(m.is_expired(now + Duration::from_secs(10)));
    }
}
