//! PUBLISH from the client: topic aliases [MQTT-3.3.2-9..12], QoS and
//! retain limits, exactly-once for QoS 2 (method B: route on PUBLISH,
//! remember the packet id until PUBREL [MQTT-4.3.3-10]), authorisation,
//! routing, and the acknowledgement.

use super::*;

impl Connection {
    pub(super) fn resolve_alias(
        &mut self,
        out: &mut OutBuf,
        p: &mut Publish,
    ) -> Result<(), Closed> {
        let Some(alias) = p.properties.topic_alias.take() else {
            return Ok(());
        };
        // [MQTT-3.3.2-9] [MQTT-3.3.2-10] alias 0 or above the maximum.
        let max = usize::from(self.listener.max_topic_alias);
        let Some(i) = usize::from(alias).checked_sub(1).filter(|i| *i < max) else {
            return Err(self.protocol_error(out, ReasonCode::TOPIC_ALIAS_INVALID));
        };
        // The table is made on first use: most clients never use aliases.
        if self.aliases_in.len() < max {
            let mut table = std::mem::take(&mut self.aliases_in).into_vec();
            table.resize(max, None);
            self.aliases_in = table.into_boxed_slice();
        }
        let Some(slot) = self.aliases_in.get_mut(i) else {
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

    pub(super) fn handle_publish(
        &mut self,
        out: &mut OutBuf,
        mut p: Publish,
        now: Instant,
    ) -> Result<(), Closed> {
        let stats = self.broker.stats();
        self.stats.add(stats, |s| &mut s.publish_received, 1);
        self.stats
            .add(stats, |s| &mut s.publish_bytes_received, p.payload.len());
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
        // Storage of a persisted session's incoming QoS 2 state goes in the
        // group of the routing, so PUBREC follows both [MQTT-4.3.3-10].
        let mut ticket = None;
        if let QosPid::ExactlyOnce(pid) = p.qos_pid {
            let mut s = self.session.lock();
            if s.incoming_qos2.contains(pid.get()) {
                // A re-send of a message already received: acknowledge
                // again, do not deliver twice [MQTT-4.3.3-10].
                drop(s);
                self.send_ack(out, Packet::PubRec, pid, ReasonCode::SUCCESS);
                return Ok(());
            }
            // [MQTT-3.3.4-7] more unacknowledged QoS 2 than the Receive
            // Maximum sent in CONNACK (5.0 only: 3.x has no such limit).
            if self.version.is_v5() && s.incoming_qos2.len() >= usize::from(self.receive_max) {
                drop(s);
                return Err(self.protocol_error(out, ReasonCode::RECEIVE_MAXIMUM_EXCEEDED));
            }
            s.incoming_qos2.insert(pid.get());
            ticket = self.broker.ticket_for(&mut s);
            if let Some(t) = ticket.as_mut() {
                t.push(PersistOp::AddIncomingQos2 {
                    client_id: self.session.client_id().clone(),
                    packet_id: pid,
                });
            }
        }
        let qos_pid = p.qos_pid;
        let (code, text, mut ticket) = self.route_publish(p, now, ticket);
        if let (QosPid::ExactlyOnce(pid), true) = (qos_pid, code.is_error()) {
            // A failed PUBREC ends the exchange (§4.3.3).
            let mut s = self.session.lock();
            if s.incoming_qos2.remove(pid.get()) {
                if let Some(t) = self.lazy_ticket(&mut ticket, &mut s) {
                    t.push(PersistOp::RemoveIncomingQos2 {
                        client_id: self.session.client_id().clone(),
                        packet_id: pid,
                    });
                }
            }
        }
        // What was stored for this message is durable before the client
        // hears it was received (ack held until then; see `outbuf`).
        if let Some(t) = ticket {
            out.hold(t.submit());
        }
        match qos_pid {
            QosPid::AtMostOnce => {}
            QosPid::AtLeastOnce(pid) => self.send_ack_with(out, Packet::PubAck, pid, code, text),
            QosPid::ExactlyOnce(pid) => self.send_ack_with(out, Packet::PubRec, pid, code, text),
        }
        Ok(())
    }

    /// Authorise and route one publication; returns the reason code for
    /// the acknowledgement, with a reason string for failures, and the
    /// storage ticket of what routing recorded (`ticket`, or one taken on
    /// the way), still to be submitted.
    pub(super) fn route_publish(
        &mut self,
        p: Publish,
        now: Instant,
        ticket: Option<Ticket>,
    ) -> (ReasonCode, Option<String>, Option<Ticket>) {
        let limit = self.broker.config().message_size_limit;
        if limit > 0 && p.payload.len() > limit {
            tracing::info!(client_id = %self.identity.client_id, size = p.payload.len(), "dropped too large PUBLISH");
            self.stats
                .add(self.broker.stats(), |s| &mut s.publish_dropped, 1);
            let text = format!(
                "payload of {} bytes exceeds message_size_limit {limit}",
                p.payload.len()
            );
            return (
                ReasonCode::IMPLEMENTATION_SPECIFIC_ERROR,
                Some(text),
                ticket,
            );
        }
        // v5: a payload declared UTF-8 must be UTF-8 [MQTT-3.3.2-4].
        if p.properties.payload_format_indicator == Some(1)
            && std::str::from_utf8(&p.payload).is_err()
        {
            let text = "payload format indicator says UTF-8, the payload is not".to_owned();
            return (ReasonCode::PAYLOAD_FORMAT_INVALID, Some(text), ticket);
        }
        let topic = mount(&self.listener, p.topic);
        if !crate::auth::dollar_topic_publishable(topic.as_str())
            || !self
                .broker
                .authorizer
                .can_publish(&self.identity, topic.as_str())
        {
            tracing::debug!(client_id = %self.identity.client_id, topic = %topic, "publish denied");
            return (
                ReasonCode::NOT_AUTHORIZED,
                Some(format!("not authorised to publish to '{topic}'")),
                ticket,
            );
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
        // Recipients over their queue limit (rare: kept out of line).
        let mut congested = Vec::new();
        let (outcome, ticket) = self
            .broker
            .publish_in(Arc::new(msg), now, &mut congested, ticket);
        if !congested.is_empty() {
            self.congested
                .get_or_insert_with(Box::default)
                .append(&mut congested);
        }
        if outcome.matched == 0 {
            (ReasonCode::NO_MATCHING_SUBSCRIBERS, None, ticket)
        } else {
            (ReasonCode::SUCCESS, None, ticket)
        }
    }

    pub(super) fn handle_pubrel(&mut self, out: &mut OutBuf, pid: PacketId) {
        let (found, ticket) = {
            let mut s = self.session.lock();
            let found = s.incoming_qos2.remove(pid.get());
            let mut ticket = None;
            if found {
                ticket = self.broker.ticket_for(&mut s);
                if let Some(t) = ticket.as_mut() {
                    t.push(PersistOp::RemoveIncomingQos2 {
                        client_id: self.session.client_id().clone(),
                        packet_id: pid,
                    });
                }
            }
            (found, ticket)
        };
        // PUBCOMP frees the packet id for the client to reuse: the store
        // must have forgotten it first, or a restart would take the new
        // message for a duplicate.
        if let Some(t) = ticket {
            out.hold(t.submit());
        }
        let code = if found {
            ReasonCode::SUCCESS
        } else {
            ReasonCode::PACKET_IDENTIFIER_NOT_FOUND
        };
        self.send_ack(out, Packet::PubComp, pid, code);
    }
}
