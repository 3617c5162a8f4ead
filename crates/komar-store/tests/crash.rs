//! Crash test: a child process (this test binary, re-run as
//! `crash_child`) writes numbered operation groups and prints `DURABLE n`
//! as soon as group `n`'s completion fires; the parent kills it with
//! SIGKILL at a random point (sometimes while it is still opening and
//! recovering), reopens the store and checks that
//! - every group reported durable is there, and
//! - the store holds exactly the state after some prefix of the groups
//!   (batches are atomic and in order), messages included.
//!
//! Rounds alternate the durability level. Default 6 rounds (CI); set
//! `KOMAR_STORE_CRASH_ROUNDS` for a longer run.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use komar_proto::PacketId;
use komar_store::{Durable, Op, Snapshot, Store, StoreOptions};

const CLIENTS: u64 = 8;
const KEEP: u64 = 4;
const TOPICS: u64 = 16;

fn client(n: u64) -> String {
    format!("crash-client-{}", n % CLIENTS)
}

fn pid(n: u64) -> PacketId {
    PacketId::new((n % 60_000) as u16 + 1).unwrap()
}

/// Group `n`: queue a new message for one client, acknowledge the one
/// queued `KEEP` groups earlier, set a retained message, and track an
/// incoming QoS 2 id the same way.
fn group(store: &Store, n: u64) -> Vec<Op> {
    let id = store.next_message_id();
    let mut ops = vec![
        Op::PutSession(session(&client(n))),
        Op::PutMessage {
            id,
            message: msg(&format!("q/{}", n % CLIENTS), &n.to_string()),
        },
        Op::Enqueue {
            client_id: client(n).into(),
            seq: n,
            delivery: delivery(id),
        },
        Op::AddIncomingQos2 {
            client_id: client(n).into(),
            packet_id: pid(n),
        },
        Op::PutRetained(msg(&format!("r/{}", n % TOPICS), &n.to_string())),
    ];
    if let Some(old) = n.checked_sub(KEEP) {
        ops.push(Op::Dequeue {
            client_id: client(old).into(),
            seq: old,
        });
        ops.push(Op::RemoveIncomingQos2 {
            client_id: client(old).into(),
            packet_id: pid(old),
        });
    }
    ops
}

/// How many groups the snapshot says were applied.
fn applied(snap: &Snapshot) -> u64 {
    snap.sessions
        .iter()
        .flat_map(|s| s.queue.iter().map(|(seq, _)| seq + 1))
        .max()
        .unwrap_or(0)
}

/// The snapshot must be exactly the state after groups `0..p`.
fn check_prefix(snap: &Snapshot, p: u64) {
    assert!(snap.skipped.is_empty(), "{:?}", snap.skipped);
    assert_eq!(snap.orphans_removed, 0);
    let live: Vec<u64> = (p.saturating_sub(KEEP)..p).collect();
    let mut queued: Vec<(u64, String)> = Vec::new();
    let mut incoming: Vec<u16> = Vec::new();
    for s in &snap.sessions {
        for (seq, d) in &s.queue {
            assert_eq!(s.record.client_id, client(*seq));
            let m = snap.message(d.msg).expect("queued message stored");
            queued.push((*seq, String::from_utf8(m.payload.to_vec()).unwrap()));
        }
        incoming.extend(s.incoming_qos2.iter().map(|p| p.get()));
    }
    queued.sort();
    let want: Vec<(u64, String)> = live.iter().map(|n| (*n, n.to_string())).collect();
    assert_eq!(queued, want, "queue after {p} groups");
    incoming.sort_unstable();
    let mut want_in: Vec<u16> = live.iter().map(|n| pid(*n).get()).collect();
    want_in.sort_unstable();
    assert_eq!(incoming, want_in, "incoming QoS 2 ids after {p} groups");
    assert_eq!(snap.messages.len(), live.len(), "exactly the live messages");
    assert_eq!(snap.sessions.len() as u64, p.min(CLIENTS));
    for r in &snap.retained {
        let k: u64 = r.topic.as_str()[2..].parse().unwrap();
        let last = (0..p).rev().find(|n| n % TOPICS == k).unwrap();
        assert_eq!(
            r.payload,
            last.to_string().as_bytes(),
            "retained {}",
            r.topic
        );
    }
    assert_eq!(snap.retained.len() as u64, p.min(TOPICS));
}

/// The child: runs only when the parent sets `KOMAR_STORE_CRASH_CHILD`.
#[test]
fn crash_child() {
    let Some(dir) = std::env::var_os("KOMAR_STORE_CRASH_CHILD") else {
        return;
    };
    let opts = StoreOptions {
        sync: std::env::var("KOMAR_STORE_CRASH_SYNC").is_ok_and(|v| v == "1"),
        ..StoreOptions::default()
    };
    let (store, snap) = Store::open(Path::new(&dir), opts).unwrap();
    let start = applied(&snap);
    println!("START {start}");
    let (tx, rx) = mpsc::sync_channel::<(u64, Durable)>(256);
    let printer = std::thread::spawn(move || {
        for (n, d) in rx {
            d.wait().unwrap();
            println!("DURABLE {n}");
        }
    });
    for n in start.. {
        let d = store.submit_blocking(group(&store, n)).unwrap();
        if tx.send((n, d)).is_err() {
            break;
        }
    }
    drop(tx);
    printer.join().unwrap();
}

/// The group number of a `DURABLE n` line.
fn durable(line: &str) -> Option<u64> {
    let at = line.find("DURABLE ")?;
    line[at + 8..].trim().parse().ok()
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn kill_9_never_loses_a_group_reported_durable() {
    let rounds: u32 = std::env::var("KOMAR_STORE_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    println!("crash test seed {seed}");
    let mut rng = Rng(seed);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let exe = std::env::current_exe().unwrap();
    let mut total_reported = 0u64;
    for round in 0..rounds {
        let sync = round % 3 == 2;
        // Kill after this many completions; 0 = as soon as it started,
        // u64::MAX = without waiting for anything (during open/recovery).
        let target = match rng.next() % 8 {
            0 => u64::MAX,
            1 => 0,
            _ => rng.next() % 3_000,
        };
        let mut child = Command::new(&exe)
            .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
            .env("KOMAR_STORE_CRASH_CHILD", &dir)
            .env("KOMAR_STORE_CRASH_SYNC", if sync { "1" } else { "0" })
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut reported: Option<u64> = None;
        let mut started = false;
        let mut count = 0u64;
        let deadline = Instant::now() + Duration::from_secs(60);
        if target != u64::MAX {
            while count < target || !started {
                let left = deadline.saturating_duration_since(Instant::now());
                let Ok(line) = rx.recv_timeout(left) else {
                    break;
                };
                // libtest may print "test crash_child ... " before the
                // child's first line.
                if line.contains("START ") {
                    started = true;
                } else if let Some(n) = durable(&line) {
                    reported = Some(n);
                    count += 1;
                }
            }
            assert!(Instant::now() < deadline, "child made no progress");
        }
        child.kill().unwrap();
        child.wait().unwrap();
        // Lines the child printed before it died are still in the pipe.
        reader.join().unwrap();
        for line in rx.try_iter() {
            if let Some(n) = durable(&line) {
                reported = Some(n);
                count += 1;
            }
        }
        let (store, snap) = Store::open(&dir, StoreOptions::default()).unwrap();
        let p = applied(&snap);
        if let Some(r) = reported {
            assert!(
                p > r,
                "round {round} (seed {seed}, sync {sync}): group {r} was reported durable \
                 but only {p} groups are in the store"
            );
        }
        check_prefix(&snap, p);
        total_reported += count;
        store.close().unwrap();
        let when = if target == u64::MAX {
            "at once (during open)".to_owned()
        } else {
            format!("after {target} completions")
        };
        println!(
            "round {round}: sync={sync} killed {when}: \
             {count} reported, last {reported:?}, {p} groups in the store"
        );
    }
    println!("{rounds} rounds, {total_reported} reported groups checked");
}
