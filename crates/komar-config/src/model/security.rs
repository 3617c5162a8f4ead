//! Authentication and authorisation settings ("security options" in
//! Mosquitto): one set is global, and every listener has its own set that
//! is used when `per_listener_settings true`.

use std::path::PathBuf;

use crate::error::Location;

/// One `plugin` / `auth_plugin` / `global_plugin` / `plugin_load` line and
/// the `plugin_opt_*` lines bound to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plugin {
    /// Path of the shared object (or, for Komar, whatever the broker maps
    /// it to).
    pub path: PathBuf,
    /// Name given by `plugin_load <name> <path>` [2.1]; `None` otherwise.
    pub name: Option<String>,
    /// `plugin_opt_<key> <value>` (or `auth_opt_<key>`) lines, in order;
    /// the key is without the prefix.
    pub options: Vec<PluginOption>,
    /// `auth_plugin_deny_special_chars` (default true): deny ACL checks for
    /// client ids / usernames containing `+` or `#` before asking the
    /// plugin (CVE-2017-7650).
    pub deny_special_chars: bool,
    /// Loaded with `global_plugin` [2.1]: applies to every listener
    /// regardless of `per_listener_settings`.
    pub global: bool,
    /// Where the plugin line is.
    pub defined_at: Location,
}

impl Plugin {
    pub(crate) fn new(path: PathBuf, defined_at: Location) -> Self {
        Self {
            path,
            name: None,
            options: Vec::new(),
            deny_special_chars: true,
            global: false,
            defined_at,
        }
    }
}

/// One `plugin_opt_<key> <value>` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginOption {
    /// The key, without the `plugin_opt_` / `auth_opt_` prefix.
    pub key: String,
    /// The rest of the line after the key, leading blanks removed (trailing
    /// ones kept, as Mosquitto does).
    pub value: String,
    /// Where the option is.
    pub defined_at: Location,
}

/// A set of security options (Mosquitto's `mosquitto__security_options`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Security {
    /// `allow_anonymous`. `None` = not set: Mosquitto then allows anonymous
    /// clients only in local-only mode (no `listener`/`port`/`bind_address`
    /// anywhere); see [`crate::Config::allow_anonymous_for`].
    pub allow_anonymous: Option<bool>,
    /// `allow_zero_length_clientid` (default true): accept an empty client
    /// id and assign one (v5 always; v3.1.1 only with clean session).
    pub allow_zero_length_clientid: bool,
    /// `auto_id_prefix` (or `listener_auto_id_prefix` [2.1]); `None` means
    /// the default `auto-`.
    pub auto_id_prefix: Option<String>,
    /// `password_file`: a mosquitto_passwd file.
    pub password_file: Option<PathBuf>,
    /// `acl_file`.
    pub acl_file: Option<PathBuf>,
    /// `psk_file`: `identity:hexkey` lines for TLS-PSK listeners.
    pub psk_file: Option<PathBuf>,
    /// `scram_file` [Komar]: SCRAM-SHA-256 / SCRAM-SHA-512 credentials for
    /// MQTT 5 enhanced authentication (`komar passwd -H scram-sha-256`).
    /// `$7$` entries of `password_file` also serve SCRAM-SHA-512.
    pub scram_file: Option<PathBuf>,
    /// Plugins in load order (`plugin`, `auth_plugin`, `global_plugin`).
    pub plugins: Vec<Plugin>,
}

impl Default for Security {
    fn default() -> Self {
        Self {
            allow_anonymous: None,
            allow_zero_length_clientid: true,
            auto_id_prefix: None,
            password_file: None,
            acl_file: None,
            psk_file: None,
            scram_file: None,
            plugins: Vec::new(),
        }
    }
}

impl Security {
    /// The prefix for broker-assigned client ids (default `auto-`).
    #[must_use]
    pub fn auto_id_prefix_or_default(&self) -> &str {
        self.auto_id_prefix.as_deref().unwrap_or("auto-")
    }
}
