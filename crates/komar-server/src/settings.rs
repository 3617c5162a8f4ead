//! From a parsed `mosquitto.conf` to a runnable [`ServerConfig`]: which
//! options take effect, which are refused because their feature has not
//! landed yet (`file:line: option 'X' is recognised but not supported
//! yet`), and which Komar will never support the way Mosquitto does (one
//! clear warning each). Nothing is silently ignored. Also loads the
//! password and ACL files the configuration names.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use komar_auth::{AclFile, FileSecurity, ListenerRules, PasswordFile};
use komar_config::{Config, Listener, ListenerAddress, LogDest, OptionUse, Protocol, SocketDomain};
use komar_core::{BrokerConfig, ListenerSettings};
use komar_proto::QoS;

use crate::{ListenAddr, ListenerConfig, ServerConfig};

/// Options that configure features Komar has not built yet: refused with
/// `recognised but not supported yet`.
const NOT_YET: &[(&str, &str)] = &[
    ("tls_keyform", "TLS keys from engines or URIs"),
    (
        "disable_client_cert_date_checks",
        "skipping client certificate date checks",
    ),
    ("psk_hint", "TLS-PSK"),
    ("psk_file", "TLS-PSK"),
    ("retain_expiry_interval", "retained-message expiry sweeps"),
    ("enable_control_api", "the $CONTROL API"),
    ("global_max_clients", "session limits"),
];

/// Options Komar will never support as Mosquitto does, with what Komar
/// does instead.
const NEVER: &[(&str, &str)] = &[
    ("plugin", "Komar cannot load Mosquitto's C plugins; use password_file / acl_file, or embed Komar as a Rust library and implement its Authenticator/Authorizer traits"),
    ("global_plugin", "Komar cannot load Mosquitto's C plugins"),
    ("plugin_load", "Komar cannot load Mosquitto's C plugins"),
    ("plugin_use", "Komar cannot load Mosquitto's C plugins"),
    ("plugin_opt_*", "ignored with the plugin it configures"),
    ("auth_plugin_deny_special_chars", "ignored with the plugin it configures"),
    ("tls_engine", "Komar uses rustls, which has no OpenSSL engines"),
    ("tls_engine_kpass_sha1", "Komar uses rustls, which has no OpenSSL engines"),
    ("dhparamfile", "rustls does not use DH parameters (it offers ECDHE only)"),
    ("websockets_log_level", "Komar's WebSockets are not libwebsockets; use log_type websockets"),
    ("memory_limit", "Komar bounds memory with the queue and packet limits instead of a malloc cap"),
    ("retry_interval", "removed in Mosquitto 2.0; messages are re-sent on reconnect, as the specification requires"),
    ("allow_duplicate_messages", "Komar always delivers one copy of a message per client (at the highest matching QoS)"),
];

/// Options that exist only inside a bridge (`connection`) section.
const BRIDGE: &[&str] = &[
    "connection",
    "address",
    "bridge_alpn",
    "bridge_attempt_unsubscribe",
    "bridge_bind_address",
    "bridge_cafile",
    "bridge_capath",
    "bridge_certfile",
    "bridge_ciphers",
    "bridge_ciphers_tls1.3",
    "bridge_identity",
    "bridge_insecure",
    "bridge_keyfile",
    "bridge_max_packet_size",
    "bridge_max_topic_alias",
    "bridge_outgoing_retain",
    "bridge_protocol_version",
    "bridge_psk",
    "bridge_receive_maximum",
    "bridge_reload_type",
    "bridge_require_ocsp",
    "bridge_session_expiry_interval",
    "bridge_tcp_keepalive",
    "bridge_tcp_user_timeout",
    "bridge_tls_use_os_certs",
    "bridge_tls_version",
    "cleansession",
    "idle_timeout",
    "keepalive_interval",
    "local_cleansession",
    "local_clientid",
    "local_password",
    "local_username",
    "notification_topic",
    "notifications",
    "notifications_local_only",
    "remote_clientid",
    "remote_password",
    "remote_username",
    "restart_timeout",
    "round_robin",
    "start_type",
    "threshold",
    "topic",
    "try_private",
];

/// Every log type except the `all` shorthand.
const CONCRETE_LOG_TYPES: [komar_config::LogType; 9] = {
    use komar_config::LogType::*;
    [
        Debug,
        Error,
        Warning,
        Notice,
        Information,
        Subscribe,
        Unsubscribe,
        Websockets,
        Internal,
    ]
};

/// Where log lines go, and which.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// Destinations (`log_dest`).
    pub dest: Vec<LogDest>,
    /// Which log types are on, by `komar_config::LogType`.
    pub types: Vec<komar_config::LogType>,
    /// Prefix lines with a timestamp (`log_timestamp`).
    pub timestamp: bool,
    /// strftime format of the timestamp (`log_timestamp_format`).
    pub timestamp_format: Option<String>,
    /// `log_facility` for syslog (`localN`).
    pub facility: Option<u8>,
}

/// Everything a configuration file decides.
#[derive(Debug)]
pub struct Settings {
    /// The server to run.
    pub server: ServerConfig,
    /// The password/ACL rules (replaced on reload).
    pub security: Arc<FileSecurity>,
    /// Logging.
    pub log: LogSettings,
    /// `pid_file`.
    pub pid_file: Option<PathBuf>,
    /// `user` to drop privileges to when started as root.
    pub user: Option<String>,
    /// Warnings to log at start (never-supported options, file problems
    /// Mosquitto also only logs).
    pub warnings: Vec<String>,
    /// No listener configured: Mosquitto's "local only" mode.
    pub local_only: bool,
}

fn at(u: &OptionUse) -> String {
    format!("{}:{}", u.file.display(), u.line)
}

/// Check every option occurrence against what this build supports.
fn check_support(cfg: &Config, errors: &mut Vec<String>, warnings: &mut Vec<String>) {
    for u in &cfg.options {
        let name = u.canonical;
        if let Some((_, feature)) = NOT_YET.iter().find(|(n, _)| *n == name) {
            errors.push(format!(
                "{}: option '{}' is recognised but not supported yet ({feature} has not landed in Komar)",
                at(u),
                u.name
            ));
        } else if BRIDGE.contains(&name) {
            errors.push(format!(
                "{}: option '{}' is recognised but not supported yet (bridges have not landed in Komar)",
                at(u),
                u.name
            ));
        } else if let Some((_, instead)) = NEVER
            .iter()
            .find(|(n, _)| *n == name || (n.ends_with('*') && name.starts_with(&n[..n.len() - 1])))
        {
            warnings.push(format!(
                "{}: option '{}' is not supported by Komar: {instead}",
                at(u),
                u.name
            ));
        }
    }
    for name in ["autosave_interval", "autosave_on_changes"] {
        if let Some(u) = cfg.uses_of(name).last() {
            warnings.push(format!(
                "{}: option '{}' has no effect: Komar writes every change to its store as it happens (SIGUSR1 forces an fsync)",
                at(u),
                u.name
            ));
        }
    }
    for l in all_listeners(cfg) {
        if l.protocol == Protocol::HttpApi {
            let loc = l
                .defined_at
                .as_ref()
                .map_or_else(|| "configuration".to_owned(), |d| d.to_string());
            errors.push(format!(
                "{loc}: option 'protocol http_api' is recognised but not supported yet (the HTTP API has not landed in Komar)"
            ));
        }
    }
    if let Some(dests) = &cfg.log_dest {
        for d in dests {
            if matches!(d, LogDest::Dlt | LogDest::Android) {
                warnings.push(format!(
                    "log_dest {d:?} is not supported by Komar (Linux DLT / Android logging); use stderr, file or syslog"
                ));
            }
        }
    }
}

fn all_listeners(cfg: &Config) -> impl Iterator<Item = &Listener> {
    let default = cfg
        .default_listener_in_use()
        .then_some(&cfg.default_listener);
    default.into_iter().chain(cfg.listeners.iter())
}

fn read_file(path: &Path, what: &str) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read {what}: {e}", path.display()))
}

/// Parse the password and ACL files of one security set.
fn load_rules(
    sec: &komar_config::Security,
    allow_anonymous: bool,
    errors: &mut Vec<String>,
    warnings: &mut Vec<String>,
) -> ListenerRules {
    let passwords = sec
        .password_file
        .as_ref()
        .and_then(|p| match read_file(p, "password_file") {
            Ok(text) => {
                let (file, problems) = PasswordFile::parse(&text);
                for e in problems {
                    // Mosquitto logs a bad entry and goes on without it.
                    warnings.push(format!("{}:{}: {}", p.display(), e.line, e.message));
                }
                Some(Arc::new(file))
            }
            Err(e) => {
                errors.push(e);
                None
            }
        });
    let acl = sec
        .acl_file
        .as_ref()
        .and_then(|p| match read_file(p, "acl_file") {
            Ok(text) => match AclFile::parse(&text) {
                Ok(acl) => {
                    for w in acl.warnings() {
                        warnings.push(format!("{}:{}: {}", p.display(), w.line, w.message));
                    }
                    Some(Arc::new(acl))
                }
                Err(problems) => {
                    for e in problems {
                        errors.push(format!("{}:{}: {}", p.display(), e.line, e.message));
                    }
                    None
                }
            },
            Err(e) => {
                errors.push(e);
                None
            }
        });
    let scram = sec
        .scram_file
        .as_ref()
        .and_then(|p| match read_file(p, "scram_file") {
            Ok(text) => {
                let (file, problems) = komar_auth::scram::ScramFile::parse(&text);
                for e in problems {
                    warnings.push(format!("{}:{}: {}", p.display(), e.line, e.message));
                }
                Some(Arc::new(file))
            }
            Err(e) => {
                errors.push(e);
                None
            }
        });
    ListenerRules {
        allow_anonymous,
        passwords,
        acl,
        scram,
    }
}

fn resolve(
    host: Option<&str>,
    port: u16,
    domain: Option<SocketDomain>,
) -> Result<Vec<SocketAddr>, String> {
    let addrs: Vec<SocketAddr> = match host {
        // No address: every interface, IPv4 and IPv6 (as Mosquitto does).
        None => vec![
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
            SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port),
        ],
        Some(h) => (h, port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve listener address '{h}': {e}"))?
            .collect(),
    };
    let addrs = addrs
        .into_iter()
        .filter(|a| match domain {
            Some(SocketDomain::Ipv4) => a.is_ipv4(),
            Some(SocketDomain::Ipv6) => a.is_ipv6(),
            None => true,
        })
        .collect::<Vec<_>>();
    let mut unique = Vec::new();
    for a in addrs {
        if !unique.contains(&a) {
            unique.push(a);
        }
    }
    Ok(unique)
}

fn listener_settings(cfg: &Config, l: &Listener) -> ListenerSettings {
    let sec = cfg.security_for(l);
    ListenerSettings {
        max_qos: QoS::from_u8(l.max_qos).unwrap_or(QoS::ExactlyOnce),
        max_topic_alias: l.max_topic_alias,
        max_topic_alias_broker: l.max_topic_alias_broker,
        mount_point: l.mount_point.as_deref().map(Arc::from),
        use_username_as_clientid: l.use_username_as_clientid,
        allow_zero_length_clientid: sec.allow_zero_length_clientid,
        auto_id_prefix: Arc::from(sec.auto_id_prefix.as_deref().unwrap_or("auto-")),
        accept_versions: match &l.accept_protocol_versions {
            None => ListenerSettings::default().accept_versions,
            Some(v) => {
                use komar_proto::ProtocolVersion::*;
                [(v.v31, V31), (v.v311, V311), (v.v5, V5)]
                    .into_iter()
                    .filter_map(|(on, version)| on.then_some(version))
                    .collect()
            }
        },
    }
}

/// The server redirect `server_reference` / `server_moved` ask for.
pub fn redirect_of(cfg: &Config) -> Option<komar_core::Redirect> {
    cfg.server_reference
        .clone()
        .map(|reference| komar_core::Redirect {
            reference,
            moved: cfg.server_moved,
        })
}

fn broker_config(cfg: &Config) -> BrokerConfig {
    BrokerConfig {
        max_inflight_messages: cfg.max_inflight_messages,
        max_inflight_bytes: cfg.max_inflight_bytes as usize,
        max_queued_messages: cfg.max_queued_messages as usize,
        max_queued_bytes: cfg.max_queued_bytes as usize,
        queue_qos0_messages: cfg.queue_qos0_messages,
        message_size_limit: cfg.message_size_limit as usize,
        max_packet_size: cfg.max_packet_size.map_or(0, |m| m as usize),
        max_keepalive: cfg.max_keepalive.unwrap_or(u16::MAX),
        retain_available: cfg.retain_available,
        persistent_client_expiration: cfg.persistent_client_expiration.map(Duration::from_secs),
        upgrade_outgoing_qos: cfg.upgrade_outgoing_qos,
        clientid_prefixes: cfg.clientid_prefixes.iter().cloned().collect(),
        check_retain_source: cfg.check_retain_source,
        shared_strategy: match cfg.shared_subscription_strategy {
            komar_config::SharedStrategy::RoundRobin => komar_core::SharedStrategy::RoundRobin,
            komar_config::SharedStrategy::Random => komar_core::SharedStrategy::Random,
            komar_config::SharedStrategy::Sticky => komar_core::SharedStrategy::Sticky,
        },
        response_information_prefix: cfg.response_information_prefix.as_deref().map(Arc::from),
        redirect: redirect_of(cfg),
        ..BrokerConfig::default()
    }
}

/// Loopback listeners on `ports` (IPv4 and IPv6), Mosquitto's `-p` and
/// local-only mode.
pub fn loopback_listeners(ports: &[u16]) -> Vec<ListenerConfig> {
    let mut out = Vec::new();
    for &port in ports {
        for ip in [
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ] {
            out.push(ListenerConfig {
                addr: ListenAddr::Tcp(SocketAddr::new(ip, port)),
                settings: ListenerSettings::default(),
                max_connections: None,
                bind_interface: None,
                transport: Default::default(),
            });
        }
    }
    out
}

/// Settings without a configuration file: local-only mode on `ports`
/// (1883 when empty), anonymous clients allowed.
pub fn without_file(ports: &[u16]) -> Settings {
    let ports = if ports.is_empty() { &[1883][..] } else { ports };
    let mut server = ServerConfig::local_only(1883);
    server.listeners = loopback_listeners(ports);
    let rules = vec![
        ListenerRules {
            allow_anonymous: true,
            ..Default::default()
        };
        server.listeners.len()
    ];
    let security = Arc::new(FileSecurity::new(rules));
    server.authenticator = security.clone();
    server.authorizer = security.clone();
    Settings {
        server,
        security,
        log: LogSettings {
            dest: vec![LogDest::Stderr],
            types: komar_config::LogType::DEFAULT.to_vec(),
            timestamp: true,
            timestamp_format: None,
            facility: None,
        },
        pid_file: None,
        user: None,
        warnings: Vec::new(),
        local_only: true,
    }
}

/// Turn a parsed configuration (and the `-p` ports of the command line,
/// used only when the file defines no listener) into settings.
///
/// # Errors
/// Every problem, each as `file:line: message` where it has a place:
/// options not supported yet, unreadable password or ACL files, malformed
/// ACL lines, listener addresses that do not resolve.
pub fn from_config(cfg: &Config, cli_ports: &[u16]) -> Result<Settings, Vec<String>> {
    let mut errors = Vec::new();
    let mut warnings: Vec<String> = cfg.warnings.iter().map(|w| w.to_string()).collect();
    check_support(cfg, &mut errors, &mut warnings);

    let mut listeners = Vec::new();
    let mut rules = Vec::new();
    let explicit: Vec<&Listener> = all_listeners(cfg).collect();
    let local_only = explicit.is_empty();
    if explicit.is_empty() {
        // Local-only mode (or `-p` ports): loopback, anonymous unless the
        // file says otherwise.
        let ports = if cli_ports.is_empty() {
            &[1883][..]
        } else {
            cli_ports
        };
        for mut l in loopback_listeners(ports) {
            l.settings = listener_settings(cfg, &cfg.default_listener);
            listeners.push(l);
            rules.push(load_rules(
                &cfg.security,
                cfg.allow_anonymous_for(None),
                &mut errors,
                &mut warnings,
            ));
        }
    } else {
        if !cli_ports.is_empty() {
            warnings
                .push("-p is ignored because the configuration file defines listeners".to_owned());
        }
        for l in explicit {
            let sec = cfg.security_for(l);
            let addrs = match &l.address {
                ListenerAddress::Tcp { port, host } => {
                    let host = host
                        .as_deref()
                        .or(if std::ptr::eq(l, &cfg.default_listener) {
                            cfg.bind_address.as_deref()
                        } else {
                            None
                        });
                    match resolve(host, *port, l.socket_domain) {
                        Ok(a) => a.into_iter().map(ListenAddr::Tcp).collect(),
                        Err(e) => {
                            let loc = l
                                .defined_at
                                .as_ref()
                                .map_or_else(String::new, |d| format!("{d}: "));
                            errors.push(format!("{loc}{e}"));
                            Vec::new()
                        }
                    }
                }
                ListenerAddress::Unix { path } => vec![ListenAddr::Unix(path.clone())],
            };
            let listener_rules = load_rules(
                sec,
                cfg.allow_anonymous_for(Some(l)),
                &mut errors,
                &mut warnings,
            );
            let transport =
                crate::transport_config::for_listener(cfg, l, &mut errors, &mut warnings);
            for addr in addrs {
                listeners.push(ListenerConfig {
                    addr,
                    settings: listener_settings(cfg, l),
                    max_connections: usize::try_from(l.max_connections).ok(),
                    bind_interface: l.bind_interface.clone(),
                    transport: transport.clone(),
                });
                rules.push(listener_rules.clone());
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let security = Arc::new(FileSecurity::new(rules));
    let server = ServerConfig {
        broker: broker_config(cfg),
        listeners,
        connect_timeout: Duration::from_secs(10),
        sys_interval: (cfg.sys_interval > 0)
            .then(|| Duration::from_secs(u64::from(cfg.sys_interval))),
        tcp_nodelay: if cfg.uses_of("set_tcp_nodelay").next().is_some() {
            cfg.set_tcp_nodelay
        } else {
            true
        },
        max_connections: cfg.global_max_connections.map(|m| m as usize),
        connection_messages: cfg.connection_messages,
        authenticator: security.clone(),
        authorizer: security.clone(),
        persistence: persistence_config(cfg),
    };
    Ok(Settings {
        server,
        security,
        log: LogSettings {
            dest: cfg.log_destinations(),
            types: CONCRETE_LOG_TYPES
                .iter()
                .copied()
                .filter(|t| cfg.logs_type(*t))
                .collect(),
            timestamp: cfg.log_timestamp,
            timestamp_format: cfg.log_timestamp_format.clone(),
            facility: cfg.log_facility,
        },
        pid_file: cfg.pid_file.clone(),
        user: cfg.user.clone(),
        warnings,
        local_only,
    })
}

/// Where the store lives (`persistence`, `persistence_location`,
/// `persistence_file`, `persistence_sync`); `None` without persistence.
fn persistence_config(cfg: &Config) -> Option<crate::persistence::PersistenceConfig> {
    if !cfg.persistence {
        return None;
    }
    let file = cfg
        .persistence_file
        .as_ref()
        .map(|f| f.to_string_lossy().into_owned());
    let at = komar_store::StoreLocation::from_config(
        cfg.persistence_location.as_deref(),
        file.as_deref(),
    );
    Some(crate::persistence::PersistenceConfig {
        dir: at.dir,
        mosquitto_file: at.mosquitto_file,
        sync: cfg.persistence_sync,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(text: &str) -> Result<Settings, Vec<String>> {
        let cfg = komar_config::parse_str(text, "test.conf").map_err(|e| vec![e.to_string()])?;
        from_config(&cfg, &[])
    }

    #[test]
    fn no_listener_means_local_only_and_anonymous() {
        let s = settings("max_queued_messages 5\n").unwrap();
        assert!(s.server.listeners.iter().all(
            |l| matches!(&l.addr, ListenAddr::Tcp(a) if a.ip().is_loopback() && a.port() == 1883)
        ));
        assert_eq!(s.server.broker.max_queued_messages, 5);
        use komar_core::{AuthDecision, Authenticator};
        assert_eq!(
            s.security.authenticate(0, "c", None, None),
            AuthDecision::Allow
        );
    }

    #[test]
    fn listener_without_allow_anonymous_refuses_anonymous() {
        let s = settings("listener 1884 127.0.0.1\n").unwrap();
        assert_eq!(s.server.listeners.len(), 1);
        use komar_core::{AuthDecision, Authenticator};
        assert!(matches!(
            s.security.authenticate(0, "c", None, None),
            AuthDecision::Deny(_)
        ));
    }

    #[test]
    fn features_not_built_yet_are_refused_with_their_line() {
        let errs = settings("listener 8883\npsk_hint komar\n").unwrap_err();
        assert!(
            errs.iter().any(|e| e
                .starts_with("test.conf:2: option 'psk_hint' is recognised but not supported yet")),
            "{errs:?}"
        );
        let errs = settings("listener 9001\nprotocol http_api\n").unwrap_err();
        assert!(errs[0].contains("protocol http_api"), "{errs:?}");
    }

    #[test]
    fn never_supported_options_warn_once() {
        let s = settings("memory_limit 1000\n").unwrap();
        assert_eq!(
            s.warnings
                .iter()
                .filter(|w| w.contains("memory_limit"))
                .count(),
            1
        );
    }

    #[test]
    fn missing_password_file_is_an_error() {
        let errs = settings("listener 1884\npassword_file /nonexistent/komar-pw\n").unwrap_err();
        assert!(errs[0].contains("/nonexistent/komar-pw"), "{errs:?}");
    }
}
