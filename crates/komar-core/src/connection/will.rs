//! The will registered by CONNECT, and the end of a connection: the will
//! published, scheduled (will delay) or dropped, and the session handed
//! back — kept for the next connection, scheduled to expire, or ended.

use super::*;

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
            topic: mount(listener, w.topic.clone()),
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

    /// Keep the will within the server's limits (3.x clients, who cannot
    /// be refused for it).
    pub(crate) fn limit(&mut self, max_qos: QoS, retain_available: bool) {
        self.qos = self.qos.min(max_qos);
        self.retain &= retain_available;
    }

    /// The will as a message. Its Message Expiry Interval stays in the
    /// properties: it starts counting when the will is published (after
    /// any Will Delay), not at disconnect — see [`Message::armed`].
    pub(super) fn into_message(self, origin: Origin) -> Arc<Message> {
        Arc::new(Message {
            topic: self.topic,
            payload: Bytes::copy_from_slice(&self.payload),
            qos: self.qos,
            retain: self.retain,
            properties: self.properties,
            expires_at: None,
            origin,
        })
    }
}

impl Connection {
    /// End the connection's hold on its session now, rather than when it
    /// is dropped: publish or schedule the will, hand the session back
    /// (kept, scheduled to expire, or ended). The server calls this as
    /// soon as the connection has closed, so a final flush to a client
    /// that does not read cannot delay the will. Runs once; later calls
    /// (and the drop) do nothing.
    pub fn detach(&mut self) {
        if std::mem::replace(&mut self.detached, true) {
            return;
        }
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
        let mut orphans = Vec::new();
        // Storage: the session's new state (expiry deadline, delayed will)
        // or its end, the orphans' removal, and what follows from them
        // (redistribution, the will) in one group.
        let mut ticket: Option<Ticket> = None;
        {
            let mut table = broker.shard(self.session.client_id()).lock();
            let mut s = self.session.lock();
            if s.owner == Some(self.gen) {
                s.owner = None;
                self.session.set_online(false);
                s.waker = None;
                self.session.clear_alarm(&mut s);
                s.epoch += 1;
                wakers = s.queue.take_all_room_waiters();
                // Messages this member got through a shared subscription
                // and has not acknowledged go to another member (§4.8.2);
                // a message whose PUBREC arrived is delivered already.
                orphans = s.queue.take_where(|d| d.shared.is_some());
                let in_flight = s.inflight.take_where(|e| {
                    e.delivery.shared.is_some() && e.state != OutState::AwaitPubComp
                });
                ticket = broker.ticket_for(&mut s);
                let client_id = self.session.client_id();
                if let Some(t) = ticket.as_mut() {
                    for st in orphans.iter().filter_map(|d| d.stored) {
                        t.push(PersistOp::Dequeue {
                            client_id: client_id.clone(),
                            seq: st.queue_seq,
                        });
                    }
                    for (pid, _) in in_flight.iter().filter(|(_, d)| d.stored.is_some()) {
                        t.push(PersistOp::DeleteOutgoing {
                            client_id: client_id.clone(),
                            packet_id: *pid,
                        });
                    }
                }
                orphans.extend(in_flight.into_iter().map(|(_, d)| d));
                for d in &mut orphans {
                    d.stored = None;
                }
                let expiry = s.expiry_interval;
                if expiry == 0 {
                    if table
                        .get(self.session.client_id())
                        .is_some_and(|c| Arc::ptr_eq(c, &self.session))
                    {
                        table.remove(self.session.client_id());
                    }
                    end = true;
                    if let Some(t) = ticket.as_mut() {
                        t.push(PersistOp::DeleteSession {
                            client_id: client_id.clone(),
                        });
                    }
                    s.persisted = false;
                } else {
                    let deadline = broker.expiry_deadline(expiry, now);
                    if let Some(at) = deadline {
                        broker.schedule(at, false, s.epoch, self.session.clone());
                    }
                    if let Some(t) = ticket.as_mut() {
                        t.push(PersistOp::PutSession {
                            client_id: client_id.clone(),
                            version: s.version,
                            expiry_interval: expiry,
                            expires_at: deadline.map(|at| crate::persist::wall_clock(at, now)),
                            username: self.identity.username.clone(),
                        });
                    }
                }
                if let Some(w) = will {
                    // The will waits for its delay, but never beyond the end
                    // of the session [MQTT-3.1.2-8].
                    let delay = if expiry == NEVER_EXPIRES {
                        w.delay
                    } else {
                        w.delay.min(expiry)
                    };
                    let msg = w.into_message(origin);
                    if delay == 0 || end {
                        will_now = Some(msg);
                    } else {
                        if let Some(t) = ticket.as_mut() {
                            t.push(PersistOp::PutWill {
                                client_id: client_id.clone(),
                                due: crate::persist::wall_clock_in(delay),
                                message: msg.clone(),
                            });
                        }
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
                    will_now = Some(w.into_message(origin));
                }
            }
        }
        for w in wakers {
            w.wake();
        }
        if !orphans.is_empty() {
            let mut ctx = broker.store().map(|st| RouteCtx::new(st, ticket.take()));
            let left = broker.redistribute(orphans, self.session.id(), now, ctx.as_mut());
            if !end && !left.is_empty() {
                // No other member: the message waits for this one.
                let mut s = self.session.lock();
                for d in left {
                    if let Some(c) = ctx.as_mut() {
                        c.next_message();
                    }
                    s.push_back_recorded(self.session.client_id(), d, ctx.as_mut());
                }
            }
            ticket = ctx.and_then(RouteCtx::into_ticket);
        }
        if end {
            broker.end_session(&self.session, now, ticket.take());
        }
        if let Some(w) = will_now {
            broker.publish_will(w, now, ticket.take());
        }
        drop(ticket);
        broker.stats().fold(&mut self.stats);
        broker.stats().client_disconnected();
    }
}
