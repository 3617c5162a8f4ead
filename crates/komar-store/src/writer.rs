//! The writer thread: takes queued operation groups in batches, applies
//! each batch as one atomic engine batch (group commit, built in
//! [`Pending`]), commits it at the store's durability level and only then
//! resolves the groups' [`Durable`] handles. All engine IO of the write path happens here, never on the
//! caller's (async runtime) thread.
//!
//! It also keeps the reference counts of stored messages (rebuilt at
//! load) and decides where a message is kept ([`Refs`]): a delivery added
//! takes a reference, a delivery removed releases one, and at the end of a
//! batch every message left without references is deleted in that same
//! batch.
//!
//! A group that fails validation is rejected whole before any of it is
//! applied. An engine error while applying or committing fails the whole
//! batch and puts the store in a failed state: later groups are refused
//! with [`StoreError::Failed`] (the in-memory counts may no longer match
//! the disk, so carrying on could lose data).
//!
//! [`Durable`]: crate::Durable

use std::collections::HashMap;
use std::sync::Arc;

use fjall::PersistMode;
use komar_proto::PacketId;

use crate::channel::{Channel, Job};
use crate::durable::Completer;
use crate::engine::{Db, Table};
use crate::error::StoreError;
use crate::keys::{client_prefix, with_suffix};
use crate::ops::Op;
use crate::pending::Pending;
use crate::records::MsgId;
use crate::refs::{find_carried, MsgRef, Refs};
use crate::values;

/// The largest key the engine accepts.
const MAX_KEY: usize = 1 << 16;
/// The largest value we hand the engine (it takes up to 4 GiB).
const MAX_VALUE: usize = 1 << 31;

/// State owned by the writer thread.
pub(crate) struct Writer {
    db: Db,
    mode: PersistMode,
    refs: Refs,
    failed: Option<String>,
    max_batch_bytes: usize,
    /// The batch being built (kept to reuse its memory).
    pending: Pending,
    /// Per group: how often it refers to each message it puts.
    put_refs: HashMap<MsgId, u32>,
    /// Per client key prefix, the highest queue position that may be
    /// stored: a new entry above it replaces nothing, so it needs no read.
    /// A client not in it has no stored queue entry.
    queue_tops: HashMap<Vec<u8>, u64>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("db", &self.db)
            .field("messages", &self.refs.counts.len())
            .field("failed", &self.failed)
            .finish()
    }
}

type EngineResult<T> = Result<T, fjall::Error>;

impl Writer {
    pub(crate) fn new(
        db: Db,
        sync: bool,
        refs: HashMap<MsgId, MsgRef>,
        max_id: MsgId,
        queue_tops: HashMap<Vec<u8>, u64>,
        max_batch_bytes: usize,
    ) -> Writer {
        Writer {
            db,
            mode: if sync {
                PersistMode::SyncAll
            } else {
                PersistMode::Buffer
            },
            refs: Refs::new(refs, max_id),
            failed: None,
            max_batch_bytes,
            pending: Pending::default(),
            put_refs: HashMap::new(),
            queue_tops,
        }
    }

    /// The thread body: batches until the channel is closed and drained,
    /// then a final fsync.
    pub(crate) fn run(mut self, chan: Arc<Channel>) -> Result<(), StoreError> {
        let mut jobs = Vec::new();
        while chan.take_batch(self.max_batch_bytes, &mut jobs) {
            self.commit_batch(&mut jobs);
        }
        if let Some(f) = &self.failed {
            return Err(StoreError::Failed(f.clone()));
        }
        self.db
            .db
            .persist(PersistMode::SyncAll)
            .map_err(|e| StoreError::engine(&self.db.path, "syncing at close", e))
    }

    /// Apply and commit one batch of jobs, resolving each.
    pub(crate) fn commit_batch(&mut self, jobs: &mut Vec<Job>) {
        if let Some(f) = &self.failed {
            let err = StoreError::Failed(f.clone());
            for job in jobs.drain(..) {
                complete(job, Err(err.clone()));
            }
            return;
        }
        let flush = jobs.iter().any(|j| matches!(j, Job::Flush { .. }));
        let tx = &mut self.pending;
        tx.clear();
        let mut waiting: Vec<Completer> = Vec::with_capacity(jobs.len());
        self.refs.begin_batch();
        let mut fatal: Option<StoreError> = None;
        for job in jobs.drain(..) {
            match job {
                // After a fatal error the rest only learn of it.
                Job::Group { done, .. } | Job::Flush { done } if fatal.is_some() => {
                    waiting.push(done);
                }
                Job::Flush { done } => waiting.push(done),
                Job::Group { ops, done, .. } => {
                    if let Err(e) = validate(&self.refs, &ops, &mut self.put_refs) {
                        done.complete(Err(e));
                        continue;
                    }
                    for op in ops {
                        let single = |id: MsgId| self.put_refs.get(&id) == Some(&1);
                        let state = State {
                            db: &self.db,
                            refs: &mut self.refs,
                            tx,
                            queue_tops: &mut self.queue_tops,
                        };
                        if let Err(e) = apply(state, op, single) {
                            fatal = Some(StoreError::engine(&self.db.path, "applying a batch", e));
                            break;
                        }
                    }
                    self.refs.end_group();
                    waiting.push(done);
                }
            }
        }
        let result = match fatal {
            Some(e) => {
                tx.clear();
                Err(e)
            }
            None => {
                self.refs.collect(tx);
                tx.commit(&self.db, self.mode)
                    .map_err(|e| StoreError::engine(&self.db.path, "committing a batch", e))
                    .and_then(|()| {
                        // A batch that wrote nothing does not touch the
                        // journal, so a flush syncs explicitly.
                        if flush {
                            self.db.db.persist(PersistMode::SyncAll).map_err(|e| {
                                StoreError::engine(&self.db.path, "syncing (flush)", e)
                            })
                        } else {
                            Ok(())
                        }
                    })
            }
        };
        if let Err(e) = &result {
            self.failed = Some(e.to_string());
        }
        for done in waiting {
            done.complete(result.clone());
        }
    }
}

/// Reject a group that would leave the store inconsistent, before any
/// of it is applied; count in `put_refs` how often the group refers to
/// each message it puts.
fn validate(refs: &Refs, ops: &[Op], put_refs: &mut HashMap<MsgId, u32>) -> Result<(), StoreError> {
    put_refs.clear();
    for op in ops {
        if let Some(c) = op.client_id() {
            if c.len() + 2 + 8 > MAX_KEY {
                return Err(StoreError::InvalidOp(format!(
                    "client identifier of {} bytes is too long",
                    c.len()
                )));
            }
        }
        if op.approx_size() > MAX_VALUE {
            return Err(StoreError::InvalidOp("value larger than 2 GiB".into()));
        }
        match op {
            Op::PutMessage { id, .. } => {
                put_refs.entry(*id).or_insert(0);
            }
            Op::PutSubscription {
                client_id, filter, ..
            }
            | Op::DeleteSubscription { client_id, filter }
                if client_id.len() + 2 + filter.as_str().len() > MAX_KEY =>
            {
                return Err(StoreError::InvalidOp("topic filter too long".into()));
            }
            Op::PutRetained(m) => check_topic(m.topic.as_str())?,
            Op::ClearRetained { topic } => check_topic(topic.as_str())?,
            _ => {}
        }
        if let Some(id) = op.references() {
            match put_refs.get_mut(&id) {
                Some(n) => *n += 1,
                None if refs.knows(id) => {}
                None => {
                    return Err(StoreError::InvalidOp(format!(
                        "a delivery refers to message {id}, which is not stored \
                         (put it in the same group)"
                    )))
                }
            }
        }
    }
    Ok(())
}

/// What applying an op changes.
struct State<'a> {
    db: &'a Db,
    refs: &'a mut Refs,
    tx: &'a mut Pending,
    queue_tops: &'a mut HashMap<Vec<u8>, u64>,
}

/// Apply one op to the batch being built. `single(id)`: the group refers
/// once to message `id`, which it puts.
fn apply(state: State<'_>, op: Op, single: impl Fn(MsgId) -> bool) -> EngineResult<()> {
    let State {
        db,
        refs,
        tx,
        queue_tops,
    } = state;
    // Validation checked the client identifier's length.
    let prefix = |c: &str| client_prefix(c).unwrap_or_default();
    match op {
        Op::PutSession(s) => {
            tx.insert(
                Table::Sessions,
                prefix(&s.client_id),
                values::encode_session(&s),
            );
        }
        Op::DeleteSession { client_id } => {
            let p = prefix(&client_id);
            tx.remove(Table::Sessions, p.clone());
            tx.remove(Table::Wills, p.clone());
            for (k, _) in tx.scan(db, Table::Subs, &p)? {
                tx.remove(Table::Subs, k);
            }
            for (k, _) in tx.scan(db, Table::In, &p)? {
                tx.remove(Table::In, k);
            }
            for (k, v) in tx.scan(db, Table::Queue, &p)? {
                refs.release_value(v, false);
                tx.remove(Table::Queue, k);
            }
            // Nothing of its queue is left: any position is new again
            // (and the map holds only clients with a session).
            queue_tops.remove(p.as_slice());
            for (k, v) in tx.scan(db, Table::Out, &p)? {
                refs.release_value(v, true);
                tx.remove(Table::Out, k);
            }
        }
        Op::PutSubscription {
            client_id,
            filter,
            record,
        } => {
            let k = with_suffix(&prefix(&client_id), filter.as_str().as_bytes());
            tx.insert(Table::Subs, k, values::encode_subscription(&record));
        }
        Op::DeleteSubscription { client_id, filter } => {
            let k = with_suffix(&prefix(&client_id), filter.as_str().as_bytes());
            tx.remove(Table::Subs, k);
        }
        Op::PutMessage { id, message } => {
            refs.put(tx, id, &message, single(id));
        }
        Op::Enqueue {
            client_id,
            seq,
            delivery,
        } => {
            let p = prefix(&client_id);
            let k = with_suffix(&p, &seq.to_be_bytes());
            let above = match queue_tops.get_mut(p.as_slice()) {
                Some(top) if seq > *top => {
                    *top = seq;
                    true
                }
                Some(_) => false,
                // No entry of this client was on disk at load nor
                // queued since.
                None => {
                    queue_tops.insert(p.clone(), seq);
                    true
                }
            };
            if !above {
                if let Some(old) = tx.get(db, Table::Queue, &k)? {
                    refs.release_value(old, false);
                }
            }
            let body = refs.acquire(delivery.msg, || find_carried(db, tx, &p, delivery.msg));
            tx.insert(
                Table::Queue,
                k,
                values::encode_delivery(&delivery, body.as_deref()),
            );
        }
        Op::Dequeue { client_id, seq } => {
            let k = with_suffix(&prefix(&client_id), &seq.to_be_bytes());
            if let Some(old) = tx.take(db, Table::Queue, k)? {
                refs.release_value(old, false);
            }
        }
        Op::PutOutgoing { client_id, record } => {
            let p = prefix(&client_id);
            let k = pid_key(&p, record.packet_id);
            if let Some(old) = tx.get(db, Table::Out, &k)? {
                refs.release_value(old, true);
            }
            let msg = record.delivery.msg;
            let body = refs.acquire(msg, || find_carried(db, tx, &p, msg));
            tx.insert(
                Table::Out,
                k,
                values::encode_outgoing(
                    record.state,
                    record.seq,
                    &record.delivery,
                    body.as_deref(),
                ),
            );
        }
        Op::SetOutgoingState {
            client_id,
            packet_id,
            state,
        } => {
            let k = pid_key(&prefix(&client_id), packet_id);
            if let Some(old) = tx.get(db, Table::Out, &k)? {
                // An unreadable entry is left as it is (reported at load).
                if let Ok((_, seq, d, body)) = values::decode_outgoing(&old) {
                    let v = values::encode_outgoing(state, seq, &d, body);
                    tx.insert(Table::Out, k, v);
                }
            }
        }
        Op::DeleteOutgoing {
            client_id,
            packet_id,
        } => {
            let k = pid_key(&prefix(&client_id), packet_id);
            if let Some(old) = tx.take(db, Table::Out, k)? {
                refs.release_value(old, true);
            }
        }
        Op::AddIncomingQos2 {
            client_id,
            packet_id,
        } => {
            let k = pid_key(&prefix(&client_id), packet_id);
            tx.insert(Table::In, k, values::encode_incoming());
        }
        Op::RemoveIncomingQos2 {
            client_id,
            packet_id,
        } => {
            tx.remove(Table::In, pid_key(&prefix(&client_id), packet_id));
        }
        Op::PutRetained(m) => {
            tx.insert(
                Table::Retained,
                m.topic.as_str().as_bytes(),
                values::encode_retained(&m),
            );
        }
        Op::ClearRetained { topic } => {
            tx.remove(Table::Retained, topic.as_str().as_bytes());
        }
        Op::PutWill { client_id, will } => {
            tx.insert(Table::Wills, prefix(&client_id), values::encode_will(&will));
        }
        Op::DeleteWill { client_id } => {
            tx.remove(Table::Wills, prefix(&client_id));
        }
    }
    Ok(())
}

fn check_topic(t: &str) -> Result<(), StoreError> {
    if t.is_empty() || t.len() > MAX_KEY {
        return Err(StoreError::InvalidOp(format!(
            "retained topic of {} bytes cannot be a key",
            t.len()
        )));
    }
    Ok(())
}

fn pid_key(prefix: &[u8], pid: PacketId) -> Vec<u8> {
    with_suffix(prefix, &pid.get().to_be_bytes())
}

fn complete(job: Job, result: Result<(), StoreError>) {
    match job {
        Job::Group { done, .. } | Job::Flush { done } => done.complete(result),
    }
}
