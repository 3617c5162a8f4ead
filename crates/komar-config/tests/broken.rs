//! Broken configuration files: each must give exactly one clear
//! `file:line` error. `mosquitto_rejects` records what Mosquitto 2.0.11
//! (Debian) does with the same file (`mosquitto -c <file>`), checked by the
//! ignored test `cross_check_with_mosquitto`:
//!
//! - `bad-number-text.conf`: Mosquitto reads `lots` with `atoi` as 0, which
//!   means "unlimited"; Komar rejects it (stricter, intentionally).
//! - `certfile-without-keyfile.conf`: Mosquitto 2.0 runs the listener
//!   without TLS; Komar rejects it as Mosquitto 2.1 does.
//! - `empty-log-type.conf`: Mosquitto logs "Empty log_type value" and
//!   carries on; Komar rejects it.
//! - `unknown-keyform.conf`: Mosquitto treats any keyform but `engine` as
//!   pem; Komar rejects it.
//! - `listener-not-a-number.conf`: both reject, Mosquitto with the puzzling
//!   "A listener with port 0 must provide a Unix socket path"; Komar says
//!   the port is not a number.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use komar_config::{parse_file, FsLoader};

struct Case {
    file: &'static str,
    line: usize,
    needle: &'static str,
    mosquitto_rejects: bool,
}

const fn case(
    file: &'static str,
    line: usize,
    needle: &'static str,
    mosquitto_rejects: bool,
) -> Case {
    Case {
        file,
        line,
        needle,
        mosquitto_rejects,
    }
}

const CASES: &[Case] = &[
    case(
        "unknown-option.conf",
        3,
        "unknown option 'max_inflight'",
        true,
    ),
    case(
        "bad-boolean.conf",
        2,
        "'allow_anonymous' expects true or false (or 1/0), got 'yes'",
        true,
    ),
    case(
        "missing-value.conf",
        2,
        "'password_file' needs a value",
        true,
    ),
    case(
        "duplicate-option.conf",
        3,
        "duplicate 'password_file'",
        true,
    ),
    case(
        "listener-option-first.conf",
        2,
        "'mount_point' must come after a 'listener' line",
        true,
    ),
    case(
        "unreadable-include-dir.conf",
        2,
        "cannot open include_dir '/nonexistent/komar-config-test'",
        true,
    ),
    case(
        "bad-number-text.conf",
        2,
        "'max_queued_messages' expects an integer, got 'lots'",
        false,
    ),
    case(
        "bad-number-range.conf",
        2,
        "'max_inflight_messages' must be at most 65535",
        true,
    ),
    case("tab-separator.conf", 1, "a tab is not a separator", true),
    case("indented-comment.conf", 2, "'#' in the first column", true),
    case(
        "topic-without-connection.conf",
        2,
        "'topic' must come after a 'connection' line",
        true,
    ),
    case(
        "plugin-opt-without-plugin.conf",
        2,
        "must come after a 'plugin' line",
        true,
    ),
    case(
        "per-listener-settings-late.conf",
        2,
        "'per_listener_settings true' must come before",
        true,
    ),
    case(
        "duplicate-bridge.conf",
        4,
        "duplicate bridge name 'cloud'",
        true,
    ),
    case(
        "bridge-without-address.conf",
        2,
        "bridge 'cloud' has no 'address' line",
        true,
    ),
    case("log-dest-file-twice.conf", 2, "only one log file", true),
    case(
        "unix-listener-without-path.conf",
        1,
        "needs a socket path",
        true,
    ),
    case(
        "expiration-without-unit.conf",
        1,
        "followed by s, h, d, w, m or y",
        true,
    ),
    case(
        "bad-protocol.conf",
        2,
        "'protocol' expects mqtt, websockets or http_api, got 'mqtts'",
        true,
    ),
    case(
        "packet-size-too-small.conf",
        1,
        "'max_packet_size' must be at least 20",
        true,
    ),
    case(
        "certfile-without-keyfile.conf",
        1,
        "'certfile' and 'keyfile' must both be given",
        false,
    ),
    case(
        "listener-not-a-number.conf",
        1,
        "expects a port number between 0 and 65535, got 'abc'",
        true,
    ),
    case("empty-log-type.conf", 2, "'log_type' needs a value", false),
    case(
        "unknown-keyform.conf",
        4,
        "'tls_keyform' expects pem, engine or uri, got 'der'",
        false,
    ),
];

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/broken")
        .join(name)
}

#[test]
fn each_broken_file_gives_exactly_one_clear_error() {
    for c in CASES {
        let path = fixture(c.file);
        let errors = match parse_file(&path, &FsLoader) {
            Ok(_) => panic!("{} parsed without error", c.file),
            Err(e) => e,
        };
        assert_eq!(errors.len(), 1, "{}: {errors}", c.file);
        let e = &errors.errors[0];
        assert_eq!(e.file, path, "{}", c.file);
        assert_eq!(e.line, c.line, "{}: {e}", c.file);
        assert!(e.message.contains(c.needle), "{}: {e}", c.file);
        let shown = e.to_string();
        assert!(
            shown.starts_with(&format!("{}:{}: ", path.display(), c.line)),
            "{shown}"
        );
    }
}

#[test]
fn every_broken_fixture_has_a_case() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/broken");
    let mut on_disk: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = CASES.iter().map(|c| c.file.to_owned()).collect();
    listed.sort();
    assert_eq!(on_disk, listed);
}

/// Run the real Mosquitto on every fixture it is expected to reject and
/// check that it exits with an error. Needs `mosquitto` on the PATH; run
/// with `cargo test -p komar-config -- --ignored`.
#[test]
#[ignore = "needs the mosquitto binary"]
fn cross_check_with_mosquitto() {
    if Command::new("mosquitto").arg("-h").output().is_err() {
        eprintln!("mosquitto not installed; skipping");
        return;
    }
    for c in CASES.iter().filter(|c| c.mosquitto_rejects) {
        let mut child = Command::new("mosquitto")
            .arg("-c")
            .arg(fixture(c.file))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::yield_now();
        };
        match status {
            Some(s) => assert!(!s.success(), "mosquitto accepted {}", c.file),
            None => panic!("mosquitto kept running with {}", c.file),
        }
    }
}
