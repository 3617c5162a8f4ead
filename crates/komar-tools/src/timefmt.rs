//! Local time for mosquitto_sub's time sequences: `@X` strftime, `@N`
//! nanoseconds, `%I` ISO-8601, `%U` Unix time and the `tst` field of the
//! JSON output.

use std::fmt::Write;

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, Local, Timelike};

/// One reading of the clock, reused by every sequence of one message.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Now(DateTime<Local>);

impl Now {
    pub(crate) fn read() -> Now {
        Now(Local::now())
    }

    /// `strftime` with one conversion; empty when it is not supported.
    pub(crate) fn strftime(&self, spec: &str) -> String {
        let items: Vec<Item<'_>> = StrftimeItems::new(spec).collect();
        if items.iter().any(|i| matches!(i, Item::Error)) {
            return String::new();
        }
        let mut s = String::new();
        if write!(s, "{}", self.0.format_with_items(items.into_iter())).is_err() {
            return String::new();
        }
        s
    }

    /// Nanoseconds within the second (leap seconds folded in).
    pub(crate) fn nanos(&self) -> u32 {
        self.0.nanosecond() % 1_000_000_000
    }

    /// `%FT%T%z`, e.g. `2016-08-10T09:47:38+0100`.
    pub(crate) fn iso8601(&self) -> String {
        self.strftime("%Y-%m-%dT%H:%M:%S%z")
    }

    /// `1470818943.786368637`.
    pub(crate) fn unix(&self) -> String {
        format!("{}.{:09}", self.0.timestamp(), self.nanos())
    }

    /// The JSON `tst` field: `2020-05-06T21:48:00.123456Z+0100` (sic:
    /// mosquitto writes a `Z` before the offset).
    pub(crate) fn json_tst(&self) -> String {
        format!(
            "{}.{:06}Z{}",
            self.strftime("%Y-%m-%dT%H:%M:%S"),
            self.nanos() / 1000,
            self.strftime("%z")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let n = Now::read();
        assert_eq!(n.iso8601().len(), "2016-08-10T09:47:38+0100".len());
        assert_eq!(n.json_tst().len(), "2020-05-06T21:48:00.000000Z+0100".len());
        assert!(n.unix().contains('.'));
        assert_eq!(n.strftime("%Y").len(), 4);
        assert_eq!(n.strftime("%Q"), "");
    }
}
