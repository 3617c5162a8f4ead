//! komar-client against Debian's real mosquitto 2.0.11: every protocol
//! version, the three QoS flows, pipelining, v5 properties, aliases, wills,
//! keep-alive, refusals, limits, Unix sockets and raw mode.

mod support;

use std::time::Duration;

use bytes::Bytes;
use komar_client::{
    connect, ClientError, CloseReason, ConnectOptions, Connection, Endpoint, Event, Message,
    RawConnection,
};
use komar_proto::{
    Connect, Disconnect, LastWill, Packet, ProtocolVersion, Publish, QoS, ReasonCode,
    SubscriptionOptions, TopicFilter, TopicName,
};
use support::Broker;

const T: Duration = Duration::from_secs(10);

fn ep(b: &Broker) -> Endpoint {
    Endpoint::tcp("127.0.0.1", b.port)
}

fn topic(s: &str) -> TopicName {
    TopicName::new(s).unwrap()
}

fn filter(s: &str) -> (TopicFilter, SubscriptionOptions) {
    (
        TopicFilter::new(s).unwrap(),
        SubscriptionOptions::qos(QoS::ExactlyOnce),
    )
}

async fn open(b: &Broker, v: ProtocolVersion, id: &str) -> Connection {
    tokio::time::timeout(T, connect(&ep(b), ConnectOptions::new(v, id)))
        .await
        .unwrap()
        .unwrap()
}

async fn next_msg(c: &mut Connection) -> Publish {
    tokio::time::timeout(T, c.events.next_message())
        .await
        .expect("message in time")
        .expect("connection open")
}

#[tokio::test]
async fn every_version_round_trips_every_qos() {
    let b = Broker::start("").await;
    for v in [
        ProtocolVersion::V31,
        ProtocolVersion::V311,
        ProtocolVersion::V5,
    ] {
        let mut c = open(&b, v, &format!("rt-{v}")).await;
        assert_eq!(c.connack.reason_code, ReasonCode::SUCCESS);
        let suback = c
            .client
            .subscribe(vec![filter("rt/#")], Default::default())
            .await
            .unwrap();
        assert_eq!(suback.reason_codes, vec![ReasonCode::GRANTED_QOS_2]);
        for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
            let out = c
                .client
                .publish(Message::new(topic("rt/x"), format!("{qos:?}"), qos))
                .await
                .unwrap();
            assert_eq!(out.reason_code, ReasonCode::SUCCESS);
            assert_eq!(out.packet_id.is_some(), qos != QoS::AtMostOnce);
            let m = next_msg(&mut c).await;
            assert_eq!(m.topic.as_str(), "rt/x");
            assert_eq!(m.qos_pid.qos(), qos);
            assert_eq!(&m.payload[..], format!("{qos:?}").as_bytes());
        }
        let unsuback = c
            .client
            .unsubscribe(
                vec![
                    TopicFilter::new("rt/#").unwrap(),
                    TopicFilter::new("none").unwrap(),
                ],
                Default::default(),
            )
            .await
            .unwrap();
        if v.is_v5() {
            assert_eq!(
                unsuback.reason_codes,
                vec![ReasonCode::SUCCESS, ReasonCode::NO_SUBSCRIPTION_EXISTED]
            );
        } else {
            assert!(unsuback.reason_codes.is_empty());
        }
        c.client.disconnect(Disconnect::default()).await.unwrap();
        match tokio::time::timeout(T, c.events.next_message())
            .await
            .unwrap()
        {
            Err(CloseReason::Local) => {}
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn v5_connect_properties_and_assigned_id() {
    let b = Broker::start("").await;
    let mut o = ConnectOptions::new(ProtocolVersion::V5, "");
    o.properties.session_expiry_interval = Some(30);
    o.properties.receive_maximum = Some(10);
    o.properties.maximum_packet_size = Some(10_000);
    o.properties.topic_alias_maximum = Some(5);
    o.properties.request_problem_information = Some(1);
    o.properties.request_response_information = Some(1);
    o.properties.user_properties = vec![("k".into(), "v".into())];
    let c = connect(&ep(&b), o).await.unwrap();
    let info = c.client.server();
    assert!(info.assigned_client_id);
    assert!(info.client_id.starts_with("auto-"), "{}", info.client_id);
    // mosquitto's defaults: max_inflight_messages 20, max_topic_alias 10.
    assert_eq!(info.receive_maximum, 20);
    assert_eq!(info.topic_alias_maximum, 10);
    let mut d = Disconnect::new(ReasonCode::NORMAL_DISCONNECTION);
    d.properties.session_expiry_interval = Some(0);
    d.properties.reason_string = Some("bye".into());
    c.client.disconnect(d).await.unwrap();
}

#[tokio::test]
async fn v5_publish_properties_survive_the_broker() {
    let b = Broker::start("").await;
    let mut c = open(&b, ProtocolVersion::V5, "props").await;
    c.client
        .subscribe(vec![filter("p/#")], Default::default())
        .await
        .unwrap();
    let mut m = Message::new(topic("p/1"), "payload", QoS::AtLeastOnce);
    m.properties.payload_format_indicator = Some(1);
    m.properties.message_expiry_interval = Some(100);
    m.properties.content_type = Some("text/plain".into());
    m.properties.response_topic = Some("p/reply".into());
    m.properties.correlation_data = Some(Bytes::from_static(b"\x00corr"));
    m.properties.user_properties = vec![("a".into(), "1".into()), ("a".into(), "2".into())];
    c.client.publish(m).await.unwrap();
    let got = next_msg(&mut c).await;
    let p = &got.properties;
    assert_eq!(p.payload_format_indicator, Some(1));
    assert!(p.message_expiry_interval.is_some_and(|e| e <= 100));
    assert_eq!(p.content_type.as_deref(), Some("text/plain"));
    assert_eq!(p.response_topic.as_deref(), Some("p/reply"));
    assert_eq!(p.correlation_data.as_deref(), Some(&b"\x00corr"[..]));
    assert_eq!(
        p.user_properties,
        vec![("a".into(), "1".into()), ("a".into(), "2".into())]
    );
}

#[tokio::test]
async fn subscription_options_and_retained() {
    let b = Broker::start("").await;
    let mut c = open(&b, ProtocolVersion::V5, "subopts").await;
    let mut m = Message::new(topic("r/1"), "kept", QoS::AtLeastOnce);
    m.retain = true;
    c.client.publish(m).await.unwrap();
    // Retain handling 2: no retained message on subscribe; no-local: our own
    // publications are not echoed.
    let mut opts = SubscriptionOptions::qos(QoS::AtLeastOnce);
    opts.retain_handling = komar_proto::RetainHandling::DoNotSend;
    opts.no_local = true;
    c.client
        .subscribe(
            vec![(TopicFilter::new("r/#").unwrap(), opts)],
            Default::default(),
        )
        .await
        .unwrap();
    c.client
        .publish(Message::new(topic("r/2"), "own", QoS::AtLeastOnce))
        .await
        .unwrap();
    let mut other = open(&b, ProtocolVersion::V5, "subopts-other").await;
    other
        .client
        .publish(Message::new(topic("r/3"), "theirs", QoS::AtLeastOnce))
        .await
        .unwrap();
    let got = next_msg(&mut c).await;
    assert_eq!(got.topic.as_str(), "r/3");
    // A plain subscription gets the retained one with RETAIN set.
    other
        .client
        .subscribe(vec![filter("r/1")], Default::default())
        .await
        .unwrap();
    let r = next_msg(&mut other).await;
    assert!(r.retain);
    assert_eq!(&r.payload[..], b"kept");
}

#[tokio::test]
async fn pipelined_publishes_respect_receive_maximum() {
    // Mosquitto's default queue limit (1000) would drop part of the 2,000
    // pipelined messages whenever the subscriber falls behind: lift it, so
    // the test measures the client, not Mosquitto's overflow policy.
    let b = Broker::start_with("", "allow_anonymous true\nmax_queued_messages 0\n").await;
    let mut sub = open(&b, ProtocolVersion::V5, "pipe-sub").await;
    sub.client
        .subscribe(vec![filter("pipe")], Default::default())
        .await
        .unwrap();
    let publisher = open(&b, ProtocolVersion::V5, "pipe-pub").await;
    const N: usize = 2000;
    // Order is kept per QoS (mosquitto forwards QoS 2 on PUBREL).
    for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let mut handles = Vec::with_capacity(N);
        for i in 0..N {
            let m = Message::new(topic("pipe"), i.to_string(), qos);
            handles.push(publisher.client.start_publish(m).await.unwrap());
        }
        for h in handles {
            let out = tokio::time::timeout(T, h).await.unwrap().unwrap();
            assert_eq!(out.reason_code, ReasonCode::SUCCESS);
        }
        for i in 0..N {
            let m = next_msg(&mut sub).await;
            assert_eq!(m.payload, Bytes::from(i.to_string()), "order kept");
        }
    }
}

#[tokio::test]
async fn qos0_burst_is_delivered() {
    let b = Broker::start("").await;
    let mut sub = open(&b, ProtocolVersion::V311, "burst-sub").await;
    sub.client
        .subscribe(vec![filter("burst")], Default::default())
        .await
        .unwrap();
    let publisher = open(&b, ProtocolVersion::V311, "burst-pub").await;
    const N: usize = 5000;
    for i in 0..N {
        publisher
            .client
            .start_publish(Message::new(topic("burst"), i.to_string(), QoS::AtMostOnce))
            .await
            .unwrap();
    }
    // A QoS 1 publish after the burst completes only after everything
    // before it was written.
    publisher
        .client
        .publish(Message::new(topic("burst"), "end", QoS::AtLeastOnce))
        .await
        .unwrap();
    let mut n = 0;
    loop {
        let m = next_msg(&mut sub).await;
        if &m.payload[..] == b"end" {
            break;
        }
        assert_eq!(m.payload, Bytes::from(n.to_string()));
        n += 1;
    }
    assert_eq!(n, N);
}

#[tokio::test]
async fn outgoing_topic_alias() {
    let b = Broker::start("").await;
    let mut c = open(&b, ProtocolVersion::V5, "alias").await;
    c.client
        .subscribe(vec![filter("al/#")], Default::default())
        .await
        .unwrap();
    let mut first = Message::new(topic("al/long/topic"), "1", QoS::AtLeastOnce);
    first.properties.topic_alias = Some(3);
    c.client.publish(first).await.unwrap();
    let mut second = Message::new(TopicName::empty_for_alias(), "2", QoS::AtLeastOnce);
    second.properties.topic_alias = Some(3);
    c.client.publish(second).await.unwrap();
    for payload in ["1", "2"] {
        let m = next_msg(&mut c).await;
        assert_eq!(m.topic.as_str(), "al/long/topic");
        assert_eq!(&m.payload[..], payload.as_bytes());
    }
    // Above the broker's maximum (10): refused locally.
    let mut bad = Message::new(topic("al/x"), "3", QoS::AtMostOnce);
    bad.properties.topic_alias = Some(11);
    assert!(matches!(
        c.client.publish(bad).await,
        Err(ClientError::InvalidRequest(_))
    ));
}

#[tokio::test]
async fn will_with_v5_properties() {
    let b = Broker::start("").await;
    let mut watcher = open(&b, ProtocolVersion::V5, "will-watch").await;
    watcher
        .client
        .subscribe(vec![filter("will/#")], Default::default())
        .await
        .unwrap();
    let mut o = ConnectOptions::new(ProtocolVersion::V5, "will-owner");
    let mut will = LastWill {
        topic: topic("will/gone"),
        payload: Bytes::from_static(b"bye"),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: Default::default(),
    };
    will.properties.content_type = Some("text/plain".into());
    will.properties.user_properties = vec![("why".into(), "test".into())];
    o.will = Some(will);
    let owner = connect(&ep(&b), o).await.unwrap();
    owner
        .client
        .disconnect(Disconnect::new(ReasonCode::DISCONNECT_WITH_WILL_MESSAGE))
        .await
        .unwrap();
    let m = next_msg(&mut watcher).await;
    assert_eq!(m.topic.as_str(), "will/gone");
    assert_eq!(&m.payload[..], b"bye");
    assert_eq!(m.properties.content_type.as_deref(), Some("text/plain"));
    assert_eq!(
        m.properties.user_properties,
        vec![("why".to_string(), "test".to_string())]
    );
}

#[tokio::test]
async fn keep_alive_pings() {
    let b = Broker::start("").await;
    let mut o = ConnectOptions::new(ProtocolVersion::V311, "pinger");
    o.keep_alive = 1;
    o.trace_packets = true;
    let mut c = connect(&ep(&b), o).await.unwrap();
    let mut saw_req = false;
    let result = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(ev) = c.events.recv().await {
            match ev {
                Event::Sent(Packet::PingReq) => saw_req = true,
                Event::Received(Packet::PingResp) if saw_req => return true,
                Event::Closed(r) => panic!("closed: {r:?}"),
                _ => {}
            }
        }
        false
    })
    .await;
    assert_eq!(result, Ok(true));
    assert!(!c.client.is_closed());
}

#[tokio::test]
async fn session_takeover_is_reported() {
    let b = Broker::start("").await;
    let mut first = open(&b, ProtocolVersion::V5, "twin").await;
    let _second = open(&b, ProtocolVersion::V5, "twin").await;
    // mosquitto 2.0.11 closes the socket without a DISCONNECT; a broker
    // that sends one must say "Session taken over".
    match tokio::time::timeout(T, first.events.next_message())
        .await
        .unwrap()
    {
        Err(CloseReason::Server(d)) => assert_eq!(d.reason_code, ReasonCode::SESSION_TAKEN_OVER),
        Err(CloseReason::Error(ClientError::ConnectionClosed)) => {}
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        first
            .client
            .publish(Message::new(topic("x"), "y", QoS::AtLeastOnce))
            .await,
        Err(ClientError::ConnectionClosed)
    ));
}

#[tokio::test]
async fn refused_connections_carry_the_reason() {
    let b = Broker::start_with("", "allow_anonymous false\n").await;
    let e = connect(&ep(&b), ConnectOptions::new(ProtocolVersion::V5, "anon"))
        .await
        .unwrap_err();
    assert_eq!(e.refusal(), Some(ReasonCode::NOT_AUTHORIZED));
    let e = connect(&ep(&b), ConnectOptions::new(ProtocolVersion::V311, "anon"))
        .await
        .unwrap_err();
    // 3.1.1 return code 5 maps to Not authorized.
    assert_eq!(e.refusal(), Some(ReasonCode::NOT_AUTHORIZED));
}

#[tokio::test]
async fn broker_limits_are_enforced_locally() {
    let b = Broker::start_with("max_qos 1\n", "allow_anonymous true\nmax_packet_size 200\n").await;
    let c = open(&b, ProtocolVersion::V5, "limits").await;
    assert_eq!(c.client.server().maximum_qos, QoS::AtLeastOnce);
    assert_eq!(c.client.server().maximum_packet_size, Some(200));
    assert!(matches!(
        c.client
            .publish(Message::new(topic("l"), "x", QoS::ExactlyOnce))
            .await,
        Err(ClientError::InvalidRequest(_))
    ));
    assert!(matches!(
        c.client
            .publish(Message::new(topic("l"), vec![0u8; 300], QoS::AtLeastOnce))
            .await,
        Err(ClientError::PacketTooLarge { max: 200, .. })
    ));
    c.client
        .publish(Message::new(topic("l"), "small", QoS::AtLeastOnce))
        .await
        .unwrap();
}

#[tokio::test]
async fn unix_socket_transport() {
    let b = Broker::start("").await;
    let mut c = connect(
        &Endpoint::Unix(b.unix_path.clone()),
        ConnectOptions::new(ProtocolVersion::V5, "unix"),
    )
    .await
    .unwrap();
    c.client
        .subscribe(vec![filter("u")], Default::default())
        .await
        .unwrap();
    c.client
        .publish(Message::new(topic("u"), "over unix", QoS::ExactlyOnce))
        .await
        .unwrap();
    assert_eq!(&next_msg(&mut c).await.payload[..], b"over unix");
}

#[tokio::test]
async fn connection_errors_are_typed() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let e = connect(&Endpoint::tcp("127.0.0.1", port), ConnectOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.io_kind(), Some(std::io::ErrorKind::ConnectionRefused));
    let e = connect(
        &Endpoint::tcp("nonexistent.invalid", 1883),
        ConnectOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, ClientError::Lookup { .. }), "{e:?}");
}

#[tokio::test]
async fn raw_mode_sends_bytes_and_sees_the_close() {
    let b = Broker::start("").await;
    let mut raw = RawConnection::connect(&ep(&b), ProtocolVersion::V5)
        .await
        .unwrap();
    let connack = raw
        .handshake(
            Connect {
                protocol: ProtocolVersion::V5,
                bridge: false,
                clean_start: true,
                keep_alive: 60,
                properties: Default::default(),
                client_id: "raw".into(),
                will: None,
                username: None,
                password: None,
            },
            T,
        )
        .await
        .unwrap();
    assert_eq!(connack.reason_code, ReasonCode::SUCCESS);
    raw.send(&Packet::PingReq).await.unwrap();
    assert_eq!(raw.recv_timeout(T).await.unwrap(), Some(Packet::PingResp));
    // A PUBLISH with QoS 3 is malformed: the broker closes the connection
    // (mosquitto sends no DISCONNECT for it).
    raw.send_bytes(&[0x36, 0x03, 0x00, 0x01, b'a'])
        .await
        .unwrap();
    let seen = raw.wait_closed(T).await.unwrap();
    assert!(
        seen.iter().all(|p| matches!(p, Packet::Disconnect(_))),
        "{seen:?}"
    );
}
