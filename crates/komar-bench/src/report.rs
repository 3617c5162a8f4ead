//! Printing results: one line per run as it finishes, a JSON object per run
//! with `--json`, and a comparison table (ratios against the last target)
//! when several targets were measured.

use crate::run::RunResult;

fn fmt_us(us: u64) -> String {
    if us >= 10_000 {
        format!("{:.1}ms", us as f64 / 1000.0)
    } else {
        format!("{us}µs")
    }
}

/// One human-readable line.
pub fn line(r: &RunResult) -> String {
    if let Some(rate) = r.connect_rate {
        let rss = r
            .rss_per_connection
            .map_or_else(|| "n/a".to_owned(), |b| format!("{:.0} B", b));
        return format!(
            "{:<6} {:<10} {} connections  {:>9.0} conn/s  RSS/conn {rss}",
            r.scenario, r.target, r.delivered, rate
        );
    }
    let cpu = r
        .cpu_per_million()
        .map_or_else(|| "n/a".to_owned(), |c| format!("{c:.2}"));
    format!(
        "{:<6} q{} {:<10} {:>10.0} msg/s  p50 {:>7}  p99 {:>7}  max {:>7}  delivered {}/{}  lost {}  dup {}  errors {}  cpu-s/M {}",
        r.scenario,
        r.qos,
        r.target,
        r.rate(),
        fmt_us(r.latency.quantile(0.50)),
        fmt_us(r.latency.quantile(0.99)),
        fmt_us(r.latency.quantile(1.0)),
        r.delivered,
        r.expected,
        r.lost(),
        r.duplicates,
        r.errors,
        cpu
    )
}

/// One JSON object (no external serializer: the fields are plain numbers
/// and simple names).
pub fn json(r: &RunResult) -> String {
    let opt = |v: Option<f64>| v.map_or_else(|| "null".to_owned(), |x| format!("{x:.4}"));
    format!(
        "{{\"scenario\":\"{}\",\"target\":\"{}\",\"qos\":{},\"published\":{},\"expected\":{},\"delivered\":{},\"lost\":{},\"duplicates\":{},\"errors\":{},\"seconds\":{:.6},\"msgs_per_sec\":{:.1},\"p50_us\":{},\"p99_us\":{},\"max_us\":{},\"cpu_seconds\":{},\"cpu_s_per_million\":{},\"connect_rate\":{},\"rss_per_connection\":{}}}",
        r.scenario,
        r.target.replace('"', ""),
        r.qos,
        r.published,
        r.expected,
        r.delivered,
        r.lost(),
        r.duplicates,
        r.errors,
        r.elapsed.as_secs_f64(),
        r.rate(),
        r.latency.quantile(0.5),
        r.latency.quantile(0.99),
        r.latency.quantile(1.0),
        opt(r.cpu_seconds),
        opt(r.cpu_per_million()),
        opt(r.connect_rate),
        opt(r.rss_per_connection),
    )
}

/// Per target: name, main figure (msg/s or conn/s), second figure (p99 µs
/// or RSS per connection), CPU seconds per million.
type Medians = (String, Option<f64>, Option<f64>, Option<f64>);

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied()
}

/// A summary table: per scenario and QoS, the median over rounds for each
/// target, and each target's ratio to the last target.
pub fn table(results: &[RunResult], targets: &[String]) -> String {
    let mut out = String::new();
    let mut keys: Vec<(&str, u8)> = Vec::new();
    for r in results {
        if !keys.contains(&(r.scenario, r.qos)) {
            keys.push((r.scenario, r.qos));
        }
    }
    out.push_str("\nsummary (median of rounds; ratio = target / last target)\n");
    for (scenario, qos) in keys {
        let medians: Vec<Medians> = targets
            .iter()
            .map(|t| {
                let runs: Vec<&RunResult> = results
                    .iter()
                    .filter(|r| r.scenario == scenario && r.qos == qos && &r.target == t)
                    .collect();
                let main = if scenario == "conn" {
                    median(runs.iter().filter_map(|r| r.connect_rate).collect())
                } else {
                    median(runs.iter().map(|r| r.rate()).collect())
                };
                let second = if scenario == "conn" {
                    median(runs.iter().filter_map(|r| r.rss_per_connection).collect())
                } else {
                    median(
                        runs.iter()
                            .map(|r| r.latency.quantile(0.99) as f64)
                            .collect(),
                    )
                };
                let cpu = median(runs.iter().filter_map(|r| r.cpu_per_million()).collect());
                (t.clone(), main, second, cpu)
            })
            .collect();
        let base = medians.last().and_then(|m| m.1);
        for (t, main, second, cpu) in &medians {
            let ratio = main
                .zip(base)
                .map_or_else(|| "-".to_owned(), |(m, b)| format!("{:.2}x", m / b));
            let main = main.map_or_else(|| "-".to_owned(), |m| format!("{m:.0}"));
            let second = second.map_or_else(|| "-".to_owned(), |s| format!("{s:.0}"));
            let cpu = cpu.map_or_else(|| "-".to_owned(), |c| format!("{c:.2}"));
            if scenario == "conn" {
                out.push_str(&format!(
                    "  {scenario:<6}    {t:<10} {main:>10} conn/s  RSS/conn {second:>6} B  ratio {ratio}\n"
                ));
            } else {
                out.push_str(&format!(
                    "  {scenario:<6} q{qos} {t:<10} {main:>10} msg/s  p99 {second:>7} µs  cpu-s/M {cpu:>6}  ratio {ratio}\n"
                ));
            }
        }
    }
    out
}
