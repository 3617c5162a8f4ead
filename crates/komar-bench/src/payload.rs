//! The benchmark's message payload: publisher index, sequence number and
//! send time in the first 20 bytes (big-endian), zero padding after, so the
//! receiver can check loss and duplicates and measure latency.

use std::time::Instant;

use bytes::{BufMut, Bytes, BytesMut};

/// Bytes of the header; payloads are never smaller.
pub const HEADER: usize = 20;

/// What a received payload says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Which publisher sent it.
    pub publisher: u32,
    /// Its sequence number at that publisher.
    pub seq: u64,
    /// Nanoseconds since the run's epoch when it was sent.
    pub sent_ns: u64,
}

/// Build a payload of `size` bytes (at least [`HEADER`]).
pub fn encode(publisher: u32, seq: u64, epoch: Instant, size: usize) -> Bytes {
    let mut b = BytesMut::with_capacity(size.max(HEADER));
    b.put_u32(publisher);
    b.put_u64(seq);
    b.put_u64(u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX));
    b.resize(size.max(HEADER), 0);
    b.freeze()
}

/// Write the header into the first [`HEADER`] bytes of `buf` (a buffer
/// reused for every message; shorter buffers are left as they are).
pub fn stamp(buf: &mut [u8], publisher: u32, seq: u64, epoch: Instant) {
    let sent = u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
    if let Some(h) = buf.get_mut(..HEADER) {
        h[..4].copy_from_slice(&publisher.to_be_bytes());
        h[4..12].copy_from_slice(&seq.to_be_bytes());
        h[12..20].copy_from_slice(&sent.to_be_bytes());
    }
}

/// Read the header back; `None` for a payload that is not one of ours.
pub fn decode(p: &[u8]) -> Option<Stamp> {
    let publisher = u32::from_be_bytes(p.get(0..4)?.try_into().ok()?);
    let seq = u64::from_be_bytes(p.get(4..12)?.try_into().ok()?);
    let sent_ns = u64::from_be_bytes(p.get(12..20)?.try_into().ok()?);
    Some(Stamp {
        publisher,
        seq,
        sent_ns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_padding() {
        let epoch = Instant::now();
        let p = encode(7, 42, epoch, 64);
        assert_eq!(p.len(), 64);
        let s = decode(&p).unwrap();
        assert_eq!((s.publisher, s.seq), (7, 42));
        assert_eq!(encode(1, 1, epoch, 3).len(), HEADER);
        assert_eq!(decode(&[1, 2, 3]), None);
        let mut buf = vec![0u8; 64];
        stamp(&mut buf, 7, 42, epoch);
        let s = decode(&buf).unwrap();
        assert_eq!((s.publisher, s.seq), (7, 42));
    }
}
