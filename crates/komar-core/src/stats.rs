//! Broker-wide counters behind `$SYS` and the metrics endpoint. Hot paths
//! count into per-connection [`LocalStats`] and fold them in here in
//! batches, so cores do not fight over one cache line per message.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters since start. All relaxed: they are statistics, not
/// synchronisation.
#[derive(Debug, Default)]
pub struct Stats {
    /// PUBLISH packets received from clients.
    pub publish_received: AtomicU64,
    /// PUBLISH packets sent to clients.
    pub publish_sent: AtomicU64,
    /// Messages dropped by a queue limit, an expiry or a size limit.
    pub publish_dropped: AtomicU64,
    /// Payload bytes of PUBLISH received.
    pub publish_bytes_received: AtomicU64,
    /// Payload bytes of PUBLISH sent.
    pub publish_bytes_sent: AtomicU64,
    /// All packets received.
    pub messages_received: AtomicU64,
    /// All packets sent.
    pub messages_sent: AtomicU64,
    /// Bytes read from clients.
    pub bytes_received: AtomicU64,
    /// Bytes written to clients.
    pub bytes_sent: AtomicU64,
    /// Clients currently connected.
    pub clients_connected: AtomicU64,
    /// Most clients connected at once.
    pub clients_maximum: AtomicU64,
    /// Sessions expired.
    pub clients_expired: AtomicU64,
    /// Connections accepted in all.
    pub connections_total: AtomicU64,
}

impl Stats {
    /// Add a batch of per-connection counts.
    pub fn fold(&self, local: &mut LocalStats) {
        let add = |c: &AtomicU64, v: &mut u64| {
            if *v != 0 {
                c.fetch_add(*v, Ordering::Relaxed);
                *v = 0;
            }
        };
        add(&self.publish_received, &mut local.publish_received);
        add(&self.publish_sent, &mut local.publish_sent);
        add(&self.publish_dropped, &mut local.publish_dropped);
        add(
            &self.publish_bytes_received,
            &mut local.publish_bytes_received,
        );
        add(&self.publish_bytes_sent, &mut local.publish_bytes_sent);
        add(&self.messages_received, &mut local.messages_received);
        add(&self.messages_sent, &mut local.messages_sent);
        add(&self.bytes_received, &mut local.bytes_received);
        add(&self.bytes_sent, &mut local.bytes_sent);
    }

    /// Count a connected client and track the maximum.
    pub fn client_connected(&self) {
        let now = self.clients_connected.fetch_add(1, Ordering::Relaxed) + 1;
        self.clients_maximum.fetch_max(now, Ordering::Relaxed);
    }

    /// Count a disconnected client.
    pub fn client_disconnected(&self) {
        self.clients_connected.fetch_sub(1, Ordering::Relaxed);
    }

    /// Read a counter.
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// Per-connection counts waiting to be folded into [`Stats`].
#[derive(Debug, Default, Clone)]
pub struct LocalStats {
    /// See [`Stats::publish_received`].
    pub publish_received: u64,
    /// See [`Stats::publish_sent`].
    pub publish_sent: u64,
    /// See [`Stats::publish_dropped`].
    pub publish_dropped: u64,
    /// See [`Stats::publish_bytes_received`].
    pub publish_bytes_received: u64,
    /// See [`Stats::publish_bytes_sent`].
    pub publish_bytes_sent: u64,
    /// See [`Stats::messages_received`].
    pub messages_received: u64,
    /// See [`Stats::messages_sent`].
    pub messages_sent: u64,
    /// See [`Stats::bytes_received`].
    pub bytes_received: u64,
    /// See [`Stats::bytes_sent`].
    pub bytes_sent: u64,
}
