//! MQTT 5 subscription features through rumqttc v5 and paho-mqtt
//! (tests/py/v5_subscribe.py): Subscription Identifiers (§3.8.2.1.2), also
//! several on one message from overlapping subscriptions [MQTT-3.3.4-3];
//! the options No Local [MQTT-3.8.3-3], Retain As Published
//! [MQTT-3.3.1-12] and Retain Handling 0 / 1 / 2 [MQTT-3.3.1-9..11].
//!
//! "Not delivered" is proven with a sentinel published after it: the
//! broker keeps each session's messages in order.

mod common;
mod v5_support;

use common::{unique, Komar};
use rumqttc::v5::mqttbytes::v5::{Filter, Packet, RetainForwardRule, SubscribeProperties};
use rumqttc::v5::mqttbytes::QoS;
use v5_support::{options, paho, sentinel, topic_of, C5};

fn with_id(id: usize) -> SubscribeProperties {
    SubscribeProperties {
        id: Some(id),
        user_properties: Vec::new(),
    }
}

fn ids(p: &rumqttc::v5::mqttbytes::v5::Publish) -> Vec<usize> {
    let mut v = p
        .properties
        .as_ref()
        .map(|p| p.subscription_identifiers.clone())
        .unwrap_or_default();
    v.sort_unstable();
    v
}

/// Overlapping subscriptions give one copy carrying every identifier;
/// a subscription without one adds none; a re-subscription replaces the
/// identifier; retained messages sent on subscribe carry it too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_identifiers_one_or_several() {
    let k = Komar::start();
    let t = unique("sid");
    let (mut c, _) = C5::connect(options(&unique("c"), k.port)).await;
    let (mut p, _) = C5::connect(options(&unique("p"), k.port)).await;
    p.publish(format!("{t}/kept"), QoS::AtLeastOnce, true, "kept")
        .await
        .unwrap();
    p.until(|k| matches!(k, Packet::PubAck(_))).await;

    c.subscribe_with_properties(format!("{t}/+"), QoS::AtMostOnce, with_id(1))
        .await
        .unwrap();
    c.suback().await;
    let kept = c.next().await;
    assert_eq!((kept.payload.as_ref(), ids(&kept)), (&b"kept"[..], vec![1]));
    c.subscribe_with_properties(format!("{t}/#"), QoS::AtLeastOnce, with_id(2))
        .await
        .unwrap();
    c.suback().await;
    assert_eq!(
        ids(&c.next().await),
        vec![2],
        "retained for the second filter"
    );
    // Without an identifier: adds none to the copy.
    c.sub(&format!("{t}/a"), QoS::AtMostOnce).await;

    for topic in ["a", "b", "x/y"] {
        p.publish(format!("{t}/{topic}"), QoS::AtLeastOnce, false, topic)
            .await
            .unwrap();
    }
    p.acks(3, puback).await;
    sentinel(k.port, &format!("{t}/x/end"), "end").await;
    let got = c.until_sentinel(b"end").await;
    let seen: Vec<(String, Vec<usize>, QoS)> =
        got.iter().map(|m| (topic_of(m), ids(m), m.qos)).collect();
    assert_eq!(
        seen,
        vec![
            // One copy at the highest granted QoS [MQTT-3.3.4-2].
            (format!("{t}/a"), vec![1, 2], QoS::AtLeastOnce),
            (format!("{t}/b"), vec![1, 2], QoS::AtLeastOnce),
            (format!("{t}/x/y"), vec![2], QoS::AtLeastOnce),
        ]
    );

    // Subscribing again replaces the identifier (§3.8.4).
    c.subscribe_with_properties(format!("{t}/+"), QoS::AtMostOnce, with_id(7))
        .await
        .unwrap();
    c.suback().await;
    let again = c.next().await;
    assert_eq!(
        (again.payload.as_ref(), ids(&again)),
        (&b"kept"[..], vec![7])
    );
    p.publish(format!("{t}/b"), QoS::AtLeastOnce, false, "b")
        .await
        .unwrap();
    assert_eq!(ids(&c.next().await), vec![2, 7]);
}

fn puback(p: &Packet) -> bool {
    matches!(p, Packet::PubAck(_))
}

fn payloads(v: &[rumqttc::v5::mqttbytes::v5::Publish]) -> Vec<String> {
    v.iter()
        .map(|p| String::from_utf8_lossy(&p.payload).into_owned())
        .collect()
}

/// No Local: a client's own messages do not come back on that
/// subscription; its other subscriptions and other publishers are
/// unaffected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_local() {
    let k = Komar::start();
    let t = unique("nl");
    let (mut c, _) = C5::connect(options(&unique("c"), k.port)).await;
    let mut f = Filter::new(format!("{t}/local"), QoS::AtLeastOnce);
    f.nolocal = true;
    c.subscribe_many(vec![f, Filter::new(format!("{t}/plain"), QoS::AtLeastOnce)])
        .await
        .unwrap();
    c.suback().await;
    for topic in ["local", "plain"] {
        c.publish(
            format!("{t}/{topic}"),
            QoS::AtLeastOnce,
            false,
            format!("own-{topic}"),
        )
        .await
        .unwrap();
    }
    c.acks(2, puback).await;
    sentinel(k.port, &format!("{t}/local"), "other").await;
    let got = c.until_sentinel(b"other").await;
    assert_eq!(payloads(&got), vec!["own-plain"]);
}

/// Retain As Published: set, a live retained message keeps RETAIN;
/// unset, RETAIN is cleared [MQTT-3.3.1-12]. Retained messages sent
/// because of a new subscription always have it [MQTT-3.3.1-9].
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retain_as_published() {
    let k = Komar::start();
    let t = unique("rap");
    let (mut keep, _) = C5::connect(options(&unique("keep"), k.port)).await;
    let mut f = Filter::new(&t, QoS::AtLeastOnce);
    f.preserve_retain = true;
    keep.subscribe_many(vec![f]).await.unwrap();
    keep.suback().await;
    let (mut clear, _) = C5::connect(options(&unique("clear"), k.port)).await;
    clear.sub(&t, QoS::AtLeastOnce).await;
    let (mut p, _) = C5::connect(options(&unique("p"), k.port)).await;
    p.publish(&t, QoS::AtLeastOnce, true, "live").await.unwrap();
    p.publish(&t, QoS::AtLeastOnce, false, "plain")
        .await
        .unwrap();
    p.acks(2, puback).await;
    let flags = |v: Vec<rumqttc::v5::mqttbytes::v5::Publish>| -> Vec<(String, bool)> {
        v.iter()
            .map(|m| (String::from_utf8_lossy(&m.payload).into_owned(), m.retain))
            .collect()
    };
    let want = |r| vec![("live".to_owned(), r), ("plain".to_owned(), false)];
    assert_eq!(flags(keep.publishes(2).await), want(true));
    assert_eq!(flags(clear.publishes(2).await), want(false));
    // A new subscription without the option still gets RETAIN set.
    let (mut late, _) = C5::connect(options(&unique("late"), k.port)).await;
    late.sub(&t, QoS::AtLeastOnce).await;
    let m = late.next().await;
    assert_eq!((m.payload.as_ref(), m.retain), (&b"live"[..], true));
}

/// Retain Handling 0 sends retained messages at every subscribe, 1 only
/// when the subscription is new, 2 never [MQTT-3.3.1-9..11].
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retain_handling_0_1_2() {
    let k = Komar::start();
    let t = unique("rh");
    let (mut p, _) = C5::connect(options(&unique("p"), k.port)).await;
    p.publish(&t, QoS::AtLeastOnce, true, "kept").await.unwrap();
    p.acks(1, puback).await;
    for (rule, first, again) in [
        (RetainForwardRule::OnEverySubscribe, 1, 1),
        (RetainForwardRule::OnNewSubscribe, 1, 0),
        (RetainForwardRule::Never, 0, 0),
    ] {
        let (mut c, _) = C5::connect(options(&unique("c"), k.port)).await;
        let mut counts = Vec::new();
        for _ in 0..2 {
            let mut f = Filter::new(&t, QoS::AtLeastOnce);
            f.retain_forward_rule = rule.clone();
            c.subscribe_many(vec![f]).await.unwrap();
            c.suback().await;
            sentinel(k.port, &t, "sentinel").await;
            let got = c.until_sentinel(b"sentinel").await;
            assert!(got
                .iter()
                .all(|m| m.payload.as_ref() == b"kept" && m.retain));
            counts.push(got.len());
        }
        assert_eq!(counts, vec![first, again], "retain handling {rule:?}");
    }
}

// ---------------------------------------------------------------------
// paho-mqtt (tests/py/v5_subscribe.py)
// ---------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_subscription_identifiers() {
    let k = Komar::start();
    let out = paho("v5_subscribe.py", k.port, "sub_ids", &[]).await;
    assert_eq!(out.get("ids"), "a:1+2 b:1+2 x/y:2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_no_local() {
    let k = Komar::start();
    let out = paho("v5_subscribe.py", k.port, "no_local", &[]).await;
    assert_eq!(out.get("got"), "own-plain");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_retain_as_published() {
    let k = Komar::start();
    let out = paho("v5_subscribe.py", k.port, "retain_as_published", &[]).await;
    assert_eq!(out.get("flags"), "keep:1 clear:0 late:1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_retain_handling_0_1_2() {
    let k = Komar::start();
    let out = paho("v5_subscribe.py", k.port, "retain_handling", &[]).await;
    assert_eq!(out.get("counts"), "0:1,1 1:1,0 2:0,0");
}
