//! Completion of a submitted operation group: [`Durable`] is a future (and
//! a blocking handle) that resolves once the group's batch is committed at
//! the store's durability level, or with the error that stopped it.
//!
//! Runtime-agnostic: it stores the last `Waker` that polled it and wakes it
//! from the writer thread, so a tokio task can `.await` it without the
//! store depending on tokio. The writer side holds a [`Completer`]; if it
//! is dropped without completing (writer thread gone), the group resolves
//! with [`StoreError::Closed`] — nobody waits forever.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::error::StoreError;

#[derive(Debug)]
enum State {
    Pending(Option<Waker>),
    Done(Result<(), StoreError>),
}

#[derive(Debug)]
struct Slot {
    state: Mutex<State>,
    done: Condvar,
}

/// Resolves when a submitted group is durable (committed at the store's
/// level: written to the OS, or fsynced with `sync`).
#[derive(Debug)]
#[must_use = "a Durable does nothing unless awaited, polled or waited on"]
pub struct Durable {
    slot: Arc<Slot>,
}

/// The writer's end of a [`Durable`].
#[derive(Debug)]
pub(crate) struct Completer {
    slot: Option<Arc<Slot>>,
}

/// A linked pair: the caller's handle and the writer's end.
pub(crate) fn pair() -> (Durable, Completer) {
    let slot = Arc::new(Slot {
        state: Mutex::new(State::Pending(None)),
        done: Condvar::new(),
    });
    (
        Durable { slot: slot.clone() },
        Completer { slot: Some(slot) },
    )
}

impl Completer {
    /// Resolve the handle with `result` and wake whoever waits on it.
    pub(crate) fn complete(mut self, result: Result<(), StoreError>) {
        if let Some(slot) = self.slot.take() {
            resolve(&slot, result);
        }
    }
}

impl Drop for Completer {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            resolve(&slot, Err(StoreError::Closed));
        }
    }
}

fn resolve(slot: &Slot, result: Result<(), StoreError>) {
    let waker = {
        let mut st = slot.state.lock();
        match std::mem::replace(&mut *st, State::Done(result)) {
            State::Pending(w) => w,
            // Completed twice cannot happen (complete consumes the
            // Completer); keep the first result if it ever did.
            State::Done(first) => {
                *st = State::Done(first);
                None
            }
        }
    };
    slot.done.notify_all();
    if let Some(w) = waker {
        w.wake();
    }
}

impl Durable {
    /// A handle that is already resolved (nothing had to be written).
    pub fn ready(result: Result<(), StoreError>) -> Durable {
        let (d, c) = pair();
        c.complete(result);
        d
    }

    /// The result, if the group has been resolved.
    pub fn try_result(&self) -> Option<Result<(), StoreError>> {
        match &*self.slot.state.lock() {
            State::Done(r) => Some(r.clone()),
            State::Pending(_) => None,
        }
    }

    /// Block the calling thread until the group is resolved. Never call
    /// this on an async runtime's worker thread; `.await` instead.
    ///
    /// # Errors
    /// The error that prevented the commit, or [`StoreError::Closed`].
    pub fn wait(self) -> Result<(), StoreError> {
        let mut st = self.slot.state.lock();
        loop {
            if let State::Done(r) = &*st {
                return r.clone();
            }
            self.slot.done.wait(&mut st);
        }
    }

    /// Like [`Durable::wait`], giving up after `timeout` (`None` then).
    pub fn wait_timeout(&self, timeout: Duration) -> Option<Result<(), StoreError>> {
        let deadline = std::time::Instant::now() + timeout;
        let mut st = self.slot.state.lock();
        loop {
            if let State::Done(r) = &*st {
                return Some(r.clone());
            }
            if self.slot.done.wait_until(&mut st, deadline).timed_out() {
                return match &*st {
                    State::Done(r) => Some(r.clone()),
                    State::Pending(_) => None,
                };
            }
        }
    }
}

impl Future for Durable {
    type Output = Result<(), StoreError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut st = self.slot.state.lock();
        match &mut *st {
            State::Done(r) => Poll::Ready(r.clone()),
            State::Pending(w) => {
                match w {
                    Some(old) if old.will_wake(cx.waker()) => {}
                    _ => *w = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct CountWake(AtomicUsize);
    impl Wake for CountWake {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn future_is_woken_and_resolves() {
        let (mut d, c) = pair();
        let counter = Arc::new(CountWake(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(Pin::new(&mut d).poll(&mut cx).is_pending());
        c.complete(Ok(()));
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        assert!(matches!(
            Pin::new(&mut d).poll(&mut cx),
            Poll::Ready(Ok(()))
        ));
    }

    #[test]
    fn dropped_completer_resolves_closed_and_wakes_a_blocked_waiter() {
        let (d, c) = pair();
        let t = std::thread::spawn(move || d.wait());
        drop(c);
        assert!(matches!(t.join().unwrap(), Err(StoreError::Closed)));
    }

    #[test]
    fn wait_timeout_times_out_while_pending() {
        let (d, c) = pair();
        assert!(d.wait_timeout(Duration::from_millis(10)).is_none());
        c.complete(Ok(()));
        assert!(d.wait_timeout(Duration::from_secs(5)).unwrap().is_ok());
        assert!(Durable::ready(Ok(())).try_result().unwrap().is_ok());
    }
}
