//! `komar rr`: mosquitto_rr 2.0.11. Subscribe to the response topic,
//! publish the request with a Response Topic property, print the first
//! response and exit; `-W` bounds the wait (exit 27).

use std::time::Duration;

use bytes::Bytes;
use komar_client::{CloseReason, Connection, Event, Message};
use komar_proto::{Disconnect, ReasonCode, SubscriptionOptions, TopicFilter, TopicName};
use tokio::time::Instant;

use crate::config::{self, Config, ParseExit, PubMode, Tool};
use crate::conn::{self, OpenError};
use crate::debug::DebugLog;
use crate::format::{print_message, OutputOptions};
use crate::props::{disconnect_props, publish_props, subscribe_props, Prop, PropValue};
use crate::strings::{rc, reason_string, strerror};
use crate::term::{Term, ToolIo};

/// Run mosquitto_rr with `args` (without the program name) on `io`;
/// returns the exit code.
pub async fn rr_run(args: Vec<String>, io: ToolIo) -> i32 {
    let ToolIo {
        stdout,
        stderr,
        stdin,
        handle_signals,
    } = io;
    let mut term = Term::new(stdout, stderr);
    let mut cfg = match config::load(Tool::Rr, &args, term.err_writer()) {
        Ok(c) => c,
        Err(e) => return crate::parse_exit(Tool::Rr, e, &mut term),
    };
    term.quiet = cfg.quiet;
    if cfg.topic.is_none() || cfg.pub_mode == PubMode::None || cfg.response_topic.is_none() {
        term.eprint("Error: All of topic, message, and response topic must be supplied.\n");
        return crate::parse_exit(Tool::Rr, ParseExit::Error, &mut term);
    }
    if cfg
        .props
        .publish
        .iter()
        .any(|p| p.id == komar_proto::id::RESPONSE_TOPIC)
    {
        term.err("Error in PUBLISH properties: Duplicate response topic.\n");
        return 1;
    }
    let response_topic = cfg.response_topic.clone().unwrap_or_default();
    cfg.props.publish.push(Prop {
        id: komar_proto::id::RESPONSE_TOPIC,
        value: PropValue::Str(response_topic.clone()),
    });
    let mut stdin = Some(stdin);
    if !crate::pub_tool::load_message(&mut cfg, &mut stdin, &mut term).await {
        return 1;
    }
    let id = conn::effective_id(&cfg);
    let mut log = cfg
        .debug
        .then(|| DebugLog::new(id.as_deref(), cfg.protocol));
    let deadline =
        (cfg.timeout > 0).then(|| Instant::now() + Duration::from_secs(u64::from(cfg.timeout)));
    let connection = match conn::open(&cfg, id.as_deref(), &mut log, &mut term).await {
        Ok(c) => c,
        Err(OpenError::Exit(code)) => return code,
        Err(OpenError::Refused(c)) => {
            let code = if cfg.protocol.is_v5() {
                c.reason_code.0
            } else {
                c.reason_code.to_v3_connack()
            };
            if c.reason_code == ReasonCode::UNSUPPORTED_PROTOCOL_VERSION {
                term.err(&format!(
                    "Connection error: {}. mosquitto_rr only supports connecting to an MQTT v5 broker\n",
                    reason_string(code)
                ));
            } else {
                term.err(&format!("Connection error: {}\n", reason_string(code)));
            }
            return i32::from(code);
        }
    };
    run(
        &cfg,
        connection,
        &response_topic,
        &mut log,
        &mut term,
        deadline,
        handle_signals,
    )
    .await
}

async fn sleep_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

async fn run(
    cfg: &Config,
    c: Connection,
    response_topic: &str,
    log: &mut Option<DebugLog>,
    term: &mut Term,
    deadline: Option<Instant>,
    signals: bool,
) -> i32 {
    let Connection {
        client, mut events, ..
    } = c;
    let output = OutputOptions {
        format: cfg.format.clone(),
        verbose: cfg.verbose,
        eol: cfg.eol,
        pretty: cfg.pretty,
        quiet: cfg.quiet,
        v5: cfg.protocol.is_v5(),
    };
    let disconnect = |reason: ReasonCode| {
        let mut d = Disconnect::new(reason);
        d.properties = disconnect_props(&cfg.props.disconnect);
        let client = client.clone();
        tokio::spawn(async move {
            let _ = client.disconnect(d).await;
        });
    };
    let filter = match TopicFilter::new(response_topic) {
        Ok(f) => f,
        Err(_) => {
            disconnect(ReasonCode::NORMAL_DISCONNECTION);
            return 1;
        }
    };
    let mut suback = client
        .start_subscribe(
            vec![(filter, SubscriptionOptions::qos(cfg.qos))],
            subscribe_props(&cfg.props.subscribe),
        )
        .await
        .ok();
    let mut stopping = false;
    let mut timed_out = false;
    let reason = loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Some(Event::Message(m)) => {
                    if stopping || (m.retain && cfg.no_retain) {
                        continue;
                    }
                    let mut out = Vec::new();
                    let mut err = Vec::new();
                    print_message(&output, &m, &mut out, &mut err);
                    term.out(&out);
                    term.flush();
                    term.err_bytes(&err);
                    stopping = true;
                    disconnect(ReasonCode::NORMAL_DISCONNECTION);
                }
                Some(Event::Closed(r)) => break r,
                Some(other) => conn::print_trace(&other, log, term),
                None => break CloseReason::Local,
            },
            r = async { suback.as_mut()?.await.ok() }, if suback.is_some() => {
                suback = None;
                let Some(s) = r else { continue };
                let code = s.reason_codes.first().map_or(0x80, |c| c.0);
                if code >= 0x80 {
                    let shown = if cfg.protocol.is_v5() { code } else { 0x80 };
                    term.err(&format!("{}\n", reason_string(shown)));
                    stopping = true;
                    disconnect(ReasonCode::NORMAL_DISCONNECTION);
                } else if let Some(m) = request(cfg) {
                    let client = client.clone();
                    tokio::spawn(async move {
                        let _ = client.publish(m).await;
                    });
                }
            }
            () = sleep_opt(deadline), if !stopping => {
                timed_out = true;
                stopping = true;
                disconnect(ReasonCode::DISCONNECT_WITH_WILL_MESSAGE);
            }
            () = conn::shutdown_signal(signals), if !stopping => {
                stopping = true;
                disconnect(ReasonCode::DISCONNECT_WITH_WILL_MESSAGE);
            }
        }
    };
    term.flush();
    if timed_out {
        term.err("Timed out\n");
        return rc::TIMEOUT;
    }
    match reason {
        CloseReason::Local => 0,
        CloseReason::Error(e) => {
            let code = conn::exit_code_of(&e);
            term.err(&format!("Error: {}\n", strerror(code)));
            code
        }
        CloseReason::Server(_) => {
            term.err(&format!("Error: {}\n", strerror(rc::CONN_LOST)));
            rc::CONN_LOST
        }
    }
}

/// The request message: payload from `-m`/`-f`/`-s`/`-n`, the Response
/// Topic and `-D publish` properties (5.0 only).
fn request(cfg: &Config) -> Option<Message> {
    let topic = TopicName::new(cfg.topic.as_deref()?).ok()?;
    let payload = match cfg.pub_mode {
        PubMode::Null => Bytes::new(),
        _ => Bytes::from(cfg.message.clone().unwrap_or_default()),
    };
    let mut m = Message::new(topic, payload, cfg.qos);
    m.retain = cfg.retain;
    if cfg.protocol.is_v5() {
        m.properties = publish_props(&cfg.props.publish);
    }
    Some(m)
}
