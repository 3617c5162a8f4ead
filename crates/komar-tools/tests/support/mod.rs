//! Test support for the tool comparisons: a mosquitto broker per test, and
//! running a tool two ways — Debian's real `mosquitto_*` binary and Komar's
//! implementation in-process — capturing stdout, stderr and the exit code.

#![allow(dead_code)]

mod broker;

use std::io::Write;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use broker::{wait_for_text, Broker};
use komar_tools::ToolIo;
use tokio::io::AsyncWriteExt;

/// How long any single tool run may take.
pub const RUN_LIMIT: Duration = Duration::from_secs(20);

/// What a tool run produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub code: i32,
}

impl Outcome {
    pub fn out(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn err(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

#[derive(Clone, Default)]
struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// Run Komar's `tool` ("pub", "sub", "rr") in-process.
pub async fn ours(tool: &str, args: &[&str], stdin: &[u8]) -> Outcome {
    let out = SharedBuf::default();
    let err = SharedBuf::default();
    let io = ToolIo {
        stdout: Box::new(out.clone()),
        stderr: Box::new(err.clone()),
        stdin: Box::new(std::io::Cursor::new(stdin.to_vec())),
        handle_signals: false,
    };
    let shown = args.join(" ");
    let args = strings(args);
    let fut = async move {
        match tool {
            "pub" => komar_tools::pub_run(args, io).await,
            "sub" => komar_tools::sub_run(args, io).await,
            "rr" => komar_tools::rr_run(args, io).await,
            other => panic!("unknown tool {other}"),
        }
    };
    let code = tokio::time::timeout(RUN_LIMIT, fut)
        .await
        .unwrap_or_else(|_| panic!("komar {tool} {shown} did not finish"));
    let stdout = out.0.lock().unwrap().clone();
    let stderr = err.0.lock().unwrap().clone();
    Outcome {
        stdout,
        stderr,
        code,
    }
}

/// Run Debian's `mosquitto_<tool>`.
pub async fn real(tool: &str, args: &[&str], stdin: &[u8]) -> Outcome {
    let empty_cfg = std::env::temp_dir().join("komar-tools-test-empty-xdg");
    let _ = std::fs::create_dir_all(&empty_cfg);
    let mut child = tokio::process::Command::new(format!("mosquitto_{tool}"))
        .args(args)
        .env("XDG_CONFIG_HOME", &empty_cfg)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn mosquitto client");
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    tokio::spawn(async move {
        let _ = input.write_all(&data).await;
    });
    let out = tokio::time::timeout(RUN_LIMIT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("mosquitto_{tool} {args:?} did not finish"))
        .expect("wait");
    Outcome {
        stdout: out.stdout,
        stderr: out.stderr,
        code: out.status.code().unwrap_or(-1),
    }
}

/// Run both at once and assert identical stdout, stderr and exit code.
pub async fn same(tool: &str, args: &[&str], stdin: &[u8]) -> Outcome {
    let (r, o) = tokio::join!(real(tool, args, stdin), ours(tool, args, stdin));
    check(tool, args, r, o)
}

/// As [`same`], one after the other (for a fixed client id, which two
/// concurrent runs would take over from each other).
pub async fn same_seq(tool: &str, args: &[&str], stdin: &[u8]) -> Outcome {
    let r = real(tool, args, stdin).await;
    let o = ours(tool, args, stdin).await;
    check(tool, args, r, o)
}

fn check(tool: &str, args: &[&str], r: Outcome, o: Outcome) -> Outcome {
    assert_eq!(
        o.code, r.code,
        "exit code of {tool} {args:?}\nreal: {r:?}\nours: {o:?}"
    );
    assert_eq!(o.out(), r.out(), "stdout of {tool} {args:?}");
    assert_eq!(o.err(), r.err(), "stderr of {tool} {args:?}");
    r
}
