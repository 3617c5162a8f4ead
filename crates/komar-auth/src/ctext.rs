//! Text helpers that reproduce how Mosquitto's C parsers cut lines up:
//! `isspace` trimming (`misc__trimblanks`), `strtok` tokenising (empty fields
//! vanish) and `atoi`. Keeping these in one place makes the quirks of the file
//! formats explicit instead of scattered.

/// C `isspace` in the "C" locale: space, `\t`, `\n`, `\v`, `\f`, `\r`.
/// (Rust's `is_ascii_whitespace` leaves out `\v`.)
pub(crate) fn is_c_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{0b}' | '\u{0c}' | '\r')
}

/// Same as [`is_c_space`] for bytes.
pub(crate) fn is_c_space_byte(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// `misc__trimblanks`: strip C whitespace from both ends.
pub(crate) fn trim(s: &str) -> &str {
    s.trim_matches(is_c_space)
}

/// Strip C whitespace from the end only.
pub(crate) fn trim_end(s: &str) -> &str {
    s.trim_end_matches(is_c_space)
}

/// [`trim`] for bytes.
pub(crate) fn trim_bytes(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if !is_c_space_byte(*first) {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !is_c_space_byte(*last) {
            break;
        }
        s = rest;
    }
    s
}

/// One `strtok(s, delim)` step: skip leading delimiters, return the token and
/// what follows the single delimiter that ended it. `None` when only
/// delimiters (or nothing) remain.
pub(crate) fn strtok(s: &str, delim: char) -> Option<(&str, &str)> {
    let s = s.trim_start_matches(delim);
    if s.is_empty() {
        return None;
    }
    match s.split_once(delim) {
        Some((token, rest)) => Some((token, rest)),
        None => Some((s, "")),
    }
}

/// All `strtok` tokens of `s`: the fields between delimiters, empty ones
/// dropped (so `a::b` has two fields and `:a` has one).
pub(crate) fn tokens(s: &str, delim: char) -> impl Iterator<Item = &str> {
    s.split(delim).filter(|t| !t.is_empty())
}

/// [`tokens`] for bytes.
pub(crate) fn tokens_bytes(s: &[u8], delim: u8) -> impl Iterator<Item = &[u8]> {
    s.split(move |&b| b == delim).filter(|t| !t.is_empty())
}

/// C `atoi` as Mosquitto uses it for iteration counts: leading whitespace,
/// an optional sign, then digits up to the first non-digit; no digits gives 0.
/// Values that do not fit an `int` give `None` (glibc would return a
/// truncated or saturated value; Mosquitto never writes one).
pub(crate) fn atoi(s: &str) -> Option<i32> {
    let s = s.trim_start_matches(is_c_space);
    let (negative, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, s.get(1..).unwrap_or("")),
        Some(b'+') => (false, s.get(1..).unwrap_or("")),
        _ => (false, s),
    };
    let mut value: i64 = 0;
    for b in digits.bytes().take_while(u8::is_ascii_digit) {
        value = value * 10 + i64::from(b - b'0');
        if value > i64::from(i32::MAX) + 1 {
            return None;
        }
    }
    let value = if negative { -value } else { value };
    i32::try_from(value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trim_uses_c_whitespace() {
        assert_eq!(trim(" \t\u{0b}a b\r\n"), "a b");
        assert_eq!(trim_end("  a \n"), "  a");
        assert_eq!(trim_bytes(b"\x0c x \r\n"), b"x");
        assert_eq!(trim_bytes(b"   "), b"");
    }

    #[test]
    fn strtok_skips_leading_delimiters_and_one_trailing() {
        assert_eq!(strtok("  topic  read a", ' '), Some(("topic", " read a")));
        assert_eq!(strtok("read", ' '), Some(("read", "")));
        assert_eq!(strtok("   ", ' '), None);
        assert_eq!(tokens("::a::b:", ':').collect::<Vec<_>>(), vec!["a", "b"]);
    }

    #[test]
    fn atoi_is_lenient_like_c() {
        assert_eq!(atoi("101"), Some(101));
        assert_eq!(atoi(" 12abc"), Some(12));
        assert_eq!(atoi("abc"), Some(0));
        assert_eq!(atoi("-5"), Some(-5));
        assert_eq!(atoi("+7"), Some(7));
        assert_eq!(atoi("2147483647"), Some(i32::MAX));
        assert_eq!(atoi("2147483648"), None);
        assert_eq!(atoi("99999999999999999999999"), None);
    }
}
