//! The bounded hand-over from callers to the writer thread.
//!
//! # Capacity and overflow
//! At most `max_groups` operation groups and `max_bytes` bytes of them
//! (estimated by [`Op::approx_size`]) wait for the writer. A caller that
//! finds the queue full is held back — never dropped:
//! - async callers `.await` [`crate::Submit`], which parks the task (its
//!   waker is kept, at most one per waiting task) and resumes it when the
//!   writer takes jobs out;
//! - [`crate::Store::try_submit`] returns the ops to the caller instead;
//! - blocking callers wait on a condition variable.
//!
//! A single group larger than `max_bytes` is accepted when the queue is
//! empty (otherwise it could never go in). A flush request is accepted even
//! when the queue is full: it carries nothing and signals are rare.

use std::collections::VecDeque;
use std::task::{Context, Poll, Waker};

use parking_lot::{Condvar, Mutex};

use crate::durable::{self, Completer, Durable};
use crate::error::StoreError;
use crate::ops::Op;

/// Work for the writer thread.
#[derive(Debug)]
pub(crate) enum Job {
    /// Apply these ops atomically, then complete.
    Group {
        ops: Vec<Op>,
        bytes: usize,
        done: Completer,
    },
    /// Commit with fsync, then complete.
    Flush { done: Completer },
}

impl Job {
    fn bytes(&self) -> usize {
        match self {
            Job::Group { bytes, .. } => *bytes,
            Job::Flush { .. } => 0,
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    jobs: VecDeque<Job>,
    bytes: usize,
    closed: bool,
    /// Tasks waiting for room (deduplicated; one per waiting task).
    waiters: Vec<Waker>,
}

/// The queue itself, shared by the `Store` handle(s) and the writer.
#[derive(Debug)]
pub(crate) struct Channel {
    inner: Mutex<Inner>,
    /// Signalled when a job arrives or the channel closes.
    work: Condvar,
    /// Signalled when the writer takes jobs (room for blocking callers).
    room: Condvar,
    max_groups: usize,
    max_bytes: usize,
}

/// Why a non-blocking submission did not go in.
#[derive(Debug)]
pub(crate) enum Refused {
    Full(Vec<Op>),
    Closed,
}

/// Size of a group for the byte bound.
pub(crate) fn group_bytes(ops: &[Op]) -> usize {
    ops.iter().map(Op::approx_size).sum()
}

impl Channel {
    pub(crate) fn new(max_groups: usize, max_bytes: usize) -> Channel {
        Channel {
            inner: Mutex::new(Inner::default()),
            work: Condvar::new(),
            room: Condvar::new(),
            max_groups: max_groups.max(1),
            max_bytes: max_bytes.max(1),
        }
    }

    fn fits(&self, inner: &Inner, bytes: usize) -> bool {
        inner.jobs.is_empty()
            || (inner.jobs.len() < self.max_groups && inner.bytes + bytes <= self.max_bytes)
    }

    fn push_locked(&self, inner: &mut Inner, ops: Vec<Op>, bytes: usize) -> Durable {
        let (d, done) = durable::pair();
        inner.bytes += bytes;
        inner.jobs.push_back(Job::Group { ops, bytes, done });
        self.work.notify_one();
        d
    }

    /// Queue a group if there is room now.
    pub(crate) fn try_push(&self, ops: Vec<Op>) -> Result<Durable, Refused> {
        let bytes = group_bytes(&ops);
        let mut inner = self.inner.lock();
        if inner.closed {
            return Err(Refused::Closed);
        }
        if !self.fits(&inner, bytes) {
            return Err(Refused::Full(ops));
        }
        Ok(self.push_locked(&mut inner, ops, bytes))
    }

    /// Queue `ops` (taken out of the option) if there is room, or register
    /// the task to be woken when there is.
    pub(crate) fn poll_push(
        &self,
        cx: &mut Context<'_>,
        ops: &mut Option<Vec<Op>>,
        bytes: usize,
    ) -> Poll<Result<Durable, StoreError>> {
        let mut inner = self.inner.lock();
        if inner.closed {
            return Poll::Ready(Err(StoreError::Closed));
        }
        if self.fits(&inner, bytes) {
            let Some(ops) = ops.take() else {
                // Polled again after completion: nothing left to submit.
                return Poll::Ready(Err(StoreError::Closed));
            };
            return Poll::Ready(Ok(self.push_locked(&mut inner, ops, bytes)));
        }
        if !inner.waiters.iter().any(|w| w.will_wake(cx.waker())) {
            inner.waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Queue a group, blocking the thread while the queue is full.
    pub(crate) fn push_blocking(&self, ops: Vec<Op>) -> Result<Durable, StoreError> {
        let bytes = group_bytes(&ops);
        let mut inner = self.inner.lock();
        loop {
            if inner.closed {
                return Err(StoreError::Closed);
            }
            if self.fits(&inner, bytes) {
                return Ok(self.push_locked(&mut inner, ops, bytes));
            }
            self.room.wait(&mut inner);
        }
    }

    /// Queue a flush request (ignores the capacity).
    pub(crate) fn push_flush(&self) -> Result<Durable, StoreError> {
        let mut inner = self.inner.lock();
        if inner.closed {
            return Err(StoreError::Closed);
        }
        let (d, done) = durable::pair();
        inner.jobs.push_back(Job::Flush { done });
        self.work.notify_one();
        Ok(d)
    }

    /// Refuse new work; the writer drains what is queued, then stops.
    pub(crate) fn close(&self) {
        let waiters = {
            let mut inner = self.inner.lock();
            inner.closed = true;
            std::mem::take(&mut inner.waiters)
        };
        self.work.notify_all();
        self.room.notify_all();
        for w in waiters {
            w.wake();
        }
    }

    /// Close and drop every queued job, resolving each with
    /// [`StoreError::Closed`] (the writer is gone and will not run them).
    pub(crate) fn abandon(&self) {
        self.close();
        let jobs = std::mem::take(&mut self.inner.lock().jobs);
        drop(jobs);
    }

    /// Groups waiting for the writer.
    pub(crate) fn queued(&self) -> usize {
        self.inner.lock().jobs.len()
    }

    /// Writer side: wait for work and move up to `max_batch_bytes` of it
    /// (at least one job) into `out`. Returns false once the channel is
    /// closed and empty.
    pub(crate) fn take_batch(&self, max_batch_bytes: usize, out: &mut Vec<Job>) -> bool {
        let waiters = {
            let mut inner = self.inner.lock();
            while inner.jobs.is_empty() {
                if inner.closed {
                    return false;
                }
                self.work.wait(&mut inner);
            }
            let mut taken = 0usize;
            while let Some(job) = inner.jobs.front() {
                let b = job.bytes();
                if !out.is_empty() && taken + b > max_batch_bytes {
                    break;
                }
                let Some(job) = inner.jobs.pop_front() else {
                    break;
                };
                taken += b;
                inner.bytes -= b;
                out.push(job);
            }
            std::mem::take(&mut inner.waiters)
        };
        self.room.notify_all();
        for w in waiters {
            w.wake();
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use komar_proto::TopicName;

    fn op() -> Op {
        Op::ClearRetained {
            topic: TopicName::new("t").unwrap(),
        }
    }

    #[test]
    fn full_queue_refuses_then_has_room_after_the_writer_takes() {
        let ch = Channel::new(2, 1 << 20);
        let _a = ch.try_push(vec![op()]).unwrap();
        let _b = ch.try_push(vec![op()]).unwrap();
        let Err(Refused::Full(back)) = ch.try_push(vec![op()]) else {
            panic!("expected Full");
        };
        assert_eq!(back.len(), 1);
        let mut jobs = Vec::new();
        assert!(ch.take_batch(usize::MAX, &mut jobs));
        assert_eq!(jobs.len(), 2);
        assert!(ch.try_push(back).is_ok());
    }

    #[test]
    fn byte_bound_applies_but_an_oversized_group_fits_an_empty_queue() {
        let one = group_bytes(&[op()]);
        let ch = Channel::new(100, one);
        let _a = ch.try_push(vec![op(), op()]).unwrap();
        assert!(matches!(ch.try_push(vec![op()]), Err(Refused::Full(_))));
        // A flush is accepted anyway.
        let _f = ch.push_flush().unwrap();
        let mut jobs = Vec::new();
        ch.take_batch(0, &mut jobs);
        assert_eq!(jobs.len(), 1, "a batch takes at least one job");
    }

    #[test]
    fn close_drains_then_stops_and_refuses() {
        let ch = Channel::new(4, 1 << 20);
        let _a = ch.try_push(vec![op()]).unwrap();
        ch.close();
        assert!(matches!(ch.try_push(vec![op()]), Err(Refused::Closed)));
        assert!(matches!(
            ch.push_blocking(vec![op()]),
            Err(StoreError::Closed)
        ));
        let mut jobs = Vec::new();
        assert!(ch.take_batch(usize::MAX, &mut jobs));
        jobs.clear();
        assert!(!ch.take_batch(usize::MAX, &mut jobs));
    }

    #[test]
    fn a_waiting_task_is_woken_when_the_writer_makes_room() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        use std::task::Wake;
        struct Count(AtomicUsize);
        impl Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let ch = Channel::new(1, 1 << 20);
        let _a = ch.try_push(vec![op()]).unwrap();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let mut ops = Some(vec![op()]);
        let bytes = group_bytes(ops.as_deref().unwrap());
        assert!(ch.poll_push(&mut cx, &mut ops, bytes).is_pending());
        assert!(ch.poll_push(&mut cx, &mut ops, bytes).is_pending());
        assert_eq!(ch.inner.lock().waiters.len(), 1, "one waker per task");
        let mut jobs = Vec::new();
        ch.take_batch(usize::MAX, &mut jobs);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(matches!(
            ch.poll_push(&mut cx, &mut ops, bytes),
            Poll::Ready(Ok(_))
        ));
        assert!(ops.is_none());
    }

    #[test]
    fn abandoned_jobs_resolve_closed() {
        let ch = Channel::new(4, 1 << 20);
        let d = ch.try_push(vec![op()]).unwrap();
        ch.abandon();
        assert!(matches!(d.wait(), Err(StoreError::Closed)));
        assert!(matches!(ch.try_push(vec![op()]), Err(Refused::Closed)));
    }

    #[test]
    fn blocked_sender_resumes_when_room_appears() {
        let ch = std::sync::Arc::new(Channel::new(1, 1 << 20));
        let _a = ch.try_push(vec![op()]).unwrap();
        let ch2 = ch.clone();
        let t = std::thread::spawn(move || ch2.push_blocking(vec![op()]).map(|_| ()));
        let mut jobs = Vec::new();
        ch.take_batch(usize::MAX, &mut jobs);
        t.join().unwrap().unwrap();
    }
}
