//! One connected client's protocol state machine, sans IO: the server feeds
//! it decoded packets and the time, and takes bytes to write from its
//! [`OutBuf`]. It owns the rules of MQTT after CONNECT — acknowledgement
//! flows for QoS 1 and 2 both ways, topic aliases, keep alive, subscribe
//! and unsubscribe, will and session hand-back at the end.
//!
//! When the connection is dropped, its session is detached (RAII): the
//! will is published or scheduled and the session expires or stays, so no
//! exit path of the server can leak a session as "connected".
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

use std::num::NonZeroU32;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use komar_proto::{
    encode, AckProperties, Disconnect, LastWill, Packet, PacketId, ProtocolVersion, PubResp,
    Publish, PublishHead, PublishProperties, QoS, QosPid, ReasonCode, SubAck, Subscribe,
    TopicFilter, TopicName, UnsubAck, Unsubscribe,
};

use crate::auth::ClientIdentity;
use crate::broker::{Broker, Subscriber};
use crate::config::ListenerSettings;
use crate::message::{Delivery, Message, Origin, SubIds};
use crate::outbuf::{OutBuf, ZERO_COPY_THRESHOLD};
use crate::session::inflight::OutState;
use crate::session::{Session, SessionInner, SubEntry, NEVER_EXPIRES};
use crate::stats::LocalStats;

/// Why a connection ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The client sent DISCONNECT with this reason code.
    ClientDisconnect(ReasonCode),
    /// The client broke the protocol; v5 clients were sent this code.
    ProtocolError(ReasonCode),
    /// Nothing arrived within 1.5 × keep alive [MQTT-3.1.2-22].
    KeepAliveTimeout,
    /// Another connection took the client id [MQTT-3.1.4-3].
    TakenOver,
    /// The broker is shutting down.
    ServerShutdown,
    /// The broker closed the connection (e.g. its login was revoked on
    /// reload); v5 clients get this code.
    Administrative(ReasonCode),
    /// The network connection failed or was closed.
    ConnectionLost,
}

impl CloseReason {
    /// The DISCONNECT reason code the server sends to a v5 client, if the
    /// server is the one closing.
    pub fn server_disconnect_code(self) -> Option<ReasonCode> {
        match self {
            CloseReason::ProtocolError(rc) => Some(rc),
            CloseReason::KeepAliveTimeout => Some(ReasonCode::KEEP_ALIVE_TIMEOUT),
            CloseReason::TakenOver => Some(ReasonCode::SESSION_TAKEN_OVER),
            CloseReason::ServerShutdown => Some(ReasonCode::SERVER_SHUTTING_DOWN),
            CloseReason::Administrative(rc) => Some(rc),
            CloseReason::ClientDisconnect(_) | CloseReason::ConnectionLost => None,
        }
    }

    /// Whether the will is published: not after DISCONNECT 0x00
    /// [MQTT-3.1.2-10], and not when the broker itself shuts down.
    fn publishes_will(self) -> bool {
        match self {
            CloseReason::ClientDisconnect(rc) => rc == ReasonCode::DISCONNECT_WITH_WILL_MESSAGE,
            CloseReason::ServerShutdown => false,
            _ => true,
        }
    }
}

/// The connection must close; the reason is in [`Connection::close_reason`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

/// A will registered by CONNECT, ready to publish.
#[derive(Debug, Clone)]
pub struct WillSpec {
    topic: TopicName,
    payload: Bytes,
    qos: QoS,
    retain: bool,
    properties: PublishProperties,
    delay: u32,
}

impl WillSpec {
    pub(crate) fn from_connect(w: &LastWill, listener: &ListenerSettings) -> WillSpec {
        let p = &w.properties;
        WillSpec {
            topic: mount(listener, &w.topic),
            payload: w.payload.clone(),
            qos: w.qos,
            retain: w.retain,
            properties: PublishProperties {
                payload_format_indicator: p.payload_format_indicator,
                message_expiry_interval: p.message_expiry_interval,
                content_type: p.content_type.clone(),
                response_topic: p.response_topic.clone(),
                correlation_data: p.correlation_data.clone(),
                user_properties: p.user_properties.clone(),
                ..Default::default()
            },
            delay: p.will_delay_interval.unwrap_or(0),
        }
    }

    fn into_message(self, origin: Origin, now: Instant) -> Arc<Message> {
        Arc::new(
            Message {
                topic: self.topic,
                payload: Bytes::copy_from_slice(&self.payload),
                qos: self.qos,
                retain: self.retain,
                properties: self.properties,
                expires_at: None,
                origin,
            }
            .with_expiry_from_properties(now),
        )
    }
}

/// Prefix `topic` with the listener's mount point.
fn mount(listener: &ListenerSettings, topic: &TopicName) -> TopicName {
    match &listener.mount_point {
        Some(m) => TopicName::new(&format!("{m}{topic}")).unwrap_or_else(|_| topic.clone()),
        None => topic.clone(),
    }
}

/// Bytes of output the connection produces before the server must write
/// some: bounds the write buffer of a connection, so a slow reader holds
/// its backlog in its (limited) queue, not in memory beside it.
pub const OUTPUT_HIGH_WATER: usize = 64 * 1024;

/// A connected client.
#[derive(Debug)]
pub struct Connection {
    broker: Arc<Broker>,
    session: Arc<Session>,
    gen: u64,
    identity: Arc<ClientIdentity>,
    version: ProtocolVersion,
    listener: Arc<ListenerSettings>,
    /// 1.5 × keep alive, or `None` when keep alive is 0.
    keep_alive: Option<Duration>,
    last_rx: Instant,
    last_now: Instant,
    /// Boxed: most clients have no will, and an idle connection should not
    /// pay ~200 bytes for one.
    will: Option<Box<WillSpec>>,
    /// Topic aliases the client set up (index = alias - 1).
    aliases_in: Vec<Option<TopicName>>,
    /// Outgoing QoS 1/2 messages allowed in flight.
    inflight_max: usize,
    /// The client's Maximum Packet Size (v5), or no limit.
    client_max_packet: usize,
    /// Incoming QoS 2 messages the client may have unreleased.
    receive_max: usize,
    session_expiry: u32,
    /// In-flight messages of a resumed session still to be re-sent.
    resend_pending: bool,
    congested: Vec<Arc<Session>>,
    close: Option<CloseReason>,
    stats: LocalStats,
}

impl Connection {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        broker: Arc<Broker>,
        session: Arc<Session>,
        gen: u64,
        identity: Arc<ClientIdentity>,
        listener: Arc<ListenerSettings>,
        connect: &komar_proto::Connect,
        keep_alive: u16,
        session_expiry: u32,
        will: Option<Box<WillSpec>>,
        now: Instant,
    ) -> Connection {
        let props = &connect.properties;
        let config_inflight = match broker.config().max_inflight_messages {
            0 => usize::from(u16::MAX),
            n => usize::from(n),
        };
        // [MQTT-3.3.4-9] never more in flight than the client's Receive Maximum.
        let client_receive_max = usize::from(props.receive_maximum.unwrap_or(u16::MAX));
        let receive_max = match broker.config().max_inflight_messages {
            0 => usize::from(u16::MAX),
            n => usize::from(n),
        };
        Connection {
            aliases_in: vec![None; usize::from(listener.max_topic_alias)],
            inflight_max: config_inflight.min(client_receive_max),
            client_max_packet: props.maximum_packet_size.map_or(usize::MAX, |m| m as usize),
            receive_max,
            // [MQTT-3.1.2-22] the server allows 1.5 × keep alive.
            keep_alive: (keep_alive > 0)
                .then(|| Duration::from_millis(u64::from(keep_alive) * 1500)),
            version: connect.protocol,
            broker,
            session,
            gen,
            identity,
            listener,
            last_rx: now,
            last_now: now,
            will,
            session_expiry,
            resend_pending: true,
            congested: Vec::new(),
            close: None,
            stats: LocalStats::default(),
        }
    }

    /// The client identifier (possibly assigned).
    pub fn client_id(&self) -> &Arc<str> {
        &self.identity.client_id
    }

    /// The protocol version the client speaks.
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// Why the connection is closing, once it is.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.close
    }

    /// Count bytes read from the network (for `$SYS`).
    pub fn count_bytes_received(&mut self, n: usize) {
        self.stats.bytes_received += n as u64;
    }

    /// Count bytes written to the network (for `$SYS`).
    pub fn count_bytes_sent(&mut self, n: usize) {
        self.stats.bytes_sent += n as u64;
    }

    /// When the keep alive runs out if nothing arrives.
    pub fn keepalive_deadline(&self) -> Option<Instant> {
        self.keep_alive.map(|k| self.last_rx + k)
    }

    /// Close with `reason` at `now`, queueing a DISCONNECT for v5 clients
    /// when the server is the one closing (§4.13).
    pub fn close(&mut self, reason: CloseReason, out: &mut OutBuf) -> Closed {
        if self.close.is_none() {
            self.close = Some(reason);
            if let (true, Some(code)) = (self.version.is_v5(), reason.server_disconnect_code()) {
                self.send(out, &Packet::Disconnect(Disconnect::new(code)));
            }
        }
        Closed
    }

    fn protocol_error(&mut self, out: &mut OutBuf, code: ReasonCode) -> Closed {
        self.close(CloseReason::ProtocolError(code), out)
    }

    /// Check the keep alive at `now`.
    ///
    /// # Errors
    /// [`Closed`] when nothing arrived for 1.5 × keep alive.
    pub fn handle_timeout(&mut self, out: &mut OutBuf, now: Instant) -> Result<(), Closed> {
        self.last_now = now;
        match self.keepalive_deadline() {
            Some(deadline) if now >= deadline => {
                Err(self.close(CloseReason::KeepAliveTimeout, out))
            }
            _ => Ok(()),
        }
    }

    fn send(&mut self, out: &mut OutBuf, p: &Packet) {
        let version = self.version;
        let r = out.write_with(|b| encode(p, version, b));
        if let Err(e) = r {
            tracing::warn!(error = %e, packet = p.name(), "could not encode packet");
        }
        self.stats.messages_sent += 1;
    }

    fn send_ack(
        &mut self,
        out: &mut OutBuf,
        kind: fn(PubResp) -> Packet,
        pid: PacketId,
        code: ReasonCode,
    ) {
        let mut r = PubResp::new(pid);
        if self.version.is_v5() {
            r.reason_code = code;
        }
        self.send(out, &kind(r));
    }

    /// Handle one packet from the client at `now`.
    ///
    /// # Errors
    /// [`Closed`] when the packet ends the connection (DISCONNECT, or a
    /// protocol violation — a DISCONNECT with the reason is then queued for
    /// v5 clients).
    pub fn handle_packet(
        &mut self,
        packet: Packet,
        out: &mut OutBuf,
        now: Instant,
    ) -> Result<(), Closed> {
        self.last_rx = now;
        self.last_now = now;
        self.stats.messages_received += 1;
        match packet {
            Packet::Publish(p) => self.handle_publish(out, p, now),
            Packet::PubAck(r) => {
                self.handle_puback(r.packet_id);
                Ok(())
            }
            Packet::PubRec(r) => {
                self.handle_pubrec(out, r);
                Ok(())
            }
            Packet::PubRel(r) => {
                self.handle_pubrel(out, r.packet_id);
                Ok(())
            }
            Packet::PubComp(r) => {
                self.handle_pubcomp(r.packet_id);
                Ok(())
            }
            Packet::Subscribe(s) => self.handle_subscribe(out, s, now),
            Packet::Unsubscribe(u) => self.handle_unsubscribe(out, u),
            Packet::PingReq => {
                self.send(out, &Packet::PingResp);
                Ok(())
            }
            Packet::Disconnect(d) => Err(self.handle_disconnect(out, d)),
            // [MQTT-3.1.0-2] a second CONNECT is a protocol violation.
            Packet::Connect(_) => Err(self.protocol_error(out, ReasonCode::PROTOCOL_ERROR)),
            // Enhanced authentication is not offered: AUTH without an
            // authentication method in CONNECT is a Protocol Error (§4.12).
            Packet::Auth(_) => Err(self.protocol_error(out, ReasonCode::PROTOCOL_ERROR)),
            // Packets only a server sends.
            Packet::ConnAck(_) | Packet::SubAck(_) | Packet::UnsubAck(_) | Packet::PingResp => {
                Err(self.protocol_error(out, ReasonCode::PROTOCOL_ERROR))
            }
        }
    }

    /// Close because bytes from the client could not be decoded.
    pub fn handle_decode_error(
        &mut self,
        err: &komar_proto::DecodeError,
        out: &mut OutBuf,
    ) -> Closed {
        self.protocol_error(out, err.reason_code())
    }

    fn handle_disconnect(&mut self, out: &mut OutBuf, d: Disconnect) -> Closed {
        if let Some(new_expiry) = d.properties.session_expiry_interval {
            // [MQTT-3.14.2-2] expiry 0 in CONNECT cannot become non-zero.
            if self.session_expiry == 0 && new_expiry != 0 {
                return self.protocol_error(out, ReasonCode::PROTOCOL_ERROR);
            }
            self.session_expiry = new_expiry;
            self.session.lock().expiry_interval = new_expiry;
        }
        self.close(CloseReason::ClientDisconnect(d.reason_code), out)
    }

    fn resolve_alias(&mut self, out: &mut OutBuf, p: &mut Publish) -> Result<(), Closed> {
        let Some(alias) = p.properties.topic_alias.take() else {
            return Ok(());
        };
        // [MQTT-3.3.2-9] [MQTT-3.3.2-10] alias 0 or above the maximum.
        let Some(slot) = usize::from(alias)
            .checked_sub(1)
            .and_then(|i| self.aliases_in.get_mut(i))
        else {
            return Err(self.protocol_error(out, ReasonCode::TOPIC_ALIAS_INVALID));
        };
        if p.topic.is_empty() {
            match slot {
                Some(t) => p.topic = t.clone(),
                // §3.3.2.3.4: an unknown alias is a Protocol Error.
                None => return Err(self.protocol_error(out, ReasonCode::PROTOCOL_ERROR)),
            }
        } else {
            *slot = Some(p.topic.clone());
        }
        Ok(())
    }

    fn handle_publish(
        &mut self,
        out: &mut OutBuf,
        mut p: Publish,
        now: Instant,
    ) -> Result<(), Closed> {
        self.stats.publish_received += 1;
        self.stats.publish_bytes_received += p.payload.len() as u64;
        self.resolve_alias(out, &mut p)?;
        let qos = p.qos_pid.qos();
        // [MQTT-3.2.2-11] QoS above Maximum QoS; [MQTT-3.2.2-14] retain when
        // not available.
        if qos > self.listener.max_qos {
            return Err(self.protocol_error(out, ReasonCode::QOS_NOT_SUPPORTED));
        }
        if p.retain && !self.broker.config().retain_available {
            return Err(self.protocol_error(out, ReasonCode::RETAIN_NOT_SUPPORTED));
        }
        // [MQTT-3.3.4-6] a client never sends subscription identifiers.
        if !p.properties.subscription_identifiers.is_empty() {
            return Err(self.protocol_error(out, ReasonCode::PROTOCOL_ERROR));
        }
        if let QosPid::ExactlyOnce(pid) = p.qos_pid {
            let mut s = self.session.lock();
            if s.incoming_qos2.contains(&pid.get()) {
                // A re-send of a message already received: acknowledge
                // again, do not deliver twice [MQTT-4.3.3-10].
                drop(s);
                self.send_ack(out, Packet::PubRec, pid, ReasonCode::SUCCESS);
                return Ok(());
            }
            // [MQTT-3.3.4-7] more unacknowledged QoS 2 than the Receive
            // Maximum sent in CONNACK (5.0 only: 3.x has no such limit).
            if self.version.is_v5() && s.incoming_qos2.len() >= self.receive_max {
                drop(s);
                return Err(self.protocol_error(out, ReasonCode::RECEIVE_MAXIMUM_EXCEEDED));
            }
            s.incoming_qos2.insert(pid.get());
        }
        let qos_pid = p.qos_pid;
        let code = self.route_publish(p, now);
        match qos_pid {
            QosPid::AtMostOnce => {}
            QosPid::AtLeastOnce(pid) => self.send_ack(out, Packet::PubAck, pid, code),
            QosPid::ExactlyOnce(pid) => {
                if code.is_error() {
                    // A failed PUBREC ends the exchange (§4.3.3).
                    self.session.lock().incoming_qos2.remove(&pid.get());
                }
                self.send_ack(out, Packet::PubRec, pid, code)
            }
        }
        Ok(())
    }

    /// Authorise and route one publication; returns the reason code for
    /// the acknowledgement.
    fn route_publish(&mut self, p: Publish, now: Instant) -> ReasonCode {
        let limit = self.broker.config().message_size_limit;
        if limit > 0 && p.payload.len() > limit {
            tracing::info!(client_id = %self.identity.client_id, size = p.payload.len(), "dropped too large PUBLISH");
            self.stats.publish_dropped += 1;
            return ReasonCode::IMPLEMENTATION_SPECIFIC_ERROR;
        }
        // v5: a payload declared UTF-8 must be UTF-8 [MQTT-3.3.2-4].
        if p.properties.payload_format_indicator == Some(1)
            && std::str::from_utf8(&p.payload).is_err()
        {
            return ReasonCode::PAYLOAD_FORMAT_INVALID;
        }
        let topic = mount(&self.listener, &p.topic);
        if !crate::auth::dollar_topic_publishable(topic.as_str())
            || !self
                .broker
                .authorizer
                .can_publish(&self.identity, topic.as_str())
        {
            tracing::debug!(client_id = %self.identity.client_id, topic = %topic, "publish denied");
            return ReasonCode::NOT_AUTHORIZED;
        }
        // Copy the payload out of the read buffer so a small stored message
        // never pins the buffer it arrived in; large payloads arrive in a
        // buffer of their own and are kept as they are.
        let payload = if p.payload.len() >= ZERO_COPY_THRESHOLD {
            p.payload
        } else {
            Bytes::copy_from_slice(&p.payload)
        };
        let msg = Message {
            topic,
            payload,
            qos: p.qos_pid.qos(),
            retain: p.retain,
            properties: p.properties,
            expires_at: None,
            origin: Origin {
                session: Some(self.session.id()),
                client: Some(self.identity.clone()),
            },
        }
        .with_expiry_from_properties(now);
        let outcome = self.broker.publish(Arc::new(msg), now, &mut self.congested);
        if outcome.matched == 0 {
            ReasonCode::NO_MATCHING_SUBSCRIBERS
        } else {
            ReasonCode::SUCCESS
        }
    }

    fn handle_puback(&mut self, pid: PacketId) {
        let mut s = self.session.lock();
        if s.owner != Some(self.gen) {
            return;
        }
        if s.inflight
            .get_mut(pid)
            .is_some_and(|e| e.state == OutState::AwaitPubAck)
        {
            s.inflight.remove(pid);
        }
    }

    fn handle_pubrec(&mut self, out: &mut OutBuf, r: PubResp) {
        let pid = r.packet_id;
        let found = {
            let mut s = self.session.lock();
            if s.owner != Some(self.gen) {
                return;
            }
            match s.inflight.get_mut(pid) {
                Some(e) if e.state == OutState::AwaitPubRec && r.reason_code.is_error() => {
                    // The client refused the message: the exchange ends.
                    s.inflight.remove(pid);
                    return;
                }
                Some(e) if e.state != OutState::AwaitPubAck => {
                    e.state = OutState::AwaitPubComp;
                    true
                }
                _ => false,
            }
        };
        let code = if found {
            ReasonCode::SUCCESS
        } else {
            ReasonCode::PACKET_IDENTIFIER_NOT_FOUND
        };
        self.send_ack(out, Packet::PubRel, pid, code);
    }

    fn handle_pubrel(&mut self, out: &mut OutBuf, pid: PacketId) {
        let found = self.session.lock().incoming_qos2.remove(&pid.get());
        let code = if found {
            ReasonCode::SUCCESS
        } else {
            ReasonCode::PACKET_IDENTIFIER_NOT_FOUND
        };
        self.send_ack(out, Packet::PubComp, pid, code);
    }

    fn handle_pubcomp(&mut self, pid: PacketId) {
        let mut s = self.session.lock();
        if s.owner != Some(self.gen) {
            return;
        }
        if s.inflight
            .get_mut(pid)
            .is_some_and(|e| e.state == OutState::AwaitPubComp)
        {
            s.inflight.remove(pid);
        }
    }

    fn handle_subscribe(
        &mut self,
        out: &mut OutBuf,
        sub: Subscribe,
        now: Instant,
    ) -> Result<(), Closed> {
        let sub_id = sub
            .properties
            .subscription_identifier
            .and_then(NonZeroU32::new);
        let mut codes = Vec::with_capacity(sub.filters.len());
        let mut retained: Vec<Delivery> = Vec::new();
        for (filter, mut options) in sub.filters {
            let filter = match &self.listener.mount_point {
                Some(m) => match mount_filter(m, &filter) {
                    Some(f) => f,
                    None => {
                        codes.push(ReasonCode::TOPIC_FILTER_INVALID);
                        continue;
                    }
                },
                None => filter,
            };
            if !self
                .broker
                .authorizer
                .can_subscribe(&self.identity, filter.as_str())
            {
                codes.push(ReasonCode::NOT_AUTHORIZED);
                continue;
            }
            // Grant at most the listener's Maximum QoS.
            options.qos = options.qos.min(self.listener.max_qos);
            let existed = self.broker.trie_insert(
                &filter,
                Subscriber {
                    session: self.session.clone(),
                    options,
                    id: sub_id,
                    identity: self.identity.clone(),
                },
            );
            {
                let mut s = self.session.lock();
                if s.owner != Some(self.gen) {
                    // Taken over meanwhile: undo, the session is not ours.
                    drop(s);
                    self.broker.trie_remove(&filter, self.session.id());
                    return Err(self.close(CloseReason::TakenOver, out));
                }
                s.subscriptions.insert(
                    filter.clone(),
                    SubEntry {
                        options,
                        id: sub_id,
                    },
                );
            }
            codes.push(ReasonCode(options.qos.as_u8()));
            // Mosquitto's `log_type subscribe` line: "<client> <qos> <filter>".
            tracing::info!(target: "komar::subscribe", "{} {} {}", self.identity.client_id, options.qos.as_u8(), filter);
            // Retained messages for the new subscription [MQTT-3.3.1-9];
            // never for shared subscriptions [MQTT-3.8.4-? §4.8.2], and per
            // Retain Handling [MQTT-3.3.1-10] [MQTT-3.3.1-11].
            use komar_proto::RetainHandling::*;
            let wanted = filter.shared().is_none()
                && match options.retain_handling {
                    SendAtSubscribe => true,
                    SendIfNew => !existed,
                    DoNotSend => false,
                };
            if wanted {
                let restricts = self.broker.authorizer.restricts();
                let check_source = restricts && self.broker.config().check_retain_source;
                for m in self.broker.retained_matching(filter.as_str(), now) {
                    if restricts
                        && !self
                            .broker
                            .authorizer
                            .can_receive(&self.identity, m.topic.as_str())
                    {
                        continue;
                    }
                    // `check_retain_source`: the publisher must still be
                    // allowed to publish there (its rights may have been
                    // revoked since), as Mosquitto checks.
                    if check_source {
                        if let Some(source) = &m.origin.client {
                            if !self.broker.authorizer.can_publish(source, m.topic.as_str()) {
                                continue;
                            }
                        }
                    }
                    retained.push(Delivery {
                        qos: m.qos.min(options.qos),
                        // [MQTT-3.3.1-8] retained messages keep RETAIN set.
                        retain: true,
                        sub_ids: sub_id.map_or(SubIds::None, SubIds::One),
                        msg: m,
                    });
                }
            }
        }
        self.send(
            out,
            &Packet::SubAck(SubAck {
                packet_id: sub.packet_id,
                properties: AckProperties::default(),
                reason_codes: codes,
            }),
        );
        if !retained.is_empty() {
            let mut s = self.session.lock();
            for d in retained {
                s.queue.push_back(d);
            }
        }
        Ok(())
    }

    fn handle_unsubscribe(&mut self, out: &mut OutBuf, u: Unsubscribe) -> Result<(), Closed> {
        let mut codes = Vec::with_capacity(u.filters.len());
        for filter in u.filters {
            let filter = match &self.listener.mount_point {
                Some(m) => mount_filter(m, &filter).unwrap_or(filter),
                None => filter,
            };
            let existed = self.session.lock().subscriptions.remove(&filter).is_some();
            tracing::info!(target: "komar::unsubscribe", "{} {}", self.identity.client_id, filter);
            self.broker.trie_remove(&filter, self.session.id());
            codes.push(if existed {
                ReasonCode::SUCCESS
            } else {
                ReasonCode::NO_SUBSCRIPTION_EXISTED
            });
        }
        self.send(
            out,
            &Packet::UnsubAck(UnsubAck {
                packet_id: u.packet_id,
                properties: AckProperties::default(),
                reason_codes: codes,
            }),
        );
        Ok(())
    }

    /// Ready when there is something to send, or the session was taken
    /// over; otherwise registers `cx` to be woken by the next push.
    pub fn poll_outbox(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut s = self.session.lock();
        if s.owner != Some(self.gen) || s.kick.is_some() || self.resend_pending || self.can_send(&s)
        {
            return Poll::Ready(());
        }
        match &s.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => s.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    fn can_send(&self, s: &SessionInner) -> bool {
        match s.queue.front() {
            None => false,
            Some(d) if d.qos == QoS::AtMostOnce => true,
            Some(_) => self.inflight_has_room(s),
        }
    }

    fn inflight_has_room(&self, s: &SessionInner) -> bool {
        let max_bytes = self.broker.config().max_inflight_bytes;
        s.inflight.len() < self.inflight_max && (max_bytes == 0 || s.inflight.bytes() < max_bytes)
    }

    /// Move queued messages into the output, up to [`OUTPUT_HIGH_WATER`]
    /// bytes of pending output and the in-flight window.
    ///
    /// # Errors
    /// [`Closed`] when the session was taken over by another connection.
    pub fn poll_transmit(&mut self, out: &mut OutBuf, now: Instant) -> Result<(), Closed> {
        self.last_now = now;
        let mut wake = Vec::new();
        {
            let session = self.session.clone();
            let mut s = session.lock();
            if s.owner != Some(self.gen) {
                drop(s);
                return Err(self.close(CloseReason::TakenOver, out));
            }
            if let Some(code) = s.kick.take() {
                drop(s);
                return Err(self.close(CloseReason::Administrative(code), out));
            }
            if self.resend_pending {
                self.resend_pending = false;
                self.resend_inflight(out, &mut s, now);
            }
            let limits = s.limits;
            while out.len() < OUTPUT_HIGH_WATER && self.can_send(&s) {
                let Some(d) = s.queue.pop(&limits) else { break };
                if d.msg.is_expired(now) {
                    self.stats.publish_dropped += 1;
                    continue;
                }
                let qos_pid = match d.qos {
                    QoS::AtMostOnce => QosPid::AtMostOnce,
                    qos => match s.inflight.alloc_id() {
                        Some(pid) => QosPid::new(qos, pid),
                        None => {
                            s.queue.push_front(d);
                            break;
                        }
                    },
                };
                if self.write_publish(out, &d, qos_pid, false, now) {
                    if let Some(pid) = qos_pid.packet_id() {
                        let state = if d.qos == QoS::AtLeastOnce {
                            OutState::AwaitPubAck
                        } else {
                            OutState::AwaitPubRec
                        };
                        s.inflight.insert(pid, d, state);
                    }
                }
            }
            wake.extend(s.queue.take_room_waiters(&limits));
        }
        for w in wake {
            w.wake();
        }
        self.broker.stats().fold(&mut self.stats);
        Ok(())
    }

    /// Re-send everything in flight, in order, after the session resumed
    /// [MQTT-4.4.0-1]: PUBLISH with DUP set, or PUBREL.
    fn resend_inflight(&mut self, out: &mut OutBuf, s: &mut SessionInner, now: Instant) {
        if s.inflight.is_empty() {
            return;
        }
        for (pid, e) in s.inflight.in_send_order() {
            match e.state {
                OutState::AwaitPubComp => {
                    self.send_ack(out, Packet::PubRel, pid, ReasonCode::SUCCESS)
                }
                _ => {
                    let qos_pid = QosPid::new(e.delivery.qos, pid);
                    if !self.write_publish(out, &e.delivery, qos_pid, true, now) {
                        s.inflight.remove(pid);
                    }
                }
            }
        }
    }

    /// Encode one delivery. Returns false if it was not sent because it
    /// exceeds the client's Maximum Packet Size [MQTT-3.1.2-25] (then it is
    /// dropped, as the specification requires).
    fn write_publish(
        &mut self,
        out: &mut OutBuf,
        d: &Delivery,
        qos_pid: QosPid,
        dup: bool,
        now: Instant,
    ) -> bool {
        let m = &d.msg;
        let topic = match &self.listener.mount_point {
            // A client of a mounted listener sees its topics without the
            // mount point.
            Some(mp) => m
                .topic
                .as_str()
                .strip_prefix(&**mp)
                .filter(|t| !t.is_empty())
                .unwrap_or(m.topic.as_str()),
            None => m.topic.as_str(),
        };
        let v5 = self.version.is_v5();
        let empty = PublishProperties::default();
        let adjusted;
        let properties = if !v5 {
            &empty
        } else if m.expires_at.is_none() && d.sub_ids == SubIds::None {
            &m.properties
        } else {
            let mut p = m.properties.clone();
            // [MQTT-3.3.2-6] the remaining lifetime, not the original one.
            p.message_expiry_interval = m.remaining_expiry(now);
            p.subscription_identifiers = d.sub_ids.to_vec();
            adjusted = p;
            &adjusted
        };
        let head = PublishHead {
            dup,
            qos_pid,
            retain: d.retain,
            topic,
            properties,
            payload_len: m.payload.len(),
        };
        if head.packet_len(self.version) > self.client_max_packet {
            tracing::debug!(client_id = %self.identity.client_id, "message larger than the client's maximum packet size dropped");
            self.stats.publish_dropped += 1;
            return false;
        }
        let version = self.version;
        let large = m.payload.len() >= ZERO_COPY_THRESHOLD;
        let r = out.write_with(|b| {
            head.encode(version, b)?;
            if !large {
                b.extend_from_slice(&m.payload);
            }
            Ok::<(), komar_proto::EncodeError>(())
        });
        if let Err(e) = r {
            tracing::warn!(error = %e, "could not encode PUBLISH");
            return false;
        }
        if large {
            out.push_chunk(m.payload.clone());
        }
        self.stats.messages_sent += 1;
        self.stats.publish_sent += 1;
        self.stats.publish_bytes_sent += m.payload.len() as u64;
        true
    }

    /// Move the recipients of this client's publications that are over
    /// their queue limit into `into`. While any is, the server should stop
    /// reading from this client until [`poll_room`] is ready (back-pressure;
    /// see `session::queue`).
    pub fn take_congested(&mut self, into: &mut Vec<Arc<Session>>) {
        into.append(&mut self.congested);
    }

    fn detach(&mut self) {
        let now = self.last_now;
        let reason = self.close.unwrap_or(CloseReason::ConnectionLost);
        let will = self.will.take().filter(|_| reason.publishes_will());
        let origin = Origin {
            session: Some(self.session.id()),
            client: Some(self.identity.clone()),
        };
        let broker = self.broker.clone();
        let mut will_now = None;
        let mut end = false;
        let mut wakers = Vec::new();
        {
            let mut table = broker.shard(self.session.client_id()).lock();
            let mut s = self.session.lock();
            if s.owner == Some(self.gen) {
                s.owner = None;
                self.session.set_online(false);
                s.waker = None;
                s.disconnected_at = Some(now);
                s.epoch += 1;
                wakers = s.queue.take_all_room_waiters();
                let expiry = s.expiry_interval;
                if expiry == 0 {
                    if table
                        .get(self.session.client_id())
                        .is_some_and(|c| Arc::ptr_eq(c, &self.session))
                    {
                        table.remove(self.session.client_id());
                    }
                    end = true;
                } else if let Some(at) = broker.expiry_deadline(expiry, now) {
                    broker.schedule(at, false, s.epoch, self.session.clone());
                }
                if let Some(w) = will {
                    // The will waits for its delay, but never beyond the end
                    // of the session [MQTT-3.1.2-8].
                    let delay = if expiry == NEVER_EXPIRES {
                        w.delay
                    } else {
                        w.delay.min(expiry)
                    };
                    let msg = w.into_message(origin, now);
                    if delay == 0 || end {
                        will_now = Some(msg);
                    } else {
                        s.pending_will = Some(msg);
                        broker.schedule(
                            now + Duration::from_secs(u64::from(delay)),
                            true,
                            s.epoch,
                            self.session.clone(),
                        );
                    }
                }
            } else if let Some(w) = will {
                // Taken over: the new connection cancels a delayed will
                // [MQTT-3.1.3-9]; an immediate one is published.
                if w.delay == 0 {
                    will_now = Some(w.into_message(origin, now));
                }
            }
        }
        for w in wakers {
            w.wake();
        }
        if end {
            broker.end_session(&self.session, now);
        }
        if let Some(w) = will_now {
            broker.publish_will(w, now);
        }
        broker.stats().fold(&mut self.stats);
        broker.stats().client_disconnected();
    }
}

/// Ready when every session in `congested` has room in its queue again
/// (ready ones are removed from the list).
pub fn poll_room(congested: &mut Vec<Arc<Session>>, cx: &mut Context<'_>) -> Poll<()> {
    congested.retain(|s| s.poll_room(cx).is_pending());
    if congested.is_empty() {
        Poll::Ready(())
    } else {
        Poll::Pending
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.detach();
    }
}

/// Prefix a filter with a mount point, keeping a `$share/group/` prefix in
/// front.
fn mount_filter(mount: &str, f: &TopicFilter) -> Option<TopicFilter> {
    let text = match f.shared() {
        Some((group, filter)) => format!("$share/{group}/{mount}{filter}"),
        None => format!("{mount}{f}"),
    };
    TopicFilter::new(&text).ok()
}
