//! PUBACK, PUBREC, PUBREL and PUBCOMP (§3.4 – §3.7): a packet identifier and,
//! in 5.0, a reason code and properties that may be omitted when they are
//! Success and empty.

use bytes::{BufMut, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::properties::AckProperties;
use crate::read::Reader;
use crate::reason::ReasonCode;
use crate::types::{PacketId, ProtocolVersion};

/// The body shared by the four publish acknowledgements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PubResp {
    /// The PUBLISH this acknowledges.
    pub packet_id: PacketId,
    /// Outcome (5.0; always Success before 5.0).
    pub reason_code: ReasonCode,
    /// Properties (5.0).
    pub properties: AckProperties,
}

impl PubResp {
    /// A successful acknowledgement with no properties.
    pub fn new(packet_id: PacketId) -> PubResp {
        PubResp {
            packet_id,
            reason_code: ReasonCode::SUCCESS,
            properties: AckProperties::default(),
        }
    }

    pub(crate) fn decode(
        mut r: Reader,
        version: ProtocolVersion,
        allowed: &[u8],
        packet: &'static str,
    ) -> Result<PubResp, DecodeError> {
        let packet_id = super::read_packet_id(&mut r, packet)?;
        let mut resp = PubResp::new(packet_id);
        // §3.4.2.1: the reason code and properties may be omitted.
        if version.is_v5() && !r.is_empty() {
            resp.reason_code = super::read_reason(&mut r, allowed, packet)?;
            if !r.is_empty() {
                resp.properties = AckProperties::decode(&mut r)?;
            }
        }
        r.finish()?;
        Ok(resp)
    }

    pub(crate) fn body_len(&self, version: ProtocolVersion) -> usize {
        if !version.is_v5() {
            2
        } else if !self.properties.is_empty() {
            3 + self.properties.wire_len()
        } else if self.reason_code != ReasonCode::SUCCESS {
            3
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
        let len = self.body_len(version);
        if len >= 3 {
            out.put_u8(self.reason_code.0);
        }
        if len > 3 {
            self.properties.encode(out)?;
        }
        Ok(())
    }
}
