//! SUBSCRIBE and UNSUBSCRIBE: granting, the trie and the session's list,
//! and retained messages for new subscriptions per Retain Handling.

use super::*;

impl Connection {
    pub(super) fn handle_subscribe(
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
        let mut problems: Vec<String> = Vec::new();
        let mut retained: Vec<Delivery> = Vec::new();
        // Held until the retained messages found are queued: a retained
        // PUBLISH routed meanwhile would reach the new subscription live
        // and be found in the store too (see `Broker::publish_in`).
        let broker = self.broker.clone();
        let retained_store = broker.retained_read();
        // Subscriptions of a persisted session are durable before SUBACK.
        let mut ticket = None;
        for (filter, mut options) in sub.filters {
            let filter = match &self.listener.mount_point {
                Some(m) => match mount_filter(m, &filter) {
                    Some(f) => f,
                    None => {
                        codes.push(ReasonCode::TOPIC_FILTER_INVALID);
                        problems.push(format!("'{filter}' is not valid under the mount point"));
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
                problems.push(format!("not authorised to subscribe to '{filter}'"));
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
                if let Some(t) = self.lazy_ticket(&mut ticket, &mut s) {
                    t.push(PersistOp::PutSubscription {
                        client_id: self.session.client_id().clone(),
                        filter: filter.clone(),
                        options,
                        id: sub_id,
                    });
                }
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
                let mut found = Vec::new();
                retained_store.for_each_match(filter.as_str(), now, &mut |m| {
                    found.push(m.clone());
                });
                for m in found {
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
                        shared: None,
                        stored: None,
                        qos: m.qos.min(options.qos),
                        // [MQTT-3.3.1-8] retained messages keep RETAIN set.
                        retain: true,
                        sub_ids: sub_id.map_or(SubIds::None, SubIds::One),
                        msg: m,
                    });
                }
            }
        }
        if let Some(t) = ticket {
            out.hold(t.submit());
        }
        self.send(
            out,
            &Packet::SubAck(SubAck {
                packet_id: sub.packet_id,
                properties: AckProperties {
                    reason_string: self
                        .reason_string((!problems.is_empty()).then(|| problems.join("; "))),
                    ..AckProperties::default()
                },
                reason_codes: codes,
            }),
        );
        if !retained.is_empty() {
            let store = self.broker.store();
            let mut ctx = store.map(|st| RouteCtx::new(st, None));
            let mut s = self.session.lock();
            for d in retained {
                if let Some(c) = ctx.as_mut() {
                    c.next_message();
                }
                s.push_back_recorded(self.session.client_id(), d, ctx.as_mut());
            }
        }
        drop(retained_store);
        Ok(())
    }

    pub(super) fn handle_unsubscribe(
        &mut self,
        out: &mut OutBuf,
        u: Unsubscribe,
    ) -> Result<(), Closed> {
        let mut codes = Vec::with_capacity(u.filters.len());
        let mut ticket = None;
        for filter in u.filters {
            let filter = match &self.listener.mount_point {
                Some(m) => mount_filter(m, &filter).unwrap_or(filter),
                None => filter,
            };
            let existed = {
                let mut s = self.session.lock();
                let existed = s.subscriptions.remove(&filter).is_some();
                if existed {
                    if let Some(t) = self.lazy_ticket(&mut ticket, &mut s) {
                        t.push(PersistOp::DeleteSubscription {
                            client_id: self.session.client_id().clone(),
                            filter: filter.clone(),
                        });
                    }
                }
                existed
            };
            tracing::info!(target: "komar::unsubscribe", "{} {}", self.identity.client_id, filter);
            self.broker.trie_remove(&filter, self.session.id());
            codes.push(if existed {
                ReasonCode::SUCCESS
            } else {
                ReasonCode::NO_SUBSCRIPTION_EXISTED
            });
        }
        if let Some(t) = ticket {
            out.hold(t.submit());
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
}
