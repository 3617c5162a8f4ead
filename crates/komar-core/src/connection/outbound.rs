//! Deliveries to the client: moving queued messages into the in-flight
//! window, encoding them (without copying the stored message), re-sending
//! after a resumed session [MQTT-4.4.0-1], and the client's PUBACK, PUBREC
//! and PUBCOMP.

use super::alias::AliasUse;
use super::*;

impl Connection {
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

    pub(super) fn can_send(&self, s: &SessionInner) -> bool {
        match s.queue.front() {
            None => false,
            Some(d) if d.qos == QoS::AtMostOnce => true,
            Some(_) => self.inflight_has_room(s),
        }
    }

    pub(super) fn inflight_has_room(&self, s: &SessionInner) -> bool {
        let max_bytes = self.broker.config().max_inflight_bytes;
        s.inflight.len() < usize::from(self.inflight_max)
            && (max_bytes == 0 || s.inflight.bytes() < max_bytes)
    }

    /// Move queued messages into the output, up to [`OUTPUT_HIGH_WATER`]
    /// bytes of pending output and the in-flight window.
    ///
    /// For a persisted session each stored delivery moves from the stored
    /// queue into stored flight in one group; a QoS 2 PUBLISH is held
    /// until that group is durable, so a restart can never send the same
    /// message again under a new packet id (exactly once).
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
            if let Some(kick) = s.kick.take() {
                drop(s);
                self.rare().server_reference = kick.server_reference;
                return Err(self.close(CloseReason::Administrative(kick.code), out));
            }
            // Taken when the first change to record is made (under the
            // lock, before anyone can see the change).
            let mut ticket = None;
            if self.resend_pending {
                self.resend_pending = false;
                self.resend_inflight(out, &mut s, now, &mut ticket);
            }
            let limits = s.limits.clone();
            let mut holding = false;
            while out.len() < OUTPUT_HIGH_WATER && self.can_send(&s) {
                let Some(d) = s.queue.pop(&limits) else { break };
                let stored = d.stored.filter(|_| s.persisted);
                if let Some(st) = stored {
                    if let Some(t) = self.lazy_ticket(&mut ticket, &mut s) {
                        t.push(PersistOp::Dequeue {
                            client_id: self.session.client_id().clone(),
                            seq: st.queue_seq,
                        });
                    }
                }
                if d.msg.is_expired(now) {
                    self.stats
                        .add(self.broker.stats(), |s| &mut s.publish_dropped, 1);
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
                if let (Some(t), QoS::ExactlyOnce, false) = (ticket.as_mut(), d.qos, holding) {
                    if stored.is_some() {
                        out.hold(t.durable());
                        holding = true;
                    }
                }
                if self.write_publish(out, &d, qos_pid, false, now) {
                    if let Some(pid) = qos_pid.packet_id() {
                        let state = if d.qos == QoS::AtLeastOnce {
                            OutState::AwaitPubAck
                        } else {
                            OutState::AwaitPubRec
                        };
                        let record = stored
                            .filter(|_| ticket.is_some())
                            .map(|st| (st.msg_id, d.qos, d.retain, d.sub_ids.clone()));
                        let send_seq = s.inflight.insert(pid, d, state);
                        if let (Some(t), Some((msg_id, qos, retain, sub_ids))) =
                            (ticket.as_mut(), record)
                        {
                            t.push(PersistOp::PutOutgoing {
                                client_id: self.session.client_id().clone(),
                                packet_id: pid,
                                state,
                                send_seq,
                                msg_id,
                                qos,
                                retain,
                                sub_ids,
                            });
                        }
                    }
                }
            }
            wake.extend(s.queue.take_room_waiters(&limits));
            drop(s);
            drop(ticket);
        }
        for w in wake {
            w.wake();
        }
        self.broker.stats().fold(&mut self.stats);
        Ok(())
    }

    /// Re-send everything in flight, in order, after the session resumed
    /// [MQTT-4.4.0-1]: PUBLISH with DUP set, or PUBREL.
    pub(super) fn resend_inflight(
        &mut self,
        out: &mut OutBuf,
        s: &mut SessionInner,
        now: Instant,
        ticket: &mut Option<Ticket>,
    ) {
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
                        if e.delivery.stored.is_some() {
                            if let Some(t) = self.lazy_ticket(ticket, s) {
                                t.push(self.delete_outgoing(pid));
                            }
                        }
                    }
                }
            }
        }
    }

    /// The ticket in `slot` for a change to `s` (taken now, or replaced
    /// if older than the session's last recorded change), if `s` is
    /// persisted. Call under the session's lock.
    pub(super) fn lazy_ticket<'t>(
        &self,
        slot: &'t mut Option<Ticket>,
        s: &mut SessionInner,
    ) -> Option<&'t mut Ticket> {
        let store = self.broker.store().filter(|_| s.persisted)?;
        Some(crate::persist::ticket_after(slot, &mut s.last_pos, store))
    }

    fn delete_outgoing(&self, packet_id: PacketId) -> PersistOp {
        PersistOp::DeleteOutgoing {
            client_id: self.session.client_id().clone(),
            packet_id,
        }
    }

    /// Encode one delivery. Returns false if it was not sent because it
    /// exceeds the client's Maximum Packet Size [MQTT-3.1.2-25] (then it is
    /// dropped, as the specification requires).
    pub(super) fn write_publish(
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
        let full_topic = topic;
        let alias = match &self.aliases_out {
            Some(a) if v5 => a.peek(topic),
            _ => AliasUse::None,
        };
        let empty = PublishProperties::default();
        let sub_ids = if v5 { d.sub_ids.to_vec() } else { Vec::new() };
        let topic = if matches!(alias, AliasUse::Known(_)) {
            ""
        } else {
            topic
        };
        // The stored properties go out as they came in; the per-recipient
        // ones (subscription ids, alias, remaining expiry [MQTT-3.3.2-6])
        // are appended, expiry last as Mosquitto writes it.
        let head = PublishHead {
            dup,
            qos_pid,
            retain: d.retain,
            topic,
            properties: if v5 { &m.properties } else { &empty },
            subscription_ids: &sub_ids,
            topic_alias: match alias {
                AliasUse::Set(a) | AliasUse::Known(a) if v5 => Some(a),
                _ => None,
            },
            message_expiry_interval: if v5 { m.remaining_expiry(now) } else { None },
            payload_len: m.payload.len(),
        };
        if head.packet_len(self.version) > self.client_max_packet() {
            tracing::debug!(client_id = %self.identity.client_id, "message larger than the client's maximum packet size dropped");
            self.stats
                .add(self.broker.stats(), |s| &mut s.publish_dropped, 1);
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
        if let Some(a) = &mut self.aliases_out {
            a.commit(full_topic, alias);
        }
        self.trace_delivery(&head, full_topic);
        let stats = self.broker.stats();
        self.stats.add(stats, |s| &mut s.messages_sent, 1);
        self.stats.add(stats, |s| &mut s.publish_sent, 1);
        self.stats
            .add(stats, |s| &mut s.publish_bytes_sent, m.payload.len());
        true
    }

    pub(super) fn handle_puback(&mut self, pid: PacketId) {
        self.acknowledged(pid, OutState::AwaitPubAck);
    }

    /// The client acknowledged the message in flight as `pid` in state
    /// `state` (PUBACK, PUBCOMP): it is delivered, forget it.
    fn acknowledged(&mut self, pid: PacketId, state: OutState) {
        let mut s = self.session.lock();
        if s.owner != Some(self.gen) {
            return;
        }
        if s.inflight.get_mut(pid).is_some_and(|e| e.state == state) {
            let e = s.inflight.remove(pid);
            if let (Some(mut t), Some(true)) = (
                self.broker.ticket_for(&mut s),
                e.map(|e| e.delivery.stored.is_some()),
            ) {
                t.push(self.delete_outgoing(pid));
            }
        }
    }

    pub(super) fn handle_pubrec(&mut self, out: &mut OutBuf, r: PubResp) {
        let pid = r.packet_id;
        let found = {
            let mut s = self.session.lock();
            if s.owner != Some(self.gen) {
                return;
            }
            let record = |e: &crate::session::inflight::OutEntry| e.delivery.stored.is_some();
            match s.inflight.get_mut(pid) {
                Some(e) if e.state == OutState::AwaitPubRec && r.reason_code.is_error() => {
                    // The client refused the message: the exchange ends.
                    let stored = record(e);
                    s.inflight.remove(pid);
                    if let (Some(mut t), true) = (self.broker.ticket_for(&mut s), stored) {
                        t.push(self.delete_outgoing(pid));
                    }
                    return;
                }
                Some(e) if e.state != OutState::AwaitPubAck => {
                    let changed = e.state != OutState::AwaitPubComp && record(e);
                    e.state = OutState::AwaitPubComp;
                    // PUBREL releases the message at the client: storage
                    // must know first, or a restart would send the PUBLISH
                    // again as a new message.
                    if let (true, Some(mut t)) = (changed, self.broker.ticket_for(&mut s)) {
                        t.push(PersistOp::SetOutgoingState {
                            client_id: self.session.client_id().clone(),
                            packet_id: pid,
                            state: OutState::AwaitPubComp,
                        });
                        out.hold(t.submit());
                    }
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

    pub(super) fn handle_pubcomp(&mut self, pid: PacketId) {
        self.acknowledged(pid, OutState::AwaitPubComp);
    }
}
