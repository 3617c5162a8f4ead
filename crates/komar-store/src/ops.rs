//! The write operations the broker sends to the store. A caller submits a
//! group of them (`Vec<Op>`) at a time; a group is applied atomically — all
//! of it is committed in one engine batch, or none of it — and groups are
//! applied in the order they were submitted.
//!
//! # Message references
//! A message is stored once ([`Op::PutMessage`]) and referred to by id from
//! queued ([`Op::Enqueue`]) and in-flight ([`Op::PutOutgoing`]) deliveries.
//! The store counts the references itself: removing a delivery (dequeue,
//! in-flight removal, deleting the session) releases one, and a message
//! left with none at the end of a commit is deleted. A message must
//! therefore be referred to in the same group that puts it. Retained
//! messages and wills are stored whole and do not take part in this.
//!
//! Client identifiers are shared (`Arc<str>`): the broker hands over the
//! ones it holds, without a copy per op.

use std::sync::Arc;

use komar_proto::{PacketId, TopicFilter, TopicName};

use crate::records::{
    DeliveryRecord, MsgId, OutState, OutgoingRecord, SessionRecord, StoredMessage,
    SubscriptionRecord, WillRecord,
};

/// One change to the stored state.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Create or replace a session's own fields (subscriptions, queue and
    /// in-flight state are untouched).
    PutSession(SessionRecord),
    /// End a session: delete it with its subscriptions, queue, in-flight
    /// state both ways and pending will, releasing the messages they held.
    DeleteSession {
        /// Client identifier.
        client_id: Arc<str>,
    },
    /// Add or replace a subscription.
    PutSubscription {
        /// Client identifier.
        client_id: Arc<str>,
        /// The topic filter.
        filter: TopicFilter,
        /// Options and identifier.
        record: SubscriptionRecord,
    },
    /// Remove a subscription (no-op if absent).
    DeleteSubscription {
        /// Client identifier.
        client_id: Arc<str>,
        /// The topic filter.
        filter: TopicFilter,
    },
    /// Store a message under `id` (from [`crate::Store::next_message_id`]).
    /// It must be referred to by a delivery in the same group.
    PutMessage {
        /// The message's id.
        id: MsgId,
        /// The message.
        message: StoredMessage,
    },
    /// Queue a delivery for a session at position `seq` (the caller's
    /// per-session counter; the snapshot returns queues in `seq` order).
    /// Replaces an entry with the same `seq`.
    Enqueue {
        /// Client identifier.
        client_id: Arc<str>,
        /// Position in the session's queue.
        seq: u64,
        /// What to deliver.
        delivery: DeliveryRecord,
    },
    /// Remove a queued delivery (no-op if absent).
    Dequeue {
        /// Client identifier.
        client_id: Arc<str>,
        /// Position in the session's queue.
        seq: u64,
    },
    /// Record an outgoing QoS 1/2 message as in flight (replaces an entry
    /// with the same packet id). Moving a message from the queue into
    /// flight is `Dequeue` + `PutOutgoing` in one group.
    PutOutgoing {
        /// Client identifier.
        client_id: Arc<str>,
        /// The in-flight entry.
        record: OutgoingRecord,
    },
    /// Move an in-flight message to another state (PUBREC received: now
    /// awaiting PUBCOMP). No-op if the packet id is not in flight.
    SetOutgoingState {
        /// Client identifier.
        client_id: Arc<str>,
        /// Packet identifier.
        packet_id: PacketId,
        /// The new state.
        state: OutState,
    },
    /// Forget an in-flight message (PUBACK or PUBCOMP received).
    DeleteOutgoing {
        /// Client identifier.
        client_id: Arc<str>,
        /// Packet identifier.
        packet_id: PacketId,
    },
    /// Remember an incoming QoS 2 packet id (PUBREC sent) [MQTT-4.3.3-10].
    AddIncomingQos2 {
        /// Client identifier.
        client_id: Arc<str>,
        /// Packet identifier.
        packet_id: PacketId,
    },
    /// Forget an incoming QoS 2 packet id (PUBREL received).
    RemoveIncomingQos2 {
        /// Client identifier.
        client_id: Arc<str>,
        /// Packet identifier.
        packet_id: PacketId,
    },
    /// Set the retained message of its topic.
    PutRetained(StoredMessage),
    /// Clear the retained message of a topic (no-op if none).
    ClearRetained {
        /// The topic.
        topic: TopicName,
    },
    /// Store a will waiting for its delay.
    PutWill {
        /// Client identifier.
        client_id: Arc<str>,
        /// The will and when it is due.
        will: WillRecord,
    },
    /// Forget a pending will (published, or cancelled by a reconnect).
    DeleteWill {
        /// Client identifier.
        client_id: Arc<str>,
    },
}

impl Op {
    /// Rough number of bytes this op holds in memory, for the submission
    /// queue's byte bound.
    pub fn approx_size(&self) -> usize {
        const BASE: usize = 64;
        let msg = |m: &StoredMessage| BASE + m.topic.as_str().len() + m.payload.len();
        BASE + match self {
            Op::PutMessage { message, .. } | Op::PutRetained(message) => msg(message),
            Op::PutWill { will, .. } => msg(&will.message),
            Op::Enqueue {
                client_id,
                delivery,
                ..
            } => client_id.len() + 4 * delivery.sub_ids.len(),
            Op::PutOutgoing { client_id, record } => {
                client_id.len() + 4 * record.delivery.sub_ids.len()
            }
            Op::PutSubscription {
                client_id, filter, ..
            }
            | Op::DeleteSubscription { client_id, filter } => {
                client_id.len() + filter.as_str().len()
            }
            Op::PutSession(s) => s.client_id.len(),
            Op::ClearRetained { topic } => topic.as_str().len(),
            Op::DeleteSession { client_id }
            | Op::Dequeue { client_id, .. }
            | Op::SetOutgoingState { client_id, .. }
            | Op::DeleteOutgoing { client_id, .. }
            | Op::AddIncomingQos2 { client_id, .. }
            | Op::RemoveIncomingQos2 { client_id, .. }
            | Op::DeleteWill { client_id } => client_id.len(),
        }
    }

    /// The message this op makes a delivery refer to, if any.
    pub(crate) fn references(&self) -> Option<MsgId> {
        match self {
            Op::Enqueue { delivery, .. } => Some(delivery.msg),
            Op::PutOutgoing { record, .. } => Some(record.delivery.msg),
            _ => None,
        }
    }

    /// The client identifier the op is about, if any.
    pub(crate) fn client_id(&self) -> Option<&str> {
        match self {
            Op::PutSession(s) => Some(&s.client_id),
            Op::DeleteSession { client_id }
            | Op::PutSubscription { client_id, .. }
            | Op::DeleteSubscription { client_id, .. }
            | Op::Enqueue { client_id, .. }
            | Op::Dequeue { client_id, .. }
            | Op::PutOutgoing { client_id, .. }
            | Op::SetOutgoingState { client_id, .. }
            | Op::DeleteOutgoing { client_id, .. }
            | Op::AddIncomingQos2 { client_id, .. }
            | Op::RemoveIncomingQos2 { client_id, .. }
            | Op::PutWill { client_id, .. }
            | Op::DeleteWill { client_id } => Some(client_id),
            Op::PutMessage { .. } | Op::PutRetained(_) | Op::ClearRetained { .. } => None,
        }
    }
}
