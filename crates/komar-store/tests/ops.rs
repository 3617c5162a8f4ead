//! Every operation, checked through a close and reopen: what was committed
//! comes back, in order, with messages stored once and collected when the
//! last delivery referring to them goes.

mod common;

use std::num::NonZeroU32;

use common::*;
use komar_proto::{PacketId, QoS, RetainHandling, SubscriptionOptions, TopicFilter, TopicName};
use komar_store::{
    Op, OriginRecord, OutState, OutgoingRecord, StoreError, StoreOptions, SubscriptionRecord,
    TrySubmitError, UnixTime, WillRecord,
};

fn pid(n: u16) -> PacketId {
    PacketId::new(n).unwrap()
}

#[test]
fn a_new_store_is_empty_and_reopens_empty() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, snap) = open(&tmp.path().join("s"));
    assert!(snap.sessions.is_empty() && snap.retained.is_empty() && snap.skipped.is_empty());
    let (_store, snap) = reopen(store);
    assert!(snap.sessions.is_empty() && snap.messages.is_empty());
}

#[test]
fn sessions_and_subscriptions_survive_and_can_be_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = open(&tmp.path().join("s"));
    let mut rec = session("client-a");
    rec.expires_at = Some(UnixTime(1_800_000_000_000));
    rec.username = Some("alice".into());
    rec.expiry_interval = u32::MAX;
    let opts = SubscriptionOptions {
        qos: QoS::ExactlyOnce,
        no_local: true,
        retain_as_published: true,
        retain_handling: RetainHandling::DoNotSend,
    };
    let sub = SubscriptionRecord {
        options: opts,
        id: NonZeroU32::new(42),
    };
    apply(
        &store,
        vec![
            Op::PutSession(rec.clone()),
            Op::PutSession(session("client-b")),
            Op::PutSubscription {
                client_id: "client-a".into(),
                filter: TopicFilter::new("b/#").unwrap(),
                record: sub,
            },
            Op::PutSubscription {
                client_id: "client-a".into(),
                filter: TopicFilter::new("$share/g/a/+").unwrap(),
                record: SubscriptionRecord {
                    options: SubscriptionOptions::qos(QoS::AtMostOnce),
                    id: None,
                },
            },
            Op::PutSubscription {
                client_id: "client-b".into(),
                filter: TopicFilter::new("x").unwrap(),
                record: sub,
            },
        ],
    );
    let (store, snap) = reopen(store);
    assert_eq!(snap.sessions.len(), 2);
    let a = &snap.sessions[0];
    assert_eq!(a.record, rec);
    let filters: Vec<&str> = a.subscriptions.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(filters, ["$share/g/a/+", "b/#"]);
    assert_eq!(a.subscriptions[1].1, sub);

    apply(
        &store,
        vec![
            Op::DeleteSubscription {
                client_id: "client-a".into(),
                filter: TopicFilter::new("b/#").unwrap(),
            },
            Op::DeleteSession {
                client_id: "client-b".into(),
            },
        ],
    );
    let (_store, snap) = reopen(store);
    assert_eq!(snap.sessions.len(), 1);
    assert_eq!(snap.sessions[0].subscriptions.len(), 1);
    assert!(snap.skipped.is_empty(), "{:?}", snap.skipped);
}

#[test]
fn a_message_for_many_sessions_is_stored_once_and_collected_after_the_last_ack() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = open(&tmp.path().join("s"));
    let id = store.next_message_id();
    let mut m = msg("sensors/1", "21.5");
    m.properties.user_properties = vec![("unit".into(), "C".into())];
    m.origin = Some(OriginRecord {
        client_id: "pub".into(),
        username: None,
    });
    let mut ops = vec![Op::PutMessage {
        id,
        message: m.clone(),
    }];
    for c in ["a", "b", "c"] {
        ops.push(Op::PutSession(session(c)));
        for seq in [7u64, 3] {
            ops.push(Op::Enqueue {
                client_id: c.into(),
                seq,
                delivery: delivery(id),
            });
        }
    }
    apply(&store, ops);
    let (store, snap) = reopen(store);
    assert_eq!(snap.messages.len(), 1);
    assert_eq!(**snap.message(id).unwrap(), m);
    for s in &snap.sessions {
        let seqs: Vec<u64> = s.queue.iter().map(|(q, _)| *q).collect();
        assert_eq!(seqs, [3, 7], "queue comes back in order");
    }
    // Acknowledge all but one delivery: the message stays.
    let mut acks = Vec::new();
    for c in ["a", "b", "c"] {
        for seq in [3u64, 7] {
            if (c, seq) != ("b", 7) {
                acks.push(Op::Dequeue {
                    client_id: c.into(),
                    seq,
                });
            }
        }
    }
    apply(&store, acks);
    let (store, snap) = reopen(store);
    assert_eq!(snap.messages.len(), 1);
    assert_eq!(snap.sessions[1].queue.len(), 1);
    apply(
        &store,
        vec![Op::Dequeue {
            client_id: "b".into(),
            seq: 7,
        }],
    );
    let (store, snap) = reopen(store);
    assert!(snap.messages.is_empty());
    assert_eq!(snap.orphans_removed, 0, "the writer collected it itself");
    // Ids are never reused across restarts.
    assert!(store.next_message_id() > id);
}

#[test]
fn a_message_for_one_delivery_travels_with_it_into_flight_and_out() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = open(&tmp.path().join("s"));
    let id = store.next_message_id();
    let m = msg("sensors/2", "19.0");
    apply(
        &store,
        vec![
            Op::PutSession(session("a")),
            Op::PutMessage {
                id,
                message: m.clone(),
            },
            Op::Enqueue {
                client_id: "a".into(),
                seq: 1,
                delivery: delivery(id),
            },
        ],
    );
    let (store, snap) = reopen(store);
    assert_eq!(**snap.message(id).unwrap(), m);
    assert_eq!(snap.sessions[0].queue.len(), 1);
    // Moved into flight (the group that dequeues it puts it in flight).
    let out = OutgoingRecord {
        packet_id: pid(5),
        state: OutState::AwaitPubRec,
        seq: 1,
        delivery: delivery(id),
    };
    apply(
        &store,
        vec![
            Op::Dequeue {
                client_id: "a".into(),
                seq: 1,
            },
            Op::PutOutgoing {
                client_id: "a".into(),
                record: out.clone(),
            },
        ],
    );
    let (store, snap) = reopen(store);
    assert!(snap.sessions[0].queue.is_empty());
    assert_eq!(snap.sessions[0].outgoing, [out]);
    assert_eq!(**snap.message(id).unwrap(), m);
    apply(
        &store,
        vec![Op::SetOutgoingState {
            client_id: "a".into(),
            packet_id: pid(5),
            state: OutState::AwaitPubComp,
        }],
    );
    let (store, snap) = reopen(store);
    assert_eq!(snap.sessions[0].outgoing[0].state, OutState::AwaitPubComp);
    assert_eq!(**snap.message(id).unwrap(), m);
    apply(
        &store,
        vec![Op::DeleteOutgoing {
            client_id: "a".into(),
            packet_id: pid(5),
        }],
    );
    let (store, snap) = reopen(store);
    assert!(snap.messages.is_empty() && snap.sessions[0].outgoing.is_empty());
    assert_eq!(snap.orphans_removed, 0);
    assert!(store.next_message_id() > id);
}

#[test]
fn a_message_one_delivery_carries_can_be_referred_to_again_later() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = open(&tmp.path().join("s"));
    let id = store.next_message_id();
    let m = msg("t", "x");
    apply(
        &store,
        vec![
            Op::PutSession(session("a")),
            Op::PutSession(session("b")),
            Op::PutMessage {
                id,
                message: m.clone(),
            },
            Op::Enqueue {
                client_id: "a".into(),
                seq: 1,
                delivery: delivery(id),
            },
        ],
    );
    // Not done by the broker, but allowed: another session refers to it
    // in a later group, then the first delivery goes.
    apply(
        &store,
        vec![Op::Enqueue {
            client_id: "b".into(),
            seq: 9,
            delivery: delivery(id),
        }],
    );
    apply(
        &store,
        vec![Op::Dequeue {
            client_id: "a".into(),
            seq: 1,
        }],
    );
    let (store, snap) = reopen(store);
    assert!(snap.skipped.is_empty(), "{:?}", snap.skipped);
    assert_eq!(snap.sessions[1].queue.len(), 1);
    assert_eq!(**snap.message(id).unwrap(), m);
    drop(store);
}

#[test]
fn in_flight_state_both_ways_survives() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = open(&tmp.path().join("s"));
    let m1 = store.next_message_id();
    let m2 = store.next_message_id();
    let out = |p: u16, seq: u64, msg, state| Op::PutOutgoing {
        client_id: "c".into(),
        record: OutgoingRecord {
            packet_id: pid(p),
            state,
            seq,
            delivery: delivery(msg),
        },
    };
    apply(
        &store,
        vec![
            Op::PutSession(session("c")),
            Op::PutMessage {
                id: m1,
                message: msg("t/1", "one"),
            },
            Op::PutMessage {
                id: m2,
                message: msg("t/2", "two"),
            },
            // Moving a queued message into flight: dequeue + put in one group.
            Op::Enqueue {
                client_id: "c".into(),
                seq: 1,
                delivery: delivery(m1),
            },
            Op::Dequeue {
                client_id: "c".into(),
                seq: 1,
            },
            out(9, 2, m1, OutState::AwaitPubAck),
            out(3, 5, m2, OutState::AwaitPubRec),
            Op::AddIncomingQos2 {
                client_id: "c".into(),
                packet_id: pid(77),
            },
            Op::AddIncomingQos2 {
                client_id: "c".into(),
                packet_id: pid(5),
            },
        ],
    );
    let (store, snap) = reopen(store);
    let s = &snap.sessions[0];
    assert!(s.queue.is_empty());
    let order: Vec<(u16, OutState)> = s
        .outgoing
        .iter()
        .map(|o| (o.packet_id.get(), o.state))
        .collect();
    assert_eq!(
        order,
        [(9, OutState::AwaitPubAck), (3, OutState::AwaitPubRec)],
        "send order"
    );
    assert_eq!(s.incoming_qos2, [pid(5), pid(77)]);
    assert_eq!(snap.messages.len(), 2);

    apply(
        &store,
        vec![
            Op::SetOutgoingState {
                client_id: "c".into(),
                packet_id: pid(3),
                state: OutState::AwaitPubComp,
            },
            Op::SetOutgoingState {
                client_id: "c".into(),
                packet_id: pid(1000),
                state: OutState::AwaitPubComp,
            },
            Op::DeleteOutgoing {
                client_id: "c".into(),
                packet_id: pid(9),
            },
            Op::RemoveIncomingQos2 {
                client_id: "c".into(),
                packet_id: pid(77),
            },
        ],
    );
    let (store, snap) = reopen(store);
    let s = &snap.sessions[0];
    assert_eq!(s.outgoing.len(), 1);
    assert_eq!(s.outgoing[0].state, OutState::AwaitPubComp);
    assert_eq!(s.outgoing[0].seq, 5);
    assert_eq!(s.incoming_qos2, [pid(5)]);
    assert_eq!(snap.messages.keys().copied().collect::<Vec<_>>(), [m2]);

    // Replacing an in-flight entry releases the message it held.
    let m3 = store.next_message_id();
    apply(
        &store,
        vec![
            Op::PutMessage {
                id: m3,
                message: msg("t/3", "three"),
            },
            out(3, 6, m3, OutState::AwaitPubRec),
        ],
    );
    let (_store, snap) = reopen(store);
    assert_eq!(snap.messages.keys().copied().collect::<Vec<_>>(), [m3]);
}

#[test]
fn retained_messages_are_set_replaced_and_cleared() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = open(&tmp.path().join("s"));
    let mut r = msg("home/temp", "20");
    r.retain = true;
    r.expires_at = Some(UnixTime(1_900_000_000_000));
    r.properties.message_expiry_interval = Some(600);
    let mut r2 = r.clone();
    r2.payload = bytes::Bytes::from_static(b"21");
    apply(
        &store,
        vec![
            Op::PutRetained(r.clone()),
            Op::PutRetained(msg("home/hum", "40")),
            Op::PutRetained(r2.clone()),
        ],
    );
    let (store, snap) = reopen(store);
    assert_eq!(snap.retained, vec![msg("home/hum", "40"), r2]);
    apply(
        &store,
        vec![
            Op::ClearRetained {
                topic: TopicName::new("home/hum").unwrap(),
            },
            Op::ClearRetained {
                topic: TopicName::new("never/set").unwrap(),
            },
        ],
    );
    let (_store, snap) = reopen(store);
    assert_eq!(snap.retained.len(), 1);
    assert_eq!(snap.retained[0].payload.as_ref(), b"21");
}

#[test]
fn pending_wills_survive_with_their_wall_clock_due_time() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = open(&tmp.path().join("s"));
    let due = UnixTime::now().plus(std::time::Duration::from_secs(30));
    let will = WillRecord {
        due,
        message: msg("status/c", "offline"),
    };
    apply(
        &store,
        vec![
            Op::PutSession(session("c")),
            Op::PutSession(session("d")),
            Op::PutWill {
                client_id: "c".into(),
                will: will.clone(),
            },
            Op::PutWill {
                client_id: "d".into(),
                will: will.clone(),
            },
        ],
    );
    let (store, snap) = reopen(store);
    assert_eq!(snap.sessions[0].will.as_ref(), Some(&will));
    apply(
        &store,
        vec![Op::DeleteWill {
            client_id: "d".into(),
        }],
    );
    let (_store, snap) = reopen(store);
    assert!(snap.sessions[0].will.is_some());
    assert!(snap.sessions[1].will.is_none());
}

#[test]
fn deleting_a_session_removes_all_its_state_and_releases_its_messages() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = open(&tmp.path().join("s"));
    let shared = store.next_message_id();
    let own = store.next_message_id();
    let mut ops = vec![
        Op::PutMessage {
            id: shared,
            message: msg("a", "shared"),
        },
        Op::PutMessage {
            id: own,
            message: msg("a", "own"),
        },
    ];
    for c in ["keep", "gone"] {
        ops.extend([
            Op::PutSession(session(c)),
            Op::PutSubscription {
                client_id: c.into(),
                filter: TopicFilter::new("a").unwrap(),
                record: SubscriptionRecord {
                    options: SubscriptionOptions::qos(QoS::AtLeastOnce),
                    id: None,
                },
            },
            Op::Enqueue {
                client_id: c.into(),
                seq: 1,
                delivery: delivery(shared),
            },
            Op::AddIncomingQos2 {
                client_id: c.into(),
                packet_id: pid(1),
            },
            Op::PutWill {
                client_id: c.into(),
                will: WillRecord {
                    due: UnixTime(1),
                    message: msg("w", "x"),
                },
            },
        ]);
    }
    ops.push(Op::PutOutgoing {
        client_id: "gone".into(),
        record: OutgoingRecord {
            packet_id: pid(4),
            state: OutState::AwaitPubAck,
            seq: 1,
            delivery: delivery(own),
        },
    });
    // Deleted in the same group it was written in: the transaction sees
    // its own writes.
    ops.push(Op::DeleteSession {
        client_id: "gone".into(),
    });
    apply(&store, ops);
    let (store, snap) = reopen(store);
    assert_eq!(snap.sessions.len(), 1);
    assert_eq!(snap.sessions[0].record.client_id, "keep");
    assert_eq!(
        snap.messages.keys().copied().collect::<Vec<_>>(),
        [shared],
        "the message only the deleted session held is gone"
    );
    assert!(snap.skipped.is_empty(), "{:?}", snap.skipped);
    assert_eq!(snap.orphans_removed, 0);
    drop(store);
}

#[test]
fn a_group_referring_to_a_missing_message_is_rejected_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = open(&tmp.path().join("s"));
    let res = store
        .submit_blocking(vec![
            Op::PutSession(session("c")),
            Op::Enqueue {
                client_id: "c".into(),
                seq: 1,
                delivery: delivery(12345),
            },
        ])
        .unwrap()
        .wait();
    assert!(matches!(res, Err(StoreError::InvalidOp(_))), "{res:?}");
    // The store carries on.
    apply(&store, vec![Op::PutSession(session("d"))]);
    let (_store, snap) = reopen(store);
    let clients: Vec<&str> = snap
        .sessions
        .iter()
        .map(|s| s.record.client_id.as_str())
        .collect();
    assert_eq!(clients, ["d"], "nothing of the rejected group was applied");
}

#[test]
fn a_message_nobody_refers_to_is_not_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = open(&tmp.path().join("s"));
    let id = store.next_message_id();
    apply(
        &store,
        vec![Op::PutMessage {
            id,
            message: msg("t", "alone"),
        }],
    );
    // Too late to refer to it now.
    let res = store
        .submit_blocking(vec![
            Op::PutSession(session("c")),
            Op::Enqueue {
                client_id: "c".into(),
                seq: 1,
                delivery: delivery(id),
            },
        ])
        .unwrap()
        .wait();
    assert!(res.is_err());
    let (_store, snap) = reopen(store);
    assert!(snap.messages.is_empty());
    assert_eq!(snap.orphans_removed, 0);
}

#[test]
fn async_submit_flush_and_close() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = open(&tmp.path().join("s"));
    block_on(async {
        let durable = store
            .submit(vec![Op::PutRetained(msg("a", "1"))])
            .await
            .unwrap();
        durable.await.unwrap();
        store.flush().unwrap().await.unwrap();
        // An empty group is a barrier: resolved after what came before.
        store.submit(Vec::new()).await.unwrap().await.unwrap();
    });
    assert_eq!(store.queued(), 0);
    let (store, snap) = reopen(store);
    assert_eq!(snap.retained.len(), 1);
    let dir = store.path().to_path_buf();
    store.close().unwrap();
    // A second store on the same directory while one is open is refused by
    // the engine's lock; after close it opens again.
    let (a, _) = open(&dir);
    assert!(komar_store::Store::open(&dir, StoreOptions::default()).is_err());
    drop(a);
}

#[test]
fn try_submit_and_submit_after_close() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = open(&tmp.path().join("s"));
    let d = match store.try_submit(vec![Op::PutSession(session("c"))]) {
        Ok(d) => d,
        Err(TrySubmitError::Full(_)) => panic!("an empty queue has room"),
        Err(TrySubmitError::Closed) => panic!("not closed"),
    };
    d.wait().unwrap();
    let (store, snap) = reopen(store);
    assert_eq!(snap.sessions.len(), 1);
    store.close().unwrap();
}

#[test]
fn sync_mode_commits_the_same_way() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    let opts = StoreOptions {
        sync: true,
        ..StoreOptions::default()
    };
    let (store, _) = komar_store::Store::open(&dir, opts.clone()).unwrap();
    apply(&store, vec![Op::PutRetained(msg("a", "1"))]);
    store.close().unwrap();
    let (_store, snap) = komar_store::Store::open(&dir, opts).unwrap();
    assert_eq!(snap.retained.len(), 1);
}
