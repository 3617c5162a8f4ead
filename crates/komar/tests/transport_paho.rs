//! Komar through Eclipse paho-mqtt (Python), a client nobody on this team
//! wrote: over TLS with server verification, with a client certificate,
//! over WebSockets and over secure WebSockets; messages cross between
//! transports (paho ↔ `mosquitto_pub` / a Rust client on plain TCP).
//! `scripts/test.sh` installs paho-mqtt; without it these tests fail.

#[path = "common/certs.rs"]
mod certs;
mod common;

use std::process::Stdio;

use certs::{s, Ca};
use common::config::{Conf, Configured};
use common::{mosquitto_pub, unique, v4, Komar, TIMEOUT};
use rumqttc::{Packet, QoS};
use tokio::io::AsyncBufReadExt;

/// A running `tests/paho/client.py`.
struct Paho {
    child: tokio::process::Child,
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

impl Paho {
    fn start(args: &[&str]) -> Paho {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/paho/client.py");
        let mut child = tokio::process::Command::new("python3")
            .arg(script)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 is installed");
        let out = child.stdout.take().expect("stdout");
        Paho {
            child,
            lines: tokio::io::BufReader::new(out).lines(),
        }
    }

    async fn line(&mut self) -> String {
        let line = tokio::time::timeout(TIMEOUT, self.lines.next_line())
            .await
            .expect("a paho line in time")
            .expect("read paho output")
            .expect("paho ended early");
        assert!(
            !line.starts_with("ERROR"),
            "paho-mqtt failed: {line} (is paho-mqtt installed? scripts/test.sh installs it)"
        );
        line
    }

    async fn exit_code(mut self) -> i32 {
        let mut rest = Vec::new();
        while let Ok(Some(l)) = self.lines.next_line().await {
            rest.push(l);
        }
        let code = tokio::time::timeout(TIMEOUT, self.child.wait())
            .await
            .expect("paho exits in time")
            .expect("wait")
            .code()
            .unwrap_or(-1);
        if code != 0 {
            eprintln!("paho output: {rest:?}");
        }
        code
    }
}

/// Plain TCP on `{port0}`, WebSockets on `{port1}`, TLS on `{port2}`,
/// secure WebSockets on `{port3}`; anonymous clients; client
/// certificates optional (required on none).
fn broker() -> (Configured, Ca) {
    let conf = Conf::write(
        "allow_anonymous true\nlistener {port0} 127.0.0.1\n\
         listener {port1} 127.0.0.1\nprotocol websockets\n\
         listener {port2} 127.0.0.1\ncertfile {dir}/server.crt\nkeyfile {dir}/server.key\ncafile {dir}/ca.pem\n\
         listener {port3} 127.0.0.1\nprotocol websockets\ncertfile {dir}/server.crt\nkeyfile {dir}/server.key\n",
    );
    let ca = Ca::new(&conf.dir, "ca");
    ca.server(&conf.dir, "server");
    ca.client(&conf.dir, "client", "paho-client", 30);
    (Komar::start_conf(conf), ca)
}

/// paho subscribes over `args`' transport; `mosquitto_pub` publishes on
/// plain TCP; paho prints the message.
async fn paho_receives(k: &Configured, args: &[&str]) {
    let topic = unique("paho/in");
    let mut sub_args = vec!["--sub", &topic];
    sub_args.extend_from_slice(args);
    let mut paho = Paho::start(&sub_args);
    assert_eq!(paho.line().await, "SUBSCRIBED");
    assert_eq!(
        mosquitto_pub(k.port, &["-t", &topic, "-m", "to paho", "-q", "1"]),
        0
    );
    assert_eq!(paho.line().await, format!("{topic} to paho"));
    assert_eq!(paho.exit_code().await, 0);
}

/// paho publishes over `args`' transport; a Rust client on plain TCP
/// receives.
async fn paho_sends(k: &Configured, args: &[&str]) {
    let topic = unique("paho/out");
    let mut rust = v4::driven(v4::options(&unique("rx"), k.port)).await;
    rust.subscribe(&topic, QoS::AtLeastOnce).await.unwrap();
    rust.until(|p| matches!(p, Packet::SubAck(_))).await;
    let mut pub_args = vec!["--pub", &topic, "from paho"];
    pub_args.extend_from_slice(args);
    assert_eq!(Paho::start(&pub_args).exit_code().await, 0);
    match rust.until(|p| matches!(p, Packet::Publish(_))).await {
        Packet::Publish(p) => assert_eq!(&p.payload[..], b"from paho"),
        _ => unreachable!(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_over_tls_with_server_verification() {
    let (k, ca) = broker();
    let (port, cafile) = (k.port_n(2).to_string(), s(&ca.pem));
    let args = ["--host", "localhost", "--port", &port, "--cafile", &cafile];
    paho_receives(&k, &args).await;
    paho_sends(&k, &args).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_over_tls_with_a_client_certificate() {
    let (k, ca) = broker();
    let (port, cafile) = (k.port_n(2).to_string(), s(&ca.pem));
    let (cert, key) = (s(&k.conf.file("client.crt")), s(&k.conf.file("client.key")));
    let args = [
        "--host",
        "localhost",
        "--port",
        &port,
        "--cafile",
        &cafile,
        "--cert",
        &cert,
        "--key",
        &key,
    ];
    paho_receives(&k, &args).await;
    paho_sends(&k, &args).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_over_websockets() {
    let (k, _ca) = broker();
    let port = k.port_n(1).to_string();
    let args = ["--transport", "websockets", "--port", &port];
    paho_receives(&k, &args).await;
    paho_sends(&k, &args).await;
    // Any path is accepted.
    let args = ["--transport", "websockets", "--port", &port, "--path", "/"];
    paho_receives(&k, &args).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_over_secure_websockets() {
    let (k, ca) = broker();
    let (port, cafile) = (k.port_n(3).to_string(), s(&ca.pem));
    let args = [
        "--transport",
        "websockets",
        "--host",
        "localhost",
        "--port",
        &port,
        "--cafile",
        &cafile,
    ];
    paho_receives(&k, &args).await;
    paho_sends(&k, &args).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_messages_reach_a_websocket_subscriber_fast() {
    let (k, _ca) = broker();
    let topic = unique("paho/big");
    let port = k.port_n(1).to_string();
    let mut paho = Paho::start(&[
        "--transport",
        "websockets",
        "--port",
        &port,
        "--sub",
        &topic,
        "--count",
        "4",
    ]);
    assert_eq!(paho.line().await, "SUBSCRIBED");
    // Four 1 MB messages (Mosquitto 2.0 sends large messages to WebSocket
    // clients at about 40 KB/s: 100 s for this).
    let file = k.conf.file("big.txt");
    std::fs::write(&file, "x".repeat(1_000_000)).unwrap();
    let started = std::time::Instant::now();
    for _ in 0..4 {
        assert_eq!(
            mosquitto_pub(k.port, &["-t", &topic, "-f", &s(&file), "-q", "1"]),
            0
        );
    }
    for _ in 0..4 {
        let line = paho.line().await;
        assert_eq!(line.len(), topic.len() + 1 + 1_000_000);
    }
    let took = started.elapsed();
    eprintln!("4 MB to a WebSocket subscriber in {took:?}");
    assert!(took < TIMEOUT);
}
