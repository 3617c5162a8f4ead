//! MQTT 5 flow control and size limits through rumqttc v5, paho-mqtt
//! (tests/py/v5_flow.py) and the raw client for what the libraries refuse
//! to send: Topic Aliases from the client (`max_topic_alias`,
//! [MQTT-3.3.2-9..12]) and from the broker (`max_topic_alias_broker`,
//! bounded by the client's Topic Alias Maximum [MQTT-3.3.2-8]); Receive
//! Maximum both ways ([MQTT-3.3.4-9]: never more in flight to the client;
//! [MQTT-3.3.4-8]: a client over the broker's gets 0x93); Maximum Packet
//! Size both ways ([MQTT-3.1.2-25]: a message too large for the client is
//! not sent to it; a packet over `max_packet_size` gets 0x95).
//!
//! "Must not arrive" is proven with a sentinel or with round trips: a
//! SUBSCRIBE is answered after every packet the broker produced before it.

mod common;
mod v5_support;

use common::raw::{self, Connect, Raw};
use common::{unique, Komar};
use rumqttc::v5::mqttbytes::v5::{Packet, PublishProperties};
use rumqttc::v5::mqttbytes::QoS;
use v5_support::{options, p_u16, p_u32, paho, sentinel, topic_of, C5};

fn puback(p: &Packet) -> bool {
    matches!(p, Packet::PubAck(_))
}

fn alias(n: u16) -> PublishProperties {
    PublishProperties {
        topic_alias: Some(n),
        ..Default::default()
    }
}

fn broker_with(line: &str) -> common::config::Configured {
    Komar::start_with_config(&format!(
        "listener {{port}} 127.0.0.1\nallow_anonymous true\n{line}\n"
    ))
}

/// A client sets an alias with a topic, then uses it with an empty topic,
/// then maps it to another topic; the subscriber sees full topics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_aliases_from_the_client() {
    let k = Komar::start();
    let t = unique("ta");
    let (mut s, _) = C5::connect(options(&unique("s"), k.port)).await;
    s.sub(&format!("{t}/#"), QoS::AtLeastOnce).await;
    let (mut p, ack) = C5::connect(options(&unique("p"), k.port)).await;
    // `max_topic_alias` defaults to 10.
    assert_eq!(ack.properties.and_then(|p| p.topic_alias_max), Some(10));
    let sends = [
        (format!("{t}/x"), 1),
        (String::new(), 1),
        (String::new(), 1),
        (format!("{t}/y"), 1),
        (String::new(), 1),
        (format!("{t}/z"), 10),
        (String::new(), 10),
        (String::new(), 1),
    ];
    for (i, (topic, a)) in sends.iter().enumerate() {
        p.publish_with_properties(topic, QoS::AtLeastOnce, false, i.to_string(), alias(*a))
            .await
            .unwrap();
    }
    p.acks(sends.len(), puback).await;
    let got: Vec<String> = s
        .publishes(sends.len())
        .await
        .iter()
        .map(topic_of)
        .collect();
    let want: Vec<String> = ["x", "x", "x", "y", "y", "z", "z", "y"]
        .iter()
        .map(|l| format!("{t}/{l}"))
        .collect();
    assert_eq!(got, want);
}

/// Aliases the broker did not allow: above its maximum is 0x94 Topic
/// Alias invalid; alias 0, and an unknown alias with an empty topic, are
/// 0x82;
/// `max_topic_alias 0` allows none (and CONNACK has no Topic Alias
/// Maximum). rumqttc refuses to send these, so the raw client does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_aliases_outside_the_limit_are_refused() {
    async fn outcome(port: u16, topic: &str, a: u16) -> (Option<u32>, u8) {
        let (mut r, ack) = Raw::connect_with(port, &Connect::new(5, &unique("raw"))).await;
        assert_eq!(ack.code, 0);
        let max = ack
            .prop(0x22)
            .map(|v| u32::from(u16::from_be_bytes([v[0], v[1]])));
        r.send_ok(&v5_support::publish(
            topic,
            1,
            1,
            false,
            &p_u16(0x23, a),
            b"x",
        ))
        .await;
        let frames = r.closed().await;
        let last = frames.last().expect("a DISCONNECT before the close");
        (max, v5_support::parse_disconnect(last).0)
    }
    let k = broker_with("max_topic_alias 2");
    assert_eq!(outcome(k.port, "t", 3).await, (Some(2), 0x94));
    // Alias 0 is not a valid property value at all [MQTT-3.3.2-8]: a
    // Protocol Error (the codec's check, as for Receive Maximum 0).
    assert_eq!(outcome(k.port, "t", 0).await, (Some(2), 0x82));
    assert_eq!(outcome(k.port, "", 1).await, (Some(2), 0x82));
    let none = broker_with("max_topic_alias 0");
    assert_eq!(outcome(none.port, "t", 1).await, (None, 0x94));
}

/// The broker gives aliases to the first topics up to the smaller of the
/// client's Topic Alias Maximum and `max_topic_alias_broker`; rumqttc
/// resolves them back to the right topics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_aliases_to_the_client() {
    async fn seen(port: u16, client_max: Option<u16>) -> Vec<(String, Option<u16>)> {
        let t = unique("tb");
        let mut o = options(&unique("s"), port);
        o.set_topic_alias_max(client_max);
        let (mut s, _) = C5::connect(o).await;
        s.sub(&format!("{t}/#"), QoS::AtLeastOnce).await;
        let (mut p, _) = C5::connect(options(&unique("p"), port)).await;
        let order = ["a", "b", "c", "a", "b", "c", "a"];
        for l in order {
            p.publish(format!("{t}/{l}"), QoS::AtLeastOnce, false, l)
                .await
                .unwrap();
        }
        p.acks(order.len(), puback).await;
        s.publishes(order.len())
            .await
            .iter()
            .map(|m| {
                let tail = topic_of(m)
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                assert_eq!(
                    m.payload.as_ref(),
                    tail.as_bytes(),
                    "alias resolved to the wrong topic"
                );
                (tail, m.properties.as_ref().and_then(|p| p.topic_alias))
            })
            .collect()
    }
    let with = |v: [Option<u16>; 7]| -> Vec<(String, Option<u16>)> {
        ["a", "b", "c", "a", "b", "c", "a"]
            .iter()
            .zip(v)
            .map(|(t, a)| (t.to_string(), a))
            .collect()
    };
    let k = Komar::start();
    // Client allows 2 (broker default 10): a and b get aliases, c none.
    assert_eq!(
        seen(k.port, Some(2)).await,
        with([Some(1), Some(2), None, Some(1), Some(2), None, Some(1)])
    );
    // A client that announces no Topic Alias Maximum gets none.
    assert_eq!(seen(k.port, None).await, with([None; 7]));
    // `max_topic_alias_broker 1` bounds a client allowing 5.
    let one = broker_with("max_topic_alias_broker 1");
    assert_eq!(
        seen(one.port, Some(5)).await,
        with([Some(1), None, None, Some(1), None, None, Some(1)])
    );
}

/// On the wire: a known alias goes with an empty topic (raw client).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_alias_replaces_the_topic_on_the_wire() {
    let k = Komar::start();
    let t = unique("wire");
    let mut c = Connect::new(5, &unique("raw"));
    c.props.extend(p_u16(0x22, 3));
    let (mut r, _) = Raw::connect(k.port, &c).await;
    assert_eq!(r.subscribe(1, &t, 0).await, 0);
    let (mut p, _) = C5::connect(options(&unique("p"), k.port)).await;
    for _ in 0..3 {
        p.publish(&t, QoS::AtLeastOnce, false, "m").await.unwrap();
    }
    p.acks(3, puback).await;
    let mut got = Vec::new();
    for _ in 0..3 {
        let m = v5_support::parse_publish(&r.expect(raw::PUBLISH).await);
        got.push((m.topic, m.props.int(0x23)));
    }
    assert_eq!(
        got,
        vec![
            (t, Some(1)),
            (String::new(), Some(1)),
            (String::new(), Some(1))
        ]
    );
}

/// The broker never has more QoS 1 messages in flight to a client than
/// the client's Receive Maximum: with 3 unacknowledged, nothing more comes
/// (two round trips later); each PUBACK lets exactly one more through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receive_maximum_of_the_client_is_honoured() {
    const N: usize = 10;
    let k = Komar::start();
    let t = unique("rm");
    let mut o = options(&unique("s"), k.port);
    o.set_receive_maximum(Some(3));
    o.set_manual_acks(true);
    let (mut s, _) = C5::connect(o).await;
    s.sub(&t, QoS::AtLeastOnce).await;
    let (mut p, _) = C5::connect(options(&unique("p"), k.port)).await;
    for i in 0..N {
        p.publish(&t, QoS::AtLeastOnce, false, i.to_string())
            .await
            .unwrap();
    }
    p.acks(N, puback).await;
    let mut outstanding = std::collections::VecDeque::new();
    let mut received = Vec::new();
    while received.len() < N {
        while outstanding.len() < 3 && received.len() < N {
            let m = s.next().await;
            received.push(m.payload.clone());
            outstanding.push_back(m);
        }
        s.flush().await;
        s.flush().await;
        let extra = s.take_held_publishes();
        assert!(
            extra.is_empty(),
            "more than 3 in flight: {} extra after {} received",
            extra.len(),
            received.len()
        );
        let oldest = outstanding.pop_front().expect("in flight");
        s.ack(&oldest).await.unwrap();
    }
    let want: Vec<bytes::Bytes> = (0..N).map(|i| i.to_string().into()).collect();
    assert_eq!(received, want);
}

/// The broker's Receive Maximum (from `max_inflight_messages`, default
/// 20) is announced; a client honouring it (rumqttc) gets everything
/// through; one exceeding it with QoS 2 (raw) gets DISCONNECT 0x93.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receive_maximum_of_the_broker_is_enforced() {
    let k = Komar::start();
    let (_c, ack) = C5::connect(options(&unique("c"), k.port)).await;
    assert_eq!(ack.properties.and_then(|p| p.receive_max), Some(20));

    let five = broker_with("max_inflight_messages 5");
    let (mut p, ack) = C5::connect(options(&unique("p"), five.port)).await;
    assert_eq!(ack.properties.and_then(|p| p.receive_max), Some(5));
    for i in 0..30 {
        p.publish("rm/ok", QoS::ExactlyOnce, false, i.to_string())
            .await
            .unwrap();
    }
    p.acks(30, |k| matches!(k, Packet::PubComp(_))).await;

    for (port, limit) in [(k.port, 20u16), (five.port, 5)] {
        let (mut r, _) = Raw::connect(port, &Connect::new(5, &unique("raw"))).await;
        for pid in 1..=limit {
            r.send_ok(&v5_support::publish("rm/x", 2, pid, false, &[], b"x"))
                .await;
            let (got, reason, _) = v5_support::parse_ack(&r.expect(raw::PUBREC).await);
            assert_eq!((got, reason), (pid, 0x10), "no subscribers, accepted");
        }
        r.send_ok(&v5_support::publish("rm/x", 2, limit + 1, false, &[], b"x"))
            .await;
        let frames = r.closed().await;
        let (reason, _) = v5_support::parse_disconnect(frames.last().expect("DISCONNECT"));
        assert_eq!(reason, 0x93, "receive maximum {limit} exceeded");
    }
}

/// A message larger than the client's Maximum Packet Size is not sent to
/// it (live or retained), while others still are; a client without a
/// limit gets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maximum_packet_size_of_the_client() {
    let k = Komar::start();
    let t = unique("mps");
    let mut o = options(&unique("small"), k.port);
    o.set_max_packet_size(Some(200));
    let (mut small, _) = C5::connect(o).await;
    small.sub(&format!("{t}/#"), QoS::AtLeastOnce).await;
    let (mut big, _) = C5::connect(options(&unique("big"), k.port)).await;
    big.sub(&format!("{t}/#"), QoS::AtLeastOnce).await;
    let (mut p, _) = C5::connect(options(&unique("p"), k.port)).await;
    p.publish(
        format!("{t}/large"),
        QoS::AtLeastOnce,
        true,
        vec![b'x'; 1000],
    )
    .await
    .unwrap();
    p.publish(format!("{t}/small"), QoS::AtLeastOnce, false, "fits")
        .await
        .unwrap();
    p.acks(2, puback).await;
    sentinel(k.port, &format!("{t}/end"), "end").await;
    let got = small.until_sentinel(b"end").await;
    assert_eq!(
        got.iter().map(topic_of).collect::<Vec<_>>(),
        vec![format!("{t}/small")]
    );
    assert_eq!(big.until_sentinel(b"end").await.len(), 2);
    // The retained large message is not sent on subscribe either.
    let mut o = options(&unique("late"), k.port);
    o.set_max_packet_size(Some(200));
    let (mut late, _) = C5::connect(o).await;
    late.sub(&format!("{t}/#"), QoS::AtLeastOnce).await;
    sentinel(k.port, &format!("{t}/end"), "end").await;
    assert!(late.until_sentinel(b"end").await.is_empty());
}

/// A packet over the broker's `max_packet_size` (announced in CONNACK) is
/// refused with DISCONNECT 0x95 (raw: rumqttc will not send it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maximum_packet_size_of_the_broker() {
    let k = broker_with("max_packet_size 1000");
    let (_c, ack) = C5::connect(options(&unique("c"), k.port)).await;
    assert_eq!(ack.properties.and_then(|p| p.max_packet_size), Some(1000));
    let (mut r, ack) = Raw::connect_with(k.port, &Connect::new(5, &unique("raw"))).await;
    assert_eq!(ack.prop(0x27), Some(&1000u32.to_be_bytes()[..]));
    // Just under the limit passes.
    let ok = v5_support::publish("mps/x", 1, 1, false, &[], &[b'x'; 980]);
    assert!(ok.len() <= 1000);
    r.send_ok(&ok).await;
    assert_eq!(v5_support::parse_ack(&r.expect(raw::PUBACK).await).0, 1);
    r.send_ok(&v5_support::publish(
        "mps/x",
        1,
        2,
        false,
        &p_u32(0x02, 60),
        &[b'x'; 1000],
    ))
    .await;
    let frames = r.closed().await;
    assert_eq!(
        v5_support::parse_disconnect(frames.last().expect("DISCONNECT")).0,
        0x95
    );
}

// ---------------------------------------------------------------------
// paho-mqtt (tests/py/v5_flow.py)
// ---------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_topic_aliases_from_the_client() {
    let k = Komar::start();
    let out = paho("v5_flow.py", k.port, "alias_from_client", &[]).await;
    assert_eq!(out.get("topics"), "x,x,x,y,y");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_topic_alias_above_the_maximum_is_0x94() {
    let k = broker_with("max_topic_alias 2");
    let out = paho("v5_flow.py", k.port, "alias_invalid", &["2"]).await;
    assert_eq!(out.get("disconnect"), "148");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_topic_aliases_to_the_client() {
    let k = Komar::start();
    let out = paho("v5_flow.py", k.port, "alias_to_client", &[]).await;
    assert_eq!(out.get("wire"), "a:1 b:2 c:- :1 :2 c:- :1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_receive_maximum_of_the_client() {
    let k = Komar::start();
    let out = paho("v5_flow.py", k.port, "receive_max_to_client", &[]).await;
    assert_eq!(out.get("most_in_flight"), "3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_receive_maximum_of_the_broker() {
    let k = Komar::start();
    let out = paho("v5_flow.py", k.port, "receive_max_from_client", &[]).await;
    assert_eq!(out.get("disconnect"), "147");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_maximum_packet_size_of_the_client() {
    let k = Komar::start();
    let out = paho("v5_flow.py", k.port, "max_packet_to_client", &[]).await;
    assert_eq!(out.get("small_got"), "small");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_maximum_packet_size_of_the_broker() {
    let k = broker_with("max_packet_size 1000");
    let out = paho("v5_flow.py", k.port, "max_packet_from_client", &[]).await;
    assert_eq!(out.get("disconnect"), "149");
}
