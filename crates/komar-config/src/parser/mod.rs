//! The parser driver: walks the lines of the main file (and of the files
//! `include_dir` names), keeps Mosquitto's position-dependent context (the
//! current listener, bridge and plugin — **per file**, as in Mosquitto
//! 2.0), dispatches each option to its handler, collects every error, and
//! runs the checks that need the whole file.
//!
//! Handlers live in the sibling modules, one per option family; each
//! returns `None` for options it does not own.

mod args;
mod bridge;
mod bridge_topic;
mod global;
mod hints;
mod include;
mod listener;
mod security;

use std::path::{Path, PathBuf};

use crate::error::{ConfigError, ConfigErrors, ConfigWarning, Location};
use crate::lexer;
use crate::loader::Loader;
use crate::model::config::{Config, OptionUse};
use crate::model::listener::{Listener, ListenerAddress};
use crate::model::security::{Plugin, Security};
use crate::options;
use hints::{deprecation_message, unknown_option_message};

use args::{err, Args, OptResult};

/// Parsing stops after this many errors (the input is clearly not a
/// mosquitto.conf, and the error list must stay bounded).
pub(crate) const MAX_ERRORS: usize = 1000;

/// Whose security options a security line writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SecScope {
    Global,
    DefaultListener,
    Listener(usize),
}

/// The plugin that `plugin_opt_*` lines bind to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PluginRef {
    Scoped(SecScope, usize),
    Named(usize),
}

/// Position-dependent state of one file (Mosquitto keeps `cur_listener`,
/// `cur_bridge` and `cur_plugin` as locals of the per-file read loop).
#[derive(Debug)]
pub(crate) struct FileCtx {
    pub file: PathBuf,
    /// The main file (only it may use `include_dir`).
    pub main: bool,
    /// Index into `Config::listeners`; `None` = the default listener.
    pub listener: Option<usize>,
    /// Index into `Config::bridges`.
    pub bridge: Option<usize>,
    pub plugin: Option<PluginRef>,
}

impl FileCtx {
    fn new(file: PathBuf, main: bool) -> Self {
        Self {
            file,
            main,
            listener: None,
            bridge: None,
            plugin: None,
        }
    }
}

/// Parser state for one parse.
pub(crate) struct Parser<'l> {
    loader: &'l dyn Loader,
    cfg: Config,
    errors: Vec<ConfigError>,
    /// Mosquitto's `cur_security_options != NULL`: a security option was
    /// seen, so `per_listener_settings true` may no longer be set.
    security_touched: bool,
    /// A `log_dest file` was seen (a second one is an error).
    log_file_seen: bool,
    /// Bridges whose `connection` line was wrong: no end-of-file checks.
    broken_bridges: Vec<usize>,
    /// Bridges that had an `address` / `topic` line, even a wrong one (so
    /// a bad line is not reported again as a missing one).
    bridges_with_address: Vec<usize>,
    bridges_with_topic: Vec<usize>,
    /// Listeners whose `listener` line was wrong: no end-of-file checks.
    broken_listeners: Vec<usize>,
    stopped: bool,
    /// The line being handled.
    cur_loc: Location,
    /// First line that configured the default listener (for messages).
    default_loc: Option<Location>,
}

impl<'l> Parser<'l> {
    pub(crate) fn new(loader: &'l dyn Loader) -> Self {
        Self {
            loader,
            cfg: Config::default(),
            errors: Vec::new(),
            security_touched: false,
            log_file_seen: false,
            broken_bridges: Vec::new(),
            bridges_with_address: Vec::new(),
            bridges_with_topic: Vec::new(),
            broken_listeners: Vec::new(),
            stopped: false,
            cur_loc: Location::new(PathBuf::new(), 0),
            default_loc: None,
        }
    }

    /// Read and parse the main file `path`.
    pub(crate) fn run_file(self, path: &Path) -> Result<Config, ConfigErrors> {
        let text = self
            .loader
            .read(path)
            .map_err(|e| ConfigErrors::single(path, 0, format!("cannot read config file: {e}")))?;
        self.run_text(&text, path)
    }

    /// Parse `text` as the main file named `path`.
    pub(crate) fn run_text(mut self, text: &str, path: &Path) -> Result<Config, ConfigErrors> {
        self.cfg.files.push(path.to_path_buf());
        let mut ctx = FileCtx::new(path.to_path_buf(), true);
        self.parse_text(text, &mut ctx);
        self.finish()
    }

    fn parse_text(&mut self, text: &str, ctx: &mut FileCtx) {
        for raw in lexer::lines(text) {
            if self.stopped {
                return;
            }
            let loc = Location::new(ctx.file.clone(), raw.line);
            let Some(spec) = options::lookup(raw.name) else {
                self.error(&loc, unknown_option_message(raw.name));
                continue;
            };
            self.cfg.options.push(OptionUse {
                name: raw.name.to_owned(),
                canonical: spec.canonical,
                file: loc.file.clone(),
                line: loc.line,
            });
            if spec.deprecated {
                if let Some(msg) = deprecation_message(raw.name, spec.canonical) {
                    self.warn(&loc, msg);
                }
            }
            self.cur_loc = loc.clone();
            let mut a = Args::new(raw.name, raw.rest);
            let result = self.dispatch(spec.canonical, &mut a, ctx, &loc);
            for note in std::mem::take(&mut a.notes) {
                self.warn(&loc, note);
            }
            match result {
                Ok(()) => {
                    if let Some(extra) = a.ignored_text() {
                        self.warn(
                            &loc,
                            format!(
                                "ignoring '{}' after the value of '{}' (Mosquitto ignores it \
                                 too; put comments on their own line starting with '#')",
                                extra.escape_debug(),
                                raw.name
                            ),
                        );
                    }
                }
                Err(e) => self.error(&loc, e.0),
            }
        }
    }

    fn dispatch(
        &mut self,
        canonical: &'static str,
        a: &mut Args<'_>,
        ctx: &mut FileCtx,
        loc: &Location,
    ) -> OptResult {
        if canonical == "include_dir" {
            return self.include_dir(a, ctx, loc);
        }
        if let Some(r) = self.listener_option(canonical, a, ctx, loc) {
            return r;
        }
        if let Some(r) = self.bridge_option(canonical, a, ctx, loc) {
            return r;
        }
        if let Some(r) = self.security_option(canonical, a, ctx, loc) {
            return r;
        }
        if let Some(r) = self.global_option(canonical, a, loc) {
            return r;
        }
        Err(err(format!(
            "internal error: option '{canonical}' is recognised but has no handler"
        )))
    }

    fn finish(mut self) -> Result<Config, ConfigErrors> {
        let port = self.cfg.port.unwrap_or(1883);
        self.cfg.default_listener.address = ListenerAddress::Tcp {
            port,
            host: self.cfg.bind_address.clone(),
        };
        if !self.stopped {
            self.check_bridges();
            self.check_listener_tls();
        }
        if self.errors.is_empty() {
            Ok(self.cfg)
        } else {
            Err(ConfigErrors {
                errors: self.errors,
            })
        }
    }

    /// Mosquitto 2.1's listener TLS checks (2.0 silently runs such a
    /// listener without TLS, which is never what was meant).
    fn check_listener_tls(&mut self) {
        let mut problems = Vec::new();
        let default_used = self.cfg.default_listener_in_use();
        let broken = &self.broken_listeners;
        let all = self
            .cfg
            .listeners
            .iter()
            .enumerate()
            .filter(|(i, _)| !broken.contains(i))
            .map(|(_, l)| l)
            .chain(std::iter::once(&self.cfg.default_listener).filter(|_| default_used));
        for l in all {
            let t = &l.tls;
            let what = match &l.defined_at {
                Some(_) => format!("listener on {}", l.address),
                None => format!("default listener ({})", l.address),
            };
            let msg = if t.certfile.is_some() != t.keyfile.is_some() {
                Some(format!(
                    "{what}: 'certfile' and 'keyfile' must both be given to enable TLS"
                ))
            } else if t.certfile.is_none() && (t.cafile.is_some() || t.capath.is_some()) {
                Some(format!(
                    "{what}: 'cafile'/'capath' given without 'certfile' and 'keyfile'; \
                     the listener would not use TLS"
                ))
            } else {
                None
            };
            if let Some(msg) = msg {
                let loc = l
                    .defined_at
                    .clone()
                    .or_else(|| self.default_loc.clone())
                    .unwrap_or_else(|| {
                        Location::new(self.cfg.files.first().cloned().unwrap_or_default(), 0)
                    });
                problems.push((loc, msg));
            }
        }
        for (loc, msg) in problems {
            self.error(&loc, msg);
        }
    }

    // ---- context helpers shared by the handler modules ----

    /// The listener the current line applies to (the default listener
    /// before any `listener` line of this file).
    fn cur_listener(&mut self, ctx: &FileCtx) -> &mut Listener {
        if ctx.listener.is_none() {
            self.note_default_listener_use();
        }
        let cfg = &mut self.cfg;
        match ctx.listener.and_then(|i| cfg.listeners.get_mut(i)) {
            Some(l) => l,
            None => &mut cfg.default_listener,
        }
    }

    /// The listener of an option that Mosquitto 2.1 only accepts after a
    /// `listener` line.
    fn explicit_listener(
        &mut self,
        ctx: &FileCtx,
        name: &str,
    ) -> Result<&mut Listener, crate::ValueError> {
        match ctx.listener.and_then(|i| self.cfg.listeners.get_mut(i)) {
            Some(l) => Ok(l),
            None => Err(err(format!(
                "'{name}' must come after a 'listener' line (it configures the most recent \
                 listener of this file)"
            ))),
        }
    }

    fn sec_scope(&self, ctx: &FileCtx) -> SecScope {
        if !self.cfg.per_listener_settings {
            return SecScope::Global;
        }
        match ctx.listener {
            Some(i) => SecScope::Listener(i),
            None => SecScope::DefaultListener,
        }
    }

    /// Remember the first line that configured the default listener.
    fn note_default_listener_use(&mut self) {
        if self.default_loc.is_none() {
            self.default_loc = Some(self.cur_loc.clone());
        }
    }

    fn security_mut(&mut self, scope: SecScope) -> &mut Security {
        if scope == SecScope::DefaultListener {
            self.note_default_listener_use();
        }
        let cfg = &mut self.cfg;
        match scope {
            SecScope::Global => &mut cfg.security,
            SecScope::Listener(i) => match cfg.listeners.get_mut(i) {
                Some(l) => &mut l.security,
                None => &mut cfg.default_listener.security,
            },
            SecScope::DefaultListener => &mut cfg.default_listener.security,
        }
    }

    fn plugin_mut(&mut self, r: PluginRef) -> Option<&mut Plugin> {
        match r {
            PluginRef::Scoped(scope, i) => self.security_mut(scope).plugins.get_mut(i),
            PluginRef::Named(i) => self.cfg.named_plugins.get_mut(i),
        }
    }

    fn error(&mut self, loc: &Location, message: impl Into<String>) {
        if self.stopped {
            return;
        }
        self.errors.push(ConfigError::at(loc, message));
        if self.errors.len() >= MAX_ERRORS {
            self.errors.push(ConfigError::at(
                loc,
                format!("too many errors ({MAX_ERRORS}); stopping"),
            ));
            self.stopped = true;
        }
    }

    fn warn(&mut self, loc: &Location, message: impl Into<String>) {
        // Bounded like the errors.
        if self.cfg.warnings.len() < MAX_ERRORS * 4 {
            self.cfg.warnings.push(ConfigWarning {
                file: loc.file.clone(),
                line: loc.line,
                message: message.into(),
            });
        }
    }
}

#[cfg(test)]
mod test_bridges;
#[cfg(test)]
mod test_global;
#[cfg(test)]
mod test_include;
#[cfg(test)]
mod test_listeners;
#[cfg(test)]
mod test_security;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod test_syntax;
