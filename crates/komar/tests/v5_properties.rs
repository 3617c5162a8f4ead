//! MQTT 5 PUBLISH properties end to end through rumqttc v5, paho-mqtt
//! (tests/py/v5_properties.py) and, where neither library shows what
//! arrives, the raw client: request / response (Response Topic,
//! Correlation Data [MQTT-3.3.2-15..16]) and Response Information
//! [MQTT-3.1.2-28]; Payload Format Indicator and Content Type passed on
//! [MQTT-3.3.2-4] [MQTT-3.3.2-20], a non-UTF-8 payload declared UTF-8
//! refused with 0x99; User Properties passed on in order [MQTT-3.3.2-18];
//! Reason Strings only when Request Problem Information allows them
//! [MQTT-3.1.2-29]; Message Expiry: the remaining interval sent
//! [MQTT-3.3.2-6], expired messages dropped from an offline session's queue
//! and from the retained messages [MQTT-3.3.2-5].
//!
//! Expiry needs time to pass: those tests let a 1 s expiry run out
//! (waiting on the clock is the feature, not a synchronisation).

mod common;
mod v5_support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::raw::{self, Connect, Raw};
use common::{unique, Komar};
use rumqttc::v5::mqttbytes::v5::{LastWill, Packet, PubAckReason, PubRecReason, PublishProperties};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{ConnectionError, StateError};
use v5_support::{options, p_u32, paho, sentinel, topic_of, C5};

fn puback(p: &Packet) -> bool {
    matches!(p, Packet::PubAck(_))
}

fn props_of(p: &rumqttc::v5::mqttbytes::v5::Publish) -> PublishProperties {
    p.properties.clone().unwrap_or_default()
}

/// A request with Response Topic and Correlation Data reaches the
/// responder unchanged; the response goes back with the same Correlation
/// Data. The requester asks for Response Information and uses it as its
/// response topic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_response_with_response_information() {
    let k = Komar::start();
    let svc = unique("svc");
    let (mut responder, _) = C5::connect(options(&unique("responder"), k.port)).await;
    responder.sub(&svc, QoS::AtLeastOnce).await;

    let id = unique("requester");
    let mut o = options(&id, k.port);
    o.set_request_response_info(Some(1));
    let (mut requester, ack) = C5::connect(o).await;
    let info = ack.properties.and_then(|p| p.response_information);
    assert_eq!(info.as_deref(), Some(format!("response/{id}").as_str()));
    let reply_to = info.unwrap();
    requester.sub(&reply_to, QoS::AtLeastOnce).await;

    let corr = Bytes::from_static(b"\x00\x01corr\xff");
    let request = PublishProperties {
        response_topic: Some(reply_to.clone()),
        correlation_data: Some(corr.clone()),
        ..Default::default()
    };
    requester
        .publish_with_properties(&svc, QoS::AtLeastOnce, false, "question", request)
        .await
        .unwrap();
    let req = responder.next().await;
    let rp = props_of(&req);
    assert_eq!(rp.response_topic.as_deref(), Some(reply_to.as_str()));
    assert_eq!(rp.correlation_data.as_ref(), Some(&corr));
    let answer = PublishProperties {
        correlation_data: rp.correlation_data.clone(),
        ..Default::default()
    };
    responder
        .publish_with_properties(
            rp.response_topic.unwrap(),
            QoS::AtLeastOnce,
            false,
            "answer",
            answer,
        )
        .await
        .unwrap();
    let resp = requester.next().await;
    assert_eq!(
        (topic_of(&resp), resp.payload.as_ref()),
        (reply_to, &b"answer"[..])
    );
    assert_eq!(props_of(&resp).correlation_data, Some(corr));
}

/// Response Information: absent unless asked for; the configured prefix
/// (`response_information_prefix`) followed by the client id; never with
/// `response_information_prefix none`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_information_configurable() {
    async fn info(port: u16, ask: Option<u8>) -> (String, Option<String>) {
        let id = unique("ri");
        let mut o = options(&id, port);
        o.set_request_response_info(ask);
        let (_c, ack) = C5::connect(o).await;
        (id, ack.properties.and_then(|p| p.response_information))
    }
    let k = Komar::start();
    assert_eq!(info(k.port, None).await.1, None);
    assert_eq!(info(k.port, Some(0)).await.1, None);
    let custom = Komar::start_with_config(
        "listener {port} 127.0.0.1\nallow_anonymous true\nresponse_information_prefix replies/\n",
    );
    let (id, got) = info(custom.port, Some(1)).await;
    assert_eq!(got, Some(format!("replies/{id}")));
    let off = Komar::start_with_config(
        "listener {port} 127.0.0.1\nallow_anonymous true\nresponse_information_prefix none\n",
    );
    assert_eq!(info(off.port, Some(1)).await.1, None);
}

/// Payload Format Indicator (1 and 0) and Content Type reach the
/// subscriber as sent; User Properties too, in order, repeated keys kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn format_content_type_and_user_properties_pass_through() {
    let k = Komar::start();
    let t = unique("fmt");
    let (mut s, _) = C5::connect(options(&unique("s"), k.port)).await;
    s.sub(&t, QoS::AtLeastOnce).await;
    let (p, _) = C5::connect(options(&unique("p"), k.port)).await;
    let users: Vec<(String, String)> = [
        ("a", "1"),
        ("b", "2"),
        ("a", "3"),
        ("ключ", "значение"),
        ("", ""),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let sent = [
        PublishProperties {
            payload_format_indicator: Some(1),
            content_type: Some("application/json".into()),
            user_properties: users.clone(),
            ..Default::default()
        },
        PublishProperties {
            payload_format_indicator: Some(0),
            content_type: Some("application/octet-stream".into()),
            ..Default::default()
        },
    ];
    let payloads: [&[u8]; 2] = [b"{\"x\":1}", b"\xff\x00\xfe"];
    for (props, payload) in sent.iter().zip(payloads) {
        p.publish_with_properties(&t, QoS::AtLeastOnce, false, payload.to_vec(), props.clone())
            .await
            .unwrap();
    }
    let got = s.publishes(2).await;
    for ((m, props), payload) in got.iter().zip(&sent).zip(payloads) {
        assert_eq!(m.payload.as_ref(), payload);
        let r = props_of(m);
        assert_eq!(r.payload_format_indicator, props.payload_format_indicator);
        assert_eq!(r.content_type, props.content_type);
        assert_eq!(r.user_properties, props.user_properties);
    }
}

/// Payload Format Indicator 1 with a payload that is not UTF-8: PUBACK /
/// PUBREC 0x99 Payload format invalid, and the message goes nowhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_payload_is_refused_with_0x99() {
    let k = Komar::start();
    let t = unique("pfi");
    let (mut s, _) = C5::connect(options(&unique("s"), k.port)).await;
    s.sub(&t, QoS::AtLeastOnce).await;
    for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let (mut p, _) = C5::connect(options(&unique("p"), k.port)).await;
        let props = PublishProperties {
            payload_format_indicator: Some(1),
            ..Default::default()
        };
        p.publish_with_properties(&t, qos, false, b"\xc3\x28".to_vec(), props)
            .await
            .unwrap();
        // rumqttc reports a failed acknowledgement as an error.
        match p.error().await {
            ConnectionError::MqttState(StateError::PubAckFail { reason }) => {
                assert_eq!(
                    (qos, reason),
                    (QoS::AtLeastOnce, PubAckReason::PayloadFormatInvalid)
                )
            }
            ConnectionError::MqttState(StateError::PubRecFail { reason }) => {
                assert_eq!(
                    (qos, reason),
                    (QoS::ExactlyOnce, PubRecReason::PayloadFormatInvalid)
                )
            }
            e => panic!("expected a 0x99 acknowledgement, got {e}"),
        }
    }
    sentinel(k.port, &t, "sentinel").await;
    assert!(s.until_sentinel(b"sentinel").await.is_empty());
}

/// Reason Strings: on a failed PUBACK / PUBREC while Request Problem
/// Information is 1 (the default), never when it is 0 — rumqttc does not
/// show acknowledgement properties, so the raw client checks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reason_strings_follow_request_problem_information() {
    let k = Komar::start();
    let t = unique("rs");
    let bad = v5_support::p_u8(0x01, 1);
    for (problem_info, want_string) in [(None, true), (Some(1), true), (Some(0), false)] {
        let mut c = Connect::new(5, &unique("raw"));
        if let Some(v) = problem_info {
            c.props.extend(v5_support::p_u8(0x17, v));
        }
        let (mut r, _) = Raw::connect(k.port, &c).await;
        for (qos, kind) in [(1, raw::PUBACK), (2, raw::PUBREC)] {
            r.send_ok(&v5_support::publish(&t, qos, 7, false, &bad, b"\xff\xfe"))
                .await;
            let f = r.expect(kind).await;
            let (pid, reason, props) = v5_support::parse_ack(&f);
            assert_eq!((pid, reason), (7, 0x99));
            assert_eq!(
                props.has(0x1F),
                want_string,
                "Request Problem Information {problem_info:?}: {props:?}"
            );
            assert!(
                !props.has(0x26) || want_string,
                "user properties need permission too"
            );
        }
    }
}

/// A Reason String that would make the acknowledgement larger than the
/// client's Maximum Packet Size is left out [MQTT-3.4.2-2] (raw).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reason_string_never_exceeds_the_clients_maximum_packet_size() {
    let k = Komar::start();
    let mut c = Connect::new(5, &unique("raw"));
    c.props.extend(p_u32(0x27, 30));
    let (mut r, _) = Raw::connect(k.port, &c).await;
    r.send_ok(&v5_support::publish(
        "rs/x",
        1,
        7,
        false,
        &v5_support::p_u8(0x01, 1),
        b"\xff",
    ))
    .await;
    let f = r.expect(raw::PUBACK).await;
    let (pid, reason, props) = v5_support::parse_ack(&f);
    assert_eq!((pid, reason), (7, 0x99));
    let size = 1 + raw::varint(f.body.len()).len() + f.body.len();
    assert!(
        size <= 30,
        "a {size}-byte PUBACK to a client allowing 30: {props:?}"
    );
}

/// Remaining Message Expiry Interval on live delivery; no interval when
/// the publisher gave none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_expiry_interval_is_passed_on() {
    let k = Komar::start();
    let t = unique("exp");
    let (mut s, _) = C5::connect(options(&unique("s"), k.port)).await;
    s.sub(&t, QoS::AtLeastOnce).await;
    let (p, _) = C5::connect(options(&unique("p"), k.port)).await;
    let props = PublishProperties {
        message_expiry_interval: Some(100),
        ..Default::default()
    };
    p.publish_with_properties(&t, QoS::AtLeastOnce, false, "e", props)
        .await
        .unwrap();
    p.publish(&t, QoS::AtLeastOnce, false, "forever")
        .await
        .unwrap();
    let got = s.publishes(2).await;
    assert_eq!(props_of(&got[0]).message_expiry_interval, Some(100));
    assert_eq!(props_of(&got[1]).message_expiry_interval, None);
}

/// A message delivered at once keeps its whole Message Expiry Interval
/// (it waited milliseconds, not a second, in the server).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn immediate_delivery_keeps_the_whole_expiry_interval() {
    let k = Komar::start();
    let t = unique("exp");
    let (mut s, _) = C5::connect(options(&unique("s"), k.port)).await;
    s.sub(&t, QoS::AtLeastOnce).await;
    let (p, _) = C5::connect(options(&unique("p"), k.port)).await;
    let props = PublishProperties {
        message_expiry_interval: Some(2),
        ..Default::default()
    };
    p.publish_with_properties(&t, QoS::AtLeastOnce, false, "e", props)
        .await
        .unwrap();
    let m = s.next().await;
    assert_eq!(props_of(&m).message_expiry_interval, Some(2));
}

/// A persistent session that is offline (proven by its will, published
/// once the broker let go of the connection) keeps its queued messages but
/// drops the expired one; the others arrive with the remaining interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_messages_leave_an_offline_sessions_queue() {
    let k = Komar::start();
    let t = unique("q");
    let gone = unique("gone");
    let (mut watcher, _) = C5::connect(options(&unique("w"), k.port)).await;
    watcher.sub(&gone, QoS::AtLeastOnce).await;

    let id = unique("offline");
    let session = |port| {
        let mut o = options(&id, port);
        o.set_clean_start(false);
        o.set_connect_properties(rumqttc::v5::mqttbytes::v5::ConnectProperties {
            session_expiry_interval: Some(60),
            ..rumqttc::v5::mqttbytes::v5::ConnectProperties::new()
        });
        o
    };
    let mut o = session(k.port);
    o.set_last_will(LastWill::new(
        &gone,
        "offline",
        QoS::AtLeastOnce,
        false,
        None,
    ));
    let (mut s, _) = C5::connect(o).await;
    s.sub(&format!("{t}/#"), QoS::AtLeastOnce).await;
    s.abort();
    watcher.next().await; // the will: the session is offline now

    let (mut p, _) = C5::connect(options(&unique("p"), k.port)).await;
    for (topic, expiry) in [("short", Some(1)), ("long", Some(100)), ("forever", None)] {
        let props = PublishProperties {
            message_expiry_interval: expiry,
            ..Default::default()
        };
        p.publish_with_properties(
            format!("{t}/{topic}"),
            QoS::AtLeastOnce,
            false,
            topic,
            props,
        )
        .await
        .unwrap();
    }
    p.acks(3, puback).await;
    let published = Instant::now();
    tokio::time::sleep_until((published + Duration::from_millis(2100)).into()).await;

    let (mut s, ack) = C5::connect(session(k.port)).await;
    assert!(ack.session_present);
    sentinel(k.port, &format!("{t}/end"), "end").await;
    let got = s.until_sentinel(b"end").await;
    let seen: Vec<(String, Option<u32>)> = got
        .iter()
        .map(|m| (topic_of(m), props_of(m).message_expiry_interval))
        .collect();
    assert_eq!(seen.len(), 2, "short expired: {seen:?}");
    assert_eq!(seen[0].0, format!("{t}/long"));
    let left = seen[0].1.expect("interval");
    assert!(
        (90..=98).contains(&left),
        "the time spent queued is deducted: {left}"
    );
    assert_eq!(seen[1], (format!("{t}/forever"), None));
}

/// Expired retained messages are no longer given to new subscribers; the
/// others carry the remaining interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_retained_messages_are_dropped() {
    let k = Komar::start();
    let t = unique("ret");
    let (mut p, _) = C5::connect(options(&unique("p"), k.port)).await;
    for (topic, expiry) in [("short", 1), ("long", 100)] {
        let props = PublishProperties {
            message_expiry_interval: Some(expiry),
            ..Default::default()
        };
        p.publish_with_properties(format!("{t}/{topic}"), QoS::AtLeastOnce, true, topic, props)
            .await
            .unwrap();
    }
    p.acks(2, puback).await;
    let published = Instant::now();
    // Before expiry both are there.
    let (mut early, _) = C5::connect(options(&unique("early"), k.port)).await;
    early.sub(&format!("{t}/#"), QoS::AtLeastOnce).await;
    assert_eq!(early.publishes(2).await.len(), 2);
    tokio::time::sleep_until((published + Duration::from_millis(2100)).into()).await;
    let (mut s, _) = C5::connect(options(&unique("s"), k.port)).await;
    s.sub(&format!("{t}/#"), QoS::AtLeastOnce).await;
    sentinel(k.port, &format!("{t}/end"), "end").await;
    let got = s.until_sentinel(b"end").await;
    assert_eq!(got.len(), 1, "only the unexpired one: {got:?}");
    assert_eq!(topic_of(&got[0]), format!("{t}/long"));
    assert!(got[0].retain);
    let left = props_of(&got[0]).message_expiry_interval.expect("interval");
    assert!((90..=98).contains(&left), "remaining {left}");
}

// ---------------------------------------------------------------------
// paho-mqtt (tests/py/v5_properties.py)
// ---------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_request_response() {
    let k = Komar::start();
    let out = paho("v5_properties.py", k.port, "request_response", &[]).await;
    assert_eq!(out.get("correlation"), "00016b6f7272ff");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_response_information() {
    let k = Komar::start();
    paho("v5_properties.py", k.port, "response_info", &["response/"]).await;
    let custom = Komar::start_with_config(
        "listener {port} 127.0.0.1\nallow_anonymous true\nresponse_information_prefix replies/\n",
    );
    paho(
        "v5_properties.py",
        custom.port,
        "response_info",
        &["replies/"],
    )
    .await;
    let off = Komar::start_with_config(
        "listener {port} 127.0.0.1\nallow_anonymous true\nresponse_information_prefix none\n",
    );
    let out = paho("v5_properties.py", off.port, "response_info", &["none"]).await;
    assert_eq!(out.get("info"), "None");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_format_content_type_and_user_properties() {
    let k = Komar::start();
    let out = paho("v5_properties.py", k.port, "format_and_user_props", &[]).await;
    assert_eq!(out.get("users"), "a=1,b=2,a=3,ключ=значение,=");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_invalid_utf8_payload_is_refused_with_0x99() {
    let k = Komar::start();
    let out = paho("v5_properties.py", k.port, "invalid_utf8", &[]).await;
    // QoS 2: paho reports the PUBCOMP 0x92 that answers its PUBREL after the
    // PUBREC 0x99 (see the script).
    assert_eq!(out.get("acks"), "1:153 2:146");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_reason_strings_follow_request_problem_information() {
    let k = Komar::start();
    let out = paho("v5_properties.py", k.port, "reason_strings", &[]).await;
    assert_eq!(out.get("reason_string"), "default:yes 1:yes 0:no");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_message_expiry() {
    let k = Komar::start();
    let out = paho("v5_properties.py", k.port, "expiry", &[]).await;
    assert_eq!(out.get("queued"), "long,forever");
    assert_eq!(out.get("retained"), "long");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_reason_string_never_exceeds_the_clients_maximum_packet_size() {
    let k = Komar::start();
    let out = paho("v5_properties.py", k.port, "reason_string_size", &[]).await;
    assert_eq!(out.get("reason_string"), "no");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_immediate_delivery_keeps_the_whole_expiry_interval() {
    let k = Komar::start();
    let out = paho("v5_properties.py", k.port, "immediate_expiry", &[]).await;
    assert_eq!(out.get("left"), "2");
}
