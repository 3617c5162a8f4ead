//! The broker-facing side of the password and ACL files: one set of rules
//! per listener (all listeners share one set unless `per_listener_settings`
//! is on), implementing komar-core's [`Authenticator`] and [`Authorizer`].
//! The rules can be replaced while the broker runs (SIGHUP reload);
//! connected clients keep their session and are checked against the new
//! rules from then on.
//!
//! Login rules, as Mosquitto 2.0.11 applies them (checked against it):
//! - no user name: allowed only if the listener allows anonymous clients
//!   (otherwise 0x87 / 3.1.1 code 5);
//! - a user name and a password file: the password must verify (otherwise
//!   0x86 / 3.1.1 code 4 — Mosquitto says "not authorised" here; the
//!   specification's code for a wrong password is "bad user name or
//!   password");
//! - a user name and no password file: allowed only if anonymous clients
//!   are (there is nothing to check the name against).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use komar_core::{AuthDecision, Authenticator, Authorizer, ClientIdentity};
use komar_proto::ReasonCode;
use parking_lot::RwLock;

use crate::{Access, AclFile, PasswordFile};

/// The rules of one listener.
#[derive(Debug, Clone, Default)]
pub struct ListenerRules {
    /// `allow_anonymous` in force for this listener.
    pub allow_anonymous: bool,
    /// The parsed `password_file`, if one is configured.
    pub passwords: Option<Arc<PasswordFile>>,
    /// The parsed `acl_file`, if one is configured.
    pub acl: Option<Arc<AclFile>>,
}

/// Password and ACL rules for every listener, by listener index.
#[derive(Debug, Default)]
pub struct FileSecurity {
    rules: RwLock<Arc<Vec<ListenerRules>>>,
    /// Whether any listener has an ACL: without one every topic check is
    /// answered without taking the lock (the publish path's fast path).
    any_acl: AtomicBool,
}

impl FileSecurity {
    /// Rules for listeners `0..rules.len()`.
    pub fn new(rules: Vec<ListenerRules>) -> FileSecurity {
        FileSecurity {
            any_acl: AtomicBool::new(rules.iter().any(|r| r.acl.is_some())),
            rules: RwLock::new(Arc::new(rules)),
        }
    }

    /// A copy of every listener's rules.
    pub fn snapshot(&self) -> Vec<ListenerRules> {
        self.rules.read().as_ref().clone()
    }

    /// Replace every listener's rules (reload).
    pub fn replace(&self, rules: Vec<ListenerRules>) {
        let any_acl = rules.iter().any(|r| r.acl.is_some());
        *self.rules.write() = Arc::new(rules);
        self.any_acl.store(any_acl, Ordering::Release);
    }

    fn with<R>(&self, listener: usize, f: impl FnOnce(Option<&ListenerRules>) -> R) -> R {
        let rules = self.rules.read();
        f(rules.get(listener))
    }

    fn acl_allows(&self, client: &ClientIdentity, topic: &str, access: Access) -> bool {
        if !self.any_acl.load(Ordering::Acquire) {
            return true;
        }
        self.with(client.listener, |r| match r.and_then(|r| r.acl.as_ref()) {
            Some(acl) => acl.check(&client.client_id, client.username.as_deref(), topic, access),
            None => true,
        })
    }
}

impl Authenticator for FileSecurity {
    fn authenticate(
        &self,
        listener: usize,
        _client_id: &str,
        username: Option<&str>,
        password: Option<&[u8]>,
    ) -> AuthDecision {
        let (allow_anonymous, passwords) = self.with(listener, |r| match r {
            Some(r) => (r.allow_anonymous, r.passwords.clone()),
            None => (false, None),
        });
        match (username, passwords) {
            (None, _) | (Some(_), None) if allow_anonymous => AuthDecision::Allow,
            (None, _) | (Some(_), None) => AuthDecision::Deny(ReasonCode::NOT_AUTHORIZED),
            (Some(user), Some(file)) => {
                if password.is_some_and(|p| file.verify(user, p)) {
                    AuthDecision::Allow
                } else {
                    AuthDecision::Deny(ReasonCode::BAD_USER_NAME_OR_PASSWORD)
                }
            }
        }
    }

    fn is_slow(&self) -> bool {
        self.rules.read().iter().any(|r| r.passwords.is_some())
    }
}

impl Authorizer for FileSecurity {
    fn can_publish(&self, client: &ClientIdentity, topic: &str) -> bool {
        self.acl_allows(client, topic, Access::Write)
    }

    fn can_subscribe(&self, client: &ClientIdentity, filter: &str) -> bool {
        self.acl_allows(client, filter, Access::Subscribe)
    }

    fn can_receive(&self, client: &ClientIdentity, topic: &str) -> bool {
        self.acl_allows(client, topic, Access::Read)
    }

    fn restricts(&self) -> bool {
        self.any_acl.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(user: Option<&str>) -> ClientIdentity {
        ClientIdentity {
            client_id: Arc::from("c1"),
            username: user.map(Arc::from),
            listener: 0,
            password: None,
        }
    }

    #[test]
    fn login_rules_follow_mosquitto() {
        let line = crate::password_line("bob", b"secret", crate::HashKind::default()).unwrap();
        let (pw, errs) = PasswordFile::parse(&line);
        assert!(errs.is_empty());
        let sec = FileSecurity::new(vec![
            ListenerRules {
                allow_anonymous: true,
                passwords: Some(Arc::new(pw)),
                acl: None,
            },
            ListenerRules::default(),
        ]);
        let deny_bad = AuthDecision::Deny(ReasonCode::BAD_USER_NAME_OR_PASSWORD);
        assert_eq!(
            sec.authenticate(0, "c", Some("bob"), Some(b"secret")),
            AuthDecision::Allow
        );
        assert_eq!(
            sec.authenticate(0, "c", Some("bob"), Some(b"wrong")),
            deny_bad
        );
        assert_eq!(sec.authenticate(0, "c", Some("bob"), None), deny_bad);
        assert_eq!(sec.authenticate(0, "c", Some("eve"), Some(b"x")), deny_bad);
        assert_eq!(sec.authenticate(0, "c", None, None), AuthDecision::Allow);
        let deny = AuthDecision::Deny(ReasonCode::NOT_AUTHORIZED);
        assert_eq!(sec.authenticate(1, "c", None, None), deny);
        assert_eq!(sec.authenticate(1, "c", Some("bob"), Some(b"secret")), deny);
        assert_eq!(sec.authenticate(7, "c", None, None), deny);
    }

    #[test]
    fn acl_applies_per_listener_and_reload_replaces_it() {
        let acl = AclFile::parse("user bob\ntopic readwrite bob/#\n").unwrap();
        let sec = FileSecurity::new(vec![ListenerRules {
            allow_anonymous: true,
            passwords: None,
            acl: Some(Arc::new(acl)),
        }]);
        assert!(sec.restricts());
        assert!(sec.can_publish(&identity(Some("bob")), "bob/x"));
        assert!(!sec.can_publish(&identity(Some("bob")), "alice/x"));
        assert!(!sec.can_receive(&identity(None), "bob/x"));
        sec.replace(vec![ListenerRules::default()]);
        assert!(!sec.restricts());
        assert!(sec.can_publish(&identity(Some("bob")), "alice/x"));
    }
}
