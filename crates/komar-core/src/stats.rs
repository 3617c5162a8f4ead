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
        let add = |c: &AtomicU64, v: &mut u32| {
            if *v != 0 {
                c.fetch_add(u64::from(*v), Ordering::Relaxed);
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

/// Per-connection counts waiting to be folded into [`Stats`]. 32-bit: they
/// are folded after every transmit batch, and [`LocalStats::add`] folds
/// them early once any passes [`FOLD_AT`], so none can overflow (36 bytes
/// in every connection instead of 72).
#[derive(Debug, Default, Clone)]
pub struct LocalStats {
    /// See [`Stats::publish_received`].
    pub publish_received: u32,
    /// See [`Stats::publish_sent`].
    pub publish_sent: u32,
    /// See [`Stats::publish_dropped`].
    pub publish_dropped: u32,
    /// See [`Stats::publish_bytes_received`].
    pub publish_bytes_received: u32,
    /// See [`Stats::publish_bytes_sent`].
    pub publish_bytes_sent: u32,
    /// See [`Stats::messages_received`].
    pub messages_received: u32,
    /// See [`Stats::messages_sent`].
    pub messages_sent: u32,
    /// See [`Stats::bytes_received`].
    pub bytes_received: u32,
    /// See [`Stats::bytes_sent`].
    pub bytes_sent: u32,
}

/// A local count this high is folded at once.
pub const FOLD_AT: u32 = 1 << 31;

impl LocalStats {
    /// Add `n` to the count `field` picks; fold every count into `stats`
    /// first if this one has passed [`FOLD_AT`] (a single addition is at
    /// most one packet or one read, far below 2^31).
    pub fn add(&mut self, stats: &Stats, field: fn(&mut LocalStats) -> &mut u32, n: usize) {
        let count = field(self);
        *count = count.saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
        if *count >= FOLD_AT {
            stats.fold(self);
        }
    }
}
