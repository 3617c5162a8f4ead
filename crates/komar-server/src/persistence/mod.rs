//! Durable state for the server: opens Komar's store (`persistence true`),
//! restores the broker from it, and carries the broker's changes to it.
//!
//! # Order, batches and completion
//! The core numbers every change group with a position and may hand groups
//! over out of order (several threads route at once); [`StoreAdapter`]
//! puts them back in position order. One batch is with the store at a
//! time: while it commits, the next groups gather in the backlog, and
//! when it is done they go as one group, merged by [`coalesce`] — what a
//! batch both creates and deletes (a message queued, sent and
//! acknowledged meanwhile) is never written. The completer thread waits
//! for each batch and completes the core's [`Durable`]s of its groups in
//! order, waking the connections whose answers wait on them.
//!
//! No thread of the async runtime ever blocks on the store: handing a
//! batch over is a push into the store's queue, which is empty then.
//!
//! # Bounds
//! Groups waiting for an earlier position: at most one per thread that is
//! between taking a position and submitting it (positions are taken under
//! short locks and submitted right after). The backlog: every group made
//! by reading a packet holds that connection's output until it is
//! durable, and a connection stops reading at `MAX_WAITING` held answers,
//! so the backlog is bounded by connections × `MAX_WAITING` plus one group
//! per session change made by timers and disconnects. Batches with the
//! store: one.

mod coalesce;
mod convert;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use komar_core::{Broker, Durable, PersistOp, Persistence, Restored};
use komar_store::{Store, StoreError, StoreOptions, TrySubmitError};
use parking_lot::{Condvar, Mutex};

/// Where and how to keep durable state (from `persistence`,
/// `persistence_location`, `persistence_file`, `persistence_sync`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersistenceConfig {
    /// Komar's store directory.
    pub dir: PathBuf,
    /// Mosquitto's database file: if it exists, Komar refuses to start
    /// rather than silently starting without its contents.
    pub mosquitto_file: PathBuf,
    /// fsync every batch before acknowledging.
    pub sync: bool,
}

/// Groups in order that the store has not taken yet: their ops, moved
/// out of the groups' vectors as they arrive (so each vector is freed on
/// the thread that made it, not on the completer), and their completions.
#[derive(Default)]
struct Backlog {
    ops: Vec<PersistOp>,
    dones: Vec<Durable>,
}

impl Backlog {
    fn is_empty(&self) -> bool {
        self.dones.is_empty()
    }

    fn push(&mut self, mut ops: Vec<PersistOp>, done: Durable) {
        self.ops.append(&mut ops);
        self.dones.push(done);
    }

    /// Take everything, leaving room for as much again.
    fn take(&mut self) -> Backlog {
        let room = Backlog {
            ops: Vec::with_capacity(self.ops.len()),
            dones: Vec::with_capacity(self.dones.len()),
        };
        std::mem::replace(self, room)
    }
}

/// Groups waiting for their turn.
#[derive(Default)]
struct Order {
    /// Position of the next group to take.
    next: u64,
    /// Groups that arrived before an earlier position.
    waiting: BTreeMap<u64, (Vec<PersistOp>, Durable)>,
    /// Groups in order, for the next batch.
    backlog: Backlog,
    /// A batch is being prepared or is with the store.
    busy: bool,
}

impl Order {
    /// Start the next batch if none is under way.
    fn next_batch(&mut self) -> Option<Backlog> {
        if self.busy || self.backlog.is_empty() {
            return None;
        }
        self.busy = true;
        Some(self.backlog.take())
    }
}

/// Shortest time from the start of one batch to the start of the next
/// (a change made when no batch started within the interval is written
/// at once).
/// Measured with `bench/persistence.sh`: 1 ms cuts the broker's CPU per
/// durable QoS 1 message by about a third (more deliveries complete
/// within one batch and are never written) at the same throughput; longer
/// intervals cost throughput, as publishers wait longer for PUBACKs.
const BATCH_INTERVAL: Duration = Duration::from_millis(1);

/// A value on cache lines of its own (two: the adjacent line is
/// prefetched with it), so threads updating it do not slow threads using
/// its neighbours.
#[repr(align(128))]
struct Apart<T>(T);

impl<T> std::ops::Deref for Apart<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// A batch with the store: its completion, the groups' durables and when
/// it started.
type Sent = (komar_store::Durable, Vec<Durable>, Instant);

/// The store as the broker's [`Persistence`].
pub struct StoreAdapter {
    // Updated by every runtime thread for every group: each on cache lines
    // of its own, apart from the `Arc`'s counts (every ticket holds the
    // adapter) and from each other.
    positions: Apart<AtomicU64>,
    message_ids: Apart<AtomicU64>,
    order: Apart<Mutex<Order>>,
    /// Signalled whenever a batch is done (for `close`).
    idle: Condvar,
    store: Mutex<Option<Store>>,
    completions: Mutex<Option<Sender<Sent>>>,
    completer: Mutex<Option<JoinHandle<()>>>,
    failures: AtomicU64,
    path: PathBuf,
}

impl std::fmt::Debug for StoreAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreAdapter")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Persistence for StoreAdapter {
    fn next_position(&self) -> u64 {
        self.positions.fetch_add(1, Ordering::Relaxed)
    }

    fn next_message_id(&self) -> u64 {
        self.message_ids.fetch_add(1, Ordering::Relaxed)
    }

    fn submit(&self, position: u64, ops: Vec<PersistOp>, done: Durable) {
        let batch = {
            let mut order = self.order.lock();
            if position != order.next {
                order.waiting.insert(position, (ops, done));
                return;
            }
            let mut group = Some((ops, done));
            while let Some((ops, done)) = group {
                if ops.is_empty() && order.backlog.is_empty() && !order.busy {
                    // Nothing before it still waits: done.
                    done.complete(true);
                } else {
                    order.backlog.push(ops, done);
                }
                order.next += 1;
                let next = order.next;
                group = order.waiting.remove(&next);
            }
            order.next_batch()
        };
        if let Some(batch) = batch {
            self.send(batch);
        }
    }
}

impl StoreAdapter {
    /// Hand `batch` (merged) to the store, and each batch that gathered
    /// meanwhile if the merge left nothing to write.
    fn send(&self, mut batch: Backlog) {
        loop {
            let Backlog { ops, dones } = batch;
            let now = Instant::now();
            let ops: Vec<komar_store::Op> = coalesce::coalesce(ops)
                .into_iter()
                .map(|o| convert::op(o, now))
                .collect();
            if !ops.is_empty() {
                match self.hand_over(ops) {
                    Ok(stored) => {
                        let tx = self.completions.lock().clone();
                        match tx {
                            Some(tx) => match tx.send((stored, dones, now)) {
                                Ok(()) => return,
                                Err(e) => self.finish(e.0 .1, false),
                            },
                            None => self.finish(dones, false),
                        }
                    }
                    Err(e) => {
                        if self.failures.fetch_add(1, Ordering::Relaxed) < 3 {
                            tracing::error!("persistence: cannot store a change: {e}");
                        }
                        self.finish(dones, false);
                    }
                }
            } else {
                self.finish(dones, true);
            }
            match self.order.lock().next_batch() {
                Some(b) => batch = b,
                None => return,
            }
        }
    }

    /// Give one merged group to the store (its queue is empty: one batch
    /// at a time).
    fn hand_over(&self, ops: Vec<komar_store::Op>) -> Result<komar_store::Durable, StoreError> {
        let store = self.store.lock();
        let Some(store) = store.as_ref() else {
            return Err(StoreError::Closed);
        };
        match store.try_submit(ops) {
            Ok(d) => Ok(d),
            // Only a flush can be ahead of it: wait for that.
            Err(TrySubmitError::Full(ops)) => store.submit_blocking(ops),
            Err(TrySubmitError::Closed) => Err(StoreError::Closed),
        }
    }

    /// Complete the groups of a batch and let the next one start.
    fn finish(&self, dones: Vec<Durable>, ok: bool) {
        for d in dones {
            d.complete(ok);
        }
        self.order.lock().busy = false;
        self.idle.notify_all();
    }
    /// Open the store of `config`, restore `broker` from it and attach it,
    /// so every later change is recorded. Blocking: call before serving.
    ///
    /// # Errors
    /// The store cannot be opened (the message says where and why).
    pub fn open_into(config: &PersistenceConfig, broker: &Broker) -> Result<Arc<Self>, String> {
        let options = StoreOptions {
            sync: config.sync,
            mosquitto_file: Some(config.mosquitto_file.clone()),
            ..StoreOptions::default()
        };
        let started = Instant::now();
        let (store, snapshot) = Store::open(&config.dir, options).map_err(|e| describe(&e))?;
        for s in snapshot.skipped.iter().take(20) {
            tracing::warn!(
                "persistence: skipped unreadable {} entry {}: {}",
                s.table,
                s.key,
                s.reason
            );
        }
        if snapshot.skipped.len() > 20 {
            tracing::warn!(
                "persistence: {} unreadable entries skipped in all",
                snapshot.skipped.len()
            );
        }
        let now = Instant::now();
        let (sessions, retained) = convert::restored(snapshot, now);
        let restored: Restored = broker.restore(sessions, retained, now);
        tracing::info!(
            target: "komar::notice",
            "Restored {} sessions ({} subscriptions, {} queued or in-flight messages) and {} retained messages from {} in {} ms.",
            restored.sessions,
            restored.subscriptions,
            restored.messages,
            restored.retained,
            config.dir.display(),
            started.elapsed().as_millis()
        );
        let (tx, rx) = channel();
        let adapter = Arc::new(StoreAdapter {
            positions: Apart(AtomicU64::new(0)),
            message_ids: Apart(AtomicU64::new(store.next_message_id())),
            order: Apart(Mutex::new(Order::default())),
            idle: Condvar::new(),
            store: Mutex::new(Some(store)),
            completions: Mutex::new(Some(tx)),
            completer: Mutex::new(None),
            failures: AtomicU64::new(0),
            path: config.dir.clone(),
        });
        let weak = Arc::downgrade(&adapter);
        let completer = std::thread::Builder::new()
            .name("komar-store-done".into())
            .spawn(move || complete(rx, weak))
            .map_err(|e| format!("persistence: cannot start a thread: {e}"))?;
        *adapter.completer.lock() = Some(completer);
        if !broker.attach_store(adapter.clone()) {
            return Err("persistence: the broker already has a store".into());
        }
        Ok(adapter)
    }

    /// Force everything stored so far to disk (fsync), as Mosquitto saves
    /// its database on SIGUSR1. Blocking.
    pub fn flush(&self) {
        let durable = match self.store.lock().as_ref() {
            Some(store) => store.flush(),
            None => return,
        };
        match durable.and_then(komar_store::Durable::wait) {
            Ok(()) => {
                tracing::info!(target: "komar::notice", "Saved the store to {}.", self.path.display())
            }
            Err(e) => tracing::error!("persistence: flush failed: {e}"),
        }
    }

    /// Write out what waits, fsync and close (graceful shutdown). Changes
    /// made later are not stored. Blocking; gives up waiting for the last
    /// batches after `CLOSE_WAIT`.
    pub fn close(&self) {
        const CLOSE_WAIT: Duration = Duration::from_secs(10);
        let deadline = Instant::now() + CLOSE_WAIT;
        loop {
            let batch = {
                let mut order = self.order.lock();
                while order.busy {
                    if self.idle.wait_until(&mut order, deadline).timed_out() {
                        tracing::error!("persistence: the store did not finish in time");
                        break;
                    }
                }
                order.next_batch()
            };
            match batch {
                Some(b) if Instant::now() < deadline => self.send(b),
                _ => break,
            }
        }
        {
            let mut order = self.order.lock();
            while order.busy && !self.idle.wait_until(&mut order, deadline).timed_out() {}
        }
        if let Some(store) = self.store.lock().take() {
            if let Err(e) = store.close() {
                tracing::error!("persistence: closing the store failed: {e}");
            }
        }
        drop(self.completions.lock().take());
        if let Some(thread) = self.completer.lock().take() {
            let _ = thread.join();
        }
    }
}

/// The completer thread: completes each batch's groups in store order and
/// starts the batch that gathered meanwhile.
fn complete(rx: Receiver<Sent>, adapter: Weak<StoreAdapter>) {
    while let Ok((stored, dones, started)) = rx.recv() {
        let ok = match stored.wait() {
            Ok(()) => true,
            Err(e) => {
                tracing::error!("persistence: a batch failed: {e}");
                false
            }
        };
        for d in dones {
            d.complete(ok);
        }
        let Some(adapter) = adapter.upgrade() else {
            continue;
        };
        // Under load, batches start at most every `BATCH_INTERVAL`: more
        // of what a batch creates is deleted again before it is written.
        if let Some(rest) = BATCH_INTERVAL.checked_sub(started.elapsed()) {
            std::thread::sleep(rest);
        }
        adapter.finish(Vec::new(), ok);
        let next = adapter.order.lock().next_batch();
        if let Some(batch) = next {
            adapter.send(batch);
        }
    }
}

/// A store error as the operator reads it at start-up.
fn describe(e: &StoreError) -> String {
    format!("persistence: {e}")
}
