//! Tests of broker-wide options: defaults, clamping, logging, persistence.

use std::path::{Path, PathBuf};

use super::test_support::{ok, one_err, warnings};
use crate::{Config, LogDest, LogType};

#[test]
fn defaults_are_mosquitto_2_0() {
    let c = Config::default();
    assert_eq!(c.sys_interval, 10);
    assert_eq!(c.max_inflight_messages, 20);
    assert_eq!(c.max_queued_messages, 1000);
    assert_eq!(c.autosave_interval, 1800);
    assert!(c.retain_available);
    assert!(c.check_retain_source);
    assert!(c.connection_messages);
    assert!(c.log_timestamp);
    assert!(c.allow_duplicate_messages);
    assert!(c.local_only);
    assert_eq!(c.max_packet_size, None);
    assert_eq!(c.max_keepalive, None);
    assert_eq!(c.persistence_path(), PathBuf::from("mosquitto.db"));
    assert_eq!(c.log_destinations(), vec![LogDest::Stderr]);
    assert!(c.logs_type(LogType::Notice));
    assert!(!c.logs_type(LogType::Debug));
}

#[test]
fn broad_sample_of_global_options() {
    let c = ok("\
user mosquitto
pid_file /run/mosquitto/mosquitto.pid
persistence true
persistence_location /var/lib/mosquitto/
persistence_file komar.db
autosave_interval 60
autosave_on_changes true
persistent_client_expiration 2w
max_inflight_messages 10
max_inflight_bytes 100000
max_queued_messages 200
max_queued_bytes 1000000
queue_qos0_messages true
message_size_limit 1024
max_packet_size 2000000
max_keepalive 120
retain_available false
sys_interval 0
set_tcp_nodelay true
upgrade_outgoing_qos true
check_retain_source false
allow_duplicate_messages false
clientid_prefixes sensor-
connection_messages false
memory_limit 99999999999
log_timestamp false
log_timestamp_format %Y-%m-%dT%H:%M:%S
log_facility 3
websockets_log_level 255
websockets_headers_size 8192
enable_control_api true
global_max_clients 1000
global_max_connections -1
retain_expiry_interval 5
");
    assert_eq!(c.user.as_deref(), Some("mosquitto"));
    assert!(c.persistence);
    assert_eq!(
        c.persistence_path(),
        PathBuf::from("/var/lib/mosquitto/komar.db")
    );
    assert_eq!(c.autosave_interval, 60);
    assert!(c.autosave_on_changes);
    assert_eq!(c.persistent_client_expiration, Some(14 * 86_400));
    assert_eq!(c.max_inflight_messages, 10);
    assert_eq!(c.max_inflight_bytes, 100_000);
    assert_eq!(c.max_queued_messages, 200);
    assert_eq!(c.max_queued_bytes, 1_000_000);
    assert!(c.queue_qos0_messages);
    assert_eq!(c.message_size_limit, 1024);
    assert_eq!(c.max_packet_size, Some(2_000_000));
    assert_eq!(c.max_keepalive, Some(120));
    assert!(!c.retain_available);
    assert_eq!(c.sys_interval, 0);
    assert!(c.set_tcp_nodelay && c.upgrade_outgoing_qos);
    assert!(!c.check_retain_source && !c.allow_duplicate_messages && !c.connection_messages);
    assert_eq!(c.clientid_prefixes.as_deref(), Some("sensor-"));
    assert_eq!(c.memory_limit, Some(99_999_999_999));
    assert!(!c.log_timestamp);
    assert_eq!(c.log_timestamp_format.as_deref(), Some("%Y-%m-%dT%H:%M:%S"));
    assert_eq!(c.log_facility, Some(3));
    assert_eq!(c.websockets_log_level, Some(255));
    assert_eq!(c.websockets_headers_size, Some(8192));
    assert!(c.enable_control_api);
    assert_eq!(c.global_max_clients, Some(1000));
    assert_eq!(c.global_max_connections, None);
    assert_eq!(c.retain_expiry_interval, Some(300));
    assert!(c.local_only, "no listener was given");
}

#[test]
fn negative_limits_are_clamped_like_mosquitto() {
    let c = ok("max_queued_messages -1\nmax_inflight_bytes -5\nmax_queued_bytes -5\nautosave_interval -3\n");
    assert_eq!(c.max_queued_messages, 0);
    assert_eq!(c.max_inflight_bytes, 0);
    assert_eq!(c.max_queued_bytes, 0);
    assert_eq!(c.autosave_interval, 0);
    assert_eq!(ok("max_inflight_messages -1\n").max_inflight_messages, 0);
    assert_eq!(ok("max_inflight_messages 65535\n").max_inflight_messages, 0);
}

#[test]
fn limit_ranges() {
    one_err("max_inflight_messages 70000\n", 1, "at most 65535");
    one_err("max_packet_size 19\n", 1, "at least 20");
    one_err("max_keepalive 65536\n", 1, "between 0 and 65535");
    one_err("sys_interval 65536\n", 1, "between 0 and 65535");
    one_err(
        "message_size_limit 268435456\n",
        1,
        "between 0 and 268435455",
    );
    one_err("message_size_limit -1\n", 1, "between 0 and 268435455");
    one_err("memory_limit -1\n", 1, "must not be negative");
    one_err("log_facility 8\n", 1, "between 0 and 7");
    one_err("websockets_headers_size 70000\n", 1, "between 0 and 65535");
    one_err("retain_expiry_interval 0\n", 1, "at least 1 minute");
    assert_eq!(ok("max_keepalive 0\n").max_keepalive, Some(0));
}

#[test]
fn message_size_limit_gives_mosquittos_note() {
    let c = ok("message_size_limit 100\n");
    assert!(warnings(&c)[0].1.contains("max_packet_size"));
}

#[test]
fn persistent_client_expiration_forms() {
    assert_eq!(
        ok("persistent_client_expiration 3h\n").persistent_client_expiration,
        Some(10_800)
    );
    assert_eq!(
        ok("persistent_client_expiration 30s\n").persistent_client_expiration,
        Some(30)
    );
    assert_eq!(
        ok("persistent_client_expiration 1y\n").persistent_client_expiration,
        Some(31_536_000)
    );
    one_err(
        "persistent_client_expiration 5\n",
        1,
        "followed by s, h, d, w, m or y",
    );
    one_err("persistent_client_expiration 0d\n", 1, "positive number");
    one_err("persistent_client_expiration\n", 1, "needs a value");
}

#[test]
fn log_dest_accumulates_and_none_resets() {
    let c = ok("log_dest stdout\nlog_dest topic\nlog_dest stdout\n");
    assert_eq!(c.log_dest, Some(vec![LogDest::Stdout, LogDest::Topic]));
    let c = ok("log_dest stdout\nlog_dest none\nlog_dest syslog\n");
    assert_eq!(c.log_dest, Some(vec![LogDest::Syslog]));
    let c = ok("log_dest none\n");
    assert_eq!(c.log_destinations(), Vec::<LogDest>::new());
    let c = ok("log_dest file /var/log/mosquitto/mosquitto.log\n");
    assert_eq!(
        c.log_dest,
        Some(vec![LogDest::File(PathBuf::from(
            "/var/log/mosquitto/mosquitto.log"
        ))])
    );
}

#[test]
fn log_dest_errors() {
    one_err(
        "log_dest file /a\nlog_dest file /b\n",
        2,
        "only one log file",
    );
    one_err("log_dest file\n", 1, "needs a file name");
    one_err("log_dest bogus\n", 1, "got 'bogus'");
}

#[test]
fn log_type_all_none_and_sets() {
    let c = ok("log_type error\nlog_type warning\n");
    assert!(c.logs_type(LogType::Error) && c.logs_type(LogType::Warning));
    assert!(!c.logs_type(LogType::Notice));
    let c = ok("log_type all\n");
    assert!(c.logs_type(LogType::Debug) && c.logs_type(LogType::Subscribe));
    let c = ok("log_type all\nlog_type none\nlog_type debug\n");
    assert_eq!(c.log_type, Some(vec![LogType::Debug]));
    one_err("log_type verbose\n", 1, "got 'verbose'");
}

#[test]
fn retry_interval_is_accepted_with_a_warning() {
    let c = ok("retry_interval 20\n");
    assert!(warnings(&c)[0].1.contains("no longer available"));
}

#[test]
fn persistence_location_empty_uses_file_only() {
    let c = ok("persistence_file db.bin\n");
    assert_eq!(c.persistence_path(), Path::new("db.bin"));
}
