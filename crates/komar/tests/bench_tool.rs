//! `komar bench` end to end: both load engines (the lean pipelined one and
//! the general client) against the real Komar and against Debian's
//! Mosquitto, every scenario at QoS 0 and 1 and in both protocol versions,
//! with the exact delivery counts the tool reports in JSON. (Speed is the
//! business of `bench/compare.sh`, not of tests.)

mod common;

use common::config::{run_komar, Conf, Mosquitto};
use common::Komar;

/// One JSON line of `komar bench --json`: the fields the checks need.
#[derive(Debug)]
struct Line {
    scenario: String,
    qos: u64,
    expected: u64,
    delivered: u64,
    lost: u64,
    duplicates: u64,
    errors: u64,
}

fn field<'a>(line: &'a str, name: &str) -> &'a str {
    let key = format!("\"{name}\":");
    let at = line
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in {line}"))
        + key.len();
    let rest = &line[at..];
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    rest[..end].trim_matches('"')
}

fn parse(stdout: &str) -> Vec<Line> {
    stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| Line {
            scenario: field(l, "scenario").to_owned(),
            qos: field(l, "qos").parse().unwrap(),
            expected: field(l, "expected").parse().unwrap(),
            delivered: field(l, "delivered").parse().unwrap(),
            lost: field(l, "lost").parse().unwrap(),
            duplicates: field(l, "duplicates").parse().unwrap(),
            errors: field(l, "errors").parse().unwrap(),
        })
        .collect()
}

/// Run the three scenarios at QoS 0 and 1 against `target` and check every
/// run delivered exactly what it published (QoS 0 on loopback with
/// back-pressure loses nothing either).
fn every_scenario_delivers_everything(target: &str, extra: &[&str]) {
    let mut args = vec![
        "bench",
        "-t",
        target,
        "-q",
        "0,1",
        "-n",
        "3000",
        "-c",
        "3",
        "--timeout",
        "60",
        "--quiet",
        "--json",
    ];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["fanin", "fanout", "pairs"]);
    let run = run_komar(&args);
    assert_eq!(run.code, 0, "komar bench failed: {}", run.stderr);
    let lines = parse(&run.stdout);
    assert_eq!(
        lines.len(),
        6,
        "one line per scenario and QoS: {}",
        run.stdout
    );
    for l in &lines {
        let recipients = if l.scenario == "fanout" { 3 } else { 1 };
        assert_eq!(l.expected, 3000 * recipients, "{l:?}");
        assert_eq!(
            (l.delivered, l.lost, l.duplicates, l.errors),
            (l.expected, 0, 0, 0),
            "{target} {extra:?}: {l:?}"
        );
    }
    assert_eq!(lines.iter().filter(|l| l.qos == 1).count(), 3);
}

#[test]
fn lean_engine_against_komar_in_both_versions() {
    let k = Komar::start();
    let target = format!("komar=127.0.0.1:{}@{}", k.port, k.pid());
    every_scenario_delivers_everything(&target, &[]);
    every_scenario_delivers_everything(&target, &["-V", "5"]);
}

#[test]
fn general_client_against_komar() {
    let k = Komar::start();
    let target = format!("komar=127.0.0.1:{}", k.port);
    every_scenario_delivers_everything(&target, &["--general-client"]);
}

#[test]
fn lean_engine_against_mosquitto() {
    // No queue limit: with Mosquitto's default of 1000 a fast fan-in is
    // dropped, which would test Mosquitto's limit, not the tool.
    let conf =
        Conf::write("listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n");
    let m = Mosquitto::start(&conf);
    let target = format!("mosquitto=127.0.0.1:{}", m.port);
    every_scenario_delivers_everything(&target, &[]);
    every_scenario_delivers_everything(&target, &["-V", "5"]);
}
