//! Connecting as mosquitto's tools do: client id generation, CONNECT
//! options from the command line (will, credentials, 5.0 properties,
//! libmosquitto's default Receive Maximum), the transport, and the error
//! messages of `client_opts_set` / `client_connect`.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use bytes::Bytes;
use komar_client::{
    connect, connect_over, ClientError, ConnectOptions, Connection, Endpoint, Event, Qos2Delivery,
};
use komar_proto::{ConnAck, LastWill, ProtocolVersion, TopicName};

use crate::config::Config;
use crate::debug::DebugLog;
use crate::props::{connect_props, will_props};
use crate::strings::{os_error_text, strerror};
use crate::term::Term;

/// libmosquitto's receive maximum when none is configured.
const DEFAULT_RECEIVE_MAXIMUM: u16 = 20;

/// `client_id_generate`: `-I prefix` becomes prefix + process id.
pub(crate) fn client_id(cfg: &Config) -> Option<String> {
    match (&cfg.id, &cfg.id_prefix) {
        (Some(id), _) => Some(id.clone()),
        (None, Some(prefix)) => Some(format!("{prefix}{}", std::process::id())),
        (None, None) => None,
    }
}

/// libmosquitto's id for MQTT 3.1, which has no server-assigned ids:
/// "mosq-" and 20 random letters and digits.
fn random_id() -> String {
    const CHARS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let state = std::collections::hash_map::RandomState::new();
    let mut id = String::from("mosq-");
    for i in 0..20u64 {
        let mut h = state.build_hasher();
        h.write_u64(i);
        let n = (h.finish() % CHARS.len() as u64) as usize;
        id.push(char::from(*CHARS.get(n).unwrap_or(&b'x')));
    }
    id
}

/// Why opening the session failed.
#[derive(Debug)]
pub(crate) enum OpenError {
    /// The broker refused: the tool prints its own message.
    Refused(Box<ConnAck>),
    /// Already reported; exit with this code.
    Exit(i32),
}

/// The client id libmosquitto uses for this config (shown by `-d`).
pub(crate) fn effective_id(cfg: &Config) -> Option<String> {
    match client_id(cfg) {
        Some(id) => Some(id),
        None if cfg.protocol == ProtocolVersion::V31 => Some(random_id()),
        None => None,
    }
}

fn endpoint(cfg: &Config) -> Endpoint {
    if cfg.unix {
        Endpoint::Unix(cfg.host.clone().into())
    } else {
        Endpoint::Tcp {
            host: cfg.host.clone(),
            port: cfg.port.unwrap_or(if cfg.use_tls { 8883 } else { 1883 }),
            bind_address: cfg.bind_address.clone(),
            nodelay: cfg.tcp_nodelay,
        }
    }
}

/// Connect options for `cfg` with client id `id`; errors are printed.
fn options(cfg: &Config, id: Option<&str>, term: &mut Term) -> Result<ConnectOptions, i32> {
    if cfg.unsupported.tls {
        term.err("Error: TLS-PSK and OpenSSL engines are not supported (--psk, --psk-identity, --tls-engine, --keyform engine); use certificates.\n");
        return Err(1);
    }
    if cfg.unsupported.srv {
        term.err("Error: SRV lookups (-S) are not supported yet.\n");
        return Err(1);
    }
    if cfg.unsupported.proxy {
        term.err("Error: SOCKS5 proxies (--proxy) are not supported yet.\n");
        return Err(1);
    }
    let mut o = ConnectOptions::new(cfg.protocol, id.unwrap_or_default());
    o.clean_start = cfg.clean_session;
    o.keep_alive = cfg.keepalive;
    if let Some(topic) = &cfg.will_topic {
        let Ok(topic) = TopicName::new(topic) else {
            term.err("Error: Problem setting will.\n");
            return Err(1);
        };
        o.will = Some(LastWill {
            topic,
            payload: Bytes::from(cfg.will_payload.clone().unwrap_or_default()),
            qos: cfg.will_qos,
            retain: cfg.will_retain,
            properties: will_props(&cfg.props.will),
        });
    }
    if cfg.password.is_some() && cfg.username.is_none() && !cfg.protocol.is_v5() {
        term.err("Error: Problem setting username and/or password.\n");
        return Err(1);
    }
    o.username = cfg.username.clone();
    o.password = cfg.password.clone().map(Bytes::from);
    o.properties = connect_props(&cfg.props.connect);
    if cfg.protocol.is_v5() && o.properties.receive_maximum.is_none() {
        // libmosquitto always sends its inflight maximum (20, or -C below
        // 20 so no more than that many messages arrive before exiting).
        o.properties.receive_maximum = Some(match u16::try_from(cfg.msg_count) {
            Ok(n @ 1..=19) => n,
            _ => DEFAULT_RECEIVE_MAXIMUM,
        });
    }
    o.trace_packets = cfg.debug;
    // libmosquitto hands QoS 2 messages over on PUBREL; output order
    // across QoS levels depends on it.
    o.qos2_delivery = Qos2Delivery::OnRelease;
    o.connect_timeout = Duration::from_secs(u64::from(cfg.keepalive).max(5) * 3 / 2);
    Ok(o)
}

/// TCP, then the TLS handshake `cfg` asks for, then the session.
async fn connect_tls(cfg: &Config, opts: ConnectOptions) -> Result<Connection, ClientError> {
    let connector = cfg.tls.connector()?;
    let tcp = endpoint(cfg).connect().await?;
    let transport = komar_client::tls::tls_over(tcp, &cfg.host, connector).await?;
    connect_over(transport, opts).await
}

/// Print the trace lines of `ev` when debugging.
pub(crate) fn print_trace(ev: &Event, log: &mut Option<DebugLog>, term: &mut Term) {
    let Some(log) = log.as_mut() else {
        return;
    };
    let lines = match ev {
        Event::Sent(p) => log.sent(p),
        Event::Received(p) => log.received(p),
        _ => return,
    };
    for l in lines {
        term.out(l.as_bytes());
        term.out(b"\n");
    }
    term.flush();
}

/// Open the session `cfg` describes.
pub(crate) async fn open(
    cfg: &Config,
    id: Option<&str>,
    log: &mut Option<DebugLog>,
    term: &mut Term,
) -> Result<Connection, OpenError> {
    let opts = options(cfg, id, term).map_err(OpenError::Exit)?;
    let opened = if cfg.use_tls && !cfg.unix {
        connect_tls(cfg, opts).await
    } else {
        connect(&endpoint(cfg), opts).await
    };
    match opened {
        Ok(c) => Ok(c),
        Err(ClientError::Refused(connack)) => {
            if let Some(l) = log.as_mut() {
                let connect_line = format!("Client {} sending CONNECT\n", l.id);
                term.out(connect_line.as_bytes());
                for line in l.received(&komar_proto::Packet::ConnAck(connack.clone())) {
                    term.out(line.as_bytes());
                    term.out(b"\n");
                }
                term.flush();
            }
            Err(OpenError::Refused(connack))
        }
        Err(ClientError::Lookup { .. }) => {
            term.err("Unable to connect (Lookup error.).\n");
            Err(OpenError::Exit(1))
        }
        Err(ClientError::Io {
            context: "TLS handshake" | "setting up TLS",
            source,
        }) => {
            term.err(&format!(
                "Unable to connect (A TLS error occurred: {source}.).\n"
            ));
            Err(OpenError::Exit(1))
        }
        Err(ClientError::Io { source, .. }) => {
            term.err(&format!("Error: {}\n", os_error_text(&source)));
            Err(OpenError::Exit(1))
        }
        Err(e) => {
            term.err(&format!("Error: {}\n", strerror(exit_code_of(&e))));
            Err(OpenError::Exit(1))
        }
    }
}

/// The libmosquitto error number a connection failure maps to.
pub(crate) fn exit_code_of(e: &ClientError) -> i32 {
    use crate::strings::rc;
    match e {
        ClientError::Decode(_) | ClientError::Protocol(_) => rc::PROTOCOL,
        ClientError::Refused(_) => rc::CONN_REFUSED,
        _ => rc::CONN_LOST,
    }
}

/// Resolves on SIGINT or SIGTERM when `enabled`, never otherwise.
pub(crate) async fn shutdown_signal(enabled: bool) {
    if !enabled {
        return std::future::pending().await;
    }
    use tokio::signal::unix::{signal, SignalKind};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut i), Ok(mut t)) => {
            tokio::select! {
                _ = i.recv() => {}
                _ = t.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}
