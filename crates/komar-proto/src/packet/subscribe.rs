//! SUBSCRIBE and SUBACK (§3.8, §3.9): topic filters with their subscription
//! options, and one reason code per filter in reply.

use bytes::{BufMut, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::properties::{AckProperties, SubscribeProperties};
use crate::read::Reader;
use crate::reason::{ReasonCode, SUBACK_CODES};
use crate::topic::TopicFilter;
use crate::types::{PacketId, ProtocolVersion, QoS, RetainHandling};
use crate::write::{field_len, put_string};

/// Options of one subscription (§3.8.3.1). Before 5.0 only `qos` exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SubscriptionOptions {
    /// Maximum QoS the client wants.
    pub qos: QoS,
    /// Do not send the client its own publications [MQTT-3.8.3-3].
    pub no_local: bool,
    /// Keep the RETAIN flag as published [MQTT-3.3.1-13].
    pub retain_as_published: bool,
    /// When to send retained messages.
    pub retain_handling: RetainHandling,
}

impl SubscriptionOptions {
    /// Options with this QoS and every 5.0 option at its default.
    pub fn qos(qos: QoS) -> SubscriptionOptions {
        SubscriptionOptions {
            qos,
            ..Default::default()
        }
    }

    fn to_byte(self, version: ProtocolVersion) -> u8 {
        let mut b = self.qos.as_u8();
        if version.is_v5() {
            if self.no_local {
                b |= 0x04;
            }
            if self.retain_as_published {
                b |= 0x08;
            }
            b |= (self.retain_handling as u8) << 4;
        }
        b
    }

    fn from_byte(b: u8, version: ProtocolVersion) -> Result<SubscriptionOptions, DecodeError> {
        let reserved = if version.is_v5() { 0xC0 } else { 0xFC };
        // [MQTT-3.8.3-5] (5.0) / [MQTT-3-8.3-4] (3.1.1): reserved bits are zero.
        if b & reserved != 0 {
            return Err(DecodeError::SubscriptionOptionsReserved);
        }
        Ok(SubscriptionOptions {
            qos: QoS::from_u8(b & 0x03).ok_or(DecodeError::InvalidQoS)?,
            no_local: b & 0x04 != 0,
            retain_as_published: b & 0x08 != 0,
            retain_handling: RetainHandling::from_u8((b >> 4) & 0x03)
                .ok_or(DecodeError::BadRetainHandling)?,
        })
    }
}

/// The SUBSCRIBE packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    /// Identifier echoed in the SUBACK.
    pub packet_id: PacketId,
    /// Properties (5.0).
    pub properties: SubscribeProperties,
    /// Filters with their options, in order; at least one [MQTT-3.8.3-3].
    pub filters: Vec<(TopicFilter, SubscriptionOptions)>,
}

impl Subscribe {
    pub(crate) fn decode(
        mut r: Reader,
        version: ProtocolVersion,
    ) -> Result<Subscribe, DecodeError> {
        let packet_id = super::read_packet_id(&mut r, "SUBSCRIBE")?;
        let properties = if version.is_v5() {
            SubscribeProperties::decode(&mut r)?
        } else {
            SubscribeProperties::default()
        };
        let mut filters = Vec::new();
        while !r.is_empty() {
            let text = r.string("topic filter")?;
            let filter = TopicFilter::new(&text).map_err(DecodeError::InvalidTopicFilter)?;
            let options = SubscriptionOptions::from_byte(r.u8("subscription options")?, version)?;
            // [MQTT-3.8.3-4] no-local on a shared subscription is a Protocol Error.
            if options.no_local && filter.shared().is_some() {
                return Err(DecodeError::NoLocalOnSharedSubscription);
            }
            filters.push((filter, options));
        }
        // [MQTT-3.8.3-3] at least one filter.
        if filters.is_empty() {
            return Err(DecodeError::NoTopicFilters("SUBSCRIBE"));
        }
        Ok(Subscribe {
            packet_id,
            properties,
            filters,
        })
    }

    pub(crate) fn body_len(&self, version: ProtocolVersion) -> usize {
        let mut n = 2;
        if version.is_v5() {
            n += self.properties.wire_len();
        }
        for (f, _) in &self.filters {
            n += field_len(f.as_str().as_bytes()) + 1;
        }
        n
    }

    pub(crate) fn encode_body(
        &self,
        version: ProtocolVersion,
        out: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        out.put_u16(self.packet_id.get());
        if version.is_v5() {
            self.properties.encode(out)?;
        }
        for (f, o) in &self.filters {
            put_string(out, f.as_str(), "topic filter")?;
            out.put_u8(o.to_byte(version));
        }
        Ok(())
    }
}

/// The SUBACK packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubAck {
    /// The SUBSCRIBE this answers.
    pub packet_id: PacketId,
    /// Properties (5.0).
    pub properties: AckProperties,
    /// One code per filter, in order [MQTT-3.9.3-1]: the granted QoS or a
    /// failure (0x80 before 5.0).
    pub reason_codes: Vec<ReasonCode>,
}

impl SubAck {
    pub(crate) fn decode(mut r: Reader, version: ProtocolVersion) -> Result<SubAck, DecodeError> {
        let packet_id = super::read_packet_id(&mut r, "SUBACK")?;
        let properties = if version.is_v5() {
            AckProperties::decode(&mut r)?
        } else {
            AckProperties::default()
        };
        let allowed: &[u8] = if version.is_v5() {
            SUBACK_CODES
        } else {
            &[0x00, 0x01, 0x02, 0x80]
        };
        let mut reason_codes = Vec::with_capacity(r.remaining());
        while !r.is_empty() {
            reason_codes.push(super::read_reason(&mut r, allowed, "SUBACK")?);
        }
        if reason_codes.is_empty() {
            return Err(DecodeError::Truncated("SUBACK reason codes"));
        }
        Ok(SubAck {
            packet_id,
            properties,
            reason_codes,
        })
    }

    pub(crate) fn body_len(&self, version: ProtocolVersion) -> usize {
        let props = if version.is_v5() {
            self.properties.wire_len()
        } else {
            0
        };
        2 + props + self.reason_codes.len()
    }

    pub(crate) fn encode_body(
        &self,
        version: ProtocolVersion,
        out: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        out.put_u16(self.packet_id.get());
        if version.is_v5() {
            self.properties.encode(out)?;
        }
        for rc in &self.reason_codes {
            // Before 5.0 every failure is 0x80 [MQTT-3.9.3-2].
            let code = if !version.is_v5() && rc.is_error() {
                0x80
            } else {
                rc.0
            };
            out.put_u8(code);
        }
        Ok(())
    }
}
