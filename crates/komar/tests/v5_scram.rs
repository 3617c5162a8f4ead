//! MQTT 5 enhanced authentication with SCRAM-SHA-256 and SCRAM-SHA-512
//! (§4.12, RFC 5802 / 7677) through an independent client: a Python script
//! (`tests/scram/client.py`, hashlib + raw packets written from the
//! specifications). Credentials come from a `scram_file` written by
//! `komar passwd -H scram-sha-256`, and from the `$7$` entries of a
//! password file written by Debian's `mosquitto_passwd` (SCRAM-SHA-512).

mod common;

use std::process::Command;

use common::{scratch_dir, Komar};

fn run_client(port: u16, args: &[&str]) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scram/client.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(port.to_string())
        .args(args)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

fn passwd(args: &[&str]) {
    let st = Command::new(env!("CARGO_BIN_EXE_komar"))
        .arg("passwd")
        .args(args)
        .status()
        .expect("komar passwd");
    assert!(st.success(), "komar passwd {args:?}");
}

#[test]
fn scram_sha256_and_sha512_login_reauth_and_refusals() {
    let dir = scratch_dir("scram");
    let scram = dir.join("scram");
    passwd(&[
        "-H",
        "scram-sha-256",
        "-c",
        "-b",
        scram.to_str().unwrap(),
        "alice",
        "wonderland",
    ]);
    let pw = dir.join("passwd");
    let st = Command::new("mosquitto_passwd")
        .args(["-c", "-b", pw.to_str().unwrap(), "bob", "builder"])
        .status()
        .expect("mosquitto_passwd is installed");
    assert!(st.success());
    let k = Komar::start_with_config(&format!(
        "listener {{port}} 127.0.0.1\nallow_anonymous false\nscram_file {}\npassword_file {}\n",
        scram.display(),
        pw.display()
    ));
    let port = k.port;

    // SCRAM-SHA-256 from the scram_file; the server signature checks out.
    assert_eq!(
        run_client(port, &["SCRAM-SHA-256", "alice", "wonderland"]),
        "connect CONNACK 0x0 verified\n"
    );
    // A wrong password, an unknown user: Not authorized (0x87).
    assert_eq!(
        run_client(port, &["SCRAM-SHA-256", "alice", "wrong"]),
        "connect CONNACK 0x87 unverified\n"
    );
    assert_eq!(
        run_client(port, &["SCRAM-SHA-256", "nobody", "x"]),
        "connect CONNACK 0x87 unverified\n"
    );
    // SCRAM-SHA-512 from a password file mosquitto_passwd wrote.
    assert_eq!(
        run_client(port, &["SCRAM-SHA-512", "bob", "builder"]),
        "connect CONNACK 0x0 verified\n"
    );
    // An unknown method: Bad authentication method (0x8C) [MQTT-4.12.0-4]
    // (the client's method argument is ignored with --bad-method).
    assert_eq!(
        run_client(port, &["SCRAM-SHA-256", "alice", "x", "--bad-method"]),
        "connack 0x8c\n"
    );
    // Re-authentication: AUTH 0x19 then Success; a wrong password then
    // closes the connection with DISCONNECT 0x87.
    assert_eq!(
        run_client(
            port,
            &[
                "SCRAM-SHA-256",
                "alice",
                "wonderland",
                "--reauth",
                "wonderland"
            ]
        ),
        "connect CONNACK 0x0 verified\nreauth AUTH 0x0 verified\n"
    );
    assert_eq!(
        run_client(
            port,
            &["SCRAM-SHA-256", "alice", "wonderland", "--reauth", "nope"]
        ),
        "connect CONNACK 0x0 verified\nreauth DISCONNECT 0x87 unverified\n"
    );
}
