//! MQTT 3.1 (protocol name `MQIsdp`, level 3) clients: Debian's
//! mosquitto_pub/mosquitto_sub with `-V mqttv31` publish and subscribe at
//! every QoS, talk to 5.0 clients both ways, and the raw CONNECT of §3.1 of
//! the 3.1 specification is accepted.

mod common;

use common::raw::{self, Connect, Raw};
use common::{unique, v5, Komar, MosquittoSub};

/// Start a 3.1 `mosquitto_sub` on `topic/#` and wait until it is
/// subscribed: a retained probe published before comes back first.
async fn subscribed_v31(port: u16, topic: &str, count: usize) -> MosquittoSub {
    let probe = format!("{topic}/probe");
    assert_eq!(
        common::mosquitto_pub(
            port,
            &["-V", "mqttv31", "-t", &probe, "-m", "probe", "-r", "-q", "1"]
        ),
        0
    );
    let filter = format!("{topic}/#");
    let count = (count + 1).to_string();
    let mut sub = MosquittoSub::start(
        port,
        &[
            "-V",
            "mqttv31",
            "-t",
            &filter,
            "-q",
            "2",
            "-v",
            "-C",
            &count,
            "-F",
            "%q %r %t %p",
        ],
    );
    assert_eq!(sub.line().await, format!("1 1 {probe} probe"));
    sub
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_clients_v31_publish_and_subscribe() {
    let k = Komar::start();
    let topic = unique("v31");
    let mut sub = subscribed_v31(k.port, &topic, 3).await;
    for q in ["0", "1", "2"] {
        let t = format!("{topic}/{q}");
        assert_eq!(
            common::mosquitto_pub(
                k.port,
                &["-V", "mqttv31", "-t", &t, "-m", &format!("m{q}"), "-q", q]
            ),
            0
        );
    }
    for q in ["0", "1", "2"] {
        assert_eq!(sub.line().await, format!("{q} 0 {topic}/{q} m{q}"));
    }
    assert_eq!(sub.wait().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v31_and_v5_clients_talk_both_ways() {
    use rumqttc::v5::mqttbytes::QoS;
    let k = Komar::start();
    let topic = unique("x");
    // 3.1 publisher → 5.0 subscriber.
    let (c, mut el, _) = v5::connect(v5::options(&unique("v5"), k.port)).await;
    c.subscribe(format!("{topic}/to5"), QoS::ExactlyOnce)
        .await
        .unwrap();
    v5::suback(&mut el).await;
    assert_eq!(
        common::mosquitto_pub(
            k.port,
            &[
                "-V",
                "mqttv31",
                "-t",
                &format!("{topic}/to5"),
                "-m",
                "from31",
                "-q",
                "2"
            ]
        ),
        0
    );
    let m = v5::next(&mut el).await;
    assert_eq!(
        (m.payload.as_ref(), m.qos),
        (&b"from31"[..], QoS::ExactlyOnce)
    );

    // 5.0 publisher → 3.1 subscriber.
    let mut sub = subscribed_v31(k.port, &topic, 1).await;
    let p = v5::driven(v5::options(&unique("p5"), k.port)).await;
    p.publish(format!("{topic}/to31"), QoS::AtLeastOnce, false, "from5")
        .await
        .unwrap();
    assert_eq!(sub.line().await, format!("1 0 {topic}/to31 from5"));
    assert_eq!(sub.wait().await, 0);
}

/// The 3.1 CONNECT written out (`MQIsdp`, level 3): accepted, and the
/// connection publishes and receives QoS 1 like 3.1.1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_v31_connect_subscribe_publish() {
    let k = Komar::start();
    let topic = unique("raw31");
    let (mut c, present) = Raw::connect(k.port, &Connect::new(3, &unique("c"))).await;
    assert!(!present);
    assert_eq!(c.subscribe(1, &topic, 1).await, 1);
    c.send_ok(&raw::publish(3, &topic, 1, 2, false, false, b"echo"))
        .await;
    // PUBACK for ours and the delivery, in either order.
    let mut acked = false;
    let mut delivered = None;
    while !acked || delivered.is_none() {
        let f = c.recv().await.expect("open");
        match f.kind() {
            raw::PUBACK => {
                assert_eq!(f.pid(), 2);
                acked = true;
            }
            raw::PUBLISH => delivered = Some(raw::parse_publish(&f, 3)),
            _ => panic!("unexpected {f:?}"),
        }
    }
    let d = delivered.unwrap();
    assert_eq!(
        (d.payload.as_slice(), d.qos, d.retain),
        (&b"echo"[..], 1, false)
    );
    c.ack_publish(&d).await;
}
