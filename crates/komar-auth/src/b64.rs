//! Base64 as the password file uses it: standard alphabet (`+/`) with `=`
//! padding and no line breaks for `$6$`/`$7$` (OpenSSL's `BIO_f_base64` with
//! `BIO_FLAGS_BASE64_NO_NL`), and unpadded for the PHC string of
//! `$argon2id$` (libargon2). Decoding is constant-time (base64ct).

use base64ct::{Base64, Base64Unpadded, Encoding};

/// Standard alphabet with padding, no line breaks.
pub(crate) fn encode_padded(bytes: &[u8]) -> String {
    Base64::encode_string(bytes)
}

/// Standard alphabet without padding (PHC strings).
pub(crate) fn encode_unpadded(bytes: &[u8]) -> String {
    Base64Unpadded::encode_string(bytes)
}

/// Decode a `$6$`/`$7$` field. Padding is expected, as every writer emits
/// it, but a field whose padding was stripped is accepted too.
pub(crate) fn decode_lenient(s: &str) -> Option<Vec<u8>> {
    if s.len().is_multiple_of(4) {
        Base64::decode_vec(s).ok()
    } else {
        Base64Unpadded::decode_vec(s).ok()
    }
}

/// Decode a PHC field (no padding).
pub(crate) fn decode_unpadded(s: &str) -> Option<Vec<u8>> {
    Base64Unpadded::decode_vec(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_round_trip_and_lengths() {
        let salt = [0xfbu8; 12];
        let enc = encode_padded(&salt);
        assert_eq!(enc.len(), 16);
        assert_eq!(decode_lenient(&enc).unwrap(), salt);
        let hash = [7u8; 64];
        let enc = encode_padded(&hash);
        assert_eq!(enc.len(), 88);
        assert!(enc.ends_with("=="));
        assert_eq!(decode_lenient(&enc).unwrap(), hash);
        assert_eq!(decode_lenient(enc.trim_end_matches('=')).unwrap(), hash);
    }

    #[test]
    fn rejects_garbage() {
        assert!(decode_lenient("!!!!").is_none());
        assert!(decode_lenient("a").is_none());
        assert!(decode_lenient("ab-_").is_none());
        assert!(decode_unpadded("AAAA=").is_none());
    }
}
