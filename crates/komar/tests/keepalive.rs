//! Keep alive [MQTT-3.1.2-22] (3.1.1 §3.1.2.10, 5.0 §3.1.2.10): a client
//! that stays silent for one and a half times its keep alive is
//! disconnected (v5: DISCONNECT 0x8D Keep Alive timeout first), not before
//! the keep alive itself has passed — also while the broker cannot write
//! to it; PINGREQ keeps it connected; keep alive 0 turns the mechanism
//! off.

mod common;

use std::time::{Duration, Instant};

use common::raw::{self, Connect, Raw, Will};
use common::{observer, unique, v4, Komar};

/// A keep alive of 1 s ended the connection `took` after the client's last
/// packet: not before the keep alive, and before `limit` (~1.5 s expected).
fn assert_closed_in_time(took: Duration, limit: Duration) {
    assert!(
        took >= Duration::from_millis(1000),
        "closed after {took:?}, before the keep alive"
    );
    assert!(took < limit, "closed only after {took:?} (expected ~1.5 s)");
}

async fn silent_client_is_disconnected(level: u8) {
    let k = Komar::start();
    let (mut c, _) = Raw::connect(k.port, &Connect::new(level, &unique("c")).keep_alive(1)).await;
    let start = Instant::now();
    let frames = c.closed().await;
    let took = start.elapsed();
    assert_closed_in_time(took, Duration::from_millis(2500));
    if level == 5 {
        assert_eq!(frames.len(), 1, "{frames:?}");
        assert_eq!(raw::disconnect_reason(&frames[0]), 0x8D);
    } else {
        assert_eq!(frames, Vec::new(), "3.1.1: closed without a packet");
    }
    eprintln!("keep alive 1 s, level {level}: closed after {took:?}");
}

/// Both protocol versions at once (the wait is wall-clock time).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_client_is_disconnected_v311_and_v5() {
    tokio::join!(
        silent_client_is_disconnected(4),
        silent_client_is_disconnected(5)
    );
}

/// PINGREQ every 0.5 s for 2.5 s (well past the 1.5 s limit) keeps a keep-alive
/// 1 s connection open; each gets a PINGRESP [MQTT-3.12.4-1].
async fn pingreq_keeps_alive(level: u8) {
    let k = Komar::start();
    let (mut c, _) = Raw::connect(k.port, &Connect::new(level, &unique("c")).keep_alive(1)).await;
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    for _ in 0..5 {
        tick.tick().await;
        c.send_ok(&[raw::PINGREQ << 4, 0]).await;
        c.expect(raw::PINGRESP).await;
    }
    // Still connected: subscribe works.
    assert_eq!(c.subscribe(1, &unique("t"), 1).await, 1);
}

/// Both protocol versions at once (the wait is wall-clock time).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pingreq_keeps_alive_v311_and_v5() {
    tokio::join!(pingreq_keeps_alive(4), pingreq_keeps_alive(5));
}

/// Keep alive 0: never disconnected for silence. A companion with keep
/// alive 1 s connected just after it is the clock: once the broker has
/// closed that one (~1.5 s), the silent keep-alive-0 client must still be
/// served.
async fn keep_alive_zero_means_never(level: u8) {
    let k = Komar::start();
    let (mut zero, _) =
        Raw::connect(k.port, &Connect::new(level, &unique("zero")).keep_alive(0)).await;
    let (mut clock, _) =
        Raw::connect(k.port, &Connect::new(level, &unique("clock")).keep_alive(1)).await;
    clock.closed().await;
    zero.send_ok(&[raw::PINGREQ << 4, 0]).await;
    zero.expect(raw::PINGRESP).await;
}

/// Both protocol versions at once (the wait is wall-clock time).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_zero_means_never_v311_and_v5() {
    tokio::join!(
        keep_alive_zero_means_never(4),
        keep_alive_zero_means_never(5)
    );
}

/// A silent client that also stops reading while messages flood in: the
/// broker's writes to it block (socket buffers and its output full), and
/// its keep alive must still end it on time — its will, published at the
/// disconnect, arrives about 1.5 s after its last packet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_client_with_blocked_output_is_disconnected() {
    let k = Komar::start();
    let will_topic = unique("will");
    let topic = unique("flood");
    let (_obs, mut obs_el) = observer(k.port, &will_topic).await;
    let connect = Connect::new(4, &unique("c"))
        .keep_alive(1)
        .will(Will::qos1(&will_topic, "gone"));
    let (mut silent, _) = Raw::connect(k.port, &connect).await;
    assert_eq!(silent.subscribe(1, &topic, 0).await, 0);
    let last_packet = Instant::now();

    // 24 MB at QoS 0: far more than loopback socket buffers and the
    // broker's output buffer hold; the silent client reads none of it.
    let (mut flooder, _) = Raw::connect(k.port, &Connect::new(4, &unique("f"))).await;
    let payload = vec![b'x'; 64 * 1024];
    for _ in 0..384 {
        flooder
            .send_ok(&raw::publish(4, &topic, 0, 0, false, false, &payload))
            .await;
    }

    let will = v4::publishes(&mut obs_el, 1).await;
    let took = last_packet.elapsed();
    assert_eq!(&will[0].payload[..], b"gone");
    // Under 3 s: the will is not held back by the 2 s final flush to a
    // client that does not read.
    assert_closed_in_time(took, Duration::from_millis(3000));
    drop(silent);
}
