//! Topic names and topic filters (MQTT 5.0 §4.7, §4.8): validation on
//! construction, so a [`TopicName`] never holds a wildcard and a
//! [`TopicFilter`] always obeys the wildcard placement rules; plus the
//! reference matcher used by ACLs and retained-message lookup.

use std::fmt;
use std::sync::Arc;

/// Mosquitto's `TOPIC_HIERARCHY_LIMIT`: deeper topics are refused, which also
/// bounds any recursion over levels.
pub const MAX_TOPIC_LEVELS: usize = 200;

/// The longest topic an MQTT string can carry.
pub const MAX_TOPIC_LEN: usize = 65_535;

/// Why a string is not a valid topic name or filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// Topic names and filters are at least one character [MQTT-4.7.3-1].
    #[error("empty topic")]
    Empty,
    /// Longer than a UTF-8 string field can carry.
    #[error("topic longer than 65535 bytes")]
    TooLong,
    /// U+0000 is not allowed in a topic [MQTT-4.7.3-2].
    #[error("topic contains U+0000")]
    NullCharacter,
    /// A wildcard in a topic name [MQTT-3.3.2-2].
    #[error("wildcard in a topic name")]
    WildcardInName,
    /// `#` not last, or not alone in its level [MQTT-4.7.1-1].
    #[error("'#' must be the last level and alone in it")]
    BadMultiLevelWildcard,
    /// `+` not alone in its level [MQTT-4.7.1-2].
    #[error("'+' must be alone in its level")]
    BadSingleLevelWildcard,
    /// More levels than [`MAX_TOPIC_LEVELS`].
    #[error("more than 200 topic levels")]
    TooDeep,
    /// `$share/` without a share name, with a wildcard or `/` in it, or
    /// without a filter after it [MQTT-4.8.2-1] [MQTT-4.8.2-2].
    #[error("malformed shared subscription")]
    BadShare,
}

/// The rules names and filters share, in one pass over the bytes (this
/// runs for every PUBLISH): not empty, not too long, no U+0000, not too
/// deep. Returns whether a wildcard character was seen.
fn check_common(s: &str) -> Result<bool, TopicError> {
    if s.is_empty() {
        return Err(TopicError::Empty);
    }
    if s.len() > MAX_TOPIC_LEN {
        return Err(TopicError::TooLong);
    }
    let mut slashes = 0usize;
    let mut wildcard = false;
    for &b in s.as_bytes() {
        match b {
            0 => return Err(TopicError::NullCharacter),
            b'/' => slashes += 1,
            b'+' | b'#' => wildcard = true,
            _ => {}
        }
    }
    if slashes >= MAX_TOPIC_LEVELS {
        return Err(TopicError::TooDeep);
    }
    Ok(wildcard)
}

/// A topic name a message is published to: no wildcards, not empty.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicName(Arc<str>);

impl TopicName {
    /// Validate `s` as a topic name.
    ///
    /// # Errors
    /// The rule `s` breaks.
    pub fn new(s: &str) -> Result<TopicName, TopicError> {
        if check_common(s)? {
            return Err(TopicError::WildcardInName);
        }
        Ok(TopicName(Arc::from(s)))
    }

    /// The empty topic of a v5 PUBLISH that names its topic by alias only.
    /// Only the codec and alias resolution create it.
    pub fn empty_for_alias() -> TopicName {
        TopicName(Arc::from(""))
    }

    /// The topic as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The shared text, for stores that keep the topic without copying.
    pub fn as_arc(&self) -> &Arc<str> {
        &self.0
    }

    /// True only for the alias-only placeholder.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Levels of the topic, split at `/`.
    pub fn levels(&self) -> std::str::Split<'_, char> {
        self.0.split('/')
    }

    /// True for topics whose first character is `$` (e.g. `$SYS/...`), which
    /// leading wildcards do not match [MQTT-4.7.2-1].
    pub fn is_dollar(&self) -> bool {
        self.0.starts_with('$')
    }
}

impl fmt::Debug for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<&str> for TopicName {
    type Error = TopicError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        TopicName::new(s)
    }
}

/// A subscription filter: wildcards only where §4.7.1 allows them; for a
/// shared subscription the whole `$share/{group}/{filter}` text is kept.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicFilter(Arc<str>);

impl TopicFilter {
    /// Validate `s` as a topic filter (shared or not).
    ///
    /// # Errors
    /// The rule `s` breaks.
    pub fn new(s: &str) -> Result<TopicFilter, TopicError> {
        check_common(s)?;
        let filter = match s.strip_prefix("$share/") {
            Some(rest) => {
                let (group, filter) = rest.split_once('/').ok_or(TopicError::BadShare)?;
                if group.is_empty() || group.contains(['+', '#']) || filter.is_empty() {
                    return Err(TopicError::BadShare);
                }
                filter
            }
            None if s == "$share" => return Err(TopicError::BadShare),
            None => s,
        };
        check_wildcards(filter)?;
        Ok(TopicFilter(Arc::from(s)))
    }

    /// The whole filter text as subscribed (including any `$share/` prefix).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// For `$share/{group}/{filter}`, the group and the filter.
    pub fn shared(&self) -> Option<(&str, &str)> {
        self.0.strip_prefix("$share/")?.split_once('/')
    }

    /// The filter that is matched against topics (without `$share/group/`).
    pub fn match_filter(&self) -> &str {
        match self.shared() {
            Some((_, f)) => f,
            None => &self.0,
        }
    }

    /// True if the filter contains `+` or `#`.
    pub fn has_wildcards(&self) -> bool {
        self.match_filter().contains(['+', '#'])
    }

    /// Whether `topic` matches this filter.
    pub fn matches(&self, topic: &str) -> bool {
        matches(self.match_filter(), topic)
    }
}

fn check_wildcards(filter: &str) -> Result<(), TopicError> {
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        if level.contains('#') && (level != "#" || levels.peek().is_some()) {
            return Err(TopicError::BadMultiLevelWildcard);
        }
        if level.contains('+') && level != "+" {
            return Err(TopicError::BadSingleLevelWildcard);
        }
    }
    Ok(())
}

impl fmt::Debug for TopicFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for TopicFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<&str> for TopicFilter {
    type Error = TopicError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        TopicFilter::new(s)
    }
}

/// Whether the (non-shared) `filter` matches the topic name `topic`, level by
/// level. A topic starting with `$` is not matched by a filter starting with
/// a wildcard [MQTT-4.7.2-1]. `sport/#` also matches `sport` (§4.7.1.2).
pub fn matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && filter.starts_with(['+', '#']) {
        return false;
    }
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(fl), Some(tl)) if fl == tl => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_reject_wildcards_and_empty() {
        assert!(TopicName::new("a/b").is_ok());
        assert!(TopicName::new("/").is_ok());
        assert_eq!(TopicName::new("a/+"), Err(TopicError::WildcardInName));
        assert_eq!(TopicName::new("#"), Err(TopicError::WildcardInName));
        assert_eq!(TopicName::new(""), Err(TopicError::Empty));
        assert_eq!(TopicName::new("a\0b"), Err(TopicError::NullCharacter));
    }

    #[test]
    fn filters_follow_wildcard_placement() {
        for ok in [
            "#",
            "+",
            "a/#",
            "+/+",
            "/+",
            "a/+/c",
            "+/tennis/#",
            "$SYS/#",
        ] {
            assert!(TopicFilter::new(ok).is_ok(), "{ok}");
        }
        for bad in ["a#", "a/#/b", "a+", "a/b+/c", "#/", "sport/tennis#"] {
            assert!(TopicFilter::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn shared_filters_parse() {
        let f = TopicFilter::new("$share/g1/a/+").unwrap();
        assert_eq!(f.shared(), Some(("g1", "a/+")));
        assert_eq!(f.match_filter(), "a/+");
        assert!(f.matches("a/b"));
        for bad in [
            "$share/g",
            "$share//a",
            "$share/g+/a",
            "$share/g/",
            "$share",
            "$share/g/a#",
        ] {
            assert!(TopicFilter::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn depth_is_limited() {
        let deep = vec!["a"; MAX_TOPIC_LEVELS + 1].join("/");
        assert_eq!(TopicName::new(&deep), Err(TopicError::TooDeep));
        let ok = vec!["a"; MAX_TOPIC_LEVELS].join("/");
        assert!(TopicName::new(&ok).is_ok());
    }

    #[test]
    fn matching_follows_the_spec_examples() {
        assert!(matches("sport/tennis/player1/#", "sport/tennis/player1"));
        assert!(matches(
            "sport/tennis/player1/#",
            "sport/tennis/player1/ranking"
        ));
        assert!(matches("sport/#", "sport"));
        assert!(matches("#", "a/b/c"));
        assert!(matches("+", "finance"));
        assert!(!matches("+", "finance/stock"));
        assert!(matches("+/+", "/finance"));
        assert!(matches("/+", "/finance"));
        assert!(!matches("sport/tennis/+", "sport/tennis/player1/ranking"));
        assert!(matches("sport/+", "sport/"));
        assert!(!matches("sport/+", "sport"));
        assert!(!matches("#", "$SYS/broker"));
        assert!(!matches("+/monitor/Clients", "$SYS/monitor/Clients"));
        assert!(matches("$SYS/#", "$SYS/monitor/Clients"));
        assert!(matches("$SYS/monitor/+", "$SYS/monitor/Clients"));
        assert!(!matches("a/b", "a/b/c"));
    }
}
