//! Helpers for the parser's unit tests.

use crate::{parse_str, Config};

/// Parse `text` as `t.conf` and expect success.
pub(crate) fn ok(text: &str) -> Config {
    match parse_str(text, "t.conf") {
        Ok(c) => c,
        Err(e) => panic!("expected success, got:\n{e}"),
    }
}

/// Parse `text` and expect errors; returns (line, message) pairs.
pub(crate) fn errs(text: &str) -> Vec<(usize, String)> {
    match parse_str(text, "t.conf") {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(e) => e.errors.into_iter().map(|e| (e.line, e.message)).collect(),
    }
}

/// Expect exactly one error, on `line`, whose message contains `needle`.
pub(crate) fn one_err(text: &str, line: usize, needle: &str) {
    let e = errs(text);
    assert_eq!(e.len(), 1, "expected one error, got {e:#?}");
    assert_eq!(e[0].0, line, "wrong line: {e:#?}");
    assert!(
        e[0].1.contains(needle),
        "message {:?} lacks {needle:?}",
        e[0].1
    );
}

/// The warnings of a successful parse, as (line, message).
pub(crate) fn warnings(c: &Config) -> Vec<(usize, String)> {
    c.warnings
        .iter()
        .map(|w| (w.line, w.message.clone()))
        .collect()
}
