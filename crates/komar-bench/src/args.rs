//! `komar bench` command line.

use clap::{Parser, ValueEnum};

/// How a target is spoken to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scheme {
    /// MQTT over TCP (`mqtt://` or no scheme).
    #[default]
    Mqtt,
    /// MQTT over TLS (`mqtts://`).
    Mqtts,
    /// MQTT over WebSockets (`ws://`).
    Ws,
    /// MQTT over WebSockets over TLS (`wss://`).
    Wss,
}

/// A broker to measure: `NAME=[SCHEME://]HOST:PORT[@PID]` with SCHEME
/// `mqtt`, `mqtts`, `ws` or `wss`. With a PID, its CPU time and memory are
/// read from `/proc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Label in the report.
    pub name: String,
    /// Transport.
    pub scheme: Scheme,
    /// Host to connect to.
    pub host: String,
    /// Port to connect to.
    pub port: u16,
    /// Process id of the broker, for CPU and RSS.
    pub pid: Option<u32>,
}

impl std::str::FromStr for Target {
    type Err = String;

    fn from_str(s: &str) -> Result<Target, String> {
        let (name, rest) = s.split_once('=').unwrap_or(("broker", s));
        let (scheme, rest) = match rest.split_once("://") {
            None => (Scheme::Mqtt, rest),
            Some(("mqtt" | "tcp", r)) => (Scheme::Mqtt, r),
            Some(("mqtts" | "ssl", r)) => (Scheme::Mqtts, r),
            Some(("ws", r)) => (Scheme::Ws, r),
            Some(("wss", r)) => (Scheme::Wss, r),
            Some((other, _)) => return Err(format!("unknown scheme '{other}' in '{s}'")),
        };
        let (addr, pid) = match rest.split_once('@') {
            Some((a, p)) => (
                a,
                Some(p.parse::<u32>().map_err(|_| format!("bad pid in '{s}'"))?),
            ),
            None => (rest, None),
        };
        let (host, port) = addr
            .rsplit_once(':')
            .ok_or_else(|| format!("'{s}' is not NAME=HOST:PORT[@PID]"))?;
        Ok(Target {
            name: name.to_owned(),
            scheme,
            host: host.to_owned(),
            port: port.parse().map_err(|_| format!("bad port in '{s}'"))?,
            pid,
        })
    }
}

/// Load patterns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// N publishers → 1 subscriber on a wildcard.
    Fanin,
    /// 1 publisher → N subscribers.
    Fanout,
    /// N independent publisher/subscriber pairs.
    Pairs,
    /// Open N subscribed connections at a rate and hold them (memory and
    /// accept rate).
    Conn,
}

impl Scenario {
    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Fanin => "fanin",
            Scenario::Fanout => "fanout",
            Scenario::Pairs => "pairs",
            Scenario::Conn => "conn",
        }
    }
}

/// `komar bench` options.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "komar bench",
    about = "End-to-end MQTT load: fan-in, fan-out, pairs and connections, against one or more brokers side by side.",
    after_help = "Example (Komar and Mosquitto, alternating, 3 rounds):\n  komar bench -t komar=127.0.0.1:1883@$(pidof komar) -t mosquitto=127.0.0.1:1884@$(pidof mosquitto) \\\n      -q 0,1 --rounds 3 fanin fanout pairs"
)]
pub struct BenchArgs {
    /// Scenarios to run, in order.
    #[arg(value_enum, default_values_t = [Scenario::Fanin, Scenario::Fanout, Scenario::Pairs])]
    pub scenarios: Vec<Scenario>,
    /// Brokers to measure (NAME=[mqtt|mqtts|ws|wss://]HOST:PORT[@PID]); runs
    /// alternate between them.
    #[arg(short = 't', long = "target", default_value = "broker=127.0.0.1:1883")]
    pub targets: Vec<Target>,
    /// QoS levels to run each scenario at.
    #[arg(
        short = 'q',
        long = "qos",
        value_delimiter = ',',
        default_value = "0,1"
    )]
    pub qos: Vec<u8>,
    /// Publishers (fanin), subscribers (fanout), pairs (pairs) or
    /// connections (conn).
    #[arg(short = 'c', long = "clients", default_value_t = 10)]
    pub clients: usize,
    /// Messages published per run, in all.
    #[arg(short = 'n', long = "count", default_value_t = 100_000)]
    pub count: u64,
    /// Payload size in bytes (at least 20: sequence and timestamp).
    #[arg(short = 's', long = "size", default_value_t = 64)]
    pub size: usize,
    /// MQTT version: 311 or 5.
    #[arg(short = 'V', long = "protocol-version", default_value = "311")]
    pub version: String,
    /// QoS 1/2 publishes each publisher keeps in flight.
    #[arg(long = "window", default_value_t = 64)]
    pub window: usize,
    /// Times each (scenario, QoS, target) is run; targets alternate.
    #[arg(long = "rounds", default_value_t = 1)]
    pub rounds: usize,
    /// Longest a run may take, in seconds (it stops and reports loss).
    #[arg(long = "timeout", default_value_t = 120)]
    pub timeout: u64,
    /// Subscribers keep persistent sessions (Clean Session 0; 5.0: Session
    /// Expiry 1 hour), so a broker with persistence stores every QoS 1/2
    /// delivery before acknowledging its publication.
    #[arg(long = "persistent")]
    pub persistent: bool,
    /// Drive plain-TCP QoS 0/1 runs through the general client
    /// (`komar-client`: a driver task and channels per connection) instead
    /// of the lean pipelined engine — slower, it measures the client too.
    #[arg(long = "general-client")]
    pub general_client: bool,
    /// conn: connections opened per second (0 = as fast as possible).
    #[arg(long = "rate", default_value_t = 0)]
    pub rate: u64,
    /// conn: seconds to hold the connections open after the last one.
    #[arg(long = "hold", default_value_t = 1)]
    pub hold: u64,
    /// CA file to verify `mqtts://` and `wss://` targets with (without it
    /// the system's CAs are used and host names are not checked).
    #[arg(long = "cafile")]
    pub cafile: Option<std::path::PathBuf>,
    /// Print one JSON object per run on stdout (the table goes to stderr).
    #[arg(long = "json")]
    pub json: bool,
    /// No live progress line.
    #[arg(long = "quiet")]
    pub quiet: bool,
}
