//! Wills (last will and testament): published when a connection ends
//! without DISCONNECT (socket closed, keep-alive timeout, take-over), not
//! after a normal DISCONNECT, published after v5 DISCONNECT 0x04, delayed by
//! the v5 Will Delay Interval and cancelled by a reconnect within it, and
//! published with its retain flag.
//!
//! "Not published" is proven with a sentinel on the will topic: once the
//! broker has certainly finished with the connection (its clean session's
//! subscription is gone, see `common::wait_unsubscribed`, or the broker's
//! own timer has fired a later will), the sentinel must be the next
//! message the observer receives.

mod common;

use std::time::{Duration, Instant};

use common::raw::{self, Connect, Raw, Will};
use common::{unique, v4, v5, Komar};
use rumqttc::QoS;

/// Publish `body` on `topic` from a fresh client and require that it is
/// the next message `el` receives.
async fn sentinel_is_next(port: u16, topic: &str, el: &mut rumqttc::EventLoop, what: &str) {
    let p = v4::driven(v4::options(&unique("sentinel"), port)).await;
    p.publish(topic, QoS::AtLeastOnce, false, "sentinel")
        .await
        .unwrap();
    let m = v4::next(el).await;
    assert_eq!(m.payload.as_ref(), b"sentinel", "{what}: got {m:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_when_socket_closes_v311() {
    let k = Komar::start();
    let w = unique("w");
    let (_oc, mut oel) = common::observer(k.port, &w).await;
    let mut o = v4::options(&unique("c"), k.port);
    o.set_last_will(rumqttc::LastWill::new(&w, "bye", QoS::AtLeastOnce, false));
    let (c, el, _) = v4::connect(o).await;
    drop((c, el));
    let m = v4::next(&mut oel).await;
    assert_eq!(
        (m.payload.as_ref(), m.qos, m.retain),
        (&b"bye"[..], QoS::AtLeastOnce, false)
    );
    sentinel_is_next(k.port, &w, &mut oel, "the will is published once").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_when_socket_closes_v5() {
    use rumqttc::v5::mqttbytes::v5::LastWill;
    use rumqttc::v5::mqttbytes::QoS as Q5;
    let k = Komar::start();
    let w = unique("w");
    let (_oc, mut oel) = common::observer(k.port, &w).await;
    let mut o = v5::options(&unique("c"), k.port);
    o.set_last_will(LastWill::new(&w, "bye", Q5::ExactlyOnce, false, None));
    let (c, el, _) = v5::connect(o).await;
    drop((c, el));
    let m = v4::next(&mut oel).await;
    assert_eq!((m.payload.as_ref(), m.qos), (&b"bye"[..], QoS::ExactlyOnce));
    sentinel_is_next(k.port, &w, &mut oel, "the will is published once").await;
}

/// DISCONNECT (3.1.1; v5 reason 0x00) deletes the will [MQTT-3.1.2-10]
/// [MQTT-3.14.4-3].
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_published_after_disconnect_v311() {
    let k = Komar::start();
    let w = unique("w");
    let own = unique("own");
    let (_oc, mut oel) = common::observer(k.port, &w).await;
    let mut o = v4::options(&unique("c"), k.port);
    o.set_last_will(rumqttc::LastWill::new(&w, "bye", QoS::AtLeastOnce, false));
    let (c, mut el, _) = v4::connect(o).await;
    c.subscribe(&own, QoS::AtMostOnce).await.unwrap();
    v4::suback(&mut el).await;
    c.disconnect().await.unwrap();
    let _ = tokio::time::timeout(common::TIMEOUT, async { while el.poll().await.is_ok() {} }).await;
    // The clean session is gone, so the broker is done with the connection.
    common::wait_unsubscribed(k.port, &own).await;
    sentinel_is_next(k.port, &w, &mut oel, "no will after DISCONNECT").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_published_after_disconnect_v5() {
    use rumqttc::v5::mqttbytes::v5::LastWill;
    use rumqttc::v5::mqttbytes::QoS as Q5;
    let k = Komar::start();
    let w = unique("w");
    let own = unique("own");
    let (_oc, mut oel) = common::observer(k.port, &w).await;
    let mut o = v5::options(&unique("c"), k.port);
    o.set_last_will(LastWill::new(&w, "bye", Q5::AtLeastOnce, false, None));
    let (c, mut el, _) = v5::connect(o).await;
    c.subscribe(&own, Q5::AtMostOnce).await.unwrap();
    v5::suback(&mut el).await;
    // rumqttc sends DISCONNECT with reason 0x00.
    c.disconnect().await.unwrap();
    let _ = tokio::time::timeout(common::TIMEOUT, async { while el.poll().await.is_ok() {} }).await;
    common::wait_unsubscribed(k.port, &own).await;
    sentinel_is_next(k.port, &w, &mut oel, "no will after DISCONNECT 0x00").await;
}

/// DISCONNECT 0x04 "Disconnect with Will Message" publishes it (§3.14.2.1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_after_disconnect_with_will_v5() {
    let k = Komar::start();
    let w = unique("w");
    let (_oc, mut oel) = common::observer(k.port, &w).await;
    let (mut c, _) = Raw::connect(
        k.port,
        &Connect::new(5, &unique("c")).will(Will::qos1(&w, "asked")),
    )
    .await;
    c.send_ok(&raw::disconnect_v5(0x04, &[])).await;
    assert_eq!(
        c.closed().await,
        Vec::new(),
        "no packet back after the client's DISCONNECT"
    );
    assert_eq!(v4::next(&mut oel).await.payload.as_ref(), b"asked");
    sentinel_is_next(k.port, &w, &mut oel, "the will is published once").await;
}

/// Will Delay Interval 1 s: published about 1 s after the connection
/// ends, not at once [MQTT-3.1.3-9].
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_will_published_after_delay_v5() {
    let k = Komar::start();
    let w = unique("w");
    let (_oc, mut oel) = common::observer(k.port, &w).await;
    let c = Connect::new(5, &unique("c"))
        .clean(false)
        .session_expiry(60)
        .will(Will::delayed(&w, "late", 1));
    let (c, _) = Raw::connect(k.port, &c).await;
    let start = Instant::now();
    c.abort();
    assert_eq!(v4::next(&mut oel).await.payload.as_ref(), b"late");
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(900),
        "delayed will came after {took:?}"
    );
    assert!(
        took < Duration::from_secs(4),
        "delayed will came only after {took:?}"
    );
}

/// A reconnect within the Will Delay Interval cancels the will
/// [MQTT-3.1.3-9]. The broker's own clock is the witness: a second client
/// dropped at the same moment has a will delayed 2 s on the same topic, so
/// if the first (1 s) will were published it would arrive before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_will_cancelled_by_reconnect_v5() {
    let k = Komar::start();
    let w = unique("w");
    let (_oc, mut oel) = common::observer(k.port, &w).await;
    let id = unique("c");
    let subject = Connect::new(5, &id).clean(false).session_expiry(60);
    let (a, _) = Raw::connect(
        k.port,
        &subject.clone().will(Will::delayed(&w, "cancelled", 1)),
    )
    .await;
    let clock = Connect::new(5, &unique("clock"))
        .clean(false)
        .session_expiry(60)
        .will(Will::delayed(&w, "clock", 2));
    let (b, _) = Raw::connect(k.port, &clock).await;
    a.abort();
    b.abort();
    let (_a, present) = Raw::connect(k.port, &subject).await;
    assert!(present);
    assert_eq!(
        v4::next(&mut oel).await.payload.as_ref(),
        b"clock",
        "the cancelled will was published"
    );
}

/// Keep-alive timeout ends the connection abnormally: the will is
/// published (§3.1.2.10, §4.13 KeepAliveTimeout).
async fn published_on_keepalive_timeout(level: u8) {
    let k = Komar::start();
    let w = unique("w");
    let (_oc, mut oel) = common::observer(k.port, &w).await;
    let (mut c, _) = Raw::connect(
        k.port,
        &Connect::new(level, &unique("c"))
            .keep_alive(1)
            .will(Will::qos1(&w, "silent")),
    )
    .await;
    let start = Instant::now();
    assert_eq!(v4::next(&mut oel).await.payload.as_ref(), b"silent");
    assert!(
        start.elapsed() >= Duration::from_millis(900),
        "{:?}",
        start.elapsed()
    );
    c.closed().await;
}

/// Both protocol versions at once (the wait is wall-clock time).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_on_keepalive_timeout_v311_and_v5() {
    tokio::join!(
        published_on_keepalive_timeout(4),
        published_on_keepalive_timeout(5)
    );
}

/// A retained will is stored: later subscribers get it with RETAIN=1,
/// the established observer gets a live copy (RETAIN=0) [MQTT-3.1.2-17].
async fn retained_will(level: u8) {
    let k = Komar::start();
    let w = unique("w");
    let (_oc, mut oel) = common::observer(k.port, &w).await;
    let mut wl = Will::qos1(&w, "kept");
    wl.retain = true;
    let (c, _) = Raw::connect(k.port, &Connect::new(level, &unique("c")).will(wl)).await;
    c.abort();
    let live = v4::next(&mut oel).await;
    assert_eq!((live.payload.as_ref(), live.retain), (&b"kept"[..], false));
    let (late, mut lel, _) = v4::connect(v4::options(&unique("late"), k.port)).await;
    late.subscribe(&w, QoS::AtLeastOnce).await.unwrap();
    v4::suback(&mut lel).await;
    let m = v4::next(&mut lel).await;
    assert_eq!(
        (m.payload.as_ref(), m.retain, m.qos),
        (&b"kept"[..], true, QoS::AtLeastOnce)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retained_will_v311() {
    retained_will(4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retained_will_v5() {
    retained_will(5).await;
}

/// Take-over by the same client id ends the old connection without
/// DISCONNECT from its client: its will (delay 0) is published.
async fn published_on_takeover(level: u8) {
    let k = Komar::start();
    let w = unique("w");
    let id = unique("c");
    let (_oc, mut oel) = common::observer(k.port, &w).await;
    let (mut old, _) = Raw::connect(
        k.port,
        &Connect::new(level, &id).will(Will::qos1(&w, "replaced")),
    )
    .await;
    let (_new, _) = Raw::connect(k.port, &Connect::new(level, &id)).await;
    old.closed().await;
    assert_eq!(v4::next(&mut oel).await.payload.as_ref(), b"replaced");
    sentinel_is_next(k.port, &w, &mut oel, "the will is published once").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_on_takeover_v311() {
    published_on_takeover(4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_on_takeover_v5() {
    published_on_takeover(5).await;
}
