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
            let rest: Vec<String> = args.iter().skip(2).cloned().collect();
            let runtime = if tool == "bench" {
                tokio::runtime::Builder::new_multi_thread()
                    .enable_all()
                    .build()
            } else {
                // The client tools are one connection each: one thread.
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
            };
            let runtime = match runtime {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("komar {tool}: cannot start the runtime: {e}");
                    return ExitCode::from(1);
                }
            };
            let code = runtime.block_on(async move {
                match tool {
                    "pub" => komar_tools::pub_main(rest).await,
                    "sub" => komar_tools::sub_main(rest).await,
                    "rr" => komar_tools::rr_main(rest).await,
                    _ => komar_bench::bench_main(rest).await,
                }
            });
            ExitCode::from(u8::try_from(code).unwrap_or(1))
        }
        _ => broker_cmd::main(args),
    }
}
