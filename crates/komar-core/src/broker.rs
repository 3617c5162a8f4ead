//! The broker: the session table, the subscription trie, the retained store
//! and the timers, and the routing of one message to every matching
//! session. Routing runs synchronously in the publisher's task: trie lookup,
//! then a push into each recipient's queue — no central router thread.
//!
//! # Locking
//! Lock order (never taken the other way round, never two of a kind):
//! `subs` (trie) → session; session-table shard → session. The retained
//! store and the timer heap are taken alone. No lock is held across an
//! `.await` (there are none in this crate).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hash::BuildHasher;
use std::num::{NonZeroU32, NonZeroU64};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use foldhash::fast::RandomState;
use komar_proto::{QoS, SubscriptionOptions, TopicFilter};
use parking_lot::{Mutex, RwLock, RwLockReadGuard};
use smallvec::SmallVec;

use crate::auth::{AllowAll, Authorizer, ClientIdentity};
use crate::config::{BrokerConfig, Redirect, SharedStrategy};
use crate::message::{Delivery, Message, SubIds};
use crate::persist::{PersistOp, Persistence, RouteCtx, Ticket};
use crate::retained::RetainedStore;
use crate::session::queue::{Pushed, QueueLimits};
use crate::session::{Kick, Session, NEVER_EXPIRES};
use crate::stats::Stats;
use crate::trie::{Match, SharedGroup, SubscriptionTrie};

const SHARDS: usize = 16;

/// A subscription as the trie holds it: who, with which options.
#[derive(Debug, Clone)]
pub struct Subscriber {
    /// The subscribing session.
    pub session: Arc<Session>,
    /// Options as granted.
    pub options: SubscriptionOptions,
    /// v5 Subscription Identifier.
    pub id: Option<NonZeroU32>,
    /// Identity for per-message read checks.
    pub identity: Arc<ClientIdentity>,
}

/// One recipient of a message, as routing decided it.
struct Target<'a> {
    session: &'a Arc<Session>,
    /// QoS of the (merged) subscription.
    granted: QoS,
    retain_as_published: bool,
    sub_ids: SubIds,
    /// The shared subscription the recipient was chosen for.
    shared: Option<TopicFilter>,
}

/// What routing one message did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RouteOutcome {
    /// Sessions the message was given to (queued or skipped as offline
    /// QoS 0), i.e. matching subscriptions after de-duplication.
    pub matched: usize,
    /// Deliveries dropped by a queue limit.
    pub dropped: usize,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKind {
    Will,
    Expiry,
}

#[derive(Debug)]
struct Timer {
    at: Instant,
    kind: TimerKind,
    epoch: u64,
    session: Arc<Session>,
}

impl PartialEq for Timer {
    fn eq(&self, o: &Self) -> bool {
        self.at == o.at && self.session.id() == o.session.id() && self.kind == o.kind
    }
}
impl Eq for Timer {}
impl PartialOrd for Timer {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Timer {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.session.id(), &self.kind).cmp(&(o.at, o.session.id(), &o.kind))
    }
}

type Shard = Mutex<crate::session_table::SessionTable>;

/// Shared broker state.
#[derive(Debug)]
pub struct Broker {
    pub(crate) config: BrokerConfig,
    /// `config`'s queue limits, shared by every session.
    queue_limits: Arc<QueueLimits>,
    shards: Box<[Shard]>,
    shard_hasher: RandomState,
    pub(crate) subs: RwLock<SubscriptionTrie<Subscriber>>,
    pub(crate) retained: RwLock<RetainedStore>,
    timers: Mutex<BinaryHeap<Reverse<Timer>>>,
    pub(crate) authorizer: Arc<dyn Authorizer>,
    pub(crate) authenticator: Arc<dyn crate::auth::Authenticator>,
    redirect: RwLock<Option<Redirect>>,
    /// Durable storage, once attached (after restoring from it).
    persistence: OnceLock<Arc<dyn Persistence>>,
    stats: Stats,
    next_session_id: AtomicU64,
    next_generation: AtomicU64,
    /// Random per process, so assigned client ids differ across restarts.
    id_seed: u64,
    /// Origin of the broker clock of keep-alive alarms (see `keepalive`).
    clock: Instant,
}

impl Broker {
    /// A broker with `config` that allows every topic.
    pub fn new(config: BrokerConfig) -> Arc<Broker> {
        Broker::with_authorizer(config, Arc::new(AllowAll))
    }

    /// A broker with `config` whose topic access `authorizer` decides.
    pub fn with_authorizer(config: BrokerConfig, authorizer: Arc<dyn Authorizer>) -> Arc<Broker> {
        Broker::with_security(
            config,
            Arc::new(crate::auth::AnonymousPolicy::default()),
            authorizer,
        )
    }

    /// A broker whose logins `authenticator` checks (enhanced
    /// authentication and re-authentication included) and whose topic
    /// access `authorizer` decides.
    pub fn with_security(
        config: BrokerConfig,
        authenticator: Arc<dyn crate::auth::Authenticator>,
        authorizer: Arc<dyn Authorizer>,
    ) -> Arc<Broker> {
        let shard_hasher = RandomState::default();
        let id_seed = shard_hasher.hash_one(std::process::id());
        Arc::new(Broker {
            redirect: RwLock::new(config.redirect.clone()),
            queue_limits: Arc::new(QueueLimits {
                max_messages: config.max_queued_messages,
                max_bytes: config.max_queued_bytes,
                queue_qos0_offline: config.queue_qos0_messages,
                stall_timeout: config.stall_timeout,
            }),
            config,
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            shard_hasher,
            subs: RwLock::new(SubscriptionTrie::new()),
            retained: RwLock::new(RetainedStore::new()),
            timers: Mutex::new(BinaryHeap::new()),
            authorizer,
            authenticator,
            persistence: OnceLock::new(),
            stats: Stats::default(),
            next_session_id: AtomicU64::new(1),
            next_generation: AtomicU64::new(1),
            id_seed,
            clock: Instant::now(),
        })
    }

    /// Record every change to persistent state in `store` from now on.
    /// Attach it after [`Broker::restore`] and before the first client
    /// connects; a second call is refused (returns false).
    pub fn attach_store(&self, store: Arc<dyn Persistence>) -> bool {
        self.persistence.set(store).is_ok()
    }

    /// The attached storage, if any.
    pub(crate) fn store(&self) -> Option<&Arc<dyn Persistence>> {
        self.persistence.get()
    }

    /// A ticket for changes to `s`, if it is persisted: take it under the
    /// session's lock, before the change.
    pub(crate) fn ticket_for(&self, s: &mut crate::session::SessionInner) -> Option<Ticket> {
        let store = self.store().filter(|_| s.persisted)?;
        let mut slot = None;
        crate::persist::ticket_after(&mut slot, &mut s.last_pos, store);
        slot
    }

    /// The authenticator (for logins the server checks itself).
    pub fn authenticator(&self) -> &Arc<dyn crate::auth::Authenticator> {
        &self.authenticator
    }

    /// The configuration in force.
    pub fn config(&self) -> &BrokerConfig {
        &self.config
    }

    /// Broker-wide counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Number of subscriptions (all sessions).
    pub fn subscription_count(&self) -> usize {
        self.subs.read().len()
    }

    /// Number of shared subscriptions.
    pub fn shared_subscription_count(&self) -> usize {
        self.subs.read().shared_len()
    }

    /// Number of retained messages and the bytes they hold.
    pub fn retained_count(&self) -> (usize, usize) {
        let r = self.retained.read();
        (r.len(), r.bytes())
    }

    /// Number of sessions (connected and not).
    pub fn session_count(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }

    /// The queue limits every session follows (one copy, shared).
    pub(crate) fn queue_limits(&self) -> Arc<QueueLimits> {
        self.queue_limits.clone()
    }

    /// Origin of the keep-alive alarm clock.
    pub(crate) fn clock_origin(&self) -> Instant {
        self.clock
    }

    /// Every shard of the session table.
    pub(crate) fn session_shards(&self) -> &[Shard] {
        &self.shards
    }

    /// A new offline session in the table, for tests.
    #[cfg(test)]
    pub(crate) fn test_session(&self, client_id: &str) -> Arc<Session> {
        let id: Arc<str> = client_id.into();
        let s = Arc::new(Session::new(
            self.new_session_id(),
            id.clone(),
            komar_proto::ProtocolVersion::V5,
            self.queue_limits(),
        ));
        self.shard(client_id).lock().insert(s.clone());
        s
    }

    pub(crate) fn shard(&self, client_id: &str) -> &Shard {
        let i = (self.shard_hasher.hash_one(client_id) as usize) % SHARDS;
        // `SHARDS` entries exist; the modulo keeps `i` in range.
        &self.shards[i]
    }

    pub(crate) fn new_session_id(&self) -> u64 {
        self.next_session_id.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn new_generation(&self) -> NonZeroU64 {
        // Starts at 1; 2^64 connections never happen.
        NonZeroU64::new(self.next_generation.fetch_add(1, Ordering::Relaxed))
            .unwrap_or(NonZeroU64::MIN)
    }

    /// A client identifier for a client that sent none: the configured
    /// prefix and a random UUID-shaped string, as Mosquitto assigns
    /// (`auto-XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX`).
    pub(crate) fn assign_client_id(&self, prefix: &str) -> String {
        let n = self.next_session_id.fetch_add(1, Ordering::Relaxed);
        let a = self.shard_hasher.hash_one((self.id_seed, n, 1u8));
        let b = self.shard_hasher.hash_one((self.id_seed, n, 2u8));
        format!(
            "{}{:08X}-{:04X}-{:04X}-{:04X}-{:012X}",
            prefix,
            a >> 32,
            (a >> 16) & 0xFFFF,
            a & 0xFFFF,
            b >> 48,
            b & 0xFFFF_FFFF_FFFF
        )
    }

    /// Route `msg` to every matching subscription and, if it is retained,
    /// store it. Sessions whose queue is over its limit are added to
    /// `congested`: the publisher should wait for room in each before it
    /// reads more (see `session::queue`).
    pub fn publish(
        &self,
        msg: Arc<Message>,
        now: Instant,
        congested: &mut Vec<Arc<Session>>,
    ) -> RouteOutcome {
        self.publish_in(msg, now, congested, None).0
    }

    /// [`Broker::publish`], recording what it changes in persistent state
    /// (queues of persisted sessions, retained messages) with `ticket`
    /// (or a ticket taken when the first change is made). Returns the
    /// ticket, unsubmitted, if there is one: the caller adds its own ops
    /// and waits for the group before acknowledging.
    pub(crate) fn publish_in(
        &self,
        msg: Arc<Message>,
        now: Instant,
        congested: &mut Vec<Arc<Session>>,
        ticket: Option<Ticket>,
    ) -> (RouteOutcome, Option<Ticket>) {
        let mut ctx = self.store().map(|s| RouteCtx::new(s, ticket));
        // A retained message keeps the retained store locked until it is
        // routed: a SUBSCRIBE holds the store's read lock from its trie
        // insert until the retained messages it found are queued, so the
        // new subscriber gets this message either live or as retained —
        // never both, and never the old value after this one.
        let mut retained_guard = None;
        if msg.retain {
            let guard = retained_guard.insert(self.retained.write());
            let retained = &mut **guard;
            retained.set(msg.clone());
            // `$SYS` and other broker topics are made afresh after a restart.
            if let (Some(ctx), false) = (ctx.as_mut(), msg.topic.as_str().starts_with('$')) {
                let op = if msg.payload.is_empty() {
                    PersistOp::ClearRetained(msg.topic.clone())
                } else {
                    PersistOp::PutRetained(msg.clone())
                };
                ctx.ticket_after(&mut retained.last_pos).push(op);
            }
        }
        let outcome = self.route(&msg, now, congested, ctx.as_mut());
        drop(retained_guard);
        (outcome, ctx.and_then(RouteCtx::into_ticket))
    }

    fn route(
        &self,
        msg: &Arc<Message>,
        now: Instant,
        congested: &mut Vec<Arc<Session>>,
        mut ctx: Option<&mut RouteCtx<'_>>,
    ) -> RouteOutcome {
        let trie = self.subs.read();
        let origin = msg.origin.session;
        let check_read = self.authorizer.restricts();
        let topic = msg.topic.as_str();
        // Most messages have few recipients: keep them off the heap.
        let mut direct: SmallVec<[(&Subscriber, u64); 8]> = SmallVec::new();
        let mut shared: SmallVec<[(&Subscriber, &TopicFilter); 2]> = SmallVec::new();
        trie.for_each_match(topic, &mut |m| match m {
            Match::Direct(key, sub) => {
                // [MQTT-3.8.3-3] no-local: not to the publisher itself.
                if sub.options.no_local && Some(key) == origin {
                    return;
                }
                if check_read && !self.authorizer.can_receive(&sub.identity, topic) {
                    return;
                }
                direct.push((sub, key));
            }
            Match::Shared(group) => {
                if let Some(sub) = self.choose_member(group, origin, None) {
                    shared.push((sub, group.filter()));
                }
            }
        });
        let mut outcome = RouteOutcome::default();
        if direct.len() > 1 {
            direct.sort_unstable_by_key(|(_, k)| *k);
        }
        // Overlapping subscriptions of one session give one copy at the
        // highest QoS, carrying every subscription identifier [MQTT-3.3.4-2]
        // [MQTT-3.3.4-3].
        let mut i = 0;
        while let Some(&(first, key)) = direct.get(i) {
            let mut qos = first.options.qos;
            let mut rap = first.options.retain_as_published;
            let mut ids = SubIds::None;
            if let Some(id) = first.id {
                ids.push(id);
            }
            let mut j = i + 1;
            while let Some(&(other, k)) = direct.get(j) {
                if k != key {
                    break;
                }
                qos = qos.max(other.options.qos);
                rap |= other.options.retain_as_published;
                if let Some(id) = other.id {
                    ids.push(id);
                }
                j += 1;
            }
            let target = Target {
                session: &first.session,
                granted: qos,
                retain_as_published: rap,
                sub_ids: ids,
                shared: None,
            };
            self.deliver(
                msg,
                target,
                now,
                congested,
                &mut outcome,
                ctx.as_deref_mut(),
            );
            i = j;
        }
        for (sub, filter) in shared {
            let target = Target {
                session: &sub.session,
                granted: sub.options.qos,
                retain_as_published: sub.options.retain_as_published,
                sub_ids: sub.id.map_or(SubIds::None, SubIds::One),
                shared: Some(filter.clone()),
            };
            self.deliver(
                msg,
                target,
                now,
                congested,
                &mut outcome,
                ctx.as_deref_mut(),
            );
        }
        outcome
    }

    /// The member of a shared group that gets the next message, per the
    /// configured strategy: a connected member if there is one (starting
    /// from the strategy's choice), never `exclude`.
    fn choose_member<'a>(
        &self,
        group: &'a SharedGroup<Subscriber>,
        publisher: Option<u64>,
        exclude: Option<u64>,
    ) -> Option<&'a Subscriber> {
        let members = group.members();
        let n = members.len();
        if n == 0 {
            return None;
        }
        let start = match self.config.shared_strategy {
            SharedStrategy::RoundRobin => group.next_index(),
            // A hash of an ever-increasing per-group counter: uniform
            // over the members, whatever their number.
            SharedStrategy::Random => {
                (self
                    .shard_hasher
                    .hash_one((group.next_count(), self.id_seed)) as usize)
                    % n
            }
            SharedStrategy::Sticky => (self.shard_hasher.hash_one(publisher) as usize) % n,
        };
        let candidates = || {
            (0..n)
                .filter_map(move |i| members.get((start + i) % n))
                .filter(|(k, _)| Some(*k) != exclude)
        };
        candidates()
            .find(|(_, s)| s.session.is_online())
            .or_else(|| candidates().next())
            .map(|(_, s)| s)
    }

    /// Give deliveries taken from a disconnected member of their shared
    /// subscription to another member (§4.8.2: "the Server SHOULD send the
    /// Application Message to another Client that is subscribed to the same
    /// Shared Subscription"). Returns those no other member could take.
    /// Deliveries queued for persisted members are recorded through `ctx`.
    pub(crate) fn redistribute(
        &self,
        deliveries: Vec<Delivery>,
        from: u64,
        now: Instant,
        mut ctx: Option<&mut RouteCtx<'_>>,
    ) -> Vec<Delivery> {
        let mut left = Vec::new();
        let mut congested = Vec::new();
        let trie = self.subs.read();
        for d in deliveries {
            let member = d
                .shared
                .as_ref()
                .and_then(|f| trie.shared_group(f))
                .and_then(|g| self.choose_member(g, d.msg.origin.session, Some(from)));
            match member {
                Some(sub) => {
                    let target = Target {
                        session: &sub.session,
                        granted: sub.options.qos,
                        retain_as_published: sub.options.retain_as_published,
                        sub_ids: sub.id.map_or(SubIds::None, SubIds::One),
                        shared: d.shared.clone(),
                    };
                    let mut outcome = RouteOutcome::default();
                    if let Some(ctx) = ctx.as_deref_mut() {
                        ctx.next_message();
                    }
                    self.deliver(
                        &d.msg,
                        target,
                        now,
                        &mut congested,
                        &mut outcome,
                        ctx.as_deref_mut(),
                    );
                }
                None => left.push(d),
            }
        }
        left
    }

    fn deliver(
        &self,
        msg: &Arc<Message>,
        target: Target<'_>,
        now: Instant,
        congested: &mut Vec<Arc<Session>>,
        outcome: &mut RouteOutcome,
        ctx: Option<&mut RouteCtx<'_>>,
    ) {
        let session = target.session;
        let qos = if self.config.upgrade_outgoing_qos {
            target.granted
        } else {
            // [MQTT-3.8.4-8] delivered at min(published, granted).
            msg.qos.min(target.granted)
        };
        let d = Delivery {
            msg: msg.clone(),
            qos,
            // [MQTT-3.3.1-12] retain flag cleared unless retain-as-published.
            retain: target.retain_as_published && msg.retain,
            sub_ids: target.sub_ids,
            shared: target.shared,
            stored: None,
        };
        outcome.matched += 1;
        match session.push(d, now, ctx) {
            Pushed::Congested => {
                if !congested.iter().any(|s| Arc::ptr_eq(s, session)) {
                    congested.push(session.clone());
                }
            }
            Pushed::Dropped => {
                outcome.dropped += 1;
                self.stats.publish_dropped.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(client_id = %session.client_id(), "outgoing queue full: message dropped");
            }
            Pushed::Queued | Pushed::Skipped => {}
        }
    }

    /// Add a subscription to the trie; returns whether `session` already had
    /// this filter.
    pub(crate) fn trie_insert(&self, filter: &TopicFilter, sub: Subscriber) -> bool {
        let key = sub.session.id();
        self.subs.write().insert(filter, key, sub).is_some()
    }

    /// Remove a subscription from the trie.
    pub(crate) fn trie_remove(&self, filter: &TopicFilter, session_id: u64) -> bool {
        self.subs.write().remove(filter, session_id).is_some()
    }

    /// Remove every subscription of `session` from the trie (its
    /// subscription list must already have been taken out of it).
    pub(crate) fn remove_subscriptions(&self, session_id: u64, filters: &[TopicFilter]) {
        if filters.is_empty() {
            return;
        }
        let mut trie = self.subs.write();
        for f in filters {
            trie.remove(f, session_id);
        }
    }

    /// Publish a will, recording it with `ticket` (that of the change that
    /// released it, so the two are durable together).
    pub(crate) fn publish_will(&self, will: Arc<Message>, now: Instant, ticket: Option<Ticket>) {
        let mut congested = Vec::new();
        // [MQTT-3.1.3-9 context] a will's expiry counts from its publication.
        let (out, _ticket) = self.publish_in(will.armed(now), now, &mut congested, ticket);
        tracing::debug!(matched = out.matched, "will published");
    }

    pub(crate) fn schedule(&self, at: Instant, will: bool, epoch: u64, session: Arc<Session>) {
        let kind = if will {
            TimerKind::Will
        } else {
            TimerKind::Expiry
        };
        self.timers.lock().push(Reverse(Timer {
            at,
            kind,
            epoch,
            session,
        }));
    }

    /// The earliest pending timer (delayed will or session expiry).
    pub fn next_timer(&self) -> Option<Instant> {
        self.timers.lock().peek().map(|Reverse(t)| t.at)
    }

    /// Run what is due at `now`: publish delayed wills, expire sessions, and
    /// drop expired retained messages. Call about once a second.
    pub fn tick(&self, now: Instant) {
        loop {
            let due = {
                let mut timers = self.timers.lock();
                match timers.peek() {
                    Some(Reverse(t)) if t.at <= now => timers.pop().map(|Reverse(t)| t),
                    _ => None,
                }
            };
            let Some(t) = due else { break };
            match t.kind {
                TimerKind::Will => {
                    let mut ticket = None;
                    let will = {
                        let mut s = t.session.lock();
                        let s = &mut *s;
                        if s.epoch != t.epoch {
                            None
                        } else {
                            let will = s.pending_will.take();
                            if will.is_some() {
                                ticket = self.ticket_for(s);
                                if let Some(tk) = ticket.as_mut() {
                                    tk.push(PersistOp::DeleteWill {
                                        client_id: t.session.client_id().clone(),
                                    });
                                }
                            }
                            will
                        }
                    };
                    if let Some(w) = will {
                        self.publish_will(w, now, ticket);
                    }
                }
                TimerKind::Expiry => self.expire_session(&t.session, t.epoch, now),
            }
        }
    }

    /// Drop expired retained messages (MQTT 5 message expiry).
    pub fn sweep_retained(&self, now: Instant) -> usize {
        let mut guard = self.retained.write();
        let retained = &mut *guard;
        let expired = retained.remove_expired(now);
        if let (Some(store), false) = (self.store(), expired.is_empty()) {
            let mut slot = None;
            let ticket = crate::persist::ticket_after(&mut slot, &mut retained.last_pos, store);
            for topic in &expired {
                if let Ok(topic) = komar_proto::TopicName::new(topic) {
                    ticket.push(PersistOp::ClearRetained(topic));
                }
            }
        }
        expired.len()
    }

    fn expire_session(&self, session: &Arc<Session>, epoch: u64, now: Instant) {
        let mut ticket;
        let (filters, will) = {
            let mut table = self.shard(session.client_id()).lock();
            let mut s = session.lock();
            if s.epoch != epoch || s.owner.is_some() {
                return;
            }
            ticket = self.ticket_for(&mut s);
            if let Some(t) = ticket.as_mut() {
                t.push(PersistOp::DeleteSession {
                    client_id: session.client_id().clone(),
                });
            }
            s.persisted = false;
            if table
                .get(session.client_id())
                .is_some_and(|cur| Arc::ptr_eq(cur, session))
            {
                table.remove(session.client_id());
            }
            s.epoch += 1;
            s.queue.clear();
            s.inflight.clear();
            let filters: Vec<TopicFilter> = s.subscriptions.drain().map(|(f, _)| f).collect();
            (filters, s.pending_will.take())
        };
        self.remove_subscriptions(session.id(), &filters);
        self.stats.clients_expired.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(client_id = %session.client_id(), "session expired");
        // [MQTT-3.1.2-8] the will is published when the session ends.
        if let Some(w) = will {
            self.publish_will(w, now, ticket);
        }
    }

    /// End `session` now (clean start of a new connection, or expiry 0 at
    /// disconnect): forget its state, remove its subscriptions, and publish
    /// a will still waiting for its delay. The caller recorded the end in
    /// storage (`DeleteSession`) with `ticket`, under the session's lock.
    pub(crate) fn end_session(&self, session: &Arc<Session>, now: Instant, ticket: Option<Ticket>) {
        let (filters, will) = {
            let mut s = session.lock();
            s.persisted = false;
            s.epoch += 1;
            s.queue.clear();
            s.inflight.clear();
            s.incoming_qos2.clear();
            let filters: Vec<TopicFilter> = s.subscriptions.drain().map(|(f, _)| f).collect();
            (filters, s.pending_will.take())
        };
        self.remove_subscriptions(session.id(), &filters);
        if let Some(w) = will {
            self.publish_will(w, now, ticket);
        }
    }

    /// When a disconnected session with `interval` seconds of expiry
    /// expires, taking `persistent_client_expiration` into account.
    pub(crate) fn expiry_deadline(&self, interval: u32, now: Instant) -> Option<Instant> {
        if interval == NEVER_EXPIRES {
            self.config.persistent_client_expiration.map(|d| now + d)
        } else {
            Some(now + Duration::from_secs(u64::from(interval)))
        }
    }

    /// Every session with a connection attached, with who is connected.
    pub fn online_clients(&self) -> Vec<(Arc<Session>, Arc<ClientIdentity>)> {
        let mut out = Vec::new();
        for shard in self.shards.iter() {
            for session in shard.lock().values() {
                let s = session.lock();
                if let (Some(_), Some(id)) = (s.owner, &s.identity) {
                    out.push((session.clone(), id.clone()));
                }
            }
        }
        out
    }

    /// Close the connection attached to `session`, sending v5 clients
    /// DISCONNECT with `code` (e.g. after its login was revoked on reload).
    pub fn kick(&self, session: &Arc<Session>, code: komar_proto::ReasonCode) {
        self.kick_with(
            session,
            Kick {
                code,
                server_reference: None,
            },
        );
    }

    fn kick_with(&self, session: &Arc<Session>, kick: Kick) {
        let waker = {
            let mut s = session.lock();
            if s.owner.is_none() {
                return;
            }
            s.kick = Some(Box::new(kick));
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// The redirect in force, if any.
    pub fn redirect(&self) -> Option<Redirect> {
        self.redirect.read().clone()
    }

    /// Send clients elsewhere from now on (or stop doing so): new MQTT 5
    /// clients get CONNACK 0x9C / 0x9D with the Server Reference and 3.x
    /// clients are refused as "server unavailable"; clients connected now
    /// are disconnected the same way (v5: DISCONNECT 0x9C / 0x9D with the
    /// Server Reference) — draining this node.
    pub fn set_redirect(&self, redirect: Option<Redirect>) {
        *self.redirect.write() = redirect.clone();
        let Some(r) = redirect else { return };
        for (session, _) in self.online_clients() {
            self.kick_with(
                &session,
                Kick {
                    code: r.code(),
                    server_reference: Some(r.reference.clone()),
                },
            );
        }
    }

    /// Retained messages matching `filter`, unexpired at `now`.
    /// The retained store, locked for reading (see [`Broker::publish_in`]
    /// for why SUBSCRIBE holds it).
    pub(crate) fn retained_read(&self) -> RwLockReadGuard<'_, RetainedStore> {
        self.retained.read()
    }
}
