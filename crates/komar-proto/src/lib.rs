//! Sans-IO MQTT protocol for Komar: the wire format of MQTT 3.1, 3.1.1 and
//! 5.0, the packet types, the topic name / filter rules and the limits a
//! peer can never exceed.
//!
//! This crate owns everything that can be decided by looking at bytes. It
//! contains no networking code, no runtime and never reads the clock: time,
//! where it matters, is an argument. Nothing a peer sends may make it panic or
//! allocate without a bound — every length is checked against the remaining
//! input before anything is buffered.
//!
//! One packet type serves every protocol version; the version is an argument
//! of [`decode_packet`] / [`encode`], so there is one codec, not three.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

mod error;
mod frame;
pub mod packet;
mod properties;
mod read;
mod reason;
pub mod topic;
mod types;
mod varint;
mod write;

pub use error::{DecodeError, EncodeError};
pub use frame::{decode_packet, encode, encoded_len, parse_frame_header, FrameHeader, PacketType};
pub use packet::*;
pub use properties::*;
pub use reason::ReasonCode;
pub use topic::{TopicError, TopicFilter, TopicName};
pub use types::{PacketId, ProtocolVersion, QoS, QosPid, RetainHandling};
pub use varint::{varint_len, MAX_VARINT};

/// The largest remaining length a packet may declare (four varint bytes):
/// 268,435,455 bytes, so the largest packet is 268,435,460 bytes.
pub const MAX_REMAINING_LENGTH: usize = MAX_VARINT as usize;
