//! What the client sends in CONNECT and the bounds of its queues.
//!
//! Every queue between the application and the connection task is bounded;
//! [`Limits`] documents each bound and what happens when it is reached.

use std::time::Duration;

use bytes::Bytes;
use komar_proto::{Connect, ConnectProperties, LastWill, ProtocolVersion};

/// Bounds of the client's queues and buffers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Capacity of the command channel from [`crate::Client`] handles to the
    /// connection task. Overflow: callers wait (`.await`) until the task has
    /// taken earlier commands — back-pressure, nothing is dropped.
    pub command_capacity: usize,
    /// Capacity of the event channel to [`crate::Events`]. Overflow: the
    /// task stops reading the socket (TCP back-pressure on the broker) until
    /// the application receives; nothing is dropped. Keep-alive pings still
    /// go out meanwhile and a missing PINGRESP is not held against the
    /// broker while reading is paused.
    pub event_capacity: usize,
    /// QoS 1/2 publishes accepted from the application while the broker's
    /// Receive Maximum (its in-flight window) is full. Overflow: the task
    /// stops taking commands, so callers wait in the command channel.
    pub max_waiting_publishes: usize,
    /// Encoded bytes buffered for the socket before the task stops taking
    /// commands (one larger packet may exceed it). Overflow: callers wait.
    pub write_high_water: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            command_capacity: 1024,
            event_capacity: 1024,
            max_waiting_publishes: 1024,
            write_high_water: 64 * 1024,
        }
    }
}

/// When an incoming QoS 2 message is handed to the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Qos2Delivery {
    /// On PUBLISH (the first moment it is known; duplicates are dropped
    /// until PUBREL). Lowest latency, nothing held.
    #[default]
    OnPublish,
    /// On PUBREL, as libmosquitto does: the message is held until the
    /// broker releases it, at most Receive Maximum messages.
    OnRelease,
}

/// Everything needed to open an MQTT session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectOptions {
    /// Protocol version to speak.
    pub version: ProtocolVersion,
    /// Client identifier; empty asks the broker to assign one (3.1.1, 5.0).
    pub client_id: String,
    /// Clean Session (3.1.x) / Clean Start (5.0).
    pub clean_start: bool,
    /// Keep alive in seconds; 0 disables pings.
    pub keep_alive: u16,
    /// User name.
    pub username: Option<String>,
    /// Password.
    pub password: Option<Bytes>,
    /// Will message, with will properties for 5.0.
    pub will: Option<LastWill>,
    /// CONNECT properties (5.0): session expiry, receive maximum, maximum
    /// packet size, topic alias maximum, user properties, request
    /// response/problem information, authentication method/data.
    pub properties: ConnectProperties,
    /// Set bit 7 of the protocol level: Mosquitto's bridge marker.
    pub bridge: bool,
    /// How long to wait for CONNACK.
    pub connect_timeout: Duration,
    /// Report every packet sent and received as [`crate::Event::Sent`] /
    /// [`crate::Event::Received`] (for debug output and tests).
    pub trace_packets: bool,
    /// When incoming QoS 2 messages are delivered.
    pub qos2_delivery: Qos2Delivery,
    /// Queue bounds.
    pub limits: Limits,
}

impl Default for ConnectOptions {
    fn default() -> ConnectOptions {
        ConnectOptions {
            version: ProtocolVersion::V311,
            client_id: String::new(),
            clean_start: true,
            keep_alive: 60,
            username: None,
            password: None,
            will: None,
            properties: ConnectProperties::default(),
            bridge: false,
            connect_timeout: Duration::from_secs(30),
            trace_packets: false,
            qos2_delivery: Qos2Delivery::OnPublish,
            limits: Limits::default(),
        }
    }
}

impl ConnectOptions {
    /// Options for `version` with `client_id` and every other field default.
    pub fn new(version: ProtocolVersion, client_id: impl Into<String>) -> ConnectOptions {
        ConnectOptions {
            version,
            client_id: client_id.into(),
            ..ConnectOptions::default()
        }
    }

    /// The CONNECT packet these options describe. Properties are dropped
    /// before 5.0, where the wire has no place for them.
    pub fn connect_packet(&self) -> Connect {
        let v5 = self.version.is_v5();
        let will = self.will.clone().map(|mut w| {
            if !v5 {
                w.properties = Default::default();
            }
            w
        });
        Connect {
            protocol: self.version,
            bridge: self.bridge,
            clean_start: self.clean_start,
            keep_alive: self.keep_alive,
            properties: if v5 {
                self.properties.clone()
            } else {
                ConnectProperties::default()
            },
            client_id: self.client_id.clone(),
            will,
            username: self.username.clone(),
            password: self.password.clone(),
        }
    }

    /// The largest packet this client accepts: the Maximum Packet Size it
    /// announces (5.0), else the protocol's limit.
    pub fn max_incoming_packet(&self) -> usize {
        match self.properties.maximum_packet_size {
            Some(n) if self.version.is_v5() => n as usize,
            _ => crate::frame::MAX_PACKET_SIZE,
        }
    }

    /// How many QoS 1/2 publishes this client accepts unacknowledged
    /// (Receive Maximum, default 65,535).
    pub fn receive_maximum(&self) -> u16 {
        match self.properties.receive_maximum {
            Some(n) if self.version.is_v5() => n,
            _ => u16::MAX,
        }
    }

    /// How many topic aliases this client accepts from the broker.
    pub fn topic_alias_maximum(&self) -> u16 {
        match self.properties.topic_alias_maximum {
            Some(n) if self.version.is_v5() => n,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_connect_drops_properties() {
        let mut o = ConnectOptions::new(ProtocolVersion::V311, "c");
        o.properties.session_expiry_interval = Some(10);
        o.properties.receive_maximum = Some(5);
        assert!(o.connect_packet().properties.is_empty());
        assert_eq!(o.receive_maximum(), u16::MAX);
        o.version = ProtocolVersion::V5;
        assert_eq!(
            o.connect_packet().properties.session_expiry_interval,
            Some(10)
        );
        assert_eq!(o.receive_maximum(), 5);
    }
}
