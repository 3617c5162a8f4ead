//! Property tests that hostile bytes never make the codec panic, in every
//! protocol version: pure garbage, garbage behind a well-formed fixed header,
//! and valid packets with bytes changed or cut and re-framed. Whatever does
//! decode must re-encode and decode to itself.

mod support;

use bytes::{BufMut, Bytes, BytesMut};
use komar_proto::{decode_packet, parse_frame_header, DecodeError, Packet, ProtocolVersion};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{FileFailurePersistence, TestCaseError};
use support::strategies::{self as st, with_version};
use support::{check_stable, VERSIONS};

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

/// Read `data` as a stream of packets, as a connection would, until it runs
/// out or a packet is refused; check every decoded packet is stable.
fn decode_stream(
    data: &[u8],
    version: ProtocolVersion,
    max_packet_size: usize,
) -> Result<Vec<Packet>, TestCaseError> {
    let mut rest = Bytes::copy_from_slice(data);
    let mut out = Vec::new();
    loop {
        let h = match parse_frame_header(&rest, max_packet_size) {
            Ok(Some(h)) => h,
            Ok(None) | Err(_) => return Ok(out),
        };
        prop_assert!(h.total_len() <= max_packet_size);
        if h.total_len() > rest.len() {
            let short = decode_packet(&h, rest.slice(h.header_len.min(rest.len())..), version);
            prop_assert!(
                matches!(short, Err(DecodeError::Truncated(_))),
                "{:?}",
                short
            );
            return Ok(out);
        }
        let frame = rest.split_to(h.total_len());
        match decode_packet(&h, frame.slice(h.header_len..), version) {
            Ok(p) => {
                check_stable(&p, version).map_err(TestCaseError::fail)?;
                out.push(p);
            }
            Err(_) => return Ok(out),
        }
    }
}

/// A fixed header that the frame parser accepts for each packet type.
fn valid_first_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        select(vec![
            0x10u8, 0x20, 0x40, 0x50, 0x62, 0x70, 0x82, 0x90, 0xA2, 0xB0, 0xC0, 0xD0, 0xE0, 0xF0,
        ]),
        // PUBLISH with any flags (QoS 3 and DUP on QoS 0 included).
        (0u8..16).prop_map(|f| 0x30 | f),
    ]
}

/// `body` framed with a correct remaining length behind `first`.
fn frame(first: u8, body: &[u8]) -> Vec<u8> {
    let mut out = BytesMut::new();
    out.put_u8(first);
    let mut n = body.len();
    loop {
        let byte = (n % 128) as u8;
        n /= 128;
        out.put_u8(if n > 0 { byte | 0x80 } else { byte });
        if n == 0 {
            break;
        }
    }
    out.put_slice(body);
    out.to_vec()
}

/// Edits to apply to an encoded packet's body: set a byte, insert one,
/// delete one (positions taken modulo the length).
#[derive(Debug, Clone)]
enum Edit {
    Set(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Set(i, b)),
        1 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
        1 => any::<usize>().prop_map(Edit::Delete),
        1 => any::<usize>().prop_map(Edit::Truncate),
    ]
}

fn apply(body: &mut Vec<u8>, e: &Edit) {
    let len = body.len();
    match *e {
        Edit::Set(i, b) if len > 0 => body[i % len] = b,
        Edit::Insert(i, b) => body.insert(i % (len + 1), b),
        Edit::Delete(i) if len > 0 => {
            body.remove(i % len);
        }
        Edit::Truncate(i) => body.truncate(i % (len + 1)),
        _ => {}
    }
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn garbage_never_panics(data in vec(any::<u8>(), 0..512), small_max in 0usize..64) {
        for v in VERSIONS {
            decode_stream(&data, v, usize::MAX)?;
            decode_stream(&data, v, small_max)?;
        }
    }

    #[test]
    fn garbage_bodies_never_panic(
        first in valid_first_byte(),
        body in vec(any::<u8>(), 0..256),
    ) {
        let data = frame(first, &body);
        for v in VERSIONS {
            decode_stream(&data, v, usize::MAX)?;
        }
    }

    #[test]
    fn edited_packets_never_panic(
        (v, p) in with_version(st::packet),
        edits in vec(edit(), 1..4),
    ) {
        let bytes = support::encode_checked(&p, v).map_err(TestCaseError::fail)?;
        let h = parse_frame_header(&bytes, usize::MAX)?.expect("whole header");
        let mut body = bytes[h.header_len..].to_vec();
        for e in &edits {
            apply(&mut body, e);
        }
        let first = bytes[0];
        // Re-framed so the body decoders, not the framing, see the damage;
        // then read in every version.
        let data = frame(first, &body);
        for other in VERSIONS {
            decode_stream(&data, other, usize::MAX)?;
        }
        // The damaged body behind the original header, and the raw stream.
        decode_stream(&[&bytes[..h.header_len], &body[..]].concat(), v, usize::MAX)?;
    }
}
