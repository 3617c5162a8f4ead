//! A small async MQTT client on komar-proto's codec, speaking MQTT 3.1,
//! 3.1.1 and 5.0 over TCP or Unix sockets, TLS ([`tls`]) and WebSockets
//! ([`ws`]) (other transports plug in as [`Transport::Custom`]). It drives Komar's command-line tools, the load
//! benchmark, the broker's bridges and the integration tests.
//!
//! # Shape
//! [`connect`] sends CONNECT, waits for CONNACK and spawns one connection
//! task that owns the socket and the session state. The application holds
//! a cloneable [`Client`] (requests go to the task over a bounded channel)
//! and an [`Events`] stream (messages, optional packet traces, and the close
//! reason). Every queue is bounded; [`Limits`] documents each bound and its
//! overflow policy (always back-pressure, never silent loss).
//!
//! # Throughput
//! [`Client::start_publish`] returns once the request is queued; its
//! [`PublishHandle`] resolves when the QoS flow completes. Many publishes
//! are in flight at once, up to the broker's Receive Maximum, and the task
//! encodes whatever is queued into one buffer before each write.
//!
//! # Raw mode
//! [`RawConnection`] sends arbitrary bytes or packets and returns each
//! decoded packet, for tests of the broker's handling of bad input.
//!
//! ```no_run
//! # async fn demo() -> Result<(), komar_client::ClientError> {
//! use komar_client::{connect, ConnectOptions, Endpoint, Message};
//! use komar_proto::{ProtocolVersion, QoS, TopicName};
//! let conn = connect(&Endpoint::tcp("127.0.0.1", 1883),
//!                    ConnectOptions::new(ProtocolVersion::V5, "demo")).await?;
//! let topic = TopicName::new("a/b").expect("valid topic");
//! conn.client.publish(Message::new(topic, "hello", QoS::AtLeastOnce)).await?;
//! conn.client.disconnect(Default::default()).await?;
//! # Ok(()) }
//! ```
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

mod client;
mod connect;
mod driver;
mod error;
mod events;
mod frame;
mod options;
mod raw;
mod session;
pub mod tls;
mod transport;
pub mod ws;

pub use client::{Client, Message, PublishHandle, PublishOutcome, RequestHandle, ServerInfo};
pub use connect::{connect, connect_over, Connection};
pub use error::ClientError;
pub use events::{CloseReason, Event, Events};
pub use frame::{encode_packet, FrameReader, MAX_PACKET_SIZE};
pub use options::{ConnectOptions, Limits, Qos2Delivery};
pub use raw::RawConnection;
pub use transport::{ByteStream, Endpoint, Transport};
