//! Handlers for `listener`, the deprecated `port` / `bind_address`, and
//! every per-listener option (limits, protocol, TLS, websockets, PROXY).
//!
//! Mosquitto 2.0 rule: an option written before the first `listener` of a
//! file goes to the default listener. Options that only exist since 2.1
//! need an explicit `listener` (as 2.1 requires).

use super::args::{err, set_once, Args, OptResult};
use super::FileCtx;
use super::Parser;
use crate::error::Location;
use crate::model::listener::{
    KeyForm, Listener, ListenerAddress, Protocol, ProtocolVersions, SocketDomain, TlsVersion,
};
use crate::values;

impl Parser<'_> {
    pub(super) fn listener_option(
        &mut self,
        c: &str,
        a: &mut Args<'_>,
        ctx: &mut FileCtx,
        loc: &Location,
    ) -> Option<OptResult> {
        let r = match c {
            "listener" => self.opt_listener(a, ctx, loc),
            "port" => self.opt_port(a, loc),
            "bind_address" => {
                self.cfg.local_only = false;
                self.note_default_listener_use();
                a.string()
                    .and_then(|v| set_once(&mut self.cfg.bind_address, a.name, v))
            }
            "bind_interface" => a
                .string()
                .and_then(|v| set_once(&mut self.cur_listener(ctx).bind_interface, a.name, v)),
            "mount_point" => self.opt_mount_point(a, ctx),
            "protocol" => a.word().and_then(|w| {
                self.cur_listener(ctx).protocol = match w {
                    "mqtt" => Protocol::Mqtt,
                    "websockets" => Protocol::Websockets,
                    "http_api" => Protocol::HttpApi,
                    _ => {
                        return Err(err(format!(
                            "'protocol' expects mqtt, websockets or http_api, got '{}'",
                            w.escape_debug()
                        )))
                    }
                };
                Ok(())
            }),
            "socket_domain" => a.word().and_then(|w| {
                self.cur_listener(ctx).socket_domain = Some(match w {
                    "ipv4" => SocketDomain::Ipv4,
                    "ipv6" => SocketDomain::Ipv6,
                    _ => {
                        return Err(err(format!(
                            "'socket_domain' expects ipv4 or ipv6, got '{}'",
                            w.escape_debug()
                        )))
                    }
                });
                Ok(())
            }),
            "max_connections" => a.int().map(|v| {
                self.cur_listener(ctx).max_connections = v.max(-1);
            }),
            "max_qos" => a
                .int_in(0, 2)
                .map(|v| self.cur_listener(ctx).max_qos = u8::try_from(v).unwrap_or(2)),
            "max_topic_alias" => a
                .int_in(0, 65_535)
                .map(|v| self.cur_listener(ctx).max_topic_alias = u16::try_from(v).unwrap_or(10)),
            "use_username_as_clientid" => a
                .bool()
                .map(|v| self.cur_listener(ctx).use_username_as_clientid = v),
            "http_dir" => a
                .path()
                .and_then(|v| set_once(&mut self.cur_listener(ctx).http_dir, a.name, v)),
            // ---- TLS ----
            "cafile" | "certfile" => self.opt_cert_path(c, a, ctx),
            "capath" => a
                .path()
                .and_then(|v| set_once(&mut self.cur_listener(ctx).tls.capath, a.name, v)),
            "keyfile" => a
                .path()
                .and_then(|v| set_once(&mut self.cur_listener(ctx).tls.keyfile, a.name, v)),
            "crlfile" => a
                .path()
                .and_then(|v| set_once(&mut self.cur_listener(ctx).tls.crlfile, a.name, v)),
            "dhparamfile" => a
                .path()
                .and_then(|v| set_once(&mut self.cur_listener(ctx).tls.dhparamfile, a.name, v)),
            "ciphers" => a
                .string()
                .and_then(|v| set_once(&mut self.cur_listener(ctx).tls.ciphers, a.name, v)),
            "ciphers_tls1.3" => a
                .string()
                .and_then(|v| set_once(&mut self.cur_listener(ctx).tls.ciphers_tls13, a.name, v)),
            "psk_hint" => a
                .string()
                .and_then(|v| set_once(&mut self.cur_listener(ctx).tls.psk_hint, a.name, v)),
            "tls_engine" => a
                .string()
                .and_then(|v| set_once(&mut self.cur_listener(ctx).tls.tls_engine, a.name, v)),
            "tls_engine_kpass_sha1" => a.string().and_then(|v| {
                let sha = values::parse_sha1_hex(a.name, &v)?;
                self.cur_listener(ctx).tls.tls_engine_kpass_sha1 = Some(sha);
                Ok(())
            }),
            "tls_keyform" => a.string().and_then(|v| {
                self.cur_listener(ctx).tls.tls_keyform = match v.as_str() {
                    "pem" => KeyForm::Pem,
                    "engine" => KeyForm::Engine,
                    "uri" => KeyForm::Uri,
                    _ => {
                        return Err(err(format!(
                            "'tls_keyform' expects pem, engine or uri, got '{v}'"
                        )))
                    }
                };
                Ok(())
            }),
            "tls_version" => a.string().and_then(|v| {
                let version = TlsVersion::parse(&v).ok_or_else(|| {
                    err(format!(
                        "'tls_version' expects tlsv1.3, tlsv1.2 or tlsv1.1, got '{v}'"
                    ))
                })?;
                set_once(&mut self.cur_listener(ctx).tls.tls_version, a.name, version)
            }),
            "require_certificate" => a
                .bool()
                .map(|v| self.cur_listener(ctx).tls.require_certificate = v),
            "use_identity_as_username" => a
                .bool()
                .map(|v| self.cur_listener(ctx).tls.use_identity_as_username = v),
            "use_subject_as_username" => a
                .bool()
                .map(|v| self.cur_listener(ctx).tls.use_subject_as_username = v),
            // ---- 2.1: explicit listener required ----
            "accept_protocol_versions" => self.opt_accept_protocol_versions(a, ctx),
            "disable_client_cert_date_checks" => self.explicit_bool(a, ctx, |l, v| {
                l.tls.disable_client_cert_date_checks = v;
            }),
            "proxy_protocol_v2_require_tls" => self.explicit_bool(a, ctx, |l, v| {
                l.proxy_protocol_v2_require_tls = v;
            }),
            "listener_allow_anonymous" => self.explicit_bool(a, ctx, |l, v| {
                l.security.allow_anonymous = Some(v);
            }),
            "enable_proxy_protocol" => a.int_in(1, 2).and_then(|v| {
                self.explicit_listener(ctx, a.name)?.enable_proxy_protocol = u8::try_from(v).ok();
                Ok(())
            }),
            "max_topic_alias_broker" => a.int_in(0, 65_535).and_then(|v| {
                self.explicit_listener(ctx, a.name)?.max_topic_alias_broker =
                    u16::try_from(v).unwrap_or(10);
                Ok(())
            }),
            "listener_auto_id_prefix" => a.string().and_then(|v| {
                let l = self.explicit_listener(ctx, a.name)?;
                set_once(&mut l.security.auto_id_prefix, a.name, v)
            }),
            "websockets_origin" => a.string().and_then(|v| {
                self.explicit_listener(ctx, a.name)?
                    .websockets_origin
                    .push(v);
                Ok(())
            }),
            _ => return None,
        };
        Some(r)
    }

    /// `listener <port> [<bind address or host>]` or `listener 0 <socket path>`.
    fn opt_listener(&mut self, a: &mut Args<'_>, ctx: &mut FileCtx, loc: &Location) -> OptResult {
        self.cfg.local_only = false;
        // Open the listener even when the line is wrong, so the options
        // after it do not fall on the previous listener and report
        // unrelated errors.
        let idx = self.cfg.listeners.len();
        self.cfg.listeners.push(Listener::new(
            ListenerAddress::Tcp {
                port: 0,
                host: None,
            },
            Some(loc.clone()),
        ));
        ctx.listener = Some(idx);
        // Assume broken until the line is fully read.
        self.broken_listeners.push(idx);

        let usage = "listener <port> [<bind address>] or listener 0 <unix socket path>";
        let word = a
            .word()
            .map_err(|_| err(format!("'listener' needs a port: {usage}")))?;
        let port = values::parse_int("listener", word)
            .ok()
            .and_then(|p| u16::try_from(p).ok())
            .ok_or_else(|| {
                err(format!(
                    "'listener' expects a port number between 0 and 65535, got '{}' ({usage})",
                    word.escape_debug()
                ))
            })?;
        let second = a.opt_word_no_comment();
        let address = if port == 0 {
            let path = second.ok_or_else(|| {
                err(
                    "'listener 0' is a Unix socket listener and needs a socket path: \
                     listener 0 <path>",
                )
            })?;
            ListenerAddress::Unix { path: path.into() }
        } else {
            ListenerAddress::Tcp {
                port,
                host: second.map(str::to_owned),
            }
        };
        if let Some(l) = self.cfg.listeners.get_mut(idx) {
            l.address = address;
        }
        self.broken_listeners.retain(|&i| i != idx);
        Ok(())
    }

    /// `port <n>` (deprecated): the default listener's port.
    fn opt_port(&mut self, a: &mut Args<'_>, loc: &Location) -> OptResult {
        self.cfg.local_only = false;
        self.note_default_listener_use();
        let v = a.int_in(1, 65_535)?;
        if self.cfg.port.is_some() {
            self.warn(
                loc,
                "default listener port specified multiple times; only the latest is used",
            );
        }
        self.cfg.port = u16::try_from(v).ok();
        Ok(())
    }

    /// `mount_point`: Mosquitto 2.0 requires that some listener exists.
    fn opt_mount_point(&mut self, a: &mut Args<'_>, ctx: &FileCtx) -> OptResult {
        if self.cfg.listeners.is_empty() {
            return Err(err(
                "'mount_point' must come after a 'listener' line (it applies to the most \
                 recent listener)",
            ));
        }
        let v = a.string()?;
        values::check_topic_name("'mount_point'", &v)?;
        set_once(&mut self.cur_listener(ctx).mount_point, a.name, v)
    }

    /// `cafile` / `certfile`: not together with `psk_hint` on one listener.
    fn opt_cert_path(&mut self, c: &str, a: &mut Args<'_>, ctx: &FileCtx) -> OptResult {
        let v = a.path()?;
        let l = self.cur_listener(ctx);
        if l.tls.psk_hint.is_some() {
            return Err(err(format!(
                "'{c}' cannot be used on a listener that has 'psk_hint': a listener uses \
                 either certificates or PSK"
            )));
        }
        let slot = if c == "cafile" {
            &mut l.tls.cafile
        } else {
            &mut l.tls.certfile
        };
        set_once(slot, a.name, v)
    }

    /// `accept_protocol_versions 3,4,5` [2.1]: any of 3 (MQTT 3.1), 4
    /// (3.1.1) and 5, separated by commas, spaces or tabs.
    fn opt_accept_protocol_versions(&mut self, a: &mut Args<'_>, ctx: &FileCtx) -> OptResult {
        let name = a.name;
        let rest = a.raw_rest().unwrap_or("");
        let mut versions = ProtocolVersions {
            v31: false,
            v311: false,
            v5: false,
        };
        let mut any = false;
        for tok in rest.split([',', ' ', '\t']).filter(|t| !t.is_empty()) {
            match tok {
                "3" => versions.v31 = true,
                "4" => versions.v311 = true,
                "5" => versions.v5 = true,
                _ => {
                    return Err(err(format!(
                        "'{name}' expects a list of 3 (MQTT 3.1), 4 (3.1.1) and 5, e.g. \
                         '4,5'; got '{}'",
                        tok.escape_debug()
                    )))
                }
            }
            any = true;
        }
        if !any {
            return Err(err(format!("'{name}' needs a value, e.g. '4,5'")));
        }
        self.explicit_listener(ctx, name)?.accept_protocol_versions = Some(versions);
        Ok(())
    }

    fn explicit_bool(
        &mut self,
        a: &mut Args<'_>,
        ctx: &FileCtx,
        set: impl FnOnce(&mut Listener, bool),
    ) -> OptResult {
        let v = a.bool()?;
        set(self.explicit_listener(ctx, a.name)?, v);
        Ok(())
    }
}
