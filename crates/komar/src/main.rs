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
        Some("passwd") => {
            let rest: Vec<String> = args.iter().skip(2).cloned().collect();
            let code = komar_auth::passwd_main(&rest, &mut komar_auth::TerminalIo::new());
            ExitCode::from(u8::try_from(code).unwrap_or(1))
        }
        Some(tool @ ("pub" | "sub" | "rr" | "bench")) => {
            eprintln!("komar {tool}: not available in this build yet");
            ExitCode::from(1)
        }
        _ => broker_cmd::main(args),
    }
}
