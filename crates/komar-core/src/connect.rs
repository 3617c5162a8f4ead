//! Accepting a CONNECT (§3.1.4): client identifier rules, keep alive
//! limits, finding or creating the session, taking over a connected client,
//! and the CONNACK that answers. Authentication has already happened; the
//! server passes the authenticated user name in.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use komar_proto::{
    Auth, AuthProperties, ConnAck, ConnAckProperties, Connect, Packet, ProtocolVersion, QoS,
    ReasonCode,
};

use crate::auth::{AuthExchange, AuthStep, ClientIdentity};
use crate::broker::Broker;
use crate::config::ListenerSettings;
use crate::connection::{Connection, WillSpec};
use crate::persist::{PersistOp, Ticket};
use crate::session::{Session, NEVER_EXPIRES};

/// A CONNECT that passed authentication.
#[derive(Debug)]
pub struct ConnectRequest {
    /// The decoded packet.
    pub connect: Connect,
    /// The authenticated user name (from CONNECT, or a certificate).
    pub username: Option<Arc<str>>,
    /// Settings of the listener the client came through.
    pub listener: Arc<ListenerSettings>,
    /// Index of that listener.
    pub listener_index: usize,
}

/// The answer to a CONNECT.
#[derive(Debug)]
pub enum ConnectOutcome {
    /// Accepted: send the CONNACK, then drive the connection.
    Accepted(Box<Connection>, ConnAck),
    /// Refused: send the CONNACK and close.
    Refused(ConnAck),
    /// Enhanced authentication goes on (§4.12): send this AUTH, read the
    /// client's next packet and give it to [`PendingConnect::resume`].
    Auth(Box<PendingConnect>, Auth),
}

/// A CONNECT waiting for the client's next AUTH packet.
#[derive(Debug)]
pub struct PendingConnect {
    req: ConnectRequest,
    method: String,
    exchange: Box<dyn AuthExchange>,
}

impl PendingConnect {
    /// Continue with the client's packet, which must be AUTH "Continue
    /// authentication" with the same method; anything else ends the
    /// connection attempt (Protocol Error) [MQTT-4.12.0-2].
    pub fn resume(
        self: Box<Self>,
        broker: &Arc<Broker>,
        packet: Packet,
        now: Instant,
    ) -> ConnectOutcome {
        let PendingConnect {
            req,
            method,
            exchange,
        } = *self;
        match packet {
            Packet::Auth(a)
                if a.reason_code == ReasonCode::CONTINUE_AUTHENTICATION
                    && a.properties.authentication_method.as_deref() == Some(method.as_str()) =>
            {
                let data = a.properties.authentication_data.unwrap_or_default();
                let step = exchange.step(&data);
                broker.continue_auth(req, method, step, now)
            }
            _ => refuse(ReasonCode::PROTOCOL_ERROR),
        }
    }
}

/// An AUTH packet carrying `method` and `data`.
pub(crate) fn auth_packet(
    code: ReasonCode,
    method: &str,
    data: Option<Bytes>,
    reason: Option<String>,
) -> Auth {
    Auth {
        reason_code: code,
        properties: AuthProperties {
            authentication_method: Some(method.to_owned()),
            authentication_data: data,
            reason_string: reason,
            ..AuthProperties::default()
        },
    }
}

fn refuse(code: ReasonCode) -> ConnectOutcome {
    ConnectOutcome::Refused(ConnAck {
        session_present: false,
        reason_code: code,
        properties: ConnAckProperties::default(),
    })
}

impl Broker {
    /// Accept or refuse a CONNECT at `now` (possibly after an enhanced
    /// authentication exchange, when CONNECT names a method).
    pub fn connect(self: &Arc<Self>, req: ConnectRequest, now: Instant) -> ConnectOutcome {
        let enhanced = match (
            &req.connect.properties.authentication_method,
            req.connect.protocol.is_v5(),
        ) {
            (Some(method), true) => Some(method.clone()),
            _ => None,
        };
        match enhanced {
            None => self.attach_client(req, None, now),
            Some(method) => {
                let data = req
                    .connect
                    .properties
                    .authentication_data
                    .clone()
                    .unwrap_or_default();
                match self
                    .authenticator
                    .start_enhanced(req.listener_index, &method, &data)
                {
                    // [MQTT-4.12.0-4] an unsupported method gets 0x8C.
                    None => refuse(ReasonCode::BAD_AUTHENTICATION_METHOD),
                    Some(step) => self.continue_auth(req, method, step, now),
                }
            }
        }
    }

    fn continue_auth(
        self: &Arc<Self>,
        mut req: ConnectRequest,
        method: String,
        step: AuthStep,
        now: Instant,
    ) -> ConnectOutcome {
        match step {
            AuthStep::Continue(data, exchange) => {
                let auth = auth_packet(
                    ReasonCode::CONTINUE_AUTHENTICATION,
                    &method,
                    Some(data),
                    None,
                );
                ConnectOutcome::Auth(
                    Box::new(PendingConnect {
                        req,
                        method,
                        exchange,
                    }),
                    auth,
                )
            }
            AuthStep::Success { data, username } => {
                if let Some(u) = username {
                    req.username = Some(Arc::from(u));
                }
                self.attach_client(req, Some((method, data)), now)
            }
            AuthStep::Fail(code, text) => {
                tracing::info!(target: "komar::notice", "Client {} failed enhanced authentication: {text}", req.connect.client_id);
                refuse(code)
            }
        }
    }

    /// The CONNECT is authenticated: apply the client id, keep alive and
    /// redirect rules, attach the session and build the CONNACK.
    fn attach_client(
        self: &Arc<Self>,
        req: ConnectRequest,
        auth: Option<(String, Option<Bytes>)>,
        now: Instant,
    ) -> ConnectOutcome {
        let c = &req.connect;
        let v = c.protocol;
        let config = &self.config;
        let mut props = ConnAckProperties::default();
        if !req.listener.accept_versions.contains(&v) {
            return refuse(ReasonCode::UNSUPPORTED_PROTOCOL_VERSION);
        }
        // A will the server could not publish as asked: 5.0 clients are
        // refused [MQTT-3.2.2-12] [MQTT-3.2.2-13]; 3.x clients, who cannot
        // be told why, get the will within the limits.
        if let (Some(w), true) = (&c.will, v.is_v5()) {
            if w.retain && !config.retain_available {
                return refuse(ReasonCode::RETAIN_NOT_SUPPORTED);
            }
            if w.qos > req.listener.max_qos {
                return refuse(ReasonCode::QOS_NOT_SUPPORTED);
            }
        }
        // Server redirection (§4.11): 5.0 clients are told where to go; 3.x
        // clients, who cannot be, are refused as "server unavailable".
        if let Some(r) = self.redirect() {
            if !v.is_v5() {
                return refuse(ReasonCode::SERVER_UNAVAILABLE);
            }
            return ConnectOutcome::Refused(ConnAck {
                session_present: false,
                reason_code: r.code(),
                properties: ConnAckProperties {
                    server_reference: Some(r.reference),
                    ..ConnAckProperties::default()
                },
            });
        }

        let mut client_id = c.client_id.clone();
        if req.listener.use_username_as_clientid {
            match &req.username {
                Some(u) => client_id = u.to_string(),
                None => return refuse(ReasonCode::NOT_AUTHORIZED),
            }
        }
        if client_id.is_empty() {
            // [MQTT-3.1.3-8] 3.1.1: an empty id needs a clean session; 3.1
            // has no empty ids; 5.0 gets an assigned one [MQTT-3.2.2-16].
            let allowed = req.listener.allow_zero_length_clientid
                && match v {
                    ProtocolVersion::V31 => false,
                    ProtocolVersion::V311 => c.clean_start,
                    ProtocolVersion::V5 => true,
                };
            if !allowed {
                return refuse(ReasonCode::CLIENT_IDENTIFIER_NOT_VALID);
            }
            client_id = self.assign_client_id(&req.listener.auto_id_prefix);
            if v.is_v5() {
                props.assigned_client_identifier = Some(client_id.clone());
            }
        }
        if !config.clientid_prefixes.is_empty()
            && !config
                .clientid_prefixes
                .iter()
                .any(|p| client_id.starts_with(p.as_str()))
        {
            return refuse(ReasonCode::NOT_AUTHORIZED);
        }

        // Keep alive above `max_keepalive` (or 0 when a maximum is set):
        // 5.0 is told the server's value; 3.x is refused, as Mosquitto does.
        let mut keep_alive = c.keep_alive;
        let max_ka = config.max_keepalive;
        if max_ka != 0 && max_ka != u16::MAX && (keep_alive > max_ka || keep_alive == 0) {
            if v.is_v5() {
                keep_alive = max_ka;
                props.server_keep_alive = Some(max_ka);
            } else {
                return refuse(ReasonCode::CLIENT_IDENTIFIER_NOT_VALID);
            }
        }

        let expiry = if v.is_v5() {
            c.properties.session_expiry_interval.unwrap_or(0)
        } else if c.clean_start {
            0
        } else {
            NEVER_EXPIRES
        };

        let client_id: Arc<str> = Arc::from(client_id);
        let gen = self.new_generation();
        let (session, session_present, ended) =
            self.attach(&client_id, v, c.clean_start, expiry, gen, &req.username);
        if let Some((old, ticket)) = ended {
            self.end_session(&old, now, ticket);
        }

        // CONNACK properties describing this server's limits (§3.2.2.3).
        if v.is_v5() {
            if let Some((method, data)) = &auth {
                props.authentication_method = Some(method.clone());
                props.authentication_data = data.clone();
            }
            // Response Information when the client asks for it [MQTT-3.1.2-28].
            if c.properties.request_response_information == Some(1) {
                if let Some(prefix) = &config.response_information_prefix {
                    props.response_information = Some(format!("{prefix}{client_id}"));
                }
            }
            if req.listener.max_qos < QoS::ExactlyOnce {
                props.maximum_qos = Some(req.listener.max_qos.as_u8());
            }
            if !config.retain_available {
                props.retain_available = Some(0);
            }
            if config.max_packet_size > 0 {
                props.maximum_packet_size = u32::try_from(config.max_packet_size).ok();
            }
            if req.listener.max_topic_alias > 0 {
                props.topic_alias_maximum = Some(req.listener.max_topic_alias);
            }
            if config.max_inflight_messages > 0 && config.max_inflight_messages < u16::MAX {
                props.receive_maximum = Some(config.max_inflight_messages);
            }
        }

        let will = c.will.as_ref().map(|w| {
            let mut spec = WillSpec::from_connect(w, &req.listener);
            spec.limit(req.listener.max_qos, config.retain_available);
            Box::new(spec)
        });
        let identity = Arc::new(ClientIdentity {
            client_id: client_id.clone(),
            username: req.username.clone(),
            listener: req.listener_index,
            // Copied: the decoded password is a view into the connection's
            // read buffer, and holding it would keep that whole buffer
            // (8 KB) alive for as long as the client stays connected.
            password: c.password.as_deref().map(|p| crate::auth::Secret(p.into())),
        });
        session.lock().identity = Some(identity.clone());
        self.stats().client_connected();
        self.stats()
            .connections_total
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let conn = Connection::new(
            self.clone(),
            session,
            gen,
            identity,
            req.listener,
            c,
            keep_alive,
            expiry,
            will,
            now,
        );
        ConnectOutcome::Accepted(
            Box::new(conn),
            ConnAck {
                // [MQTT-3.2.2-2] / [MQTT-3.2.2-3].
                session_present,
                reason_code: ReasonCode::SUCCESS,
                properties: props,
            },
        )
    }

    /// Find or create the session of `client_id` and make connection `gen`
    /// its owner. Returns the session, whether it existed (session present),
    /// and a session that clean start ended with the ticket that recorded
    /// its end (for the caller to clean up outside the table lock).
    ///
    /// Storage: a session is recorded when its expiry is not 0 (or it was
    /// recorded already); the old session of a clean start is deleted
    /// first. Tickets are taken under the session locks, so anything a
    /// publisher recorded for the old session comes before its deletion.
    #[allow(clippy::type_complexity)]
    fn attach(
        &self,
        client_id: &Arc<str>,
        version: ProtocolVersion,
        clean_start: bool,
        expiry: u32,
        gen: std::num::NonZeroU64,
        username: &Option<Arc<str>>,
    ) -> (Arc<Session>, bool, Option<(Arc<Session>, Option<Ticket>)>) {
        let limits = self.queue_limits();
        let mut table = self.shard(client_id).lock();
        let existing = table.get(client_id).cloned();
        let mut ended = None;
        let (session, present) = match existing {
            Some(old) if !clean_start => (old, true),
            other => {
                if let Some(old) = other {
                    // Clean start: the old session ends [MQTT-3.1.2-4]. Mark it
                    // owned by the new connection so its old connection, if
                    // any, sees it was taken over and leaves it alone.
                    let (waker, ticket) = {
                        let mut s = old.lock();
                        s.owner = Some(gen);
                        s.epoch += 1;
                        let mut ticket = self.ticket_for(&mut s);
                        if let Some(t) = ticket.as_mut() {
                            t.push(PersistOp::DeleteSession {
                                client_id: client_id.clone(),
                            });
                        }
                        s.persisted = false;
                        (s.waker.take(), ticket)
                    };
                    old.set_online(false);
                    if let Some(w) = waker {
                        w.wake();
                    }
                    ended = Some((old, ticket));
                }
                let s = Arc::new(Session::new(
                    self.new_session_id(),
                    client_id.clone(),
                    version,
                    limits.clone(),
                ));
                table.insert(s.clone());
                (s, false)
            }
        };
        let (kick, wakers) = {
            let mut s = session.lock();
            let kick = if s.owner.is_some() {
                s.waker.take()
            } else {
                None
            };
            s.owner = Some(gen);
            s.version = version;
            s.limits = limits;
            s.expiry_interval = expiry;
            s.epoch += 1;
            // [MQTT-3.1.3-9] a new connection cancels a delayed will.
            let cancelled_will = s.pending_will.take().is_some();
            if expiry != 0 {
                s.persisted = self.store().is_some();
            }
            if let Some(t) = self.ticket_for(&mut s).as_mut() {
                t.push(PersistOp::PutSession {
                    client_id: client_id.clone(),
                    version,
                    expiry_interval: expiry,
                    expires_at: None,
                    username: username.clone(),
                });
                if cancelled_will {
                    t.push(PersistOp::DeleteWill {
                        client_id: client_id.clone(),
                    });
                }
            }
            (kick, s.queue.take_all_room_waiters())
        };
        session.set_online(true);
        drop(table);
        // Wake the connection being taken over [MQTT-3.1.4-3], and
        // publishers waiting on the old connection.
        if let Some(w) = kick {
            w.wake();
        }
        for w in wakers {
            w.wake();
        }
        (session, present, ended)
    }
}
