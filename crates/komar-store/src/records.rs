//! The plain records the store keeps and gives back on recovery: messages,
//! sessions, subscriptions, queued and in-flight deliveries, pending wills,
//! and the [`Snapshot`] that holds all of them after [`crate::Store::open`].
//!
//! These types belong to the store, not to the broker core: the core maps
//! its own types to them (komar-core must not be a dependency of this
//! crate). They use komar-proto's validated types (`TopicName`,
//! `TopicFilter`, `QoS`, `PacketId`), so a record read back from disk is as
//! valid as one built from the wire.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use komar_proto::{
    PacketId, ProtocolVersion, PublishProperties, QoS, SubscriptionOptions, TopicFilter, TopicName,
};

/// Identifier of a stored message, unique for the life of the store
/// (allocated by [`crate::Store::next_message_id`], never reused).
pub type MsgId = u64;

/// A wall-clock instant as milliseconds since the UNIX epoch. Deadlines are
/// stored this way so they keep their meaning across restarts (a monotonic
/// `Instant` does not survive the process).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct UnixTime(pub u64);

impl UnixTime {
    /// The current wall-clock time (0 if the clock is before 1970).
    pub fn now() -> UnixTime {
        UnixTime::from_system_time(SystemTime::now())
    }

    /// Convert a `SystemTime`; times before the epoch become 0 and times
    /// beyond `u64::MAX` milliseconds saturate.
    pub fn from_system_time(t: SystemTime) -> UnixTime {
        let ms = t
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        UnixTime(ms)
    }

    /// The same instant as a `SystemTime`.
    pub fn to_system_time(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.0)
    }

    /// This instant plus `d` (saturating).
    pub fn plus(self, d: Duration) -> UnixTime {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        UnixTime(self.0.saturating_add(ms))
    }

    /// How long from `now` until this instant (zero if it has passed).
    pub fn saturating_since(self, now: UnixTime) -> Duration {
        Duration::from_millis(self.0.saturating_sub(now.0))
    }
}

/// Who published a message, kept for `check_retain_source` and no-local
/// after a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginRecord {
    /// Client identifier of the publisher.
    pub client_id: String,
    /// User name the publisher logged in with, if any.
    pub username: Option<String>,
}

/// One application message as stored: everything needed to send it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// Topic as published.
    pub topic: TopicName,
    /// The payload.
    pub payload: Bytes,
    /// QoS the publisher used.
    pub qos: QoS,
    /// RETAIN flag as published.
    pub retain: bool,
    /// v5 properties as the broker keeps them (stored as given).
    pub properties: PublishProperties,
    /// Wall-clock expiry (v5 Message Expiry Interval), if any.
    pub expires_at: Option<UnixTime>,
    /// The publisher, if it was a client.
    pub origin: Option<OriginRecord>,
}

/// What one recipient gets of a stored message: the message by id plus the
/// per-recipient QoS, RETAIN flag and subscription identifiers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// The message (stored once, shared by every session it is queued for).
    pub msg: MsgId,
    /// QoS for this recipient.
    pub qos: QoS,
    /// RETAIN flag to send.
    pub retain: bool,
    /// Subscription identifiers of the matching subscriptions.
    pub sub_ids: Vec<u32>,
}

/// Where an outgoing QoS 1/2 message is in its acknowledgement flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutState {
    /// QoS 1 PUBLISH sent, waiting for PUBACK.
    AwaitPubAck,
    /// QoS 2 PUBLISH sent, waiting for PUBREC.
    AwaitPubRec,
    /// PUBREL sent, waiting for PUBCOMP.
    AwaitPubComp,
}

/// One outgoing message in flight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingRecord {
    /// Packet identifier it was sent with.
    pub packet_id: PacketId,
    /// Acknowledgement state.
    pub state: OutState,
    /// Send order (re-sent in this order on reconnect [MQTT-4.4.0-1]).
    pub seq: u64,
    /// What was sent.
    pub delivery: DeliveryRecord,
}

/// A persistent session's own fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// Client identifier.
    pub client_id: String,
    /// Protocol version of the last connection (how to encode its queue).
    pub protocol: ProtocolVersion,
    /// Session Expiry Interval in seconds (`u32::MAX` = never).
    pub expiry_interval: u32,
    /// Wall-clock time at which the session expires, once disconnected;
    /// `None` while connected or when it never expires.
    pub expires_at: Option<UnixTime>,
    /// User name of the last connection, for access checks of restored
    /// subscriptions.
    pub username: Option<String>,
}

/// A subscription's options as granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscriptionRecord {
    /// Options as granted.
    pub options: SubscriptionOptions,
    /// v5 Subscription Identifier.
    pub id: Option<NonZeroU32>,
}

/// A will waiting for its Will Delay Interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WillRecord {
    /// When to publish it (wall clock).
    pub due: UnixTime,
    /// The will message.
    pub message: StoredMessage,
}

/// Everything stored for one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionState {
    /// The session's own fields.
    pub record: SessionRecord,
    /// Subscriptions, ordered by filter.
    pub subscriptions: Vec<(TopicFilter, SubscriptionRecord)>,
    /// Queued deliveries with their sequence numbers, oldest first.
    pub queue: Vec<(u64, DeliveryRecord)>,
    /// Outgoing QoS 1/2 messages in flight, in send order (`seq`).
    pub outgoing: Vec<OutgoingRecord>,
    /// Incoming QoS 2 packet ids received and not yet released by PUBREL
    /// [MQTT-4.3.3-10], ascending.
    pub incoming_qos2: Vec<PacketId>,
    /// A will waiting for its delay.
    pub will: Option<WillRecord>,
}

/// An entry that could not be read back and was left out of the snapshot
/// (it stays on disk untouched).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Which table it is in (`"sessions"`, `"queue"`, ...).
    pub table: &'static str,
    /// Its key, printable (lossy UTF-8 with the numeric suffix in hex).
    pub key: String,
    /// Why it was skipped.
    pub reason: String,
}

/// Everything the store holds, as read at open: the input of recovery.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Persistent sessions, ordered by client id.
    pub sessions: Vec<SessionState>,
    /// Every message referenced by a queued or in-flight delivery, once.
    pub messages: HashMap<MsgId, Arc<StoredMessage>>,
    /// Retained messages, ordered by topic.
    pub retained: Vec<StoredMessage>,
    /// Entries that could not be read (corrupt values, dangling references
    /// to missing messages, state of a client without a session record).
    pub skipped: Vec<Skipped>,
    /// Messages no delivery referred to any more, deleted at open.
    pub orphans_removed: usize,
}

impl Snapshot {
    /// The message a delivery refers to.
    pub fn message(&self, id: MsgId) -> Option<&Arc<StoredMessage>> {
        self.messages.get(&id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_time_round_trips_and_saturates() {
        let t = UnixTime(1_700_000_000_123);
        assert_eq!(UnixTime::from_system_time(t.to_system_time()), t);
        assert_eq!(
            UnixTime::from_system_time(UNIX_EPOCH - Duration::from_secs(5)),
            UnixTime(0)
        );
        assert_eq!(UnixTime(u64::MAX).plus(Duration::from_secs(1)).0, u64::MAX);
        assert_eq!(
            UnixTime(5_000).saturating_since(UnixTime(2_000)),
            Duration::from_secs(3)
        );
        assert_eq!(UnixTime(1).saturating_since(UnixTime(9)), Duration::ZERO);
    }
}
