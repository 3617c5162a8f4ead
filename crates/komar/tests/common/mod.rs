//! Shared harness of the integration tests: start the real `komar` binary
//! on a free loopback port, wait until it accepts connections (by
//! connecting, never by sleeping), and helpers around clients nobody on
//! this team wrote (`rumqttc`, `mosquitto_pub` / `mosquitto_sub`).
#![allow(dead_code)]

pub mod config;
pub mod raw;

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
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A port that was free a moment ago.
///
/// Ports come from 20000–31999, below Linux's ephemeral range (32768+), so
/// a client connection of another test can never take the port between
/// this check and the broker's bind. Each test process walks the range from
/// its own starting point.
pub fn free_port() -> u16 {
    use std::sync::atomic::AtomicU16;
    static NEXT: AtomicU16 = AtomicU16::new(0);
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_000;
    let start = std::process::id().wrapping_mul(7919) % SPAN;
    for _ in 0..SPAN {
        let step = u32::from(NEXT.fetch_add(1, Ordering::Relaxed));
        let port = (LOW + (start + step * 101) % SPAN) as u16;
        let free = ["127.0.0.1", "0.0.0.0"]
            .iter()
            .all(|ip| TcpListener::bind((*ip, port)).is_ok())
            // `komar -p` also binds ::1; a machine without IPv6 is fine.
            && TcpListener::bind(("::1", port)).map_or_else(|e| e.kind() != std::io::ErrorKind::AddrInUse, |_| true);
        if free {
            return port;
        }
    }
    panic!("no free port between {LOW} and {}", LOW + SPAN)
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
        panic!(
            "komar did not listen on {} within {TIMEOUT:?}: {}",
            self.port,
            self.log_text()
        );
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
            assert!(
                Instant::now() < deadline,
                "komar did not exit after SIG{signal}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Send a signal (`TERM`, `INT`, ...) without waiting.
    pub fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -{signal} failed");
    }

    /// Wait up to `limit` for the process to exit; returns its status and
    /// how long it took.
    pub fn wait_exit(&mut self, limit: Duration) -> (std::process::ExitStatus, Duration) {
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return (status, start.elapsed());
            }
            assert!(
                start.elapsed() < limit,
                "komar did not exit within {limit:?}: {}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(5));
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

/// A rumqttc 3.1.1 observer subscribed to `topic` at QoS 2.
pub async fn observer(port: u16, topic: &str) -> (rumqttc::AsyncClient, rumqttc::EventLoop) {
    let (c, mut el, _) = v4::connect(v4::options(&unique("obs"), port)).await;
    c.subscribe(topic, rumqttc::QoS::ExactlyOnce).await.unwrap();
    v4::suback(&mut el).await;
    (c, el)
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

    /// The next PUBLISH.
    pub async fn next(el: &mut EventLoop) -> Publish {
        match until(el, |p| matches!(p, Packet::Publish(_))).await {
            Packet::Publish(p) => p,
            _ => unreachable!(),
        }
    }

    /// A client whose event loop runs in the background, its incoming
    /// packets forwarded to the test (so publishes go out while the test
    /// waits on something else).
    pub struct Driven {
        client: rumqttc::AsyncClient,
        rx: tokio::sync::mpsc::UnboundedReceiver<rumqttc::Packet>,
        _task: tokio::task::JoinHandle<()>,
    }

    impl std::ops::Deref for Driven {
        type Target = rumqttc::AsyncClient;
        fn deref(&self) -> &rumqttc::AsyncClient {
            &self.client
        }
    }

    /// Connect with `o` and drive the event loop in the background.
    pub async fn driven(o: MqttOptions) -> Driven {
        let (client, mut el, _) = connect(o).await;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            while let Ok(ev) = el.poll().await {
                if let Event::Incoming(p) = ev {
                    if tx.send(p).is_err() {
                        break;
                    }
                }
            }
        });
        Driven {
            client,
            rx,
            _task: task,
        }
    }

    impl Driven {
        /// The next incoming packet for which `pred` is true.
        pub async fn until(
            &mut self,
            mut pred: impl FnMut(&rumqttc::Packet) -> bool,
        ) -> rumqttc::Packet {
            tokio::time::timeout(super::TIMEOUT, async {
                loop {
                    let p = self.rx.recv().await.expect("connection open");
                    if pred(&p) {
                        return p;
                    }
                }
            })
            .await
            .expect("event in time")
        }

        /// Wait until the broker has processed everything sent so far (a
        /// SUBSCRIBE to a throw-away topic is answered after the packets
        /// before it). Packets arriving meanwhile are skipped.
        pub async fn flush(&mut self) {
            self.client
                .subscribe(super::unique("flush"), rumqttc::QoS::AtMostOnce)
                .await
                .unwrap();
            self.until(|p| matches!(p, rumqttc::Packet::SubAck(_)))
                .await;
        }
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
    pub async fn connect(
        o: MqttOptions,
    ) -> (AsyncClient, EventLoop, rumqttc::v5::mqttbytes::v5::ConnAck) {
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
    pub async fn publishes(
        el: &mut EventLoop,
        n: usize,
    ) -> Vec<rumqttc::v5::mqttbytes::v5::Publish> {
        let mut v = Vec::with_capacity(n);
        while v.len() < n {
            if let Packet::Publish(p) = until(el, |p| matches!(p, Packet::Publish(_))).await {
                v.push(p);
            }
        }
        v
    }

    /// Wait for the SUBACK.
    pub async fn suback(el: &mut EventLoop) -> rumqttc::v5::mqttbytes::v5::SubAck {
        match until(el, |p| matches!(p, Packet::SubAck(_))).await {
            Packet::SubAck(s) => s,
            _ => unreachable!(),
        }
    }

    /// The next PUBLISH.
    pub async fn next(el: &mut EventLoop) -> rumqttc::v5::mqttbytes::v5::Publish {
        match until(el, |p| matches!(p, Packet::Publish(_))).await {
            Packet::Publish(p) => p,
            _ => unreachable!(),
        }
    }

    /// A client whose event loop runs in the background, its incoming
    /// packets forwarded to the test (so publishes go out while the test
    /// waits on something else).
    pub struct Driven {
        client: rumqttc::v5::AsyncClient,
        rx: tokio::sync::mpsc::UnboundedReceiver<rumqttc::v5::mqttbytes::v5::Packet>,
        _task: tokio::task::JoinHandle<()>,
    }

    impl std::ops::Deref for Driven {
        type Target = rumqttc::v5::AsyncClient;
        fn deref(&self) -> &rumqttc::v5::AsyncClient {
            &self.client
        }
    }

    /// Connect with `o` and drive the event loop in the background.
    pub async fn driven(o: MqttOptions) -> Driven {
        let (client, mut el, _) = connect(o).await;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            while let Ok(ev) = el.poll().await {
                if let Event::Incoming(p) = ev {
                    if tx.send(p).is_err() {
                        break;
                    }
                }
            }
        });
        Driven {
            client,
            rx,
            _task: task,
        }
    }

    impl Driven {
        /// The next incoming packet for which `pred` is true.
        pub async fn until(
            &mut self,
            mut pred: impl FnMut(&rumqttc::v5::mqttbytes::v5::Packet) -> bool,
        ) -> rumqttc::v5::mqttbytes::v5::Packet {
            tokio::time::timeout(super::TIMEOUT, async {
                loop {
                    let p = self.rx.recv().await.expect("connection open");
                    if pred(&p) {
                        return p;
                    }
                }
            })
            .await
            .expect("event in time")
        }

        /// Wait until the broker has processed everything sent so far (a
        /// SUBSCRIBE to a throw-away topic is answered after the packets
        /// before it). Packets arriving meanwhile are skipped.
        pub async fn flush(&mut self) {
            self.client
                .subscribe(
                    super::unique("flush"),
                    rumqttc::v5::mqttbytes::QoS::AtMostOnce,
                )
                .await
                .unwrap();
            self.until(|p| matches!(p, rumqttc::v5::mqttbytes::v5::Packet::SubAck(_)))
                .await;
        }
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

/// Wait until no subscription matches `topic`: a v5 client publishes QoS 1
/// probes (every 20 ms) until the PUBACK says 0x10 No matching subscribers.
/// This observes the broker's subscription table from outside, e.g. to know
/// that a clean session's disconnect has been fully processed.
pub async fn wait_unsubscribed(port: u16, topic: &str) {
    use rumqttc::v5::mqttbytes::v5::{Packet, PubAckReason};
    use rumqttc::v5::mqttbytes::QoS;
    let (c, mut el, _) = v5::connect(v5::options(&unique("probe"), port)).await;
    let deadline = Instant::now() + TIMEOUT;
    loop {
        c.publish(topic, QoS::AtLeastOnce, false, "probe")
            .await
            .unwrap();
        let ack = v5::until(&mut el, |p| matches!(p, Packet::PubAck(_))).await;
        if let Packet::PubAck(a) = ack {
            if a.reason == PubAckReason::NoMatchingSubscribers {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{topic} still has subscribers after {TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    c.disconnect().await.unwrap();
    let _ = tokio::time::timeout(TIMEOUT, async { while el.poll().await.is_ok() {} }).await;
}

/// A `mosquitto_sub` whose output lines are read as they come.
pub struct MosquittoSub {
    child: tokio::process::Child,
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

impl MosquittoSub {
    /// Start `mosquitto_sub` with `args` against `port`.
    pub fn start(port: u16, args: &[&str]) -> MosquittoSub {
        use tokio::io::AsyncBufReadExt;
        let mut child = tokio::process::Command::new("mosquitto_sub")
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("mosquitto_sub is installed (apt-get install mosquitto-clients)");
        let out = child.stdout.take().expect("stdout");
        MosquittoSub {
            child,
            lines: tokio::io::BufReader::new(out).lines(),
        }
    }

    /// The next line of output; fails after the timeout or at end of output.
    pub async fn line(&mut self) -> String {
        tokio::time::timeout(TIMEOUT, self.lines.next_line())
            .await
            .expect("a mosquitto_sub line in time")
            .expect("read mosquitto_sub output")
            .expect("mosquitto_sub ended early")
    }

    /// Wait for the process to exit; returns its exit code.
    pub async fn wait(mut self) -> i32 {
        tokio::time::timeout(TIMEOUT, self.child.wait())
            .await
            .expect("mosquitto_sub exits in time")
            .expect("wait")
            .code()
            .unwrap_or(-1)
    }
}
