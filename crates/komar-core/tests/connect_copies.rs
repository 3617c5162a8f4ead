//! What a connected client keeps from its CONNECT is its own: the password
//! kept for re-checks on reload is copied, not a view into the read buffer
//! the packet arrived in — a view would keep that whole buffer (8 KB) alive
//! for as long as the client stays connected.

use std::sync::Arc;
use std::time::Instant;

use bytes::{BufMut, BytesMut};
use komar_core::{Broker, BrokerConfig, ConnectOutcome, ConnectRequest, ListenerSettings};
use komar_proto::{decode_packet, parse_frame_header, Packet, ProtocolVersion};

/// A 3.1.1 CONNECT: client id "c", user name "u", password "secret".
fn connect_packet() -> Vec<u8> {
    let body: &[u8] = &[
        0,
        4,
        b'M',
        b'Q',
        b'T',
        b'T',
        4,
        0b1100_0010,
        0,
        60,
        0,
        1,
        b'c',
        0,
        1,
        b'u',
        0,
        6,
        b's',
        b'e',
        b'c',
        b'r',
        b'e',
        b't',
    ];
    let mut p = vec![0x10, u8::try_from(body.len()).unwrap()];
    p.extend_from_slice(body);
    p
}

#[test]
fn the_password_is_copied_out_of_the_read_buffer() {
    let mut buf = BytesMut::with_capacity(8192);
    buf.put_slice(&connect_packet());
    let read = buf.freeze();
    let h = parse_frame_header(&read, 1 << 20).unwrap().unwrap();
    let body = read.slice(h.header_len..h.total_len());
    let Packet::Connect(c) = decode_packet(&h, body, ProtocolVersion::V311).unwrap() else {
        panic!("not a CONNECT");
    };
    let broker = Broker::new(BrokerConfig::default());
    let req = ConnectRequest {
        connect: *c,
        username: Some("u".into()),
        listener: Arc::new(ListenerSettings::default()),
        listener_index: 0,
    };
    let ConnectOutcome::Accepted(_conn, _) = broker.connect(req, Instant::now()) else {
        panic!("refused");
    };
    let (_, id) = broker.online_clients().into_iter().next().unwrap();
    let password = &id.password.as_ref().unwrap().0;
    assert_eq!(&password[..], b"secret");
    let start = read.as_ptr() as usize;
    let at = password.as_ptr() as usize;
    assert!(
        !(start..start + read.len()).contains(&at),
        "the kept password is a view into the read buffer"
    );
}
