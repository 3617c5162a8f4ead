//! Helpers shared by the property-test binaries: proptest strategies that
//! build valid packets for each protocol version, and the codec round trip
//! as a function that reports what went wrong.
// Each test binary uses a different part of this module.
#![allow(dead_code)]

pub mod strategies;

use bytes::{Bytes, BytesMut};
use komar_proto::{
    decode_packet, encode, encoded_len, parse_frame_header, FrameHeader, Packet, ProtocolVersion,
};

/// Every protocol version the codec speaks.
pub const VERSIONS: [ProtocolVersion; 3] = [
    ProtocolVersion::V31,
    ProtocolVersion::V311,
    ProtocolVersion::V5,
];

/// Encode `p` for `version`, checking that exactly `encoded_len` bytes were
/// written.
pub fn encode_checked(p: &Packet, version: ProtocolVersion) -> Result<Bytes, String> {
    let mut out = BytesMut::new();
    encode(p, version, &mut out).map_err(|e| format!("encode failed: {e} for {p:?}"))?;
    let want = encoded_len(p, version);
    if out.len() != want {
        return Err(format!(
            "encoded_len says {want} but {} bytes were written for {p:?}",
            out.len()
        ));
    }
    Ok(out.freeze())
}

/// Parse the one whole packet in `bytes` (header and body) with `version`.
pub fn decode_whole(
    bytes: &Bytes,
    version: ProtocolVersion,
) -> Result<(FrameHeader, Packet), String> {
    let header = match parse_frame_header(bytes, usize::MAX) {
        Ok(Some(h)) => h,
        other => return Err(format!("no frame header in {bytes:02x?}: {other:?}")),
    };
    if header.total_len() != bytes.len() {
        return Err(format!(
            "header claims {} bytes, buffer has {}",
            header.total_len(),
            bytes.len()
        ));
    }
    let p = decode_packet(&header, bytes.slice(header.header_len..), version)
        .map_err(|e| format!("decode failed: {e} ({e:?}) for {bytes:02x?}"))?;
    Ok((header, p))
}

/// A packet must re-encode and decode to itself (used on anything that
/// decoded, including from garbage).
pub fn check_stable(p: &Packet, version: ProtocolVersion) -> Result<(), String> {
    let bytes = encode_checked(p, version)?;
    let (_, back) = decode_whole(&bytes, version)?;
    if &back != p {
        return Err(format!("{p:?} came back as {back:?}"));
    }
    Ok(())
}
