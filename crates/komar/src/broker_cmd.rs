//! `komar [-c file] [-d] [-p port]... [-v]`: Mosquitto's broker command line.
//! With no configuration it listens on loopback only and allows anonymous
//! clients, as Mosquitto 2 does ("local only mode").

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use komar_core::ListenerSettings;
use komar_server::{ListenAddr, ListenerConfig, Server, ServerConfig};

/// The broker's flags, spelled as Mosquitto spells them.
#[derive(Debug, Parser)]
#[command(name = "komar", version, about = "Komar is an MQTT v5.0/v3.1.1/v3.1 broker.")]
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
}

fn loopback_listeners(ports: &[u16]) -> Vec<ListenerConfig> {
    let mut out = Vec::new();
    for &port in ports {
        for ip in [IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST)] {
            out.push(ListenerConfig {
                addr: ListenAddr::Tcp(SocketAddr::new(ip, port)),
                settings: ListenerSettings::default(),
                allow_anonymous: true,
                max_connections: None,
            });
        }
    }
    out
}

/// Run the broker; returns the process exit code.
pub fn main(args: Vec<String>) -> ExitCode {
    let args = match BrokerArgs::try_parse_from(args) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(3) } else { ExitCode::SUCCESS };
        }
    };
    crate::logging::init(args.verbose);
    if args.port.len() > 10 {
        eprintln!("Error: Only 10 ports can be specified on the command line.");
        return ExitCode::from(3);
    }
    if let Some(path) = &args.config_file {
        eprintln!(
            "Error: {}: configuration files are not supported by this build yet",
            path.display()
        );
        return ExitCode::from(3);
    }
    let mut config = ServerConfig::local_only(1883);
    if !args.port.is_empty() {
        config.listeners = loopback_listeners(&args.port);
    }
    if args.daemon {
        // Before any thread exists: fork, new session, stdio to /dev/null,
        // as Mosquitto's `-d` does. The parent exits 0.
        if let Err(e) = nix::unistd::daemon(false, false) {
            eprintln!("Error: cannot run in the background: {e}");
            return ExitCode::from(1);
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("Error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(serve(config))
}

async fn serve(config: ServerConfig) -> ExitCode {
    tracing::info!("komar version {} starting", env!("CARGO_PKG_VERSION"));
    let local_only = config.listeners.iter().all(|l| match &l.addr {
        ListenAddr::Tcp(a) => a.ip().is_loopback(),
        ListenAddr::Unix(_) => true,
    });
    let server = match Server::bind(config).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(1);
        }
    };
    for addr in server.local_addrs() {
        tracing::info!("Opening listen socket on {addr}.");
    }
    if local_only {
        tracing::info!(
            "Starting in local only mode. Connections will only be possible from clients running on this machine."
        );
    }
    let stop = server.shutdown_handle();
    tokio::spawn(async move {
        wait_for_termination().await;
        tracing::info!("komar shutting down");
        stop.cancel();
    });
    server.run().await;
    ExitCode::SUCCESS
}

async fn wait_for_termination() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
