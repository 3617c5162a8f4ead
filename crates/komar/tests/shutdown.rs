//! Graceful shutdown on SIGTERM and SIGINT: every v5 client receives
//! DISCONNECT 0x8B Server shutting down, every 3.1.1 client sees its
//! connection close, and the process exits with status 0 promptly.

mod common;

use std::time::{Duration, Instant};

use common::raw::{self, Connect, Raw};
use common::{unique, Komar};

/// How long "promptly" is (the broker's own flush grace is 2 s per
/// connection, 5 s overall; idle clients need none of it).
const PROMPT: Duration = Duration::from_secs(3);

async fn shuts_down_on(signal: &str) {
    let mut k = Komar::start();
    let mut v5s = Vec::new();
    let mut v3s = Vec::new();
    for _ in 0..3 {
        let (mut c, _) = Raw::connect(k.port, &Connect::new(5, &unique("v5"))).await;
        c.subscribe(1, &unique("t"), 1).await;
        v5s.push(c);
        let (c, _) = Raw::connect(k.port, &Connect::new(4, &unique("v311"))).await;
        v3s.push(c);
    }
    // A rumqttc client too, kept busy in the background.
    let (c, el, _) = common::v4::connect(common::v4::options(&unique("rumqttc"), k.port)).await;
    let driver = common::v4::drive(el);
    let sent = Instant::now();
    k.signal(signal);
    for c in &mut v5s {
        let frames = c.closed().await;
        assert_eq!(frames.len(), 1, "SIG{signal}: {frames:?}");
        assert_eq!(raw::disconnect_reason(&frames[0]), 0x8B, "SIG{signal}");
    }
    for c in &mut v3s {
        assert_eq!(
            c.closed().await,
            Vec::new(),
            "SIG{signal}: 3.1.1 closed without a packet"
        );
    }
    tokio::time::timeout(common::TIMEOUT, driver)
        .await
        .expect("rumqttc sees the connection end")
        .unwrap();
    drop(c);
    let (status, _) = k.wait_exit(PROMPT);
    let took = sent.elapsed();
    assert!(status.success(), "SIG{signal}: exit status {status}");
    assert!(took < PROMPT, "SIG{signal}: exit took {took:?}");
    eprintln!("SIG{signal}: clients closed and process exited {took:?} after the signal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm() {
    shuts_down_on("TERM").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint() {
    shuts_down_on("INT").await;
}
