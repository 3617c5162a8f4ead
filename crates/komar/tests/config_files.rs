//! Real and broken configuration files given to the `komar` binary:
//! Debian's default `/etc/mosquitto/mosquitto.conf`, a gateway-style file,
//! the Raspberry Pi WebSockets example (MQTT and WebSockets listeners both
//! serving clients), and files with one mistake each —
//! exit codes, `file:line:` messages, `--test-config`.

mod common;

use std::path::Path;

use common::config::{run_komar, Conf, Finished};
use common::{scratch_dir, unique, Komar, MosquittoSub};

/// Run `komar -c path` (or `--test-config -c path`) to its end.
fn check(path: &Path, test_config: bool) -> Finished {
    let p = path.display().to_string();
    let done = if test_config {
        run_komar(&["--test-config", "-c", &p])
    } else {
        run_komar(&["-c", &p])
    };
    assert!(
        !done.stderr.contains("panicked") && !done.stdout.contains("panicked"),
        "komar panicked: {}",
        done.stderr
    );
    done
}

/// The `Error:` lines komar printed.
fn errors(done: &Finished) -> Vec<&str> {
    done.stderr
        .lines()
        .filter(|l| l.starts_with("Error: "))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debian_default_config_runs_with_persistence() {
    const DEBIAN: &str = "/etc/mosquitto/mosquitto.conf";
    let original = std::fs::read_to_string(DEBIAN).expect("Debian's mosquitto package");
    assert!(original.contains("persistence true"), "{original}");
    // Only the paths change, so nothing outside the scratch directory is
    // touched.
    let dir = scratch_dir("debian");
    std::fs::create_dir_all(dir.join("conf.d")).unwrap();
    let d = dir.display();
    let text = original
        .replace("/run/mosquitto/", &format!("{d}/"))
        .replace("/var/lib/mosquitto/", &format!("{d}/"))
        .replace("/var/log/mosquitto/", &format!("{d}/"))
        .replace("/etc/mosquitto/conf.d", &format!("{d}/conf.d"));
    let path = dir.join("mosquitto.conf");
    std::fs::write(&path, &text).unwrap();
    // As Debian's package does for /var/lib/mosquitto: the broker drops
    // to `mosquitto` before opening its store there.
    let chown = std::process::Command::new("chown")
        .arg("mosquitto:")
        .arg(&dir)
        .status()
        .unwrap();
    assert!(chown.success());
    let done = check(&path, true);
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert!(errors(&done).is_empty(), "{}", done.stderr);
    // The untouched file is valid too.
    let done = check(Path::new(DEBIAN), true);
    assert_eq!(done.code, 0, "{}", done.stderr);

    // It serves on `-p` (the file has no listener) and keeps a retained
    // message in its store across a restart.
    let port = common::free_port();
    let args = || {
        vec![
            "-c".to_owned(),
            path.display().to_string(),
            "-p".to_owned(),
            port.to_string(),
        ]
    };
    let topic = unique("debian/retained");
    let mut k = Komar::spawn(args(), port);
    assert_eq!(
        common::mosquitto_pub(port, &["-t", &topic, "-m", "kept", "-r", "-q", "1"]),
        0
    );
    assert!(dir.join("mosquitto.pid").exists());
    assert!(k.signal_and_wait("TERM").success());
    assert!(dir.join("komar.db").is_dir());
    assert!(!dir.join("mosquitto.db").exists());
    let _k = Komar::spawn(args(), port);
    let mut sub = MosquittoSub::start(port, &["-t", &topic, "-C", "1"]);
    assert_eq!(sub.line().await, "kept");
    let log = std::fs::read_to_string(dir.join("mosquitto.log")).unwrap_or_default();
    assert!(log.contains("Restored 0 sessions"), "{log}");
    assert!(log.contains("and 1 retained messages"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_style_config_serves_clients() {
    let k = Komar::start_with_config(
        "# An IoT gateway: anonymous clients on every interface.\n\
         allow_anonymous true\n\
         log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\n\
         log_timestamp_format %Y-%m-%dT%H:%M:%S\n\
         max_queued_messages 5000\nmax_inflight_messages 40\n\
         listener {port} 0.0.0.0\nmax_connections 500\n",
    );
    // Tests talk to 127.0.0.1 only; the listener is bound to every IPv4
    // interface.
    let topic = unique("gw");
    assert_eq!(
        common::mosquitto_pub(k.port, &["-t", &topic, "-m", "hello", "-r", "-q", "1"]),
        0
    );
    let mut sub = MosquittoSub::start(k.port, &["-t", &topic, "-C", "1", "-v"]);
    assert_eq!(sub.line().await, format!("{topic} hello"));
    assert_eq!(sub.wait().await, 0);
    // The log honours log_timestamp_format and log_type notice.
    let line = k.wait_log("Opening listen socket on 0.0.0.0:");
    assert!(
        line.as_bytes().get(4) == Some(&b'-') && line.as_bytes().get(10) == Some(&b'T'),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raspberry_pi_websockets_example_serves_both_listeners() {
    let conf = Conf::write(
        "# Raspberry Pi example: MQTT on one port and WebSockets on another.\n\
         listener {port0}\nprotocol mqtt\n\n\
         listener {port1}\nprotocol websockets\n\n\
         allow_anonymous true\n",
    );
    let ws_port = conf.ports[1];
    let k = Komar::start_conf(conf);
    let topic = unique("pi/sensor");
    let mut sub = MosquittoSub::start(k.port, &["-t", &topic, "-C", "1", "-v"]);
    // Subscribed once a retained message arrives; then a paho-mqtt client
    // publishes over WebSockets.
    assert_eq!(
        common::mosquitto_pub(k.port, &["-t", &topic, "-m", "ready", "-r", "-q", "1"]),
        0
    );
    assert_eq!(sub.line().await, format!("{topic} ready"));
    let mut sub = MosquittoSub::start(k.port, &["-t", &topic, "-C", "2", "-v"]);
    assert_eq!(sub.line().await, format!("{topic} ready"));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/paho/client.py");
    let status = tokio::process::Command::new("python3")
        .args([
            script,
            "--transport",
            "websockets",
            "--port",
            &ws_port.to_string(),
        ])
        .args(["--pub", &topic, "21.5"])
        .status()
        .await
        .expect("python3 is installed");
    assert!(
        status.success(),
        "paho-mqtt over WebSockets failed (scripts/test.sh installs paho-mqtt)"
    );
    assert_eq!(sub.line().await, format!("{topic} 21.5"));
}

/// (name, text, the line the error must name, what it must say).
const BROKEN: &[(&str, &str, usize, &str)] = &[
    (
        "unknown option",
        "listener 1883 127.0.0.1\nmax_inflight 10\n",
        2,
        "unknown option 'max_inflight'",
    ),
    (
        "bad boolean",
        "listener 1883 127.0.0.1\nallow_anonymous yes\n",
        2,
        "'allow_anonymous' expects true or false",
    ),
    (
        "missing value",
        "listener 1883 127.0.0.1\npassword_file\n",
        2,
        "'password_file' needs a value",
    ),
    (
        "duplicate option",
        "listener 1883 127.0.0.1\npassword_file /tmp/a\npassword_file /tmp/b\n",
        3,
        "duplicate 'password_file'",
    ),
    (
        "option before any listener",
        "# mount_point needs a listener\nmount_point site/\nlistener 1883 127.0.0.1\n",
        2,
        "'mount_point' must come after a 'listener' line",
    ),
    (
        "missing include_dir",
        "listener 1883 127.0.0.1\ninclude_dir /nonexistent/komar-itest\n",
        2,
        "cannot open include_dir '/nonexistent/komar-itest'",
    ),
    (
        "include_dir that is a file",
        "listener 1883 127.0.0.1\ninclude_dir /etc/hostname\n",
        2,
        "include_dir '/etc/hostname'",
    ),
];

#[test]
fn each_broken_file_gives_one_clear_error_and_exit_code_3() {
    let dir = scratch_dir("broken");
    for (name, text, line, needle) in BROKEN {
        let path = dir.join(format!("{}.conf", name.replace(' ', "-")));
        std::fs::write(&path, text).unwrap();
        for test_config in [false, true] {
            let done = check(&path, test_config);
            assert_eq!(done.code, 3, "{name}: {}", done.stderr);
            let errs = errors(&done);
            assert_eq!(errs.len(), 1, "{name}: {errs:?}");
            let prefix = format!("Error: {}:{line}: ", path.display());
            assert!(
                errs[0].starts_with(&prefix) && errs[0].contains(needle),
                "{name}: wanted {prefix}...{needle}..., got {errs:?}"
            );
        }
    }
}

#[test]
fn test_config_accepts_a_good_file_and_lists_every_problem_of_a_bad_one() {
    let good =
        Conf::write("listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 10\n");
    let done = check(&good.path, true);
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert!(errors(&done).is_empty(), "{}", done.stderr);
    // --test-config only checks: nothing listens.
    assert!(std::net::TcpStream::connect(("127.0.0.1", good.ports[0])).is_err());

    let dir = scratch_dir("bad");
    let path = dir.join("bad.conf");
    std::fs::write(
        &path,
        "mount_point early/\n\
         listener 1883 127.0.0.1\n\
         max_inflight 10\n\
         allow_anonymous yes\n\
         acl_file\n\
         password_file /tmp/a\n\
         password_file /tmp/b\n\
         include_dir /nonexistent/komar-itest\n",
    )
    .unwrap();
    let done = check(&path, true);
    assert_eq!(done.code, 3, "{}", done.stderr);
    let errs = errors(&done);
    for (line, needle) in [
        (1, "mount_point"),
        (3, "max_inflight"),
        (4, "allow_anonymous"),
        (5, "acl_file"),
        (7, "duplicate 'password_file'"),
        (8, "include_dir"),
    ] {
        let prefix = format!("Error: {}:{line}: ", path.display());
        assert!(
            errs.iter()
                .any(|e| e.starts_with(&prefix) && e.contains(needle)),
            "line {line} ({needle}) not reported: {errs:?}"
        );
    }
    assert_eq!(errs.len(), 6, "{errs:?}");
}
