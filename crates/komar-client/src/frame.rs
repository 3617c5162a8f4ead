//! Framing on top of komar-proto's codec: a read buffer that yields whole
//! decoded packets (checking the declared size before buffering the body)
//! and an encoder that appends packets to a write buffer. No codec logic
//! lives here — only buffer management around `parse_frame_header`,
//! `decode_packet` and `encode`.

use bytes::BytesMut;
use komar_proto::{decode_packet, encode, parse_frame_header, Packet, ProtocolVersion};

use crate::error::ClientError;

/// Bytes asked of the transport per read when the buffer is short.
const READ_CHUNK: usize = 8 * 1024;

/// The largest packet MQTT can express: a four-byte remaining length plus
/// the fixed header.
pub const MAX_PACKET_SIZE: usize = komar_proto::MAX_REMAINING_LENGTH + 5;

/// Incoming bytes, decoded a packet at a time.
///
/// The buffer holds at most one partial packet beyond what was read; a
/// packet larger than `max_packet_size` is refused from its fixed header,
/// before its body is read, so memory stays bounded by that limit.
#[derive(Debug)]
pub struct FrameReader {
    buf: BytesMut,
    max_packet_size: usize,
}

impl FrameReader {
    /// An empty reader accepting packets up to `max_packet_size` bytes.
    pub fn new(max_packet_size: usize) -> FrameReader {
        FrameReader {
            buf: BytesMut::new(),
            max_packet_size: max_packet_size.min(MAX_PACKET_SIZE),
        }
    }

    /// The buffer to read into; makes room for at least one read chunk.
    pub fn read_buf(&mut self) -> &mut BytesMut {
        if self.buf.capacity() - self.buf.len() < READ_CHUNK {
            self.buf.reserve(READ_CHUNK);
        }
        &mut self.buf
    }

    /// Bytes buffered and not yet decoded.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Decode the next complete packet, if the buffer holds one.
    ///
    /// # Errors
    /// The bytes break the protocol or the packet is over the size limit.
    pub fn next_packet(&mut self, version: ProtocolVersion) -> Result<Option<Packet>, ClientError> {
        let Some(header) = parse_frame_header(&self.buf, self.max_packet_size)? else {
            return Ok(None);
        };
        let total = header.total_len();
        if self.buf.len() < total {
            // Reserve for the rest of this packet only; the size was checked.
            self.buf.reserve(total - self.buf.len());
            return Ok(None);
        }
        let mut frame = self.buf.split_to(total);
        let body = frame.split_off(header.header_len).freeze();
        Ok(Some(decode_packet(&header, body, version)?))
    }
}

/// Append `packet` encoded for `version` to `out`.
///
/// # Errors
/// The packet cannot be encoded (see [`komar_proto::EncodeError`]).
pub fn encode_packet(
    packet: &Packet,
    version: ProtocolVersion,
    out: &mut BytesMut,
) -> Result<(), ClientError> {
    let start = out.len();
    if let Err(e) = encode(packet, version, out) {
        out.truncate(start);
        return Err(e.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;

    #[test]
    fn decodes_across_partial_reads() {
        let mut r = FrameReader::new(MAX_PACKET_SIZE);
        r.read_buf().put_slice(&[0xD0]);
        assert!(r.next_packet(ProtocolVersion::V311).unwrap().is_none());
        r.read_buf().put_slice(&[0x00, 0xC0]);
        assert_eq!(
            r.next_packet(ProtocolVersion::V311).unwrap(),
            Some(Packet::PingResp)
        );
        assert!(r.next_packet(ProtocolVersion::V311).unwrap().is_none());
        assert_eq!(r.buffered(), 1);
    }

    #[test]
    fn refuses_oversized_packet_before_body() {
        let mut r = FrameReader::new(10);
        r.read_buf().put_slice(&[0x30, 0x7F]);
        assert!(matches!(
            r.next_packet(ProtocolVersion::V311),
            Err(ClientError::Decode(_))
        ));
    }

    #[test]
    fn encode_round_trip() {
        let mut out = BytesMut::new();
        encode_packet(&Packet::PingReq, ProtocolVersion::V5, &mut out).unwrap();
        assert_eq!(&out[..], &[0xC0, 0x00]);
    }
}
