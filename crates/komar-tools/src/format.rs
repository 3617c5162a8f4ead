//! How sub and rr print a received message: payload only, `-v` ("topic
//! payload", `(null)` for an empty one) or a `-F` format string with `%`
//! parameters (flags, width, precision), `@` strftime sequences and `\`
//! escapes, byte for byte as mosquitto_sub 2.0.11 prints them.

use komar_proto::{Publish, PublishProperties};

use crate::json::{self, Json};
use crate::timefmt::Now;

/// Validate a `-F` format string; `Err` holds the message to print.
///
/// # Errors
/// An incomplete or unknown `%` / `\` sequence or a trailing `@`.
pub(crate) fn check_format(s: &str) -> Result<(), String> {
    let b = s.as_bytes();
    let len = b.len();
    let at = |i: usize| b.get(i).copied().unwrap_or(0);
    let incomplete = || Err("Error: Incomplete format specifier.\n".to_string());
    let mut i = 0;
    while i < len {
        match at(i) {
            b'%' => {
                if i == len - 1 {
                    return incomplete();
                }
                if at(i + 1) == b'0' || at(i + 1) == b'-' {
                    i += 1;
                    if i == len - 1 {
                        return incomplete();
                    }
                }
                while at(i + 1).is_ascii_digit() {
                    i += 1;
                    if i == len - 1 {
                        return incomplete();
                    }
                }
                if at(i + 1) == b'.' {
                    i += 1;
                    if i == len - 1 {
                        return incomplete();
                    }
                    while at(i + 1).is_ascii_digit() {
                        i += 1;
                        if i == len - 1 {
                            return incomplete();
                        }
                    }
                }
                let c = at(i + 1);
                if !b"%ACDEFIlmPpqRSrtjJUxX".contains(&c) {
                    return Err(format!(
                        "Error: Invalid format specifier '{}'.\n",
                        char::from(c)
                    ));
                }
                i += 1;
            }
            b'@' => {
                if i == len - 1 {
                    return incomplete();
                }
                i += 1;
            }
            b'\\' => {
                if i == len - 1 {
                    return Err("Error: Incomplete escape specifier.\n".to_string());
                }
                let c = at(i + 1);
                if !b"\\0aenrtv".contains(&c) {
                    return Err(format!(
                        "Error: Invalid escape specifier '{}'.\n",
                        char::from(c)
                    ));
                }
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// Output settings from the command line.
#[derive(Debug, Clone)]
pub(crate) struct OutputOptions {
    pub(crate) format: Option<String>,
    pub(crate) verbose: bool,
    pub(crate) eol: bool,
    pub(crate) pretty: bool,
    pub(crate) quiet: bool,
    /// Properties were possible (5.0): the JSON output lists them.
    pub(crate) v5: bool,
}

/// Print one message to `out`; error messages (invalid JSON for `%J`) go
/// to `err` unless quiet.
pub(crate) fn print_message(o: &OutputOptions, m: &Publish, out: &mut Vec<u8>, err: &mut Vec<u8>) {
    if let Some(f) = &o.format {
        formatted(o, f, m, out, err);
    } else if o.verbose {
        if !m.payload.is_empty() {
            out.extend_from_slice(m.topic.as_str().as_bytes());
            out.push(b' ');
            out.extend_from_slice(&m.payload);
            if o.eol {
                out.push(b'\n');
            }
        } else if o.eol {
            out.extend_from_slice(m.topic.as_str().as_bytes());
            out.extend_from_slice(b" (null)\n");
        }
    } else if !m.payload.is_empty() {
        out.extend_from_slice(&m.payload);
        if o.eol {
            out.push(b'\n');
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Spec {
    left: bool,
    pad: u8,
    width: usize,
    precision: Option<usize>,
}

fn formatted(o: &OutputOptions, f: &str, m: &Publish, out: &mut Vec<u8>, err: &mut Vec<u8>) {
    let b = f.as_bytes();
    let len = b.len();
    let at = |i: usize| b.get(i).copied().unwrap_or(0);
    let mut now: Option<Now> = None;
    let mut i = 0;
    while i < len {
        match at(i) {
            b'%' => {
                let mut spec = Spec {
                    left: false,
                    pad: b' ',
                    width: 0,
                    precision: None,
                };
                if i < len - 1 {
                    i += 1;
                    if at(i) == b'-' {
                        spec.left = true;
                        if i < len - 1 {
                            i += 1;
                        }
                    }
                    if at(i) == b'0' {
                        spec.pad = b'0';
                        if i < len - 1 {
                            i += 1;
                        }
                    }
                    while i < len - 1 && at(i).is_ascii_digit() {
                        spec.width = spec.width.saturating_mul(10) + usize::from(at(i) - b'0');
                        i += 1;
                    }
                    if at(i) == b'.' && i < len - 1 {
                        i += 1;
                        let mut p = 0usize;
                        while i < len - 1 && at(i).is_ascii_digit() {
                            p = p.saturating_mul(10) + usize::from(at(i) - b'0');
                            i += 1;
                        }
                        spec.precision = Some(p);
                    }
                    if i < len {
                        percent(o, at(i), spec, m, out, err);
                    }
                }
            }
            b'@' => {
                if i < len - 1 {
                    i += 1;
                    let c = at(i);
                    if c == b'@' {
                        out.push(b'@');
                    } else {
                        let n = *now.get_or_insert_with(Now::read);
                        if c == b'N' {
                            out.extend_from_slice(format!("{:09}", n.nanos()).as_bytes());
                        } else {
                            let spec = format!("%{}", char::from(c));
                            out.extend_from_slice(n.strftime(&spec).as_bytes());
                        }
                    }
                }
            }
            b'\\' => {
                if i < len - 1 {
                    i += 1;
                    match at(i) {
                        b'\\' => out.push(b'\\'),
                        b'0' => out.push(0),
                        b'a' => out.push(0x07),
                        b'e' => out.push(0x1B),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'v' => out.push(0x0B),
                        _ => {}
                    }
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    if o.eol {
        out.push(b'\n');
    }
}

fn blank(pad: u8, width: usize, out: &mut Vec<u8>) {
    out.extend(std::iter::repeat_n(pad, width));
}

/// printf `%d`, `%-*d`, `%0*d`, `%*d`.
fn int(v: i64, s: Spec, out: &mut Vec<u8>) {
    let digits = v.to_string();
    if s.width == 0 || digits.len() >= s.width {
        out.extend_from_slice(digits.as_bytes());
    } else if s.left {
        out.extend_from_slice(digits.as_bytes());
        blank(b' ', s.width - digits.len(), out);
    } else if s.pad == b'0' {
        let (sign, body) = match digits.strip_prefix('-') {
            Some(b) => ("-", b),
            None => ("", digits.as_str()),
        };
        out.extend_from_slice(sign.as_bytes());
        blank(b'0', s.width - digits.len(), out);
        out.extend_from_slice(body.as_bytes());
    } else {
        blank(b' ', s.width - digits.len(), out);
        out.extend_from_slice(digits.as_bytes());
    }
}

/// printf `%s` with optional `-`, width and precision (bytes).
fn string(v: &[u8], s: Spec, out: &mut Vec<u8>) {
    let v = match s.precision {
        Some(p) if p < v.len() => v.get(..p).unwrap_or(v),
        _ => v,
    };
    let padding = s.width.saturating_sub(v.len());
    if !s.left {
        blank(b' ', padding, out);
    }
    out.extend_from_slice(v);
    if s.left {
        blank(b' ', padding, out);
    }
}

/// mosquitto's `write_payload`, quirks included: a width truncates the
/// payload, and `-` without a width pads with as many blanks as the
/// payload is long (C's `printf("%*s", negative, "")`).
fn payload(p: &[u8], hex: u8, s: Spec, out: &mut Vec<u8>) {
    let width = s.width as i64;
    let mut len = p.len() as i64;
    let padlen;
    if width > 0 {
        if len > width {
            len = width;
        }
        if hex > 0 {
            len /= 2;
            padlen = width - len * 2;
        } else {
            padlen = width - len;
        }
    } else {
        padlen = width - len;
    }
    if !s.left {
        for _ in 0..padlen.max(0) {
            out.push(s.pad);
        }
    }
    let shown = p.get(..len.max(0) as usize).unwrap_or(p);
    match hex {
        0 => out.extend_from_slice(shown),
        1 => shown
            .iter()
            .for_each(|b| out.extend_from_slice(format!("{b:02x}").as_bytes())),
        _ => shown
            .iter()
            .for_each(|b| out.extend_from_slice(format!("{b:02X}").as_bytes())),
    }
    if s.left {
        blank(b' ', padlen.unsigned_abs() as usize, out);
    }
}

fn percent(o: &OutputOptions, c: u8, s: Spec, m: &Publish, out: &mut Vec<u8>, err: &mut Vec<u8>) {
    let p = &m.properties;
    match c {
        b'%' => out.push(b'%'),
        b'A' => match p.topic_alias {
            Some(v) => int(i64::from(v), s, out),
            None => blank(s.pad, s.width, out),
        },
        b'C' => match &p.content_type {
            Some(v) => string(v.as_bytes(), s, out),
            None => blank(b' ', s.width, out),
        },
        b'D' => {
            if let Some(v) = &p.correlation_data {
                out.extend_from_slice(v);
            }
        }
        b'E' => match p.message_expiry_interval {
            // Printed through a C int.
            Some(v) => int(i64::from(v as i32), s, out),
            None => blank(s.pad, s.width, out),
        },
        b'F' => match p.payload_format_indicator {
            Some(v) => int(i64::from(v), s, out),
            None => blank(s.pad, s.width, out),
        },
        b'I' => string(Now::read().iso8601().as_bytes(), s, out),
        b'j' | b'J' => {
            let now = Now::read();
            match json_message(o, m, &now, c == b'j') {
                Some(v) => v.print(o.pretty, out),
                None => {
                    if !o.quiet {
                        err.extend_from_slice(
                            format!(
                                "Error: Message payload is not valid JSON on topic {}.\n",
                                m.topic.as_str()
                            )
                            .as_bytes(),
                        );
                    }
                }
            }
        }
        b'l' => int(m.payload.len() as i64, s, out),
        b'm' => int(
            i64::from(m.qos_pid.packet_id().map_or(0, |id| id.get())),
            s,
            out,
        ),
        b'P' => {
            for (n, (k, v)) in p.user_properties.iter().enumerate() {
                if n > 0 {
                    out.push(b' ');
                }
                out.extend_from_slice(k.as_bytes());
                out.push(b':');
                out.extend_from_slice(v.as_bytes());
            }
        }
        b'p' => payload(&m.payload, 0, s, out),
        b'q' => out.push(b'0' + m.qos_pid.qos().as_u8()),
        b'R' => {
            if let Some(v) = &p.response_topic {
                string(v.as_bytes(), s, out);
            }
        }
        b'r' => out.push(if m.retain { b'1' } else { b'0' }),
        b'S' => match p.subscription_identifiers.first() {
            Some(&v) => int(i64::from(v as i32), s, out),
            None => blank(s.pad, s.width, out),
        },
        b't' => string(m.topic.as_str().as_bytes(), s, out),
        b'U' => out.extend_from_slice(Now::read().unix().as_bytes()),
        b'x' => payload(&m.payload, 1, s, out),
        b'X' => payload(&m.payload, 2, s, out),
        _ => {}
    }
}

/// A C string view of binary data: up to the first NUL.
fn c_string(b: &[u8]) -> Vec<u8> {
    b.split(|&c| c == 0).next().unwrap_or_default().to_vec()
}

/// The JSON object of `%j` (`escaped`) or `%J`; `None` when a `%J`
/// payload is not JSON.
fn json_message(o: &OutputOptions, m: &Publish, now: &Now, escaped: bool) -> Option<Json> {
    let qos = m.qos_pid.qos().as_u8();
    let mut root = vec![
        (b"tst".to_vec(), Json::str(&now.json_tst())),
        (b"topic".to_vec(), Json::str(m.topic.as_str())),
        (b"qos".to_vec(), Json::int(i64::from(qos))),
        (b"retain".to_vec(), Json::int(i64::from(m.retain))),
        (b"payloadlen".to_vec(), Json::int(m.payload.len() as i64)),
    ];
    if let Some(id) = m.qos_pid.packet_id() {
        root.push((b"mid".to_vec(), Json::int(i64::from(id.get()))));
    }
    if o.v5 && !m.properties.is_empty() {
        root.push((b"properties".to_vec(), json_properties(&m.properties)));
    }
    let payload = if m.payload.is_empty() {
        Json::Null
    } else if escaped {
        Json::String(c_string(&m.payload))
    } else {
        // cJSON parses the payload as a C string and requires the parse to
        // end exactly at its last byte.
        if m.payload.contains(&0) {
            return None;
        }
        json::parse(&m.payload)?
    };
    root.push((b"payload".to_vec(), payload));
    Some(Json::Object(root))
}

/// The `properties` object. Its keys follow the order a mosquitto broker
/// forwards properties in when komar-proto encoded the publish: the wire
/// order itself is not kept by the decoder.
fn json_properties(p: &PublishProperties) -> Json {
    let mut o = Vec::new();
    if let Some(v) = p.payload_format_indicator {
        o.push((
            b"payload-format-indicator".to_vec(),
            Json::int(i64::from(v)),
        ));
    }
    if let Some(v) = &p.response_topic {
        o.push((b"response-topic".to_vec(), Json::str(v)));
    }
    if let Some(v) = &p.correlation_data {
        o.push((b"correlation-data".to_vec(), Json::String(c_string(v))));
    }
    if let Some(v) = &p.content_type {
        o.push((b"content-type".to_vec(), Json::str(v)));
    }
    if !p.user_properties.is_empty() {
        let users = p
            .user_properties
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), Json::str(v)))
            .collect();
        o.push((b"user-properties".to_vec(), Json::Object(users)));
    }
    for v in &p.subscription_identifiers {
        o.push((
            b"subscription-identifier".to_vec(),
            Json::int(i64::from(*v)),
        ));
    }
    if let Some(v) = p.topic_alias {
        o.push((b"topic-alias".to_vec(), Json::int(i64::from(v))));
    }
    if let Some(v) = p.message_expiry_interval {
        o.push((b"message-expiry-interval".to_vec(), Json::int(i64::from(v))));
    }
    Json::Object(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use komar_proto::{PacketId, QosPid, TopicName};

    fn msg(payload: &[u8]) -> Publish {
        Publish {
            dup: false,
            qos_pid: QosPid::AtLeastOnce(PacketId::new(7).unwrap()),
            retain: true,
            topic: TopicName::new("a/b").unwrap(),
            properties: Default::default(),
            payload: Bytes::copy_from_slice(payload),
        }
    }

    fn opts(f: &str) -> OutputOptions {
        OutputOptions {
            format: Some(f.into()),
            verbose: false,
            eol: true,
            pretty: false,
            quiet: false,
            v5: false,
        }
    }

    fn fmt(f: &str, m: &Publish) -> String {
        let mut out = Vec::new();
        let mut err = Vec::new();
        print_message(&opts(f), m, &mut out, &mut err);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn check() {
        assert!(check_format("%t %p %q %r %l %m %x %X %I %j %J %U @H @@ \\n\\t").is_ok());
        assert_eq!(
            check_format("%Z"),
            Err("Error: Invalid format specifier 'Z'.\n".into())
        );
        assert_eq!(
            check_format("%-0"),
            Err("Error: Incomplete format specifier.\n".into())
        );
        assert_eq!(
            check_format("\\"),
            Err("Error: Incomplete escape specifier.\n".into())
        );
        assert_eq!(
            check_format("@"),
            Err("Error: Incomplete format specifier.\n".into())
        );
    }

    #[test]
    fn parameters() {
        let m = msg(b"hello");
        assert_eq!(fmt("%t|%p|%q|%r|%l|%m", &m), "a/b|hello|1|1|5|7\n");
        assert_eq!(fmt("%x %X", &msg(b"\x01\xab")), "01ab 01AB\n");
        assert_eq!(
            fmt("[%10t][%-5t][%.1t][%5.2t]", &m),
            "[       a/b][a/b  ][a][   a/]\n"
        );
        assert_eq!(fmt("[%05l][%-5l][%5l]", &m), "[00005][5    ][    5]\n");
        assert_eq!(fmt("[%3p][%8p][%-p]", &m), "[hel][   hello][hello     ]\n");
        assert_eq!(fmt("%%\\t@@", &m), "%\t@\n");
    }

    #[test]
    fn verbose_and_plain() {
        let mut o = opts("");
        o.format = None;
        o.verbose = true;
        let mut out = Vec::new();
        print_message(&o, &msg(b""), &mut out, &mut Vec::new());
        assert_eq!(out, b"a/b (null)\n");
        o.verbose = false;
        out.clear();
        print_message(&o, &msg(b""), &mut out, &mut Vec::new());
        assert!(out.is_empty());
    }

    #[test]
    fn json() {
        let out = fmt("%j", &msg(b"he\"y\x00tail"));
        let rest = out.split_once("\",\"topic\"").unwrap().1;
        assert_eq!(
            rest,
            ":\"a/b\",\"qos\":1,\"retain\":1,\"payloadlen\":9,\"mid\":7,\"payload\":\"he\\\"y\"}\n"
        );
        let out = fmt("%J", &msg(b"{\"t\": 2e1}"));
        assert!(out.ends_with("\"payload\":{\"t\":20}}\n"), "{out}");
        let mut err = Vec::new();
        let mut out = Vec::new();
        print_message(&opts("x%Jy"), &msg(b"nope"), &mut out, &mut err);
        assert_eq!(out, b"xy\n");
        assert_eq!(
            err,
            b"Error: Message payload is not valid JSON on topic a/b.\n"
        );
    }
}
