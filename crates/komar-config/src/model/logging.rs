//! Logging destinations and message types (`log_dest`, `log_type`).

use std::path::PathBuf;

/// One `log_dest` destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogDest {
    /// `stdout`.
    Stdout,
    /// `stderr` (the default when no `log_dest` is given).
    Stderr,
    /// `syslog` (facility from `log_facility`).
    Syslog,
    /// `topic`: publish to `$SYS/broker/log/<E|W|N|I|M|D>`.
    Topic,
    /// `dlt`: GENIVI Diagnostic Log and Trace.
    Dlt,
    /// `android`: Android log (Android builds of Mosquitto only).
    Android,
    /// `file <path>` (at most one).
    File(PathBuf),
}

/// One `log_type` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogType {
    /// `debug`.
    Debug,
    /// `error`.
    Error,
    /// `warning`.
    Warning,
    /// `notice`.
    Notice,
    /// `information`.
    Information,
    /// `subscribe`.
    Subscribe,
    /// `unsubscribe`.
    Unsubscribe,
    /// `websockets`.
    Websockets,
    /// `internal` (Mosquitto-internal diagnostics).
    Internal,
    /// `all`: every type.
    All,
}

impl LogType {
    /// The default set when no `log_type` is given.
    pub const DEFAULT: [LogType; 4] = [
        LogType::Error,
        LogType::Warning,
        LogType::Notice,
        LogType::Information,
    ];

    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "debug" => Self::Debug,
            "error" => Self::Error,
            "warning" => Self::Warning,
            "notice" => Self::Notice,
            "information" => Self::Information,
            "subscribe" => Self::Subscribe,
            "unsubscribe" => Self::Unsubscribe,
            "websockets" => Self::Websockets,
            "internal" => Self::Internal,
            "all" => Self::All,
            _ => return None,
        })
    }
}
