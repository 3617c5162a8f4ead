//! MQTT 5.0 properties (§2.2.2): one struct per packet, holding exactly the
//! properties that packet may carry, generated from a table so the decoder,
//! the encoder and the length computation cannot disagree. The decoder
//! rejects a property the packet does not allow, a single-valued property
//! sent twice, and values the specification forbids (Protocol Error).

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::read::Reader;
use crate::varint::{varint_len, write_varint, MAX_VARINT};
use crate::write::{field_len, put_binary, put_string};

/// Property identifiers (§2.2.2.2).
pub mod id {
    pub const PAYLOAD_FORMAT_INDICATOR: u8 = 0x01;
    pub const MESSAGE_EXPIRY_INTERVAL: u8 = 0x02;
    pub const CONTENT_TYPE: u8 = 0x03;
    pub const RESPONSE_TOPIC: u8 = 0x08;
    pub const CORRELATION_DATA: u8 = 0x09;
    pub const SUBSCRIPTION_IDENTIFIER: u8 = 0x0B;
    pub const SESSION_EXPIRY_INTERVAL: u8 = 0x11;
    pub const ASSIGNED_CLIENT_IDENTIFIER: u8 = 0x12;
    pub const SERVER_KEEP_ALIVE: u8 = 0x13;
    pub const AUTHENTICATION_METHOD: u8 = 0x15;
    pub const AUTHENTICATION_DATA: u8 = 0x16;
    pub const REQUEST_PROBLEM_INFORMATION: u8 = 0x17;
    pub const WILL_DELAY_INTERVAL: u8 = 0x18;
    pub const REQUEST_RESPONSE_INFORMATION: u8 = 0x19;
    pub const RESPONSE_INFORMATION: u8 = 0x1A;
    pub const SERVER_REFERENCE: u8 = 0x1C;
    pub const REASON_STRING: u8 = 0x1F;
    pub const RECEIVE_MAXIMUM: u8 = 0x21;
    pub const TOPIC_ALIAS_MAXIMUM: u8 = 0x22;
    pub const TOPIC_ALIAS: u8 = 0x23;
    pub const MAXIMUM_QOS: u8 = 0x24;
    pub const RETAIN_AVAILABLE: u8 = 0x25;
    pub const USER_PROPERTY: u8 = 0x26;
    pub const MAXIMUM_PACKET_SIZE: u8 = 0x27;
    pub const WILDCARD_SUBSCRIPTION_AVAILABLE: u8 = 0x28;
    pub const SUBSCRIPTION_IDENTIFIER_AVAILABLE: u8 = 0x29;
    pub const SHARED_SUBSCRIPTION_AVAILABLE: u8 = 0x2A;
}

/// Values the specification forbids for numeric properties: flags above 1,
/// and zero where zero is a Protocol Error.
fn check_value(pid: u8, value: u32) -> Result<(), DecodeError> {
    let ok = match pid {
        id::PAYLOAD_FORMAT_INDICATOR
        | id::REQUEST_PROBLEM_INFORMATION
        | id::REQUEST_RESPONSE_INFORMATION
        | id::MAXIMUM_QOS
        | id::RETAIN_AVAILABLE
        | id::WILDCARD_SUBSCRIPTION_AVAILABLE
        | id::SUBSCRIPTION_IDENTIFIER_AVAILABLE
        | id::SHARED_SUBSCRIPTION_AVAILABLE => value <= 1,
        // [MQTT-3.3.2-8] topic alias 0; §3.1.2.11.3 receive maximum 0;
        // §3.1.2.11.4 maximum packet size 0; §3.8.2.1.2 subscription id 0.
        id::TOPIC_ALIAS | id::RECEIVE_MAXIMUM | id::MAXIMUM_PACKET_SIZE => value != 0,
        id::SUBSCRIPTION_IDENTIFIER => value != 0 && value <= MAX_VARINT,
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(DecodeError::BadPropertyValue { id: pid, value })
    }
}

fn set_once<T>(slot: &mut Option<T>, value: T, pid: u8) -> Result<(), DecodeError> {
    if slot.is_some() {
        return Err(DecodeError::DuplicateProperty(pid));
    }
    *slot = Some(value);
    Ok(())
}

/// The wire kinds of property values, as the macro below uses them.
macro_rules! prop_ty {
    (Byte) => {
        u8
    };
    (U16) => {
        u16
    };
    (U32) => {
        u32
    };
    (Varint) => {
        u32
    };
    (Str) => {
        String
    };
    (Bin) => {
        Bytes
    };
}

macro_rules! prop_read {
    (Byte, $r:expr, $id:expr) => {{
        let v = $r.u8("property value")?;
        check_value($id, u32::from(v))?;
        v
    }};
    (U16, $r:expr, $id:expr) => {{
        let v = $r.u16("property value")?;
        check_value($id, u32::from(v))?;
        v
    }};
    (U32, $r:expr, $id:expr) => {{
        let v = $r.u32("property value")?;
        check_value($id, v)?;
        v
    }};
    (Varint, $r:expr, $id:expr) => {{
        let v = $r.varint("property value")?;
        check_value($id, v)?;
        v
    }};
    (Str, $r:expr, $id:expr) => {
        $r.string("string property")?
    };
    // Copied out of the packet: binary properties (correlation data,
    // authentication data) are small and may be kept long after the
    // packet (a queued or retained message), where a view would keep the
    // whole read buffer it arrived in alive.
    (Bin, $r:expr, $id:expr) => {
        Bytes::copy_from_slice(&$r.binary("binary property")?)
    };
}

macro_rules! prop_len {
    (Byte, $v:expr) => {
        1
    };
    (U16, $v:expr) => {
        2
    };
    (U32, $v:expr) => {
        4
    };
    (Varint, $v:expr) => {
        varint_len(*$v as usize)
    };
    (Str, $v:expr) => {
        field_len($v.as_bytes())
    };
    (Bin, $v:expr) => {
        field_len($v)
    };
}

macro_rules! prop_write {
    (Byte, $out:expr, $v:expr) => {
        $out.put_u8(*$v)
    };
    (U16, $out:expr, $v:expr) => {
        $out.put_u16(*$v)
    };
    (U32, $out:expr, $v:expr) => {
        $out.put_u32(*$v)
    };
    (Varint, $out:expr, $v:expr) => {
        write_varint($out, (*$v).min(MAX_VARINT))
    };
    (Str, $out:expr, $v:expr) => {
        put_string($out, $v, "string property")?
    };
    (Bin, $out:expr, $v:expr) => {
        put_binary($out, $v, "binary property")?
    };
}

/// Defines one property struct: single-valued fields from the table, the
/// repeated fields named after `repeated`, and user properties (allowed in
/// every packet).
macro_rules! property_set {
    (
        $(#[$meta:meta])*
        $name:ident for $packet:literal {
            $( $(#[$fmeta:meta])* $field:ident : $kind:ident = $pid:path, )*
        }
        repeated {
            $( $(#[$rmeta:meta])* $rfield:ident : $rkind:ident = $rpid:path, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: Option<prop_ty!($kind)>, )*
            $( $(#[$rmeta])* pub $rfield: Vec<prop_ty!($rkind)>, )*
            /// User Property (0x26): name/value pairs, order preserved
            /// [MQTT-3.3.2-17].
            pub user_properties: Vec<(String, String)>,
        }

        impl $name {
            /// True when no property is set (encodes as a single zero byte).
            pub fn is_empty(&self) -> bool {
                true $( && self.$field.is_none() )* $( && self.$rfield.is_empty() )*
                    && self.user_properties.is_empty()
            }

            pub(crate) fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
                let mut p = Self::default();
                let len = r.varint("property length")? as usize;
                let mut pr = r.sub_reader(len, "properties")?;
                while !pr.is_empty() {
                    let raw = pr.varint("property identifier")?;
                    let pid = u8::try_from(raw).unwrap_or(0);
                    match pid {
                        $( $pid => {
                            let v = prop_read!($kind, pr, pid);
                            set_once(&mut p.$field, v, pid)?;
                        } )*
                        $( $rpid => {
                            let v = prop_read!($rkind, pr, pid);
                            p.$rfield.push(v);
                        } )*
                        id::USER_PROPERTY => {
                            let k = pr.string("user property name")?;
                            let v = pr.string("user property value")?;
                            p.user_properties.push((k, v));
                        }
                        _ => return Err(DecodeError::PropertyNotAllowed { id: pid, packet: $packet }),
                    }
                }
                Ok(p)
            }

            /// Bytes of the property block, without its length prefix.
            #[allow(unused_variables)]
            pub(crate) fn body_len(&self) -> usize {
                let mut n = 0;
                $( if let Some(v) = &self.$field { n += 1 + prop_len!($kind, v); } )*
                $( for v in &self.$rfield { n += 1 + prop_len!($rkind, v); } )*
                for (k, v) in &self.user_properties {
                    n += 1 + field_len(k.as_bytes()) + field_len(v.as_bytes());
                }
                n
            }

            /// Bytes of the property block including its length prefix.
            #[allow(dead_code)] // PUBLISH writes its block through `PublishHead`.
            pub(crate) fn wire_len(&self) -> usize {
                let n = self.body_len();
                varint_len(n) + n
            }

            #[allow(dead_code)] // PUBLISH writes its block through `PublishHead`.
            pub(crate) fn encode(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
                let n = self.body_len();
                let n32 = u32::try_from(n).ok().filter(|&n| n <= MAX_VARINT).ok_or(EncodeError::TooLarge(n))?;
                write_varint(out, n32);
                self.encode_fields(out)
            }

            /// The properties without the length prefix.
            pub(crate) fn encode_fields(&self, out: &mut BytesMut) -> Result<(), EncodeError> {
                $( if let Some(v) = &self.$field { out.put_u8($pid); prop_write!($kind, out, v); } )*
                $( for v in &self.$rfield { out.put_u8($rpid); prop_write!($rkind, out, v); } )*
                for (k, v) in &self.user_properties {
                    out.put_u8(id::USER_PROPERTY);
                    put_string(out, k, "user property name")?;
                    put_string(out, v, "user property value")?;
                }
                Ok(())
            }
        }
    };
}

property_set! {
    /// Properties of CONNECT (§3.1.2.11).
    ConnectProperties for "CONNECT" {
        /// Session Expiry Interval in seconds; absent = 0.
        session_expiry_interval: U32 = id::SESSION_EXPIRY_INTERVAL,
        /// How many QoS 1/2 PUBLISH the client accepts unacknowledged.
        receive_maximum: U16 = id::RECEIVE_MAXIMUM,
        /// The largest packet the client accepts.
        maximum_packet_size: U32 = id::MAXIMUM_PACKET_SIZE,
        /// How many topic aliases the client accepts from the server.
        topic_alias_maximum: U16 = id::TOPIC_ALIAS_MAXIMUM,
        /// 1 = the client wants Response Information in CONNACK.
        request_response_information: Byte = id::REQUEST_RESPONSE_INFORMATION,
        /// 0 = no Reason String or User Properties except on PUBLISH,
        /// CONNACK, DISCONNECT.
        request_problem_information: Byte = id::REQUEST_PROBLEM_INFORMATION,
        /// Enhanced authentication method.
        authentication_method: Str = id::AUTHENTICATION_METHOD,
        /// Enhanced authentication data.
        authentication_data: Bin = id::AUTHENTICATION_DATA,
    }
    repeated {}
}

property_set! {
    /// Properties of the will message in CONNECT (§3.1.3.2).
    WillProperties for "CONNECT will" {
        /// Seconds to wait before publishing the will.
        will_delay_interval: U32 = id::WILL_DELAY_INTERVAL,
        /// 1 = the payload is UTF-8.
        payload_format_indicator: Byte = id::PAYLOAD_FORMAT_INDICATOR,
        /// Lifetime of the will message in seconds.
        message_expiry_interval: U32 = id::MESSAGE_EXPIRY_INTERVAL,
        /// MIME type of the payload.
        content_type: Str = id::CONTENT_TYPE,
        /// Topic for a response.
        response_topic: Str = id::RESPONSE_TOPIC,
        /// Correlation data for a response.
        correlation_data: Bin = id::CORRELATION_DATA,
    }
    repeated {}
}

property_set! {
    /// Properties of CONNACK (§3.2.2.3).
    ConnAckProperties for "CONNACK" {
        /// The session expiry the server will use.
        session_expiry_interval: U32 = id::SESSION_EXPIRY_INTERVAL,
        /// How many QoS 1/2 PUBLISH the server accepts unacknowledged.
        receive_maximum: U16 = id::RECEIVE_MAXIMUM,
        /// Highest QoS the server supports (0 or 1; absent = 2).
        maximum_qos: Byte = id::MAXIMUM_QOS,
        /// 0 = retained messages are not supported.
        retain_available: Byte = id::RETAIN_AVAILABLE,
        /// The largest packet the server accepts.
        maximum_packet_size: U32 = id::MAXIMUM_PACKET_SIZE,
        /// The client identifier the server assigned.
        assigned_client_identifier: Str = id::ASSIGNED_CLIENT_IDENTIFIER,
        /// How many topic aliases the server accepts.
        topic_alias_maximum: U16 = id::TOPIC_ALIAS_MAXIMUM,
        /// Human-readable diagnostics.
        reason_string: Str = id::REASON_STRING,
        /// 0 = wildcard subscriptions are not supported.
        wildcard_subscription_available: Byte = id::WILDCARD_SUBSCRIPTION_AVAILABLE,
        /// 0 = subscription identifiers are not supported.
        subscription_identifier_available: Byte = id::SUBSCRIPTION_IDENTIFIER_AVAILABLE,
        /// 0 = shared subscriptions are not supported.
        shared_subscription_available: Byte = id::SHARED_SUBSCRIPTION_AVAILABLE,
        /// Keep alive the server imposes, replacing the client's.
        server_keep_alive: U16 = id::SERVER_KEEP_ALIVE,
        /// Basis for response topics, when the client asked for it.
        response_information: Str = id::RESPONSE_INFORMATION,
        /// Another server to use (with 0x9C / 0x9D).
        server_reference: Str = id::SERVER_REFERENCE,
        /// Enhanced authentication method.
        authentication_method: Str = id::AUTHENTICATION_METHOD,
        /// Enhanced authentication data.
        authentication_data: Bin = id::AUTHENTICATION_DATA,
    }
    repeated {}
}

property_set! {
    /// Properties of PUBLISH (§3.3.2.3).
    PublishProperties for "PUBLISH" {
        /// 1 = the payload is UTF-8.
        payload_format_indicator: Byte = id::PAYLOAD_FORMAT_INDICATOR,
        /// Lifetime of the message in seconds.
        message_expiry_interval: U32 = id::MESSAGE_EXPIRY_INTERVAL,
        /// Alias standing for the topic name.
        topic_alias: U16 = id::TOPIC_ALIAS,
        /// Topic for a response.
        response_topic: Str = id::RESPONSE_TOPIC,
        /// Correlation data for a response.
        correlation_data: Bin = id::CORRELATION_DATA,
        /// MIME type of the payload.
        content_type: Str = id::CONTENT_TYPE,
    }
    repeated {
        /// Subscription Identifiers of the matching subscriptions (server to
        /// client only) [MQTT-3.3.4-3].
        subscription_identifiers: Varint = id::SUBSCRIPTION_IDENTIFIER,
    }
}

property_set! {
    /// Properties of PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK and UNSUBACK
    /// (§3.4.2.2 and the like).
    AckProperties for "acknowledgement" {
        /// Human-readable diagnostics.
        reason_string: Str = id::REASON_STRING,
    }
    repeated {}
}

property_set! {
    /// Properties of SUBSCRIBE (§3.8.2.1).
    SubscribeProperties for "SUBSCRIBE" {
        /// Identifier attached to messages delivered for this subscription.
        subscription_identifier: Varint = id::SUBSCRIPTION_IDENTIFIER,
    }
    repeated {}
}

property_set! {
    /// Properties of UNSUBSCRIBE (§3.10.2.1): user properties only.
    UnsubscribeProperties for "UNSUBSCRIBE" {}
    repeated {}
}

property_set! {
    /// Properties of DISCONNECT (§3.14.2.2).
    DisconnectProperties for "DISCONNECT" {
        /// New session expiry (client to server only).
        session_expiry_interval: U32 = id::SESSION_EXPIRY_INTERVAL,
        /// Human-readable diagnostics.
        reason_string: Str = id::REASON_STRING,
        /// Another server to use (with 0x9C / 0x9D).
        server_reference: Str = id::SERVER_REFERENCE,
    }
    repeated {}
}

property_set! {
    /// Properties of AUTH (§3.15.2.2).
    AuthProperties for "AUTH" {
        /// Enhanced authentication method.
        authentication_method: Str = id::AUTHENTICATION_METHOD,
        /// Enhanced authentication data.
        authentication_data: Bin = id::AUTHENTICATION_DATA,
        /// Human-readable diagnostics.
        reason_string: Str = id::REASON_STRING,
    }
    repeated {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_connect(bytes: &[u8]) -> Result<ConnectProperties, DecodeError> {
        ConnectProperties::decode(&mut Reader::new(Bytes::copy_from_slice(bytes)))
    }

    #[test]
    fn round_trip_with_user_properties_in_order() {
        let p = PublishProperties {
            message_expiry_interval: Some(30),
            subscription_identifiers: vec![1, 268_435_455],
            user_properties: vec![("b".into(), "1".into()), ("a".into(), "2".into())],
            ..Default::default()
        };
        let mut out = BytesMut::new();
        p.encode(&mut out).unwrap();
        assert_eq!(out.len(), p.wire_len());
        let back = PublishProperties::decode(&mut Reader::new(out.freeze())).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn duplicates_and_foreign_properties_are_protocol_errors() {
        // Session expiry twice.
        assert_eq!(
            decode_connect(&[10, 0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2]),
            Err(DecodeError::DuplicateProperty(0x11))
        );
        // Topic alias is not a CONNECT property.
        assert!(matches!(
            decode_connect(&[3, 0x23, 0, 1]),
            Err(DecodeError::PropertyNotAllowed { id: 0x23, .. })
        ));
        // Receive maximum 0.
        assert!(matches!(
            decode_connect(&[3, 0x21, 0, 0]),
            Err(DecodeError::BadPropertyValue { id: 0x21, value: 0 })
        ));
        // Property block longer than the packet.
        assert!(matches!(
            decode_connect(&[9, 0x21]),
            Err(DecodeError::Truncated(_))
        ));
    }
}
