//! `--help` and `--version` texts, identical to mosquitto 2.0.11's so
//! scripts that parse them keep working.

use crate::config::Tool;

/// The mosquitto version whose tools these imitate, as the texts print it.
pub const COMPAT_VERSION: &str = "2.0.11";

/// The usage text of `tool`.
pub(crate) fn usage(tool: Tool) -> String {
    let text = match tool {
        Tool::Pub => include_str!("help/pub.txt"),
        Tool::Sub => include_str!("help/sub.txt"),
        Tool::Rr => include_str!("help/rr.txt"),
    };
    text.replace("{VERSION}", COMPAT_VERSION)
}

/// The `--version` line of `tool`.
pub(crate) fn version(tool: Tool) -> String {
    format!(
        "{} version {COMPAT_VERSION} running on libmosquitto {COMPAT_VERSION}.\n",
        tool.name()
    )
}
