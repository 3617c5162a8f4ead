//! mosquitto.conf for Komar: the grammar, defaults and validation of
//! Mosquitto 2.0's configuration file (plus the options 2.1 added), turned
//! into a typed [`Config`].
//!
//! This crate is pure: it reads files only through an injected [`Loader`]
//! ([`FsLoader`] is the one place that touches the file system), spawns
//! nothing and logs nothing. Notices Mosquitto would log are returned in
//! [`Config::warnings`]; every problem is returned at once in
//! [`ConfigErrors`], each as `file:line: message`.
//!
//! What is supported is the broker's decision: [`Config::options`] lists
//! every option occurrence with its location so the broker can say
//! `file:line: option 'X' is recognised but not supported yet`.
//!
//! Where Komar is stricter than Mosquitto 2.0 it is to turn a silent
//! misreading into an error (numbers that `atoi` would misread, a TLS
//! listener without its key, unknown `tls_keyform` values); each case is
//! documented where it is implemented and listed in the crate's tests.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

mod error;
mod lexer;
mod loader;
mod model;
pub mod options;
mod parser;
mod values;

use std::path::Path;

pub use error::{ConfigError, ConfigErrors, ConfigWarning, Location, ValueError};
pub use loader::{FsLoader, Loader, MemLoader};
pub use model::bridge::{
    Bridge, BridgeAddress, BridgeProtocol, BridgeTls, BridgeTopic, Direction, ReloadType,
    RestartTimeout, StartType, TcpKeepalive,
};
pub use model::config::{Config, OptionUse, SharedStrategy};
pub use model::listener::{
    KeyForm, Listener, ListenerAddress, ListenerTls, Protocol, ProtocolVersions, SocketDomain,
    TlsVersion,
};
pub use model::logging::{LogDest, LogType};
pub use model::security::{Plugin, PluginOption, Security};
pub use values::{parse_bool, parse_expiration, parse_i64, parse_int};

/// Parse the configuration file `path` and the files its `include_dir`
/// lines name, reading through `loader`.
///
/// # Errors
/// Every problem found: an unreadable main file (line 0), unknown options,
/// bad or missing values, duplicates, options in the wrong place, an
/// unreadable `include_dir`, incomplete bridges.
pub fn parse_file(path: &Path, loader: &dyn Loader) -> Result<Config, ConfigErrors> {
    parser::Parser::new(loader).run_file(path)
}

/// Parse configuration text; `file_name` is used in messages.
/// `include_dir` fails (there is no loader); use [`parse_str_with_loader`]
/// to allow it.
///
/// # Errors
/// As [`parse_file`].
pub fn parse_str(text: &str, file_name: &str) -> Result<Config, ConfigErrors> {
    parser::Parser::new(&loader::NoLoader).run_text(text, Path::new(file_name))
}

/// Parse configuration text as the main file `file_name`, resolving
/// `include_dir` through `loader`.
///
/// # Errors
/// As [`parse_file`].
pub fn parse_str_with_loader(
    text: &str,
    file_name: &str,
    loader: &dyn Loader,
) -> Result<Config, ConfigErrors> {
    parser::Parser::new(loader).run_text(text, Path::new(file_name))
}

/// Fuzzing entry point: parse arbitrary bytes (lossily decoded) and throw
/// the result away. Must never panic, whatever the input.
pub fn fuzz_parse(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = parse_str(&text, "fuzz.conf");
}
