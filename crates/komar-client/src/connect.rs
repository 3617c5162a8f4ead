//! Opening a session: CONNECT, wait for CONNACK, then hand the socket to
//! the connection task ([`crate::driver`]) and give the application its
//! [`Client`] handle and [`Events`] stream.

use std::sync::Arc;

use komar_proto::{ConnAck, Packet, QoS};
use tokio::sync::mpsc;

use crate::client::{Client, ServerInfo};
use crate::driver::Driver;
use crate::error::ClientError;
use crate::events::{Event, Events};
use crate::options::ConnectOptions;
use crate::raw::RawConnection;
use crate::transport::{Endpoint, Transport};

/// An open session.
#[derive(Debug)]
pub struct Connection {
    /// Handle for requests; clone it freely.
    pub client: Client,
    /// Incoming messages and, finally, the close reason.
    pub events: Events,
    /// The broker's CONNACK.
    pub connack: ConnAck,
}

/// Connect to `endpoint` and open a session.
///
/// # Errors
/// The endpoint cannot be reached, the broker refused the connection
/// ([`ClientError::Refused`] with its CONNACK), answered with something else,
/// or did not answer within `options.connect_timeout`.
pub async fn connect(
    endpoint: &Endpoint,
    options: ConnectOptions,
) -> Result<Connection, ClientError> {
    let transport = endpoint.connect().await?;
    connect_over(transport, options).await
}

/// Open a session over a transport the caller opened (TLS, WebSocket, a
/// test pipe, ...). Must be called within a tokio runtime: the connection
/// task is spawned on it.
///
/// # Errors
/// As [`connect`], minus reaching the endpoint.
pub async fn connect_over(
    transport: Transport,
    options: ConnectOptions,
) -> Result<Connection, ClientError> {
    let (events_tx, events_rx) = mpsc::channel(options.limits.event_capacity.max(4));
    let (cmd_tx, cmd_rx) = mpsc::channel(options.limits.command_capacity.max(1));
    let mut raw =
        RawConnection::with_max_packet(transport, options.version, options.max_incoming_packet());
    let connect = options.connect_packet();
    let connack = raw
        .handshake(connect.clone(), options.connect_timeout)
        .await?;
    if options.trace_packets {
        // Capacity is at least 4, so both fit.
        let _ = events_tx.try_send(Event::Sent(Packet::Connect(Box::new(connect))));
        let _ = events_tx.try_send(Event::Received(Packet::ConnAck(Box::new(connack.clone()))));
    }
    if connack.reason_code.is_error() {
        return Err(ClientError::Refused(Box::new(connack)));
    }
    let server = server_info(&options, &connack);
    let (transport, reader) = raw.into_parts();
    let driver = Driver::new(
        transport,
        reader,
        &options,
        server.clone(),
        cmd_rx,
        events_tx,
    );
    tokio::spawn(driver.run());
    Ok(Connection {
        client: Client {
            tx: cmd_tx,
            server: Arc::new(server),
        },
        events: Events { rx: events_rx },
        connack,
    })
}

fn server_info(options: &ConnectOptions, connack: &ConnAck) -> ServerInfo {
    let p = &connack.properties;
    let assigned = p.assigned_client_identifier.clone();
    ServerInfo {
        version: options.version,
        session_present: connack.session_present,
        assigned_client_id: assigned.is_some(),
        client_id: assigned.unwrap_or_else(|| options.client_id.clone()),
        keep_alive: p.server_keep_alive.unwrap_or(options.keep_alive),
        receive_maximum: p.receive_maximum.unwrap_or(u16::MAX),
        maximum_qos: match p.maximum_qos {
            Some(0) => QoS::AtMostOnce,
            Some(1) => QoS::AtLeastOnce,
            _ => QoS::ExactlyOnce,
        },
        retain_available: p.retain_available != Some(0),
        maximum_packet_size: p.maximum_packet_size,
        topic_alias_maximum: p.topic_alias_maximum.unwrap_or(0),
    }
}
