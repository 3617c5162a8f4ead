//! Tests of security options, `per_listener_settings` and plugins.

use std::path::PathBuf;

use super::test_support::{errs, ok, one_err};

#[test]
fn global_security_options() {
    let c = ok("\
allow_anonymous false
password_file /etc/mosquitto/passwd
acl_file /etc/mosquitto/acl
psk_file /etc/mosquitto/psk
auto_id_prefix gw-
allow_zero_length_clientid false
listener 1883
");
    let s = &c.security;
    assert_eq!(s.allow_anonymous, Some(false));
    assert_eq!(
        s.password_file,
        Some(PathBuf::from("/etc/mosquitto/passwd"))
    );
    assert_eq!(s.acl_file, Some(PathBuf::from("/etc/mosquitto/acl")));
    assert_eq!(s.psk_file, Some(PathBuf::from("/etc/mosquitto/psk")));
    assert_eq!(s.auto_id_prefix_or_default(), "gw-");
    assert!(!s.allow_zero_length_clientid);
    assert_eq!(c.listeners[0].security, crate::Security::default());
    assert!(std::ptr::eq(c.security_for(&c.listeners[0]), &c.security));
}

#[test]
fn security_after_a_listener_is_still_global_without_per_listener_settings() {
    let c = ok("listener 1883\npassword_file /a\nlistener 1884\nallow_anonymous true\n");
    assert_eq!(c.security.password_file, Some(PathBuf::from("/a")));
    assert_eq!(c.security.allow_anonymous, Some(true));
    one_err(
        "listener 1\npassword_file /a\nlistener 2\npassword_file /b\n",
        4,
        "duplicate 'password_file'",
    );
}

#[test]
fn per_listener_settings_moves_security_into_listeners() {
    let c = ok("\
per_listener_settings true
listener 1883
allow_anonymous true
listener 8883
password_file /etc/pw
acl_file /etc/acl
");
    assert!(c.per_listener_settings);
    assert_eq!(c.security, crate::Security::default());
    assert_eq!(c.listeners[0].security.allow_anonymous, Some(true));
    assert_eq!(
        c.listeners[1].security.password_file,
        Some(PathBuf::from("/etc/pw"))
    );
    assert!(std::ptr::eq(
        c.security_for(&c.listeners[1]),
        &c.listeners[1].security
    ));
    assert!(c.allow_anonymous_for(Some(&c.listeners[0])));
    assert!(!c.allow_anonymous_for(Some(&c.listeners[1])));
}

#[test]
fn per_listener_security_before_a_listener_goes_to_the_default_listener() {
    let c = ok("per_listener_settings true\npassword_file /p\nlistener 1883\n");
    assert_eq!(
        c.default_listener.security.password_file,
        Some(PathBuf::from("/p"))
    );
    assert!(c.default_listener_in_use());
    // acl_file alone does not open the default listener in Mosquitto 2.0.
    let c = ok("per_listener_settings true\nacl_file /a\nlistener 1883\n");
    assert!(!c.default_listener_in_use());
}

#[test]
fn per_listener_settings_must_come_first() {
    one_err(
        "allow_anonymous true\nper_listener_settings true\n",
        2,
        "must come before",
    );
    one_err(
        "check_retain_source false\nper_listener_settings true\n",
        2,
        "must come before",
    );
    // false after security options is fine; once true it stays true.
    assert!(!ok("allow_anonymous true\nper_listener_settings false\n").per_listener_settings);
    let c =
        ok("per_listener_settings true\nper_listener_settings false\nper_listener_settings junk\n");
    assert!(c.per_listener_settings);
}

#[test]
fn allow_anonymous_rules() {
    // Local-only mode: anonymous allowed unless said otherwise.
    assert!(ok("").allow_anonymous_for(None));
    assert!(!ok("allow_anonymous false\n").allow_anonymous_for(None));
    // With a listener: denied unless allowed.
    let c = ok("listener 1883\n");
    assert!(!c.allow_anonymous_for(c.listeners.first()));
    let c = ok("listener 1883\nallow_anonymous true\n");
    assert!(c.allow_anonymous_for(c.listeners.first()));
    // listener_allow_anonymous [2.1] overrides the global value.
    let c =
        ok("allow_anonymous true\nlistener 1883\nlistener_allow_anonymous false\nlistener 1884\n");
    assert!(!c.allow_anonymous_for(c.listeners.first()));
    assert!(c.allow_anonymous_for(c.listeners.get(1)));
}

#[test]
fn plugins_and_their_options() {
    let c = ok("\
plugin /usr/lib/mosquitto_dynamic_security.so
plugin_opt_config_file /var/lib/mosquitto/dynamic-security.json
auth_plugin /usr/lib/auth.so
auth_opt_backends   mysql  \t
auth_plugin_deny_special_chars false
listener 1883
");
    let p = &c.security.plugins;
    assert_eq!(p.len(), 2);
    assert_eq!(
        p[0].path,
        PathBuf::from("/usr/lib/mosquitto_dynamic_security.so")
    );
    assert_eq!(p[0].options[0].key, "config_file");
    assert_eq!(
        p[0].options[0].value,
        "/var/lib/mosquitto/dynamic-security.json"
    );
    assert!(p[0].deny_special_chars);
    assert_eq!(p[1].options[0].key, "backends");
    assert_eq!(
        p[1].options[0].value, "mysql  \t",
        "leading blanks trimmed, trailing kept"
    );
    assert!(!p[1].deny_special_chars);
    assert_eq!(p[1].defined_at.line, 3);
}

#[test]
fn plugin_errors() {
    one_err("plugin_opt_foo bar\n", 1, "must come after a 'plugin' line");
    one_err(
        "auth_plugin_deny_special_chars false\n",
        1,
        "must come after a 'plugin' line",
    );
    one_err(
        "plugin /p.so\nplugin_opt_ab x\n",
        2,
        "at least 3 characters",
    );
    one_err("plugin /p.so\nplugin_opt_abc\n", 2, "needs a value");
    one_err("plugin\n", 1, "'plugin' needs a value");
    // A plugin line with a missing path still takes the options after it.
    let e = errs("plugin\nplugin_opt_key value\n");
    assert_eq!(e.len(), 1);
}

#[test]
fn per_listener_plugins_and_global_plugin() {
    let c = ok("\
per_listener_settings true
global_plugin /g.so
plugin_opt_g1x 1
listener 1883
plugin /l.so
plugin_opt_l1x 2
");
    assert_eq!(c.security.plugins.len(), 1);
    assert!(c.security.plugins[0].global);
    assert_eq!(c.security.plugins[0].options[0].key, "g1x");
    let l = &c.listeners[0].security.plugins;
    assert_eq!(l.len(), 1);
    assert_eq!(l[0].options[0].key, "l1x");
}

#[test]
fn plugin_load_and_use() {
    let c = ok("\
plugin_load dynsec /usr/lib/mosquitto_dynamic_security.so
plugin_opt_config_file /var/lib/dynsec.json
listener 1883
plugin_use dynsec
");
    assert_eq!(c.named_plugins.len(), 1);
    assert_eq!(c.named_plugins[0].name.as_deref(), Some("dynsec"));
    assert_eq!(c.named_plugins[0].options.len(), 1);
    assert_eq!(c.listeners[0].plugin_uses, vec!["dynsec".to_owned()]);
    one_err("listener 1\nplugin_use nope\n", 2, "no plugin of that name");
    one_err(
        "plugin_load a /a.so\nplugin_load a /b.so\n",
        2,
        "duplicate plugin name 'a'",
    );
    one_err("plugin_load a\n", 1, "needs a plugin path");
    one_err(
        "plugin_load a /a.so\nplugin_use a\n",
        2,
        "must come after a 'listener' line",
    );
}
