//! The crash test: `komar` with persistence is killed with SIGKILL at a
//! random point while publishers send, restarted on the same store, and
//! checked — for several rounds on one store.
//!
//! Each round: three raw publishers send numbered QoS 1 messages (3.1.1,
//! clean session), numbered QoS 2 messages (5.0, persistent session) and
//! retained updates (3.1.1, clean session; QoS 1 and 2 alternately) on
//! four topics, a window of messages in flight each; the broker is killed
//! after a random delay or a random number of acknowledgements; it is
//! restarted; the QoS 2 publisher reconnects and finishes its interrupted
//! flows as a client must (PUBLISH again with DUP=1, or PUBREL); the
//! retained values are read; two persistent subscribers come back and
//! drain their sessions:
//! - a QoS 1 subscriber (3.1.1) of both streams, and
//! - a QoS 2 subscriber (5.0) of the QoS 2 stream.
//!
//! The subscribers are offline while the publishers run (their messages
//! queue) or, in a random half of the rounds, online (messages are in
//! flight to them when the broker dies).
//!
//! Checked after every round, across all rounds so far:
//! - every QoS 1 message whose PUBACK its publisher received before the
//!   kill has reached the QoS 1 subscriber;
//! - every QoS 2 message sent (acknowledged before the kill or finished
//!   after it) has reached both subscribers, and the QoS 2 subscriber has
//!   got none twice (exactly once; it keeps, as a client must, the packet
//!   ids it answered with PUBREC until their PUBREL, so a PUBLISH sent
//!   again for one of those is not a new delivery) — the QoS 1 subscriber
//!   may get duplicates;
//! - nothing arrives that was not sent;
//! - every retained topic holds the last acknowledged value or one sent
//!   after it (the broker may have stored an unacknowledged later one).
//!
//! The kill points come from a xorshift generator whose seed is printed
//! (`KOMAR_CRASH_SEED=<seed>` repeats a run's choices). Rounds:
//! `KOMAR_CRASH_ROUNDS` (default 3, for CI). The long version:
//! `KOMAR_CRASH_ROUNDS=25 cargo test --release -p komar --test crash -- --nocapture`.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::config::{Conf, Configured};
use common::raw::{self, Connect, Raw};
use common::{unique, Komar, TIMEOUT};

/// Queues far above what a round publishes, so nothing acknowledged is
/// dropped for lack of room.
const CONF: &str = "listener {port} 127.0.0.1\nallow_anonymous true\n\
                    persistence true\npersistence_location {dir}/\n\
                    max_queued_messages 100000\n";

/// Messages each publisher sends at most per round.
const PER_ROUND: usize = 3000;
/// Messages each publisher keeps in flight.
const WINDOW: usize = 16;
/// Retained topics.
const RETAINED_TOPICS: usize = 4;
/// Longest random delay before the kill.
const MAX_KILL_DELAY_MS: u64 = 300;
/// Largest random number of acknowledgements before the kill.
const MAX_KILL_ACKS: u64 = 3 * PER_ROUND as u64;

/// xorshift64* — enough randomness for kill points, no dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        // Never zero (xorshift would stay there).
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15 | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform enough in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// What one publisher sent and had acknowledged (PUBACK, or PUBCOMP for
/// QoS 2), by payload.
#[derive(Default)]
struct Ledger {
    sent: Vec<String>,
    acked: Vec<String>,
}

/// One message a publisher sends: topic, payload, QoS, retain.
type Msg = (String, String, u8, bool);

/// Send `msgs` from a fresh clean-session connection at protocol `level`,
/// `WINDOW` in flight, recording in `ledger`, until all are acknowledged
/// or the connection breaks (the broker was killed).
async fn publish_all(port: u16, level: u8, msgs: Vec<Msg>, ledger: Arc<Mutex<Ledger>>) {
    let (mut c, _) = Raw::connect(port, &Connect::new(level, &unique("pub"))).await;
    let mut out: HashMap<u16, String> = HashMap::new();
    let mut msgs = msgs.into_iter().enumerate().peekable();
    loop {
        while out.len() < WINDOW {
            let Some((n, (topic, payload, qos, retain))) = msgs.next() else {
                break;
            };
            let pid = (n % 60_000) as u16 + 1;
            ledger.lock().unwrap().sent.push(payload.clone());
            c.send(&raw::publish(
                level,
                &topic,
                qos,
                pid,
                retain,
                false,
                payload.as_bytes(),
            ))
            .await;
            out.insert(pid, payload);
        }
        if out.is_empty() {
            return;
        }
        let f = match c.recv_within(TIMEOUT).await {
            Ok(Some(f)) => f,
            // Killed.
            Ok(None) => return,
            Err(()) => panic!("publisher: no acknowledgement within {TIMEOUT:?}"),
        };
        // A v5 reason code of 0x80 or more refuses the message.
        let refused = f.body.len() > 2 && f.body[2] >= 0x80;
        match f.kind() {
            raw::PUBACK | raw::PUBCOMP => {
                let payload = out.remove(&f.pid()).expect("acknowledgement of a sent id");
                assert!(!refused, "broker refused {payload}: {f:?}");
                ledger.lock().unwrap().acked.push(payload);
            }
            raw::PUBREC => {
                assert!(!refused, "broker refused {:?}: {f:?}", out.get(&f.pid()));
                c.send(&raw::ack(raw::PUBREL, f.pid())).await;
            }
            other => panic!("publisher: unexpected packet type {other}: {f:?}"),
        }
    }
}

/// The QoS 2 publisher: a persistent session (5.0, Session Expiry 1 h)
/// that keeps, as a real client must, its unfinished flows across
/// connections and resumes them after the restart — PUBLISH again with
/// DUP=1 for those without PUBREC, PUBREL for the others [MQTT-4.4.0-1].
/// Once it has finished, every message it sent must reach the QoS 2
/// subscriber exactly once, acknowledged before the kill or not.
struct SessionPublisher {
    connect: Connect,
    /// Flows not finished, in send order: packet id, payload, PUBREC seen.
    pending: Vec<(u16, String, bool)>,
    /// The last packet id used.
    last_pid: u16,
    /// Connected before (its session must then be present).
    known: bool,
}

impl SessionPublisher {
    fn new(connect: Connect) -> SessionPublisher {
        SessionPublisher {
            connect,
            pending: Vec::new(),
            last_pid: 0,
            known: false,
        }
    }

    /// A packet id no unfinished flow uses.
    fn next_pid(&mut self) -> u16 {
        loop {
            self.last_pid = self.last_pid.checked_add(1).unwrap_or(1);
            if self.pending.iter().all(|(pid, _, _)| *pid != self.last_pid) {
                return self.last_pid;
            }
        }
    }

    /// Connect, resume unfinished flows, send `msgs` on `topic` (QoS 2,
    /// `WINDOW` in flight) until all are finished or the broker is killed.
    async fn run(
        mut self,
        port: u16,
        topic: String,
        msgs: Vec<String>,
        ledger: Arc<Mutex<Ledger>>,
    ) -> Self {
        let level = self.connect.level;
        let (mut c, present) = Raw::connect(port, &self.connect).await;
        assert_eq!(present, self.known, "QoS 2 publisher: session present");
        self.known = true;
        for (pid, payload, rec) in &self.pending {
            if *rec {
                c.send(&raw::ack(raw::PUBREL, *pid)).await;
            } else {
                c.send(&raw::publish(
                    level,
                    &topic,
                    2,
                    *pid,
                    false,
                    true,
                    payload.as_bytes(),
                ))
                .await;
            }
        }
        let mut msgs = msgs.into_iter();
        loop {
            while self.pending.len() < WINDOW {
                let Some(payload) = msgs.next() else {
                    break;
                };
                let pid = self.next_pid();
                ledger.lock().unwrap().sent.push(payload.clone());
                c.send(&raw::publish(
                    level,
                    &topic,
                    2,
                    pid,
                    false,
                    false,
                    payload.as_bytes(),
                ))
                .await;
                self.pending.push((pid, payload, false));
            }
            if self.pending.is_empty() {
                return self;
            }
            let f = match c.recv_within(TIMEOUT).await {
                Ok(Some(f)) => f,
                Ok(None) => return self,
                Err(()) => panic!("QoS 2 publisher: no acknowledgement within {TIMEOUT:?}"),
            };
            let at = self
                .pending
                .iter()
                .position(|(pid, _, _)| *pid == f.pid())
                .unwrap_or_else(|| panic!("QoS 2 publisher: {f:?} for no flow"));
            match f.kind() {
                raw::PUBREC => {
                    assert!(
                        f.body.len() <= 2 || f.body[2] < 0x80,
                        "broker refused {}: {f:?}",
                        self.pending[at].1
                    );
                    self.pending[at].2 = true;
                    c.send(&raw::ack(raw::PUBREL, f.pid())).await;
                }
                // (A PUBCOMP 0x92 answers a PUBREL sent again whose
                // first PUBCOMP was lost in the kill: finished too.)
                raw::PUBCOMP => {
                    let (_, payload, rec) = self.pending.remove(at);
                    assert!(rec, "QoS 2 publisher: PUBCOMP before PUBREC for {payload}");
                    ledger.lock().unwrap().acked.push(payload);
                }
                other => panic!("QoS 2 publisher: unexpected packet type {other}: {f:?}"),
            }
        }
    }
}

/// A persistent subscriber as a real client keeps it: its session, and
/// the QoS 2 packet ids it answered with PUBREC and not yet saw released.
struct Subscriber {
    name: &'static str,
    connect: Connect,
    level: u8,
    /// QoS 2 deliveries awaiting PUBREL: packet id → payload.
    awaiting_rel: HashMap<u16, String>,
    /// Deliveries by payload (sentinels not counted).
    received: HashMap<String, u32>,
    /// Deliveries of the same payload more than once.
    duplicates: u64,
    /// QoS 2 messages sent again before their PUBREL (not deliveries).
    resent_before_rel: u64,
}

impl Subscriber {
    fn new(name: &'static str, connect: Connect) -> Subscriber {
        Subscriber {
            name,
            level: connect.level,
            connect,
            awaiting_rel: HashMap::new(),
            received: HashMap::new(),
            duplicates: 0,
            resent_before_rel: 0,
        }
    }

    /// First connection: subscribe, then go offline.
    async fn subscribe(&mut self, port: u16, filter: &str, qos: u8) {
        let (mut s, present) = Raw::connect(port, &self.connect).await;
        assert!(!present, "{}: new session", self.name);
        assert_eq!(s.subscribe(1, filter, qos).await, qos);
        self.disconnect(s).await;
    }

    async fn disconnect(&self, mut s: Raw) {
        let bye = if self.level == 5 {
            raw::disconnect_v5(0, &[])
        } else {
            raw::disconnect_v3()
        };
        s.send_ok(&bye).await;
        // PUBRELs may still come for QoS 2 messages before the sentinel;
        // left unanswered, they are sent again on the next connection.
        let late = s.closed().await;
        assert!(
            late.iter().all(|f| f.kind() == raw::PUBREL),
            "{}: only PUBRELs after the sentinel: {late:?}",
            self.name
        );
    }

    /// Reconnect (the session must be present), have `sentinel` published
    /// on `topic` and take everything up to it, answering as a client
    /// does; then go offline again.
    async fn drain(&mut self, port: u16, topic: &str, sentinel: &str) {
        let (mut s, present) = Raw::connect(port, &self.connect).await;
        assert!(present, "{}: session present after the restart", self.name);
        publish_one(port, topic, sentinel).await;
        loop {
            let f = s
                .recv()
                .await
                .unwrap_or_else(|| panic!("{}: closed while draining", self.name));
            if self.take(&mut s, &f).await.as_deref() == Some(sentinel) {
                break;
            }
        }
        self.disconnect(s).await;
    }

    /// Connect (the session must be present) to stay online while the
    /// publishers run.
    async fn connect(&self, port: u16) -> Raw {
        let (s, present) = Raw::connect(port, &self.connect).await;
        assert!(present, "{}: session present", self.name);
        s
    }

    /// Connected (on `s`) while the publishers run: take everything until
    /// the broker is killed.
    async fn online(mut self, mut s: Raw) -> Subscriber {
        loop {
            match s.recv_within(TIMEOUT).await {
                Ok(Some(f)) => {
                    self.take(&mut s, &f).await;
                }
                Ok(None) => return self,
                Err(()) => panic!("{}: no packet and no kill within {TIMEOUT:?}", self.name),
            }
        }
    }

    /// Answer one packet as a client does; returns the payload of a
    /// PUBLISH that is a delivery (not a QoS 2 message seen again before
    /// its PUBREL), counting it unless it is a sentinel.
    async fn take(&mut self, s: &mut Raw, f: &raw::Frame) -> Option<String> {
        match f.kind() {
            raw::PUBLISH => {
                let p = raw::parse_publish(f, self.level);
                let payload = String::from_utf8(p.payload).expect("UTF-8 payload");
                match p.qos {
                    2 => {
                        s.send(&raw::ack(raw::PUBREC, p.pid)).await;
                        if let Some(before) = self.awaiting_rel.get(&p.pid) {
                            // The same message again before its PUBREL:
                            // not a new delivery [MQTT-4.3.3-10].
                            assert!(p.dup, "{}: id {} reused before PUBREL", self.name, p.pid);
                            assert_eq!(before, &payload, "{}: id {} reused", self.name, p.pid);
                            self.resent_before_rel += 1;
                            return None;
                        }
                        self.awaiting_rel.insert(p.pid, payload.clone());
                    }
                    1 => s.send(&raw::ack(raw::PUBACK, p.pid)).await,
                    _ => {}
                }
                if !payload.starts_with("sentinel") {
                    let n = self.received.entry(payload.clone()).or_insert(0);
                    *n += 1;
                    if *n > 1 {
                        self.duplicates += 1;
                    }
                }
                Some(payload)
            }
            raw::PUBREL => {
                self.awaiting_rel.remove(&f.pid());
                s.send(&raw::ack(raw::PUBCOMP, f.pid())).await;
                None
            }
            other => panic!("{}: unexpected packet type {other}: {f:?}", self.name),
        }
    }
}

/// Publish one QoS 1 message from a fresh client and wait for its PUBACK.
async fn publish_one(port: u16, topic: &str, payload: &str) {
    let (mut c, _) = Raw::connect(port, &Connect::new(4, &unique("one"))).await;
    c.send_ok(&raw::publish(
        4,
        topic,
        1,
        1,
        false,
        false,
        payload.as_bytes(),
    ))
    .await;
    assert_eq!(c.expect(raw::PUBACK).await.pid(), 1);
}

/// The retained messages under `filter` as a fresh subscriber gets them:
/// topic → payload. A message it publishes itself after the SUBACK marks
/// the end.
async fn retained(port: u16, filter: &str, end_topic: &str) -> BTreeMap<String, String> {
    let (mut c, _) = Raw::connect(port, &Connect::new(4, &unique("ret"))).await;
    assert_eq!(c.subscribe(1, filter, 0).await, 0);
    c.send_ok(&raw::publish(4, end_topic, 0, 0, false, false, b"end"))
        .await;
    let mut got = BTreeMap::new();
    loop {
        let p = c.expect_publish().await;
        if p.payload == b"end" {
            return got;
        }
        assert!(p.retain, "only retained messages before the end: {p:?}");
        got.insert(p.topic, String::from_utf8(p.payload).unwrap());
    }
}

/// The retained publisher's state across rounds, per topic.
#[derive(Default, Clone, Copy)]
struct RetainedTopic {
    /// The next sequence number to send.
    next: u64,
    /// The highest sequence number acknowledged so far.
    last_acked: Option<u64>,
}

fn start(conf: Conf) -> Configured {
    let k = Komar::start_conf(conf);
    k.wait_log("Restored ");
    k
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_points_loses_nothing_acknowledged() {
    let rounds = env_u64("KOMAR_CRASH_ROUNDS").unwrap_or(3) as usize;
    let seed = env_u64("KOMAR_CRASH_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    println!("crash test: {rounds} rounds, seed {seed} (KOMAR_CRASH_SEED={seed} repeats it)");
    let mut rng = Rng::new(seed);
    let began = Instant::now();

    let mut k = start(Conf::write(CONF));
    let port = k.port;
    let t = unique("crash");
    let (q1_topic, q2_topic) = (format!("{t}/q/1"), format!("{t}/q/2"));
    let retained_topic = |n: usize| format!("{t}/r/{n}");
    let mut s1 = Subscriber::new(
        "QoS 1 subscriber",
        Connect::new(4, &unique("s1")).clean(false),
    );
    let mut s2 = Subscriber::new(
        "QoS 2 subscriber",
        Connect::new(5, &unique("s2"))
            .clean(false)
            .session_expiry(3600),
    );
    s1.subscribe(port, &format!("{t}/q/#"), 1).await;
    s2.subscribe(port, &q2_topic, 2).await;
    // Taken out while they run in their own tasks.
    let (mut s1, mut s2) = (Some(s1), Some(s2));

    let mut q2_pub = SessionPublisher::new(
        Connect::new(5, &unique("p2"))
            .clean(false)
            .session_expiry(3600),
    );
    let mut acked_q1: Vec<String> = Vec::new();
    let mut sent_q2: Vec<String> = Vec::new();
    let mut sent_q: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut ret = [RetainedTopic::default(); RETAINED_TOPICS];
    let (mut total_sent, mut total_acked) = (0usize, 0usize);

    for round in 0..rounds {
        let round_began = Instant::now();
        let q1: Vec<Msg> = (0..PER_ROUND)
            .map(|n| (q1_topic.clone(), format!("q1-{round}-{n}"), 1, false))
            .collect();
        let q2: Vec<String> = (0..PER_ROUND).map(|n| format!("q2-{round}-{n}")).collect();
        let mut r: Vec<Msg> = Vec::with_capacity(PER_ROUND);
        for n in 0..PER_ROUND {
            let topic = n % RETAINED_TOPICS;
            let seq = ret[topic].next;
            ret[topic].next += 1;
            let qos = if seq % 2 == 0 { 1 } else { 2 };
            r.push((retained_topic(topic), format!("r{topic}-{seq}"), qos, true));
        }
        // Subscribers offline while publishing (their messages queue), or
        // online (in flight when the broker dies).
        let online = rng.below(2) == 0;
        let pumps = if online {
            let (a, b) = (s1.take().unwrap(), s2.take().unwrap());
            let (sa, sb) = (a.connect(port).await, b.connect(port).await);
            Some((tokio::spawn(a.online(sa)), tokio::spawn(b.online(sb))))
        } else {
            None
        };
        let ledgers: Vec<Arc<Mutex<Ledger>>> = (0..3).map(|_| Arc::default()).collect();
        let tasks = [
            tokio::spawn(publish_all(port, 4, q1, ledgers[0].clone())),
            tokio::spawn(publish_all(port, 4, r, ledgers[2].clone())),
        ];
        let q2_task = tokio::spawn(q2_pub.run(port, q2_topic.clone(), q2, ledgers[1].clone()));

        // The kill point: a random delay, or a random number of
        // acknowledgements (polled; all sent also ends the wait).
        let how = if rng.below(2) == 0 {
            let ms = rng.below(MAX_KILL_DELAY_MS + 1);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            format!("after {ms} ms")
        } else {
            let target = rng.below(MAX_KILL_ACKS + 1) as usize;
            let deadline = Instant::now() + TIMEOUT;
            loop {
                let acked: usize = ledgers.iter().map(|l| l.lock().unwrap().acked.len()).sum();
                if acked >= target
                    || (q2_task.is_finished() && tasks.iter().all(|t| t.is_finished()))
                {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{target} acknowledgements never came"
                );
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            format!("after {target} acknowledgements")
        };
        k.signal_and_wait("KILL");
        for task in tasks {
            tokio::time::timeout(TIMEOUT, task)
                .await
                .expect("publisher ends after the kill")
                .expect("publisher task");
        }
        q2_pub = tokio::time::timeout(TIMEOUT, q2_task)
            .await
            .expect("publisher ends after the kill")
            .expect("publisher task");
        let q2_unfinished = q2_pub.pending.len();
        if let Some((a, b)) = pumps {
            let ends = "subscriber ends after the kill";
            s1 = Some(tokio::time::timeout(TIMEOUT, a).await.expect(ends).unwrap());
            s2 = Some(tokio::time::timeout(TIMEOUT, b).await.expect(ends).unwrap());
        }
        let (s1, s2) = (s1.as_mut().unwrap(), s2.as_mut().unwrap());
        let subscribers = if online { "online" } else { "offline" };
        let (sent, acked) = {
            let (q1l, q2l, rl) = (
                ledgers[0].lock().unwrap(),
                ledgers[1].lock().unwrap(),
                ledgers[2].lock().unwrap(),
            );
            let sent = q1l.sent.len() + q2l.sent.len() + rl.sent.len();
            let acked = q1l.acked.len() + q2l.acked.len() + rl.acked.len();
            total_sent += sent;
            total_acked += acked;
            acked_q1.extend(q1l.acked.iter().cloned());
            sent_q.extend(q1l.sent.iter().cloned());
            sent_q.extend(q2l.sent.iter().cloned());
            sent_q2.extend(q2l.sent.iter().cloned());
            for payload in &rl.acked {
                let (topic, seq) = parse_retained(payload);
                let last = &mut ret[topic].last_acked;
                *last = Some(last.map_or(seq, |l| l.max(seq)));
            }
            (sent, acked)
        };

        let restart_began = Instant::now();
        k = start(k.conf.clone());
        let restart_took = restart_began.elapsed();
        let restored = k.wait_log("Restored ");
        // The QoS 2 publisher finishes what the kill interrupted.
        let finish = Arc::new(Mutex::new(Ledger::default()));
        q2_pub = q2_pub.run(port, q2_topic.clone(), Vec::new(), finish).await;
        assert!(q2_pub.pending.is_empty());

        // Retained: the last acknowledged value or a later one sent.
        let values = retained(port, &format!("{t}/r/#"), &format!("{t}/r/end")).await;
        for (n, state) in ret.iter().enumerate() {
            let topic = retained_topic(n);
            match (values.get(&topic), state.last_acked) {
                (None, None) => {}
                (None, Some(l)) => panic!(
                    "round {round} (seed {seed}): {topic} lost its retained value; r{n}-{l} was acknowledged"
                ),
                (Some(v), last) => {
                    let (m, seq) = parse_retained(v);
                    assert_eq!(m, n, "{topic} holds another topic's value {v}");
                    assert!(
                        seq < state.next && last.is_none_or(|l| seq >= l),
                        "round {round} (seed {seed}): {topic} holds {v}; last acknowledged {last:?}, last sent {}",
                        state.next - 1
                    );
                }
            }
        }

        let sentinel = format!("sentinel-{round}");
        s1.drain(port, &q2_topic, &format!("{sentinel}-s1")).await;
        s2.drain(port, &q2_topic, &format!("{sentinel}-s2")).await;
        // Every QoS 2 message sent is finished by now.
        for (sub, acked) in [(&*s1, &acked_q1), (&*s1, &sent_q2), (&*s2, &sent_q2)] {
            let missing: Vec<&String> = acked
                .iter()
                .filter(|p| !sub.received.contains_key(*p))
                .collect();
            assert!(
                missing.is_empty(),
                "round {round} (seed {seed}, killed {how}, subscribers {subscribers}): {} acknowledged messages never reached the {}: {:?}",
                missing.len(),
                sub.name,
                &missing[..missing.len().min(20)]
            );
        }
        for sub in [&*s1, &*s2] {
            let unknown: Vec<&String> = sub
                .received
                .keys()
                .filter(|p| !sent_q.contains(*p))
                .collect();
            assert!(unknown.is_empty(), "{} got unsent {unknown:?}", sub.name);
        }
        let twice: Vec<(&String, &u32)> = s2.received.iter().filter(|(_, n)| **n > 1).collect();
        assert!(
            twice.is_empty(),
            "round {round} (seed {seed}, killed {how}, subscribers {subscribers}): QoS 2 delivered more than once: {:?}",
            &twice[..twice.len().min(20)]
        );
        println!(
            "round {round}: subscribers {subscribers}, killed {how}; sent {sent}, acknowledged {acked}, \
             {q2_unfinished} QoS 2 flows resumed; restart {restart_took:?} ({}); QoS 1 subscriber {} payloads ({} duplicates so far), QoS 2 subscriber {} ({} re-sent before PUBREL); round {:?}",
            restored.split("Restored ").nth(1).unwrap_or(""),
            s1.received.len(),
            s1.duplicates,
            s2.received.len(),
            s2.resent_before_rel,
            round_began.elapsed()
        );
    }
    let status = k.signal_and_wait("TERM");
    assert!(status.success(), "SIGTERM: {status}: {}", k.log_text());
    println!(
        "crash test: {rounds} rounds, {total_sent} messages sent, {total_acked} acknowledged, \
         {} QoS 1 duplicates, 0 QoS 2 duplicates, in {:?}",
        s1.as_ref().map_or(0, |s| s.duplicates),
        began.elapsed()
    );
}

/// `r<topic>-<seq>` → (topic, seq).
fn parse_retained(payload: &str) -> (usize, u64) {
    let (topic, seq) = payload
        .strip_prefix('r')
        .and_then(|s| s.split_once('-'))
        .unwrap_or_else(|| panic!("not a retained payload: {payload}"));
    (topic.parse().unwrap(), seq.parse().unwrap())
}
