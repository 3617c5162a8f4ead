//! MQTT 5 connection-level features through rumqttc v5, paho-mqtt
//! (tests/py/v5_connect.py) and the raw client: CONNACK properties (Topic
//! Alias Maximum, Retain Available, Maximum QoS, Receive Maximum; absent
//! Wildcard / Subscription Identifier / Shared Subscription Available mean
//! available, §3.2.2.3), Server Keep Alive from `max_keepalive`
//! [MQTT-3.2.2-21], Assigned Client Identifier [MQTT-3.2.2-16], Session
//! Expiry changed by DISCONNECT (0 to non-zero is a Protocol Error,
//! [MQTT-3.14.2-2]), Will Delay Interval [MQTT-3.1.3-9], server DISCONNECT
//! 0x8B on shutdown and 0x8E on take-over, and server redirection (§4.11:
//! `server_reference` / `server_moved`, CONNACK 0x9C / 0x9D, and on a
//! SIGHUP that sets it, DISCONNECT 0x9C / 0x9D to connected v5 clients).

mod common;
mod v5_support;

use std::time::{Duration, Instant};

use common::raw::{self, Connect, Raw, Will};
use common::{unique, Komar};
use rumqttc::v5::mqttbytes::v5::{
    ConnectReturnCode, DisconnectReasonCode, LastWill, LastWillProperties,
};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{ConnectionError, StateError};
use v5_support::{options, p_u32, paho, sentinel, Paho, C5};

fn broker_with(lines: &str) -> common::config::Configured {
    Komar::start_with_config(&format!(
        "listener {{port}} 127.0.0.1\nallow_anonymous true\n{lines}\n"
    ))
}

/// The reason of a server DISCONNECT as rumqttc reports it.
fn server_disconnect(e: ConnectionError) -> DisconnectReasonCode {
    match e {
        ConnectionError::MqttState(StateError::ServerDisconnect { reason_code, .. }) => reason_code,
        e => panic!("expected a DISCONNECT from the server, got {e}"),
    }
}

/// Defaults: Topic Alias Maximum 10 and Receive Maximum 20 announced;
/// Retain Available, Maximum QoS and the three "available" properties
/// absent (= available / 2) — and those features work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connack_properties_by_default() {
    let k = Komar::start();
    let (mut c, ack) = C5::connect(options(&unique("c"), k.port)).await;
    let p = ack.properties.expect("CONNACK properties");
    assert_eq!((p.topic_alias_max, p.receive_max), (Some(10), Some(20)));
    assert_eq!((p.retain_available, p.max_qos), (None, None));
    assert_eq!(
        (
            p.wildcard_subscription_available,
            p.subscription_identifiers_available,
            p.shared_subscription_available
        ),
        (None, None, None)
    );
    assert_eq!(p.server_keep_alive, None);
    let (_r, ack) = Raw::connect_with(k.port, &Connect::new(5, &unique("raw"))).await;
    for absent in [0x24, 0x25, 0x28, 0x29, 0x2A, 0x13, 0x12] {
        assert_eq!(ack.prop(absent), None, "property {absent:#x} in {ack:?}");
    }
    // What "available" promises: wildcard, shared and QoS 2 subscriptions
    // with an identifier, granted as asked.
    c.subscribe_with_properties(
        format!("{}/+/#", unique("w")),
        QoS::ExactlyOnce,
        rumqttc::v5::mqttbytes::v5::SubscribeProperties {
            id: Some(9),
            user_properties: Vec::new(),
        },
    )
    .await
    .unwrap();
    let s = c.suback().await;
    assert_eq!(
        s.return_codes,
        vec![rumqttc::v5::mqttbytes::v5::SubscribeReasonCode::Success(
            QoS::ExactlyOnce
        )]
    );
    c.sub(&format!("$share/g/{}", unique("s")), QoS::AtLeastOnce)
        .await;
}

/// `retain_available false`, `max_qos 1`, `max_topic_alias 3` are
/// announced and enforced: a retained PUBLISH is 0x9A, QoS 2 is 0x9B
/// (raw: rumqttc refuses to send either), a QoS 2 subscription is
/// granted QoS 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connack_properties_as_configured() {
    let k = broker_with("max_qos 1\nmax_topic_alias 3\nretain_available false");
    let (mut c, ack) = C5::connect(options(&unique("c"), k.port)).await;
    let p = ack.properties.expect("CONNACK properties");
    assert_eq!(
        (p.retain_available, p.max_qos, p.topic_alias_max),
        (Some(0), Some(1), Some(3))
    );
    c.client.subscribe("mq/x", QoS::ExactlyOnce).await.unwrap();
    let s = c.suback().await;
    assert_eq!(
        s.return_codes,
        vec![rumqttc::v5::mqttbytes::v5::SubscribeReasonCode::Success(
            QoS::AtLeastOnce
        )]
    );
    for (qos, retain, want) in [(1, true, 0x9A), (2, false, 0x9B)] {
        let (mut r, _) = Raw::connect(k.port, &Connect::new(5, &unique("raw"))).await;
        r.send_ok(&v5_support::publish("mq/x", qos, 1, retain, &[], b"x"))
            .await;
        let frames = r.closed().await;
        let (reason, _) = v5_support::parse_disconnect(frames.last().expect("DISCONNECT"));
        assert_eq!(reason, want, "qos {qos} retain {retain}");
    }
}

/// A will the server cannot honour is refused at CONNECT: Will Retain
/// with `retain_available false` gets CONNACK 0x9A [MQTT-3.2.2-13], a
/// Will QoS above `max_qos` gets CONNACK 0x9B [MQTT-3.2.2-12] (raw and
/// rumqttc).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn will_beyond_the_servers_limits_is_refused() {
    let k = broker_with("max_qos 1\nretain_available false");
    for (qos, retain, want, rumqttc_code) in [
        (1, true, 0x9A, ConnectReturnCode::RetainNotSupported),
        (2, false, 0x9B, ConnectReturnCode::QoSNotSupported),
    ] {
        let will = Will {
            topic: "w".to_owned(),
            payload: b"w".to_vec(),
            qos,
            retain,
            props: Vec::new(),
        };
        let (_r, ack) =
            Raw::connect_with(k.port, &Connect::new(5, &unique("raw")).will(will)).await;
        assert_eq!(ack.code, want, "will qos {qos} retain {retain}");
        let mut o = options(&unique("c"), k.port);
        let q = [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce][usize::from(qos)];
        o.set_last_will(LastWill::new("w", "w", q, retain, None));
        let got = common::config::v5_connect_code(o).await;
        assert_eq!(got.err(), Some(rumqttc_code));
    }
}

/// `max_keepalive`: a larger keep alive is answered with Server Keep
/// Alive, which the broker then applies (0x8D after 1.5 × it); a smaller
/// one is kept as asked, without the property.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_keep_alive() {
    let k = broker_with("max_keepalive 1");
    let mut o = options(&unique("c"), k.port);
    o.set_keep_alive(Duration::from_secs(60));
    let (_c, ack) = C5::connect(o).await;
    assert_eq!(ack.properties.and_then(|p| p.server_keep_alive), Some(1));
    let (mut r, ack) =
        Raw::connect_with(k.port, &Connect::new(5, &unique("raw")).keep_alive(60)).await;
    assert_eq!(ack.prop(0x13), Some(&[0u8, 1][..]));
    let start = Instant::now();
    let frames = r.closed().await;
    let elapsed = start.elapsed();
    assert_eq!(
        v5_support::parse_disconnect(frames.last().expect("DISCONNECT")).0,
        0x8D
    );
    assert!(
        elapsed >= Duration::from_millis(1400) && elapsed < Duration::from_secs(5),
        "closed after {elapsed:?}, want 1.5 s"
    );
    let small = broker_with("max_keepalive 10");
    let (_r, ack) =
        Raw::connect_with(small.port, &Connect::new(5, &unique("raw")).keep_alive(5)).await;
    assert_eq!(ack.prop(0x13), None);
}

/// An empty client id gets an Assigned Client Identifier, which names a
/// real session: reconnecting with it finds the session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assigned_client_identifier() {
    let k = Komar::start();
    let mut o = options("", k.port);
    o.set_connect_properties(rumqttc::v5::mqttbytes::v5::ConnectProperties {
        session_expiry_interval: Some(60),
        ..rumqttc::v5::mqttbytes::v5::ConnectProperties::new()
    });
    let (c, ack) = C5::connect(o.clone()).await;
    let id = ack
        .properties
        .and_then(|p| p.assigned_client_identifier)
        .expect("Assigned Client Identifier");
    assert!(id.starts_with("auto-") && id.len() > 10, "{id}");
    drop(c);
    let mut again = options(&id, k.port);
    again.set_clean_start(false);
    again.set_connect_properties(o.connect_properties().expect("props"));
    let (_c, ack) = C5::connect(again).await;
    assert!(ack.session_present, "the assigned id names the session");
    assert_eq!(
        ack.properties.and_then(|p| p.assigned_client_identifier),
        None
    );
    // Raw: two empty ids get two different identifiers.
    let (_a, a) = Raw::connect_with(k.port, &Connect::new(5, "")).await;
    let (_b, b) = Raw::connect_with(k.port, &Connect::new(5, "")).await;
    assert!(a.prop(0x12).is_some() && a.prop(0x12) != b.prop(0x12));
}

/// Session Expiry on DISCONNECT (raw; rumqttc cannot send it): 60 → 0
/// ends the session; 1 → 60 keeps it past the first second; 0 → non-zero
/// is a Protocol Error: DISCONNECT 0x82, the will is published (it was no
/// valid DISCONNECT), and no session is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_expiry_changed_on_disconnect() {
    let k = Komar::start();
    let port = k.port;
    let present = |id: String| async move {
        let c = Connect::new(5, &id).clean(false).session_expiry(60);
        let (mut r, ack) = Raw::connect_with(port, &c).await;
        assert_eq!(ack.code, 0);
        r.send_ok(&raw::disconnect_v5(0, &[])).await;
        ack.session_present
    };
    let sixty_to_zero = async {
        // The session ends (its subscription goes with it).
        let id = unique("s");
        let own = unique("own");
        let (mut r, _) = Raw::connect(port, &Connect::new(5, &id).session_expiry(60)).await;
        assert_eq!(r.subscribe(1, &own, 1).await, 1);
        r.send_ok(&raw::disconnect_v5(0, &p_u32(0x11, 0))).await;
        assert!(r.closed().await.is_empty());
        common::wait_unsubscribed(port, &own).await;
        assert!(
            !present(id).await,
            "expiry 0 on DISCONNECT ends the session"
        );
    };
    let one_to_sixty = async {
        // Still there after 2 s.
        let id = unique("s");
        let (mut r, _) = Raw::connect(port, &Connect::new(5, &id).session_expiry(1)).await;
        r.send_ok(&raw::disconnect_v5(0, &p_u32(0x11, 60))).await;
        assert!(r.closed().await.is_empty());
        let at = Instant::now() + Duration::from_millis(2000);
        tokio::time::sleep_until(at.into()).await; // the old 1 s expiry passes
        assert!(present(id).await, "expiry raised to 60 on DISCONNECT");
    };
    let zero_to_thirty = async {
        // Protocol Error.
        let w = unique("will");
        let (mut watcher, _) = C5::connect(options(&unique("w"), port)).await;
        watcher.sub(&w, QoS::AtLeastOnce).await;
        let id = unique("s");
        let will = Will {
            topic: w.clone(),
            payload: b"bye".to_vec(),
            qos: 1,
            retain: false,
            props: Vec::new(),
        };
        let (mut r, _) = Raw::connect(port, &Connect::new(5, &id).will(will)).await;
        r.send_ok(&raw::disconnect_v5(0, &p_u32(0x11, 30))).await;
        let frames = r.closed().await;
        assert_eq!(
            v5_support::parse_disconnect(frames.last().expect("DISCONNECT")).0,
            0x82
        );
        assert_eq!(watcher.next().await.payload.as_ref(), b"bye");
        assert!(!present(id).await);
    };
    tokio::join!(sixty_to_zero, one_to_sixty, zero_to_thirty);
}

/// rumqttc options: persistent session (`expiry`) with a QoS 1 will on
/// `topic` delayed by `delay`.
fn will_client(
    port: u16,
    id: &str,
    topic: &str,
    delay: u32,
    expiry: u32,
    payload: &str,
) -> rumqttc::v5::MqttOptions {
    let mut o = options(id, port);
    o.set_clean_start(false);
    o.set_connect_properties(rumqttc::v5::mqttbytes::v5::ConnectProperties {
        session_expiry_interval: Some(expiry),
        ..rumqttc::v5::mqttbytes::v5::ConnectProperties::new()
    });
    let props = LastWillProperties {
        delay_interval: Some(delay),
        payload_format_indicator: None,
        message_expiry_interval: None,
        content_type: None,
        response_topic: None,
        correlation_data: None,
        user_properties: Vec::new(),
    };
    o.set_last_will(LastWill::new(
        topic,
        payload.to_owned(),
        QoS::AtLeastOnce,
        false,
        Some(props),
    ));
    o
}

/// A watcher of a fresh will topic.
async fn will_watcher(port: u16) -> (C5, String) {
    let w = unique("will");
    let (mut watcher, _) = C5::connect(options(&unique("w"), port)).await;
    watcher.sub(&w, QoS::AtLeastOnce).await;
    (watcher, w)
}

/// Will Delay Interval (rumqttc): the will comes no sooner than the delay
/// after the connection is lost; a session ending first publishes it then;
/// a reconnect within the delay cancels it. (The three run side by side.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn will_delay_interval() {
    let k = Komar::start();
    let port = k.port;
    let delayed = async {
        let (mut watcher, w) = will_watcher(port).await;
        let (c, _) = C5::connect(will_client(port, &unique("a"), &w, 1, 60, "delayed")).await;
        let lost = Instant::now();
        c.abort();
        assert_eq!(watcher.next().await.payload.as_ref(), b"delayed");
        let after = lost.elapsed();
        assert!(
            after >= Duration::from_millis(950),
            "will after {after:?}, delay 1 s"
        );
    };
    let session_end = async {
        // Delay 100 s, session expiry 1 s: published when the session ends.
        let (mut watcher, w) = will_watcher(port).await;
        let (c, _) = C5::connect(will_client(port, &unique("b"), &w, 100, 1, "session-end")).await;
        let lost = Instant::now();
        c.abort();
        assert_eq!(watcher.next().await.payload.as_ref(), b"session-end");
        let after = lost.elapsed();
        assert!(
            after >= Duration::from_millis(950) && after < Duration::from_secs(5),
            "{after:?}"
        );
    };
    let cancelled = async {
        let (mut watcher, w) = will_watcher(port).await;
        let id = unique("c");
        let (c, _) = C5::connect(will_client(port, &id, &w, 1, 60, "cancelled")).await;
        let lost = Instant::now();
        c.abort();
        let (_back, ack) = C5::connect(will_client(port, &id, &w, 1, 60, "cancelled")).await;
        assert!(ack.session_present);
        assert!(
            lost.elapsed() < Duration::from_millis(900),
            "reconnected too late for the test"
        );
        tokio::time::sleep_until((lost + Duration::from_millis(1500)).into()).await; // past the delay
        sentinel(port, &w, "sentinel").await;
        assert_eq!(watcher.next().await.payload.as_ref(), b"sentinel");
    };
    tokio::join!(delayed, session_end, cancelled);
}

/// A delayed will's Message Expiry Interval starts when the will is
/// published (§3.1.3.2.4: it "is sent as the Publication Expiry Interval
/// when the Server publishes the Will Message"), not when the connection
/// was lost: a will with a 1 s delay and a 1 s expiry arrives (before a
/// sentinel sent 1.5 s after the loss), with its interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delayed_will_expiry_counts_from_publication() {
    let k = Komar::start();
    let w = unique("will");
    let (mut watcher, _) = C5::connect(options(&unique("w"), k.port)).await;
    watcher.sub(&w, QoS::AtLeastOnce).await;
    let mut o = options(&unique("a"), k.port);
    o.set_connect_properties(rumqttc::v5::mqttbytes::v5::ConnectProperties {
        session_expiry_interval: Some(60),
        ..rumqttc::v5::mqttbytes::v5::ConnectProperties::new()
    });
    let props = LastWillProperties {
        delay_interval: Some(1),
        payload_format_indicator: None,
        message_expiry_interval: Some(1),
        content_type: None,
        response_topic: None,
        correlation_data: None,
        user_properties: Vec::new(),
    };
    o.set_last_will(LastWill::new(
        &w,
        "expiring",
        QoS::AtLeastOnce,
        false,
        Some(props),
    ));
    let (c, _) = C5::connect(o).await;
    let lost = Instant::now();
    c.abort();
    tokio::time::sleep_until((lost + Duration::from_millis(1500)).into()).await; // past the delay
    sentinel(k.port, &w, "sentinel").await;
    let m = watcher.next().await;
    assert_eq!(
        m.payload.as_ref(),
        b"expiring",
        "the will was dropped as expired"
    );
    let left = m.properties.and_then(|p| p.message_expiry_interval);
    assert_eq!(left, Some(1));
}

/// Shutdown (SIGTERM): every v5 client gets DISCONNECT 0x8B — rumqttc,
/// paho and raw alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_0x8b_on_shutdown() {
    let mut k = Komar::start();
    let (mut c, _) = C5::connect(options(&unique("c"), k.port)).await;
    let (mut r, _) = Raw::connect(k.port, &Connect::new(5, &unique("raw"))).await;
    let mut py = Paho::start("v5_connect.py", k.port, "await_disconnect", &[]);
    py.wait_for("ready").await;
    k.signal("TERM");
    assert_eq!(
        server_disconnect(c.error().await),
        DisconnectReasonCode::ServerShuttingDown
    );
    let frames = r.closed().await;
    assert_eq!(
        v5_support::parse_disconnect(frames.last().expect("DISCONNECT")).0,
        0x8B
    );
    assert_eq!(py.finish().await.get("disconnect"), "139");
    k.wait_exit(common::TIMEOUT);
}

/// A second connection with the same client id takes over: the first gets
/// DISCONNECT 0x8E.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_0x8e_on_take_over() {
    let k = Komar::start();
    let id = unique("dup");
    let (mut first, _) = C5::connect(options(&id, k.port)).await;
    let (_second, _) = C5::connect(options(&id, k.port)).await;
    assert_eq!(
        server_disconnect(first.error().await),
        DisconnectReasonCode::SessionTakenOver
    );
    let out = paho("v5_connect.py", k.port, "take_over", &[]).await;
    assert_eq!(out.get("disconnect"), "142");
}

/// `server_reference` (and `server_moved`): v5 clients are refused with
/// CONNACK 0x9C (0x9D) carrying the Server Reference; 3.1.1 clients with
/// return code 3 (server unavailable).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_in_connack() {
    for (moved, code, rumqttc_code) in [
        (false, 0x9C, ConnectReturnCode::UseAnotherServer),
        (true, 0x9D, ConnectReturnCode::ServerMoved),
    ] {
        let k = broker_with(&format!(
            "server_reference other.example:1884\nserver_moved {moved}"
        ));
        let (_r, ack) = Raw::connect_with(k.port, &Connect::new(5, &unique("raw"))).await;
        assert_eq!(ack.code, code);
        assert_eq!(ack.prop(0x1C), Some(&b"other.example:1884"[..]));
        let got = common::config::v5_connect_code(options(&unique("c"), k.port)).await;
        assert_eq!(got.err(), Some(rumqttc_code));
        let (_r, ack) = Raw::connect_with(k.port, &Connect::new(4, &unique("raw4"))).await;
        assert_eq!(ack.code, 3, "3.1.1: server unavailable");
        let v4 = common::config::v4_connect_code(common::v4::options(&unique("c4"), k.port)).await;
        assert_eq!(v4, Err(rumqttc::ConnectReturnCode::ServiceUnavailable));
        let out = paho("v5_connect.py", k.port, "redirected", &[]).await;
        assert_eq!(out.get("connack"), format!("{code}"));
        assert_eq!(out.get("reference"), "other.example:1884");
        assert_eq!(out.get("connack311"), "3");
    }
}

/// Draining a node: a SIGHUP that sets `server_reference` sends connected
/// v5 clients DISCONNECT 0x9C with the Server Reference (rumqttc, paho,
/// raw) and closes 3.1.1 connections; new clients are then redirected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_on_reload_drains_connected_clients() {
    let template = "listener {port} 127.0.0.1\nallow_anonymous true\n";
    let k = Komar::start_with_config(template);
    let (mut c, _) = C5::connect(options(&unique("c"), k.port)).await;
    let (mut r5, _) = Raw::connect(k.port, &Connect::new(5, &unique("raw5"))).await;
    let (mut r4, _) = Raw::connect(k.port, &Connect::new(4, &unique("raw4"))).await;
    let mut py = Paho::start("v5_connect.py", k.port, "await_disconnect", &[]);
    py.wait_for("ready").await;
    k.conf.rewrite(&format!(
        "{template}server_reference node2:1883\nserver_moved true\n"
    ));
    k.signal("HUP");
    assert_eq!(
        server_disconnect(c.error().await),
        DisconnectReasonCode::ServerMoved
    );
    let frames = r5.closed().await;
    let (reason, props) = v5_support::parse_disconnect(frames.last().expect("DISCONNECT"));
    assert_eq!(
        (reason, props.text(0x1C)),
        (0x9D, Some("node2:1883".to_owned()))
    );
    assert_eq!(
        r4.closed().await,
        Vec::new(),
        "3.1.1: closed without a packet"
    );
    let out = py.finish().await;
    assert_eq!(
        (out.get("disconnect"), out.get("reference")),
        ("157", "node2:1883")
    );
    let (_r, ack) = Raw::connect_with(k.port, &Connect::new(5, &unique("new"))).await;
    assert_eq!((ack.code, ack.prop(0x1C)), (0x9D, Some(&b"node2:1883"[..])));
}

// ---------------------------------------------------------------------
// paho-mqtt (tests/py/v5_connect.py)
// ---------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_connack_properties() {
    let k = Komar::start();
    let out = paho("v5_connect.py", k.port, "connack_default", &[]).await;
    assert_eq!(out.get("present"), "ReceiveMaximum,TopicAliasMaximum");
    let c = broker_with("max_qos 1\nmax_topic_alias 3\nretain_available false\nmax_keepalive 5");
    let out = paho("v5_connect.py", c.port, "connack_configured", &[]).await;
    assert_eq!(out.get("limits"), "retain=0 qos=1 alias=3 keepalive=5");
    assert_eq!(out.get("refused"), "retain=154 qos2=155");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_will_beyond_the_servers_limits_is_refused() {
    let k = broker_with("max_qos 1\nretain_available false");
    let out = paho("v5_connect.py", k.port, "will_limits", &[]).await;
    assert_eq!(out.get("connack"), "retain=154 qos2=155");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_assigned_client_identifier() {
    let k = Komar::start();
    let out = paho("v5_connect.py", k.port, "assigned_id", &[]).await;
    assert_eq!(out.get("session_present"), "True");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_session_expiry_changed_on_disconnect() {
    let k = Komar::start();
    let out = paho("v5_connect.py", k.port, "session_expiry", &[]).await;
    assert_eq!(out.get("zero_to_nonzero"), "will=bye present=False");
    assert_eq!(out.get("sixty_to_zero"), "present=False");
    assert_eq!(out.get("one_to_sixty"), "present=True");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_will_delay_interval() {
    let k = Komar::start();
    let out = paho("v5_connect.py", k.port, "will_delay", &[]).await;
    assert_eq!(out.get("next_after_cancel"), "sentinel");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_delayed_will_expiry_counts_from_publication() {
    let k = Komar::start();
    let out = paho("v5_connect.py", k.port, "will_expiry", &[]).await;
    assert_eq!(out.get("first"), "expiring");
}
