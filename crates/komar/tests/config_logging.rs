//! Logging and process options of `mosquitto.conf` through the real
//! binary: `log_dest file`, `log_type subscribe`, `log_dest topic`,
//! `log_timestamp`, `pid_file`, `user`.

mod common;

use common::config::{wait_file_line, Conf};
use common::{unique, v4, Komar, TIMEOUT};
use rumqttc::{Event, Packet, QoS};

/// Connect `id`, subscribe to `filter` at QoS 1 and wait for the SUBACK.
async fn subscribe_as(port: u16, id: &str, filter: &str) {
    let (c, mut el, _) = v4::connect(v4::options(id, port)).await;
    c.subscribe(filter, QoS::AtLeastOnce).await.unwrap();
    v4::suback(&mut el).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_dest_file_writes_lines_there() {
    let k = Komar::start_with_config(
        "listener {port} 127.0.0.1\nallow_anonymous true\nlog_dest file {dir}/broker.log\n",
    );
    let file = k.conf.file("broker.log");
    let line = wait_file_line(&file, "Opening listen socket on 127.0.0.1:");
    assert!(line.contains(&k.port.to_string()), "{line}");
    let id = unique("client");
    let (_c, _el, _) = v4::connect(v4::options(&id, k.port)).await;
    wait_file_line(&file, "New client connected from 127.0.0.1:");
    wait_file_line(&file, &format!(" as {id} (p4, c1, k30)."));
    // Only the file: nothing went to stderr.
    assert!(
        !k.log_text().contains("Opening listen socket"),
        "{}",
        k.log_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_type_subscribe_logs_client_qos_and_filter() {
    let k = Komar::start_with_config(
        "listener {port} 127.0.0.1\nallow_anonymous true\n\
         log_dest file {dir}/broker.log\nlog_type subscribe\nlog_timestamp false\n",
    );
    let id = unique("subber");
    subscribe_as(k.port, &id, "s/+/t").await;
    let file = k.conf.file("broker.log");
    let line = wait_file_line(&file, &id);
    assert_eq!(line, format!("{id} 1 s/+/t"));
    // Only subscriptions were asked for: the start-up notices are absent
    // (they were logged before the subscription, had they been on).
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains("Opening listen socket"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_timestamp_false_and_default() {
    let plain = Komar::start_with_config(
        "listener {port} 127.0.0.1\nallow_anonymous true\nlog_timestamp false\n",
    );
    let line = plain.wait_log("Opening listen socket");
    assert!(line.starts_with("Opening listen socket on "), "{line}");
    let stamped = Komar::start_with_config("listener {port} 127.0.0.1\nallow_anonymous true\n");
    let line = stamped.wait_log("Opening listen socket");
    // Mosquitto's default: seconds since the epoch, a colon, a space.
    let (stamp, rest) = line.split_once(": ").expect("a timestamp");
    assert!(
        stamp.len() >= 10 && stamp.bytes().all(|b| b.is_ascii_digit()),
        "{line}"
    );
    assert!(rest.starts_with("Opening listen socket on "), "{line}");
}

/// Subscribe to `$SYS/broker/log/#` and return the (topic, payload) of
/// the first log message whose payload contains `needle`, while `trigger`
/// runs.
async fn log_topic_message(
    port: u16,
    needle: &str,
    trigger: impl std::future::Future,
) -> (String, String) {
    let (c, mut el, _) = v4::connect(v4::options(&unique("logwatch"), port)).await;
    c.subscribe("$SYS/broker/log/#", QoS::AtMostOnce)
        .await
        .unwrap();
    v4::suback(&mut el).await;
    let (_, found) = tokio::join!(trigger, async {
        tokio::time::timeout(TIMEOUT, async {
            loop {
                if let Event::Incoming(Packet::Publish(p)) = el.poll().await.expect("connection") {
                    let text = String::from_utf8_lossy(&p.payload).into_owned();
                    if text.contains(needle) {
                        return (p.topic, text);
                    }
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no $SYS/broker/log message with {needle:?}"))
    });
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_dest_topic_publishes_under_sys_broker_log() {
    let k = Komar::start_with_config(
        "listener {port} 127.0.0.1\nallow_anonymous true\nlog_dest topic\nlog_type all\n",
    );
    let id = unique("visible");
    let (topic, text) = log_topic_message(k.port, &format!("as {id} "), async {
        let (_c, _el, _) = v4::connect(v4::options(&id, k.port)).await;
    })
    .await;
    assert!(topic.starts_with("$SYS/broker/log/"), "{topic}");
    assert!(text.contains("New client connected from"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_dest_topic_uses_mosquittos_subscribe_topic() {
    let k = Komar::start_with_config(
        "listener {port} 127.0.0.1\nallow_anonymous true\nlog_dest topic\nlog_type all\n",
    );
    let id = unique("subber");
    let (topic, text) = log_topic_message(k.port, &format!("{id} 1 foo/bar"), async {
        subscribe_as(k.port, &id, "foo/bar").await;
    })
    .await;
    assert_eq!(topic, "$SYS/broker/log/M/subscribe", "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_messages_are_notices_as_in_mosquitto() {
    let k = Komar::start_with_config(
        "listener {port} 127.0.0.1\nallow_anonymous true\n\
         log_dest file {dir}/broker.log\nlog_type notice\n",
    );
    let id = unique("noticed");
    let (_c, _el, _) = v4::connect(v4::options(&id, k.port)).await;
    wait_file_line(&k.conf.file("broker.log"), &format!(" as {id} "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pid_file_holds_the_pid_and_is_removed_on_exit() {
    let mut k = Komar::start_with_config(
        "listener {port} 127.0.0.1\nallow_anonymous true\npid_file {dir}/komar.pid\n",
    );
    let pid_file = k.conf.file("komar.pid");
    let text = std::fs::read_to_string(&pid_file).expect("pid file written");
    assert_eq!(text.trim(), k.pid().to_string());
    let status = k.signal_and_wait("TERM");
    assert!(status.success(), "{status}");
    assert!(!pid_file.exists(), "pid file left behind");
}

/// The real user id of process `pid`.
fn uid_of(pid: u32) -> u32 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .expect("a Uid line");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The user id of `name`, from `id -u`.
fn uid_named(name: &str) -> Option<u32> {
    let out = std::process::Command::new("id")
        .args(["-u", name])
        .output()
        .ok()?;
    String::from_utf8(out.stdout).ok()?.trim().parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_root_keeps_root_and_the_default_drops_privileges() {
    if uid_of(std::process::id()) != 0 {
        eprintln!("not running as root: privilege dropping cannot be observed");
        return;
    }
    let root = Komar::start_with_config("listener {port} 127.0.0.1\nallow_anonymous true\n");
    // A CONNACK means the broker is serving, which it does only after
    // dropping (or keeping) privileges.
    let (_c, _el, _) = v4::connect(v4::options(&unique("r"), root.port)).await;
    assert_eq!(uid_of(root.pid()), 0);

    let dropped = Komar::start_conf(Conf::write_as_is(
        "listener {port} 127.0.0.1\nallow_anonymous true\n",
    ));
    let (_c, _el, _) = v4::connect(v4::options(&unique("d"), dropped.port)).await;
    let expected = uid_named("mosquitto")
        .or_else(|| uid_named("nobody"))
        .expect("a mosquitto or nobody user");
    assert_eq!(uid_of(dropped.pid()), expected);
    assert_ne!(expected, 0);
}
