//! Fan-in under load: many publishers, one wildcard subscriber, QoS 2 end
//! to end. Every (publisher, sequence) pair must arrive exactly once — no
//! loss (QoS 2 is acknowledged), no duplicate (exactly once) — within a
//! bounded time, with the broker's back-pressure (bounded queues) in play.

mod common;

use std::time::{Duration, Instant};

use common::{unique, v4, v5, Komar};

/// Fails the test (rather than hanging) past this.
const LIMIT: Duration = Duration::from_secs(120);

/// Record `payload` (`"<publisher>-<seq>"`) in `seen`; returns false for a
/// duplicate.
fn record(seen: &mut [Vec<bool>], payload: &[u8]) -> bool {
    let text = std::str::from_utf8(payload).expect("UTF-8 payload");
    let (p, n) = text.split_once('-').expect("<publisher>-<seq>");
    let slot = &mut seen[p.parse::<usize>().unwrap()][n.parse::<usize>().unwrap()];
    !std::mem::replace(slot, true)
}

fn missing(seen: &[Vec<bool>]) -> usize {
    seen.iter().flatten().filter(|s| !**s).count()
}

/// Receive `total` QoS 2 publishes on a 3.1.1 subscriber.
async fn receive_v4(mut el: rumqttc::EventLoop, publishers: usize, per: usize) -> Vec<Vec<bool>> {
    use rumqttc::{Event, Packet, QoS};
    let mut seen = vec![vec![false; per]; publishers];
    let mut got = 0;
    let r = tokio::time::timeout(LIMIT, async {
        while got < publishers * per {
            if let Event::Incoming(Packet::Publish(p)) =
                el.poll().await.expect("subscriber connection")
            {
                assert_eq!(p.qos, QoS::ExactlyOnce);
                assert!(record(&mut seen, &p.payload), "duplicate {:?}", p.payload);
                got += 1;
            }
        }
    })
    .await;
    if r.is_err() {
        panic!(
            "3.1.1 subscriber: {got} of {} after {LIMIT:?}",
            publishers * per
        );
    }
    seen
}

/// Receive `total` QoS 2 publishes on a 5.0 subscriber.
async fn receive_v5(
    mut el: rumqttc::v5::EventLoop,
    publishers: usize,
    per: usize,
) -> Vec<Vec<bool>> {
    use rumqttc::v5::mqttbytes::v5::Packet;
    use rumqttc::v5::mqttbytes::QoS;
    use rumqttc::v5::Event;
    let mut seen = vec![vec![false; per]; publishers];
    let mut got = 0;
    let r = tokio::time::timeout(LIMIT, async {
        while got < publishers * per {
            if let Event::Incoming(Packet::Publish(p)) =
                el.poll().await.expect("subscriber connection")
            {
                assert_eq!(p.qos, QoS::ExactlyOnce);
                assert!(record(&mut seen, &p.payload), "duplicate {:?}", p.payload);
                got += 1;
            }
        }
    })
    .await;
    if r.is_err() {
        panic!(
            "5.0 subscriber: {got} of {} after {LIMIT:?}",
            publishers * per
        );
    }
    seen
}

/// Publish `per` QoS 2 messages as publisher `i` (3.1.1).
async fn publish_v4(port: u16, topic: String, i: usize, per: usize) {
    let (c, el, _) = v4::connect(v4::options(&unique("pub"), port)).await;
    let _driver = v4::drive(el);
    for n in 0..per {
        c.publish(
            format!("{topic}/{i}"),
            rumqttc::QoS::ExactlyOnce,
            false,
            format!("{i}-{n}"),
        )
        .await
        .unwrap();
    }
    // Keep the connection (and its driver) until the messages are through:
    // a clean DISCONNECT after the last request.
    c.disconnect().await.unwrap();
    let _ = _driver.await;
}

/// Publish `per` QoS 2 messages as publisher `i` (5.0).
async fn publish_v5(port: u16, topic: String, i: usize, per: usize) {
    let (c, el, _) = v5::connect(v5::options(&unique("pub"), port)).await;
    let driver = v5::drive(el);
    for n in 0..per {
        c.publish(
            format!("{topic}/{i}"),
            rumqttc::v5::mqttbytes::QoS::ExactlyOnce,
            false,
            format!("{i}-{n}"),
        )
        .await
        .unwrap();
    }
    c.disconnect().await.unwrap();
    let _ = driver.await;
}

/// 10 publishers × 20,000 QoS 2 messages → one `topic/+` subscriber:
/// exactly 200,000 delivered, each (publisher, sequence) once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_publishers_one_subscriber_qos2_v311() {
    const PUBLISHERS: usize = 10;
    const PER: usize = 20_000;
    let k = Komar::start();
    let topic = unique("fanin");
    let (c, mut el, _) = v4::connect(v4::options(&unique("sub"), k.port)).await;
    c.subscribe(format!("{topic}/+"), rumqttc::QoS::ExactlyOnce)
        .await
        .unwrap();
    v4::suback(&mut el).await;
    let start = Instant::now();
    let receiver = tokio::spawn(receive_v4(el, PUBLISHERS, PER));
    let pubs: Vec<_> = (0..PUBLISHERS)
        .map(|i| tokio::spawn(publish_v4(k.port, topic.clone(), i, PER)))
        .collect();
    let seen = receiver.await.expect("receiver");
    for p in pubs {
        p.await.expect("publisher");
    }
    assert_eq!(missing(&seen), 0);
    eprintln!(
        "fan-in 3.1.1: {} QoS 2 messages in {:?}",
        PUBLISHERS * PER,
        start.elapsed()
    );
}

/// Mixed versions: 5 × 3.1.1 and 5 × 5.0 publishers, 2,000 QoS 2 messages
/// each, to one 5.0 and one 3.1.1 wildcard subscriber: each gets all
/// 20,000, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_versions_qos2() {
    const PUBLISHERS: usize = 10;
    const PER: usize = 2_000;
    let k = Komar::start();
    let topic = unique("mixed");
    let (c5, mut el5, _) = v5::connect(v5::options(&unique("sub5"), k.port)).await;
    c5.subscribe(
        format!("{topic}/#"),
        rumqttc::v5::mqttbytes::QoS::ExactlyOnce,
    )
    .await
    .unwrap();
    v5::suback(&mut el5).await;
    let (c4, mut el4, _) = v4::connect(v4::options(&unique("sub4"), k.port)).await;
    c4.subscribe(format!("{topic}/+"), rumqttc::QoS::ExactlyOnce)
        .await
        .unwrap();
    v4::suback(&mut el4).await;
    let start = Instant::now();
    let r5 = tokio::spawn(receive_v5(el5, PUBLISHERS, PER));
    let r4 = tokio::spawn(receive_v4(el4, PUBLISHERS, PER));
    let pubs: Vec<_> = (0..PUBLISHERS)
        .map(|i| {
            if i % 2 == 0 {
                tokio::spawn(publish_v4(k.port, topic.clone(), i, PER))
            } else {
                tokio::spawn(publish_v5(k.port, topic.clone(), i, PER))
            }
        })
        .collect();
    assert_eq!(missing(&r5.await.expect("5.0 receiver")), 0);
    assert_eq!(missing(&r4.await.expect("3.1.1 receiver")), 0);
    for p in pubs {
        p.await.expect("publisher");
    }
    eprintln!(
        "fan-in mixed: {} QoS 2 messages to two subscribers in {:?}",
        PUBLISHERS * PER,
        start.elapsed()
    );
}
