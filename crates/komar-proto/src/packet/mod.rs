//! Packet types: one struct per MQTT control packet, shared by every
//! protocol version. Each module decodes its packet's variable header and
//! payload (after the fixed header has been checked by `frame`) and encodes
//! it back for a given version; fields a version lacks (properties, reason
//! codes before 5.0) are simply not written.

mod ack;
mod auth;
mod connack;
mod connect;
mod disconnect;
mod publish;
mod subscribe;
mod unsubscribe;

pub use ack::PubResp;
pub use auth::Auth;
pub use connack::ConnAck;
pub use connect::{Connect, LastWill};
pub use disconnect::Disconnect;
pub use publish::{Publish, PublishHead};
pub use subscribe::{SubAck, Subscribe, SubscriptionOptions};
pub use unsubscribe::{UnsubAck, Unsubscribe};

/// Any MQTT control packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// CONNECT (client to server).
    Connect(Box<Connect>),
    /// CONNACK (server to client).
    ConnAck(Box<ConnAck>),
    /// PUBLISH (both ways).
    Publish(Publish),
    /// PUBACK: QoS 1 acknowledgement.
    PubAck(PubResp),
    /// PUBREC: QoS 2 step 1.
    PubRec(PubResp),
    /// PUBREL: QoS 2 step 2.
    PubRel(PubResp),
    /// PUBCOMP: QoS 2 step 3.
    PubComp(PubResp),
    /// SUBSCRIBE (client to server).
    Subscribe(Subscribe),
    /// SUBACK (server to client).
    SubAck(SubAck),
    /// UNSUBSCRIBE (client to server).
    Unsubscribe(Unsubscribe),
    /// UNSUBACK (server to client).
    UnsubAck(UnsubAck),
    /// PINGREQ.
    PingReq,
    /// PINGRESP.
    PingResp,
    /// DISCONNECT (both ways in 5.0).
    Disconnect(Disconnect),
    /// AUTH (5.0 only).
    Auth(Auth),
}

impl Packet {
    /// The packet's name as the specification writes it, for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Packet::Connect(_) => "CONNECT",
            Packet::ConnAck(_) => "CONNACK",
            Packet::Publish(_) => "PUBLISH",
            Packet::PubAck(_) => "PUBACK",
            Packet::PubRec(_) => "PUBREC",
            Packet::PubRel(_) => "PUBREL",
            Packet::PubComp(_) => "PUBCOMP",
            Packet::Subscribe(_) => "SUBSCRIBE",
            Packet::SubAck(_) => "SUBACK",
            Packet::Unsubscribe(_) => "UNSUBSCRIBE",
            Packet::UnsubAck(_) => "UNSUBACK",
            Packet::PingReq => "PINGREQ",
            Packet::PingResp => "PINGRESP",
            Packet::Disconnect(_) => "DISCONNECT",
            Packet::Auth(_) => "AUTH",
        }
    }
}

/// Read a packet identifier that must not be zero [MQTT-2.2.1-3].
pub(crate) fn read_packet_id(
    r: &mut crate::read::Reader,
    packet: &'static str,
) -> Result<crate::PacketId, crate::DecodeError> {
    let raw = r.u16("packet identifier")?;
    crate::PacketId::new(raw).ok_or(crate::DecodeError::ZeroPacketId(packet))
}

/// Read a reason code and check it is one `allowed` for `packet`.
pub(crate) fn read_reason(
    r: &mut crate::read::Reader,
    allowed: &[u8],
    packet: &'static str,
) -> Result<crate::ReasonCode, crate::DecodeError> {
    let code = r.u8("reason code")?;
    if allowed.contains(&code) {
        Ok(crate::ReasonCode(code))
    } else {
        Err(crate::DecodeError::BadReasonCode { code, packet })
    }
}
