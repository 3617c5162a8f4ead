//! A real browser: Komar serves a page from `http_dir` on a WebSockets
//! listener; headless Chromium (Debian's `chromium`, driven by
//! playwright-core from `tests/browser/`) opens it; the page's MQTT.js
//! client connects over ws:// to the same listener and subscribes; a
//! message published by `mosquitto_pub` shows on the page; the page's reply
//! reaches a Rust client. `scripts/test.sh` installs Chromium and the npm
//! packages; without them this test fails, unless `KOMAR_SKIP_BROWSER=1`
//! (then it says loudly that it did not run).

mod common;

use std::path::Path;
use std::process::Stdio;

use common::config::Conf;
use common::{mosquitto_pub, unique, v4, Komar, TIMEOUT};
use rumqttc::{Packet, QoS};
use tokio::io::AsyncBufReadExt;

type Lines = tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>;

/// The browser driver's next line; fails on `ERROR`, silence or its end.
async fn next(lines: &mut Lines) -> String {
    let line = tokio::time::timeout(TIMEOUT * 3, lines.next_line())
        .await
        .expect("the browser driver answers in time")
        .unwrap()
        .expect("the browser driver ended early");
    assert!(!line.starts_with("ERROR"), "browser test failed: {line}");
    line
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_js_in_headless_chromium() {
    if std::env::var("KOMAR_SKIP_BROWSER").as_deref() == Ok("1") {
        eprintln!("\n*** KOMAR_SKIP_BROWSER=1: the browser test did NOT run ***\n");
        return;
    }
    let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let bundle = assets.join("node_modules/mqtt/dist/mqtt.min.js");
    assert!(
        bundle.exists() && assets.join("node_modules/playwright-core").exists(),
        "{} is missing: run scripts/test.sh (npm ci in crates/komar/tests/browser), \
         or set KOMAR_SKIP_BROWSER=1 to skip this test",
        bundle.display()
    );
    assert!(
        Path::new("/usr/bin/chromium").exists() || std::env::var_os("KOMAR_CHROMIUM").is_some(),
        "Chromium is missing: run scripts/test.sh (apt-get install chromium), \
         or set KOMAR_SKIP_BROWSER=1 to skip this test"
    );

    let conf = Conf::write(
        "allow_anonymous true\nlistener {port0} 127.0.0.1\nlistener {port1} 127.0.0.1\n\
         protocol websockets\nhttp_dir {dir}/www\n",
    );
    let www = conf.file("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::copy(assets.join("page/index.html"), www.join("index.html")).unwrap();
    std::fs::copy(&bundle, www.join("mqtt.min.js")).unwrap();
    let ws_port = conf.ports[1];
    let k = Komar::start_conf(conf);

    let (topic, reply) = (unique("browser/in"), unique("browser/out"));
    let mut rust = v4::driven(v4::options(&unique("rust"), k.port)).await;
    rust.subscribe(&reply, QoS::AtLeastOnce).await.unwrap();
    rust.until(|p| matches!(p, Packet::SubAck(_))).await;

    let url = format!("http://127.0.0.1:{ws_port}/index.html?topic={topic}&reply={reply}");
    let mut node = tokio::process::Command::new("node")
        .arg(assets.join("run.js"))
        .arg(&url)
        .current_dir(&assets)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("node is installed (scripts/test.sh)");
    let mut lines = tokio::io::BufReader::new(node.stdout.take().unwrap()).lines();
    assert_eq!(next(&mut lines).await, "SUBSCRIBED");
    assert_eq!(
        mosquitto_pub(k.port, &["-t", &topic, "-m", "21.5 °C", "-q", "1"]),
        0
    );
    assert_eq!(
        next(&mut lines).await,
        "SHOWN 21.5 °C",
        "what the page shows"
    );
    match rust.until(|p| matches!(p, Packet::Publish(_))).await {
        Packet::Publish(p) => assert_eq!(&p.payload[..], "browser got: 21.5 °C".as_bytes()),
        _ => unreachable!(),
    }
    let status = tokio::time::timeout(TIMEOUT, node.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
}
