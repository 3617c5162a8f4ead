//! The `acl_file`: its grammar and its decisions, matching Mosquitto 2.0.11
//! (`src/security_default.c`, `src/security.c`) rule for rule. Each rule
//! below was checked against Debian's mosquitto 2.0.11 (see
//! `tests/mosquitto_compat.rs`).
//!
//! # Grammar (per line)
//! * Trailing whitespace is removed. A line whose *first character* is `#`
//!   is a comment; an indented `#` is not, and is an error.
//! * Words are separated by spaces only (a tab is part of a word).
//! * `topic [read|write|readwrite|deny] <topic>` — a rule for the current
//!   section. With one word after `topic`, that word is the topic and the
//!   access is `readwrite` (so `topic read` grants readwrite on the topic
//!   `read`). The topic is the rest of the line, trimmed, and may contain
//!   spaces. It must be a valid subscription filter (`+`/`#` placement, at
//!   most 65535 bytes, at most 200 `/`).
//! * `user <name>` — starts the section of that user (the rest of the line,
//!   trimmed). Rules before the first `user` line form the *anonymous*
//!   section: they apply only to clients without a user name. Sections of the
//!   same name are merged.
//! * `pattern [read|write|readwrite|deny] <topic>` — a rule for every
//!   client, wherever it appears. `%c` is replaced by the client id and `%u`
//!   by the user name *anywhere* in the topic, not only as a whole level (in
//!   2.0.11; later releases require a whole level). A pattern with `%u` is
//!   skipped for clients without a user name. A pattern with neither is
//!   accepted with a warning.
//! * Blank lines are ignored; any other first word is an error. Mosquitto
//!   refuses to start on the first error; [`AclFile::parse`] reports all.
//!
//! # Decisions ([`AclFile::check`])
//! 1. **Subscribe and unsubscribe are always allowed.** 2.0.11's acl_file
//!    check returns success for them before looking at any rule ("FIXME -
//!    implement ACL subscription strings"). Subscribing to `#` when only
//!    `a/#` is readable is granted (SUBACK carries the requested QoS, not
//!    0x80); the broker then filters each message with a *read* check when it
//!    delivers it, and retained messages likewise.
//! 2. [`sys_topic_allowed`]: writing to `$SYS…` is denied except
//!    `$SYS/broker/connection/+/state` (bridge notifications), and reading or
//!    writing `$share…` is denied. This applies even without an acl_file.
//! 3. The client's own section (its user's, or the anonymous one): if a
//!    `deny` rule matches the topic, deny; else if a rule with the wanted
//!    access matches, allow. Rules whose topic does not start with `$` never
//!    match a topic that does, so `#` does not grant `$SYS/…`.
//! 4. If there are `pattern` rules and the user name or the client id
//!    contains `+` or `#`, deny (a `/` is *not* refused in 2.0.11: user
//!    `a/b` under `pattern read u/%u/#` reads `u/a/b/…`, which user `a`
//!    can read too).
//! 5. Patterns, substituted: a matching `deny` denies; else a matching rule
//!    with the wanted access allows.
//! 6. Otherwise deny. So an acl_file with no rules (empty, or comments only)
//!    denies every read and write, while subscriptions still succeed.
//!
//! Not decided here (the broker's job): a bridge's own connection bypasses
//! ACLs; a client without an acl_file configured is allowed everything but
//! rule 2; a denied publish is dropped silently (v5 QoS>0 gets 0x87); the
//! read check is made for the receiving client at delivery time.

mod check;
mod parse;
#[cfg(test)]
mod tests;

pub use check::sys_topic_allowed;

use std::collections::HashMap;

use crate::error::LineError;

/// What a client wants to do with a topic (Mosquitto's `MOSQ_ACL_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// Receive a message published to the topic (checked at delivery).
    Read,
    /// Publish to the topic.
    Write,
    /// Subscribe with this filter.
    Subscribe,
    /// Unsubscribe from this filter.
    Unsubscribe,
}

/// What a rule grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grant {
    Deny,
    Read,
    Write,
    ReadWrite,
}

impl Grant {
    fn allows(self, access: Access) -> bool {
        matches!(
            (self, access),
            (Grant::Read | Grant::ReadWrite, Access::Read)
                | (Grant::Write | Grant::ReadWrite, Access::Write)
        )
    }
}

/// One `topic` or `pattern` line.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    topic: String,
    grant: Grant,
    /// The topic contains `%u` (pattern rules only): skipped for anonymous
    /// clients.
    has_user: bool,
    /// The topic contains `%c` or `%u` and must be substituted.
    substitutes: bool,
}

/// A parsed ACL file.
#[derive(Debug, Clone, Default)]
pub struct AclFile {
    /// Rules before the first `user` line.
    anonymous: Vec<Rule>,
    /// Rules per user name.
    users: HashMap<String, Vec<Rule>>,
    /// `pattern` rules.
    patterns: Vec<Rule>,
    /// Lines that loaded but deserve a log line.
    warnings: Vec<LineError>,
}

impl AclFile {
    /// Parse the text of an ACL file.
    ///
    /// # Errors
    /// Every line Mosquitto would refuse to start with, each with its line
    /// number and Mosquitto's wording.
    pub fn parse(text: &str) -> Result<AclFile, Vec<LineError>> {
        parse::parse(text)
    }

    /// Whether `client_id` (with `username`, `None` for anonymous) may do
    /// `access` on `topic`, as Mosquitto 2.0.11 with this acl_file and no
    /// plugins decides (see the module header).
    pub fn check(
        &self,
        client_id: &str,
        username: Option<&str>,
        topic: &str,
        access: Access,
    ) -> bool {
        check::check(self, client_id, username, topic, access)
    }

    /// Non-fatal findings (a `pattern` without `%c` or `%u`), for the log.
    pub fn warnings(&self) -> &[LineError] {
        &self.warnings
    }

    /// True when the file has no rule at all: every read and write is
    /// denied.
    pub fn is_empty(&self) -> bool {
        self.anonymous.is_empty() && self.users.is_empty() && self.patterns.is_empty()
    }
}
