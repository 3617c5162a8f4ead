//! Value grammars shared by many options: booleans, integers, the
//! `persistent_client_expiration` duration, string values, topic prefixes
//! and filters. Each returns a [`ValueError`] whose message names the option
//! and what it accepts.
//!
//! Where Mosquitto 2.0 uses `atoi` (so `abc` silently becomes 0 and `12x`
//! becomes 12) Komar rejects the value instead: a typo in a limit must not
//! turn into "unlimited".

use crate::error::ValueError;
use crate::lexer::is_c_space;

/// Parse a boolean the way Mosquitto's `conf__parse_bool` does: exactly
/// `true`, `false`, `1` or `0` (case-sensitive).
///
/// # Errors
/// Any other text, with a message naming `option` and the accepted forms.
pub fn parse_bool(option: &str, value: &str) -> Result<bool, ValueError> {
    match value {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(ValueError(format!(
            "'{option}' expects true or false (or 1/0), got '{value}'"
        ))),
    }
}

/// Parse a C `int` written in decimal with an optional sign.
///
/// # Errors
/// Text that is not an integer, or one outside the `i32` range.
pub fn parse_int(option: &str, value: &str) -> Result<i32, ValueError> {
    parse_i64(option, value).and_then(|v| {
        i32::try_from(v).map_err(|_| {
            ValueError(format!(
                "'{option}' value {value} is out of range (at most {})",
                i32::MAX
            ))
        })
    })
}

/// Parse a signed decimal integer that fits in 64 bits.
///
/// # Errors
/// Text that is not an integer, or one outside the `i64` range.
pub fn parse_i64(option: &str, value: &str) -> Result<i64, ValueError> {
    let digits = value.strip_prefix(['+', '-']).unwrap_or(value);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ValueError(format!(
            "'{option}' expects an integer, got '{value}'"
        )));
    }
    value
        .parse::<i64>()
        .map_err(|_| ValueError(format!("'{option}' value {value} is out of range")))
}

/// Parse `persistent_client_expiration`: a positive integer followed by one
/// unit letter, `s` (seconds, Mosquitto 2.1), `h` (hours), `d` (days), `w`
/// (weeks), `m` (months of 30 days) or `y` (years of 365 days). Returns
/// seconds.
///
/// # Errors
/// A missing or unknown unit, a number that is not a positive integer, or a
/// product too large for 64 bits.
pub fn parse_expiration(value: &str) -> Result<u64, ValueError> {
    const OPT: &str = "persistent_client_expiration";
    let bad = || {
        ValueError(format!(
            "'{OPT}' expects a positive number followed by s, h, d, w, m or y \
             (e.g. 14d), got '{value}'"
        ))
    };
    let unit = value.chars().last().ok_or_else(bad)?;
    let mult: u64 = match unit {
        's' => 1,
        'h' => 3600,
        'd' => 86_400,
        'w' => 86_400 * 7,
        'm' => 86_400 * 30,
        'y' => 86_400 * 365,
        _ => return Err(bad()),
    };
    let number = &value[..value.len() - unit.len_utf8()];
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: u64 = number.parse().map_err(|_| bad())?;
    if n == 0 {
        return Err(bad());
    }
    n.checked_mul(mult)
        .ok_or_else(|| ValueError(format!("'{OPT}' value '{value}' is too large")))
}

/// Longest string value Mosquitto accepts (it stores lengths in 16 bits).
pub(crate) const MAX_STRING_LEN: usize = 65_535;

/// Validate and trim a string value (`conf__parse_string`): blanks are
/// trimmed at both ends; the result must be non-empty, at most 65535
/// bytes, and valid UTF-8 without control characters (Mosquitto's
/// `mosquitto_validate_utf8` rejects U+0000..U+001F and U+007F..U+009F).
/// U+FFFD is rejected too because [`crate::FsLoader`] uses it to stand for
/// bytes that were not UTF-8.
pub(crate) fn string_value(option: &str, raw: Option<&str>) -> Result<String, ValueError> {
    let v = raw.map(|r| r.trim_matches(is_c_space)).unwrap_or("");
    if v.is_empty() {
        return Err(ValueError(format!("'{option}' needs a value")));
    }
    if v.len() > MAX_STRING_LEN {
        return Err(ValueError(format!(
            "'{option}' value is {} bytes long; at most {MAX_STRING_LEN} are allowed",
            v.len()
        )));
    }
    if let Some(c) = v.chars().find(|&c| is_bad_char(c)) {
        return Err(ValueError(format!(
            "'{option}' value contains {} (control characters and malformed UTF-8 \
             are not allowed)",
            describe_char(c)
        )));
    }
    Ok(v.to_owned())
}

fn is_bad_char(c: char) -> bool {
    let cp = u32::from(c);
    cp <= 0x1f
        || (0x7f..=0x9f).contains(&cp)
        || c == '\u{fffd}'
        || (0xfdd0..=0xfdef).contains(&cp)
        || (cp & 0xfffe) == 0xfffe
}

fn describe_char(c: char) -> String {
    match c {
        '\t' => "a tab".to_owned(),
        '\u{fffd}' => "bytes that are not valid UTF-8".to_owned(),
        _ => format!("the character U+{:04X}", u32::from(c)),
    }
}

/// Mosquitto's `mosquitto_pub_topic_check`: a topic name (no `+` or `#`),
/// non-empty, at most 65535 bytes.
pub(crate) fn check_topic_name(what: &str, topic: &str) -> Result<(), ValueError> {
    if topic.is_empty() {
        return Err(ValueError(format!("{what} must not be empty")));
    }
    if topic.len() > MAX_STRING_LEN {
        return Err(ValueError(format!(
            "{what} is longer than {MAX_STRING_LEN} bytes"
        )));
    }
    if topic.contains(['+', '#']) {
        return Err(ValueError(format!(
            "{what} '{topic}' must not contain the wildcards + or #"
        )));
    }
    if let Some(c) = topic.chars().find(|&c| c == '\0' || c == '\u{fffd}') {
        return Err(ValueError(format!(
            "{what} '{}' contains {}",
            topic.escape_debug(),
            describe_char(c)
        )));
    }
    Ok(())
}

/// Topic filter syntax: `#` only as the whole last level, `+` only as a
/// whole level, non-empty, at most 65535 bytes.
pub(crate) fn check_topic_filter(what: &str, filter: &str) -> Result<(), ValueError> {
    if filter.is_empty() {
        return Err(ValueError(format!("{what} must not be empty")));
    }
    if filter.len() > MAX_STRING_LEN {
        return Err(ValueError(format!(
            "{what} is longer than {MAX_STRING_LEN} bytes"
        )));
    }
    let levels: Vec<&str> = filter.split('/').collect();
    let last = levels.len() - 1;
    for (i, level) in levels.iter().enumerate() {
        let ok = match *level {
            "#" => i == last,
            "+" => true,
            l => !l.contains(['+', '#']),
        };
        if !ok {
            return Err(ValueError(format!(
                "{what} '{filter}' is not a valid topic filter ('+' must fill a whole \
                 level, '#' must be the whole last level)"
            )));
        }
    }
    Ok(())
}

/// `tls_engine_kpass_sha1`: exactly 40 hexadecimal digits (a SHA-1).
pub(crate) fn parse_sha1_hex(option: &str, value: &str) -> Result<[u8; 20], ValueError> {
    let bad = || {
        ValueError(format!(
            "'{option}' expects a SHA-1 digest as 40 hexadecimal digits, got '{value}'"
        ))
    };
    if value.len() != 40 {
        return Err(bad());
    }
    let mut out = [0u8; 20];
    for (byte, pair) in out.iter_mut().zip(value.as_bytes().chunks_exact(2)) {
        let s = std::str::from_utf8(pair).map_err(|_| bad())?;
        *byte = u8::from_str_radix(s, 16).map_err(|_| bad())?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_are_exact() {
        assert_eq!(parse_bool("x", "true"), Ok(true));
        assert_eq!(parse_bool("x", "1"), Ok(true));
        assert_eq!(parse_bool("x", "false"), Ok(false));
        assert_eq!(parse_bool("x", "0"), Ok(false));
        for bad in ["TRUE", "yes", "on", "true\t", "", "2"] {
            assert!(parse_bool("x", bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse_bool("allow_anonymous", "yes")
                .unwrap_err()
                .to_string(),
            "'allow_anonymous' expects true or false (or 1/0), got 'yes'"
        );
    }

    #[test]
    fn integers_are_decimal_and_whole() {
        assert_eq!(parse_int("x", "42"), Ok(42));
        assert_eq!(parse_int("x", "-7"), Ok(-7));
        assert_eq!(parse_int("x", "+7"), Ok(7));
        assert_eq!(parse_int("x", "010"), Ok(10));
        for bad in ["abc", "12abc", "", "-", "0x10", "1.5", " 1"] {
            assert!(parse_int("x", bad).is_err(), "{bad:?}");
        }
        assert!(parse_int("x", "2147483648").is_err());
        assert_eq!(parse_i64("x", "99999999999"), Ok(99_999_999_999));
    }

    #[test]
    fn expiration_units() {
        assert_eq!(parse_expiration("5s"), Ok(5));
        assert_eq!(parse_expiration("2h"), Ok(7200));
        assert_eq!(parse_expiration("1d"), Ok(86_400));
        assert_eq!(parse_expiration("1w"), Ok(604_800));
        assert_eq!(parse_expiration("1m"), Ok(2_592_000));
        assert_eq!(parse_expiration("1y"), Ok(31_536_000));
        for bad in ["5", "0d", "d", "xd", "-1d", "1.5d", "", "1D", "1dé"] {
            assert!(parse_expiration(bad).is_err(), "{bad:?}");
        }
        assert!(parse_expiration("99999999999999999999y").is_err());
    }

    #[test]
    fn string_values_are_trimmed_and_checked() {
        assert_eq!(string_value("p", Some("  /a b \t")).unwrap(), "/a b");
        assert!(string_value("p", Some("   ")).is_err());
        assert!(string_value("p", None).is_err());
        assert!(string_value("p", Some("/a\tb")).is_err());
        assert!(string_value("p", Some("/a\u{fffd}")).is_err());
        assert!(string_value("p", Some("/a\u{85}")).is_err());
        assert!(string_value("p", Some(&"a".repeat(65_536))).is_err());
        assert!(string_value("p", Some("café")).is_ok());
    }

    #[test]
    fn topics_and_filters() {
        assert!(check_topic_name("p", "a/b/").is_ok());
        assert!(check_topic_name("p", "a/+").is_err());
        assert!(check_topic_name("p", "").is_err());
        for ok in ["#", "a/#", "+/b", "a/+/c", "/", "a"] {
            assert!(check_topic_filter("t", ok).is_ok(), "{ok}");
        }
        for bad in ["a/#/b", "a+", "a/b#", "", "#/a"] {
            assert!(check_topic_filter("t", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sha1_hex() {
        let v = parse_sha1_hex("k", "00ff00ff00ff00ff00ff00ff00ff00ff00ff00fF").unwrap();
        assert_eq!(v[1], 0xff);
        assert!(parse_sha1_hex("k", "abc").is_err());
        assert!(parse_sha1_hex("k", &"g".repeat(40)).is_err());
        assert!(parse_sha1_hex("k", &"é".repeat(20)).is_err());
    }
}
