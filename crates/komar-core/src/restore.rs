//! Rebuilding the broker from durable storage at start-up: persistent
//! sessions (subscriptions, queued and in-flight messages, incoming QoS 2
//! ids, pending wills, expiry) and retained messages, as the storage
//! layer read them back. Restored sessions start disconnected; their
//! timers are set from the stored wall-clock deadlines, so a session that
//! expired or a will that fell due while the broker was down is handled by
//! the first [`Broker::tick`] — through the ordinary code, which records
//! the outcome in storage.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use komar_proto::{PacketId, ProtocolVersion, QoS, SubscriptionOptions, TopicFilter};

use crate::auth::ClientIdentity;
use crate::broker::{Broker, Subscriber};
use crate::message::{Delivery, Message, Stored, SubIds};
use crate::persist::monotonic;
use crate::session::inflight::OutState;
use crate::session::{Session, SubEntry};

/// A stored delivery: the message and what this recipient gets of it.
#[derive(Debug, Clone)]
pub struct RestoredDelivery {
    /// The message.
    pub msg: Arc<Message>,
    /// Its storage id.
    pub msg_id: u64,
    /// QoS for this recipient.
    pub qos: QoS,
    /// RETAIN flag to send.
    pub retain: bool,
    /// Subscription identifiers.
    pub sub_ids: SubIds,
}

impl RestoredDelivery {
    fn into_delivery(self, queue_seq: u64) -> Delivery {
        Delivery {
            msg: self.msg,
            qos: self.qos,
            retain: self.retain,
            sub_ids: self.sub_ids,
            shared: None,
            stored: Some(Stored {
                queue_seq,
                msg_id: self.msg_id,
            }),
        }
    }
}

/// A persistent session as storage holds it.
#[derive(Debug, Clone)]
pub struct RestoredSession {
    /// Client identifier.
    pub client_id: Arc<str>,
    /// Protocol version of its last connection.
    pub version: ProtocolVersion,
    /// Session Expiry Interval (`u32::MAX` = never).
    pub expiry_interval: u32,
    /// When it expires (wall clock); `None` if it was connected when the
    /// broker stopped (its expiry then counts from now) or never expires.
    pub expires_at: Option<SystemTime>,
    /// User name of its last connection (access checks of its
    /// subscriptions).
    pub username: Option<Arc<str>>,
    /// Subscriptions.
    pub subscriptions: Vec<(TopicFilter, SubscriptionOptions, Option<NonZeroU32>)>,
    /// Queued deliveries with their stored positions, oldest first.
    pub queue: Vec<(u64, RestoredDelivery)>,
    /// Outgoing messages in flight, in send order.
    pub inflight: Vec<(PacketId, OutState, RestoredDelivery)>,
    /// Incoming QoS 2 packet ids not yet released.
    pub incoming_qos2: Vec<PacketId>,
    /// A will waiting for its delay, and when it is due.
    pub will: Option<(SystemTime, Arc<Message>)>,
}

/// What restoring put back.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Restored {
    /// Sessions.
    pub sessions: usize,
    /// Subscriptions.
    pub subscriptions: usize,
    /// Queued and in-flight messages.
    pub messages: usize,
    /// Retained messages.
    pub retained: usize,
}

impl Broker {
    /// Put back what storage holds. Call once, before clients connect and
    /// before [`Broker::attach_store`] (restoring records nothing).
    pub fn restore(
        &self,
        sessions: Vec<RestoredSession>,
        retained: Vec<Arc<Message>>,
        now: Instant,
    ) -> Restored {
        let mut summary = Restored::default();
        {
            let mut store = self.retained.write();
            for m in retained {
                if !m.is_expired(now) {
                    summary.retained += 1;
                    store.set(m);
                }
            }
        }
        for r in sessions {
            summary.sessions += 1;
            summary.subscriptions += r.subscriptions.len();
            summary.messages += r.queue.len() + r.inflight.len();
            self.restore_session(r, now);
        }
        summary
    }

    fn restore_session(&self, r: RestoredSession, now: Instant) {
        let session = Arc::new(Session::new(
            self.new_session_id(),
            r.client_id.clone(),
            r.version,
            self.queue_limits(),
        ));
        let identity = Arc::new(ClientIdentity {
            client_id: r.client_id.clone(),
            username: r.username.clone(),
            listener: 0,
            password: None,
        });
        for (filter, options, id) in &r.subscriptions {
            self.trie_insert(
                filter,
                Subscriber {
                    session: session.clone(),
                    options: *options,
                    id: *id,
                    identity: identity.clone(),
                },
            );
        }
        let mut s = session.lock();
        s.persisted = true;
        s.expiry_interval = r.expiry_interval;
        s.epoch = 1;
        for (filter, options, id) in r.subscriptions {
            s.subscriptions.insert(filter, SubEntry { options, id });
        }
        for (seq, d) in r.queue {
            s.next_queue_seq = s.next_queue_seq.max(seq + 1);
            s.queue.push_back(d.into_delivery(seq));
        }
        for (pid, state, d) in r.inflight {
            s.inflight.insert(pid, d.into_delivery(0), state);
        }
        s.incoming_qos2 = r.incoming_qos2.iter().map(|p| p.get()).collect();
        if let Some((due, will)) = r.will {
            s.pending_will = Some(will);
            self.schedule(monotonic(due, now), true, s.epoch, session.clone());
        }
        let deadline = match (r.expiry_interval, r.expires_at) {
            (0, _) => Some(now),
            (_, Some(at)) => Some(monotonic(at, now)),
            (interval, None) => self.expiry_deadline(interval, now),
        };
        if let Some(at) = deadline {
            self.schedule(at, false, s.epoch, session.clone());
        }
        drop(s);
        self.shard(&r.client_id).lock().insert(session);
    }
}
