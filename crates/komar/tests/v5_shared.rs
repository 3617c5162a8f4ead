//! MQTT 5 shared subscriptions (`$share/{group}/{filter}`, §4.8.2) through
//! rumqttc v5 / v4 and paho-mqtt (tests/py/v5_shared.py): each strategy
//! (`shared_subscription_strategy round_robin | random | sticky`), a message
//! to exactly one member, members speaking 3.1.1, a departed member's
//! unacknowledged QoS 1/2 messages given to another member, and 30,000
//! QoS 1 messages over 3 members (exactly once, ±10 % per member).
//!
//! "Everything has arrived" is proven per member with a sentinel on a topic
//! only that member subscribes to: the broker queues per session in order,
//! so once the sentinel arrives every earlier message for the member has.

mod common;
mod v5_support;

use std::collections::BTreeSet;
use std::time::Instant;

use common::{unique, Komar};
use rumqttc::v5::mqttbytes::v5::{Packet, Publish};
use rumqttc::v5::mqttbytes::QoS;
use v5_support::{options, paho, C5};

/// A broker with `shared_subscription_strategy <strategy>`.
fn broker(strategy: &str) -> common::config::Configured {
    Komar::start_with_config(&format!(
        "listener {{port}} 127.0.0.1\nallow_anonymous true\nshared_subscription_strategy {strategy}\n"
    ))
}

/// A member of a shared group, with a private end topic for its sentinel.
struct Member {
    c: C5,
    end: String,
}

/// `n` rumqttc v5 members of `$share/<group>/<filter>` at `qos`.
async fn members(port: u16, n: usize, share: &str, qos: QoS) -> Vec<Member> {
    let mut v = Vec::new();
    for _ in 0..n {
        let (mut c, _) = C5::connect(options(&unique("member"), port)).await;
        c.sub(share, qos).await;
        let end = unique("end");
        c.sub(&end, QoS::AtLeastOnce).await;
        v.push(Member { c, end });
    }
    v
}

/// Everything each member received up to its sentinel.
async fn drain(port: u16, members: &mut [Member]) -> Vec<Vec<Publish>> {
    let mut out = Vec::new();
    for m in members.iter_mut() {
        v5_support::sentinel(port, &m.end, "end").await;
        out.push(m.c.until_sentinel(b"end").await);
    }
    out
}

/// Publish payloads `from..to` (decimal) on `topic` at `qos` and wait for
/// every acknowledgement (PUBACK, or PUBCOMP for QoS 2).
async fn publish_seq(p: &mut C5, topic: &str, from: usize, to: usize, qos: QoS) {
    for i in from..to {
        p.publish(topic, qos, false, i.to_string()).await.unwrap();
    }
    for _ in from..to {
        p.until(|k| match qos {
            QoS::ExactlyOnce => matches!(k, Packet::PubComp(_)),
            _ => matches!(k, Packet::PubAck(_)),
        })
        .await;
    }
}

fn seq(p: &Publish) -> usize {
    std::str::from_utf8(&p.payload)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a sequence number: {p:?}"))
}

/// Check every sequence number `0..n` arrived exactly once over all
/// members; returns the count per member.
fn exactly_once(got: &[Vec<Publish>], n: usize) -> Vec<usize> {
    let seqs: Vec<Vec<usize>> = got.iter().map(|g| g.iter().map(seq).collect()).collect();
    exactly_once_seqs(&seqs, n)
}

/// [`exactly_once`] on sequence numbers.
fn exactly_once_seqs(got: &[Vec<usize>], n: usize) -> Vec<usize> {
    let mut seen = vec![0u32; n];
    for &s in got.iter().flatten() {
        assert!(s < n, "sequence {s} was never published");
        seen[s] += 1;
    }
    let wrong: Vec<(usize, u32)> = seen
        .iter()
        .enumerate()
        .filter(|(_, c)| **c != 1)
        .map(|(i, c)| (i, *c))
        .take(10)
        .collect();
    assert!(
        wrong.is_empty(),
        "(sequence, times delivered) not once: {wrong:?}"
    );
    got.iter().map(Vec::len).collect()
}

/// Default strategy (round robin): members in turn, each message to
/// exactly one member; a plain subscription to the same topics still gets
/// every message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_robin_is_the_default_and_gives_each_member_its_turn() {
    let k = Komar::start();
    let t = unique("rr");
    let mut group = members(k.port, 3, &format!("$share/g/{t}/+"), QoS::AtLeastOnce).await;
    let (mut plain, _) = C5::connect(options(&unique("plain"), k.port)).await;
    plain.sub(&format!("{t}/#"), QoS::AtLeastOnce).await;
    let (mut p, _) = C5::connect(options(&unique("pub"), k.port)).await;
    publish_seq(&mut p, &format!("{t}/x"), 0, 30, QoS::AtLeastOnce).await;
    let got = drain(k.port, &mut group).await;
    assert_eq!(exactly_once(&got, 30), vec![10, 10, 10]);
    // Each member got every third message.
    for g in &got {
        let s: Vec<usize> = g.iter().map(seq).collect();
        assert!(s.windows(2).all(|w| w[1] == w[0] + 3), "not in turn: {s:?}");
    }
    assert_eq!(plain.publishes(30).await.len(), 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_gives_each_message_to_exactly_one_member() {
    let k = broker("random");
    let t = unique("rnd");
    let mut group = members(k.port, 3, &format!("$share/g/{t}"), QoS::AtLeastOnce).await;
    let (mut p, _) = C5::connect(options(&unique("pub"), k.port)).await;
    publish_seq(&mut p, &t, 0, 90, QoS::AtLeastOnce).await;
    let got = drain(k.port, &mut group).await;
    let counts = exactly_once(&got, 90);
    // Chance that a fair random choice leaves a member out of 90: ~3e-16.
    assert!(
        counts.iter().all(|&c| c > 0),
        "a member got nothing: {counts:?}"
    );
    // Nor is it round robin in disguise: that 90 fair choices repeat with
    // period 3 has a chance of 3^-87.
    let mut member_of = [0usize; 90];
    for (m, g) in got.iter().enumerate() {
        for p in g {
            member_of[seq(p)] = m;
        }
    }
    assert!(
        member_of.windows(4).any(|w| w[0] != w[3]),
        "members chosen in a fixed cycle: {member_of:?}"
    );
}

/// Sticky: all messages of one publisher go to one member.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sticky_keeps_each_publisher_on_one_member() {
    let k = broker("sticky");
    let t = unique("sticky");
    let mut group = members(k.port, 3, &format!("$share/g/{t}"), QoS::AtLeastOnce).await;
    let mut publishers = Vec::new();
    for _ in 0..4 {
        publishers.push(C5::connect(options(&unique("pub"), k.port)).await.0);
    }
    for (i, p) in publishers.iter_mut().enumerate() {
        publish_seq(p, &t, i * 20, i * 20 + 20, QoS::AtLeastOnce).await;
    }
    let got = drain(k.port, &mut group).await;
    exactly_once(&got, 80);
    for i in 0..4 {
        let holders: Vec<usize> = got
            .iter()
            .enumerate()
            .filter(|(_, g)| g.iter().any(|p| seq(p) / 20 == i))
            .map(|(m, _)| m)
            .collect();
        assert_eq!(
            holders.len(),
            1,
            "publisher {i} spread over members {holders:?}"
        );
        assert_eq!(
            got[holders[0]].iter().filter(|p| seq(p) / 20 == i).count(),
            20
        );
    }
}

/// 3.1.1 clients (rumqttc v4) share a group with a v5 client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v311_members_share_with_v5_members() {
    use common::v4;
    use rumqttc::QoS as Q4;
    let k = Komar::start();
    let t = unique("v311");
    let share = format!("$share/g/{t}");
    let mut v4s = Vec::new();
    for _ in 0..2 {
        let (c, mut el, _) = v4::connect(v4::options(&unique("m4"), k.port)).await;
        let end = unique("end");
        c.subscribe_many([
            rumqttc::SubscribeFilter::new(share.clone(), Q4::AtLeastOnce),
            rumqttc::SubscribeFilter::new(end.clone(), Q4::AtLeastOnce),
        ])
        .await
        .unwrap();
        let ack = v4::suback(&mut el).await;
        assert_eq!(
            ack.return_codes,
            vec![rumqttc::SubscribeReasonCode::Success(Q4::AtLeastOnce); 2]
        );
        v4s.push((c, el, end));
    }
    let mut v5m = members(k.port, 1, &share, QoS::AtLeastOnce).await;
    let (c, mut el, _) = v4::connect(v4::options(&unique("p4"), k.port)).await;
    for i in 0..30 {
        c.publish(&t, Q4::AtLeastOnce, false, i.to_string())
            .await
            .unwrap();
    }
    for _ in 0..30 {
        v4::until(&mut el, |p| matches!(p, rumqttc::Packet::PubAck(_))).await;
    }
    let mut got: Vec<Vec<usize>> = drain(k.port, &mut v5m)
        .await
        .iter()
        .map(|g| g.iter().map(seq).collect())
        .collect();
    for (_, el, end) in v4s.iter_mut() {
        v5_support::sentinel(k.port, end, "end").await;
        let mut mine = Vec::new();
        loop {
            let p = v4::next(el).await;
            if p.payload.as_ref() == b"end" {
                break;
            }
            mine.push(std::str::from_utf8(&p.payload).unwrap().parse().unwrap());
        }
        got.push(mine);
    }
    assert_eq!(exactly_once_seqs(&got, 30), vec![10, 10, 10]);
}

/// A member that disconnects without acknowledging: its QoS 1 / QoS 2
/// messages in flight go to the other member, once each (§4.8.2).
async fn departed_member_redistributes(qos: QoS) {
    let k = Komar::start();
    let t = unique("redis");
    let share = format!("$share/g/{t}");
    let mut o = options(&unique("quitter"), k.port);
    o.set_manual_acks(true);
    let (mut quitter, _) = C5::connect(o).await;
    quitter.sub(&share, qos).await;
    let mut stayer = members(k.port, 1, &share, qos).await;
    let (mut p, _) = C5::connect(options(&unique("pub"), k.port)).await;
    publish_seq(&mut p, &t, 0, 20, qos).await;
    // The quitter holds its 10 unacknowledged (no PUBACK / PUBREC).
    let held: BTreeSet<usize> = quitter.publishes(10).await.iter().map(seq).collect();
    assert_eq!(held.len(), 10);
    quitter.abort();
    let mut all = BTreeSet::new();
    while all.len() < 20 {
        let m = stayer[0].c.next().await;
        assert!(all.insert(seq(&m)), "{} twice", seq(&m));
    }
    // Nothing more (no duplicate) before the sentinel.
    let rest = drain(k.port, &mut stayer).await;
    assert!(rest[0].is_empty(), "duplicates: {:?}", rest[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn departed_member_qos1_messages_go_to_another_member() {
    departed_member_redistributes(QoS::AtLeastOnce).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn departed_member_qos2_messages_go_to_another_member() {
    departed_member_redistributes(QoS::ExactlyOnce).await;
}

/// The acceptance test: 3 members, 30,000 QoS 1 messages, every
/// one delivered exactly once across the group, each member within ±10 %
/// of a third (round robin).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_thousand_qos1_messages_over_three_members() {
    const N: usize = 30_000;
    let k = Komar::start();
    let t = unique("big");
    let mut group = members(k.port, 3, &format!("$share/workers/{t}"), QoS::AtLeastOnce).await;
    let (mut p, _) = C5::connect(options(&unique("pub"), k.port)).await;
    let start = Instant::now();
    publish_seq(&mut p, &t, 0, N, QoS::AtLeastOnce).await;
    let got = drain(k.port, &mut group).await;
    let elapsed = start.elapsed();
    let counts = exactly_once(&got, N);
    for c in &counts {
        let share = *c as f64 / (N as f64 / 3.0);
        assert!((0.9..=1.1).contains(&share), "uneven spread {counts:?}");
    }
    eprintln!("30,000 QoS 1 over 3 members (rumqttc): {counts:?} in {elapsed:?}");
}

// ---------------------------------------------------------------------
// paho-mqtt (tests/py/v5_shared.py)
// ---------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_round_robin() {
    let k = broker("round_robin");
    let out = paho("v5_shared.py", k.port, "strategy", &["round_robin"]).await;
    assert_eq!(out.get("counts"), "10,10,10");
}

/// Random, exactly once; 60 messages so that a fair choice leaves no member
/// out (chance ~1e-10).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_random() {
    let k = broker("random");
    let out = paho("v5_shared.py", k.port, "strategy", &["random"]).await;
    assert_eq!(out.get("total"), "60");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_sticky() {
    let k = broker("sticky");
    let out = paho("v5_shared.py", k.port, "sticky", &[]).await;
    assert_eq!(out.get("holders"), "1,1,1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_v311_and_v5_members() {
    let k = Komar::start();
    let out = paho("v5_shared.py", k.port, "mixed_members", &[]).await;
    assert_eq!(out.get("counts"), "10,10,10");
}

/// The 30,000-message acceptance test through paho-mqtt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_thirty_thousand_qos1_messages_over_three_members() {
    let k = Komar::start();
    let out = paho("v5_shared.py", k.port, "big", &["30000"]).await;
    assert_eq!(out.get("counts"), "10000,10000,10000");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_departed_member_qos1_messages_go_to_another_member() {
    let k = Komar::start();
    let out = paho("v5_shared.py", k.port, "redistribute", &[]).await;
    assert_eq!(out.get("stayer"), "20");
}
