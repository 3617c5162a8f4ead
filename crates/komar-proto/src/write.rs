//! Appending MQTT primitive types to an output buffer, with the 65,535-byte
//! limit of strings and binary data checked.

use bytes::{BufMut, BytesMut};

use crate::error::EncodeError;

/// A two-byte length prefix, then the bytes (§1.5.4, §1.5.6).
pub(crate) fn put_binary(
    out: &mut BytesMut,
    data: &[u8],
    what: &'static str,
) -> Result<(), EncodeError> {
    let len = u16::try_from(data.len()).map_err(|_| EncodeError::FieldTooLong(what))?;
    out.put_u16(len);
    out.put_slice(data);
    Ok(())
}

/// A UTF-8 string with its two-byte length prefix.
pub(crate) fn put_string(
    out: &mut BytesMut,
    s: &str,
    what: &'static str,
) -> Result<(), EncodeError> {
    put_binary(out, s.as_bytes(), what)
}

/// Bytes a string or binary field takes on the wire.
pub(crate) fn field_len(data: &[u8]) -> usize {
    2 + data.len()
}
