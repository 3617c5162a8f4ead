//! The bridge `topic` line: `topic <pattern> [[[out|in|both] qos]
//! local-prefix remote-prefix]`, with `""` for an empty pattern or prefix,
//! `#` starting a comment after the pattern, and [2.1] quoted patterns that
//! contain spaces. Validation follows Mosquitto's `bridge__add_topic`.

use super::args::{err, Args, OptResult};
use super::Parser;
use crate::error::{Location, ValueError};
use crate::model::bridge::{BridgeTopic, Direction};
use crate::values;

impl Parser<'_> {
    /// `topic <pattern> [[[out|in|both] qos] local-prefix remote-prefix]`.
    pub(super) fn opt_topic(&mut self, a: &mut Args<'_>, idx: usize, loc: &Location) -> OptResult {
        let first = a.word().map_err(|_| {
            err(
                "'topic' needs a pattern: topic <pattern> [[[out|in|both] qos] \
                 local-prefix remote-prefix]",
            )
        })?;
        let pattern = topic_pattern(first, a)?;
        let mut topic = BridgeTopic {
            pattern,
            direction: Direction::Out,
            qos: 0,
            local_prefix: None,
            remote_prefix: None,
            defined_at: loc.clone(),
        };
        if let Some(dir) = a.opt_word() {
            topic.direction = match dir.to_ascii_lowercase().as_str() {
                "out" => Direction::Out,
                "in" => Direction::In,
                "both" => Direction::Both,
                _ => {
                    return Err(err(format!(
                        "bridge topic direction must be out, in or both, got '{}'",
                        dir.escape_debug()
                    )))
                }
            };
            if let Some(q) = a.opt_word_no_comment() {
                topic.qos = values::parse_int("topic", q)
                    .ok()
                    .and_then(|v| u8::try_from(v).ok())
                    .filter(|&v| v <= 2)
                    .ok_or_else(|| {
                        err(format!(
                            "bridge topic QoS must be 0, 1 or 2, got '{}'",
                            q.escape_debug()
                        ))
                    })?;
                topic.local_prefix = prefix_word(a.opt_word_no_comment());
                topic.remote_prefix = prefix_word(a.opt_word_no_comment());
            }
        }
        validate_topic(&topic)?;
        if let Some(b) = self.cfg.bridges.get_mut(idx) {
            b.topics.push(topic);
        }
        Ok(())
    }
}

/// The pattern word: `""` = none; `"a b"` [2.1] = a quoted pattern with
/// spaces.
fn topic_pattern<'a>(first: &'a str, a: &mut Args<'a>) -> Result<Option<String>, ValueError> {
    if first == "\"\"" {
        return Ok(None);
    }
    let Some(open) = first.strip_prefix('"') else {
        return Ok(Some(first.to_owned()));
    };
    if let Some(inner) = open.strip_suffix('"') {
        return Ok(Some(inner.to_owned()));
    }
    // A quoted pattern that continues past a space.
    let rest = a.raw_rest().unwrap_or("");
    let Some(end) = rest.find('"') else {
        return Err(err(format!(
            "bridge topic pattern '{}' has no closing quote",
            first.escape_debug()
        )));
    };
    let pattern = format!("{open} {}", &rest[..end]);
    // Put the words after the closing quote back for the parser.
    *a = Args::new(a.name, &rest[end + 1..]);
    Ok(Some(pattern))
}

/// A prefix word: `""` (or nothing) means no prefix.
fn prefix_word(w: Option<&str>) -> Option<String> {
    w.filter(|w| *w != "\"\"").map(str::to_owned)
}

/// Mosquitto's `bridge__add_topic` checks, plus the filter syntax of the
/// pattern and of prefix + pattern (checked by Mosquitto only when the
/// bridge starts).
fn validate_topic(t: &BridgeTopic) -> OptResult {
    if let Some(p) = &t.local_prefix {
        values::check_topic_name("bridge topic local prefix", p)?;
    }
    if let Some(p) = &t.remote_prefix {
        values::check_topic_name("bridge topic remote prefix", p)?;
    }
    match &t.pattern {
        None => {
            if t.local_prefix.is_none() || t.remote_prefix.is_none() {
                return Err(err(
                    "a bridge topic with an empty pattern (\"\") needs both a local and a \
                     remote prefix",
                ));
            }
        }
        Some(p) => {
            values::check_topic_filter("bridge topic pattern", p)?;
            if t.local_prefix.is_some() {
                values::check_topic_filter(
                    "bridge topic local prefix + pattern",
                    &t.local_topic(),
                )?;
            }
            if t.remote_prefix.is_some() {
                values::check_topic_filter(
                    "bridge topic remote prefix + pattern",
                    &t.remote_topic(),
                )?;
            }
        }
    }
    Ok(())
}
