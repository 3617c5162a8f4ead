//! Publish / subscribe through real clients: QoS 0, 1 and 2 in both
//! protocol versions, wildcards, `$SYS` and `#`, overlapping subscriptions.

mod common;

use common::{unique, v4, v5, Komar};
use rumqttc::{Packet, QoS};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos_levels_deliver_exactly_v311() {
    let k = Komar::start();
    let topic = unique("t");
    let (sub, mut sub_el, _) = v4::connect(v4::options(&unique("sub"), k.port)).await;
    sub.subscribe(format!("{topic}/+"), QoS::ExactlyOnce)
        .await
        .unwrap();
    let ack = v4::suback(&mut sub_el).await;
    assert_eq!(
        ack.return_codes,
        vec![rumqttc::SubscribeReasonCode::Success(QoS::ExactlyOnce)]
    );

    let (publ, pub_el, _) = v4::connect(v4::options(&unique("pub"), k.port)).await;
    let _driver = v4::drive(pub_el);
    for (i, qos) in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
        .into_iter()
        .enumerate()
    {
        for n in 0..50 {
            publ.publish(format!("{topic}/{i}"), qos, false, format!("{i}-{n}"))
                .await
                .unwrap();
        }
    }
    let got = v4::publishes(&mut sub_el, 150).await;
    for (i, qos) in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]
        .into_iter()
        .enumerate()
    {
        let of_level: Vec<_> = got
            .iter()
            .filter(|p| p.topic == format!("{topic}/{i}"))
            .collect();
        assert_eq!(of_level.len(), 50, "QoS {i}");
        assert!(of_level.iter().all(|p| p.qos == qos));
        // In order, per publisher and topic.
        for (n, p) in of_level.iter().enumerate() {
            assert_eq!(p.payload, format!("{i}-{n}").as_bytes());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos_levels_deliver_exactly_v5() {
    use rumqttc::v5::mqttbytes::QoS as Q5;
    let k = Komar::start();
    let topic = unique("t");
    let (sub, mut sub_el, _) = v5::connect(v5::options(&unique("sub"), k.port)).await;
    sub.subscribe(format!("{topic}/#"), Q5::ExactlyOnce)
        .await
        .unwrap();
    v5::until(&mut sub_el, |p| {
        matches!(p, rumqttc::v5::mqttbytes::v5::Packet::SubAck(_))
    })
    .await;
    let (publ, pub_el, _) = v5::connect(v5::options(&unique("pub"), k.port)).await;
    let _driver = v5::drive(pub_el);
    for qos in [Q5::AtMostOnce, Q5::AtLeastOnce, Q5::ExactlyOnce] {
        for n in 0..50 {
            publ.publish(format!("{topic}/{}", qos as u8), qos, false, format!("{n}"))
                .await
                .unwrap();
        }
    }
    let got = v5::publishes(&mut sub_el, 150).await;
    for qos in [Q5::AtMostOnce, Q5::AtLeastOnce, Q5::ExactlyOnce] {
        let t = format!("{topic}/{}", qos as u8);
        let n = got
            .iter()
            .filter(|p| p.topic == t.as_bytes() && p.qos == qos)
            .count();
        assert_eq!(n, 50, "QoS {qos:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hash_does_not_match_sys_but_sys_filter_does() {
    let k = Komar::start();
    let (c, mut el, _) = v4::connect(v4::options(&unique("c"), k.port)).await;
    c.subscribe("#", QoS::AtMostOnce).await.unwrap();
    c.subscribe("$SYS/broker/version", QoS::AtMostOnce)
        .await
        .unwrap();
    v4::suback(&mut el).await;
    v4::suback(&mut el).await;
    let marker = unique("marker");
    c.publish(&marker, QoS::AtMostOnce, false, "m")
        .await
        .unwrap();
    // The `$SYS` version arrives once (retained, via its own filter), the
    // marker once (via `#`); `#` never yields a `$SYS` topic.
    let mut seen = Vec::new();
    while !(seen.iter().any(|t: &String| t == &marker)
        && seen.iter().any(|t| t.starts_with("$SYS")))
    {
        if let Packet::Publish(p) = v4::until(&mut el, |p| matches!(p, Packet::Publish(_))).await {
            seen.push(p.topic.clone());
        }
    }
    assert_eq!(
        seen.iter().filter(|t| t.starts_with("$SYS")).count(),
        1,
        "{seen:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_subscriptions_deliver_one_copy_at_highest_qos() {
    let k = Komar::start();
    let topic = unique("o");
    let (c, mut el, _) = v4::connect(v4::options(&unique("c"), k.port)).await;
    c.subscribe(format!("{topic}/#"), QoS::AtMostOnce)
        .await
        .unwrap();
    c.subscribe(format!("{topic}/+/x"), QoS::ExactlyOnce)
        .await
        .unwrap();
    c.subscribe(format!("{topic}/a/x"), QoS::AtLeastOnce)
        .await
        .unwrap();
    for _ in 0..3 {
        v4::suback(&mut el).await;
    }
    c.publish(format!("{topic}/a/x"), QoS::ExactlyOnce, false, "one")
        .await
        .unwrap();
    c.publish(format!("{topic}/end"), QoS::AtMostOnce, false, "end")
        .await
        .unwrap();
    let got = v4::publishes(&mut el, 2).await;
    assert_eq!(got[0].payload, "one");
    assert_eq!(got[0].qos, QoS::ExactlyOnce);
    assert_eq!(
        got[1].payload, "end",
        "exactly one copy of the overlapping message"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_clients_publish_and_subscribe() {
    let k = Komar::start();
    let topic = unique("m");
    let sub = common::mosquitto_sub(
        k.port,
        &[
            "-t",
            &format!("{topic}/#"),
            "-v",
            "-C",
            "3",
            "-q",
            "2",
            "-W",
            "10",
        ],
    );
    // Wait until the subscription exists: a retained probe comes back.
    assert_eq!(
        common::mosquitto_pub(k.port, &["-t", &format!("{topic}/probe"), "-m", "p", "-r"]),
        0
    );
    for (i, q) in ["0", "1", "2"].iter().enumerate() {
        assert_eq!(
            common::mosquitto_pub(
                k.port,
                &[
                    "-t",
                    &format!("{topic}/{i}"),
                    "-m",
                    &format!("m{i}"),
                    "-q",
                    q
                ]
            ),
            0
        );
    }
    let out = sub.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines.contains(&format!("{topic}/probe p").as_str())
            || lines.contains(&format!("{topic}/0 m0").as_str())
    );
}
