//! Sessions through real clients and raw bytes: clean versus persistent
//! sessions (3.1.1 Clean Session 0, 5.0 Session Expiry > 0), offline
//! queueing of QoS 1/2 (not QoS 0), the session-present flag, re-delivery
//! of unacknowledged messages with DUP=1, QoS 2 exactly-once across
//! reconnects in both directions, v5 session expiry (and its change by
//! DISCONNECT), take-over of a client id, and empty client ids.
//!
//! To know that a dropped client's session is offline before publishing
//! to it, the client carries a will and the test waits for the will: the
//! broker publishes it only after detaching the session.

mod common;

use std::time::{Duration, Instant};

use common::raw::{self, Connect, Raw, Will};
use common::{unique, v4, v5, Komar};

/// Persistent subscriber goes offline, QoS 0/1/2 messages are published,
/// it comes back: exactly the QoS 1 and 2 ones arrive, once each, in
/// order, before anything published later.
async fn offline_queue(level: u8) {
    let k = Komar::start();
    let t = unique("q");
    let w = unique("will");
    let id = unique("s");
    let (_oc, mut oel) = common::observer(k.port, &w).await;
    let (mut s, present) = Raw::connect(
        k.port,
        &Connect::persistent(level, &id).will(Will::qos1(&w, "gone")),
    )
    .await;
    assert!(!present, "[MQTT-3.2.2-3] a new session is not present");
    assert_eq!(s.subscribe(1, &t, 2).await, 2);
    s.abort();
    assert_eq!(v4::next(&mut oel).await.payload.as_ref(), b"gone");

    let mut p = v4::driven(v4::options(&unique("p"), k.port)).await;
    for n in 0..10 {
        for (q, qos) in [
            rumqttc::QoS::AtMostOnce,
            rumqttc::QoS::AtLeastOnce,
            rumqttc::QoS::ExactlyOnce,
        ]
        .into_iter()
        .enumerate()
        {
            p.publish(&t, qos, false, format!("q{q}-{n}"))
                .await
                .unwrap();
        }
    }
    p.flush().await;

    let (mut s, present) = Raw::connect(k.port, &Connect::persistent(level, &id)).await;
    assert!(present, "[MQTT-3.2.2-2] the stored session is present");
    p.publish(&t, rumqttc::QoS::AtLeastOnce, false, "sentinel")
        .await
        .unwrap();
    let got: Vec<String> = s
        .collect_until(b"sentinel")
        .await
        .into_iter()
        .map(|m| {
            assert!(!m.dup, "first delivery of a queued message has DUP=0");
            String::from_utf8(m.payload).unwrap()
        })
        .collect();
    let want: Vec<String> = (0..10)
        .flat_map(|n| [format!("q1-{n}"), format!("q2-{n}")])
        .collect();
    assert_eq!(got, want, "QoS 1 and 2 queued in order, QoS 0 not queued");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_queue_v311() {
    offline_queue(4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_queue_v5() {
    offline_queue(5).await;
}

/// The same through rumqttc: subscriptions survive a reconnect of a
/// persistent session; a clean session starts empty and is discarded at
/// disconnect [MQTT-3.1.2-4] [MQTT-3.1.2-6].
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_survive_only_persistent_sessions_v311() {
    use rumqttc::QoS;
    let k = Komar::start();
    let t = unique("t");
    let id = unique("s");
    let mut o = v4::options(&id, k.port);
    o.set_clean_session(false);
    let (c, mut el, present) = v4::connect(o.clone()).await;
    assert!(!present);
    c.subscribe(&t, QoS::AtLeastOnce).await.unwrap();
    v4::suback(&mut el).await;
    c.disconnect().await.unwrap();
    let _ = tokio::time::timeout(common::TIMEOUT, async { while el.poll().await.is_ok() {} }).await;

    let (_c, mut el, present) = v4::connect(o.clone()).await;
    assert!(present);
    let p = v4::driven(v4::options(&unique("p"), k.port)).await;
    p.publish(&t, QoS::AtLeastOnce, false, "kept")
        .await
        .unwrap();
    assert_eq!(
        v4::next(&mut el).await.payload.as_ref(),
        b"kept",
        "subscription survived"
    );
    drop(el);

    // Clean session: the old session is gone and the new one is empty.
    let mut clean = v4::options(&id, k.port);
    clean.set_clean_session(true);
    let (c, mut el, present) = v4::connect(clean).await;
    assert!(!present, "[MQTT-3.2.2-1] clean session: session present 0");
    let own = unique("own");
    c.subscribe(&own, QoS::AtLeastOnce).await.unwrap();
    v4::suback(&mut el).await;
    p.publish(&t, QoS::AtLeastOnce, false, "lost")
        .await
        .unwrap();
    p.publish(&own, QoS::AtLeastOnce, false, "sentinel")
        .await
        .unwrap();
    assert_eq!(
        v4::next(&mut el).await.payload.as_ref(),
        b"sentinel",
        "old subscription gone"
    );
    c.disconnect().await.unwrap();
    let _ = tokio::time::timeout(common::TIMEOUT, async { while el.poll().await.is_ok() {} }).await;
    common::wait_unsubscribed(k.port, &own).await;
    // A clean session does not outlive its connection.
    let (_c, _el, present) = v4::connect(o).await;
    assert!(!present);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_survive_only_persistent_sessions_v5() {
    use rumqttc::v5::mqttbytes::v5::ConnectProperties;
    use rumqttc::v5::mqttbytes::QoS;
    let k = Komar::start();
    let t = unique("t");
    let id = unique("s");
    let mut o = v5::options(&id, k.port);
    o.set_clean_start(false);
    let mut props = ConnectProperties::new();
    props.session_expiry_interval = Some(300);
    o.set_connect_properties(props);
    let (c, mut el, ack) = v5::connect(o.clone()).await;
    assert!(!ack.session_present);
    c.subscribe(&t, QoS::AtLeastOnce).await.unwrap();
    v5::suback(&mut el).await;
    c.disconnect().await.unwrap();
    let _ = tokio::time::timeout(common::TIMEOUT, async { while el.poll().await.is_ok() {} }).await;

    let (_c, mut el, ack) = v5::connect(o.clone()).await;
    assert!(ack.session_present, "[MQTT-3.2.2-2]");
    let p = v5::driven(v5::options(&unique("p"), k.port)).await;
    p.publish(&t, QoS::AtLeastOnce, false, "kept")
        .await
        .unwrap();
    assert_eq!(v5::next(&mut el).await.payload.as_ref(), b"kept");
    drop(el);

    // Clean Start 1 discards the session [MQTT-3.1.2-4].
    let mut clean = o.clone();
    clean.set_clean_start(true);
    let (c, mut el, ack) = v5::connect(clean).await;
    assert!(!ack.session_present, "[MQTT-3.2.2-2]");
    let own = unique("own");
    c.subscribe(&own, QoS::AtLeastOnce).await.unwrap();
    v5::suback(&mut el).await;
    p.publish(&t, QoS::AtLeastOnce, false, "lost")
        .await
        .unwrap();
    p.publish(&own, QoS::AtLeastOnce, false, "sentinel")
        .await
        .unwrap();
    assert_eq!(v5::next(&mut el).await.payload.as_ref(), b"sentinel");
}

/// A QoS 1 message received but not acknowledged is sent again, with
/// DUP=1 and the same packet id, when the session resumes [MQTT-4.4.0-1]
/// [MQTT-3.3.1-1]; once acknowledged it is not sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacked_qos1_redelivered_with_dup_v311() {
    use rumqttc::QoS;
    let k = Komar::start();
    let t = unique("t");
    let mut o = v4::options(&unique("s"), k.port);
    o.set_clean_session(false);
    o.set_manual_acks(true);
    let (c, mut el, _) = v4::connect(o.clone()).await;
    c.subscribe(&t, QoS::AtLeastOnce).await.unwrap();
    v4::suback(&mut el).await;
    let p = v4::driven(v4::options(&unique("p"), k.port)).await;
    p.publish(&t, QoS::AtLeastOnce, false, "m").await.unwrap();
    let first = v4::next(&mut el).await;
    assert!(!first.dup);
    drop((c, el));

    let (c, mut el, present) = v4::connect(o).await;
    assert!(present);
    let again = v4::next(&mut el).await;
    assert_eq!(
        (again.payload.as_ref(), again.dup, again.pkid),
        (&b"m"[..], true, first.pkid)
    );
    c.ack(&again).await.unwrap();
    p.publish(&t, QoS::AtLeastOnce, false, "sentinel")
        .await
        .unwrap();
    let next = v4::next(&mut el).await;
    assert_eq!((next.payload.as_ref(), next.dup), (&b"sentinel"[..], false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacked_qos1_redelivered_with_dup_v5() {
    use rumqttc::v5::mqttbytes::v5::ConnectProperties;
    use rumqttc::v5::mqttbytes::QoS;
    let k = Komar::start();
    let t = unique("t");
    let mut o = v5::options(&unique("s"), k.port);
    o.set_clean_start(false);
    o.set_manual_acks(true);
    let mut props = ConnectProperties::new();
    props.session_expiry_interval = Some(300);
    o.set_connect_properties(props);
    let (c, mut el, _) = v5::connect(o.clone()).await;
    c.subscribe(&t, QoS::AtLeastOnce).await.unwrap();
    v5::suback(&mut el).await;
    let p = v5::driven(v5::options(&unique("p"), k.port)).await;
    p.publish(&t, QoS::AtLeastOnce, false, "m").await.unwrap();
    let first = v5::next(&mut el).await;
    assert!(!first.dup);
    drop((c, el));

    let (c, mut el, ack) = v5::connect(o).await;
    assert!(ack.session_present);
    let again = v5::next(&mut el).await;
    assert_eq!(
        (again.payload.as_ref(), again.dup, again.pkid),
        (&b"m"[..], true, first.pkid)
    );
    c.ack(&again).await.unwrap();
    p.publish(&t, QoS::AtLeastOnce, false, "sentinel")
        .await
        .unwrap();
    let next = v5::next(&mut el).await;
    assert_eq!((next.payload.as_ref(), next.dup), (&b"sentinel"[..], false));
}

/// Outgoing QoS 2 interrupted twice: before PUBREC the PUBLISH is re-sent
/// with DUP=1; after PUBREC only the PUBREL is re-sent [MQTT-4.4.0-1]; the
/// message is delivered once.
async fn outgoing_qos2_across_reconnects(level: u8) {
    let k = Komar::start();
    let t = unique("t");
    let id = unique("s");
    let (mut s, _) = Raw::connect(k.port, &Connect::persistent(level, &id)).await;
    assert_eq!(s.subscribe(1, &t, 2).await, 2);
    let p = v4::driven(v4::options(&unique("p"), k.port)).await;
    p.publish(&t, rumqttc::QoS::ExactlyOnce, false, "x")
        .await
        .unwrap();
    let m = s.expect_publish().await;
    assert_eq!((m.qos, m.dup, m.payload.as_slice()), (2, false, &b"x"[..]));
    s.abort();

    let (mut s, present) = Raw::connect(k.port, &Connect::persistent(level, &id)).await;
    assert!(present);
    let again = s.expect_publish().await;
    assert_eq!(
        (again.qos, again.dup, again.pid, again.payload.as_slice()),
        (2, true, m.pid, &b"x"[..])
    );
    s.send_ok(&raw::ack(raw::PUBREC, m.pid)).await;
    assert_eq!(s.expect(raw::PUBREL).await.pid(), m.pid);
    s.abort();

    let (mut s, present) = Raw::connect(k.port, &Connect::persistent(level, &id)).await;
    assert!(present);
    let rel = s.expect(raw::PUBREL).await;
    assert_eq!(rel.pid(), m.pid, "after PUBREC only PUBREL is re-sent");
    s.send_ok(&raw::ack(raw::PUBCOMP, m.pid)).await;
    p.publish(&t, rumqttc::QoS::AtMostOnce, false, "sentinel")
        .await
        .unwrap();
    let next = s.expect_publish().await;
    assert_eq!(next.payload, b"sentinel", "x was delivered once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outgoing_qos2_across_reconnects_v311() {
    outgoing_qos2_across_reconnects(4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outgoing_qos2_across_reconnects_v5() {
    outgoing_qos2_across_reconnects(5).await;
}

/// Incoming QoS 2 interrupted after PUBREC: the publisher re-sends the
/// PUBLISH (DUP=1, same id) on the resumed session, then PUBREL; the
/// message reaches subscribers once [MQTT-4.3.3-10] [MQTT-4.4.0-1].
async fn incoming_qos2_across_reconnect(level: u8) {
    let k = Komar::start();
    let t = unique("t");
    let id = unique("p");
    let (_oc, mut oel) = common::observer(k.port, &t).await;
    let (mut p, _) = Raw::connect(k.port, &Connect::persistent(level, &id)).await;
    p.send_ok(&raw::publish(level, &t, 2, 7, false, false, b"x"))
        .await;
    assert_eq!(p.expect(raw::PUBREC).await.pid(), 7);
    p.abort();

    let (mut p, present) = Raw::connect(k.port, &Connect::persistent(level, &id)).await;
    assert!(present);
    p.resend_qos2_and_release(level, &t, 7).await;
    assert_eq!(v4::next(&mut oel).await.payload.as_ref(), b"x");
    assert_eq!(
        v4::next(&mut oel).await.payload.as_ref(),
        b"sentinel",
        "x delivered exactly once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incoming_qos2_across_reconnect_v311() {
    incoming_qos2_across_reconnect(4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incoming_qos2_across_reconnect_v5() {
    incoming_qos2_across_reconnect(5).await;
}

/// Session Expiry 1 s: the session ends about 1 s after the connection.
/// The client's will has a delay of 100 s, so the broker publishes it when
/// the session ends [MQTT-3.1.2-8] — the event the test waits for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_expires_after_interval_v5() {
    let k = Komar::start();
    let t = unique("t");
    let w = unique("will");
    let id = unique("s");
    let (_oc, mut oel) = common::observer(k.port, &w).await;
    let mut wl = Will::qos1(&w, "ended");
    wl.props = raw::prop_u32(0x18, 100);
    let (mut s, _) = Raw::connect(
        k.port,
        &Connect::new(5, &id).clean(false).session_expiry(1).will(wl),
    )
    .await;
    s.subscribe(1, &t, 1).await;
    let start = Instant::now();
    s.abort();
    assert_eq!(v4::next(&mut oel).await.payload.as_ref(), b"ended");
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(900),
        "session ended after {took:?}, before its 1 s expiry"
    );
    assert!(
        took < Duration::from_secs(4),
        "session ended only after {took:?}"
    );
    // Its subscription went with it.
    common::wait_unsubscribed(k.port, &t).await;
    let (_s, present) =
        Raw::connect(k.port, &Connect::new(5, &id).clean(false).session_expiry(1)).await;
    assert!(!present, "expired session is not present");
}

/// DISCONNECT may shorten the expiry to 0: the session ends at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_sets_expiry_to_zero_v5() {
    let k = Komar::start();
    let t = unique("t");
    let id = unique("s");
    let (mut s, _) = Raw::connect(k.port, &Connect::persistent(5, &id)).await;
    s.subscribe(1, &t, 1).await;
    s.send_ok(&raw::disconnect_v5(0, &raw::prop_u32(0x11, 0)))
        .await;
    assert_eq!(s.closed().await, Vec::new());
    common::wait_unsubscribed(k.port, &t).await;
    let (_s, present) = Raw::connect(k.port, &Connect::persistent(5, &id)).await;
    assert!(!present);
}

/// Expiry 0 in CONNECT cannot become non-zero in DISCONNECT: Protocol
/// Error [MQTT-3.14.2-2]; the session still ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_cannot_raise_zero_expiry_v5() {
    let k = Komar::start();
    let t = unique("t");
    let id = unique("s");
    let (mut s, _) = Raw::connect(k.port, &Connect::new(5, &id).clean(false)).await;
    s.subscribe(1, &t, 1).await;
    s.send_ok(&raw::disconnect_v5(0, &raw::prop_u32(0x11, 60)))
        .await;
    let frames = s.closed().await;
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(raw::disconnect_reason(&frames[0]), 0x82);
    common::wait_unsubscribed(k.port, &t).await;
    let (_s, present) = Raw::connect(k.port, &Connect::persistent(5, &id)).await;
    assert!(!present);
}

/// A second connection with the same client id takes over: a 3.1.1
/// connection is closed [MQTT-3.1.4-2], a persistent session carries on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn takeover_v311() {
    let k = Komar::start();
    let id = unique("s");
    let t = unique("t");
    let (mut old, _) = Raw::connect(k.port, &Connect::persistent(4, &id)).await;
    old.subscribe(1, &t, 1).await;
    let mut o = v4::options(&id, k.port);
    o.set_clean_session(false);
    let (_c, mut el, present) = v4::connect(o).await;
    assert!(present);
    assert_eq!(
        old.closed().await,
        Vec::new(),
        "3.1.1: closed without a packet"
    );
    let p = v4::driven(v4::options(&unique("p"), k.port)).await;
    p.publish(&t, rumqttc::QoS::AtLeastOnce, false, "to-new")
        .await
        .unwrap();
    assert_eq!(v4::next(&mut el).await.payload.as_ref(), b"to-new");
}

/// v5 take-over: the old connection gets DISCONNECT 0x8E Session taken
/// over — seen through rumqttc and through raw bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn takeover_v5() {
    let k = Komar::start();
    let id = unique("s");
    let (mut old, _) = Raw::connect(k.port, &Connect::persistent(5, &id)).await;
    let (_c, _el, ack) = v5::connect(v5::options(&id, k.port)).await;
    assert!(!ack.session_present, "clean start");
    let frames = old.closed().await;
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(raw::disconnect_reason(&frames[0]), 0x8E);

    // (rumqttc 0.24 cannot be the old client here: it fails to parse a
    // DISCONNECT whose Remaining Length is 1 — reason code, no property
    // length — which §3.14.2.2.1 allows and Mosquitto sends too.)
}

/// Empty client ids: 5.0 gets an Assigned Client Identifier
/// [MQTT-3.2.2-16]; 3.1.1 needs Clean Session 1 [MQTT-3.1.3-7]
/// [MQTT-3.1.3-8]; 3.1 has no empty ids (return code 2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_client_id() {
    let k = Komar::start();
    let (_a, ack) = Raw::connect_with(k.port, &Connect::new(5, "")).await;
    assert_eq!(ack.code, 0);
    let assigned = ack.prop(0x12).expect("Assigned Client Identifier");
    assert!(!assigned.is_empty());
    let (_b, ack2) = Raw::connect_with(k.port, &Connect::new(5, "")).await;
    assert_ne!(ack2.prop(0x12), Some(assigned), "assigned ids are unique");

    let (_c, ack) = Raw::connect_with(k.port, &Connect::new(4, "")).await;
    assert_eq!(
        (ack.code, ack.session_present),
        (0, false),
        "3.1.1 clean session"
    );

    let (mut d, ack) = Raw::connect_with(k.port, &Connect::new(4, "").clean(false)).await;
    assert_eq!(ack.code, 2, "3.1.1 persistent: identifier rejected");
    assert_eq!(d.closed().await, Vec::new());

    let (mut e, ack) = Raw::connect_with(k.port, &Connect::new(3, "")).await;
    assert_eq!(ack.code, 2, "3.1: identifier rejected");
    assert_eq!(e.closed().await, Vec::new());
}
