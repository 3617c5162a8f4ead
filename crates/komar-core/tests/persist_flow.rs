//! The broker's side of persistence, against a model store: answers that
//! must follow storage wait for it (PUBACK, SUBACK, a QoS 2 PUBLISH to a
//! persisted session), and the change groups, applied in position order
//! while publishers and a subscriber run on several threads at once,
//! always describe a state that memory went through — nothing dequeued
//! before it was queued, nothing acknowledged that was not in flight.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Context;
use std::time::Instant;

use bytes::Bytes;
use komar_core::persist::PersistOp;
use komar_core::{
    Broker, BrokerConfig, ConnectOutcome, ConnectRequest, Connection, Durable, ListenerSettings,
    OutBuf, Persistence,
};
use komar_proto::{
    decode_packet, parse_frame_header, Connect, ConnectProperties, Packet, PacketId,
    ProtocolVersion, PubResp, Publish, PublishProperties, QoS, QosPid, Subscribe,
    SubscribeProperties, SubscriptionOptions, TopicFilter, TopicName,
};
use parking_lot::Mutex;

/// Records every group by position; completes them at once or on demand.
#[derive(Debug, Default)]
struct ModelStore {
    positions: AtomicU64,
    ids: AtomicU64,
    groups: Mutex<BTreeMap<u64, Vec<PersistOp>>>,
    hold: AtomicBool,
    pending: Mutex<Vec<Durable>>,
}

impl Persistence for ModelStore {
    fn next_position(&self) -> u64 {
        self.positions.fetch_add(1, Ordering::SeqCst)
    }
    fn next_message_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::SeqCst)
    }
    fn submit(&self, position: u64, ops: Vec<PersistOp>, done: Durable) {
        let old = self.groups.lock().insert(position, ops);
        assert!(old.is_none(), "position {position} submitted twice");
        if self.hold.load(Ordering::SeqCst) {
            self.pending.lock().push(done);
        } else {
            done.complete(true);
        }
    }
}

impl ModelStore {
    fn release_all(&self) {
        for d in self.pending.lock().drain(..) {
            d.complete(true);
        }
    }

    fn ops(&self) -> Vec<PersistOp> {
        self.groups.lock().values().flatten().cloned().collect()
    }
}

fn broker(store: &Arc<ModelStore>) -> Arc<Broker> {
    let b = Broker::new(BrokerConfig {
        max_queued_messages: 0,
        ..BrokerConfig::default()
    });
    assert!(b.attach_store(store.clone()));
    b
}

fn connect(b: &Arc<Broker>, id: &str, clean: bool) -> (Box<Connection>, OutBuf) {
    let req = ConnectRequest {
        connect: Connect {
            protocol: ProtocolVersion::V311,
            bridge: false,
            clean_start: clean,
            keep_alive: 0,
            properties: ConnectProperties::default(),
            client_id: id.to_owned(),
            will: None,
            username: None,
            password: None,
        },
        username: None,
        listener: Arc::new(ListenerSettings::default()),
        listener_index: 0,
    };
    match b.connect(req, Instant::now()) {
        ConnectOutcome::Accepted(c, _) => (c, OutBuf::new()),
        other => panic!("not accepted: {other:?}"),
    }
}

fn pid(n: u16) -> PacketId {
    PacketId::new(n).unwrap()
}

fn subscribe(c: &mut Connection, out: &mut OutBuf, filter: &str, qos: QoS) {
    let s = Subscribe {
        packet_id: pid(1),
        properties: SubscribeProperties::default(),
        filters: vec![(
            TopicFilter::new(filter).unwrap(),
            SubscriptionOptions::qos(qos),
        )],
    };
    c.handle_packet(Packet::Subscribe(s), out, Instant::now())
        .unwrap();
}

fn publish(c: &mut Connection, out: &mut OutBuf, topic: &str, qos_pid: QosPid, body: &str) {
    let p = Publish {
        dup: false,
        qos_pid,
        retain: false,
        topic: TopicName::new(topic).unwrap(),
        properties: PublishProperties::default(),
        payload: Bytes::copy_from_slice(body.as_bytes()),
    };
    c.handle_packet(Packet::Publish(p), out, Instant::now())
        .unwrap();
}

/// Release what storage completed, and decode every packet ready to go.
fn sent(out: &mut OutBuf) -> Vec<Packet> {
    out.release_completed().expect("storage ok");
    let mut slices = [std::io::IoSlice::new(&[]); 64];
    let n = out.io_slices(&mut slices);
    let bytes: Vec<u8> = slices[..n].iter().flat_map(|s| s.to_vec()).collect();
    out.advance(bytes.len());
    let mut buf = &bytes[..];
    let mut packets = Vec::new();
    while let Some(h) = parse_frame_header(buf, usize::MAX).unwrap() {
        let body = Bytes::copy_from_slice(&buf[h.header_len..h.total_len()]);
        packets.push(decode_packet(&h, body, ProtocolVersion::V311).unwrap());
        buf = &buf[h.total_len()..];
    }
    packets
}

#[test]
fn answers_wait_for_storage() {
    let store = Arc::new(ModelStore::default());
    store.hold.store(true, Ordering::SeqCst);
    let b = broker(&store);

    let (mut sub, mut sub_out) = connect(&b, "sub", false);
    subscribe(&mut sub, &mut sub_out, "t/#", QoS::ExactlyOnce);
    assert!(
        sent(&mut sub_out).is_empty(),
        "SUBACK before the subscription is stored"
    );
    store.release_all();
    assert!(matches!(sent(&mut sub_out)[..], [Packet::SubAck(_)]));
    drop(sub); // offline: messages queue for it

    let (mut publ, mut pub_out) = connect(&b, "pub", true);
    publish(
        &mut publ,
        &mut pub_out,
        "t/1",
        QosPid::ExactlyOnce(pid(7)),
        "a",
    );
    publish(&mut publ, &mut pub_out, "t/2", QosPid::AtMostOnce, "zero");
    assert!(
        sent(&mut pub_out).is_empty(),
        "PUBREC before the message is stored"
    );
    store.release_all();
    assert!(matches!(&sent(&mut pub_out)[..], [Packet::PubRec(a)] if a.packet_id == pid(7)));
    // QoS 0 to an offline session is not stored.
    let ops = store.ops();
    assert_eq!(
        ops.iter()
            .filter(|o| matches!(o, PersistOp::Enqueue { .. }))
            .count(),
        1
    );
    assert!(ops
        .iter()
        .any(|o| matches!(o, PersistOp::PutMessage { .. })));
    assert!(
        !ops.iter()
            .any(|o| matches!(o, PersistOp::AddIncomingQos2 { .. })),
        "a clean publisher's QoS 2 state is not stored"
    );

    // Back online: the QoS 2 delivery leaves only once its move into
    // flight is stored.
    let (mut sub, mut sub_out) = connect(&b, "sub", false);
    sub.poll_transmit(&mut sub_out, Instant::now()).unwrap();
    assert!(
        sent(&mut sub_out).is_empty(),
        "QoS 2 PUBLISH before its flight is stored"
    );
    store.release_all();
    let got = sent(&mut sub_out);
    let Packet::Publish(p) = &got[0] else {
        panic!("{got:?}")
    };
    assert_eq!(p.payload, "a");
    let QosPid::ExactlyOnce(delivered) = p.qos_pid else {
        panic!("{p:?}")
    };
    // PUBREC from the client: PUBREL only once the new state is stored.
    sub.handle_packet(
        Packet::PubRec(PubResp::new(delivered)),
        &mut sub_out,
        Instant::now(),
    )
    .unwrap();
    assert!(sent(&mut sub_out).is_empty());
    store.release_all();
    assert!(matches!(sent(&mut sub_out)[..], [Packet::PubRel(_)]));
}

/// Replays groups in position order, checking each change against the
/// state the earlier ones made.
#[derive(Default)]
struct Replay {
    queued: HashSet<(String, u64)>,
    flying: HashSet<(String, u16)>,
    messages: HashSet<u64>,
}

impl Replay {
    fn apply(&mut self, op: &PersistOp) {
        match op {
            PersistOp::PutMessage { id, .. } => {
                self.messages.insert(*id);
            }
            PersistOp::Enqueue {
                client_id,
                seq,
                msg_id,
                ..
            } => {
                assert!(self.messages.contains(msg_id), "queued before stored");
                assert!(self.queued.insert((client_id.to_string(), *seq)));
            }
            PersistOp::Dequeue { client_id, seq } => assert!(
                self.queued.remove(&(client_id.to_string(), *seq)),
                "dequeued {client_id}/{seq} before it was queued"
            ),
            PersistOp::PutOutgoing {
                client_id,
                packet_id,
                ..
            } => {
                assert!(self.flying.insert((client_id.to_string(), packet_id.get())));
            }
            PersistOp::DeleteOutgoing {
                client_id,
                packet_id,
            } => assert!(
                self.flying
                    .remove(&(client_id.to_string(), packet_id.get())),
                "acknowledged {client_id}/{packet_id:?} before it was in flight"
            ),
            _ => {}
        }
    }
}

#[test]
fn concurrent_changes_are_stored_in_the_order_memory_made_them() {
    const PUBLISHERS: usize = 2;
    const EACH: usize = 2_000;
    let store = Arc::new(ModelStore::default());
    let b = broker(&store);
    let (mut sub, mut sub_out) = connect(&b, "sub", false);
    subscribe(&mut sub, &mut sub_out, "t/#", QoS::AtLeastOnce);
    let publishers: Vec<_> = (0..PUBLISHERS)
        .map(|n| {
            let b = b.clone();
            std::thread::spawn(move || {
                let (mut c, mut out) = connect(&b, &format!("pub{n}"), true);
                for i in 0..EACH {
                    let id = pid((i % 60_000) as u16 + 1);
                    publish(
                        &mut c,
                        &mut out,
                        "t/x",
                        QosPid::AtLeastOnce(id),
                        &i.to_string(),
                    );
                    sent(&mut out);
                }
            })
        })
        .collect();
    let mut received = 0;
    let deadline = Instant::now() + std::time::Duration::from_secs(60);
    let waker = std::task::Waker::noop();
    let mut cx = Context::from_waker(waker);
    while received < PUBLISHERS * EACH {
        assert!(Instant::now() < deadline, "received {received}");
        sub.poll_transmit(&mut sub_out, Instant::now()).unwrap();
        for p in sent(&mut sub_out) {
            if let Packet::Publish(p) = p {
                received += 1;
                let id = p.qos_pid.packet_id().unwrap();
                sub.handle_packet(
                    Packet::PubAck(PubResp::new(id)),
                    &mut sub_out,
                    Instant::now(),
                )
                .unwrap();
            }
        }
        let _ = sub.poll_outbox(&mut cx);
        std::thread::yield_now();
    }
    for p in publishers {
        p.join().unwrap();
    }
    drop(sub);
    let groups = store.groups.lock();
    // Every position was submitted, none skipped.
    assert_eq!(
        groups.keys().copied().collect::<Vec<_>>(),
        (0..groups.len() as u64).collect::<Vec<_>>()
    );
    let mut replay = Replay::default();
    for op in groups.values().flatten() {
        replay.apply(op);
    }
    assert!(
        replay.queued.is_empty(),
        "{} left queued",
        replay.queued.len()
    );
    assert!(
        replay.flying.is_empty(),
        "{} left in flight",
        replay.flying.len()
    );
}
