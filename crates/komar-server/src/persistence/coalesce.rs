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
//! - nothing is matched across a `DeleteSession(c)` for `c`;
//! - ops of one session match only when they carry the same client
//!   identifier instance (as the core makes them), see `Key`.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::Arc;

use komar_core::PersistOp;
use komar_proto::PacketId;

/// A client's state by its identifier *instance* (the core gives all ops
/// of one session the same `Arc`) and a number (queue position or packet
/// id). Two instances with the same text never match: a pair left
/// unmatched is merely written, which is always correct. Hashing the
/// address instead of the text is cheaper and cannot be steered by
/// clients.
#[derive(Clone, Copy)]
struct Key<'a> {
    client: &'a Arc<str>,
    n: u64,
}

impl PartialEq for Key<'_> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(self.client, other.client) && self.n == other.n
    }
}

impl Eq for Key<'_> {}

impl Hash for Key<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_usize(Arc::as_ptr(self.client).cast::<u8>() as usize);
        state.write_u64(self.n);
    }
}

/// A multiplicative hasher for keys no peer chooses (addresses, message
/// ids, broker-assigned numbers).
#[derive(Default)]
struct Mix(u64);

impl Hasher for Mix {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type Fast = BuildHasherDefault<Mix>;

fn key(client: &Arc<str>, n: u64) -> Key<'_> {
    Key { client, n }
}

fn pid(p: PacketId) -> u64 {
    u64::from(p.get())
}

/// `ops` (the groups of a batch, one after the other), in order, without
/// those that cancel out.
pub fn coalesce(ops: Vec<PersistOp>) -> Vec<PersistOp> {
    let keep = cancelled(&ops);
    let referenced: HashSet<u64, Fast> = ops
        .iter()
        .zip(&keep)
        .filter(|(_, k)| **k)
        .filter_map(|(op, _)| match op {
            PersistOp::Enqueue { msg_id, .. } | PersistOp::PutOutgoing { msg_id, .. } => {
                Some(*msg_id)
            }
            _ => None,
        })
        .collect();
    ops.into_iter()
        .zip(keep)
        .filter(|(op, k)| {
            *k && match op {
                PersistOp::PutMessage { id, .. } => referenced.contains(id),
                _ => true,
            }
        })
        .map(|(op, _)| op)
        .collect()
}

/// Which of `ops` stay (`false`: cancelled by a later op).
fn cancelled(ops: &[PersistOp]) -> Vec<bool> {
    let mut keep = vec![true; ops.len()];
    let mut queued: HashMap<Key<'_>, usize, Fast> = HashMap::default();
    let mut flying: HashMap<Key<'_>, Vec<usize>, Fast> = HashMap::default();
    let mut incoming: HashMap<Key<'_>, usize, Fast> = HashMap::default();
    let mut retained: HashMap<&str, usize> = HashMap::new();
    let cancel = |j: usize, keep: &mut Vec<bool>| {
        if let Some(k) = keep.get_mut(j) {
            *k = false;
        }
    };
    for (i, op) in ops.iter().enumerate() {
        match op {
            PersistOp::Enqueue { client_id, seq, .. } => {
                queued.insert(key(client_id, *seq), i);
            }
            PersistOp::Dequeue { client_id, seq } => {
                if let Some(j) = queued.remove(&key(client_id, *seq)) {
                    cancel(j, &mut keep);
                    cancel(i, &mut keep);
                }
            }
            PersistOp::PutOutgoing {
                client_id,
                packet_id,
                ..
            } => {
                flying.insert(key(client_id, pid(*packet_id)), vec![i]);
            }
            PersistOp::SetOutgoingState {
                client_id,
                packet_id,
                ..
            } => {
                if let Some(v) = flying.get_mut(&key(client_id, pid(*packet_id))) {
                    v.push(i);
                }
            }
            PersistOp::DeleteOutgoing {
                client_id,
                packet_id,
            } => {
                if let Some(v) = flying.remove(&key(client_id, pid(*packet_id))) {
                    for j in v {
                        cancel(j, &mut keep);
                    }
                    cancel(i, &mut keep);
                }
            }
            PersistOp::AddIncomingQos2 {
                client_id,
                packet_id,
            } => {
                incoming.insert(key(client_id, pid(*packet_id)), i);
            }
            PersistOp::RemoveIncomingQos2 {
                client_id,
                packet_id,
            } => {
                if let Some(j) = incoming.remove(&key(client_id, pid(*packet_id))) {
                    cancel(j, &mut keep);
                    cancel(i, &mut keep);
                }
            }
            PersistOp::PutRetained(m) => {
                if let Some(j) = retained.insert(m.topic.as_str(), i) {
                    cancel(j, &mut keep);
                }
            }
            PersistOp::ClearRetained(topic) => {
                if let Some(j) = retained.insert(topic.as_str(), i) {
                    cancel(j, &mut keep);
                }
            }
            PersistOp::DeleteSession { client_id } => {
                let other = |k: &Key<'_>| **k.client != **client_id;
                queued.retain(|k, _| other(k));
                flying.retain(|k, _| other(k));
                incoming.retain(|k, _| other(k));
            }
            _ => {}
        }
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use komar_core::message::SubIds;
    use komar_core::session::inflight::OutState;
    use komar_core::{Message, Origin};
    use komar_proto::{QoS, TopicName};

    /// One session's client identifier: the same instance every time, as
    /// the core gives it.
    fn c() -> Arc<str> {
        static C: std::sync::LazyLock<Arc<str>> = std::sync::LazyLock::new(|| Arc::from("c"));
        C.clone()
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

    /// The groups of a batch, one after the other.
    fn merge(groups: Vec<Vec<PersistOp>>) -> Vec<PersistOp> {
        coalesce(groups.into_iter().flatten().collect())
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
        let out = merge(vec![
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
        let out = merge(vec![
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
        let out = merge(vec![vec![PersistOp::Dequeue {
            client_id: c(),
            seq: 3,
        }]]);
        assert_eq!(names(&out), ["Dequeue"]);
    }

    #[test]
    fn nothing_cancels_across_a_session_deletion() {
        let out = merge(vec![
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
        let out = merge(vec![
            vec![PersistOp::PutRetained(msg("a", b"1"))],
            vec![PersistOp::PutRetained(msg("b", b"1"))],
            vec![PersistOp::PutRetained(msg("a", b"2"))],
            vec![PersistOp::ClearRetained(TopicName::new("b").unwrap())],
        ]);
        assert_eq!(names(&out), ["PutRetained", "ClearRetained"]);
        assert!(matches!(&out[0], PersistOp::PutRetained(m) if m.payload == "2"));
    }

    #[test]
    fn another_instance_of_the_same_identifier_is_not_matched() {
        let out = merge(vec![
            vec![enqueue(1, 7)],
            vec![PersistOp::Dequeue {
                client_id: Arc::from("c"),
                seq: 1,
            }],
        ]);
        assert_eq!(names(&out), ["Enqueue", "Dequeue"]);
    }

    #[test]
    fn a_released_incoming_qos2_id_leaves_nothing() {
        let pid = PacketId::new(4).unwrap();
        let out = merge(vec![
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
