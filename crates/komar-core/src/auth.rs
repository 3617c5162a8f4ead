//! The seams for authentication and authorisation. The core asks; an
//! implementation (komar-auth's password and ACL files, or anything
//! embedding Komar) answers. The default allows everything, which is what
//! Mosquitto's local-only mode does.

use std::sync::Arc;

/// Who a client is, as checks see it.
#[derive(Debug, Clone)]
pub struct ClientIdentity {
    /// Client identifier (after assignment / `use_username_as_clientid`).
    pub client_id: Arc<str>,
    /// Authenticated user name, if any.
    pub username: Option<Arc<str>>,
    /// Index of the listener the client came through.
    pub listener: usize,
}

/// Access checks on topics. Implementations must be cheap: they run on the
/// publish path.
pub trait Authorizer: Send + Sync + std::fmt::Debug {
    /// May `client` publish to `topic`?
    fn can_publish(&self, client: &ClientIdentity, topic: &str) -> bool;
    /// May `client` subscribe to `filter`?
    fn can_subscribe(&self, client: &ClientIdentity, filter: &str) -> bool;
    /// May `client` receive a message published to `topic`?
    fn can_receive(&self, client: &ClientIdentity, topic: &str) -> bool;
    /// False when every check answers true, so the publish path can skip
    /// per-recipient checks.
    fn restricts(&self) -> bool {
        true
    }
}

/// Allows everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct AllowAll;

impl Authorizer for AllowAll {
    fn can_publish(&self, _: &ClientIdentity, _: &str) -> bool {
        true
    }
    fn can_subscribe(&self, _: &ClientIdentity, _: &str) -> bool {
        true
    }
    fn can_receive(&self, _: &ClientIdentity, _: &str) -> bool {
        true
    }
    fn restricts(&self) -> bool {
        false
    }
}
