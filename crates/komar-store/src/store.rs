//! The public handle: open (with recovery), submit operation groups, flush,
//! close. Writes go through a bounded channel to one writer thread (see
//! [`crate::channel`] for capacity and back-pressure, [`crate::writer`] for
//! group commit); callers never touch the engine on their own thread.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::thread::JoinHandle;

use parking_lot::Mutex;

use crate::channel::{group_bytes, Channel, Refused};
use crate::durable::Durable;
use crate::engine::{self, EngineOptions};
use crate::error::StoreError;
use crate::load;
use crate::ops::Op;
use crate::records::{MsgId, Snapshot};
use crate::writer::Writer;

/// How the store is opened.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// `true`: fsync every batch before reporting it durable (survives
    /// power loss). `false` (default): hand each batch to the operating
    /// system before reporting it (survives the broker being killed, not a
    /// power cut).
    pub sync: bool,
    /// The file Mosquitto would use (`persistence_location` +
    /// `persistence_file`); if it exists, opening is refused. See
    /// [`crate::StoreLocation`].
    pub mosquitto_file: Option<PathBuf>,
    /// Operation groups that may wait for the writer (default 4,096).
    pub queue_groups: usize,
    /// Bytes of operation groups that may wait for the writer (default
    /// 64 MiB).
    pub queue_bytes: usize,
    /// Bytes of operations applied in one commit at most (default 8 MiB;
    /// a single larger group is committed alone).
    pub batch_bytes: usize,
    /// Engine block cache (default 32 MiB).
    pub cache_bytes: u64,
    /// Engine background threads for flushing and compaction (default 1).
    pub engine_threads: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            sync: false,
            mosquitto_file: None,
            queue_groups: 4_096,
            queue_bytes: 64 << 20,
            batch_bytes: 8 << 20,
            cache_bytes: 32 << 20,
            engine_threads: 1,
        }
    }
}

/// Why [`Store::try_submit`] did not take a group.
#[derive(Debug)]
pub enum TrySubmitError {
    /// The queue is full; here are the ops back.
    Full(Vec<Op>),
    /// The store is closed.
    Closed,
}

/// An open store. Cheap to share behind an `Arc`; all methods take `&self`
/// except [`Store::close`].
#[derive(Debug)]
pub struct Store {
    chan: Arc<Channel>,
    next_id: AtomicU64,
    path: PathBuf,
    writer: Mutex<Option<JoinHandle<Result<(), StoreError>>>>,
}

impl Store {
    /// Open the store in `dir` (created if missing), read everything in it
    /// and start the writer thread. The [`Snapshot`] is what the broker
    /// rebuilds its state from; nothing may be written before it is taken,
    /// which is why opening and loading are one step.
    ///
    /// Runs blocking IO: call it before starting the runtime or from a
    /// blocking context.
    ///
    /// # Errors
    /// [`StoreError::MosquittoFile`] if `options.mosquitto_file` exists or
    /// `dir` is a Mosquitto file; [`StoreError::NotADirectory`],
    /// [`StoreError::NotAStore`], [`StoreError::UnsupportedVersion`],
    /// [`StoreError::Corrupt`], [`StoreError::Engine`] or
    /// [`StoreError::Io`] when the store cannot be opened or read.
    pub fn open(dir: &Path, options: StoreOptions) -> Result<(Store, Snapshot), StoreError> {
        let db = engine::open(
            dir,
            options.mosquitto_file.as_deref(),
            EngineOptions {
                cache_bytes: options.cache_bytes,
                worker_threads: options.engine_threads,
            },
        )?;
        let loaded = load::load(&db)?;
        let chan = Arc::new(Channel::new(options.queue_groups, options.queue_bytes));
        let writer = Writer::new(
            db,
            options.sync,
            loaded.refs,
            loaded.max_id,
            loaded.queue_tops,
            options.batch_bytes,
        );
        let ch = chan.clone();
        let handle = std::thread::Builder::new()
            .name("komar-store".into())
            .spawn(move || {
                // Should the writer ever die (a panic in the engine), queued
                // and later groups must not wait forever.
                let _guard = AbandonOnExit(ch.clone());
                writer.run(ch)
            })
            .map_err(|e| StoreError::io(dir, "starting the writer thread", e))?;
        Ok((
            Store {
                chan,
                next_id: AtomicU64::new(loaded.max_id.saturating_add(1)),
                path: dir.to_path_buf(),
                writer: Mutex::new(Some(handle)),
            },
            loaded.snapshot,
        ))
    }

    /// The store directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A new message id for [`Op::PutMessage`] (never reused, also across
    /// restarts).
    pub fn next_message_id(&self) -> MsgId {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Submit a group of operations, applied atomically and in submission
    /// order. The returned future resolves once the group is queued (it
    /// waits while the queue is full: that is the back-pressure) and yields
    /// a [`Durable`] that resolves once the group is committed. Dropping
    /// the future before it resolves submits nothing.
    pub fn submit(&self, ops: Vec<Op>) -> Submit {
        let bytes = group_bytes(&ops);
        Submit {
            chan: self.chan.clone(),
            ops: Some(ops),
            bytes,
        }
    }

    /// Submit a group if the queue has room now.
    ///
    /// # Errors
    /// [`TrySubmitError::Full`] with the ops when the queue is full,
    /// [`TrySubmitError::Closed`] after close.
    pub fn try_submit(&self, ops: Vec<Op>) -> Result<Durable, TrySubmitError> {
        self.chan.try_push(ops).map_err(|e| match e {
            Refused::Full(ops) => TrySubmitError::Full(ops),
            Refused::Closed => TrySubmitError::Closed,
        })
    }

    /// Submit a group, blocking the thread while the queue is full. For
    /// threads that are not async runtime workers.
    ///
    /// # Errors
    /// [`StoreError::Closed`] after close.
    pub fn submit_blocking(&self, ops: Vec<Op>) -> Result<Durable, StoreError> {
        self.chan.push_blocking(ops)
    }

    /// Make everything submitted so far durable with an fsync, whatever the
    /// `sync` option (SIGUSR1). Does not wait; the handle resolves after
    /// the fsync.
    ///
    /// # Errors
    /// [`StoreError::Closed`] after close.
    pub fn flush(&self) -> Result<Durable, StoreError> {
        self.chan.push_flush()
    }

    /// Groups waiting for the writer thread.
    pub fn queued(&self) -> usize {
        self.chan.queued()
    }

    /// Stop taking writes, commit everything queued, fsync and stop the
    /// writer thread. Blocks until done: call it from a blocking context.
    ///
    /// # Errors
    /// The error of the final commit or fsync, or [`StoreError::Failed`] if
    /// the store had failed earlier.
    pub fn close(self) -> Result<(), StoreError> {
        self.shutdown()
    }

    fn shutdown(&self) -> Result<(), StoreError> {
        self.chan.close();
        let handle = self.writer.lock().take();
        match handle {
            Some(h) => h
                .join()
                .unwrap_or(Err(StoreError::Failed("the writer thread panicked".into()))),
            None => Ok(()),
        }
    }
}

impl Drop for Store {
    /// Closes the store like [`Store::close`] if that was not called,
    /// ignoring errors (they were reported to the groups concerned).
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// Closes the channel and resolves what is left in it when the writer
/// thread ends, however it ends.
struct AbandonOnExit(Arc<Channel>);

impl Drop for AbandonOnExit {
    fn drop(&mut self) {
        self.0.abandon();
    }
}

/// The future returned by [`Store::submit`].
#[derive(Debug)]
#[must_use = "nothing is submitted unless the future is awaited or polled"]
pub struct Submit {
    chan: Arc<Channel>,
    ops: Option<Vec<Op>>,
    bytes: usize,
}

impl Future for Submit {
    type Output = Result<Durable, StoreError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.chan.poll_push(cx, &mut this.ops, this.bytes)
    }
}
