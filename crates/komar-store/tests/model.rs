//! Model test: random sequences of operation groups go to the store and to
//! a plain in-memory model of what the store should hold; at random points
//! (and at the end) the store is closed and reopened, and its snapshot must
//! equal the model — sessions, subscriptions, queues in order, in-flight
//! state both ways, wills, retained messages, and exactly the messages
//! still referred to (reference counting and collection included).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroU32;

use common::*;
use komar_proto::{
    PacketId, ProtocolVersion, QoS, RetainHandling, SubscriptionOptions, TopicFilter, TopicName,
};
use komar_store::{
    DeliveryRecord, Durable, MsgId, Op, OutState, OutgoingRecord, SessionRecord, SessionState,
    Snapshot, Store, StoredMessage, SubscriptionRecord, UnixTime, WillRecord,
};
use proptest::prelude::*;

/// Which message a delivery refers to.
#[derive(Debug, Clone)]
enum Pick {
    /// A new message (put in the same group).
    New(u8),
    /// One of the messages the store holds now (by index, modulo).
    Existing(usize),
}

#[derive(Debug, Clone)]
enum A {
    PutSession {
        c: u8,
        expiry: u32,
        user: bool,
        v5: bool,
    },
    DeleteSession {
        c: u8,
    },
    PutSub {
        c: u8,
        f: u8,
        opts: u8,
        id: u32,
    },
    DeleteSub {
        c: u8,
        f: u8,
    },
    Enqueue {
        c: u8,
        seq: u8,
        msg: Pick,
        qos: u8,
        sub_ids: Vec<u32>,
    },
    Dequeue {
        c: u8,
        seq: u8,
    },
    PutOut {
        c: u8,
        pid: u16,
        seq: u8,
        msg: Pick,
        state: u8,
    },
    MoveToFlight {
        c: u8,
        seq: u8,
        pid: u16,
    },
    SetOut {
        c: u8,
        pid: u16,
        state: u8,
    },
    DeleteOut {
        c: u8,
        pid: u16,
    },
    AddIn {
        c: u8,
        pid: u16,
    },
    RemoveIn {
        c: u8,
        pid: u16,
    },
    PutRetained {
        t: u8,
        payload: u8,
    },
    ClearRetained {
        t: u8,
    },
    PutWill {
        c: u8,
        due: u16,
    },
    DeleteWill {
        c: u8,
    },
}

#[derive(Debug, Clone)]
enum Step {
    Group(Vec<A>),
    Reopen,
}

fn pick() -> impl Strategy<Value = Pick> {
    prop_oneof![
        any::<u8>().prop_map(Pick::New),
        any::<usize>().prop_map(Pick::Existing)
    ]
}

fn action() -> impl Strategy<Value = A> {
    let c = 0u8..4;
    let pid = 1u16..6;
    prop_oneof![
        3 => (c.clone(), any::<u32>(), any::<bool>(), any::<bool>())
            .prop_map(|(c, expiry, user, v5)| A::PutSession { c, expiry, user, v5 }),
        1 => c.clone().prop_map(|c| A::DeleteSession { c }),
        2 => (c.clone(), 0u8..4, 0u8..0x30, 0u32..3)
            .prop_map(|(c, f, opts, id)| A::PutSub { c, f, opts, id }),
        1 => (c.clone(), 0u8..4).prop_map(|(c, f)| A::DeleteSub { c, f }),
        4 => (c.clone(), 0u8..8, pick(), 0u8..3, proptest::collection::vec(1u32..5, 0..3))
            .prop_map(|(c, seq, msg, qos, sub_ids)| A::Enqueue { c, seq, msg, qos, sub_ids }),
        2 => (c.clone(), 0u8..8).prop_map(|(c, seq)| A::Dequeue { c, seq }),
        2 => (c.clone(), pid.clone(), any::<u8>(), pick(), 0u8..3)
            .prop_map(|(c, pid, seq, msg, state)| A::PutOut { c, pid, seq, msg, state }),
        2 => (c.clone(), 0u8..8, pid.clone())
            .prop_map(|(c, seq, pid)| A::MoveToFlight { c, seq, pid }),
        1 => (c.clone(), pid.clone(), 0u8..3).prop_map(|(c, pid, state)| A::SetOut { c, pid, state }),
        1 => (c.clone(), pid.clone()).prop_map(|(c, pid)| A::DeleteOut { c, pid }),
        1 => (c.clone(), pid.clone()).prop_map(|(c, pid)| A::AddIn { c, pid }),
        1 => (c.clone(), pid.clone()).prop_map(|(c, pid)| A::RemoveIn { c, pid }),
        2 => (0u8..4, any::<u8>()).prop_map(|(t, payload)| A::PutRetained { t, payload }),
        1 => (0u8..4).prop_map(|t| A::ClearRetained { t }),
        1 => (c.clone(), any::<u16>()).prop_map(|(c, due)| A::PutWill { c, due }),
        1 => c.prop_map(|c| A::DeleteWill { c }),
    ]
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        12 => proptest::collection::vec(action(), 1..5).prop_map(Step::Group),
        1 => Just(Step::Reopen),
    ];
    proptest::collection::vec(step, 1..40)
}

fn client(c: u8) -> String {
    // Different lengths, so length-prefixed keys are exercised.
    ["a", "bb", "client/ü", ""][usize::from(c) % 4].to_owned() + &c.to_string()
}

fn filter(f: u8) -> TopicFilter {
    TopicFilter::new(["a/b", "a/+", "#", "$share/g/x"][usize::from(f) % 4]).unwrap()
}

fn state(s: u8) -> OutState {
    [
        OutState::AwaitPubAck,
        OutState::AwaitPubRec,
        OutState::AwaitPubComp,
    ][usize::from(s) % 3]
}

fn qos(q: u8) -> QoS {
    QoS::from_u8(q % 3).unwrap()
}

fn pid(p: u16) -> PacketId {
    PacketId::new(p).unwrap()
}

fn message(n: u8) -> StoredMessage {
    let mut m = msg(&format!("m/{n}"), &"x".repeat(usize::from(n % 7)));
    if n.is_multiple_of(3) {
        m.properties.user_properties = vec![("n".into(), n.to_string())];
        m.expires_at = Some(UnixTime(u64::from(n) * 1000));
    }
    m
}

#[derive(Debug, Default, Clone)]
struct Client {
    session: Option<SessionRecord>,
    subs: BTreeMap<String, (TopicFilter, SubscriptionRecord)>,
    queue: BTreeMap<u64, DeliveryRecord>,
    out: BTreeMap<u16, (OutState, u64, DeliveryRecord)>,
    incoming: BTreeSet<u16>,
    will: Option<WillRecord>,
}

impl Client {
    fn entries(&self) -> usize {
        self.subs.len()
            + self.queue.len()
            + self.out.len()
            + self.incoming.len()
            + usize::from(self.will.is_some())
    }
}

#[derive(Debug, Default, Clone)]
struct Model {
    clients: BTreeMap<String, Client>,
    msgs: BTreeMap<MsgId, (StoredMessage, u32)>,
    retained: BTreeMap<String, StoredMessage>,
}

impl Model {
    fn release(&mut self, id: MsgId) {
        if let Some((_, n)) = self.msgs.get_mut(&id) {
            *n -= 1;
        }
    }

    fn acquire(&mut self, id: MsgId) {
        if let Some((_, n)) = self.msgs.get_mut(&id) {
            *n += 1;
        }
    }

    fn end_group(&mut self) {
        self.msgs.retain(|_, (_, n)| *n > 0);
    }

    /// Turn an abstract action into ops (appended to `ops`) and apply it
    /// to the model.
    fn step(&mut self, store: &Store, a: &A, ops: &mut Vec<Op>) {
        let resolve = |m: &mut Model, p: &Pick, ops: &mut Vec<Op>| -> MsgId {
            if let Pick::Existing(i) = p {
                if !m.msgs.is_empty() {
                    let id = *m.msgs.keys().nth(i % m.msgs.len()).unwrap();
                    return id;
                }
            }
            let n = match p {
                Pick::New(n) => *n,
                Pick::Existing(i) => *i as u8,
            };
            let id = store.next_message_id();
            m.msgs.insert(id, (message(n), 0));
            ops.push(Op::PutMessage {
                id,
                message: message(n),
            });
            id
        };
        match a.clone() {
            A::PutSession {
                c,
                expiry,
                user,
                v5,
            } => {
                let rec = SessionRecord {
                    client_id: client(c),
                    protocol: if v5 {
                        ProtocolVersion::V5
                    } else {
                        ProtocolVersion::V311
                    },
                    expiry_interval: expiry,
                    expires_at: (expiry % 2 == 0).then_some(UnixTime(u64::from(expiry))),
                    username: user.then(|| format!("user{c}")),
                };
                self.clients.entry(client(c)).or_default().session = Some(rec.clone());
                ops.push(Op::PutSession(rec));
            }
            A::DeleteSession { c } => {
                if let Some(cl) = self.clients.remove(&client(c)) {
                    for d in cl.queue.values() {
                        self.release(d.msg);
                    }
                    for (_, _, d) in cl.out.values() {
                        self.release(d.msg);
                    }
                }
                ops.push(Op::DeleteSession {
                    client_id: client(c).into(),
                });
            }
            A::PutSub { c, f, opts, id } => {
                let o = opts;
                let record = SubscriptionRecord {
                    options: SubscriptionOptions {
                        qos: qos(o & 3),
                        no_local: o & 4 != 0,
                        retain_as_published: o & 8 != 0,
                        retain_handling: RetainHandling::from_u8((o >> 4) % 3).unwrap(),
                    },
                    id: NonZeroU32::new(id),
                };
                let f = filter(f);
                self.clients
                    .entry(client(c))
                    .or_default()
                    .subs
                    .insert(f.as_str().to_owned(), (f.clone(), record));
                ops.push(Op::PutSubscription {
                    client_id: client(c).into(),
                    filter: f,
                    record,
                });
            }
            A::DeleteSub { c, f } => {
                let f = filter(f);
                if let Some(cl) = self.clients.get_mut(&client(c)) {
                    cl.subs.remove(f.as_str());
                }
                ops.push(Op::DeleteSubscription {
                    client_id: client(c).into(),
                    filter: f,
                });
            }
            A::Enqueue {
                c,
                seq,
                msg,
                qos: q,
                sub_ids,
            } => {
                let id = resolve(self, &msg, ops);
                let d = DeliveryRecord {
                    msg: id,
                    qos: qos(q),
                    retain: q == 2,
                    sub_ids,
                };
                self.acquire(id);
                let old = self
                    .clients
                    .entry(client(c))
                    .or_default()
                    .queue
                    .insert(u64::from(seq), d.clone());
                if let Some(old) = old {
                    self.release(old.msg);
                }
                ops.push(Op::Enqueue {
                    client_id: client(c).into(),
                    seq: u64::from(seq),
                    delivery: d,
                });
            }
            A::Dequeue { c, seq } => {
                let old = self
                    .clients
                    .get_mut(&client(c))
                    .and_then(|cl| cl.queue.remove(&u64::from(seq)));
                if let Some(old) = old {
                    self.release(old.msg);
                }
                ops.push(Op::Dequeue {
                    client_id: client(c).into(),
                    seq: u64::from(seq),
                });
            }
            A::PutOut {
                c,
                pid: p,
                seq,
                msg,
                state: s,
            } => {
                let id = resolve(self, &msg, ops);
                self.put_out(c, p, u64::from(seq), state(s), delivery(id), ops);
            }
            A::MoveToFlight { c, seq, pid: p } => {
                let queued = self
                    .clients
                    .get(&client(c))
                    .and_then(|cl| cl.queue.get(&u64::from(seq)).cloned());
                if let Some(d) = queued {
                    // Dequeue first: the message may reach zero references
                    // for a moment within the group.
                    self.step(store, &A::Dequeue { c, seq }, ops);
                    self.put_out(c, p, 1000 + u64::from(seq), OutState::AwaitPubAck, d, ops);
                }
            }
            A::SetOut {
                c,
                pid: p,
                state: s,
            } => {
                if let Some(e) = self
                    .clients
                    .get_mut(&client(c))
                    .and_then(|cl| cl.out.get_mut(&p))
                {
                    e.0 = state(s);
                }
                ops.push(Op::SetOutgoingState {
                    client_id: client(c).into(),
                    packet_id: pid(p),
                    state: state(s),
                });
            }
            A::DeleteOut { c, pid: p } => {
                let old = self
                    .clients
                    .get_mut(&client(c))
                    .and_then(|cl| cl.out.remove(&p));
                if let Some((_, _, d)) = old {
                    self.release(d.msg);
                }
                ops.push(Op::DeleteOutgoing {
                    client_id: client(c).into(),
                    packet_id: pid(p),
                });
            }
            A::AddIn { c, pid: p } => {
                self.clients
                    .entry(client(c))
                    .or_default()
                    .incoming
                    .insert(p);
                ops.push(Op::AddIncomingQos2 {
                    client_id: client(c).into(),
                    packet_id: pid(p),
                });
            }
            A::RemoveIn { c, pid: p } => {
                if let Some(cl) = self.clients.get_mut(&client(c)) {
                    cl.incoming.remove(&p);
                }
                ops.push(Op::RemoveIncomingQos2 {
                    client_id: client(c).into(),
                    packet_id: pid(p),
                });
            }
            A::PutRetained { t, payload } => {
                let mut m = message(payload);
                m.topic = TopicName::new(&format!("r/{t}")).unwrap();
                m.retain = true;
                self.retained.insert(m.topic.as_str().to_owned(), m.clone());
                ops.push(Op::PutRetained(m));
            }
            A::ClearRetained { t } => {
                let topic = TopicName::new(&format!("r/{t}")).unwrap();
                self.retained.remove(topic.as_str());
                ops.push(Op::ClearRetained { topic });
            }
            A::PutWill { c, due } => {
                let will = WillRecord {
                    due: UnixTime(u64::from(due)),
                    message: message(due as u8),
                };
                self.clients.entry(client(c)).or_default().will = Some(will.clone());
                ops.push(Op::PutWill {
                    client_id: client(c).into(),
                    will,
                });
            }
            A::DeleteWill { c } => {
                if let Some(cl) = self.clients.get_mut(&client(c)) {
                    cl.will = None;
                }
                ops.push(Op::DeleteWill {
                    client_id: client(c).into(),
                });
            }
        }
    }

    fn put_out(
        &mut self,
        c: u8,
        p: u16,
        seq: u64,
        s: OutState,
        d: DeliveryRecord,
        ops: &mut Vec<Op>,
    ) {
        self.acquire(d.msg);
        let old = self
            .clients
            .entry(client(c))
            .or_default()
            .out
            .insert(p, (s, seq, d.clone()));
        if let Some((_, _, old)) = old {
            self.release(old.msg);
        }
        ops.push(Op::PutOutgoing {
            client_id: client(c).into(),
            record: OutgoingRecord {
                packet_id: pid(p),
                state: s,
                seq,
                delivery: d,
            },
        });
    }

    /// Compare a snapshot with what the model says it must hold.
    fn check(&self, snap: &Snapshot) -> Result<(), TestCaseError> {
        let mut expected: Vec<SessionState> = Vec::new();
        let mut skipped = 0;
        let mut referenced = BTreeSet::new();
        for (id, cl) in &self.clients {
            let Some(rec) = &cl.session else {
                skipped += cl.entries();
                continue;
            };
            let mut outgoing: Vec<OutgoingRecord> = cl
                .out
                .iter()
                .map(|(p, (s, seq, d))| OutgoingRecord {
                    packet_id: pid(*p),
                    state: *s,
                    seq: *seq,
                    delivery: d.clone(),
                })
                .collect();
            outgoing.sort_by_key(|o| o.seq);
            referenced.extend(cl.queue.values().map(|d| d.msg));
            referenced.extend(cl.out.values().map(|(_, _, d)| d.msg));
            expected.push(SessionState {
                record: rec.clone(),
                subscriptions: cl.subs.values().cloned().collect(),
                queue: cl.queue.iter().map(|(s, d)| (*s, d.clone())).collect(),
                outgoing,
                incoming_qos2: cl.incoming.iter().map(|p| pid(*p)).collect(),
                will: cl.will.clone(),
            });
            let _ = id;
        }
        prop_assert_eq!(&snap.sessions, &expected);
        let got: BTreeMap<MsgId, StoredMessage> = snap
            .messages
            .iter()
            .map(|(id, m)| (*id, (**m).clone()))
            .collect();
        let want: BTreeMap<MsgId, StoredMessage> = referenced
            .iter()
            .map(|id| (*id, self.msgs[id].0.clone()))
            .collect();
        prop_assert_eq!(got, want);
        let retained: Vec<StoredMessage> = self.retained.values().cloned().collect();
        prop_assert_eq!(&snap.retained, &retained);
        prop_assert_eq!(snap.skipped.len(), skipped, "{:?}", snap.skipped);
        prop_assert_eq!(snap.orphans_removed, 0);
        Ok(())
    }
}

fn run(steps: Vec<Step>) -> Result<(), TestCaseError> {
    let tmp = tempfile::tempdir().unwrap();
    let (mut store, _) = open(&tmp.path().join("store"));
    let mut model = Model::default();
    let mut pending: Vec<Durable> = Vec::new();
    for step in steps.into_iter().chain([Step::Reopen]) {
        match step {
            Step::Group(actions) => {
                let mut ops = Vec::new();
                for a in &actions {
                    model.step(&store, a, &mut ops);
                }
                model.end_group();
                pending.push(store.submit_blocking(ops).unwrap());
            }
            Step::Reopen => {
                for d in pending.drain(..) {
                    prop_assert!(d.wait().is_ok());
                }
                let (s, snap) = reopen(store);
                store = s;
                model.check(&snap)?;
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn store_matches_the_model_across_reopens(steps in steps()) {
        run(steps)?;
    }
}
