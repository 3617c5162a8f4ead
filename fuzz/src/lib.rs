//! Checks shared by the fuzz targets: decode a buffer as a stream of packets
//! the way a connection would, re-encode what decodes, and a naive topic
//! matcher to compare `komar_proto::topic::matches` against. Every check
//! panics on a violation, which is how libFuzzer learns of a finding.

use bytes::{Bytes, BytesMut};
use komar_proto::{
    decode_packet, encode, encoded_len, parse_frame_header, DecodeError, Packet, ProtocolVersion,
};

/// Every protocol version the codec speaks.
pub const VERSIONS: [ProtocolVersion; 3] = [
    ProtocolVersion::V31,
    ProtocolVersion::V311,
    ProtocolVersion::V5,
];

/// Decode `data` as back-to-back packets spoken by `version`, with a
/// maximum packet size of `max_packet_size`, until the buffer runs out or a
/// packet is rejected (a connection would close there). Returns the packets
/// that decoded. Also checks the framing contract: a header never claims
/// fewer bytes than it took, and a body shorter than the header says is
/// reported as truncated.
pub fn decode_stream(data: &[u8], version: ProtocolVersion, max_packet_size: usize) -> Vec<Packet> {
    let mut rest = Bytes::copy_from_slice(data);
    let mut packets = Vec::new();
    loop {
        let header = match parse_frame_header(&rest, max_packet_size) {
            Ok(Some(h)) => h,
            Ok(None) | Err(_) => return packets,
        };
        assert!((2..=5).contains(&header.header_len), "{header:?}");
        assert!(header.total_len() <= max_packet_size, "{header:?}");
        if header.total_len() > rest.len() {
            // Not all of the body has arrived: the decoder must not take the
            // short body for a whole packet.
            let short = rest.slice(header.header_len.min(rest.len())..);
            match decode_packet(&header, short, version) {
                Err(DecodeError::Truncated(_)) => {}
                other => panic!("short body of {header:?} decoded as {other:?}"),
            }
            return packets;
        }
        let frame = rest.split_to(header.total_len());
        match decode_packet(&header, frame.slice(header.header_len..), version) {
            Ok(p) => packets.push(p),
            Err(_) => return packets,
        }
    }
}

/// A packet that decoded must encode to exactly `encoded_len` bytes and
/// decode back to itself.
pub fn assert_roundtrip(p: &Packet, version: ProtocolVersion) {
    let mut out = BytesMut::new();
    if let Err(e) = encode(p, version, &mut out) {
        panic!("decoded packet does not re-encode: {e}: {p:?}");
    }
    assert_eq!(out.len(), encoded_len(p, version), "encoded_len of {p:?}");
    let bytes = out.freeze();
    let header = match parse_frame_header(&bytes, usize::MAX) {
        Ok(Some(h)) => h,
        other => panic!("re-encoded {p:?} has no frame header: {other:?}"),
    };
    assert_eq!(header.total_len(), bytes.len(), "{p:?}");
    let back = decode_packet(&header, bytes.slice(header.header_len..), version);
    assert_eq!(back.as_ref(), Ok(p), "re-encoded as {bytes:02x?}");
}

/// Naive reference for topic matching, written independently of the crate:
/// recursive over the level lists, with the `$` rule [MQTT-4.7.2-1] applied
/// at the top. Only meaningful for a valid filter and a valid name.
pub fn reference_matches(filter: &str, topic: &str) -> bool {
    fn rec(f: &[&str], t: &[&str]) -> bool {
        match (f.split_first(), t.split_first()) {
            (None, None) => true,
            (Some((&"#", _)), _) => true,
            (Some((&"+", fr)), Some((_, tr))) => rec(fr, tr),
            (Some((fl, fr)), Some((tl, tr))) => fl == tl && rec(fr, tr),
            _ => false,
        }
    }
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let f: Vec<&str> = filter.split('/').collect();
    let t: Vec<&str> = topic.split('/').collect();
    rec(&f, &t)
}
