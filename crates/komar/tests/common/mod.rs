//! Shared harness of the integration tests: start the real `komar` binary
//! on a free loopback port, wait until it accepts connections (by
//! connecting, never by sleeping), and helpers around clients nobody on
//! this team wrote (`rumqttc`, `mosquitto_pub` / `mosquitto_sub`).
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Everything a test waits for must happen within this.
pub const TIMEOUT: Duration = Duration::from_secs(10);

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A unique name for clients, topics and files of one test.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A scratch directory for this test run.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(unique(name));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// A running `komar` process, killed when dropped.
pub struct Komar {
    child: Child,
    /// Its loopback port.
    pub port: u16,
    /// Where its log goes.
    pub log: PathBuf,
}

impl Komar {
    /// Start with `-p <free port>` (local-only mode) and `extra` arguments.
    pub fn start() -> Komar {
        Komar::start_with(&[])
    }

    /// Start with extra command-line arguments after `-p <port>`.
    pub fn start_with(extra: &[&str]) -> Komar {
        let port = free_port();
        let mut args = vec!["-p".to_owned(), port.to_string()];
        args.extend(extra.iter().map(|s| s.to_string()));
        Komar::spawn(args, port)
    }

    /// Start with exactly these arguments; `port` is where it will listen.
    pub fn spawn(args: Vec<String>, port: u16) -> Komar {
        let log = scratch_dir("komar-log").join("komar.log");
        let log_file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_komar"))
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("start komar");
        let mut k = Komar { child, port, log };
        k.wait_ready();
        k
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + TIMEOUT;
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("komar exited with {status}: {}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("komar did not listen on {} within {TIMEOUT:?}: {}", self.port, self.log_text());
    }

    /// The process id (for signals and /proc).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Send a signal and wait for the process to exit; returns its status.
    pub fn signal_and_wait(&mut self, signal: &str) -> std::process::ExitStatus {
        Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .expect("kill");
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(Instant::now() < deadline, "komar did not exit after SIG{signal}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Komar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// rumqttc (MQTT 3.1.1) helpers.
pub mod v4 {
    use super::TIMEOUT;
    use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, Publish};
    use std::time::Duration;

    /// Options for a client of the broker on `port`.
    pub fn options(id: &str, port: u16) -> MqttOptions {
        let mut o = MqttOptions::new(id, "127.0.0.1", port);
        o.set_keep_alive(Duration::from_secs(30));
        o
    }

    /// Connect and wait for the CONNACK; returns the client, its event loop
    /// and the session-present flag.
    pub async fn connect(o: MqttOptions) -> (AsyncClient, EventLoop, bool) {
        let (c, mut el) = AsyncClient::new(o, 1000);
        let present = tokio::time::timeout(super::TIMEOUT, async {
            loop {
                match el.poll().await.expect("connection") {
                    Event::Incoming(Packet::ConnAck(a)) => {
                        assert_eq!(a.code, rumqttc::ConnectReturnCode::Success);
                        return a.session_present;
                    }
                    _ => continue,
                }
            }
        })
        .await
        .expect("CONNACK in time");
        (c, el, present)
    }

    /// Drive `el` until `pred` is true of an incoming packet, or fail after
    /// the timeout.
    pub async fn until(el: &mut EventLoop, mut pred: impl FnMut(&Packet) -> bool) -> Packet {
        tokio::time::timeout(TIMEOUT, async {
            loop {
                if let Event::Incoming(p) = el.poll().await.expect("connection") {
                    if pred(&p) {
                        return p;
                    }
                }
            }
        })
        .await
        .expect("event in time")
    }

    /// Wait for the SUBACK.
    pub async fn suback(el: &mut EventLoop) -> rumqttc::SubAck {
        match until(el, |p| matches!(p, Packet::SubAck(_))).await {
            Packet::SubAck(s) => s,
            _ => unreachable!(),
        }
    }

    /// Collect `n` publishes (failing if they do not arrive in time).
    pub async fn publishes(el: &mut EventLoop, n: usize) -> Vec<Publish> {
        let mut v = Vec::with_capacity(n);
        while v.len() < n {
            if let Packet::Publish(p) = until(el, |p| matches!(p, Packet::Publish(_))).await {
                v.push(p);
            }
        }
        v
    }

    /// Keep the event loop running in the background (so queued requests go
    /// out and acknowledgements come back).
    pub fn drive(mut el: EventLoop) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move { while el.poll().await.is_ok() {} })
    }
}

/// rumqttc (MQTT 5.0) helpers.
pub mod v5 {
    use super::TIMEOUT;
    use rumqttc::v5::mqttbytes::v5::Packet;
    use rumqttc::v5::{AsyncClient, Event, EventLoop, MqttOptions};
    use std::time::Duration;

    /// Options for a v5 client of the broker on `port`.
    pub fn options(id: &str, port: u16) -> MqttOptions {
        let mut o = MqttOptions::new(id, "127.0.0.1", port);
        o.set_keep_alive(Duration::from_secs(30));
        o
    }

    /// Connect and wait for the CONNACK.
    pub async fn connect(o: MqttOptions) -> (AsyncClient, EventLoop, rumqttc::v5::mqttbytes::v5::ConnAck) {
        let (c, mut el) = AsyncClient::new(o, 1000);
        let ack = match until(&mut el, |p| matches!(p, Packet::ConnAck(_))).await {
            Packet::ConnAck(a) => a,
            _ => unreachable!(),
        };
        (c, el, ack)
    }

    /// Drive `el` until `pred` is true of an incoming packet.
    pub async fn until(el: &mut EventLoop, mut pred: impl FnMut(&Packet) -> bool) -> Packet {
        tokio::time::timeout(TIMEOUT, async {
            loop {
                if let Event::Incoming(p) = el.poll().await.expect("connection") {
                    if pred(&p) {
                        return p;
                    }
                }
            }
        })
        .await
        .expect("event in time")
    }

    /// Collect `n` publishes.
    pub async fn publishes(el: &mut EventLoop, n: usize) -> Vec<rumqttc::v5::mqttbytes::v5::Publish> {
        let mut v = Vec::with_capacity(n);
        while v.len() < n {
            if let Packet::Publish(p) = until(el, |p| matches!(p, Packet::Publish(_))).await {
                v.push(p);
            }
        }
        v
    }

    /// Keep the event loop running in the background.
    pub fn drive(mut el: EventLoop) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move { while el.poll().await.is_ok() {} })
    }
}

/// Run `mosquitto_pub` with `args` against `port`; returns its exit code.
pub fn mosquitto_pub(port: u16, args: &[&str]) -> i32 {
    let status = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .status()
        .expect("mosquitto_pub is installed (apt-get install mosquitto-clients)");
    status.code().unwrap_or(-1)
}

/// Start `mosquitto_sub` with `args` against `port`, capturing stdout.
pub fn mosquitto_sub(port: u16, args: &[&str]) -> Child {
    Command::new("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mosquitto_sub is installed (apt-get install mosquitto-clients)")
}
