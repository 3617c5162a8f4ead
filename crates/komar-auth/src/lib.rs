//! Komar's credential and access-control formats, byte-compatible with
//! Eclipse Mosquitto 2.0: the `password_file` written by `mosquitto_passwd`,
//! the `acl_file`, and the `mosquitto_passwd` tool itself (`komar passwd`).
//!
//! This crate owns the file formats, the hash algorithms and the decisions
//! (does this password verify, may this client read this topic). It does not
//! read configuration, open the files the broker names or log anything: the
//! broker passes file contents in as text and logs the [`LineError`]s it gets
//! back. Nothing here ever formats a password or a hash into an error.
//!
//! * [`PasswordFile`] — parse a password file, verify a login in constant time.
//! * [`hash_password`] / [`password_line`] — write `$7$`, `$6$` and `$argon2id$`
//!   hashes exactly as `mosquitto_passwd` does.
//! * [`AclFile`] — parse an ACL file and answer checks with Mosquitto 2.0.11's
//!   semantics (see the [`acl`] module header).
//! * [`passwd_main`] — the `mosquitto_passwd` command line, testable through
//!   the [`PasswdIo`] trait.
//! * [`fuzz_password_file`] / [`fuzz_acl`] — entry points for cargo-fuzz.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

pub mod acl;
mod b64;
pub mod broker;
mod ctext;
mod error;
mod fuzz;
pub mod hash;
pub mod passwd;
mod password_file;
pub mod scram;

pub use acl::{sys_topic_allowed, Access, AclFile};
pub use broker::{FileSecurity, ListenerRules};
pub use error::LineError;
pub use fuzz::{fuzz_acl, fuzz_password_file};
pub use hash::{hash_password, password_line, HashError, HashKind, PasswordHash};
pub use passwd::{passwd_main, MemoryIo, PasswdIo, TerminalIo};
pub use password_file::PasswordFile;
