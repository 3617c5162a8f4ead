//! Listener and client-id options of `mosquitto.conf` through real
//! clients: `mount_point`, `use_username_as_clientid`, `max_qos`,
//! `max_connections`, `allow_zero_length_clientid`, `auto_id_prefix`,
//! `clientid_prefixes` — and the CONNACK codes of the refusals, compared
//! with Debian's Mosquitto 2.0.11 running the same file.

mod common;

use common::config::{v4_connect_code, v5_connect_code, Conf, Mosquitto};
use common::{unique, v4, v5, Komar, TIMEOUT};
use rumqttc::v5::mqttbytes::v5::ConnectReturnCode as Rc5;
use rumqttc::v5::mqttbytes::QoS as Q5;
use rumqttc::{ConnectReturnCode as Rc4, Event, Packet, QoS, SubscribeReasonCode};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mount_point_prefixes_topics_of_its_listener() {
    let k = Komar::start_with_config(
        "allow_anonymous true\n\
         listener {port0} 127.0.0.1\nmount_point a/\n\
         listener {port1} 127.0.0.1\n",
    );
    let (mounted, plain) = (k.port_n(0), k.port_n(1));
    let mut m = v4::driven(v4::options(&unique("m"), mounted)).await;
    m.subscribe("#", QoS::AtLeastOnce).await.unwrap();
    m.until(|p| matches!(p, Packet::SubAck(_))).await;
    let mut p = v4::driven(v4::options(&unique("p"), plain)).await;
    p.subscribe("a/#", QoS::AtLeastOnce).await.unwrap();
    p.until(|p| matches!(p, Packet::SubAck(_))).await;

    // Published as `x` on the mounted listener: `a/x` everywhere else, `x`
    // for the mounted client itself.
    m.publish("x", QoS::AtLeastOnce, false, "from-m")
        .await
        .unwrap();
    assert_eq!(next(&mut p).await.topic, "a/x");
    assert_eq!(next(&mut m).await.topic, "x");

    // Published outside the mount point: invisible to the mounted client;
    // inside it: seen without the prefix.
    p.publish("b/y", QoS::AtLeastOnce, false, "outside")
        .await
        .unwrap();
    p.publish("a/z", QoS::AtLeastOnce, false, "inside")
        .await
        .unwrap();
    let got = next(&mut m).await;
    assert_eq!(
        (got.topic.as_str(), &got.payload[..]),
        ("z", &b"inside"[..])
    );
}

async fn next(d: &mut v4::Driven) -> rumqttc::Publish {
    match d.until(|p| matches!(p, Packet::Publish(_))).await {
        Packet::Publish(p) => p,
        _ => unreachable!(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn use_username_as_clientid_replaces_the_client_id() {
    let k = Komar::start_with_config(
        "allow_anonymous true\nlistener {port} 127.0.0.1\nuse_username_as_clientid true\n",
    );
    let user = unique("shared");
    let mut o1 = v4::options("first-id", k.port);
    o1.set_credentials(&user, "x");
    let (_c1, mut el1, _) = v4::connect(o1).await;
    k.wait_log(&format!("as {user} "));
    // A different client id with the same user name is the same client:
    // it takes the first one's place.
    let mut o2 = v4::options("second-id", k.port);
    o2.set_credentials(&user, "x");
    let (_c2, _el2, _) = v4::connect(o2).await;
    let closed = tokio::time::timeout(TIMEOUT, async {
        loop {
            if el1.poll().await.is_err() {
                return;
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the first connection was not taken over");
    assert!(!k.log_text().contains("first-id"), "{}", k.log_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_qos_is_announced_and_caps_subscriptions() {
    let k =
        Komar::start_with_config("allow_anonymous true\nlistener {port} 127.0.0.1\nmax_qos 1\n");
    let (c5, mut el5, ack) = v5::connect(v5::options(&unique("v5"), k.port)).await;
    let props = ack.properties.expect("CONNACK properties");
    assert_eq!(props.max_qos, Some(1));
    c5.subscribe("t/#", Q5::ExactlyOnce).await.unwrap();
    assert_eq!(
        v5::suback(&mut el5).await.return_codes,
        vec![rumqttc::v5::mqttbytes::v5::SubscribeReasonCode::Success(
            Q5::AtLeastOnce
        )]
    );
    let mut c4 = v4::driven(v4::options(&unique("v4"), k.port)).await;
    c4.subscribe("t/#", QoS::ExactlyOnce).await.unwrap();
    match c4.until(|p| matches!(p, Packet::SubAck(_))).await {
        Packet::SubAck(a) => assert_eq!(
            a.return_codes,
            vec![SubscribeReasonCode::Success(QoS::AtLeastOnce)]
        ),
        _ => unreachable!(),
    }
    // Delivery happens at the granted QoS.
    c4.publish("t/1", QoS::AtLeastOnce, false, "m")
        .await
        .unwrap();
    let got = v5::next(&mut el5).await;
    assert_eq!(got.qos, Q5::AtLeastOnce);
}

/// Connect with rumqttc 3.1.1: `Ok` on CONNACK 0, `Err` with what went
/// wrong otherwise (refusal code or a closed connection).
async fn attempt(
    o: rumqttc::MqttOptions,
) -> Result<(rumqttc::AsyncClient, rumqttc::EventLoop), String> {
    let (c, mut el) = rumqttc::AsyncClient::new(o, 100);
    tokio::time::timeout(TIMEOUT, async {
        loop {
            match el.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => return Ok(()),
                Ok(_) => continue,
                Err(e) => return Err(e.to_string()),
            }
        }
    })
    .await
    .expect("an answer in time")?;
    Ok((c, el))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_connections_refuses_the_next_connection_on_that_listener() {
    // The harness waits for start-up by connecting to {port0}; the limited
    // listener is the second one, which no stray connection touches.
    let k = Komar::start_with_config(
        "allow_anonymous true\nlistener {port0} 127.0.0.1\n\
         listener {port1} 127.0.0.1\nmax_connections 2\n",
    );
    let p = k.port_n(1);
    let (c1, mut el1) = attempt(v4::options(&unique("c1"), p)).await.unwrap();
    let (c2, el2) = attempt(v4::options(&unique("c2"), p)).await.unwrap();
    let third = attempt(v4::options(&unique("c3"), p)).await;
    assert!(third.is_err(), "a third connection was accepted");
    // The other listener is not limited by it.
    attempt(v4::options(&unique("other"), k.port_n(0)))
        .await
        .unwrap();
    // The two connected clients go on working.
    c1.subscribe("mc/t", QoS::AtLeastOnce).await.unwrap();
    v4::suback(&mut el1).await;
    let d2 = v4::drive(el2);
    c2.publish("mc/t", QoS::AtLeastOnce, false, "still here")
        .await
        .unwrap();
    assert_eq!(&v4::next(&mut el1).await.payload[..], b"still here");
    // When one leaves, its place is free again (retried until the broker
    // has seen the connection close).
    c2.disconnect().await.unwrap();
    let _ = tokio::time::timeout(TIMEOUT, d2).await;
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        if attempt(v4::options(&unique("c4"), p)).await.is_ok() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the freed place was never reused"
        );
    }
}

/// One way to connect, for comparing Komar's answer with Mosquitto's.
#[derive(Debug, Clone, Copy)]
enum Try {
    V4 { id: &'static str, keep_alive: u64 },
    V5 { id: &'static str },
}

#[derive(Debug, PartialEq)]
enum Answer {
    Ok,
    Refused(u8),
}

fn rc4_byte(c: Rc4) -> u8 {
    match c {
        Rc4::Success => 0,
        Rc4::RefusedProtocolVersion => 1,
        Rc4::BadClientId => 2,
        Rc4::ServiceUnavailable => 3,
        Rc4::BadUserNamePassword => 4,
        Rc4::NotAuthorized => 5,
    }
}

fn rc5_byte(c: Rc5) -> u8 {
    match c {
        Rc5::ClientIdentifierNotValid => 0x85,
        Rc5::BadUserNamePassword => 0x86,
        Rc5::NotAuthorized => 0x87,
        Rc5::UnspecifiedError => 0x80,
        Rc5::ProtocolError => 0x82,
        other => panic!("unexpected refusal {other:?}"),
    }
}

async fn answer(port: u16, t: Try) -> Answer {
    match t {
        Try::V4 { id, keep_alive } => {
            let mut o = v4::options(id, port);
            o.set_keep_alive(std::time::Duration::from_secs(keep_alive));
            match v4_connect_code(o).await {
                Ok(()) => Answer::Ok,
                Err(c) => Answer::Refused(rc4_byte(c)),
            }
        }
        Try::V5 { id } => match v5_connect_code(v5::options(id, port)).await {
            Ok(_) => Answer::Ok,
            Err(c) => Answer::Refused(rc5_byte(c)),
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_id_and_keepalive_refusals_match_mosquitto() {
    use Answer::{Ok as Accepted, Refused};
    // (how to connect, Komar's answer, Mosquitto 2.0.11's answer). They
    // differ in two places: an empty client id refused to a 5.0 client,
    // where Mosquitto says 0x80 "unspecified error" and Komar the
    // specification's 0x85 "client identifier not valid"; and a 3.1.1
    // keepalive above `max_keepalive`, which Debian's 2.0.11 lets in
    // although its man page (and Mosquitto's own test
    // max-keepalive-rejected) says "identifier rejected" (2), as Komar does.
    type Case = (Try, Answer, Answer);
    let cases: Vec<(&str, Vec<Case>)> = vec![
        (
            "allow_zero_length_clientid false\n",
            vec![
                (
                    Try::V4 {
                        id: "",
                        keep_alive: 30,
                    },
                    Refused(2),
                    Refused(2),
                ),
                (Try::V5 { id: "" }, Refused(0x85), Refused(0x80)),
                (
                    Try::V4 {
                        id: "named",
                        keep_alive: 30,
                    },
                    Accepted,
                    Accepted,
                ),
            ],
        ),
        (
            "clientid_prefixes sensor-\n",
            vec![
                (
                    Try::V4 {
                        id: "sensor-1",
                        keep_alive: 30,
                    },
                    Accepted,
                    Accepted,
                ),
                (Try::V5 { id: "sensor-2" }, Accepted, Accepted),
                (
                    Try::V4 {
                        id: "other-1",
                        keep_alive: 30,
                    },
                    Refused(5),
                    Refused(5),
                ),
                (Try::V5 { id: "other-2" }, Refused(0x87), Refused(0x87)),
            ],
        ),
        (
            "max_keepalive 30\n",
            vec![
                (
                    Try::V4 {
                        id: "ka-ok",
                        keep_alive: 30,
                    },
                    Accepted,
                    Accepted,
                ),
                (
                    Try::V4 {
                        id: "ka-high",
                        keep_alive: 60,
                    },
                    Refused(2),
                    Accepted,
                ),
                (Try::V5 { id: "ka-v5" }, Accepted, Accepted),
            ],
        ),
    ];
    for (option, tries) in &cases {
        let template = format!("listener {{port}} 127.0.0.1\nallow_anonymous true\n{option}");
        let k = Komar::start_with_config(&template);
        let m = Mosquitto::start(&Conf::write(&template));
        for (t, komar, mosquitto) in tries {
            let (from_komar, from_mosquitto) = (answer(k.port, *t).await, answer(m.port, *t).await);
            assert_eq!(&from_mosquitto, mosquitto, "Mosquitto, {option:?} {t:?}");
            assert_eq!(&from_komar, komar, "Komar, {option:?} {t:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_length_client_ids_get_an_id_with_auto_id_prefix() {
    let template = "listener {port} 127.0.0.1\nallow_anonymous true\nauto_id_prefix tst-\n";
    let k = Komar::start_with_config(template);
    let m = Mosquitto::start(&Conf::write(template));
    for port in [k.port, m.port] {
        let ack = v5_connect_code(v5::options("", port)).await.unwrap();
        let id = ack
            .properties
            .and_then(|p| p.assigned_client_identifier)
            .expect("an Assigned Client Identifier");
        assert!(id.starts_with("tst-") && id.len() > 4, "{port}: {id}");
    }
    // 3.1.1 clients do not learn their id; the log shows it.
    let (_c, _el, _) = v4::connect(v4::options("", k.port)).await;
    k.wait_log(" as tst-");
}
