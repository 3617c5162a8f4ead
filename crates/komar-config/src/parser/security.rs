//! Handlers for security options and plugins: `per_listener_settings`,
//! `allow_anonymous`, `password_file`, `acl_file`, `psk_file`,
//! `auto_id_prefix`, `allow_zero_length_clientid`, `check_retain_source`,
//! `plugin` / `auth_plugin` / `global_plugin`, `plugin_load` /
//! `plugin_use` [2.1], `plugin_opt_*` / `auth_opt_*` and
//! `auth_plugin_deny_special_chars`.
//!
//! With `per_listener_settings true` the options go to the current
//! listener of the file (the default listener before the first
//! `listener`, as in Mosquitto 2.0); otherwise to the global set.

use std::path::PathBuf;

use super::args::{err, set_once, Args, OptResult};
use super::{FileCtx, Parser, PluginRef, SecScope};
use crate::error::Location;
use crate::model::security::{Plugin, PluginOption};
use crate::options::PLUGIN_OPT;
use crate::values;

/// Mosquitto rejects `plugin_opt_` keys shorter than this (its length check
/// counts the name only, so one- and two-letter keys are refused).
const MIN_PLUGIN_KEY_LEN: usize = 3;

impl Parser<'_> {
    pub(super) fn security_option(
        &mut self,
        c: &str,
        a: &mut Args<'_>,
        ctx: &mut FileCtx,
        loc: &Location,
    ) -> Option<OptResult> {
        let r = match c {
            "per_listener_settings" => self.opt_per_listener_settings(a),
            "check_retain_source" => {
                // Mosquitto selects the security options here too, which
                // counts for the per_listener_settings ordering rule.
                self.security_touched = true;
                a.bool().map(|v| self.cfg.check_retain_source = v)
            }
            "allow_anonymous" => a.bool().map(|v| {
                self.touched_security(ctx).allow_anonymous = Some(v);
            }),
            "allow_zero_length_clientid" => a.bool().map(|v| {
                self.touched_security(ctx).allow_zero_length_clientid = v;
            }),
            "auto_id_prefix" => a
                .string()
                .and_then(|v| set_once(&mut self.touched_security(ctx).auto_id_prefix, a.name, v)),
            "password_file" => a
                .path()
                .and_then(|v| set_once(&mut self.touched_security(ctx).password_file, a.name, v)),
            "acl_file" => a
                .path()
                .and_then(|v| set_once(&mut self.touched_security(ctx).acl_file, a.name, v)),
            "psk_file" => a
                .path()
                .and_then(|v| set_once(&mut self.touched_security(ctx).psk_file, a.name, v)),
            "scram_file" => a
                .path()
                .and_then(|v| set_once(&mut self.touched_security(ctx).scram_file, a.name, v)),
            "plugin" | "global_plugin" => self.opt_plugin(c == "global_plugin", a, ctx, loc),
            "plugin_load" => self.opt_plugin_load(a, ctx, loc),
            "plugin_use" => self.opt_plugin_use(a, ctx),
            "auth_plugin_deny_special_chars" => self.opt_deny_special_chars(a, ctx),
            PLUGIN_OPT => self.opt_plugin_opt(a, ctx, loc),
            _ => return None,
        };
        Some(r)
    }

    /// The security set for this line, recording that one was selected.
    fn touched_security(&mut self, ctx: &FileCtx) -> &mut crate::Security {
        self.security_touched = true;
        let scope = self.sec_scope(ctx);
        self.security_mut(scope)
    }

    /// `per_listener_settings`: once true it cannot be unset (later lines
    /// are skipped, as in Mosquitto); it must precede every security option.
    fn opt_per_listener_settings(&mut self, a: &mut Args<'_>) -> OptResult {
        if self.cfg.per_listener_settings {
            a.raw_rest();
            return Ok(());
        }
        let v = a.bool()?;
        if v && self.security_touched {
            return Err(err(
                "'per_listener_settings true' must come before every security option \
                 (allow_anonymous, password_file, acl_file, psk_file, auto_id_prefix, \
                 allow_zero_length_clientid, check_retain_source, plugin)",
            ));
        }
        self.cfg.per_listener_settings = v;
        Ok(())
    }

    /// `plugin <path>` / `auth_plugin <path>` (current security scope) or
    /// `global_plugin <path>` [2.1] (always global).
    fn opt_plugin(
        &mut self,
        global: bool,
        a: &mut Args<'_>,
        ctx: &mut FileCtx,
        loc: &Location,
    ) -> OptResult {
        self.security_touched = true;
        let scope = if global {
            SecScope::Global
        } else {
            self.sec_scope(ctx)
        };
        // Create the plugin before reading its path (as Mosquitto does) so
        // that the plugin_opt_ lines after a bad line still have a target.
        let mut plugin = Plugin::new(PathBuf::new(), loc.clone());
        plugin.global = global;
        let plugins = &mut self.security_mut(scope).plugins;
        plugins.push(plugin);
        let idx = plugins.len() - 1;
        ctx.plugin = Some(PluginRef::Scoped(scope, idx));
        let path = a.path()?;
        if let Some(p) = self.plugin_mut(PluginRef::Scoped(scope, idx)) {
            p.path = path;
        }
        Ok(())
    }

    /// `plugin_load <name> <path>` [2.1].
    fn opt_plugin_load(
        &mut self,
        a: &mut Args<'_>,
        ctx: &mut FileCtx,
        loc: &Location,
    ) -> OptResult {
        let name = a
            .word()
            .map_err(|_| err("'plugin_load' needs a name and a path: plugin_load <name> <path>"))?;
        let mut plugin = Plugin::new(PathBuf::new(), loc.clone());
        plugin.name = Some(name.to_owned());
        let duplicate = self
            .cfg
            .named_plugins
            .iter()
            .any(|p| p.name.as_deref() == Some(name));
        self.cfg.named_plugins.push(plugin);
        ctx.plugin = Some(PluginRef::Named(self.cfg.named_plugins.len() - 1));
        if duplicate {
            return Err(err(format!(
                "duplicate plugin name '{name}': each plugin_load needs its own name"
            )));
        }
        let path = values::string_value("plugin_load", a.raw_rest())
            .map_err(|_| err(format!("'plugin_load {name}' needs a plugin path")))?;
        if let Some(p) = self.cfg.named_plugins.last_mut() {
            p.path = PathBuf::from(path);
        }
        Ok(())
    }

    /// `plugin_use <name>` [2.1]: attach a `plugin_load`ed plugin to the
    /// current listener.
    fn opt_plugin_use(&mut self, a: &mut Args<'_>, ctx: &mut FileCtx) -> OptResult {
        let name = a.string()?;
        let idx = self
            .cfg
            .named_plugins
            .iter()
            .position(|p| p.name.as_deref() == Some(name.as_str()))
            .ok_or_else(|| {
                err(format!(
                    "'plugin_use {name}': no plugin of that name was loaded with plugin_load \
                     before this line"
                ))
            })?;
        self.explicit_listener(ctx, "plugin_use")?
            .plugin_uses
            .push(name);
        ctx.plugin = Some(PluginRef::Named(idx));
        Ok(())
    }

    fn opt_deny_special_chars(&mut self, a: &mut Args<'_>, ctx: &FileCtx) -> OptResult {
        let v = a.bool()?;
        let plugin = ctx.plugin.and_then(|r| self.plugin_mut(r)).ok_or_else(|| {
            err(
                "'auth_plugin_deny_special_chars' must come after a 'plugin' line of the \
                     same file (it configures the most recent plugin)",
            )
        })?;
        plugin.deny_special_chars = v;
        Ok(())
    }

    /// `plugin_opt_<key> <value>` / `auth_opt_<key> <value>`.
    fn opt_plugin_opt(&mut self, a: &mut Args<'_>, ctx: &FileCtx, loc: &Location) -> OptResult {
        let name = a.name;
        let key = name
            .strip_prefix("plugin_opt_")
            .or_else(|| name.strip_prefix("auth_opt_"))
            .unwrap_or("");
        let value = a
            .raw_rest()
            .map(|v| v.trim_start_matches([' ', '\t']))
            .unwrap_or("");
        let Some(r) = ctx.plugin else {
            return Err(err(format!(
                "'{name}' must come after a 'plugin' line of the same file (plugin options \
                 belong to the most recent plugin)"
            )));
        };
        if key.len() < MIN_PLUGIN_KEY_LEN {
            return Err(err(format!(
                "plugin option name '{name}' is too short: Mosquitto requires at least \
                 {MIN_PLUGIN_KEY_LEN} characters after the prefix"
            )));
        }
        if value.is_empty() {
            return Err(err(format!("'{name}' needs a value")));
        }
        let option = PluginOption {
            key: key.to_owned(),
            value: value.to_owned(),
            defined_at: loc.clone(),
        };
        if let Some(p) = self.plugin_mut(r) {
            p.options.push(option);
        }
        Ok(())
    }
}
