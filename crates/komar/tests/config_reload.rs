//! SIGHUP reload through real clients: a user added to the password file
//! gets in without a restart while connected clients keep receiving; a
//! broken file keeps the running configuration (and says where it is
//! broken); an ACL change applies to clients already connected.

mod common;

use common::config::{mosquitto_passwd, v4_connect_code, Conf, Configured};
use common::{unique, v4, Komar, TIMEOUT};
use rumqttc::{ConnectReturnCode as Rc4, Packet, QoS};
use std::time::Instant;

const CONF: &str = "listener {port} 127.0.0.1\nallow_anonymous false\n\
                    password_file {dir}/passwd\nacl_file {dir}/acl\n";

const ACL: &str = "user alice\ntopic readwrite a/#\nuser bob\ntopic readwrite #\n";

/// A broker with alice (and, when `with_bob`, bob) in its password file.
fn broker(with_bob: bool) -> Configured {
    let conf = Conf::write(CONF);
    mosquitto_passwd(&conf.file("passwd"), "alice", "alice-pw", true);
    if with_bob {
        mosquitto_passwd(&conf.file("passwd"), "bob", "bob-pw", false);
    }
    std::fs::write(conf.file("acl"), ACL).unwrap();
    Komar::start_conf(conf)
}

fn user(id: &str, port: u16, name: &str) -> rumqttc::MqttOptions {
    let mut o = v4::options(id, port);
    o.set_credentials(name, format!("{name}-pw"));
    o
}

/// Connect until the broker accepts (after a reload it may take a moment
/// to apply); fails after the timeout.
async fn until_accepted(port: u16, name: &str) {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match v4_connect_code(user(&unique(name), port, name)).await {
            Ok(()) => return,
            Err(code) => assert!(
                Instant::now() < deadline,
                "{name} still refused ({code:?}) after the reload"
            ),
        }
    }
}

async fn next_topic(d: &mut v4::Driven) -> String {
    match d.until(|p| matches!(p, Packet::Publish(_))).await {
        Packet::Publish(p) => p.topic,
        _ => unreachable!(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_lets_a_new_user_in_without_dropping_anyone() {
    let mut k = broker(false);
    let pid = k.pid();
    let mut alice = v4::driven(user(&unique("alice"), k.port, "alice")).await;
    alice.subscribe("a/#", QoS::AtLeastOnce).await.unwrap();
    alice.until(|p| matches!(p, Packet::SubAck(_))).await;
    assert_eq!(
        v4_connect_code(user(&unique("bob"), k.port, "bob")).await,
        Err(Rc4::BadUserNamePassword)
    );

    mosquitto_passwd(&k.conf.file("passwd"), "bob", "bob-pw", false);
    k.signal("HUP");
    k.wait_log("Reloading config.");
    until_accepted(k.port, "bob").await;

    // Same process, and alice's connection and subscription survived.
    assert!(k.is_running());
    assert_eq!(k.pid(), pid);
    let mut bob = v4::driven(user(&unique("bob"), k.port, "bob")).await;
    bob.publish("a/after-reload", QoS::AtLeastOnce, false, "hi")
        .await
        .unwrap();
    assert_eq!(next_topic(&mut alice).await, "a/after-reload");
    bob.flush().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_file_on_reload_keeps_the_running_configuration() {
    let k = broker(true);
    // The new file would allow anonymous clients and drop the password
    // file, but it has a mistake: nothing of it may be applied.
    k.conf.rewrite(
        "listener {port} 127.0.0.1\nallow_anonymous true\nacl_file {dir}/acl\n\
         max_inflight 10\n",
    );
    let text = std::fs::read_to_string(&k.conf.path).unwrap();
    let bad_line = text
        .lines()
        .position(|l| l.starts_with("max_inflight"))
        .unwrap()
        + 1;
    k.signal("HUP");
    let line = k.wait_log(&format!("{}:{bad_line}:", k.conf.path.display()));
    assert!(line.contains("max_inflight"), "{line}");
    k.wait_log("Configuration not reloaded");
    // Old credentials still work, anonymous clients are still refused.
    assert_eq!(
        v4_connect_code(user(&unique("alice"), k.port, "alice")).await,
        Ok(())
    );
    assert_eq!(
        v4_connect_code(v4::options(&unique("anon"), k.port)).await,
        Err(Rc4::NotAuthorized)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acl_change_on_reload_applies_to_connected_clients() {
    let k = broker(true);
    let mut alice = v4::driven(user(&unique("alice"), k.port, "alice")).await;
    alice.subscribe("#", QoS::AtLeastOnce).await.unwrap();
    alice.until(|p| matches!(p, Packet::SubAck(_))).await;
    let bob = v4::driven(user(&unique("bob"), k.port, "bob")).await;
    // Before: b/... is not readable for alice (the sentinel comes first).
    bob.publish("b/x", QoS::AtLeastOnce, false, "no")
        .await
        .unwrap();
    bob.publish("a/sentinel", QoS::AtLeastOnce, false, "s")
        .await
        .unwrap();
    assert_eq!(next_topic(&mut alice).await, "a/sentinel");

    std::fs::write(
        k.conf.file("acl"),
        "user alice\ntopic readwrite a/#\ntopic read b/#\nuser bob\ntopic readwrite #\n",
    )
    .unwrap();
    k.signal("HUP");
    k.wait_log("Reloading config.");
    // After: b/... arrives. Each round publishes b/<n> then a/<n>; until
    // the reload is applied alice sees only a/<n>.
    let deadline = Instant::now() + TIMEOUT;
    for n in 0.. {
        bob.publish(format!("b/{n}"), QoS::AtLeastOnce, false, "yes")
            .await
            .unwrap();
        bob.publish(format!("a/{n}"), QoS::AtLeastOnce, false, "s")
            .await
            .unwrap();
        let first = next_topic(&mut alice).await;
        if first == format!("b/{n}") {
            assert_eq!(next_topic(&mut alice).await, format!("a/{n}"));
            return;
        }
        assert_eq!(first, format!("a/{n}"));
        assert!(Instant::now() < deadline, "the new ACL never applied");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_disconnects_clients_that_are_no_longer_allowed() {
    let k = broker(true);
    let (_alice, mut alice_el, _) = v4::connect(user(&unique("alice"), k.port, "alice")).await;
    let mut bob = v4::driven(user(&unique("bob"), k.port, "bob")).await;
    bob.subscribe("a/#", QoS::AtLeastOnce).await.unwrap();
    bob.until(|p| matches!(p, Packet::SubAck(_))).await;

    // Remove alice (Debian's tool) and reload.
    let done = common::config::run_to_end(
        std::process::Command::new("mosquitto_passwd")
            .arg("-D")
            .arg(k.conf.file("passwd"))
            .arg("alice"),
    );
    assert_eq!(done.code, 0, "{}", done.stderr);
    k.signal("HUP");
    k.wait_log("Reloading config.");
    let closed =
        tokio::time::timeout(TIMEOUT, async { while alice_el.poll().await.is_ok() {} }).await;
    assert!(
        closed.is_ok(),
        "alice is still connected after leaving the password file"
    );
    // bob is still allowed and still connected.
    bob.publish("a/still-here", QoS::AtLeastOnce, false, "x")
        .await
        .unwrap();
    assert_eq!(next_topic(&mut bob).await, "a/still-here");
}
