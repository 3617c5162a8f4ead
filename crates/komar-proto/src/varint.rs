//! Variable byte integers (MQTT 5.0 §1.5.5 / 3.1.1 §2.2.3): up to four bytes,
//! seven bits each, least significant group first.

/// The largest value four bytes can carry: 268,435,455.
pub const MAX_VARINT: u32 = 268_435_455;

/// Outcome of reading a variable byte integer from a possibly short buffer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Varint {
    /// The value and how many bytes it took.
    Value(u32, usize),
    /// The buffer ends before the integer does.
    Incomplete,
    /// More than four bytes, or a non-minimal encoding that overflows.
    Malformed,
}

/// Read a variable byte integer from the start of `buf`.
pub(crate) fn read_varint(buf: &[u8]) -> Varint {
    let mut value: u32 = 0;
    for (i, byte) in buf.iter().take(4).enumerate() {
        value |= u32::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            return Varint::Value(value, i + 1);
        }
    }
    if buf.len() >= 4 {
        Varint::Malformed
    } else {
        Varint::Incomplete
    }
}

/// How many bytes `value` takes as a variable byte integer (1..=4); values
/// above [`MAX_VARINT`] are the caller's error and are counted as 4.
pub fn varint_len(value: usize) -> usize {
    match value {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// Append `value` (at most [`MAX_VARINT`]) as a variable byte integer.
pub(crate) fn write_varint(out: &mut bytes::BytesMut, mut value: u32) {
    use bytes::BufMut;
    loop {
        let mut byte = (value & 0x7F) as u8;
        value >>= 7;
        if value > 0 {
            byte |= 0x80;
        }
        out.put_u8(byte);
        if value == 0 {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;

    #[test]
    fn spec_boundaries_round_trip() {
        for (v, len) in [
            (0u32, 1usize),
            (127, 1),
            (128, 2),
            (16_383, 2),
            (16_384, 3),
            (2_097_151, 3),
            (2_097_152, 4),
            (MAX_VARINT, 4),
        ] {
            let mut b = BytesMut::new();
            write_varint(&mut b, v);
            assert_eq!(b.len(), len, "{v}");
            assert_eq!(varint_len(v as usize), len);
            assert_eq!(read_varint(&b), Varint::Value(v, len));
        }
    }

    #[test]
    fn five_bytes_is_malformed_and_short_is_incomplete() {
        assert_eq!(
            read_varint(&[0x80, 0x80, 0x80, 0x80, 0x01]),
            Varint::Malformed
        );
        assert_eq!(read_varint(&[0xFF, 0xFF, 0xFF, 0xFF]), Varint::Malformed);
        assert_eq!(read_varint(&[0x80, 0x80]), Varint::Incomplete);
        assert_eq!(read_varint(&[]), Varint::Incomplete);
    }
}
