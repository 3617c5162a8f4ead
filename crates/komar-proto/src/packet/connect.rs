//! CONNECT (§3.1): protocol name and level, flags, keep alive, properties,
//! client identifier, will, user name and password.

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::properties::{ConnectProperties, WillProperties};
use crate::read::Reader;
use crate::topic::TopicName;
use crate::types::{ProtocolVersion, QoS};
use crate::write::{field_len, put_binary, put_string};

/// A will message registered by CONNECT (§3.1.3.2 – §3.1.3.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastWill {
    /// Where the will is published.
    pub topic: TopicName,
    /// What is published.
    pub payload: Bytes,
    /// QoS of the will publication.
    pub qos: QoS,
    /// Whether the will is retained.
    pub retain: bool,
    /// Will properties (5.0).
    pub properties: WillProperties,
}

/// The CONNECT packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    /// Protocol version from the name and level.
    pub protocol: ProtocolVersion,
    /// The level byte had bit 7 set: Mosquitto's bridge marker
    /// (`try_private`), used to avoid message loops between bridged brokers.
    pub bridge: bool,
    /// Clean Session (3.1.1) / Clean Start (5.0).
    pub clean_start: bool,
    /// Keep alive in seconds; 0 = off.
    pub keep_alive: u16,
    /// Properties (5.0).
    pub properties: ConnectProperties,
    /// Client identifier; may be empty.
    pub client_id: String,
    /// The will message, if any.
    pub will: Option<LastWill>,
    /// User name, if the flag is set.
    pub username: Option<String>,
    /// Password, if the flag is set.
    pub password: Option<Bytes>,
}

const FLAG_RESERVED: u8 = 0x01;
const FLAG_CLEAN: u8 = 0x02;
const FLAG_WILL: u8 = 0x04;
const FLAG_WILL_RETAIN: u8 = 0x20;
const FLAG_PASSWORD: u8 = 0x40;
const FLAG_USERNAME: u8 = 0x80;

impl Connect {
    pub(crate) fn decode(mut r: Reader) -> Result<Connect, DecodeError> {
        let name = r.string("protocol name")?;
        let level_byte = r.u8("protocol level")?;
        let bridge = level_byte & 0x80 != 0;
        let level = level_byte & 0x7F;
        let protocol = match (name.as_str(), level) {
            ("MQTT", 4) => ProtocolVersion::V311,
            ("MQTT", 5) => ProtocolVersion::V5,
            ("MQIsdp", 3) => ProtocolVersion::V31,
            // [MQTT-3.1.2-2] a known name at an unknown level: CONNACK 0x01/0x84.
            ("MQTT", _) | ("MQIsdp", _) => {
                return Err(DecodeError::UnsupportedProtocolVersion(level_byte))
            }
            // [MQTT-3.1.2-1] anything else is not MQTT.
            _ => return Err(DecodeError::BadProtocolName(name)),
        };
        let flags = r.u8("connect flags")?;
        // [MQTT-3.1.2-3] the reserved flag must be zero.
        if flags & FLAG_RESERVED != 0 {
            return Err(DecodeError::ConnectReservedFlag);
        }
        let will_qos_bits = (flags >> 3) & 0x03;
        let has_will = flags & FLAG_WILL != 0;
        // [MQTT-3.1.2-11] [MQTT-3.1.2-13] no will QoS / retain without a will.
        if !has_will && (will_qos_bits != 0 || flags & FLAG_WILL_RETAIN != 0) {
            return Err(DecodeError::WillFlagsWithoutWill);
        }
        // [MQTT-3.1.2-12] will QoS 3 is malformed.
        let will_qos = QoS::from_u8(will_qos_bits).ok_or(DecodeError::InvalidQoS)?;
        // [MQTT-3.1.2-22] 3.1.1: no password without a user name (5.0 allows it).
        if protocol == ProtocolVersion::V311
            && flags & FLAG_PASSWORD != 0
            && flags & FLAG_USERNAME == 0
        {
            return Err(DecodeError::PasswordWithoutUsername);
        }
        let keep_alive = r.u16("keep alive")?;
        let properties = if protocol.is_v5() {
            ConnectProperties::decode(&mut r)?
        } else {
            ConnectProperties::default()
        };
        let client_id = r.string("client identifier")?;
        let will = if has_will {
            let properties = if protocol.is_v5() {
                WillProperties::decode(&mut r)?
            } else {
                WillProperties::default()
            };
            let topic = r.string("will topic")?;
            let topic = TopicName::new(&topic).map_err(DecodeError::InvalidTopicName)?;
            let payload = r.binary("will payload")?;
            Some(LastWill {
                topic,
                payload,
                qos: will_qos,
                retain: flags & FLAG_WILL_RETAIN != 0,
                properties,
            })
        } else {
            None
        };
        let username = if flags & FLAG_USERNAME != 0 {
            Some(r.string("user name")?)
        } else {
            None
        };
        let password = if flags & FLAG_PASSWORD != 0 {
            Some(r.binary("password")?)
        } else {
            None
        };
        r.finish()?;
        Ok(Connect {
            protocol,
            bridge,
            clean_start: flags & FLAG_CLEAN != 0,
            keep_alive,
            properties,
            client_id,
            will,
            username,
            password,
        })
    }

    fn flags(&self) -> u8 {
        let mut flags = 0;
        if self.clean_start {
            flags |= FLAG_CLEAN;
        }
        if let Some(w) = &self.will {
            flags |= FLAG_WILL | (w.qos.as_u8() << 3);
            if w.retain {
                flags |= FLAG_WILL_RETAIN;
            }
        }
        if self.username.is_some() {
            flags |= FLAG_USERNAME;
        }
        if self.password.is_some() {
            flags |= FLAG_PASSWORD;
        }
        flags
    }

    pub(crate) fn body_len(&self) -> usize {
        let v5 = self.protocol.is_v5();
        let mut n = field_len(self.protocol.protocol_name().as_bytes()) + 1 + 1 + 2;
        if v5 {
            n += self.properties.wire_len();
        }
        n += field_len(self.client_id.as_bytes());
        if let Some(w) = &self.will {
            if v5 {
                n += w.properties.wire_len();
            }
            n += field_len(w.topic.as_str().as_bytes()) + field_len(&w.payload);
        }
        if let Some(u) = &self.username {
            n += field_len(u.as_bytes());
        }
        if let Some(p) = &self.password {
            n += field_len(p);
        }
        n
    }

    pub(crate) fn encode_body(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        let v5 = self.protocol.is_v5();
        put_string(out, self.protocol.protocol_name(), "protocol name")?;
        let bridge = if self.bridge { 0x80 } else { 0 };
        out.put_u8(self.protocol.level() | bridge);
        out.put_u8(self.flags());
        out.put_u16(self.keep_alive);
        if v5 {
            self.properties.encode(out)?;
        }
        put_string(out, &self.client_id, "client identifier")?;
        if let Some(w) = &self.will {
            if v5 {
                w.properties.encode(out)?;
            }
            put_string(out, w.topic.as_str(), "will topic")?;
            put_binary(out, &w.payload, "will payload")?;
        }
        if let Some(u) = &self.username {
            put_string(out, u, "user name")?;
        }
        if let Some(p) = &self.password {
            put_binary(out, p, "password")?;
        }
        Ok(())
    }
}
