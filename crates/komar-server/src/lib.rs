//! Komar's server: everything that touches the operating system. Listeners
//! (TCP and Unix sockets, each optionally with the PROXY protocol, TLS and
//! WebSockets), a task per busy connection on a multi-threaded tokio
//! runtime so routing uses every core (idle connections wait in the
//! parking lot without one, see `park`), the broker's clock, the `$SYS`
//! tree and graceful shutdown.
//!
//! Protocol rules are not decided here: the driver feeds bytes and time to
//! `komar_core::Connection` and writes out what it produces.
//!
//! # Embedding
//! ```no_run
//! # async fn example() -> std::io::Result<()> {
//! let server = komar_server::Server::bind(komar_server::ServerConfig::local_only(1883)).await?;
//! let stop = server.shutdown_handle();
//! tokio::spawn(async move { tokio::signal::ctrl_c().await.ok(); stop.cancel(); });
//! server.run().await;
//! # Ok(()) }
//! ```

mod driver;
mod established;
pub mod http;
pub mod io;
mod listener;
mod park;
mod peer;
pub mod persistence;
mod proxy;
pub mod settings;
mod sys;
mod ticker;
pub mod tls;
mod transport_config;
pub mod ws;
mod x509;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use komar_core::{
    AllowAll, AnonymousPolicy, Authenticator, Authorizer, Broker, BrokerConfig, ListenerSettings,
};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use listener::{ListenAddr, ListenerConfig, ProxySettings, TransportConfig};
pub use transport_config::reload_tls;

/// Re-check the login of every connected client against `authenticator`
/// (after the password file, ACL or `allow_anonymous` changed on reload),
/// and disconnect those no longer allowed — as Mosquitto does on SIGHUP.
/// Hashing may be slow: call it from a blocking-work thread. Returns how
/// many clients were disconnected.
pub fn recheck_logins(broker: &Broker, authenticator: &dyn Authenticator) -> usize {
    let mut kicked = 0;
    for (session, id) in broker.online_clients() {
        let password = id.password.as_ref().map(|p| &p.0[..]);
        if let komar_core::AuthDecision::Deny(code) =
            authenticator.authenticate(id.listener, &id.client_id, id.username.as_deref(), password)
        {
            tracing::info!(
                target: "komar::notice",
                "Client {} is no longer authorised after reload: disconnecting.",
                id.client_id
            );
            broker.kick(&session, code);
            kicked += 1;
        }
    }
    kicked
}

/// How long shutdown waits for connections to flush before giving up.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Everything the server needs to run.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Broker limits and behaviour.
    pub broker: BrokerConfig,
    /// Listeners, in configuration order.
    pub listeners: Vec<ListenerConfig>,
    /// How long a new connection may take to send its CONNECT.
    pub connect_timeout: Duration,
    /// `$SYS` update interval (`sys_interval`; `None` = no `$SYS` tree).
    pub sys_interval: Option<Duration>,
    /// Set TCP_NODELAY on client sockets (`set_tcp_nodelay`).
    pub tcp_nodelay: bool,
    /// Broker-wide connection limit (`global_max_connections`).
    pub max_connections: Option<usize>,
    /// Log connects and disconnects (`connection_messages`, default true).
    pub connection_messages: bool,
    /// Who may connect (password file, anonymous access), per listener.
    pub authenticator: Arc<dyn Authenticator>,
    /// Who may publish, subscribe and receive what (ACL file).
    pub authorizer: Arc<dyn Authorizer>,
    /// Durable state (`persistence true`), or memory only.
    pub persistence: Option<persistence::PersistenceConfig>,
}

impl ServerConfig {
    /// Mosquitto's "local only" mode: anonymous clients on loopback `port`
    /// (IPv4 and IPv6), default limits.
    pub fn local_only(port: u16) -> ServerConfig {
        let listener = |ip: IpAddr| ListenerConfig {
            addr: ListenAddr::Tcp(SocketAddr::new(ip, port)),
            settings: ListenerSettings::default(),
            max_connections: None,
            bind_interface: None,
            transport: TransportConfig::default(),
        };
        ServerConfig {
            broker: BrokerConfig::default(),
            listeners: vec![
                listener(IpAddr::V4(Ipv4Addr::LOCALHOST)),
                listener(IpAddr::V6(Ipv6Addr::LOCALHOST)),
            ],
            connect_timeout: Duration::from_secs(10),
            sys_interval: Some(Duration::from_secs(10)),
            tcp_nodelay: true,
            max_connections: None,
            connection_messages: true,
            authenticator: Arc::new(AnonymousPolicy {
                allow_anonymous: vec![true, true],
            }),
            authorizer: Arc::new(AllowAll),
            persistence: None,
        }
    }
}

/// State every task of the server shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub broker: Arc<Broker>,
    pub authenticator: Arc<dyn Authenticator>,
    pub shutdown: CancellationToken,
    /// Set (before the attached connections are woken) when shutdown
    /// begins; every established connection checks it when polled.
    pub stopping: AtomicBool,
    pub tasks: TaskTracker,
    pub connect_timeout: Duration,
    pub tcp_nodelay: bool,
    pub connection_messages: bool,
    pub max_connections: Option<usize>,
    pub connections: AtomicUsize,
    pub store: std::sync::OnceLock<Arc<persistence::StoreAdapter>>,
    /// Where idle plain connections wait without a task.
    pub lot: Arc<park::Lot>,
}

/// A server with its listeners bound, ready to run.
#[derive(Debug)]
pub struct Server {
    shared: Arc<Shared>,
    persistence: Option<persistence::PersistenceConfig>,
    bound: Vec<(listener::Bound, Arc<listener::ListenerCtx>)>,
    sys_interval: Option<Duration>,
}

impl Server {
    /// Bind every listener of `config`. With `persistence`, the store is
    /// opened by [`Server::open_store`] (or by [`Server::run`]).
    ///
    /// # Errors
    /// A listener could not be bound (the error says which and why).
    pub async fn bind(config: ServerConfig) -> std::io::Result<Server> {
        let broker = Broker::with_security(
            config.broker,
            config.authenticator.clone(),
            config.authorizer,
        );
        let shared = Arc::new(Shared {
            broker,
            store: std::sync::OnceLock::new(),
            lot: park::Lot::new(tokio::runtime::Handle::current())?,
            authenticator: config.authenticator,
            shutdown: CancellationToken::new(),
            stopping: AtomicBool::new(false),
            tasks: TaskTracker::new(),
            connect_timeout: config.connect_timeout,
            tcp_nodelay: config.tcp_nodelay,
            connection_messages: config.connection_messages,
            max_connections: config.max_connections,
            connections: AtomicUsize::new(0),
        });
        let mut bound = Vec::new();
        for (i, l) in config.listeners.iter().enumerate() {
            let b = listener::bind(i, l, &shared).map_err(|e| {
                std::io::Error::new(e.kind(), format!("cannot listen on {:?}: {e}", l.addr))
            })?;
            bound.push(b);
        }
        Ok(Server {
            shared,
            persistence: config.persistence,
            bound,
            sys_interval: config.sys_interval,
        })
    }

    /// The TCP addresses actually bound (useful with port 0).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.bound
            .iter()
            .filter_map(|(b, _)| b.local_addr())
            .collect()
    }

    /// The broker, for embedding applications.
    pub fn broker(&self) -> &Arc<Broker> {
        &self.shared.broker
    }

    /// With `persistence`: open the store and restore the broker from it
    /// (nothing to do otherwise, or if it is open already). Call it after
    /// dropping privileges, as Mosquitto opens its database as the user it
    /// runs as, so the files the store creates later belong to that user.
    ///
    /// # Errors
    /// The store could not be opened (the message says where and why).
    pub async fn open_store(&mut self) -> std::io::Result<()> {
        let Some(p) = self.persistence.take() else {
            return Ok(());
        };
        let broker = self.shared.broker.clone();
        let opened =
            tokio::task::spawn_blocking(move || persistence::StoreAdapter::open_into(&p, &broker))
                .await
                .map_err(std::io::Error::other)?
                .map_err(std::io::Error::other)?;
        let _ = self.shared.store.set(opened);
        Ok(())
    }

    /// The store, with `persistence` once open (to flush it on SIGUSR1).
    pub fn store(&self) -> Option<Arc<persistence::StoreAdapter>> {
        self.shared.store.get().cloned()
    }

    /// Cancelling this token shuts the server down gracefully.
    pub fn shutdown_handle(&self) -> CancellationToken {
        self.shared.shutdown.clone()
    }

    /// Serve until the shutdown handle is cancelled, then stop accepting,
    /// send DISCONNECT (0x8B) to v5 clients, flush every connection within a
    /// grace period and return.
    pub async fn run(mut self) {
        if let Err(e) = self.open_store().await {
            tracing::error!("{e}");
            return;
        }
        let shared = self.shared;
        for (bound, ctx) in self.bound {
            shared
                .tasks
                .spawn(listener::accept_loop(bound, ctx, shared.clone()));
        }
        if let Err(e) = shared.lot.start() {
            // Connections then stay in their tasks: they only cost more.
            tracing::warn!(error = %e, "cannot start the parking lot; idle connections keep their tasks");
        }
        shared.tasks.spawn(ticker::run(shared.clone()));
        if let Some(interval) = self.sys_interval.filter(|d| !d.is_zero()) {
            shared.tasks.spawn(sys::run(shared.clone(), interval));
        }
        shared.shutdown.cancelled().await;
        // Every established connection sends DISCONNECT (0x8B to 5.0
        // clients) and closes: set the flag, then wake them all.
        shared.stopping.store(true, Ordering::Release);
        for (session, _) in shared.broker.online_clients() {
            shared
                .broker
                .kick(&session, komar_proto::ReasonCode::SERVER_SHUTTING_DOWN);
        }
        shared.tasks.close();
        if tokio::time::timeout(SHUTDOWN_GRACE, shared.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("shutdown grace period over; closing remaining connections");
        }
        shared.lot.stop();
        if let Some(store) = shared.store.get().cloned() {
            // Sessions handed back by the closed connections are queued:
            // write them out and fsync.
            let _ = tokio::task::spawn_blocking(move || store.close()).await;
        }
    }
}
