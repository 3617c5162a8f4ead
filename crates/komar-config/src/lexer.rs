//! The lexical rules of mosquitto.conf, copied from Mosquitto 2.0's
//! `config__read_file_core` (which uses `strtok_r(.., " ", ..)`):
//!
//! - the text is split on `\n` only; trailing `\r`/`\n` are removed;
//! - a line whose first byte is `#`, `\r` or `\n`, or that holds only
//!   spaces, is skipped (so `#` must be in column 1: ` # x` is an option
//!   named `#`);
//! - the option name is the first run of non-space characters; **only the
//!   space character separates** (a tab is part of a token, so
//!   `port\t1883` is one unknown word);
//! - "word" values are the next space-separated token, anything after it is
//!   ignored by Mosquitto (we warn unless it starts with `#`);
//! - "string" values are the rest of the line after the single space that
//!   ends the name, trimmed of C `isspace` blanks at both ends.

/// One meaningful line: its number, the option name and what follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawLine<'a> {
    /// 1-based line number.
    pub line: usize,
    /// The option name as written.
    pub name: &'a str,
    /// Text after the space that ends the name ("" when none).
    pub rest: &'a str,
}

/// Split `text` into option lines, skipping comments and blank lines.
pub(crate) fn lines(text: &str) -> impl Iterator<Item = RawLine<'_>> {
    text.split('\n').enumerate().filter_map(|(i, raw)| {
        let line = i + 1;
        match raw.as_bytes().first() {
            None | Some(b'#' | b'\r') => return None,
            Some(_) => {}
        }
        let stripped = raw.trim_end_matches(['\r', '\n']);
        let trimmed = stripped.trim_start_matches(' ');
        if trimmed.is_empty() {
            return None;
        }
        let (name, rest) = match trimmed.find(' ') {
            Some(pos) => (&trimmed[..pos], &trimmed[pos + 1..]),
            None => (trimmed, ""),
        };
        Some(RawLine { line, name, rest })
    })
}

/// C `isspace` in the "C" locale.
pub(crate) fn is_c_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{0b}' | '\u{0c}' | '\r')
}

/// Cursor over the value part of a line, handing out space-separated words
/// like `strtok_r(NULL, " ", ..)` does.
#[derive(Debug, Clone)]
pub(crate) struct Words<'a> {
    rest: &'a str,
}

impl<'a> Words<'a> {
    pub(crate) fn new(rest: &'a str) -> Self {
        Self { rest }
    }

    /// The next word, or `None` at the end of the line.
    pub(crate) fn next_word(&mut self) -> Option<&'a str> {
        let s = self.rest.trim_start_matches(' ');
        if s.is_empty() {
            self.rest = s;
            return None;
        }
        match s.find(' ') {
            Some(pos) => {
                self.rest = &s[pos + 1..];
                Some(&s[..pos])
            }
            None => {
                self.rest = "";
                Some(s)
            }
        }
    }

    /// What has not been consumed yet, untouched.
    pub(crate) fn remaining(&self) -> &'a str {
        self.rest
    }

    /// Consume everything left (`strtok_r(NULL, "", ..)`): `None` when
    /// nothing is left.
    pub(crate) fn take_rest(&mut self) -> Option<&'a str> {
        let s = self.rest;
        self.rest = "";
        if s.is_empty() {
            None
        } else {
            Some(s)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(text: &str) -> Vec<(usize, &str, &str)> {
        lines(text).map(|l| (l.line, l.name, l.rest)).collect()
    }

    #[test]
    fn comments_blank_lines_and_crlf() {
        let got = collect("# c\n\nport 1883\r\n   \r\n\r\nuser  x y \n#x");
        assert_eq!(got, vec![(3, "port", "1883"), (6, "user", " x y ")]);
    }

    #[test]
    fn comment_must_be_in_first_column() {
        assert_eq!(collect(" # c"), vec![(1, "#", "c")]);
    }

    #[test]
    fn only_space_separates() {
        assert_eq!(collect("port\t1883"), vec![(1, "port\t1883", "")]);
        assert_eq!(collect("\tport 1"), vec![(1, "\tport", "1")]);
        assert_eq!(collect("  port 1"), vec![(1, "port", "1")]);
    }

    #[test]
    fn line_starting_with_cr_is_skipped() {
        assert!(collect("\rport 1").is_empty());
        assert_eq!(collect("a\rb 1"), vec![(1, "a\rb", "1")]);
    }

    #[test]
    fn words_and_rest() {
        let mut w = Words::new("  a  b\tc  ");
        assert_eq!(w.next_word(), Some("a"));
        assert_eq!(w.remaining(), " b\tc  ");
        assert_eq!(w.next_word(), Some("b\tc"));
        assert_eq!(w.next_word(), None);
        let mut w = Words::new(" x ");
        assert_eq!(w.take_rest(), Some(" x "));
        assert_eq!(w.take_rest(), None);
    }
}
