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

use base64ct::Encoding;
use bytes::Bytes;
use komar_core::{AuthDecision, AuthExchange, AuthStep, Authenticator, Authorizer, ClientIdentity};
use komar_proto::ReasonCode;
use parking_lot::RwLock;

use crate::scram::{decoy_credential, Mechanism, ScramCredential, ScramFile, ScramServer};
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
    /// The parsed `scram_file` (SCRAM credentials for enhanced
    /// authentication), if one is configured.
    pub scram: Option<Arc<ScramFile>>,
}

/// Password and ACL rules for every listener, by listener index.
#[derive(Debug, Default)]
pub struct FileSecurity {
    rules: RwLock<Arc<Vec<ListenerRules>>>,
    /// Whether any listener has an ACL: without one every topic check is
    /// answered without taking the lock (the publish path's fast path).
    any_acl: AtomicBool,
    /// Random per process: made-up SCRAM salts for unknown users.
    decoy_secret: [u8; 32],
}

impl FileSecurity {
    /// Rules for listeners `0..rules.len()`.
    pub fn new(rules: Vec<ListenerRules>) -> FileSecurity {
        let mut decoy_secret = [0u8; 32];
        // Without randomness the decoys are merely predictable, not unsafe.
        let _ = getrandom::fill(&mut decoy_secret);
        FileSecurity {
            any_acl: AtomicBool::new(rules.iter().any(|r| r.acl.is_some())),
            rules: RwLock::new(Arc::new(rules)),
            decoy_secret,
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

    fn start_enhanced(&self, listener: usize, method: &str, data: &[u8]) -> Option<AuthStep> {
        let mechanism = Mechanism::from_name(method)?;
        let (scram, passwords) = self.with(listener, |r| {
            r.map_or((None, None), |r| (r.scram.clone(), r.passwords.clone()))
        });
        let lookup = |user: &str| {
            scram
                .as_ref()
                .and_then(|f| f.get(user, mechanism).cloned())
                .or_else(|| match mechanism {
                    // `$7$` keys are SCRAM-SHA-512's SaltedPassword.
                    Mechanism::Sha512 => passwords
                        .as_ref()
                        .and_then(|p| p.get(user))
                        .and_then(|h| h.pbkdf2_parts())
                        .map(|(iterations, salt, key)| {
                            ScramCredential::from_salted(mechanism, key, salt, iterations)
                        }),
                    Mechanism::Sha256 => None,
                })
        };
        let decoy = |user: &str| decoy_credential(mechanism, user, &self.decoy_secret, 4096);
        let mut nonce = [0u8; 18];
        if getrandom::fill(&mut nonce).is_err() {
            return Some(AuthStep::Fail(
                ReasonCode::UNSPECIFIED_ERROR,
                "no randomness for a nonce".to_owned(),
            ));
        }
        let nonce = base64ct::Base64::encode_string(&nonce);
        Some(
            match ScramServer::start(mechanism, data, &nonce, lookup, decoy) {
                Ok((server, reply)) => {
                    AuthStep::Continue(Bytes::from(reply), Box::new(ScramExchange(server)))
                }
                Err(e) => AuthStep::Fail(ReasonCode::NOT_AUTHORIZED, e.to_string()),
            },
        )
    }
}

/// A SCRAM exchange between the server-first and the client-final message.
#[derive(Debug)]
struct ScramExchange(ScramServer);

impl AuthExchange for ScramExchange {
    fn step(self: Box<Self>, data: &[u8]) -> AuthStep {
        let user = self.0.user().to_owned();
        match self.0.finish(data) {
            Ok(server_final) => AuthStep::Success {
                data: Some(Bytes::from(server_final)),
                username: Some(user),
            },
            Err(e) => AuthStep::Fail(ReasonCode::NOT_AUTHORIZED, e.to_string()),
        }
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
                scram: None,
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

    fn finish_scram(sec: &FileSecurity, method: &str, user: &str, password: &[u8]) -> AuthStep {
        let m = Mechanism::from_name(method).unwrap();
        let first = format!("n,,n={user},r=clientnonce");
        let step = sec
            .start_enhanced(0, method, first.as_bytes())
            .expect("method offered");
        let AuthStep::Continue(server_first, exchange) = step else {
            panic!("{step:?}")
        };
        let server_first = String::from_utf8(server_first.to_vec()).unwrap();
        // Client side written from RFC 5802 §3.
        let (mut salt, mut iters, mut nonce) = (Vec::new(), 0, String::new());
        for f in server_first.split(',') {
            if let Some(v) = f.strip_prefix("s=") {
                salt = base64ct::Base64::decode_vec(v).unwrap();
            } else if let Some(v) = f.strip_prefix("i=") {
                iters = v.parse().unwrap();
            } else if let Some(v) = f.strip_prefix("r=") {
                nonce = v.to_owned();
            }
        }
        let cred = ScramCredential::from_password(m, password, &salt, iters);
        let without_proof = format!("c=biws,r={nonce}");
        let auth = format!("n={user},r=clientnonce,{server_first},{without_proof}");
        let client_key = {
            use hmac::Mac;
            let mut salted = vec![0u8; if m == Mechanism::Sha256 { 32 } else { 64 }];
            match m {
                Mechanism::Sha256 => {
                    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, &salt, iters, &mut salted)
                }
                Mechanism::Sha512 => {
                    pbkdf2::pbkdf2_hmac::<sha2::Sha512>(password, &salt, iters, &mut salted)
                }
            }
            match m {
                Mechanism::Sha256 => {
                    let mut h = hmac::Hmac::<sha2::Sha256>::new_from_slice(&salted).unwrap();
                    h.update(b"Client Key");
                    h.finalize().into_bytes().to_vec()
                }
                Mechanism::Sha512 => {
                    let mut h = hmac::Hmac::<sha2::Sha512>::new_from_slice(&salted).unwrap();
                    h.update(b"Client Key");
                    h.finalize().into_bytes().to_vec()
                }
            }
        };
        let sig = {
            use hmac::Mac;
            match m {
                Mechanism::Sha256 => {
                    let mut h =
                        hmac::Hmac::<sha2::Sha256>::new_from_slice(&cred.stored_key).unwrap();
                    h.update(auth.as_bytes());
                    h.finalize().into_bytes().to_vec()
                }
                Mechanism::Sha512 => {
                    let mut h =
                        hmac::Hmac::<sha2::Sha512>::new_from_slice(&cred.stored_key).unwrap();
                    h.update(auth.as_bytes());
                    h.finalize().into_bytes().to_vec()
                }
            }
        };
        let proof: Vec<u8> = client_key.iter().zip(&sig).map(|(a, b)| a ^ b).collect();
        let fin = format!(
            "{without_proof},p={}",
            base64ct::Base64::encode_string(&proof)
        );
        exchange.step(fin.as_bytes())
    }

    #[test]
    fn scram_from_the_scram_file_and_from_mosquitto_pbkdf2_entries() {
        let line = crate::password_line("bob", b"secret", crate::HashKind::default()).unwrap();
        let (pw, _) = PasswordFile::parse(&line);
        let mut scram = ScramFile::default();
        scram.insert(
            "alice",
            ScramCredential::from_password(Mechanism::Sha256, b"wonder", b"0123456789abcdef", 4096),
        );
        let sec = FileSecurity::new(vec![ListenerRules {
            allow_anonymous: false,
            passwords: Some(Arc::new(pw)),
            acl: None,
            scram: Some(Arc::new(scram)),
        }]);
        assert!(matches!(
            finish_scram(&sec, "SCRAM-SHA-256", "alice", b"wonder"),
            AuthStep::Success { username: Some(u), .. } if u == "alice"
        ));
        assert!(matches!(
            finish_scram(&sec, "SCRAM-SHA-256", "alice", b"nope"),
            AuthStep::Fail(..)
        ));
        // A `$7$` entry written for Mosquitto serves SCRAM-SHA-512 as is.
        assert!(matches!(
            finish_scram(&sec, "SCRAM-SHA-512", "bob", b"secret"),
            AuthStep::Success { username: Some(u), .. } if u == "bob"
        ));
        assert!(matches!(
            finish_scram(&sec, "SCRAM-SHA-512", "bob", b"wrong"),
            AuthStep::Fail(..)
        ));
        assert!(matches!(
            finish_scram(&sec, "SCRAM-SHA-256", "bob", b"secret"),
            AuthStep::Fail(..)
        ));
        assert!(sec.start_enhanced(0, "PLAIN", b"x").is_none());
    }

    #[test]
    fn acl_applies_per_listener_and_reload_replaces_it() {
        let acl = AclFile::parse("user bob\ntopic readwrite bob/#\n").unwrap();
        let sec = FileSecurity::new(vec![ListenerRules {
            allow_anonymous: true,
            passwords: None,
            acl: Some(Arc::new(acl)),
            scram: None,
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
