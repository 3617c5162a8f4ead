//! Listening sockets and their accept loops: bind every configured
//! listener (TCP or Unix socket), enforce the per-listener and global
//! connection limits, and start one task per accepted connection.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use komar_core::ListenerSettings;
use tokio::net::{TcpListener, UnixListener};

use crate::{driver, Shared};

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
}

/// What a connection task needs to know about its listener.
#[derive(Debug)]
pub(crate) struct ListenerCtx {
    pub index: usize,
    pub settings: Arc<ListenerSettings>,
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
pub(crate) fn bind(index: usize, config: &ListenerConfig) -> io::Result<(Bound, Arc<ListenerCtx>)> {
    let bound = match &config.addr {
        ListenAddr::Tcp(addr) => {
            let socket = if addr.is_ipv4() {
                tokio::net::TcpSocket::new_v4()?
            } else {
                tokio::net::TcpSocket::new_v6()?
            };
            socket.set_reuseaddr(true)?;
            if let Some(dev) = &config.bind_interface {
                socket.bind_device(Some(dev.as_bytes()))?;
            }
            socket.bind(*addr)?;
            Bound::Tcp(socket.listen(1024)?)
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
        settings: Arc::new(config.settings.clone()),
        max_connections: config.max_connections,
        connections: AtomicUsize::new(0),
    });
    Ok((bound, ctx))
}

/// Holds one connection slot of a listener and of the broker.
struct Slot {
    listener: Arc<ListenerCtx>,
    shared: Arc<Shared>,
}

impl Slot {
    fn take(listener: &Arc<ListenerCtx>, shared: &Arc<Shared>) -> Option<Slot> {
        let n = listener.connections.fetch_add(1, Ordering::Relaxed) + 1;
        let total = shared.connections.fetch_add(1, Ordering::Relaxed) + 1;
        let slot = Slot {
            listener: listener.clone(),
            shared: shared.clone(),
        };
        let over_listener = listener.max_connections.is_some_and(|m| n > m);
        let over_global = shared.max_connections.is_some_and(|m| total > m);
        (!over_listener && !over_global).then_some(slot)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.listener.connections.fetch_sub(1, Ordering::Relaxed);
        self.shared.connections.fetch_sub(1, Ordering::Relaxed);
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
                let Some(slot) = Slot::take(&ctx, &shared) else {
                    tracing::info!("connection refused: max_connections reached");
                    continue;
                };
                let shared2 = shared.clone();
                let ctx2 = ctx.clone();
                shared.tasks.spawn(async move {
                    let _slot = slot;
                    match stream {
                        Accepted::Tcp(s, peer) => {
                            if shared2.tcp_nodelay {
                                let _ = s.set_nodelay(true);
                            }
                            let (r, w) = s.into_split();
                            driver::serve(shared2, ctx2, r, w, peer.to_string()).await;
                        }
                        Accepted::Unix(s) => {
                            let (r, w) = s.into_split();
                            driver::serve(shared2, ctx2, r, w, "unix-socket".to_owned()).await;
                        }
                    }
                });
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
