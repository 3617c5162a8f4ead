//! Sessions (MQTT 5.0 §4.1): the state that outlives a network connection —
//! subscriptions, the outgoing queue, messages in flight both ways, the
//! pending will and the expiry — and the hand-over between publishers (who
//! push into the queue) and the connection that drains it.
//!
//! # Locking
//! Each session has one mutex, held only for short, non-blocking work. Lock
//! order: the subscription trie before a session, never a session before
//! the trie, and never two sessions at once.

pub mod inflight;
pub mod pid_set;
pub mod queue;

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use komar_proto::{ProtocolVersion, QoS, SubscriptionOptions, TopicFilter};
use parking_lot::{Mutex, MutexGuard};

use crate::message::{Delivery, Message};
use crate::one_map::OneMap;
use crate::persist::RouteCtx;
use inflight::Inflight;
use pid_set::PidSet;
use queue::{OutQueue, Pushed, QueueLimits};

/// A subscription as the session remembers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubEntry {
    /// Options as granted.
    pub options: SubscriptionOptions,
    /// v5 Subscription Identifier.
    pub id: Option<NonZeroU32>,
}

/// Why the broker closes a connection from outside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kick {
    /// DISCONNECT reason code for v5 clients.
    pub code: komar_proto::ReasonCode,
    /// Server Reference for a redirect (0x9C / 0x9D).
    pub server_reference: Option<String>,
}

/// Session expiry interval value meaning "never".
pub const NEVER_EXPIRES: u32 = u32::MAX;

/// The mutable state of a session.
#[derive(Debug)]
pub struct SessionInner {
    /// Generation of the connection attached now, if any (non-zero, so
    /// the option takes no more room than the number).
    pub owner: Option<std::num::NonZeroU64>,
    /// Waker of the attached connection's task, taken by the first push
    /// after it registered.
    pub waker: Option<Waker>,
    /// Waker of the attached connection for its keep-alive alarm (kept
    /// until it detaches; see `keepalive`).
    pub alarm_waker: Option<Waker>,
    /// Protocol version of the last connection (how to encode queued
    /// messages).
    pub version: ProtocolVersion,
    /// Queue limits in force (the broker's, shared).
    pub limits: Arc<QueueLimits>,
    /// Messages waiting to be sent.
    pub queue: OutQueue,
    /// Outgoing QoS 1/2 messages awaiting acknowledgement.
    pub inflight: Inflight,
    /// Packet ids of incoming QoS 2 messages received (PUBREC sent) and not
    /// yet released by PUBREL — exactly-once across re-sends [MQTT-4.3.3-10].
    pub incoming_qos2: PidSet,
    /// The session's subscriptions (most sessions have one: kept inline).
    pub subscriptions: OneMap<TopicFilter, SubEntry>,
    /// Session Expiry Interval in seconds ([`NEVER_EXPIRES`] = never).
    pub expiry_interval: u32,
    /// Bumped on every attach and detach, so timers set for an earlier
    /// state of the session can tell they are stale.
    pub epoch: u64,
    /// A will waiting for its Will Delay Interval.
    pub pending_will: Option<Arc<Message>>,
    /// Who the attached connection is (for re-checking logins on reload).
    pub identity: Option<Arc<crate::auth::ClientIdentity>>,
    /// Set when the broker wants the attached connection closed (its login
    /// was revoked, or clients are sent elsewhere): the connection sends
    /// DISCONNECT with this code (and Server Reference). Boxed: rare.
    pub kick: Option<Box<Kick>>,
    /// Whether durable storage holds this session: changes to it are
    /// recorded (see `persist`). Cleared, under this lock, when the
    /// session ends, so nothing is recorded for it afterwards.
    pub persisted: bool,
    /// Next position in the stored queue.
    pub next_queue_seq: u64,
    /// Storage position of the last change recorded for this session
    /// (see `persist::ticket_after`).
    pub last_pos: u64,
}

impl SessionInner {
    /// Queue `d` regardless of the limits (retained messages for a new
    /// subscription, deliveries moved back), recording it in storage
    /// through `ctx` if this session is persisted.
    pub(crate) fn push_back_recorded(
        &mut self,
        client_id: &Arc<str>,
        mut d: Delivery,
        ctx: Option<&mut RouteCtx<'_>>,
    ) {
        match ctx {
            Some(ctx) if self.persisted && d.qos != QoS::AtMostOnce => {
                ctx.stamp(self.next_queue_seq, &mut d);
                self.next_queue_seq += 1;
                ctx.record_enqueue(client_id, &d, &mut self.last_pos);
            }
            _ => d.stored = None,
        }
        self.queue.push_back(d);
    }
}

/// One client's session, shared by the session table, the subscription
/// trie (to push deliveries) and the attached connection.
#[derive(Debug)]
pub struct Session {
    id: u64,
    client_id: Arc<str>,
    /// Mirrors `owner.is_some()` so shared-subscription choice can prefer
    /// online members without locking each one.
    online: AtomicBool,
    /// When the attached connection next looks at its keep-alive deadline,
    /// on the broker clock (0 = no alarm); see `keepalive`.
    pub(crate) alarm: AtomicU64,
    inner: Mutex<SessionInner>,
}

impl Session {
    pub(crate) fn new(
        id: u64,
        client_id: Arc<str>,
        version: ProtocolVersion,
        limits: Arc<QueueLimits>,
    ) -> Session {
        Session {
            id,
            client_id,
            online: AtomicBool::new(false),
            alarm: AtomicU64::new(0),
            inner: Mutex::new(SessionInner {
                owner: None,
                waker: None,
                alarm_waker: None,
                version,
                limits,
                queue: OutQueue::default(),
                inflight: Inflight::default(),
                incoming_qos2: PidSet::default(),
                subscriptions: OneMap::default(),
                expiry_interval: 0,
                epoch: 0,
                pending_will: None,
                identity: None,
                kick: None,
                persisted: false,
                next_queue_seq: 1,
                last_pos: 0,
            }),
        }
    }

    /// Unique id of this session object (never reused).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The client identifier.
    pub fn client_id(&self) -> &Arc<str> {
        &self.client_id
    }

    /// Whether a connection is attached.
    pub fn is_online(&self) -> bool {
        self.online.load(Ordering::Relaxed)
    }

    pub(crate) fn set_online(&self, online: bool) {
        self.online.store(online, Ordering::Relaxed);
    }

    /// Lock the session state.
    pub fn lock(&self) -> MutexGuard<'_, SessionInner> {
        self.inner.lock()
    }

    /// Queue a delivery (see [`queue`] for the overflow policy) and wake the
    /// attached connection. A QoS 1/2 delivery to a persisted session is
    /// recorded in storage through `ctx`, and so is a QoS 0 one queued
    /// while the session is offline (`queue_qos0_messages`), as Mosquitto
    /// keeps those in its database too; QoS 0 to an attached client goes
    /// straight out and is not written.
    pub(crate) fn push(
        &self,
        mut d: Delivery,
        now: Instant,
        ctx: Option<&mut RouteCtx<'_>>,
    ) -> Pushed {
        let (pushed, waker) = {
            let mut guard = self.inner.lock();
            let s = &mut *guard;
            let online = s.owner.is_some();
            let ctx = match ctx {
                Some(ctx) if s.persisted && (d.qos != QoS::AtMostOnce || !online) => {
                    ctx.stamp(s.next_queue_seq, &mut d);
                    Some(ctx)
                }
                _ => None,
            };
            // A drop is counted by the caller (`publish/messages/dropped`)
            // and logged there.
            let pushed = s.queue.push(d, online, &s.limits, now);
            if let (Some(ctx), Pushed::Queued | Pushed::Congested) = (ctx, pushed) {
                s.next_queue_seq += 1;
                if let Some(d) = s.queue.back() {
                    ctx.record_enqueue(&self.client_id, d, &mut s.last_pos);
                }
            }
            let waker = match pushed {
                Pushed::Queued | Pushed::Congested => s.waker.take(),
                _ => None,
            };
            (pushed, waker)
        };
        if let Some(w) = waker {
            w.wake();
        }
        pushed
    }

    /// Ready when the queue has room for publishers again, or nobody is
    /// draining it any more (so waiting would be pointless).
    pub fn poll_room(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut guard = self.inner.lock();
        let s = &mut *guard;
        if s.owner.is_none() || !s.queue.is_full(&s.limits) {
            return Poll::Ready(());
        }
        s.queue.wait_for_room(cx.waker());
        Poll::Pending
    }
}

#[cfg(test)]
mod size_tests {
    /// Every client, connected or not, keeps one session: rarely used
    /// state (QoS 2 ids received, a kick, a congested queue's waiters, the
    /// in-flight map) is boxed on first use and the queue limits are
    /// shared, so they do not cost every session. 360 bytes measured, 272
    /// now (the first subscription is inline, no write-only fields): with
    /// the `Arc` a 304-byte malloc chunk (glibc: size + 8, rounded up to
    /// 16), and at most 280 stays in it.
    #[test]
    fn session_stays_small() {
        let size = std::mem::size_of::<super::Session>();
        assert!(size <= 280, "Session is {size} bytes");
    }

    /// Each connected client has one identity (`Arc`): 56 bytes, a
    /// 80-byte chunk.
    #[test]
    fn identity_stays_small() {
        let size = std::mem::size_of::<crate::auth::ClientIdentity>();
        assert!(size <= 56, "ClientIdentity is {size} bytes");
    }
}
