//! Which stored messages exist and how many deliveries refer to them, and
//! where each message is kept: in `msgs` (shared by reference), or carried
//! in the value of the one delivery that needs it.
//!
//! A message put in a group whose deliveries refer to it only once (the
//! usual case: one persistent subscriber) is carried by that queue or
//! in-flight entry instead of being written to `msgs` — one write instead
//! of two, and deleting the entry deletes the message. When a delivery
//! carrying a message is removed and the same batch refers to the message
//! again (moving it from the queue into flight), the new entry carries it
//! on; the body is taken from the value just removed.
//!
//! Counts are per message id, over every delivery (carrying or not); a
//! message in `msgs` left with none at the end of a batch is deleted in
//! that batch.

use std::collections::HashMap;

use fjall::UserValue;

use crate::engine::{Db, Table};
use crate::keys::MAX_MSG_ID_KEY;
use crate::pending::Pending;
use crate::records::MsgId;
use crate::values;

/// What the store knows of one stored message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct MsgRef {
    /// Deliveries referring to it (carrying it or not).
    pub(crate) n: u32,
    /// Whether `msgs` holds it.
    pub(crate) in_table: bool,
}

/// A carried message's body: the tail of a delivery value from `offset`.
#[derive(Debug, Clone)]
struct Body {
    value: UserValue,
    offset: usize,
}

impl Body {
    fn bytes(&self) -> &[u8] {
        self.value.get(self.offset..).unwrap_or_default()
    }
}

/// Reference counts of stored messages and the batch's bookkeeping.
#[derive(Debug, Default)]
pub(crate) struct Refs {
    pub(crate) counts: HashMap<MsgId, MsgRef>,
    /// Messages whose count may have reached zero in this batch.
    released: Vec<MsgId>,
    /// Highest message id written to `meta` so far.
    pub(crate) max_id: MsgId,
    /// Highest message id put in the batch being built.
    batch_max_id: MsgId,
    /// Bodies of messages put by the group being applied, for the one
    /// delivery of the group that will carry each.
    carried: HashMap<MsgId, Vec<u8>>,
    /// Bodies carried by deliveries removed in this batch.
    loose: HashMap<MsgId, Body>,
}

impl Refs {
    /// Start from the counts found at load.
    pub(crate) fn new(counts: HashMap<MsgId, MsgRef>, max_id: MsgId) -> Refs {
        Refs {
            counts,
            max_id,
            ..Refs::default()
        }
    }

    /// Whether message `id` is stored (in `msgs` or carried).
    pub(crate) fn knows(&self, id: MsgId) -> bool {
        self.counts.contains_key(&id)
    }

    /// A batch starts.
    pub(crate) fn begin_batch(&mut self) {
        self.released.clear();
        self.loose.clear();
        self.carried.clear();
    }

    /// A group is applied: what it put and did not refer to is not
    /// carried into the next group.
    pub(crate) fn end_group(&mut self) {
        self.carried.clear();
    }

    /// Store message `id`: carried by its delivery when `single` (the
    /// group refers to it once), else written to `msgs`.
    pub(crate) fn put(
        &mut self,
        tx: &mut Pending,
        id: MsgId,
        message: &crate::records::StoredMessage,
        single: bool,
    ) {
        self.batch_max_id = self.batch_max_id.max(id);
        let entry = self.counts.entry(id).or_default();
        if single && !entry.in_table {
            self.carried.insert(id, values::message_body(message));
        } else {
            entry.in_table = true;
            tx.insert(
                Table::Msgs,
                id.to_be_bytes(),
                values::encode_message(message),
            );
        }
        // Collected at the end of the batch unless a delivery refers to it
        // by then.
        self.released.push(id);
    }

    /// A new delivery refers to `id`: count it, and return the body the
    /// delivery must carry (`None`: it refers to `msgs`). `find` looks for
    /// a carried copy elsewhere when the batch has none at hand (a message
    /// carried by an entry the batch did not remove: not done by the
    /// broker, but allowed).
    pub(crate) fn acquire(
        &mut self,
        id: MsgId,
        find: impl FnOnce() -> Option<Vec<u8>>,
    ) -> Option<Vec<u8>> {
        let entry = self.counts.entry(id).or_default();
        entry.n += 1;
        if let Some(body) = self.carried.remove(&id) {
            return Some(body);
        }
        if entry.in_table {
            return None;
        }
        match self.loose.get(&id) {
            Some(b) => Some(b.bytes().to_vec()),
            // Without a copy the delivery refers to `msgs`, where the
            // message is missing: it is reported at load.
            None => find(),
        }
    }

    /// A stored queue or in-flight value is removed or replaced: release
    /// its message (an unreadable value releases nothing; its message, if
    /// any, stays until the next open collects it) and keep a carried body
    /// for the rest of the batch.
    pub(crate) fn release_value(&mut self, value: UserValue, outgoing: bool) {
        let head = if outgoing {
            values::decode_outgoing(&value)
                .ok()
                .map(|(_, _, d, body)| (d.msg, body.map(<[u8]>::len)))
        } else {
            values::decode_delivery(&value)
                .ok()
                .map(|(d, body)| (d.msg, body.map(<[u8]>::len)))
        };
        let Some((id, body_len)) = head else { return };
        if let Some(r) = self.counts.get_mut(&id) {
            r.n = r.n.saturating_sub(1);
            if r.n == 0 {
                self.released.push(id);
            }
        }
        if let Some(len) = body_len {
            let offset = value.len().saturating_sub(len);
            self.loose.insert(id, Body { value, offset });
        }
    }

    /// End of the batch: delete messages in `msgs` whose last reference
    /// went, forget carried ones, and record a new highest message id.
    pub(crate) fn collect(&mut self, tx: &mut Pending) {
        if self.batch_max_id > self.max_id {
            self.max_id = self.batch_max_id;
            tx.insert(Table::Meta, MAX_MSG_ID_KEY, self.max_id.to_be_bytes());
        }
        for id in self.released.drain(..) {
            if let Some(r) = self.counts.get(&id).copied() {
                if r.n == 0 {
                    self.counts.remove(&id);
                    if r.in_table {
                        // Message ids are never reused; a message put twice
                        // (in two groups) whose older copy reappeared would
                        // be an orphan, removed at the next open.
                        tx.remove_written_once(Table::Msgs, id.to_be_bytes());
                    }
                }
            }
        }
        self.loose.clear();
        self.carried.clear();
    }
}

/// The body of message `id` as carried by a queue or in-flight entry (as
/// the batch leaves them): first among the entries with key prefix
/// `prefix` (the session's), then among all. Only needed when a delivery
/// refers to a carried message that the batch neither put nor released
/// (the broker never does: a message moves into flight in the group that
/// dequeues it), so the full scan stays off the hot path.
pub(crate) fn find_carried(db: &Db, tx: &Pending, prefix: &[u8], id: MsgId) -> Option<Vec<u8>> {
    for within in [prefix, &[]] {
        for (table, outgoing) in [(Table::Queue, false), (Table::Out, true)] {
            for (_, v) in tx.scan(db, table, within).ok()? {
                let found = if outgoing {
                    values::decode_outgoing(&v)
                        .ok()
                        .and_then(|(_, _, d, b)| b.filter(|_| d.msg == id).map(<[u8]>::to_vec))
                } else {
                    values::decode_delivery(&v)
                        .ok()
                        .and_then(|(d, b)| b.filter(|_| d.msg == id).map(<[u8]>::to_vec))
                };
                if found.is_some() {
                    return found;
                }
            }
        }
    }
    None
}
