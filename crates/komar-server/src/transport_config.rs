//! From a listener's TLS, WebSocket and PROXY options to its
//! [`TransportConfig`]: which combinations Mosquitto allows, the files TLS
//! needs (read here, so a bad certificate is a configuration error that
//! keeps the running configuration on reload), and every problem reported
//! as `file:line: message` at the option that causes it. Also the SIGHUP
//! side: [`reload_tls`] hands the freshly loaded certificates to the
//! running listeners.

use std::sync::Arc;

use komar_config::{Config, Listener, OptionUse, Protocol, TlsVersion};

use crate::http::WsSettings;
use crate::listener::{ProxySettings, TransportConfig};
use crate::tls::{CertUsername, MinTlsVersion, TlsListener, TlsOptions};
use crate::ServerConfig;

/// Where `option` was set for listener `l`: the last occurrence after the
/// listener's own line and before the next listener of the same file (the
/// default listener: the first occurrence before any `listener` line).
fn option_location(cfg: &Config, l: &Listener, option: &str) -> Option<String> {
    let starts: Vec<_> = cfg
        .listeners
        .iter()
        .filter_map(|x| x.defined_at.as_ref())
        .collect();
    let inside = |u: &&OptionUse| match &l.defined_at {
        Some(at) => {
            u.file == at.file
                && u.line > at.line
                && !starts
                    .iter()
                    .any(|s| s.file == at.file && s.line > at.line && s.line < u.line)
        }
        None => !starts.iter().any(|s| s.file == u.file && s.line < u.line),
    };
    cfg.uses_of(option)
        .filter(inside)
        .last()
        .map(|u| format!("{}:{}", u.file.display(), u.line))
}

/// `file:line: ` of `option` for `l`, falling back to the listener's line.
fn at(cfg: &Config, l: &Listener, option: &str) -> String {
    option_location(cfg, l, option)
        .or_else(|| l.defined_at.as_ref().map(ToString::to_string))
        .map_or_else(String::new, |loc| format!("{loc}: "))
}

/// The transport layers of listener `l`; problems go to `errors` and
/// `warnings`.
pub(crate) fn for_listener(
    cfg: &Config,
    l: &Listener,
    errors: &mut Vec<String>,
    warnings: &mut Vec<String>,
) -> TransportConfig {
    let t = &l.tls;
    let mut transport = TransportConfig::default();
    if l.protocol == Protocol::Websockets {
        transport.websockets = Some(Arc::new(WsSettings {
            http_dir: l.http_dir.clone(),
            origins: l.websockets_origin.clone(),
            max_head: cfg.websockets_headers_size.map_or(0, usize::from),
        }));
    } else {
        if l.http_dir.is_some() {
            warnings.push(format!(
                "{}option 'http_dir' has no effect on a listener without 'protocol websockets'",
                at(cfg, l, "http_dir")
            ));
        }
        if !l.websockets_origin.is_empty() {
            warnings.push(format!(
                "{}option 'websockets_origin' has no effect on a listener without 'protocol websockets'",
                at(cfg, l, "websockets_origin")
            ));
        }
    }
    if let Some(version) = l.enable_proxy_protocol {
        for (set, option) in [
            (t.certfile.is_some(), "certfile"),
            (t.keyfile.is_some(), "keyfile"),
            (t.use_subject_as_username, "use_subject_as_username"),
        ] {
            if set {
                errors.push(format!(
                    "{}option '{option}' cannot be used with enable_proxy_protocol (TLS ends at the proxy)",
                    at(cfg, l, option)
                ));
            }
        }
        if l.proxy_protocol_v2_require_tls && version != 2 {
            errors.push(format!(
                "{}option 'proxy_protocol_v2_require_tls' needs 'enable_proxy_protocol 2'",
                at(cfg, l, "proxy_protocol_v2_require_tls")
            ));
        }
        transport.proxy = Some(ProxySettings {
            version,
            require_tls: l.proxy_protocol_v2_require_tls,
            require_certificate: t.require_certificate,
            use_identity_as_username: t.use_identity_as_username,
        });
        return transport;
    }
    if l.proxy_protocol_v2_require_tls {
        errors.push(format!(
            "{}option 'proxy_protocol_v2_require_tls' needs 'enable_proxy_protocol 2'",
            at(cfg, l, "proxy_protocol_v2_require_tls")
        ));
    }
    let (Some(certfile), Some(keyfile)) = (&t.certfile, &t.keyfile) else {
        for (set, option) in [
            (t.certfile.is_some(), "certfile"),
            (t.keyfile.is_some(), "keyfile"),
            (t.cafile.is_some(), "cafile"),
            (t.capath.is_some(), "capath"),
            (t.crlfile.is_some(), "crlfile"),
            (t.ciphers.is_some(), "ciphers"),
            (t.ciphers_tls13.is_some(), "ciphers_tls1.3"),
            (t.tls_version.is_some(), "tls_version"),
            (t.require_certificate, "require_certificate"),
            (t.use_identity_as_username, "use_identity_as_username"),
            (t.use_subject_as_username, "use_subject_as_username"),
        ] {
            if set {
                errors.push(format!(
                    "{}option '{option}' needs TLS on this listener: set both certfile and keyfile",
                    at(cfg, l, option)
                ));
            }
        }
        return transport;
    };
    if t.use_identity_as_username && t.use_subject_as_username {
        errors.push(format!(
            "{}use_identity_as_username and use_subject_as_username cannot both be true",
            at(cfg, l, "use_subject_as_username")
        ));
    }
    let min_version = match t.tls_version {
        None => None,
        Some(TlsVersion::V1_3) => Some(MinTlsVersion::Tls13),
        Some(TlsVersion::V1_2) => Some(MinTlsVersion::Tls12),
        Some(TlsVersion::V1_1) => {
            warnings.push(format!(
                "{}tls_version tlsv1.1: Komar's TLS library offers TLS 1.2 and 1.3 only",
                at(cfg, l, "tls_version")
            ));
            Some(MinTlsVersion::Tls12)
        }
    };
    let options = TlsOptions {
        cafile: t.cafile.clone(),
        capath: t.capath.clone(),
        certfile: certfile.clone(),
        keyfile: keyfile.clone(),
        crlfile: t.crlfile.clone(),
        require_certificate: t.require_certificate,
        min_version,
        ciphers: t.ciphers.clone(),
        ciphers_tls13: t.ciphers_tls13.clone(),
    };
    let username = if t.use_identity_as_username {
        CertUsername::CommonName
    } else if t.use_subject_as_username {
        CertUsername::Subject
    } else {
        CertUsername::Off
    };
    match TlsListener::new(options, username) {
        Ok((tls, w)) => {
            warnings.extend(w);
            transport.tls = Some(Arc::new(tls));
        }
        Err(e) => errors.push(format!("{}{}", at(cfg, l, e.option), e.message)),
    }
    transport
}

/// SIGHUP: every TLS listener of `running` uses the certificates, keys,
/// CAs and CRLs `new` has just loaded for new handshakes; connected clients
/// keep their sessions. Listeners are paired by position (the caller has
/// checked both configurations have the same listeners). Returns how many
/// listeners were updated.
pub fn reload_tls(running: &ServerConfig, new: &ServerConfig) -> usize {
    let mut n = 0;
    for (old, fresh) in running.listeners.iter().zip(&new.listeners) {
        if let (Some(old), Some(fresh)) = (&old.transport.tls, &fresh.transport.tls) {
            if !Arc::ptr_eq(old, fresh) {
                old.replace_with(fresh);
                n += 1;
            }
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use crate::settings::from_config;

    fn errors(text: &str) -> Vec<String> {
        let cfg = match komar_config::parse_str(text, "t.conf") {
            Ok(c) => c,
            Err(e) => return e.errors.iter().map(ToString::to_string).collect(),
        };
        match from_config(&cfg, &[]) {
            Ok(_) => Vec::new(),
            Err(e) => e,
        }
    }

    #[test]
    fn problems_point_at_their_option() {
        let e = errors("listener 1\nlistener 8883\nrequire_certificate true\n");
        assert!(
            e.iter()
                .any(|e| e.starts_with("t.conf:3: option 'require_certificate' needs TLS")),
            "{e:?}"
        );
        let e = errors("listener 8883\ncertfile /nonexistent/c.pem\nkeyfile /nonexistent/k.pem\n");
        assert!(
            e.iter()
                .any(|e| e.starts_with("t.conf:2: cannot read /nonexistent/c.pem")),
            "{e:?}"
        );
        let e = errors("listener 1883\nenable_proxy_protocol 1\nproxy_protocol_v2_require_tls true\ncertfile /c\nkeyfile /k\n");
        assert!(e.iter().any(|e| e.starts_with("t.conf:3:")), "{e:?}");
        assert!(
            e.iter()
                .any(|e| e.starts_with("t.conf:4: option 'certfile' cannot")),
            "{e:?}"
        );
    }

    #[test]
    fn websockets_and_proxy_listeners_are_accepted() {
        assert!(
            errors("listener 1883\nprotocol mqtt\nlistener 9001\nprotocol websockets\n").is_empty()
        );
        assert!(errors("listener 1883\nenable_proxy_protocol 2\nproxy_protocol_v2_require_tls true\nrequire_certificate true\nuse_identity_as_username true\n").is_empty());
    }
}
