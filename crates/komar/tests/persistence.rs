//! Durable state (`persistence true`) across restarts of the real `komar`
//! binary, through real clients: retained messages (set, replace, clear,
//! v5 message expiry counted in wall-clock time), persistent sessions
//! (subscriptions with their QoS and v5 options, session expiry by wall
//! clock, clean sessions leaving nothing), queued QoS 1/2 messages (QoS 0
//! not kept), outgoing messages in flight (re-sent with DUP=1 and the same
//! packet id, PUBREL state), incoming QoS 2 ids (exactly once across a
//! restart), delayed wills published when due, and the refusal of
//! Mosquitto's `mosquitto.db`.
//!
//! Every scenario that makes sense both ways runs twice: the broker is
//! stopped with SIGTERM (graceful: the store is closed) and with SIGKILL
//! (`kill -9`: only what the store had is left). What a client got
//! acknowledged must survive either: a PUBACK/PUBREC for a message queued
//! for a persistent session or retained, and a SUBACK, are sent only once
//! the store has the change.
//!
//! # Knowing a change is stored before a `kill -9`
//! The store applies changes in the order the broker made them, so once a
//! later change is acknowledged as durable every earlier one is on disk
//! too. Where the change under test has no acknowledgement of its own (a
//! session's disconnect, a pending will), the test first observes from
//! outside that the broker made it (a will published, `$SYS` counts), then
//! publishes a retained QoS 1 message and waits for its PUBACK
//! ([`sync_store`]).
//!
//! Waiting for wall-clock time to pass (`sleep_until`) appears only where
//! time is what is tested (expiry, will delay), never as synchronisation.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::config::{run_komar, Conf, Configured};
use common::raw::{self, Connect, Raw, Will};
use common::{unique, v4, v5, Komar};

/// A broker on one loopback listener with its store in the scratch
/// directory.
const CONF: &str = "listener {port} 127.0.0.1\nallow_anonymous true\n\
                    persistence true\npersistence_location {dir}/\n";

/// The same with `$SYS` updated every second.
const CONF_SYS: &str = "listener {port} 127.0.0.1\nallow_anonymous true\n\
                        persistence true\npersistence_location {dir}/\nsys_interval 1\n";

/// How the broker is stopped before the restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// SIGTERM: graceful shutdown, the store is closed.
    Term,
    /// SIGKILL: `kill -9`, nothing is closed.
    Kill,
}

/// One test function per way of stopping: `both_stops!(module = f(args))`
/// makes `module::term` and `module::kill`, calling `f(Stop::Term, args)`
/// and `f(Stop::Kill, args)`; `both_stops!(f)` is `both_stops!(f = f())`.
macro_rules! both_stops {
    ($name:ident) => {
        both_stops!($name = $name());
    };
    ($module:ident = $func:ident($($arg:expr),*)) => {
        mod $module {
            use super::Stop;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn term() {
                super::$func(Stop::Term $(, $arg)*).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn kill() {
                super::$func(Stop::Kill $(, $arg)*).await;
            }
        }
    };
}

/// Start `komar -c` on `conf`; returns once it listens (after restoring).
fn start(conf: Conf) -> Configured {
    let k = Komar::start_conf(conf);
    // Restoring comes before listening, so the line is already there.
    k.wait_log("Restored ");
    k
}

/// A fresh broker with persistence on `template`.
fn fresh(template: &str) -> Configured {
    let k = start(Conf::write(template));
    let line = k.wait_log("Restored ");
    assert!(
        line.contains("Restored 0 sessions") && line.contains("and 0 retained messages"),
        "a new store is empty: {line}"
    );
    k
}

/// Stop the broker as `how` says.
fn stop(k: &mut Configured, how: Stop) {
    match how {
        Stop::Term => {
            let status = k.signal_and_wait("TERM");
            assert!(status.success(), "SIGTERM: exit {status}: {}", k.log_text());
        }
        Stop::Kill => {
            k.signal_and_wait("KILL");
        }
    }
}

/// Stop as `how` says and start again on the same configuration, store
/// and port.
fn restart(mut k: Configured, how: Stop) -> Configured {
    stop(&mut k, how);
    let conf = k.conf.clone();
    drop(k);
    start(conf)
}

/// The `Restored ...` line of this run.
fn restored(k: &Configured) -> String {
    k.wait_log("Restored ")
}

/// Connect `c` with a will (delay 0), subscribe to `filters` (filter, QoS),
/// drop the connection without DISCONNECT and wait until the broker
/// publishes the will: it does so only after detaching the session, so
/// the session is then offline. The observer of the will is returned (a
/// clean session kept open, so that `$SYS` counts do not move when it
/// goes).
async fn detached(
    port: u16,
    c: Connect,
    filters: &[(&str, u8)],
) -> (rumqttc::AsyncClient, rumqttc::EventLoop) {
    let w = unique("gone");
    let (oc, mut oel) = common::observer(port, &w).await;
    let (mut s, _) = Raw::connect(port, &c.will(Will::qos1(&w, "gone"))).await;
    for (n, (filter, qos)) in filters.iter().enumerate() {
        let granted = s.subscribe(n as u16 + 1, filter, *qos).await;
        assert_eq!(granted, *qos, "SUBACK for {filter}");
    }
    s.abort();
    assert_eq!(v4::next(&mut oel).await.payload.as_ref(), b"gone");
    (oc, oel)
}

/// Make everything the broker changed so far durable, proven from
/// outside: a retained QoS 1 message is acknowledged only once stored, and
/// the store applies changes in order.
async fn sync_store(port: u16) {
    let mut p = v4::driven(v4::options(&unique("sync"), port)).await;
    p.publish(unique("sync"), rumqttc::QoS::AtLeastOnce, true, "sync")
        .await
        .unwrap();
    p.until(|p| matches!(p, rumqttc::Packet::PubAck(_))).await;
}

/// Wait for `pubacks` PUBACKs and `pubcomps` PUBCOMPs on a 3.1.1 client.
async fn acks_v4(p: &mut v4::Driven, pubacks: usize, pubcomps: usize) {
    use rumqttc::Packet;
    let (mut a, mut c) = (0, 0);
    while a < pubacks || c < pubcomps {
        match p
            .until(|p| matches!(p, Packet::PubAck(_) | Packet::PubComp(_)))
            .await
        {
            Packet::PubAck(_) => a += 1,
            _ => c += 1,
        }
    }
}

/// Wait for `n` PUBACKs on a v5 client.
async fn pubacks_v5(p: &mut v5::Driven, n: usize) {
    use rumqttc::v5::mqttbytes::v5::Packet;
    for _ in 0..n {
        p.until(|p| matches!(p, Packet::PubAck(_))).await;
    }
}

/// The v5 PUBACK reason code of one QoS 1 probe published on `topic`:
/// 0x10 No matching subscribers or 0x00.
async fn probe(port: u16, topic: &str) -> rumqttc::v5::mqttbytes::v5::PubAckReason {
    use rumqttc::v5::mqttbytes::v5::Packet;
    use rumqttc::v5::mqttbytes::QoS;
    let (c, mut el, _) = v5::connect(v5::options(&unique("probe"), port)).await;
    c.publish(topic, QoS::AtLeastOnce, false, "probe")
        .await
        .unwrap();
    match v5::until(&mut el, |p| matches!(p, Packet::PubAck(_))).await {
        Packet::PubAck(a) => a.reason,
        _ => unreachable!(),
    }
}

/// The retained messages under `prefix/#` as a fresh 3.1.1 subscriber
/// (QoS 2) gets them: topic → (payload, QoS). A message it publishes
/// itself after the SUBACK marks the end.
async fn retained_under(port: u16, prefix: &str) -> BTreeMap<String, (String, rumqttc::QoS)> {
    use rumqttc::QoS;
    let (c, mut el, _) = v4::connect(v4::options(&unique("ret"), port)).await;
    c.subscribe(format!("{prefix}/#"), QoS::ExactlyOnce)
        .await
        .unwrap();
    v4::suback(&mut el).await;
    c.publish(format!("{prefix}/end"), QoS::AtMostOnce, false, "end")
        .await
        .unwrap();
    let mut got = BTreeMap::new();
    loop {
        let m = v4::next(&mut el).await;
        if m.payload.as_ref() == b"end" {
            return got;
        }
        assert!(m.retain, "only retained messages before the end: {m:?}");
        let topic = m.topic.clone();
        let payload = String::from_utf8(m.payload.to_vec()).unwrap();
        assert!(
            got.insert(topic.clone(), (payload, m.qos)).is_none(),
            "{topic} sent twice"
        );
    }
}

// ---------------------------------------------------------------------
// Retained messages
// ---------------------------------------------------------------------

/// Set, replace and clear (empty payload) retained messages, at QoS 0, 1
/// and 2; after the restart exactly the last value of each topic is there,
/// with its QoS, and a cleared topic has none. The QoS 0 one has no
/// acknowledgement of its own: a later acknowledged one from the same
/// client covers it (the store keeps the order).
async fn retained_set_replace_clear(how: Stop) {
    use rumqttc::QoS;
    let k = fresh(CONF);
    let t = unique("ret");
    let mut p = v4::driven(v4::options(&unique("p"), k.port)).await;
    let sends: &[(&str, &str, QoS)] = &[
        ("set", "one", QoS::AtLeastOnce),
        ("replace", "old", QoS::AtLeastOnce),
        ("replace", "new", QoS::ExactlyOnce),
        ("clear", "doomed", QoS::ExactlyOnce),
        ("clear", "", QoS::AtLeastOnce),
        ("never", "", QoS::AtLeastOnce),
        ("zero", "zero", QoS::AtMostOnce),
        // Topics a store key could get wrong.
        ("ünï/cödé 😀", "utf8", QoS::AtLeastOnce),
        ("/empty", "empty level", QoS::AtLeastOnce),
        ("trail/", "trailing slash", QoS::AtLeastOnce),
        ("last", "kept", QoS::AtLeastOnce),
    ];
    for (topic, payload, qos) in sends {
        p.publish(format!("{t}/{topic}"), *qos, true, *payload)
            .await
            .unwrap();
    }
    acks_v4(&mut p, 8, 2).await;
    drop(p);

    let k = restart(k, how);
    let line = restored(&k);
    assert!(line.contains("and 7 retained messages"), "{line}");
    let got = retained_under(k.port, &t).await;
    let want: BTreeMap<String, (String, QoS)> = [
        ("set", "one", QoS::AtLeastOnce),
        ("replace", "new", QoS::ExactlyOnce),
        ("zero", "zero", QoS::AtMostOnce),
        ("ünï/cödé 😀", "utf8", QoS::AtLeastOnce),
        ("/empty", "empty level", QoS::AtLeastOnce),
        ("trail/", "trailing slash", QoS::AtLeastOnce),
        ("last", "kept", QoS::AtLeastOnce),
    ]
    .into_iter()
    .map(|(topic, payload, qos)| (format!("{t}/{topic}"), (payload.to_owned(), qos)))
    .collect();
    assert_eq!(got, want);

    // A second restart keeps them, and a change made in between is kept.
    let mut p = v4::driven(v4::options(&unique("p"), k.port)).await;
    p.publish(format!("{t}/set"), QoS::AtLeastOnce, true, "")
        .await
        .unwrap();
    acks_v4(&mut p, 1, 0).await;
    drop(p);
    let k = restart(k, how);
    let got = retained_under(k.port, &t).await;
    let mut want = want;
    want.remove(&format!("{t}/set"));
    assert_eq!(got, want, "cleared after the first restart");
}
both_stops!(retained_set_replace_clear);

/// v5 Message Expiry on retained messages counts in wall-clock time, also
/// while the broker is down: one with 60 s is there after the restart
/// with what is left of it, one with 2 s that ran out while the broker was
/// down is gone, one without expiry stays without.
async fn retained_message_expiry_v5(how: Stop) {
    use rumqttc::v5::mqttbytes::v5::PublishProperties;
    use rumqttc::v5::mqttbytes::QoS;
    let k = fresh(CONF);
    let t = unique("exp");
    let mut p = v5::driven(v5::options(&unique("p"), k.port)).await;
    for (topic, expiry) in [("long", Some(60)), ("short", Some(2)), ("none", None)] {
        let props = PublishProperties {
            message_expiry_interval: expiry,
            ..Default::default()
        };
        p.publish_with_properties(format!("{t}/{topic}"), QoS::AtLeastOnce, true, topic, props)
            .await
            .unwrap();
    }
    pubacks_v5(&mut p, 3).await;
    let published = Instant::now();
    drop(p);

    let mut k = k;
    stop(&mut k, how);
    // The short one runs out while the broker is down.
    tokio::time::sleep_until((published + Duration::from_millis(2500)).into()).await;
    let conf = k.conf.clone();
    drop(k);
    let k = start(conf);
    let down_and_up = published.elapsed();

    let (c, mut el, _) = v5::connect(v5::options(&unique("s"), k.port)).await;
    c.subscribe(format!("{t}/#"), QoS::AtLeastOnce)
        .await
        .unwrap();
    v5::suback(&mut el).await;
    c.publish(format!("{t}/end"), QoS::AtMostOnce, false, "end")
        .await
        .unwrap();
    let mut got = BTreeMap::new();
    loop {
        let m = v5::next(&mut el).await;
        if m.payload.as_ref() == b"end" {
            break;
        }
        assert!(m.retain);
        let left = m.properties.and_then(|p| p.message_expiry_interval);
        got.insert(String::from_utf8(m.payload.to_vec()).unwrap(), left);
    }
    let long_left = got.remove("long").expect("the 60 s message is kept");
    let long_left = long_left.expect("with an expiry interval");
    // At least 2.5 s have passed: at most 58 s are left (rounded either
    // way), and no more time than has passed is gone.
    let elapsed = down_and_up.as_secs() as u32;
    assert!(
        long_left <= 58 && long_left >= 58u32.saturating_sub(elapsed),
        "60 s message after {down_and_up:?}: {long_left} s left"
    );
    assert_eq!(got.remove("none"), Some(None), "no expiry stays no expiry");
    assert!(got.is_empty(), "the expired one is gone: {got:?}");
}
both_stops!(retained_message_expiry_v5);

// ---------------------------------------------------------------------
// Persistent sessions: subscriptions
// ---------------------------------------------------------------------

/// 3.1.1, Clean Session 0, still connected when the broker stops: after
/// the restart the session is present; messages published while it is
/// offline are queued per its subscriptions (QoS downgraded to the
/// granted one, wildcards kept), then delivered live once it is back.
async fn subscriptions_v311(how: Stop) {
    use rumqttc::QoS;
    let k = fresh(CONF);
    let t = unique("sub");
    let id = unique("s");
    let mut o = v4::options(&id, k.port);
    o.set_clean_session(false);
    let (c, mut el, present) = v4::connect(o.clone()).await;
    assert!(!present);
    for (filter, qos) in [
        (format!("{t}/q1"), QoS::AtLeastOnce),
        (format!("{t}/q2"), QoS::ExactlyOnce),
        (format!("{t}/+/w"), QoS::AtLeastOnce),
    ] {
        c.subscribe(filter, qos).await.unwrap();
        let ack = v4::suback(&mut el).await;
        assert_eq!(
            ack.return_codes,
            vec![rumqttc::SubscribeReasonCode::Success(qos)]
        );
    }
    // Connected at the stop.
    let k = restart(k, how);
    drop((c, el));
    let line = restored(&k);
    assert!(
        line.contains("Restored 1 sessions (3 subscriptions"),
        "{line}"
    );

    let mut p = v4::driven(v4::options(&unique("p"), k.port)).await;
    for (topic, payload) in [("q1", "a"), ("q2", "b"), ("x/w", "c"), ("other", "no")] {
        p.publish(format!("{t}/{topic}"), QoS::ExactlyOnce, false, payload)
            .await
            .unwrap();
    }
    acks_v4(&mut p, 0, 4).await;
    let (_c, mut el, present) = v4::connect(o).await;
    assert!(present, "[MQTT-3.2.2-2] the restored session is present");
    let got: Vec<(String, QoS)> = v4::publishes(&mut el, 3)
        .await
        .into_iter()
        .map(|m| (String::from_utf8(m.payload.to_vec()).unwrap(), m.qos))
        .collect();
    assert_eq!(
        got,
        vec![
            ("a".to_owned(), QoS::AtLeastOnce),
            ("b".to_owned(), QoS::ExactlyOnce),
            ("c".to_owned(), QoS::AtLeastOnce),
        ]
    );
    p.publish(format!("{t}/q1"), QoS::ExactlyOnce, false, "live")
        .await
        .unwrap();
    let m = v4::next(&mut el).await;
    assert_eq!(
        (m.payload.as_ref(), m.qos),
        (&b"live"[..], QoS::AtLeastOnce)
    );
}
both_stops!(subscriptions_v311);

/// v5, Session Expiry 300 s, disconnected before the stop: subscription
/// options survive — QoS, No Local, Retain As Published and the
/// Subscription Identifier on every delivery.
async fn subscriptions_v5(how: Stop) {
    use rumqttc::v5::mqttbytes::v5::{ConnectProperties, Filter, Packet, SubscribeProperties};
    use rumqttc::v5::mqttbytes::QoS;
    let k = fresh(CONF);
    let t = unique("sub5");
    let id = unique("s");
    let mut o = v5::options(&id, k.port);
    o.set_clean_start(false);
    let mut props = ConnectProperties::new();
    props.session_expiry_interval = Some(300);
    o.set_connect_properties(props);
    let with_id = |id: usize| SubscribeProperties {
        id: Some(id),
        user_properties: Vec::new(),
    };

    let (c, mut el, ack) = v5::connect(o.clone()).await;
    assert!(!ack.session_present);
    let mut nl = Filter::new(format!("{t}/nl"), QoS::AtLeastOnce);
    nl.nolocal = true;
    c.subscribe_many_with_properties(vec![nl], with_id(7))
        .await
        .unwrap();
    let mut rap = Filter::new(format!("{t}/rap"), QoS::ExactlyOnce);
    rap.preserve_retain = true;
    c.subscribe_many_with_properties(vec![rap], with_id(9))
        .await
        .unwrap();
    c.subscribe(format!("{t}/plain"), QoS::AtMostOnce)
        .await
        .unwrap();
    for _ in 0..3 {
        v5::suback(&mut el).await;
    }
    c.disconnect().await.unwrap();
    let _ = tokio::time::timeout(common::TIMEOUT, async { while el.poll().await.is_ok() {} }).await;
    // The disconnect has no acknowledgement of its own.
    sync_store(k.port).await;

    let k = restart(k, how);
    let (c, mut el, ack) = v5::connect(o).await;
    assert!(ack.session_present, "[MQTT-3.2.2-2]");
    // No Local: its own message does not come back (if it did, it would
    // come before everything below).
    c.publish(format!("{t}/nl"), QoS::AtLeastOnce, false, "own")
        .await
        .unwrap();
    let mut got = Vec::new();
    while let Packet::Publish(m) = v5::until(&mut el, |p| {
        matches!(p, Packet::PubAck(_) | Packet::Publish(_))
    })
    .await
    {
        got.push(m);
    }
    let p = v5::driven(v5::options(&unique("p"), k.port)).await;
    p.publish(format!("{t}/nl"), QoS::AtLeastOnce, false, "other")
        .await
        .unwrap();
    p.publish(format!("{t}/rap"), QoS::ExactlyOnce, true, "kept")
        .await
        .unwrap();
    p.publish(format!("{t}/plain"), QoS::AtLeastOnce, false, "p0")
        .await
        .unwrap();
    while got.len() < 3 {
        got.push(v5::next(&mut el).await);
    }
    let seen: Vec<(String, QoS, bool, Vec<usize>)> = got
        .iter()
        .map(|m| {
            (
                String::from_utf8(m.payload.to_vec()).unwrap(),
                m.qos,
                m.retain,
                m.properties
                    .as_ref()
                    .map(|p| p.subscription_identifiers.clone())
                    .unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            ("other".to_owned(), QoS::AtLeastOnce, false, vec![7]),
            ("kept".to_owned(), QoS::ExactlyOnce, true, vec![9]),
            ("p0".to_owned(), QoS::AtMostOnce, false, vec![]),
        ],
        "no-local, retain-as-published, QoS and subscription ids kept"
    );
}
both_stops!(subscriptions_v5);

/// Changes to a session's subscriptions are kept too: a re-subscription
/// with another QoS replaces the old one, an unsubscribed filter is gone
/// (UNSUBACK, like SUBACK, comes once the change is stored).
async fn subscription_changes(how: Stop) {
    use rumqttc::{Packet, QoS};
    let k = fresh(CONF);
    let t = unique("chg");
    let mut o = v4::options(&unique("s"), k.port);
    o.set_clean_session(false);
    let (c, mut el, _) = v4::connect(o.clone()).await;
    for topic in ["a", "b", "c"] {
        c.subscribe(format!("{t}/{topic}"), QoS::AtLeastOnce)
            .await
            .unwrap();
        v4::suback(&mut el).await;
    }
    c.subscribe(format!("{t}/a"), QoS::ExactlyOnce)
        .await
        .unwrap();
    v4::suback(&mut el).await;
    c.unsubscribe(format!("{t}/b")).await.unwrap();
    v4::until(&mut el, |p| matches!(p, Packet::UnsubAck(_))).await;

    let k = restart(k, how);
    drop((c, el));
    let line = restored(&k);
    assert!(
        line.contains("Restored 1 sessions (2 subscriptions"),
        "{line}"
    );
    let mut p = v4::driven(v4::options(&unique("p"), k.port)).await;
    for topic in ["a", "b", "c"] {
        p.publish(format!("{t}/{topic}"), QoS::ExactlyOnce, false, topic)
            .await
            .unwrap();
    }
    p.publish(format!("{t}/c"), QoS::AtLeastOnce, false, "end")
        .await
        .unwrap();
    acks_v4(&mut p, 1, 3).await;
    let (_c, mut el, present) = v4::connect(o).await;
    assert!(present);
    let got: Vec<(String, QoS)> = v4::publishes(&mut el, 3)
        .await
        .into_iter()
        .map(|m| (String::from_utf8(m.payload.to_vec()).unwrap(), m.qos))
        .collect();
    assert_eq!(
        got,
        vec![
            ("a".to_owned(), QoS::ExactlyOnce),
            ("c".to_owned(), QoS::AtLeastOnce),
            ("end".to_owned(), QoS::AtLeastOnce),
        ],
        "a re-subscribed at QoS 2, b unsubscribed"
    );
}
both_stops!(subscription_changes);

/// Client ids that are prefixes of one another (`X`, `X1`, `X/x`) keep
/// separate sessions in the store, and ending `X`'s session (a clean
/// connection) leaves the others whole.
async fn prefix_client_ids(how: Stop) {
    use rumqttc::QoS;
    let k = fresh(CONF);
    let t = unique("pfx");
    let base = unique("id");
    let ids = [base.clone(), format!("{base}1"), format!("{base}/x")];
    let mut guards = Vec::new();
    for (n, id) in ids.iter().enumerate() {
        let filter = format!("{t}/{n}");
        guards.push(detached(k.port, Connect::persistent(4, id), &[(&filter, 1)]).await);
    }
    let mut p = v4::driven(v4::options(&unique("p"), k.port)).await;
    for n in 0..ids.len() {
        p.publish(format!("{t}/{n}"), QoS::AtLeastOnce, false, format!("m{n}"))
            .await
            .unwrap();
    }
    acks_v4(&mut p, ids.len(), 0).await;
    // A clean connection ends the first session with all it holds.
    let (mut c, present) = Raw::connect(k.port, &Connect::new(4, &base)).await;
    assert!(!present);
    c.send_ok(&raw::disconnect_v3()).await;
    c.closed().await;
    common::wait_unsubscribed(k.port, &format!("{t}/0")).await;
    sync_store(k.port).await;

    let k = restart(k, how);
    let line = restored(&k);
    assert!(
        line.contains("Restored 2 sessions (2 subscriptions, 2 queued"),
        "{line}"
    );
    let (_c, present) = Raw::connect(k.port, &Connect::persistent(4, &base)).await;
    assert!(!present, "{base}: ended before the restart");
    let p = v4::driven(v4::options(&unique("p"), k.port)).await;
    for (n, id) in ids.iter().enumerate().skip(1) {
        let (mut s, present) = Raw::connect(k.port, &Connect::persistent(4, id)).await;
        assert!(present, "{id}");
        p.publish(format!("{t}/{n}"), QoS::AtLeastOnce, false, "sentinel")
            .await
            .unwrap();
        let got: Vec<Vec<u8>> = s
            .collect_until(b"sentinel")
            .await
            .into_iter()
            .map(|m| m.payload)
            .collect();
        assert_eq!(
            got,
            vec![format!("m{n}").into_bytes()],
            "{id}: only its own"
        );
    }
}
both_stops!(prefix_client_ids);

/// Large payloads (1 MiB) survive byte for byte: a retained message and
/// a message queued for an offline persistent subscriber.
async fn large_payloads(how: Stop) {
    let k = fresh(CONF);
    let t = unique("big");
    let id = unique("s");
    let big: Vec<u8> = (0..1_048_576u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let _o = detached(
        k.port,
        Connect::persistent(4, &id),
        &[(&format!("{t}/q"), 1)],
    )
    .await;
    let (mut p, _) = Raw::connect(k.port, &Connect::new(4, &unique("p"))).await;
    p.send_ok(&raw::publish(4, &format!("{t}/r"), 1, 1, true, false, &big))
        .await;
    p.send_ok(&raw::publish(
        4,
        &format!("{t}/q"),
        1,
        2,
        false,
        false,
        &big,
    ))
    .await;
    assert_eq!(p.expect(raw::PUBACK).await.pid(), 1);
    assert_eq!(p.expect(raw::PUBACK).await.pid(), 2);

    let k = restart(k, how);
    drop(p);
    let (mut s, present) = Raw::connect(k.port, &Connect::persistent(4, &id)).await;
    assert!(present);
    let m = s.expect_publish().await;
    assert_eq!(m.topic, format!("{t}/q"));
    assert!(
        m.payload == big,
        "queued payload intact ({} bytes)",
        m.payload.len()
    );
    let (mut r, _) = Raw::connect(k.port, &Connect::new(4, &unique("r"))).await;
    assert_eq!(r.subscribe(1, &format!("{t}/r"), 1).await, 1);
    let m = r.expect_publish().await;
    assert!(m.retain);
    assert!(
        m.payload == big,
        "retained payload intact ({} bytes)",
        m.payload.len()
    );
}
both_stops!(large_payloads);

// ---------------------------------------------------------------------
// Queued messages
// ---------------------------------------------------------------------

/// A persistent subscriber (QoS 2) is offline; QoS 0, 1 and 2 messages
/// are published and acknowledged; after the restart it gets exactly the
/// QoS 1 and 2 ones, in order, each once, DUP=0, before anything newer.
async fn queued(how: Stop, level: u8) {
    use rumqttc::QoS;
    let k = fresh(CONF);
    let t = unique("q");
    let id = unique("s");
    let _obs = detached(k.port, Connect::persistent(level, &id), &[(&t, 2)]).await;
    let mut p = v4::driven(v4::options(&unique("p"), k.port)).await;
    for n in 0..10 {
        for (q, qos) in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
            .into_iter()
            .enumerate()
        {
            p.publish(&t, qos, false, format!("q{q}-{n}"))
                .await
                .unwrap();
        }
    }
    acks_v4(&mut p, 10, 10).await;
    drop(p);

    let k = restart(k, how);
    let line = restored(&k);
    assert!(
        line.contains("Restored 1 sessions (1 subscriptions, 20 queued"),
        "{line}"
    );
    let (mut s, present) = Raw::connect(k.port, &Connect::persistent(level, &id)).await;
    assert!(present, "[MQTT-3.2.2-2]");
    let p = v4::driven(v4::options(&unique("p"), k.port)).await;
    p.publish(&t, QoS::AtLeastOnce, false, "sentinel")
        .await
        .unwrap();
    let got: Vec<(String, u8, bool)> = s
        .collect_until(b"sentinel")
        .await
        .into_iter()
        .map(|m| (String::from_utf8(m.payload).unwrap(), m.qos, m.dup))
        .collect();
    let want: Vec<(String, u8, bool)> = (0..10)
        .flat_map(|n| [(format!("q1-{n}"), 1, false), (format!("q2-{n}"), 2, false)])
        .collect();
    assert_eq!(got, want, "QoS 1 and 2 kept in order, QoS 0 not");
}
both_stops!(queued_v311 = queued(4));

both_stops!(queued_v5 = queued(5));

/// With `queue_qos0_messages true`, QoS 0 messages queued for an offline
/// persistent session are kept across the restart too (Mosquitto keeps
/// them in its database), in order with the QoS 1 ones.
async fn queued_qos0(how: Stop) {
    use rumqttc::QoS;
    let k = fresh(&format!("{CONF}queue_qos0_messages true\n"));
    let t = unique("q0");
    let id = unique("s");
    let _obs = detached(k.port, Connect::persistent(4, &id), &[(&t, 1)]).await;
    let mut p = v4::driven(v4::options(&unique("p"), k.port)).await;
    for n in 0..10 {
        p.publish(&t, QoS::AtMostOnce, false, format!("q0-{n}"))
            .await
            .unwrap();
        p.publish(&t, QoS::AtLeastOnce, false, format!("q1-{n}"))
            .await
            .unwrap();
    }
    acks_v4(&mut p, 10, 0).await;
    drop(p);
    // QoS 0 has no acknowledgement: make sure it was stored before a kill.
    sync_store(k.port).await;

    let k = restart(k, how);
    let line = restored(&k);
    assert!(
        line.contains("Restored 1 sessions (1 subscriptions, 20 queued"),
        "{line}"
    );
    let (mut s, present) = Raw::connect(k.port, &Connect::persistent(4, &id)).await;
    assert!(present, "[MQTT-3.2.2-2]");
    let p = v4::driven(v4::options(&unique("p"), k.port)).await;
    p.publish(&t, QoS::AtLeastOnce, false, "sentinel")
        .await
        .unwrap();
    let got: Vec<(String, u8)> = s
        .collect_until(b"sentinel")
        .await
        .into_iter()
        .map(|m| (String::from_utf8(m.payload).unwrap(), m.qos))
        .collect();
    let want: Vec<(String, u8)> = (0..10)
        .flat_map(|n| [(format!("q0-{n}"), 0), (format!("q1-{n}"), 1)])
        .collect();
    assert_eq!(got, want, "QoS 0 and 1 kept in order");
}
both_stops!(queued_qos0);

/// v5 messages queued for an offline session keep their properties
/// (payload format, content type, response topic, correlation data, user
/// properties in order), the full topic name when the publisher used a
/// Topic Alias, and their Message Expiry in wall-clock time: one with 2 s
/// that ran out while the broker was down is not delivered, one with 60 s
/// comes with what is left.
async fn queued_v5_properties(how: Stop) {
    use rumqttc::v5::mqttbytes::v5::{ConnectProperties, PublishProperties};
    use rumqttc::v5::mqttbytes::QoS;
    let k = fresh(CONF);
    let t = unique("props");
    let id = unique("s");
    let _obs = detached(
        k.port,
        Connect::persistent(5, &id),
        &[(&format!("{t}/#"), 1)],
    )
    .await;
    let mut p = v5::driven(v5::options(&unique("p"), k.port)).await;
    let user = vec![
        ("k".to_owned(), "v".to_owned()),
        ("k".to_owned(), "v2".to_owned()),
        ("ü".to_owned(), String::new()),
    ];
    let full = PublishProperties {
        payload_format_indicator: Some(1),
        message_expiry_interval: Some(60),
        topic_alias: Some(1),
        response_topic: Some(format!("{t}/reply")),
        correlation_data: Some(bytes::Bytes::from_static(b"\x00\x01corr")),
        user_properties: user.clone(),
        content_type: Some("text/plain".to_owned()),
        ..Default::default()
    };
    let alias_only = |expiry| PublishProperties {
        topic_alias: Some(1),
        message_expiry_interval: expiry,
        ..Default::default()
    };
    p.publish_with_properties(format!("{t}/long"), QoS::AtLeastOnce, false, "long", full)
        .await
        .unwrap();
    p.publish_with_properties("", QoS::AtLeastOnce, false, "short", alias_only(Some(2)))
        .await
        .unwrap();
    p.publish_with_properties("", QoS::AtLeastOnce, false, "aliased", alias_only(None))
        .await
        .unwrap();
    p.publish(format!("{t}/plain"), QoS::AtLeastOnce, false, "plain")
        .await
        .unwrap();
    pubacks_v5(&mut p, 4).await;
    let published = Instant::now();
    drop(p);

    let mut k = k;
    stop(&mut k, how);
    tokio::time::sleep_until((published + Duration::from_secs(3)).into()).await;
    let conf = k.conf.clone();
    drop(k);
    let k = start(conf);

    let mut o = v5::options(&id, k.port);
    o.set_clean_start(false);
    let mut props = ConnectProperties::new();
    props.session_expiry_interval = Some(300);
    o.set_connect_properties(props);
    let (_c, mut el, ack) = v5::connect(o).await;
    assert!(ack.session_present);
    let p = v5::driven(v5::options(&unique("p"), k.port)).await;
    p.publish(format!("{t}/plain"), QoS::AtLeastOnce, false, "end")
        .await
        .unwrap();
    let mut got = Vec::new();
    loop {
        let m = v5::next(&mut el).await;
        if m.payload.as_ref() == b"end" {
            break;
        }
        got.push(m);
    }
    let seen: Vec<(String, String)> = got
        .iter()
        .map(|m| {
            (
                String::from_utf8(m.topic.to_vec()).unwrap(),
                String::from_utf8(m.payload.to_vec()).unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (format!("{t}/long"), "long".to_owned()),
            (format!("{t}/long"), "aliased".to_owned()),
            (format!("{t}/plain"), "plain".to_owned()),
        ],
        "the expired one is gone, aliased topics are whole"
    );
    let long = got[0].properties.clone().expect("properties kept");
    let left = long.message_expiry_interval.expect("expiry kept");
    assert!((50..=57).contains(&left), "60 s after 3 s: {left} s left");
    assert_eq!(long.payload_format_indicator, Some(1));
    assert_eq!(long.content_type.as_deref(), Some("text/plain"));
    assert_eq!(long.response_topic, Some(format!("{t}/reply")));
    assert_eq!(long.correlation_data.as_deref(), Some(&b"\x00\x01corr"[..]));
    assert_eq!(long.user_properties, user, "user properties in order");
    assert_eq!(
        long.topic_alias, None,
        "the publisher's alias is not passed on"
    );
    let aliased = got[1].properties.clone().unwrap_or_default();
    assert_eq!(aliased.message_expiry_interval, None);
}
both_stops!(queued_v5_properties);

/// A persistent session's shared subscription (`$share/group/filter`)
/// is restored as a shared subscription: the member gets messages once it
/// is back, and the filter is not taken for a plain topic.
async fn shared_subscription_v5(how: Stop) {
    use rumqttc::QoS;
    let k = fresh(CONF);
    let t = unique("sh");
    let id = unique("s");
    let filter = format!("$share/g/{t}/#");
    let (mut s, _) = Raw::connect(k.port, &Connect::persistent(5, &id)).await;
    assert_eq!(s.subscribe(1, &filter, 1).await, 1);
    let k = restart(k, how);
    drop(s);
    let line = restored(&k);
    assert!(
        line.contains("Restored 1 sessions (1 subscriptions"),
        "{line}"
    );

    let (mut s, present) = Raw::connect(k.port, &Connect::persistent(5, &id)).await;
    assert!(present);
    let mut p = v4::driven(v4::options(&unique("p"), k.port)).await;
    p.publish(format!("{t}/a"), QoS::AtLeastOnce, false, "shared")
        .await
        .unwrap();
    acks_v4(&mut p, 1, 0).await;
    let m = s.expect_publish().await;
    assert_eq!(
        (m.topic.as_str(), m.payload.as_slice()),
        (format!("{t}/a").as_str(), &b"shared"[..])
    );
    s.send_ok(&raw::ack(raw::PUBACK, m.pid)).await;
    // A second member shares the load with the restored one.
    let (mut other, _) = Raw::connect(k.port, &Connect::new(5, &unique("o"))).await;
    assert_eq!(other.subscribe(1, &filter, 1).await, 1);
    for n in 0..10 {
        p.publish(format!("{t}/b"), QoS::AtLeastOnce, false, format!("m{n}"))
            .await
            .unwrap();
    }
    acks_v4(&mut p, 10, 0).await;
    p.publish(format!("{t}/b"), QoS::AtLeastOnce, false, "sentinel")
        .await
        .unwrap();
    acks_v4(&mut p, 1, 0).await;
    // Each message goes to one member: eleven distinct ones in all (a copy
    // to both members would leave one of them missing).
    let mut got = Vec::new();
    while got.len() < 11 {
        let (f, member) = tokio::select! {
            f = s.recv() => (f, &mut s),
            f = other.recv() => (f, &mut other),
        };
        let m = raw::parse_publish(&f.expect("connection open"), 5);
        member.send_ok(&raw::ack(raw::PUBACK, m.pid)).await;
        got.push(String::from_utf8(m.payload).unwrap());
    }
    got.sort();
    let mut want: Vec<String> = (0..10).map(|n| format!("m{n}")).collect();
    want.push("sentinel".to_owned());
    want.sort();
    assert_eq!(got, want, "each message to one member");
}
both_stops!(shared_subscription_v5);

// ---------------------------------------------------------------------
// Outgoing messages in flight
// ---------------------------------------------------------------------

/// A subscriber receives a QoS 1 and two QoS 2 messages and acknowledges
/// none of them, except that it sends PUBREC for the last one and gets the
/// PUBREL. After the restart, on reconnect, the broker re-sends the first
/// two PUBLISHes with DUP=1 and their packet ids, and for the third only
/// the PUBREL [MQTT-4.4.0-1], in the original order [MQTT-4.6.0-1]. Once
/// acknowledged, nothing is sent again.
async fn inflight_outgoing(how: Stop, level: u8) {
    use rumqttc::QoS;
    let k = fresh(CONF);
    let t = unique("inf");
    let id = unique("s");
    let (mut s, _) = Raw::connect(k.port, &Connect::persistent(level, &id)).await;
    assert_eq!(s.subscribe(1, &format!("{t}/1"), 1).await, 1);
    assert_eq!(s.subscribe(2, &format!("{t}/2"), 2).await, 2);
    let mut p = v4::driven(v4::options(&unique("p"), k.port)).await;
    p.publish(format!("{t}/1"), QoS::AtLeastOnce, false, "one")
        .await
        .unwrap();
    p.publish(format!("{t}/2"), QoS::ExactlyOnce, false, "two")
        .await
        .unwrap();
    p.publish(format!("{t}/2"), QoS::ExactlyOnce, false, "three")
        .await
        .unwrap();
    let one = s.expect_publish().await;
    let two = s.expect_publish().await;
    let three = s.expect_publish().await;
    assert_eq!(
        [&one, &two, &three].map(|m| (m.payload.clone(), m.qos, m.dup)),
        [
            (b"one".to_vec(), 1, false),
            (b"two".to_vec(), 2, false),
            (b"three".to_vec(), 2, false)
        ]
    );
    s.send_ok(&raw::ack(raw::PUBREC, three.pid)).await;
    assert_eq!(s.expect(raw::PUBREL).await.pid(), three.pid);
    acks_v4(&mut p, 1, 2).await;
    drop(p);

    // The subscriber is still connected at the stop.
    let k = restart(k, how);
    drop(s);
    let (mut s, present) = Raw::connect(k.port, &Connect::persistent(level, &id)).await;
    assert!(present);
    let a = s.expect_publish().await;
    assert_eq!(
        (a.payload.as_slice(), a.qos, a.dup, a.pid),
        (&b"one"[..], 1, true, one.pid),
        "QoS 1 re-sent with DUP=1 and its packet id"
    );
    let b = s.expect_publish().await;
    assert_eq!(
        (b.payload.as_slice(), b.qos, b.dup, b.pid),
        (&b"two"[..], 2, true, two.pid),
        "QoS 2 before PUBREC re-sent with DUP=1 and its packet id"
    );
    let rel = s.expect(raw::PUBREL).await;
    assert_eq!(rel.pid(), three.pid, "after PUBREC only the PUBREL again");

    s.send_ok(&raw::ack(raw::PUBACK, one.pid)).await;
    s.send_ok(&raw::ack(raw::PUBCOMP, three.pid)).await;
    s.send_ok(&raw::ack(raw::PUBREC, two.pid)).await;
    assert_eq!(s.expect(raw::PUBREL).await.pid(), two.pid);
    s.send_ok(&raw::ack(raw::PUBCOMP, two.pid)).await;
    let p = v4::driven(v4::options(&unique("p"), k.port)).await;
    p.publish(format!("{t}/1"), QoS::AtLeastOnce, false, "sentinel")
        .await
        .unwrap();
    let next = s.expect_publish().await;
    assert_eq!(
        (next.payload.as_slice(), next.dup),
        (&b"sentinel"[..], false),
        "nothing re-sent after the acknowledgements"
    );
}
both_stops!(inflight_outgoing_v311 = inflight_outgoing(4));

both_stops!(inflight_outgoing_v5 = inflight_outgoing(5));

// ---------------------------------------------------------------------
// Incoming QoS 2
// ---------------------------------------------------------------------

/// A publisher (persistent session) sends a QoS 2 PUBLISH and gets the
/// PUBREC; the broker stops before the PUBREL. After the restart the
/// publisher re-sends the PUBLISH with DUP=1 and the same packet id: the
/// broker answers PUBREC but does not deliver it again [MQTT-4.3.3-10];
/// PUBREL → PUBCOMP. The (offline, persistent) subscriber gets it once.
async fn incoming_qos2(how: Stop, level: u8) {
    let k = fresh(CONF);
    let t = unique("in2");
    let sub = unique("s");
    let publisher = unique("p");
    let _obs = detached(k.port, Connect::persistent(4, &sub), &[(&t, 2)]).await;
    let (mut p, _) = Raw::connect(k.port, &Connect::persistent(level, &publisher)).await;
    p.send_ok(&raw::publish(level, &t, 2, 7, false, false, b"x"))
        .await;
    assert_eq!(p.expect(raw::PUBREC).await.pid(), 7);

    let k = restart(k, how);
    drop(p);
    let (mut p, present) = Raw::connect(k.port, &Connect::persistent(level, &publisher)).await;
    assert!(present, "the publisher's session is restored");
    p.resend_qos2_and_release(level, &t, 7).await;

    let (mut s, present) = Raw::connect(k.port, &Connect::persistent(4, &sub)).await;
    assert!(present);
    let got: Vec<Vec<u8>> = s
        .collect_until(b"sentinel")
        .await
        .into_iter()
        .map(|m| m.payload)
        .collect();
    assert_eq!(got, vec![b"x".to_vec()], "delivered exactly once");
}
both_stops!(incoming_qos2_v311 = incoming_qos2(4));

both_stops!(incoming_qos2_v5 = incoming_qos2(5));

// ---------------------------------------------------------------------
// Session expiry
// ---------------------------------------------------------------------

/// Across a restart: a v5 session with expiry 2 s that ran out while the
/// broker was down is gone (session present 0, its subscription routes
/// nothing), as is one that expired (1 s) before the stop; one with 300 s
/// is present. 3.1.1 clean sessions — one ended before the stop, one
/// still connected at the stop — leave nothing.
async fn session_expiry_across_restart(how: Stop) {
    use rumqttc::v5::mqttbytes::v5::PubAckReason;
    let k = fresh(CONF);
    let t = unique("exp");
    let (short, long) = (unique("short"), unique("long"));
    let (clean_gone, clean_on) = (unique("clean"), unique("clean"));
    let short_c = Connect::new(5, &short).clean(false).session_expiry(2);
    let long_c = Connect::new(5, &long).clean(false).session_expiry(300);
    let _o1 = detached(k.port, short_c.clone(), &[(&format!("{t}/short"), 1)]).await;
    let disconnected = Instant::now();
    let _o2 = detached(k.port, long_c.clone(), &[(&format!("{t}/long"), 1)]).await;
    let _o3 = detached(
        k.port,
        Connect::new(4, &clean_gone),
        &[(&format!("{t}/clean-gone"), 1)],
    )
    .await;
    let (mut on, _) = Raw::connect(k.port, &Connect::new(4, &clean_on)).await;
    assert_eq!(on.subscribe(1, &format!("{t}/clean-on"), 1).await, 1);
    // One that expires while the broker runs stays expired.
    let brief = unique("brief");
    let brief_c = Connect::new(5, &brief).clean(false).session_expiry(1);
    let _o4 = detached(k.port, brief_c.clone(), &[(&format!("{t}/brief"), 1)]).await;
    common::wait_unsubscribed(k.port, &format!("{t}/brief")).await;
    sync_store(k.port).await;

    let mut k = k;
    stop(&mut k, how);
    drop(on);
    // The short session's 2 s run out while the broker is down.
    tokio::time::sleep_until((disconnected + Duration::from_millis(3000)).into()).await;
    let conf = k.conf.clone();
    drop(k);
    let k = start(conf);

    // Clean sessions were never stored: nothing routes to them.
    for which in ["clean-gone", "clean-on", "brief"] {
        assert_eq!(
            probe(k.port, &format!("{t}/{which}")).await,
            PubAckReason::NoMatchingSubscribers,
            "{which}: no subscription left"
        );
    }
    let (_d, present) = Raw::connect(k.port, &brief_c).await;
    assert!(!present, "expired before the stop: not present");
    let (_a, present) = Raw::connect(k.port, &short_c).await;
    assert!(!present, "expired while the broker was down: not present");
    common::wait_unsubscribed(k.port, &format!("{t}/short")).await;
    let (_b, present) = Raw::connect(k.port, &long_c).await;
    assert!(present, "300 s session present");
    for id in [&clean_gone, &clean_on] {
        let (_c, present) = Raw::connect(k.port, &Connect::new(4, id).clean(false)).await;
        assert!(!present, "no session left by clean session {id}");
    }
}
both_stops!(session_expiry_across_restart);

/// A session's expiry counts from its disconnect in wall-clock time, not
/// from the restart: expiry 4 s, the broker is down from ~0 s to 3 s after
/// the disconnect; the session's subscription must end about 4 s after
/// the disconnect (counting from the restart it would be 7 s or later).
async fn session_expiry_counts_wall_clock(how: Stop) {
    let k = fresh(CONF);
    let t = unique("wall");
    let c = Connect::new(5, &unique("s")).clean(false).session_expiry(4);
    let _o = detached(k.port, c, &[(&t, 1)]).await;
    let disconnected = Instant::now();
    sync_store(k.port).await;

    let mut k = k;
    stop(&mut k, how);
    tokio::time::sleep_until((disconnected + Duration::from_secs(3)).into()).await;
    let conf = k.conf.clone();
    drop(k);
    let k = start(conf);
    assert_eq!(
        probe(k.port, &t).await,
        rumqttc::v5::mqttbytes::v5::PubAckReason::Success,
        "the session is still there {:?} after its disconnect",
        disconnected.elapsed()
    );
    common::wait_unsubscribed(k.port, &t).await;
    let ended = disconnected.elapsed();
    assert!(
        ended >= Duration::from_millis(3900) && ended < Duration::from_millis(6000),
        "expiry 4 s ended {ended:?} after the disconnect"
    );
}
both_stops!(session_expiry_counts_wall_clock);

// ---------------------------------------------------------------------
// Delayed wills
// ---------------------------------------------------------------------

/// A v5 client (will delay 3 s, session expiry 60 s) drops its connection;
/// the broker is stopped right away (the will is pending) and restarted —
/// at once, or when `past_due`, only after the will fell due. A persistent
/// observer gets the will once: not before 3 s after the drop, and soon
/// after the restart when it fell due meanwhile.
async fn delayed_will_across_restart(how: Stop, past_due: bool) {
    let k = fresh(CONF_SYS);
    let w = unique("will");
    let obs = unique("obs");
    let _o1 = detached(k.port, Connect::persistent(4, &obs), &[(&w, 1)]).await;
    let c = Connect::new(5, &unique("c"))
        .clean(false)
        .session_expiry(60)
        .will(Will::delayed(&w, "late", 3));
    let (c, _) = Raw::connect(k.port, &c).await;
    c.abort();
    let dropped = Instant::now();
    // Both persistent sessions offline: the broker has detached the
    // client's session (it counts the disconnect after recording the
    // pending will).
    common::config::sys_value_until(k.port, "$SYS/broker/clients/disconnected", |v| v == "2").await;
    sync_store(k.port).await;
    let mut k = k;
    stop(&mut k, how);
    assert!(
        dropped.elapsed() < Duration::from_secs(3),
        "the broker stopped {:?} after the drop: not before the will was due",
        dropped.elapsed()
    );
    if past_due {
        tokio::time::sleep_until((dropped + Duration::from_secs(4)).into()).await;
    }
    let conf = k.conf.clone();
    drop(k);
    let k = start(conf);
    let started = Instant::now();

    let (mut s, present) = Raw::connect(k.port, &Connect::persistent(4, &obs)).await;
    assert!(present);
    let f = s
        .recv_within(Duration::from_secs(8))
        .await
        .expect("the will within 8 s")
        .expect("connection open");
    let arrived = dropped.elapsed();
    let m = raw::parse_publish(&f, 4);
    assert_eq!(m.payload, b"late");
    s.send_ok(&raw::ack(raw::PUBACK, m.pid)).await;
    assert!(
        arrived >= Duration::from_millis(2990),
        "will delay 3 s: published {arrived:?} after the drop"
    );
    if past_due {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "due while the broker was down: published {:?} after the restart",
            started.elapsed()
        );
    } else {
        assert!(
            arrived < Duration::from_secs(5),
            "will delay 3 s: published only {arrived:?} after the drop"
        );
    }
    let p = v4::driven(v4::options(&unique("p"), k.port)).await;
    p.publish(&w, rumqttc::QoS::AtLeastOnce, false, "sentinel")
        .await
        .unwrap();
    assert_eq!(
        s.expect_publish().await.payload,
        b"sentinel",
        "the will is published once"
    );
}

both_stops!(delayed_will_restart_before_due = delayed_will_across_restart(false));

both_stops!(delayed_will_restart_after_due = delayed_will_across_restart(true));

// ---------------------------------------------------------------------
// Mosquitto's database, --test-config
// ---------------------------------------------------------------------

/// With Mosquitto's `mosquitto.db` in `persistence_location`, `komar`
/// refuses to start, names the file, and leaves it (and the directory)
/// untouched.
#[test]
fn mosquitto_db_is_refused_and_untouched() {
    let conf = Conf::write(CONF);
    let db = conf.file("mosquitto.db");
    let mut content = b"\x00\xB5\x00mosquitto db".to_vec();
    content.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 6, 1, 2, 3]);
    std::fs::write(&db, &content).unwrap();
    let modified = std::fs::metadata(&db).unwrap().modified().unwrap();
    let done = run_komar(&["-c", &conf.path.display().to_string()]);
    assert_ne!(done.code, 0, "refused: {done:?}");
    assert!(
        done.stderr.contains(&db.display().to_string()),
        "the error names the file: {}",
        done.stderr
    );
    assert!(!done.stderr.contains("panicked"), "{}", done.stderr);
    assert_eq!(std::fs::read(&db).unwrap(), content, "file unchanged");
    assert_eq!(
        std::fs::metadata(&db).unwrap().modified().unwrap(),
        modified
    );
    assert!(!conf.file("komar.db").exists(), "no store created");

    // Any file of that name counts, not only a valid one.
    std::fs::write(&db, b"").unwrap();
    let done = run_komar(&["-c", &conf.path.display().to_string()]);
    assert_ne!(done.code, 0, "refused: {done:?}");
    assert!(done.stderr.contains("mosquitto.db"), "{}", done.stderr);
}

/// `--test-config` accepts the persistence options and opens no store.
#[test]
fn test_config_with_persistence_is_valid() {
    let conf = Conf::write(&format!(
        "{CONF}persistence_sync true\nautosave_interval 60\n"
    ));
    let done = run_komar(&["--test-config", "-c", &conf.path.display().to_string()]);
    assert_eq!(done.code, 0, "{done:?}");
    assert!(
        !conf.file("komar.db").exists(),
        "--test-config opens no store"
    );
}

/// `persistence_sync true` serves and keeps state like the default, and
/// SIGUSR1 saves (fsyncs) the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistence_sync_and_sigusr1() {
    let k = fresh(&format!("{CONF}persistence_sync true\n"));
    let t = unique("sync");
    let mut p = v4::driven(v4::options(&unique("p"), k.port)).await;
    p.publish(&t, rumqttc::QoS::AtLeastOnce, true, "durable")
        .await
        .unwrap();
    acks_v4(&mut p, 1, 0).await;
    k.signal("USR1");
    k.wait_log("Saved the store to");
    let k = restart(k, Stop::Kill);
    let got = retained_under(k.port, &t).await;
    assert_eq!(
        got.get(&t).map(|(p, _)| p.as_str()),
        Some("durable"),
        "{got:?}"
    );
}
