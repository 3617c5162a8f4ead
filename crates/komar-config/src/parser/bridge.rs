//! Handlers for `connection` and every bridge option, plus the checks
//! Mosquitto makes once the whole file is read (addresses and topics
//! present, PSK identity and key together, unique local client ids).

use super::args::{err, set_once, Args, OptResult};
use super::{FileCtx, Parser};
use crate::error::{Location, ValueError};
use crate::model::bridge::{
    Bridge, BridgeAddress, BridgeProtocol, ReloadType, RestartTimeout, StartType, TcpKeepalive,
};
use crate::model::listener::TlsVersion;
use crate::values;

impl Parser<'_> {
    pub(super) fn bridge_option(
        &mut self,
        c: &str,
        a: &mut Args<'_>,
        ctx: &mut FileCtx,
        loc: &Location,
    ) -> Option<OptResult> {
        if c == "connection" {
            return Some(self.opt_connection(a, ctx, loc));
        }
        if !is_bridge_option(c) {
            return None;
        }
        let name = a.name;
        let Some(idx) = ctx.bridge.filter(|&i| i < self.cfg.bridges.len()) else {
            return Some(Err(err(format!(
                "'{name}' must come after a 'connection' line of the same file (it configures \
                 the most recent bridge)"
            ))));
        };
        let r = self.bridge_value(c, a, idx, loc);
        Some(r)
    }

    /// `connection <name>`: start a new bridge.
    fn opt_connection(&mut self, a: &mut Args<'_>, ctx: &mut FileCtx, loc: &Location) -> OptResult {
        let name = a.word().unwrap_or("");
        let first = self
            .cfg
            .bridges
            .iter()
            .find(|b| b.name == name)
            .map(|b| b.defined_at.clone());
        // Always start a bridge so the lines below attach to it and do not
        // raise follow-on errors.
        self.cfg
            .bridges
            .push(Bridge::new(name.to_owned(), loc.clone()));
        let idx = self.cfg.bridges.len() - 1;
        ctx.bridge = Some(idx);
        if name.is_empty() {
            self.broken_bridges.push(idx);
            return Err(err("'connection' needs a bridge name"));
        }
        if let Some(first) = first {
            self.broken_bridges.push(idx);
            return Err(err(format!(
                "duplicate bridge name '{name}' (first defined at {first})"
            )));
        }
        Ok(())
    }

    fn bridge_value(&mut self, c: &str, a: &mut Args<'_>, idx: usize, loc: &Location) -> OptResult {
        // Values that need several words or warnings are parsed before the
        // bridge is borrowed.
        match c {
            "address" => {
                self.bridges_with_address.push(idx);
                return self.opt_address(a, idx);
            }
            "topic" => {
                self.bridges_with_topic.push(idx);
                return self.opt_topic(a, idx, loc);
            }
            "restart_timeout" => return self.opt_restart_timeout(a, idx, loc),
            "keepalive_interval" => {
                let v = a.int()?;
                if v > 65_535 {
                    return Err(err(format!(
                        "'keepalive_interval' must be at most 65535 seconds, got {v}"
                    )));
                }
                let v = if v < 5 {
                    self.warn(loc, "'keepalive_interval' too low, using 5 seconds");
                    5
                } else {
                    v
                };
                return self.with_bridge(idx, |b| {
                    b.keepalive_interval = u16::try_from(v).unwrap_or(60)
                });
            }
            "idle_timeout" | "threshold" => {
                let v = a.int()?;
                let v = if v < 1 {
                    self.warn(loc, format!("'{}' too low, using 1", a.name));
                    1
                } else {
                    v
                };
                let v = u32::try_from(v).unwrap_or(1);
                let is_idle = c == "idle_timeout";
                return self.with_bridge(idx, |b| {
                    if is_idle {
                        b.idle_timeout = v;
                    } else {
                        b.threshold = v;
                    }
                });
            }
            "bridge_insecure" => {
                let v = a.bool()?;
                if v {
                    self.warn(
                        loc,
                        "bridge uses insecure mode: the remote's host name is not verified",
                    );
                }
                return self.with_bridge(idx, |b| b.tls.insecure = v);
            }
            _ => {}
        }
        let name = a.name;
        let Some(b) = self.cfg.bridges.get_mut(idx) else {
            return Ok(());
        };
        match c {
            "round_robin" => b.round_robin = a.bool()?,
            "try_private" => b.try_private = a.bool()?,
            "notifications" => b.notifications = a.bool()?,
            "notifications_local_only" => b.notifications_local_only = a.bool()?,
            "cleansession" => b.clean_session = a.bool()?,
            "local_cleansession" => b.local_clean_session = Some(a.bool()?),
            "bridge_attempt_unsubscribe" => b.attempt_unsubscribe = a.bool()?,
            "bridge_outgoing_retain" => b.outgoing_retain = a.bool()?,
            "bridge_require_ocsp" => b.tls.require_ocsp = a.bool()?,
            "bridge_tls_use_os_certs" => b.tls.use_os_certs = a.bool()?,
            "remote_clientid" => set_once(&mut b.remote_clientid, name, a.string()?)?,
            "local_clientid" => set_once(&mut b.local_clientid, name, a.string()?)?,
            "remote_username" => set_once(&mut b.remote_username, name, a.string()?)?,
            "remote_password" => set_once(&mut b.remote_password, name, a.string()?)?,
            "local_username" => set_once(&mut b.local_username, name, a.string()?)?,
            "local_password" => set_once(&mut b.local_password, name, a.string()?)?,
            "notification_topic" => set_once(&mut b.notification_topic, name, a.string()?)?,
            "bridge_bind_address" => set_once(&mut b.bind_address, name, a.string()?)?,
            "bridge_alpn" => set_once(&mut b.tls.alpn, name, a.string()?)?,
            "bridge_ciphers" => set_once(&mut b.tls.ciphers, name, a.string()?)?,
            "bridge_ciphers_tls1.3" => set_once(&mut b.tls.ciphers_tls13, name, a.string()?)?,
            "bridge_tls_version" => {
                let v = a.string()?;
                let t = TlsVersion::parse(&v).ok_or_else(|| {
                    err(format!(
                        "'bridge_tls_version' expects tlsv1.3, tlsv1.2 or tlsv1.1, got '{v}'"
                    ))
                })?;
                set_once(&mut b.tls.tls_version, name, t)?;
            }
            "bridge_cafile" | "bridge_capath" | "bridge_certfile" | "bridge_keyfile" => {
                let v = a.path()?;
                if b.tls.identity.is_some() || b.tls.psk.is_some() {
                    return Err(err(format!(
                        "'{name}' cannot be used on a bridge that has 'bridge_identity' / \
                         'bridge_psk': a bridge uses either certificates or PSK"
                    )));
                }
                let slot = match c {
                    "bridge_cafile" => &mut b.tls.cafile,
                    "bridge_capath" => &mut b.tls.capath,
                    "bridge_certfile" => &mut b.tls.certfile,
                    _ => &mut b.tls.keyfile,
                };
                set_once(slot, name, v)?;
            }
            "bridge_identity" | "bridge_psk" => {
                let v = a.string()?;
                let t = &b.tls;
                if t.cafile.is_some()
                    || t.capath.is_some()
                    || t.certfile.is_some()
                    || t.keyfile.is_some()
                {
                    return Err(err(format!(
                        "'{name}' cannot be used on a bridge that has certificate options \
                         (bridge_cafile/capath/certfile/keyfile): a bridge uses either \
                         certificates or PSK"
                    )));
                }
                let slot = if c == "bridge_identity" {
                    &mut b.tls.identity
                } else {
                    &mut b.tls.psk
                };
                set_once(slot, name, v)?;
            }
            "bridge_protocol_version" => {
                let v = a
                    .raw_rest()
                    .map(|s| s.trim_matches(crate::lexer::is_c_space))
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| err("'bridge_protocol_version' needs a value"))?;
                b.protocol_version = match v {
                    "mqttv31" => BridgeProtocol::Mqtt31,
                    "mqttv311" => BridgeProtocol::Mqtt311,
                    "mqttv50" => BridgeProtocol::Mqtt5,
                    _ => {
                        return Err(err(format!(
                            "'bridge_protocol_version' expects mqttv50, mqttv311 or mqttv31, \
                             got '{}'",
                            v.escape_debug()
                        )))
                    }
                };
            }
            "start_type" => {
                let w = a.word()?;
                b.start_type = match w {
                    "automatic" => StartType::Automatic,
                    "lazy" => StartType::Lazy,
                    "once" => StartType::Once,
                    "manual" => {
                        return Err(err("'start_type manual' is not supported (by Mosquitto \
                                        either); use automatic, lazy or once"))
                    }
                    _ => {
                        return Err(err(format!(
                            "'start_type' expects automatic, lazy or once, got '{}'",
                            w.escape_debug()
                        )))
                    }
                };
            }
            "bridge_reload_type" => {
                let w = a.word()?;
                b.reload_type = match w {
                    "lazy" => ReloadType::Lazy,
                    "immediate" => ReloadType::Immediate,
                    _ => {
                        return Err(err(format!(
                            "'bridge_reload_type' expects lazy or immediate, got '{}'",
                            w.escape_debug()
                        )))
                    }
                };
            }
            "bridge_max_packet_size" => b.max_packet_size = u32::try_from(a.int()?).unwrap_or(0),
            "bridge_max_topic_alias" => {
                b.max_topic_alias = u16::try_from(a.int_in(0, 65_535)?).unwrap_or(10);
            }
            "bridge_receive_maximum" => {
                b.receive_maximum = u16::try_from(a.int_in(1, 65_535)?).ok();
            }
            "bridge_session_expiry_interval" => {
                b.session_expiry_interval = u32::try_from(a.int_in(0, i32::MAX)?).ok();
            }
            "bridge_tcp_user_timeout" => {
                b.tcp_user_timeout = u32::try_from(a.int_in(0, i32::MAX)?).ok();
            }
            "bridge_tcp_keepalive" => {
                let mut next = |what: &str| -> Result<u32, ValueError> {
                    let w = a.word().map_err(|_| {
                        err(format!(
                            "'bridge_tcp_keepalive' needs three values: <idle> <interval> \
                             <count>; {what} is missing"
                        ))
                    })?;
                    let v = values::parse_int("bridge_tcp_keepalive", w)?;
                    u32::try_from(v).ok().filter(|&v| v > 0).ok_or_else(|| {
                        err(format!(
                            "'bridge_tcp_keepalive' {what} must be positive, got {v}"
                        ))
                    })
                };
                let idle = next("idle")?;
                let interval = next("interval")?;
                let count = next("count")?;
                b.tcp_keepalive = Some(TcpKeepalive {
                    idle,
                    interval,
                    count,
                });
            }
            _ => {
                return Err(err(format!(
                    "internal error: bridge option '{c}' has no handler"
                )))
            }
        }
        Ok(())
    }

    fn with_bridge(&mut self, idx: usize, f: impl FnOnce(&mut Bridge)) -> OptResult {
        if let Some(b) = self.cfg.bridges.get_mut(idx) {
            f(b);
        }
        Ok(())
    }

    /// `address host[:port] [host[:port] ...]` (once per bridge).
    fn opt_address(&mut self, a: &mut Args<'_>, idx: usize) -> OptResult {
        let mut addresses = Vec::new();
        while let Some(w) = a.opt_word_no_comment() {
            let (host, port) = match w.rsplit_once(':') {
                Some((host, port_text)) => {
                    let port = values::parse_int("address", port_text)
                        .ok()
                        .and_then(|p| u16::try_from(p).ok())
                        .filter(|&p| p != 0)
                        .ok_or_else(|| {
                            err(format!(
                                "bridge address '{}' has an invalid port '{}' (expected \
                                 1..65535; an IPv6 address needs ':port')",
                                w.escape_debug(),
                                port_text.escape_debug()
                            ))
                        })?;
                    (host, port)
                }
                None => (w, 1883),
            };
            if host.is_empty() {
                return Err(err(format!("bridge address '{w}' has no host")));
            }
            addresses.push(BridgeAddress {
                host: host.to_owned(),
                port,
            });
        }
        if addresses.is_empty() {
            return Err(err(format!("'{}' needs at least one host[:port]", a.name)));
        }
        let Some(b) = self.cfg.bridges.get_mut(idx) else {
            return Ok(());
        };
        if !b.addresses.is_empty() {
            return Err(err(
                "'address' may only be given once per connection (list every address on one \
                 line)",
            ));
        }
        b.addresses = addresses;
        Ok(())
    }

    /// `restart_timeout <secs>` or `restart_timeout <base> <cap> [<stable>]`.
    fn opt_restart_timeout(&mut self, a: &mut Args<'_>, idx: usize, loc: &Location) -> OptResult {
        let first = a.int()?;
        let first = if first < 1 {
            self.warn(loc, "'restart_timeout' too low, using 1 second");
            1
        } else {
            first
        };
        let value = match a.opt_word_no_comment() {
            None => RestartTimeout::Constant(u32::try_from(first).unwrap_or(1)),
            Some(cap_word) => {
                let cap = values::parse_int("restart_timeout", cap_word)?;
                if cap < first {
                    return Err(err(format!(
                        "'restart_timeout' backoff cap ({cap}) is lower than the base ({first})"
                    )));
                }
                let stable = match a.opt_word_no_comment() {
                    None => 0,
                    Some(w) => {
                        let v = values::parse_int("restart_timeout", w)?;
                        u32::try_from(v).map_err(|_| {
                            err(format!(
                                "'restart_timeout' stable connection period must not be \
                                 negative, got {v}"
                            ))
                        })?
                    }
                };
                RestartTimeout::Backoff {
                    base: u32::try_from(first).unwrap_or(1),
                    cap: u32::try_from(cap).unwrap_or(1),
                    stable_connection_period: stable,
                }
            }
        };
        self.with_bridge(idx, |b| b.restart_timeout = value)
    }

    /// Checks that need the whole configuration.
    pub(super) fn check_bridges(&mut self) {
        let mut problems: Vec<(Location, String)> = Vec::new();
        let mut local_ids: Vec<(String, usize)> = Vec::new();
        for (i, b) in self.cfg.bridges.iter().enumerate() {
            if self.broken_bridges.contains(&i) {
                continue;
            }
            let at = &b.defined_at;
            let name = &b.name;
            if b.addresses.is_empty() && !self.bridges_with_address.contains(&i) {
                problems.push((at.clone(), format!("bridge '{name}' has no 'address' line")));
            }
            if b.topics.is_empty() && !self.bridges_with_topic.contains(&i) {
                problems.push((at.clone(), format!("bridge '{name}' has no 'topic' line")));
            }
            if b.tls.psk.is_some() && b.tls.identity.is_none() {
                problems.push((
                    at.clone(),
                    format!("bridge '{name}' has 'bridge_psk' but no 'bridge_identity'"),
                ));
            }
            if b.tls.identity.is_some() && b.tls.psk.is_none() {
                problems.push((
                    at.clone(),
                    format!("bridge '{name}' has 'bridge_identity' but no 'bridge_psk'"),
                ));
            }
            // The default remote id depends on the host name; only ids
            // known without it can be compared here.
            let local = b
                .local_clientid
                .clone()
                .or_else(|| b.remote_clientid.as_ref().map(|r| format!("local.{r}")));
            if let Some(local) = local {
                if let Some((_, j)) = local_ids.iter().find(|(id, _)| *id == local) {
                    let other = self.cfg.bridges.get(*j).map_or("?", |o| o.name.as_str());
                    problems.push((
                        at.clone(),
                        format!(
                            "bridge '{name}' has the same local client id '{local}' as bridge \
                             '{other}'; set a different local_clientid"
                        ),
                    ));
                } else {
                    local_ids.push((local, i));
                }
            }
        }
        for (loc, msg) in problems {
            self.error(&loc, msg);
        }
    }
}

/// Options that configure the current bridge (after `connection`).
fn is_bridge_option(c: &str) -> bool {
    matches!(
        c,
        "address"
            | "topic"
            | "restart_timeout"
            | "keepalive_interval"
            | "idle_timeout"
            | "threshold"
            | "bridge_insecure"
            | "round_robin"
            | "try_private"
            | "notifications"
            | "notifications_local_only"
            | "cleansession"
            | "local_cleansession"
            | "bridge_attempt_unsubscribe"
            | "bridge_outgoing_retain"
            | "bridge_require_ocsp"
            | "bridge_tls_use_os_certs"
            | "remote_clientid"
            | "local_clientid"
            | "remote_username"
            | "remote_password"
            | "local_username"
            | "local_password"
            | "notification_topic"
            | "bridge_bind_address"
            | "bridge_alpn"
            | "bridge_ciphers"
            | "bridge_ciphers_tls1.3"
            | "bridge_tls_version"
            | "bridge_cafile"
            | "bridge_capath"
            | "bridge_certfile"
            | "bridge_keyfile"
            | "bridge_identity"
            | "bridge_psk"
            | "bridge_protocol_version"
            | "start_type"
            | "bridge_reload_type"
            | "bridge_max_packet_size"
            | "bridge_max_topic_alias"
            | "bridge_receive_maximum"
            | "bridge_session_expiry_interval"
            | "bridge_tcp_user_timeout"
            | "bridge_tcp_keepalive"
    )
}
