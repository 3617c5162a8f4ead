//! The typed result of parsing: [`Config`] with global options, listeners,
//! bridges, the record of every option occurrence and the notices
//! Mosquitto would log.
//!
//! Defaults are Mosquitto 2.0's. Where 2.1 changed a default, or where
//! "not given" must be told apart from a value, the field is an `Option`
//! and its documentation gives both defaults.

use std::path::PathBuf;

use crate::error::{ConfigWarning, Location};
use crate::model::bridge::Bridge;
use crate::model::listener::{Listener, ListenerAddress};
use crate::model::logging::{LogDest, LogType};
use crate::model::security::{Plugin, Security};

/// How a shared subscription chooses the member that gets a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SharedStrategy {
    /// Members in turn (`round_robin`, the default).
    #[default]
    RoundRobin,
    /// A member at random (`random`).
    Random,
    /// The same member for every message of one publisher while it stays
    /// connected (`sticky`).
    Sticky,
}

/// One occurrence of a recognised option, in file order (included files
/// appear where their `include_dir` line is). Lets the broker report
/// `file:line: option 'X' is recognised but not supported yet`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionUse {
    /// The name as written, e.g. `auth_plugin` or `plugin_opt_db_host`.
    pub name: String,
    /// The canonical name from [`crate::options::OPTIONS`], e.g. `plugin`
    /// or `plugin_opt_*`.
    pub canonical: &'static str,
    /// File it is in.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
}

impl OptionUse {
    /// The location of this occurrence.
    #[must_use]
    pub fn location(&self) -> Location {
        Location::new(self.file.clone(), self.line)
    }
}

/// A parsed mosquitto.conf.
///
/// # The deprecated default listener
///
/// Mosquitto 2.0 keeps a "default listener" that collects `port`,
/// `bind_address` and every listener option written before the first
/// `listener` line **of the same file** (each included file starts again
/// with the default listener). It is only opened when one of the options
/// Mosquitto checks was set — see [`Config::default_listener_in_use`] —
/// and then listens on `port` (1883 if unset) on `bind_address` (all
/// interfaces if unset). Those settings are in [`Config::port`],
/// [`Config::bind_address`] and [`Config::default_listener`]. Handling of
/// `-p` belongs to the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    // ---- process ----
    /// `user`: drop privileges to this user. `None` = Mosquitto's default
    /// `mosquitto` (falling back to `nobody`).
    pub user: Option<String>,
    /// `pid_file`.
    pub pid_file: Option<PathBuf>,
    /// `sys_interval` in seconds (default 10; 0 disables `$SYS` updates).
    pub sys_interval: u16,
    /// `set_tcp_nodelay` (default false).
    pub set_tcp_nodelay: bool,
    /// `upgrade_outgoing_qos` (default false): deliver at the
    /// subscription's QoS instead of the lower of the two (non-standard).
    pub upgrade_outgoing_qos: bool,
    /// `check_retain_source` (default true): re-check the publisher's ACL
    /// when delivering a retained message.
    pub check_retain_source: bool,
    /// `allow_duplicate_messages` (deprecated, default true).
    pub allow_duplicate_messages: bool,
    /// `clientid_prefixes` (deprecated): only client ids starting with
    /// this are allowed.
    pub clientid_prefixes: Option<String>,
    /// `connection_messages` (default true): log connects / disconnects.
    pub connection_messages: bool,
    /// `memory_limit` in bytes; `None` = no limit.
    pub memory_limit: Option<u64>,
    /// `enable_control_api` [2.1] (default false): `$CONTROL/broker/v1`.
    pub enable_control_api: bool,
    /// `global_max_clients` [2.1]: max sessions broker-wide; `None` =
    /// unlimited (Mosquitto's -1; negative values mean unlimited).
    pub global_max_clients: Option<u32>,
    /// `global_max_connections` [2.1]: max connections broker-wide;
    /// `None` = unlimited.
    pub global_max_connections: Option<u32>,
    /// `shared_subscription_strategy` [Komar]: how a shared subscription
    /// picks the member that gets a message (default round robin).
    pub shared_subscription_strategy: SharedStrategy,
    /// `response_information_prefix` [Komar]: MQTT 5 Response Information
    /// sent to clients that ask for it is this prefix followed by the
    /// client id (default `response/`; `none` sends none).
    pub response_information_prefix: Option<String>,
    /// `server_reference` [Komar]: send MQTT 5 clients elsewhere — CONNACK
    /// 0x9C (or 0x9D with `server_moved true`) with this Server Reference;
    /// 3.x clients are refused as "server unavailable". For draining a node.
    pub server_reference: Option<String>,
    /// `server_moved` [Komar]: the redirect is permanent (0x9D, "server
    /// moved") rather than temporary (0x9C, "use another server").
    pub server_moved: bool,

    // ---- security ----
    /// `per_listener_settings` (default false; deprecated in 2.1): when
    /// true the security options are read into each listener's
    /// [`Listener::security`] instead of [`Config::security`].
    pub per_listener_settings: bool,
    /// Global security options (used when `per_listener_settings false`;
    /// `global_plugin` [2.1] always lands here).
    pub security: Security,
    /// Plugins declared with `plugin_load <name> <path>` [2.1]; listeners
    /// refer to them by name with `plugin_use`.
    pub named_plugins: Vec<Plugin>,

    // ---- persistence ----
    /// `persistence` / `retained_persistence` (default false).
    pub persistence: bool,
    /// `persistence_file`; `None` = `mosquitto.db`.
    pub persistence_file: Option<PathBuf>,
    /// `persistence_location`: directory for the database; `None` = the
    /// current directory.
    pub persistence_location: Option<PathBuf>,
    /// `autosave_interval` (default 1800; 0 = only on exit / SIGUSR1;
    /// negative values become 0). Seconds, or a change count when
    /// `autosave_on_changes`.
    pub autosave_interval: u32,
    /// `autosave_on_changes` (default false).
    pub autosave_on_changes: bool,
    /// `persistence_sync` [Komar] (default false): fsync every write batch
    /// before acknowledging (survives power loss), instead of handing it
    /// to the operating system (survives the broker being killed).
    pub persistence_sync: bool,
    /// `persistent_client_expiration` in seconds; `None` = never expire.
    pub persistent_client_expiration: Option<u64>,

    // ---- limits ----
    /// `max_inflight_messages` (default 20; 0 = unlimited; 65535 and
    /// negative values are stored as 0, as Mosquitto does).
    pub max_inflight_messages: u16,
    /// `max_inflight_bytes` (default 0 = unlimited).
    pub max_inflight_bytes: u64,
    /// `max_queued_messages` (default 1000; 0 = unlimited).
    pub max_queued_messages: u32,
    /// `max_queued_bytes` (default 0 = unlimited).
    pub max_queued_bytes: u64,
    /// `queue_qos0_messages` (default false).
    pub queue_qos0_messages: bool,
    /// `message_size_limit` in bytes (default 0 = the protocol maximum
    /// 268435455).
    pub message_size_limit: u32,
    /// `max_packet_size` (≥ 20). `None` = not set: no limit in 2.0,
    /// 2 000 000 in 2.1.
    pub max_packet_size: Option<u32>,
    /// `max_keepalive` in seconds. `None` = not set: 65535 in 2.0, 0 (no
    /// cap, keepalive 0 allowed) in 2.1. Mosquitto 2.0 rejects values
    /// below 10; 2.1 accepts 0..=65535 and so does Komar.
    pub max_keepalive: Option<u16>,
    /// `retain_available` (default true).
    pub retain_available: bool,
    /// `retain_expiry_interval` [2.0.21 / 2.1], converted from minutes to
    /// seconds (capped at 10 000 000 minutes); `None` = no sweep.
    pub retain_expiry_interval: Option<u64>,

    // ---- logging ----
    /// `log_dest`, accumulated (`none` clears). `None` = not given (stderr).
    pub log_dest: Option<Vec<LogDest>>,
    /// `log_type`, accumulated (`none` clears, `all` = [`LogType::All`]).
    /// `None` = not given ([`LogType::DEFAULT`]).
    pub log_type: Option<Vec<LogType>>,
    /// `log_facility` 0..=7 = syslog `local0`..`local7`; `None` = daemon.
    pub log_facility: Option<u8>,
    /// `log_timestamp` (default true).
    pub log_timestamp: bool,
    /// `log_timestamp_format` (strftime); `None` = epoch seconds.
    pub log_timestamp_format: Option<String>,
    /// `websockets_log_level` (libwebsockets bitmask).
    pub websockets_log_level: Option<i32>,
    /// `websockets_headers_size` / `packet_buffer_size` [2.1] in bytes;
    /// `None` = 4096.
    pub websockets_headers_size: Option<u16>,

    // ---- listeners and bridges ----
    /// True when no `listener`, `port` or `bind_address` line was seen:
    /// Mosquitto's "local only mode" (listen on loopback 1883 and allow
    /// anonymous clients unless `allow_anonymous` says otherwise).
    pub local_only: bool,
    /// `port` (deprecated): port of the default listener.
    pub port: Option<u16>,
    /// `bind_address` (deprecated): bind address of the default listener.
    /// Mosquitto also checks that it resolves; that is the broker's job.
    pub bind_address: Option<String>,
    /// The deprecated default listener (see the type documentation). Its
    /// address is `port` (or 1883) on `bind_address`.
    pub default_listener: Listener,
    /// `listener` blocks, in order.
    pub listeners: Vec<Listener>,
    /// `connection` blocks, in order.
    pub bridges: Vec<Bridge>,

    // ---- bookkeeping ----
    /// Every recognised option occurrence, in order.
    pub options: Vec<OptionUse>,
    /// Notices Mosquitto would log (deprecations, clamped values, ignored
    /// text). The configuration is valid.
    pub warnings: Vec<ConfigWarning>,
    /// Files read: the main file, then included files in load order.
    pub files: Vec<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            user: None,
            pid_file: None,
            sys_interval: 10,
            set_tcp_nodelay: false,
            upgrade_outgoing_qos: false,
            check_retain_source: true,
            allow_duplicate_messages: true,
            clientid_prefixes: None,
            connection_messages: true,
            memory_limit: None,
            enable_control_api: false,
            global_max_clients: None,
            global_max_connections: None,
            shared_subscription_strategy: SharedStrategy::RoundRobin,
            response_information_prefix: Some("response/".to_owned()),
            server_reference: None,
            server_moved: false,
            per_listener_settings: false,
            security: Security::default(),
            named_plugins: Vec::new(),
            persistence: false,
            persistence_file: None,
            persistence_location: None,
            autosave_interval: 1800,
            autosave_on_changes: false,
            persistence_sync: false,
            persistent_client_expiration: None,
            max_inflight_messages: 20,
            max_inflight_bytes: 0,
            max_queued_messages: 1000,
            max_queued_bytes: 0,
            queue_qos0_messages: false,
            message_size_limit: 0,
            max_packet_size: None,
            max_keepalive: None,
            retain_available: true,
            retain_expiry_interval: None,
            log_dest: None,
            log_type: None,
            log_facility: None,
            log_timestamp: true,
            log_timestamp_format: None,
            websockets_log_level: None,
            websockets_headers_size: None,
            local_only: true,
            port: None,
            bind_address: None,
            default_listener: Listener::new(
                ListenerAddress::Tcp {
                    port: 1883,
                    host: None,
                },
                None,
            ),
            listeners: Vec::new(),
            bridges: Vec::new(),
            options: Vec::new(),
            warnings: Vec::new(),
            files: Vec::new(),
        }
    }
}

impl Config {
    /// Whether Mosquitto 2.0 would open the default listener: `port` or
    /// `bind_address` was given, or one of these was set before a
    /// `listener` line: `bind_interface`, `cafile`, `capath`, `certfile`,
    /// `keyfile`, `tls_engine`, `tls_keyform` other than pem,
    /// `tls_engine_kpass_sha1`, `ciphers`, `ciphers_tls1.3`,
    /// `dhparamfile`, `psk_hint`, `require_certificate`, `crlfile`,
    /// `use_identity_as_username`, `use_subject_as_username`,
    /// `use_username_as_clientid`, `max_connections`, `max_qos`,
    /// `mount_point`, `protocol` other than mqtt, `socket_domain`, and,
    /// with `per_listener_settings true`, `password_file`, `psk_file`, a
    /// plugin or `allow_zero_length_clientid false`.
    ///
    /// Other options written before the first listener (e.g.
    /// `max_topic_alias`, `http_dir`, `acl_file`) are kept in
    /// [`Config::default_listener`] but do not open it — exactly as in
    /// Mosquitto 2.0. Note that this is independent of [`Config::local_only`]:
    /// `max_qos 1` alone opens the default listener on all interfaces in
    /// Mosquitto 2.0 while the broker stays in local-only mode for
    /// `allow_anonymous`.
    #[must_use]
    pub fn default_listener_in_use(&self) -> bool {
        let d = &self.default_listener;
        let t = &d.tls;
        self.port.is_some()
            || self.bind_address.is_some()
            || d.bind_interface.is_some()
            || t.cafile.is_some()
            || t.capath.is_some()
            || t.certfile.is_some()
            || t.keyfile.is_some()
            || t.tls_engine.is_some()
            || t.tls_keyform != crate::KeyForm::Pem
            || t.tls_engine_kpass_sha1.is_some()
            || t.ciphers.is_some()
            || t.ciphers_tls13.is_some()
            || t.dhparamfile.is_some()
            || t.psk_hint.is_some()
            || t.require_certificate
            || t.crlfile.is_some()
            || t.use_identity_as_username
            || t.use_subject_as_username
            || d.use_username_as_clientid
            || d.max_connections != -1
            || d.max_qos != 2
            || d.mount_point.is_some()
            || d.protocol != crate::Protocol::Mqtt
            || d.socket_domain.is_some()
            || d.security.password_file.is_some()
            || d.security.psk_file.is_some()
            || !d.security.plugins.is_empty()
            || !d.security.allow_zero_length_clientid
    }

    /// The security options that apply to `listener`: its own when
    /// `per_listener_settings true`, the global ones otherwise.
    #[must_use]
    pub fn security_for<'a>(&'a self, listener: &'a Listener) -> &'a Security {
        if self.per_listener_settings {
            &listener.security
        } else {
            &self.security
        }
    }

    /// Whether anonymous clients are allowed on `listener` (or, with
    /// `None`, on the local-only listener): the listener's own
    /// `allow_anonymous` (per-listener settings, or `listener_allow_anonymous`
    /// [2.1]) if set, else the global one if set, else true only in
    /// local-only mode — Mosquitto's rule.
    #[must_use]
    pub fn allow_anonymous_for(&self, listener: Option<&Listener>) -> bool {
        listener
            .and_then(|l| l.security.allow_anonymous)
            .or(self.security.allow_anonymous)
            .unwrap_or(self.local_only)
    }

    /// Whether `log_type` includes `t` (taking the default set and `all`
    /// into account).
    #[must_use]
    pub fn logs_type(&self, t: LogType) -> bool {
        match &self.log_type {
            None => LogType::DEFAULT.contains(&t),
            Some(v) => v.contains(&LogType::All) || v.contains(&t),
        }
    }

    /// The log destinations in effect: `log_dest` lines, or `[Stderr]`.
    #[must_use]
    pub fn log_destinations(&self) -> Vec<LogDest> {
        self.log_dest
            .clone()
            .unwrap_or_else(|| vec![LogDest::Stderr])
    }

    /// Full path of the persistence database: `persistence_location` /
    /// `persistence_file` (default `mosquitto.db`), as Mosquitto builds it.
    #[must_use]
    pub fn persistence_path(&self) -> PathBuf {
        let file = self
            .persistence_file
            .clone()
            .unwrap_or_else(|| PathBuf::from("mosquitto.db"));
        match &self.persistence_location {
            Some(dir) if !dir.as_os_str().is_empty() => dir.join(file),
            _ => file,
        }
    }

    /// Occurrences of the option with this canonical name.
    pub fn uses_of<'a>(&'a self, canonical: &'a str) -> impl Iterator<Item = &'a OptionUse> + 'a {
        self.options
            .iter()
            .filter(move |o| o.canonical == canonical)
    }
}
