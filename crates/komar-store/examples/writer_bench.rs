//! The store's CPU cost per message in the broker's costly durable QoS 1
//! regime: one persistent subscriber whose queue stays full, so every
//! message is stored and queued in one batch and dequeued (moved into
//! flight and acknowledged within one batch, which the server's merge
//! leaves as a bare dequeue) a few batches later.
//!
//! ```text
//! cargo run --release -p komar-store --example writer_bench -- [messages] [per-batch] [queued]
//! ```
//! Prints the process's CPU time per message (the caller only waits, so
//! it is the writer thread's and the engine's).

use std::time::Instant;

use bytes::Bytes;
use komar_proto::{ProtocolVersion, PublishProperties, QoS, TopicName};
use komar_store::{
    DeliveryRecord, Op, OriginRecord, SessionRecord, Store, StoreOptions, StoredMessage,
};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// CPU seconds (user + system) of this process so far.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 (1-based); 12 and 13 here.
    (ticks(11) + ticks(12)) / 100.0
}

fn main() -> Res<()> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let total = args.first().copied().unwrap_or(400_000);
    let per_batch = args.get(1).copied().unwrap_or(200);
    let queued = args.get(2).copied().unwrap_or(600);
    let dir = tempfile::tempdir()?;
    let (store, _) = Store::open(dir.path(), StoreOptions::default())?;
    let client = "bench-sub-11634-fanin-1-1-0";
    let wait = |ops: Vec<Op>| -> Res<()> {
        store.submit_blocking(ops)?.wait()?;
        Ok(())
    };
    wait(vec![Op::PutSession(SessionRecord {
        client_id: client.into(),
        protocol: ProtocolVersion::V311,
        expiry_interval: u32::MAX,
        expires_at: None,
        username: None,
    })])?;
    let topic = TopicName::new("bench/fanin/1/7")?;
    let payload = Bytes::from(vec![7u8; 64]);
    let (t0, c0) = (Instant::now(), cpu_seconds());
    let mut next = 0usize;
    while next < total {
        let mut ops = Vec::with_capacity(3 * per_batch);
        for n in next..(next + per_batch).min(total) {
            let id = store.next_message_id();
            ops.push(Op::PutMessage {
                id,
                message: StoredMessage {
                    topic: topic.clone(),
                    payload: payload.clone(),
                    qos: QoS::AtLeastOnce,
                    retain: false,
                    properties: PublishProperties::default(),
                    expires_at: None,
                    origin: Some(OriginRecord {
                        client_id: format!("bench-pub-11634-fanin-1-1-{}", n % 10),
                        username: None,
                    }),
                },
            });
            ops.push(Op::Enqueue {
                client_id: client.into(),
                seq: n as u64,
                delivery: DeliveryRecord {
                    msg: id,
                    qos: QoS::AtLeastOnce,
                    retain: false,
                    sub_ids: vec![],
                },
            });
            if let Some(old) = n.checked_sub(queued) {
                ops.push(Op::Dequeue {
                    client_id: client.into(),
                    seq: old as u64,
                });
            }
        }
        next += per_batch;
        wait(ops)?;
    }
    let (secs, cpu) = (t0.elapsed().as_secs_f64(), cpu_seconds() - c0);
    println!(
        "{total} messages, {per_batch} per batch, {queued} queued: {:.0} msg/s, {:.2} cpu-µs per message",
        total as f64 / secs,
        cpu * 1e6 / total as f64
    );
    store.close()?;
    Ok(())
}
