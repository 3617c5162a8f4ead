//! The typed configuration: [`Config`] and the types of its parts. Plain
//! data with Mosquitto's defaults; all parsing lives in `crate::parser`.

pub mod bridge;
pub mod config;
pub mod listener;
pub mod logging;
pub mod security;
