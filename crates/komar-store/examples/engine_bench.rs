//! Engine comparison behind komar-store's choice of storage engine: fjall
//! against redb on what an MQTT broker's store does — group-committed
//! QoS 1 traffic (store message + queue entry, deleted again on PUBACK) at
//! each durability level, a full scan on restart with 1,000,000 retained
//! messages and 10,000 sessions, size on disk, and whether a batch reported
//! committed survives `kill -9` of the writing process.
//!
//! The engines are used raw (keys and values as bytes), so the numbers
//! compare engines, not komar-store; `examples/store_bench.rs` measures the
//! store itself. Results and the decision are in the crate's README.
//!
//! ```text
//! cargo run --release -p komar-store --features bench-redb --example engine_bench -- [qos1|restart|crash|all] [--quick]
//! ```

use std::error::Error;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

type Res<T> = Result<T, Box<dyn Error>>;

/// The tables the store keeps (a subset is enough for the comparison).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Table {
    Msgs,
    Queue,
    Retained,
    Sessions,
    Subs,
}

const TABLES: [Table; 5] = [
    Table::Msgs,
    Table::Queue,
    Table::Retained,
    Table::Sessions,
    Table::Subs,
];

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Msgs => "msgs",
            Table::Queue => "queue",
            Table::Retained => "retained",
            Table::Sessions => "sessions",
            Table::Subs => "subs",
        }
    }
}

/// How far a commit goes before it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    /// Nothing promised (redb `Durability::None`, fjall without persist).
    None,
    /// Handed to the operating system: must survive `kill -9`.
    Os,
    /// fsynced: must survive power loss.
    Sync,
}

impl Level {
    fn parse(s: &str) -> Res<Level> {
        match s {
            "none" => Ok(Level::None),
            "os" => Ok(Level::Os),
            "sync" => Ok(Level::Sync),
            _ => Err(format!("unknown level {s}").into()),
        }
    }
    fn name(self) -> &'static str {
        match self {
            Level::None => "none",
            Level::Os => "os",
            Level::Sync => "sync",
        }
    }
}

/// One batch of writes.
#[derive(Default)]
struct Batch {
    puts: Vec<(Table, Vec<u8>, Vec<u8>)>,
    dels: Vec<(Table, Vec<u8>)>,
}

impl Batch {
    fn clear(&mut self) {
        self.puts.clear();
        self.dels.clear();
    }
}

/// The operations the comparison needs from an engine.
trait Engine: Sized {
    const NAME: &'static str;
    fn open(dir: &Path) -> Res<Self>;
    fn commit(&mut self, batch: &Batch, level: Level) -> Res<()>;
    /// Reads every entry of every table; returns (entries, key+value bytes).
    fn scan(&self) -> Res<(u64, u64)>;
    fn contains(&self, table: Table, key: &[u8]) -> Res<bool>;
}

struct Fjall {
    db: fjall::SingleWriterTxDatabase,
    tables: Vec<fjall::SingleWriterTxKeyspace>,
}

impl Fjall {
    fn ks(&self, t: Table) -> Res<&fjall::SingleWriterTxKeyspace> {
        let i = TABLES.iter().position(|x| *x == t).ok_or("no table")?;
        self.tables.get(i).ok_or_else(|| "no table".into())
    }
}

impl Engine for Fjall {
    const NAME: &'static str = "fjall";
    fn open(dir: &Path) -> Res<Self> {
        let db = fjall::SingleWriterTxDatabase::builder(dir)
            .manual_journal_persist(true)
            .worker_threads(1)
            .open()?;
        let mut tables = Vec::new();
        for t in TABLES {
            tables.push(db.keyspace(t.name(), fjall::KeyspaceCreateOptions::default)?);
        }
        Ok(Fjall { db, tables })
    }
    fn commit(&mut self, batch: &Batch, level: Level) -> Res<()> {
        let mode = match level {
            Level::None => None,
            Level::Os => Some(fjall::PersistMode::Buffer),
            Level::Sync => Some(fjall::PersistMode::SyncAll),
        };
        let mut tx = self.db.write_tx().durability(mode);
        for (t, k, v) in &batch.puts {
            tx.insert(self.ks(*t)?, k.as_slice(), v.as_slice());
        }
        for (t, k) in &batch.dels {
            tx.remove(self.ks(*t)?, k.as_slice());
        }
        tx.commit()?;
        Ok(())
    }
    fn scan(&self) -> Res<(u64, u64)> {
        let (mut n, mut bytes) = (0u64, 0u64);
        for ks in &self.tables {
            for g in ks.inner().iter() {
                let (k, v) = g.into_inner()?;
                n += 1;
                bytes += (k.len() + v.len()) as u64;
            }
        }
        Ok((n, bytes))
    }
    fn contains(&self, table: Table, key: &[u8]) -> Res<bool> {
        Ok(self.ks(table)?.contains_key(key)?)
    }
}

struct Redb {
    db: redb::Database,
}

fn redb_def(t: Table) -> redb::TableDefinition<'static, &'static [u8], &'static [u8]> {
    redb::TableDefinition::new(t.name())
}

impl Engine for Redb {
    const NAME: &'static str = "redb";
    fn open(dir: &Path) -> Res<Self> {
        std::fs::create_dir_all(dir)?;
        let db = redb::Database::create(dir.join("store.redb"))?;
        let tx = db.begin_write()?;
        for t in TABLES {
            tx.open_table(redb_def(t))?;
        }
        tx.commit()?;
        Ok(Redb { db })
    }
    fn commit(&mut self, batch: &Batch, level: Level) -> Res<()> {
        let mut tx = self.db.begin_write()?;
        // redb has no level between "kept in memory" and "fsynced": its
        // non-durable commits are lost when the process dies, so the
        // process-crash level has to fsync as well.
        tx.set_durability(match level {
            Level::None => redb::Durability::None,
            Level::Os | Level::Sync => redb::Durability::Immediate,
        })?;
        {
            for t in TABLES {
                let mut table = tx.open_table(redb_def(t))?;
                for (_, k, v) in batch.puts.iter().filter(|(x, _, _)| *x == t) {
                    table.insert(k.as_slice(), v.as_slice())?;
                }
                for (_, k) in batch.dels.iter().filter(|(x, _)| *x == t) {
                    table.remove(k.as_slice())?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }
    fn scan(&self) -> Res<(u64, u64)> {
        use redb::{ReadableDatabase, ReadableTable};
        let tx = self.db.begin_read()?;
        let (mut n, mut bytes) = (0u64, 0u64);
        for t in TABLES {
            let table = tx.open_table(redb_def(t))?;
            for e in table.iter()? {
                let (k, v) = e?;
                n += 1;
                bytes += (k.value().len() + v.value().len()) as u64;
            }
        }
        Ok((n, bytes))
    }
    fn contains(&self, table: Table, key: &[u8]) -> Res<bool> {
        use redb::ReadableDatabase;
        let tx = self.db.begin_read()?;
        let t = tx.open_table(redb_def(table))?;
        Ok(t.get(key)?.is_some())
    }
}

/// A key made of a length-prefixed client id and a number, as the store
/// lays out per-session entries.
fn session_key(client: &str, n: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(2 + client.len() + 8);
    k.extend_from_slice(&(client.len() as u16).to_be_bytes());
    k.extend_from_slice(client.as_bytes());
    k.extend_from_slice(&n.to_be_bytes());
    k
}

/// A stored message of about the size the store writes for a 64-byte QoS 1
/// publish (header, topic, payload).
fn message_value(topic: &str, payload_len: usize, salt: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(16 + topic.len() + payload_len);
    v.extend_from_slice(&[1, 1, 0, 0]);
    v.extend_from_slice(&(topic.len() as u16).to_be_bytes());
    v.extend_from_slice(topic.as_bytes());
    let mut x = salt.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for _ in 0..payload_len {
        // Pseudo-random payload bytes, so compression flatters nobody.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.push(x as u8);
    }
    v
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

fn fresh_dir(root: &Path, name: &str) -> Res<PathBuf> {
    let d = root.join(name);
    if d.exists() {
        std::fs::remove_dir_all(&d)?;
    }
    std::fs::create_dir_all(&d)?;
    Ok(d)
}

/// QoS 1 at a steady state: each commit stores `batch` new messages (one
/// message + one queue entry each, from `sessions` different sessions) and
/// deletes the previous batch (acknowledged). Returns messages per second.
fn qos1<E: Engine>(root: &Path, level: Level, total: u64, batch: u64) -> Res<f64> {
    let dir = fresh_dir(root, &format!("{}-qos1-{}-{batch}", E::NAME, level.name()))?;
    let mut e = E::open(&dir)?;
    let sessions = 1_000u64;
    let mut b = Batch::default();
    let mut prev: Vec<(Table, Vec<u8>)> = Vec::new();
    let start = Instant::now();
    let mut id = 0u64;
    while id < total {
        b.clear();
        b.dels.append(&mut prev);
        for _ in 0..batch {
            id += 1;
            let client = format!("client-{:05}", id % sessions);
            let mk = id.to_be_bytes().to_vec();
            let qk = session_key(&client, id);
            b.puts.push((
                Table::Msgs,
                mk.clone(),
                message_value("sensors/x/temp", 64, id),
            ));
            b.puts.push((Table::Queue, qk.clone(), mk.clone()));
            prev.push((Table::Msgs, mk));
            prev.push((Table::Queue, qk));
        }
        e.commit(&b, level)?;
    }
    b.clear();
    b.dels.append(&mut prev);
    e.commit(&b, level)?;
    let secs = start.elapsed().as_secs_f64();
    drop(e);
    std::fs::remove_dir_all(&dir)?;
    Ok(total as f64 / secs)
}

/// Restart: writes `retained` retained messages and `sessions` sessions
/// with three subscriptions each, closes, then times open + full scan.
/// Returns (write secs, open+scan secs, entries, bytes on disk).
fn restart<E: Engine>(root: &Path, retained: u64, sessions: u64) -> Res<(f64, f64, u64, u64)> {
    let dir = fresh_dir(root, &format!("{}-restart", E::NAME))?;
    let t0 = Instant::now();
    {
        let mut e = E::open(&dir)?;
        let mut b = Batch::default();
        let chunk = 10_000u64;
        let mut i = 0u64;
        while i < retained {
            b.clear();
            for j in i..(i + chunk).min(retained) {
                let topic = format!("site/{:04}/device/{:06}/temperature", j % 1000, j);
                let v = message_value(&topic, 64, j);
                b.puts.push((Table::Retained, topic.into_bytes(), v));
            }
            i += chunk;
            e.commit(&b, Level::Os)?;
        }
        b.clear();
        for s in 0..sessions {
            let client = format!("persistent-client-{s:06}");
            b.puts
                .push((Table::Sessions, client.clone().into_bytes(), vec![0u8; 24]));
            for f in 0..3u64 {
                b.puts.push((
                    Table::Subs,
                    session_key(&client, f),
                    b"site/+/device/#\x01".to_vec(),
                ));
            }
        }
        e.commit(&b, Level::Sync)?;
    }
    let write = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let (n, _) = {
        let e = E::open(&dir)?;
        e.scan()?
    };
    let load = t1.elapsed().as_secs_f64();
    let size = dir_size(&dir);
    std::fs::remove_dir_all(&dir)?;
    Ok((write, load, n, size))
}

/// The child side of the crash test: commits batches of 100 entries
/// forever, printing each batch number once its commit returned.
fn crash_child<E: Engine>(dir: &Path, level: Level) -> Res<()> {
    let mut e = E::open(dir)?;
    let mut b = Batch::default();
    for n in 0u64.. {
        b.clear();
        for i in 0..100u64 {
            b.puts.push((
                Table::Queue,
                session_key("crash", n * 100 + i),
                message_value("t", 64, n),
            ));
        }
        e.commit(&b, level)?;
        println!("ok {n}");
    }
    Ok(())
}

/// The parent side: runs the child, kills it with SIGKILL after a varying
/// number of reported commits, reopens and counts reported batches that
/// are missing. Returns (reported, lost) over all rounds.
fn crash<E: Engine>(root: &Path, level: Level, rounds: u32) -> Res<(u64, u64)> {
    let exe = std::env::current_exe()?;
    let (mut reported, mut lost) = (0u64, 0u64);
    for round in 0..rounds {
        let dir = fresh_dir(root, &format!("{}-crash-{}", E::NAME, level.name()))?;
        let mut child = Command::new(&exe)
            .args(["crash-child", E::NAME, level.name()])
            .arg(&dir)
            .stdout(Stdio::piped())
            .spawn()?;
        let out = child.stdout.take().ok_or("no stdout")?;
        let stop_after = 20 + u64::from(round) * 37;
        let mut last = None;
        for line in BufReader::new(out).lines() {
            let line = line?;
            if let Some(n) = line.strip_prefix("ok ").and_then(|s| s.parse::<u64>().ok()) {
                last = Some(n);
                if n >= stop_after {
                    break;
                }
            }
        }
        child.kill()?;
        child.wait()?;
        let e = E::open(&dir)?;
        if let Some(last) = last {
            reported += last + 1;
            for n in 0..=last {
                if !e.contains(Table::Queue, &session_key("crash", n * 100 + 99))? {
                    lost += 1;
                }
            }
        }
        drop(e);
        std::fs::remove_dir_all(&dir)?;
    }
    Ok((reported, lost))
}

fn run_qos1<E: Engine>(root: &Path, quick: bool) -> Res<()> {
    let levels: &[Level] = if E::NAME == "redb" {
        &[Level::None, Level::Os]
    } else {
        &[Level::None, Level::Os, Level::Sync]
    };
    for &level in levels {
        for &(batch, total) in &[(1_000u64, 200_000u64), (10, 5_000)] {
            let total = if quick { total / 10 } else { total };
            let rate = qos1::<E>(root, level, total, batch)?;
            let note = if E::NAME == "redb" && level == Level::Os {
                " (redb: os = sync, Durability::Immediate)"
            } else {
                ""
            };
            println!(
                "qos1  {:<6} level={:<4} batch={batch:<5} {rate:>10.0} msg/s{note}",
                E::NAME,
                level.name()
            );
        }
    }
    Ok(())
}

fn run_restart<E: Engine>(root: &Path, quick: bool) -> Res<()> {
    let (retained, sessions) = if quick {
        (100_000, 1_000)
    } else {
        (1_000_000, 10_000)
    };
    let (write, load, n, size) = restart::<E>(root, retained, sessions)?;
    println!(
        "restart {:<6} {retained} retained + {sessions} sessions: fill {write:.2} s, open+scan {load:.2} s ({n} entries), {:.1} MB on disk, {:.0} B per retained message",
        E::NAME,
        size as f64 / 1e6,
        size as f64 / retained as f64
    );
    Ok(())
}

fn run_crash<E: Engine>(root: &Path, quick: bool) -> Res<()> {
    let rounds = if quick { 2 } else { 5 };
    for level in [Level::None, Level::Os] {
        let (reported, lost) = crash::<E>(root, level, rounds)?;
        println!(
            "crash {:<6} level={:<4} {rounds} kill -9 rounds: {reported} batches reported committed, {lost} lost",
            E::NAME,
            level.name()
        );
    }
    Ok(())
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("crash-child") {
        let engine = args.get(1).ok_or("engine?")?;
        let level = Level::parse(args.get(2).ok_or("level?")?)?;
        let dir = PathBuf::from(args.get(3).ok_or("dir?")?);
        return match engine.as_str() {
            "fjall" => crash_child::<Fjall>(&dir, level),
            _ => crash_child::<Redb>(&dir, level),
        };
    }
    let what = args.first().map_or("all", String::as_str).to_owned();
    let quick = args.iter().any(|a| a == "--quick");
    let root = std::env::var_os("BENCH_DIR").map_or_else(
        || std::env::temp_dir().join("komar-engine-bench"),
        PathBuf::from,
    );
    std::fs::create_dir_all(&root)?;
    if what == "qos1" || what == "all" {
        run_qos1::<Fjall>(&root, quick)?;
        run_qos1::<Redb>(&root, quick)?;
    }
    if what == "restart" || what == "all" {
        run_restart::<Fjall>(&root, quick)?;
        run_restart::<Redb>(&root, quick)?;
    }
    if what == "crash" || what == "all" {
        run_crash::<Fjall>(&root, quick)?;
        run_crash::<Redb>(&root, quick)?;
    }
    Ok(())
}
