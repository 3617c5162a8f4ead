//! Fuzz target `decode`: arbitrary bytes, read as a stream of packets in
//! every protocol version and under a small and an unlimited maximum packet
//! size, must never panic; a short body must be reported as truncated.
#![no_main]

use komar_fuzz::{decode_stream, VERSIONS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks a small size limit so the limit check is hit too.
    let small_max = usize::from(data.first().copied().unwrap_or(0)) * 4;
    for version in VERSIONS {
        decode_stream(data, version, usize::MAX);
        decode_stream(data, version, small_max);
    }
});
