//! Helpers shared by the integration tests: records with little noise, a
//! store in a temporary directory, and a tiny executor for the futures.
#![allow(dead_code)]

use std::future::Future;
use std::path::Path;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use bytes::Bytes;
use komar_proto::{ProtocolVersion, PublishProperties, QoS, TopicName};
use komar_store::{
    DeliveryRecord, MsgId, Op, SessionRecord, Snapshot, Store, StoreOptions, StoredMessage,
};

pub fn open(dir: &Path) -> (Store, Snapshot) {
    Store::open(dir, StoreOptions::default()).unwrap()
}

/// Close `store` and open the same directory again.
pub fn reopen(store: Store) -> (Store, Snapshot) {
    let dir = store.path().to_path_buf();
    store.close().unwrap();
    open(&dir)
}

/// Submit a group and wait until it is durable.
pub fn apply(store: &Store, ops: Vec<Op>) {
    store.submit_blocking(ops).unwrap().wait().unwrap();
}

pub fn msg(topic: &str, payload: &str) -> StoredMessage {
    StoredMessage {
        topic: TopicName::new(topic).unwrap(),
        payload: Bytes::copy_from_slice(payload.as_bytes()),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: PublishProperties::default(),
        expires_at: None,
        origin: None,
    }
}

pub fn session(client: &str) -> SessionRecord {
    SessionRecord {
        client_id: client.into(),
        protocol: ProtocolVersion::V5,
        expiry_interval: 3600,
        expires_at: None,
        username: None,
    }
}

pub fn delivery(msg: MsgId) -> DeliveryRecord {
    DeliveryRecord {
        msg,
        qos: QoS::AtLeastOnce,
        retain: false,
        sub_ids: vec![],
    }
}

struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Run a future to completion on this thread (no runtime needed).
pub fn block_on<F: Future>(f: F) -> F::Output {
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}
