//! The application's handle on a connection: publish, subscribe,
//! unsubscribe and disconnect requests sent to the connection task over a
//! bounded channel, each answered when the broker has acknowledged it.
//!
//! For pipelining, [`Client::start_publish`] returns as soon as the request
//! is queued; the returned [`PublishHandle`] resolves on PUBACK / PUBCOMP.
//! Many publishes can be in flight at once, up to the broker's Receive
//! Maximum; the connection task batches their encodings into few writes.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use komar_proto::{
    AckProperties, Disconnect, PacketId, ProtocolVersion, PublishProperties, QoS, ReasonCode,
    SubAck, SubscribeProperties, SubscriptionOptions, TopicFilter, TopicName, UnsubAck,
    UnsubscribeProperties,
};
use tokio::sync::{mpsc, oneshot};

use crate::error::ClientError;

/// An application message to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Topic; may be empty (`TopicName::empty_for_alias()`) in 5.0 when
    /// `properties.topic_alias` names an alias set earlier.
    pub topic: TopicName,
    /// Payload.
    pub payload: Bytes,
    /// QoS to publish with.
    pub qos: QoS,
    /// RETAIN flag.
    pub retain: bool,
    /// PUBLISH properties (5.0; ignored before).
    pub properties: PublishProperties,
}

impl Message {
    /// A message with no retain flag and no properties.
    pub fn new(topic: TopicName, payload: impl Into<Bytes>, qos: QoS) -> Message {
        Message {
            topic,
            payload: payload.into(),
            qos,
            retain: false,
            properties: PublishProperties::default(),
        }
    }
}

/// How a publish ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishOutcome {
    /// The packet identifier used (QoS 1/2).
    pub packet_id: Option<PacketId>,
    /// PUBACK / PUBREC / PUBCOMP reason code (5.0); Success for QoS 0 and
    /// before 5.0. A failure code (0x80 and above) means the broker did not
    /// accept the message.
    pub reason_code: ReasonCode,
    /// Properties of the final acknowledgement (reason string, user
    /// properties).
    pub properties: AckProperties,
}

impl PublishOutcome {
    pub(crate) fn sent(packet_id: Option<PacketId>) -> PublishOutcome {
        PublishOutcome {
            packet_id,
            reason_code: ReasonCode::SUCCESS,
            properties: AckProperties::default(),
        }
    }
}

/// What the broker said in CONNACK, as the client applies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    /// The protocol version of the connection.
    pub version: ProtocolVersion,
    /// The broker resumed a session [MQTT-3.2.2-2].
    pub session_present: bool,
    /// The client identifier in use (the assigned one when the broker
    /// assigned it, 5.0).
    pub client_id: String,
    /// The broker assigned the identifier (Assigned Client Identifier).
    pub assigned_client_id: bool,
    /// Keep alive in force: Server Keep Alive when the broker set it
    /// [MQTT-3.2.2-21], else the requested one.
    pub keep_alive: u16,
    /// The broker's Receive Maximum (default 65,535).
    pub receive_maximum: u16,
    /// Highest QoS the broker accepts.
    pub maximum_qos: QoS,
    /// Whether retained messages are supported.
    pub retain_available: bool,
    /// The broker's Maximum Packet Size, if it set one.
    pub maximum_packet_size: Option<u32>,
    /// How many topic aliases the broker accepts from this client.
    pub topic_alias_maximum: u16,
}

pub(crate) type Reply<T> = oneshot::Sender<Result<T, ClientError>>;

/// A request to the connection task.
#[derive(Debug)]
pub(crate) enum Command {
    Publish {
        message: Message,
        done: Option<Reply<PublishOutcome>>,
    },
    Subscribe {
        filters: Vec<(TopicFilter, SubscriptionOptions)>,
        properties: SubscribeProperties,
        done: Reply<SubAck>,
    },
    Unsubscribe {
        filters: Vec<TopicFilter>,
        properties: UnsubscribeProperties,
        done: Reply<UnsubAck>,
    },
    Disconnect {
        packet: Disconnect,
        done: Reply<()>,
    },
}

/// A cloneable handle on one connection. Dropping every handle disconnects
/// cleanly (DISCONNECT, reason Normal).
#[derive(Debug, Clone)]
pub struct Client {
    pub(crate) tx: mpsc::Sender<Command>,
    pub(crate) server: Arc<ServerInfo>,
}

/// Resolves when a publish started with [`Client::start_publish`] is
/// complete: at once for QoS 0 (queued for the socket), on PUBACK for
/// QoS 1, on PUBCOMP (or a failed PUBREC) for QoS 2.
#[derive(Debug)]
pub struct PublishHandle(HandleState);

#[derive(Debug)]
enum HandleState {
    Ready(Option<Result<PublishOutcome, ClientError>>),
    Waiting(oneshot::Receiver<Result<PublishOutcome, ClientError>>),
}

impl Future for PublishHandle {
    type Output = Result<PublishOutcome, ClientError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().0 {
            HandleState::Ready(r) => {
                Poll::Ready(r.take().unwrap_or(Err(ClientError::ConnectionClosed)))
            }
            HandleState::Waiting(rx) => match Pin::new(rx).poll(cx) {
                Poll::Ready(Ok(r)) => Poll::Ready(r),
                Poll::Ready(Err(_)) => Poll::Ready(Err(ClientError::ConnectionClosed)),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

/// Resolves with the broker's answer to a request started with
/// [`Client::start_subscribe`] or [`Client::start_unsubscribe`].
#[derive(Debug)]
pub struct RequestHandle<T>(oneshot::Receiver<Result<T, ClientError>>);

impl<T> Future for RequestHandle<T> {
    type Output = Result<T, ClientError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match Pin::new(&mut self.get_mut().0).poll(cx) {
            Poll::Ready(Ok(r)) => Poll::Ready(r),
            Poll::Ready(Err(_)) => Poll::Ready(Err(ClientError::ConnectionClosed)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Client {
    /// What the broker announced in CONNACK.
    pub fn server(&self) -> &ServerInfo {
        &self.server
    }

    /// True once the connection task has ended.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    async fn send(&self, cmd: Command) -> Result<(), ClientError> {
        self.tx
            .send(cmd)
            .await
            .map_err(|_| ClientError::ConnectionClosed)
    }

    /// Queue a publish and return without waiting for the broker. Waits only
    /// while the command channel is full (back-pressure).
    ///
    /// # Errors
    /// The connection is closed. Errors about the message itself (QoS above
    /// the broker's maximum, packet too large) come from the handle.
    pub async fn start_publish(&self, message: Message) -> Result<PublishHandle, ClientError> {
        if message.qos == QoS::AtMostOnce {
            self.send(Command::Publish {
                message,
                done: None,
            })
            .await?;
            return Ok(PublishHandle(HandleState::Ready(Some(Ok(
                PublishOutcome::sent(None),
            )))));
        }
        let (done, rx) = oneshot::channel();
        self.send(Command::Publish {
            message,
            done: Some(done),
        })
        .await?;
        Ok(PublishHandle(HandleState::Waiting(rx)))
    }

    /// Publish and wait until the QoS flow is complete. For QoS 0 with
    /// errors reported, use this rather than [`Client::start_publish`]:
    /// it waits for the connection task to accept the message.
    ///
    /// # Errors
    /// The connection closed first, or the message breaks a limit the
    /// broker announced.
    pub async fn publish(&self, message: Message) -> Result<PublishOutcome, ClientError> {
        let (done, rx) = oneshot::channel();
        self.send(Command::Publish {
            message,
            done: Some(done),
        })
        .await?;
        rx.await.map_err(|_| ClientError::ConnectionClosed)?
    }

    /// Subscribe to `filters` and return the SUBACK (one reason code per
    /// filter, in order).
    ///
    /// # Errors
    /// The connection closed first, or the packet is too large.
    pub async fn subscribe(
        &self,
        filters: Vec<(TopicFilter, SubscriptionOptions)>,
        properties: SubscribeProperties,
    ) -> Result<SubAck, ClientError> {
        self.start_subscribe(filters, properties).await?.await
    }

    /// Queue a SUBSCRIBE and return without waiting for the SUBACK, so
    /// later requests go out right behind it.
    ///
    /// # Errors
    /// No filter was given, or the connection is closed.
    pub async fn start_subscribe(
        &self,
        filters: Vec<(TopicFilter, SubscriptionOptions)>,
        properties: SubscribeProperties,
    ) -> Result<RequestHandle<SubAck>, ClientError> {
        if filters.is_empty() {
            return Err(ClientError::InvalidRequest(
                "SUBSCRIBE needs at least one filter [MQTT-3.8.3-3]".into(),
            ));
        }
        let (done, rx) = oneshot::channel();
        self.send(Command::Subscribe {
            filters,
            properties,
            done,
        })
        .await?;
        Ok(RequestHandle(rx))
    }

    /// Unsubscribe from `filters` and return the UNSUBACK (reason codes in
    /// 5.0, none before).
    ///
    /// # Errors
    /// The connection closed first, or the packet is too large.
    pub async fn unsubscribe(
        &self,
        filters: Vec<TopicFilter>,
        properties: UnsubscribeProperties,
    ) -> Result<UnsubAck, ClientError> {
        self.start_unsubscribe(filters, properties).await?.await
    }

    /// Queue an UNSUBSCRIBE and return without waiting for the UNSUBACK.
    ///
    /// # Errors
    /// No filter was given, or the connection is closed.
    pub async fn start_unsubscribe(
        &self,
        filters: Vec<TopicFilter>,
        properties: UnsubscribeProperties,
    ) -> Result<RequestHandle<UnsubAck>, ClientError> {
        if filters.is_empty() {
            return Err(ClientError::InvalidRequest(
                "UNSUBSCRIBE needs at least one filter [MQTT-3.10.3-2]".into(),
            ));
        }
        let (done, rx) = oneshot::channel();
        self.send(Command::Unsubscribe {
            filters,
            properties,
            done,
        })
        .await?;
        Ok(RequestHandle(rx))
    }

    /// Send DISCONNECT (with its 5.0 reason code and properties) after every
    /// request queued before it, flush, and close. Publishes still waiting
    /// for acknowledgement fail with [`ClientError::ConnectionClosed`].
    ///
    /// # Errors
    /// The connection was already closed.
    pub async fn disconnect(&self, packet: Disconnect) -> Result<(), ClientError> {
        let (done, rx) = oneshot::channel();
        self.send(Command::Disconnect { packet, done }).await?;
        rx.await.map_err(|_| ClientError::ConnectionClosed)?
    }
}
