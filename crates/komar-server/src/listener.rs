//! Listening sockets and their accept loops: bind every configured
//! listener (TCP or Unix socket), enforce the per-listener and global
//! connection limits, and start one task per accepted connection. A
//! connection on a plain listener goes straight to the connection driver;
//! on others its task first reads the PROXY header, runs the TLS handshake
//! and the WebSocket upgrade — each in the connection's own task, under the
//! connect timeout, so a slow or broken client costs only its connection.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use komar_core::ListenerSettings;
use tokio::net::{TcpListener, UnixListener};

use crate::http::{self, Upgraded, WsSettings};
use crate::io::{ConnRead, ConnWrite, RawSocket};
use crate::park::Park;
use crate::peer::{Login, Peer};
use crate::tls::{self, CertUsername, TlsListener};
use crate::{driver, proxy, x509, Shared};

/// Where a listener listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    /// A TCP address (port 0 picks a free port).
    Tcp(SocketAddr),
    /// A Unix domain socket path (`listener 0 /path`).
    Unix(PathBuf),
}

/// One listener's configuration.
#[derive(Debug, Clone)]
pub struct ListenerConfig {
    /// Where to listen.
    pub addr: ListenAddr,
    /// Protocol settings of this listener's clients.
    pub settings: ListenerSettings,
    /// Connection limit of this listener (`max_connections`; `None` =
    /// unlimited).
    pub max_connections: Option<usize>,
    /// Network device to bind to (`bind_interface`, Linux).
    pub bind_interface: Option<String>,
    /// TLS, WebSockets and the PROXY protocol on this listener.
    pub transport: TransportConfig,
}

/// The layers between the socket and MQTT on one listener.
#[derive(Debug, Clone, Default)]
pub struct TransportConfig {
    /// PROXY protocol header expected first (`enable_proxy_protocol`).
    pub proxy: Option<ProxySettings>,
    /// TLS (`certfile`, `keyfile`, ...); shared with the configuration so
    /// a reload can swap certificates.
    pub tls: Option<Arc<TlsListener>>,
    /// MQTT over WebSockets (`protocol websockets`).
    pub websockets: Option<Arc<WsSettings>>,
}

impl TransportConfig {
    /// Nothing between the socket and MQTT.
    pub fn is_plain(&self) -> bool {
        self.proxy.is_none() && self.tls.is_none() && self.websockets.is_none()
    }
}

/// A PROXY protocol listener's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxySettings {
    /// `enable_proxy_protocol`: 1 or 2.
    pub version: u8,
    /// `proxy_protocol_v2_require_tls`: the client must have used TLS.
    pub require_tls: bool,
    /// `require_certificate`: the proxy must have verified a client
    /// certificate.
    pub require_certificate: bool,
    /// `use_identity_as_username` (with `require_certificate`): the
    /// certificate's commonName from the header becomes the user name.
    pub use_identity_as_username: bool,
}

/// What a connection task needs to know about its listener.
#[derive(Debug)]
pub(crate) struct ListenerCtx {
    pub index: usize,
    /// The server it accepts for.
    pub shared: Arc<Shared>,
    pub settings: Arc<ListenerSettings>,
    transport: TransportConfig,
    max_connections: Option<usize>,
    connections: AtomicUsize,
}

/// A bound listening socket.
#[derive(Debug)]
pub(crate) enum Bound {
    Tcp(TcpListener),
    Unix(UnixListener, PathBuf),
}

impl Bound {
    pub fn local_addr(&self) -> Option<SocketAddr> {
        match self {
            Bound::Tcp(l) => l.local_addr().ok(),
            Bound::Unix(..) => None,
        }
    }
}

/// Bind `config`.
pub(crate) fn bind(
    index: usize,
    config: &ListenerConfig,
    shared: &Arc<Shared>,
) -> io::Result<(Bound, Arc<ListenerCtx>)> {
    let bound = match &config.addr {
        ListenAddr::Tcp(addr) => {
            use socket2::{Domain, Socket, Type};
            let domain = if addr.is_ipv4() {
                Domain::IPV4
            } else {
                Domain::IPV6
            };
            let socket = Socket::new(domain, Type::STREAM, None)?;
            if addr.is_ipv6() {
                // `listener 1883` binds 0.0.0.0 and :: side by side, as
                // Mosquitto does: the IPv6 socket must not claim IPv4 too.
                socket.set_only_v6(true)?;
            }
            socket.set_reuse_address(true)?;
            if let Some(dev) = &config.bind_interface {
                socket.bind_device(Some(dev.as_bytes()))?;
            }
            socket.bind(&(*addr).into())?;
            socket.listen(1024)?;
            socket.set_nonblocking(true)?;
            Bound::Tcp(TcpListener::from_std(socket.into())?)
        }
        ListenAddr::Unix(path) => {
            // A stale socket file from an earlier run would make bind fail.
            if path.exists() {
                let _ = std::fs::remove_file(path);
            }
            Bound::Unix(UnixListener::bind(path)?, path.clone())
        }
    };
    let ctx = Arc::new(ListenerCtx {
        index,
        shared: shared.clone(),
        settings: Arc::new(config.settings.clone()),
        transport: config.transport.clone(),
        max_connections: config.max_connections,
        connections: AtomicUsize::new(0),
    });
    Ok((bound, ctx))
}

/// Holds one connection slot of a listener and of the broker. One
/// pointer: a parked connection keeps it in its lot entry.
pub(crate) struct Slot {
    listener: Arc<ListenerCtx>,
}

impl Slot {
    fn take(listener: &Arc<ListenerCtx>) -> Option<Slot> {
        let shared = &listener.shared;
        let n = listener.connections.fetch_add(1, Ordering::Relaxed) + 1;
        let total = shared.connections.fetch_add(1, Ordering::Relaxed) + 1;
        let slot = Slot {
            listener: listener.clone(),
        };
        let over_listener = listener.max_connections.is_some_and(|m| n > m);
        let over_global = shared.max_connections.is_some_and(|m| total > m);
        (!over_listener && !over_global).then_some(slot)
    }

    /// The server the slot counts in.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.listener.shared
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.listener.connections.fetch_sub(1, Ordering::Relaxed);
        self.shared().connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Accept connections until shutdown.
pub(crate) async fn accept_loop(bound: Bound, ctx: Arc<ListenerCtx>, shared: Arc<Shared>) {
    loop {
        let accepted = tokio::select! {
            _ = shared.shutdown.cancelled() => break,
            r = accept(&bound) => r,
        };
        match accepted {
            Ok(stream) => {
                let Some(slot) = Slot::take(&ctx) else {
                    tracing::info!("connection refused: max_connections reached");
                    continue;
                };
                let shared2 = shared.clone();
                let ctx2 = ctx.clone();
                if !ctx.transport.is_plain() {
                    shared.tasks.spawn(async move {
                        match stream {
                            Accepted::Tcp(s, peer) => {
                                if shared2.tcp_nodelay {
                                    let _ = s.set_nodelay(true);
                                }
                                serve_layered(shared2, ctx2, s, peer.to_string(), slot).await;
                            }
                            Accepted::Unix(s) => {
                                serve_layered(shared2, ctx2, s, "unix-socket".to_owned(), slot)
                                    .await;
                            }
                        }
                    });
                    continue;
                }
                // The plain transports' tasks are built here, outside any
                // `async` block, so each task holds only its slot and the
                // connection's own future (see `driver::serve`).
                match stream {
                    Accepted::Tcp(s, peer) => {
                        if shared2.tcp_nodelay {
                            let _ = s.set_nodelay(true);
                        }
                        let (r, w) = s.into_split();
                        let peer = Peer::plain(peer.to_string());
                        shared
                            .tasks
                            .spawn(driver::serve(shared2, ctx2, r, w, peer, slot));
                    }
                    Accepted::Unix(s) => {
                        let (r, w) = s.into_split();
                        let peer = Peer::plain("unix-socket".to_owned());
                        shared
                            .tasks
                            .spawn(driver::serve(shared2, ctx2, r, w, peer, slot));
                    }
                }
            }
            Err(e) => {
                // Out of file descriptors and the like: log, back off a
                // little instead of spinning, keep serving.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    if let Bound::Unix(_, path) = &bound {
        let _ = std::fs::remove_file(path);
    }
}

enum Accepted {
    Tcp(tokio::net::TcpStream, SocketAddr),
    Unix(tokio::net::UnixStream),
}

async fn accept(bound: &Bound) -> io::Result<Accepted> {
    match bound {
        Bound::Tcp(l) => l.accept().await.map(|(s, a)| Accepted::Tcp(s, a)),
        Bound::Unix(l, _) => l.accept().await.map(|(s, _)| Accepted::Unix(s)),
    }
}

/// Read the PROXY header, if the listener expects one, and check it as
/// Mosquitto does. `None`: the connection is refused.
async fn read_proxy<S: RawSocket>(
    shared: &Shared,
    p: ProxySettings,
    stream: &mut S,
    peer: &mut Peer,
) -> Option<()> {
    let header = Box::pin(proxy::read_header(stream, p.version));
    let info = match tokio::time::timeout(shared.connect_timeout, header).await {
        Ok(Ok(info)) => info,
        Ok(Err(e)) => {
            tracing::info!(target: "komar::notice", "Connection from {} rejected, corrupt PROXY header: {e}.", peer.addr);
            return None;
        }
        Err(_) => {
            tracing::info!(target: "komar::notice", "Connection from {} rejected: no PROXY header in time.", peer.addr);
            return None;
        }
    };
    if let Some(addr) = info.addr {
        peer.addr = addr;
    }
    if p.require_tls && !info.tls {
        tracing::info!(target: "komar::notice", "Connection from {} rejected, client did not connect using TLS.", peer.addr);
        return None;
    }
    if p.require_certificate && !info.verified_cert {
        tracing::info!(target: "komar::notice", "Connection from {} rejected, client did not provide a certificate.", peer.addr);
        return None;
    }
    if p.use_identity_as_username && p.require_certificate {
        peer.login = Login::Proxy(info.common_name);
    }
    Some(())
}

/// Serve a connection of a listener with layers: PROXY header, TLS,
/// WebSockets, then MQTT. Each step before MQTT is bounded by the connect
/// timeout; the driver's future is boxed so this task stays small.
async fn serve_layered<S: RawSocket>(
    shared: Arc<Shared>,
    ctx: Arc<ListenerCtx>,
    mut stream: S,
    addr: String,
    slot: Slot,
) where
    S::Read: Park<S::Write>,
{
    let mut peer = Peer::plain(addr);
    if let Some(p) = ctx.transport.proxy {
        if read_proxy(&shared, p, &mut stream, &mut peer)
            .await
            .is_none()
        {
            return;
        }
    }
    let Some(tls) = ctx.transport.tls.clone() else {
        let (r, w) = stream.split();
        return after_tls(shared, ctx, r, w, peer, slot).await;
    };
    let handshake = Box::pin(tls::accept(&tls, stream));
    match tokio::time::timeout(shared.connect_timeout, handshake).await {
        Ok(Ok((r, w, cert))) => {
            let name = |f: fn(&[u8]) -> Option<String>| cert.as_ref().and_then(|c| f(c));
            match tls.username {
                CertUsername::Off => {}
                CertUsername::CommonName => {
                    peer.login = Login::Certificate(name(x509::common_name))
                }
                CertUsername::Subject => {
                    peer.login = Login::Certificate(name(x509::subject_rfc2253))
                }
            }
            after_tls(shared, ctx, r, w, peer, slot).await;
        }
        Ok(Err(e)) => {
            tracing::info!(target: "komar::notice", "TLS handshake with {} failed: {e}.", peer.addr);
        }
        Err(_) => {
            tracing::info!(target: "komar::notice", "TLS handshake with {} timed out.", peer.addr);
        }
    }
}

async fn after_tls<R: ConnRead + Park<W> + 'static, W: ConnWrite + 'static>(
    shared: Arc<Shared>,
    ctx: Arc<ListenerCtx>,
    r: R,
    w: W,
    peer: Peer,
    slot: Slot,
) {
    let Some(ws) = ctx.transport.websockets.clone() else {
        return Box::pin(driver::serve(shared, ctx, r, w, peer, slot)).await;
    };
    let upgrade = Box::pin(http::accept(&ws, r, w));
    match tokio::time::timeout(shared.connect_timeout, upgrade).await {
        Ok(Ok(Upgraded::WebSocket(r, w))) => {
            Box::pin(driver::serve(shared, ctx, r, w, peer, slot)).await;
        }
        Ok(Ok(Upgraded::Done)) => {}
        Ok(Err(e)) => {
            tracing::debug!(peer = %peer.addr, error = %e, "HTTP request failed");
        }
        Err(_) => {
            tracing::debug!(peer = %peer.addr, "no HTTP request in time");
        }
    }
}
