//! Between the core's view of persistent state (`PersistOp`, `Message`,
//! `RestoredSession`) and the store's records. Deadlines cross as
//! wall-clock times, so they keep their meaning across a restart.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use komar_core::persist::{monotonic, wall_clock, PersistOp};
use komar_core::session::inflight::OutState;
use komar_core::{ClientIdentity, Message, Origin, RestoredDelivery, RestoredSession};
use komar_store::{
    DeliveryRecord, MsgId, Op, OriginRecord, OutgoingRecord, SessionRecord, SessionState, Snapshot,
    StoredMessage, SubscriptionRecord, UnixTime, WillRecord,
};

use komar_core::message::SubIds;

/// A core message as the store keeps it.
pub fn stored_message(m: &Message, now: Instant) -> StoredMessage {
    StoredMessage {
        topic: m.topic.clone(),
        payload: m.payload.clone(),
        qos: m.qos,
        retain: m.retain,
        properties: m.properties.clone(),
        expires_at: m
            .expires_at
            .map(|at| UnixTime::from_system_time(wall_clock(at, now))),
        origin: m.origin.client.as_ref().map(|c| OriginRecord {
            client_id: c.client_id.to_string(),
            username: c.username.as_deref().map(str::to_owned),
        }),
    }
}

/// A stored message as the core holds it.
pub fn message(m: &StoredMessage, now: Instant) -> Message {
    Message {
        topic: m.topic.clone(),
        payload: m.payload.clone(),
        qos: m.qos,
        retain: m.retain,
        properties: m.properties.clone(),
        expires_at: m.expires_at.map(|t| monotonic(t.to_system_time(), now)),
        origin: Origin {
            session: None,
            client: m.origin.as_ref().map(|o| {
                Arc::new(ClientIdentity {
                    client_id: Arc::from(o.client_id.as_str()),
                    username: o.username.as_deref().map(Arc::from),
                    listener: 0,
                    password: None,
                })
            }),
        },
    }
}

fn out_state(s: OutState) -> komar_store::OutState {
    match s {
        OutState::AwaitPubAck => komar_store::OutState::AwaitPubAck,
        OutState::AwaitPubRec => komar_store::OutState::AwaitPubRec,
        OutState::AwaitPubComp => komar_store::OutState::AwaitPubComp,
    }
}

fn core_state(s: komar_store::OutState) -> OutState {
    match s {
        komar_store::OutState::AwaitPubAck => OutState::AwaitPubAck,
        komar_store::OutState::AwaitPubRec => OutState::AwaitPubRec,
        komar_store::OutState::AwaitPubComp => OutState::AwaitPubComp,
    }
}

/// A core change as a store operation.
pub fn op(op: PersistOp, now: Instant) -> Op {
    match op {
        PersistOp::PutSession {
            client_id,
            version,
            expiry_interval,
            expires_at,
            username,
        } => Op::PutSession(SessionRecord {
            client_id: client_id.to_string(),
            protocol: version,
            expiry_interval,
            expires_at: expires_at.map(UnixTime::from_system_time),
            username: username.as_deref().map(str::to_owned),
        }),
        PersistOp::DeleteSession { client_id } => Op::DeleteSession { client_id },
        PersistOp::PutSubscription {
            client_id,
            filter,
            options,
            id: sub_id,
        } => Op::PutSubscription {
            client_id,
            filter,
            record: SubscriptionRecord {
                options,
                id: sub_id,
            },
        },
        PersistOp::DeleteSubscription { client_id, filter } => {
            Op::DeleteSubscription { client_id, filter }
        }
        PersistOp::PutMessage {
            id: msg_id,
            message,
        } => Op::PutMessage {
            id: msg_id,
            message: stored_message(&message, now),
        },
        PersistOp::Enqueue {
            client_id,
            seq,
            msg_id,
            qos,
            retain,
            sub_ids,
        } => Op::Enqueue {
            client_id,
            seq,
            delivery: DeliveryRecord {
                msg: msg_id,
                qos,
                retain,
                sub_ids: sub_ids.to_vec(),
            },
        },
        PersistOp::Dequeue { client_id, seq } => Op::Dequeue { client_id, seq },
        PersistOp::PutOutgoing {
            client_id,
            packet_id,
            state,
            send_seq,
            msg_id,
            qos,
            retain,
            sub_ids,
        } => Op::PutOutgoing {
            client_id,
            record: OutgoingRecord {
                packet_id,
                state: out_state(state),
                seq: send_seq,
                delivery: DeliveryRecord {
                    msg: msg_id,
                    qos,
                    retain,
                    sub_ids: sub_ids.to_vec(),
                },
            },
        },
        PersistOp::SetOutgoingState {
            client_id,
            packet_id,
            state,
        } => Op::SetOutgoingState {
            client_id,
            packet_id,
            state: out_state(state),
        },
        PersistOp::DeleteOutgoing {
            client_id,
            packet_id,
        } => Op::DeleteOutgoing {
            client_id,
            packet_id,
        },
        PersistOp::AddIncomingQos2 {
            client_id,
            packet_id,
        } => Op::AddIncomingQos2 {
            client_id,
            packet_id,
        },
        PersistOp::RemoveIncomingQos2 {
            client_id,
            packet_id,
        } => Op::RemoveIncomingQos2 {
            client_id,
            packet_id,
        },
        PersistOp::PutRetained(m) => Op::PutRetained(stored_message(&m, now)),
        PersistOp::ClearRetained(topic) => Op::ClearRetained { topic },
        PersistOp::PutWill {
            client_id,
            due,
            message,
        } => Op::PutWill {
            client_id,
            will: WillRecord {
                due: UnixTime::from_system_time(due),
                message: stored_message(&message, now),
            },
        },
        PersistOp::DeleteWill { client_id } => Op::DeleteWill { client_id },
    }
}

fn sub_ids(ids: &[u32]) -> SubIds {
    let mut out = SubIds::None;
    for id in ids.iter().filter_map(|i| std::num::NonZeroU32::new(*i)) {
        out.push(id);
    }
    out
}

/// What the core restores from a store snapshot: sessions and retained
/// messages. Messages shared by several queues stay shared.
pub fn restored(snapshot: Snapshot, now: Instant) -> (Vec<RestoredSession>, Vec<Arc<Message>>) {
    let mut cache: HashMap<MsgId, Arc<Message>> = HashMap::with_capacity(snapshot.messages.len());
    let messages = &snapshot.messages;
    let mut delivery = |d: &DeliveryRecord| -> Option<RestoredDelivery> {
        let msg = match cache.get(&d.msg) {
            Some(m) => m.clone(),
            None => {
                let m = Arc::new(message(messages.get(&d.msg)?, now));
                cache.insert(d.msg, m.clone());
                m
            }
        };
        Some(RestoredDelivery {
            msg,
            msg_id: d.msg,
            qos: d.qos,
            retain: d.retain,
            sub_ids: sub_ids(&d.sub_ids),
        })
    };
    let mut sessions = Vec::with_capacity(snapshot.sessions.len());
    for s in &snapshot.sessions {
        sessions.push(session(s, &mut delivery, now));
    }
    let retained = snapshot
        .retained
        .iter()
        .map(|m| Arc::new(message(m, now)))
        .collect();
    (sessions, retained)
}

fn session(
    s: &SessionState,
    delivery: &mut impl FnMut(&DeliveryRecord) -> Option<RestoredDelivery>,
    now: Instant,
) -> RestoredSession {
    let r = &s.record;
    RestoredSession {
        client_id: Arc::from(r.client_id.as_str()),
        version: r.protocol,
        expiry_interval: r.expiry_interval,
        expires_at: r.expires_at.map(UnixTime::to_system_time),
        username: r.username.as_deref().map(Arc::from),
        subscriptions: s
            .subscriptions
            .iter()
            .map(|(f, sub)| (f.clone(), sub.options, sub.id))
            .collect(),
        queue: s
            .queue
            .iter()
            .filter_map(|(seq, d)| Some((*seq, delivery(d)?)))
            .collect(),
        inflight: s
            .outgoing
            .iter()
            .filter_map(|o| Some((o.packet_id, core_state(o.state), delivery(&o.delivery)?)))
            .collect(),
        incoming_qos2: s.incoming_qos2.clone(),
        will: s
            .will
            .as_ref()
            .map(|w| (w.due.to_system_time(), Arc::new(message(&w.message, now)))),
    }
}
