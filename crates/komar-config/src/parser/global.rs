//! Handlers for broker-wide options: process, persistence, limits, logging
//! and `$SYS`. Clamping and range rules are Mosquitto 2.0's (`src/conf.c`),
//! except that values `atoi` would misread are rejected.

use std::path::PathBuf;

use super::args::{err, set_once, Args, OptResult};
use super::Parser;
use crate::error::Location;
use crate::model::logging::{LogDest, LogType};
use crate::values;

/// Largest MQTT payload (`MQTT_MAX_PAYLOAD`).
const MQTT_MAX_PAYLOAD: i64 = 268_435_455;

impl Parser<'_> {
    pub(super) fn global_option(
        &mut self,
        c: &str,
        a: &mut Args<'_>,
        loc: &Location,
    ) -> Option<OptResult> {
        let r = match c {
            "allow_duplicate_messages" => a.bool().map(|v| self.cfg.allow_duplicate_messages = v),
            "autosave_interval" => a.int().map(|v| {
                self.cfg.autosave_interval = u32::try_from(v).unwrap_or(0);
            }),
            "autosave_on_changes" => a.bool().map(|v| self.cfg.autosave_on_changes = v),
            "clientid_prefixes" => a
                .string()
                .and_then(|v| set_once(&mut self.cfg.clientid_prefixes, a.name, v)),
            "connection_messages" => a.bool().map(|v| self.cfg.connection_messages = v),
            "enable_control_api" => a.bool().map(|v| self.cfg.enable_control_api = v),
            "global_max_clients" => a
                .int()
                .map(|v| self.cfg.global_max_clients = u32::try_from(v).ok()),
            "global_max_connections" => a
                .int()
                .map(|v| self.cfg.global_max_connections = u32::try_from(v).ok()),
            "log_dest" => self.opt_log_dest(a),
            "log_facility" => a
                .int_in(0, 7)
                .map(|v| self.cfg.log_facility = u8::try_from(v).ok()),
            "log_timestamp" => a.bool().map(|v| self.cfg.log_timestamp = v),
            "log_timestamp_format" => a
                .string()
                .and_then(|v| set_once(&mut self.cfg.log_timestamp_format, a.name, v)),
            "log_type" => self.opt_log_type(a),
            "max_inflight_bytes" => a.int().map(|v| {
                self.cfg.max_inflight_bytes = u64::try_from(v).unwrap_or(0);
            }),
            "max_inflight_messages" => self.opt_max_inflight_messages(a),
            "max_keepalive" => a
                .int_in(0, 65_535)
                .map(|v| self.cfg.max_keepalive = u16::try_from(v).ok()),
            "max_packet_size" => a.int().and_then(|v| {
                if v < 20 {
                    return Err(err(format!(
                        "'max_packet_size' must be at least 20 bytes, got {v}"
                    )));
                }
                self.cfg.max_packet_size = u32::try_from(v).ok();
                Ok(())
            }),
            "max_queued_bytes" => a.int().map(|v| {
                self.cfg.max_queued_bytes = u64::try_from(v).unwrap_or(0);
            }),
            "max_queued_messages" => a.int().map(|v| {
                self.cfg.max_queued_messages = u32::try_from(v).unwrap_or(0);
            }),
            "memory_limit" => a.word().and_then(|w| {
                let v = values::parse_i64(a.name, w)?;
                let v = u64::try_from(v)
                    .map_err(|_| err(format!("'memory_limit' must not be negative, got {v}")))?;
                self.cfg.memory_limit = Some(v);
                Ok(())
            }),
            "message_size_limit" => self.opt_message_size_limit(a, loc),
            "persistence" => a.bool().map(|v| self.cfg.persistence = v),
            "persistence_file" => a
                .path()
                .and_then(|v| set_once(&mut self.cfg.persistence_file, a.name, v)),
            "persistence_sync" => a.bool().map(|v| self.cfg.persistence_sync = v),
            "persistence_location" => a
                .path()
                .and_then(|v| set_once(&mut self.cfg.persistence_location, a.name, v)),
            "persistent_client_expiration" => a.word().and_then(|w| {
                self.cfg.persistent_client_expiration = Some(values::parse_expiration(w)?);
                Ok(())
            }),
            "pid_file" => a
                .path()
                .and_then(|v| set_once(&mut self.cfg.pid_file, a.name, v)),
            "queue_qos0_messages" => a.bool().map(|v| self.cfg.queue_qos0_messages = v),
            "retain_available" => a.bool().map(|v| self.cfg.retain_available = v),
            "retain_expiry_interval" => self.opt_retain_expiry_interval(a, loc),
            "retry_interval" => {
                // Obsolete: Mosquitto warns and ignores the value.
                a.raw_rest();
                Ok(())
            }
            "set_tcp_nodelay" => a.bool().map(|v| self.cfg.set_tcp_nodelay = v),
            "server_moved" => a.bool().map(|v| self.cfg.server_moved = v),
            "server_reference" => a
                .string()
                .and_then(|v| set_once(&mut self.cfg.server_reference, a.name, v)),
            "response_information_prefix" => a.string().map(|v| {
                self.cfg.response_information_prefix = (v != "none").then_some(v);
            }),
            "shared_subscription_strategy" => a.word().and_then(|w| {
                use crate::model::config::SharedStrategy::*;
                self.cfg.shared_subscription_strategy = match w {
                    "round_robin" => RoundRobin,
                    "random" => Random,
                    "sticky" => Sticky,
                    other => {
                        return Err(err(format!(
                            "'shared_subscription_strategy' expects round_robin, random or sticky, got '{other}'"
                        )))
                    }
                };
                Ok(())
            }),
            "sys_interval" => a
                .int_in(0, 65_535)
                .map(|v| self.cfg.sys_interval = u16::try_from(v).unwrap_or(10)),
            "upgrade_outgoing_qos" => a.bool().map(|v| self.cfg.upgrade_outgoing_qos = v),
            "user" => a
                .string()
                .and_then(|v| set_once(&mut self.cfg.user, a.name, v)),
            "websockets_headers_size" => a
                .int_in(0, 65_535)
                .map(|v| self.cfg.websockets_headers_size = u16::try_from(v).ok()),
            "websockets_log_level" => a.int().map(|v| self.cfg.websockets_log_level = Some(v)),
            _ => return None,
        };
        Some(r)
    }

    fn opt_max_inflight_messages(&mut self, a: &mut Args<'_>) -> OptResult {
        let v = a.int()?;
        if v > 65_535 {
            return Err(err(format!(
                "'max_inflight_messages' must be at most 65535 (0 = unlimited), got {v}"
            )));
        }
        // Mosquitto: negative values and 65535 mean "unlimited" (0).
        self.cfg.max_inflight_messages = if v < 0 || v == 65_535 {
            0
        } else {
            u16::try_from(v).unwrap_or(0)
        };
        Ok(())
    }

    fn opt_message_size_limit(&mut self, a: &mut Args<'_>, loc: &Location) -> OptResult {
        let v = values::parse_i64(a.name, a.word()?)?;
        if !(0..=MQTT_MAX_PAYLOAD).contains(&v) {
            return Err(err(format!(
                "'message_size_limit' must be between 0 and {MQTT_MAX_PAYLOAD} bytes, got {v}"
            )));
        }
        self.cfg.message_size_limit = u32::try_from(v).unwrap_or(0);
        self.warn(
            loc,
            "it is recommended to replace 'message_size_limit' with 'max_packet_size'",
        );
        Ok(())
    }

    fn opt_retain_expiry_interval(&mut self, a: &mut Args<'_>, loc: &Location) -> OptResult {
        const CAP_MINUTES: u64 = 10_000_000;
        let v = a.int()?;
        let minutes = u64::try_from(v).ok().filter(|&m| m >= 1).ok_or_else(|| {
            err(format!(
                "'retain_expiry_interval' must be at least 1 minute, got {v}"
            ))
        })?;
        let minutes = if minutes > CAP_MINUTES {
            self.warn(
                loc,
                "'retain_expiry_interval' capped at 10000000 minutes (19 years)",
            );
            CAP_MINUTES
        } else {
            minutes
        };
        self.cfg.retain_expiry_interval = Some(minutes * 60);
        Ok(())
    }

    /// `log_dest stdout|stderr|syslog|topic|dlt|android|none|file <path>`.
    fn opt_log_dest(&mut self, a: &mut Args<'_>) -> OptResult {
        let w = a.word()?;
        let dest = match w {
            "none" => {
                self.cfg.log_dest = Some(Vec::new());
                return Ok(());
            }
            "stdout" => LogDest::Stdout,
            "stderr" => LogDest::Stderr,
            "syslog" => LogDest::Syslog,
            "topic" => LogDest::Topic,
            "dlt" => LogDest::Dlt,
            "android" => LogDest::Android,
            "file" => {
                if self.log_file_seen {
                    return Err(err(
                        "duplicate 'log_dest file': only one log file may be configured",
                    ));
                }
                let path = a
                    .raw_rest()
                    .map(|r| r.trim_matches(crate::lexer::is_c_space))
                    .filter(|r| !r.is_empty())
                    .ok_or_else(|| err("'log_dest file' needs a file name"))?;
                self.log_file_seen = true;
                LogDest::File(PathBuf::from(path))
            }
            other => {
                return Err(err(format!(
                    "'log_dest' expects stdout, stderr, syslog, topic, dlt, android, none or \
                     file <path>, got '{}'",
                    other.escape_debug()
                )))
            }
        };
        let list = self.cfg.log_dest.get_or_insert_with(Vec::new);
        if !list.contains(&dest) {
            list.push(dest);
        }
        Ok(())
    }

    /// `log_type debug|error|warning|notice|information|subscribe|unsubscribe|websockets|internal|all|none`.
    fn opt_log_type(&mut self, a: &mut Args<'_>) -> OptResult {
        let w = a.word()?;
        if w == "none" {
            self.cfg.log_type = Some(Vec::new());
            return Ok(());
        }
        let t = LogType::parse(w).ok_or_else(|| {
            err(format!(
                "'log_type' expects debug, error, warning, notice, information, subscribe, \
                 unsubscribe, websockets, internal, all or none, got '{}'",
                w.escape_debug()
            ))
        })?;
        let list = self.cfg.log_type.get_or_insert_with(Vec::new);
        if t == LogType::All {
            *list = vec![LogType::All];
        } else if !list.contains(&t) {
            list.push(t);
        }
        Ok(())
    }
}
