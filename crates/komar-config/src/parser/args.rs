//! The value part of one option line, with typed accessors that produce
//! the error messages ("'X' needs a value", "'X' expects …, got '…'").

use std::path::PathBuf;

use crate::error::ValueError;
use crate::lexer::Words;
use crate::values;

/// Result of an option handler: `Err` carries the message for this line.
pub(crate) type OptResult = Result<(), ValueError>;

/// Build a [`ValueError`].
pub(crate) fn err(msg: impl Into<String>) -> ValueError {
    ValueError(msg.into())
}

/// The arguments of one line.
#[derive(Debug)]
pub(crate) struct Args<'a> {
    /// Option name as written.
    pub name: &'a str,
    words: Words<'a>,
    /// Notices to attach to this line (ignored text etc.).
    pub notes: Vec<String>,
}

impl<'a> Args<'a> {
    pub(crate) fn new(name: &'a str, rest: &'a str) -> Self {
        Self {
            name,
            words: Words::new(rest),
            notes: Vec::new(),
        }
    }

    /// The next space-separated word; an error if there is none.
    pub(crate) fn word(&mut self) -> Result<&'a str, ValueError> {
        self.words
            .next_word()
            .ok_or_else(|| err(format!("'{}' needs a value", self.name)))
    }

    /// The next word if any.
    pub(crate) fn opt_word(&mut self) -> Option<&'a str> {
        self.words.next_word()
    }

    /// The next word unless it starts a `#` comment (the rest of the line
    /// is then dropped, as Mosquitto does for `listener`, `address` and
    /// bridge `topic`).
    pub(crate) fn opt_word_no_comment(&mut self) -> Option<&'a str> {
        let w = self.words.next_word()?;
        if w.starts_with('#') {
            self.words.take_rest();
            return None;
        }
        Some(w)
    }

    /// A boolean word.
    pub(crate) fn bool(&mut self) -> Result<bool, ValueError> {
        let w = self.word()?;
        values::parse_bool(self.name, w)
    }

    /// An integer word.
    pub(crate) fn int(&mut self) -> Result<i32, ValueError> {
        let w = self.word()?;
        values::parse_int(self.name, w)
    }

    /// An integer word within `lo..=hi`.
    pub(crate) fn int_in(&mut self, lo: i32, hi: i32) -> Result<i32, ValueError> {
        let v = self.int()?;
        if v < lo || v > hi {
            return Err(err(format!(
                "'{}' must be between {lo} and {hi}, got {v}",
                self.name
            )));
        }
        Ok(v)
    }

    /// A string value: the rest of the line, trimmed and validated.
    pub(crate) fn string(&mut self) -> Result<String, ValueError> {
        let raw = self.words.take_rest();
        let v = values::string_value(self.name, raw)?;
        if let Some(pos) = v.find(" #") {
            self.notes.push(format!(
                "the value of '{}' is '{v}', including '{}': mosquitto.conf has no \
                 end-of-line comments for this option",
                self.name,
                &v[pos + 1..]
            ));
        }
        Ok(v)
    }

    /// A string value used as a path.
    pub(crate) fn path(&mut self) -> Result<PathBuf, ValueError> {
        self.string().map(PathBuf::from)
    }

    /// The untouched rest of the line (`strtok_r(NULL, "", ..)`).
    pub(crate) fn raw_rest(&mut self) -> Option<&'a str> {
        self.words.take_rest()
    }

    /// Text left after the handler took what it needed, unless it is a `#`
    /// comment. Mosquitto ignores such text; we warn about it.
    pub(crate) fn ignored_text(&self) -> Option<&'a str> {
        let rest = self.words.remaining().trim_start_matches(' ');
        if rest.is_empty() || rest.starts_with('#') {
            None
        } else {
            Some(rest)
        }
    }
}

/// Set a single-valued string option, rejecting a second occurrence the
/// way Mosquitto's `conf__parse_string` does.
pub(crate) fn set_once<T>(slot: &mut Option<T>, name: &str, value: T) -> OptResult {
    if slot.is_some() {
        return Err(err(format!(
            "duplicate '{name}': it was already set and may only be given once here"
        )));
    }
    *slot = Some(value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors() {
        let mut a = Args::new("max_qos", " 1 junk");
        assert_eq!(a.int_in(0, 2).unwrap(), 1);
        assert_eq!(a.ignored_text(), Some("junk"));
        let mut a = Args::new("max_qos", "3");
        assert_eq!(
            a.int_in(0, 2).unwrap_err().to_string(),
            "'max_qos' must be between 0 and 2, got 3"
        );
        let mut a = Args::new("x", "1 # comment");
        assert!(a.bool().unwrap());
        assert_eq!(a.ignored_text(), None);
        let mut a = Args::new("x", "");
        assert_eq!(a.word().unwrap_err().to_string(), "'x' needs a value");
    }

    #[test]
    fn string_notes_inline_comment() {
        let mut a = Args::new("password_file", "/etc/pw # mine");
        assert_eq!(a.string().unwrap(), "/etc/pw # mine");
        assert_eq!(a.notes.len(), 1);
    }

    #[test]
    fn set_once_rejects_duplicates() {
        let mut slot = None;
        assert!(set_once(&mut slot, "x", 1).is_ok());
        assert!(set_once(&mut slot, "x", 2).is_err());
        assert_eq!(slot, Some(1));
    }
}
