//! Running one scenario against one broker: connect the clients, publish,
//! count what arrives (loss and duplicates per publisher and sequence),
//! measure latency, and read the broker's CPU time and memory around the
//! run. Every run is bounded by `--timeout`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use komar_client::{connect, Client, ConnectOptions, Connection, Endpoint, Limits, Message};
use komar_proto::{
    ProtocolVersion, QoS, SubscribeProperties, SubscriptionOptions, TopicFilter, TopicName,
};

use crate::args::{BenchArgs, Scenario, Scheme, Target};
use crate::histogram::Histogram;
use crate::lean::{self, LeanConn};
use crate::payload;
use crate::procstat;

/// How long subscribers wait for stragglers once every publisher is done.
const IDLE_AFTER_PUBLISH: Duration = Duration::from_secs(2);

/// The outcome of one run.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// Scenario name.
    pub scenario: &'static str,
    /// Target name.
    pub target: String,
    /// QoS used.
    pub qos: u8,
    /// Messages published.
    pub published: u64,
    /// Deliveries expected (published × recipients).
    pub expected: u64,
    /// Distinct deliveries received.
    pub delivered: u64,
    /// Deliveries received more than once.
    pub duplicates: u64,
    /// Publish errors (refused or failed acknowledgements).
    pub errors: u64,
    /// From the first publish to the last delivery.
    pub elapsed: Duration,
    /// Latency distribution.
    pub latency: Histogram,
    /// Broker CPU seconds during the run (with a PID).
    pub cpu_seconds: Option<f64>,
    /// conn: connections per second while opening.
    pub connect_rate: Option<f64>,
    /// conn: broker RSS growth per connection, in bytes.
    pub rss_per_connection: Option<f64>,
}

impl RunResult {
    /// Deliveries per second.
    pub fn rate(&self) -> f64 {
        self.delivered as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Broker CPU seconds per million deliveries.
    pub fn cpu_per_million(&self) -> Option<f64> {
        let cpu = self.cpu_seconds?;
        (self.delivered > 0).then(|| cpu * 1e6 / self.delivered as f64)
    }

    /// Deliveries that never arrived.
    pub fn lost(&self) -> u64 {
        self.expected.saturating_sub(self.delivered)
    }
}

fn version(args: &BenchArgs) -> ProtocolVersion {
    match args.version.as_str() {
        "5" | "mqttv5" => ProtocolVersion::V5,
        "31" | "mqttv31" => ProtocolVersion::V31,
        _ => ProtocolVersion::V311,
    }
}

fn qos_of(q: u8) -> QoS {
    QoS::from_u8(q).unwrap_or(QoS::AtMostOnce)
}

async fn open(
    target: &Target,
    args: &BenchArgs,
    id: String,
    persistent: bool,
) -> Result<Connection, String> {
    let mut o = ConnectOptions::new(version(args), id);
    o.keep_alive = 60;
    if persistent {
        o.clean_start = false;
        o.properties.session_expiry_interval = Some(3600);
    }
    o.limits = Limits {
        command_capacity: 256,
        event_capacity: 4096,
        max_waiting_publishes: 256,
        write_high_water: 64 * 1024,
    };
    let fail = |e: komar_client::ClientError| format!("{}: cannot connect: {e}", target.name);
    let endpoint = Endpoint::tcp(target.host.clone(), target.port);
    if target.scheme == Scheme::Mqtt {
        return connect(&endpoint, o).await.map_err(fail);
    }
    let mut transport = endpoint.connect().await.map_err(fail)?;
    if matches!(target.scheme, Scheme::Mqtts | Scheme::Wss) {
        let tls = komar_client::tls::TlsConfig {
            cafile: args.cafile.clone(),
            insecure: args.cafile.is_none(),
            os_certs: args.cafile.is_none(),
            ..Default::default()
        };
        let connector = tls.connector().map_err(fail)?;
        transport = komar_client::tls::tls_over(transport, &target.host, connector)
            .await
            .map_err(fail)?;
    }
    if matches!(target.scheme, Scheme::Ws | Scheme::Wss) {
        transport = komar_client::ws::websocket_over(transport, &target.host, "/mqtt")
            .await
            .map_err(fail)?;
    }
    komar_client::connect_over(transport, o).await.map_err(fail)
}

/// A publisher's connection, through either engine.
enum Publisher {
    Lean(LeanConn),
    General(Connection),
}

async fn open_lean(
    target: &Target,
    args: &BenchArgs,
    id: String,
    persistent: bool,
) -> Result<LeanConn, String> {
    LeanConn::connect(&target.host, target.port, version(args), id, persistent)
        .await
        .map_err(|e| format!("{}: cannot connect: {e}", target.name))
}

/// Counts what one subscriber receives.
pub(crate) struct Tally {
    seen: Vec<Vec<u8>>,
    pub(crate) delivered: u64,
    duplicates: u64,
    latency: Histogram,
}

impl Tally {
    pub(crate) fn new(publishers: usize, per_publisher: u64) -> Tally {
        let bytes = usize::try_from(per_publisher.div_ceil(8)).unwrap_or(0);
        Tally {
            seen: vec![vec![0u8; bytes]; publishers],
            delivered: 0,
            duplicates: 0,
            latency: Histogram::default(),
        }
    }

    pub(crate) fn record(&mut self, p: &[u8], epoch: Instant) {
        let Some(s) = payload::decode(p) else { return };
        let Some(bits) = self.seen.get_mut(s.publisher as usize) else {
            return;
        };
        let (byte, bit) = ((s.seq / 8) as usize, 1u8 << (s.seq % 8));
        let Some(slot) = bits.get_mut(byte) else {
            return;
        };
        if *slot & bit != 0 {
            self.duplicates += 1;
            return;
        }
        *slot |= bit;
        self.delivered += 1;
        let now = u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.latency.record(now.saturating_sub(s.sent_ns) / 1000);
    }
}

/// What the tasks of one run share.
pub(crate) struct Shared {
    pub(crate) epoch: Instant,
    pub(crate) progress: AtomicU64,
    pub(crate) publishers_done: AtomicBool,
    pub(crate) last_delivery_ns: AtomicU64,
}

async fn subscribe(client: &Client, filter: &str, qos: QoS) -> Result<(), String> {
    let f = TopicFilter::new(filter).map_err(|e| e.to_string())?;
    let ack = client
        .subscribe(
            vec![(f, SubscriptionOptions::qos(qos))],
            SubscribeProperties::default(),
        )
        .await
        .map_err(|e| format!("subscribe failed: {e}"))?;
    match ack.reason_codes.first() {
        Some(rc) if !rc.is_error() => Ok(()),
        other => Err(format!("subscription refused: {other:?}")),
    }
}

async fn run_subscriber(
    mut conn: Connection,
    expected: u64,
    publishers: usize,
    per_publisher: u64,
    shared: Arc<Shared>,
    deadline: tokio::time::Instant,
) -> Tally {
    let mut tally = Tally::new(publishers, per_publisher);
    while tally.delivered < expected {
        let wait = if shared.publishers_done.load(Ordering::Relaxed) {
            IDLE_AFTER_PUBLISH
        } else {
            Duration::from_secs(1)
        };
        let until = (tokio::time::Instant::now() + wait).min(deadline);
        match tokio::time::timeout_at(until, conn.events.next_message()).await {
            Ok(Ok(p)) => {
                tally.record(&p.payload, shared.epoch);
                shared.progress.fetch_add(1, Ordering::Relaxed);
                let now = u64::try_from(shared.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
                shared.last_delivery_ns.fetch_max(now, Ordering::Relaxed);
            }
            Ok(Err(_)) => break,
            Err(_) => {
                if tokio::time::Instant::now() >= deadline
                    || shared.publishers_done.load(Ordering::Relaxed)
                {
                    break;
                }
            }
        }
    }
    let _ = conn.client.disconnect(Default::default()).await;
    tally
}

/// What one publisher sends.
struct PublishPlan {
    index: u32,
    topic: TopicName,
    count: u64,
    qos: QoS,
    size: usize,
    window: usize,
    epoch: Instant,
}

async fn run_publisher(client: Client, plan: PublishPlan) -> u64 {
    let PublishPlan {
        index,
        topic,
        count,
        qos,
        size,
        window,
        epoch,
    } = plan;
    let mut errors = 0;
    let mut pending = VecDeque::with_capacity(window);
    for seq in 0..count {
        let msg = Message::new(topic.clone(), payload::encode(index, seq, epoch, size), qos);
        match client.start_publish(msg).await {
            Ok(h) if qos != QoS::AtMostOnce => {
                pending.push_back(h);
                if pending.len() >= window.max(1) {
                    if let Some(h) = pending.pop_front() {
                        if !matches!(h.await, Ok(o) if !o.reason_code.is_error()) {
                            errors += 1;
                        }
                    }
                }
            }
            Ok(_) => {}
            Err(_) => {
                errors += count - seq;
                break;
            }
        }
    }
    for h in pending {
        if !matches!(h.await, Ok(o) if !o.reason_code.is_error()) {
            errors += 1;
        }
    }
    let _ = client.disconnect(Default::default()).await;
    errors
}

fn progress_line(
    args: &BenchArgs,
    label: String,
    shared: Arc<Shared>,
    expected: u64,
) -> tokio::task::JoinHandle<()> {
    let quiet = args.quiet;
    tokio::spawn(async move {
        if quiet {
            return;
        }
        let mut last = 0;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.tick().await;
        loop {
            tick.tick().await;
            let now = shared.progress.load(Ordering::Relaxed);
            eprint!(
                "\r{label}: {now}/{expected} delivered, {} msg/s      ",
                now - last
            );
            last = now;
        }
    })
}

/// Run one (scenario, QoS) against `target`.
///
/// # Errors
/// A client could not connect or subscribe.
pub async fn run(
    args: &BenchArgs,
    scenario: Scenario,
    qos: u8,
    target: &Target,
    round: usize,
) -> Result<RunResult, String> {
    if scenario == Scenario::Conn {
        return run_conn(args, target).await;
    }
    let q = qos_of(qos);
    let n = args.clients.max(1);
    let run_id = format!(
        "{}-{}-{}-{}",
        std::process::id(),
        scenario.name(),
        qos,
        round
    );
    let (publishers, subscribers) = match scenario {
        Scenario::Fanin => (n, 1),
        Scenario::Fanout => (1, n),
        _ => (n, n),
    };
    let per_publisher = (args.count / publishers as u64).max(1);
    let published = per_publisher * publishers as u64;
    let shared = Arc::new(Shared {
        epoch: Instant::now(),
        progress: AtomicU64::new(0),
        publishers_done: AtomicBool::new(false),
        last_delivery_ns: AtomicU64::new(0),
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.timeout);

    // Subscribers first, each subscribed before any publisher starts.
    let mut sub_tasks = Vec::new();
    let mut expected_total = 0;
    // The lean engine where it applies (plain TCP, QoS 0 and 1).
    let lean = target.scheme == Scheme::Mqtt && qos <= 1 && !args.general_client;
    for i in 0..subscribers {
        let id = format!("bench-sub-{run_id}-{i}");
        let (filter, from, expected) = match scenario {
            Scenario::Fanin => (format!("bench/{run_id}/+"), publishers, published),
            Scenario::Fanout => (format!("bench/{run_id}/0"), 1, published),
            _ => (format!("bench/{run_id}/{i}"), publishers, per_publisher),
        };
        expected_total += expected;
        if lean {
            let mut c = open_lean(target, args, id, args.persistent).await?;
            c.subscribe(&filter, q)
                .await
                .map_err(|e| format!("subscribe failed: {e}"))?;
            let tally = Tally::new(from, per_publisher);
            sub_tasks.push(tokio::spawn(lean::receive(
                c,
                tally,
                expected,
                shared.clone(),
                deadline,
                IDLE_AFTER_PUBLISH,
            )));
            continue;
        }
        let conn = open(target, args, id, args.persistent).await?;
        subscribe(&conn.client, &filter, q).await?;
        sub_tasks.push(tokio::spawn(run_subscriber(
            conn,
            expected,
            from,
            per_publisher,
            shared.clone(),
            deadline,
        )));
    }
    let mut clients = Vec::new();
    for i in 0..publishers {
        let id = format!("bench-pub-{run_id}-{i}");
        clients.push(if lean {
            Publisher::Lean(open_lean(target, args, id, false).await?)
        } else {
            Publisher::General(open(target, args, id, false).await?)
        });
    }
    let label = format!("{} q{} {}", scenario.name(), qos, target.name);
    let progress = progress_line(args, label, shared.clone(), expected_total);
    let cpu_before = target.pid.and_then(procstat::cpu_seconds);
    let start_ns = u64::try_from(shared.epoch.elapsed().as_nanos()).unwrap_or(0);
    let mut pub_tasks = Vec::new();
    let (size, window, epoch) = (args.size, args.window, shared.epoch);
    for (i, conn) in clients.into_iter().enumerate() {
        let topic = TopicName::new(&format!("bench/{run_id}/{i}")).map_err(|e| e.to_string())?;
        let conn = match conn {
            Publisher::Lean(c) => {
                let plan = lean::LeanPlan {
                    index: i as u32,
                    topic: topic.to_string(),
                    count: per_publisher,
                    qos: q,
                    size,
                    window,
                };
                pub_tasks.push(tokio::spawn(lean::publish(c, plan, shared.clone())));
                continue;
            }
            Publisher::General(c) => c,
        };
        // Keep the event stream alive (its drop would close the connection).
        let events = conn.events;
        pub_tasks.push(tokio::spawn(async move {
            let plan = PublishPlan {
                index: i as u32,
                topic,
                count: per_publisher,
                qos: q,
                size,
                window,
                epoch,
            };
            let r = run_publisher(conn.client, plan).await;
            drop(events);
            r
        }));
    }
    let mut errors = 0;
    for t in pub_tasks {
        errors += t.await.unwrap_or(0);
    }
    shared.publishers_done.store(true, Ordering::Relaxed);
    let mut latency = Histogram::default();
    let (mut delivered, mut duplicates) = (0, 0);
    for t in sub_tasks {
        if let Ok(tally) = t.await {
            delivered += tally.delivered;
            duplicates += tally.duplicates;
            latency.merge(&tally.latency);
        }
    }
    progress.abort();
    if !args.quiet {
        eprint!("\r{:79}\r", "");
    }
    let cpu_after = target.pid.and_then(procstat::cpu_seconds);
    let end_ns = shared
        .last_delivery_ns
        .load(Ordering::Relaxed)
        .max(start_ns + 1);
    Ok(RunResult {
        scenario: scenario.name(),
        target: target.name.clone(),
        qos,
        published,
        expected: expected_total,
        delivered,
        duplicates,
        errors,
        elapsed: Duration::from_nanos(end_ns - start_ns),
        latency,
        cpu_seconds: cpu_before.zip(cpu_after).map(|(a, b)| b - a),
        connect_rate: None,
        rss_per_connection: None,
    })
}

/// Concurrent connection attempts while opening as fast as possible.
const CONNECT_CONCURRENCY: usize = 64;

async fn open_subscribed(target: Target, args: BenchArgs, i: usize) -> Result<Connection, String> {
    let conn = open(
        &target,
        &args,
        format!("bench-conn-{}-{i}", std::process::id()),
        args.persistent,
    )
    .await?;
    subscribe(
        &conn.client,
        &format!("bench/conn/{}/{i}", std::process::id()),
        QoS::AtMostOnce,
    )
    .await?;
    Ok(conn)
}

/// Open `--clients` subscribed connections (at `--rate` per second, or as
/// fast as `CONNECT_CONCURRENCY` parallel attempts allow), hold them, and
/// report the accept rate and the broker's RSS growth per connection.
async fn run_conn(args: &BenchArgs, target: &Target) -> Result<RunResult, String> {
    let n = args.clients.max(1);
    let rss_before = target.pid.and_then(procstat::rss_bytes);
    let start = tokio::time::Instant::now();
    let mut conns = Vec::with_capacity(n);
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        if args.rate > 0 {
            // Pace the attempts: a load generator's schedule, not a wait
            // for an event.
            let at = start + Duration::from_secs_f64(i as f64 / args.rate as f64);
            tokio::time::sleep_until(at).await;
        }
        while set.len() >= CONNECT_CONCURRENCY {
            if let Some(r) = set.join_next().await {
                conns.push(r.map_err(|e| e.to_string())??);
            }
        }
        set.spawn(open_subscribed(target.clone(), args.clone(), i));
    }
    while let Some(r) = set.join_next().await {
        conns.push(r.map_err(|e| e.to_string())??);
    }
    let elapsed = start.elapsed();
    if !args.quiet {
        eprintln!(
            "conn {}: {n} connections open in {:.2} s; holding {} s",
            target.name,
            elapsed.as_secs_f64(),
            args.hold
        );
    }
    tokio::time::sleep(Duration::from_secs(args.hold)).await;
    let rss_after = target.pid.and_then(procstat::rss_bytes);
    for c in &conns {
        let _ = c.client.disconnect(Default::default()).await;
    }
    drop(conns);
    Ok(RunResult {
        scenario: Scenario::Conn.name(),
        target: target.name.clone(),
        qos: 0,
        published: 0,
        expected: n as u64,
        delivered: n as u64,
        duplicates: 0,
        errors: 0,
        elapsed,
        latency: Histogram::default(),
        cpu_seconds: None,
        connect_rate: Some(n as f64 / elapsed.as_secs_f64().max(1e-9)),
        rss_per_connection: rss_before
            .zip(rss_after)
            .map(|(b, a)| (a as f64 - b as f64) / n as f64),
    })
}
