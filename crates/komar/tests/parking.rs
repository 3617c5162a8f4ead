//! Idle connections wait in the parking lot without a task
//! (`komar-server/src/park.rs`) and lose nothing by it: subscribers that
//! went idle are parked (`$SYS/broker/clients/parked`), every message
//! published to them arrives — exactly once at QoS 2, in order — and they
//! park again; a parked client whose socket closes has its will published.
//! Keep-alive, take-over and shutdown of idle (parked) clients are proven
//! by `keepalive.rs`, `sessions.rs` and `shutdown.rs`, whose clients park
//! as soon as they are idle.

mod common;

use common::config::sys_value_until;
use common::{unique, v4, v5, Komar};
use rumqttc::QoS;

const CONF: &str = "listener {port} 127.0.0.1\nallow_anonymous true\nsys_interval 1\n";
const PER_CLIENT: usize = 50;

/// The payloads as text.
fn texts<'a>(payloads: impl Iterator<Item = &'a bytes::Bytes>) -> Vec<String> {
    payloads
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect()
}

/// `$SYS/broker/clients/parked` reaches at least `n`.
async fn parked_at_least(port: u16, n: usize) {
    sys_value_until(port, "$SYS/broker/clients/parked", |v| {
        v.parse::<usize>().is_ok_and(|p| p >= n)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parked_subscribers_receive_every_message_and_park_again() {
    let k = Komar::start_with_config(CONF);
    let base = unique("park");
    let mut v3 = Vec::new();
    let mut v5s = Vec::new();
    for i in 0..5 {
        let (c, mut el, _) = v4::connect(v4::options(&unique("p3"), k.port)).await;
        c.subscribe(format!("{base}/3/{i}"), QoS::AtLeastOnce)
            .await
            .unwrap();
        v4::suback(&mut el).await;
        v3.push((c, el));
        let (c, mut el, _) = v5::connect(v5::options(&unique("p5"), k.port)).await;
        c.subscribe(
            format!("{base}/5/{i}"),
            rumqttc::v5::mqttbytes::QoS::ExactlyOnce,
        )
        .await
        .unwrap();
        v5::suback(&mut el).await;
        v5s.push((c, el));
    }
    // The ten subscribers are idle now (their event loops are not even
    // polled): all of them park.
    parked_at_least(k.port, 10).await;

    let publisher = v4::driven(v4::options(&unique("pub"), k.port)).await;
    for n in 0..PER_CLIENT {
        for i in 0..5 {
            publisher
                .publish(
                    format!("{base}/3/{i}"),
                    QoS::AtLeastOnce,
                    false,
                    n.to_string(),
                )
                .await
                .unwrap();
            publisher
                .publish(
                    format!("{base}/5/{i}"),
                    QoS::ExactlyOnce,
                    false,
                    n.to_string(),
                )
                .await
                .unwrap();
        }
    }
    let want: Vec<String> = (0..PER_CLIENT).map(|n| n.to_string()).collect();
    for (_, el) in &mut v3 {
        let got = v4::publishes(el, PER_CLIENT).await;
        assert_eq!(
            texts(got.iter().map(|p| &p.payload)),
            want,
            "QoS 1, in order"
        );
    }
    for (_, el) in &mut v5s {
        let got = v5::publishes(el, PER_CLIENT).await;
        let got = texts(got.iter().map(|p| &p.payload));
        assert_eq!(got, want, "QoS 2, in order, once each");
    }
    // No duplicate follows: a sentinel is the next message of each.
    for i in 0..5 {
        publisher
            .publish(format!("{base}/3/{i}"), QoS::AtLeastOnce, false, "end")
            .await
            .unwrap();
        publisher
            .publish(format!("{base}/5/{i}"), QoS::ExactlyOnce, false, "end")
            .await
            .unwrap();
    }
    for (_, el) in &mut v3 {
        assert_eq!(v4::next(el).await.payload.as_ref(), b"end");
    }
    for (_, el) in &mut v5s {
        assert_eq!(v5::next(el).await.payload.as_ref(), b"end");
    }
    // Idle again: parked again.
    parked_at_least(k.port, 10).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parked_client_losing_its_socket_publishes_its_will() {
    let k = Komar::start_with_config(CONF);
    let will = unique("will");
    let (obs, mut obs_el) = common::observer(k.port, &will).await;
    let mut o = v4::options(&unique("dying"), k.port);
    o.set_last_will(rumqttc::LastWill::new(
        &will,
        "gone",
        QoS::AtLeastOnce,
        false,
    ));
    let (c, el, _) = v4::connect(o).await;
    // The observer and the dying client are idle: both park.
    parked_at_least(k.port, 2).await;
    // The socket closes without DISCONNECT: the lot sees the end of
    // stream and the will goes out.
    drop(el);
    drop(c);
    let m = v4::next(&mut obs_el).await;
    assert_eq!(m.topic, will);
    assert_eq!(m.payload.as_ref(), b"gone");
    drop(obs);
}

/// A client that keeps coming back right after it parked stops parking
/// (see `park::QUICK_LIMIT`); once silent it is still held to its keep
/// alive, by its own task's alarm.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_that_stopped_parking_is_still_held_to_its_keep_alive() {
    use common::raw::{self, Connect, Raw};
    use std::time::{Duration, Instant};
    let k = Komar::start();
    let (mut c, _) = Raw::connect(k.port, &Connect::new(4, &unique("c")).keep_alive(1)).await;
    // Each PINGREQ follows the previous PINGRESP at once: every wake is
    // quick.
    for _ in 0..4 {
        c.send_ok(&[raw::PINGREQ << 4, 0]).await;
        c.expect(raw::PINGRESP).await;
    }
    let start = Instant::now();
    assert_eq!(c.closed().await, Vec::new(), "closed without a packet");
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(1000), "closed after {took:?}");
    assert!(
        took < Duration::from_millis(2500),
        "closed only after {took:?}"
    );
}
