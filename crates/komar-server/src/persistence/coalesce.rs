//! Merging the change groups that wait while the store commits the
//! previous batch into one group, leaving out what cancels within it.
//!
//! A QoS 1 message to a subscriber that is online and answers at once is
//! queued, moved into flight and acknowledged within a millisecond: three
//! groups whose net effect is nothing. Applied in one atomic batch, an
//! insert followed by the delete of the same key leaves the stored state
//! exactly as if neither happened, so both are left out — and with them
//! the message, when nothing left in the batch refers to it. The store
//! then writes only what outlives the batch: messages for offline or slow
//! subscribers, and the last retained value of each topic.
//!
//! Rules (the ops stay in order; only matching pairs go):
//! - `Enqueue(c, seq)` … `Dequeue(c, seq)`: both go;
//! - `PutOutgoing(c, pid)` … `SetOutgoingState(c, pid)`* …
//!   `DeleteOutgoing(c, pid)`: all go;
//! - `AddIncomingQos2(c, pid)` … `RemoveIncomingQos2(c, pid)`: both go;
//! - of several retained ops on one topic only the last stays;
//! - `PutMessage(id)` goes when no op left refers to `id` (a message is
//!   always put in the group of its first reference, so a later batch
//!   never refers to a message only this one put);
//! - nothing is matched across a `DeleteSession(c)` for `c`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use komar_core::PersistOp;
use komar_proto::PacketId;

type Key<T> = (Arc<str>, T);

/// The ops of `groups`, in order, without those that cancel out.
pub fn coalesce(groups: Vec<Vec<PersistOp>>) -> Vec<PersistOp> {
    let mut ops: Vec<Option<PersistOp>> = groups.into_iter().flatten().map(Some).collect();
    let mut queued: HashMap<Key<u64>, usize> = HashMap::new();
    let mut flying: HashMap<Key<PacketId>, Vec<usize>> = HashMap::new();
    let mut incoming: HashMap<Key<PacketId>, usize> = HashMap::new();
    let mut retained: HashMap<String, usize> = HashMap::new();
    for i in 0..ops.len() {
        let mut cancel: Vec<usize> = Vec::new();
        match &ops[i] {
            Some(PersistOp::Enqueue { client_id, seq, .. }) => {
                queued.insert((client_id.clone(), *seq), i);
            }
            Some(PersistOp::Dequeue { client_id, seq }) => {
                if let Some(j) = queued.remove(&(client_id.clone(), *seq)) {
                    cancel.extend([j, i]);
                }
            }
            Some(PersistOp::PutOutgoing {
                client_id,
                packet_id,
                ..
            }) => {
                flying.insert((client_id.clone(), *packet_id), vec![i]);
            }
            Some(PersistOp::SetOutgoingState {
                client_id,
                packet_id,
                ..
            }) => {
                if let Some(v) = flying.get_mut(&(client_id.clone(), *packet_id)) {
                    v.push(i);
                }
            }
            Some(PersistOp::DeleteOutgoing {
                client_id,
                packet_id,
            }) => {
                if let Some(v) = flying.remove(&(client_id.clone(), *packet_id)) {
                    cancel.extend(v);
                    cancel.push(i);
                }
            }
            Some(PersistOp::AddIncomingQos2 {
                client_id,
                packet_id,
            }) => {
                incoming.insert((client_id.clone(), *packet_id), i);
            }
            Some(PersistOp::RemoveIncomingQos2 {
                client_id,
                packet_id,
            }) => {
                if let Some(j) = incoming.remove(&(client_id.clone(), *packet_id)) {
                    cancel.extend([j, i]);
                }
            }
            Some(PersistOp::PutRetained(m)) => {
                if let Some(j) = retained.insert(m.topic.as_str().to_owned(), i) {
                    cancel.push(j);
                }
            }
            Some(PersistOp::ClearRetained(topic)) => {
                if let Some(j) = retained.insert(topic.as_str().to_owned(), i) {
                    cancel.push(j);
                }
            }
            Some(PersistOp::DeleteSession { client_id }) => {
                queued.retain(|(c, _), _| c != client_id);
                flying.retain(|(c, _), _| c != client_id);
                incoming.retain(|(c, _), _| c != client_id);
            }
            _ => {}
        }
        for j in cancel {
            if let Some(slot) = ops.get_mut(j) {
                *slot = None;
            }
        }
    }
    let referenced: HashSet<u64> = ops
        .iter()
        .flatten()
        .filter_map(|op| match op {
            PersistOp::Enqueue { msg_id, .. } | PersistOp::PutOutgoing { msg_id, .. } => {
                Some(*msg_id)
            }
            _ => None,
        })
        .collect();
    ops.into_iter()
        .flatten()
        .filter(|op| match op {
            PersistOp::PutMessage { id, .. } => referenced.contains(id),
            _ => true,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use komar_core::message::SubIds;
    use komar_core::session::inflight::OutState;
    use komar_core::{Message, Origin};
    use komar_proto::{QoS, TopicName};

    fn c() -> Arc<str> {
        Arc::from("c")
    }

    fn msg(topic: &str, payload: &'static [u8]) -> Arc<Message> {
        Arc::new(Message {
            topic: TopicName::new(topic).unwrap(),
            payload: Bytes::from_static(payload),
            qos: QoS::AtLeastOnce,
            retain: true,
            properties: Default::default(),
            expires_at: None,
            origin: Origin::broker(),
        })
    }

    fn enqueue(seq: u64, id: u64) -> PersistOp {
        PersistOp::Enqueue {
            client_id: c(),
            seq,
            msg_id: id,
            qos: QoS::AtLeastOnce,
            retain: false,
            sub_ids: SubIds::None,
        }
    }

    fn put_outgoing(pid: u16, id: u64) -> PersistOp {
        PersistOp::PutOutgoing {
            client_id: c(),
            packet_id: PacketId::new(pid).unwrap(),
            state: OutState::AwaitPubAck,
            send_seq: 1,
            msg_id: id,
            qos: QoS::AtLeastOnce,
            retain: false,
            sub_ids: SubIds::None,
        }
    }

    fn names(ops: &[PersistOp]) -> Vec<String> {
        ops.iter()
            .map(|o| {
                format!("{o:?}")
                    .split([' ', '('])
                    .next()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    }

    #[test]
    fn a_delivery_acknowledged_within_the_batch_leaves_nothing() {
        let m = msg("t", b"x");
        let out = coalesce(vec![
            vec![PersistOp::PutMessage { id: 1, message: m }, enqueue(5, 1)],
            vec![
                PersistOp::Dequeue {
                    client_id: c(),
                    seq: 5,
                },
                put_outgoing(9, 1),
            ],
            vec![PersistOp::DeleteOutgoing {
                client_id: c(),
                packet_id: PacketId::new(9).unwrap(),
            }],
        ]);
        assert!(out.is_empty(), "{out:?}");
    }

    #[test]
    fn what_outlives_the_batch_stays_with_its_message() {
        let m = msg("t", b"x");
        let out = coalesce(vec![
            vec![PersistOp::PutMessage { id: 1, message: m }, enqueue(5, 1)],
            vec![
                PersistOp::Dequeue {
                    client_id: c(),
                    seq: 5,
                },
                put_outgoing(9, 1),
            ],
        ]);
        assert_eq!(names(&out), ["PutMessage", "PutOutgoing"]);
        // A dequeue of something stored earlier stays.
        let out = coalesce(vec![vec![PersistOp::Dequeue {
            client_id: c(),
            seq: 3,
        }]]);
        assert_eq!(names(&out), ["Dequeue"]);
    }

    #[test]
    fn nothing_cancels_across_a_session_deletion() {
        let out = coalesce(vec![
            vec![enqueue(1, 7)],
            vec![PersistOp::DeleteSession { client_id: c() }],
            vec![PersistOp::Dequeue {
                client_id: c(),
                seq: 1,
            }],
        ]);
        assert_eq!(names(&out), ["Enqueue", "DeleteSession", "Dequeue"]);
    }

    #[test]
    fn only_the_last_retained_value_of_a_topic_is_written() {
        let out = coalesce(vec![
            vec![PersistOp::PutRetained(msg("a", b"1"))],
            vec![PersistOp::PutRetained(msg("b", b"1"))],
            vec![PersistOp::PutRetained(msg("a", b"2"))],
            vec![PersistOp::ClearRetained(TopicName::new("b").unwrap())],
        ]);
        assert_eq!(names(&out), ["PutRetained", "ClearRetained"]);
        assert!(matches!(&out[0], PersistOp::PutRetained(m) if m.payload == "2"));
    }

    #[test]
    fn a_released_incoming_qos2_id_leaves_nothing() {
        let pid = PacketId::new(4).unwrap();
        let out = coalesce(vec![
            vec![PersistOp::AddIncomingQos2 {
                client_id: c(),
                packet_id: pid,
            }],
            vec![PersistOp::RemoveIncomingQos2 {
                client_id: c(),
                packet_id: pid,
            }],
        ]);
        assert!(out.is_empty());
    }
}
