//! Helpers for the Mosquitto cross-checks: finding the installed tools,
//! temporary directories, a broker process bound to a free loopback port,
//! and `mosquitto_sub` / `mosquitto_pub` runs whose output is awaited with
//! deadlines (never a fixed sleep).

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};
use std::{env, fs, thread};

/// How long any single awaited event may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(15);

/// Path of an executable on `PATH`.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    env::var_os("PATH").and_then(|paths| {
        env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// True when every tool is installed; otherwise prints why the test is
/// skipped.
pub fn have_tools(test: &str, tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| find_tool(t).is_none())
        .collect();
    if missing.is_empty() {
        return true;
    }
    eprintln!(
        "SKIPPED {test}: {} not installed (apt-get install mosquitto mosquitto-clients)",
        missing.join(", ")
    );
    false
}

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path =
            env::temp_dir().join(format!("komar-auth-{tag}-{}-{nanos:x}", std::process::id()));
        fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    pub fn str(&self, name: &str) -> String {
        self.path(name).to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    l.local_addr().unwrap().port()
}

/// A running `mosquitto`, killed on drop.
pub struct Broker {
    child: Child,
    pub port: u16,
    log: PathBuf,
}

impl Broker {
    /// Start `mosquitto -c <dir>/mosquitto.conf` with `extra` config lines,
    /// listening on a free loopback port, and wait until it accepts TCP
    /// connections.
    pub fn start(dir: &TempDir, extra: &str) -> Broker {
        let port = free_port();
        let conf = dir.path("mosquitto.conf");
        fs::write(
            &conf,
            format!("user root\nlistener {port} 127.0.0.1\nlog_dest stdout\nlog_type all\n{extra}"),
        )
        .unwrap();
        let log = dir.path("mosquitto.log");
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(fs::File::create(&log).unwrap())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut broker = Broker { child, port, log };
        broker.wait_listening();
        broker
    }

    fn wait_listening(&mut self) {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let start = Instant::now();
        let mut pause = Duration::from_millis(2);
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("mosquitto exited with {status}:\n{}", self.log_text());
            }
            assert!(
                start.elapsed() < DEADLINE,
                "mosquitto did not listen on {addr}:\n{}",
                self.log_text()
            );
            // Poll interval while the broker starts, not a synchronisation.
            thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A child process whose stdout lines arrive on a channel.
pub struct Lines {
    child: Child,
    rx: Receiver<String>,
    pub seen: Vec<String>,
}

impl Lines {
    /// Spawn `program args…` with line-buffered stdout (through `stdbuf`,
    /// since mosquitto_sub block-buffers a pipe).
    pub fn spawn(program: &str, args: &[String]) -> Lines {
        let mut child = Command::new("stdbuf")
            .arg("-oL")
            .arg(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Lines {
            child,
            rx,
            seen: Vec::new(),
        }
    }

    /// Wait for a line satisfying `want`, keeping every line read in
    /// `seen`. Panics with the transcript after [`DEADLINE`].
    pub fn wait_for(&mut self, what: &str, want: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let left = DEADLINE.saturating_sub(start.elapsed());
            match self.rx.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if want(&line) {
                        return line;
                    }
                }
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {
                    panic!("no line for {what}; saw:\n{}", self.seen.join("\n"))
                }
            }
        }
    }
}

impl Drop for Lines {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Arguments naming a client: `-i id` and `-u user` when there is one.
pub fn identity(client: &str, user: Option<&str>) -> Vec<String> {
    let mut args = vec!["-i".to_owned(), client.to_owned()];
    if let Some(u) = user {
        args.extend(["-u".to_owned(), u.to_owned()]);
    }
    args
}

/// Start `mosquitto_sub -d -v` for `topics` and wait for its SUBACK line
/// (`Subscribed (mid: 1): …`), which is returned.
pub fn subscribe(port: u16, who: &[String], topics: &[&str]) -> (Lines, String) {
    let mut args = vec![
        "-d".to_owned(),
        "-v".to_owned(),
        "-p".to_owned(),
        port.to_string(),
    ];
    args.extend(who.iter().cloned());
    for t in topics {
        args.extend(["-t".to_owned(), (*t).to_owned()]);
    }
    let mut sub = Lines::spawn("mosquitto_sub", &args);
    let suback = sub.wait_for("SUBACK", |l| l.starts_with("Subscribed (mid:"));
    (sub, suback)
}

/// `mosquitto_pub` at QoS 1 (it exits after the PUBACK, so the broker has
/// handled the message when this returns).
pub fn publish(port: u16, who: &[String], topic: &str, payload: &str) -> ExitStatus {
    Command::new("mosquitto_pub")
        .args([
            "-p",
            &port.to_string(),
            "-q",
            "1",
            "-t",
            topic,
            "-m",
            payload,
        ])
        .args(who)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
}

/// `mosquitto_pub` with a user name and password; returns its exit status.
pub fn publish_as(port: u16, user: &str, password: &str) -> ExitStatus {
    Command::new("mosquitto_pub")
        .args([
            "-p",
            &port.to_string(),
            "-u",
            user,
            "-P",
            password,
            "-t",
            "t",
            "-m",
            "x",
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
}

/// Replace `dir` (as given and canonicalised) by `{d}` in `text`.
pub fn normalise(text: &str, dir: &Path) -> String {
    let mut out = text.to_owned();
    if let Ok(real) = dir.canonicalize() {
        out = out.replace(&*real.to_string_lossy(), "{d}");
    }
    out.replace(&*dir.to_string_lossy(), "{d}")
}
