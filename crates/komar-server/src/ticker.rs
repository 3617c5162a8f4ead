//! The broker's clock: runs due timers (delayed wills, session expiry),
//! wakes connections whose keep-alive alarm passed, and sweeps expired
//! retained messages — once a second, or sooner when a timer or an alarm
//! is due.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::Shared;

/// Longest wait between ticks.
const TICK: Duration = Duration::from_secs(1);
/// Shortest time between two keep-alive sweeps.
const ALARM_SPACING: Duration = Duration::from_millis(250);
/// How often expired retained messages are swept.
const RETAINED_SWEEP: Duration = Duration::from_secs(60);

/// Run until shutdown.
pub(crate) async fn run(shared: Arc<Shared>) {
    let mut last_sweep = Instant::now();
    loop {
        let now = Instant::now();
        // Each sweep reads every session: with thousands of connections
        // some alarm is almost always close, so sweeps are spaced by at
        // least `ALARM_SPACING` (a keep-alive closes up to that late).
        let alarm = shared
            .broker
            .sweep_keepalive(now.into_std())
            .map(|t| t.max(now.into_std() + ALARM_SPACING));
        let next = [shared.broker.next_timer(), alarm]
            .into_iter()
            .flatten()
            .map(Instant::from_std)
            .fold(now + TICK, Instant::min);
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
