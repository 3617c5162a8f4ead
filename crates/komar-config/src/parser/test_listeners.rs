//! Tests of `listener`, the default listener and per-listener options.

use std::path::PathBuf;

use super::test_support::{errs, ok, one_err, warnings};
use crate::{KeyForm, ListenerAddress, Protocol, ProtocolVersions, SocketDomain, TlsVersion};

#[test]
fn listener_forms() {
    let c = ok("listener 1883\nlistener 8883 127.0.0.1\nlistener 0 /run/mosquitto.sock\nlistener 9001 # ws\n");
    let addrs: Vec<&ListenerAddress> = c.listeners.iter().map(|l| &l.address).collect();
    assert_eq!(
        addrs,
        vec![
            &ListenerAddress::Tcp {
                port: 1883,
                host: None
            },
            &ListenerAddress::Tcp {
                port: 8883,
                host: Some("127.0.0.1".into())
            },
            &ListenerAddress::Unix {
                path: PathBuf::from("/run/mosquitto.sock")
            },
            &ListenerAddress::Tcp {
                port: 9001,
                host: None
            },
        ]
    );
    assert!(!c.local_only);
    assert_eq!(c.listeners[1].defined_at.as_ref().map(|l| l.line), Some(2));
    assert!(!c.default_listener_in_use());
    assert!(warnings(&c).is_empty());
}

#[test]
fn listener_errors() {
    one_err("listener\n", 1, "needs a port");
    // Mosquitto 2.0 reads "abc" as port 0 and asks for a socket path.
    one_err(
        "listener abc\n",
        1,
        "expects a port number between 0 and 65535, got 'abc'",
    );
    one_err("listener 70000\n", 1, "got '70000'");
    one_err("listener 0\n", 1, "needs a socket path");
    one_err("listener 0 # no path\n", 1, "needs a socket path");
}

#[test]
fn bad_listener_line_does_not_cascade() {
    // The options after a broken listener line apply to it, not to the
    // previous listener (which would raise "duplicate mount_point").
    let e = errs("listener 8883\nmount_point a/\nlistener x\nmount_point b/\ncafile /c\n");
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].0, 3);
}

#[test]
fn listener_options_apply_to_the_latest_listener() {
    let c = ok("\
listener 1883
protocol mqtt
max_connections 100
listener 9001
protocol websockets
http_dir /usr/share/mosquitto/www
max_qos 1
max_topic_alias 0
mount_point site/
socket_domain ipv6
bind_interface eth0
use_username_as_clientid true
");
    let (a, b) = (&c.listeners[0], &c.listeners[1]);
    assert_eq!(a.protocol, Protocol::Mqtt);
    assert_eq!(a.max_connections, 100);
    assert_eq!(a.max_qos, 2);
    assert_eq!(b.protocol, Protocol::Websockets);
    assert_eq!(b.http_dir, Some(PathBuf::from("/usr/share/mosquitto/www")));
    assert_eq!(b.max_connections, -1);
    assert_eq!(b.max_qos, 1);
    assert_eq!(b.max_topic_alias, 0);
    assert_eq!(b.mount_point.as_deref(), Some("site/"));
    assert_eq!(b.socket_domain, Some(SocketDomain::Ipv6));
    assert_eq!(b.bind_interface.as_deref(), Some("eth0"));
    assert!(b.use_username_as_clientid);
}

#[test]
fn listener_option_values() {
    assert_eq!(
        ok("listener 1\nmax_connections -9\n").listeners[0].max_connections,
        -1
    );
    one_err("listener 1\nmax_qos 3\n", 2, "between 0 and 2");
    one_err(
        "listener 1\nmax_topic_alias 70000\n",
        2,
        "between 0 and 65535",
    );
    one_err(
        "listener 1\nprotocol mqtts\n",
        2,
        "expects mqtt, websockets or http_api",
    );
    one_err(
        "listener 1\nsocket_domain ipv5\n",
        2,
        "expects ipv4 or ipv6",
    );
    one_err("listener 1\nmount_point a/+\n", 2, "wildcards");
    one_err(
        "listener 1\nmount_point a/\nmount_point b/\n",
        3,
        "duplicate 'mount_point'",
    );
    assert_eq!(ok("listener 1\nmaximum_qos 0\n").listeners[0].max_qos, 0);
    assert_eq!(
        ok("listener 1\nprotocol http_api\n").listeners[0].protocol,
        Protocol::HttpApi
    );
}

#[test]
fn mount_point_needs_a_listener() {
    one_err(
        "mount_point site/\nlistener 1883\n",
        1,
        "must come after a 'listener' line",
    );
}

#[test]
fn tls_options() {
    let c = ok("\
listener 8883
cafile /etc/ca.crt
capath /etc/ssl/certs
certfile /etc/server.crt
keyfile /etc/server.key
ciphers ECDHE-RSA-AES128-GCM-SHA256
ciphers_tls1.3 TLS_AES_128_GCM_SHA256
crlfile /etc/crl.pem
dhparamfile /etc/dh.pem
require_certificate true
use_identity_as_username true
use_subject_as_username false
tls_version tlsv1.2
tls_engine pkcs11
tls_keyform engine
tls_engine_kpass_sha1 0102030405060708090a0b0c0d0e0f1011121314
");
    let t = &c.listeners[0].tls;
    assert!(t.is_tls() && !t.is_psk());
    assert_eq!(t.cafile, Some(PathBuf::from("/etc/ca.crt")));
    assert_eq!(t.ciphers_tls13.as_deref(), Some("TLS_AES_128_GCM_SHA256"));
    assert!(t.require_certificate && t.use_identity_as_username && !t.use_subject_as_username);
    assert_eq!(t.tls_version, Some(TlsVersion::V1_2));
    assert_eq!(t.tls_keyform, KeyForm::Engine);
    assert_eq!(t.tls_engine_kpass_sha1.map(|k| k[19]), Some(0x14));
}

#[test]
fn tls_errors() {
    one_err(
        "listener 8883\npsk_hint h\ncafile /a\n",
        3,
        "either certificates or PSK",
    );
    one_err(
        "listener 8883\ntls_version tlsv1\n",
        2,
        "expects tlsv1.3, tlsv1.2 or tlsv1.1",
    );
    // Mosquitto silently treats any other keyform as pem.
    one_err(
        "listener 8883\ntls_keyform der\n",
        2,
        "expects pem, engine or uri",
    );
    one_err(
        "listener 8883\ntls_engine_kpass_sha1 abc\n",
        2,
        "40 hexadecimal digits",
    );
    one_err(
        "listener 8883\ncertfile /c\nkeyfile /k\ncafile /a\ncafile /b\n",
        5,
        "duplicate 'cafile'",
    );
}

#[test]
fn tls_listener_needs_cert_and_key() {
    // Mosquitto 2.0 would run these listeners without TLS; 2.1 refuses.
    one_err(
        "listener 8883\ncertfile /c\n",
        1,
        "'certfile' and 'keyfile' must both be given",
    );
    one_err(
        "listener 8883\nkeyfile /k\n",
        1,
        "'certfile' and 'keyfile' must both be given",
    );
    one_err(
        "listener 8883\ncafile /ca\n",
        1,
        "without 'certfile' and 'keyfile'",
    );
    // PSK listeners need neither.
    let c = ok("listener 8884\npsk_hint hint\nuse_identity_as_username true\n");
    assert!(c.listeners[0].tls.is_psk());
}

#[test]
fn options_2_1_need_an_explicit_listener() {
    let c = ok("\
listener 1883
accept_protocol_versions 4, 5
disable_client_cert_date_checks true
enable_proxy_protocol 2
proxy_protocol_v2_require_tls true
listener_allow_anonymous true
listener_auto_id_prefix gw-
max_topic_alias_broker 3
websockets_origin https://a.example
websockets_origin https://b.example
");
    let l = &c.listeners[0];
    assert_eq!(
        l.accept_protocol_versions,
        Some(ProtocolVersions {
            v31: false,
            v311: true,
            v5: true
        })
    );
    assert!(l.tls.disable_client_cert_date_checks);
    assert_eq!(l.enable_proxy_protocol, Some(2));
    assert!(l.proxy_protocol_v2_require_tls);
    assert_eq!(l.security.allow_anonymous, Some(true));
    assert_eq!(l.security.auto_id_prefix.as_deref(), Some("gw-"));
    assert_eq!(l.max_topic_alias_broker, 3);
    assert_eq!(l.websockets_origin.len(), 2);
    for opt in [
        "accept_protocol_versions 5",
        "listener_allow_anonymous true",
        "enable_proxy_protocol 1",
        "websockets_origin x",
        "max_topic_alias_broker 1",
    ] {
        one_err(&format!("{opt}\n"), 1, "must come after a 'listener' line");
    }
    one_err(
        "listener 1\nenable_proxy_protocol 3\n",
        2,
        "between 1 and 2",
    );
    one_err("listener 1\naccept_protocol_versions 4,6\n", 2, "got '6'");
    one_err("listener 1\naccept_protocol_versions\n", 2, "needs a value");
}

#[test]
fn default_listener_from_port_and_bind_address() {
    let c = ok("port 1884\nbind_address 127.0.0.1\n");
    assert!(!c.local_only);
    assert!(c.default_listener_in_use());
    assert_eq!(
        c.default_listener.address,
        ListenerAddress::Tcp {
            port: 1884,
            host: Some("127.0.0.1".into())
        }
    );
    let w = warnings(&c);
    assert!(w.iter().any(|(_, m)| m.contains("'port' is deprecated")));
    assert!(w
        .iter()
        .any(|(_, m)| m.contains("'bind_address' is deprecated")));
}

#[test]
fn port_twice_warns_and_keeps_the_last() {
    let c = ok("port 1\nport 2\n");
    assert_eq!(c.port, Some(2));
    assert!(warnings(&c)
        .iter()
        .any(|(l, m)| *l == 2 && m.contains("multiple times")));
    one_err(
        "bind_address a\nbind_address b\n",
        2,
        "duplicate 'bind_address'",
    );
    one_err("port 0\n", 1, "between 1 and 65535");
}

#[test]
fn options_before_the_first_listener_go_to_the_default_listener() {
    let c = ok("max_qos 1\nprotocol websockets\nlistener 1883\n");
    assert_eq!(c.default_listener.max_qos, 1);
    assert_eq!(c.default_listener.protocol, Protocol::Websockets);
    assert_eq!(c.listeners[0].max_qos, 2);
    assert!(c.default_listener_in_use());
    assert_eq!(
        c.default_listener.address,
        ListenerAddress::Tcp {
            port: 1883,
            host: None
        }
    );
}

#[test]
fn default_listener_in_use_follows_mosquitto_2_0_list() {
    // Mosquitto 2.0 opens 0.0.0.0:1883 for this but stays in local-only
    // mode for allow_anonymous (checked against the real broker).
    let c = ok("max_connections 10\n");
    assert!(c.default_listener_in_use());
    assert!(c.local_only);
    // Not in Mosquitto's list: kept, but the default listener stays closed.
    for opt in ["max_topic_alias 5", "http_dir /www", "tls_version tlsv1.2"] {
        let c = ok(&format!("{opt}\n"));
        assert!(!c.default_listener_in_use(), "{opt}");
    }
    for opt in [
        "bind_interface lo",
        "use_username_as_clientid true",
        "socket_domain ipv4",
        "tls_keyform engine",
        "psk_hint x",
        "require_certificate true",
    ] {
        let c = ok(&format!("{opt}\n"));
        assert!(c.default_listener_in_use(), "{opt}");
    }
}

#[test]
fn tls_checks_apply_to_a_used_default_listener() {
    one_err(
        "port 8883\ncertfile /c\n",
        1,
        "default listener (port 8883)",
    );
}
