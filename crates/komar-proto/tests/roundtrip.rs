//! Property tests of the codec: for every packet type in every protocol
//! version that has it, `decode(encode(p)) == p`, `encoded_len` is the
//! number of bytes written, and no strict prefix of an encoding is taken for
//! a whole packet (the frame header asks for more bytes, or the decoder
//! reports truncation). Plus deterministic checks at the size boundaries.

mod support;

use bytes::{Bytes, BytesMut};
use komar_proto::topic::{MAX_TOPIC_LEN, MAX_TOPIC_LEVELS};
use komar_proto::*;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{FileFailurePersistence, TestCaseError};
use support::strategies::{self as st, with_version};
use support::{decode_whole, encode_checked, VERSIONS};

/// Moderate case counts keep `cargo test -p komar-proto` quick in debug.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        max_shrink_iters: 2048,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

fn fail(msg: String) -> TestCaseError {
    TestCaseError::fail(msg)
}

/// Every strict prefix of `bytes` (one whole packet) must be seen as
/// incomplete: `Ok(None)` from the header parser, or the same header with
/// more bytes still to come, and then a `Truncated` error if the short body
/// is decoded anyway.
fn check_prefixes(
    bytes: &Bytes,
    header: &FrameHeader,
    version: ProtocolVersion,
) -> Result<(), TestCaseError> {
    for cut in 0..bytes.len() {
        match parse_frame_header(&bytes[..cut], usize::MAX) {
            Ok(None) => prop_assert!(cut < header.header_len, "no header at {cut}"),
            Ok(Some(h)) => {
                prop_assert_eq!(&h, header, "prefix of {} bytes", cut);
                prop_assert!(h.total_len() > cut);
                let r = decode_packet(&h, bytes.slice(h.header_len..cut), version);
                prop_assert!(
                    matches!(r, Err(DecodeError::Truncated(_))),
                    "prefix of {} of {} bytes decoded as {:?}",
                    cut,
                    bytes.len(),
                    r
                );
            }
            Err(e) => return Err(fail(format!("prefix of {cut} bytes: {e}"))),
        }
    }
    Ok(())
}

/// The whole round trip for one packet in one version.
fn roundtrip(p: &Packet, version: ProtocolVersion) -> Result<(), TestCaseError> {
    let bytes = encode_checked(p, version).map_err(fail)?;
    let (header, back) = decode_whole(&bytes, version).map_err(fail)?;
    prop_assert_eq!(&back, p);
    // The size limit counts the whole packet [MQTT-3.1.2-24].
    prop_assert!(parse_frame_header(&bytes, bytes.len()).is_ok());
    let too_large = parse_frame_header(&bytes, bytes.len() - 1);
    prop_assert!(
        matches!(too_large, Err(DecodeError::PacketTooLarge { .. })),
        "{:?}",
        too_large
    );
    check_prefixes(&bytes, &header, version)
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn connect_roundtrips((v, p) in with_version(st::connect)) {
        roundtrip(&p, v)?;
        // The decoder takes the version from the CONNECT itself.
        for other in VERSIONS {
            let bytes = encode_checked(&p, v).map_err(fail)?;
            let (_, back) = decode_whole(&bytes, other).map_err(fail)?;
            prop_assert_eq!(&back, &p);
        }
    }

    #[test]
    fn connack_roundtrips((v, p) in with_version(st::connack)) {
        roundtrip(&p, v)?;
    }

    #[test]
    fn publish_roundtrips((v, p) in with_version(st::publish)) {
        roundtrip(&p, v)?;
    }

    #[test]
    fn puback_roundtrips((v, p) in with_version(st::puback)) {
        roundtrip(&p, v)?;
    }

    #[test]
    fn pubrec_roundtrips((v, p) in with_version(st::pubrec)) {
        roundtrip(&p, v)?;
    }

    #[test]
    fn pubrel_roundtrips((v, p) in with_version(st::pubrel)) {
        roundtrip(&p, v)?;
    }

    #[test]
    fn pubcomp_roundtrips((v, p) in with_version(st::pubcomp)) {
        roundtrip(&p, v)?;
    }

    #[test]
    fn subscribe_roundtrips((v, p) in with_version(st::subscribe)) {
        roundtrip(&p, v)?;
    }

    #[test]
    fn suback_roundtrips((v, p) in with_version(st::suback)) {
        roundtrip(&p, v)?;
    }

    #[test]
    fn unsubscribe_roundtrips((v, p) in with_version(st::unsubscribe)) {
        roundtrip(&p, v)?;
    }

    #[test]
    fn unsuback_roundtrips((v, p) in with_version(st::unsuback)) {
        roundtrip(&p, v)?;
    }

    #[test]
    fn disconnect_roundtrips((v, p) in with_version(st::disconnect)) {
        roundtrip(&p, v)?;
    }

    #[test]
    fn auth_roundtrips(p in st::auth()) {
        roundtrip(&p, ProtocolVersion::V5)?;
    }

    /// Packets written back to back come out one by one, in order.
    #[test]
    fn streams_of_packets_roundtrip((v, packets) in with_version(|v| vec(st::packet(v), 1..6))) {
        let mut buf = BytesMut::new();
        for p in &packets {
            encode(p, v, &mut buf).map_err(|e| fail(e.to_string()))?;
        }
        let mut rest = buf.freeze();
        let mut back = Vec::new();
        while let Some(h) = parse_frame_header(&rest, usize::MAX)? {
            prop_assert!(h.total_len() <= rest.len());
            let frame = rest.split_to(h.total_len());
            back.push(decode_packet(&h, frame.slice(h.header_len..), v)?);
        }
        prop_assert!(rest.is_empty());
        prop_assert_eq!(back, packets);
    }
}

#[test]
fn ping_roundtrips_in_every_version() {
    for v in VERSIONS {
        for p in [Packet::PingReq, Packet::PingResp] {
            roundtrip(&p, v).unwrap();
        }
    }
}

#[test]
fn auth_cannot_be_encoded_before_v5() {
    for v in [ProtocolVersion::V31, ProtocolVersion::V311] {
        let mut out = BytesMut::new();
        assert_eq!(
            encode(&Packet::Auth(Auth::default()), v, &mut out),
            Err(EncodeError::NotInVersion("AUTH"))
        );
    }
}

fn publish_with(topic: &str, payload_len: usize) -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qos_pid: QosPid::AtMostOnce,
        retain: false,
        topic: TopicName::new(topic).unwrap(),
        properties: PublishProperties::default(),
        payload: Bytes::from(vec![0xA5; payload_len]),
    })
}

/// Remaining lengths on each side of the variable byte integer boundaries
/// (§1.5.5): 127/128, 16,383/16,384 and 2,097,151/2,097,152.
#[test]
fn remaining_length_boundaries_roundtrip() {
    for (remaining, header_len) in [
        (127usize, 2usize),
        (128, 3),
        (16_383, 3),
        (16_384, 4),
        (2_097_151, 4),
        (2_097_152, 5),
    ] {
        for v in VERSIONS {
            // Topic "t" takes 3 bytes; in 5.0 the empty property block 1.
            let head = if v.is_v5() { 4 } else { 3 };
            let p = publish_with("t", remaining - head);
            let bytes = encode_checked(&p, v).unwrap();
            assert_eq!(bytes.len(), header_len + remaining, "{v} {remaining}");
            let (h, back) = decode_whole(&bytes, v).unwrap();
            assert_eq!(h.header_len, header_len);
            assert_eq!(back, p);
        }
    }
}

/// The longest topic a string field can carry, and the deepest one allowed.
#[test]
fn topic_size_and_depth_limits_roundtrip() {
    let longest = "x".repeat(MAX_TOPIC_LEN);
    let deepest = vec!["l"; MAX_TOPIC_LEVELS].join("/");
    for topic in [longest, deepest] {
        for v in VERSIONS {
            roundtrip(&publish_with(&topic, 3), v).unwrap();
        }
    }
    assert_eq!(
        TopicName::new(&"x".repeat(MAX_TOPIC_LEN + 1)),
        Err(TopicError::TooLong)
    );
    let filter = format!("$share/g/{}/#", vec!["+"; MAX_TOPIC_LEVELS - 3].join("/"));
    let sub = Packet::Subscribe(Subscribe {
        packet_id: PacketId::new(7).unwrap(),
        properties: SubscribeProperties::default(),
        filters: vec![(
            TopicFilter::new(&filter).unwrap(),
            SubscriptionOptions::default(),
        )],
    });
    roundtrip(&sub, ProtocolVersion::V5).unwrap();
}

/// A field over 65,535 bytes is refused by the encoder, not truncated.
#[test]
fn overlong_fields_are_refused() {
    let mut c = Connect {
        protocol: ProtocolVersion::V311,
        bridge: false,
        clean_start: true,
        keep_alive: 0,
        properties: ConnectProperties::default(),
        client_id: "c".repeat(65_536),
        will: None,
        username: None,
        password: None,
    };
    let mut out = BytesMut::new();
    assert_eq!(
        encode(
            &Packet::Connect(Box::new(c.clone())),
            ProtocolVersion::V311,
            &mut out
        ),
        Err(EncodeError::FieldTooLong("client identifier"))
    );
    c.client_id = "c".repeat(65_535);
    roundtrip(&Packet::Connect(Box::new(c)), ProtocolVersion::V311).unwrap();
}
