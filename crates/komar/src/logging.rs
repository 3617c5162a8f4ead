//! Log output: Mosquitto-style lines on stderr (`<epoch seconds>: message`)
//! at the verbosity the flags ask for.

use std::fmt;

use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::registry::LookupSpan;

/// `1700000000: message key=value` — the timestamp Mosquitto prints by
/// default (`log_timestamp true`, epoch seconds).
struct EpochFormat;

impl<S, N> FormatEvent<S, N> for EpochFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut w: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        write!(w, "{secs}: ")?;
        let level = *event.metadata().level();
        if level == tracing::Level::WARN {
            write!(w, "Warning: ")?;
        } else if level == tracing::Level::ERROR {
            write!(w, "Error: ")?;
        }
        ctx.field_format().format_fields(w.by_ref(), event)?;
        writeln!(w)
    }
}

/// Install the logger: `verbose` shows debug detail (like `-v`, which is
/// `log_type all` in Mosquitto).
pub fn init(verbose: bool) {
    let level = if verbose {
        tracing::Level::DEBUG
    } else {
        tracing::Level::INFO
    };
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .event_format(EpochFormat)
        .try_init();
}
