//! The fixed header (§2.1) and the entry points of the codec: find the next
//! packet's extent in a buffer (checking type, flags and size before any of
//! the body is buffered), decode a body, and encode a whole packet.

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::packet::*;
use crate::read::Reader;
use crate::reason::{PUBACK_CODES, PUBREL_CODES};
use crate::types::ProtocolVersion;
use crate::varint::{read_varint, varint_len, write_varint, Varint, MAX_VARINT};

/// Control packet types (§2.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketType {
    Connect = 1,
    ConnAck = 2,
    Publish = 3,
    PubAck = 4,
    PubRec = 5,
    PubRel = 6,
    PubComp = 7,
    Subscribe = 8,
    SubAck = 9,
    Unsubscribe = 10,
    UnsubAck = 11,
    PingReq = 12,
    PingResp = 13,
    Disconnect = 14,
    Auth = 15,
}

impl PacketType {
    fn from_nibble(n: u8) -> Option<PacketType> {
        use PacketType::*;
        Some(match n {
            1 => Connect,
            2 => ConnAck,
            3 => Publish,
            4 => PubAck,
            5 => PubRec,
            6 => PubRel,
            7 => PubComp,
            8 => Subscribe,
            9 => SubAck,
            10 => Unsubscribe,
            11 => UnsubAck,
            12 => PingReq,
            13 => PingResp,
            14 => Disconnect,
            15 => Auth,
            _ => return None,
        })
    }

    /// The flags the fixed header must carry [MQTT-2.1.3-1]; `None` for
    /// PUBLISH, whose flags carry DUP, QoS and RETAIN.
    fn required_flags(self) -> Option<u8> {
        match self {
            PacketType::Publish => None,
            PacketType::PubRel | PacketType::Subscribe | PacketType::Unsubscribe => Some(0b0010),
            _ => Some(0),
        }
    }
}

/// The parsed fixed header of the next packet in a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Packet type from the high nibble.
    pub packet_type: PacketType,
    /// The low nibble (checked for every type but PUBLISH).
    pub flags: u8,
    /// Remaining length: bytes after the fixed header.
    pub remaining_len: usize,
    /// Bytes of the fixed header itself (2 to 5).
    pub header_len: usize,
}

impl FrameHeader {
    /// Size of the whole packet.
    pub fn total_len(&self) -> usize {
        self.header_len + self.remaining_len
    }
}

/// Parse the fixed header at the start of `buf`.
///
/// Returns `Ok(None)` when `buf` does not yet hold the whole fixed header.
/// The size limit is checked here, from the declared length, so a peer can
/// never make the caller buffer more than `max_packet_size` bytes.
///
/// # Errors
/// Reserved packet type, wrong flags, a remaining length longer than four
/// bytes, or a packet larger than `max_packet_size` (whole packet, as
/// Maximum Packet Size counts it [MQTT-3.1.2-24]).
pub fn parse_frame_header(
    buf: &[u8],
    max_packet_size: usize,
) -> Result<Option<FrameHeader>, DecodeError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let packet_type =
        PacketType::from_nibble(first >> 4).ok_or(DecodeError::ReservedPacketType(first >> 4))?;
    let flags = first & 0x0F;
    if let Some(required) = packet_type.required_flags() {
        if flags != required {
            return Err(DecodeError::BadHeaderFlags {
                packet_type: first >> 4,
                flags,
            });
        }
    }
    let (remaining_len, n) = match read_varint(buf.get(1..).unwrap_or_default()) {
        Varint::Value(v, n) => (v as usize, n),
        Varint::Incomplete => return Ok(None),
        Varint::Malformed => return Err(DecodeError::BadRemainingLength),
    };
    let header = FrameHeader {
        packet_type,
        flags,
        remaining_len,
        header_len: 1 + n,
    };
    if header.total_len() > max_packet_size {
        return Err(DecodeError::PacketTooLarge {
            size: header.total_len(),
            max: max_packet_size,
        });
    }
    Ok(Some(header))
}

/// Decode the body (the `remaining_len` bytes after the fixed header) of a
/// packet whose fixed header is `header`, as spoken by `version`. Binary
/// fields and the payload are zero-copy slices of `body`. For CONNECT the
/// version comes from the packet itself and `version` is ignored.
///
/// # Errors
/// Any rule of the specification the bytes break; `Truncated` /
/// `TrailingBytes` if `body` is not exactly `header.remaining_len` bytes.
pub fn decode_packet(
    header: &FrameHeader,
    body: Bytes,
    version: ProtocolVersion,
) -> Result<Packet, DecodeError> {
    // A body cut short (or run on) must not decode as another, shorter or
    // longer, valid packet (e.g. a PUBLISH with part of its payload).
    if body.len() < header.remaining_len {
        return Err(DecodeError::Truncated("packet body"));
    }
    if body.len() > header.remaining_len {
        return Err(DecodeError::TrailingBytes(
            body.len() - header.remaining_len,
        ));
    }
    let r = Reader::new(body);
    let empty = |r: Reader, p: Packet| r.finish().map(|()| p);
    Ok(match header.packet_type {
        PacketType::Connect => Packet::Connect(Box::new(Connect::decode(r)?)),
        PacketType::ConnAck => Packet::ConnAck(Box::new(ConnAck::decode(r, version)?)),
        PacketType::Publish => Packet::Publish(Publish::decode(header.flags, r, version)?),
        PacketType::PubAck => Packet::PubAck(PubResp::decode(r, version, PUBACK_CODES, "PUBACK")?),
        PacketType::PubRec => Packet::PubRec(PubResp::decode(r, version, PUBACK_CODES, "PUBREC")?),
        PacketType::PubRel => Packet::PubRel(PubResp::decode(r, version, PUBREL_CODES, "PUBREL")?),
        PacketType::PubComp => {
            Packet::PubComp(PubResp::decode(r, version, PUBREL_CODES, "PUBCOMP")?)
        }
        PacketType::Subscribe => Packet::Subscribe(Subscribe::decode(r, version)?),
        PacketType::SubAck => Packet::SubAck(SubAck::decode(r, version)?),
        PacketType::Unsubscribe => Packet::Unsubscribe(Unsubscribe::decode(r, version)?),
        PacketType::UnsubAck => Packet::UnsubAck(UnsubAck::decode(r, version)?),
        PacketType::PingReq => empty(r, Packet::PingReq)?,
        PacketType::PingResp => empty(r, Packet::PingResp)?,
        PacketType::Disconnect => Packet::Disconnect(Disconnect::decode(r, version)?),
        PacketType::Auth if version.is_v5() => Packet::Auth(Auth::decode(r)?),
        PacketType::Auth => return Err(DecodeError::NotInVersion(15)),
    })
}

fn first_byte(packet: &Packet) -> u8 {
    match packet {
        Packet::Connect(_) => 0x10,
        Packet::ConnAck(_) => 0x20,
        Packet::Publish(p) => p.first_byte(),
        Packet::PubAck(_) => 0x40,
        Packet::PubRec(_) => 0x50,
        Packet::PubRel(_) => 0x62,
        Packet::PubComp(_) => 0x70,
        Packet::Subscribe(_) => 0x82,
        Packet::SubAck(_) => 0x90,
        Packet::Unsubscribe(_) => 0xA2,
        Packet::UnsubAck(_) => 0xB0,
        Packet::PingReq => 0xC0,
        Packet::PingResp => 0xD0,
        Packet::Disconnect(_) => 0xE0,
        Packet::Auth(_) => 0xF0,
    }
}

fn body_len(packet: &Packet, v: ProtocolVersion) -> usize {
    match packet {
        Packet::Connect(c) => c.body_len(),
        Packet::ConnAck(c) => c.body_len(v),
        Packet::Publish(p) => p.body_len(v),
        Packet::PubAck(p) | Packet::PubRec(p) | Packet::PubRel(p) | Packet::PubComp(p) => {
            p.body_len(v)
        }
        Packet::Subscribe(s) => s.body_len(v),
        Packet::SubAck(s) => s.body_len(v),
        Packet::Unsubscribe(u) => u.body_len(v),
        Packet::UnsubAck(u) => u.body_len(v),
        Packet::PingReq | Packet::PingResp => 0,
        Packet::Disconnect(d) => d.body_len(v),
        Packet::Auth(a) => a.body_len(),
    }
}

/// Size of `packet` on the wire for `version`, fixed header included.
pub fn encoded_len(packet: &Packet, version: ProtocolVersion) -> usize {
    let body = body_len(packet, version);
    1 + varint_len(body) + body
}

/// Append `packet`, encoded for `version`, to `out`. A CONNECT is encoded
/// with its own protocol version.
///
/// # Errors
/// The packet exceeds the largest remaining length, a field exceeds 65,535
/// bytes, or AUTH is sent before 5.0.
pub fn encode(
    packet: &Packet,
    version: ProtocolVersion,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    if let Packet::Publish(p) = packet {
        p.encode_head(version, out)?;
        out.put_slice(&p.payload);
        return Ok(());
    }
    if matches!(packet, Packet::Auth(_)) && !version.is_v5() {
        return Err(EncodeError::NotInVersion("AUTH"));
    }
    let body = body_len(packet, version);
    let body32 = u32::try_from(body)
        .ok()
        .filter(|&b| b <= MAX_VARINT)
        .ok_or(EncodeError::TooLarge(body))?;
    out.reserve(1 + varint_len(body) + body);
    out.put_u8(first_byte(packet));
    write_varint(out, body32);
    match packet {
        Packet::Connect(c) => c.encode_body(out),
        Packet::ConnAck(c) => c.encode_body(version, out),
        Packet::Publish(_) | Packet::PingReq | Packet::PingResp => Ok(()),
        Packet::PubAck(p) | Packet::PubRec(p) | Packet::PubRel(p) | Packet::PubComp(p) => {
            p.encode_body(version, out)
        }
        Packet::Subscribe(s) => s.encode_body(version, out),
        Packet::SubAck(s) => s.encode_body(version, out),
        Packet::Unsubscribe(u) => u.encode_body(version, out),
        Packet::UnsubAck(u) => u.encode_body(version, out),
        Packet::Disconnect(d) => d.encode_body(version, out),
        Packet::Auth(a) => a.encode_body(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PacketId, QoS, QosPid, TopicName};

    fn decode_all(buf: &[u8], v: ProtocolVersion) -> Result<Packet, DecodeError> {
        let h = parse_frame_header(buf, usize::MAX)?.expect("complete header");
        let body = Bytes::copy_from_slice(&buf[h.header_len..h.total_len()]);
        decode_packet(&h, body, v)
    }

    #[test]
    fn header_needs_more_bytes_then_checks_size() {
        assert_eq!(parse_frame_header(&[], 100), Ok(None));
        assert_eq!(parse_frame_header(&[0x30], 100), Ok(None));
        assert_eq!(parse_frame_header(&[0x30, 0x80], 100), Ok(None));
        assert_eq!(
            parse_frame_header(&[0x30, 0xFF, 0x7F], 100),
            Err(DecodeError::PacketTooLarge {
                size: 16_386,
                max: 100
            })
        );
        assert_eq!(
            parse_frame_header(&[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], usize::MAX),
            Err(DecodeError::BadRemainingLength)
        );
    }

    #[test]
    fn reserved_types_and_flags_are_rejected() {
        assert_eq!(
            parse_frame_header(&[0x00, 0], 100),
            Err(DecodeError::ReservedPacketType(0))
        );
        assert!(matches!(
            parse_frame_header(&[0x60, 2, 0, 1], 100),
            Err(DecodeError::BadHeaderFlags {
                packet_type: 6,
                flags: 0
            })
        ));
        assert!(matches!(
            parse_frame_header(&[0xC1, 0], 100),
            Err(DecodeError::BadHeaderFlags { .. })
        ));
    }

    #[test]
    fn publish_rules() {
        // QoS 3.
        assert_eq!(
            decode_all(&[0x36, 3, 0, 1, b'a'], ProtocolVersion::V311),
            Err(DecodeError::InvalidQoS)
        );
        // Wildcard in topic.
        assert!(matches!(
            decode_all(&[0x30, 3, 0, 1, b'#'], ProtocolVersion::V311),
            Err(DecodeError::InvalidTopicName(_))
        ));
        // Packet id 0 at QoS 1.
        assert_eq!(
            decode_all(&[0x32, 5, 0, 1, b'a', 0, 0], ProtocolVersion::V311),
            Err(DecodeError::ZeroPacketId("PUBLISH"))
        );
        let p = decode_all(
            &[0x33, 7, 0, 1, b'a', 0, 9, b'h', b'i'],
            ProtocolVersion::V311,
        )
        .unwrap();
        assert_eq!(
            p,
            Packet::Publish(Publish {
                dup: false,
                qos_pid: QosPid::new(QoS::AtLeastOnce, PacketId::new(9).unwrap()),
                retain: true,
                topic: TopicName::new("a").unwrap(),
                properties: Default::default(),
                payload: Bytes::from_static(b"hi"),
            })
        );
    }

    #[test]
    fn connect_versions_and_unknown_level() {
        let v311 = [0x10, 12, 0, 4, b'M', b'Q', b'T', b'T', 4, 2, 0, 60, 0, 0];
        match decode_all(&v311, ProtocolVersion::V5).unwrap() {
            Packet::Connect(c) => {
                assert_eq!(c.protocol, ProtocolVersion::V311);
                assert!(c.clean_start);
                assert_eq!(c.keep_alive, 60);
            }
            p => panic!("{p:?}"),
        }
        let v31 = [
            0x10, 14, 0, 6, b'M', b'Q', b'I', b's', b'd', b'p', 3, 2, 0, 60, 0, 0,
        ];
        assert!(
            matches!(decode_all(&v31, ProtocolVersion::V5), Ok(Packet::Connect(c)) if c.protocol == ProtocolVersion::V31)
        );
        let v6 = [0x10, 12, 0, 4, b'M', b'Q', b'T', b'T', 6, 2, 0, 60, 0, 0];
        assert_eq!(
            decode_all(&v6, ProtocolVersion::V5),
            Err(DecodeError::UnsupportedProtocolVersion(6))
        );
        let reserved = [0x10, 12, 0, 4, b'M', b'Q', b'T', b'T', 4, 3, 0, 60, 0, 0];
        assert_eq!(
            decode_all(&reserved, ProtocolVersion::V5),
            Err(DecodeError::ConnectReservedFlag)
        );
    }

    #[test]
    fn body_must_be_exactly_the_announced_length() {
        let buf = [0x30, 5, 0, 1, b'a', b'h', b'i'];
        let h = parse_frame_header(&buf, usize::MAX).unwrap().unwrap();
        let short = Bytes::copy_from_slice(&buf[2..6]);
        assert_eq!(
            decode_packet(&h, short, ProtocolVersion::V311),
            Err(DecodeError::Truncated("packet body"))
        );
        let long = Bytes::copy_from_slice(&[0, 1, b'a', b'h', b'i', b'!']);
        assert_eq!(
            decode_packet(&h, long, ProtocolVersion::V311),
            Err(DecodeError::TrailingBytes(1))
        );
    }

    #[test]
    fn auth_only_in_v5() {
        assert_eq!(
            decode_all(&[0xF0, 0], ProtocolVersion::V311),
            Err(DecodeError::NotInVersion(15))
        );
        assert_eq!(
            decode_all(&[0xF0, 0], ProtocolVersion::V5),
            Ok(Packet::Auth(Auth::default()))
        );
    }
}
