//! Komar's broker logic, synchronous and free of IO: who receives what, and
//! when. It owns the subscription trie, sessions and their expiry, the
//! retained store, wills, shared-subscription choice, the outgoing queue
//! policy, the per-connection protocol state machine ([`Connection`]) and
//! the counters behind `$SYS`.
//!
//! It never touches a socket, a file, a timer or a runtime: the server
//! crate feeds it packets and the current time, and writes out the bytes it
//! produces. Nothing here awaits, so no lock is ever held across an
//! `.await`.

pub mod auth;
pub mod broker;
pub mod config;
mod connect;
pub mod connection;
mod keepalive;
mod level_key;
pub mod message;
mod one_map;
pub mod outbuf;
pub mod persist;
pub mod restore;
pub mod retained;
pub mod session;
mod session_table;
pub mod small_map;
pub mod stats;
pub mod trie;

pub use auth::{
    AllowAll, AnonymousPolicy, AuthDecision, AuthExchange, AuthStep, Authenticator, Authorizer,
    ClientIdentity, Secret,
};
pub use broker::{Broker, RouteOutcome};
pub use config::{BrokerConfig, ListenerSettings, Redirect, SharedStrategy};
pub use connect::{ConnectOutcome, ConnectRequest, PendingConnect};
pub use connection::{poll_room, CloseReason, Closed, Connection, OUTPUT_HIGH_WATER};
pub use message::{Delivery, Message, Origin};
pub use outbuf::{OutBuf, StorageFailed};
pub use persist::{Durable, PersistOp, Persistence, MAX_WAITING};
pub use restore::{Restored, RestoredDelivery, RestoredSession};
