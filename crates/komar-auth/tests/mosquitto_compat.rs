//! Cross-checks against the real Mosquitto (Debian's 2.0.11): password files
//! written by `mosquitto_passwd` verify in Komar, files written by Komar are
//! accepted by `mosquitto`, `komar passwd` fails like `mosquitto_passwd`, and
//! ACL decisions agree with what the broker delivers. Each test prints
//! "SKIPPED" and passes when the Mosquitto tools are not installed.

mod support;

use std::fs;
use std::process::{Command, Stdio};

use komar_auth::{passwd_main, Access, AclFile, MemoryIo, PasswordFile};
use support::{have_tools, identity, normalise, publish, publish_as, subscribe, Broker, TempDir};

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn parse_clean(path: &std::path::Path) -> PasswordFile {
    let (file, errors) = PasswordFile::parse(&fs::read_to_string(path).unwrap());
    assert!(errors.is_empty(), "{errors:?}");
    file
}

/// (a) Files written by the real `mosquitto_passwd` verify in Komar.
#[test]
fn mosquitto_passwd_files_verify_in_komar() {
    if !have_tools(
        "mosquitto_passwd_files_verify_in_komar",
        &["mosquitto_passwd"],
    ) {
        return;
    }
    let dir = TempDir::new("mpw");
    for (flags, name) in [
        (&["-H", "sha512-pbkdf2"][..], "pbkdf2"),
        (&["-H", "sha512"], "sha512"),
        (&["-I", "3"], "iter3"),
        (&[], "default"),
    ] {
        let file = dir.path(name);
        let status = Command::new("mosquitto_passwd")
            .args(flags)
            .args(["-c", "-b"])
            .arg(&file)
            .args(["user", "pass word:1"])
            .status()
            .unwrap();
        assert!(status.success(), "mosquitto_passwd {flags:?}");
        let status = Command::new("mosquitto_passwd")
            .args(flags)
            .arg("-b")
            .arg(&file)
            .args(["other", "x"])
            .status()
            .unwrap();
        assert!(status.success());
        let pw = parse_clean(&file);
        assert_eq!(pw.len(), 2, "{name}");
        assert!(pw.verify("user", b"pass word:1"), "{name}: right password");
        assert!(!pw.verify("user", b"pass word:2"), "{name}: wrong password");
        assert!(!pw.verify("user", b"x"), "{name}: other's password");
        assert!(pw.verify("other", b"x"), "{name}");
        assert!(!pw.verify("nobody", b"x"), "{name}");
    }
}

/// (b) Files written by `komar passwd` are accepted by the real broker.
#[test]
fn komar_files_are_accepted_by_mosquitto() {
    if !have_tools(
        "komar_files_are_accepted_by_mosquitto",
        &["mosquitto", "mosquitto_pub"],
    ) {
        return;
    }
    let dir = TempDir::new("kpw");
    let file = dir.str("passwd");
    let mut io = MemoryIo::default();
    for call in [
        &["-c", "-b", &file, "u7", "seven"][..],
        &["-H", "sha512", "-b", &file, "u6", "six"],
        &["-I", "1", "-b", &file, "u1", "one"],
        &["-b", &file, "dup", "first"],
    ] {
        assert_eq!(passwd_main(&args(call), &mut io), 0, "{}", io.err_text());
    }
    // A second line for the same user, appended by hand: the last one wins.
    let second = komar_auth::password_line("dup", "second", Default::default()).unwrap();
    let mut text = fs::read_to_string(&file).unwrap();
    text.push_str(&second);
    fs::write(&file, &text).unwrap();

    let komar = parse_clean(std::path::Path::new(&file));
    let broker = Broker::start(
        &dir,
        &format!("allow_anonymous false\npassword_file {file}\n"),
    );
    for (user, password, ok) in [
        ("u7", "seven", true),
        ("u7", "Seven", false),
        ("u6", "six", true),
        ("u6", "sixx", false),
        ("u1", "one", true),
        ("u1", "", false),
        ("dup", "second", true),
        ("dup", "first", false),
        ("nobody", "seven", false),
    ] {
        let status = publish_as(broker.port, user, password);
        assert_eq!(
            status.success(),
            ok,
            "mosquitto_pub -u {user} -P {password:?}: {status}\n{}",
            broker.log_text()
        );
        assert_eq!(komar.verify(user, password.as_bytes()), ok, "komar {user}");
    }
}

/// `komar passwd` fails with the same exit code and message as
/// `mosquitto_passwd` for the same command line.
#[test]
fn passwd_errors_match_mosquitto_passwd() {
    if !have_tools(
        "passwd_errors_match_mosquitto_passwd",
        &["mosquitto_passwd"],
    ) {
        return;
    }
    let setup = |d: &TempDir| {
        fs::write(d.path("pw"), "a:b\n").unwrap();
        fs::write(d.path("commented"), "# c\nu:p\n").unwrap();
        fs::write(d.path("blank"), "u1:pw1\n\n").unwrap();
    };
    // Known deviation: adding a user to a file with a corrupt line. 2.0.11
    // prints the error, then drops every line from the corrupt one on,
    // appends the user and exits 0; Komar prints the same error, leaves the
    // file alone and exits 1.
    let deviation: &[&str] = &["-b", "{d}/commented", "u", "p"];
    let scenarios: &[(&[&str], &[&str])] = &[
        (&["-b", "{d}/missing", "u", "p"], &[]),
        (&["-D", "{d}/pw", "nobody"], &[]),
        (deviation, &[]),
        (&["-U", "{d}/blank"], &[]),
        (&["-c", "-b", "{d}/no/dir/pw", "u", "p"], &[]),
        (&["-c", "-D", "x", "y"], &[]),
        (&["-D", "-U", "x"], &[]),
        (&["-b", "-D", "x", "y"], &[]),
        (&["-c", "-U", "x"], &[]),
        (&["-I", "0", "-b", "x", "u", "p"], &[]),
        (&["-I"], &[]),
        (&["-H", "md5", "-b", "x", "u", "p"], &[]),
        (&["-c", "-b", "x", "u"], &[]),
        (&["-c", "x"], &[]),
        (&["-D", "x"], &[]),
        (&["-U"], &[]),
        (&["-b", "x", "a:b", "p"], &[]),
        (&["-b", "x", "a\u{1}b", "p"], &[]),
        (&["-c", "-b", "{d}/new", "u", "p"], &[]),
        (&["-b", "{d}/pw", "c", "d"], &[]),
        (&["-D", "{d}/pw", "a"], &[]),
        (&["-c", "{d}/typed", "u"], &["abc", "abd"]),
        (&["-c", "{d}/typed", "u"], &["", ""]),
        (&["-c", "{d}/typed", "u"], &["abc", "abc"]),
        (&["{d}/pw", "a"], &["x1", "x2"]),
    ];
    for (argv, typed) in scenarios {
        let theirs = TempDir::new("mpw-cli-m");
        let ours = TempDir::new("mpw-cli-k");
        setup(&theirs);
        setup(&ours);
        let fill = |d: &TempDir| -> Vec<String> {
            argv.iter()
                .map(|a| a.replace("{d}", &d.0.to_string_lossy()))
                .collect()
        };
        let stdin_text: String = typed.iter().map(|l| format!("{l}\n")).collect();
        let mut child = Command::new("mosquitto_passwd")
            .args(fill(&theirs))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            let _ = stdin.write_all(stdin_text.as_bytes());
        }
        let out = child.wait_with_output().unwrap();
        let their_code = out.status.code().unwrap();
        let their_err = normalise(&String::from_utf8_lossy(&out.stderr), &theirs.0);

        let mut io = MemoryIo::with_input(typed.iter().map(|l| format!("{l}\n")));
        let our_code = passwd_main(&fill(&ours), &mut io);
        let our_err = normalise(&io.err_text(), &ours.0);

        assert_eq!(our_err, their_err, "stderr for {argv:?}");
        if *argv == deviation {
            assert_eq!((our_code, their_code), (1, 0), "{argv:?}");
            assert_eq!(
                fs::read_to_string(ours.path("commented")).unwrap(),
                "# c\nu:p\n"
            );
            continue;
        }
        assert_eq!(our_code, their_code, "exit code for {argv:?}: {their_err}");
        if !typed.is_empty() {
            assert_eq!(
                io.out_text(),
                String::from_utf8_lossy(&out.stdout),
                "{argv:?}"
            );
        }
        // Whatever files exist afterwards say the same about the same users.
        for name in ["pw", "new", "typed", "blank", "commented"] {
            let (a, b) = (theirs.path(name), ours.path(name));
            assert_eq!(a.exists(), b.exists(), "{name} after {argv:?}");
            if a.exists() {
                let (pa, _) = PasswordFile::parse(&fs::read_to_string(&a).unwrap());
                let (pb, _) = PasswordFile::parse(&fs::read_to_string(&b).unwrap());
                let mut ua: Vec<&str> = pa.usernames().collect();
                let mut ub: Vec<&str> = pb.usernames().collect();
                ua.sort_unstable();
                ub.sort_unstable();
                assert_eq!(ua, ub, "{name} after {argv:?}");
            }
        }
    }
}

/// The ACL file used for the live comparison. A `sentinel/<client>` topic
/// every test identity may read and write marks the end of each exchange.
const LIVE_ACL: &str = "\
topic read anon/#
topic deny anon/secret
user alice
topic read a/#
topic write w/#
topic readwrite both/#
topic deny a/secret
topic a/+/rw
user root
topic readwrite #
topic readwrite $SYS/broker/connection/#
user ev+il
topic readwrite sentinel/#
pattern read p/%u/#
pattern write c/%c
pattern deny a/%c
pattern readwrite mixed/x%cy/%u
pattern read r/%c
pattern readwrite sentinel/%c
";

type Row = (&'static str, Option<&'static str>, &'static str, Access);

const ALICE: Option<&str> = Some("alice");
const ROOT: Option<&str> = Some("root");

/// (client id, user, topic, access) checked against the live broker.
const LIVE_ROWS: &[Row] = &[
    ("c1", ALICE, "a/x", Access::Read),
    ("c1", ALICE, "a/secret", Access::Read),
    ("c1", ALICE, "w/x", Access::Read),
    ("c1", ALICE, "both/x/y", Access::Read),
    ("c1", ALICE, "a/q/rw", Access::Read),
    ("c1", None, "anon/x", Access::Read),
    ("c1", None, "anon/secret", Access::Read),
    ("c1", ALICE, "anon/x", Access::Read),
    ("c2", Some("bob"), "p/bob/x", Access::Read),
    ("c2", Some("bob"), "p/alice/x", Access::Read),
    ("c3", Some("bob/x"), "p/bob/x/1", Access::Read),
    ("c3", Some("bob/x"), "p/bob/y", Access::Read),
    ("c4", Some("bob"), "a/c4", Access::Read),
    ("c5", ALICE, "a/c5", Access::Read),
    ("c6", Some("ev+il"), "r/c6", Access::Read),
    ("c7", Some("bob"), "r/c7", Access::Read),
    ("c1", ALICE, "w/x", Access::Write),
    ("c1", ALICE, "a/x", Access::Write),
    ("c1", ALICE, "both/q", Access::Write),
    ("c1", ALICE, "a/q/rw", Access::Write),
    ("c8", None, "c/c8", Access::Write),
    ("c8", None, "c/c9", Access::Write),
    ("c9", Some("u"), "mixed/xc9y/u", Access::Write),
    ("c9", Some("u"), "mixed/c9/u", Access::Write),
    ("c6", Some("ev+il"), "c/c6", Access::Write),
    ("c1", ROOT, "x/y", Access::Write),
    ("c1", ROOT, "$SYS/broker/connection/b/state", Access::Write),
    ("c1", ROOT, "$SYS/broker/connection/b/other", Access::Write),
];

/// ACL decisions agree with what the real broker delivers: a denied
/// publish is dropped silently and a denied read is never delivered; each
/// exchange ends with an allowed `sentinel/<client>` message, so "nothing
/// arrived" is known without waiting for a timeout.
#[test]
fn acl_decisions_match_mosquitto() {
    if !have_tools(
        "acl_decisions_match_mosquitto",
        &["mosquitto", "mosquitto_sub", "mosquitto_pub", "stdbuf"],
    ) {
        return;
    }
    let acl = AclFile::parse(LIVE_ACL).unwrap();
    let dir = TempDir::new("acl");
    let acl_path = dir.str("acl");
    fs::write(&acl_path, LIVE_ACL).unwrap();
    let broker = Broker::start(
        &dir,
        &format!("allow_anonymous true\nacl_file {acl_path}\n"),
    );
    let port = broker.port;
    let root = identity("publisher", ROOT);
    let (mut observer, _) = subscribe(
        port,
        &identity("observer", ROOT),
        &["#", "$SYS/broker/connection/#"],
    );

    let mut mismatches = Vec::new();
    for (n, &(client, user, topic, access)) in LIVE_ROWS.iter().enumerate() {
        let who = identity(client, user);
        let sentinel = format!("sentinel/{client}");
        let (payload, done) = (format!("m{n}"), format!("s{n}"));
        let delivered = match access {
            Access::Read => {
                let (mut sub, suback) = subscribe(port, &who, &[topic, &sentinel]);
                assert_eq!(suback, "Subscribed (mid: 1): 0, 0", "row {n}");
                assert!(publish(port, &root, topic, &payload).success());
                assert!(publish(port, &root, &sentinel, &done).success());
                sub.wait_for(&sentinel, |l| l == format!("{sentinel} {done}"));
                sub.seen.contains(&format!("{topic} {payload}"))
            }
            _ => {
                assert!(publish(port, &who, topic, &payload).success(), "row {n}");
                assert!(publish(port, &who, &sentinel, &done).success());
                observer.wait_for(&sentinel, |l| l == format!("{sentinel} {done}"));
                observer.seen.contains(&format!("{topic} {payload}"))
            }
        };
        let ours = acl.check(client, user, topic, access);
        if ours != delivered {
            mismatches.push(format!(
                "row {n}: {client} {user:?} {access:?} {topic}: mosquitto {delivered}, komar {ours}"
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{}\n{}",
        mismatches.join("\n"),
        broker.log_text()
    );
}

/// Subscribing wider than the ACL allows is granted (SUBACK 0, not 0x80);
/// only the readable messages are delivered.
#[test]
fn wide_subscription_is_granted_and_filtered() {
    if !have_tools(
        "wide_subscription_is_granted_and_filtered",
        &["mosquitto", "mosquitto_sub", "mosquitto_pub", "stdbuf"],
    ) {
        return;
    }
    let text = "user reader\ntopic read a/#\nuser root\ntopic readwrite #\n";
    let acl = AclFile::parse(text).unwrap();
    let dir = TempDir::new("wide");
    let acl_path = dir.str("acl");
    fs::write(&acl_path, text).unwrap();
    let broker = Broker::start(
        &dir,
        &format!("allow_anonymous true\nacl_file {acl_path}\n"),
    );
    let reader = identity("r1", Some("reader"));
    let (mut sub, suback) = subscribe(broker.port, &reader, &["#"]);
    assert_eq!(suback, "Subscribed (mid: 1): 0");
    assert!(acl.check("r1", Some("reader"), "#", Access::Subscribe));
    let root = identity("p1", ROOT);
    assert!(publish(broker.port, &root, "b/x", "hidden").success());
    assert!(publish(broker.port, &root, "a/x", "shown").success());
    sub.wait_for("a/x", |l| l == "a/x shown");
    assert!(
        !sub.seen.iter().any(|l| l.contains("hidden")),
        "{:?}",
        sub.seen
    );
    assert!(!acl.check("r1", Some("reader"), "b/x", Access::Read));
    assert!(acl.check("r1", Some("reader"), "a/x", Access::Read));
}
