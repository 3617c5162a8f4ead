//! A bounds-checked cursor over one packet's bytes. Every read checks the
//! remaining length first and reports which field was cut short; binary
//! fields are zero-copy slices of the packet.

use bytes::{Buf, Bytes};

use crate::error::DecodeError;
use crate::varint::{read_varint, Varint};

pub(crate) struct Reader {
    buf: Bytes,
}

impl Reader {
    pub(crate) fn new(buf: Bytes) -> Reader {
        Reader { buf }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    fn need(&self, n: usize, what: &'static str) -> Result<(), DecodeError> {
        if self.buf.len() < n {
            Err(DecodeError::Truncated(what))
        } else {
            Ok(())
        }
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        self.need(1, what)?;
        Ok(self.buf.get_u8())
    }

    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        self.need(2, what)?;
        Ok(self.buf.get_u16())
    }

    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        self.need(4, what)?;
        Ok(self.buf.get_u32())
    }

    pub(crate) fn varint(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        match read_varint(&self.buf) {
            Varint::Value(v, n) => {
                self.buf.advance(n);
                Ok(v)
            }
            Varint::Incomplete => Err(DecodeError::Truncated(what)),
            Varint::Malformed => Err(DecodeError::BadRemainingLength),
        }
    }

    /// The next `n` bytes, zero-copy.
    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<Bytes, DecodeError> {
        self.need(n, what)?;
        Ok(self.buf.split_to(n))
    }

    /// Everything left, zero-copy.
    pub(crate) fn rest(&mut self) -> Bytes {
        std::mem::take(&mut self.buf)
    }

    /// Binary data: two-byte length, then the bytes (§1.5.6).
    pub(crate) fn binary(&mut self, what: &'static str) -> Result<Bytes, DecodeError> {
        let len = self.u16(what)?;
        self.take(usize::from(len), what)
    }

    /// A UTF-8 encoded string (§1.5.4): well-formed UTF-8 [MQTT-1.5.4-1]
    /// without U+0000 [MQTT-1.5.4-2].
    pub(crate) fn string(&mut self, what: &'static str) -> Result<String, DecodeError> {
        let raw = self.binary(what)?;
        Ok(utf8(&raw, what)?.to_owned())
    }

    /// Fail if any byte is left [the packet's length must match its fields].
    pub(crate) fn finish(self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes(self.buf.len()))
        }
    }

    /// Split off the next `n` bytes as their own reader (a property block).
    pub(crate) fn sub_reader(
        &mut self,
        n: usize,
        what: &'static str,
    ) -> Result<Reader, DecodeError> {
        Ok(Reader::new(self.take(n, what)?))
    }
}

/// Check the UTF-8 string rules (§1.5.4) on `raw` without copying it.
pub(crate) fn utf8<'a>(raw: &'a [u8], what: &'static str) -> Result<&'a str, DecodeError> {
    let s = std::str::from_utf8(raw).map_err(|_| DecodeError::InvalidUtf8(what))?;
    if s.contains('\0') {
        return Err(DecodeError::InvalidUtf8(what));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_reject_nul_and_bad_utf8() {
        let mut r = Reader::new(Bytes::from_static(&[0, 3, b'a', 0, b'b']));
        assert_eq!(r.string("x"), Err(DecodeError::InvalidUtf8("x")));
        let mut r = Reader::new(Bytes::from_static(&[0, 2, 0xC3, 0x28]));
        assert_eq!(r.string("x"), Err(DecodeError::InvalidUtf8("x")));
        let mut r = Reader::new(Bytes::from_static(&[0, 5, b'a']));
        assert_eq!(r.string("x"), Err(DecodeError::Truncated("x")));
    }
}
