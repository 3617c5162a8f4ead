//! `-d`: libmosquitto's debug log lines for every packet sent and received
//! (`Client <id> sending PUBLISH (d0, q1, r0, m1, 'a/b', ... (5 bytes))`),
//! built from the client's packet trace.

use komar_proto::{Packet, ProtocolVersion, Publish};

/// What the log lines need to know about the session.
#[derive(Debug, Clone)]
pub(crate) struct DebugLog {
    /// The client id as libmosquitto knows it; "(null)" when unset.
    pub(crate) id: String,
    pub(crate) version: ProtocolVersion,
    /// libmosquitto's message id counter (used for QoS 0 publishes, which
    /// carry no packet identifier).
    mid: u16,
}

impl DebugLog {
    pub(crate) fn new(id: Option<&str>, version: ProtocolVersion) -> DebugLog {
        DebugLog {
            id: match id {
                Some(s) => s.to_string(),
                None => "(null)".to_string(),
            },
            version,
            mid: 0,
        }
    }

    fn next_mid(&mut self) -> u16 {
        self.mid = self.mid.wrapping_add(1);
        if self.mid == 0 {
            self.mid = 1;
        }
        self.mid
    }

    fn publish_line(&self, dir: &str, p: &Publish, mid: u16) -> String {
        format!(
            "Client {} {dir} PUBLISH (d{}, q{}, r{}, m{mid}, '{}', ... ({} bytes))",
            self.id,
            u8::from(p.dup),
            p.qos_pid.qos().as_u8(),
            u8::from(p.retain),
            if p.topic.is_empty() {
                "(null)"
            } else {
                p.topic.as_str()
            },
            p.payload.len()
        )
    }

    /// Lines for a packet this client sent.
    pub(crate) fn sent(&mut self, p: &Packet) -> Vec<String> {
        let id = self.id.clone();
        match p {
            Packet::Connect(_) => vec![format!("Client {id} sending CONNECT")],
            Packet::Publish(p) => {
                let counter = self.next_mid();
                let mid = p.qos_pid.packet_id().map_or(counter, |m| m.get());
                vec![self.publish_line("sending", p, mid)]
            }
            Packet::PubAck(r) => vec![format!(
                "Client {id} sending PUBACK (m{}, rc{})",
                r.packet_id, r.reason_code.0
            )],
            Packet::PubRec(r) => vec![format!(
                "Client {id} sending PUBREC (m{}, rc{})",
                r.packet_id, r.reason_code.0
            )],
            Packet::PubRel(r) => vec![format!("Client {id} sending PUBREL (m{})", r.packet_id)],
            Packet::PubComp(r) => vec![format!("Client {id} sending PUBCOMP (m{})", r.packet_id)],
            Packet::Subscribe(s) => {
                self.next_mid();
                s.filters
                    .iter()
                    .map(|(f, o)| {
                        let mut opts = 0u8;
                        if self.version.is_v5() {
                            opts |= u8::from(o.no_local) << 2;
                            opts |= u8::from(o.retain_as_published) << 3;
                            opts |= (o.retain_handling as u8) << 4;
                        }
                        format!(
                            "Client {id} sending SUBSCRIBE (Mid: {}, Topic: {}, QoS: {}, Options: 0x{opts:02x})",
                            s.packet_id,
                            f.as_str(),
                            o.qos.as_u8()
                        )
                    })
                    .collect()
            }
            Packet::Unsubscribe(u) => {
                self.next_mid();
                u.filters
                    .iter()
                    .map(|f| {
                        format!(
                            "Client {id} sending UNSUBSCRIBE (Mid: {}, Topic: {})",
                            u.packet_id,
                            f.as_str()
                        )
                    })
                    .collect()
            }
            Packet::PingReq => vec![format!("Client {id} sending PINGREQ")],
            Packet::Disconnect(_) => vec![format!("Client {id} sending DISCONNECT")],
            _ => Vec::new(),
        }
    }

    /// Lines for a packet this client received.
    pub(crate) fn received(&mut self, p: &Packet) -> Vec<String> {
        if let Packet::ConnAck(c) = p {
            if let Some(a) = &c.properties.assigned_client_identifier {
                self.id = a.clone();
            }
        }
        let id = &self.id;
        let line = match p {
            Packet::ConnAck(c) => {
                let code = if self.version.is_v5() {
                    c.reason_code.0
                } else {
                    c.reason_code.to_v3_connack()
                };
                format!("Client {id} received CONNACK ({code})")
            }
            Packet::Publish(m) => {
                let mid = m.qos_pid.packet_id().map_or(0, |x| x.get());
                self.publish_line("received", m, mid)
            }
            Packet::PubAck(r) => format!(
                "Client {id} received PUBACK (Mid: {}, RC:{})",
                r.packet_id, r.reason_code.0
            ),
            Packet::PubComp(r) => format!(
                "Client {id} received PUBCOMP (Mid: {}, RC:{})",
                r.packet_id, r.reason_code.0
            ),
            Packet::PubRec(r) => format!("Client {id} received PUBREC (Mid: {})", r.packet_id),
            Packet::PubRel(r) => format!("Client {id} received PUBREL (Mid: {})", r.packet_id),
            Packet::SubAck(_) => format!("Client {id} received SUBACK"),
            Packet::UnsubAck(_) => format!("Client {id} received UNSUBACK"),
            Packet::PingResp => format!("Client {id} received PINGRESP"),
            Packet::PingReq => format!("Client {id} received PINGREQ"),
            Packet::Disconnect(d) => format!("Received DISCONNECT ({})", d.reason_code.0),
            Packet::Auth(_) => format!("Client {id} received AUTH"),
            _ => return Vec::new(),
        };
        vec![line]
    }
}
