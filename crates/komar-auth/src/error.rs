//! The error type shared by the password-file and ACL-file parsers: one
//! problem on one line, for the broker to log.

use std::fmt;

/// A problem with one line of a password or ACL file.
///
/// The message never contains a password or a hash, only user names and
/// (for ACL files) the offending word or topic, so it is safe to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number in the text that was parsed.
    pub line: usize,
    /// What is wrong, in the words Mosquitto uses where it has them.
    pub message: String,
}

impl LineError {
    pub(crate) fn new(line: usize, message: impl Into<String>) -> LineError {
        LineError {
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for LineError {}
