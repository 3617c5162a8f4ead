//! The `komar` binary: process concerns only — command-line arguments,
//! logging set-up, signals and exit codes. `komar [broker flags]` runs the
//! broker; `komar pub|sub|rr|passwd|bench ...` run the tools. Logic worth
//! testing lives in the library crates.

mod broker_cmd;
mod logging;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some(tool @ ("pub" | "sub" | "rr" | "passwd" | "bench")) => {
            eprintln!("komar {tool}: not available in this build yet");
            ExitCode::from(1)
        }
        _ => broker_cmd::main(args),
    }
}
