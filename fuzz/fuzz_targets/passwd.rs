//! Fuzz target: arbitrary bytes through `komar_auth::fuzz_password_file`, which must never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    komar_auth::fuzz_password_file(data);
});
