//! The writer thread: takes queued operation groups in batches, applies
//! each batch in one engine transaction (group commit), commits it at the
//! store's durability level and only then resolves the groups' [`Durable`]
//! handles. All engine IO of the write path happens here, never on the
//! caller's (async runtime) thread.
//!
//! It also keeps the reference counts of stored messages (rebuilt at
//! load): a delivery added takes a reference, a delivery removed releases
//! one, and at the end of a batch every message left without references
//! is deleted in that same batch.
//!
//! A group that fails validation is rejected whole before any of it is
//! applied. An engine error while applying or committing fails the whole
//! batch and puts the store in a failed state: later groups are refused
//! with [`StoreError::Failed`] (the in-memory counts may no longer match
//! the disk, so carrying on could lose data).
//!
//! [`Durable`]: crate::Durable

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use fjall::{PersistMode, Readable, SingleWriterTxKeyspace, SingleWriterWriteTx};
use komar_proto::PacketId;

use crate::channel::{Channel, Job};
use crate::durable::Completer;
use crate::engine::Db;
use crate::error::StoreError;
use crate::keys::{client_prefix, with_suffix, MAX_MSG_ID_KEY};
use crate::ops::Op;
use crate::records::MsgId;
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
}

/// Reference counts of stored messages, and the messages whose count
/// reached zero in the batch being built.
#[derive(Debug, Default)]
struct Refs {
    counts: HashMap<MsgId, u32>,
    released: Vec<MsgId>,
    /// Highest message id written to `meta` so far.
    max_id: MsgId,
    /// Highest message id put in the batch being built.
    batch_max_id: MsgId,
}

impl Refs {
    fn acquire(&mut self, id: MsgId) {
        *self.counts.entry(id).or_insert(0) += 1;
    }

    fn release(&mut self, id: MsgId) {
        if let Some(n) = self.counts.get_mut(&id) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.released.push(id);
            }
        }
    }

    /// Release the message a stored queue or in-flight value refers to. An
    /// unreadable value releases nothing (its message, if any, stays until
    /// the next open collects it).
    fn release_value(&mut self, value: &[u8], outgoing: bool) {
        let msg = if outgoing {
            values::decode_outgoing(value).ok().map(|(_, _, d)| d.msg)
        } else {
            values::decode_delivery(value).ok().map(|d| d.msg)
        };
        if let Some(id) = msg {
            self.release(id);
        }
    }

    /// Delete messages whose last reference went in this batch, and
    /// record a new highest message id.
    fn collect(&mut self, db: &Db, tx: &mut SingleWriterWriteTx<'_>) {
        if self.batch_max_id > self.max_id {
            self.max_id = self.batch_max_id;
            tx.insert(&db.meta, MAX_MSG_ID_KEY, self.max_id.to_be_bytes());
        }
        for id in std::mem::take(&mut self.released) {
            if self.counts.get(&id) == Some(&0) {
                self.counts.remove(&id);
                tx.remove(&db.msgs, id.to_be_bytes());
            }
        }
    }
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
        refs: HashMap<MsgId, u32>,
        max_id: MsgId,
        max_batch_bytes: usize,
    ) -> Writer {
        Writer {
            db,
            mode: if sync {
                PersistMode::SyncAll
            } else {
                PersistMode::Buffer
            },
            refs: Refs {
                counts: refs,
                released: Vec::new(),
                max_id,
                batch_max_id: 0,
            },
            failed: None,
            max_batch_bytes,
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
        let mut tx = self.db.db.write_tx().durability(Some(self.mode));
        let mut waiting: Vec<Completer> = Vec::with_capacity(jobs.len());
        self.refs.released.clear();
        let mut fatal: Option<StoreError> = None;
        for job in jobs.drain(..) {
            match job {
                // After a fatal error the rest only learn of it.
                Job::Group { done, .. } | Job::Flush { done } if fatal.is_some() => {
                    waiting.push(done);
                }
                Job::Flush { done } => waiting.push(done),
                Job::Group { ops, done, .. } => {
                    if let Err(e) = validate(&self.refs, &ops) {
                        done.complete(Err(e));
                        continue;
                    }
                    for op in ops {
                        if let Err(e) = apply(&self.db, &mut self.refs, &mut tx, op) {
                            fatal = Some(StoreError::engine(&self.db.path, "applying a batch", e));
                            break;
                        }
                    }
                    waiting.push(done);
                }
            }
        }
        let result = match fatal {
            Some(e) => {
                tx.rollback();
                Err(e)
            }
            None => {
                self.refs.collect(&self.db, &mut tx);
                tx.commit()
                    .map_err(|e| StoreError::engine(&self.db.path, "committing a batch", e))
                    .and_then(|()| {
                        // A transaction that wrote nothing does not touch the
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
/// of it is applied.
fn validate(refs: &Refs, ops: &[Op]) -> Result<(), StoreError> {
    let mut put_here: HashSet<MsgId> = HashSet::new();
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
                put_here.insert(*id);
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
            if !put_here.contains(&id) && !refs.counts.contains_key(&id) {
                return Err(StoreError::InvalidOp(format!(
                    "a delivery refers to message {id}, which is not stored \
                     (put it in the same group)"
                )));
            }
        }
    }
    Ok(())
}

/// Apply one op to the batch being built.
fn apply(db: &Db, refs: &mut Refs, tx: &mut SingleWriterWriteTx<'_>, op: Op) -> EngineResult<()> {
    // Validation checked the client identifier's length.
    let prefix = |c: &str| client_prefix(c).unwrap_or_default();
    match op {
        Op::PutSession(s) => {
            tx.insert(
                &db.sessions,
                prefix(&s.client_id),
                values::encode_session(&s),
            );
        }
        Op::DeleteSession { client_id } => {
            let p = prefix(&client_id);
            tx.remove(&db.sessions, p.clone());
            tx.remove(&db.wills, p.clone());
            for (k, _) in scan(tx, &db.subs, &p)? {
                tx.remove(&db.subs, k);
            }
            for (k, _) in scan(tx, &db.incoming, &p)? {
                tx.remove(&db.incoming, k);
            }
            for (k, v) in scan(tx, &db.queue, &p)? {
                refs.release_value(&v, false);
                tx.remove(&db.queue, k);
            }
            for (k, v) in scan(tx, &db.out, &p)? {
                refs.release_value(&v, true);
                tx.remove(&db.out, k);
            }
        }
        Op::PutSubscription {
            client_id,
            filter,
            record,
        } => {
            let k = with_suffix(&prefix(&client_id), filter.as_str().as_bytes());
            tx.insert(&db.subs, k, values::encode_subscription(&record));
        }
        Op::DeleteSubscription { client_id, filter } => {
            let k = with_suffix(&prefix(&client_id), filter.as_str().as_bytes());
            tx.remove(&db.subs, k);
        }
        Op::PutMessage { id, message } => {
            refs.counts.entry(id).or_insert(0);
            refs.batch_max_id = refs.batch_max_id.max(id);
            // Collected at the end of the batch unless a delivery
            // refers to it by then.
            refs.released.push(id);
            tx.insert(&db.msgs, id.to_be_bytes(), values::encode_message(&message));
        }
        Op::Enqueue {
            client_id,
            seq,
            delivery,
        } => {
            let k = with_suffix(&prefix(&client_id), &seq.to_be_bytes());
            if let Some(old) = tx.get(&db.queue, &k)? {
                refs.release_value(&old, false);
            }
            refs.acquire(delivery.msg);
            tx.insert(&db.queue, k, values::encode_delivery(&delivery));
        }
        Op::Dequeue { client_id, seq } => {
            let k = with_suffix(&prefix(&client_id), &seq.to_be_bytes());
            if let Some(old) = tx.take(&db.queue, k)? {
                refs.release_value(&old, false);
            }
        }
        Op::PutOutgoing { client_id, record } => {
            let k = pid_key(&prefix(&client_id), record.packet_id);
            if let Some(old) = tx.get(&db.out, &k)? {
                refs.release_value(&old, true);
            }
            refs.acquire(record.delivery.msg);
            tx.insert(
                &db.out,
                k,
                values::encode_outgoing(record.state, record.seq, &record.delivery),
            );
        }
        Op::SetOutgoingState {
            client_id,
            packet_id,
            state,
        } => {
            let k = pid_key(&prefix(&client_id), packet_id);
            if let Some(old) = tx.get(&db.out, &k)? {
                // An unreadable entry is left as it is (reported at load).
                if let Ok((_, seq, d)) = values::decode_outgoing(&old) {
                    tx.insert(&db.out, k, values::encode_outgoing(state, seq, &d));
                }
            }
        }
        Op::DeleteOutgoing {
            client_id,
            packet_id,
        } => {
            let k = pid_key(&prefix(&client_id), packet_id);
            if let Some(old) = tx.take(&db.out, k)? {
                refs.release_value(&old, true);
            }
        }
        Op::AddIncomingQos2 {
            client_id,
            packet_id,
        } => {
            let k = pid_key(&prefix(&client_id), packet_id);
            tx.insert(&db.incoming, k, values::encode_incoming());
        }
        Op::RemoveIncomingQos2 {
            client_id,
            packet_id,
        } => {
            tx.remove(&db.incoming, pid_key(&prefix(&client_id), packet_id));
        }
        Op::PutRetained(m) => {
            tx.insert(
                &db.retained,
                m.topic.as_str().as_bytes(),
                values::encode_retained(&m),
            );
        }
        Op::ClearRetained { topic } => {
            tx.remove(&db.retained, topic.as_str().as_bytes());
        }
        Op::PutWill { client_id, will } => {
            tx.insert(&db.wills, prefix(&client_id), values::encode_will(&will));
        }
        Op::DeleteWill { client_id } => {
            tx.remove(&db.wills, prefix(&client_id));
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

/// Entries of one session in `ks` as the transaction sees them (its own
/// writes included), collected first so the transaction can change them.
fn scan(
    tx: &SingleWriterWriteTx<'_>,
    ks: &SingleWriterTxKeyspace,
    prefix: &[u8],
) -> EngineResult<Vec<(fjall::UserKey, fjall::UserValue)>> {
    tx.prefix(ks, prefix)
        .map(fjall::Guard::into_inner)
        .collect()
}

fn complete(job: Job, result: Result<(), StoreError>) {
    match job {
        Job::Group { done, .. } | Job::Flush { done } => done.complete(result),
    }
}
