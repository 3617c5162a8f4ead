//! Damaged stores: every file of a populated store (engine tables, journal,
//! manifests, the marker) is in turn truncated to nothing, cut in half,
//! overwritten in the middle with garbage, or deleted. Opening must then
//! either fail with a clear error or come up with what is intact — never
//! panic (in any thread) and never start silently empty.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::*;
use komar_proto::{QoS, SubscriptionOptions, TopicFilter};
use komar_store::{Op, Store, StoreError, StoreOptions, SubscriptionRecord, UnixTime, WillRecord};

const SESSIONS: usize = 40;
const RETAINED: usize = 300;

/// Writes a store whose data sits both in table files and in the journal.
fn populate(dir: &Path) {
    let write = |from: usize, to: usize| {
        let (store, _) = open(dir);
        for i in from..to {
            let c = format!("client-{i}");
            let id = store.next_message_id();
            apply(
                &store,
                vec![
                    Op::PutSession(session(&c)),
                    Op::PutSubscription {
                        client_id: c.as_str().into(),
                        filter: TopicFilter::new("a/#").unwrap(),
                        record: SubscriptionRecord {
                            options: SubscriptionOptions::qos(QoS::AtLeastOnce),
                            id: None,
                        },
                    },
                    Op::PutMessage {
                        id,
                        message: msg("a/b", &"p".repeat(100)),
                    },
                    Op::Enqueue {
                        client_id: c.as_str().into(),
                        seq: 1,
                        delivery: delivery(id),
                    },
                    Op::PutWill {
                        client_id: c.as_str().into(),
                        will: WillRecord {
                            due: UnixTime(1),
                            message: msg("w", "x"),
                        },
                    },
                ],
            );
        }
        let ops = (from * RETAINED / SESSIONS..to * RETAINED / SESSIONS)
            .map(|i| Op::PutRetained(msg(&format!("r/{i}"), &"v".repeat(50))))
            .collect();
        apply(&store, ops);
        store.close().unwrap();
    };
    write(0, SESSIONS / 2);
    // Move what is there into table files.
    {
        let db = fjall::SingleWriterTxDatabase::builder(dir).open().unwrap();
        for name in db.list_keyspace_names() {
            let ks = db
                .keyspace(&name, fjall::KeyspaceCreateOptions::default)
                .unwrap();
            ks.inner().rotate_memtable_and_wait().unwrap();
        }
    }
    write(SESSIONS / 2, SESSIONS);
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let t = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &t);
        } else {
            std::fs::copy(&p, &t).unwrap();
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Damage {
    Empty,
    Half,
    Garbage,
    Delete,
}

fn damage(file: &Path, how: Damage) {
    let data = std::fs::read(file).unwrap();
    match how {
        Damage::Empty => std::fs::write(file, b"").unwrap(),
        Damage::Half => std::fs::write(file, &data[..data.len() / 2]).unwrap(),
        Damage::Garbage => {
            let mut d = data;
            let mid = d.len() / 2;
            let end = (mid + 64).min(d.len());
            for (i, b) in d[mid..end].iter_mut().enumerate() {
                *b ^= 0xA5 ^ (i as u8);
            }
            std::fs::write(file, d).unwrap();
        }
        Damage::Delete => std::fs::remove_file(file).unwrap(),
    }
}

#[test]
fn damaged_files_give_an_error_or_what_is_intact_never_a_panic() {
    let panics = Arc::new(AtomicUsize::new(0));
    let counter = panics.clone();
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        counter.fetch_add(1, Ordering::SeqCst);
        default_hook(info);
    }));

    let tmp = tempfile::tempdir().unwrap();
    let pristine = tmp.path().join("pristine");
    populate(&pristine);
    let mut all = Vec::new();
    files(&pristine, &mut all);
    all.retain(|f| f.file_name().is_some_and(|n| n != "lock"));
    assert!(all.len() > 10, "a populated store has many files: {all:?}");

    let (mut errors, mut partial, mut whole) = (0, 0, 0);
    for (i, f) in all.iter().enumerate() {
        let rel = f.strip_prefix(&pristine).unwrap();
        for how in [Damage::Empty, Damage::Half, Damage::Garbage, Damage::Delete] {
            let dir = tmp.path().join(format!("case-{i}-{how:?}"));
            copy_dir(&pristine, &dir);
            damage(&dir.join(rel), how);
            let before = panics.load(Ordering::SeqCst);
            let outcome = std::panic::catch_unwind(|| {
                Store::open(&dir, StoreOptions::default()).map(|(store, snap)| {
                    let n = (snap.sessions.len(), snap.retained.len(), snap.skipped.len());
                    drop(store);
                    n
                })
            });
            assert_eq!(
                panics.load(Ordering::SeqCst),
                before,
                "{how:?} {}: a thread panicked",
                rel.display()
            );
            let result =
                outcome.unwrap_or_else(|_| panic!("{how:?} {}: open panicked", rel.display()));
            match result {
                Err(e) => {
                    errors += 1;
                    let text = e.to_string();
                    assert!(
                        text.contains(&dir.display().to_string()),
                        "the error names the store: {text}"
                    );
                    println!("{how:?} {}: error: {text}", rel.display());
                }
                Ok((sessions, retained, skipped)) => {
                    assert!(
                        sessions + retained > 0,
                        "{how:?} {}: started empty without an error",
                        rel.display()
                    );
                    if sessions == SESSIONS && retained == RETAINED && skipped == 0 {
                        whole += 1;
                    } else {
                        partial += 1;
                    }
                    println!(
                        "{how:?} {}: opened with {sessions} sessions, {retained} retained, {skipped} skipped",
                        rel.display()
                    );
                }
            }
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }
    println!("{errors} errors, {partial} partial recoveries, {whole} unaffected");
    assert!(errors > 0);
}

#[test]
fn an_emptied_store_directory_is_not_started_empty() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    populate(&dir);
    // Engine files gone, marker left: refuse.
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.file_name().is_some_and(|n| n != komar_store::MARKER_FILE) {
            if p.is_dir() {
                std::fs::remove_dir_all(&p).unwrap();
            } else {
                std::fs::remove_file(&p).unwrap();
            }
        }
    }
    let e = Store::open(&dir, StoreOptions::default()).unwrap_err();
    assert!(matches!(e, StoreError::Corrupt { .. }), "{e}");
    println!("{e}");
}

#[test]
fn a_lost_marker_is_rewritten_when_the_format_version_proves_the_store() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    populate(&dir);
    std::fs::remove_file(dir.join(komar_store::MARKER_FILE)).unwrap();
    let (store, snap) = Store::open(&dir, StoreOptions::default()).unwrap();
    assert_eq!(snap.sessions.len(), SESSIONS);
    assert!(dir.join(komar_store::MARKER_FILE).is_file());
    drop(store);
}

#[test]
fn a_directory_with_foreign_files_is_not_taken_over() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("notes.txt"), b"mine").unwrap();
    let e = Store::open(&dir, StoreOptions::default()).unwrap_err();
    assert!(matches!(e, StoreError::NotAStore { .. }), "{e}");
    assert_eq!(std::fs::read(dir.join("notes.txt")).unwrap(), b"mine");
}
