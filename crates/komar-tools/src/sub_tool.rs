//! `komar sub`: mosquitto_sub 2.0.11. Subscribe, print what arrives in the
//! chosen format, and end on `-C` count, `-E`, `--retained-only`, `-W`
//! timeout (exit 27) or a signal. A lost connection is retried every second,
//! as libmosquitto's `loop_forever` does.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use komar_client::{CloseReason, Connection, Event, Message, PublishHandle};
use komar_proto::{
    Disconnect, Packet, Publish, QoS, ReasonCode, RetainHandling, SubAck, SubscriptionOptions,
    TopicFilter,
};
use tokio::time::Instant;

use crate::config::{self, Config, Tool, SUB_OPT_RETAIN_AS_PUBLISHED, SUB_OPT_SEND_RETAIN_NEVER};
use crate::conn::{self, OpenError};
use crate::debug::DebugLog;
use crate::format::{print_message, OutputOptions};
use crate::props::{disconnect_props, subscribe_props, unsubscribe_props};
use crate::strings::{connack_string, rc, reason_string};
use crate::term::{Term, ToolIo};

/// libmosquitto's reconnect delay.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// Run mosquitto_sub with `args` (without the program name) on `io`;
/// returns the exit code.
pub async fn sub_run(args: Vec<String>, io: ToolIo) -> i32 {
    let mut term = Term::new(io.stdout, io.stderr);
    let cfg = match config::load(Tool::Sub, &args, term.err_writer()) {
        Ok(c) => c,
        Err(e) => return crate::parse_exit(Tool::Sub, e, &mut term),
    };
    term.quiet = cfg.quiet;
    if cfg.no_retain && cfg.retained_only {
        term.eprint("\nError: Combining '-R' and '--retained-only' makes no sense.\n");
        return 1;
    }
    let id = conn::effective_id(&cfg);
    let deadline =
        (cfg.timeout > 0).then(|| Instant::now() + Duration::from_secs(u64::from(cfg.timeout)));
    let mut sub = Subscriber::new(&cfg);
    let mut first = true;
    loop {
        let mut log = cfg
            .debug
            .then(|| DebugLog::new(id.as_deref(), cfg.protocol));
        let opened = tokio::select! {
            r = conn::open(&cfg, id.as_deref(), &mut log, &mut term) => r,
            () = sleep_opt(deadline) => {
                // SIGALRM before CONNACK: mosquitto_sub calls exit(-1).
                term.flush();
                return 255;
            }
            () = conn::shutdown_signal(io.handle_signals) => return 255,
        };
        let connection = match opened {
            Ok(c) => c,
            Err(OpenError::Refused(c)) => return refused(&cfg, &c, &mut term),
            Err(OpenError::Exit(code)) if first => return code,
            Err(OpenError::Exit(_)) => {
                // Reconnection attempts fail silently and are retried.
                if !sub.wait_retry(deadline, io.handle_signals).await {
                    break;
                }
                continue;
            }
        };
        first = false;
        let ended = sub
            .session(
                &cfg,
                connection,
                &mut log,
                &mut term,
                deadline,
                io.handle_signals,
            )
            .await;
        if ended || !sub.wait_retry(deadline, io.handle_signals).await {
            break;
        }
    }
    term.flush();
    if sub.timed_out {
        term.err("Timed out\n");
        return rc::TIMEOUT;
    }
    0
}

/// Print mosquitto_sub's message for a refused connection; the exit code is
/// the CONNACK code.
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
        i32::from(code)
    } else {
        let code = c.reason_code.to_v3_connack();
        term.err(&format!("Connection error: {}\n", connack_string(code)));
        i32::from(code)
    }
}

async fn sleep_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// State that lives across reconnections.
struct Subscriber {
    output: OutputOptions,
    process_messages: bool,
    msg_count: i32,
    timed_out: bool,
    rng: Rng,
}

/// A small generator for `--random-filter` (quality is irrelevant).
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0x5EED);
        Rng(h.finish() | 1)
    }

    fn next(&mut self) -> u64 {
        // xorshift64
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

impl Subscriber {
    fn new(cfg: &Config) -> Subscriber {
        Subscriber {
            output: OutputOptions {
                format: cfg.format.clone(),
                verbose: cfg.verbose,
                eol: cfg.eol,
                pretty: cfg.pretty,
                quiet: cfg.quiet,
                v5: cfg.protocol.is_v5(),
            },
            process_messages: true,
            msg_count: 0,
            timed_out: false,
            rng: Rng::new(),
        }
    }

    /// Wait before reconnecting; false when the deadline or a signal ends
    /// the tool instead.
    async fn wait_retry(&mut self, deadline: Option<Instant>, signals: bool) -> bool {
        if !self.process_messages {
            return false;
        }
        tokio::select! {
            () = tokio::time::sleep(RECONNECT_DELAY) => true,
            () = sleep_opt(deadline) => {
                self.timed_out = true;
                false
            }
            () = conn::shutdown_signal(signals) => false,
        }
    }

    /// One connection: subscribe, print, and return true when the tool is
    /// done (false when the connection was lost and should be retried).
    async fn session(
        &mut self,
        cfg: &Config,
        c: Connection,
        log: &mut Option<DebugLog>,
        term: &mut Term,
        deadline: Option<Instant>,
        signals: bool,
    ) -> bool {
        let Connection {
            client, mut events, ..
        } = c;
        let disconnect = |reason: ReasonCode| {
            let mut d = Disconnect::new(reason);
            d.properties = disconnect_props(&cfg.props.disconnect);
            let client = client.clone();
            tokio::spawn(async move {
                let _ = client.disconnect(d).await;
            });
        };
        let mut suback = client
            .start_subscribe(subscriptions(cfg), subscribe_props(&cfg.props.subscribe))
            .await
            .ok();
        for t in &cfg.unsub_topics {
            if let Ok(f) = TopicFilter::new(t) {
                let _ = client
                    .start_unsubscribe(vec![f], unsubscribe_props(&cfg.props.unsubscribe))
                    .await;
            }
        }
        let mut removals: Vec<PublishHandle> = Vec::new();
        let mut stopping = false;
        loop {
            tokio::select! {
                ev = events.recv() => {
                    let Some(ev) = ev else { return true };
                    match ev {
                        Event::Message(m) => {
                            let stop = self.on_message(cfg, &client, m, term, &mut removals).await;
                            if stop && !stopping {
                                stopping = true;
                                if removals.is_empty() {
                                    disconnect(ReasonCode::NORMAL_DISCONNECTION);
                                } else {
                                    // Disconnect once the retained-message
                                    // removals are acknowledged.
                                    let pending = std::mem::take(&mut removals);
                                    let client = client.clone();
                                    let d = Disconnect {
                                        properties: disconnect_props(&cfg.props.disconnect),
                                        ..Default::default()
                                    };
                                    tokio::spawn(async move {
                                        for h in pending {
                                            let _ = h.await;
                                        }
                                        let _ = client.disconnect(d).await;
                                    });
                                }
                            }
                        }
                        Event::Closed(reason) => {
                            return stopping
                                || !self.process_messages
                                || !matches!(reason, CloseReason::Error(_) | CloseReason::Server(_));
                        }
                        other => {
                            conn::print_trace(&other, log, term);
                            // With -d the SUBACK is handled in stream order,
                            // after its debug line.
                            if let (Event::Received(Packet::SubAck(s)), true) = (&other, suback.is_some()) {
                                suback = None;
                                if self.on_suback(cfg, s, term) && !stopping {
                                    stopping = true;
                                    disconnect(ReasonCode::NORMAL_DISCONNECTION);
                                }
                            }
                        }
                    }
                }
                r = async { suback.as_mut()?.await.ok() }, if suback.is_some() && !cfg.debug => {
                    suback = None;
                    if let Some(s) = r {
                        if self.on_suback(cfg, &s, term) && !stopping {
                            stopping = true;
                            disconnect(ReasonCode::NORMAL_DISCONNECTION);
                        }
                    }
                }
                () = sleep_opt(deadline), if !stopping => {
                    self.timed_out = true;
                    self.process_messages = false;
                    stopping = true;
                    disconnect(ReasonCode::DISCONNECT_WITH_WILL_MESSAGE);
                }
                () = conn::shutdown_signal(signals), if !stopping => {
                    self.process_messages = false;
                    stopping = true;
                    disconnect(ReasonCode::DISCONNECT_WITH_WILL_MESSAGE);
                }
            }
        }
    }

    /// SUBACK: debug line, "all denied", `-E`. True when the tool should
    /// disconnect.
    fn on_suback(&mut self, cfg: &Config, s: &SubAck, term: &mut Term) -> bool {
        let codes: Vec<u8> = s
            .reason_codes
            .iter()
            .map(|c| {
                if !cfg.protocol.is_v5() && c.is_error() {
                    0x80
                } else {
                    c.0
                }
            })
            .collect();
        if cfg.debug && !cfg.quiet {
            let list: Vec<String> = codes.iter().map(u8::to_string).collect();
            term.out(
                format!("Subscribed (mid: {}): {}\n", s.packet_id, list.join(", ")).as_bytes(),
            );
            term.flush();
        }
        let mut stop = false;
        if codes.iter().all(|&c| c >= 0x80) {
            stop = true;
            term.err("All subscription requests were denied.\n");
        }
        stop || cfg.exit_after_sub
    }

    /// One message (`my_message_callback`); true when the tool should now
    /// disconnect.
    async fn on_message(
        &mut self,
        cfg: &Config,
        client: &komar_client::Client,
        m: Publish,
        term: &mut Term,
        removals: &mut Vec<PublishHandle>,
    ) -> bool {
        if !self.process_messages {
            return false;
        }
        if cfg.retained_only && !m.retain {
            self.process_messages = false;
            return true;
        }
        if m.retain && cfg.no_retain {
            return false;
        }
        if cfg
            .filter_outs
            .iter()
            .any(|f| komar_proto::topic::matches(f, m.topic.as_str()))
        {
            return false;
        }
        if cfg.remove_retained && m.retain {
            let mut clear = Message::new(m.topic.clone(), bytes::Bytes::new(), QoS::AtLeastOnce);
            clear.retain = true;
            if let Ok(h) = client.start_publish(clear).await {
                removals.push(h);
            }
        }
        if cfg.random_filter >= 10_000 || (self.rng.next() % 10_000) < cfg.random_filter as u64 {
            let mut out = Vec::new();
            let mut err = Vec::new();
            print_message(&self.output, &m, &mut out, &mut err);
            term.out(&out);
            term.flush();
            term.err_bytes(&err);
        }
        let mut stop = term.out_failed;
        if cfg.msg_count > 0 {
            self.msg_count += 1;
            if self.msg_count == cfg.msg_count {
                self.process_messages = false;
                stop = true;
            }
        }
        stop
    }
}

/// The subscriptions of `-t` with `-q` and the 5.0 options of `-R` and
/// `--retain-as-published` (dropped before 5.0, where the bits are
/// reserved).
fn subscriptions(cfg: &Config) -> Vec<(TopicFilter, SubscriptionOptions)> {
    let v5 = cfg.protocol.is_v5();
    cfg.topics
        .iter()
        .filter_map(|t| TopicFilter::new(t).ok())
        .map(|f| {
            let mut o = SubscriptionOptions::qos(cfg.qos);
            if v5 {
                o.retain_as_published = cfg.sub_opts & SUB_OPT_RETAIN_AS_PUBLISHED != 0;
                if cfg.sub_opts & SUB_OPT_SEND_RETAIN_NEVER != 0 {
                    o.retain_handling = RetainHandling::DoNotSend;
                }
            }
            (f, o)
        })
        .collect()
}
