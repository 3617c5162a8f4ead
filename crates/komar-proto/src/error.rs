//! Errors of the codec. Each decoding error names the rule the peer broke
//! (with its statement id where the specification has one) and maps to the
//! MQTT 5.0 reason code the broker sends before closing the connection.

use crate::reason::ReasonCode;

/// Why bytes from a peer could not be turned into a packet. Every variant
/// closes the connection; [`DecodeError::reason_code`] says with what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The remaining length needs more than four bytes (§2.1.4).
    #[error("malformed remaining length (more than four bytes)")]
    BadRemainingLength,
    /// Packet type 0 or 15 (v3), or 0 (v5) [MQTT-2.1.3-1 context].
    #[error("reserved packet type {0}")]
    ReservedPacketType(u8),
    /// The low four bits of the fixed header are not those the packet type
    /// requires [MQTT-2.1.3-1].
    #[error("invalid fixed-header flags {flags:#06b} for packet type {packet_type}")]
    BadHeaderFlags {
        /// The packet type (high nibble).
        packet_type: u8,
        /// The flags that were sent.
        flags: u8,
    },
    /// The packet is larger than the receiver allows [MQTT-3.1.2-24].
    #[error("packet of {size} bytes exceeds the maximum of {max} bytes")]
    PacketTooLarge {
        /// The size the header declared (whole packet).
        size: usize,
        /// The limit in force.
        max: usize,
    },
    /// The packet ended before a field did.
    #[error("packet truncated while reading {0}")]
    Truncated(&'static str),
    /// Bytes were left after the last field of the packet.
    #[error("{0} unexpected bytes after the end of the packet")]
    TrailingBytes(usize),
    /// A string is not well-formed UTF-8 or contains U+0000 [MQTT-1.5.4-1]
    /// [MQTT-1.5.4-2].
    #[error("invalid UTF-8 string in {0}")]
    InvalidUtf8(&'static str),
    /// QoS 3 in a PUBLISH or will [MQTT-3.3.1-4] [MQTT-3.1.2-12].
    #[error("QoS 3 is not a valid QoS")]
    InvalidQoS,
    /// A QoS 0 PUBLISH with the DUP flag set [MQTT-3.3.1-2].
    #[error("DUP flag set on a QoS 0 PUBLISH")]
    DupOnQos0,
    /// A packet identifier of zero [MQTT-2.2.1-3].
    #[error("packet identifier 0 in {0}")]
    ZeroPacketId(&'static str),
    /// A PUBLISH topic with wildcards, or otherwise invalid [MQTT-3.3.2-2].
    #[error("invalid topic name: {0}")]
    InvalidTopicName(crate::topic::TopicError),
    /// A subscription filter that breaks the wildcard rules [MQTT-4.7.1-1].
    #[error("invalid topic filter: {0}")]
    InvalidTopicFilter(crate::topic::TopicError),
    /// The first packet was not a CONNECT, or the protocol name is unknown
    /// [MQTT-3.1.0-1] [MQTT-3.1.2-1].
    #[error("protocol name {0:?} is not MQTT or MQIsdp")]
    BadProtocolName(String),
    /// A known protocol name with a level this server does not speak; the
    /// server answers with CONNACK 0x01 / 0x84 [MQTT-3.1.2-2].
    #[error("unsupported protocol level {0}")]
    UnsupportedProtocolVersion(u8),
    /// The CONNECT reserved flag is set [MQTT-3.1.2-3].
    #[error("CONNECT reserved flag is set")]
    ConnectReservedFlag,
    /// Will QoS or retain set without the will flag [MQTT-3.1.2-11]
    /// [MQTT-3.1.2-13].
    #[error("will QoS or retain set without a will")]
    WillFlagsWithoutWill,
    /// Password flag without user name flag in 3.1.1 [MQTT-3.1.2-22].
    #[error("password present without a user name")]
    PasswordWithoutUsername,
    /// A SUBSCRIBE or UNSUBSCRIBE with no topic filter [MQTT-3.8.3-3]
    /// [MQTT-3.10.3-2].
    #[error("{0} carries no topic filter")]
    NoTopicFilters(&'static str),
    /// Reserved bits of the subscription options are set [MQTT-3.8.3-5].
    #[error("reserved subscription option bits are set")]
    SubscriptionOptionsReserved,
    /// Retain Handling 3 [MQTT-3.8.3-4 context].
    #[error("retain handling 3 is reserved")]
    BadRetainHandling,
    /// No Local on a shared subscription [MQTT-3.8.3-4].
    #[error("no-local is not allowed on a shared subscription")]
    NoLocalOnSharedSubscription,
    /// A property not allowed in this packet, or an unknown identifier.
    #[error("property {id:#04x} is not allowed in {packet}")]
    PropertyNotAllowed {
        /// The property identifier.
        id: u8,
        /// The packet it appeared in.
        packet: &'static str,
    },
    /// A single-valued property appeared twice.
    #[error("property {0:#04x} included more than once")]
    DuplicateProperty(u8),
    /// A property with a value the specification forbids (e.g. Receive
    /// Maximum 0, Subscription Identifier 0, a flag above 1).
    #[error("property {id:#04x} has the invalid value {value}")]
    BadPropertyValue {
        /// The property identifier.
        id: u8,
        /// The value received.
        value: u32,
    },
    /// A reason code that is not valid for this packet.
    #[error("reason code {code:#04x} is not valid in {packet}")]
    BadReasonCode {
        /// The code received.
        code: u8,
        /// The packet it appeared in.
        packet: &'static str,
    },
    /// A PUBLISH with an empty topic and no Topic Alias [MQTT-3.3.2-1 context].
    #[error("PUBLISH with an empty topic and no topic alias")]
    EmptyTopicWithoutAlias,
    /// A packet type this protocol version does not have (AUTH before 5.0).
    #[error("packet type {0} does not exist in this protocol version")]
    NotInVersion(u8),
    /// CONNACK flags with reserved bits set [MQTT-3.2.2-1].
    #[error("CONNACK reserved flags are set")]
    ConnAckReservedFlags,
}

impl DecodeError {
    /// The reason code to put in the CONNACK or DISCONNECT sent before the
    /// connection is closed (MQTT 5.0 §4.13).
    pub fn reason_code(&self) -> ReasonCode {
        match self {
            DecodeError::PacketTooLarge { .. } => ReasonCode::PACKET_TOO_LARGE,
            DecodeError::UnsupportedProtocolVersion(_) | DecodeError::BadProtocolName(_) => {
                ReasonCode::UNSUPPORTED_PROTOCOL_VERSION
            }
            DecodeError::InvalidTopicName(_) | DecodeError::EmptyTopicWithoutAlias => {
                ReasonCode::TOPIC_NAME_INVALID
            }
            DecodeError::InvalidTopicFilter(_) => ReasonCode::TOPIC_FILTER_INVALID,
            // A packet that parses but breaks a rule is a Protocol Error
            // (§1.2): packet id 0 [MQTT-2.2.1-3], no topic filter (§3.8.3,
            // §3.10.3), bad or duplicate properties.
            DecodeError::ZeroPacketId(_)
            | DecodeError::NoTopicFilters(_)
            | DecodeError::PropertyNotAllowed { .. }
            | DecodeError::DuplicateProperty(_)
            | DecodeError::BadPropertyValue { .. }
            | DecodeError::NoLocalOnSharedSubscription
            | DecodeError::NotInVersion(_) => ReasonCode::PROTOCOL_ERROR,
            _ => ReasonCode::MALFORMED_PACKET,
        }
    }
}

/// Why a packet could not be encoded: the packet value breaks a rule the
/// encoder cannot repair (a caller bug, or a limit of the wire format).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The packet would need a remaining length above 268,435,455.
    #[error("packet too large to encode ({0} bytes of remaining length)")]
    TooLarge(usize),
    /// A string or binary field longer than 65,535 bytes.
    #[error("{0} is longer than 65535 bytes")]
    FieldTooLong(&'static str),
    /// The packet type does not exist in the target protocol version.
    #[error("{0} cannot be sent with this protocol version")]
    NotInVersion(&'static str),
}
