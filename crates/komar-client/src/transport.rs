//! Byte transports the client speaks MQTT over, and the endpoints that open
//! them. TCP and Unix sockets are built in; anything else that reads and
//! writes bytes (TLS, WebSocket, an in-memory pipe in a test) plugs in as
//! [`Transport::Custom`], so adding a transport never touches the protocol
//! code.

use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpSocket, TcpStream, UnixStream};

use crate::error::ClientError;

/// Any bidirectional byte stream usable as a transport.
pub trait ByteStream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> ByteStream for T {}

/// An open connection to a broker.
pub enum Transport {
    /// Plain TCP.
    Tcp(TcpStream),
    /// A Unix domain socket.
    Unix(UnixStream),
    /// A stream opened by the caller (TLS, WebSocket, test pipe, ...).
    Custom(Box<dyn ByteStream>),
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Transport::Tcp(s) => f.debug_tuple("Tcp").field(&s.peer_addr().ok()).finish(),
            Transport::Unix(_) => f.write_str("Unix"),
            Transport::Custom(_) => f.write_str("Custom"),
        }
    }
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Transport::Unix(s) => Pin::new(s).poll_read(cx, buf),
            Transport::Custom(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Transport::Unix(s) => Pin::new(s).poll_write(cx, buf),
            Transport::Custom(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Tcp(s) => Pin::new(s).poll_flush(cx),
            Transport::Unix(s) => Pin::new(s).poll_flush(cx),
            Transport::Custom(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Transport::Unix(s) => Pin::new(s).poll_shutdown(cx),
            Transport::Custom(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// Where a broker listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A TCP listener.
    Tcp {
        /// Host name or address literal.
        host: String,
        /// Port.
        port: u16,
        /// Local address to bind the socket to before connecting.
        bind_address: Option<String>,
        /// Disable Nagle's algorithm.
        nodelay: bool,
    },
    /// A Unix domain socket listener.
    Unix(PathBuf),
}

impl Endpoint {
    /// A TCP endpoint with no bind address and Nagle's algorithm on.
    pub fn tcp(host: impl Into<String>, port: u16) -> Endpoint {
        Endpoint::Tcp {
            host: host.into(),
            port,
            bind_address: None,
            nodelay: false,
        }
    }

    /// Open the transport.
    ///
    /// # Errors
    /// [`ClientError::Lookup`] when the host does not resolve (or the bind
    /// address does not), [`ClientError::Io`] with the last connect error
    /// when no address accepts the connection.
    pub async fn connect(&self) -> Result<Transport, ClientError> {
        match self {
            Endpoint::Unix(path) => UnixStream::connect(path)
                .await
                .map(Transport::Unix)
                .map_err(|e| ClientError::io("connecting to the unix socket", e)),
            Endpoint::Tcp {
                host,
                port,
                bind_address,
                nodelay,
            } => {
                let stream = connect_tcp(host, *port, bind_address.as_deref()).await?;
                if *nodelay {
                    stream
                        .set_nodelay(true)
                        .map_err(|e| ClientError::io("setting TCP_NODELAY", e))?;
                }
                Ok(Transport::Tcp(stream))
            }
        }
    }
}

async fn resolve(host: &str, port: u16) -> Result<Vec<std::net::SocketAddr>, ClientError> {
    let addrs: Vec<_> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| ClientError::Lookup {
            host: host.to_string(),
            source: Some(e),
        })?
        .collect();
    if addrs.is_empty() {
        return Err(ClientError::Lookup {
            host: host.to_string(),
            source: None,
        });
    }
    Ok(addrs)
}

async fn connect_tcp(host: &str, port: u16, bind: Option<&str>) -> Result<TcpStream, ClientError> {
    let addrs = resolve(host, port).await?;
    let bind_addrs = match bind {
        Some(b) => Some(resolve(b, 0).await?),
        None => None,
    };
    let mut last = None;
    for addr in addrs {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }
        .map_err(|e| ClientError::io("creating a socket", e))?;
        if let Some(local) = bind_addrs
            .as_ref()
            .and_then(|b| b.iter().find(|l| l.is_ipv4() == addr.is_ipv4()))
        {
            if let Err(e) = socket.bind(*local) {
                last = Some(e);
                continue;
            }
        }
        match socket.connect(addr).await {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(ClientError::io(
        "connecting to the broker",
        last.unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no usable address")),
    ))
}
