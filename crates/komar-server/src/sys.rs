//! The `$SYS/broker/...` tree, as Mosquitto publishes it: retained text
//! values refreshed every `sys_interval` seconds, each published only when
//! it changed. Topics start with `$`, so a plain `#` subscription never
//! sees them [MQTT-4.7.2-1].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use komar_core::stats::Stats;
use komar_core::{Message, Origin};
use komar_proto::{QoS, TopicName};
use tokio::time::Instant;

use crate::Shared;

/// Exponentially smoothed per-minute rates over 1, 5 and 15 minutes, as
/// Mosquitto's `load/.../1min` values.
#[derive(Debug, Default)]
struct Load {
    last: u64,
    avg: [f64; 3],
}

impl Load {
    fn update(&mut self, current: u64, elapsed: f64) -> [f64; 3] {
        let delta = current.saturating_sub(self.last) as f64;
        self.last = current;
        let per_minute = if elapsed > 0.0 {
            delta * 60.0 / elapsed
        } else {
            0.0
        };
        for (avg, period) in self.avg.iter_mut().zip([60.0, 300.0, 900.0]) {
            let e = (-elapsed / period).exp();
            *avg = *avg * e + per_minute * (1.0 - e);
        }
        self.avg
    }
}

struct SysTree {
    shared: Arc<Shared>,
    started: Instant,
    last: Instant,
    published: HashMap<String, String>,
    loads: HashMap<&'static str, Load>,
}

impl SysTree {
    fn publish(&mut self, topic: &str, value: String) {
        if self.published.get(topic) == Some(&value) {
            return;
        }
        let Ok(name) = TopicName::new(topic) else {
            return;
        };
        let msg = Message {
            topic: name,
            payload: Bytes::from(value.clone().into_bytes()),
            qos: QoS::AtMostOnce,
            retain: true,
            properties: Default::default(),
            expires_at: None,
            origin: Origin::broker(),
        };
        let mut congested = Vec::new();
        self.shared
            .broker
            .publish(Arc::new(msg), std::time::Instant::now(), &mut congested);
        self.published.insert(topic.to_owned(), value);
    }

    fn refresh(&mut self) {
        let broker = self.shared.broker.clone();
        let s: &Stats = broker.stats();
        let now = Instant::now();
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        let get = Stats::get;
        let connected = get(&s.clients_connected);
        let sessions = broker.session_count() as u64;
        let (retained, retained_bytes) = broker.retained_count();
        let values: Vec<(&str, u64)> = vec![
            ("clients/connected", connected),
            ("clients/active", connected),
            ("clients/disconnected", sessions.saturating_sub(connected)),
            ("clients/inactive", sessions.saturating_sub(connected)),
            ("clients/total", sessions),
            ("clients/maximum", get(&s.clients_maximum)),
            ("clients/expired", get(&s.clients_expired)),
            // Komar's own: connected clients waiting without a task (see
            // `park`).
            ("clients/parked", self.shared.lot.parked() as u64),
            ("messages/received", get(&s.messages_received)),
            ("messages/sent", get(&s.messages_sent)),
            ("messages/stored", retained as u64),
            ("store/messages/count", retained as u64),
            ("store/messages/bytes", retained_bytes as u64),
            ("publish/messages/received", get(&s.publish_received)),
            ("publish/messages/sent", get(&s.publish_sent)),
            ("publish/messages/dropped", get(&s.publish_dropped)),
            ("publish/bytes/received", get(&s.publish_bytes_received)),
            ("publish/bytes/sent", get(&s.publish_bytes_sent)),
            ("bytes/received", get(&s.bytes_received)),
            ("bytes/sent", get(&s.bytes_sent)),
            ("retained messages/count", retained as u64),
            ("subscriptions/count", broker.subscription_count() as u64),
            (
                "shared_subscriptions/count",
                broker.shared_subscription_count() as u64,
            ),
        ];
        for (topic, v) in values {
            self.publish(&format!("$SYS/broker/{topic}"), v.to_string());
        }
        let loads: [(&'static str, u64); 8] = [
            ("messages/received", get(&s.messages_received)),
            ("messages/sent", get(&s.messages_sent)),
            ("publish/received", get(&s.publish_received)),
            ("publish/sent", get(&s.publish_sent)),
            ("publish/dropped", get(&s.publish_dropped)),
            ("bytes/received", get(&s.bytes_received)),
            ("bytes/sent", get(&s.bytes_sent)),
            ("connections", get(&s.connections_total)),
        ];
        for (name, current) in loads {
            let avg = self.loads.entry(name).or_default().update(current, elapsed);
            for (suffix, v) in ["1min", "5min", "15min"].iter().zip(avg) {
                self.publish(
                    &format!("$SYS/broker/load/{name}/{suffix}"),
                    format!("{v:.2}"),
                );
            }
        }
        let uptime = now.duration_since(self.started).as_secs();
        self.publish("$SYS/broker/uptime", format!("{uptime} seconds"));
    }
}

/// Publish the tree every `interval` until shutdown.
pub(crate) async fn run(shared: Arc<Shared>, interval: Duration) {
    let now = Instant::now();
    let mut tree = SysTree {
        shared: shared.clone(),
        started: now,
        last: now,
        published: HashMap::new(),
        loads: HashMap::new(),
    };
    tree.publish(
        "$SYS/broker/version",
        format!("komar version {}", env!("CARGO_PKG_VERSION")),
    );
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shared.shutdown.cancelled() => break,
            _ = ticker.tick() => tree.refresh(),
        }
    }
}
