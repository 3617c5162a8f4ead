//! CONNACK (§3.2): session present flag, reason code (3.1.1 return code),
//! properties.

use bytes::{BufMut, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::properties::ConnAckProperties;
use crate::read::Reader;
use crate::reason::{ReasonCode, CONNACK_CODES};
use crate::types::ProtocolVersion;

/// The CONNACK packet. The reason code is always the 5.0 code; for 3.x it is
/// mapped to and from the return code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnAck {
    /// The server had a session for this client [MQTT-3.2.2-2].
    pub session_present: bool,
    /// Success, or why the connection is refused.
    pub reason_code: ReasonCode,
    /// Properties (5.0).
    pub properties: ConnAckProperties,
}

impl ConnAck {
    pub(crate) fn decode(mut r: Reader, version: ProtocolVersion) -> Result<ConnAck, DecodeError> {
        let flags = r.u8("connack flags")?;
        // [MQTT-3.2.2-1] bits 7-1 are reserved.
        if flags & 0xFE != 0 {
            return Err(DecodeError::ConnAckReservedFlags);
        }
        let reason_code = if version.is_v5() {
            super::read_reason(&mut r, CONNACK_CODES, "CONNACK")?
        } else {
            let code = r.u8("connack return code")?;
            ReasonCode::from_v3_connack(code).ok_or(DecodeError::BadReasonCode {
                code,
                packet: "CONNACK",
            })?
        };
        let properties = if version.is_v5() {
            ConnAckProperties::decode(&mut r)?
        } else {
            ConnAckProperties::default()
        };
        r.finish()?;
        Ok(ConnAck {
            session_present: flags & 1 != 0,
            reason_code,
            properties,
        })
    }

    pub(crate) fn body_len(&self, version: ProtocolVersion) -> usize {
        if version.is_v5() {
            2 + self.properties.wire_len()
        } else {
            2
        }
    }

    pub(crate) fn encode_body(
        &self,
        version: ProtocolVersion,
        out: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        out.put_u8(u8::from(self.session_present));
        if version.is_v5() {
            out.put_u8(self.reason_code.0);
            self.properties.encode(out)?;
        } else {
            out.put_u8(self.reason_code.to_v3_connack());
        }
        Ok(())
    }
}
