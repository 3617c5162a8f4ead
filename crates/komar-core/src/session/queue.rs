//! A client's outgoing queue: messages waiting to be sent, beyond those in
//! flight, bounded by count (`max_queued_messages`) and bytes
//! (`max_queued_bytes`).
//!
//! # Overflow policy
//! - **Offline client**: a message that does not fit is dropped and counted
//!   (Mosquitto's rule). QoS 0 is not queued at all for an offline client
//!   unless `queue_qos0_messages` is set.
//! - **Online client over its limit**: Komar pushes back instead of dropping.
//!   The message is queued beyond the limit (up to twice the limit) and the
//!   publisher is told the queue is congested; its connection stops reading
//!   until this queue has room again. TCP flow control then slows the
//!   publisher, so a fast fan-in never loses messages to a subscriber that
//!   keeps reading. A client that stays over its limit for longer than
//!   `stall_timeout`, or reaches twice the limit, no longer holds publishers
//!   back: what does not fit is dropped and counted.
//! - When both limits are 0 (Mosquitto's "unlimited"), [`SAFETY_BYTES`]
//!   still bounds memory per client.

use std::collections::VecDeque;
use std::task::Waker;
use std::time::{Duration, Instant};

use komar_proto::QoS;

use crate::message::Delivery;

/// Byte bound per client queue when the configuration sets no limit at all.
pub const SAFETY_BYTES: usize = 1 << 30;

/// The limits a queue enforces, copied from the broker configuration.
#[derive(Debug, Clone, Copy)]
pub struct QueueLimits {
    /// Message count limit (0 = none).
    pub max_messages: usize,
    /// Byte limit (0 = none).
    pub max_bytes: usize,
    /// Queue QoS 0 for offline clients.
    pub queue_qos0_offline: bool,
    /// How long back-pressure may last before overflow is dropped.
    pub stall_timeout: Duration,
}

impl QueueLimits {
    fn byte_limit(&self) -> usize {
        if self.max_messages == 0 && self.max_bytes == 0 {
            SAFETY_BYTES
        } else {
            self.max_bytes
        }
    }
}

/// What happened to a pushed delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Queued within the limits.
    Queued,
    /// Queued over the limit: the publisher should wait for room.
    Congested,
    /// Not queued: QoS 0 for an offline client without `queue_qos0_messages`
    /// (not a loss: QoS 0 promises nothing to an absent client).
    Skipped,
    /// Dropped by a limit; counted.
    Dropped,
}

/// The queue itself.
#[derive(Debug, Default)]
pub struct OutQueue {
    items: VecDeque<Delivery>,
    bytes: usize,
    /// Back-pressure state, boxed: a queue that never fills (almost all of
    /// them) pays one pointer for it.
    stall: Option<Box<Stall>>,
}

/// A queue's back-pressure state.
#[derive(Debug, Default)]
struct Stall {
    /// When the queue last went over its limit while online.
    since: Option<Instant>,
    /// Publishers waiting for room (at most one waker per publishing
    /// connection, so bounded by the number of connections).
    waiters: Vec<Waker>,
}

impl OutQueue {
    /// Messages queued.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Bytes queued.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The next delivery.
    pub fn front(&self) -> Option<&Delivery> {
        self.items.front()
    }

    /// The delivery queued last.
    pub fn back(&self) -> Option<&Delivery> {
        self.items.back()
    }

    fn over(&self, limits: &QueueLimits, factor: usize) -> bool {
        let bytes = limits.byte_limit();
        (limits.max_messages > 0 && self.items.len() >= limits.max_messages * factor)
            || (bytes > 0 && self.bytes >= bytes.saturating_mul(factor))
    }

    /// True when at or over the configured limit.
    pub fn is_full(&self, limits: &QueueLimits) -> bool {
        self.over(limits, 1)
    }

    /// Queue `d` following the overflow policy above.
    pub fn push(
        &mut self,
        d: Delivery,
        online: bool,
        limits: &QueueLimits,
        now: Instant,
    ) -> Pushed {
        if !online && d.qos == QoS::AtMostOnce && !limits.queue_qos0_offline {
            return Pushed::Skipped;
        }
        if !self.is_full(limits) {
            self.push_back(d);
            return Pushed::Queued;
        }
        if !online {
            return Pushed::Dropped;
        }
        let stall = self.stall.get_or_insert_with(Box::default);
        let since = *stall.since.get_or_insert(now);
        if now.saturating_duration_since(since) > limits.stall_timeout || self.over(limits, 2) {
            return Pushed::Dropped;
        }
        self.push_back(d);
        Pushed::Congested
    }

    /// Queue `d` regardless of the limits: retained messages sent for a new
    /// subscription (they are references to messages the store already
    /// holds) and messages moved back from flight.
    pub fn push_back(&mut self, d: Delivery) {
        self.bytes += d.cost();
        self.items.push_back(d);
    }

    /// Put a delivery back at the front (it could not be sent yet).
    pub fn push_front(&mut self, d: Delivery) {
        self.bytes += d.cost();
        self.items.push_front(d);
    }

    /// Take the next delivery.
    pub fn pop(&mut self, limits: &QueueLimits) -> Option<Delivery> {
        let d = self.items.pop_front()?;
        self.bytes -= d.cost();
        if self.stall.is_some() && !self.is_full(limits) {
            self.end_congestion();
        }
        Some(d)
    }

    /// Remember a publisher waiting for room.
    pub fn wait_for_room(&mut self, waker: &Waker) {
        let waiters = &mut self.stall.get_or_insert_with(Box::default).waiters;
        if !waiters.iter().any(|w| w.will_wake(waker)) {
            waiters.push(waker.clone());
        }
    }

    /// The publishers to wake if there is room now (call after a pop, wake
    /// after releasing the lock).
    pub fn take_room_waiters(&mut self, limits: &QueueLimits) -> Vec<Waker> {
        match &self.stall {
            Some(st) if !st.waiters.is_empty() && !self.is_full(limits) => {
                self.take_all_room_waiters()
            }
            _ => Vec::new(),
        }
    }

    /// Wake every waiting publisher (the client went away; nobody drains).
    pub fn take_all_room_waiters(&mut self) -> Vec<Waker> {
        let Some(st) = self.stall.as_mut() else {
            return Vec::new();
        };
        let waiters = std::mem::take(&mut st.waiters);
        if st.since.is_none() {
            self.stall = None;
        }
        waiters
    }

    /// The queue is under its limit again: forget when it went over.
    fn end_congestion(&mut self) {
        if let Some(st) = self.stall.as_mut() {
            st.since = None;
            if st.waiters.is_empty() {
                self.stall = None;
            }
        }
    }

    /// Remove every delivery.
    pub fn clear(&mut self) {
        self.items.clear();
        self.bytes = 0;
        self.end_congestion();
    }

    /// Drop deliveries whose message expired; returns how many.
    pub fn remove_expired(&mut self, now: Instant) -> usize {
        let before = self.items.len();
        let mut bytes = self.bytes;
        self.items.retain(|d| {
            let keep = !d.msg.is_expired(now);
            if !keep {
                bytes -= d.cost();
            }
            keep
        });
        self.bytes = bytes;
        before - self.items.len()
    }

    /// Take out every delivery `pred` selects, keeping the others in order.
    pub fn take_where(&mut self, mut pred: impl FnMut(&Delivery) -> bool) -> Vec<Delivery> {
        let mut taken = Vec::new();
        let mut kept = VecDeque::with_capacity(self.items.len());
        for d in self.items.drain(..) {
            if pred(&d) {
                self.bytes -= d.cost();
                taken.push(d);
            } else {
                kept.push_back(d);
            }
        }
        self.items = kept;
        taken
    }

    /// Iterate the deliveries in order.
    pub fn iter(&self) -> impl Iterator<Item = &Delivery> {
        self.items.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Message, Origin, SubIds};
    use bytes::Bytes;
    use komar_proto::TopicName;
    use std::sync::Arc;

    fn d(qos: QoS) -> Delivery {
        Delivery {
            msg: Arc::new(Message {
                topic: TopicName::new("t").unwrap(),
                payload: Bytes::from_static(b"xyz"),
                qos,
                retain: false,
                properties: Default::default(),
                expires_at: None,
                origin: Origin::broker(),
            }),
            qos,
            retain: false,
            sub_ids: SubIds::None,
            shared: None,
            stored: None,
        }
    }

    fn limits(n: usize) -> QueueLimits {
        QueueLimits {
            max_messages: n,
            max_bytes: 0,
            queue_qos0_offline: false,
            stall_timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn offline_overflow_drops_and_qos0_is_skipped() {
        let l = limits(2);
        let now = Instant::now();
        let mut q = OutQueue::default();
        assert_eq!(q.push(d(QoS::AtMostOnce), false, &l, now), Pushed::Skipped);
        assert_eq!(q.push(d(QoS::AtLeastOnce), false, &l, now), Pushed::Queued);
        assert_eq!(q.push(d(QoS::AtLeastOnce), false, &l, now), Pushed::Queued);
        assert_eq!(q.push(d(QoS::AtLeastOnce), false, &l, now), Pushed::Dropped);
        assert_eq!(q.len(), 2);
        assert_eq!(q.bytes(), 8);
    }

    #[test]
    fn online_overflow_pushes_back_then_drops_when_stalled() {
        let l = limits(2);
        let now = Instant::now();
        let mut q = OutQueue::default();
        for _ in 0..2 {
            assert_eq!(q.push(d(QoS::AtLeastOnce), true, &l, now), Pushed::Queued);
        }
        assert_eq!(
            q.push(d(QoS::AtLeastOnce), true, &l, now),
            Pushed::Congested
        );
        // Still within the stall timeout, below the hard limit.
        let later = now + Duration::from_secs(1);
        assert_eq!(
            q.push(d(QoS::AtMostOnce), true, &l, later),
            Pushed::Congested
        );
        // Hard limit (twice the soft one) reached.
        assert_eq!(
            q.push(d(QoS::AtLeastOnce), true, &l, later),
            Pushed::Dropped
        );
        // Draining below the limit ends the congestion episode.
        q.pop(&l);
        q.pop(&l);
        q.pop(&l);
        let much_later = now + Duration::from_secs(60);
        assert_eq!(
            q.push(d(QoS::AtLeastOnce), true, &l, much_later),
            Pushed::Queued
        );
        assert_eq!(
            q.push(d(QoS::AtLeastOnce), true, &l, much_later),
            Pushed::Congested
        );
        // Stalled for longer than the timeout: drop.
        let stalled = much_later + Duration::from_secs(6);
        assert_eq!(
            q.push(d(QoS::AtLeastOnce), true, &l, stalled),
            Pushed::Dropped
        );
    }
}
