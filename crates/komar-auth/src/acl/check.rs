//! ACL decisions: `acl__check_dollar` from `src/security.c` and the acl_file
//! callback `mosquitto_acl_check_default` from `src/security_default.c`
//! (Mosquitto 2.0.11). The order of the steps is documented in the
//! [`super`] module header.

use std::borrow::Cow;

use super::{Access, AclFile, Rule};

/// The one `$SYS` topic a client may publish to (bridge state).
const BRIDGE_STATE: &str = "$SYS/broker/connection/+/state";

/// Mosquitto's rule for `$` topics, applied to every client whether or not
/// an acl_file is configured: no writes under `$SYS` except
/// `$SYS/broker/connection/+/state`, and no reads or writes of `$share…`
/// topics (subscribing to `$share/…` is fine). Other `$` topics are left to
/// the ACL. Prefixes are compared as Mosquitto does (`$SYSfoo` counts as
/// `$SYS`).
pub fn sys_topic_allowed(topic: &str, access: Access) -> bool {
    if topic.starts_with("$SYS") {
        access != Access::Write || topic_matches(BRIDGE_STATE, topic)
    } else if topic.starts_with("$share") {
        matches!(access, Access::Subscribe | Access::Unsubscribe)
    } else {
        true
    }
}

pub(super) fn check(
    acl: &AclFile,
    client_id: &str,
    username: Option<&str>,
    topic: &str,
    access: Access,
) -> bool {
    // The acl_file plugin answers success for these before any rule.
    if matches!(access, Access::Subscribe | Access::Unsubscribe) {
        return true;
    }
    if !sys_topic_allowed(topic, access) {
        return false;
    }
    let own = match username {
        Some(name) => acl.users.get(name).map(Vec::as_slice),
        None => Some(acl.anonymous.as_slice()),
    };
    if let Some(rules) = own {
        if let Some(decision) = decide(rules, topic, access, |rule| {
            Some(Cow::Borrowed(rule.topic.as_str()))
        }) {
            return decision;
        }
    }
    if acl.patterns.is_empty() {
        return false;
    }
    // A client could otherwise become a wildcard in every pattern.
    if username.is_some_and(has_wildcard) || has_wildcard(client_id) {
        return false;
    }
    decide(&acl.patterns, topic, access, |rule| {
        if rule.has_user && username.is_none() {
            None
        } else if rule.substitutes {
            Some(Cow::Owned(substitute(&rule.topic, client_id, username)))
        } else {
            Some(Cow::Borrowed(rule.topic.as_str()))
        }
    })
    .unwrap_or(false)
}

/// Deny rules first: `Some(false)` if a deny rule matches, `Some(true)` if a
/// rule granting `access` matches, `None` if no rule decides. `filter_of`
/// gives a rule's (substituted) topic, or `None` to skip the rule.
fn decide<'r>(
    rules: &'r [Rule],
    topic: &str,
    access: Access,
    filter_of: impl Fn(&'r Rule) -> Option<Cow<'r, str>>,
) -> Option<bool> {
    let matching = |rule: &'r Rule| filter_of(rule).is_some_and(|f| topic_matches(&f, topic));
    if rules
        .iter()
        .filter(|r| r.grant == super::Grant::Deny)
        .any(&matching)
    {
        return Some(false);
    }
    rules
        .iter()
        .filter(|r| r.grant.allows(access))
        .any(matching)
        .then_some(true)
}

/// Replace `%c` by the client id and `%u` by the user name (when there is
/// one) wherever they occur, scanning left to right as Mosquitto does.
fn substitute(pattern: &str, client_id: &str, username: Option<&str>) -> String {
    let mut out = String::with_capacity(pattern.len() + client_id.len());
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '%' {
            match (chars.peek(), username) {
                (Some('c'), _) => {
                    chars.next();
                    out.push_str(client_id);
                    continue;
                }
                (Some('u'), Some(name)) => {
                    chars.next();
                    out.push_str(name);
                    continue;
                }
                _ => {}
            }
        }
        out.push(c);
    }
    out
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['+', '#'])
}

/// `mosquitto_topic_matches_sub`: an empty filter or topic, or a topic with
/// a wildcard, matches nothing; otherwise level-wise matching where a
/// leading wildcard does not match a `$` topic.
fn topic_matches(filter: &str, topic: &str) -> bool {
    if filter.is_empty() || topic.is_empty() || has_wildcard(topic) {
        return false;
    }
    komar_proto::topic::matches(filter, topic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitution_is_textual() {
        assert_eq!(substitute("a/%c/%u", "cid", Some("u")), "a/cid/u");
        assert_eq!(substitute("x%cy", "C", None), "xCy");
        assert_eq!(substitute("%u", "C", None), "%u");
        assert_eq!(substitute("%%c%", "C", None), "%C%");
        assert_eq!(substitute("%c%c", "é", None), "éé");
        assert_eq!(substitute("p/%u/#", "c", Some("a/b")), "p/a/b/#");
    }

    #[test]
    fn dollar_rules() {
        use Access::*;
        assert!(!sys_topic_allowed("$SYS/broker/uptime", Write));
        assert!(sys_topic_allowed("$SYS/broker/uptime", Read));
        assert!(sys_topic_allowed("$SYS/broker/connection/b1/state", Write));
        assert!(!sys_topic_allowed("$SYS/broker/connection/b1/x", Write));
        assert!(!sys_topic_allowed("$SYSx", Write));
        assert!(!sys_topic_allowed("$share/g/t", Write));
        assert!(!sys_topic_allowed("$share/g/t", Read));
        assert!(sys_topic_allowed("$share/g/t", Subscribe));
        assert!(sys_topic_allowed("$other/x", Write));
        assert!(sys_topic_allowed("a/b", Write));
    }

    #[test]
    fn matching_follows_mosquitto() {
        assert!(topic_matches("a/#", "a"));
        assert!(topic_matches("a/+/#", "a/b"));
        assert!(!topic_matches("#", "$SYS/x"));
        assert!(topic_matches("$SYS/#", "$SYS/x"));
        assert!(!topic_matches("", "a"));
        assert!(!topic_matches("a/#", "a/+"));
        assert!(!topic_matches("#", ""));
    }
}
