//! The load engine for MQTT over plain TCP at QoS 0 and 1: one task per
//! connection that writes a window of PUBLISH packets at a time and reads
//! the acknowledgements in bulk (publishers), or reads deliveries in bulk
//! and answers each batch with its PUBACKs in one write (subscribers). No
//! channels, no per-message allocation or timer.
//!
//! Why: with the general client (`komar-client`: a driver task, command
//! and event channels, a oneshot per publish) the load generator spent
//! about 1.9 µs of CPU per message on this 2-core machine, more than the
//! broker it measured, so fan-in and pairs measured the client. This
//! engine speaks the same protocol to every broker; TLS, WebSockets and
//! QoS 2 still go through `komar-client`.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, BytesMut};
use komar_proto::{
    decode_packet, encode, parse_frame_header, Connect, Packet, PacketType, ProtocolVersion, QoS,
    Subscribe, SubscriptionOptions, TopicFilter,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::payload;
use crate::run::{Shared, Tally};

/// Largest packet accepted from the broker.
const MAX_PACKET: usize = 1 << 28;
/// Keep alive asked for: longer than any run (`--timeout` caps a run).
const KEEP_ALIVE: u16 = 600;
/// Bytes read at a time.
const READ_CHUNK: usize = 64 * 1024;

/// A connected client: the socket and the bytes read but not yet parsed.
pub(crate) struct LeanConn {
    stream: TcpStream,
    rbuf: BytesMut,
    version: ProtocolVersion,
}

fn bad(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

impl LeanConn {
    /// Connect and wait for a successful CONNACK.
    pub(crate) async fn connect(
        host: &str,
        port: u16,
        version: ProtocolVersion,
        client_id: String,
        persistent: bool,
    ) -> io::Result<LeanConn> {
        let stream = TcpStream::connect((host, port)).await?;
        stream.set_nodelay(true)?;
        let mut c = LeanConn {
            stream,
            rbuf: BytesMut::with_capacity(READ_CHUNK),
            version,
        };
        let mut connect = Connect {
            protocol: version,
            bridge: false,
            clean_start: !persistent,
            keep_alive: KEEP_ALIVE,
            properties: Default::default(),
            client_id,
            will: None,
            username: None,
            password: None,
        };
        if persistent && version.is_v5() {
            connect.properties.session_expiry_interval = Some(3600);
        }
        c.send(&Packet::Connect(Box::new(connect))).await?;
        match c.next_packet().await? {
            Packet::ConnAck(a) if !a.reason_code.is_error() => Ok(c),
            Packet::ConnAck(a) => Err(bad(format!("connection refused: {:?}", a.reason_code))),
            other => Err(bad(format!("expected CONNACK, got {other:?}"))),
        }
    }

    /// Subscribe to `filter` and wait for a granting SUBACK.
    pub(crate) async fn subscribe(&mut self, filter: &str, qos: QoS) -> io::Result<()> {
        let filter = TopicFilter::new(filter).map_err(|e| bad(e.to_string()))?;
        let sub = Subscribe {
            packet_id: komar_proto::PacketId::new(1).ok_or_else(|| bad("packet id"))?,
            properties: Default::default(),
            filters: vec![(filter, SubscriptionOptions::qos(qos))],
        };
        self.send(&Packet::Subscribe(sub)).await?;
        match self.next_packet().await? {
            Packet::SubAck(a) if a.reason_codes.first().is_some_and(|rc| !rc.is_error()) => Ok(()),
            other => Err(bad(format!("subscription refused: {other:?}"))),
        }
    }

    async fn send(&mut self, p: &Packet) -> io::Result<()> {
        let mut b = BytesMut::new();
        encode(p, self.version, &mut b).map_err(|e| bad(e.to_string()))?;
        self.stream.write_all(&b).await
    }

    /// Read until one whole packet is buffered; decode it.
    async fn next_packet(&mut self) -> io::Result<Packet> {
        loop {
            if let Some(h) =
                parse_frame_header(&self.rbuf, MAX_PACKET).map_err(|e| bad(e.to_string()))?
            {
                if self.rbuf.len() >= h.total_len() {
                    let mut frame = self.rbuf.split_to(h.total_len()).freeze();
                    let body = frame.split_off(h.header_len);
                    return decode_packet(&h, body, self.version).map_err(|e| bad(e.to_string()));
                }
            }
            self.fill().await?;
        }
    }

    /// Read what the socket has (at least one byte).
    async fn fill(&mut self) -> io::Result<()> {
        self.rbuf.reserve(READ_CHUNK);
        match self.stream.read_buf(&mut self.rbuf).await? {
            0 => Err(io::ErrorKind::UnexpectedEof.into()),
            _ => Ok(()),
        }
    }

    /// Send DISCONNECT and close.
    pub(crate) async fn disconnect(mut self) {
        let _ = self.stream.write_all(&[0xE0, 0x00]).await;
        let _ = self.stream.shutdown().await;
    }
}

/// Append a PUBLISH of `payload` to `topic` (packet id `pid` at QoS 1).
fn put_publish(
    out: &mut BytesMut,
    version: ProtocolVersion,
    topic: &str,
    qos: QoS,
    pid: u16,
    payload: &[u8],
) {
    let props = usize::from(version.is_v5());
    let id = if qos == QoS::AtMostOnce { 0 } else { 2 };
    let remaining = 2 + topic.len() + id + props + payload.len();
    out.put_u8(0x30 | (qos.as_u8() << 1));
    let mut n = remaining;
    loop {
        let byte = (n % 128) as u8;
        n /= 128;
        if n == 0 {
            out.put_u8(byte);
            break;
        }
        out.put_u8(byte | 0x80);
    }
    out.put_u16(topic.len() as u16);
    out.put_slice(topic.as_bytes());
    if id > 0 {
        out.put_u16(pid);
    }
    if props > 0 {
        out.put_u8(0);
    }
    out.put_slice(payload);
}

/// The payload of one PUBLISH body (after the fixed header), or `None` if
/// it is malformed. Also returns its packet id at QoS 1.
fn publish_payload(
    body: &[u8],
    flags: u8,
    version: ProtocolVersion,
) -> Option<(&[u8], Option<u16>)> {
    let mut b = body;
    let topic_len = usize::from(u16::from_be_bytes(b.get(..2)?.try_into().ok()?));
    b = b.get(2 + topic_len..)?;
    let pid = if (flags >> 1) & 3 != 0 {
        let id = u16::from_be_bytes(b.get(..2)?.try_into().ok()?);
        b = b.get(2..)?;
        Some(id)
    } else {
        None
    };
    if version.is_v5() {
        let (len, used) = varint(b)?;
        b = b.get(used + len..)?;
    }
    Some((b, pid))
}

fn varint(b: &[u8]) -> Option<(usize, usize)> {
    let mut value = 0usize;
    for (i, byte) in b.iter().take(4).enumerate() {
        value |= usize::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// What one publisher sends.
pub(crate) struct LeanPlan {
    pub index: u32,
    pub topic: String,
    pub count: u64,
    pub qos: QoS,
    pub size: usize,
    pub window: usize,
}

/// Publish `plan.count` messages, keeping at most `plan.window` QoS 1
/// messages unacknowledged. Returns the number of errors (refused
/// acknowledgements, or the messages left when the connection failed).
pub(crate) async fn publish(mut c: LeanConn, plan: LeanPlan, shared: Arc<Shared>) -> u64 {
    let window = plan.window.clamp(1, 65_535) as u64;
    let (mut sent, mut acked, mut errors) = (0u64, 0u64, 0u64);
    let mut wbuf = BytesMut::with_capacity(64 * 1024);
    let mut body = vec![0u8; plan.size.max(payload::HEADER)];
    let qos1 = plan.qos != QoS::AtMostOnce;
    while acked < plan.count {
        // Fill the window (QoS 0: a window's worth per write). At QoS 1
        // it is refilled once half of it was acknowledged, so writes carry
        // many messages even when the broker acknowledges one at a time.
        let limit = if qos1 { acked + window } else { sent + window };
        let refill = !qos1 || sent - acked <= window / 2;
        while refill && sent < plan.count && sent < limit {
            payload::stamp(&mut body, plan.index, sent, shared.epoch);
            let pid = (sent % 65_535) as u16 + 1;
            put_publish(&mut wbuf, c.version, &plan.topic, plan.qos, pid, &body);
            sent += 1;
        }
        if !wbuf.is_empty() {
            if c.stream.write_all(&wbuf).await.is_err() {
                return errors + plan.count - acked;
            }
            wbuf.clear();
        }
        if !qos1 {
            acked = sent;
            continue;
        }
        if c.fill().await.is_err() {
            return errors + plan.count - acked;
        }
        loop {
            match parse_frame_header(&c.rbuf, MAX_PACKET) {
                Ok(Some(h)) if c.rbuf.len() >= h.total_len() => {
                    if h.packet_type == PacketType::PubAck {
                        acked += 1;
                        // v5: a reason code after the packet id; 0x80+ is
                        // a refusal.
                        if h.remaining_len >= 3
                            && c.rbuf.get(h.header_len + 2).is_some_and(|rc| *rc >= 0x80)
                        {
                            errors += 1;
                        }
                    }
                    c.rbuf.advance(h.total_len());
                }
                Ok(_) => break,
                Err(_) => return errors + plan.count - acked,
            }
        }
    }
    c.disconnect().await;
    errors
}

/// Receive until `expected` distinct messages arrived, the run's deadline
/// passed, or the publishers are done and nothing came for
/// `idle_after`. Each batch of QoS 1 deliveries is acknowledged in one
/// write.
pub(crate) async fn receive(
    mut c: LeanConn,
    mut tally: Tally,
    expected: u64,
    shared: Arc<Shared>,
    deadline: tokio::time::Instant,
    idle_after: Duration,
) -> Tally {
    let mut acks = BytesMut::with_capacity(16 * 1024);
    while tally.delivered < expected {
        let wait = if shared.publishers_done.load(Ordering::Relaxed) {
            idle_after
        } else {
            Duration::from_secs(1)
        };
        let until = (tokio::time::Instant::now() + wait).min(deadline);
        match tokio::time::timeout_at(until, c.fill()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => break,
            Err(_) => {
                if tokio::time::Instant::now() >= deadline
                    || shared.publishers_done.load(Ordering::Relaxed)
                {
                    break;
                }
                continue;
            }
        }
        let before = tally.delivered;
        loop {
            let h = match parse_frame_header(&c.rbuf, MAX_PACKET) {
                Ok(Some(h)) if c.rbuf.len() >= h.total_len() => h,
                Ok(_) => break,
                Err(_) => return tally,
            };
            if h.packet_type == PacketType::Publish {
                let body = c.rbuf.get(h.header_len..h.total_len()).unwrap_or_default();
                if let Some((p, pid)) = publish_payload(body, h.flags, c.version) {
                    tally.record(p, shared.epoch);
                    if let Some(pid) = pid {
                        acks.put_slice(&[0x40, 0x02]);
                        acks.put_u16(pid);
                    }
                }
            }
            c.rbuf.advance(h.total_len());
        }
        if tally.delivered > before {
            shared
                .progress
                .fetch_add(tally.delivered - before, Ordering::Relaxed);
            let now = u64::try_from(shared.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
            shared.last_delivery_ns.fetch_max(now, Ordering::Relaxed);
        }
        if !acks.is_empty() {
            if c.stream.write_all(&acks).await.is_err() {
                break;
            }
            acks.clear();
        }
    }
    c.disconnect().await;
    tally
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    /// What `put_publish` writes is what the codec decodes, and
    /// `publish_payload` finds the payload and packet id in it.
    #[test]
    fn publish_frames_decode_in_every_version() {
        for version in [
            ProtocolVersion::V31,
            ProtocolVersion::V311,
            ProtocolVersion::V5,
        ] {
            for qos in [QoS::AtMostOnce, QoS::AtLeastOnce] {
                for size in [20, 200, 20_000] {
                    let payload = vec![7u8; size];
                    let mut b = BytesMut::new();
                    put_publish(&mut b, version, "bench/x/3", qos, 513, &payload);
                    let h = parse_frame_header(&b, MAX_PACKET).unwrap().unwrap();
                    assert_eq!(h.total_len(), b.len());
                    let body = b.get(h.header_len..).unwrap();
                    let (p, pid) = publish_payload(body, h.flags, version).unwrap();
                    assert_eq!(p, &payload[..]);
                    assert_eq!(pid, (qos != QoS::AtMostOnce).then_some(513));
                    let body = Bytes::copy_from_slice(body);
                    match decode_packet(&h, body, version).unwrap() {
                        Packet::Publish(p) => {
                            assert_eq!(p.topic.as_str(), "bench/x/3");
                            assert_eq!(p.payload.len(), size);
                            assert_eq!(p.qos_pid.qos(), qos);
                        }
                        other => panic!("{other:?}"),
                    }
                }
            }
        }
    }

    #[test]
    fn truncated_publish_bodies_are_refused() {
        let mut b = BytesMut::new();
        put_publish(&mut b, ProtocolVersion::V5, "t", QoS::AtLeastOnce, 1, b"x");
        let h = parse_frame_header(&b, MAX_PACKET).unwrap().unwrap();
        let body = b.get(h.header_len..).unwrap();
        for cut in 0..4 {
            assert!(publish_payload(&body[..cut], h.flags, ProtocolVersion::V5).is_none());
        }
    }
}
