//! Raw mode: one connection driven by hand, for tests that must send
//! arbitrary bytes (malformed packets, out-of-order flows) and look at each
//! decoded packet the broker answers with. No session state, no keep-alive,
//! no background task.

use std::time::Duration;

use bytes::BytesMut;
use komar_proto::{ConnAck, Connect, Packet, ProtocolVersion};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::ClientError;
use crate::frame::{encode_packet, FrameReader, MAX_PACKET_SIZE};
use crate::transport::{Endpoint, Transport};

/// A connection with no protocol logic: bytes and packets in, packets out.
#[derive(Debug)]
pub struct RawConnection {
    transport: Transport,
    reader: FrameReader,
    version: ProtocolVersion,
}

impl RawConnection {
    /// Wrap an open transport; packets are decoded as `version` speaks them.
    pub fn new(transport: Transport, version: ProtocolVersion) -> RawConnection {
        RawConnection::with_max_packet(transport, version, MAX_PACKET_SIZE)
    }

    /// As [`RawConnection::new`], refusing incoming packets above
    /// `max_packet_size` bytes.
    pub fn with_max_packet(
        transport: Transport,
        version: ProtocolVersion,
        max_packet_size: usize,
    ) -> RawConnection {
        RawConnection {
            transport,
            reader: FrameReader::new(max_packet_size),
            version,
        }
    }

    /// Open `endpoint`.
    ///
    /// # Errors
    /// The endpoint cannot be reached (see [`Endpoint::connect`]).
    pub async fn connect(
        endpoint: &Endpoint,
        version: ProtocolVersion,
    ) -> Result<RawConnection, ClientError> {
        Ok(RawConnection::new(endpoint.connect().await?, version))
    }

    /// The version incoming packets are decoded as.
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// Decode incoming packets as `version` from now on.
    pub fn set_version(&mut self, version: ProtocolVersion) {
        self.version = version;
    }

    /// Write `bytes` as they are and flush.
    ///
    /// # Errors
    /// The transport failed.
    pub async fn send_bytes(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.transport
            .write_all(bytes)
            .await
            .map_err(|e| ClientError::io("writing raw bytes", e))?;
        self.transport
            .flush()
            .await
            .map_err(|e| ClientError::io("flushing raw bytes", e))
    }

    /// Encode `packet` for the current version, write it and flush.
    ///
    /// # Errors
    /// The packet cannot be encoded or the transport failed.
    pub async fn send(&mut self, packet: &Packet) -> Result<(), ClientError> {
        let mut out = BytesMut::new();
        encode_packet(packet, self.version, &mut out)?;
        self.send_bytes(&out).await
    }

    /// The next packet; `Ok(None)` when the peer closed the connection
    /// between packets.
    ///
    /// # Errors
    /// The bytes are not a valid packet, the peer closed in the middle of
    /// one, or the transport failed.
    pub async fn recv(&mut self) -> Result<Option<Packet>, ClientError> {
        loop {
            if let Some(p) = self.reader.next_packet(self.version)? {
                return Ok(Some(p));
            }
            let n = self
                .transport
                .read_buf(self.reader.read_buf())
                .await
                .map_err(|e| ClientError::io("reading from the broker", e))?;
            if n == 0 {
                return if self.reader.buffered() == 0 {
                    Ok(None)
                } else {
                    Err(ClientError::ConnectionClosed)
                };
            }
        }
    }

    /// [`RawConnection::recv`] with a deadline.
    ///
    /// # Errors
    /// [`ClientError::Timeout`] when nothing complete arrives in time, else
    /// as [`RawConnection::recv`].
    pub async fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<Packet>, ClientError> {
        tokio::time::timeout(timeout, self.recv())
            .await
            .map_err(|_| ClientError::Timeout("a packet"))?
    }

    /// Send `connect` and wait up to `timeout` for the CONNACK; incoming
    /// packets are decoded as the CONNECT's version from then on.
    ///
    /// # Errors
    /// The broker answered with something else, closed, or took too long.
    /// A refusal is returned as `Ok` (check `reason_code`).
    pub async fn handshake(
        &mut self,
        connect: Connect,
        timeout: Duration,
    ) -> Result<ConnAck, ClientError> {
        self.version = connect.protocol;
        self.send(&Packet::Connect(Box::new(connect))).await?;
        match self.recv_timeout(timeout).await {
            Ok(Some(Packet::ConnAck(c))) => Ok(*c),
            Ok(Some(other)) => Err(ClientError::Protocol(format!(
                "expected CONNACK, got {}",
                other.name()
            ))),
            Ok(None) => Err(ClientError::ConnectionClosed),
            Err(ClientError::Timeout(_)) => Err(ClientError::ConnectTimeout),
            Err(e) => Err(e),
        }
    }

    /// Read until the peer closes (or resets) the connection, at most
    /// `timeout`; returns the packets received before the close.
    ///
    /// # Errors
    /// [`ClientError::Timeout`] when the connection is still open after
    /// `timeout`; a decoding error for invalid bytes.
    pub async fn wait_closed(&mut self, timeout: Duration) -> Result<Vec<Packet>, ClientError> {
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.recv()).await {
                Err(_) => return Err(ClientError::Timeout("the connection to close")),
                Ok(Ok(Some(p))) => seen.push(p),
                Ok(Ok(None)) | Ok(Err(ClientError::ConnectionClosed)) => return Ok(seen),
                Ok(Err(ClientError::Io { .. })) => return Ok(seen),
                Ok(Err(e)) => return Err(e),
            }
        }
    }

    /// Close the write side (TCP FIN) without sending DISCONNECT.
    ///
    /// # Errors
    /// The transport failed.
    pub async fn shutdown(&mut self) -> Result<(), ClientError> {
        self.transport
            .shutdown()
            .await
            .map_err(|e| ClientError::io("shutting down the connection", e))
    }

    /// The transport and the reader with any bytes read past the last
    /// packet returned.
    pub(crate) fn into_parts(self) -> (Transport, FrameReader) {
        (self.transport, self.reader)
    }
}
