//! Tests of bridge (`connection`) options.

use super::test_support::{errs, ok, one_err, warnings};
use crate::{
    BridgeAddress, BridgeProtocol, Direction, ReloadType, RestartTimeout, StartType, TcpKeepalive,
    TlsVersion,
};

const MIN: &str = "connection b\naddress 10.0.0.1\ntopic #\n";

#[test]
fn a_full_bridge() {
    let c = ok("\
connection cloud
address broker.example.com:8883 backup.example.com
round_robin true
topic sensors/# out 1 local/ remote/
topic cmd/+ in 2
topic # both
topic \"\" both 0 a/b c/d
bridge_protocol_version mqttv50
cleansession true
local_cleansession false
remote_clientid gw-1
local_clientid local-gw-1
remote_username user
remote_password secret
local_username lu
local_password lp
keepalive_interval 30
start_type lazy
idle_timeout 120
threshold 5
restart_timeout 10 60
try_private false
notifications true
notifications_local_only true
notification_topic gw/state
bridge_attempt_unsubscribe false
bridge_bind_address 192.168.1.2
bridge_max_packet_size 65536
bridge_outgoing_retain false
bridge_cafile /etc/ca.crt
bridge_certfile /etc/c.crt
bridge_keyfile /etc/c.key
bridge_tls_version tlsv1.3
bridge_alpn mqtt
bridge_require_ocsp true
bridge_max_topic_alias 5
bridge_receive_maximum 100
bridge_session_expiry_interval 3600
bridge_tcp_keepalive 60 10 3
bridge_tcp_user_timeout 5000
bridge_reload_type immediate
");
    let b = &c.bridges[0];
    assert_eq!(b.name, "cloud");
    assert_eq!(
        b.addresses,
        vec![
            BridgeAddress {
                host: "broker.example.com".into(),
                port: 8883
            },
            BridgeAddress {
                host: "backup.example.com".into(),
                port: 1883
            },
        ]
    );
    assert!(b.round_robin);
    assert_eq!(b.topics.len(), 4);
    let t = &b.topics[0];
    assert_eq!(t.pattern.as_deref(), Some("sensors/#"));
    assert_eq!((t.direction, t.qos), (Direction::Out, 1));
    assert_eq!(t.local_prefix.as_deref(), Some("local/"));
    assert_eq!(t.remote_prefix.as_deref(), Some("remote/"));
    assert_eq!(t.local_topic(), "local/sensors/#");
    assert_eq!(t.remote_topic(), "remote/sensors/#");
    assert_eq!((b.topics[1].direction, b.topics[1].qos), (Direction::In, 2));
    assert_eq!(
        (b.topics[2].direction, b.topics[2].qos),
        (Direction::Both, 0)
    );
    assert_eq!(b.topics[3].pattern, None);
    assert_eq!(b.topics[3].local_topic(), "a/b");
    assert_eq!(b.protocol_version, BridgeProtocol::Mqtt5);
    assert!(b.clean_session);
    assert_eq!(b.local_clean_session, Some(false));
    assert_eq!(b.remote_clientid.as_deref(), Some("gw-1"));
    assert_eq!(b.local_clientid.as_deref(), Some("local-gw-1"));
    assert_eq!(b.remote_password.as_deref(), Some("secret"));
    assert_eq!(b.keepalive_interval, 30);
    assert_eq!(b.start_type, StartType::Lazy);
    assert_eq!((b.idle_timeout, b.threshold), (120, 5));
    assert_eq!(
        b.restart_timeout,
        RestartTimeout::Backoff {
            base: 10,
            cap: 60,
            stable_connection_period: 0
        }
    );
    assert!(!b.try_private && b.notifications && b.notifications_local_only);
    assert_eq!(b.notification_topic_or_default("h"), "gw/state");
    assert!(!b.attempt_unsubscribe && !b.outgoing_retain);
    assert_eq!(b.bind_address.as_deref(), Some("192.168.1.2"));
    assert_eq!(b.max_packet_size, 65_536);
    assert_eq!(b.tls.tls_version, Some(TlsVersion::V1_3));
    assert_eq!(b.tls.alpn.as_deref(), Some("mqtt"));
    assert!(b.tls.require_ocsp);
    assert_eq!(b.max_topic_alias, 5);
    assert_eq!(b.receive_maximum, Some(100));
    assert_eq!(b.session_expiry_interval, Some(3600));
    assert_eq!(
        b.tcp_keepalive,
        Some(TcpKeepalive {
            idle: 60,
            interval: 10,
            count: 3
        })
    );
    assert_eq!(b.tcp_user_timeout, Some(5000));
    assert_eq!(b.reload_type, ReloadType::Immediate);
    assert!(
        c.local_only,
        "a bridge alone does not leave local-only mode"
    );
}

#[test]
fn bridge_defaults() {
    let c = ok(MIN);
    let b = &c.bridges[0];
    assert_eq!(b.keepalive_interval, 60);
    assert_eq!(b.protocol_version, BridgeProtocol::Mqtt311);
    assert!(!b.clean_session);
    assert_eq!(b.local_clean_session, None);
    assert!(b.try_private && b.notifications && b.attempt_unsubscribe && b.outgoing_retain);
    assert_eq!(b.restart_timeout, RestartTimeout::default());
    assert_eq!(b.topics[0].direction, Direction::Out);
    assert_eq!(b.remote_clientid_or_default("host"), "host.b");
    assert_eq!(b.local_clientid_or_default("host"), "local.host.b");
    assert_eq!(
        b.notification_topic_or_default("host"),
        "$SYS/broker/connection/host.b/state"
    );
}

#[test]
fn aliases_share_fields() {
    let c = ok(&format!("{MIN}clientid a\nusername u\npassword p\n"));
    let b = &c.bridges[0];
    assert_eq!(b.remote_clientid.as_deref(), Some("a"));
    assert_eq!(b.remote_username.as_deref(), Some("u"));
    assert_eq!(b.remote_password.as_deref(), Some("p"));
    one_err(
        &format!("{MIN}clientid a\nremote_clientid b\n"),
        5,
        "duplicate 'remote_clientid'",
    );
}

#[test]
fn topic_line_forms() {
    let c = ok("connection b\naddress h\ntopic a/# IN\ntopic b out\ntopic c out 1 # comment\ntopic d out # c\ntopic e both 1 \"\" r/\n");
    let t = &c.bridges[0].topics;
    assert_eq!(
        t[0].direction,
        Direction::In,
        "direction is case-insensitive"
    );
    assert_eq!(t[1].qos, 0);
    assert_eq!(t[2].qos, 1);
    assert_eq!(t[3].qos, 0);
    assert_eq!(
        (t[4].local_prefix.as_deref(), t[4].remote_prefix.as_deref()),
        (None, Some("r/"))
    );
}

#[test]
fn quoted_topic_pattern_with_spaces() {
    let c = ok("connection b\naddress h\ntopic \"my topic/#\" both 1\ntopic \"plain\" in\n");
    let t = &c.bridges[0].topics;
    assert_eq!(t[0].pattern.as_deref(), Some("my topic/#"));
    assert_eq!(t[0].direction, Direction::Both);
    assert_eq!(t[1].pattern.as_deref(), Some("plain"));
    one_err(
        "connection b\naddress h\ntopic \"open both\n",
        3,
        "no closing quote",
    );
}

#[test]
fn topic_errors() {
    one_err(&format!("{MIN}topic # sideways\n"), 4, "out, in or both");
    one_err(
        &format!("{MIN}topic # both 3\n"),
        4,
        "QoS must be 0, 1 or 2",
    );
    one_err(
        &format!("{MIN}topic # both x\n"),
        4,
        "QoS must be 0, 1 or 2",
    );
    one_err(&format!("{MIN}topic\n"), 4, "needs a pattern");
    one_err(
        &format!("{MIN}topic \"\" both 1 \"\" r/\n"),
        4,
        "needs both a local and a remote prefix",
    );
    one_err(
        &format!("{MIN}topic a/+ both 1 l/+/ r/\n"),
        4,
        "local prefix 'l/+/'",
    );
    one_err(
        &format!("{MIN}topic a/#/b\n"),
        4,
        "not a valid topic filter",
    );
    one_err(
        &format!("{MIN}topic # both 0 pre\n"),
        4,
        "local prefix + pattern",
    );
}

#[test]
fn address_rules() {
    let c = ok("connection b\naddress [::1]:8883 h # backup\ntopic #\n");
    assert_eq!(c.bridges[0].addresses.len(), 2);
    assert_eq!(c.bridges[0].addresses[0].host, "[::1]");
    one_err(
        "connection b\naddress h:0\ntopic #\n",
        2,
        "invalid port '0'",
    );
    one_err(
        "connection b\naddress h:abc\ntopic #\n",
        2,
        "invalid port 'abc'",
    );
    one_err(
        "connection b\naddress\ntopic #\n",
        2,
        "needs at least one host",
    );
    one_err(
        "connection b\naddress a\naddress b\ntopic #\n",
        3,
        "only be given once",
    );
}

#[test]
fn bridge_values_clamped_like_mosquitto() {
    let c = ok(&format!("{MIN}keepalive_interval 2\nidle_timeout 0\nthreshold -1\nrestart_timeout 0\nbridge_max_packet_size -4\n"));
    let b = &c.bridges[0];
    assert_eq!(b.keepalive_interval, 5);
    assert_eq!((b.idle_timeout, b.threshold), (1, 1));
    assert_eq!(b.restart_timeout, RestartTimeout::Constant(1));
    assert_eq!(b.max_packet_size, 0);
    assert_eq!(warnings(&c).len(), 4);
    one_err(
        &format!("{MIN}keepalive_interval 70000\n"),
        4,
        "at most 65535",
    );
    one_err(
        &format!("{MIN}restart_timeout 10 5\n"),
        4,
        "lower than the base",
    );
    let c = ok(&format!("{MIN}restart_timeout 5 30 60\n"));
    assert_eq!(
        c.bridges[0].restart_timeout,
        RestartTimeout::Backoff {
            base: 5,
            cap: 30,
            stable_connection_period: 60
        }
    );
}

#[test]
fn bridge_enumerations() {
    one_err(&format!("{MIN}start_type manual\n"), 4, "not supported");
    one_err(
        &format!("{MIN}start_type sometimes\n"),
        4,
        "automatic, lazy or once",
    );
    one_err(
        &format!("{MIN}bridge_protocol_version 5\n"),
        4,
        "mqttv50, mqttv311 or mqttv31",
    );
    one_err(
        &format!("{MIN}bridge_protocol_version mqttv311 # c\n"),
        4,
        "mqttv50",
    );
    one_err(
        &format!("{MIN}bridge_reload_type later\n"),
        4,
        "lazy or immediate",
    );
    one_err(
        &format!("{MIN}bridge_receive_maximum 0\n"),
        4,
        "between 1 and 65535",
    );
    one_err(
        &format!("{MIN}bridge_tcp_keepalive 1 2\n"),
        4,
        "count is missing",
    );
    one_err(
        &format!("{MIN}bridge_tcp_keepalive 1 0 3\n"),
        4,
        "interval must be positive",
    );
    assert_eq!(
        ok(&format!("{MIN}bridge_protocol_version  mqttv31 \n")).bridges[0].protocol_version,
        BridgeProtocol::Mqtt31
    );
}

#[test]
fn bridge_options_need_a_connection() {
    one_err("topic #\n", 1, "must come after a 'connection' line");
    one_err("address h\n", 1, "must come after a 'connection' line");
    one_err("username u\n", 1, "must come after a 'connection' line");
}

#[test]
fn connection_errors() {
    one_err("connection\n", 1, "needs a bridge name");
    let e = errs(&format!("{MIN}connection b\naddress h\ntopic #\n"));
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].0, 4);
    assert!(e[0]
        .1
        .contains("duplicate bridge name 'b' (first defined at t.conf:1)"));
}

#[test]
fn end_of_file_bridge_checks() {
    one_err(
        "connection b\ntopic #\n",
        1,
        "bridge 'b' has no 'address' line",
    );
    one_err(
        "connection b\naddress h\n",
        1,
        "bridge 'b' has no 'topic' line",
    );
    one_err(
        &format!("{MIN}bridge_psk 0a0b\n"),
        1,
        "'bridge_psk' but no 'bridge_identity'",
    );
    one_err(
        &format!("{MIN}bridge_identity me\n"),
        1,
        "'bridge_identity' but no 'bridge_psk'",
    );
    ok(&format!("{MIN}bridge_identity me\nbridge_psk 0a0b\n"));
}

#[test]
fn certificates_and_psk_exclude_each_other() {
    one_err(
        &format!("{MIN}bridge_cafile /a\nbridge_identity x\n"),
        5,
        "either certificates or PSK",
    );
    one_err(
        &format!("{MIN}bridge_identity i\nbridge_psk 00\nbridge_certfile /c\n"),
        6,
        "either certificates or PSK",
    );
}

#[test]
fn local_client_ids_must_be_unique() {
    let text = "connection a\naddress h\ntopic #\nlocal_clientid x\nconnection b\naddress h\ntopic #\nlocal_clientid x\n";
    one_err(text, 5, "same local client id 'x' as bridge 'a'");
    let text = "connection a\naddress h\ntopic #\nremote_clientid r\nconnection b\naddress h\ntopic #\nlocal_clientid local.r\n";
    one_err(text, 5, "same local client id");
}

#[test]
fn insecure_warns() {
    let c = ok(&format!("{MIN}bridge_insecure true\n"));
    assert!(c.bridges[0].tls.insecure);
    assert!(warnings(&c)[0].1.contains("insecure"));
}
