//! Komar's durable state: persistent sessions with their subscriptions,
//! queued messages of offline clients, in-flight QoS 1/2 state in both
//! directions, retained messages and delayed wills — on the fjall
//! embedded storage engine (chosen by `examples/engine_bench.rs`; numbers
//! and reasons in the crate README).
//!
//! This crate owns the on-disk layout (`src/keys.rs` and the README document
//! every table) and its format version. It does not depend on the broker
//! core: it speaks in its own plain [`records`], and the server adapts it
//! to the core's persistence trait.
//!
//! # Use
//! 1. [`Store::open`] checks the location (refusing a Mosquitto
//!    `mosquitto.db`, see [`StoreLocation`]), reads everything and returns
//!    the [`Snapshot`] to rebuild the broker from.
//! 2. The broker submits groups of [`Op`]s; each group is applied
//!    atomically, in order, by a writer thread that commits many groups at
//!    once (group commit). [`Store::submit`] is a future that waits while
//!    the bounded queue is full; the [`Durable`] it yields resolves when
//!    the group is committed — written to the OS (survives `kill -9`), or
//!    fsynced with [`StoreOptions::sync`] (survives power loss). Send the
//!    PUBACK/PUBREC after that.
//! 3. [`Store::flush`] forces an fsync (SIGUSR1); [`Store::close`] drains,
//!    fsyncs and stops.
//!
//! No IO ever runs on the caller's thread after `open`; the crate has no
//! async runtime dependency (wake-ups go through `std::task::Waker`).
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

mod channel;
mod codec;
mod durable;
mod engine;
mod keys;
mod load;
mod location;
mod ops;
mod pending;
pub mod records;
mod refs;
mod store;
mod values;
mod writer;

pub use codec::DecodeError;
pub use durable::Durable;
pub use engine::FORMAT_VERSION;
pub use error::StoreError;
pub use location::{
    StoreLocation, DEFAULT_STORE_DIR, MARKER_FILE, MOSQUITTO_DEFAULT_FILE, MOSQUITTO_MAGIC,
};
pub use ops::Op;
pub use records::{
    DeliveryRecord, MsgId, OriginRecord, OutState, OutgoingRecord, SessionRecord, SessionState,
    Skipped, Snapshot, StoredMessage, SubscriptionRecord, UnixTime, WillRecord,
};
pub use store::{Store, StoreOptions, Submit, TrySubmitError};

mod error;
