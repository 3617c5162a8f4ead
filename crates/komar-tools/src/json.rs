//! JSON as mosquitto_sub's `%j` / `%J` output produces it through cJSON:
//! a value tree with byte strings and insertion-ordered (possibly
//! duplicated) keys, cJSON's printer (escaping, `%d` / `%1.15g` numbers,
//! tab-indented pretty form) and cJSON's lenient parser for `%J` payloads,
//! with its nesting limit of 1000 so recursion stays bounded.

/// A JSON value; strings are bytes because cJSON passes non-UTF-8 through.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    Number(f64),
    String(Vec<u8>),
    Array(Vec<Json>),
    Object(Vec<(Vec<u8>, Json)>),
}

/// cJSON's `CJSON_NESTING_LIMIT`.
const NESTING_LIMIT: usize = 1000;

impl Json {
    /// A string value from text.
    pub(crate) fn str(s: &str) -> Json {
        Json::String(s.as_bytes().to_vec())
    }

    /// A number from an integer.
    pub(crate) fn int(v: i64) -> Json {
        Json::Number(v as f64)
    }

    /// Print as cJSON_PrintUnformatted (`pretty` false) or cJSON_Print.
    pub(crate) fn print(&self, pretty: bool, out: &mut Vec<u8>) {
        self.print_at(pretty, 1, out);
    }

    fn print_at(&self, pretty: bool, depth: usize, out: &mut Vec<u8>) {
        match self {
            Json::Null => out.extend_from_slice(b"null"),
            Json::Bool(true) => out.extend_from_slice(b"true"),
            Json::Bool(false) => out.extend_from_slice(b"false"),
            Json::Number(d) => print_number(*d, out),
            Json::String(s) => print_string(s, out),
            Json::Array(items) => {
                out.push(b'[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                        if pretty {
                            out.push(b' ');
                        }
                    }
                    v.print_at(pretty, depth + 1, out);
                }
                out.push(b']');
            }
            Json::Object(items) => {
                out.push(b'{');
                if pretty {
                    out.push(b'\n');
                }
                for (i, (k, v)) in items.iter().enumerate() {
                    if pretty {
                        out.extend(std::iter::repeat_n(b'\t', depth));
                    }
                    print_string(k, out);
                    out.push(b':');
                    if pretty {
                        out.push(b'\t');
                    }
                    v.print_at(pretty, depth + 1, out);
                    if i + 1 < items.len() {
                        out.push(b',');
                    }
                    if pretty {
                        out.push(b'\n');
                    }
                }
                if pretty {
                    out.extend(std::iter::repeat_n(b'\t', depth - 1));
                }
                out.push(b'}');
            }
        }
    }
}

fn print_string(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0C => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            c if c < 0x20 => out.extend_from_slice(format!("\\u{c:04x}").as_bytes()),
            c => out.push(c),
        }
    }
    out.push(b'"');
}

/// cJSON's number printing: integers that fit an `int` as `%d`, anything
/// else as `%1.15g`, or `%1.17g` when 15 digits do not round-trip.
fn print_number(d: f64, out: &mut Vec<u8>) {
    if !d.is_finite() {
        out.extend_from_slice(b"null");
        return;
    }
    let valueint = if d >= f64::from(i32::MAX) {
        i32::MAX
    } else if d <= f64::from(i32::MIN) {
        i32::MIN
    } else {
        d as i32
    };
    if d == f64::from(valueint) {
        out.extend_from_slice(valueint.to_string().as_bytes());
        return;
    }
    let s = format_g(d, 15);
    let s = if s.parse::<f64>().ok() == Some(d) {
        s
    } else {
        format_g(d, 17)
    };
    out.extend_from_slice(s.as_bytes());
}

/// C's `%.{p}g`.
pub(crate) fn format_g(d: f64, p: usize) -> String {
    let p = p.max(1);
    let sci = format!("{:.*e}", p - 1, d);
    let (mant, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= p as i32 {
        let mant = trim_zeros(mant);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (p as i32 - 1 - exp).max(0) as usize;
        trim_zeros(&format!("{d:.decimals$}")).to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// Parse `input` as cJSON_ParseWithOpts with `require_null_terminated`:
/// one value, surrounded only by whitespace, nothing after it.
pub(crate) fn parse(input: &[u8]) -> Option<Json> {
    let mut p = JsonParser { s: input, i: 0 };
    p.skip_ws();
    let v = p.value(0)?;
    p.skip_ws();
    (p.i == input.len()).then_some(v)
}

struct JsonParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl JsonParser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    /// cJSON skips every byte up to and including space.
    fn skip_ws(&mut self) {
        while self.peek().is_some_and(|c| c <= 32) {
            self.i += 1;
        }
    }

    fn literal(&mut self, word: &[u8], v: Json) -> Option<Json> {
        if self.s.get(self.i..self.i + word.len()) == Some(word) {
            self.i += word.len();
            Some(v)
        } else {
            None
        }
    }

    fn value(&mut self, depth: usize) -> Option<Json> {
        match self.peek()? {
            b'n' => self.literal(b"null", Json::Null),
            b'f' => self.literal(b"false", Json::Bool(false)),
            b't' => self.literal(b"true", Json::Bool(true)),
            b'"' => self.string().map(Json::String),
            b'-' | b'0'..=b'9' => self.number(),
            b'[' => self.array(depth + 1),
            b'{' => self.object(depth + 1),
            _ => None,
        }
    }

    /// Collect the characters cJSON hands to `strtod` and keep the longest
    /// prefix that is a number.
    fn number(&mut self) -> Option<Json> {
        let start = self.i;
        let mut end = start;
        while self
            .s
            .get(end)
            .is_some_and(|c| c.is_ascii_digit() || matches!(c, b'+' | b'-' | b'e' | b'E' | b'.'))
        {
            end += 1;
        }
        let text = std::str::from_utf8(self.s.get(start..end)?).ok()?;
        let n = longest_number_prefix(text)?;
        self.i = start + n.0;
        Some(Json::Number(n.1))
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = self.s.get(self.i..self.i + 4)?;
        let v = u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()?;
        self.i += 4;
        Some(v)
    }

    fn string(&mut self) -> Option<Vec<u8>> {
        self.i += 1; // opening quote
        let mut out = Vec::new();
        loop {
            let c = self.peek()?;
            self.i += 1;
            match c {
                b'"' => return Some(out),
                b'\\' => {
                    let e = self.peek()?;
                    self.i += 1;
                    match e {
                        b'b' => out.push(0x08),
                        b'f' => out.push(0x0C),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'"' | b'\\' | b'/' => out.push(e),
                        b'u' => {
                            let first = self.hex4()?;
                            let cp = if (0xDC00..=0xDFFF).contains(&first) {
                                return None;
                            } else if (0xD800..=0xDBFF).contains(&first) {
                                if self.s.get(self.i..self.i + 2) != Some(b"\\u") {
                                    return None;
                                }
                                self.i += 2;
                                let second = self.hex4()?;
                                if !(0xDC00..=0xDFFF).contains(&second) {
                                    return None;
                                }
                                0x10000 + (((first & 0x3FF) << 10) | (second & 0x3FF))
                            } else {
                                first
                            };
                            push_utf8(cp, &mut out);
                        }
                        _ => return None,
                    }
                }
                c => out.push(c),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Option<Json> {
        if depth > NESTING_LIMIT {
            return None;
        }
        self.i += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek()? == b']' {
            self.i += 1;
            return Some(Json::Array(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value(depth)?);
            self.skip_ws();
            match self.peek()? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    return Some(Json::Array(items));
                }
                _ => return None,
            }
        }
    }

    fn object(&mut self, depth: usize) -> Option<Json> {
        if depth > NESTING_LIMIT {
            return None;
        }
        self.i += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(Json::Object(items));
        }
        loop {
            self.skip_ws();
            if self.peek()? != b'"' {
                return None;
            }
            let k = self.string()?;
            self.skip_ws();
            if self.peek()? != b':' {
                return None;
            }
            self.i += 1;
            self.skip_ws();
            let v = self.value(depth)?;
            items.push((k, v));
            self.skip_ws();
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(Json::Object(items));
                }
                _ => return None,
            }
        }
    }
}

fn push_utf8(cp: u32, out: &mut Vec<u8>) {
    let c = char::from_u32(cp).unwrap_or('\u{FFFD}');
    let mut buf = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

/// The longest prefix of `text` that `strtod` reads as a decimal number:
/// (bytes used, value).
fn longest_number_prefix(text: &str) -> Option<(usize, f64)> {
    (1..=text.len()).rev().find_map(|n| {
        let t = text.get(..n)?;
        // Rust accepts "inf"/"nan" words; the collected characters never
        // contain letters other than e/E, so only real numbers parse.
        if t.ends_with(['e', 'E', '+', '-']) {
            return None;
        }
        t.parse::<f64>().ok().map(|v| (n, v))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reprint(s: &str, pretty: bool) -> String {
        let mut out = Vec::new();
        parse(s.as_bytes()).unwrap().print(pretty, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn cjson_reprinting() {
        assert_eq!(
            reprint(
                r#" {"a":1.5,"b":[1,2e3,true,null],"c":"\u00e9x\/"} "#,
                false
            ),
            "{\"a\":1.5,\"b\":[1,2000,true,null],\"c\":\"éx/\"}"
        );
        assert_eq!(reprint("0.1", false), "0.1");
        assert_eq!(reprint("1e300", false), "1e+300");
        assert_eq!(reprint("4294967295", false), "4294967295");
        assert_eq!(reprint("-0.000001", false), "-1e-06");
        assert_eq!(reprint("\"a\\u0001\\n\"", false), "\"a\\u0001\\n\"");
        assert_eq!(
            reprint(r#"{"a":{"b":[1,2]},"e":{}}"#, true),
            "{\n\t\"a\":\t{\n\t\t\"b\":\t[1, 2]\n\t},\n\t\"e\":\t{\n\t}\n}"
        );
    }

    #[test]
    fn rejects_what_cjson_rejects() {
        for bad in [
            "",
            "{",
            "[1,]",
            "{\"a\"}",
            "1 2",
            "tru",
            "\"\\x\"",
            "-",
            "{\"a\":1}x",
        ] {
            assert!(parse(bad.as_bytes()).is_none(), "{bad}");
        }
        let deep = "[".repeat(1001) + &"]".repeat(1001);
        assert!(parse(deep.as_bytes()).is_none());
        let ok = "[".repeat(1000) + &"]".repeat(1000);
        assert!(parse(ok.as_bytes()).is_some());
    }

    #[test]
    fn g_format() {
        assert_eq!(format_g(100.0, 15), "100");
        assert_eq!(format_g(1.0e15, 15), "1e+15");
        assert_eq!(format_g(0.0001, 15), "0.0001");
        assert_eq!(format_g(123456.789, 15), "123456.789");
    }
}
