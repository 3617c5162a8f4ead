//! komar-store's own numbers (numbers in the crate README):
//! - the durable QoS 1 path — store the message and queue it for a
//!   session, wait until durable (the PUBACK point), then dequeue it on
//!   the subscriber's PUBACK — at both durability levels, with many
//!   concurrent publishers (group commit) and pipelined;
//! - restart time with 1,000,000 retained messages and 10,000 sessions;
//! - size on disk per retained message.
//!
//! ```text
//! cargo run --release -p komar-store --example store_bench -- [qos1|restart|all] [--quick]
//! cargo run --release -p komar-store --example store_bench -- fill <dir> [retained] [sessions]
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use komar_proto::{
    ProtocolVersion, PublishProperties, QoS, SubscriptionOptions, TopicFilter, TopicName,
};
use komar_store::{
    DeliveryRecord, Op, SessionRecord, Store, StoreError, StoreOptions, StoredMessage,
    SubscriptionRecord,
};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn message(topic: &str, payload: &[u8]) -> Res<StoredMessage> {
    Ok(StoredMessage {
        topic: TopicName::new(topic)?,
        payload: Bytes::copy_from_slice(payload),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: PublishProperties::default(),
        expires_at: None,
        origin: None,
    })
}

fn session(client: &str) -> SessionRecord {
    SessionRecord {
        client_id: client.into(),
        protocol: ProtocolVersion::V5,
        expiry_interval: u32::MAX,
        expires_at: None,
        username: None,
    }
}

fn fresh(root: &Path, name: &str) -> Res<PathBuf> {
    let d = root.join(name);
    if d.exists() {
        std::fs::remove_dir_all(&d)?;
    }
    Ok(d)
}

fn dir_size(p: &Path) -> u64 {
    let mut total = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => total += dir_size(&e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

const SESSIONS: usize = 1_000;

fn setup(root: &Path, name: &str, sync: bool) -> Res<Store> {
    let dir = fresh(root, name)?;
    let (store, _) = Store::open(
        &dir,
        StoreOptions {
            sync,
            ..StoreOptions::default()
        },
    )?;
    let ops = (0..SESSIONS)
        .map(|i| Op::PutSession(session(&format!("sub-{i}"))))
        .collect();
    store.submit_blocking(ops)?.wait()?;
    Ok(store)
}

fn publish(store: &Store, n: usize, payload: &[u8]) -> Res<Vec<Op>> {
    let id = store.next_message_id();
    Ok(vec![
        Op::PutMessage {
            id,
            message: message("sensors/1/temp", payload)?,
        },
        Op::Enqueue {
            client_id: format!("sub-{}", n % SESSIONS).into(),
            seq: n as u64,
            delivery: DeliveryRecord {
                msg: id,
                qos: QoS::AtLeastOnce,
                retain: false,
                sub_ids: vec![],
            },
        },
    ])
}

fn ack(n: usize) -> Vec<Op> {
    vec![Op::Dequeue {
        client_id: format!("sub-{}", n % SESSIONS).into(),
        seq: n as u64,
    }]
}

/// `publishers` threads, each: publish, wait until durable (PUBACK),
/// acknowledge, wait. Returns messages per second.
fn concurrent(root: &Path, sync: bool, publishers: usize, per: usize) -> Res<f64> {
    let store = Arc::new(setup(root, "qos1-concurrent", sync)?);
    let payload = [7u8; 64];
    let start = Instant::now();
    let threads: Vec<_> = (0..publishers)
        .map(|p| {
            let store = store.clone();
            std::thread::spawn(move || -> Result<(), StoreError> {
                for i in 0..per {
                    let n = p * per + i;
                    let ops = publish(&store, n, &payload)
                        .map_err(|e| StoreError::InvalidOp(e.to_string()))?;
                    store.submit_blocking(ops)?.wait()?;
                    store.submit_blocking(ack(n))?.wait()?;
                }
                Ok(())
            })
        })
        .collect();
    for t in threads {
        t.join().map_err(|_| "publisher panicked")??;
    }
    let rate = (publishers * per) as f64 / start.elapsed().as_secs_f64();
    Arc::try_unwrap(store)
        .map_err(|_| "store still shared")?
        .close()?;
    Ok(rate)
}

/// One thread keeps up to `window` publishes in flight (as many
/// connections would), acknowledging each once it is durable. Returns
/// messages per second.
fn pipelined(root: &Path, sync: bool, total: usize, window: usize) -> Res<f64> {
    let store = setup(root, "qos1-pipelined", sync)?;
    let payload = [7u8; 64];
    let start = Instant::now();
    let mut in_flight = std::collections::VecDeque::new();
    let mut acks = std::collections::VecDeque::new();
    for n in 0..total {
        in_flight.push_back((n, store.submit_blocking(publish(&store, n, &payload)?)?));
        if in_flight.len() >= window {
            if let Some((m, d)) = in_flight.pop_front() {
                d.wait()?;
                acks.push_back(store.submit_blocking(ack(m))?);
            }
        }
        while acks.len() > window {
            if let Some(d) = acks.pop_front() {
                d.wait()?;
            }
        }
    }
    for (m, d) in in_flight {
        d.wait()?;
        acks.push_back(store.submit_blocking(ack(m))?);
    }
    for d in acks {
        d.wait()?;
    }
    let rate = total as f64 / start.elapsed().as_secs_f64();
    store.close()?;
    Ok(rate)
}

fn run_qos1(root: &Path, quick: bool) -> Res<()> {
    let scale = if quick { 10 } else { 1 };
    for sync in [false, true] {
        let level = if sync { "sync (fsync)" } else { "os (write)" };
        for publishers in [1usize, 64] {
            let per = if sync {
                2_000 / publishers.min(8)
            } else {
                20_000 / publishers.min(8)
            } / scale;
            let rate = concurrent(root, sync, publishers, per.max(1))?;
            println!("qos1 {level:<12} {publishers:>3} publishers waiting for each PUBACK: {rate:>9.0} msg/s");
        }
        let total = 200_000 / scale;
        let rate = pipelined(root, sync, total, 1_000)?;
        println!("qos1 {level:<12} pipelined, 1,000 in flight:              {rate:>9.0} msg/s");
    }
    Ok(())
}

/// Write `retained` retained messages and `sessions` persistent sessions
/// (3 subscriptions each) into a new store at `dir`.
fn fill(dir: &Path, retained: usize, sessions: usize) -> Res<()> {
    let (store, _) = Store::open(dir, StoreOptions::default())?;
    let mut pending = Vec::new();
    let chunk = 10_000;
    for start in (0..retained).step_by(chunk) {
        let mut ops = Vec::with_capacity(chunk);
        for j in start..(start + chunk).min(retained) {
            let topic = format!("site/{:04}/device/{:06}/temperature", j % 1000, j);
            let mut m = message(&topic, &[b'x'; 64])?;
            m.retain = true;
            ops.push(Op::PutRetained(m));
        }
        pending.push(store.submit_blocking(ops)?);
    }
    let filter = TopicFilter::new("site/+/device/#")?;
    for s in 0..sessions {
        let client = format!("persistent-client-{s:06}");
        let mut ops = vec![Op::PutSession(session(&client))];
        for k in 0..3 {
            ops.push(Op::PutSubscription {
                client_id: client.as_str().into(),
                filter: TopicFilter::new(&format!(
                    "{}/{k}",
                    filter.as_str().trim_end_matches("/#")
                ))?,
                record: SubscriptionRecord {
                    options: SubscriptionOptions::qos(QoS::AtLeastOnce),
                    id: None,
                },
            });
        }
        pending.push(store.submit_blocking(ops)?);
    }
    for d in pending {
        d.wait()?;
    }
    store.close()?;
    Ok(())
}

fn run_restart(root: &Path, quick: bool) -> Res<()> {
    let (retained, sessions) = if quick {
        (100_000usize, 1_000usize)
    } else {
        (1_000_000, 10_000)
    };
    let dir = fresh(root, "restart")?;
    let t0 = Instant::now();
    fill(&dir, retained, sessions)?;
    let fill = t0.elapsed().as_secs_f64();
    let size = dir_size(&dir);
    let t1 = Instant::now();
    let (store, snap) = Store::open(&dir, StoreOptions::default())?;
    let open = t1.elapsed().as_secs_f64();
    assert_eq!(snap.retained.len(), retained);
    assert_eq!(snap.sessions.len(), sessions);
    drop(snap);
    store.close()?;
    let t2 = Instant::now();
    let (store, snap) = Store::open(&dir, StoreOptions::default())?;
    let open2 = t2.elapsed().as_secs_f64();
    drop(snap);
    store.close()?;
    let size2 = dir_size(&dir);
    println!(
        "restart {retained} retained + {sessions} sessions (3 subscriptions each): fill {fill:.1} s; \
         open+load {open:.2} s (again: {open2:.2} s); {:.0} MB on disk = {:.0} B per retained message \
         (after reopen: {:.0} B)",
        size as f64 / 1e6,
        size as f64 / retained as f64,
        size2 as f64 / retained as f64
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let what = args.first().map_or("all", String::as_str).to_owned();
    let quick = args.iter().any(|a| a == "--quick");
    let root = std::env::var_os("BENCH_DIR").map_or_else(
        || std::env::temp_dir().join("komar-store-bench"),
        PathBuf::from,
    );
    if what == "fill" {
        // `fill <dir> [retained] [sessions]`: a store for the broker's
        // restart benchmark (bench/persistence.sh).
        let dir = args.get(1).ok_or("fill needs a directory")?;
        let retained = args.get(2).map_or(Ok(1_000_000), |a| a.parse())?;
        let sessions = args.get(3).map_or(Ok(10_000), |a| a.parse())?;
        return fill(Path::new(dir), retained, sessions);
    }
    std::fs::create_dir_all(&root)?;
    if what == "qos1" || what == "all" {
        run_qos1(&root, quick)?;
    }
    if what == "restart" || what == "all" {
        run_restart(&root, quick)?;
    }
    Ok(())
}
