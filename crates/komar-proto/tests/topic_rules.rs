//! Property tests of the topic rules against naive references written here,
//! independently of the crate: `topic::matches` against a recursive matcher
//! over level lists, and `TopicName::new` / `TopicFilter::new` acceptance
//! against a direct transcription of §4.7 and §4.8.

mod support;

use komar_proto::topic::{matches, MAX_TOPIC_LEN, MAX_TOPIC_LEVELS};
use komar_proto::{TopicFilter, TopicName};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::FileFailurePersistence;
use support::strategies::{topic_filter_text, topic_name_text};

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------
// References.

/// Reference matcher: walk the level lists recursively. `#` matches the rest
/// (including nothing, so `a/#` matches `a`), `+` exactly one level; a topic
/// starting with `$` is not matched by a leading wildcard [MQTT-4.7.2-1].
fn reference_matches(filter: &str, topic: &str) -> bool {
    fn walk(f: &[&str], t: &[&str]) -> bool {
        match (f, t) {
            ([], []) => true,
            (["#"], _) => true,
            (["+", fr @ ..], [_, tr @ ..]) => walk(fr, tr),
            ([fl, fr @ ..], [tl, tr @ ..]) => fl == tl && walk(fr, tr),
            _ => false,
        }
    }
    let f: Vec<&str> = filter.split('/').collect();
    let t: Vec<&str> = topic.split('/').collect();
    if topic.starts_with('$') && matches!(f.first(), Some(&"+") | Some(&"#")) {
        return false;
    }
    walk(&f, &t)
}

/// What names and filters share: 1 to 65,535 bytes [MQTT-4.7.3-1], no
/// U+0000 [MQTT-4.7.3-2], at most `MAX_TOPIC_LEVELS` levels.
fn reference_common(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_TOPIC_LEN
        && !s.contains('\0')
        && s.split('/').count() <= MAX_TOPIC_LEVELS
}

/// A topic name: no wildcard characters [MQTT-3.3.2-2].
fn reference_name_ok(s: &str) -> bool {
    reference_common(s) && !s.contains('+') && !s.contains('#')
}

/// Wildcards only as whole levels, `#` only last [MQTT-4.7.1-1]
/// [MQTT-4.7.1-2].
fn reference_wildcards_ok(filter: &str) -> bool {
    let levels: Vec<&str> = filter.split('/').collect();
    levels.iter().enumerate().all(|(i, l)| {
        let hash_ok = !l.contains('#') || (*l == "#" && i == levels.len() - 1);
        let plus_ok = !l.contains('+') || *l == "+";
        hash_ok && plus_ok
    })
}

/// A filter; `$share/{group}/{filter}` needs a non-empty group without
/// wildcards (or `/`) and a non-empty filter [MQTT-4.8.2-1] [MQTT-4.8.2-2];
/// a bare `$share` is refused too.
fn reference_filter_ok(s: &str) -> bool {
    if !reference_common(s) || s == "$share" {
        return false;
    }
    match s.strip_prefix("$share/") {
        None => reference_wildcards_ok(s),
        Some(rest) => match rest.find('/') {
            None => false,
            Some(i) => {
                let (group, filter) = (&rest[..i], &rest[i + 1..]);
                !group.is_empty()
                    && !group.contains('+')
                    && !group.contains('#')
                    && !filter.is_empty()
                    && reference_wildcards_ok(filter)
            }
        },
    }
}

// ---------------------------------------------------------------------------
// Strategies.

/// Strings over a small alphabet rich in the characters the rules are about,
/// often starting with `$share/` or `$`.
fn tricky_string() -> impl Strategy<Value = String> {
    let ch = select(vec![
        'a', 'b', '/', '/', '+', '#', '$', '\0', 'é', '日', ' ', 's',
    ]);
    let prefix = select(vec!["", "", "", "$share/", "$share", "$SYS/", "$", "/"]);
    (prefix, vec(ch, 0..12)).prop_map(|(p, cs)| {
        let mut s = p.to_owned();
        s.extend(cs);
        s
    })
}

/// Levels from a tiny set, so filters and topics match often.
fn small_levels(wild: bool) -> impl Strategy<Value = Vec<String>> {
    let mut words = vec!["a", "b", "", "$x"];
    if wild {
        words.extend(["+", "+", "#"]);
    }
    vec(select(words).prop_map(String::from), 1..6)
}

/// A (filter, topic) pair that is valid on both sides: the filter is either
/// random over the tiny alphabet or derived from the topic by replacing
/// levels with `+` and cutting the tail with `#`.
fn filter_and_topic() -> impl Strategy<Value = (String, String)> {
    let random =
        (small_levels(true), small_levels(false)).prop_map(|(f, t)| (f.join("/"), t.join("/")));
    let derived =
        (small_levels(false), vec(any::<bool>(), 6), 0..8usize).prop_map(|(t, plus, cut)| {
            let mut f: Vec<String> = t
                .iter()
                .zip(&plus)
                .map(|(l, &p)| if p { "+".to_owned() } else { l.clone() })
                .collect();
            if cut < f.len() {
                f.truncate(cut);
                f.push("#".to_owned());
            }
            (f.join("/"), t.join("/"))
        });
    prop_oneof![random, derived].prop_filter("needs a valid filter and name", |(f, t)| {
        reference_filter_ok(f) && reference_name_ok(t)
    })
}

/// Strings around the depth limit.
fn deep_string() -> impl Strategy<Value = String> {
    (
        select(vec!["", "$share/g/", "$SYS/"]),
        MAX_TOPIC_LEVELS - 3..MAX_TOPIC_LEVELS + 3,
        select(vec!["a", "+", "", "#"]),
    )
        .prop_map(|(prefix, n, last)| {
            let mut levels = vec!["x"; n];
            levels.push(last);
            format!("{prefix}{}", levels.join("/"))
        })
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn matches_agrees_with_the_reference((filter, topic) in filter_and_topic()) {
        prop_assert_eq!(matches(&filter, &topic), reference_matches(&filter, &topic));
        // Through the validated types, shared or not.
        let f = TopicFilter::new(&filter).unwrap();
        prop_assert_eq!(f.matches(&topic), reference_matches(&filter, &topic));
        let shared = TopicFilter::new(&format!("$share/g/{filter}")).unwrap();
        prop_assert_eq!(shared.matches(&topic), reference_matches(&filter, &topic));
    }

    #[test]
    fn validation_agrees_with_the_reference(s in prop_oneof![tricky_string(), deep_string()]) {
        prop_assert_eq!(TopicName::new(&s).is_ok(), reference_name_ok(&s), "name {:?}", s);
        prop_assert_eq!(TopicFilter::new(&s).is_ok(), reference_filter_ok(&s), "filter {:?}", s);
        // Never panics, valid or not.
        let _ = matches(&s, "a/b");
        let _ = matches("a/+", &s);
    }

    #[test]
    fn generated_names_and_filters_are_valid_for_the_reference(
        name in topic_name_text(),
        filter in topic_filter_text(),
    ) {
        prop_assert!(reference_name_ok(&name), "{:?}", name);
        prop_assert!(reference_filter_ok(&filter), "{:?}", filter);
        // A name (not read as a shared subscription) is a filter matching itself.
        if !name.starts_with("$share") {
            let f = TopicFilter::new(&name).unwrap();
            prop_assert!(f.matches(&name));
            prop_assert!(!f.has_wildcards());
        }
        let f = TopicFilter::new(&filter).unwrap();
        prop_assert_eq!(f.as_str(), filter.as_str());
        prop_assert_eq!(f.shared().is_some(), filter.starts_with("$share/"));
    }

    #[test]
    fn arbitrary_unicode_never_panics(a in any::<String>(), b in any::<String>()) {
        let _ = matches(&a, &b);
        prop_assert_eq!(TopicName::new(&a).is_ok(), reference_name_ok(&a));
        prop_assert_eq!(TopicFilter::new(&a).is_ok(), reference_filter_ok(&a));
    }
}

#[test]
fn length_limit_is_exact() {
    let max = "a".repeat(MAX_TOPIC_LEN);
    let over = "a".repeat(MAX_TOPIC_LEN + 1);
    assert!(TopicName::new(&max).is_ok() && reference_name_ok(&max));
    assert!(TopicFilter::new(&max).is_ok() && reference_filter_ok(&max));
    assert!(TopicName::new(&over).is_err() && !reference_name_ok(&over));
    assert!(TopicFilter::new(&over).is_err() && !reference_filter_ok(&over));
}

#[test]
fn reference_matcher_follows_the_spec_examples() {
    assert!(reference_matches(
        "sport/tennis/player1/#",
        "sport/tennis/player1"
    ));
    assert!(reference_matches("sport/#", "sport"));
    assert!(!reference_matches(
        "sport/tennis/+",
        "sport/tennis/player1/ranking"
    ));
    assert!(reference_matches("+/+", "/finance"));
    assert!(!reference_matches("+", "/finance"));
    assert!(!reference_matches("#", "$SYS/x"));
    assert!(reference_matches("$SYS/#", "$SYS/x"));
}
