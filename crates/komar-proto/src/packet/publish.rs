//! PUBLISH (§3.3): flags from the fixed header, topic name, packet
//! identifier, properties and payload. The encoder can write the head alone
//! so a large payload can be sent from its own buffer without a copy.

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::properties::{id, PublishProperties};
use crate::read::Reader;
use crate::topic::TopicName;
use crate::types::{ProtocolVersion, QoS, QosPid};
use crate::varint::{varint_len, write_varint, MAX_VARINT};
use crate::write::{field_len, put_string};

/// The PUBLISH packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// DUP: this may be a re-delivery (never set with QoS 0) [MQTT-3.3.1-2].
    pub dup: bool,
    /// QoS with the packet identifier it requires.
    pub qos_pid: QosPid,
    /// RETAIN flag.
    pub retain: bool,
    /// Topic name; empty only when a v5 Topic Alias names the topic.
    pub topic: TopicName,
    /// Properties (5.0).
    pub properties: PublishProperties,
    /// Application message.
    pub payload: Bytes,
}

impl Publish {
    /// The first byte of the fixed header for this PUBLISH.
    pub fn first_byte(&self) -> u8 {
        let mut b = 0x30 | (self.qos_pid.qos().as_u8() << 1);
        if self.dup {
            b |= 0x08;
        }
        if self.retain {
            b |= 0x01;
        }
        b
    }

    pub(crate) fn decode(
        flags: u8,
        mut r: Reader,
        version: ProtocolVersion,
    ) -> Result<Publish, DecodeError> {
        let dup = flags & 0x08 != 0;
        let retain = flags & 0x01 != 0;
        // [MQTT-3.3.1-4] QoS 3 is malformed.
        let qos = QoS::from_u8((flags >> 1) & 0x03).ok_or(DecodeError::InvalidQoS)?;
        // [MQTT-3.3.1-2] DUP must be 0 for QoS 0.
        if dup && qos == QoS::AtMostOnce {
            return Err(DecodeError::DupOnQos0);
        }
        // Borrowed, validated, then copied once into the topic's own
        // allocation.
        let raw_topic = r.binary("topic name")?;
        let topic = crate::read::utf8(&raw_topic, "topic name")?;
        let qos_pid = match qos {
            QoS::AtMostOnce => QosPid::AtMostOnce,
            _ => QosPid::new(qos, super::read_packet_id(&mut r, "PUBLISH")?),
        };
        let properties = if version.is_v5() {
            PublishProperties::decode(&mut r)?
        } else {
            PublishProperties::default()
        };
        let topic = if topic.is_empty() && properties.topic_alias.is_some() {
            TopicName::empty_for_alias()
        } else if topic.is_empty() && version.is_v5() {
            // §3.3.2.1: a zero-length topic needs a Topic Alias.
            return Err(DecodeError::EmptyTopicWithoutAlias);
        } else {
            // [MQTT-3.3.2-2] no wildcards in a topic name.
            TopicName::new(topic).map_err(DecodeError::InvalidTopicName)?
        };
        Ok(Publish {
            dup,
            qos_pid,
            retain,
            topic,
            properties,
            payload: r.rest(),
        })
    }

    /// The head of this PUBLISH, borrowed.
    pub fn head(&self) -> PublishHead<'_> {
        PublishHead {
            dup: self.dup,
            qos_pid: self.qos_pid,
            retain: self.retain,
            topic: self.topic.as_str(),
            properties: &self.properties,
            subscription_ids: &[],
            topic_alias: None,
            message_expiry_interval: None,
            payload_len: self.payload.len(),
        }
    }

    /// Remaining length of this PUBLISH for `version`.
    pub fn body_len(&self, version: ProtocolVersion) -> usize {
        self.head().body_len(version)
    }

    /// Write the fixed header, topic, packet identifier and properties, but
    /// not the payload: the caller appends `self.payload` (or sends it from
    /// its own buffer). Returns the size of the whole packet.
    ///
    /// # Errors
    /// The packet would exceed the largest remaining length, or a string is
    /// too long.
    pub fn encode_head(
        &self,
        version: ProtocolVersion,
        out: &mut BytesMut,
    ) -> Result<usize, EncodeError> {
        self.head().encode(version, out)
    }
}

/// Everything of a PUBLISH but its payload, borrowed: lets a broker encode
/// one stored message for many recipients without building (or cloning
/// into) a [`Publish`] for each.
#[derive(Debug, Clone, Copy)]
pub struct PublishHead<'a> {
    /// DUP flag.
    pub dup: bool,
    /// QoS and packet identifier.
    pub qos_pid: QosPid,
    /// RETAIN flag.
    pub retain: bool,
    /// Topic name (may be empty only with a topic alias property).
    pub topic: &'a str,
    /// Properties (5.0; ignored before).
    pub properties: &'a PublishProperties,
    /// Subscription Identifiers written after `properties` (a broker's
    /// per-recipient values; `properties` must not hold any).
    pub subscription_ids: &'a [u32],
    /// Topic Alias written after `properties` (likewise).
    pub topic_alias: Option<u16>,
    /// Message Expiry Interval written last (likewise) — where Mosquitto
    /// puts the remaining interval when it forwards a message.
    pub message_expiry_interval: Option<u32>,
    /// Length of the payload that follows.
    pub payload_len: usize,
}

impl PublishHead<'_> {
    fn first_byte(&self) -> u8 {
        let mut b = 0x30 | (self.qos_pid.qos().as_u8() << 1);
        if self.dup {
            b |= 0x08;
        }
        if self.retain {
            b |= 0x01;
        }
        b
    }

    fn head_body_len(&self, version: ProtocolVersion) -> usize {
        let mut n = field_len(self.topic.as_bytes());
        if self.qos_pid.packet_id().is_some() {
            n += 2;
        }
        if version.is_v5() {
            let p = self.properties_len();
            n += varint_len(p) + p;
        }
        n
    }

    /// Bytes of the property block without its length prefix.
    fn properties_len(&self) -> usize {
        let mut n = self.properties.body_len();
        for id in self.subscription_ids {
            n += 1 + varint_len(*id as usize);
        }
        if self.topic_alias.is_some() {
            n += 3;
        }
        if self.message_expiry_interval.is_some() {
            n += 5;
        }
        n
    }

    /// Remaining length for `version`.
    pub fn body_len(&self, version: ProtocolVersion) -> usize {
        self.head_body_len(version) + self.payload_len
    }

    /// Size of the whole packet for `version`.
    pub fn packet_len(&self, version: ProtocolVersion) -> usize {
        let body = self.body_len(version);
        1 + varint_len(body) + body
    }

    /// Write everything before the payload. Returns the size of the whole
    /// packet.
    ///
    /// # Errors
    /// The packet would exceed the largest remaining length, or a string is
    /// too long.
    pub fn encode(
        &self,
        version: ProtocolVersion,
        out: &mut BytesMut,
    ) -> Result<usize, EncodeError> {
        let body = self.body_len(version);
        let body32 = u32::try_from(body)
            .ok()
            .filter(|&b| b <= MAX_VARINT)
            .ok_or(EncodeError::TooLarge(body))?;
        out.reserve(1 + varint_len(body) + self.head_body_len(version));
        out.put_u8(self.first_byte());
        write_varint(out, body32);
        put_string(out, self.topic, "topic name")?;
        if let Some(pid) = self.qos_pid.packet_id() {
            out.put_u16(pid.get());
        }
        if version.is_v5() {
            let len = self.properties_len();
            write_varint(
                out,
                u32::try_from(len).unwrap_or(MAX_VARINT).min(MAX_VARINT),
            );
            self.properties.encode_fields(out)?;
            for sub_id in self.subscription_ids {
                out.put_u8(id::SUBSCRIPTION_IDENTIFIER);
                write_varint(out, (*sub_id).min(MAX_VARINT));
            }
            if let Some(alias) = self.topic_alias {
                out.put_u8(id::TOPIC_ALIAS);
                out.put_u16(alias);
            }
            if let Some(expiry) = self.message_expiry_interval {
                out.put_u8(id::MESSAGE_EXPIRY_INTERVAL);
                out.put_u32(expiry);
            }
        }
        Ok(1 + varint_len(body) + body)
    }
}
