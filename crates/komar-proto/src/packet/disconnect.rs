//! DISCONNECT (§3.14): empty before 5.0; in 5.0 a reason code and properties
//! that may be omitted when they are Normal disconnection and empty.

use bytes::{BufMut, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::properties::DisconnectProperties;
use crate::read::Reader;
use crate::reason::{ReasonCode, DISCONNECT_CODES};
use crate::types::ProtocolVersion;

/// The DISCONNECT packet.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Disconnect {
    /// Why the connection ends (5.0).
    pub reason_code: ReasonCode,
    /// Properties (5.0).
    pub properties: DisconnectProperties,
}

impl Disconnect {
    /// A DISCONNECT with this reason and no properties.
    pub fn new(reason_code: ReasonCode) -> Disconnect {
        Disconnect {
            reason_code,
            properties: DisconnectProperties::default(),
        }
    }

    pub(crate) fn decode(
        mut r: Reader,
        version: ProtocolVersion,
    ) -> Result<Disconnect, DecodeError> {
        let mut d = Disconnect::default();
        if version.is_v5() && !r.is_empty() {
            d.reason_code = super::read_reason(&mut r, DISCONNECT_CODES, "DISCONNECT")?;
            if !r.is_empty() {
                d.properties = DisconnectProperties::decode(&mut r)?;
            }
        }
        r.finish()?;
        Ok(d)
    }

    /// The reason code and properties are left out only for a normal
    /// disconnection without properties. Otherwise both are written, even
    /// an empty property list: the specification lets a sender stop after
    /// the reason code, but some widely used clients (rumqttc 0.24) cannot
    /// read a DISCONNECT that does.
    pub(crate) fn body_len(&self, version: ProtocolVersion) -> usize {
        if !version.is_v5()
            || (self.properties.is_empty() && self.reason_code == ReasonCode::NORMAL_DISCONNECTION)
        {
            0
        } else {
            1 + self.properties.wire_len()
        }
    }

    pub(crate) fn encode_body(
        &self,
        version: ProtocolVersion,
        out: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        let len = self.body_len(version);
        if len >= 1 {
            out.put_u8(self.reason_code.0);
        }
        if len > 1 {
            self.properties.encode(out)?;
        }
        Ok(())
    }
}
