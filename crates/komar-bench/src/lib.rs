//! `komar bench`: an end-to-end MQTT load generator on komar-client. It
//! runs fan-in (N publishers → 1 wildcard subscriber), fan-out (1 → N),
//! independent pairs, and a connection scenario (open N subscribed
//! connections, hold them, measure accept rate and broker RSS per
//! connection), at the QoS levels asked for, against one or more brokers,
//! alternating between them round after round. Every run checks loss and
//! duplicates per publisher and sequence number, measures latency from a
//! timestamp in the payload, and, given the broker's PID, its CPU seconds
//! per million deliveries. Every run is bounded by `--timeout`.

mod args;
mod histogram;
mod lean;
mod payload;
mod procstat;
mod report;
mod run;

pub use args::{BenchArgs, Scenario, Target};
pub use histogram::Histogram;
pub use run::RunResult;

use clap::Parser;

/// Run `komar bench` with `args` (without the program name); returns the
/// exit code: 0, 1 when a run failed to connect, 2 on usage errors.
pub async fn bench_main(args: Vec<String>) -> i32 {
    let args =
        match BenchArgs::try_parse_from(std::iter::once("komar bench".to_owned()).chain(args)) {
            Ok(a) => a,
            Err(e) => {
                let _ = e.print();
                return if e.use_stderr() { 2 } else { 0 };
            }
        };
    let mut results = Vec::new();
    for &scenario in &args.scenarios {
        let levels: Vec<u8> = if scenario == Scenario::Conn {
            vec![0]
        } else {
            args.qos.clone()
        };
        for &qos in &levels {
            for round in 0..args.rounds.max(1) {
                for target in &args.targets {
                    match run::run(&args, scenario, qos, target, round).await {
                        Ok(r) => {
                            eprintln!("{}", report::line(&r));
                            if args.json {
                                println!("{}", report::json(&r));
                            }
                            results.push(r);
                        }
                        Err(e) => {
                            eprintln!("komar bench: {e}");
                            return 1;
                        }
                    }
                }
            }
        }
    }
    let names: Vec<String> = args.targets.iter().map(|t| t.name.clone()).collect();
    eprint!("{}", report::table(&results, &names));
    0
}
