//! WebSocket, HTTP, Unix-socket and PROXY-protocol listeners at the byte
//! level: the upgrade (accept key, subprotocol, a CONNECT sent in the same
//! segment as the request), ping/pong and close, `websockets_origin`,
//! static files from `http_dir` without path traversal; `mosquitto_pub` /
//! `mosquitto_sub --unix`; PROXY v1 and v2 headers giving the client's
//! address, the v2 TLS requirement, and the proxy's certificate name as
//! the user name with the ACL applied.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use common::config::Conf;
use common::{mosquitto_pub, unique, Komar, MosquittoSub, TIMEOUT};

const CONNECT: &[u8] = b"\x10\x0e\x00\x04MQTT\x04\x02\x00\x3c\x00\x02p1";
const CONNACK_OK: &[u8] = &[0x20, 0x02, 0x00, 0x00];

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s
}

/// Read until `needle` has arrived (or the peer closes); returns all.
fn read_until(s: &mut TcpStream, needle: &[u8]) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(needle.len()).any(|w| w == needle) {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    got
}

fn read_to_end(s: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    String::from_utf8_lossy(&got).into_owned()
}

/// A masked client frame.
fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mask = [0xA1, 0xB2, 0xC3, 0xD4];
    let mut f = vec![0x80 | opcode, 0x80 | payload.len() as u8];
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

fn upgrade_request(extra: &str) -> String {
    format!(
        "GET /any/path HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

fn ws_broker() -> common::config::Configured {
    let conf = Conf::write(
        "allow_anonymous true\nlistener {port0} 127.0.0.1\nprotocol websockets\nhttp_dir {dir}/www\n\
         websockets_origin http://good.example\n",
    );
    std::fs::create_dir_all(conf.file("www/js")).unwrap();
    std::fs::write(conf.file("www/index.html"), "<h1>Komar</h1>").unwrap();
    std::fs::write(conf.file("www/js/app.js"), "let x = 1;").unwrap();
    Komar::start_conf(conf)
}

#[test]
fn websocket_upgrade_mqtt_ping_and_close() {
    let k = ws_broker();
    let mut s = connect(k.port);
    // The request, the CONNECT split over two frames, and a ping — all in
    // one write.
    let mut wire = upgrade_request(
        "Sec-WebSocket-Protocol: mqttv3.1, mqtt\r\nOrigin: http://good.example\r\n",
    )
    .into_bytes();
    let mut first = frame(0x2, &CONNECT[..5]);
    first[0] &= 0x7F; // not FIN: a fragmented message
    wire.extend(first);
    wire.extend(frame(0x0, &CONNECT[5..]));
    wire.extend(frame(0x9, b"beat"));
    s.write_all(&wire).unwrap();
    let mut connack = vec![0x82, 0x04];
    connack.extend_from_slice(CONNACK_OK);
    let mut got = read_until(&mut s, b"beat");
    if !got.windows(6).any(|w| w == connack) {
        got.extend(read_until(&mut s, &connack));
    }
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{text}"
    );
    assert!(
        text.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
        "{text}"
    );
    // The server's preference, "mqtt", is chosen.
    assert!(text.contains("Sec-WebSocket-Protocol: mqtt\r\n"), "{text}");
    assert!(
        got.windows(6).any(|w| w == connack),
        "no CONNACK frame in {got:?}"
    );
    assert!(
        got.windows(6).any(|w| w == b"\x8a\x04beat"),
        "no pong in {got:?}"
    );
    // Close with status 1000: echoed, then the connection ends.
    s.write_all(&frame(0x8, &1000u16.to_be_bytes())).unwrap();
    let rest = read_until(&mut s, &[0x88, 0x02, 0x03, 0xE8]);
    assert!(rest.ends_with(&[0x88, 0x02, 0x03, 0xE8]), "{rest:?}");
}

#[test]
fn websocket_origin_and_protocol_are_checked() {
    let k = ws_broker();
    let mut s = connect(k.port);
    s.write_all(
        upgrade_request("Sec-WebSocket-Protocol: mqtt\r\nOrigin: http://evil.example\r\n")
            .as_bytes(),
    )
    .unwrap();
    assert!(read_to_end(&mut s).starts_with("HTTP/1.1 403"));
    let mut s = connect(k.port);
    s.write_all(
        upgrade_request("Sec-WebSocket-Protocol: chat\r\nOrigin: http://good.example\r\n")
            .as_bytes(),
    )
    .unwrap();
    assert!(read_to_end(&mut s).starts_with("HTTP/1.1 400"));
    // MQTT in a text frame is refused [MQTT-6.0.0-1]: close status 1003.
    let mut s = connect(k.port);
    let mut wire =
        upgrade_request("Sec-WebSocket-Protocol: mqtt\r\nOrigin: http://good.example\r\n")
            .into_bytes();
    wire.extend(frame(0x1, CONNECT));
    s.write_all(&wire).unwrap();
    let got = read_until(&mut s, &[0x88, 0x02, 0x03, 0xEB]);
    assert!(got.ends_with(&[0x88, 0x02, 0x03, 0xEB]), "{got:?}");
}

#[test]
fn http_dir_serves_files_and_nothing_outside() {
    let k = ws_broker();
    let get = |path: &str| {
        let mut s = connect(k.port);
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .unwrap();
        read_to_end(&mut s)
    };
    let index = get("/");
    assert!(index.starts_with("HTTP/1.1 200 OK\r\n"), "{index}");
    assert!(index.contains("Content-Type: text/html"), "{index}");
    assert!(index.ends_with("<h1>Komar</h1>"), "{index}");
    let js = get("/js/app.js?v=2");
    assert!(
        js.contains("text/javascript") && js.ends_with("let x = 1;"),
        "{js}"
    );
    for bad in [
        "/../komar.conf",
        "/js/../../komar.conf",
        "/%2e%2e/komar.conf",
        "/js/%2E%2E/%2E%2E/komar.conf",
        "/nothing-here",
    ] {
        assert!(get(bad).starts_with("HTTP/1.1 404"), "{bad} was served");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_clients_over_the_unix_socket() {
    let k = Komar::start_with_config(
        "allow_anonymous true\nlistener {port} 127.0.0.1\nlistener 0 {dir}/komar.sock\n",
    );
    let sock = k.conf.file("komar.sock").display().to_string();
    let topic = unique("unix/t");
    assert_eq!(
        mosquitto_pub(
            0,
            &[
                "--unix",
                &sock,
                "-t",
                &topic,
                "-m",
                "over unix",
                "-r",
                "-q",
                "1"
            ]
        ),
        0
    );
    let mut sub = MosquittoSub::start(0, &["--unix", &sock, "-t", &topic, "-C", "2", "-q", "1"]);
    assert_eq!(sub.line().await, "over unix");
    // Unix and TCP clients share the broker.
    assert_eq!(
        mosquitto_pub(k.port, &["-t", &topic, "-m", "over tcp", "-q", "1"]),
        0
    );
    assert_eq!(sub.line().await, "over tcp");
    assert_eq!(sub.wait().await, 0);
}

/// A PROXY v2 header for 192.0.2.5:6275 with an SSL TLV when `cn` is
/// given (client used TLS, certificate verified, that commonName).
fn proxy_v2(cn: Option<&str>) -> Vec<u8> {
    let mut tlvs = Vec::new();
    if let Some(cn) = cn {
        let mut ssl = vec![0x05, 0, 0, 0, 0, 0x22];
        ssl.extend_from_slice(&(cn.len() as u16).to_be_bytes());
        ssl.extend_from_slice(cn.as_bytes());
        tlvs.push(0x20);
        tlvs.extend_from_slice(&(ssl.len() as u16).to_be_bytes());
        tlvs.extend(ssl);
    }
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.extend_from_slice(&[0x21, 0x11]);
    h.extend_from_slice(&((12 + tlvs.len()) as u16).to_be_bytes());
    h.extend_from_slice(&[192, 0, 2, 5, 127, 0, 0, 1]);
    h.extend_from_slice(&6275u16.to_be_bytes());
    h.extend_from_slice(&1883u16.to_be_bytes());
    h.extend(tlvs);
    h
}

#[test]
fn proxy_v1_header_gives_the_client_address() {
    let k = Komar::start_with_config(
        "allow_anonymous true\nlistener {port} 127.0.0.1\nenable_proxy_protocol 1\n",
    );
    let mut s = connect(k.port);
    let mut wire = b"PROXY TCP4 192.0.2.5 127.0.0.1 6275 1883\r\n".to_vec();
    wire.extend_from_slice(CONNECT);
    s.write_all(&wire).unwrap();
    assert_eq!(read_until(&mut s, CONNACK_OK), CONNACK_OK);
    k.wait_log("New client connected from 192.0.2.5:6275 as p1");
    // Without the header: refused.
    let mut s = connect(k.port);
    s.write_all(CONNECT).unwrap();
    assert_eq!(read_to_end(&mut s), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_v2_tls_identity_is_the_user_and_the_acl_applies() {
    let conf = Conf::write(
        "allow_anonymous true\nacl_file {dir}/acl\nlistener {port0} 127.0.0.1\n\
         listener {port1} 127.0.0.1\nenable_proxy_protocol 2\nproxy_protocol_v2_require_tls true\n\
         require_certificate true\nuse_identity_as_username true\n",
    );
    std::fs::write(
        conf.file("acl"),
        "topic read #\nuser sensor-1\ntopic write sensors/#\n",
    )
    .unwrap();
    let k = Komar::start_conf(conf);
    let proxied = k.port_n(1);
    let topic = unique("sensors/x");
    let mut sub = MosquittoSub::start(k.port, &["-t", "sensors/#", "-v"]);
    // Subscribed once the first message arrives: publish until it does.
    let publish = |cn: Option<&str>, payload: &str| {
        let mut s = connect(proxied);
        let mut wire = proxy_v2(cn);
        wire.extend_from_slice(CONNECT);
        let mut p = vec![
            0x30,
            (2 + topic.len() + payload.len()) as u8,
            0,
            topic.len() as u8,
        ];
        p.extend_from_slice(topic.as_bytes());
        p.extend_from_slice(payload.as_bytes());
        wire.extend(p);
        wire.extend_from_slice(&[0xE0, 0x00]);
        s.write_all(&wire).unwrap();
        read_to_end(&mut s).into_bytes()
    };
    // Not TLS at the proxy: closed before MQTT.
    assert!(publish(None, "no-tls").is_empty());
    // sensor-1 may write sensors/#.
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        assert_eq!(publish(Some("sensor-1"), "ok"), CONNACK_OK);
        let got = tokio::time::timeout(std::time::Duration::from_millis(200), sub.line()).await;
        if let Ok(line) = got {
            assert_eq!(line, format!("{topic} ok"));
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "sensor-1's message never arrived"
        );
    }
    // Another name may not: its message is dropped, the next one arrives.
    assert_eq!(publish(Some("intruder"), "denied"), CONNACK_OK);
    assert_eq!(publish(Some("sensor-1"), "again"), CONNACK_OK);
    assert_eq!(sub.line().await, format!("{topic} again"));
    k.wait_log("from 192.0.2.5:6275");
}
