//! The catalogue of option names Komar recognises: every option of
//! Mosquitto 2.0's `src/conf.c`, the 2.1 additions, aliases, and the
//! `plugin_opt_*` / `auth_opt_*` families. Anything else is a fatal
//! "unknown option" error, as in Mosquitto.
//!
//! Each entry carries a canonical name so the broker can decide support by
//! one name per feature (e.g. `auth_plugin` → `plugin`).

/// Which Mosquitto release introduced an option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Since {
    /// Present in Mosquitto 2.0 (or earlier).
    V2_0,
    /// Added in Mosquitto 2.0.21 / 2.1.
    V2_1,
    /// Komar's own (features Mosquitto lacks), named in Mosquitto's style.
    Komar,
}

/// One recognised option name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionSpec {
    /// The name as it may be written in the file (`plugin_opt_*` for the
    /// prefix families).
    pub name: &'static str,
    /// The name of the feature it configures (an alias maps to the main
    /// spelling).
    pub canonical: &'static str,
    /// Release that introduced it.
    pub since: Since,
    /// Mosquitto logs a deprecation notice for it.
    pub deprecated: bool,
}

const fn o(name: &'static str) -> OptionSpec {
    OptionSpec {
        name,
        canonical: name,
        since: Since::V2_0,
        deprecated: false,
    }
}

const fn alias(name: &'static str, canonical: &'static str) -> OptionSpec {
    OptionSpec {
        name,
        canonical,
        since: Since::V2_0,
        deprecated: false,
    }
}

const fn new21(name: &'static str) -> OptionSpec {
    OptionSpec {
        name,
        canonical: name,
        since: Since::V2_1,
        deprecated: false,
    }
}

const fn komar(name: &'static str) -> OptionSpec {
    OptionSpec {
        name,
        canonical: name,
        since: Since::Komar,
        deprecated: false,
    }
}

const fn dep(mut s: OptionSpec) -> OptionSpec {
    s.deprecated = true;
    s
}

/// Canonical name shared by every `plugin_opt_<key>` / `auth_opt_<key>`.
pub const PLUGIN_OPT: &str = "plugin_opt_*";

/// Every fixed option name, sorted by name.
pub static OPTIONS: &[OptionSpec] = &[
    new21("accept_protocol_versions"),
    o("acl_file"),
    o("address"),
    alias("addresses", "address"),
    o("allow_anonymous"),
    dep(o("allow_duplicate_messages")),
    o("allow_zero_length_clientid"),
    dep(alias("auth_plugin", "plugin")),
    o("auth_plugin_deny_special_chars"),
    o("auto_id_prefix"),
    o("autosave_interval"),
    o("autosave_on_changes"),
    dep(o("bind_address")),
    o("bind_interface"),
    o("bridge_alpn"),
    o("bridge_attempt_unsubscribe"),
    o("bridge_bind_address"),
    o("bridge_cafile"),
    o("bridge_capath"),
    o("bridge_certfile"),
    new21("bridge_ciphers"),
    new21("bridge_ciphers_tls1.3"),
    o("bridge_identity"),
    o("bridge_insecure"),
    o("bridge_keyfile"),
    o("bridge_max_packet_size"),
    new21("bridge_max_topic_alias"),
    o("bridge_outgoing_retain"),
    o("bridge_protocol_version"),
    o("bridge_psk"),
    new21("bridge_receive_maximum"),
    new21("bridge_reload_type"),
    o("bridge_require_ocsp"),
    new21("bridge_session_expiry_interval"),
    new21("bridge_tcp_keepalive"),
    new21("bridge_tcp_user_timeout"),
    new21("bridge_tls_use_os_certs"),
    o("bridge_tls_version"),
    o("cafile"),
    o("capath"),
    o("certfile"),
    o("check_retain_source"),
    o("ciphers"),
    o("ciphers_tls1.3"),
    o("cleansession"),
    alias("clientid", "remote_clientid"),
    dep(o("clientid_prefixes")),
    o("connection"),
    o("connection_messages"),
    o("crlfile"),
    o("dhparamfile"),
    new21("disable_client_cert_date_checks"),
    new21("enable_control_api"),
    new21("enable_proxy_protocol"),
    new21("global_max_clients"),
    new21("global_max_connections"),
    new21("global_plugin"),
    o("http_dir"),
    o("idle_timeout"),
    o("include_dir"),
    o("keepalive_interval"),
    o("keyfile"),
    o("listener"),
    new21("listener_allow_anonymous"),
    new21("listener_auto_id_prefix"),
    o("local_cleansession"),
    o("local_clientid"),
    o("local_password"),
    o("local_username"),
    o("log_dest"),
    o("log_facility"),
    o("log_timestamp"),
    o("log_timestamp_format"),
    o("log_type"),
    o("max_connections"),
    o("max_inflight_bytes"),
    o("max_inflight_messages"),
    o("max_keepalive"),
    o("max_packet_size"),
    o("max_qos"),
    o("max_queued_bytes"),
    o("max_queued_messages"),
    o("max_topic_alias"),
    new21("max_topic_alias_broker"),
    alias("maximum_qos", "max_qos"),
    o("memory_limit"),
    o("message_size_limit"),
    o("mount_point"),
    o("notification_topic"),
    o("notifications"),
    o("notifications_local_only"),
    OptionSpec {
        name: "packet_buffer_size",
        canonical: "websockets_headers_size",
        since: Since::V2_1,
        deprecated: false,
    },
    alias("password", "remote_password"),
    o("password_file"),
    o("per_listener_settings"),
    o("persistence"),
    o("persistence_file"),
    o("persistence_location"),
    komar("persistence_sync"),
    o("persistent_client_expiration"),
    o("pid_file"),
    o("plugin"),
    new21("plugin_load"),
    new21("plugin_use"),
    dep(o("port")),
    o("protocol"),
    new21("proxy_protocol_v2_require_tls"),
    o("psk_file"),
    o("psk_hint"),
    o("queue_qos0_messages"),
    o("remote_clientid"),
    o("remote_password"),
    o("remote_username"),
    o("require_certificate"),
    komar("response_information_prefix"),
    o("restart_timeout"),
    o("retain_available"),
    new21("retain_expiry_interval"),
    alias("retained_persistence", "persistence"),
    dep(o("retry_interval")),
    o("round_robin"),
    komar("scram_file"),
    komar("server_moved"),
    komar("server_reference"),
    o("set_tcp_nodelay"),
    komar("shared_subscription_strategy"),
    o("socket_domain"),
    o("start_type"),
    o("sys_interval"),
    o("threshold"),
    o("tls_engine"),
    o("tls_engine_kpass_sha1"),
    o("tls_keyform"),
    o("tls_version"),
    o("topic"),
    o("try_private"),
    o("upgrade_outgoing_qos"),
    o("use_identity_as_username"),
    o("use_subject_as_username"),
    o("use_username_as_clientid"),
    o("user"),
    alias("username", "remote_username"),
    o("websockets_headers_size"),
    o("websockets_log_level"),
    new21("websockets_origin"),
];

static PLUGIN_OPT_SPEC: OptionSpec = OptionSpec {
    name: PLUGIN_OPT,
    canonical: PLUGIN_OPT,
    since: Since::V2_0,
    deprecated: false,
};

static AUTH_OPT_SPEC: OptionSpec = OptionSpec {
    name: "auth_opt_*",
    canonical: PLUGIN_OPT,
    since: Since::V2_0,
    deprecated: true,
};

/// Look up an option name exactly as written (case-sensitive).
/// `plugin_opt_<key>` and `auth_opt_<key>` map to the [`PLUGIN_OPT`] entry.
#[must_use]
pub fn lookup(name: &str) -> Option<&'static OptionSpec> {
    if name.starts_with("plugin_opt_") {
        return Some(&PLUGIN_OPT_SPEC);
    }
    if name.starts_with("auth_opt_") {
        return Some(&AUTH_OPT_SPEC);
    }
    OPTIONS
        .binary_search_by(|s| s.name.cmp(name))
        .ok()
        .and_then(|i| OPTIONS.get(i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        for pair in OPTIONS.windows(2) {
            assert!(
                pair[0].name < pair[1].name,
                "{} / {}",
                pair[0].name,
                pair[1].name
            );
        }
    }

    #[test]
    fn canonical_names_are_options() {
        for s in OPTIONS {
            assert!(lookup(s.canonical).is_some(), "{}", s.canonical);
        }
    }

    #[test]
    fn lookup_handles_aliases_and_prefixes() {
        assert_eq!(lookup("auth_plugin").unwrap().canonical, "plugin");
        assert_eq!(lookup("auth_opt_db").unwrap().canonical, PLUGIN_OPT);
        assert_eq!(lookup("plugin_opt_x").unwrap().canonical, PLUGIN_OPT);
        assert!(lookup("Port").is_none());
        assert!(lookup("bogus").is_none());
        assert_eq!(
            lookup("listener_allow_anonymous").unwrap().since,
            Since::V2_1
        );
    }
}
