//! The decision table: (acl text, client id, user, topic, access) →
//! allowed, one row per rule of the module header.

use super::{Access, AclFile};
use Access::{Read, Subscribe, Unsubscribe, Write};

const FILE: &str = "\
# anonymous section
topic read anon/#
topic deny anon/secret

user alice
topic read a/#
topic write w/#
topic readwrite both/#
topic deny a/secret
topic a/+/rw
topic read $SYS/#

user root
topic readwrite #
topic write $SYS/broker/connection/+/state

pattern read p/%u/#
pattern write c/%c
pattern deny a/%c
pattern readwrite mixed/x%cy/%u
";

struct Row {
    client: &'static str,
    user: Option<&'static str>,
    topic: &'static str,
    access: Access,
    allowed: bool,
}

const fn row(
    client: &'static str,
    user: Option<&'static str>,
    topic: &'static str,
    access: Access,
    allowed: bool,
) -> Row {
    Row {
        client,
        user,
        topic,
        access,
        allowed,
    }
}

const ALICE: Option<&str> = Some("alice");
const ROOT: Option<&str> = Some("root");
const ANON: Option<&str> = None;

#[rustfmt::skip]
const TABLE: &[Row] = &[
    // Subscribe / unsubscribe are never refused by the acl_file.
    row("c1", ALICE, "#", Subscribe, true),
    row("c1", ALICE, "$SYS/#", Subscribe, true),
    row("c1", Some("nobody"), "x/y", Subscribe, true),
    row("c+", Some("ev#il"), "x/y", Unsubscribe, true),
    row("c1", ANON, "$share/g/t", Subscribe, true),
    // Own section: read/write/readwrite, wildcards.
    row("c1", ALICE, "a/x", Read, true),
    row("c1", ALICE, "a", Read, true),
    row("c1", ALICE, "a/x", Write, false),
    row("c1", ALICE, "w/x", Write, true),
    row("c1", ALICE, "w/x", Read, false),
    row("c1", ALICE, "both/x/y", Read, true),
    row("c1", ALICE, "both/x/y", Write, true),
    row("c1", ALICE, "a/q/rw", Write, true),
    row("c1", ALICE, "b/x", Read, false),
    // Deny beats an allow in the same section, wherever it appears.
    row("c1", ALICE, "a/secret", Read, false),
    // Anonymous section applies only without a user name.
    row("c1", ANON, "anon/x", Read, true),
    row("c1", ANON, "anon/secret", Read, false),
    row("c1", ALICE, "anon/x", Read, false),
    row("c1", Some("nobody"), "anon/x", Read, false),
    // `#` does not cover $SYS; an explicit $SYS rule does.
    row("c1", ROOT, "x/y", Write, true),
    row("c1", ROOT, "$SYS/broker/uptime", Read, false),
    row("c1", ALICE, "$SYS/broker/uptime", Read, true),
    // $SYS writes only for bridge state, and only if the ACL allows it.
    row("c1", ALICE, "$SYS/broker/x", Write, false),
    row("c1", ROOT, "$SYS/broker/connection/b/state", Write, true),
    row("c1", ALICE, "$SYS/broker/connection/b/state", Write, false),
    // $share topics are never read or written.
    row("c1", ROOT, "$share/g/t", Write, false),
    row("c1", ROOT, "$share/g/t", Read, false),
    // Patterns apply to everyone, substituted anywhere in the topic.
    row("c1", Some("bob"), "p/bob/x", Read, true),
    row("c1", Some("bob"), "p/bob", Read, true),
    row("c1", Some("bob"), "p/alice/x", Read, false),
    row("c1", Some("bob"), "p/bob/x", Write, false),
    row("c9", ANON, "c/c9", Write, true),
    row("c9", ANON, "p/%u/x", Read, false),
    row("c9", Some("u"), "mixed/xc9y/u", Write, true),
    row("c9", Some("u"), "mixed/c9/u", Write, false),
    // Deny patterns beat allow patterns but not the user's own rules.
    row("c1", Some("bob"), "a/c1", Read, false),
    row("c1", ALICE, "a/c1", Read, true),
    // A '/' in a user name is substituted as is (2.0.11 does not refuse it).
    row("c1", Some("bob/x"), "p/bob/x/1", Read, true),
    row("c1", Some("bob/x"), "p/bob/y", Read, false),
    // '+' or '#' in the user name or client id: patterns deny everything,
    // after the user's own section was consulted.
    row("c1", Some("ev+il"), "p/ev+il/x", Read, false),
    row("c1", Some("ev#il"), "c/c1", Write, false),
    row("c+1", Some("bob"), "p/bob/x", Read, false),
    row("c#", ANON, "anon/x", Read, true),
    // A topic with wildcards never matches (not a valid topic name).
    row("c1", ROOT, "x/+", Write, false),
    row("c1", ROOT, "", Write, false),
];

#[test]
fn decision_table() {
    let acl = AclFile::parse(FILE).unwrap();
    assert!(acl.warnings().is_empty());
    for (i, r) in TABLE.iter().enumerate() {
        assert_eq!(
            acl.check(r.client, r.user, r.topic, r.access),
            r.allowed,
            "row {i}: client {:?} user {:?} {:?} {:?}",
            r.client,
            r.user,
            r.access,
            r.topic
        );
    }
}

#[test]
fn empty_file_denies_reads_and_writes_only() {
    for text in ["", "# only a comment\n\n"] {
        let acl = AclFile::parse(text).unwrap();
        assert!(acl.is_empty());
        assert!(!acl.check("c", None, "a", Read));
        assert!(!acl.check("c", Some("u"), "a", Write));
        assert!(acl.check("c", Some("u"), "#", Subscribe));
    }
}

#[test]
fn user_without_section_gets_patterns_only() {
    let acl = AclFile::parse("user alice\ntopic read x\npattern read y/%u\n").unwrap();
    assert!(!acl.check("c", Some("carol"), "x", Read));
    assert!(acl.check("c", Some("carol"), "y/carol", Read));
    assert!(!acl.check("c", None, "x", Read));
}

#[test]
fn wildcard_names_pass_when_there_are_no_patterns() {
    let acl = AclFile::parse("topic read t\nuser u+\ntopic read t\n").unwrap();
    assert!(acl.check("c#", None, "t", Read));
    assert!(acl.check("c", Some("u+"), "t", Read));
}
