//! Bridge settings: one [`Bridge`] per `connection <name>` and the options
//! that follow it.

use std::path::PathBuf;

use crate::error::Location;
use crate::model::listener::TlsVersion;

/// One `host[:port]` of `address` / `addresses`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeAddress {
    /// Host name or address: the text before the **last** `:` (so an IPv6
    /// address must be followed by `:port`, as in Mosquitto).
    pub host: String,
    /// Port (default 1883).
    pub port: u16,
}

/// Direction of a bridge `topic` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// `out` (default): local → remote.
    #[default]
    Out,
    /// `in`: remote → local.
    In,
    /// `both`.
    Both,
}

/// `topic <pattern> [[[out|in|both] qos] local-prefix remote-prefix]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeTopic {
    /// The topic filter; `None` when written as `""` (then both prefixes
    /// are set and the prefixes alone name the topic).
    pub pattern: Option<String>,
    /// Direction (default `out`; written case-insensitively).
    pub direction: Direction,
    /// QoS 0..=2 (default 0).
    pub qos: u8,
    /// Prefix on the local side (`""` or absent = none).
    pub local_prefix: Option<String>,
    /// Prefix on the remote side (`""` or absent = none).
    pub remote_prefix: Option<String>,
    /// Where the line is.
    pub defined_at: Location,
}

impl BridgeTopic {
    /// The filter as seen locally: local prefix + pattern.
    #[must_use]
    pub fn local_topic(&self) -> String {
        join(self.local_prefix.as_deref(), self.pattern.as_deref())
    }

    /// The filter as seen on the remote broker: remote prefix + pattern.
    #[must_use]
    pub fn remote_topic(&self) -> String {
        join(self.remote_prefix.as_deref(), self.pattern.as_deref())
    }
}

fn join(prefix: Option<&str>, pattern: Option<&str>) -> String {
    format!("{}{}", prefix.unwrap_or(""), pattern.unwrap_or(""))
}

/// `bridge_protocol_version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BridgeProtocol {
    /// `mqttv31`.
    Mqtt31,
    /// `mqttv311` (default).
    #[default]
    Mqtt311,
    /// `mqttv50`.
    Mqtt5,
}

/// `start_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartType {
    /// `automatic` (default): connect at start, reconnect on failure.
    #[default]
    Automatic,
    /// `lazy`: connect once `threshold` messages are queued, disconnect
    /// after `idle_timeout`.
    Lazy,
    /// `once`: connect at start, never reconnect.
    Once,
}

/// `bridge_reload_type` [2.1].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReloadType {
    /// `lazy` (default): apply changed settings on the next reconnect.
    #[default]
    Lazy,
    /// `immediate`: reconnect on reload.
    Immediate,
}

/// `restart_timeout`: how long to wait before reconnecting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartTimeout {
    /// `restart_timeout <secs>`: a constant delay (at least 1 s).
    Constant(u32),
    /// `restart_timeout <base> <cap> [<stable>]` or nothing given:
    /// jittered exponential backoff between `base` and `cap` seconds. The
    /// default is `base 5, cap 30`.
    Backoff {
        /// Initial delay in seconds.
        base: u32,
        /// Largest delay in seconds.
        cap: u32,
        /// [2.1] seconds a connection must stay up before the backoff is
        /// reset (0 = reset on connect).
        stable_connection_period: u32,
    },
}

impl Default for RestartTimeout {
    fn default() -> Self {
        Self::Backoff {
            base: 5,
            cap: 30,
            stable_connection_period: 0,
        }
    }
}

/// `bridge_tcp_keepalive <idle> <interval> <count>` [2.1].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpKeepalive {
    /// Seconds of idleness before the first probe.
    pub idle: u32,
    /// Seconds between probes.
    pub interval: u32,
    /// Probes before the connection is dropped.
    pub count: u32,
}

/// TLS / PSK settings of a bridge's outgoing connection.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BridgeTls {
    /// `bridge_cafile`.
    pub cafile: Option<PathBuf>,
    /// `bridge_capath`.
    pub capath: Option<PathBuf>,
    /// `bridge_certfile`.
    pub certfile: Option<PathBuf>,
    /// `bridge_keyfile`.
    pub keyfile: Option<PathBuf>,
    /// `bridge_insecure` (default false): skip host name verification.
    pub insecure: bool,
    /// `bridge_tls_version`.
    pub tls_version: Option<TlsVersion>,
    /// `bridge_alpn`.
    pub alpn: Option<String>,
    /// `bridge_require_ocsp` (default false).
    pub require_ocsp: bool,
    /// `bridge_identity`: PSK identity (with `bridge_psk`).
    pub identity: Option<String>,
    /// `bridge_psk`: hex PSK (with `bridge_identity`).
    pub psk: Option<String>,
    /// `bridge_tls_use_os_certs` [2.1] (default false).
    pub use_os_certs: bool,
    /// `bridge_ciphers` [2.1].
    pub ciphers: Option<String>,
    /// `bridge_ciphers_tls1.3` [2.1].
    pub ciphers_tls13: Option<String>,
}

/// One bridge (`connection <name>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bridge {
    /// The connection name (unique).
    pub name: String,
    /// The `connection` line.
    pub defined_at: Location,
    /// `address` / `addresses` (required, given once).
    pub addresses: Vec<BridgeAddress>,
    /// `round_robin` (default false): rotate through addresses instead of
    /// returning to the first.
    pub round_robin: bool,
    /// `topic` lines (at least one required).
    pub topics: Vec<BridgeTopic>,
    /// `bridge_protocol_version` (default mqttv311).
    pub protocol_version: BridgeProtocol,
    /// `cleansession` (default false): clean session on the remote side.
    pub clean_session: bool,
    /// `local_cleansession`; `None` = same as `clean_session`.
    pub local_clean_session: Option<bool>,
    /// `remote_clientid` / `clientid`; default `<hostname>.<name>`.
    pub remote_clientid: Option<String>,
    /// `local_clientid`; default `local.<remote_clientid>`.
    pub local_clientid: Option<String>,
    /// `remote_username` / `username`.
    pub remote_username: Option<String>,
    /// `remote_password` / `password`.
    pub remote_password: Option<String>,
    /// `local_username`.
    pub local_username: Option<String>,
    /// `local_password`.
    pub local_password: Option<String>,
    /// `keepalive_interval` in seconds (default 60; values below 5 become 5).
    pub keepalive_interval: u16,
    /// `idle_timeout` in seconds for lazy bridges (default 60, minimum 1).
    pub idle_timeout: u32,
    /// `start_type` (default automatic).
    pub start_type: StartType,
    /// `threshold`: queued messages that start a lazy bridge (default 10,
    /// minimum 1).
    pub threshold: u32,
    /// `restart_timeout` (default backoff 5..30 s).
    pub restart_timeout: RestartTimeout,
    /// `try_private` (default true): signal "bridge" with protocol version
    /// | 0x80 for loop detection.
    pub try_private: bool,
    /// `notifications` (default true): publish connection state.
    pub notifications: bool,
    /// `notifications_local_only` (default false).
    pub notifications_local_only: bool,
    /// `notification_topic`; default
    /// `$SYS/broker/connection/<remote_clientid>/state`.
    pub notification_topic: Option<String>,
    /// `bridge_attempt_unsubscribe` (default true).
    pub attempt_unsubscribe: bool,
    /// `bridge_bind_address`: local address for the outgoing socket.
    pub bind_address: Option<String>,
    /// `bridge_max_packet_size` (default 0 = no limit; negative → 0).
    pub max_packet_size: u32,
    /// `bridge_outgoing_retain` (default true): keep the retain flag on
    /// messages sent to the remote.
    pub outgoing_retain: bool,
    /// `bridge_max_topic_alias` [2.1] (default 10).
    pub max_topic_alias: u16,
    /// `bridge_receive_maximum` [2.1]; `None` = protocol default.
    pub receive_maximum: Option<u16>,
    /// `bridge_session_expiry_interval` [2.1] in seconds.
    pub session_expiry_interval: Option<u32>,
    /// `bridge_tcp_keepalive` [2.1].
    pub tcp_keepalive: Option<TcpKeepalive>,
    /// `bridge_tcp_user_timeout` [2.1] in milliseconds.
    pub tcp_user_timeout: Option<u32>,
    /// `bridge_reload_type` [2.1] (default lazy).
    pub reload_type: ReloadType,
    /// TLS / PSK for the outgoing connection.
    pub tls: BridgeTls,
}

impl Bridge {
    /// A bridge with Mosquitto's defaults.
    #[must_use]
    pub fn new(name: String, defined_at: Location) -> Self {
        Self {
            name,
            defined_at,
            addresses: Vec::new(),
            round_robin: false,
            topics: Vec::new(),
            protocol_version: BridgeProtocol::Mqtt311,
            clean_session: false,
            local_clean_session: None,
            remote_clientid: None,
            local_clientid: None,
            remote_username: None,
            remote_password: None,
            local_username: None,
            local_password: None,
            keepalive_interval: 60,
            idle_timeout: 60,
            start_type: StartType::Automatic,
            threshold: 10,
            restart_timeout: RestartTimeout::default(),
            try_private: true,
            notifications: true,
            notifications_local_only: false,
            notification_topic: None,
            attempt_unsubscribe: true,
            bind_address: None,
            max_packet_size: 0,
            outgoing_retain: true,
            max_topic_alias: 10,
            receive_maximum: None,
            session_expiry_interval: None,
            tcp_keepalive: None,
            tcp_user_timeout: None,
            reload_type: ReloadType::Lazy,
            tls: BridgeTls::default(),
        }
    }

    /// The remote client id: `remote_clientid` or `<hostname>.<name>`.
    #[must_use]
    pub fn remote_clientid_or_default(&self, hostname: &str) -> String {
        self.remote_clientid
            .clone()
            .unwrap_or_else(|| format!("{hostname}.{}", self.name))
    }

    /// The local client id: `local_clientid` or `local.<remote client id>`.
    #[must_use]
    pub fn local_clientid_or_default(&self, hostname: &str) -> String {
        self.local_clientid
            .clone()
            .unwrap_or_else(|| format!("local.{}", self.remote_clientid_or_default(hostname)))
    }

    /// The notification topic: `notification_topic` or
    /// `$SYS/broker/connection/<remote client id>/state`.
    #[must_use]
    pub fn notification_topic_or_default(&self, hostname: &str) -> String {
        self.notification_topic.clone().unwrap_or_else(|| {
            format!(
                "$SYS/broker/connection/{}/state",
                self.remote_clientid_or_default(hostname)
            )
        })
    }
}
