//! Recovery: read every table into a [`Snapshot`], rebuild the message
//! reference counts and the next message id, and delete messages nothing
//! refers to any more.
//!
//! What cannot be read is reported, not fatal: an undecodable value, a
//! delivery whose message is missing, or state of a client without a
//! session record is left out of the snapshot and listed in
//! [`Snapshot::skipped`] (left on disk untouched). An error from the engine
//! itself (IO error, checksum mismatch in a table file) stops the load with
//! [`StoreError::Engine`]: the store cannot tell what else is missing.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use fjall::{PersistMode, Readable, SingleWriterTxKeyspace};
use komar_proto::{PacketId, TopicFilter};

use crate::codec::{bad, DecodeError};
use crate::engine::Db;
use crate::error::StoreError;
use crate::keys::{be_u16, be_u64, printable, split_client, table, MAX_MSG_ID_KEY, SENTINEL};
use crate::records::{MsgId, OutgoingRecord, SessionState, Skipped, Snapshot, StoredMessage};
use crate::refs::MsgRef;
use crate::values;

/// What loading produced: the snapshot for the broker, and the state the
/// writer thread starts from.
#[derive(Debug)]
pub(crate) struct Loaded {
    pub(crate) snapshot: Snapshot,
    pub(crate) refs: HashMap<MsgId, MsgRef>,
    /// Highest message id ever stored (0: none).
    pub(crate) max_id: MsgId,
    /// Per client key prefix, the highest queue position on disk
    /// (readable or not).
    pub(crate) queue_tops: HashMap<Vec<u8>, u64>,
}

/// Call `f` on every entry of `ks`; entries it rejects are recorded as
/// skipped.
fn for_each(
    db: &Db,
    snap: &fjall::Snapshot,
    ks: &SingleWriterTxKeyspace,
    name: &'static str,
    skipped: &mut Vec<Skipped>,
    mut f: impl FnMut(&[u8], &[u8]) -> Result<(), DecodeError>,
) -> Result<(), StoreError> {
    for g in snap.iter(ks) {
        let (k, v) = g
            .into_inner()
            .map_err(|e| StoreError::engine(&db.path, "reading the store", e))?;
        if &*k == SENTINEL {
            continue;
        }
        if let Err(e) = f(&k, &v) {
            skipped.push(Skipped {
                table: name,
                key: printable(&k),
                reason: e.0,
            });
        }
    }
    Ok(())
}

fn no_session(client: &str) -> DecodeError {
    bad(format!("no session record for client {client:?}"))
}

fn pid(b: &[u8]) -> Result<PacketId, DecodeError> {
    PacketId::new(be_u16(b, "packet id")?).ok_or_else(|| bad("packet id 0"))
}

/// Read the whole store.
pub(crate) fn load(db: &Db) -> Result<Loaded, StoreError> {
    let snap = db.db.read_tx();
    let mut skipped = Vec::new();
    let mut max_id: MsgId = match db
        .meta
        .get(MAX_MSG_ID_KEY)
        .map_err(|e| StoreError::engine(&db.path, "reading the highest message id", e))?
    {
        None => 0,
        Some(v) => be_u64(&v, "highest message id").map_err(|e| StoreError::Corrupt {
            path: db.path.clone(),
            what: e.0,
        })?,
    };

    let mut msgs: HashMap<MsgId, StoredMessage> = HashMap::new();
    for_each(db, &snap, &db.msgs, table::MSGS, &mut skipped, |k, v| {
        let id = be_u64(k, "message id")?;
        max_id = max_id.max(id);
        msgs.insert(id, values::decode_message(v)?);
        Ok(())
    })?;

    let mut sessions: BTreeMap<String, SessionState> = BTreeMap::new();
    for_each(
        db,
        &snap,
        &db.sessions,
        table::SESSIONS,
        &mut skipped,
        |k, v| {
            let (client, rest) = split_client(k)?;
            if !rest.is_empty() {
                return Err(bad("session key has trailing bytes"));
            }
            let record = values::decode_session(client, v)?;
            sessions.insert(
                client.to_owned(),
                SessionState {
                    record,
                    subscriptions: Vec::new(),
                    queue: Vec::new(),
                    outgoing: Vec::new(),
                    incoming_qos2: Vec::new(),
                    will: None,
                },
            );
            Ok(())
        },
    )?;

    for_each(db, &snap, &db.subs, table::SUBS, &mut skipped, |k, v| {
        let (client, filter) = split_client(k)?;
        let filter = std::str::from_utf8(filter).map_err(|_| bad("topic filter not UTF-8"))?;
        let filter =
            TopicFilter::new(filter).map_err(|e| bad(format!("topic filter {filter:?}: {e}")))?;
        let record = values::decode_subscription(v)?;
        let s = sessions.get_mut(client).ok_or_else(|| no_session(client))?;
        s.subscriptions.push((filter, record));
        Ok(())
    })?;

    let mut refs: HashMap<MsgId, MsgRef> = HashMap::new();
    // Messages carried by deliveries (not in `msgs`).
    let mut carried: HashMap<MsgId, StoredMessage> = HashMap::new();
    // Check a delivery's message and count the reference.
    let mut refer = |id: MsgId, body: Option<&[u8]>| -> Result<(), DecodeError> {
        match body {
            Some(b) => {
                let m = values::decode_message_body(b)?;
                carried.entry(id).or_insert(m);
            }
            None if !msgs.contains_key(&id) => {
                return Err(bad(format!("refers to missing message {id}")));
            }
            None => {}
        }
        max_id = max_id.max(id);
        let r = refs.entry(id).or_default();
        r.n += 1;
        r.in_table = msgs.contains_key(&id);
        Ok(())
    };
    let mut queue_tops: HashMap<Vec<u8>, u64> = HashMap::new();
    for_each(db, &snap, &db.queue, table::QUEUE, &mut skipped, |k, v| {
        let (client, seq) = split_client(k)?;
        let seq = be_u64(seq, "queue position")?;
        if let Some(prefix) = k.get(..k.len().saturating_sub(8)) {
            let top = queue_tops.entry(prefix.to_vec()).or_insert(0);
            *top = (*top).max(seq);
        }
        let (d, body) = values::decode_delivery(v)?;
        refer(d.msg, body)?;
        let s = sessions.get_mut(client).ok_or_else(|| no_session(client))?;
        s.queue.push((seq, d));
        Ok(())
    })?;

    for_each(db, &snap, &db.out, table::OUT, &mut skipped, |k, v| {
        let (client, p) = split_client(k)?;
        let packet_id = pid(p)?;
        let (state, seq, delivery, body) = values::decode_outgoing(v)?;
        refer(delivery.msg, body)?;
        let s = sessions.get_mut(client).ok_or_else(|| no_session(client))?;
        s.outgoing.push(OutgoingRecord {
            packet_id,
            state,
            seq,
            delivery,
        });
        Ok(())
    })?;

    for_each(db, &snap, &db.incoming, table::IN, &mut skipped, |k, v| {
        let (client, p) = split_client(k)?;
        let packet_id = pid(p)?;
        values::decode_incoming(v)?;
        let s = sessions.get_mut(client).ok_or_else(|| no_session(client))?;
        s.incoming_qos2.push(packet_id);
        Ok(())
    })?;

    for_each(db, &snap, &db.wills, table::WILLS, &mut skipped, |k, v| {
        let (client, rest) = split_client(k)?;
        if !rest.is_empty() {
            return Err(bad("will key has trailing bytes"));
        }
        let will = values::decode_will(v)?;
        let s = sessions.get_mut(client).ok_or_else(|| no_session(client))?;
        s.will = Some(will);
        Ok(())
    })?;

    let mut retained = Vec::new();
    for_each(
        db,
        &snap,
        &db.retained,
        table::RETAINED,
        &mut skipped,
        |k, v| {
            retained.push(values::decode_retained(k, v)?);
            Ok(())
        },
    )?;

    // Messages for the snapshot: those the sessions in it refer to.
    let mut shared: HashMap<MsgId, Arc<StoredMessage>> = HashMap::new();
    let mut orphans = Vec::new();
    for (id, m) in msgs {
        if refs.get(&id).map_or(0, |r| r.n) == 0 {
            orphans.push(id);
        } else {
            shared.insert(id, Arc::new(m));
        }
    }
    for (id, m) in carried {
        shared.entry(id).or_insert_with(|| Arc::new(m));
    }
    let mut sessions: Vec<SessionState> = sessions.into_values().collect();
    for s in &mut sessions {
        s.outgoing.sort_by_key(|o| o.seq);
    }
    let referenced: std::collections::HashSet<MsgId> = sessions
        .iter()
        .flat_map(|s| {
            s.queue
                .iter()
                .map(|(_, d)| d.msg)
                .chain(s.outgoing.iter().map(|o| o.delivery.msg))
        })
        .collect();
    shared.retain(|id, _| referenced.contains(id));

    remove_orphans(db, &orphans)?;
    Ok(Loaded {
        snapshot: Snapshot {
            sessions,
            messages: shared,
            retained,
            skipped,
            orphans_removed: orphans.len(),
        },
        refs,
        max_id,
        queue_tops,
    })
}

/// Delete messages no delivery refers to (left by a crash between a
/// message's last release and its collection cannot happen — both are in
/// one batch — but an unreadable delivery can leave one behind).
fn remove_orphans(db: &Db, orphans: &[MsgId]) -> Result<(), StoreError> {
    if orphans.is_empty() {
        return Ok(());
    }
    let mut tx = db.db.write_tx().durability(Some(PersistMode::Buffer));
    for id in orphans {
        tx.remove(&db.msgs, id.to_be_bytes());
    }
    tx.commit()
        .map_err(|e| StoreError::engine(&db.path, "removing unreferenced messages", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{self, EngineOptions};
    use crate::keys::{client_prefix, with_suffix};
    use crate::records::{DeliveryRecord, SessionRecord};
    use komar_proto::{ProtocolVersion, QoS};
    use proptest::prelude::*;

    fn fresh(tmp: &tempfile::TempDir) -> Db {
        engine::open(
            &tmp.path().join("s"),
            None,
            EngineOptions {
                cache_bytes: 1 << 20,
                worker_threads: 1,
            },
        )
        .unwrap()
    }

    fn session_value(c: &str) -> Vec<u8> {
        values::encode_session(&SessionRecord {
            client_id: c.into(),
            protocol: ProtocolVersion::V311,
            expiry_interval: 10,
            expires_at: None,
            username: None,
        })
    }

    #[test]
    fn garbage_is_reported_and_the_rest_recovered() {
        let tmp = tempfile::tempdir().unwrap();
        let db = fresh(&tmp);
        let good = client_prefix("good").unwrap();
        let bad_c = client_prefix("bad").unwrap();
        db.sessions
            .insert(good.clone(), session_value("good"))
            .unwrap();
        db.sessions
            .insert(bad_c.clone(), b"\x01\x09garbage")
            .unwrap();
        // A subscription of the client whose record is garbage.
        db.subs
            .insert(with_suffix(&bad_c, b"a/b"), [1u8, 1, 0])
            .unwrap();
        // A delivery referring to a message that does not exist.
        let d = values::encode_delivery(
            &DeliveryRecord {
                msg: 99,
                qos: QoS::AtLeastOnce,
                retain: false,
                sub_ids: vec![],
            },
            None,
        );
        db.queue
            .insert(with_suffix(&good, &1u64.to_be_bytes()), d)
            .unwrap();
        db.retained.insert("t", [0xFFu8; 5]).unwrap();
        db.msgs.insert([1u8, 2, 3], b"short key").unwrap();
        db.wills.insert(with_suffix(&good, b"x"), b"").unwrap();
        let loaded = load(&db).unwrap();
        let s = &loaded.snapshot;
        assert_eq!(s.sessions.len(), 1);
        assert_eq!(s.sessions[0].record.client_id, "good");
        assert!(s.sessions[0].queue.is_empty());
        let tables: Vec<&str> = s.skipped.iter().map(|k| k.table).collect();
        assert_eq!(
            tables,
            ["msgs", "sessions", "subs", "queue", "wills", "retained"],
            "{:?}",
            s.skipped
        );
        assert!(s.skipped[3].reason.contains("missing message 99"));
        assert_eq!(s.skipped[1].key, "bad");
    }

    #[test]
    fn a_garbage_highest_id_is_a_clear_error() {
        let tmp = tempfile::tempdir().unwrap();
        let db = fresh(&tmp);
        db.meta.insert(MAX_MSG_ID_KEY, b"??").unwrap();
        let e = load(&db).unwrap_err();
        assert!(matches!(e, StoreError::Corrupt { .. }), "{e}");
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

        /// Arbitrary keys and values in every table: loading reports, it
        /// never panics.
        #[test]
        fn loading_never_panics_on_garbage(
            entries in proptest::collection::vec(
                (0usize..8, proptest::collection::vec(any::<u8>(), 1..24),
                 proptest::collection::vec(any::<u8>(), 0..48)),
                0..40,
            ),
            valid_prefix in any::<bool>(),
        ) {
            // One database for all cases (creating one costs fsyncs).
            static SHARED: std::sync::OnceLock<
                parking_lot::Mutex<(tempfile::TempDir, Db)>,
            > = std::sync::OnceLock::new();
            let guard = SHARED
                .get_or_init(|| {
                    let tmp = tempfile::tempdir().unwrap();
                    let db = fresh(&tmp);
                    parking_lot::Mutex::new((tmp, db))
                })
                .lock();
            let db = &guard.1;
            let before = db.db.read_tx();
            for (_, ks) in db.tables() {
                for g in before.iter(ks) {
                    ks.remove(g.key().unwrap()).unwrap();
                }
            }
            db.meta.inner().remove(MAX_MSG_ID_KEY).unwrap();
            for (t, k, v) in &entries {
                let key = if valid_prefix && *t != 2 && *t != 7 {
                    with_suffix(&client_prefix("c").unwrap(), k)
                } else {
                    k.clone()
                };
                // Sometimes a valid-looking value with garbage after the
                // version byte.
                let mut value = v.clone();
                if let Some(b) = value.first_mut() {
                    *b = if *b % 2 == 0 { values::RECORD_V1 } else { *b };
                }
                db.tables()[*t].1.insert(key, value).unwrap();
            }
            db.sessions.insert(client_prefix("c").unwrap(), session_value("c")).unwrap();
            let loaded = load(db).unwrap();
            let s = &loaded.snapshot;
            prop_assert!(s.sessions.iter().any(|x| x.record.client_id == "c"));
        }
    }
}
