//! Fuzz target: arbitrary bytes through `komar_config::fuzz_parse`, which must never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    komar_config::fuzz_parse(data);
});
