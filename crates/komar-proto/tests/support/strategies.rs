//! Proptest strategies for valid packets. Each packet strategy takes the
//! protocol version and only produces what that version can carry: no
//! properties and success codes before 5.0, the reason codes each packet
//! allows in 5.0 (listed here from the specification, independently of the
//! crate's own tables), every property of each packet, topics with
//! unicode, empty levels, `$` prefixes, shared subscriptions and the
//! maximum depth.

use bytes::Bytes;
use komar_proto::topic::MAX_TOPIC_LEVELS;
use komar_proto::*;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;

/// Any protocol version.
pub fn version() -> impl Strategy<Value = ProtocolVersion> {
    select(super::VERSIONS.to_vec())
}

/// A version and a value built for it.
pub fn with_version<S, F>(make: F) -> impl Strategy<Value = (ProtocolVersion, S::Value)>
where
    S: Strategy + 'static,
    F: Fn(ProtocolVersion) -> S + 'static,
{
    version().prop_flat_map(move |v| (Just(v), make(v)))
}

// ---------------------------------------------------------------------------
// Primitive fields.

/// A valid MQTT UTF-8 string (no U+0000), mostly short ASCII, sometimes any
/// unicode.
pub fn mqtt_string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-zA-Z0-9 _./+#$-]{0,12}",
        1 => vec(any::<char>(), 0..10).prop_map(|cs| {
            cs.into_iter().map(|c| if c == '\0' { '\u{FFFD}' } else { c }).collect()
        }),
    ]
}

/// Binary data of up to `max` bytes.
pub fn binary(max: usize) -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..=max).prop_map(Bytes::from)
}

/// A payload of up to a few KB: small arbitrary ones, or larger ones filled
/// from a seed (cheaper to generate and shrink than 4,096 random bytes).
pub fn payload() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        3 => binary(64),
        1 => (0..4096usize, any::<u8>()).prop_map(|(n, seed)| {
            (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect::<Vec<u8>>().into()
        }),
    ]
}

pub fn packet_id() -> impl Strategy<Value = PacketId> {
    prop_oneof![Just(1u16), Just(u16::MAX), 1..=u16::MAX]
        .prop_map(|v| PacketId::new(v).expect("non-zero"))
}

pub fn qos() -> impl Strategy<Value = QoS> {
    select(vec![QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce])
}

/// User properties: arbitrary pairs, keys often repeated (order and
/// duplicates must survive [MQTT-3.3.2-17]).
pub fn user_properties() -> impl Strategy<Value = Vec<(String, String)>> {
    let key = prop_oneof![
        select(vec!["k", "k", "key", ""]).prop_map(String::from),
        mqtt_string()
    ];
    vec((key, mqtt_string()), 0..4)
}

/// An optional non-zero u16 (Receive Maximum, Topic Alias).
fn nz16() -> impl Strategy<Value = Option<u16>> {
    option::of(prop_oneof![Just(1u16), Just(u16::MAX), 1..=u16::MAX])
}

/// An optional non-zero u32 (Maximum Packet Size).
fn nz32() -> impl Strategy<Value = Option<u32>> {
    option::of(prop_oneof![Just(1u32), Just(u32::MAX), 1..=u32::MAX])
}

/// An optional 0/1 flag byte.
fn flag() -> impl Strategy<Value = Option<u8>> {
    option::of(0..=1u8)
}

fn opt_u32() -> impl Strategy<Value = Option<u32>> {
    option::of(prop_oneof![Just(0u32), Just(u32::MAX), any::<u32>()])
}

fn opt_u16() -> impl Strategy<Value = Option<u16>> {
    option::of(any::<u16>())
}

fn opt_string() -> impl Strategy<Value = Option<String>> {
    option::of(mqtt_string())
}

fn opt_binary() -> impl Strategy<Value = Option<Bytes>> {
    option::of(binary(32))
}

/// A Subscription Identifier: 1 to 268,435,455.
pub fn subscription_id() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(1u32),
        Just(127),
        Just(128),
        Just(MAX_VARINT),
        1..=MAX_VARINT
    ]
}

// ---------------------------------------------------------------------------
// Topics.

/// One level of a topic name: empty, ASCII, a well-known word, or unicode
/// without `/`, `+`, `#` and U+0000.
pub fn name_level() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just(String::new()),
        4 => "[a-z0-9]{1,6}",
        1 => select(vec!["$SYS", "sport", "tennis", "€uro", "日本語", "a b", " ", "$", "$share_"])
            .prop_map(String::from),
        1 => vec(any::<char>(), 1..5).prop_map(|cs| {
            cs.into_iter().filter(|c| !matches!(c, '\0' | '/' | '+' | '#')).collect()
        }),
    ]
}

/// Level lists: usually shallow, sometimes exactly `max` levels deep.
fn levels<S: Strategy<Value = String>>(
    level: fn() -> S,
    max: usize,
) -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        8 => vec(level(), 1..6),
        1 => vec(level(), max),
    ]
}

/// Join levels, never yielding the empty string (invalid for both kinds).
fn join(levels: &[String], if_empty: &str) -> String {
    let s = levels.join("/");
    if s.is_empty() {
        if_empty.to_owned()
    } else {
        s
    }
}

/// The text of a valid topic name, up to the maximum depth.
pub fn topic_name_text() -> impl Strategy<Value = String> {
    levels(name_level, MAX_TOPIC_LEVELS).prop_map(|l| join(&l, "/"))
}

/// A valid topic name.
pub fn topic_name() -> impl Strategy<Value = TopicName> {
    topic_name_text().prop_map(|s| TopicName::new(&s).expect("generator yields valid names"))
}

/// One level of a filter: a name level or `+`.
fn filter_level() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => name_level(),
        1 => Just("+".to_owned()),
    ]
}

/// The text of a valid non-shared filter with at most `max_levels` levels.
fn plain_filter_text(max_levels: usize) -> impl Strategy<Value = String> {
    (levels(filter_level, max_levels - 1), any::<bool>()).prop_map(|(mut l, hash)| {
        // "$share" as the first level would make it a shared subscription.
        if l.first().is_some_and(|f| f == "$share") {
            l[0].push('_');
        }
        if hash {
            l.push("#".to_owned());
        }
        join(&l, "#")
    })
}

/// A share name: non-empty, without `/`, `+`, `#` [MQTT-4.8.2-2].
pub fn share_group() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-zA-Z0-9_$-]{1,6}",
        1 => vec(any::<char>(), 1..4).prop_map(|cs| {
            let g: String = cs.into_iter().filter(|c| !matches!(c, '\0' | '/' | '+' | '#')).collect();
            if g.is_empty() { "g".to_owned() } else { g }
        }),
    ]
}

/// The text of a valid filter, shared (`$share/{group}/{filter}`) or not.
pub fn topic_filter_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => plain_filter_text(MAX_TOPIC_LEVELS),
        // "$share/g/" takes two of the levels.
        1 => (share_group(), plain_filter_text(MAX_TOPIC_LEVELS - 2))
            .prop_map(|(g, f)| format!("$share/{g}/{f}")),
    ]
}

/// A valid topic filter.
pub fn topic_filter() -> impl Strategy<Value = TopicFilter> {
    topic_filter_text().prop_map(|s| TopicFilter::new(&s).expect("generator yields valid filters"))
}

// ---------------------------------------------------------------------------
// Reason codes each packet may carry in 5.0 (from the specification).

/// CONNACK (§3.2.2.2).
const CONNACK: &[u8] = &[
    0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97,
    0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F,
];
/// PUBACK and PUBREC (§3.4.2.1, §3.5.2.1).
const PUBACK: &[u8] = &[0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99];
/// PUBREL and PUBCOMP (§3.6.2.1, §3.7.2.1).
const PUBREL: &[u8] = &[0x00, 0x92];
/// SUBACK (§3.9.3).
const SUBACK: &[u8] = &[
    0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2,
];
/// UNSUBACK (§3.11.3).
const UNSUBACK: &[u8] = &[0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91];
/// DISCONNECT (§3.14.2.1).
const DISCONNECT: &[u8] = &[
    0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95,
    0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2,
];
/// AUTH (§3.15.2.1).
const AUTH: &[u8] = &[0x00, 0x18, 0x19];

fn code(list: &'static [u8]) -> impl Strategy<Value = ReasonCode> {
    select(list).prop_map(ReasonCode)
}

/// A reason code from `list` in 5.0; Success before.
fn code_for(v: ProtocolVersion, list: &'static [u8]) -> BoxedStrategy<ReasonCode> {
    if v.is_v5() {
        code(list).boxed()
    } else {
        Just(ReasonCode::SUCCESS).boxed()
    }
}

/// `s` in 5.0, the default (no properties) before.
fn props_for<T, S>(v: ProtocolVersion, s: S) -> BoxedStrategy<T>
where
    T: Default + Clone + std::fmt::Debug + 'static,
    S: Strategy<Value = T> + 'static,
{
    if v.is_v5() {
        s.boxed()
    } else {
        Just(T::default()).boxed()
    }
}

// ---------------------------------------------------------------------------
// Property sets: every property of each packet.

pub fn connect_properties() -> impl Strategy<Value = ConnectProperties> {
    (
        opt_u32(),
        nz16(),
        nz32(),
        opt_u16(),
        flag(),
        flag(),
        opt_string(),
        opt_binary(),
        user_properties(),
    )
        .prop_map(
            |(sei, rm, mps, tam, rri, rpi, am, ad, up)| ConnectProperties {
                session_expiry_interval: sei,
                receive_maximum: rm,
                maximum_packet_size: mps,
                topic_alias_maximum: tam,
                request_response_information: rri,
                request_problem_information: rpi,
                authentication_method: am,
                authentication_data: ad,
                user_properties: up,
            },
        )
}

pub fn will_properties() -> impl Strategy<Value = WillProperties> {
    (
        opt_u32(),
        flag(),
        opt_u32(),
        opt_string(),
        opt_string(),
        opt_binary(),
        user_properties(),
    )
        .prop_map(|(wdi, pfi, mei, ct, rt, cd, up)| WillProperties {
            will_delay_interval: wdi,
            payload_format_indicator: pfi,
            message_expiry_interval: mei,
            content_type: ct,
            response_topic: rt,
            correlation_data: cd,
            user_properties: up,
        })
}

pub fn connack_properties() -> impl Strategy<Value = ConnAckProperties> {
    let limits = (
        opt_u32(),
        nz16(),
        flag(),
        flag(),
        nz32(),
        opt_string(),
        opt_u16(),
        opt_string(),
    );
    let features = (
        flag(),
        flag(),
        flag(),
        opt_u16(),
        opt_string(),
        opt_string(),
        opt_string(),
        opt_binary(),
        user_properties(),
    );
    (limits, features).prop_map(
        |((sei, rm, mq, ra, mps, aci, tam, rs), (wsa, sia, ssa, ska, ri, sr, am, ad, up))| {
            ConnAckProperties {
                session_expiry_interval: sei,
                receive_maximum: rm,
                maximum_qos: mq,
                retain_available: ra,
                maximum_packet_size: mps,
                assigned_client_identifier: aci,
                topic_alias_maximum: tam,
                reason_string: rs,
                wildcard_subscription_available: wsa,
                subscription_identifier_available: sia,
                shared_subscription_available: ssa,
                server_keep_alive: ska,
                response_information: ri,
                server_reference: sr,
                authentication_method: am,
                authentication_data: ad,
                user_properties: up,
            }
        },
    )
}

/// PUBLISH properties; `alias` forces a Topic Alias (for an empty topic).
pub fn publish_properties(alias: bool) -> impl Strategy<Value = PublishProperties> {
    let topic_alias = if alias {
        (1..=u16::MAX).prop_map(Some).boxed()
    } else {
        nz16().boxed()
    };
    (
        flag(),
        opt_u32(),
        topic_alias,
        opt_string(),
        opt_binary(),
        opt_string(),
        vec(subscription_id(), 0..4),
        user_properties(),
    )
        .prop_map(|(pfi, mei, ta, rt, cd, ct, sids, up)| PublishProperties {
            payload_format_indicator: pfi,
            message_expiry_interval: mei,
            topic_alias: ta,
            response_topic: rt,
            correlation_data: cd,
            content_type: ct,
            subscription_identifiers: sids,
            user_properties: up,
        })
}

pub fn ack_properties() -> impl Strategy<Value = AckProperties> {
    (opt_string(), user_properties()).prop_map(|(rs, up)| AckProperties {
        reason_string: rs,
        user_properties: up,
    })
}

pub fn subscribe_properties() -> impl Strategy<Value = SubscribeProperties> {
    (option::of(subscription_id()), user_properties()).prop_map(|(sid, up)| SubscribeProperties {
        subscription_identifier: sid,
        user_properties: up,
    })
}

pub fn unsubscribe_properties() -> impl Strategy<Value = UnsubscribeProperties> {
    user_properties().prop_map(|up| UnsubscribeProperties {
        user_properties: up,
    })
}

pub fn disconnect_properties() -> impl Strategy<Value = DisconnectProperties> {
    (opt_u32(), opt_string(), opt_string(), user_properties()).prop_map(|(sei, rs, sr, up)| {
        DisconnectProperties {
            session_expiry_interval: sei,
            reason_string: rs,
            server_reference: sr,
            user_properties: up,
        }
    })
}

pub fn auth_properties() -> impl Strategy<Value = AuthProperties> {
    (opt_string(), opt_binary(), opt_string(), user_properties()).prop_map(|(am, ad, rs, up)| {
        AuthProperties {
            authentication_method: am,
            authentication_data: ad,
            reason_string: rs,
            user_properties: up,
        }
    })
}

// ---------------------------------------------------------------------------
// Packets.

fn will(v: ProtocolVersion) -> impl Strategy<Value = LastWill> {
    (
        topic_name(),
        binary(64),
        qos(),
        any::<bool>(),
        props_for(v, will_properties()),
    )
        .prop_map(|(topic, payload, qos, retain, properties)| LastWill {
            topic,
            payload,
            qos,
            retain,
            properties,
        })
}

/// CONNECT, which carries its own version `v`. 3.1.1 forbids a password
/// without a user name [MQTT-3.1.2-22].
pub fn connect(v: ProtocolVersion) -> BoxedStrategy<Packet> {
    (
        any::<bool>(),
        any::<bool>(),
        any::<u16>(),
        props_for(v, connect_properties()),
        mqtt_string(),
        option::of(will(v)),
        opt_string(),
        opt_binary(),
    )
        .prop_map(
            move |(
                bridge,
                clean_start,
                keep_alive,
                properties,
                client_id,
                will,
                username,
                mut password,
            )| {
                if v == ProtocolVersion::V311 && username.is_none() {
                    password = None;
                }
                Packet::Connect(Box::new(Connect {
                    protocol: v,
                    bridge,
                    clean_start,
                    keep_alive,
                    properties,
                    client_id,
                    will,
                    username,
                    password,
                }))
            },
        )
        .boxed()
}

/// CONNACK: any 5.0 CONNACK code, or one of the 3.1.1 return codes 0-5.
pub fn connack(v: ProtocolVersion) -> BoxedStrategy<Packet> {
    let reason = if v.is_v5() {
        code(CONNACK).boxed()
    } else {
        (0..=5u8)
            .prop_map(|c| ReasonCode::from_v3_connack(c).expect("0-5 are return codes"))
            .boxed()
    };
    (any::<bool>(), reason, props_for(v, connack_properties()))
        .prop_map(|(session_present, reason_code, properties)| {
            Packet::ConnAck(Box::new(ConnAck {
                session_present,
                reason_code,
                properties,
            }))
        })
        .boxed()
}

/// PUBLISH: DUP only with QoS > 0 [MQTT-3.3.1-2]; in 5.0 sometimes an empty
/// topic with a Topic Alias.
pub fn publish(v: ProtocolVersion) -> BoxedStrategy<Packet> {
    let alias_only = if v.is_v5() {
        prop::bool::weighted(0.1).boxed()
    } else {
        Just(false).boxed()
    };
    alias_only
        .prop_flat_map(move |alias_only| {
            let topic = if alias_only {
                Just(TopicName::empty_for_alias()).boxed()
            } else {
                topic_name().boxed()
            };
            (
                any::<bool>(),
                qos(),
                packet_id(),
                any::<bool>(),
                topic,
                props_for(v, publish_properties(alias_only)),
                payload(),
            )
        })
        .prop_map(|(dup, qos, pid, retain, topic, properties, payload)| {
            let qos_pid = QosPid::new(qos, pid);
            Packet::Publish(Publish {
                dup: dup && qos != QoS::AtMostOnce,
                qos_pid,
                retain,
                topic,
                properties,
                payload,
            })
        })
        .boxed()
}

fn pub_resp(v: ProtocolVersion, codes: &'static [u8]) -> impl Strategy<Value = PubResp> {
    (
        packet_id(),
        code_for(v, codes),
        props_for(v, ack_properties()),
    )
        .prop_map(|(packet_id, reason_code, properties)| PubResp {
            packet_id,
            reason_code,
            properties,
        })
}

pub fn puback(v: ProtocolVersion) -> BoxedStrategy<Packet> {
    pub_resp(v, PUBACK).prop_map(Packet::PubAck).boxed()
}

pub fn pubrec(v: ProtocolVersion) -> BoxedStrategy<Packet> {
    pub_resp(v, PUBACK).prop_map(Packet::PubRec).boxed()
}

pub fn pubrel(v: ProtocolVersion) -> BoxedStrategy<Packet> {
    pub_resp(v, PUBREL).prop_map(Packet::PubRel).boxed()
}

pub fn pubcomp(v: ProtocolVersion) -> BoxedStrategy<Packet> {
    pub_resp(v, PUBREL).prop_map(Packet::PubComp).boxed()
}

/// Subscription options: only the QoS before 5.0; no No Local on a shared
/// subscription [MQTT-3.8.3-4].
fn subscription(v: ProtocolVersion) -> impl Strategy<Value = (TopicFilter, SubscriptionOptions)> {
    let rh = select(vec![
        RetainHandling::SendAtSubscribe,
        RetainHandling::SendIfNew,
        RetainHandling::DoNotSend,
    ]);
    (topic_filter(), qos(), any::<bool>(), any::<bool>(), rh).prop_map(
        move |(filter, qos, no_local, rap, retain_handling)| {
            let options = if v.is_v5() {
                SubscriptionOptions {
                    qos,
                    no_local: no_local && filter.shared().is_none(),
                    retain_as_published: rap,
                    retain_handling,
                }
            } else {
                SubscriptionOptions::qos(qos)
            };
            (filter, options)
        },
    )
}

pub fn subscribe(v: ProtocolVersion) -> BoxedStrategy<Packet> {
    (
        packet_id(),
        props_for(v, subscribe_properties()),
        vec(subscription(v), 1..5),
    )
        .prop_map(|(packet_id, properties, filters)| {
            Packet::Subscribe(Subscribe {
                packet_id,
                properties,
                filters,
            })
        })
        .boxed()
}

/// SUBACK: the 5.0 codes, or granted QoS 0-2 / 0x80 before.
pub fn suback(v: ProtocolVersion) -> BoxedStrategy<Packet> {
    let codes: &'static [u8] = if v.is_v5() {
        SUBACK
    } else {
        &[0x00, 0x01, 0x02, 0x80]
    };
    (
        packet_id(),
        props_for(v, ack_properties()),
        vec(code(codes), 1..6),
    )
        .prop_map(|(packet_id, properties, reason_codes)| {
            Packet::SubAck(SubAck {
                packet_id,
                properties,
                reason_codes,
            })
        })
        .boxed()
}

pub fn unsubscribe(v: ProtocolVersion) -> BoxedStrategy<Packet> {
    (
        packet_id(),
        props_for(v, unsubscribe_properties()),
        vec(topic_filter(), 1..5),
    )
        .prop_map(|(packet_id, properties, filters)| {
            Packet::Unsubscribe(Unsubscribe {
                packet_id,
                properties,
                filters,
            })
        })
        .boxed()
}

/// UNSUBACK: reason codes only in 5.0 (none before).
pub fn unsuback(v: ProtocolVersion) -> BoxedStrategy<Packet> {
    let codes = if v.is_v5() {
        vec(code(UNSUBACK), 0..6).boxed()
    } else {
        Just(Vec::new()).boxed()
    };
    (packet_id(), props_for(v, ack_properties()), codes)
        .prop_map(|(packet_id, properties, reason_codes)| {
            Packet::UnsubAck(UnsubAck {
                packet_id,
                properties,
                reason_codes,
            })
        })
        .boxed()
}

pub fn disconnect(v: ProtocolVersion) -> BoxedStrategy<Packet> {
    (
        code_for(v, DISCONNECT),
        props_for(v, disconnect_properties()),
    )
        .prop_map(|(reason_code, properties)| {
            Packet::Disconnect(Disconnect {
                reason_code,
                properties,
            })
        })
        .boxed()
}

/// AUTH (5.0 only).
pub fn auth() -> BoxedStrategy<Packet> {
    (code(AUTH), auth_properties())
        .prop_map(|(reason_code, properties)| {
            Packet::Auth(Auth {
                reason_code,
                properties,
            })
        })
        .boxed()
}

/// Any packet valid in `v`.
pub fn packet(v: ProtocolVersion) -> BoxedStrategy<Packet> {
    let mut choices = vec![
        connect(v),
        connack(v),
        publish(v),
        puback(v),
        pubrec(v),
        pubrel(v),
        pubcomp(v),
        subscribe(v),
        suback(v),
        unsubscribe(v),
        unsuback(v),
        Just(Packet::PingReq).boxed(),
        Just(Packet::PingResp).boxed(),
        disconnect(v),
    ];
    if v.is_v5() {
        choices.push(auth());
    }
    proptest::strategy::Union::new(choices).boxed()
}
