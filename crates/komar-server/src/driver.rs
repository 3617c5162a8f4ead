//! One task per connection: read the CONNECT (with a deadline),
//! authenticate, hand it to the broker, serve the established connection
//! ([`Established`]) and flush what is left when it ends. All protocol
//! decisions are the core's [`Connection`]; this file only moves bytes and
//! time.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

use std::future::poll_fn;
use std::sync::Arc;
use std::task::Context;
use std::time::Duration;

use bytes::BytesMut;
use komar_core::{AuthDecision, CloseReason, ConnectOutcome, ConnectRequest, Connection, OutBuf};
use komar_proto::{
    decode_packet, encode, parse_frame_header, ConnAck, Connect, DecodeError, Packet, PacketType,
    ProtocolVersion, ReasonCode,
};
use tokio::time::Instant;
use tracing::Instrument;

use crate::established::{max_packet, Ended, Established};
use crate::io::{ConnRead, ConnWrite};
use crate::listener::{ListenerCtx, Slot};
use crate::park::{Park, Parked, ParkedSocket, QUICK};
use crate::peer::{Authenticate, Peer};
use crate::Shared;

/// How long the final flush of a closing connection may take.
const CLOSE_FLUSH: Duration = Duration::from_secs(2);

/// Why reading the CONNECT failed.
#[derive(Debug)]
enum ConnectError {
    Io,
    Timeout,
    /// The first packet was not a CONNECT [MQTT-3.1.0-1].
    NotConnect,
    Decode(DecodeError),
}

/// Serve one accepted connection until it ends, holding its `slot`.
///
/// Not an `async fn`: the arguments of one stay in its future for its
/// whole life. Here they move into the boxed set-up future, and the
/// future the task keeps while the client is connected holds little more
/// than the [`Established`] connection.
pub(crate) fn serve<R: ConnRead + Park<W>, W: ConnWrite>(
    shared: Arc<Shared>,
    listener: Arc<ListenerCtx>,
    reader: R,
    writer: W,
    peer: Peer,
    slot: Slot,
) -> impl std::future::Future<Output = ()> + Send {
    // A debug-level span for the set-up, where the peer is not yet known
    // by its client id (later log lines name the client id themselves):
    // it costs nothing unless debug logging is on, and the task does not
    // keep it.
    let span = tracing::debug_span!("conn", peer = %peer.addr);
    // Boxed: connection set-up needs room (the CONNECT, authentication)
    // that an established connection's task should not keep paying for.
    // The slot goes in the box too and comes back with the connection:
    // the task then holds it once, in `run`.
    let opening = Box::pin(
        async move { Some((open(shared, listener, reader, writer, peer).await?, slot)) }
            .instrument(span),
    );
    async move {
        let Some((task, slot)) = opening.await else {
            return;
        };
        run(task, slot).await;
    }
}

/// Serve an established connection until it closes (then flush what is
/// left) or goes idle (then park it: the task ends).
///
/// Not an `async fn` (clippy would have one): its arguments would then be
/// kept apart from the borrowed connection, and the future measured 464
/// bytes instead of 232 (see the size test).
#[allow(clippy::manual_async_fn)]
fn run<R: ConnRead + Park<W>, W: ConnWrite>(
    mut task: Established<R, W>,
    mut slot: Slot,
) -> impl std::future::Future<Output = ()> + Send {
    async move {
        let reason = loop {
            match (&mut task).await {
                Ended::Idle => match park(task, slot) {
                    None => return,
                    Some(kept) => (task, slot) = kept,
                },
                Ended::Closed(reason) => break reason,
            }
        };
        let log = task.shared().connection_messages;
        let (conn, writer, out) = std::pin::Pin::new(&mut task).parts();
        if log {
            log_disconnect(conn.client_id(), reason);
        }
        // The session is handed back and the will published now, not
        // after the flush: a client that stopped reading would otherwise
        // hold them up for the whole flush timeout.
        conn.detach();
        // Boxed: only a closing connection needs room for the final flush.
        Box::pin(flush_and_close(writer, out)).await;
    }
}

/// Move an idle connection into the parking lot (see `park`): its
/// session's wakers become the lot entry's, its socket leaves the
/// reactor, and the task ends. Given back if the lot cannot take it.
fn park<R: ConnRead + Park<W>, W: ConnWrite>(
    mut task: Established<R, W>,
    slot: Slot,
) -> Option<(Established<R, W>, Slot)> {
    let Some(entry) = task.shared().lot.reserve(task.socket_fd()) else {
        task.stop_parking();
        return Some((task, slot));
    };
    let (shared, mut conn, reader, writer, quick) = task.into_parked_parts();
    let lot = &shared.lot;
    let waker = crate::park::waker(&entry);
    // Registered before the socket moves: what arrives meanwhile wakes
    // the entry, which resumes the connection as soon as it is in.
    if conn
        .poll_outbox(&mut Context::from_waker(&waker))
        .is_ready()
    {
        waker.wake_by_ref();
    }
    conn.move_keepalive_alarm();
    conn.arm_keepalive(&waker);
    let Some(socket) = reader.park(writer) else {
        tracing::info!(target: "komar::notice", "Client {} closed its connection.", conn.client_id());
        lot.cancel(&entry);
        conn.detach();
        return None;
    };
    let parked = Parked {
        conn,
        socket,
        slot,
        // Truncated: only the difference to the wake time counts.
        at_ms: shared.broker.clock_ms(Instant::now().into_std()) as u32,
        quick,
    };
    if let Err((mut parked, e)) = lot.arrive(&entry, parked) {
        tracing::warn!(client_id = %parked.conn.client_id(), error = %e, "cannot park the connection; closing it");
        parked.conn.detach();
    }
    None
}

/// Serve a connection the parking lot woke, in a new task on `runtime`.
pub(crate) fn resume(parked: Parked, runtime: &tokio::runtime::Handle) {
    let Parked {
        conn,
        socket,
        slot,
        at_ms,
        quick,
    } = parked;
    let shared = slot.shared().clone();
    let now_ms = shared.broker.clock_ms(Instant::now().into_std()) as u32;
    let quick_ms = u32::try_from(QUICK.as_millis()).unwrap_or(u32::MAX);
    let quick = if now_ms.wrapping_sub(at_ms) < quick_ms {
        quick.saturating_add(1)
    } else {
        0
    };
    let input = socket.has_input();
    // Registering with the reactor needs its context.
    let _rt = runtime.enter();
    match socket {
        ParkedSocket::Tcp(s) => respawn(
            tokio::net::TcpStream::from_std(s).map(tokio::net::TcpStream::into_split),
            (shared, conn, slot, quick, input),
            runtime,
        ),
        ParkedSocket::Unix(s) => respawn(
            tokio::net::UnixStream::from_std(s).map(tokio::net::UnixStream::into_split),
            (shared, conn, slot, quick, input),
            runtime,
        ),
    }
}

/// Spawn the task of a resumed connection on its socket's `halves`.
fn respawn<R: ConnRead + Park<W> + 'static, W: ConnWrite + 'static>(
    halves: std::io::Result<(R, W)>,
    (shared, mut conn, slot, quick, input): (Arc<Shared>, Box<Connection>, Slot, u8, bool),
    runtime: &tokio::runtime::Handle,
) {
    match halves {
        Ok((r, w)) => {
            let tasks = shared.tasks.clone();
            let task = Established::resumed(shared, conn, r, w, quick, input);
            tasks.spawn_on(run(task, slot), runtime);
        }
        Err(e) => {
            tracing::warn!(client_id = %conn.client_id(), error = %e, "cannot resume the connection; closing it");
            conn.detach();
        }
    }
}

/// Set the connection up: `None` when it ended (refused, timed out, the
/// server is shutting down), after writing any CONNACK.
async fn open<R: ConnRead, W: ConnWrite>(
    shared: Arc<Shared>,
    listener: Arc<ListenerCtx>,
    mut reader: R,
    mut writer: W,
    peer: Peer,
) -> Option<Established<R, W>> {
    let mut rbuf = BytesMut::new();
    let mut out = OutBuf::new();
    let established = tokio::select! {
        c = establish(
            &shared,
            &listener,
            &mut reader,
            &mut writer,
            &mut rbuf,
            &mut out,
            &peer,
        ) => c,
        _ = shared.shutdown.cancelled() => return None,
    };
    let Some(conn) = established else {
        flush_and_close(&mut writer, &mut out).await;
        return None;
    };
    Some(Established::new(shared, conn, reader, writer, rbuf, out))
}

/// Read the CONNECT within the connect timeout, authenticate and attach.
/// `None` when the connection must close (any CONNACK to send is in `out`).
/// A function of its own so the CONNECT packet never takes room in the
/// connection task's future once the client is connected.
async fn establish<R: ConnRead, W: ConnWrite>(
    shared: &Arc<Shared>,
    listener: &Arc<ListenerCtx>,
    reader: &mut R,
    writer: &mut W,
    rbuf: &mut BytesMut,
    out: &mut OutBuf,
    peer: &Peer,
) -> Option<Box<Connection>> {
    let max = max_packet(shared);
    let connect = tokio::time::timeout(shared.connect_timeout, read_connect(reader, rbuf, max))
        .await
        .unwrap_or(Err(ConnectError::Timeout));
    match connect {
        Ok(c) => {
            let mut io = Handshake {
                reader,
                writer,
                rbuf,
                max,
            };
            accept(shared, listener, c, peer, out, &mut io).await
        }
        Err(ConnectError::Decode(DecodeError::UnsupportedProtocolVersion(level))) => {
            // [MQTT-3.1.2-2] answer an unknown level with CONNACK 0x01.
            tracing::info!(
                "Invalid protocol version {level} in CONNECT from {}.",
                peer.addr
            );
            refuse(
                out,
                ProtocolVersion::V311,
                ReasonCode::UNSUPPORTED_PROTOCOL_VERSION,
            );
            None
        }
        Err(e) => {
            tracing::info!(
                "Closing connection from {} before CONNECT completed: {e:?}.",
                peer.addr
            );
            None
        }
    }
}

/// Mosquitto's wording for why a client went away.
fn log_disconnect(client_id: &str, reason: CloseReason) {
    match reason {
        CloseReason::ClientDisconnect(_) => {
            tracing::info!(target: "komar::notice", "Client {client_id} disconnected.")
        }
        CloseReason::KeepAliveTimeout => {
            tracing::info!(target: "komar::notice", "Client {client_id} has exceeded timeout, disconnecting.")
        }
        CloseReason::TakenOver => {
            tracing::info!(target: "komar::notice", "Client {client_id} already connected, closing old connection.")
        }
        CloseReason::ProtocolError(rc) => {
            tracing::info!(target: "komar::notice", "Client {client_id} disconnected due to protocol error ({rc}).")
        }
        CloseReason::ServerShutdown => {
            tracing::info!(target: "komar::notice", "Client {client_id} disconnected: broker shutting down.")
        }
        CloseReason::Administrative(rc) => {
            tracing::info!(target: "komar::notice", "Client {client_id} disconnected by the broker ({rc}).")
        }
        CloseReason::ConnectionLost => {
            tracing::info!(target: "komar::notice", "Client {client_id} closed its connection.")
        }
    }
}

/// The transport while a connection is being set up: enough to carry an
/// enhanced-authentication exchange before CONNACK.
struct Handshake<'a, R, W> {
    reader: &'a mut R,
    writer: &'a mut W,
    rbuf: &'a mut BytesMut,
    max: usize,
}

impl<R: ConnRead, W: ConnWrite> Handshake<'_, R, W> {
    /// Write all of `out`.
    async fn flush(&mut self, out: &mut OutBuf) -> bool {
        while out.has_ready() {
            match poll_fn(|cx| self.writer.poll_write_out(cx, out)).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => out.advance(n),
            }
        }
        true
    }

    /// The client's next packet, within `limit`.
    async fn next_packet(&mut self, version: ProtocolVersion, limit: Duration) -> Option<Packet> {
        let read = read_packet(
            self.reader,
            self.rbuf,
            self.max,
            version,
            Some(PacketType::Auth),
        );
        match tokio::time::timeout(limit, read).await {
            Ok(Ok(p)) => Some(p),
            _ => None,
        }
    }
}

/// Authenticate and attach; on refusal the CONNACK is left in `out`.
async fn accept<R: ConnRead, W: ConnWrite>(
    shared: &Arc<Shared>,
    listener: &Arc<ListenerCtx>,
    mut connect: Connect,
    peer: &Peer,
    out: &mut OutBuf,
    io: &mut Handshake<'_, R, W>,
) -> Option<Box<Connection>> {
    let version = connect.protocol;
    // The transport may name the user (client certificate, PROXY header).
    let check = match peer.login.apply(&mut connect) {
        Ok(check) => check,
        Err(code) => {
            tracing::info!(target: "komar::notice", "Client {} from {} refused: no usable client certificate name.", connect.client_id, peer.addr);
            refuse(out, version, code);
            return None;
        }
    };
    let peer = &*peer.addr;
    let username: Option<Arc<str>> = connect.username.as_deref().map(Arc::from);
    // MQTT 5 enhanced authentication (a method in CONNECT) replaces the
    // user name / password check; the core runs the exchange.
    let enhanced = version.is_v5() && connect.properties.authentication_method.is_some();
    let decision = match check {
        Authenticate::Yes if !enhanced => authenticate(shared, listener.index, &connect).await,
        _ => AuthDecision::Allow,
    };
    if let AuthDecision::Deny(code) = decision {
        let id = if connect.client_id.is_empty() {
            "<unknown>"
        } else {
            &connect.client_id
        };
        tracing::info!(target: "komar::notice", "Client {id} from {peer} disconnected, not authorised ({code}).");
        refuse(out, version, code);
        return None;
    }
    let (keep_alive, clean) = (connect.keep_alive, connect.clean_start);
    let req = ConnectRequest {
        connect,
        username,
        listener: listener.settings.clone(),
        listener_index: listener.index,
    };
    let mut outcome = shared.broker.connect(req, Instant::now().into_std());
    loop {
        match outcome {
            ConnectOutcome::Accepted(conn, connack) => {
                if shared.connection_messages {
                    tracing::info!(
                        target: "komar::notice",
                        "New client connected from {} as {} (p{}, c{}, k{}).",
                        peer,
                        conn.client_id(),
                        version.level(),
                        u8::from(clean),
                        keep_alive
                    );
                }
                let _ = out.write_with(|b| encode(&Packet::ConnAck(Box::new(connack)), version, b));
                return Some(conn);
            }
            ConnectOutcome::Refused(connack) => {
                tracing::info!(%peer, reason = ?connack.reason_code, "client refused");
                let _ = out.write_with(|b| encode(&Packet::ConnAck(Box::new(connack)), version, b));
                return None;
            }
            ConnectOutcome::Auth(pending, auth) => {
                // Enhanced authentication (§4.12): AUTH out, the client's
                // AUTH back, until the core accepts or refuses.
                let _ = out.write_with(|b| encode(&Packet::Auth(auth), version, b));
                if !io.flush(out).await {
                    return None;
                }
                let packet = io.next_packet(version, shared.connect_timeout).await?;
                outcome = pending.resume(&shared.broker, packet, Instant::now().into_std());
            }
        }
    }
}

fn refuse(out: &mut OutBuf, version: ProtocolVersion, code: ReasonCode) {
    let connack = ConnAck {
        session_present: false,
        reason_code: code,
        properties: Default::default(),
    };
    let _ = out.write_with(|b| encode(&Packet::ConnAck(Box::new(connack)), version, b));
}

/// Ask the authenticator; password hashing (PBKDF2, argon2) runs on a
/// blocking-work thread so it never stalls other connections.
async fn authenticate(shared: &Arc<Shared>, listener: usize, c: &Connect) -> AuthDecision {
    let auth = shared.authenticator.clone();
    if c.username.is_none() || !auth.is_slow() {
        return auth.authenticate(
            listener,
            &c.client_id,
            c.username.as_deref(),
            c.password.as_deref(),
        );
    }
    let (id, user, pass) = (c.client_id.clone(), c.username.clone(), c.password.clone());
    tokio::task::spawn_blocking(move || {
        auth.authenticate(listener, &id, user.as_deref(), pass.as_deref())
    })
    .await
    .unwrap_or(AuthDecision::Deny(ReasonCode::SERVER_UNAVAILABLE))
}

async fn read_connect<R: ConnRead>(
    reader: &mut R,
    rbuf: &mut BytesMut,
    max: usize,
) -> Result<Connect, ConnectError> {
    // [MQTT-3.1.0-1] the first packet must be CONNECT; the version given to
    // the decoder does not matter for it.
    match read_packet(
        reader,
        rbuf,
        max,
        ProtocolVersion::V311,
        Some(PacketType::Connect),
    )
    .await?
    {
        Packet::Connect(c) => Ok(*c),
        _ => Err(ConnectError::NotConnect),
    }
}

/// Read one whole packet during connection set-up; with `only`, a packet
/// of another type is refused from its header, before its body is read.
async fn read_packet<R: ConnRead>(
    reader: &mut R,
    rbuf: &mut BytesMut,
    max: usize,
    version: ProtocolVersion,
    only: Option<PacketType>,
) -> Result<Packet, ConnectError> {
    loop {
        let mut hint = 0;
        match parse_frame_header(rbuf, max) {
            Err(e) => return Err(ConnectError::Decode(e)),
            Ok(Some(h)) if only.is_some_and(|t| t != h.packet_type) => {
                return Err(ConnectError::NotConnect)
            }
            Ok(Some(h)) if rbuf.len() >= h.total_len() => {
                let mut frame = rbuf.split_to(h.total_len()).freeze();
                let body = frame.split_off(h.header_len);
                return decode_packet(&h, body, version).map_err(ConnectError::Decode);
            }
            Ok(Some(h)) => hint = h.total_len() - rbuf.len(),
            Ok(None) => {}
        }
        match poll_fn(|cx| reader.poll_read_buf(cx, rbuf, hint)).await {
            Ok(0) | Err(_) => return Err(ConnectError::Io),
            Ok(_) => {}
        }
    }
}

/// Write what is left in `out` (a CONNACK, a DISCONNECT, final acks, and
/// answers the store releases meanwhile) within [`CLOSE_FLUSH`], then
/// close the sending side.
async fn flush_and_close<W: ConnWrite>(writer: &mut W, out: &mut OutBuf) {
    let flush = async {
        loop {
            if out.has_ready() {
                match poll_fn(|cx| writer.poll_write_out(cx, out)).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => out.advance(n),
                }
            } else if out.holding() == 0 || poll_fn(|cx| out.poll_release(cx)).await.is_err() {
                break;
            }
        }
        let _ = writer.shutdown().await;
    };
    let _ = tokio::time::timeout(CLOSE_FLUSH, flush).await;
}

#[cfg(test)]
mod size_tests {
    use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

    use super::*;

    /// The task of every connection is as large as this future, idle or
    /// not: keep it small. Measured in release: 1,000 bytes with `async` +
    /// `select!`, 336 as a hand-written future, 232 once the keep-alive
    /// timer moved to the broker clock (`komar_core::Connection::
    /// arm_keepalive`), 248 with the connection slot in it. Tokio task
    /// cells are 128-byte aligned: at 336 the task took 512 bytes, at 248
    /// it takes 384, and above about 256 it would take 512 again. Debug
    /// builds lay futures out less tightly. (Idle connections park
    /// without a task at all, see `park`; this is what a busy one costs.)
    #[test]
    fn connection_task_stays_small() {
        fn size_of_ret<F, Fut>(_: F) -> usize
        where
            F: Fn(Arc<Shared>, Arc<ListenerCtx>, OwnedReadHalf, OwnedWriteHalf, Peer, Slot) -> Fut,
        {
            std::mem::size_of::<Fut>()
        }
        fn size_of_run<F, Fut>(_: F) -> usize
        where
            F: Fn(Established<OwnedReadHalf, OwnedWriteHalf>, Slot) -> Fut,
        {
            std::mem::size_of::<Fut>()
        }
        let limit = if cfg!(debug_assertions) { 1024 } else { 256 };
        for (what, size) in [
            (
                "accepted",
                size_of_ret(serve::<OwnedReadHalf, OwnedWriteHalf>),
            ),
            ("resumed", size_of_run(run::<OwnedReadHalf, OwnedWriteHalf>)),
        ] {
            eprintln!("{what} connection future: {size} bytes");
            assert!(
                size <= limit,
                "{what} connection future is {size} bytes (limit {limit})"
            );
        }
        // Every connected client's `Connection`, parked or not: 192 bytes
        // (`LocalStats` 32-bit, limits as u16/u32, the congested list and
        // the alias table out of line), a 208-byte malloc chunk (glibc:
        // size + 8, rounded up to 16); at most 200 stays in it.
        let conn = std::mem::size_of::<komar_core::Connection>();
        assert!(conn <= 200, "Connection is {conn} bytes");
    }
}
