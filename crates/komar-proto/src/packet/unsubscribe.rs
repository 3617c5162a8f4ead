//! UNSUBSCRIBE and UNSUBACK (§3.10, §3.11). Before 5.0 the UNSUBACK carries
//! only the packet identifier.

use bytes::{BufMut, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::properties::{AckProperties, UnsubscribeProperties};
use crate::read::Reader;
use crate::reason::{ReasonCode, UNSUBACK_CODES};
use crate::topic::TopicFilter;
use crate::types::{PacketId, ProtocolVersion};
use crate::write::{field_len, put_string};

/// The UNSUBSCRIBE packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    /// Identifier echoed in the UNSUBACK.
    pub packet_id: PacketId,
    /// Properties (5.0).
    pub properties: UnsubscribeProperties,
    /// Filters to remove; at least one [MQTT-3.10.3-2].
    pub filters: Vec<TopicFilter>,
}

impl Unsubscribe {
    pub(crate) fn decode(
        mut r: Reader,
        version: ProtocolVersion,
    ) -> Result<Unsubscribe, DecodeError> {
        let packet_id = super::read_packet_id(&mut r, "UNSUBSCRIBE")?;
        let properties = if version.is_v5() {
            UnsubscribeProperties::decode(&mut r)?
        } else {
            UnsubscribeProperties::default()
        };
        let mut filters = Vec::new();
        while !r.is_empty() {
            let text = r.string("topic filter")?;
            filters.push(TopicFilter::new(&text).map_err(DecodeError::InvalidTopicFilter)?);
        }
        if filters.is_empty() {
            return Err(DecodeError::NoTopicFilters("UNSUBSCRIBE"));
        }
        Ok(Unsubscribe {
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
        for f in &self.filters {
            n += field_len(f.as_str().as_bytes());
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
        for f in &self.filters {
            put_string(out, f.as_str(), "topic filter")?;
        }
        Ok(())
    }
}

/// The UNSUBACK packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsubAck {
    /// The UNSUBSCRIBE this answers.
    pub packet_id: PacketId,
    /// Properties (5.0).
    pub properties: AckProperties,
    /// One code per filter (5.0 only; empty before 5.0).
    pub reason_codes: Vec<ReasonCode>,
}

impl UnsubAck {
    pub(crate) fn decode(mut r: Reader, version: ProtocolVersion) -> Result<UnsubAck, DecodeError> {
        let packet_id = super::read_packet_id(&mut r, "UNSUBACK")?;
        let mut ack = UnsubAck {
            packet_id,
            properties: AckProperties::default(),
            reason_codes: Vec::new(),
        };
        if version.is_v5() {
            ack.properties = AckProperties::decode(&mut r)?;
            ack.reason_codes.reserve(r.remaining());
            while !r.is_empty() {
                let rc = super::read_reason(&mut r, UNSUBACK_CODES, "UNSUBACK")?;
                ack.reason_codes.push(rc);
            }
        }
        r.finish()?;
        Ok(ack)
    }

    pub(crate) fn body_len(&self, version: ProtocolVersion) -> usize {
        if version.is_v5() {
            2 + self.properties.wire_len() + self.reason_codes.len()
        } else {
            2
        }
    }

    pub(crate) fn encode_body(
        &self,
        version: ProtocolVersion,
        out: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        out.put_u16(self.packet_id.get());
        if version.is_v5() {
            self.properties.encode(out)?;
            for rc in &self.reason_codes {
                out.put_u8(rc.0);
            }
        }
        Ok(())
    }
}
