//! The connection task: the one owner of the socket and the session state.
//! A single `select!` loop over cancel-safe operations — write buffered
//! bytes, deliver an event, read bytes, take a command, the keep-alive
//! timer — so no partial state lives in a future that can be dropped.
//!
//! Bounds (see [`crate::Limits`]): decoded events not yet delivered stop
//! reading at [`MAX_PENDING_EVENTS`]; commands stop being taken while the
//! write buffer is above its high-water mark, while publishes wait for the
//! broker's Receive Maximum, or while closing.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::BytesMut;
use komar_proto::{
    Disconnect, Packet, PacketId, ProtocolVersion, PubResp, Publish, QoS, QosPid, ReasonCode,
    SubAck, Subscribe, UnsubAck, Unsubscribe,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::client::{Command, Message, PublishOutcome, Reply, ServerInfo};
use crate::error::ClientError;
use crate::events::{CloseReason, Event};
use crate::frame::{encode_packet, FrameReader};
use crate::options::{ConnectOptions, Limits, Qos2Delivery};
use crate::session::{InboundAliases, IncomingQos2, PacketIds, SendQuota};
use crate::transport::Transport;

/// Decoded events held for the application before the task stops reading
/// the socket.
pub(crate) const MAX_PENDING_EVENTS: usize = 64;

/// Commands taken per loop turn, so reading is never starved by a fast
/// producer.
const COMMAND_BATCH: usize = 256;

/// How long a DISCONNECT sent on a protocol error may take to write.
const ERROR_DISCONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// A request waiting on a packet identifier.
#[derive(Debug)]
enum Pending {
    /// QoS 1 publish waiting for PUBACK.
    PubAck(Option<Reply<PublishOutcome>>),
    /// QoS 2 publish waiting for PUBREC.
    PubRec(Option<Reply<PublishOutcome>>),
    /// QoS 2 publish waiting for PUBCOMP (PUBREL sent).
    PubComp(Option<Reply<PublishOutcome>>),
    Subscribe(Reply<SubAck>),
    Unsubscribe(Reply<UnsubAck>),
}

/// A QoS 1/2 publish waiting for room in the broker's Receive Maximum.
#[derive(Debug)]
struct Waiting {
    publish: Publish,
    done: Option<Reply<PublishOutcome>>,
}

pub(crate) struct Driver {
    rd: ReadHalf<Transport>,
    wr: WriteHalf<Transport>,
    version: ProtocolVersion,
    reader: FrameReader,
    wbuf: BytesMut,
    cmd_rx: mpsc::Receiver<Command>,
    events_tx: mpsc::Sender<Event>,
    /// False once the application dropped [`crate::Events`]: events are
    /// then discarded instead of queued.
    events_open: bool,
    pending_events: VecDeque<Event>,
    waiting: VecDeque<Waiting>,
    ids: PacketIds<Pending>,
    quota: SendQuota,
    incoming_qos2: IncomingQos2,
    aliases: InboundAliases,
    keep_alive: Option<Duration>,
    last_sent: Instant,
    ping_sent: Option<Instant>,
    trace: bool,
    qos2_delivery: Qos2Delivery,
    limits: Limits,
    server: ServerInfo,
    /// Set once DISCONNECT is queued; holds the caller to answer.
    closing: Option<Option<Reply<()>>>,
}

impl Driver {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        transport: Transport,
        reader: FrameReader,
        options: &ConnectOptions,
        server: ServerInfo,
        cmd_rx: mpsc::Receiver<Command>,
        events_tx: mpsc::Sender<Event>,
    ) -> Driver {
        let (rd, wr) = tokio::io::split(transport);
        let keep_alive =
            (server.keep_alive > 0).then(|| Duration::from_secs(u64::from(server.keep_alive)));
        Driver {
            rd,
            wr,
            version: server.version,
            reader,
            wbuf: BytesMut::new(),
            cmd_rx,
            events_tx,
            events_open: true,
            pending_events: VecDeque::new(),
            waiting: VecDeque::new(),
            ids: PacketIds::new(),
            quota: SendQuota::new(server.receive_maximum),
            incoming_qos2: IncomingQos2::new(options.receive_maximum()),
            aliases: InboundAliases::new(options.topic_alias_maximum()),
            keep_alive,
            last_sent: Instant::now(),
            ping_sent: None,
            trace: options.trace_packets,
            qos2_delivery: options.qos2_delivery,
            limits: options.limits.clone(),
            server,
            closing: None,
        }
    }

    /// Run until the connection ends, then fail what is left and report
    /// [`Event::Closed`].
    pub(crate) async fn run(mut self) {
        let reason = match self.run_loop().await {
            Ok(r) => r,
            Err(ClientError::ServerDisconnect(d)) => CloseReason::Server(*d),
            Err(e) => {
                self.disconnect_on_error(&e).await;
                CloseReason::Error(e)
            }
        };
        self.fail_all();
        if let Some(Some(done)) = self.closing.take() {
            let ok = matches!(reason, CloseReason::Local);
            let _ = done.send(if ok {
                Ok(())
            } else {
                Err(ClientError::ConnectionClosed)
            });
        }
        let Driver {
            rd,
            wr,
            events_tx,
            mut pending_events,
            events_open,
            ..
        } = self;
        drop(rd.unsplit(wr));
        if events_open {
            for ev in pending_events.drain(..) {
                if events_tx.send(ev).await.is_err() {
                    return;
                }
            }
            let _ = events_tx.send(Event::Closed(reason)).await;
        }
    }

    async fn run_loop(&mut self) -> Result<CloseReason, ClientError> {
        loop {
            self.decode_buffered()?;
            self.take_commands()?;
            if self.closing.is_some() && self.wbuf.is_empty() {
                let _ = self.wr.shutdown().await;
                if let Some(Some(done)) = self.closing.take() {
                    let _ = done.send(Ok(()));
                }
                return Ok(CloseReason::Local);
            }
            let reading_paused = self.pending_events.len() >= MAX_PENDING_EVENTS;
            let accepting = self.accepting();
            let deliver = self.events_open && !self.pending_events.is_empty();
            let writing = !self.wbuf.is_empty();
            let ping_at = self.ping_deadline();
            let sleep_until = ping_at.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));

            tokio::select! {
                biased;
                r = self.wr.write_buf(&mut self.wbuf), if writing => {
                    match r {
                        Ok(0) => return Err(ClientError::io(
                            "writing to the broker",
                            std::io::ErrorKind::WriteZero.into(),
                        )),
                        Ok(_) => self.last_sent = Instant::now(),
                        Err(e) => return Err(ClientError::io("writing to the broker", e)),
                    }
                }
                r = deliver_one(&self.events_tx, &mut self.pending_events), if deliver => {
                    if r.is_err() {
                        // The application dropped `Events`: stop queueing.
                        self.events_open = false;
                        self.pending_events.clear();
                    }
                }
                r = self.rd.read_buf(self.reader.read_buf()), if !reading_paused => {
                    match r {
                        Ok(0) => {
                            return if self.closing.is_some() {
                                Ok(CloseReason::Local)
                            } else {
                                Err(ClientError::ConnectionClosed)
                            };
                        }
                        Ok(_) => {}
                        Err(e) => return Err(ClientError::io("reading from the broker", e)),
                    }
                }
                cmd = self.cmd_rx.recv(), if accepting => {
                    match cmd {
                        Some(c) => self.on_command(c)?,
                        None => self.begin_close(Disconnect::default(), None)?,
                    }
                }
                () = tokio::time::sleep_until(sleep_until), if ping_at.is_some() => {
                    self.on_ping_timer(reading_paused)?;
                }
            }
        }
    }

    fn accepting(&self) -> bool {
        self.closing.is_none()
            && self.waiting.len() < self.limits.max_waiting_publishes
            && self.wbuf.len() < self.limits.write_high_water
    }

    fn take_commands(&mut self) -> Result<(), ClientError> {
        for _ in 0..COMMAND_BATCH {
            if !self.accepting() {
                break;
            }
            match self.cmd_rx.try_recv() {
                Ok(c) => self.on_command(c)?,
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    self.begin_close(Disconnect::default(), None)?;
                    break;
                }
            }
        }
        Ok(())
    }

    fn decode_buffered(&mut self) -> Result<(), ClientError> {
        while self.pending_events.len() < MAX_PENDING_EVENTS {
            let Some(packet) = self.reader.next_packet(self.version)? else {
                break;
            };
            self.on_packet(packet)?;
        }
        Ok(())
    }

    fn push_event(&mut self, ev: Event) {
        if self.events_open {
            self.pending_events.push_back(ev);
        }
    }

    /// Encode `packet` into the write buffer.
    fn send(&mut self, packet: Packet) -> Result<(), ClientError> {
        encode_packet(&packet, self.version, &mut self.wbuf)?;
        if self.trace {
            self.push_event(Event::Sent(packet));
        }
        Ok(())
    }

    fn max_outgoing(&self) -> usize {
        self.server
            .maximum_packet_size
            .map_or(crate::frame::MAX_PACKET_SIZE, |m| m as usize)
    }

    /// Refuse a packet above the broker's Maximum Packet Size
    /// [MQTT-3.1.2-24].
    fn check_size(&self, packet: &Packet) -> Result<(), ClientError> {
        let size = komar_proto::encoded_len(packet, self.version);
        let max = self.max_outgoing();
        if size > max {
            return Err(ClientError::PacketTooLarge { size, max });
        }
        Ok(())
    }

    // ----- commands -------------------------------------------------------

    fn on_command(&mut self, cmd: Command) -> Result<(), ClientError> {
        match cmd {
            Command::Publish { message, done } => self.on_publish_command(message, done),
            Command::Subscribe {
                filters,
                properties,
                done,
            } => {
                // Placeholder identifier for the size check; the real one is
                // allocated below.
                let mut packet = Subscribe {
                    packet_id: placeholder_id()?,
                    properties,
                    filters,
                };
                if let Err(e) = self.check_size(&Packet::Subscribe(packet.clone())) {
                    let _ = done.send(Err(e));
                    return Ok(());
                }
                match self.ids.allocate(Pending::Subscribe(done)) {
                    Ok(id) => {
                        packet.packet_id = id;
                        self.send(Packet::Subscribe(packet))
                    }
                    Err(Pending::Subscribe(done)) => {
                        let _ = done.send(Err(no_free_id()));
                        Ok(())
                    }
                    Err(_) => Ok(()),
                }
            }
            Command::Unsubscribe {
                filters,
                properties,
                done,
            } => {
                let mut packet = Unsubscribe {
                    packet_id: placeholder_id()?,
                    properties,
                    filters,
                };
                if let Err(e) = self.check_size(&Packet::Unsubscribe(packet.clone())) {
                    let _ = done.send(Err(e));
                    return Ok(());
                }
                match self.ids.allocate(Pending::Unsubscribe(done)) {
                    Ok(id) => {
                        packet.packet_id = id;
                        self.send(Packet::Unsubscribe(packet))
                    }
                    Err(Pending::Unsubscribe(done)) => {
                        let _ = done.send(Err(no_free_id()));
                        Ok(())
                    }
                    Err(_) => Ok(()),
                }
            }
            Command::Disconnect { packet, done } => self.begin_close(packet, Some(done)),
        }
    }

    fn validate(&self, m: &Message) -> Result<(), ClientError> {
        if m.qos > self.server.maximum_qos {
            return Err(ClientError::InvalidRequest(format!(
                "QoS {} is above the broker's maximum QoS {}",
                m.qos.as_u8(),
                self.server.maximum_qos.as_u8()
            )));
        }
        if m.retain && !self.server.retain_available {
            return Err(ClientError::InvalidRequest(
                "the broker does not support retained messages".into(),
            ));
        }
        match m.properties.topic_alias {
            Some(a) if !self.version.is_v5() => {
                return Err(ClientError::InvalidRequest(format!(
                    "topic alias {a} needs MQTT 5.0"
                )))
            }
            // [MQTT-3.3.2-9] an alias must not exceed the broker's maximum.
            Some(a) if a == 0 || a > self.server.topic_alias_maximum => {
                return Err(ClientError::InvalidRequest(format!(
                    "topic alias {a} outside the broker's 1..={}",
                    self.server.topic_alias_maximum
                )))
            }
            None if m.topic.is_empty() => {
                return Err(ClientError::InvalidRequest(
                    "empty topic without a topic alias".into(),
                ))
            }
            _ => {}
        }
        Ok(())
    }

    fn on_publish_command(
        &mut self,
        message: Message,
        done: Option<Reply<PublishOutcome>>,
    ) -> Result<(), ClientError> {
        if let Err(e) = self.validate(&message) {
            if let Some(d) = done {
                let _ = d.send(Err(e));
            }
            return Ok(());
        }
        let v5 = self.version.is_v5();
        let publish = Publish {
            dup: false,
            qos_pid: QosPid::new(message.qos, placeholder_id()?),
            retain: message.retain,
            topic: message.topic,
            properties: if v5 {
                message.properties
            } else {
                Default::default()
            },
            payload: message.payload,
        };
        let packet = Packet::Publish(publish);
        if let Err(e) = self.check_size(&packet) {
            if let Some(d) = done {
                let _ = d.send(Err(e));
            }
            return Ok(());
        }
        let Packet::Publish(publish) = packet else {
            return Ok(());
        };
        if message.qos == QoS::AtMostOnce {
            self.send(Packet::Publish(publish))?;
            if let Some(d) = done {
                let _ = d.send(Ok(PublishOutcome::sent(None)));
            }
            return Ok(());
        }
        if self.waiting.is_empty() && self.quota.available() && !self.ids.is_full() {
            self.transmit(publish, done)
        } else {
            self.waiting.push_back(Waiting { publish, done });
            Ok(())
        }
    }

    /// Send a QoS 1/2 publish inside the Receive Maximum window
    /// [MQTT-4.9.0-2].
    fn transmit(
        &mut self,
        mut publish: Publish,
        done: Option<Reply<PublishOutcome>>,
    ) -> Result<(), ClientError> {
        let qos = publish.qos_pid.qos();
        let pending = if qos == QoS::ExactlyOnce {
            Pending::PubRec(done)
        } else {
            Pending::PubAck(done)
        };
        match self.ids.allocate(pending) {
            Ok(id) => {
                self.quota.try_take();
                publish.qos_pid = QosPid::new(qos, id);
                self.send(Packet::Publish(publish))
            }
            Err(Pending::PubAck(d) | Pending::PubRec(d)) => {
                // Checked by the caller; keep the message for later.
                self.waiting.push_front(Waiting { publish, done: d });
                Ok(())
            }
            Err(_) => Ok(()),
        }
    }

    fn release_waiting(&mut self) -> Result<(), ClientError> {
        while self.quota.available() && !self.ids.is_full() {
            let Some(w) = self.waiting.pop_front() else {
                break;
            };
            self.transmit(w.publish, w.done)?;
        }
        Ok(())
    }

    fn begin_close(
        &mut self,
        packet: Disconnect,
        done: Option<Reply<()>>,
    ) -> Result<(), ClientError> {
        if self.closing.is_some() {
            if let Some(d) = done {
                let _ = d.send(Err(ClientError::ConnectionClosed));
            }
            return Ok(());
        }
        for w in self.waiting.drain(..) {
            if let Some(d) = w.done {
                let _ = d.send(Err(ClientError::ConnectionClosed));
            }
        }
        self.closing = Some(done);
        self.send(Packet::Disconnect(packet))
    }

    // ----- incoming packets ----------------------------------------------

    fn on_packet(&mut self, packet: Packet) -> Result<(), ClientError> {
        if self.trace {
            self.push_event(Event::Received(packet.clone()));
        }
        match packet {
            Packet::Publish(p) => self.on_publish(p),
            Packet::PubAck(r) => {
                self.complete_publish(r, |p| matches!(p, Pending::PubAck(_)));
                self.release_waiting()
            }
            Packet::PubRec(r) => self.on_pubrec(r),
            Packet::PubComp(r) => {
                self.complete_publish(r, |p| matches!(p, Pending::PubComp(_)));
                self.release_waiting()
            }
            Packet::PubRel(r) => {
                let released = self.incoming_qos2.on_pubrel(r.packet_id);
                let mut comp = PubResp::new(r.packet_id);
                if released.is_none() && self.version.is_v5() {
                    comp.reason_code = ReasonCode::PACKET_IDENTIFIER_NOT_FOUND;
                }
                // [MQTT-4.3.3-11] answer PUBREL with PUBCOMP.
                self.send(Packet::PubComp(comp))?;
                if let Some(Some(p)) = released {
                    self.push_event(Event::Message(p));
                }
                Ok(())
            }
            Packet::SubAck(s) => {
                if matches!(self.ids.get_mut(s.packet_id), Some(Pending::Subscribe(_))) {
                    if let Some(Pending::Subscribe(done)) = self.ids.remove(s.packet_id) {
                        let _ = done.send(Ok(s));
                    }
                }
                self.release_waiting()
            }
            Packet::UnsubAck(u) => {
                if matches!(self.ids.get_mut(u.packet_id), Some(Pending::Unsubscribe(_))) {
                    if let Some(Pending::Unsubscribe(done)) = self.ids.remove(u.packet_id) {
                        let _ = done.send(Ok(u));
                    }
                }
                self.release_waiting()
            }
            Packet::PingResp => {
                self.ping_sent = None;
                Ok(())
            }
            Packet::Disconnect(d) => Err(ClientError::ServerDisconnect(Box::new(d))),
            other => Err(ClientError::Protocol(format!(
                "the broker sent {}, which a client must not receive here",
                other.name()
            ))),
        }
    }

    fn on_publish(&mut self, mut p: Publish) -> Result<(), ClientError> {
        if self.version.is_v5() {
            self.aliases.resolve(&mut p)?;
        } else if p.topic.is_empty() {
            return Err(ClientError::Protocol("PUBLISH with an empty topic".into()));
        }
        match p.qos_pid {
            QosPid::AtMostOnce => self.push_event(Event::Message(p)),
            QosPid::AtLeastOnce(id) => {
                // [MQTT-4.3.2-4] acknowledge with PUBACK.
                self.send(Packet::PubAck(PubResp::new(id)))?;
                self.push_event(Event::Message(p));
            }
            QosPid::ExactlyOnce(id) => {
                // [MQTT-4.3.3-9] PUBREC; deliver once per identifier until
                // PUBREL releases it [MQTT-4.3.3-10].
                let on_release = self.qos2_delivery == Qos2Delivery::OnRelease;
                let (held, now) = if on_release {
                    (Some(p), None)
                } else {
                    (None, Some(p))
                };
                let new = self.incoming_qos2.on_publish(id, held)?;
                self.send(Packet::PubRec(PubResp::new(id)))?;
                if let (true, Some(p)) = (new, now) {
                    self.push_event(Event::Message(p));
                }
            }
        }
        Ok(())
    }

    fn complete_publish(&mut self, r: PubResp, expected: impl Fn(&Pending) -> bool) {
        if !self.ids.get_mut(r.packet_id).is_some_and(|p| expected(p)) {
            return;
        }
        if let Some(Pending::PubAck(done) | Pending::PubComp(done) | Pending::PubRec(done)) =
            self.ids.remove(r.packet_id)
        {
            self.quota.give_back();
            if let Some(d) = done {
                let _ = d.send(Ok(PublishOutcome {
                    packet_id: Some(r.packet_id),
                    reason_code: r.reason_code,
                    properties: r.properties,
                }));
            }
        }
    }

    fn on_pubrec(&mut self, r: PubResp) -> Result<(), ClientError> {
        match self.ids.get_mut(r.packet_id) {
            Some(slot @ Pending::PubRec(_)) => {
                if r.reason_code.is_error() {
                    // [MQTT-4.3.3-?] a failed PUBREC ends the flow.
                    self.complete_publish(r, |p| matches!(p, Pending::PubRec(_)));
                    return self.release_waiting();
                }
                if let Pending::PubRec(done) = slot {
                    let done = done.take();
                    *slot = Pending::PubComp(done);
                }
                // [MQTT-4.3.3-3] answer PUBREC with PUBREL.
                self.send(Packet::PubRel(PubResp::new(r.packet_id)))
            }
            Some(Pending::PubComp(_)) => self.send(Packet::PubRel(PubResp::new(r.packet_id))),
            _ => {
                let mut rel = PubResp::new(r.packet_id);
                if self.version.is_v5() {
                    rel.reason_code = ReasonCode::PACKET_IDENTIFIER_NOT_FOUND;
                }
                self.send(Packet::PubRel(rel))
            }
        }
    }

    // ----- keep alive -----------------------------------------------------

    fn ping_deadline(&self) -> Option<Instant> {
        let ka = self.keep_alive?;
        Some(match self.ping_sent {
            Some(t) => t + ka,
            None => self.last_sent + ka,
        })
    }

    /// [MQTT-3.1.2-23] send PINGREQ when nothing was sent for a keep-alive
    /// interval; give up when its PINGRESP is a whole interval late.
    fn on_ping_timer(&mut self, reading_paused: bool) -> Result<(), ClientError> {
        let Some(ka) = self.keep_alive else {
            return Ok(());
        };
        let now = Instant::now();
        if self.ping_sent.is_some() {
            if reading_paused {
                // The answer may be sitting unread behind our own
                // back-pressure: not the broker's fault.
                self.ping_sent = Some(now);
                return Ok(());
            }
            return Err(ClientError::KeepAliveTimeout);
        }
        if now >= self.last_sent + ka {
            self.send(Packet::PingReq)?;
            self.ping_sent = Some(now);
        }
        Ok(())
    }

    // ----- shutdown -------------------------------------------------------

    async fn disconnect_on_error(&mut self, e: &ClientError) {
        if !self.version.is_v5() {
            return;
        }
        let reason = match e {
            ClientError::Decode(d) => d.reason_code(),
            ClientError::Protocol(_) => ReasonCode::PROTOCOL_ERROR,
            ClientError::KeepAliveTimeout => ReasonCode::KEEP_ALIVE_TIMEOUT,
            _ => return,
        };
        let mut out = BytesMut::new();
        if encode_packet(
            &Packet::Disconnect(Disconnect::new(reason)),
            self.version,
            &mut out,
        )
        .is_err()
        {
            return;
        }
        let _ = tokio::time::timeout(ERROR_DISCONNECT_TIMEOUT, async {
            let _ = self.wr.write_all(&self.wbuf).await;
            let _ = self.wr.write_all(&out).await;
            let _ = self.wr.shutdown().await;
        })
        .await;
    }

    fn fail_all(&mut self) {
        for p in self.ids.drain() {
            match p {
                Pending::PubAck(d) | Pending::PubRec(d) | Pending::PubComp(d) => {
                    if let Some(d) = d {
                        let _ = d.send(Err(ClientError::ConnectionClosed));
                    }
                }
                Pending::Subscribe(d) => {
                    let _ = d.send(Err(ClientError::ConnectionClosed));
                }
                Pending::Unsubscribe(d) => {
                    let _ = d.send(Err(ClientError::ConnectionClosed));
                }
            }
        }
        for w in self.waiting.drain(..) {
            if let Some(d) = w.done {
                let _ = d.send(Err(ClientError::ConnectionClosed));
            }
        }
        self.cmd_rx.close();
        while let Ok(cmd) = self.cmd_rx.try_recv() {
            match cmd {
                Command::Publish { done, .. } => {
                    if let Some(d) = done {
                        let _ = d.send(Err(ClientError::ConnectionClosed));
                    }
                }
                Command::Subscribe { done, .. } => {
                    let _ = done.send(Err(ClientError::ConnectionClosed));
                }
                Command::Unsubscribe { done, .. } => {
                    let _ = done.send(Err(ClientError::ConnectionClosed));
                }
                Command::Disconnect { done, .. } => {
                    let _ = done.send(Err(ClientError::ConnectionClosed));
                }
            }
        }
    }
}

/// A stand-in identifier for size checks and QoS 0, replaced before a
/// QoS 1/2 packet is sent.
fn placeholder_id() -> Result<PacketId, ClientError> {
    PacketId::new(1).ok_or_else(|| ClientError::Protocol("packet identifier 1 is invalid".into()))
}

/// Hand the oldest pending event to the application once the channel has
/// room. Cancel-safe: the event leaves the queue only with a permit in hand.
async fn deliver_one(tx: &mpsc::Sender<Event>, pending: &mut VecDeque<Event>) -> Result<(), ()> {
    let permit = tx.reserve().await.map_err(|_| ())?;
    if let Some(ev) = pending.pop_front() {
        permit.send(ev);
    }
    Ok(())
}

fn no_free_id() -> ClientError {
    ClientError::InvalidRequest("all 65535 packet identifiers are in use".into())
}
