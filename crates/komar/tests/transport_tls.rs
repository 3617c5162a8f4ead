//! TLS listeners through clients nobody on this team wrote (Debian's
//! `mosquitto_pub` / `mosquitto_sub`, OpenSSL inside): server
//! verification, client certificates (required, revoked, missing), the
//! certificate's commonName as the user name with the ACL applied to it,
//! plaintext refused on a TLS listener without harm to the broker, cipher
//! configuration errors with their line, and certificates reloaded on
//! SIGHUP while connected clients stay.

#[path = "common/certs.rs"]
mod certs;
mod common;

use std::io::{Read, Write};
use std::process::Command;

use certs::{s, Ca};
use common::config::{run_komar, Conf, Configured};
use common::{unique, Komar, MosquittoSub, TIMEOUT};

/// A TLS broker: `{port}` on 127.0.0.1 with a server certificate from a
/// fresh CA, plus `extra` listener options.
fn tls_broker(extra: &str) -> (Configured, Ca) {
    let conf = Conf::write(&format!(
        "listener {{port}} 127.0.0.1\ncertfile {{dir}}/server.crt\nkeyfile {{dir}}/server.key\n{extra}"
    ));
    let ca = Ca::new(&conf.dir, "ca");
    ca.server(&conf.dir, "server");
    (Komar::start_conf(conf), ca)
}

/// `mosquitto_pub` over TLS with `args`; returns its exit code.
fn tls_pub(port: u16, ca: &Ca, args: &[&str]) -> i32 {
    let out = Command::new("mosquitto_pub")
        .args([
            "-h",
            "localhost",
            "-p",
            &port.to_string(),
            "--cafile",
            &s(&ca.pem),
        ])
        .args(args)
        .output()
        .expect("mosquitto_pub is installed (apt-get install mosquitto-clients)");
    out.status.code().unwrap_or(-1)
}

/// `mosquitto_sub` over TLS.
fn tls_sub(port: u16, ca: &Ca, args: &[&str]) -> MosquittoSub {
    let mut all = vec!["--cafile".to_owned(), s(&ca.pem)];
    all.extend(args.iter().map(|a| a.to_string()));
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    // MosquittoSub connects to 127.0.0.1, which the server certificate
    // names as an IP address.
    MosquittoSub::start(port, &refs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_clients_verify_the_server() {
    let (k, ca) = tls_broker("allow_anonymous true\n");
    let topic = unique("tls/t");
    assert_eq!(
        tls_pub(k.port, &ca, &["-t", &topic, "-m", "kept", "-r", "-q", "1"]),
        0
    );
    let mut sub = tls_sub(k.port, &ca, &["-t", &topic, "-C", "2", "-q", "1"]);
    assert_eq!(sub.line().await, "kept");
    assert_eq!(
        tls_pub(k.port, &ca, &["-t", &topic, "-m", "live", "-q", "1"]),
        0
    );
    assert_eq!(sub.line().await, "live");
    assert_eq!(sub.wait().await, 0);

    // A client that trusts another CA refuses the server.
    let other = Ca::new(&k.conf.dir, "other-ca");
    assert_ne!(tls_pub(k.port, &other, &["-t", &topic, "-m", "x"]), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_on_a_tls_listener_is_refused_and_harmless() {
    let (k, ca) = tls_broker("allow_anonymous true\n");
    let port = k.port;
    let closed = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        // A plain MQTT 3.1.1 CONNECT.
        s.write_all(b"\x10\x10\x00\x04MQTT\x04\x02\x00\x3c\x00\x04abcd")
            .unwrap();
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        buf
    })
    .await
    .unwrap();
    assert!(
        closed.first() != Some(&0x20),
        "a plaintext client got a CONNACK: {closed:?}"
    );
    // Garbage that looks like the start of a TLS record, then silence,
    // from another client: the broker keeps serving TLS clients.
    let mut junk = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    junk.write_all(&[0x16, 0x03, 0x01, 0x40, 0x00, 1, 2, 3])
        .unwrap();
    let topic = unique("tls/after-junk");
    assert_eq!(
        tls_pub(port, &ca, &["-t", &topic, "-m", "ok", "-r", "-q", "1"]),
        0
    );
    let mut sub = tls_sub(port, &ca, &["-t", &topic, "-C", "1"]);
    assert_eq!(sub.line().await, "ok");
    drop(junk);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_required_and_revoked() {
    let conf = Conf::write(
        "listener {port} 127.0.0.1\nallow_anonymous true\ncertfile {dir}/server.crt\nkeyfile {dir}/server.key\n\
         cafile {dir}/ca.pem\nrequire_certificate true\ncrlfile {dir}/crl.pem\n",
    );
    let ca = Ca::new(&conf.dir, "ca");
    ca.server(&conf.dir, "server");
    let good = ca.client(&conf.dir, "good", "good-client", 10);
    let revoked = ca.client(&conf.dir, "revoked", "revoked-client", 11);
    let stranger_ca = Ca::new(&conf.dir, "stranger-ca");
    let stranger = stranger_ca.client(&conf.dir, "stranger", "stranger", 12);
    ca.crl(&conf.dir, "crl.pem", &[&revoked]);
    let k = Komar::start_conf(conf);
    let topic = unique("tls/certs");
    let with = |c: &certs::Issued| {
        vec![
            "--cert".to_owned(),
            s(&c.cert),
            "--key".to_owned(),
            s(&c.key),
        ]
    };
    let run = |extra: Vec<String>| {
        let mut args = vec![
            "-t".to_owned(),
            topic.clone(),
            "-m".to_owned(),
            "m".to_owned(),
            "-q".to_owned(),
            "1".to_owned(),
        ];
        args.extend(extra);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        tls_pub(k.port, &ca, &refs)
    };
    assert_eq!(
        run(with(&good)),
        0,
        "a valid client certificate is accepted"
    );
    assert_ne!(run(Vec::new()), 0, "no client certificate: refused");
    assert_ne!(run(with(&revoked)), 0, "a revoked certificate: refused");
    assert_ne!(
        run(with(&stranger)),
        0,
        "a certificate of another CA: refused"
    );
    assert_eq!(run(with(&good)), 0, "the broker still serves");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_common_name_is_the_user_and_the_acl_applies() {
    let conf = Conf::write(
        "listener {port} 127.0.0.1\ncertfile {dir}/server.crt\nkeyfile {dir}/server.key\n\
         cafile {dir}/ca.pem\nrequire_certificate true\nuse_identity_as_username true\n\
         password_file {dir}/passwd\nacl_file {dir}/acl\n",
    );
    // Users authenticated by certificate need no password-file entry.
    std::fs::write(conf.file("passwd"), "").unwrap();
    std::fs::write(
        conf.file("acl"),
        "user sensor-1\ntopic write sensors/sensor-1/#\ntopic write sensors/ready\n\
         user reader\ntopic read sensors/#\n",
    )
    .unwrap();
    let ca = Ca::new(&conf.dir, "ca");
    ca.server(&conf.dir, "server");
    let sensor = ca.client(&conf.dir, "sensor", "sensor-1", 20);
    let reader = ca.client(&conf.dir, "reader", "reader", 21);
    let k = Komar::start_conf(conf);
    let (sc, sk, rc, rk) = (
        s(&sensor.cert),
        s(&sensor.key),
        s(&reader.cert),
        s(&reader.key),
    );
    // The user name in CONNECT is ignored: the certificate decides.
    let sensor_pub = |topic: &str, retain: bool| {
        let mut a = vec![
            "--cert", &sc, "--key", &sk, "-u", "reader", "-t", topic, "-m", "v", "-q", "1",
        ];
        if retain {
            a.push("-r");
        }
        tls_pub(k.port, &ca, &a)
    };
    assert_eq!(sensor_pub("sensors/ready", true), 0);
    let mut sub = tls_sub(
        k.port,
        &ca,
        &[
            "--cert",
            &rc,
            "--key",
            &rk,
            "-t",
            "sensors/#",
            "-v",
            "-q",
            "1",
        ],
    );
    assert_eq!(sub.line().await, "sensors/ready v");
    // Denied by the ACL (the publish itself succeeds, the message is
    // dropped, as in Mosquitto), then allowed.
    assert_eq!(sensor_pub("sensors/other/t", false), 0);
    assert_eq!(sensor_pub("sensors/sensor-1/t", false), 0);
    assert_eq!(sub.line().await, "sensors/sensor-1/t v");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn use_identity_without_a_certificate_is_refused() {
    let (k, ca) =
        tls_broker("allow_anonymous true\ncafile {dir}/ca.pem\nuse_identity_as_username true\n");
    // TLS without a client certificate works, but the CONNECT is refused
    // with "bad user name or password" (mosquitto_pub exits non-zero).
    let topic = unique("tls/noid");
    assert_ne!(tls_pub(k.port, &ca, &["-t", &topic, "-m", "x"]), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_cipher_is_a_configuration_error_with_its_line() {
    let conf = Conf::write(
        "listener {port} 127.0.0.1\ncertfile {dir}/server.crt\nkeyfile {dir}/server.key\n\
         ciphers ECDHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-SHA\n",
    );
    let ca = Ca::new(&conf.dir, "ca");
    ca.server(&conf.dir, "server");
    let path = s(&conf.path);
    let done = run_komar(&["-c", &path, "--test-config"]);
    assert_eq!(done.code, 3, "{}", done.stderr);
    // Line 1 is the `user root` the harness adds.
    assert!(
        done.stderr.contains(&format!(
            "{path}:5: cipher suite 'DHE-RSA-AES256-SHA' is not available"
        )),
        "{}",
        done.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_certificates_without_dropping_clients() {
    let (k, ca) = tls_broker("allow_anonymous true\n");
    let topic = unique("tls/reload");
    let mut sub = tls_sub(k.port, &ca, &["-t", &topic, "-q", "1", "-k", "60"]);
    // Subscribed once a retained message comes through.
    assert_eq!(
        tls_pub(
            k.port,
            &ca,
            &["-t", &topic, "-m", "before", "-r", "-q", "1"]
        ),
        0
    );
    assert_eq!(sub.line().await, "before");

    // A new CA and server certificate replace the old files.
    let ca2 = Ca::new(&k.conf.dir, "ca2");
    ca2.server(&k.conf.dir, "server");
    k.signal("HUP");
    k.wait_log("Reloaded the certificates of 1 TLS listener(s).");

    assert_ne!(
        tls_pub(k.port, &ca, &["-t", &topic, "-m", "old-ca", "-q", "1"]),
        0,
        "new handshakes use the new certificate"
    );
    assert_eq!(
        tls_pub(k.port, &ca2, &["-t", &topic, "-m", "after", "-q", "1"]),
        0
    );
    // The subscriber connected before the reload is still there.
    assert_eq!(sub.line().await, "after");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn komar_tools_speak_tls() {
    let (k, ca) = tls_broker("allow_anonymous true\n");
    let (port, cafile) = (k.port.to_string(), s(&ca.pem));
    let topic = unique("tls/tools");
    let url = format!("mqtts://localhost:{port}/{topic}");
    let done = run_komar(&[
        "pub", "-L", &url, "--cafile", &cafile, "-m", "via url", "-r", "-q", "1",
    ]);
    assert_eq!(done.code, 0, "{}", done.stderr);
    let done = run_komar(&[
        "sub",
        "-h",
        "localhost",
        "-p",
        &port,
        "--cafile",
        &cafile,
        "--tls-version",
        "tlsv1.2",
        "-t",
        &topic,
        "-C",
        "1",
    ]);
    assert_eq!(
        (done.code, done.stdout.as_str()),
        (0, "via url\n"),
        "{}",
        done.stderr
    );
    // A broker the CA does not vouch for: a TLS error, exit 1.
    let other = Ca::new(&k.conf.dir, "other");
    let done = run_komar(&["pub", "-L", &url, "--cafile", &s(&other.pem), "-m", "x"]);
    assert_eq!(done.code, 1);
    assert!(
        done.stderr.contains("A TLS error occurred"),
        "{}",
        done.stderr
    );
}
