//! The key layout: which table (fjall keyspace) holds what, and how keys
//! are built so that one session's entries are contiguous and in order.
//!
//! | table      | key                                   | value                        |
//! |------------|---------------------------------------|------------------------------|
//! | `meta`     | `format`                              | format version, u32 BE       |
//! | `meta`     | `max-msg-id`                          | highest message id, u64 BE   |
//! | `sessions` | client                                | session record               |
//! | `subs`     | client · filter bytes                 | options byte, subscription id |
//! | `msgs`     | message id, u64 BE                    | message                      |
//! | `queue`    | client · seq, u64 BE                  | delivery (message id, ...)   |
//! | `out`      | client · packet id, u16 BE            | in-flight entry              |
//! | `in`       | client · packet id, u16 BE            | (marker)                     |
//! | `wills`    | client                                | due time + message           |
//! | `retained` | topic bytes                           | message without its topic    |
//!
//! Every table except `meta` also holds the [`SENTINEL`] key (empty value).
//!
//! "client" is the client identifier prefixed by its length (u16 BE), so no
//! client's prefix is the prefix of another's and a prefix scan finds
//! exactly one session's entries. Numbers are big-endian so byte order is
//! numeric order (queues come back oldest first).

use crate::codec::{bad, DecodeError};

/// Table names (fjall keyspace names).
pub(crate) mod table {
    pub(crate) const META: &str = "meta";
    pub(crate) const SESSIONS: &str = "sessions";
    pub(crate) const SUBS: &str = "subs";
    pub(crate) const MSGS: &str = "msgs";
    pub(crate) const QUEUE: &str = "queue";
    pub(crate) const OUT: &str = "out";
    pub(crate) const IN: &str = "in";
    pub(crate) const WILLS: &str = "wills";
    pub(crate) const RETAINED: &str = "retained";
    /// Every table.
    pub(crate) const ALL: [&str; 9] = [META, SESSIONS, SUBS, MSGS, QUEUE, OUT, IN, WILLS, RETAINED];
}

/// A key every table holds from the store's creation on, so a table the
/// engine lost (its files deleted or reset) is noticed instead of read as
/// empty. No record can have it: per-session keys with this 2-byte start
/// would need a 65,535-byte client id (refused), message ids are 8 bytes,
/// and `0xFF` is never part of a UTF-8 topic.
pub(crate) const SENTINEL: &[u8] = &[0xFF, 0xFF];

/// Key of the format version in `meta`.
pub(crate) const FORMAT_KEY: &[u8] = b"format";
/// Key of the highest message id ever stored (u64 BE) in `meta`, so ids
/// are not reused after every message was deleted and the store reopened.
pub(crate) const MAX_MSG_ID_KEY: &[u8] = b"max-msg-id";

/// The length-prefixed client identifier every per-session key starts
/// with. `None` if the identifier is longer than an MQTT string can be.
pub(crate) fn client_prefix(client_id: &str) -> Option<Vec<u8>> {
    let len = u16::try_from(client_id.len()).ok()?;
    let mut k = Vec::with_capacity(2 + client_id.len() + 8);
    k.extend_from_slice(&len.to_be_bytes());
    k.extend_from_slice(client_id.as_bytes());
    Some(k)
}

/// `prefix · suffix`.
pub(crate) fn with_suffix(prefix: &[u8], suffix: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + suffix.len());
    k.extend_from_slice(prefix);
    k.extend_from_slice(suffix);
    k
}

/// Split a per-session key into the client identifier and the rest.
pub(crate) fn split_client(key: &[u8]) -> Result<(&str, &[u8]), DecodeError> {
    let (len, rest) = key
        .split_first_chunk::<2>()
        .ok_or_else(|| bad("key shorter than its client length"))?;
    let len = usize::from(u16::from_be_bytes(*len));
    if rest.len() < len {
        return Err(bad("key shorter than its client identifier"));
    }
    let (client, tail) = rest.split_at(len);
    let client = std::str::from_utf8(client).map_err(|_| bad("client identifier not UTF-8"))?;
    Ok((client, tail))
}

/// A big-endian u64 key or key suffix.
pub(crate) fn be_u64(b: &[u8], what: &str) -> Result<u64, DecodeError> {
    let a: [u8; 8] = b
        .try_into()
        .map_err(|_| bad(format!("{what}: expected 8 bytes, found {}", b.len())))?;
    Ok(u64::from_be_bytes(a))
}

/// A big-endian u16 key suffix.
pub(crate) fn be_u16(b: &[u8], what: &str) -> Result<u16, DecodeError> {
    let a: [u8; 2] = b
        .try_into()
        .map_err(|_| bad(format!("{what}: expected 2 bytes, found {}", b.len())))?;
    Ok(u16::from_be_bytes(a))
}

/// A key as people can read it in an error report.
pub(crate) fn printable(key: &[u8]) -> String {
    match split_client(key) {
        Ok((client, rest)) if !client.is_empty() || rest.is_empty() => {
            if rest.is_empty() {
                client.to_owned()
            } else if let Some(s) = readable_text(rest) {
                format!("{client} / {s}")
            } else {
                format!("{client} / 0x{}", hex(rest))
            }
        }
        _ => match readable_text(key) {
            Some(s) => s.to_owned(),
            None => format!("0x{}", hex(key)),
        },
    }
}

fn readable_text(b: &[u8]) -> Option<&str> {
    std::str::from_utf8(b)
        .ok()
        .filter(|s| !s.chars().any(char::is_control))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_of_different_clients_never_nest() {
        let a = client_prefix("ab").unwrap();
        let b = client_prefix("abc").unwrap();
        assert!(!b.starts_with(&a));
        let k = with_suffix(&b, &7u64.to_be_bytes());
        let (c, rest) = split_client(&k).unwrap();
        assert_eq!(c, "abc");
        assert_eq!(be_u64(rest, "seq").unwrap(), 7);
    }

    #[test]
    fn bad_keys_are_errors() {
        assert!(split_client(&[0]).is_err());
        assert!(split_client(&[0, 5, b'a']).is_err());
        assert!(split_client(&[0, 1, 0xFF]).is_err());
        assert!(be_u64(&[1, 2], "seq").is_err());
        assert!(client_prefix(&"x".repeat(70_000)).is_none());
        assert_eq!(printable(&[0, 1, b'c', 0, 9]), "c / 0x0009");
    }
}
