//! Reading an ACL file line by line, as Mosquitto 2.0.11's `aclfile__parse`
//! does (`strtok` on single spaces, `misc__trimblanks`,
//! `mosquitto_sub_topic_check`). Grammar in the [`super`] module header.

use super::{AclFile, Grant, Rule};
use crate::ctext;
use crate::error::LineError;

/// Mosquitto's `TOPIC_HIERARCHY_LIMIT`: an ACL topic may have this many `/`.
const MAX_SLASHES: usize = 200;
/// Longest topic an MQTT string can hold.
const MAX_TOPIC_LEN: usize = 65_535;

pub(super) fn parse(text: &str) -> Result<AclFile, Vec<LineError>> {
    let mut acl = AclFile::default();
    let mut errors = Vec::new();
    let mut user: Option<String> = None;
    for (index, raw) in text.split('\n').enumerate() {
        let line_no = index + 1;
        let line = ctext::trim_end(raw);
        if line.starts_with('#') {
            continue;
        }
        let Some((keyword, rest)) = ctext::strtok(line, ' ') else {
            continue;
        };
        match keyword {
            "topic" | "pattern" => match rule(rest) {
                Ok(rule) => {
                    if keyword == "pattern" {
                        if !rule.substitutes {
                            acl.warnings.push(LineError::new(
                                line_no,
                                format!(
                                    "ACL pattern '{}' does not contain '%c' or '%u'",
                                    rule.topic
                                ),
                            ));
                        }
                        acl.patterns.push(rule);
                    } else {
                        let rule = Rule {
                            has_user: false,
                            substitutes: false,
                            ..rule
                        };
                        match &user {
                            Some(name) => acl.users.entry(name.clone()).or_default().push(rule),
                            None => acl.anonymous.push(rule),
                        }
                    }
                }
                Err(message) => errors.push(LineError::new(line_no, message)),
            },
            "user" => {
                let name = ctext::trim(rest);
                if rest.is_empty() || name.is_empty() {
                    errors.push(LineError::new(line_no, "Missing username in acl_file"));
                } else {
                    user = Some(name.to_owned());
                }
            }
            other => errors.push(LineError::new(
                line_no,
                format!("Invalid line in acl_file: {other}"),
            )),
        }
    }
    if errors.is_empty() {
        Ok(acl)
    } else {
        Err(errors)
    }
}

/// The part of a `topic`/`pattern` line after the keyword.
fn rule(rest: &str) -> Result<Rule, String> {
    let Some((first, after)) = ctext::strtok(rest, ' ') else {
        return Err("Empty topic in acl_file".to_owned());
    };
    let (grant, topic) = if after.is_empty() {
        (Grant::ReadWrite, first)
    } else {
        let grant = match first {
            "read" => Grant::Read,
            "write" => Grant::Write,
            "readwrite" => Grant::ReadWrite,
            "deny" => Grant::Deny,
            other => return Err(format!("Invalid topic access type \"{other}\" in acl_file")),
        };
        (grant, ctext::trim(after))
    };
    if !valid_acl_topic(topic) {
        return Err(format!("Invalid ACL topic \"{topic}\" in acl_file"));
    }
    let has_user = topic.contains("%u");
    Ok(Rule {
        topic: topic.to_owned(),
        grant,
        has_user,
        substitutes: has_user || topic.contains("%c"),
    })
}

/// `mosquitto_sub_topic_check` as built into the broker: `+` alone in its
/// level, `#` alone in the last level, length and depth limits. Unlike a
/// subscription it does not treat `$share/` specially.
fn valid_acl_topic(topic: &str) -> bool {
    if topic.is_empty() || topic.len() > MAX_TOPIC_LEN {
        return false;
    }
    if topic.bytes().filter(|&b| b == b'/').count() > MAX_SLASHES {
        return false;
    }
    let mut levels = topic.split('/').peekable();
    while let Some(level) = levels.next() {
        if level.contains('+') && level != "+" {
            return false;
        }
        if level.contains('#') && (level != "#" || levels.peek().is_some()) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<String> {
        match parse(text) {
            Ok(_) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn sections_and_rules() {
        let acl = parse(
            "# c\n\ntopic read anon/#\nuser alice\ntopic a/#\ntopic deny a/x\n  \nuser  bob smith \
             \ntopic write  b/ spaced  \npattern read p/%u\nuser alice\ntopic read more\n",
        )
        .unwrap();
        assert_eq!(acl.anonymous.len(), 1);
        assert_eq!(acl.anonymous[0].grant, Grant::Read);
        let alice = &acl.users["alice"];
        assert_eq!(alice.len(), 3);
        assert_eq!(alice[0].grant, Grant::ReadWrite);
        assert_eq!(alice[1].grant, Grant::Deny);
        let bob = &acl.users["bob smith"];
        assert_eq!(bob[0].topic, "b/ spaced");
        assert_eq!(acl.patterns.len(), 1);
        assert!(acl.patterns[0].has_user && acl.patterns[0].substitutes);
        assert!(acl.warnings.is_empty());
    }

    #[test]
    fn one_word_after_topic_is_the_topic() {
        let acl = parse("topic read\n").unwrap();
        assert_eq!(acl.anonymous[0].topic, "read");
        assert_eq!(acl.anonymous[0].grant, Grant::ReadWrite);
    }

    #[test]
    fn mosquitto_refuses_these_lines() {
        for (text, want) in [
            ("  # indented comment", "Invalid line in acl_file: #"),
            (
                "topic\tread\tfoo",
                "Invalid line in acl_file: topic\tread\tfoo",
            ),
            ("topic foo bar", "Invalid topic access type \"foo\""),
            ("topic", "Empty topic"),
            ("topic    ", "Empty topic"),
            ("user", "Missing username"),
            ("user   ", "Missing username"),
            ("foo bar", "Invalid line in acl_file: foo"),
            ("topic read a/#/b", "Invalid ACL topic \"a/#/b\""),
            ("topic read a+", "Invalid ACL topic"),
            ("pattern write x/%c#", "Invalid ACL topic"),
        ] {
            let got = errors(text);
            assert_eq!(got.len(), 1, "{text:?}: {got:?}");
            assert!(got[0].contains(want), "{text:?}: {got:?}");
            assert!(got[0].starts_with("line 1: "), "{got:?}");
        }
    }

    #[test]
    fn all_errors_are_reported_with_lines() {
        let got = errors("topic read ok\nbad\ntopic read a#\n");
        assert_eq!(got.len(), 2);
        assert!(got[0].starts_with("line 2:") && got[1].starts_with("line 3:"));
    }

    #[test]
    fn pattern_without_substitution_warns() {
        let acl = parse("pattern read plain/#\n").unwrap();
        assert_eq!(acl.warnings.len(), 1);
        assert!(acl.warnings[0].message.contains("plain/#"));
    }

    #[test]
    fn topic_depth_limit_is_mosquittos() {
        let ok = vec!["a"; 201].join("/");
        let bad = vec!["a"; 202].join("/");
        assert!(parse(&format!("topic read {ok}")).is_ok());
        assert!(parse(&format!("topic read {bad}")).is_err());
        assert!(valid_acl_topic("$share/g/#"));
        assert!(valid_acl_topic("+/+/#"));
        assert!(!valid_acl_topic("#/a"));
    }
}
