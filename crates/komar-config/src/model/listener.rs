//! Per-listener settings: address, protocol, limits, TLS, websockets, PROXY
//! protocol and the listener's own security options.

use std::fmt;
use std::path::PathBuf;

use crate::error::Location;
use crate::model::security::Security;

/// Where a listener accepts connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenerAddress {
    /// TCP `port`, bound to `host` (an address or host name) or to every
    /// interface when `None`.
    Tcp {
        /// Port, 1..=65535.
        port: u16,
        /// Bind address / host name from `listener <port> <host>` (or
        /// `bind_address` for the default listener).
        host: Option<String>,
    },
    /// Unix domain socket (`listener 0 <path>`).
    Unix {
        /// Socket path.
        path: PathBuf,
    },
}

impl fmt::Display for ListenerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp { port, host: None } => write!(f, "port {port}"),
            Self::Tcp {
                port,
                host: Some(h),
            } => write!(f, "{h} port {port}"),
            Self::Unix { path } => write!(f, "unix socket {}", path.display()),
        }
    }
}

/// `protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// `mqtt` (default): MQTT over TCP (or TLS).
    #[default]
    Mqtt,
    /// `websockets`: MQTT over WebSockets (or WSS).
    Websockets,
    /// `http_api` [2.1]: the HTTP API / static files of `http_dir`.
    HttpApi,
}

/// `socket_domain`: restrict a listener to one address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketDomain {
    /// `ipv4`.
    Ipv4,
    /// `ipv6`.
    Ipv6,
}

/// Minimum TLS version (`tls_version`, `bridge_tls_version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    /// `tlsv1.1`.
    V1_1,
    /// `tlsv1.2`.
    V1_2,
    /// `tlsv1.3`.
    V1_3,
}

impl TlsVersion {
    /// Parse the Mosquitto spelling.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "tlsv1.1" => Some(Self::V1_1),
            "tlsv1.2" => Some(Self::V1_2),
            "tlsv1.3" => Some(Self::V1_3),
            _ => None,
        }
    }
}

/// `tls_keyform`: how `keyfile` is to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyForm {
    /// `pem` (default).
    #[default]
    Pem,
    /// `engine`: the key lives in `tls_engine`.
    Engine,
    /// `uri` [2.1]: an OpenSSL store URI.
    Uri,
}

/// `accept_protocol_versions` [2.1]: which MQTT versions a listener takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtocolVersions {
    /// `3`: MQTT 3.1.
    pub v31: bool,
    /// `4`: MQTT 3.1.1.
    pub v311: bool,
    /// `5`: MQTT 5.0.
    pub v5: bool,
}

/// TLS and TLS-PSK settings of a listener. TLS is on when `certfile` and
/// `keyfile` are set; PSK when `psk_hint` is set (the two are exclusive).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListenerTls {
    /// `cafile`: CA bundle for client certificates.
    pub cafile: Option<PathBuf>,
    /// `capath`: directory of CA certificates.
    pub capath: Option<PathBuf>,
    /// `certfile`: server certificate chain (reloaded on SIGHUP).
    pub certfile: Option<PathBuf>,
    /// `keyfile`: server private key (reloaded on SIGHUP).
    pub keyfile: Option<PathBuf>,
    /// `ciphers`: OpenSSL cipher list for TLS ≤ 1.2.
    pub ciphers: Option<String>,
    /// `ciphers_tls1.3`: TLS 1.3 cipher suites.
    pub ciphers_tls13: Option<String>,
    /// `crlfile`: certificate revocation list.
    pub crlfile: Option<PathBuf>,
    /// `dhparamfile`: DH parameters (ignored by Mosquitto 2.1).
    pub dhparamfile: Option<PathBuf>,
    /// `require_certificate` (default false): demand a client certificate.
    pub require_certificate: bool,
    /// `use_identity_as_username` (default false): certificate CN (or PSK
    /// identity) becomes the username.
    pub use_identity_as_username: bool,
    /// `use_subject_as_username` (default false): full subject DN becomes
    /// the username.
    pub use_subject_as_username: bool,
    /// `tls_version`: minimum version; `None` = library default.
    pub tls_version: Option<TlsVersion>,
    /// `tls_engine`: OpenSSL engine name.
    pub tls_engine: Option<String>,
    /// `tls_engine_kpass_sha1`: SHA-1 of the engine key password.
    pub tls_engine_kpass_sha1: Option<[u8; 20]>,
    /// `tls_keyform` (default `pem`).
    pub tls_keyform: KeyForm,
    /// `psk_hint`: enables TLS-PSK on this listener.
    pub psk_hint: Option<String>,
    /// `disable_client_cert_date_checks` [2.1] (default false).
    pub disable_client_cert_date_checks: bool,
}

impl ListenerTls {
    /// Certificate-based TLS is configured (`certfile` and `keyfile`).
    #[must_use]
    pub fn is_tls(&self) -> bool {
        self.certfile.is_some() && self.keyfile.is_some()
    }

    /// TLS-PSK is configured (`psk_hint`).
    #[must_use]
    pub fn is_psk(&self) -> bool {
        self.psk_hint.is_some()
    }
}

/// One listener (`listener <port> [address|path]` and the options after
/// it), or the deprecated default listener ([`crate::Config::default_listener`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// Port and bind address, or Unix socket path.
    pub address: ListenerAddress,
    /// The `listener` line; `None` for the default listener.
    pub defined_at: Option<Location>,
    /// `protocol` (default `mqtt`).
    pub protocol: Protocol,
    /// `socket_domain`; `None` = both IPv4 and IPv6.
    pub socket_domain: Option<SocketDomain>,
    /// `bind_interface`: bind to this network device (SO_BINDTODEVICE).
    pub bind_interface: Option<String>,
    /// `mount_point`: prefix added to every topic of this listener's
    /// clients (a topic name, no wildcards).
    pub mount_point: Option<String>,
    /// `max_connections` (default -1 = unlimited; negative values are
    /// stored as -1, as Mosquitto does).
    pub max_connections: i32,
    /// `max_qos` / `maximum_qos` (default 2): highest QoS accepted.
    pub max_qos: u8,
    /// `max_topic_alias` (default 10): client→broker aliases allowed.
    pub max_topic_alias: u16,
    /// `max_topic_alias_broker` [2.1] (default 10): broker→client aliases.
    pub max_topic_alias_broker: u16,
    /// `use_username_as_clientid` (default false).
    pub use_username_as_clientid: bool,
    /// `accept_protocol_versions` [2.1]; `None` = all versions.
    pub accept_protocol_versions: Option<ProtocolVersions>,
    /// `enable_proxy_protocol` [2.1]: `Some(1)` or `Some(2)`.
    pub enable_proxy_protocol: Option<u8>,
    /// `proxy_protocol_v2_require_tls` [2.1] (default false).
    pub proxy_protocol_v2_require_tls: bool,
    /// `http_dir`: static files for websockets / `http_api` listeners.
    pub http_dir: Option<PathBuf>,
    /// `websockets_origin` [2.1], repeatable: allowed `Origin` values
    /// (empty = any).
    pub websockets_origin: Vec<String>,
    /// TLS / PSK settings.
    pub tls: ListenerTls,
    /// Security options of this listener: filled by `allow_anonymous`,
    /// `password_file`, `acl_file`, `psk_file`, `auto_id_prefix`,
    /// `allow_zero_length_clientid` and `plugin` when
    /// `per_listener_settings true`, and always by
    /// `listener_allow_anonymous` / `listener_auto_id_prefix` [2.1].
    pub security: Security,
    /// `plugin_use <name>` [2.1]: plugins loaded with `plugin_load` that
    /// this listener uses, in order.
    pub plugin_uses: Vec<String>,
}

impl Listener {
    /// A listener with Mosquitto's defaults.
    #[must_use]
    pub fn new(address: ListenerAddress, defined_at: Option<Location>) -> Self {
        Self {
            address,
            defined_at,
            protocol: Protocol::Mqtt,
            socket_domain: None,
            bind_interface: None,
            mount_point: None,
            max_connections: -1,
            max_qos: 2,
            max_topic_alias: 10,
            max_topic_alias_broker: 10,
            use_username_as_clientid: false,
            accept_protocol_versions: None,
            enable_proxy_protocol: None,
            proxy_protocol_v2_require_tls: false,
            http_dir: None,
            websockets_origin: Vec::new(),
            tls: ListenerTls::default(),
            security: Security::default(),
            plugin_uses: Vec::new(),
        }
    }

    /// TCP port (0 for a Unix socket).
    #[must_use]
    pub fn port(&self) -> u16 {
        match self.address {
            ListenerAddress::Tcp { port, .. } => port,
            ListenerAddress::Unix { .. } => 0,
        }
    }
}
