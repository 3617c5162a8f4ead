//! Broken input, written as raw bytes from the specifications: each case
//! closes that one connection — after a v5 DISCONNECT with the reason code
//! §4.13 / the packet's section calls for (0x81 Malformed Packet, 0x82
//! Protocol Error, 0x90 Topic Name invalid, 0x95 Packet too large); 3.1.1
//! has no server DISCONNECT, so its connection just closes — while the
//! broker goes on serving a client connected before (it still publishes
//! and receives) and the process stays alive.

mod common;

use common::raw::{self, Connect, Raw};
use common::{unique, v4, Komar};
use rumqttc::QoS;

/// A subscriber and a publisher connected before the bad client.
struct Bystander {
    topic: String,
    sub: rumqttc::EventLoop,
    _sub_client: rumqttc::AsyncClient,
    publisher: v4::Driven,
}

impl Bystander {
    async fn connect(port: u16) -> Bystander {
        let topic = unique("bystander");
        let (c, mut el, _) = v4::connect(v4::options(&unique("bsub"), port)).await;
        c.subscribe(&topic, QoS::AtLeastOnce).await.unwrap();
        v4::suback(&mut el).await;
        let publisher = v4::driven(v4::options(&unique("bpub"), port)).await;
        Bystander {
            topic,
            sub: el,
            _sub_client: c,
            publisher,
        }
    }

    /// The earlier clients are still served and the broker is alive.
    async fn still_served(&mut self, k: &mut Komar) {
        self.publisher
            .publish(&self.topic, QoS::AtLeastOnce, false, "still here")
            .await
            .unwrap();
        let m = v4::next(&mut self.sub).await;
        assert_eq!(m.payload.as_ref(), b"still here");
        assert!(k.is_running(), "the broker process died");
    }
}

/// Connect at `level`, send `bad`, and check the connection is closed the
/// right way while the bystanders carry on.
async fn rejected(level: u8, bad: Vec<u8>, v5_reason: u8) {
    let mut k = Komar::start();
    let mut b = Bystander::connect(k.port).await;
    let (mut c, _) = Raw::connect(k.port, &Connect::new(level, &unique("bad"))).await;
    c.send(&bad).await;
    let frames = c.closed().await;
    if level == 5 {
        assert_eq!(frames.len(), 1, "one DISCONNECT expected: {frames:?}");
        assert_eq!(
            raw::disconnect_reason(&frames[0]),
            v5_reason,
            "reason code for {bad:02x?}"
        );
    } else {
        assert_eq!(frames, Vec::new(), "3.1.1: closed without a packet");
    }
    b.still_served(&mut k).await;
}

/// One test per protocol version for a case; `$bytes` may use `level`.
/// `#[v5 ...]` attributes (e.g. an `ignore` for a known bug) apply to the
/// 5.0 test only.
macro_rules! case {
    ($(#[$m:meta])* $name:ident, $reason:expr, |$level:ident| $bytes:expr) => {
        case!($(#[$m])* $name, $reason, |$level| $bytes, v5: []);
    };
    ($(#[$m:meta])* $name:ident, $reason:expr, |$level:ident| $bytes:expr, v5: [$(#[$v5m:meta])*]) => {
        $(#[$m])*
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn v311() {
                let $level: u8 = 4;
                rejected($level, $bytes, $reason).await;
            }

            $(#[$v5m])*
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn v5() {
                let $level: u8 = 5;
                rejected($level, $bytes, $reason).await;
            }
        }
    };
}

/// A PUBLISH with a raw topic field (bytes as given) and QoS 0.
fn publish_raw_topic(level: u8, topic: &[u8]) -> Vec<u8> {
    let mut body = raw::string(topic);
    if level == 5 {
        body.push(0);
    }
    body.extend_from_slice(b"payload");
    raw::frame(0x30, &body)
}

case!(
    /// §1.5.5 / §2.1.4: a variable byte integer has at most four bytes.
    remaining_length_of_five_bytes,
    0x81,
    |level| {
        let _ = level;
        vec![0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]
    }
);

case!(
    /// [MQTT-2.1.3-1] PUBREL must carry flags 0010.
    pubrel_with_wrong_flags,
    0x81,
    |level| {
        let _ = level;
        vec![0x60, 0x02, 0x00, 0x01]
    }
);

case!(
    /// [MQTT-3.8.1-1] SUBSCRIBE must carry flags 0010.
    subscribe_with_wrong_flags,
    0x81,
    |level| {
        let mut p = raw::subscribe(level, 1, &[("a/b", 0)]);
        p[0] = 0x80;
        p
    }
);

case!(
    /// [MQTT-2.1.3-1] PINGREQ flags are reserved (0000).
    pingreq_with_flags,
    0x81,
    |level| {
        let _ = level;
        vec![0xC1, 0x00]
    }
);

case!(
    /// [MQTT-3.3.2-2] no wildcards in a Topic Name.
    wildcard_in_publish_topic,
    0x90,
    |level| raw::publish(level, "a/+/b", 0, 0, false, false, b"x")
);

case!(
    /// [MQTT-3.3.2-2] no wildcards in a Topic Name (`#`).
    hash_in_publish_topic,
    0x90,
    |level| raw::publish(level, "a/#", 1, 1, false, false, b"x")
);

case!(
    /// [MQTT-1.5.4-1] ill-formed UTF-8 makes the packet malformed.
    invalid_utf8_in_topic,
    0x81,
    |level| publish_raw_topic(level, &[b'a', 0xC3, 0x28])
);

case!(
    /// [MQTT-1.5.4-2] U+0000 in a string makes the packet malformed.
    nul_in_topic,
    0x81,
    |level| publish_raw_topic(level, b"a\0b")
);

case!(
    /// [MQTT-3.3.1-4] QoS 3 is a Malformed Packet.
    qos_3,
    0x81,
    |level| {
        let mut p = raw::publish(level, "a/b", 2, 1, false, false, b"x");
        p[0] |= 0x06;
        p
    }
);

case!(
    /// [MQTT-3.3.1-2] DUP must be 0 on QoS 0.
    dup_on_qos_0,
    0x81,
    |level| raw::publish(level, "a/b", 0, 0, false, true, b"x")
);

case!(
    /// [MQTT-2.2.1-3] packet identifiers are non-zero. The packet parses,
    /// its content is not allowed: a Protocol Error (as Mosquitto answers).
    packet_id_zero,
    0x82,
    |level| raw::publish(level, "a/b", 1, 0, false, false, b"x")
);

case!(
    /// [MQTT-3.8.3-2] at least one filter; 5.0 §3.8.3: "A SUBSCRIBE packet
    /// with no Payload is a Protocol Error".
    subscribe_without_filters,
    0x82,
    |level| raw::subscribe(level, 1, &[])
);

case!(
    /// [MQTT-3.1.0-2] a second CONNECT is a Protocol Error.
    second_connect,
    0x82,
    |level| Connect::new(level, &unique("again")).bytes()
);

/// [MQTT-3.1.0-1] the first packet must be CONNECT: anything else closes
/// the connection without a CONNACK.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packet_before_connect() {
    let mut k = Komar::start();
    let mut b = Bystander::connect(k.port).await;
    for bad in [
        raw::publish(4, "a/b", 0, 0, false, false, b"x"),
        raw::subscribe(4, 1, &[("a", 0)]),
        vec![raw::PINGREQ << 4, 0],
    ] {
        let mut c = Raw::open(k.port, 4).await;
        c.send(&bad).await;
        assert_eq!(c.closed().await, Vec::new(), "{bad:02x?}");
    }
    b.still_served(&mut k).await;
}

/// [MQTT-3.1.2-2] a known protocol name at a level the server does not
/// speak: CONNACK return code 0x01 (in the 3.1.1 format, which is what a
/// client of unknown version can read; Mosquitto answers the same), then
/// close. An unknown protocol name: closed without CONNACK
/// [MQTT-3.1.2-1].
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_protocol_level_or_name() {
    let mut k = Komar::start();
    let mut b = Bystander::connect(k.port).await;
    for (name, level) in [("MQTT", 6u8), ("MQTT", 3), ("MQIsdp", 4), ("MQTT", 0)] {
        let mut c = Connect::new(4, &unique("c"));
        c.protocol_name = Some(name.to_owned());
        let mut bytes = c.bytes();
        // Protocol level follows the two length bytes and the name.
        bytes[2 + 2 + name.len()] = level;
        let mut r = Raw::open(k.port, 4).await;
        r.send(&bytes).await;
        let frames = r.closed().await;
        assert_eq!(
            frames,
            vec![raw::Frame {
                first: 0x20,
                body: vec![0x00, 0x01]
            }],
            "{name} level {level}"
        );
    }
    let mut c = Connect::new(4, &unique("c"));
    c.protocol_name = Some("MQTX".to_owned());
    let mut r = Raw::open(k.port, 4).await;
    r.send(&c.bytes()).await;
    assert_eq!(r.closed().await, Vec::new(), "unknown protocol name");
    b.still_served(&mut k).await;
}

/// A packet over `max_packet_size` is refused from its fixed header alone
/// (the broker does not wait for the body): v5 DISCONNECT 0x95
/// [MQTT-3.1.2-24]; 3.1.1 closes. The declared size here is the absolute
/// maximum, 268,435,455 bytes.
async fn over_max_packet_size(level: u8) {
    let dir = common::scratch_dir("max-packet");
    let port = common::free_port();
    let conf = dir.join("komar.conf");
    std::fs::write(
        &conf,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\nmax_packet_size 1000\n"),
    )
    .unwrap();
    let mut k = Komar::spawn(vec!["-c".into(), conf.display().to_string()], port);
    let mut b = Bystander::connect(k.port).await;
    let (mut c, _) = Raw::connect(k.port, &Connect::new(level, &unique("big"))).await;
    let mut head = vec![0x30];
    head.extend(raw::varint(268_435_455));
    head.extend(raw::string("a/b"));
    c.send(&head).await;
    let frames = c.closed().await;
    if level == 5 {
        assert_eq!(frames.len(), 1, "{frames:?}");
        assert_eq!(raw::disconnect_reason(&frames[0]), 0x95);
    } else {
        assert_eq!(frames, Vec::new());
    }
    // Just over the limit (1001 bytes in all) is refused too.
    let (mut c, _) = Raw::connect(k.port, &Connect::new(level, &unique("big"))).await;
    let fixed = 1 + 2; // first byte, two-byte remaining length
    let prefix = 2 + 3 + 2 + usize::from(level == 5);
    let p = raw::publish(
        level,
        "a/b",
        1,
        1,
        false,
        false,
        &vec![b'x'; 1001 - fixed - prefix],
    );
    assert_eq!(p.len(), 1001);
    c.send(&p).await;
    let frames = c.closed().await;
    if level == 5 {
        assert_eq!(raw::disconnect_reason(&frames[0]), 0x95);
    }
    // At the limit is accepted.
    let (mut c, _) = Raw::connect(k.port, &Connect::new(level, &unique("fits"))).await;
    let p = raw::publish(
        level,
        "a/b",
        1,
        1,
        false,
        false,
        &vec![b'x'; 1000 - fixed - prefix],
    );
    assert_eq!(p.len(), 1000);
    c.send_ok(&p).await;
    assert_eq!(c.expect(raw::PUBACK).await.pid(), 1);
    b.still_served(&mut k).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_max_packet_size_v311() {
    over_max_packet_size(4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_max_packet_size_v5() {
    over_max_packet_size(5).await;
}

/// Resident memory of process `pid` in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS in /proc/<pid>/status")
}

/// Without a configured limit, a PUBLISH declaring the absolute maximum
/// remaining length (268,435,455) is legal, but the broker must not
/// allocate for it up front: after 4 MiB of it the broker holds about
/// that much more, not 256 MiB. When the client goes away the connection
/// is cleaned up and others are still served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_declared_length_is_not_buffered_up_front() {
    let mut k = Komar::start();
    let mut b = Bystander::connect(k.port).await;
    let before = rss_kib(k.pid());
    let (mut c, _) = Raw::connect(k.port, &Connect::new(4, &unique("huge"))).await;
    let mut head = vec![0x30];
    head.extend(raw::varint(268_435_455));
    head.extend(raw::string("a/b"));
    c.send_ok(&head).await;
    let chunk = vec![b'x'; 64 * 1024];
    for _ in 0..64 {
        c.send_ok(&chunk).await;
    }
    // The broker has read what was sent once it answers a bystander...
    b.still_served(&mut k).await;
    let grown = rss_kib(k.pid()).saturating_sub(before);
    assert!(
        grown < 64 * 1024,
        "broker grew by {grown} KiB for a 4 MiB partial packet"
    );
    c.abort();
    b.still_served(&mut k).await;
}
