//! Limits and queueing options of `mosquitto.conf` through real clients:
//! `retain_available`, `max_keepalive`, `max_packet_size`,
//! `message_size_limit`, `max_queued_messages` and `queue_qos0_messages`
//! for an offline persistent session, `persistent_client_expiration`.

mod common;

use common::config::sys_value_until;
use common::{unique, v4, v5, Komar, TIMEOUT};
use rumqttc::v5::mqttbytes::v5::PubAckReason;
use rumqttc::v5::mqttbytes::QoS as Q5;
use rumqttc::{Packet, QoS};

/// Drive a rumqttc 5.0 event loop until it fails; returns the error.
async fn v5_error(el: &mut rumqttc::v5::EventLoop) -> rumqttc::v5::ConnectionError {
    tokio::time::timeout(TIMEOUT, async {
        loop {
            if let Err(e) = el.poll().await {
                return e;
            }
        }
    })
    .await
    .expect("the connection ends in time")
}

/// Drive a rumqttc 3.1.1 event loop until it fails; returns the error.
async fn v4_error(el: &mut rumqttc::EventLoop) -> rumqttc::ConnectionError {
    tokio::time::timeout(TIMEOUT, async {
        loop {
            if let Err(e) = el.poll().await {
                return e;
            }
        }
    })
    .await
    .expect("the connection ends in time")
}

/// MQTT 5.0 by hand, for the one thing rumqttc 0.24 cannot show: a
/// server DISCONNECT followed at once by the close (rumqttc reports only
/// "connection closed by peer", with Mosquitto as with Komar). Connects
/// as `id`, sends a QoS 0 PUBLISH with RETAIN set (MQTT 5.0 §3.1, §3.3)
/// and returns every byte the server sends after its CONNACK, up to the
/// close.
async fn v5_retained_publish_raw(port: u16, id: &str) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    // CONNECT: "MQTT", level 5, clean start, keepalive 60, no properties.
    let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', 5, 0x02, 0, 60, 0];
    body.extend_from_slice(&(id.len() as u16).to_be_bytes());
    body.extend_from_slice(id.as_bytes());
    let mut connect = vec![0x10, body.len() as u8];
    connect.extend_from_slice(&body);
    s.write_all(&connect).await.unwrap();
    let mut connack = [0u8; 2];
    tokio::time::timeout(TIMEOUT, s.read_exact(&mut connack))
        .await
        .expect("CONNACK in time")
        .unwrap();
    assert_eq!(connack[0], 0x20);
    let mut rest = vec![0u8; usize::from(connack[1])];
    s.read_exact(&mut rest).await.unwrap();
    // PUBLISH QoS 0, RETAIN: topic "r/t", no properties, payload "x".
    s.write_all(&[0x31, 7, 0, 3, b'r', b'/', b't', 0, b'x'])
        .await
        .unwrap();
    let mut after = Vec::new();
    tokio::time::timeout(TIMEOUT, s.read_to_end(&mut after))
        .await
        .expect("the server closes in time")
        .unwrap();
    after
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retain_available_false_is_announced_and_enforced() {
    let k = Komar::start_with_config(
        "listener {port} 127.0.0.1\nallow_anonymous true\nretain_available false\n",
    );
    let (_c, _el, ack) = v5::connect(v5::options(&unique("r5"), k.port)).await;
    assert_eq!(ack.properties.and_then(|p| p.retain_available), Some(0));
    // DISCONNECT with reason 0x9A "Retain not supported" [MQTT-3.3.1-12].
    let after = v5_retained_publish_raw(k.port, &unique("raw")).await;
    // (Remaining length 1, or 2 with an empty property length: both are
    // valid encodings, MQTT 5.0 §3.14.2.2.)
    assert_eq!(after.first(), Some(&0xE0), "{after:02x?}");
    assert!(matches!(after.get(1), Some(1 | 2)), "{after:02x?}");
    assert_eq!(after.get(2), Some(&0x9A), "{after:02x?}");
    // A 3.1.1 client has no reason code: its connection is closed.
    let (c4, mut el4, _) = v4::connect(v4::options(&unique("r4"), k.port)).await;
    c4.publish("r/t", QoS::AtLeastOnce, true, "kept?")
        .await
        .unwrap();
    v4_error(&mut el4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_keepalive_is_sent_to_v5_clients_as_server_keep_alive() {
    let k = Komar::start_with_config(
        "listener {port} 127.0.0.1\nallow_anonymous true\nmax_keepalive 10\n",
    );
    let (_c, _el, ack) = v5::connect(v5::options(&unique("ka"), k.port)).await;
    assert_eq!(ack.properties.and_then(|p| p.server_keep_alive), Some(10));
    // (3.1.1 clients above it are refused with code 2: see
    // config_listeners.rs, client_id_and_keepalive_refusals_match_mosquitto.)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_packet_size_closes_on_a_larger_publish_and_is_announced() {
    let k = Komar::start_with_config(
        "listener {port} 127.0.0.1\nallow_anonymous true\nmax_packet_size 1000\n",
    );
    let (_c5, _el5, ack) = v5::connect(v5::options(&unique("mp5"), k.port)).await;
    assert_eq!(ack.properties.and_then(|p| p.max_packet_size), Some(1000));

    let (sub, mut sub_el, _) = v4::connect(v4::options(&unique("sub"), k.port)).await;
    sub.subscribe("mp/#", QoS::AtLeastOnce).await.unwrap();
    v4::suback(&mut sub_el).await;
    let (big, mut big_el, _) = v4::connect(v4::options(&unique("big"), k.port)).await;
    big.publish("mp/big", QoS::AtLeastOnce, false, vec![b'x'; 2000])
        .await
        .unwrap();
    let err = v4_error(&mut big_el).await;
    assert!(
        !matches!(
            err,
            rumqttc::ConnectionError::MqttState(rumqttc::StateError::Deserialization(_))
        ),
        "{err:?}"
    );
    // The oversized message went nowhere; a small one from another client
    // is the next thing the subscriber sees.
    let (small, small_el, _) = v4::connect(v4::options(&unique("small"), k.port)).await;
    let _d = v4::drive(small_el);
    small
        .publish("mp/small", QoS::AtLeastOnce, false, "s")
        .await
        .unwrap();
    assert_eq!(v4::next(&mut sub_el).await.topic, "mp/small");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_size_limit_drops_the_payload_but_completes_the_flow() {
    let k = Komar::start_with_config(
        "listener {port} 127.0.0.1\nallow_anonymous true\nmessage_size_limit 100\n",
    );
    let (sub, mut sub_el, _) = v4::connect(v4::options(&unique("sub"), k.port)).await;
    sub.subscribe("ms/#", QoS::ExactlyOnce).await.unwrap();
    v4::suback(&mut sub_el).await;

    // 3.1.1: the QoS 1 and QoS 2 flows complete as if delivered.
    let (p4, mut p4_el, _) = v4::connect(v4::options(&unique("p4"), k.port)).await;
    p4.publish("ms/q1", QoS::AtLeastOnce, false, vec![b'x'; 200])
        .await
        .unwrap();
    v4::until(&mut p4_el, |p| matches!(p, Packet::PubAck(_))).await;
    p4.publish("ms/q2", QoS::ExactlyOnce, false, vec![b'x'; 200])
        .await
        .unwrap();
    v4::until(&mut p4_el, |p| matches!(p, Packet::PubComp(_))).await;

    // 5.0: PUBACK 0x83 (Mosquitto's "implementation specific error").
    let (p5, mut p5_el, _) = v5::connect(v5::options(&unique("p5"), k.port)).await;
    p5.publish("ms/v5", Q5::AtLeastOnce, false, vec![b'x'; 200])
        .await
        .unwrap();
    let err = v5_error(&mut p5_el).await;
    assert!(
        matches!(
            err,
            rumqttc::v5::ConnectionError::MqttState(rumqttc::v5::StateError::PubAckFail {
                reason: PubAckReason::ImplementationSpecificError
            })
        ),
        "{err:?}"
    );

    // None of them arrived: the first thing the subscriber gets is a
    // message within the limit.
    p4.publish("ms/ok", QoS::AtLeastOnce, false, vec![b'x'; 100])
        .await
        .unwrap();
    let _d = v4::drive(p4_el);
    let got = v4::next(&mut sub_el).await;
    assert_eq!((got.topic.as_str(), got.payload.len()), ("ms/ok", 100));
}

/// A persistent (clean session off) 3.1.1 subscriber to `filter` at QoS 1
/// that then disconnects.
async fn subscribe_and_leave(port: u16, id: &str, filter: &str) {
    let mut o = v4::options(id, port);
    o.set_clean_session(false);
    let (c, mut el, _) = v4::connect(o).await;
    c.subscribe(filter, QoS::AtLeastOnce).await.unwrap();
    v4::suback(&mut el).await;
    c.disconnect().await.unwrap();
    let _ = tokio::time::timeout(TIMEOUT, async { while el.poll().await.is_ok() {} }).await;
}

/// As [`subscribe_and_leave`]; returns once the broker counts the session
/// as disconnected (`$SYS/broker/clients/disconnected`).
async fn offline_subscriber(port: u16, id: &str, filter: &str) {
    subscribe_and_leave(port, id, filter).await;
    sys_value_until(port, "$SYS/broker/clients/disconnected", |v| v == "1").await;
}

/// Reconnect the persistent subscriber `id`; returns the client, its event
/// loop and whether the broker still had the session.
async fn reconnect(port: u16, id: &str) -> (rumqttc::AsyncClient, rumqttc::EventLoop, bool) {
    let mut o = v4::options(id, port);
    o.set_clean_session(false);
    v4::connect(o).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_queued_messages_keeps_exactly_the_limit_for_an_offline_session() {
    let k = Komar::start_with_config(
        "listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 5\nsys_interval 1\n",
    );
    let id = unique("offline");
    offline_subscriber(k.port, &id, "mq/#").await;

    let (publ, mut pub_el, _) = v4::connect(v4::options(&unique("pub"), k.port)).await;
    for n in 0..12 {
        publ.publish("mq/t", QoS::AtLeastOnce, false, n.to_string())
            .await
            .unwrap();
        v4::until(&mut pub_el, |p| matches!(p, Packet::PubAck(_))).await;
    }
    // Seven did not fit: counted as dropped.
    sys_value_until(k.port, "$SYS/broker/publish/messages/dropped", |v| v == "7").await;

    let (_sub, mut sub_el, present) = reconnect(k.port, &id).await;
    assert!(present, "the persistent session was kept");
    let got: Vec<String> = v4::publishes(&mut sub_el, 5)
        .await
        .into_iter()
        .map(|p| String::from_utf8_lossy(&p.payload).into_owned())
        .collect();
    assert_eq!(got, ["0", "1", "2", "3", "4"]);
    // Nothing else was queued: the next message is one sent now.
    let _d = v4::drive(pub_el);
    publ.publish("mq/t", QoS::AtLeastOnce, false, "sentinel")
        .await
        .unwrap();
    assert_eq!(&v4::next(&mut sub_el).await.payload[..], b"sentinel");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_qos0_messages_decides_whether_qos0_waits_for_an_offline_session() {
    for queue_qos0 in [true, false] {
        let k = Komar::start_with_config(&format!(
            "listener {{port}} 127.0.0.1\nallow_anonymous true\nsys_interval 1\n\
             queue_qos0_messages {queue_qos0}\n"
        ));
        let id = unique("offline");
        offline_subscriber(k.port, &id, "q0/#").await;
        let (publ, mut pub_el, _) = v4::connect(v4::options(&unique("pub"), k.port)).await;
        for n in 0..3 {
            publ.publish("q0/t", QoS::AtMostOnce, false, format!("qos0-{n}"))
                .await
                .unwrap();
        }
        // QoS 1 after them on the same connection: when it is acknowledged,
        // the QoS 0 messages before it have been handled.
        publ.publish("q0/t", QoS::AtLeastOnce, false, "qos1")
            .await
            .unwrap();
        v4::until(&mut pub_el, |p| matches!(p, Packet::PubAck(_))).await;

        let (_sub, mut sub_el, present) = reconnect(k.port, &id).await;
        assert!(present);
        let expected: &[&str] = if queue_qos0 {
            &["qos0-0", "qos0-1", "qos0-2", "qos1"]
        } else {
            &["qos1"]
        };
        let got: Vec<String> = v4::publishes(&mut sub_el, expected.len())
            .await
            .into_iter()
            .map(|p| String::from_utf8_lossy(&p.payload).into_owned())
            .collect();
        assert_eq!(got, expected, "queue_qos0_messages {queue_qos0}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_client_expiration_ends_offline_sessions() {
    let k = Komar::start_with_config(
        "listener {port} 127.0.0.1\nallow_anonymous true\nsys_interval 1\n\
         persistent_client_expiration 1s\n",
    );
    let id = unique("expiring");
    // (Not offline_subscriber: the session may expire before a $SYS
    // refresh ever shows it disconnected.)
    subscribe_and_leave(k.port, &id, "exp/#").await;
    sys_value_until(k.port, "$SYS/broker/clients/expired", |v| v == "1").await;
    let (_c, _el, present) = reconnect(k.port, &id).await;
    assert!(
        !present,
        "the session outlived persistent_client_expiration"
    );
}
