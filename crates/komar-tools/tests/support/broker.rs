//! A private broker per test: free loopback port (and a Unix socket), its
//! own config and log, stopped when dropped. Readiness is awaited by
//! connecting, never by sleeping a fixed time.
//!
//! The broker is Debian's `mosquitto`, or the program named by the
//! `KOMAR_TOOLS_BROKER` environment variable (scripts/test.sh runs the
//! comparisons a second time against Komar's broker that way: both brokers
//! read the same configuration).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A running mosquitto broker.
pub struct Broker {
    child: Child,
    pub port: u16,
    pub dir: PathBuf,
    pub unix_path: PathBuf,
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

impl Broker {
    /// Start with anonymous access and `extra` config lines for the TCP
    /// listener.
    pub async fn start(extra: &str) -> Broker {
        Broker::start_with(extra, "allow_anonymous true\n").await
    }

    /// Start with `listener_extra` after the TCP listener and `global`
    /// before it.
    pub async fn start_with(listener_extra: &str, global: &str) -> Broker {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("komar-tools-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let port = free_port();
        let unix_path = dir.join("mq.sock");
        let conf = format!(
            "user root\nlog_dest file {log}\nlog_type all\nper_listener_settings false\n{global}\
             listener {port} 127.0.0.1\n{listener_extra}\nlistener 0 {sock}\n",
            log = dir.join("broker.log").display(),
            sock = unix_path.display(),
        );
        let conf_path = dir.join("mosquitto.conf");
        std::fs::write(&conf_path, conf).expect("write conf");
        let program =
            std::env::var("KOMAR_TOOLS_BROKER").unwrap_or_else(|_| "mosquitto".to_owned());
        let child = Command::new(program)
            .arg("-c")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn mosquitto");
        let b = Broker {
            child,
            port,
            dir,
            unix_path,
        };
        b.wait_ready().await;
        b
    }

    async fn wait_ready(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
                && self.unix_path.exists()
            {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "mosquitto did not start"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("broker.log")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Wait until `path` contains `needle` (e.g. a broker log line).
pub async fn wait_for_text(path: &Path, needle: &str, timeout: Duration) {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Ok(s) = std::fs::read_to_string(path) {
            if s.contains(needle) {
                return;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{needle:?} did not appear in {}",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
