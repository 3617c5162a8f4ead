//! Errors of the client: what went wrong and where (transport, codec, the
//! broker's answer, or a local argument the broker would refuse).

use std::io;

use komar_proto::{ConnAck, DecodeError, Disconnect, EncodeError, ReasonCode};

/// Why a client operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Host name resolution failed or gave no address.
    #[error("lookup of {host} failed")]
    Lookup {
        /// The host that was looked up.
        host: String,
        /// The resolver's error, if it gave one.
        #[source]
        source: Option<io::Error>,
    },
    /// A socket operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What the client was doing.
        context: &'static str,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The broker sent bytes that are not a valid packet.
    #[error("invalid packet from the broker: {0}")]
    Decode(#[from] DecodeError),
    /// A packet could not be encoded (a field too long, a packet too large).
    #[error("cannot encode packet: {0}")]
    Encode(#[from] EncodeError),
    /// The broker refused the connection; the CONNACK says why.
    #[error("connection refused: {}", .0.reason_code)]
    Refused(Box<ConnAck>),
    /// No CONNACK within the connect timeout.
    #[error("no CONNACK within the connect timeout")]
    ConnectTimeout,
    /// The broker answered with a packet the protocol does not allow here.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// No PINGRESP arrived within the keep-alive interval.
    #[error("keep-alive timeout: no PINGRESP from the broker")]
    KeepAliveTimeout,
    /// The broker closed the connection with a DISCONNECT (5.0).
    #[error("disconnected by the broker: {}", .0.reason_code)]
    ServerDisconnect(Box<Disconnect>),
    /// The connection is closed (or closing) and the request cannot complete.
    #[error("connection closed")]
    ConnectionClosed,
    /// The packet exceeds the broker's Maximum Packet Size [MQTT-3.1.2-24].
    #[error("packet of {size} bytes exceeds the broker's maximum packet size of {max} bytes")]
    PacketTooLarge {
        /// Size of the packet that was not sent.
        size: usize,
        /// The broker's limit.
        max: usize,
    },
    /// The request breaks a rule or a limit the broker announced (QoS above
    /// Maximum QoS, retain when unavailable, bad alias, ...).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The operation did not finish in time (raw mode helpers).
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
}

impl ClientError {
    /// Wrap an I/O error with what the client was doing.
    pub(crate) fn io(context: &'static str, source: io::Error) -> ClientError {
        ClientError::Io { context, source }
    }

    /// The CONNACK reason code when the broker refused the connection.
    pub fn refusal(&self) -> Option<ReasonCode> {
        match self {
            ClientError::Refused(c) => Some(c.reason_code),
            _ => None,
        }
    }

    /// The underlying operating-system error kind, if any.
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        match self {
            ClientError::Io { source, .. } => Some(source.kind()),
            _ => None,
        }
    }
}
