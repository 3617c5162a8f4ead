//! Fuzz target `roundtrip`: every packet that decodes from arbitrary bytes,
//! in any protocol version, must re-encode to `encoded_len` bytes and decode
//! back to the same value.
#![no_main]

use komar_fuzz::{assert_roundtrip, decode_stream, VERSIONS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for version in VERSIONS {
        for packet in decode_stream(data, version, usize::MAX) {
            assert_roundtrip(&packet, version);
        }
    }
});
