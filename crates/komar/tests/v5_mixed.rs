//! Mixed protocol versions: a v3.1.1 publisher to a v5 subscriber and the
//! reverse, for retained messages, wills and QoS 2 — exact counts, through
//! rumqttc (v4 and v5 clients) and paho-mqtt (MQTTv311 and MQTTv5,
//! tests/py/v5_mixed.py). A sentinel from the publisher's side ends each
//! collection, so "exactly N" includes "no duplicates".

mod common;
mod v5_support;

use common::{unique, v4, Komar};
use rumqttc::v5::mqttbytes::v5::{LastWill, Packet};
use rumqttc::v5::mqttbytes::QoS as Q5;
use rumqttc::QoS as Q4;
use v5_support::{options, paho, C5};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum V {
    V311,
    V5,
}

/// A received message: (topic, payload, QoS, retain, dup).
type Msg = (String, String, u8, bool, bool);

/// A subscriber of either version.
enum Sub {
    V311(v4::Driven),
    V5(C5),
}

impl Sub {
    async fn new(v: V, port: u16, filter: &str) -> Sub {
        match v {
            V::V311 => {
                let mut c = v4::driven(v4::options(&unique("s4"), port)).await;
                c.subscribe(filter, Q4::ExactlyOnce).await.unwrap();
                c.until(|p| matches!(p, rumqttc::Packet::SubAck(_))).await;
                Sub::V311(c)
            }
            V::V5 => {
                let (mut c, _) = C5::connect(options(&unique("s5"), port)).await;
                c.sub(filter, Q5::ExactlyOnce).await;
                Sub::V5(c)
            }
        }
    }

    /// The next message.
    async fn next_msg(&mut self) -> Msg {
        match self {
            Sub::V311(c) => match c.until(|p| matches!(p, rumqttc::Packet::Publish(_))).await {
                rumqttc::Packet::Publish(p) => (
                    p.topic.clone(),
                    String::from_utf8_lossy(&p.payload).into_owned(),
                    p.qos as u8,
                    p.retain,
                    p.dup,
                ),
                _ => unreachable!(),
            },
            Sub::V5(c) => {
                let p = c.next().await;
                (
                    v5_support::topic_of(&p),
                    String::from_utf8_lossy(&p.payload).into_owned(),
                    p.qos as u8,
                    p.retain,
                    p.dup,
                )
            }
        }
    }

    /// Messages before the one with payload `sentinel`.
    async fn until_sentinel(&mut self, sentinel: &str) -> Vec<Msg> {
        let mut out = Vec::new();
        loop {
            let m = self.next_msg().await;
            if m.1 == sentinel {
                return out;
            }
            out.push(m);
        }
    }
}

/// Publish `(topic, payload, qos, retain)` in order from a client of
/// version `v`, then the QoS 1 `sentinel` on `sentinel_topic`; waits for
/// every flow to complete.
async fn publish(v: V, port: u16, msgs: &[(String, String, u8, bool)], sentinel_topic: &str) {
    let mut all = msgs.to_vec();
    all.push((sentinel_topic.to_owned(), "sentinel".to_owned(), 1, false));
    match v {
        V::V311 => {
            let (c, mut el, _) = v4::connect(v4::options(&unique("p4"), port)).await;
            let mut flows = 0;
            for (t, p, q, r) in &all {
                let qos = [Q4::AtMostOnce, Q4::AtLeastOnce, Q4::ExactlyOnce][usize::from(*q)];
                c.publish(t, qos, *r, p.clone()).await.unwrap();
                flows += usize::from(*q > 0);
            }
            for _ in 0..flows {
                v4::until(&mut el, |p| {
                    matches!(p, rumqttc::Packet::PubAck(_) | rumqttc::Packet::PubComp(_))
                })
                .await;
            }
        }
        V::V5 => {
            let (mut c, _) = C5::connect(options(&unique("p5"), port)).await;
            let mut flows = 0;
            for (t, p, q, r) in &all {
                let qos = [Q5::AtMostOnce, Q5::AtLeastOnce, Q5::ExactlyOnce][usize::from(*q)];
                c.publish(t, qos, *r, p.clone()).await.unwrap();
                flows += usize::from(*q > 0);
            }
            c.acks(flows, |p| {
                matches!(p, Packet::PubAck(_) | Packet::PubComp(_))
            })
            .await;
        }
    }
}

const BOTH_WAYS: [(V, V); 2] = [(V::V311, V::V5), (V::V5, V::V311)];

/// 200 QoS 2 messages arrive exactly once each, in order, at QoS 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos2_exactly_once_across_versions() {
    let k = Komar::start();
    for (from, to) in BOTH_WAYS {
        let t = unique("q2");
        let mut s = Sub::new(to, k.port, &format!("{t}/#")).await;
        let msgs: Vec<(String, String, u8, bool)> = (0..200)
            .map(|i| (format!("{t}/m"), i.to_string(), 2, false))
            .collect();
        publish(from, k.port, &msgs, &format!("{t}/end")).await;
        let got = s.until_sentinel("sentinel").await;
        let want: Vec<Msg> = (0..200)
            .map(|i| (format!("{t}/m"), i.to_string(), 2, false, false))
            .collect();
        assert_eq!(got, want, "{from:?} -> {to:?}");
    }
}

/// Retained messages set, replaced and cleared by one version are what a
/// new subscriber of the other version gets: exactly the live ones, with
/// RETAIN set, at min(published, granted) QoS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retained_across_versions() {
    let k = Komar::start();
    for (from, to) in BOTH_WAYS {
        let t = unique("ret");
        let r = |topic: &str, payload: &str, qos: u8| {
            (format!("{t}/{topic}"), payload.to_owned(), qos, true)
        };
        let msgs = vec![
            r("a", "a1", 1),
            r("b", "b1", 2),
            r("c", "c1", 0),
            r("d", "d1", 1),
            r("a", "a2", 2), // replaces a1
            r("d", "", 1),   // clears d
        ];
        publish(from, k.port, &msgs, &format!("{t}-end")).await;
        let mut s = Sub::new(to, k.port, &format!("{t}/#")).await;
        // The sentinel (not retained) comes after the retained messages.
        publish(from, k.port, &[], &format!("{t}/end")).await;
        let mut got = s.until_sentinel("sentinel").await;
        got.sort();
        let m = |topic: &str, payload: &str, qos: u8| {
            (format!("{t}/{topic}"), payload.to_owned(), qos, true, false)
        };
        assert_eq!(
            got,
            vec![m("a", "a2", 2), m("b", "b1", 2), m("c", "c1", 0)],
            "{from:?} -> {to:?}"
        );
    }
}

/// A will of one version reaches a subscriber of the other exactly once,
/// with its QoS; a retained will is then retained for new subscribers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wills_across_versions() {
    let k = Komar::start();
    for (from, to) in BOTH_WAYS {
        let t = unique("will");
        let mut s = Sub::new(to, k.port, &format!("{t}/#")).await;
        for (name, retain) in [("plain", false), ("kept", true)] {
            let topic = format!("{t}/{name}");
            match from {
                V::V311 => {
                    let mut o = v4::options(&unique("w4"), k.port);
                    o.set_last_will(rumqttc::LastWill::new(
                        &topic,
                        name,
                        Q4::ExactlyOnce,
                        retain,
                    ));
                    let (c, el, _) = v4::connect(o).await;
                    drop((c, el));
                }
                V::V5 => {
                    let mut o = options(&unique("w5"), k.port);
                    o.set_last_will(LastWill::new(&topic, name, Q5::ExactlyOnce, retain, None));
                    let (c, _) = C5::connect(o).await;
                    c.abort();
                }
            }
        }
        // Both wills are published once their connections are gone; the
        // sentinel follows them.
        let mut got = vec![s.next_msg().await, s.next_msg().await];
        publish(from, k.port, &[], &format!("{t}/end")).await;
        assert!(
            s.until_sentinel("sentinel").await.is_empty(),
            "a will twice"
        );
        got.sort();
        assert_eq!(
            got,
            vec![
                (format!("{t}/kept"), "kept".to_owned(), 2, false, false),
                (format!("{t}/plain"), "plain".to_owned(), 2, false, false),
            ],
            "{from:?} -> {to:?}"
        );
        let mut late = Sub::new(to, k.port, &format!("{t}/#")).await;
        publish(from, k.port, &[], &format!("{t}/end")).await;
        let kept = late.until_sentinel("sentinel").await;
        assert_eq!(
            kept,
            vec![(format!("{t}/kept"), "kept".to_owned(), 2, true, false)]
        );
    }
}

// ---------------------------------------------------------------------
// paho-mqtt (tests/py/v5_mixed.py)
// ---------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_mixed_versions() {
    let k = Komar::start();
    for (from, to) in [("4", "5"), ("5", "4")] {
        let out = paho("v5_mixed.py", k.port, "all", &[from, to]).await;
        assert_eq!(out.get("qos2"), "200");
        assert_eq!(out.get("retained"), "a=a2/2 b=b1/2 c=c1/0");
        assert_eq!(out.get("wills"), "kept/2 plain/2 retained:kept");
    }
}
