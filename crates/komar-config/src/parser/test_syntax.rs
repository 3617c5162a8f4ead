//! Tests of the lexical and structural rules of mosquitto.conf.

use super::test_support::{errs, ok, one_err, warnings};
use crate::options::OPTIONS;
use crate::parse_str;

#[test]
fn empty_and_comment_only_files_are_local_only() {
    for text in ["", "\n\n", "# only a comment\n#another", "   \n  \r\n"] {
        let c = ok(text);
        assert!(c.local_only);
        assert!(c.listeners.is_empty());
        assert!(c.options.is_empty());
    }
}

#[test]
fn comment_must_start_in_column_one() {
    one_err("sys_interval 5\n  # indented comment\n", 2, "first column");
}

#[test]
fn crlf_line_endings() {
    let c = ok("sys_interval 5\r\npid_file /run/m.pid\r\n");
    assert_eq!(c.sys_interval, 5);
    assert_eq!(
        c.pid_file.as_deref(),
        Some(std::path::Path::new("/run/m.pid"))
    );
}

#[test]
fn leading_spaces_and_repeated_separators_are_allowed() {
    let c = ok("   sys_interval     7\n");
    assert_eq!(c.sys_interval, 7);
}

#[test]
fn tab_does_not_separate_name_and_value() {
    one_err("sys_interval\t7\n", 1, "tab");
    one_err("\tsys_interval 7\n", 1, "unknown option");
}

#[test]
fn tab_after_word_value_is_part_of_it() {
    // Mosquitto: "Invalid allow_anonymous value (true\t)".
    one_err("allow_anonymous true\t\n", 1, "expects true or false");
}

#[test]
fn names_are_case_sensitive() {
    one_err(
        "Allow_Anonymous true\n",
        1,
        "did you mean 'allow_anonymous'",
    );
}

#[test]
fn unknown_option_is_fatal_and_all_errors_are_reported() {
    let e = errs("bogus 1\nsys_interval 5\nalso_bogus\nallow_anonymous maybe\n");
    let lines: Vec<usize> = e.iter().map(|(l, _)| *l).collect();
    assert_eq!(lines, vec![1, 3, 4]);
    assert!(e[0].1.contains("unknown option 'bogus'"));
}

#[test]
fn error_display_is_file_line_message() {
    let e = parse_str("\n\nallow_anonymous yes\n", "/etc/mosquitto/mosquitto.conf").unwrap_err();
    assert_eq!(
        e.to_string(),
        "/etc/mosquitto/mosquitto.conf:3: 'allow_anonymous' expects true or false (or 1/0), got 'yes'"
    );
}

#[test]
fn empty_values_are_errors() {
    one_err("allow_anonymous\n", 1, "'allow_anonymous' needs a value");
    one_err("sys_interval\n", 1, "'sys_interval' needs a value");
    one_err("pid_file\n", 1, "'pid_file' needs a value");
    one_err("pid_file    \n", 1, "'pid_file' needs a value");
    one_err("log_type\n", 1, "'log_type' needs a value");
    one_err("max_connections\n", 1, "'max_connections' needs a value");
}

#[test]
fn booleans_accept_true_false_1_0_only() {
    assert!(ok("set_tcp_nodelay 1\n").set_tcp_nodelay);
    assert!(ok("set_tcp_nodelay true\n").set_tcp_nodelay);
    assert!(!ok("set_tcp_nodelay 0\n").set_tcp_nodelay);
    for bad in ["yes", "on", "True", "TRUE", "no"] {
        one_err(
            &format!("set_tcp_nodelay {bad}\n"),
            1,
            "expects true or false",
        );
    }
}

#[test]
fn integers_reject_what_atoi_would_misread() {
    // Mosquitto 2.0: atoi("lots") == 0 == "unlimited". Komar: an error.
    one_err(
        "max_queued_messages lots\n",
        1,
        "expects an integer, got 'lots'",
    );
    one_err(
        "max_queued_messages 12k\n",
        1,
        "expects an integer, got '12k'",
    );
    one_err("max_queued_messages 99999999999\n", 1, "out of range");
}

#[test]
fn string_values_take_the_rest_of_the_line_trimmed() {
    let c = ok("pid_file   /var/run/my dir/m.pid  \t\n");
    assert_eq!(
        c.pid_file.as_deref(),
        Some(std::path::Path::new("/var/run/my dir/m.pid"))
    );
}

#[test]
fn string_values_keep_hash_and_warn() {
    let c = ok("pid_file /run/m.pid # the pid\n");
    assert_eq!(
        c.pid_file.as_deref(),
        Some(std::path::Path::new("/run/m.pid # the pid"))
    );
    assert!(warnings(&c)[0].1.contains("no end-of-line comments"));
}

#[test]
fn string_values_reject_control_characters() {
    one_err("pid_file /run/a\tb\n", 1, "a tab");
    one_err("pid_file /run/a\u{7f}\n", 1, "U+007F");
}

#[test]
fn word_values_ignore_trailing_text_with_a_warning() {
    let c = ok("sys_interval 5 seconds\nset_tcp_nodelay true # fast\n");
    assert_eq!(c.sys_interval, 5);
    let w = warnings(&c);
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].0, 1);
    assert!(w[0].1.contains("ignoring 'seconds'"));
}

#[test]
fn duplicate_string_options_are_errors_numbers_and_bools_last_wins() {
    one_err("pid_file /a\npid_file /b\n", 2, "duplicate 'pid_file'");
    one_err("user a\nuser b\n", 2, "duplicate 'user'");
    let c = ok("sys_interval 5\nsys_interval 6\nset_tcp_nodelay true\nset_tcp_nodelay false\n");
    assert_eq!(c.sys_interval, 6);
    assert!(!c.set_tcp_nodelay);
}

#[test]
fn options_are_recorded_in_order_with_canonical_names() {
    let c = ok("auth_plugin /p.so\nauth_opt_host db\nlistener 1883\nmaximum_qos 1\n");
    let got: Vec<(&str, &str, usize)> = c
        .options
        .iter()
        .map(|o| (o.name.as_str(), o.canonical, o.line))
        .collect();
    assert_eq!(
        got,
        vec![
            ("auth_plugin", "plugin", 1),
            ("auth_opt_host", "plugin_opt_*", 2),
            ("listener", "listener", 3),
            ("maximum_qos", "max_qos", 4),
        ]
    );
    assert_eq!(c.uses_of("max_qos").count(), 1);
    assert!(c
        .warnings
        .iter()
        .any(|w| w.message.contains("'auth_plugin' is deprecated")));
}

#[test]
fn range_errors_say_the_range() {
    one_err(
        "sys_interval -1\n",
        1,
        "'sys_interval' must be between 0 and 65535, got -1",
    );
}

#[test]
fn every_known_option_has_a_handler() {
    // A context where every option is allowed, then each option with a
    // plausible value: no "internal error" may appear.
    let prelude =
        "listener 1883\nconnection b\naddress h\ntopic #\nplugin /p.so\nplugin_load n /n.so\n";
    for spec in OPTIONS {
        let value = match spec.name {
            "listener" => "1884",
            "include_dir" => "/nonexistent",
            "plugin_use" | "plugin_load" => "n /x.so",
            "persistent_client_expiration" => "1d",
            "log_dest" => "stdout",
            "log_type" => "all",
            "protocol" => "mqtt",
            "socket_domain" => "ipv4",
            "start_type" => "lazy",
            "bridge_reload_type" => "lazy",
            "bridge_protocol_version" => "mqttv50",
            "tls_version" | "bridge_tls_version" => "tlsv1.2",
            "tls_keyform" => "pem",
            "tls_engine_kpass_sha1" => "0000000000000000000000000000000000000000",
            "bridge_tcp_keepalive" => "1 2 3",
            "accept_protocol_versions" => "4,5",
            "max_packet_size" => "100",
            _ => "1",
        };
        let text = format!("{prelude}{} {value}\n", spec.name);
        if let Err(e) = parse_str(&text, "t.conf") {
            for err in &e.errors {
                assert!(
                    !err.message.contains("internal error"),
                    "{}: {}",
                    spec.name,
                    err.message
                );
            }
        }
    }
}
