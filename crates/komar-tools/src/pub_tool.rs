//! `komar pub`: mosquitto_pub 2.0.11. Publish one message (`-m`, `-f`,
//! `-s`, `-n`, optionally `--repeat`ed) or one per stdin line (`-l`),
//! wait for the QoS flows to finish, then disconnect.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};

use bytes::Bytes;
use komar_client::{Client, ClientError, CloseReason, Connection, Event, Message, PublishHandle};
use komar_proto::{Disconnect, ReasonCode, TopicName};
use tokio::sync::mpsc;

use crate::config::{self, Config, PubMode, Tool};
use crate::conn::{self, OpenError};
use crate::debug::DebugLog;
use crate::props::{disconnect_props, publish_props};
use crate::strings::{connack_string, reason_string, strerror};
use crate::term::{Term, ToolIo};

/// Lines read ahead of publishing in `-l` mode.
const LINE_QUEUE: usize = 64;

/// Run mosquitto_pub with `args` (without the program name) on `io`;
/// returns the exit code.
pub async fn pub_run(args: Vec<String>, io: ToolIo) -> i32 {
    let ToolIo {
        stdout,
        stderr,
        stdin,
        ..
    } = io;
    let mut term = Term::new(stdout, stderr);
    let mut cfg = match config::load(Tool::Pub, &args, term.err_writer()) {
        Ok(c) => c,
        Err(e) => return crate::parse_exit(Tool::Pub, e, &mut term),
    };
    term.quiet = cfg.quiet;
    let mut stdin = Some(stdin);
    if !load_message(&mut cfg, &mut stdin, &mut term).await {
        return 1;
    }
    if cfg.topic.is_none() || cfg.pub_mode == PubMode::None {
        term.eprint("Error: Both topic and message must be supplied.\n");
        term.out(crate::help::usage(Tool::Pub).as_bytes());
        term.flush();
        return 1;
    }
    let id = conn::effective_id(&cfg);
    let mut log = cfg
        .debug
        .then(|| DebugLog::new(id.as_deref(), cfg.protocol));
    let connection = match conn::open(&cfg, id.as_deref(), &mut log, &mut term).await {
        Ok(c) => c,
        Err(OpenError::Exit(code)) => return code,
        Err(OpenError::Refused(c)) => return refused(&cfg, &c, &mut term),
    };
    let Connection {
        client, mut events, ..
    } = connection;
    let (notes_tx, mut notes) = mpsc::channel::<String>(16);
    let task = tokio::spawn(publish_all(cfg.clone(), client, stdin, notes_tx));
    let reason = loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Some(Event::Closed(r)) => break r,
                Some(other) => conn::print_trace(&other, &mut log, &mut term),
                None => break CloseReason::Local,
            },
            Some(n) = notes.recv() => term.err(&n),
        }
    };
    let _ = task.await;
    while let Ok(n) = notes.try_recv() {
        term.err(&n);
    }
    term.flush();
    match reason {
        CloseReason::Local => 0,
        CloseReason::Server(_) | CloseReason::Error(_) => {
            let code = match &reason {
                CloseReason::Error(e) => conn::exit_code_of(e),
                _ => crate::strings::rc::CONN_LOST,
            };
            term.err(&format!("Error: {}\n", strerror(code)));
            code
        }
    }
}

fn refused(cfg: &Config, c: &komar_proto::ConnAck, term: &mut Term) -> i32 {
    if cfg.protocol.is_v5() {
        let code = c.reason_code.0;
        if c.reason_code == ReasonCode::UNSUPPORTED_PROTOCOL_VERSION {
            term.err(&format!(
                "Connection error: {}. Try connecting to an MQTT v5 broker, or use MQTT v3.x mode.\n",
                reason_string(code)
            ));
        } else {
            term.err(&format!("Connection error: {}\n", reason_string(code)));
        }
        // libmosquitto then reports the closed socket as a protocol error.
        term.err(&format!(
            "Error: {}\n",
            strerror(crate::strings::rc::PROTOCOL)
        ));
        i32::from(code)
    } else {
        let code = c.reason_code.to_v3_connack();
        term.err(&format!("Connection error: {}\n", connack_string(code)));
        term.err(&format!(
            "Error: {}\n",
            strerror(crate::strings::rc::CONN_REFUSED)
        ));
        i32::from(code)
    }
}

/// `-s` and `-f`: read the message before connecting. False after printing
/// the error.
pub(crate) async fn load_message(
    cfg: &mut Config,
    stdin: &mut Option<Box<dyn Read + Send>>,
    term: &mut Term,
) -> bool {
    match cfg.pub_mode {
        PubMode::StdinFile => {
            let Some(mut input) = stdin.take() else {
                return false;
            };
            let read = tokio::task::spawn_blocking(move || {
                let mut buf = Vec::new();
                input.read_to_end(&mut buf).map(|_| buf)
            })
            .await;
            match read {
                Ok(Ok(buf)) if !buf.is_empty() => {
                    cfg.message = Some(buf);
                    true
                }
                Ok(Ok(_)) => {
                    term.err("Error: Zero length input.\n");
                    term.err("Error loading input from stdin.\n");
                    false
                }
                _ => {
                    term.err("Error loading input from stdin.\n");
                    false
                }
            }
        }
        PubMode::File => {
            let path = cfg.file_input.clone().unwrap_or_default();
            match std::fs::read(&path) {
                Ok(buf) if buf.len() <= komar_proto::MAX_REMAINING_LENGTH => {
                    cfg.message = Some(buf);
                    true
                }
                Err(e) if e.kind() != std::io::ErrorKind::IsADirectory => {
                    term.err(&format!("Error: Unable to open file \"{path}\".\n"));
                    term.err(&format!("Error loading input file \"{path}\".\n"));
                    false
                }
                _ => {
                    term.err(&format!(
                        "Error: File must be less than {} bytes.\n\n",
                        komar_proto::MAX_REMAINING_LENGTH
                    ));
                    term.err(&format!("Error loading input file \"{path}\".\n"));
                    false
                }
            }
        }
        _ => true,
    }
}

/// Builds each message; with a 5.0 topic alias only the first one carries
/// the topic.
struct Publisher {
    topic: TopicName,
    props: komar_proto::PublishProperties,
    qos: komar_proto::QoS,
    retain: bool,
    alias_only_after_first: bool,
    first: bool,
}

impl Publisher {
    fn new(cfg: &Config) -> Option<Publisher> {
        let topic = TopicName::new(cfg.topic.as_deref()?).ok()?;
        Some(Publisher {
            topic,
            props: if cfg.protocol.is_v5() {
                publish_props(&cfg.props.publish)
            } else {
                Default::default()
            },
            qos: cfg.qos,
            retain: cfg.retain,
            alias_only_after_first: cfg.protocol.is_v5() && cfg.props.have_topic_alias,
            first: true,
        })
    }

    fn message(&mut self, payload: Bytes) -> Message {
        let topic = if self.alias_only_after_first && !self.first {
            TopicName::empty_for_alias()
        } else {
            self.topic.clone()
        };
        self.first = false;
        Message {
            topic,
            payload,
            qos: self.qos,
            retain: self.retain,
            properties: self.props.clone(),
        }
    }
}

/// The message mosquitto_pub prints when `mosquitto_publish` fails.
fn publish_error(e: &ClientError) -> Option<String> {
    match e {
        ClientError::InvalidRequest(m) if m.contains("QoS") => {
            Some("Error: Message QoS not supported on broker, try a lower QoS.\n".into())
        }
        ClientError::InvalidRequest(_) => {
            Some("Error: Invalid input. Does your topic contain '+' or '#'?\n".into())
        }
        _ => None,
    }
}

/// A publish in progress: QoS 0 is complete once the connection task has
/// taken it (so its errors are known), QoS 1/2 when acknowledged.
enum InFlight {
    Done(Result<komar_client::PublishOutcome, ClientError>),
    Waiting(PublishHandle),
}

/// Queue `m`; `None` when the connection is gone.
async fn start(client: &Client, m: Message) -> Option<InFlight> {
    if m.qos == komar_proto::QoS::AtMostOnce {
        match client.publish(m).await {
            Err(ClientError::ConnectionClosed) => None,
            r => Some(InFlight::Done(r)),
        }
    } else {
        client.start_publish(m).await.ok().map(InFlight::Waiting)
    }
}

/// Report a failed publish as mosquitto_pub's callbacks do; false when
/// publishing should stop.
async fn finish(f: InFlight, notes: &mpsc::Sender<String>) -> bool {
    let r = match f {
        InFlight::Done(r) => r,
        InFlight::Waiting(h) => h.await,
    };
    match r {
        Ok(out) => {
            if out.reason_code.is_error() {
                let mid = out.packet_id.map_or(0, |p| p.get());
                let _ = notes
                    .send(format!(
                        "Warning: Publish {mid} failed: {}.\n",
                        reason_string(out.reason_code.0)
                    ))
                    .await;
                if let Some(r) = out.properties.reason_string {
                    let _ = notes.send(format!("{r}\n")).await;
                }
            }
            true
        }
        Err(e) => {
            if let Some(m) = publish_error(&e) {
                let _ = notes.send(m).await;
            }
            false
        }
    }
}

async fn publish_all(
    cfg: Config,
    client: Client,
    stdin: Option<Box<dyn Read + Send>>,
    notes: mpsc::Sender<String>,
) {
    let Some(mut p) = Publisher::new(&cfg) else {
        let _ = notes
            .send("Error: Invalid input. Does your topic contain '+' or '#'?\n".into())
            .await;
        let _ = client.disconnect(Disconnect::default()).await;
        return;
    };
    match cfg.pub_mode {
        PubMode::StdinLine => {
            let Some(stdin) = stdin else { return };
            let (tx, mut rx) = mpsc::channel::<Vec<u8>>(LINE_QUEUE);
            // A plain thread: a blocked stdin read must not hold up runtime
            // shutdown.
            std::thread::spawn(move || {
                let mut r = BufReader::new(stdin);
                loop {
                    let mut line = Vec::new();
                    match r.read_until(b'\n', &mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            if line.last() == Some(&b'\n') {
                                line.pop();
                            }
                            if tx.blocking_send(line).is_err() {
                                break;
                            }
                        }
                    }
                }
            });
            let window = cfg.max_inflight.max(1) as usize;
            let mut inflight: VecDeque<InFlight> = VecDeque::with_capacity(window);
            while let Some(line) = rx.recv().await {
                if inflight.len() >= window {
                    if let Some(h) = inflight.pop_front() {
                        finish(h, &notes).await;
                    }
                }
                match start(&client, p.message(Bytes::from(line))).await {
                    Some(f) => inflight.push_back(f),
                    None => return,
                }
            }
            for h in inflight {
                finish(h, &notes).await;
            }
        }
        _ => {
            let payload = Bytes::from(cfg.message.clone().unwrap_or_default());
            for i in 0..cfg.repeat_count.max(1) {
                if i > 0 && !cfg.repeat_delay.is_zero() {
                    tokio::time::sleep(cfg.repeat_delay).await;
                }
                let ok = match start(&client, p.message(payload.clone())).await {
                    Some(f) => finish(f, &notes).await,
                    None => return,
                };
                if !ok {
                    break;
                }
            }
        }
    }
    let d = Disconnect {
        properties: disconnect_props(&cfg.props.disconnect),
        ..Default::default()
    };
    let _ = client.disconnect(d).await;
}
