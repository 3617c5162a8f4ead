//! Keep-alive alarms without a timer per connection.
//!
//! A connection's keep-alive deadline [MQTT-3.1.2-22] moves with every
//! packet it receives, and a tokio `Sleep` kept in each connection's task
//! costs 112 bytes for as long as the client stays connected — enough to
//! push the task into the next 128-byte size class. Instead, an attached
//! connection publishes the time it next needs to look at its deadline in
//! its session ([`Session::set_alarm`]) with the waker to call, and the
//! broker's clock task sweeps the session table ([`Broker::sweep_keepalive`])
//! and wakes the connections whose alarm has passed. The sweep costs one
//! atomic load per session; it returns the earliest alarm still ahead, and
//! the clock task sleeps until then, but at least 250 ms between sweeps
//! (so a 1 s keep-alive closes between 1.5 and 1.75 s).
//!
//! Times are milliseconds on the broker's own clock ([`Broker::clock_ms`]),
//! never 0 (0 means "no alarm").

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};

use crate::broker::Broker;
use crate::session::Session;

impl Broker {
    /// Milliseconds from the broker's start to `t`, plus one (so never 0):
    /// an alarm set at `clock_ms(deadline)` is due once
    /// `clock_ms(now) > clock_ms(deadline)`, i.e. never before `deadline`.
    pub fn clock_ms(&self, t: Instant) -> u64 {
        let ms = t.saturating_duration_since(self.clock_origin()).as_millis();
        u64::try_from(ms).unwrap_or(u64::MAX - 1) + 1
    }

    /// Wake every attached connection whose keep-alive alarm is due at
    /// `now`. Returns when the earliest alarm still ahead is due — `now`
    /// itself if any connection was woken: it re-arms right away (its
    /// deadline moved, or it moved between tasks), after this sweep has
    /// looked, and the clock must look again soon rather than at its next
    /// tick.
    pub fn sweep_keepalive(&self, now: Instant) -> Option<Instant> {
        let now_ms = self.clock_ms(now);
        let mut due: Vec<(Arc<Session>, u64)> = Vec::new();
        let mut next = u64::MAX;
        for shard in self.session_shards() {
            for s in shard.lock().values() {
                match s.alarm.load(Ordering::Acquire) {
                    0 => {}
                    at if at < now_ms => due.push((s.clone(), at)),
                    at => next = next.min(at),
                }
            }
        }
        if !due.is_empty() {
            next = next.min(now_ms);
        }
        for (s, at) in due {
            // Only the alarm seen: if the connection re-armed meanwhile,
            // its new alarm is ahead and stays.
            if s.alarm
                .compare_exchange(at, 0, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                s.wake_alarm();
            }
        }
        (next != u64::MAX).then(|| {
            // The instant at which `clock_ms` first exceeds `next`.
            self.clock_origin() + Duration::from_millis(next)
        })
    }
}

impl Session {
    /// Ask the broker's clock to wake `waker` once the broker clock passes
    /// `at_ms` (see [`Broker::clock_ms`]), for the connection of generation
    /// `gen` — nothing if another connection has taken the session over
    /// (its alarm is not this one's to replace). The waker stays registered
    /// until the connection detaches; a later call replaces both.
    pub fn set_alarm(&self, gen: std::num::NonZeroU64, at_ms: u64, waker: &Waker) {
        {
            let mut s = self.lock();
            if s.owner != Some(gen) {
                return;
            }
            match &s.alarm_waker {
                Some(w) if w.will_wake(waker) => {}
                _ => s.alarm_waker = Some(waker.clone()),
            }
        }
        // After the waker: a sweep that sees the alarm finds the waker.
        self.alarm.store(at_ms, Ordering::Release);
    }

    /// Clear the alarm (the connection detached).
    pub(crate) fn clear_alarm(&self, s: &mut crate::session::SessionInner) {
        s.alarm_waker = None;
        self.alarm.store(0, Ordering::Release);
    }

    fn wake_alarm(&self) {
        // Cloned, not taken: a connection re-arming between the sweep's
        // check and this wake keeps its waker (a spurious wake is harmless,
        // a lost one would stop its keep-alive checks).
        let w = self.lock().alarm_waker.clone();
        if let Some(w) = w {
            w.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BrokerConfig;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    #[derive(Default)]
    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn clock_is_never_zero_and_monotonic() {
        let b = Broker::new(BrokerConfig::default());
        let t0 = Instant::now();
        assert!(b.clock_ms(t0) >= 1);
        assert!(b.clock_ms(t0 + Duration::from_millis(5)) >= b.clock_ms(t0) + 4);
        // Before the origin saturates instead of wrapping.
        if let Some(before) = t0.checked_sub(Duration::from_secs(3600)) {
            assert_eq!(b.clock_ms(before), 1);
        }
    }

    #[test]
    fn sweep_wakes_only_due_alarms_and_reports_the_next() {
        let b = Broker::new(BrokerConfig::default());
        let now = Instant::now();
        let gen = |n| std::num::NonZeroU64::new(n).unwrap();
        let due = b.test_session("due");
        let later = b.test_session("later");
        due.lock().owner = Some(gen(1));
        later.lock().owner = Some(gen(2));
        let (w1, w2) = (Arc::new(Count::default()), Arc::new(Count::default()));
        due.set_alarm(gen(1), b.clock_ms(now), &Waker::from(w1.clone()));
        let later_at = now + Duration::from_secs(5);
        later.set_alarm(gen(2), b.clock_ms(later_at), &Waker::from(w2.clone()));
        // A connection that lost the session sets nothing.
        let w3 = Arc::new(Count::default());
        later.set_alarm(gen(7), b.clock_ms(now), &Waker::from(w3.clone()));

        // Someone was woken: look again at once (it re-arms after this
        // sweep looked).
        let swept = now + Duration::from_millis(2);
        let again = b.sweep_keepalive(swept).expect("a sweep soon");
        assert!(again <= swept + Duration::from_millis(1));
        assert_eq!(w1.0.load(Ordering::SeqCst), 1);
        assert_eq!(w2.0.load(Ordering::SeqCst), 0);
        // A fired alarm fires once; the next sweep is the later alarm's.
        let next = b.sweep_keepalive(now + Duration::from_millis(3));
        assert_eq!(w1.0.load(Ordering::SeqCst), 1);
        let next = next.expect("the later alarm is ahead");
        assert!(next > later_at && next <= later_at + Duration::from_millis(2));
        // The later one fires when due, and then nothing is ahead.
        let ms = Duration::from_millis(1);
        assert!(b.sweep_keepalive(next).is_some_and(|t| t <= next + ms));
        assert_eq!(w2.0.load(Ordering::SeqCst), 1);
        assert!(b.sweep_keepalive(next).is_none());
        assert_eq!(w3.0.load(Ordering::SeqCst), 0);
    }
}
