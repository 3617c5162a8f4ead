//! Real-world configurations that must parse: Debian's default
//! `/etc/mosquitto/mosquitto.conf` (with its `conf.d`), a gateway-style
//! configuration, and the Raspberry Pi websockets example.

use std::path::{Path, PathBuf};

use komar_config::{
    parse_file, parse_str, Direction, FsLoader, ListenerAddress, LogDest, MemLoader, Protocol,
};

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn debian_default_config_with_empty_conf_d() {
    let loader = MemLoader::new()
        .with_file(
            "/etc/mosquitto/mosquitto.conf",
            fixture("debian-mosquitto.conf"),
        )
        .with_file(
            "/etc/mosquitto/conf.d/README",
            fixture("debian-conf.d-README"),
        );
    let c = parse_file(Path::new("/etc/mosquitto/mosquitto.conf"), &loader).unwrap();
    assert_eq!(
        c.pid_file,
        Some(PathBuf::from("/run/mosquitto/mosquitto.pid"))
    );
    assert!(c.persistence);
    assert_eq!(
        c.persistence_location,
        Some(PathBuf::from("/var/lib/mosquitto/"))
    );
    assert_eq!(
        c.log_dest,
        Some(vec![LogDest::File(PathBuf::from(
            "/var/log/mosquitto/mosquitto.log"
        ))])
    );
    assert_eq!(
        c.files,
        vec![PathBuf::from("/etc/mosquitto/mosquitto.conf")]
    );
    assert!(c.local_only, "Debian's default is local-only mode");
    assert!(c.listeners.is_empty());
    assert!(c.allow_anonymous_for(None));
    assert!(c.warnings.is_empty());
    let names: Vec<&str> = c.options.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "pid_file",
            "persistence",
            "persistence_location",
            "log_dest",
            "include_dir"
        ]
    );
}

#[test]
fn debian_default_config_with_a_local_conf_on_disk() {
    // The layout Debian users get: drop a file into conf.d.
    let root = std::env::temp_dir().join(format!("komar-config-debian-{}", std::process::id()));
    let confd = root.join("conf.d");
    std::fs::create_dir_all(&confd).unwrap();
    let main = root.join("mosquitto.conf");
    let text = fixture("debian-mosquitto.conf")
        .replace("/etc/mosquitto/conf.d", &confd.display().to_string());
    std::fs::write(&main, text).unwrap();
    std::fs::write(confd.join("README"), fixture("debian-conf.d-README")).unwrap();
    std::fs::write(
        confd.join("local.conf"),
        "listener 1883\nallow_anonymous false\npassword_file /etc/mosquitto/passwd\n",
    )
    .unwrap();
    std::fs::write(
        confd.join("00-first.conf"),
        "listener 8080\nprotocol websockets\n",
    )
    .unwrap();

    let c = parse_file(&main, &FsLoader).unwrap();
    std::fs::remove_dir_all(&root).unwrap();

    assert_eq!(c.files.len(), 3);
    assert!(c.files[1].ends_with("00-first.conf"));
    assert!(c.files[2].ends_with("local.conf"));
    assert!(!c.local_only);
    assert_eq!(c.listeners.len(), 2);
    assert_eq!(c.listeners[0].protocol, Protocol::Websockets);
    assert_eq!(c.listeners[1].port(), 1883);
    assert_eq!(
        c.security.password_file,
        Some(PathBuf::from("/etc/mosquitto/passwd"))
    );
    assert!(!c.allow_anonymous_for(c.listeners.get(1)));
}

#[test]
fn installed_debian_config_if_present() {
    let path = Path::new("/etc/mosquitto/mosquitto.conf");
    if !path.exists() {
        return;
    }
    if let Err(e) = parse_file(path, &FsLoader) {
        panic!("the installed mosquitto.conf does not parse:\n{e}");
    }
}

#[test]
fn mosquitto_example_config_if_present() {
    // Every line of the shipped example is a comment.
    let path = Path::new("/usr/share/doc/mosquitto/examples/mosquitto.conf");
    let Ok(text) = std::fs::read_to_string(path) else {
        return;
    };
    let c = parse_str(&text, "mosquitto.conf.example").unwrap();
    assert!(c.options.is_empty());
}

#[test]
fn gateway_config() {
    let c = parse_str(&fixture("gateway.conf"), "gateway.conf").unwrap();
    assert!(!c.local_only);
    assert_eq!(c.security.allow_anonymous, Some(true));
    assert_eq!(c.listeners.len(), 2);
    assert_eq!(
        c.listeners[0].address,
        ListenerAddress::Tcp {
            port: 1883,
            host: Some("0.0.0.0".into())
        }
    );
    assert_eq!(c.listeners[0].max_connections, 500);
    assert_eq!(c.listeners[1].protocol, Protocol::Websockets);
    for l in &c.listeners {
        assert!(c.allow_anonymous_for(Some(l)));
    }
    assert!(!c.default_listener_in_use());
    assert_eq!(c.max_queued_messages, 5000);
    let b = &c.bridges[0];
    assert_eq!(b.addresses[0].port, 8883);
    assert_eq!(b.topics.len(), 2);
    assert_eq!(b.topics[0].remote_topic(), "site17/sensors/#");
    assert_eq!(b.topics[0].local_topic(), "sensors/#");
    assert_eq!(b.topics[1].direction, Direction::In);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn raspberry_pi_websockets_example() {
    let c = parse_str(&fixture("rpi-websockets.conf"), "rpi.conf").unwrap();
    let got: Vec<(u16, Protocol)> = c.listeners.iter().map(|l| (l.port(), l.protocol)).collect();
    assert_eq!(
        got,
        vec![(1883, Protocol::Mqtt), (9001, Protocol::Websockets)]
    );
    assert!(c.allow_anonymous_for(c.listeners.first()));
    assert!(!c.default_listener_in_use());
}
