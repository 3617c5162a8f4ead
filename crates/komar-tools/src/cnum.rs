//! C's lenient number parsing (`atoi`, `atol`, `atof`, `strtol`), because
//! mosquitto's tools accept "12abc" as 12 and "x" as 0, and print the value
//! they understood in their error messages.

/// Leading whitespace, an optional sign and the digits that follow; 0 when
/// there are none. Saturates instead of overflowing.
pub(crate) fn atol(s: &str) -> i64 {
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let mut v: i64 = 0;
    for b in digits.bytes().take_while(u8::is_ascii_digit) {
        v = v.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    if neg {
        -v
    } else {
        v
    }
}

/// `atoi`: [`atol`] narrowed to `int`, saturating.
pub(crate) fn atoi(s: &str) -> i32 {
    atol(s).clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// `atof`: the longest leading decimal number; 0.0 when there is none.
pub(crate) fn atof(s: &str) -> f64 {
    let t = s.trim_start();
    let b = t.as_bytes();
    let mut end = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        end = 1;
    }
    let mut seen_digit = false;
    let mut seen_dot = false;
    while let Some(&c) = b.get(end) {
        if c.is_ascii_digit() {
            seen_digit = true;
        } else if c == b'.' && !seen_dot {
            seen_dot = true;
        } else {
            break;
        }
        end += 1;
    }
    if seen_digit {
        if let Some(&(b'e' | b'E')) = b.get(end) {
            let mut e = end + 1;
            if matches!(b.get(e), Some(b'+' | b'-')) {
                e += 1;
            }
            if b.get(e).is_some_and(u8::is_ascii_digit) {
                while b.get(e).is_some_and(u8::is_ascii_digit) {
                    e += 1;
                }
                end = e;
            }
        }
    }
    t.get(..end).and_then(|n| n.parse().ok()).unwrap_or(0.0)
}

/// `strtol(s, &end, 0)` requiring the whole string to be the number
/// (decimal, `0x` hex or leading-`0` octal); `None` otherwise.
pub(crate) fn strtol_full(s: &str) -> Option<i64> {
    let t = s.trim_start();
    let (neg, rest) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (radix, digits) = if let Some(h) = rest.strip_prefix("0x").or(rest.strip_prefix("0X")) {
        (16, h)
    } else if rest.len() > 1 && rest.starts_with('0') {
        (8, &rest[1..])
    } else {
        (10, rest)
    };
    if digits.is_empty() {
        return None;
    }
    let v = i64::from_str_radix(digits, radix).ok()?;
    Some(if neg { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_semantics() {
        assert_eq!(atoi("12abc"), 12);
        assert_eq!(atoi("  -7"), -7);
        assert_eq!(atoi("x"), 0);
        assert_eq!(atoi("99999999999"), i32::MAX);
        assert_eq!(atof("0.5s"), 0.5);
        assert_eq!(atof("1e3x"), 1000.0);
        assert_eq!(atof("abc"), 0.0);
        assert_eq!(strtol_full("10"), Some(10));
        assert_eq!(strtol_full("0x10"), Some(16));
        assert_eq!(strtol_full("010"), Some(8));
        assert_eq!(strtol_full("-1"), Some(-1));
        assert_eq!(strtol_full("1a"), None);
        assert_eq!(strtol_full(""), None);
    }
}
