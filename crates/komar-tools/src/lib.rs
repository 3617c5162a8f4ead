//! Komar's `pub`, `sub` and `rr` subcommands: clients compatible with
//! mosquitto_pub, mosquitto_sub and mosquitto_rr 2.0.11 — the same flags,
//! options files, output formats, messages and exit codes — built on
//! komar-client.
//!
//! Each tool has an entry point for the binary (`*_main`, on the process's
//! stdio) and one for tests (`*_run`, on any [`ToolIo`]). `args` never
//! includes the program or subcommand name.
//!
//! Not supported yet (accepted, then refused with a clear message): TLS
//! options and `mqtts://`, `-S` (SRV lookups) and `--proxy`.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

mod cnum;
mod config;
mod conn;
mod debug;
mod format;
mod help;
mod json;
mod props;
mod pub_tool;
mod rr_tool;
mod strings;
mod sub_tool;
mod term;
mod timefmt;

pub use help::COMPAT_VERSION;
pub use pub_tool::pub_run;
pub use rr_tool::rr_run;
pub use sub_tool::sub_run;
pub use term::ToolIo;

/// `komar pub`: mosquitto_pub on the process's stdio. Returns the exit code.
pub async fn pub_main(args: Vec<String>) -> i32 {
    pub_run(args, ToolIo::std()).await
}

/// `komar sub`: mosquitto_sub on the process's stdio. Returns the exit code.
pub async fn sub_main(args: Vec<String>) -> i32 {
    sub_run(args, ToolIo::std()).await
}

/// `komar rr`: mosquitto_rr on the process's stdio. Returns the exit code.
pub async fn rr_main(args: Vec<String>) -> i32 {
    rr_run(args, ToolIo::std()).await
}

/// What every tool does when option parsing stops: usage, version, or the
/// pointer to `--help` after an error. All exit with 1, as mosquitto's do.
pub(crate) fn parse_exit(tool: config::Tool, e: config::ParseExit, term: &mut term::Term) -> i32 {
    match e {
        config::ParseExit::Help => term.out(help::usage(tool).as_bytes()),
        config::ParseExit::Version => term.out(help::version(tool).as_bytes()),
        config::ParseExit::Error => {
            term.eprint(&format!("\nUse '{} --help' to see usage.\n", tool.name()));
        }
    }
    term.flush();
    1
}
