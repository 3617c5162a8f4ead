//! The seam between the broker and durable storage (komar-store behind the
//! server). The core says *what* changed, as [`PersistOp`]s, and *in which
//! order*: every change to persistent state takes a position ([`Ticket`])
//! while the lock that orders the change is held, and the storage applies
//! groups strictly in position order, so the stored state always follows
//! the in-memory order — a delivery is never "dequeued" on disk before it
//! was "enqueued".
//!
//! What must be durable before the client hears of it waits on a
//! [`Durable`]: the PUBACK/PUBREC of a message queued for a persistent
//! session or retained, a PUBCOMP releasing an incoming QoS 2 id, and a
//! QoS 2 PUBLISH or PUBREL to a persistent session (so exactly-once holds
//! across a crash).
//!
//! # Bounds
//! Groups waiting for storage are bounded by design, not by a channel: a
//! connection stops reading once [`MAX_WAITING`] of its answers wait for
//! the store, and every other group answers a packet a connection read.

use std::fmt;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime};

use komar_proto::{PacketId, ProtocolVersion, QoS, SubscriptionOptions, TopicFilter, TopicName};
use parking_lot::Mutex;

use crate::message::{Delivery, Message, Stored, SubIds};
use crate::session::inflight::OutState;

/// Answers of one connection that may wait for the store before it stops
/// reading from that client.
pub const MAX_WAITING: usize = 1024;

/// One change to persistent state.
#[derive(Debug, Clone)]
pub enum PersistOp {
    /// Create or replace a session's own fields.
    PutSession {
        /// Client identifier.
        client_id: Arc<str>,
        /// Protocol version of its connection.
        version: ProtocolVersion,
        /// Session Expiry Interval (`u32::MAX` = never).
        expiry_interval: u32,
        /// When it expires, once disconnected (wall clock).
        expires_at: Option<SystemTime>,
        /// User name of its connection.
        username: Option<Arc<str>>,
    },
    /// End a session with everything it holds.
    DeleteSession {
        /// Client identifier.
        client_id: Arc<str>,
    },
    /// Add or replace a subscription.
    PutSubscription {
        /// Client identifier.
        client_id: Arc<str>,
        /// The filter.
        filter: TopicFilter,
        /// Options as granted.
        options: SubscriptionOptions,
        /// Subscription Identifier.
        id: Option<NonZeroU32>,
    },
    /// Remove a subscription.
    DeleteSubscription {
        /// Client identifier.
        client_id: Arc<str>,
        /// The filter.
        filter: TopicFilter,
    },
    /// Store a message once, under its id; it is referred to by the
    /// deliveries of the same group.
    PutMessage {
        /// The message's storage id.
        id: u64,
        /// The message.
        message: Arc<Message>,
    },
    /// Queue a delivery for a session at position `seq`.
    Enqueue {
        /// Client identifier.
        client_id: Arc<str>,
        /// Position in the session's queue.
        seq: u64,
        /// The stored message.
        msg_id: u64,
        /// QoS for this recipient.
        qos: QoS,
        /// RETAIN flag to send.
        retain: bool,
        /// Subscription identifiers.
        sub_ids: SubIds,
    },
    /// Remove a queued delivery.
    Dequeue {
        /// Client identifier.
        client_id: Arc<str>,
        /// Its position.
        seq: u64,
    },
    /// Record an outgoing QoS 1/2 message in flight.
    PutOutgoing {
        /// Client identifier.
        client_id: Arc<str>,
        /// Packet identifier.
        packet_id: PacketId,
        /// Acknowledgement state.
        state: OutState,
        /// Send order.
        send_seq: u64,
        /// The stored message.
        msg_id: u64,
        /// QoS for this recipient.
        qos: QoS,
        /// RETAIN flag sent.
        retain: bool,
        /// Subscription identifiers.
        sub_ids: SubIds,
    },
    /// Move an in-flight message to another state.
    SetOutgoingState {
        /// Client identifier.
        client_id: Arc<str>,
        /// Packet identifier.
        packet_id: PacketId,
        /// The new state.
        state: OutState,
    },
    /// Forget an in-flight message.
    DeleteOutgoing {
        /// Client identifier.
        client_id: Arc<str>,
        /// Packet identifier.
        packet_id: PacketId,
    },
    /// Remember an incoming QoS 2 packet id [MQTT-4.3.3-10].
    AddIncomingQos2 {
        /// Client identifier.
        client_id: Arc<str>,
        /// Packet identifier.
        packet_id: PacketId,
    },
    /// Forget an incoming QoS 2 packet id.
    RemoveIncomingQos2 {
        /// Client identifier.
        client_id: Arc<str>,
        /// Packet identifier.
        packet_id: PacketId,
    },
    /// Set the retained message of its topic.
    PutRetained(Arc<Message>),
    /// Clear the retained message of a topic.
    ClearRetained(TopicName),
    /// Store a will waiting for its delay.
    PutWill {
        /// Client identifier.
        client_id: Arc<str>,
        /// When it is due (wall clock).
        due: SystemTime,
        /// The will.
        message: Arc<Message>,
    },
    /// Forget a pending will.
    DeleteWill {
        /// Client identifier.
        client_id: Arc<str>,
    },
}

/// Durable storage as the broker sees it.
pub trait Persistence: Send + Sync + fmt::Debug {
    /// Take the next position in the storage order. Every position taken
    /// must be given to [`Persistence::submit`] exactly once (a [`Ticket`]
    /// makes sure of it), or storage waits for it forever.
    fn next_position(&self) -> u64;
    /// A new storage id for a message.
    fn next_message_id(&self) -> u64;
    /// Apply `ops` as one atomic group, after every group with a smaller
    /// position; `done` completes once the group is durable (or storage
    /// failed).
    fn submit(&self, position: u64, ops: Vec<PersistOp>, done: Durable);
}

/// Completion of one group: ready once storage has it. [`Durable::ready`]
/// (also what a group nobody waits for carries) holds no state at all.
#[derive(Clone)]
pub struct Durable(Option<Arc<Mutex<DurableState>>>);

impl Default for Durable {
    /// A completion still to come.
    fn default() -> Durable {
        Durable(Some(Arc::default()))
    }
}

#[derive(Default)]
struct DurableState {
    done: Option<bool>,
    waker: Option<Waker>,
}

impl fmt::Debug for Durable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Durable({:?})", self.result())
    }
}

impl Durable {
    /// A completion already done (nothing to wait for); completing it
    /// again does nothing.
    pub fn ready() -> Durable {
        Durable(None)
    }

    /// Mark the group durable (`ok`) or failed, and wake the waiter.
    pub fn complete(&self, ok: bool) {
        let Some(state) = &self.0 else { return };
        let waker = {
            let mut s = state.lock();
            s.done = Some(ok);
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// `Some(ok)` once completed.
    pub fn result(&self) -> Option<bool> {
        match &self.0 {
            Some(state) => state.lock().done,
            None => Some(true),
        }
    }

    /// Ready with the result once completed; otherwise wakes `cx` then.
    pub fn poll(&self, cx: &mut Context<'_>) -> Poll<bool> {
        let Some(state) = &self.0 else {
            return Poll::Ready(true);
        };
        let mut s = state.lock();
        match s.done {
            Some(ok) => Poll::Ready(ok),
            None => {
                if !s.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    s.waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }
}

/// A position in the storage order and the ops collected for it. Taken
/// while the lock that orders the change is held; submitted when dropped
/// (possibly empty), so no position is ever left out.
pub struct Ticket {
    store: Arc<dyn Persistence>,
    position: u64,
    ops: Vec<PersistOp>,
    /// Made when someone may wait for it (most groups nobody waits for:
    /// they go with [`Durable::ready`], which costs nothing).
    done: Option<Durable>,
}

impl fmt::Debug for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ticket({}, {} ops)", self.position, self.ops.len())
    }
}

impl Ticket {
    /// Take the next position of `store`.
    pub fn take(store: &Arc<dyn Persistence>) -> Ticket {
        Ticket {
            store: store.clone(),
            position: store.next_position(),
            ops: Vec::new(),
            done: None,
        }
    }

    /// Add a change.
    pub fn push(&mut self, op: PersistOp) {
        self.ops.push(op);
    }

    /// Whether any change was added.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// A new message id from the same storage.
    pub fn message_id(&self) -> u64 {
        self.store.next_message_id()
    }

    /// The completion of this ticket's group, before it is submitted (to
    /// hold output on while more ops are added).
    pub fn durable(&mut self) -> Durable {
        self.done.get_or_insert_with(Durable::default).clone()
    }

    /// Submit now and return the completion (ready at once if empty).
    pub fn submit(mut self) -> Durable {
        if self.ops.is_empty() {
            self.send();
            return Durable::ready();
        }
        let done = self.durable();
        self.send();
        done
    }

    fn send(&mut self) {
        let ops = std::mem::take(&mut self.ops);
        let done = self.done.take().unwrap_or_else(Durable::ready);
        self.store.submit(self.position, ops, done);
        self.position = u64::MAX;
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.position != u64::MAX {
            self.send();
        }
    }
}

/// Storage context of one routing: the ticket (taken on first use, under
/// the lock of the first change) and the storage id of the message being
/// routed (stored once, with the first delivery that refers to it).
pub(crate) struct RouteCtx<'a> {
    store: &'a Arc<dyn Persistence>,
    ticket: Option<Ticket>,
    /// The message's id, and whether `PutMessage` was recorded.
    msg: Option<(u64, bool)>,
}

impl<'a> RouteCtx<'a> {
    pub(crate) fn new(store: &'a Arc<dyn Persistence>, ticket: Option<Ticket>) -> RouteCtx<'a> {
        RouteCtx {
            store,
            ticket,
            msg: None,
        }
    }

    /// The ticket for a change to state whose last recorded change had
    /// position `*last` (call under that state's lock): taken now if not
    /// yet, and replaced by a new one if older than `*last` — so changes
    /// to one piece of state are applied in the order they were made even
    /// when this routing started before the last of them.
    pub(crate) fn ticket_after(&mut self, last: &mut u64) -> &mut Ticket {
        if self.ticket.as_ref().is_some_and(|t| t.position < *last) {
            // Submitted on drop; the message goes into the new group again.
            self.ticket = None;
            if let Some((id, _)) = self.msg {
                self.msg = Some((id, false));
            }
        }
        ticket_after(&mut self.ticket, last, self.store)
    }

    /// The next deliveries are of another message.
    pub(crate) fn next_message(&mut self) {
        self.msg = None;
    }

    /// Give `d` its place in a persistent session's stored queue (it is
    /// recorded by [`RouteCtx::record_enqueue`] once actually queued).
    pub(crate) fn stamp(&mut self, queue_seq: u64, d: &mut Delivery) {
        let msg_id = match self.msg {
            Some((id, _)) => id,
            None => {
                let id = self.store.next_message_id();
                self.msg = Some((id, false));
                id
            }
        };
        d.stored = Some(Stored { queue_seq, msg_id });
    }

    /// Record that `d` (stamped) was queued for `client_id`, whose last
    /// recorded change had position `*last`.
    pub(crate) fn record_enqueue(&mut self, client_id: &Arc<str>, d: &Delivery, last: &mut u64) {
        let Some(st) = d.stored else { return };
        self.ticket_after(last);
        let put = matches!(self.msg, Some((id, false)) if id == st.msg_id);
        let Some(ticket) = self.ticket.as_mut() else {
            return;
        };
        if put {
            ticket.push(PersistOp::PutMessage {
                id: st.msg_id,
                message: d.msg.clone(),
            });
        }
        ticket.push(PersistOp::Enqueue {
            client_id: client_id.clone(),
            seq: st.queue_seq,
            msg_id: st.msg_id,
            qos: d.qos,
            retain: d.retain,
            sub_ids: d.sub_ids.clone(),
        });
        if put {
            self.msg = Some((st.msg_id, true));
        }
    }

    /// The ticket, if one was taken.
    pub(crate) fn into_ticket(self) -> Option<Ticket> {
        self.ticket
    }
}

/// The ticket in `slot` for a change to state whose last recorded change
/// had position `*last` (call under that state's lock): a ticket older
/// than that is submitted and replaced, and `*last` becomes this one's.
pub(crate) fn ticket_after<'t>(
    slot: &'t mut Option<Ticket>,
    last: &mut u64,
    store: &Arc<dyn Persistence>,
) -> &'t mut Ticket {
    if slot.as_ref().is_some_and(|t| t.position < *last) {
        *slot = None;
    }
    let t = slot.get_or_insert_with(|| Ticket::take(store));
    *last = (*last).max(t.position);
    t
}

/// The wall-clock time of a monotonic deadline (for storing deadlines
/// that must keep their meaning across a restart).
pub fn wall_clock(deadline: Instant, now: Instant) -> SystemTime {
    let wall_now = SystemTime::now();
    match deadline.checked_duration_since(now) {
        Some(ahead) => wall_now + ahead,
        None => wall_now - now.saturating_duration_since(deadline),
    }
}

/// The monotonic deadline of a stored wall-clock time.
pub fn monotonic(at: SystemTime, now: Instant) -> Instant {
    match at.duration_since(SystemTime::now()) {
        Ok(ahead) => now + ahead,
        Err(past) => now.checked_sub(past.duration()).unwrap_or(now),
    }
}

/// A wall-clock time `secs` from now.
pub fn wall_clock_in(secs: u32) -> SystemTime {
    SystemTime::now() + Duration::from_secs(u64::from(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[derive(Debug, Default)]
    struct Recorder {
        next: AtomicU64,
        got: Mutex<Vec<(u64, usize)>>,
    }

    impl Persistence for Recorder {
        fn next_position(&self) -> u64 {
            self.next.fetch_add(1, Ordering::Relaxed)
        }
        fn next_message_id(&self) -> u64 {
            7
        }
        fn submit(&self, position: u64, ops: Vec<PersistOp>, done: Durable) {
            self.got.lock().push((position, ops.len()));
            done.complete(true);
        }
    }

    #[test]
    fn every_ticket_is_submitted_once_even_when_dropped() {
        let rec = Arc::new(Recorder::default());
        let store: Arc<dyn Persistence> = rec.clone();
        let mut a = Ticket::take(&store);
        a.push(PersistOp::DeleteSession {
            client_id: Arc::from("c"),
        });
        let b = Ticket::take(&store);
        drop(b);
        assert_eq!(a.submit().result(), Some(true));
        let mut got = rec.got.lock().clone();
        got.sort();
        assert_eq!(got, vec![(0, 1), (1, 0)]);
    }

    #[test]
    fn wall_clock_round_trip() {
        let now = Instant::now();
        let later = now + Duration::from_secs(30);
        let back = monotonic(wall_clock(later, now), now);
        let diff = if back > later {
            back - later
        } else {
            later - back
        };
        assert!(diff < Duration::from_millis(50));
    }
}
