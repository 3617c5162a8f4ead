//! Configuration-file helpers of the integration tests: write a
//! `mosquitto.conf` for one test (free ports and a scratch directory filled
//! in), start `komar -c` on it — or Debian's real `mosquitto` on the same
//! file, for cross-checks — run `komar` to completion for configurations
//! that must be refused, create password files with `mosquitto_passwd` or
//! `komar passwd`, and wait for log lines or `$SYS` values (polling with a
//! deadline, never sleeping as synchronisation).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{scratch_dir, Komar, TIMEOUT};

/// A configuration file written for one test.
#[derive(Debug, Clone)]
pub struct Conf {
    /// The scratch directory (`{dir}` in the template).
    pub dir: PathBuf,
    /// The configuration file itself.
    pub path: PathBuf,
    /// The ports `{port0}`, `{port1}`, ... (`{port}` is `{port0}`).
    pub ports: Vec<u16>,
}

impl Conf {
    /// Write `template` to `<scratch>/komar.conf`, replacing `{dir}` with a
    /// fresh scratch directory and `{port}` / `{portN}` with free ports.
    /// Unless the template has a `user` line, `user root` is put first so
    /// that the broker (run as root here) can read the test's files.
    pub fn write(template: &str) -> Conf {
        let dir = scratch_dir("conf");
        Conf::write_in(dir, template)
    }

    /// As [`Conf::write`], but without adding `user root`: the broker drops
    /// privileges as configured (to `mosquitto` by default when run as
    /// root).
    pub fn write_as_is(template: &str) -> Conf {
        let conf = Conf::write(&format!("# user as configured\n{template}"));
        let text = std::fs::read_to_string(&conf.path).expect("config");
        let text = text.strip_prefix("user root\n").unwrap_or(&text).to_owned();
        std::fs::write(&conf.path, text).expect("write config");
        conf
    }

    /// As [`Conf::write`], in an existing directory (files the template
    /// names can be created there first).
    pub fn write_in(dir: PathBuf, template: &str) -> Conf {
        let mut ports = Vec::new();
        let mut text = template.replace("{port}", "{port0}");
        let mut n = 0;
        while text.contains(&format!("{{port{n}}}")) {
            let p = listen_port();
            text = text.replace(&format!("{{port{n}}}"), &p.to_string());
            ports.push(p);
            n += 1;
        }
        let text = text.replace("{dir}", &dir.display().to_string());
        let has_user = text.lines().any(|l| l.starts_with("user "));
        let text = if has_user {
            text
        } else {
            format!("user root\n{text}")
        };
        let path = dir.join("komar.conf");
        std::fs::write(&path, text).expect("write config");
        Conf { dir, path, ports }
    }

    /// A file in the scratch directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Replace the configuration file's text (for reload tests); `{dir}`
    /// and the already chosen ports are filled in as before.
    pub fn rewrite(&self, template: &str) {
        let mut text = template.replace("{port}", "{port0}");
        for (n, p) in self.ports.iter().enumerate() {
            text = text.replace(&format!("{{port{n}}}"), &p.to_string());
        }
        let text = text.replace("{dir}", &self.dir.display().to_string());
        let text = if text.lines().any(|l| l.starts_with("user ")) {
            text
        } else {
            format!("user root\n{text}")
        };
        std::fs::write(&self.path, text).expect("rewrite config");
    }
}

/// A port for a test listener: free now, and below the kernel's ephemeral
/// range (32768-60999 here), so that no client connection made meanwhile
/// can take it as its source port before the broker binds it (which
/// `free_port`'s `bind(0)` choice, from inside that range, allows under
/// load). Ports are spread by process id and a counter so that test
/// processes running side by side rarely try the same one.
pub fn listen_port() -> u16 {
    super::free_port()
}

/// `komar -c` on a test configuration, with the configuration kept at hand.
pub struct Configured {
    /// The running broker (`port` is `{port0}`).
    pub komar: Komar,
    /// Its configuration.
    pub conf: Conf,
}

impl std::ops::Deref for Configured {
    type Target = Komar;
    fn deref(&self) -> &Komar {
        &self.komar
    }
}

impl std::ops::DerefMut for Configured {
    fn deref_mut(&mut self) -> &mut Komar {
        &mut self.komar
    }
}

impl Configured {
    /// The port of the `n`th `{portN}` of the template.
    pub fn port_n(&self, n: usize) -> u16 {
        self.conf.ports[n]
    }
}

impl Komar {
    /// Write `template` (see [`Conf::write`]) and start `komar -c` on it;
    /// returns once it accepts connections.
    pub fn start_with_config(template: &str) -> Configured {
        Komar::start_conf(Conf::write(template))
    }

    /// Start `komar -c` on an already written configuration. The harness
    /// waits by connecting to `{port0}`; every port is then checked in
    /// /proc to be held by this very process (another test's broker could
    /// hold a port this one failed to bind), without connecting: no stray
    /// connection counts against a listener's `max_connections`.
    pub fn start_conf(conf: Conf) -> Configured {
        let port = *conf.ports.first().expect("the template names {port}");
        let mut komar = Komar::spawn(vec!["-c".to_owned(), conf.path.display().to_string()], port);
        let deadline = Instant::now() + TIMEOUT;
        while !conf.ports.iter().all(|&p| listens_on(komar.pid(), p)) {
            if let Ok(Some(status)) = komar.child.try_wait() {
                panic!("komar exited with {status}: {}", komar.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "komar does not listen on {:?}: {}",
                conf.ports,
                komar.log_text()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        Configured { komar, conf }
    }

    /// Wait until the log (stderr) has a line containing `needle`; returns
    /// that line.
    pub fn wait_log(&self, needle: &str) -> String {
        wait_file_line(&self.log, needle)
    }
}

/// True if process `pid` holds a TCP socket listening on `port` (IPv4 or
/// IPv6), from `/proc/net/tcp*` and the process's descriptors.
pub fn listens_on(pid: u32, port: u16) -> bool {
    let mut listening = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for row in text.lines().skip(1) {
            let cols: Vec<&str> = row.split_whitespace().collect();
            let (Some(local), Some(state), Some(inode)) = (cols.get(1), cols.get(3), cols.get(9))
            else {
                continue;
            };
            let local_port = local
                .rsplit(':')
                .next()
                .and_then(|h| u16::from_str_radix(h, 16).ok());
            // State 0A is LISTEN.
            if *state == "0A" && local_port == Some(port) {
                listening.push(format!("socket:[{inode}]"));
            }
        }
    }
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten().any(|fd| {
        std::fs::read_link(fd.path())
            .map(|target| listening.iter().any(|l| target.as_os_str() == l.as_str()))
            .unwrap_or(false)
    })
}

/// Wait until something accepts TCP connections on `port`.
pub fn wait_listening(port: u16) {
    let deadline = Instant::now() + TIMEOUT;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Wait until `path` has a line containing `needle`; returns the line.
pub fn wait_file_line(path: &Path, needle: &str) -> String {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if let Some(l) = text.lines().find(|l| l.contains(needle)) {
            return l.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no line with {needle:?} in {} within {TIMEOUT:?}:\n{text}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// What a finished process left: exit code, stdout, stderr.
#[derive(Debug)]
pub struct Finished {
    /// Exit code (-1 if killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Run `komar` with `args` and wait (at most [`TIMEOUT`]) for it to exit.
pub fn run_komar(args: &[&str]) -> Finished {
    run_to_end(Command::new(env!("CARGO_BIN_EXE_komar")).args(args))
}

/// Run `cmd` to its end (killed and failed after [`TIMEOUT`]).
pub fn run_to_end(cmd: &mut Command) -> Finished {
    let dir = scratch_dir("run");
    let (out, err) = (dir.join("stdout"), dir.join("stderr"));
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).expect("stdout file"))
        .stderr(std::fs::File::create(&err).expect("stderr file"))
        .spawn()
        .expect("start process");
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{cmd:?} still running after {TIMEOUT:?}; stderr: {}",
                std::fs::read_to_string(&err).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Finished {
        code: status.code().unwrap_or(-1),
        stdout: std::fs::read_to_string(&out).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err).unwrap_or_default(),
    }
}

/// Add `user` with `password` to the password file `file` with Debian's
/// `mosquitto_passwd` (`-c` creates it when `create`).
pub fn mosquitto_passwd(file: &Path, user: &str, password: &str, create: bool) {
    let mut cmd = Command::new("mosquitto_passwd");
    if create {
        cmd.arg("-c");
    }
    cmd.arg("-b").arg(file).args([user, password]);
    let done = run_to_end(&mut cmd);
    assert_eq!(done.code, 0, "mosquitto_passwd failed: {}", done.stderr);
}

/// Add `user` with `password` to `file` with `komar passwd -b`.
pub fn komar_passwd(file: &Path, user: &str, password: &str, create: bool) {
    let f = file.display().to_string();
    let mut args = vec!["passwd"];
    if create {
        args.push("-c");
    }
    args.extend(["-b", &f, user, password]);
    let done = run_komar(&args);
    assert_eq!(done.code, 0, "komar passwd failed: {}", done.stderr);
}

/// Debian's real Mosquitto broker on a test configuration, killed when
/// dropped.
pub struct Mosquitto {
    child: Child,
    /// `{port0}` of its configuration.
    pub port: u16,
    /// Its stderr.
    pub log: PathBuf,
}

impl Mosquitto {
    /// Start `mosquitto -c` on `conf` (which should say `user root`);
    /// returns once it listens on every port of `conf` (checked in /proc,
    /// without connecting).
    pub fn start(conf: &Conf) -> Mosquitto {
        let log = conf.file("mosquitto.log");
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&conf.path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("mosquitto is installed (apt-get install mosquitto)");
        let mut m = Mosquitto {
            child,
            port: conf.ports[0],
            log,
        };
        let deadline = Instant::now() + TIMEOUT;
        let pid = m.child.id();
        while !conf.ports.iter().all(|&p| listens_on(pid, p)) {
            if let Ok(Some(status)) = m.child.try_wait() {
                panic!(
                    "mosquitto exited with {status}: {}",
                    std::fs::read_to_string(&m.log).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "mosquitto did not listen on {:?}",
                conf.ports
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        m
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Subscribe (MQTT 3.1.1) to the `$SYS` `topic` of the broker on `port`
/// and wait until its value satisfies `pred`; returns that value. `$SYS`
/// values are republished every `sys_interval` when they change.
pub async fn sys_value_until(port: u16, topic: &str, pred: impl Fn(&str) -> bool) -> String {
    use rumqttc::{Event, Packet, QoS};
    let (c, mut el, _) = super::v4::connect(super::v4::options(&super::unique("sys"), port)).await;
    c.subscribe(topic, QoS::AtMostOnce).await.unwrap();
    let mut last = String::new();
    let found = tokio::time::timeout(TIMEOUT, async {
        loop {
            if let Event::Incoming(Packet::Publish(p)) = el.poll().await.expect("connection") {
                last = String::from_utf8_lossy(&p.payload).into_owned();
                if pred(&last) {
                    return last.clone();
                }
            }
        }
    })
    .await;
    match found {
        Ok(v) => v,
        Err(_) => panic!("{topic} never satisfied the test within {TIMEOUT:?}"),
    }
}

/// The result of one MQTT 3.1.1 connection attempt with rumqttc.
pub async fn v4_connect_code(o: rumqttc::MqttOptions) -> Result<(), rumqttc::ConnectReturnCode> {
    use rumqttc::{ConnectionError, Event, Packet};
    let (_c, mut el) = rumqttc::AsyncClient::new(o, 10);
    tokio::time::timeout(TIMEOUT, async {
        loop {
            match el.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => return Ok(()),
                Ok(_) => continue,
                Err(ConnectionError::ConnectionRefused(code)) => return Err(code),
                Err(e) => panic!("no CONNACK: {e}"),
            }
        }
    })
    .await
    .expect("CONNACK in time")
}

/// The result of one MQTT 5 connection attempt with rumqttc.
pub async fn v5_connect_code(
    o: rumqttc::v5::MqttOptions,
) -> Result<rumqttc::v5::mqttbytes::v5::ConnAck, rumqttc::v5::mqttbytes::v5::ConnectReturnCode> {
    use rumqttc::v5::mqttbytes::v5::Packet;
    use rumqttc::v5::{ConnectionError, Event};
    let (_c, mut el) = rumqttc::v5::AsyncClient::new(o, 10);
    tokio::time::timeout(TIMEOUT, async {
        loop {
            match el.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(a))) => return Ok(a),
                Ok(_) => continue,
                Err(ConnectionError::ConnectionRefused(code)) => return Err(code),
                Err(e) => panic!("no CONNACK: {e}"),
            }
        }
    })
    .await
    .expect("CONNACK in time")
}
