//! Raw MQTT over TCP, written byte by byte from the OASIS specifications
//! (MQTT 3.1.1 §2–§3, MQTT 5.0 §2–§3) — for the cases no client library
//! can express: malformed packets, dropping a connection mid-flow,
//! DISCONNECT with properties, empty client ids, MQTT 3.1.
//!
//! Deliberately independent of `komar-proto`: the broker's own codec must
//! not be what checks the broker.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::TIMEOUT;

/// Control packet types (high nibble of the first byte, §2.1.2).
pub const CONNECT: u8 = 1;
pub const CONNACK: u8 = 2;
pub const PUBLISH: u8 = 3;
pub const PUBACK: u8 = 4;
pub const PUBREC: u8 = 5;
pub const PUBREL: u8 = 6;
pub const PUBCOMP: u8 = 7;
pub const SUBSCRIBE: u8 = 8;
pub const SUBACK: u8 = 9;
pub const PINGREQ: u8 = 12;
pub const PINGRESP: u8 = 13;
pub const DISCONNECT: u8 = 14;

/// The variable byte integer of §1.5.5 / §2.2.3 (3.1.1 "Remaining Length").
pub fn varint(mut n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let mut b = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            b |= 0x80;
        }
        out.push(b);
        if n == 0 {
            return out;
        }
    }
}

/// A UTF-8 string / binary field: two-byte big-endian length, then bytes.
pub fn string(s: impl AsRef<[u8]>) -> Vec<u8> {
    let s = s.as_ref();
    let mut out = (s.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(s);
    out
}

/// A whole packet: first byte, remaining length, body.
pub fn frame(first: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    out.extend(varint(body.len()));
    out.extend_from_slice(body);
    out
}

/// v5 property list: length prefix, then the properties.
pub fn props(p: &[u8]) -> Vec<u8> {
    let mut out = varint(p.len());
    out.extend_from_slice(p);
    out
}

/// A four-byte integer property (e.g. 0x11 Session Expiry Interval, 0x18
/// Will Delay Interval).
pub fn prop_u32(id: u8, v: u32) -> Vec<u8> {
    let mut out = vec![id];
    out.extend(v.to_be_bytes());
    out
}

/// A will in CONNECT.
#[derive(Debug, Clone)]
pub struct Will {
    pub topic: String,
    pub payload: Vec<u8>,
    pub qos: u8,
    pub retain: bool,
    /// v5 will properties, already encoded (without the length prefix).
    pub props: Vec<u8>,
}

impl Will {
    /// A QoS 1 will without delay.
    pub fn qos1(topic: &str, payload: &str) -> Will {
        Will {
            topic: topic.to_owned(),
            payload: payload.as_bytes().to_vec(),
            qos: 1,
            retain: false,
            props: Vec::new(),
        }
    }

    /// A QoS 1 v5 will with a Will Delay Interval (property 0x18).
    pub fn delayed(topic: &str, payload: &str, secs: u32) -> Will {
        let mut w = Will::qos1(topic, payload);
        w.props = prop_u32(0x18, secs);
        w
    }
}

/// A CONNECT packet's fields.
#[derive(Debug, Clone)]
pub struct Connect {
    /// Protocol level: 3 (MQTT 3.1, name `MQIsdp`), 4 (3.1.1) or 5.
    pub level: u8,
    pub client_id: String,
    pub clean: bool,
    pub keep_alive: u16,
    pub will: Option<Will>,
    /// v5 CONNECT properties, encoded (without the length prefix).
    pub props: Vec<u8>,
    /// Override the protocol name (default: `MQIsdp` for level 3, else `MQTT`).
    pub protocol_name: Option<String>,
}

impl Connect {
    /// A CONNECT at `level` for `client_id`, clean, keep alive 60 s.
    pub fn new(level: u8, client_id: &str) -> Connect {
        Connect {
            level,
            client_id: client_id.to_owned(),
            clean: true,
            keep_alive: 60,
            will: None,
            props: Vec::new(),
            protocol_name: None,
        }
    }

    /// Set clean session / clean start.
    /// CONNECT for a persistent session: Clean Session 0 in 3.x; Clean
    /// Start 0 and a Session Expiry of 300 s in 5.0.
    pub fn persistent(level: u8, client_id: &str) -> Connect {
        let c = Connect::new(level, client_id).clean(false);
        if level == 5 {
            c.session_expiry(300)
        } else {
            c
        }
    }

    pub fn clean(mut self, clean: bool) -> Connect {
        self.clean = clean;
        self
    }

    /// Set the keep alive in seconds.
    pub fn keep_alive(mut self, secs: u16) -> Connect {
        self.keep_alive = secs;
        self
    }

    /// v5: Session Expiry Interval (property 0x11).
    pub fn session_expiry(mut self, secs: u32) -> Connect {
        self.props.extend(prop_u32(0x11, secs));
        self
    }

    /// Add a will.
    pub fn will(mut self, w: Will) -> Connect {
        self.will = Some(w);
        self
    }

    /// The encoded packet (§3.1).
    pub fn bytes(&self) -> Vec<u8> {
        let name = self.protocol_name.clone().unwrap_or_else(|| {
            if self.level == 3 {
                "MQIsdp".to_owned()
            } else {
                "MQTT".to_owned()
            }
        });
        let mut flags = 0u8;
        if self.clean {
            flags |= 0x02;
        }
        if let Some(w) = &self.will {
            flags |= 0x04 | (w.qos << 3);
            if w.retain {
                flags |= 0x20;
            }
        }
        let mut body = string(name);
        body.push(self.level);
        body.push(flags);
        body.extend(self.keep_alive.to_be_bytes());
        if self.level == 5 {
            body.extend(props(&self.props));
        }
        body.extend(string(&self.client_id));
        if let Some(w) = &self.will {
            if self.level == 5 {
                body.extend(props(&w.props));
            }
            body.extend(string(&w.topic));
            body.extend(string(&w.payload));
        }
        frame(CONNECT << 4, &body)
    }
}

/// A PUBLISH packet (§3.3). `pid` is required for QoS 1 and 2.
pub fn publish(
    level: u8,
    topic: &str,
    qos: u8,
    pid: u16,
    retain: bool,
    dup: bool,
    payload: &[u8],
) -> Vec<u8> {
    let first = (PUBLISH << 4) | (u8::from(dup) << 3) | (qos << 1) | u8::from(retain);
    let mut body = string(topic);
    if qos > 0 {
        body.extend(pid.to_be_bytes());
    }
    if level == 5 {
        body.push(0);
    }
    body.extend_from_slice(payload);
    frame(first, &body)
}

/// A SUBSCRIBE packet (§3.8) with (filter, options byte) pairs; the
/// options byte is the requested QoS in 3.x.
pub fn subscribe(level: u8, pid: u16, filters: &[(&str, u8)]) -> Vec<u8> {
    let mut body = pid.to_be_bytes().to_vec();
    if level == 5 {
        body.push(0);
    }
    for (f, o) in filters {
        body.extend(string(f));
        body.push(*o);
    }
    frame((SUBSCRIBE << 4) | 0x02, &body)
}

/// PUBACK / PUBREC / PUBREL / PUBCOMP for `pid` (§3.4–§3.7): two bytes, the
/// short form both versions accept (reason code 0x00 implied in 5.0).
pub fn ack(kind: u8, pid: u16) -> Vec<u8> {
    let flags = if kind == PUBREL { 0x02 } else { 0 };
    frame((kind << 4) | flags, &pid.to_be_bytes())
}

/// v5 DISCONNECT with a reason code and properties (§3.14).
pub fn disconnect_v5(reason: u8, properties: &[u8]) -> Vec<u8> {
    let mut body = vec![reason];
    body.extend(props(properties));
    frame(DISCONNECT << 4, &body)
}

/// 3.x DISCONNECT (§3.14, no body).
pub fn disconnect_v3() -> Vec<u8> {
    vec![DISCONNECT << 4, 0]
}

/// One packet read back: its first byte and its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub first: u8,
    pub body: Vec<u8>,
}

impl Frame {
    /// The packet type.
    pub fn kind(&self) -> u8 {
        self.first >> 4
    }

    /// The fixed-header flags.
    pub fn flags(&self) -> u8 {
        self.first & 0x0F
    }

    /// Packet identifier at the start of the body (acks).
    pub fn pid(&self) -> u16 {
        u16::from_be_bytes([self.body[0], self.body[1]])
    }
}

/// A PUBLISH read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pub {
    pub dup: bool,
    pub qos: u8,
    pub retain: bool,
    pub topic: String,
    pub pid: u16,
    pub payload: Vec<u8>,
}

/// Decode a PUBLISH frame (`level` 5 has a property list after the id).
pub fn parse_publish(f: &Frame, level: u8) -> Pub {
    assert_eq!(f.kind(), PUBLISH, "expected PUBLISH, got {f:?}");
    let qos = (f.first >> 1) & 3;
    let b = &f.body;
    let tlen = usize::from(u16::from_be_bytes([b[0], b[1]]));
    let topic = String::from_utf8(b[2..2 + tlen].to_vec()).expect("UTF-8 topic");
    let mut i = 2 + tlen;
    let mut pid = 0;
    if qos > 0 {
        pid = u16::from_be_bytes([b[i], b[i + 1]]);
        i += 2;
    }
    if level == 5 {
        let (len, n) = read_varint(&b[i..]);
        i += n + len;
    }
    Pub {
        dup: f.first & 0x08 != 0,
        qos,
        retain: f.first & 0x01 != 0,
        topic,
        pid,
        payload: b[i..].to_vec(),
    }
}

/// A CONNACK read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnAck {
    pub session_present: bool,
    /// 3.x return code or v5 reason code.
    pub code: u8,
    /// v5 properties as (identifier, raw value bytes).
    pub props: Vec<(u8, Vec<u8>)>,
}

impl ConnAck {
    /// A v5 property's raw value.
    pub fn prop(&self, id: u8) -> Option<&[u8]> {
        self.props
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, v)| v.as_slice())
    }
}

/// Decode a CONNACK frame.
pub fn parse_connack(f: &Frame, level: u8) -> ConnAck {
    assert_eq!(f.kind(), CONNACK, "expected CONNACK, got {f:?}");
    let props = if level == 5 && f.body.len() > 2 {
        let (len, n) = read_varint(&f.body[2..]);
        parse_props(&f.body[2 + n..2 + n + len])
    } else {
        Vec::new()
    };
    ConnAck {
        session_present: f.body[0] & 1 == 1,
        code: f.body[1],
        props,
    }
}

/// The reason code of a v5 DISCONNECT (0x00 when the body is empty, §3.14.2.1).
pub fn disconnect_reason(f: &Frame) -> u8 {
    assert_eq!(f.kind(), DISCONNECT, "expected DISCONNECT, got {f:?}");
    f.body.first().copied().unwrap_or(0)
}

fn read_varint(b: &[u8]) -> (usize, usize) {
    let mut v = 0usize;
    for (i, byte) in b.iter().enumerate().take(4) {
        v |= usize::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            return (v, i + 1);
        }
    }
    panic!("bad variable byte integer in {b:?}");
}

/// Split a v5 property list (§2.2.2.2) into (identifier, value bytes).
fn parse_props(mut b: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    while let Some((&id, rest)) = b.split_first() {
        let len = match id {
            // Byte.
            0x01 | 0x17 | 0x19 | 0x24 | 0x25 | 0x28 | 0x29 | 0x2A => 1,
            // Two Byte Integer.
            0x13 | 0x21 | 0x22 | 0x23 => 2,
            // Four Byte Integer.
            0x02 | 0x11 | 0x18 | 0x27 => 4,
            // Variable Byte Integer.
            0x0B => read_varint(rest).1,
            // String pair.
            0x26 => {
                let a = 2 + usize::from(u16::from_be_bytes([rest[0], rest[1]]));
                a + 2 + usize::from(u16::from_be_bytes([rest[a], rest[a + 1]]))
            }
            // UTF-8 string or binary data.
            _ => 2 + usize::from(u16::from_be_bytes([rest[0], rest[1]])),
        };
        let (value, tail) = rest.split_at(len);
        let value = match id {
            // Strip the length prefix of strings for convenience.
            0x03 | 0x08 | 0x09 | 0x12 | 0x15 | 0x16 | 0x1A | 0x1C | 0x1F => value[2..].to_vec(),
            _ => value.to_vec(),
        };
        out.push((id, value));
        b = tail;
    }
    out
}

/// A raw TCP connection to the broker.
pub struct Raw {
    stream: TcpStream,
    buf: Vec<u8>,
    /// Protocol level spoken (decides how PUBLISH is parsed).
    pub level: u8,
}

impl Raw {
    /// Open a TCP connection (nothing sent yet).
    pub async fn open(port: u16, level: u8) -> Raw {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("TCP connect");
        stream.set_nodelay(true).expect("nodelay");
        Raw {
            stream,
            buf: Vec::new(),
            level,
        }
    }

    /// Open, send `c` and read the CONNACK (whatever its code).
    pub async fn connect_with(port: u16, c: &Connect) -> (Raw, ConnAck) {
        let mut r = Raw::open(port, c.level).await;
        r.send(&c.bytes()).await;
        let f = r
            .recv()
            .await
            .expect("CONNACK before the connection closed");
        let ack = parse_connack(&f, c.level);
        (r, ack)
    }

    /// Connect and require CONNACK success; returns the session-present flag.
    pub async fn connect(port: u16, c: &Connect) -> (Raw, bool) {
        let (r, ack) = Raw::connect_with(port, c).await;
        assert_eq!(ack.code, 0, "CONNACK refused: {ack:?}");
        (r, ack.session_present)
    }

    /// Write bytes. A write to a connection the broker already closed is
    /// not an error here: the test checks for the close itself.
    pub async fn send(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes).await;
    }

    /// Write bytes, which must succeed.
    pub async fn send_ok(&mut self, bytes: &[u8]) {
        self.stream
            .write_all(bytes)
            .await
            .expect("write to the broker");
    }

    /// The next packet, or `None` when the broker closed the connection;
    /// fails after the harness timeout.
    pub async fn recv(&mut self) -> Option<Frame> {
        match self.recv_within(TIMEOUT).await {
            Ok(f) => f,
            Err(()) => panic!("no packet and no close within {TIMEOUT:?}"),
        }
    }

    /// The next packet, `Ok(None)` on close, `Err(())` if nothing happened
    /// within `limit`.
    pub async fn recv_within(&mut self, limit: Duration) -> Result<Option<Frame>, ()> {
        tokio::time::timeout(limit, self.read_frame())
            .await
            .map_err(|_| ())
    }

    async fn read_frame(&mut self) -> Option<Frame> {
        loop {
            if let Some(f) = self.take_frame() {
                return Some(f);
            }
            let mut chunk = [0u8; 16 * 1024];
            match self.stream.read(&mut chunk).await {
                // A reset after the broker closed counts as closed.
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    fn take_frame(&mut self) -> Option<Frame> {
        if self.buf.len() < 2 {
            return None;
        }
        let mut len = 0usize;
        let mut i = 1;
        loop {
            let b = *self.buf.get(i)?;
            len |= usize::from(b & 0x7F) << (7 * (i - 1));
            i += 1;
            if b & 0x80 == 0 {
                break;
            }
            assert!(i <= 4, "broker sent a remaining length over 4 bytes");
        }
        if self.buf.len() < i + len {
            return None;
        }
        let first = self.buf[0];
        let body = self.buf[i..i + len].to_vec();
        self.buf.drain(..i + len);
        Some(Frame { first, body })
    }

    /// The next packet, which must be of `kind`.
    /// Send again (DUP=1) the QoS 2 PUBLISH `pid` the broker already
    /// answered with PUBREC, release it (PUBCOMP must be a success, not
    /// 0x92), then publish a QoS 1 `sentinel` on `topic` and wait for its
    /// PUBACK — everything before it has been routed by then.
    pub async fn resend_qos2_and_release(&mut self, level: u8, topic: &str, pid: u16) {
        self.send_ok(&publish(level, topic, 2, pid, false, true, b"x"))
            .await;
        assert_eq!(self.expect(PUBREC).await.pid(), pid);
        self.send_ok(&ack(PUBREL, pid)).await;
        let comp = self.expect(PUBCOMP).await;
        assert_eq!(comp.pid(), pid);
        assert!(
            comp.body.len() == 2 || comp.body[2] == 0,
            "PUBCOMP success (not 0x92 Packet Identifier not found): {comp:?}"
        );
        let sentinel = pid.wrapping_add(1).max(1);
        self.send_ok(&publish(
            level,
            topic,
            1,
            sentinel,
            false,
            false,
            b"sentinel",
        ))
        .await;
        assert_eq!(self.expect(PUBACK).await.pid(), sentinel);
    }

    pub async fn expect(&mut self, kind: u8) -> Frame {
        let f = self
            .recv()
            .await
            .unwrap_or_else(|| panic!("connection closed while waiting for packet type {kind}"));
        assert_eq!(f.kind(), kind, "expected packet type {kind}, got {f:?}");
        f
    }

    /// The next packet, which must be a PUBLISH.
    pub async fn expect_publish(&mut self) -> Pub {
        let f = self.expect(PUBLISH).await;
        parse_publish(&f, self.level)
    }

    /// Wait until the broker closes the connection; returns every packet it
    /// sent before closing. Fails if it stays open past the timeout.
    pub async fn closed(&mut self) -> Vec<Frame> {
        let mut got = Vec::new();
        while let Some(f) = self.recv().await {
            got.push(f);
        }
        got
    }

    /// Subscribe to `filter` at `qos` (v5 options byte = QoS) and wait for
    /// the SUBACK; returns the granted code.
    pub async fn subscribe(&mut self, pid: u16, filter: &str, qos: u8) -> u8 {
        let level = self.level;
        self.send_ok(&subscribe(level, pid, &[(filter, qos)])).await;
        let f = self.expect(SUBACK).await;
        assert_eq!(f.pid(), pid);
        *f.body.last().expect("a SUBACK code")
    }

    /// Acknowledge a QoS 1 or 2 delivery fully (PUBACK, or PUBREC → PUBREL
    /// → PUBCOMP).
    pub async fn ack_publish(&mut self, p: &Pub) {
        match p.qos {
            1 => self.send_ok(&ack(PUBACK, p.pid)).await,
            2 => {
                self.send_ok(&ack(PUBREC, p.pid)).await;
                let rel = self.expect(PUBREL).await;
                assert_eq!(rel.pid(), p.pid);
                self.send_ok(&ack(PUBCOMP, p.pid)).await;
            }
            _ => {}
        }
    }

    /// Receive publishes, acknowledging every QoS 1/2 flow as it goes
    /// (PUBACK; PUBREC, then PUBCOMP for each PUBREL), until one with
    /// payload `sentinel` arrives; returns those before it.
    pub async fn collect_until(&mut self, sentinel: &[u8]) -> Vec<Pub> {
        let mut got = Vec::new();
        loop {
            let f = self
                .recv()
                .await
                .expect("connection closed before the sentinel");
            match f.kind() {
                PUBLISH => {
                    let p = parse_publish(&f, self.level);
                    match p.qos {
                        1 => self.send_ok(&ack(PUBACK, p.pid)).await,
                        2 => self.send_ok(&ack(PUBREC, p.pid)).await,
                        _ => {}
                    }
                    if p.payload == sentinel {
                        return got;
                    }
                    got.push(p);
                }
                PUBREL => self.send_ok(&ack(PUBCOMP, f.pid())).await,
                other => panic!("unexpected packet type {other}: {f:?}"),
            }
        }
    }

    /// Drop the TCP connection without DISCONNECT.
    pub fn abort(self) {
        drop(self);
    }
}
