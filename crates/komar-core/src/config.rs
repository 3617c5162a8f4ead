//! The settings broker logic obeys, with Mosquitto's defaults. The server
//! builds them from `mosquitto.conf`; the core never reads files.

use std::sync::Arc;
use std::time::Duration;

use komar_proto::QoS;

/// How a shared subscription chooses the member that gets a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SharedStrategy {
    /// Members in turn.
    #[default]
    RoundRobin,
    /// A member at random.
    Random,
    /// The same member for all messages of one publisher (while that
    /// member is connected).
    Sticky,
}

/// Where clients are sent instead (MQTT 5 server redirection, §4.11).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// The Server Reference: another server (or servers) for the client.
    pub reference: String,
    /// Permanent (0x9D "Server moved") rather than temporary (0x9C "Use
    /// another server").
    pub moved: bool,
}

impl Redirect {
    /// The reason code that carries this redirect.
    pub fn code(&self) -> komar_proto::ReasonCode {
        if self.moved {
            komar_proto::ReasonCode::SERVER_MOVED
        } else {
            komar_proto::ReasonCode::USE_ANOTHER_SERVER
        }
    }
}

/// Broker-wide limits and behaviour switches.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Outgoing QoS 1/2 messages in flight per client (`max_inflight_messages`,
    /// default 20; 0 = no limit beyond the client's Receive Maximum).
    pub max_inflight_messages: u16,
    /// Outgoing bytes in flight per client (`max_inflight_bytes`, 0 = none).
    pub max_inflight_bytes: usize,
    /// Messages queued per client beyond those in flight
    /// (`max_queued_messages`, default 1000; 0 = no count limit).
    pub max_queued_messages: usize,
    /// Bytes queued per client beyond those in flight (`max_queued_bytes`,
    /// 0 = no byte limit).
    pub max_queued_bytes: usize,
    /// Queue QoS 0 messages for offline persistent sessions
    /// (`queue_qos0_messages`, default false).
    pub queue_qos0_messages: bool,
    /// Largest payload accepted (`message_size_limit`, 0 = none).
    pub message_size_limit: usize,
    /// Largest packet accepted (`max_packet_size`, 0 = none).
    pub max_packet_size: usize,
    /// Highest keep alive a client may ask for (`max_keepalive`, 65535).
    pub max_keepalive: u16,
    /// Whether RETAIN is allowed (`retain_available`, default true).
    pub retain_available: bool,
    /// Expire persistent sessions that never expire by protocol after this
    /// long offline (`persistent_client_expiration`).
    pub persistent_client_expiration: Option<Duration>,
    /// Deliver at the subscription's QoS rather than min(pub, sub)
    /// (`upgrade_outgoing_qos`, non-standard, default false).
    pub upgrade_outgoing_qos: bool,
    /// Only client ids with one of these prefixes may connect
    /// (`clientid_prefixes`, deprecated; empty = any).
    pub clientid_prefixes: Vec<String>,
    /// Re-check, when a retained message is delivered to a new subscriber,
    /// that its publisher may still publish to its topic
    /// (`check_retain_source`, default true).
    pub check_retain_source: bool,
    /// How a shared subscription picks a member (`shared_subscription_strategy`).
    pub shared_strategy: SharedStrategy,
    /// MQTT 5 Response Information given to clients that ask for it: this
    /// prefix followed by the client id (`response_information_prefix`;
    /// `None` = not given).
    pub response_information_prefix: Option<Arc<str>>,
    /// Send clients to another server (`server_reference`, `server_moved`);
    /// changeable at run time with `Broker::set_redirect`.
    pub redirect: Option<Redirect>,
    /// How long an online client may stay over its queue limit, pushing
    /// back on publishers, before overflow is dropped instead (Komar's
    /// back-pressure; see `session::queue`).
    pub stall_timeout: Duration,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            max_inflight_messages: 20,
            max_inflight_bytes: 0,
            max_queued_messages: 1000,
            max_queued_bytes: 0,
            queue_qos0_messages: false,
            message_size_limit: 0,
            max_packet_size: 0,
            max_keepalive: 65535,
            retain_available: true,
            persistent_client_expiration: None,
            upgrade_outgoing_qos: false,
            clientid_prefixes: Vec::new(),
            check_retain_source: true,
            shared_strategy: SharedStrategy::RoundRobin,
            response_information_prefix: Some(Arc::from("response/")),
            redirect: None,
            stall_timeout: Duration::from_secs(5),
        }
    }
}

/// Settings of the listener a client connected through.
#[derive(Debug, Clone)]
pub struct ListenerSettings {
    /// Highest QoS clients of this listener may use (`max_qos`, default 2).
    pub max_qos: QoS,
    /// Topic aliases accepted from clients (`max_topic_alias`, default 10).
    pub max_topic_alias: u16,
    /// Topic aliases the broker creates towards a client
    /// (`max_topic_alias_broker`, default 10; never more than the client's
    /// Topic Alias Maximum).
    pub max_topic_alias_broker: u16,
    /// Prefix added to every topic of this listener's clients (`mount_point`).
    pub mount_point: Option<Arc<str>>,
    /// Replace the client id with the user name (`use_username_as_clientid`).
    pub use_username_as_clientid: bool,
    /// Allow clients to connect with an empty client id
    /// (`allow_zero_length_clientid`, default true).
    pub allow_zero_length_clientid: bool,
    /// Prefix of assigned client ids (`auto_id_prefix`, default `auto-`).
    pub auto_id_prefix: Arc<str>,
    /// Protocol versions this listener accepts (`accept_protocol_versions`);
    /// others get CONNACK "unsupported protocol version".
    pub accept_versions: Vec<komar_proto::ProtocolVersion>,
}

impl Default for ListenerSettings {
    fn default() -> Self {
        ListenerSettings {
            max_qos: QoS::ExactlyOnce,
            max_topic_alias: 10,
            max_topic_alias_broker: 10,
            mount_point: None,
            use_username_as_clientid: false,
            allow_zero_length_clientid: true,
            auto_id_prefix: Arc::from("auto-"),
            accept_versions: vec![
                komar_proto::ProtocolVersion::V31,
                komar_proto::ProtocolVersion::V311,
                komar_proto::ProtocolVersion::V5,
            ],
        }
    }
}
