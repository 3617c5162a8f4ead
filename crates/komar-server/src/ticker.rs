//! The broker's clock: runs due timers (delayed wills, session expiry) and
//! sweeps expired retained messages, once a second or sooner when a timer
//! is due.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::Shared;

/// Longest wait between ticks.
const TICK: Duration = Duration::from_secs(1);
/// How often expired retained messages are swept.
const RETAINED_SWEEP: Duration = Duration::from_secs(60);

/// Run until shutdown.
pub(crate) async fn run(shared: Arc<Shared>) {
    let mut last_sweep = Instant::now();
    loop {
        let now = Instant::now();
        let next = shared
            .broker
            .next_timer()
            .map(Instant::from_std)
            .map_or(now + TICK, |t| t.min(now + TICK));
        tokio::select! {
            _ = shared.shutdown.cancelled() => break,
            _ = tokio::time::sleep_until(next) => {}
        }
        let now = Instant::now();
        shared.broker.tick(now.into_std());
        if now >= last_sweep + RETAINED_SWEEP {
            last_sweep = now;
            shared.broker.sweep_retained(now.into_std());
        }
    }
}
