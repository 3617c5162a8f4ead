//! `komar [-c file] [-d] [-p port]... [-v]`: Mosquitto's broker command line.
//! With no configuration it listens on loopback only and allows anonymous
//! clients, as Mosquitto 2 does ("local only mode").

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use komar_server::settings::{self, Settings};
use komar_server::{Server, ServerConfig};

/// The broker's flags, spelled as Mosquitto spells them.
#[derive(Debug, Parser)]
#[command(
    name = "komar",
    version,
    about = "Komar is an MQTT v5.0/v3.1.1/v3.1 broker."
)]
struct BrokerArgs {
    /// Load configuration from a file (mosquitto.conf syntax).
    #[arg(short = 'c', long = "config-file", value_name = "FILE")]
    config_file: Option<PathBuf>,
    /// Run in the background.
    #[arg(short = 'd', long = "daemon")]
    daemon: bool,
    /// Listen on this port on loopback (up to 10 times; ignored when the
    /// configuration file defines listeners).
    #[arg(short = 'p', long = "port", value_name = "PORT")]
    port: Vec<u16>,
    /// Verbose logging (like `log_type all`).
    #[arg(short = 'v', long = "verbose")]
    verbose: bool,
    /// Check the configuration and exit: 0 if it is valid, 3 with every
    /// problem listed otherwise.
    #[arg(long = "test-config")]
    test_config: bool,
}

/// Load the settings the flags and the configuration file ask for; every
/// problem is printed as `file:line: message`.
fn load_settings(args: &BrokerArgs) -> Result<Settings, Vec<String>> {
    let Some(path) = &args.config_file else {
        return Ok(settings::without_file(&args.port));
    };
    let cfg = komar_config::parse_file(path, &komar_config::FsLoader).map_err(|errs| {
        errs.errors
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
    })?;
    settings::from_config(&cfg, &args.port)
}

/// Run the broker; returns the process exit code.
pub fn main(args: Vec<String>) -> ExitCode {
    let args = match BrokerArgs::try_parse_from(args) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(3)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    if args.port.len() > 10 {
        eprintln!("Error: Only 10 ports can be specified on the command line.");
        return ExitCode::from(3);
    }
    let settings = match load_settings(&args) {
        Ok(s) => s,
        Err(errors) => {
            for e in &errors {
                eprintln!("Error: {e}");
            }
            return ExitCode::from(3);
        }
    };
    if args.test_config {
        for w in &settings.warnings {
            eprintln!("Warning: {w}");
        }
        println!("Configuration file is valid.");
        return ExitCode::SUCCESS;
    }
    let (logging, log_topic) = match crate::logging::Logging::init(&settings.log, args.verbose) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("Error: {e}");
            return ExitCode::from(1);
        }
    };
    for w in &settings.warnings {
        tracing::warn!("{w}");
    }
    if args.daemon {
        // Before any thread exists: fork, new session, stdio to /dev/null,
        // as Mosquitto's `-d` does. The parent exits 0.
        if let Err(e) = nix::unistd::daemon(false, false) {
            eprintln!("Error: cannot run in the background: {e}");
            return ExitCode::from(1);
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("Error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let pid_file = settings.pid_file.clone();
    if let Some(p) = &pid_file {
        if let Err(e) = std::fs::write(p, format!("{}\n", std::process::id())) {
            tracing::error!("Unable to write pid file {}: {e}", p.display());
            return ExitCode::from(1);
        }
    }
    let reload = Reload {
        args: &args,
        logging: &logging,
    };
    let code = runtime.block_on(serve(settings, log_topic, reload));
    if let Some(p) = &pid_file {
        let _ = std::fs::remove_file(p);
    }
    code
}

/// Drop root privileges to `user` (Mosquitto's default is `mosquitto`,
/// falling back to `nobody`), after the listeners are bound.
fn drop_privileges(user: Option<&str>) -> Result<(), String> {
    use nix::unistd::{getuid, setgid, setgroups, setuid, User};
    if !getuid().is_root() {
        return Ok(());
    }
    let name = user.unwrap_or("mosquitto");
    if name == "root" {
        return Ok(());
    }
    let found = match User::from_name(name) {
        Ok(Some(u)) => u,
        _ => {
            tracing::warn!("Unable to drop privileges to '{name}' because this user does not exist. Trying 'nobody' instead.");
            match User::from_name("nobody") {
                Ok(Some(u)) => u,
                _ => {
                    return Err(format!(
                        "cannot drop privileges: neither '{name}' nor 'nobody' exists"
                    ))
                }
            }
        }
    };
    setgroups(&[found.gid]).map_err(|e| format!("setgroups: {e}"))?;
    setgid(found.gid).map_err(|e| format!("setgid: {e}"))?;
    setuid(found.uid).map_err(|e| format!("setuid: {e}"))?;
    Ok(())
}

/// Publish the `topic` log destination's lines to `$SYS/broker/log/<L>`.
fn spawn_log_publisher(
    broker: std::sync::Arc<komar_core::Broker>,
    mut rx: tokio::sync::mpsc::Receiver<crate::logging::TopicLine>,
) {
    tokio::spawn(async move {
        while let Some((suffix, text)) = rx.recv().await {
            let Ok(topic) = komar_proto::TopicName::new(&format!("$SYS/broker/log/{suffix}"))
            else {
                continue;
            };
            let msg = komar_core::Message {
                topic,
                payload: bytes::Bytes::from(text.into_bytes()),
                qos: komar_proto::QoS::AtMostOnce,
                retain: false,
                properties: Default::default(),
                expires_at: None,
                origin: komar_core::Origin::broker(),
            };
            let mut congested = Vec::new();
            broker.publish(
                std::sync::Arc::new(msg),
                std::time::Instant::now(),
                &mut congested,
            );
        }
    });
}

/// What a SIGHUP needs: the flags (for the configuration path) and the
/// logger.
struct Reload<'a> {
    args: &'a BrokerArgs,
    logging: &'a crate::logging::Logging,
}

impl Reload<'_> {
    /// Re-read the configuration file and apply what can change while
    /// running: password and ACL files, anonymous access, logging. A broken
    /// file keeps the running configuration.
    fn apply(&self, running: &Settings, broker: &std::sync::Arc<komar_core::Broker>) {
        if self.args.config_file.is_none() {
            return;
        }
        tracing::info!(target: "komar::notice", "Reloading config.");
        let new = match load_settings(self.args) {
            Ok(s) => s,
            Err(errors) => {
                for e in errors {
                    tracing::error!("{e}");
                }
                tracing::error!("Configuration not reloaded: keeping the running configuration.");
                return;
            }
        };
        let same_listeners = new.server.listeners.len() == running.server.listeners.len()
            && new
                .server
                .listeners
                .iter()
                .zip(&running.server.listeners)
                .all(|(a, b)| a.addr == b.addr);
        if same_listeners {
            running.security.replace(new.security.snapshot());
            // New certificates, keys, CAs and CRLs for new handshakes;
            // connected clients keep their TLS sessions.
            let swapped = komar_server::reload_tls(&running.server, &new.server);
            if swapped > 0 {
                tracing::info!(target: "komar::notice", "Reloaded the certificates of {swapped} TLS listener(s).");
            }
            // Clients whose login the new files no longer accept go, as in
            // Mosquitto; hashing runs off the async workers. A client whose
            // certificate is its credential has no password to re-check.
            let recheck = CertificateLogins {
                inner: running.security.clone(),
                certificate_listeners: running
                    .server
                    .listeners
                    .iter()
                    .map(|l| {
                        l.transport
                            .tls
                            .as_ref()
                            .is_some_and(|t| t.username != komar_server::tls::CertUsername::Off)
                    })
                    .collect(),
            };
            let broker = broker.clone();
            tokio::task::spawn_blocking(move || komar_server::recheck_logins(&broker, &recheck));
        } else {
            tracing::warn!("Listeners changed: restart Komar to apply listener changes; password and ACL files not reloaded.");
        }
        // `server_reference` / `server_moved` apply at once: setting them
        // drains this node (connected clients are sent elsewhere).
        let redirect = new.server.broker.redirect.clone();
        if redirect != broker.redirect() {
            broker.set_redirect(redirect);
        }
        if let Err(e) = self.logging.reload(&new.log) {
            tracing::error!("{e}");
        }
        for w in &new.warnings {
            tracing::warn!("{w}");
        }
    }
}

/// The login re-check of a reload: clients of listeners where the client
/// certificate names the user (`use_identity_as_username`,
/// `use_subject_as_username`) were authenticated by the certificate, not a
/// password, and stay (Mosquitto re-derives their name and keeps them).
#[derive(Debug)]
struct CertificateLogins {
    inner: std::sync::Arc<komar_auth::FileSecurity>,
    certificate_listeners: Vec<bool>,
}

impl komar_core::Authenticator for CertificateLogins {
    fn authenticate(
        &self,
        listener: usize,
        client_id: &str,
        username: Option<&str>,
        password: Option<&[u8]>,
    ) -> komar_core::AuthDecision {
        if self.certificate_listeners.get(listener) == Some(&true) {
            return komar_core::AuthDecision::Allow;
        }
        komar_core::Authenticator::authenticate(
            &*self.inner,
            listener,
            client_id,
            username,
            password,
        )
    }

    fn is_slow(&self) -> bool {
        komar_core::Authenticator::is_slow(&*self.inner)
    }
}

async fn serve(
    settings: Settings,
    log_topic: tokio::sync::mpsc::Receiver<crate::logging::TopicLine>,
    reload: Reload<'_>,
) -> ExitCode {
    let config: ServerConfig = settings.server.clone();
    tracing::info!(target: "komar::notice", "komar version {} starting", env!("CARGO_PKG_VERSION"));
    if let Some(path) = &reload.args.config_file {
        tracing::info!(target: "komar::notice", "Config loaded from {}.", path.display());
    }
    let local_only = settings.local_only;
    let mut server = match Server::bind(config).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(1);
        }
    };
    for addr in server.local_addrs() {
        tracing::info!(target: "komar::notice", "Opening listen socket on {addr}.");
    }
    if let Err(e) = drop_privileges(settings.user.as_deref()) {
        tracing::error!("{e}");
        return ExitCode::from(1);
    }
    // As the user Komar runs as, so the store's files belong to it.
    if let Err(e) = server.open_store().await {
        tracing::error!("{e}");
        return ExitCode::from(1);
    }
    spawn_log_publisher(server.broker().clone(), log_topic);
    if local_only {
        tracing::info!(
            target: "komar::notice",
            "Starting in local only mode. Connections will only be possible from clients running on this machine."
        );
    }
    let stop = server.shutdown_handle();
    let broker = server.broker().clone();
    let store = server.store();
    let mut usr1 =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1()).ok();
    let run = server.run();
    tokio::pin!(run);
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let terminate = wait_for_termination();
    tokio::pin!(terminate);
    loop {
        tokio::select! {
            _ = &mut run => break,
            _ = &mut terminate => {
                tracing::info!(target: "komar::notice", "komar version {} terminating", env!("CARGO_PKG_VERSION"));
                stop.cancel();
                run.as_mut().await;
                break;
            }
            Some(()) = async { match hup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => {
                reload.apply(&settings, &broker);
            }
            // Mosquitto saves its database on SIGUSR1; Komar's store has
            // every change already, so this forces it to disk (fsync).
            Some(()) = async { match usr1.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => {
                if let Some(store) = store.clone() {
                    tokio::task::spawn_blocking(move || store.flush());
                }
            }
        }
    }
    ExitCode::SUCCESS
}

async fn wait_for_termination() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
