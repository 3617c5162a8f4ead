//! Log output as Mosquitto writes it: `log_dest` (stderr, stdout, file,
//! syslog, topic, none), `log_type` filtering, `log_timestamp` and
//! `log_timestamp_format`. Events are classified into Mosquitto's log types
//! by their tracing target (`komar::notice`, `komar::subscribe`,
//! `komar::unsubscribe`, `komar::websockets`) or otherwise by level.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::net::UnixDatagram;
use std::path::Path;

use komar_config::{LogDest, LogType};
use komar_server::settings::LogSettings;
use parking_lot::Mutex;
use tokio::sync::mpsc;
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// A log line for the `topic` destination: the `$SYS/broker/log/...`
/// suffix and the text. The channel is bounded; lines that do not fit are
/// dropped (logging must never block the broker).
pub type TopicLine = (&'static str, String);

/// Capacity of the `topic` destination's channel.
const TOPIC_BACKLOG: usize = 1024;

enum Sink {
    Stdout,
    Stderr,
    File(Mutex<File>),
    Syslog { socket: UnixDatagram, facility: u8 },
    Topic(mpsc::Sender<TopicLine>),
}

struct MosquittoLayer {
    sinks: Vec<Sink>,
    types: Vec<LogType>,
    timestamp: bool,
    format: Option<String>,
}

fn classify(meta: &tracing::Metadata<'_>) -> LogType {
    match meta.target() {
        "komar::notice" => LogType::Notice,
        "komar::subscribe" => LogType::Subscribe,
        "komar::unsubscribe" => LogType::Unsubscribe,
        "komar::websockets" => LogType::Websockets,
        _ => match *meta.level() {
            Level::ERROR => LogType::Error,
            Level::WARN => LogType::Warning,
            Level::INFO => LogType::Information,
            _ => LogType::Debug,
        },
    }
}

/// Mosquitto's `$SYS/broker/log/...` suffix for each log type.
fn topic_suffix(t: LogType) -> &'static str {
    match t {
        LogType::Error => "E",
        LogType::Warning => "W",
        LogType::Notice => "N",
        LogType::Information => "I",
        LogType::Subscribe => "M/subscribe",
        LogType::Unsubscribe => "M/unsubscribe",
        LogType::Websockets => "WS",
        _ => "D",
    }
}

/// Syslog severities (RFC 5424).
fn severity(t: LogType) -> u8 {
    match t {
        LogType::Error => 3,
        LogType::Warning => 4,
        LogType::Notice => 5,
        LogType::Information | LogType::Subscribe | LogType::Unsubscribe => 6,
        _ => 7,
    }
}

#[derive(Default)]
struct Text(String);

impl Visit for Text {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, " {}={:?}", field.name(), value);
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            let _ = write!(self.0, " {}={}", field.name(), value);
        }
    }
}

impl<S: Subscriber> Layer<S> for MosquittoLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let kind = classify(event.metadata());
        if !self.types.contains(&kind) {
            return;
        }
        let mut text = Text::default();
        match kind {
            LogType::Error => text.0.push_str("Error: "),
            LogType::Warning => text.0.push_str("Warning: "),
            _ => {}
        }
        event.record(&mut text);
        let message = text.0;
        let line = if self.timestamp {
            let now = chrono::Local::now();
            match &self.format {
                Some(f) => format!("{}: {message}", now.format(f)),
                None => format!("{}: {message}", now.timestamp()),
            }
        } else {
            message.clone()
        };
        for sink in &self.sinks {
            match sink {
                Sink::Stdout => {
                    let _ = writeln!(std::io::stdout().lock(), "{line}");
                }
                Sink::Stderr => {
                    let _ = writeln!(std::io::stderr().lock(), "{line}");
                }
                Sink::File(f) => {
                    let _ = writeln!(f.lock(), "{line}");
                }
                Sink::Syslog { socket, facility } => {
                    let pri = u16::from(*facility) * 8 + u16::from(severity(kind));
                    let _ = socket.send(
                        format!("<{pri}>komar[{}]: {message}", std::process::id()).as_bytes(),
                    );
                }
                Sink::Topic(tx) => {
                    let _ = tx.try_send((topic_suffix(kind), message.clone()));
                }
            }
        }
    }
}

fn open_syslog(facility: Option<u8>) -> std::io::Result<Sink> {
    let socket = UnixDatagram::unbound()?;
    socket.connect("/dev/log")?;
    // `log_facility N` is localN (16 + N); Mosquitto's default is daemon (3).
    let facility = facility.map_or(3, |n| 16 + n);
    Ok(Sink::Syslog { socket, facility })
}

fn open_file(path: &Path) -> std::io::Result<Sink> {
    let f = OpenOptions::new().create(true).append(true).open(path)?;
    Ok(Sink::File(Mutex::new(f)))
}

fn build_layer(
    settings: &LogSettings,
    verbose: bool,
    topic_tx: Option<&mpsc::Sender<TopicLine>>,
) -> Result<MosquittoLayer, String> {
    let mut sinks = Vec::new();
    for dest in &settings.dest {
        match dest {
            LogDest::Stdout => sinks.push(Sink::Stdout),
            LogDest::Stderr => sinks.push(Sink::Stderr),
            LogDest::File(p) => sinks.push(
                open_file(p).map_err(|e| format!("cannot open log file {}: {e}", p.display()))?,
            ),
            LogDest::Syslog => match open_syslog(settings.facility) {
                Ok(s) => sinks.push(s),
                // No syslog daemon (containers): say so on stderr and go on.
                Err(e) => eprintln!("Warning: cannot reach syslog at /dev/log: {e}"),
            },
            LogDest::Topic => {
                if let Some(tx) = topic_tx {
                    sinks.push(Sink::Topic(tx.clone()));
                }
            }
            LogDest::Dlt | LogDest::Android => {}
        }
    }
    let types = if verbose {
        vec![
            LogType::Debug,
            LogType::Error,
            LogType::Warning,
            LogType::Notice,
            LogType::Information,
            LogType::Subscribe,
            LogType::Unsubscribe,
            LogType::Websockets,
            LogType::Internal,
        ]
    } else {
        settings.types.clone()
    };
    Ok(MosquittoLayer {
        sinks,
        types,
        timestamp: settings.timestamp,
        format: settings.timestamp_format.clone(),
    })
}

type Registry = tracing_subscriber::Registry;
type LevelHandle = tracing_subscriber::reload::Handle<LevelFilter, Registry>;
type WithLevel = tracing_subscriber::layer::Layered<
    tracing_subscriber::reload::Layer<LevelFilter, Registry>,
    Registry,
>;
type LayerHandle = tracing_subscriber::reload::Handle<MosquittoLayer, WithLevel>;

fn max_level(layer: &MosquittoLayer) -> LevelFilter {
    if layer.types.contains(&LogType::Debug) {
        LevelFilter::DEBUG
    } else {
        LevelFilter::INFO
    }
}

/// The installed logger, for reloading on SIGHUP.
pub struct Logging {
    level: LevelHandle,
    layer: LayerHandle,
    topic_tx: mpsc::Sender<TopicLine>,
    verbose: bool,
}

impl Logging {
    /// Install logging as `settings` asks (`verbose` = `log_type all`,
    /// which also wins over later reloads, as in Mosquitto). Returns the
    /// logger and the receiving end of the `topic` destination, for the
    /// server to publish from.
    ///
    /// # Errors
    /// A log file could not be opened.
    pub fn init(
        settings: &LogSettings,
        verbose: bool,
    ) -> Result<(Logging, mpsc::Receiver<TopicLine>), String> {
        let (topic_tx, topic_rx) = mpsc::channel(TOPIC_BACKLOG);
        let layer = build_layer(settings, verbose, Some(&topic_tx))?;
        let (level, level_handle) = tracing_subscriber::reload::Layer::new(max_level(&layer));
        let (layer, layer_handle) = tracing_subscriber::reload::Layer::new(layer);
        let subscriber = tracing_subscriber::registry().with(level).with(layer);
        let _ = tracing::subscriber::set_global_default(subscriber);
        Ok((
            Logging {
                level: level_handle,
                layer: layer_handle,
                topic_tx,
                verbose,
            },
            topic_rx,
        ))
    }

    /// Apply new logging settings (and reopen log files, for rotation).
    ///
    /// # Errors
    /// A log file could not be opened; the old logger stays.
    pub fn reload(&self, settings: &LogSettings) -> Result<(), String> {
        let layer = build_layer(settings, self.verbose, Some(&self.topic_tx))?;
        let level = max_level(&layer);
        self.layer
            .reload(layer)
            .map_err(|e| format!("cannot reload logging: {e}"))?;
        self.level
            .reload(level)
            .map_err(|e| format!("cannot reload logging: {e}"))?;
        Ok(())
    }
}
