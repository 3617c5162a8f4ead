//! Fuzz target `topic`: `TopicName::new`, `TopicFilter::new` and `matches`
//! on arbitrary strings never panic; whatever validates keeps the invariants
//! the broker relies on, and matching agrees with a naive reference.
#![no_main]

use komar_fuzz::reference_matches;
use komar_proto::topic::{matches, MAX_TOPIC_LEN, MAX_TOPIC_LEVELS};
use komar_proto::{TopicFilter, TopicName};
use libfuzzer_sys::fuzz_target;

/// Checks that hold for every validated filter.
fn filter_invariants(f: &TopicFilter, text: &str) {
    assert_eq!(f.as_str(), text);
    assert!(!text.is_empty() && text.len() <= MAX_TOPIC_LEN && !text.contains('\0'));
    assert!(text.split('/').count() <= MAX_TOPIC_LEVELS);
    assert_eq!(f.shared().is_some(), text.starts_with("$share/"));
    if let Some((group, inner)) = f.shared() {
        assert!(!group.is_empty() && !group.contains(['/', '+', '#']));
        assert_eq!(inner, f.match_filter());
    }
    let inner = f.match_filter();
    assert!(!inner.is_empty());
    let levels: Vec<&str> = inner.split('/').collect();
    for (i, level) in levels.iter().enumerate() {
        if level.contains('#') {
            assert!(*level == "#" && i + 1 == levels.len(), "{text:?}");
        }
        if level.contains('+') {
            assert_eq!(*level, "+", "{text:?}");
        }
    }
    assert_eq!(f.has_wildcards(), inner.contains(['+', '#']));
}

/// Checks that hold for every validated name.
fn name_invariants(n: &TopicName, text: &str) {
    assert_eq!(n.as_str(), text);
    assert!(!n.is_empty() && text.len() <= MAX_TOPIC_LEN && !text.contains(['\0', '+', '#']));
    assert!(n.levels().count() <= MAX_TOPIC_LEVELS);
    assert_eq!(n.is_dollar(), text.starts_with('$'));
    // A name is a filter that matches exactly itself (unless it would be
    // read as a shared subscription).
    if !text.starts_with("$share") {
        match TopicFilter::new(text) {
            Ok(f) => assert!(f.matches(text), "{text:?} does not match itself"),
            Err(e) => panic!("valid name {text:?} is not a valid filter: {e}"),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    // The bytes before the first newline are the filter, the rest the topic.
    let (f_bytes, t_bytes) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let filter = String::from_utf8_lossy(f_bytes);
    let topic = String::from_utf8_lossy(t_bytes);
    // Must not panic, whatever the strings are.
    let _ = matches(&filter, &topic);
    let _ = matches(&topic, &filter);
    let name = TopicName::new(&topic);
    let as_name = TopicName::new(&filter);
    let f = TopicFilter::new(&filter);
    if let Ok(n) = &name {
        name_invariants(n, &topic);
    }
    if let Ok(n) = &as_name {
        name_invariants(n, &filter);
    }
    if let Ok(f) = &f {
        filter_invariants(f, &filter);
    }
    if let (Ok(f), Ok(n)) = (&f, &name) {
        assert_eq!(
            f.matches(n.as_str()),
            reference_matches(f.match_filter(), n.as_str()),
            "filter {filter:?} topic {topic:?}"
        );
    }
});
