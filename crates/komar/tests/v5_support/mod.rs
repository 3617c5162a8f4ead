//! Shared harness of the MQTT 5 integration tests (`tests/v5_*.rs`): a
//! rumqttc v5 client whose event loop runs in the background and reports
//! its end (a server DISCONNECT is an error in rumqttc), the runner of the
//! paho-mqtt (Python) scripts under `tests/py/`, and MQTT 5 additions to
//! the raw client (`common::raw`): properties on PUBLISH / SUBSCRIBE and a
//! property-list reader, written from the specification (§2.2.2).
//!
//! Lives in a directory (`v5_support/mod.rs`) so Cargo does not take it
//! for a test target of its own.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use rumqttc::v5::mqttbytes::v5::{ConnAck, Packet, Publish};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, ConnectionError, Event, MqttOptions};
use tokio::io::AsyncBufReadExt;

use crate::common::raw::{self, Frame};
use crate::common::{scratch_dir, unique, TIMEOUT};

/// A rumqttc v5 client driven in the background: incoming packets and the
/// error that ends the event loop are forwarded to the test. Packets a
/// wait skips are held, in order, for later waits: nothing is lost.
pub struct C5 {
    /// The client handle.
    pub client: AsyncClient,
    rx: tokio::sync::mpsc::UnboundedReceiver<Result<Packet, ConnectionError>>,
    held: std::collections::VecDeque<Packet>,
    task: tokio::task::JoinHandle<()>,
}

impl std::ops::Deref for C5 {
    type Target = AsyncClient;
    fn deref(&self) -> &AsyncClient {
        &self.client
    }
}

impl Drop for C5 {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Options for a v5 client of the broker on `port` (keep alive 30 s).
pub fn options(id: &str, port: u16) -> MqttOptions {
    crate::common::v5::options(id, port)
}

impl C5 {
    /// Connect with `o`, wait for a successful CONNACK and keep the event
    /// loop running.
    pub async fn connect(o: MqttOptions) -> (C5, ConnAck) {
        let (client, mut el) = AsyncClient::new(o, 1000);
        let ack = tokio::time::timeout(TIMEOUT, async {
            loop {
                match el.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(a))) => return a,
                    Ok(_) => {}
                    Err(e) => panic!("rumqttc v5 could not connect: {e}"),
                }
            }
        })
        .await
        .expect("CONNACK in time");
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                match el.poll().await {
                    Ok(Event::Incoming(p)) => {
                        if tx.send(Ok(p)).is_err() {
                            return;
                        }
                    }
                    Ok(Event::Outgoing(_)) => {}
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
            }
        });
        (
            C5 {
                client,
                rx,
                held: std::collections::VecDeque::new(),
                task,
            },
            ack,
        )
    }

    /// Drop the TCP connection without DISCONNECT (the event loop and its
    /// socket go away).
    pub fn abort(self) {
        self.task.abort();
    }

    /// The first incoming packet (held or new) for which `pred` is true;
    /// the others are held. Fails on a connection error or after the
    /// timeout.
    pub async fn until(&mut self, mut pred: impl FnMut(&Packet) -> bool) -> Packet {
        if let Some(i) = self.held.iter().position(&mut pred) {
            return self.held.remove(i).expect("held packet");
        }
        let (rx, held) = (&mut self.rx, &mut self.held);
        tokio::time::timeout(TIMEOUT, async {
            loop {
                match rx.recv().await {
                    Some(Ok(p)) if pred(&p) => return p,
                    Some(Ok(p)) => held.push_back(p),
                    Some(Err(e)) => panic!("connection ended: {e}"),
                    None => panic!("event loop gone"),
                }
            }
        })
        .await
        .expect("packet in time")
    }

    /// Take the publishes received but not yet waited for.
    pub fn take_held_publishes(&mut self) -> Vec<Publish> {
        let mut out = Vec::new();
        self.held.retain(|p| match p {
            Packet::Publish(m) => {
                out.push(m.clone());
                false
            }
            _ => true,
        });
        out
    }

    /// Wait for `n` acknowledgements of kind `ack` (e.g. PUBACK).
    pub async fn acks(&mut self, n: usize, ack: fn(&Packet) -> bool) {
        for _ in 0..n {
            self.until(ack).await;
        }
    }

    /// The error that ends the connection (packets before it are held).
    pub async fn error(&mut self) -> ConnectionError {
        tokio::time::timeout(TIMEOUT, async {
            loop {
                match self.rx.recv().await {
                    Some(Ok(p)) => self.held.push_back(p),
                    Some(Err(e)) => return e,
                    None => panic!("event loop gone without an error"),
                }
            }
        })
        .await
        .expect("the connection ends in time")
    }

    /// The next PUBLISH.
    pub async fn next(&mut self) -> Publish {
        match self.until(|p| matches!(p, Packet::Publish(_))).await {
            Packet::Publish(p) => p,
            _ => unreachable!(),
        }
    }

    /// The next `n` PUBLISH packets.
    pub async fn publishes(&mut self, n: usize) -> Vec<Publish> {
        let mut v = Vec::with_capacity(n);
        while v.len() < n {
            v.push(self.next().await);
        }
        v
    }

    /// Every PUBLISH before the one whose payload is `sentinel`.
    pub async fn until_sentinel(&mut self, sentinel: &[u8]) -> Vec<Publish> {
        let mut v = Vec::new();
        loop {
            let p = self.next().await;
            if p.payload.as_ref() == sentinel {
                return v;
            }
            v.push(p);
        }
    }

    /// Subscribe to `filter` at `qos` and wait for the SUBACK.
    pub async fn sub(&mut self, filter: &str, qos: QoS) {
        self.client.subscribe(filter, qos).await.unwrap();
        self.suback().await;
    }

    /// Wait for the next SUBACK.
    pub async fn suback(&mut self) -> rumqttc::v5::mqttbytes::v5::SubAck {
        match self.until(|p| matches!(p, Packet::SubAck(_))).await {
            Packet::SubAck(s) => s,
            _ => unreachable!(),
        }
    }

    /// Wait until the broker has handled everything this client sent so far
    /// (a SUBSCRIBE is answered after the packets before it).
    pub async fn flush(&mut self) {
        self.sub(&unique("flush"), QoS::AtMostOnce).await;
    }
}

/// The topic of a rumqttc PUBLISH as text.
pub fn topic_of(p: &Publish) -> String {
    String::from_utf8(p.topic.to_vec()).expect("UTF-8 topic")
}

/// A QoS 1 sentinel published by a fresh client on `topic` (waits for the
/// PUBACK, so the broker has routed it).
pub async fn sentinel(port: u16, topic: &str, payload: &str) {
    let (mut c, _) = C5::connect(options(&unique("sentinel"), port)).await;
    c.publish(topic, QoS::AtLeastOnce, false, payload.to_owned())
        .await
        .unwrap();
    c.until(|p| matches!(p, Packet::PubAck(_))).await;
}

// ---------------------------------------------------------------------
// paho-mqtt (Python) scripts
// ---------------------------------------------------------------------

/// Longest a Python script may run.
pub const PY_TIMEOUT: Duration = Duration::from_secs(40);

/// A running `python3 tests/py/<script> --port N <case> [args]`.
pub struct Paho {
    child: tokio::process::Child,
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    /// Every stdout line read so far.
    pub out: Vec<String>,
    stderr: PathBuf,
    what: String,
}

impl Paho {
    /// Start a case of a script (the script's output is read as it comes).
    pub fn start(script: &str, port: u16, case: &str, args: &[&str]) -> Paho {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/py")
            .join(script);
        let stderr = scratch_dir("paho").join("stderr");
        let mut child = tokio::process::Command::new("python3")
            .arg("-u")
            .arg(&path)
            .args(["--port", &port.to_string(), case])
            .args(args)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .kill_on_drop(true)
            .spawn()
            .expect("python3 runs (scripts/test.sh installs paho-mqtt)");
        let out = child.stdout.take().expect("stdout");
        Paho {
            child,
            lines: tokio::io::BufReader::new(out).lines(),
            out: Vec::new(),
            stderr,
            what: format!("{script} {case} {args:?}"),
        }
    }

    fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Wait for an output line `key=...`; returns the value.
    pub async fn wait_for(&mut self, key: &str) -> String {
        let prefix = format!("{key}=");
        loop {
            let line = tokio::time::timeout(PY_TIMEOUT, self.lines.next_line()).await;
            match line {
                Ok(Ok(Some(l))) => {
                    self.out.push(l.clone());
                    if let Some(v) = l.strip_prefix(&prefix) {
                        return v.to_owned();
                    }
                }
                _ => panic!(
                    "{}: no line {key}=… (output {:?}); stderr:\n{}",
                    self.what,
                    self.out,
                    self.stderr_text()
                ),
            }
        }
    }

    /// Wait for the script to end successfully; returns its whole output.
    pub async fn finish(mut self) -> Output {
        let what = self.what.clone();
        let read_rest = async {
            while let Ok(Some(l)) = self.lines.next_line().await {
                self.out.push(l);
            }
            self.child.wait().await
        };
        let status = tokio::time::timeout(PY_TIMEOUT, read_rest).await;
        let stderr = self.stderr_text();
        match status {
            Ok(Ok(s)) if s.success() => Output {
                lines: std::mem::take(&mut self.out),
            },
            Ok(Ok(s)) => panic!(
                "{what} failed ({s}); output {:?}; stderr:\n{stderr}",
                self.out
            ),
            _ => panic!(
                "{what} did not finish within {PY_TIMEOUT:?}; output {:?}; stderr:\n{stderr}",
                self.out
            ),
        }
    }
}

/// What a script printed: `key=value` lines.
#[derive(Debug)]
pub struct Output {
    /// The lines, in order.
    pub lines: Vec<String>,
}

impl Output {
    /// The value of the (last) `key=` line; fails if there is none.
    pub fn get(&self, key: &str) -> &str {
        let prefix = format!("{key}=");
        self.lines
            .iter()
            .rev()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {key}= in {:?}", self.lines))
    }
}

/// Run a script case to its end; it must succeed.
pub async fn paho(script: &str, port: u16, case: &str, args: &[&str]) -> Output {
    Paho::start(script, port, case, args).finish().await
}

// ---------------------------------------------------------------------
// Raw MQTT 5 additions (§2.2.2 properties, §3.3 PUBLISH, §3.8 SUBSCRIBE)
// ---------------------------------------------------------------------

/// Byte property (e.g. 0x01 Payload Format Indicator).
pub fn p_u8(id: u8, v: u8) -> Vec<u8> {
    vec![id, v]
}

/// Two Byte Integer property (e.g. 0x23 Topic Alias).
pub fn p_u16(id: u8, v: u16) -> Vec<u8> {
    let mut o = vec![id];
    o.extend(v.to_be_bytes());
    o
}

/// Four Byte Integer property (e.g. 0x02 Message Expiry Interval).
pub fn p_u32(id: u8, v: u32) -> Vec<u8> {
    raw::prop_u32(id, v)
}

/// UTF-8 string or binary data property.
pub fn p_str(id: u8, v: impl AsRef<[u8]>) -> Vec<u8> {
    let mut o = vec![id];
    o.extend(raw::string(v));
    o
}

/// Variable Byte Integer property (0x0B Subscription Identifier).
pub fn p_varint(id: u8, v: usize) -> Vec<u8> {
    let mut o = vec![id];
    o.extend(raw::varint(v));
    o
}

/// A v5 PUBLISH with properties (encoded, without the length prefix).
pub fn publish(
    topic: &str,
    qos: u8,
    pid: u16,
    retain: bool,
    props: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    let first = (raw::PUBLISH << 4) | (qos << 1) | u8::from(retain);
    let mut body = raw::string(topic);
    if qos > 0 {
        body.extend(pid.to_be_bytes());
    }
    body.extend(raw::props(props));
    body.extend_from_slice(payload);
    raw::frame(first, &body)
}

/// A v5 SUBSCRIBE with properties and (filter, options byte) pairs.
pub fn subscribe(pid: u16, props: &[u8], filters: &[(&str, u8)]) -> Vec<u8> {
    let mut body = pid.to_be_bytes().to_vec();
    body.extend(raw::props(props));
    for (f, o) in filters {
        body.extend(raw::string(f));
        body.push(*o);
    }
    raw::frame((raw::SUBSCRIBE << 4) | 0x02, &body)
}

/// A property value as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Val {
    /// Byte, Two / Four Byte Integer or Variable Byte Integer.
    Int(u32),
    /// UTF-8 string or binary data (without the length prefix).
    Bytes(Vec<u8>),
    /// UTF-8 string pair (0x26 User Property).
    Pair(String, String),
}

/// A v5 property list read back, in wire order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Props(pub Vec<(u8, Val)>);

impl Props {
    /// The first value of property `id`.
    pub fn get(&self, id: u8) -> Option<&Val> {
        self.0.iter().find(|(i, _)| *i == id).map(|(_, v)| v)
    }

    /// An integer property.
    pub fn int(&self, id: u8) -> Option<u32> {
        match self.get(id) {
            Some(Val::Int(n)) => Some(*n),
            _ => None,
        }
    }

    /// A string property.
    pub fn text(&self, id: u8) -> Option<String> {
        match self.get(id) {
            Some(Val::Bytes(b)) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        }
    }

    /// Every value of an integer property that may repeat (0x0B).
    pub fn ints(&self, id: u8) -> Vec<u32> {
        self.0
            .iter()
            .filter_map(|(i, v)| match v {
                Val::Int(n) if *i == id => Some(*n),
                _ => None,
            })
            .collect()
    }

    /// Whether property `id` is present.
    pub fn has(&self, id: u8) -> bool {
        self.get(id).is_some()
    }
}

/// Read a Variable Byte Integer (§1.5.5); returns (value, bytes used).
pub fn read_varint(b: &[u8]) -> (usize, usize) {
    let mut v = 0usize;
    for (i, byte) in b.iter().enumerate().take(4) {
        v |= usize::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            return (v, i + 1);
        }
    }
    panic!("bad variable byte integer in {b:?}");
}

fn be(b: &[u8]) -> u32 {
    b.iter().fold(0u32, |a, x| (a << 8) | u32::from(*x))
}

fn string_at(b: &[u8]) -> (Vec<u8>, usize) {
    let n = usize::from(u16::from_be_bytes([b[0], b[1]]));
    (b[2..2 + n].to_vec(), 2 + n)
}

/// Read a property list that starts with its length at `b[0]`; returns the
/// properties and the bytes used (length prefix included).
pub fn read_props(b: &[u8]) -> (Props, usize) {
    let (len, n) = read_varint(b);
    let mut rest = &b[n..n + len];
    let mut out = Vec::new();
    while let Some((&id, tail)) = rest.split_first() {
        let (val, used) = match id {
            // Byte.
            0x01 | 0x17 | 0x19 | 0x24 | 0x25 | 0x28 | 0x29 | 0x2A => (Val::Int(be(&tail[..1])), 1),
            // Two Byte Integer.
            0x13 | 0x21 | 0x22 | 0x23 => (Val::Int(be(&tail[..2])), 2),
            // Four Byte Integer.
            0x02 | 0x11 | 0x18 | 0x27 => (Val::Int(be(&tail[..4])), 4),
            // Variable Byte Integer.
            0x0B => {
                let (v, k) = read_varint(tail);
                (Val::Int(v as u32), k)
            }
            // UTF-8 String Pair.
            0x26 => {
                let (k, a) = string_at(tail);
                let (v, c) = string_at(&tail[a..]);
                (
                    Val::Pair(
                        String::from_utf8(k).expect("UTF-8 key"),
                        String::from_utf8(v).expect("UTF-8 value"),
                    ),
                    a + c,
                )
            }
            // UTF-8 string or Binary Data.
            _ => {
                let (v, a) = string_at(tail);
                (Val::Bytes(v), a)
            }
        };
        out.push((id, val));
        rest = &tail[used..];
    }
    (Props(out), n + len)
}

/// A v5 PUBLISH read back, with its properties.
#[derive(Debug, Clone)]
pub struct Pub5 {
    /// QoS.
    pub qos: u8,
    /// RETAIN flag.
    pub retain: bool,
    /// Topic (empty when a known alias is used).
    pub topic: String,
    /// Packet identifier (0 for QoS 0).
    pub pid: u16,
    /// Properties.
    pub props: Props,
    /// Payload.
    pub payload: Vec<u8>,
}

/// Decode a v5 PUBLISH frame.
pub fn parse_publish(f: &Frame) -> Pub5 {
    assert_eq!(f.kind(), raw::PUBLISH, "expected PUBLISH, got {f:?}");
    let qos = (f.first >> 1) & 3;
    let b = &f.body;
    let (topic, mut i) = string_at(b);
    let mut pid = 0;
    if qos > 0 {
        pid = u16::from_be_bytes([b[i], b[i + 1]]);
        i += 2;
    }
    let (props, used) = read_props(&b[i..]);
    i += used;
    Pub5 {
        qos,
        retain: f.first & 1 == 1,
        topic: String::from_utf8(topic).expect("UTF-8 topic"),
        pid,
        props,
        payload: b[i..].to_vec(),
    }
}

/// Reason code and properties of a v5 PUBACK / PUBREC / PUBREL / PUBCOMP
/// (§3.4.2: both may be absent, meaning 0x00 and none).
pub fn parse_ack(f: &Frame) -> (u16, u8, Props) {
    let pid = f.pid();
    let reason = f.body.get(2).copied().unwrap_or(0);
    let props = if f.body.len() > 3 {
        read_props(&f.body[3..]).0
    } else {
        Props::default()
    };
    (pid, reason, props)
}

/// Reason code and properties of a v5 DISCONNECT.
pub fn parse_disconnect(f: &Frame) -> (u8, Props) {
    assert_eq!(f.kind(), raw::DISCONNECT, "expected DISCONNECT, got {f:?}");
    let reason = f.body.first().copied().unwrap_or(0);
    let props = if f.body.len() > 1 {
        read_props(&f.body[1..]).0
    } else {
        Props::default()
    };
    (reason, props)
}

/// Reason codes and properties of a v5 SUBACK.
pub fn parse_suback(f: &Frame) -> (Vec<u8>, Props) {
    assert_eq!(f.kind(), raw::SUBACK, "expected SUBACK, got {f:?}");
    let (props, used) = read_props(&f.body[2..]);
    (f.body[2 + used..].to_vec(), props)
}

/// Wait for the next packet that is not a PUBLISH (publishes are
/// collected into `seen`); `None` when the broker closed the connection.
pub async fn next_non_publish(r: &mut raw::Raw, seen: &mut Vec<Pub5>) -> Option<Frame> {
    loop {
        let f = r.recv().await?;
        if f.kind() == raw::PUBLISH {
            seen.push(parse_publish(&f));
        } else {
            return Some(f);
        }
    }
}
