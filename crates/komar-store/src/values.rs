//! How each record is written as a value, and read back strictly: every
//! value starts with a record version byte ([`RECORD_V1`]), every field is
//! checked (QoS, protocol level, UTF-8, topic rules, no duplicate
//! properties, no trailing bytes), and anything else is a [`DecodeError`].
//! v5 properties reuse the MQTT property identifiers as tags.

use std::num::NonZeroU32;

use bytes::Bytes;
use komar_proto::{
    ProtocolVersion, PublishProperties, QoS, RetainHandling, SubscriptionOptions, TopicName,
};

use crate::codec::{bad, put_bytes, put_str, put_varint, DecodeError, Reader};
use crate::records::{
    DeliveryRecord, MsgId, OriginRecord, OutState, SessionRecord, StoredMessage,
    SubscriptionRecord, UnixTime, WillRecord,
};

/// Version byte at the start of every value written by this code.
pub(crate) const RECORD_V1: u8 = 1;

fn check_version(r: &mut Reader<'_>, what: &str) -> Result<(), DecodeError> {
    match r.u8(what)? {
        RECORD_V1 => Ok(()),
        v => Err(bad(format!("{what}: unknown record version {v}"))),
    }
}

fn qos(v: u8, what: &str) -> Result<QoS, DecodeError> {
    QoS::from_u8(v).ok_or_else(|| bad(format!("{what}: invalid QoS {v}")))
}

// Flags of a message value.
const F_RETAIN: u8 = 0x04;
const F_EXPIRES: u8 = 0x08;
const F_ORIGIN: u8 = 0x10;
const F_USERNAME: u8 = 0x20;
const F_TOPIC: u8 = 0x40;

// Property tags (the MQTT property identifiers).
const P_FORMAT: u8 = 0x01;
const P_EXPIRY: u8 = 0x02;
const P_CONTENT_TYPE: u8 = 0x03;
const P_RESPONSE_TOPIC: u8 = 0x08;
const P_CORRELATION: u8 = 0x09;
const P_SUB_ID: u8 = 0x0B;
const P_ALIAS: u8 = 0x23;
const P_USER: u8 = 0x26;

/// Append a message. `with_topic` is false for retained messages, whose
/// key is the topic.
pub(crate) fn put_message(out: &mut Vec<u8>, m: &StoredMessage, with_topic: bool) {
    let mut flags = m.qos.as_u8();
    if m.retain {
        flags |= F_RETAIN;
    }
    if m.expires_at.is_some() {
        flags |= F_EXPIRES;
    }
    if let Some(o) = &m.origin {
        flags |= F_ORIGIN;
        if o.username.is_some() {
            flags |= F_USERNAME;
        }
    }
    if with_topic {
        flags |= F_TOPIC;
    }
    out.push(flags);
    if with_topic {
        put_str(out, m.topic.as_str());
    }
    if let Some(t) = m.expires_at {
        out.extend_from_slice(&t.0.to_be_bytes());
    }
    if let Some(o) = &m.origin {
        put_str(out, &o.client_id);
        if let Some(u) = &o.username {
            put_str(out, u);
        }
    }
    put_properties(out, &m.properties);
    put_bytes(out, &m.payload);
}

fn put_properties(out: &mut Vec<u8>, p: &PublishProperties) {
    let count = usize::from(p.payload_format_indicator.is_some())
        + usize::from(p.message_expiry_interval.is_some())
        + usize::from(p.topic_alias.is_some())
        + usize::from(p.response_topic.is_some())
        + usize::from(p.correlation_data.is_some())
        + usize::from(p.content_type.is_some())
        + p.subscription_identifiers.len()
        + p.user_properties.len();
    put_varint(out, count as u64);
    if let Some(v) = p.payload_format_indicator {
        out.extend_from_slice(&[P_FORMAT, v]);
    }
    if let Some(v) = p.message_expiry_interval {
        out.push(P_EXPIRY);
        put_varint(out, u64::from(v));
    }
    if let Some(v) = p.topic_alias {
        out.push(P_ALIAS);
        put_varint(out, u64::from(v));
    }
    if let Some(v) = &p.response_topic {
        out.push(P_RESPONSE_TOPIC);
        put_str(out, v);
    }
    if let Some(v) = &p.correlation_data {
        out.push(P_CORRELATION);
        put_bytes(out, v);
    }
    if let Some(v) = &p.content_type {
        out.push(P_CONTENT_TYPE);
        put_str(out, v);
    }
    for v in &p.subscription_identifiers {
        out.push(P_SUB_ID);
        put_varint(out, u64::from(*v));
    }
    for (k, v) in &p.user_properties {
        out.push(P_USER);
        put_str(out, k);
        put_str(out, v);
    }
}

fn once<T>(slot: &mut Option<T>, v: T, tag: u8) -> Result<(), DecodeError> {
    if slot.is_some() {
        return Err(bad(format!("property 0x{tag:02x} twice")));
    }
    *slot = Some(v);
    Ok(())
}

fn properties(r: &mut Reader<'_>) -> Result<PublishProperties, DecodeError> {
    let mut p = PublishProperties::default();
    let count = r.varint("property count")?;
    // Each property takes at least two bytes, so a count beyond that is
    // garbage; checking first bounds the loop by the input.
    if count > r.remaining() as u64 / 2 {
        return Err(bad(format!("property count {count} exceeds the value")));
    }
    for _ in 0..count {
        let tag = r.u8("property tag")?;
        match tag {
            P_FORMAT => once(
                &mut p.payload_format_indicator,
                r.u8("payload format")?,
                tag,
            )?,
            P_EXPIRY => once(
                &mut p.message_expiry_interval,
                r.varint_u32("message expiry")?,
                tag,
            )?,
            P_ALIAS => {
                let v = r.varint("topic alias")?;
                let v = u16::try_from(v).map_err(|_| bad("topic alias beyond 16 bits"))?;
                once(&mut p.topic_alias, v, tag)?;
            }
            P_RESPONSE_TOPIC => once(
                &mut p.response_topic,
                r.str("response topic")?.to_owned(),
                tag,
            )?,
            P_CORRELATION => once(
                &mut p.correlation_data,
                Bytes::copy_from_slice(r.bytes("correlation data")?),
                tag,
            )?,
            P_CONTENT_TYPE => once(&mut p.content_type, r.str("content type")?.to_owned(), tag)?,
            P_SUB_ID => p
                .subscription_identifiers
                .push(r.varint_u32("subscription identifier")?),
            P_USER => {
                let k = r.str("user property name")?.to_owned();
                let v = r.str("user property value")?.to_owned();
                p.user_properties.push((k, v));
            }
            _ => return Err(bad(format!("unknown property tag 0x{tag:02x}"))),
        }
    }
    Ok(p)
}

/// Read a message; `topic` is given for retained messages (from the key)
/// and must be `None` when the value carries it.
pub(crate) fn message(
    r: &mut Reader<'_>,
    topic: Option<&str>,
) -> Result<StoredMessage, DecodeError> {
    let flags = r.u8("message flags")?;
    if flags & 0x80 != 0 {
        return Err(bad(format!(
            "message flags 0x{flags:02x}: reserved bit set"
        )));
    }
    let q = qos(flags & 0x03, "message")?;
    let topic = match (flags & F_TOPIC != 0, topic) {
        (true, None) => r.str("topic")?,
        (false, Some(t)) => t,
        (true, Some(_)) => return Err(bad("retained message carries its own topic")),
        (false, None) => return Err(bad("message without a topic")),
    };
    let topic = TopicName::new(topic).map_err(|e| bad(format!("topic {topic:?}: {e}")))?;
    let expires_at = if flags & F_EXPIRES != 0 {
        Some(UnixTime(r.u64("expiry time")?))
    } else {
        None
    };
    let origin = if flags & F_ORIGIN != 0 {
        let client_id = r.str("origin client")?.to_owned();
        let username = if flags & F_USERNAME != 0 {
            Some(r.str("origin user name")?.to_owned())
        } else {
            None
        };
        Some(OriginRecord {
            client_id,
            username,
        })
    } else if flags & F_USERNAME != 0 {
        return Err(bad("user name flag without origin"));
    } else {
        None
    };
    let properties = properties(r)?;
    let payload = Bytes::copy_from_slice(r.bytes("payload")?);
    Ok(StoredMessage {
        topic,
        payload,
        qos: q,
        retain: flags & F_RETAIN != 0,
        properties,
        expires_at,
        origin,
    })
}

/// A message value in `msgs`.
pub(crate) fn encode_message(m: &StoredMessage) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + m.topic.as_str().len() + m.payload.len());
    out.push(RECORD_V1);
    put_message(&mut out, m, true);
    out
}

/// Read a message value from `msgs`.
pub(crate) fn decode_message(b: &[u8]) -> Result<StoredMessage, DecodeError> {
    let mut r = Reader::new(b);
    check_version(&mut r, "message")?;
    let m = message(&mut r, None)?;
    r.finish("message")?;
    Ok(m)
}

/// A retained value (the topic is the key).
pub(crate) fn encode_retained(m: &StoredMessage) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 + m.payload.len());
    out.push(RECORD_V1);
    put_message(&mut out, m, false);
    out
}

/// Read a retained value stored under `topic`.
pub(crate) fn decode_retained(topic: &[u8], b: &[u8]) -> Result<StoredMessage, DecodeError> {
    let topic = std::str::from_utf8(topic).map_err(|_| bad("retained topic not UTF-8"))?;
    let mut r = Reader::new(b);
    check_version(&mut r, "retained message")?;
    let m = message(&mut r, Some(topic))?;
    r.finish("retained message")?;
    Ok(m)
}

fn protocol(level: u8) -> Result<ProtocolVersion, DecodeError> {
    match level {
        3 => Ok(ProtocolVersion::V31),
        4 => Ok(ProtocolVersion::V311),
        5 => Ok(ProtocolVersion::V5),
        v => Err(bad(format!("unknown protocol level {v}"))),
    }
}

/// A session value (the client id is the key).
pub(crate) fn encode_session(s: &SessionRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(24);
    out.push(RECORD_V1);
    out.push(s.protocol.level());
    out.extend_from_slice(&s.expiry_interval.to_be_bytes());
    let flags = u8::from(s.expires_at.is_some()) | (u8::from(s.username.is_some()) << 1);
    out.push(flags);
    if let Some(t) = s.expires_at {
        out.extend_from_slice(&t.0.to_be_bytes());
    }
    if let Some(u) = &s.username {
        put_str(&mut out, u);
    }
    out
}

/// Read the session value of `client_id`.
pub(crate) fn decode_session(client_id: &str, b: &[u8]) -> Result<SessionRecord, DecodeError> {
    let mut r = Reader::new(b);
    check_version(&mut r, "session")?;
    let protocol = protocol(r.u8("protocol level")?)?;
    let expiry_interval = r.u32("session expiry interval")?;
    let flags = r.u8("session flags")?;
    if flags & !0x03 != 0 {
        return Err(bad(format!(
            "session flags 0x{flags:02x}: reserved bits set"
        )));
    }
    let expires_at = if flags & 1 != 0 {
        Some(UnixTime(r.u64("session expiry time")?))
    } else {
        None
    };
    let username = if flags & 2 != 0 {
        Some(r.str("user name")?.to_owned())
    } else {
        None
    };
    r.finish("session")?;
    Ok(SessionRecord {
        client_id: client_id.to_owned(),
        protocol,
        expiry_interval,
        expires_at,
        username,
    })
}

/// A subscription value.
pub(crate) fn encode_subscription(s: &SubscriptionRecord) -> Vec<u8> {
    let o = s.options;
    let byte = o.qos.as_u8()
        | (u8::from(o.no_local) << 2)
        | (u8::from(o.retain_as_published) << 3)
        | ((o.retain_handling as u8) << 4);
    let mut out = vec![RECORD_V1, byte];
    put_varint(&mut out, u64::from(s.id.map_or(0, NonZeroU32::get)));
    out
}

/// Read a subscription value.
pub(crate) fn decode_subscription(b: &[u8]) -> Result<SubscriptionRecord, DecodeError> {
    let mut r = Reader::new(b);
    check_version(&mut r, "subscription")?;
    let byte = r.u8("subscription options")?;
    if byte & 0xC0 != 0 {
        return Err(bad(format!(
            "subscription options 0x{byte:02x}: reserved bits set"
        )));
    }
    let options = SubscriptionOptions {
        qos: qos(byte & 0x03, "subscription")?,
        no_local: byte & 0x04 != 0,
        retain_as_published: byte & 0x08 != 0,
        retain_handling: RetainHandling::from_u8((byte >> 4) & 0x03)
            .ok_or_else(|| bad("retain handling 3"))?,
    };
    let id = NonZeroU32::new(r.varint_u32("subscription identifier")?);
    r.finish("subscription")?;
    Ok(SubscriptionRecord { options, id })
}

/// Delivery flag: the message itself follows the delivery, to the end of
/// the value (format 2).
const D_INLINE: u8 = 0x08;

/// The body of a message carried in a delivery value: the message as
/// `msgs` stores it, without the version byte.
pub(crate) fn message_body(m: &StoredMessage) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + m.topic.as_str().len() + m.payload.len());
    put_message(&mut out, m, true);
    out
}

/// Read a message body carried in a delivery value.
pub(crate) fn decode_message_body(b: &[u8]) -> Result<StoredMessage, DecodeError> {
    let mut r = Reader::new(b);
    let m = message(&mut r, None)?;
    r.finish("carried message")?;
    Ok(m)
}

fn put_delivery(out: &mut Vec<u8>, d: &DeliveryRecord, body: Option<&[u8]>) {
    put_varint(out, d.msg);
    let inline = if body.is_some() { D_INLINE } else { 0 };
    out.push(d.qos.as_u8() | (u8::from(d.retain) << 2) | inline);
    put_varint(out, d.sub_ids.len() as u64);
    for id in &d.sub_ids {
        put_varint(out, u64::from(*id));
    }
    if let Some(b) = body {
        out.extend_from_slice(b);
    }
}

/// A delivery and the body of the message it carries, if it does (the
/// rest of the value, checked only when decoded with
/// [`decode_message_body`]).
fn delivery<'a>(r: &mut Reader<'a>) -> Result<(DeliveryRecord, Option<&'a [u8]>), DecodeError> {
    let msg: MsgId = r.varint("message id")?;
    let flags = r.u8("delivery flags")?;
    if flags & !0x0F != 0 {
        return Err(bad(format!(
            "delivery flags 0x{flags:02x}: reserved bits set"
        )));
    }
    let n = r.varint("subscription id count")?;
    if n > r.remaining() as u64 {
        return Err(bad(format!("{n} subscription ids exceed the value")));
    }
    let mut sub_ids = Vec::new();
    for _ in 0..n {
        sub_ids.push(r.varint_u32("subscription id")?);
    }
    let body = if flags & D_INLINE != 0 {
        let rest = r.take(r.remaining(), "carried message")?;
        if rest.is_empty() {
            return Err(bad("carried message missing"));
        }
        Some(rest)
    } else {
        None
    };
    let d = DeliveryRecord {
        msg,
        qos: qos(flags & 0x03, "delivery")?,
        retain: flags & 0x04 != 0,
        sub_ids,
    };
    Ok((d, body))
}

/// A queue entry value; `body` is the message's body when the entry
/// carries it (instead of referring to `msgs`).
pub(crate) fn encode_delivery(d: &DeliveryRecord, body: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + body.map_or(0, <[u8]>::len));
    out.push(RECORD_V1);
    put_delivery(&mut out, d, body);
    out
}

/// Read a queue entry value: the delivery and the body of the message
/// it carries, if it does.
pub(crate) fn decode_delivery(b: &[u8]) -> Result<(DeliveryRecord, Option<&[u8]>), DecodeError> {
    let mut r = Reader::new(b);
    check_version(&mut r, "queued delivery")?;
    let d = delivery(&mut r)?;
    r.finish("queued delivery")?;
    Ok(d)
}

fn state_byte(s: OutState) -> u8 {
    match s {
        OutState::AwaitPubAck => 1,
        OutState::AwaitPubRec => 2,
        OutState::AwaitPubComp => 3,
    }
}

/// An in-flight entry value (the packet id is in the key); `body` as for
/// [`encode_delivery`].
pub(crate) fn encode_outgoing(
    state: OutState,
    seq: u64,
    d: &DeliveryRecord,
    body: Option<&[u8]>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(20 + body.map_or(0, <[u8]>::len));
    out.push(RECORD_V1);
    out.push(state_byte(state));
    put_varint(&mut out, seq);
    put_delivery(&mut out, d, body);
    out
}

/// An in-flight entry as read: state, send order, delivery and the body
/// of the message it carries, if it does.
pub(crate) type Outgoing<'a> = (OutState, u64, DeliveryRecord, Option<&'a [u8]>);

/// Read an in-flight entry value.
pub(crate) fn decode_outgoing(b: &[u8]) -> Result<Outgoing<'_>, DecodeError> {
    let mut r = Reader::new(b);
    check_version(&mut r, "in-flight entry")?;
    let state = match r.u8("in-flight state")? {
        1 => OutState::AwaitPubAck,
        2 => OutState::AwaitPubRec,
        3 => OutState::AwaitPubComp,
        v => return Err(bad(format!("unknown in-flight state {v}"))),
    };
    let seq = r.varint("send order")?;
    let (d, body) = delivery(&mut r)?;
    r.finish("in-flight entry")?;
    Ok((state, seq, d, body))
}

/// The value of an incoming QoS 2 marker.
pub(crate) fn encode_incoming() -> Vec<u8> {
    vec![RECORD_V1]
}

/// Check an incoming QoS 2 marker.
pub(crate) fn decode_incoming(b: &[u8]) -> Result<(), DecodeError> {
    let mut r = Reader::new(b);
    check_version(&mut r, "incoming QoS 2 marker")?;
    r.finish("incoming QoS 2 marker")
}

/// A pending will value.
pub(crate) fn encode_will(w: &WillRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(40 + w.message.payload.len());
    out.push(RECORD_V1);
    out.extend_from_slice(&w.due.0.to_be_bytes());
    put_message(&mut out, &w.message, true);
    out
}

/// Read a pending will value.
pub(crate) fn decode_will(b: &[u8]) -> Result<WillRecord, DecodeError> {
    let mut r = Reader::new(b);
    check_version(&mut r, "will")?;
    let due = UnixTime(r.u64("will due time")?);
    let message = message(&mut r, None)?;
    r.finish("will")?;
    Ok(WillRecord { due, message })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> StoredMessage {
        StoredMessage {
            topic: TopicName::new("a/b").unwrap(),
            payload: Bytes::from_static(b"hello"),
            qos: QoS::ExactlyOnce,
            retain: true,
            properties: PublishProperties {
                payload_format_indicator: Some(1),
                message_expiry_interval: Some(30),
                topic_alias: Some(4),
                response_topic: Some("r/t".into()),
                correlation_data: Some(Bytes::from_static(b"\x00\x01")),
                content_type: Some("text/plain".into()),
                subscription_identifiers: vec![1, 99],
                user_properties: vec![("k".into(), "v".into()), ("k".into(), "w".into())],
            },
            expires_at: Some(UnixTime(1_700_000_000_000)),
            origin: Some(OriginRecord {
                client_id: "pub".into(),
                username: Some("alice".into()),
            }),
        }
    }

    #[test]
    fn message_round_trips_with_every_field() {
        let m = sample();
        assert_eq!(decode_message(&encode_message(&m)).unwrap(), m);
        assert_eq!(decode_retained(b"a/b", &encode_retained(&m)).unwrap(), m);
        let bare = StoredMessage {
            properties: PublishProperties::default(),
            expires_at: None,
            origin: None,
            ..m
        };
        assert_eq!(decode_message(&encode_message(&bare)).unwrap(), bare);
    }

    #[test]
    fn every_truncation_of_every_value_is_an_error() {
        let m = sample();
        let session = SessionRecord {
            client_id: "c".into(),
            protocol: ProtocolVersion::V5,
            expiry_interval: 60,
            expires_at: Some(UnixTime(5)),
            username: Some("u".into()),
        };
        let d = DeliveryRecord {
            msg: 300,
            qos: QoS::AtLeastOnce,
            retain: false,
            sub_ids: vec![7, 8],
        };
        type Check = Box<dyn Fn(&[u8]) -> bool>;
        let values: Vec<(Vec<u8>, Check)> = vec![
            (encode_message(&m), Box::new(|b| decode_message(b).is_ok())),
            (
                encode_retained(&m),
                Box::new(|b| decode_retained(b"a/b", b).is_ok()),
            ),
            (
                encode_session(&session),
                Box::new(|b| decode_session("c", b).is_ok()),
            ),
            (
                encode_delivery(&d, None),
                Box::new(|b| decode_delivery(b).is_ok()),
            ),
            (
                encode_outgoing(OutState::AwaitPubRec, 9, &d, None),
                Box::new(|b| decode_outgoing(b).is_ok()),
            ),
            (
                encode_will(&WillRecord {
                    due: UnixTime(1),
                    message: m.clone(),
                }),
                Box::new(|b| decode_will(b).is_ok()),
            ),
        ];
        for (full, ok) in &values {
            assert!(ok(full));
            for cut in 0..full.len() {
                assert!(!ok(&full[..cut]), "accepted a value cut at {cut}");
            }
            let mut longer = full.clone();
            longer.push(0);
            assert!(!ok(&longer), "accepted trailing bytes");
        }
    }

    #[test]
    fn invalid_fields_are_rejected() {
        let mut v = encode_message(&sample());
        v[0] = 9;
        assert!(decode_message(&v).unwrap_err().0.contains("record version"));
        let mut v = encode_message(&sample());
        v[1] |= 0x03; // QoS 3
        assert!(decode_message(&v).is_err());
        assert!(decode_retained(b"a/+", &encode_retained(&sample())).is_err());
        assert!(decode_retained(&[0xFF], &encode_retained(&sample())).is_err());
        assert!(decode_subscription(&[RECORD_V1, 0x30, 0]).is_err());
        assert!(decode_session("c", &[RECORD_V1, 6, 0, 0, 0, 0, 0]).is_err());
        assert!(decode_incoming(&[RECORD_V1, 0]).is_err());
    }

    #[test]
    fn a_carried_message_round_trips_and_every_truncation_is_an_error() {
        let m = sample();
        let body = message_body(&m);
        let d = DeliveryRecord {
            msg: 300,
            qos: QoS::AtLeastOnce,
            retain: true,
            sub_ids: vec![7],
        };
        let q = encode_delivery(&d, Some(&body));
        let (back, carried) = decode_delivery(&q).unwrap();
        assert_eq!(back, d);
        assert_eq!(decode_message_body(carried.unwrap()).unwrap(), m);
        let o = encode_outgoing(OutState::AwaitPubAck, 4, &d, Some(&body));
        let (state, seq, back, carried) = decode_outgoing(&o).unwrap();
        assert_eq!((state, seq, back), (OutState::AwaitPubAck, 4, d));
        assert_eq!(decode_message_body(carried.unwrap()).unwrap(), m);
        for v in [&q, &o] {
            for cut in 0..v.len() {
                let t = &v[..cut];
                let whole = |b: Option<&[u8]>| b.is_some_and(|b| decode_message_body(b).is_ok());
                let ok = if std::ptr::eq(v, &q) {
                    decode_delivery(t).is_ok_and(|(_, b)| whole(b))
                } else {
                    decode_outgoing(t).is_ok_and(|(_, _, _, b)| whole(b))
                };
                assert!(!ok, "cut at {cut} of {}", v.len());
            }
        }
    }

    #[test]
    fn subscription_options_round_trip() {
        for byte in 0u8..0x30 {
            if byte & 0x03 == 3 {
                continue;
            }
            let r = decode_subscription(&[RECORD_V1, byte, 5]).unwrap();
            assert_eq!(encode_subscription(&r), vec![RECORD_V1, byte, 5]);
        }
    }
}
