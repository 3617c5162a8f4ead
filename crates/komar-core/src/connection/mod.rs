//! One connected client's protocol state machine, sans IO: the server feeds
//! it decoded packets and the time, and takes bytes to write from its
//! [`OutBuf`]. It owns the rules of MQTT after CONNECT — acknowledgement
//! flows for QoS 1 and 2 both ways, topic aliases, keep alive, subscribe
//! and unsubscribe, will and session hand-back at the end.
//!
//! When the connection is dropped, its session is detached (RAII; the
//! server detaches it earlier, as soon as the connection closed): the
//! will is published or scheduled and the session expires or stays, so no
//! exit path of the server can leak a session as "connected".
//!
//! Submodules: `inbound` (PUBLISH from the client, QoS 2 release),
//! `outbound` (deliveries to the client and their acknowledgements),
//! `subscribe` (SUBSCRIBE / UNSUBSCRIBE, retained on subscribe), `will`
//! (the will and the session hand-back at the end).
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
use std::task::{Context, Poll, Waker};
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
use crate::persist::{PersistOp, RouteCtx, Ticket};
use crate::session::inflight::OutState;
use crate::session::{Session, SessionInner, SubEntry, NEVER_EXPIRES};
use crate::stats::LocalStats;

mod alias;
mod inbound;
mod outbound;
mod reauth;
mod subscribe;
mod trace;
mod will;

pub use will::WillSpec;

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

/// Prefix `topic` with the listener's mount point.
fn mount(listener: &ListenerSettings, topic: TopicName) -> TopicName {
    match &listener.mount_point {
        Some(m) => TopicName::new(&format!("{m}{topic}")).unwrap_or(topic),
        None => topic,
    }
}

/// Bytes of output the connection produces before the server must write
/// some: bounds the write buffer of a connection, so a slow reader holds
/// its backlog in its (limited) queue, not in memory beside it.
pub const OUTPUT_HIGH_WATER: usize = 64 * 1024;

/// What few connections need (see `Connection::rare`).
#[derive(Debug, Default)]
struct Rare {
    /// The enhanced authentication method of CONNECT, for
    /// re-authentication (§4.12.1).
    auth_method: Option<String>,
    /// A re-authentication exchange in progress.
    reauth: Option<Box<dyn crate::auth::AuthExchange>>,
    /// Server Reference for the DISCONNECT of a redirect (v5).
    server_reference: Option<String>,
}

impl Connection {
    fn rare(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Box::default)
    }
}

/// A connected client.
#[derive(Debug)]
pub struct Connection {
    broker: Arc<Broker>,
    session: Arc<Session>,
    gen: std::num::NonZeroU64,
    identity: Arc<ClientIdentity>,
    version: ProtocolVersion,
    listener: Arc<ListenerSettings>,
    /// The keep alive in seconds (0: none); the client has 1.5 times
    /// that [MQTT-3.1.2-22].
    keep_alive: u16,
    last_rx: Instant,
    last_now: Instant,
    /// Boxed: most clients have no will, and an idle connection should not
    /// pay ~200 bytes for one.
    will: Option<Box<WillSpec>>,
    /// Topic aliases the broker set up towards the client (v5).
    aliases_out: Option<Box<alias::AliasesOut>>,
    /// State few connections need, kept out of line so an ordinary
    /// connection does not pay for it.
    rare: Option<Box<Rare>>,
    /// v5 Request Problem Information: reason strings and user properties
    /// are allowed on acknowledgements [MQTT-3.1.2-29].
    problem_info: bool,
    /// Topic aliases the client set up (index = alias - 1).
    aliases_in: Box<[Option<TopicName>]>,
    /// Outgoing QoS 1/2 messages allowed in flight (at most 65,535).
    inflight_max: u16,
    /// The client's Maximum Packet Size (v5), or `u32::MAX` (no limit:
    /// nothing is larger than 268,435,460 bytes).
    client_max_packet: u32,
    /// Incoming QoS 2 messages the client may have unreleased (at most
    /// 65,535).
    receive_max: u16,
    session_expiry: u32,
    /// In-flight messages of a resumed session still to be re-sent.
    resend_pending: bool,
    /// Recipients of this client's publications over their queue limit,
    /// until the server takes them (boxed: rare).
    #[allow(clippy::box_collection)]
    congested: Option<Box<Vec<Arc<Session>>>>,
    close: Option<CloseReason>,
    stats: LocalStats,
    /// The keep-alive alarm set in the session (broker clock, 0 = none).
    alarm_ms: u64,
    /// Whether [`Connection::detach`] ran.
    detached: bool,
    /// The armed alarm's waker is stale (see
    /// [`Connection::move_keepalive_alarm`]).
    alarm_moved: bool,
}

impl Connection {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        broker: Arc<Broker>,
        session: Arc<Session>,
        gen: std::num::NonZeroU64,
        identity: Arc<ClientIdentity>,
        listener: Arc<ListenerSettings>,
        connect: &komar_proto::Connect,
        keep_alive: u16,
        session_expiry: u32,
        will: Option<Box<WillSpec>>,
        now: Instant,
    ) -> Connection {
        let props = &connect.properties;
        let receive_max = match broker.config().max_inflight_messages {
            0 => u16::MAX,
            n => n,
        };
        // [MQTT-3.3.4-9] never more in flight than the client's Receive Maximum.
        let client_receive_max = props.receive_maximum.unwrap_or(u16::MAX);
        let alias_max = if connect.protocol.is_v5() {
            props
                .topic_alias_maximum
                .unwrap_or(0)
                .min(listener.max_topic_alias_broker)
        } else {
            0
        };
        Connection {
            aliases_out: alias::AliasesOut::new(alias_max),
            problem_info: props.request_problem_information != Some(0),
            rare: props.authentication_method.clone().map(|m| {
                Box::new(Rare {
                    auth_method: Some(m),
                    ..Rare::default()
                })
            }),
            aliases_in: Box::default(),
            inflight_max: receive_max.min(client_receive_max),
            client_max_packet: props.maximum_packet_size.unwrap_or(u32::MAX),
            receive_max,
            // [MQTT-3.1.2-22] the server allows 1.5 × keep alive.
            keep_alive,
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
            congested: None,
            close: None,
            stats: LocalStats::default(),
            alarm_ms: 0,
            detached: false,
            alarm_moved: false,
        }
    }

    /// The largest packet the client accepts, in bytes.
    fn client_max_packet(&self) -> usize {
        usize::try_from(self.client_max_packet).unwrap_or(usize::MAX)
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
        self.stats
            .add(self.broker.stats(), |s| &mut s.bytes_received, n);
    }

    /// Count bytes written to the network (for `$SYS`).
    pub fn count_bytes_sent(&mut self, n: usize) {
        self.stats
            .add(self.broker.stats(), |s| &mut s.bytes_sent, n);
    }

    /// When the keep alive runs out if nothing arrives.
    pub fn keepalive_deadline(&self) -> Option<Instant> {
        (self.keep_alive > 0)
            .then(|| self.last_rx + Duration::from_millis(u64::from(self.keep_alive) * 1500))
    }

    /// Arm the keep-alive alarm, if the client has a keep-alive and no
    /// alarm is armed: the broker's clock wakes `waker` once the deadline
    /// as it stands now has passed (see `keepalive`). Call before waiting.
    pub fn arm_keepalive(&mut self, waker: &Waker) {
        if self.alarm_ms != 0 {
            if std::mem::take(&mut self.alarm_moved) {
                self.session.set_alarm(self.gen, self.alarm_ms, waker);
            }
            return;
        }
        self.alarm_moved = false;
        if let Some(deadline) = self.keepalive_deadline() {
            self.alarm_ms = self.broker.clock_ms(deadline);
            self.session.set_alarm(self.gen, self.alarm_ms, waker);
        }
    }

    /// The connection moved to another task (or to the parking lot): the
    /// waker its alarm was armed with would wake nothing, so the next
    /// [`Connection::arm_keepalive`] hands the alarm, as it stands, to the
    /// new waker.
    pub fn move_keepalive_alarm(&mut self) {
        self.alarm_moved = true;
    }

    /// Whether the armed keep-alive alarm has passed at `now` (disarming
    /// it): the caller then runs [`Connection::handle_timeout`], which
    /// compares with the deadline as it stands, and arms again.
    pub fn keepalive_alarm_due(&mut self, now: Instant) -> bool {
        if self.alarm_ms != 0 && self.broker.clock_ms(now) > self.alarm_ms {
            self.alarm_ms = 0;
            return true;
        }
        false
    }

    /// Close with `reason` at `now`, queueing a DISCONNECT for v5 clients
    /// when the server is the one closing (§4.13).
    pub fn close(&mut self, reason: CloseReason, out: &mut OutBuf) -> Closed {
        self.close_with(reason, None, out)
    }

    /// [`Connection::close`] with a Reason String in the DISCONNECT (always
    /// allowed there, whatever Request Problem Information says
    /// [MQTT-3.1.2-29]).
    pub(super) fn close_with(
        &mut self,
        reason: CloseReason,
        text: Option<String>,
        out: &mut OutBuf,
    ) -> Closed {
        if self.close.is_none() {
            self.close = Some(reason);
            if let (true, Some(code)) = (self.version.is_v5(), reason.server_disconnect_code()) {
                let mut d = Disconnect::new(code);
                d.properties.reason_string = text;
                d.properties.server_reference =
                    self.rare.as_mut().and_then(|r| r.server_reference.take());
                self.send(out, &Packet::Disconnect(d));
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
        self.trace_sent(p);
        let version = self.version;
        // A Reason String or User Property that would make the packet
        // larger than the client accepts is left out [MQTT-3.4.2-2] (and
        // the like for every acknowledgement, DISCONNECT and AUTH).
        let trimmed;
        let p =
            if version.is_v5() && komar_proto::encoded_len(p, version) > self.client_max_packet() {
                trimmed = without_diagnostics(p);
                &trimmed
            } else {
                p
            };
        let r = out.write_with(|b| encode(p, version, b));
        if let Err(e) = r {
            tracing::warn!(error = %e, packet = p.name(), "could not encode packet");
        }
        self.stats
            .add(self.broker.stats(), |s| &mut s.messages_sent, 1);
    }

    fn send_ack(
        &mut self,
        out: &mut OutBuf,
        kind: fn(PubResp) -> Packet,
        pid: PacketId,
        code: ReasonCode,
    ) {
        self.send_ack_with(out, kind, pid, code, None);
    }

    /// An acknowledgement with a Reason String, when the client allows one
    /// [MQTT-3.1.2-29].
    fn send_ack_with(
        &mut self,
        out: &mut OutBuf,
        kind: fn(PubResp) -> Packet,
        pid: PacketId,
        code: ReasonCode,
        text: Option<String>,
    ) {
        let mut r = PubResp::new(pid);
        if self.version.is_v5() {
            r.reason_code = code;
            r.properties.reason_string = self.reason_string(text);
        }
        self.send(out, &kind(r));
    }

    /// `text` if the client accepts reason strings on acknowledgements.
    fn reason_string(&self, text: Option<String>) -> Option<String> {
        text.filter(|_| self.problem_info && self.version.is_v5())
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
        self.stats
            .add(self.broker.stats(), |s| &mut s.messages_received, 1);
        self.trace_received(&packet);
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
            Packet::Auth(a) => self.handle_auth(out, a),
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
        self.close_with(
            CloseReason::ProtocolError(err.reason_code()),
            Some(err.to_string()),
            out,
        )
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

    /// Move the recipients of this client's publications that are over
    /// their queue limit into `into`. While any is, the server should stop
    /// reading from this client until [`poll_room`] is ready (back-pressure;
    /// see `session::queue`).
    pub fn take_congested(&mut self, into: &mut Vec<Arc<Session>>) {
        if let Some(mut c) = self.congested.take() {
            into.append(&mut c);
        }
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

/// `p` without its Reason String and User Properties.
fn without_diagnostics(p: &Packet) -> Packet {
    let mut p = p.clone();
    match &mut p {
        Packet::PubAck(r) | Packet::PubRec(r) | Packet::PubRel(r) | Packet::PubComp(r) => {
            r.properties = AckProperties::default();
        }
        Packet::SubAck(a) => a.properties = AckProperties::default(),
        Packet::UnsubAck(a) => a.properties = AckProperties::default(),
        Packet::Disconnect(d) => {
            d.properties.reason_string = None;
            d.properties.user_properties.clear();
        }
        Packet::Auth(a) => {
            a.properties.reason_string = None;
            a.properties.user_properties.clear();
        }
        _ => {}
    }
    p
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
