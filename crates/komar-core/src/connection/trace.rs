//! Mosquitto's debug log of the packets of each client (`log_type debug`,
//! or `-v`): "Received PUBLISH from c (d0, q1, r0, m1, 'a/b', ... (2
//! bytes))", "Sending PUBACK to c (m1, rc0)" and so on, worded as Mosquitto
//! words them so existing log tooling keeps working. Nothing is formatted
//! unless debug logging is on.

use komar_proto::{Packet, Publish};

use super::*;

fn publish_line(p: &Publish) -> String {
    format!(
        "(d{}, q{}, r{}, m{}, '{}', ... ({} bytes))",
        u8::from(p.dup),
        p.qos_pid.qos().as_u8(),
        u8::from(p.retain),
        p.qos_pid.packet_id().map_or(0, |id| id.get()),
        p.topic,
        p.payload.len()
    )
}

/// Whether packet lines are wanted at all.
pub(super) fn enabled() -> bool {
    tracing::enabled!(tracing::Level::DEBUG)
}

impl Connection {
    /// Log a packet received from the client.
    pub(super) fn trace_received(&self, p: &Packet) {
        if !enabled() {
            return;
        }
        let id = &self.identity.client_id;
        match p {
            Packet::Publish(p) => tracing::debug!("Received PUBLISH from {id} {}", publish_line(p)),
            Packet::PubAck(r) | Packet::PubComp(r) => tracing::debug!(
                "Received {} from {id} (Mid: {}, RC:{})",
                p.name(),
                r.packet_id,
                r.reason_code.0
            ),
            Packet::PubRec(r) | Packet::PubRel(r) => {
                tracing::debug!("Received {} from {id} (Mid: {})", p.name(), r.packet_id)
            }
            Packet::Subscribe(s) => {
                tracing::debug!("Received SUBSCRIBE from {id}");
                for (f, o) in &s.filters {
                    tracing::debug!("\t{f} (QoS {})", o.qos.as_u8());
                }
            }
            Packet::Unsubscribe(u) => {
                tracing::debug!("Received UNSUBSCRIBE from {id}");
                for f in &u.filters {
                    tracing::debug!("\t{f}");
                }
            }
            other => tracing::debug!("Received {} from {id}", other.name()),
        }
    }

    /// Log a packet sent to the client.
    pub(super) fn trace_sent(&self, p: &Packet) {
        if !enabled() {
            return;
        }
        let id = &self.identity.client_id;
        match p {
            Packet::Publish(p) => tracing::debug!("Sending PUBLISH to {id} {}", publish_line(p)),
            Packet::PubAck(r) | Packet::PubRec(r) => tracing::debug!(
                "Sending {} to {id} (m{}, rc{})",
                p.name(),
                r.packet_id,
                r.reason_code.0
            ),
            Packet::PubRel(r) | Packet::PubComp(r) => {
                tracing::debug!("Sending {} to {id} (m{})", p.name(), r.packet_id)
            }
            other => tracing::debug!("Sending {} to {id}", other.name()),
        }
    }

    /// Log a delivery written without building a [`Publish`].
    pub(super) fn trace_delivery(&self, head: &PublishHead<'_>, topic: &str) {
        if !enabled() {
            return;
        }
        tracing::debug!(
            "Sending PUBLISH to {} (d{}, q{}, r{}, m{}, '{topic}', ... ({} bytes))",
            self.identity.client_id,
            u8::from(head.dup),
            head.qos_pid.qos().as_u8(),
            u8::from(head.retain),
            head.qos_pid.packet_id().map_or(0, |id| id.get()),
            head.payload_len
        );
    }
}
