//! The seams for authentication and authorisation. The core asks; an
//! implementation (komar-auth's password and ACL files, or anything
//! embedding Komar) answers. The default allows everything, which is what
//! Mosquitto's local-only mode does.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use komar_proto::ReasonCode;

/// A password kept for re-checking logins when the password file is
/// reloaded (as Mosquitto does). Its `Debug` never shows the bytes. Its
/// own copy, never a view into a read buffer (which it would keep alive),
/// and 16 bytes where `Bytes` takes 32.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub Box<[u8]>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Who a client is, as checks see it.
#[derive(Debug, Clone)]
pub struct ClientIdentity {
    /// Client identifier (after assignment / `use_username_as_clientid`).
    pub client_id: Arc<str>,
    /// Authenticated user name, if any.
    pub username: Option<Arc<str>>,
    /// Index of the listener the client came through.
    pub listener: usize,
    /// The password the client logged in with, for re-checks on reload.
    pub password: Option<Secret>,
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

/// The answer to a login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthDecision {
    /// Let the client in.
    Allow,
    /// Refuse with this CONNACK reason code (mapped to a 3.1.1 return code
    /// for older clients).
    Deny(ReasonCode),
}

/// One step of MQTT 5 enhanced authentication (§4.12).
#[derive(Debug)]
pub enum AuthStep {
    /// Send the client AUTH "Continue authentication" (0x18) with this
    /// data, and give its answer to the exchange.
    Continue(Bytes, Box<dyn AuthExchange>),
    /// Authenticated: the final data for the client (in CONNACK, or in AUTH
    /// "Success" when re-authenticating) and the user name to use.
    Success {
        /// Authentication Data for the client, if the method has any.
        data: Option<Bytes>,
        /// The authenticated user name.
        username: Option<String>,
    },
    /// Refused with this reason code and a reason string.
    Fail(ReasonCode, String),
}

/// An enhanced-authentication exchange in progress (e.g. SCRAM between its
/// first and final messages).
pub trait AuthExchange: Send + Sync + std::fmt::Debug {
    /// Take the client's next Authentication Data.
    fn step(self: Box<Self>, data: &[u8]) -> AuthStep;
}

/// Checks credentials at CONNECT.
pub trait Authenticator: Send + Sync + std::fmt::Debug {
    /// Decide whether a client may connect through listener `listener`.
    /// May be slow (password hashing): the server calls it off the async
    /// workers when [`Authenticator::is_slow`] says so.
    fn authenticate(
        &self,
        listener: usize,
        client_id: &str,
        username: Option<&str>,
        password: Option<&[u8]>,
    ) -> AuthDecision;

    /// Whether a login with a user name may take long enough to need a
    /// blocking-work thread.
    fn is_slow(&self) -> bool {
        false
    }

    /// Begin MQTT 5 enhanced authentication with `method` and the client's
    /// first Authentication Data. `None` when the method is not offered
    /// (the client gets 0x8C "Bad authentication method").
    fn start_enhanced(&self, _listener: usize, _method: &str, _data: &[u8]) -> Option<AuthStep> {
        None
    }
}

/// Mosquitto's rule without a password file: clients without a user name
/// get in when the listener allows anonymous access; clients with one get
/// in on the same condition (there is nothing to check them against).
#[derive(Debug, Clone, Default)]
pub struct AnonymousPolicy {
    /// `allow_anonymous` of each listener, by index.
    pub allow_anonymous: Vec<bool>,
}

impl Authenticator for AnonymousPolicy {
    fn authenticate(
        &self,
        listener: usize,
        _: &str,
        _: Option<&str>,
        _: Option<&[u8]>,
    ) -> AuthDecision {
        if self.allow_anonymous.get(listener).copied().unwrap_or(false) {
            AuthDecision::Allow
        } else {
            AuthDecision::Deny(ReasonCode::NOT_AUTHORIZED)
        }
    }
}

/// Mosquitto's rule for `$` topics, applied to every client whatever the
/// ACL says: nothing may be published under `$SYS` except a bridge's
/// `$SYS/broker/connection/<name>/state`, and nothing to `$share...` topics
/// (prefixes compared as Mosquitto does, so `$SYSx` counts as `$SYS`).
pub fn dollar_topic_publishable(topic: &str) -> bool {
    if let Some(rest) = topic.strip_prefix("$SYS") {
        let mut levels = rest.split('/');
        levels.next() == Some("")
            && levels.next() == Some("broker")
            && levels.next() == Some("connection")
            && levels.next().is_some()
            && levels.next() == Some("state")
            && levels.next().is_none()
    } else {
        !topic.starts_with("$share")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollar_rule() {
        assert!(dollar_topic_publishable("a/b"));
        assert!(dollar_topic_publishable("$SYS/broker/connection/br1/state"));
        assert!(!dollar_topic_publishable(
            "$SYS/broker/connection/br1/other"
        ));
        assert!(!dollar_topic_publishable("$SYS/broker/uptime"));
        assert!(!dollar_topic_publishable("$SYSfoo"));
        assert!(!dollar_topic_publishable("$share/g/t"));
        assert!(dollar_topic_publishable("$other/t"));
    }
}
