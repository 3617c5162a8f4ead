//! Byte-level primitives for the store's values: LEB128 lengths, fixed-width
//! big-endian integers, strings and byte strings, and a [`Reader`] that
//! checks every length against what is left, so a garbage value read back
//! from disk gives an error — never a panic or a huge allocation.
//!
//! This is value encoding only; the storage engine (fjall) owns the files,
//! their framing and their checksums.

use std::fmt;

/// Why a stored value could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DecodeError {}

/// Shorthand for a decode error about `what`.
pub(crate) fn bad(what: impl Into<String>) -> DecodeError {
    DecodeError(what.into())
}

/// Append a LEB128 varint.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7F) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Append a length-prefixed byte string.
pub(crate) fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// Append a length-prefixed UTF-8 string.
pub(crate) fn put_str(out: &mut Vec<u8>, s: &str) {
    put_bytes(out, s.as_bytes());
}

/// A cursor over one stored value.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf }
    }

    /// Bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// Fail unless everything was read (trailing bytes mean the value is
    /// not what we think it is).
    pub(crate) fn finish(&self, what: &str) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(bad(format!(
                "{what}: {} unexpected trailing bytes",
                self.buf.len()
            )))
        }
    }

    pub(crate) fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], DecodeError> {
        if n > self.buf.len() {
            return Err(bad(format!(
                "{what}: needs {n} bytes, {} left",
                self.buf.len()
            )));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    pub(crate) fn u8(&mut self, what: &str) -> Result<u8, DecodeError> {
        let b = self.take(1, what)?;
        b.first().copied().ok_or_else(|| bad(what))
    }

    pub(crate) fn u32(&mut self, what: &str) -> Result<u32, DecodeError> {
        let b = self.take(4, what)?;
        let a: [u8; 4] = b.try_into().map_err(|_| bad(what))?;
        Ok(u32::from_be_bytes(a))
    }

    pub(crate) fn u64(&mut self, what: &str) -> Result<u64, DecodeError> {
        let b = self.take(8, what)?;
        let a: [u8; 8] = b.try_into().map_err(|_| bad(what))?;
        Ok(u64::from_be_bytes(a))
    }

    pub(crate) fn varint(&mut self, what: &str) -> Result<u64, DecodeError> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.u8(what)?;
            let part = u64::from(b & 0x7F);
            if shift == 63 && part > 1 {
                return Err(bad(format!("{what}: varint overflows 64 bits")));
            }
            v |= part << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(bad(format!("{what}: varint longer than 10 bytes")))
    }

    pub(crate) fn varint_u32(&mut self, what: &str) -> Result<u32, DecodeError> {
        let v = self.varint(what)?;
        u32::try_from(v).map_err(|_| bad(format!("{what}: {v} does not fit 32 bits")))
    }

    /// A length-prefixed byte string (the length is checked against what
    /// is left before anything is taken).
    pub(crate) fn bytes(&mut self, what: &str) -> Result<&'a [u8], DecodeError> {
        let n = self.varint(what)?;
        let n = usize::try_from(n).map_err(|_| bad(format!("{what}: length {n} too large")))?;
        self.take(n, what)
    }

    pub(crate) fn str(&mut self, what: &str) -> Result<&'a str, DecodeError> {
        let b = self.bytes(what)?;
        std::str::from_utf8(b).map_err(|_| bad(format!("{what}: not UTF-8")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_at_the_edges() {
        for v in [
            0,
            1,
            127,
            128,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            let mut r = Reader::new(&out);
            assert_eq!(r.varint("v").unwrap(), v);
            r.finish("v").unwrap();
        }
    }

    #[test]
    fn overlong_and_truncated_input_is_an_error() {
        let eleven = [0xFFu8; 11];
        assert!(Reader::new(&eleven).varint("v").is_err());
        let overflow = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02];
        assert!(Reader::new(&overflow).varint("v").is_err());
        // A length far beyond the input must not allocate or panic.
        let mut out = Vec::new();
        put_varint(&mut out, u64::MAX);
        assert!(Reader::new(&out).bytes("b").is_err());
        assert!(Reader::new(&[0x03, b'a']).str("s").is_err());
        assert!(Reader::new(&[0x01, 0xFF]).str("s").is_err());
        assert!(Reader::new(&[1, 2]).u32("n").is_err());
    }

    #[test]
    fn trailing_bytes_are_reported() {
        let r = Reader::new(&[1]);
        assert!(r.finish("x").unwrap_err().0.contains("trailing"));
    }
}
