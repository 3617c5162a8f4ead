//! AUTH (§3.15, 5.0 only): enhanced authentication exchange.

use bytes::{BufMut, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::properties::AuthProperties;
use crate::read::Reader;
use crate::reason::{ReasonCode, AUTH_CODES};

/// The AUTH packet.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Auth {
    /// Success, Continue authentication or Re-authenticate.
    pub reason_code: ReasonCode,
    /// Properties: method, data, reason string.
    pub properties: AuthProperties,
}

impl Auth {
    pub(crate) fn decode(mut r: Reader) -> Result<Auth, DecodeError> {
        let mut a = Auth::default();
        // §3.15.2.1: an empty body means Success with no properties.
        if !r.is_empty() {
            a.reason_code = super::read_reason(&mut r, AUTH_CODES, "AUTH")?;
            if !r.is_empty() {
                a.properties = AuthProperties::decode(&mut r)?;
            }
        }
        r.finish()?;
        Ok(a)
    }

    pub(crate) fn body_len(&self) -> usize {
        if self.reason_code == ReasonCode::SUCCESS && self.properties.is_empty() {
            0
        } else {
            1 + self.properties.wire_len()
        }
    }

    pub(crate) fn encode_body(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
        if self.body_len() > 0 {
            out.put_u8(self.reason_code.0);
            self.properties.encode(out)?;
        }
        Ok(())
    }
}
