//! The main loop of an accepted connection, as one hand-written future:
//! bytes from the client, room to write, answers released by the store,
//! messages in the outbox, room in a congested recipient's queue, the
//! stall deadline and the keep-alive alarm, polled in that order. With
//! none of them pending and nothing buffered either way, it ends as
//! [`Ended::Idle`] so the connection can wait parked (`park`). All
//! protocol decisions are the core's [`Connection`]; this file only moves
//! bytes and time.
//!
//! Why not `async fn` + `select!`: a connection task is as large as its
//! future for as long as the client stays connected, idle or not. The
//! generator of an `async` loop keeps every branch future of the `select!`
//! and every local in its own slot (about 1,000 bytes measured); this
//! struct holds exactly the connection's state (see the size test in
//! `driver.rs`). Shutdown is seen through [`Shared::stopping`], checked on
//! every poll, and the server wakes every attached connection when it sets
//! it, so no per-connection cancellation future is needed either.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::BytesMut;
use komar_core::session::Session;
use komar_core::{
    poll_room, CloseReason, Closed, Connection, OutBuf, MAX_WAITING, OUTPUT_HIGH_WATER,
};
use komar_proto::{decode_packet, parse_frame_header, ReasonCode};
use tokio::time::{Instant, Sleep};

use crate::io::{ConnRead, ConnWrite};
use crate::park::{Park, QUICK_LIMIT};
use crate::Shared;

pin_project_lite::pin_project! {
    /// An accepted connection being served. Resolves to why it ended; the
    /// caller then flushes what is left through [`Established::parts`].
    pub(crate) struct Established<R, W> {
        shared: Arc<Shared>,
        conn: Box<Connection>,
        reader: R,
        writer: W,
        rbuf: BytesMut,
        out: OutBuf,
        // Recipients whose queues were full when this client published:
        // reading pauses until they have room (back-pressure).
        congested: Vec<Arc<Session>>,
        // Reading is paused for them until this deadline (boxed: only a
        // paused connection pays for a timer; the keep-alive deadline is
        // the broker clock's, see `komar_core::Connection::arm_keepalive`).
        stall: Option<Pin<Box<Sleep>>>,
        // Bytes still needed for the packet at the front of `rbuf`.
        hint: u32,
        // Quick wakes from the parking lot in a row (see `park`).
        quick: u8,
        // Resumed with input waiting that the reactor has not reported
        // yet: not idle until a read returns.
        input: bool,
    }
}

/// How an established connection's future ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ended {
    /// The connection closed, for this reason.
    Closed(CloseReason),
    /// Idle: it may wait in the parking lot without a task.
    Idle,
}

impl<R: ConnRead, W: ConnWrite> Established<R, W> {
    /// Start serving `conn`; bytes the client sent after its CONNECT may
    /// already be in `rbuf` and are handled now (if they close the
    /// connection, the first poll returns at once).
    pub(crate) fn new(
        shared: Arc<Shared>,
        mut conn: Box<Connection>,
        reader: R,
        writer: W,
        mut rbuf: BytesMut,
        mut out: OutBuf,
    ) -> Self {
        let mut congested = Vec::new();
        let mut hint = 0;
        if !rbuf.is_empty() {
            let max = max_packet(&shared);
            // A close is seen by the first poll (the connection's close
            // reason is set; `poll_transmit` refuses to go on).
            if let Ok(h) = process_input(&mut rbuf, &mut conn, &mut out, max, now()) {
                hint = h;
            }
            conn.take_congested(&mut congested);
        }
        Established {
            shared,
            conn,
            reader,
            writer,
            rbuf,
            out,
            congested,
            stall: None,
            hint: u32::try_from(hint).unwrap_or(u32::MAX),
            quick: 0,
            input: false,
        }
    }

    /// Serve a connection coming back from the parking lot, after `quick`
    /// quick wakes in a row, with `input` waiting on its socket or not.
    pub(crate) fn resumed(
        shared: Arc<Shared>,
        mut conn: Box<Connection>,
        reader: R,
        writer: W,
        quick: u8,
        input: bool,
    ) -> Self {
        // The alarm still names the lot entry's waker: the first poll
        // hands it to this task's.
        conn.move_keepalive_alarm();
        let mut e = Established::new(shared, conn, reader, writer, BytesMut::new(), OutBuf::new());
        e.quick = quick;
        e.input = input;
        e
    }

    /// Stay in this task until the keep-alive alarm finds it idle (as
    /// after quick wakes).
    pub(crate) fn stop_parking(&mut self) {
        self.quick = QUICK_LIMIT;
    }

    /// The server state it runs in.
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The socket's descriptor, for parking.
    pub(crate) fn socket_fd(&self) -> std::os::fd::RawFd
    where
        R: Park<W>,
    {
        self.reader.socket_fd()
    }

    /// What an idle connection is made of, to park it.
    pub(crate) fn into_parked_parts(self) -> (Arc<Shared>, Box<Connection>, R, W, u8) {
        (self.shared, self.conn, self.reader, self.writer, self.quick)
    }

    /// The connection, its writer and its output, for the final flush.
    pub(crate) fn parts(self: Pin<&mut Self>) -> (&mut Connection, &mut W, &mut OutBuf) {
        let this = self.project();
        (this.conn, this.writer, this.out)
    }
}

fn now() -> std::time::Instant {
    Instant::now().into_std()
}

pub(crate) fn max_packet(shared: &Shared) -> usize {
    match shared.broker.config().max_packet_size {
        0 => komar_proto::MAX_REMAINING_LENGTH + 5,
        n => n,
    }
}

fn ended(conn: &Connection) -> Poll<Ended> {
    Poll::Ready(Ended::Closed(
        conn.close_reason().unwrap_or(CloseReason::ConnectionLost),
    ))
}

impl<R: ConnRead + Park<W>, W: ConnWrite> Future for Established<R, W> {
    type Output = Ended;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Ended> {
        let this = self.project();
        let conn = &mut **this.conn;
        let out = &mut *this.out;
        // Each pass handles one event and starts over, so the conditions
        // below always see the state that event left.
        loop {
            if conn.close_reason().is_some() {
                return ended(conn);
            }
            if this.shared.stopping.load(Ordering::Acquire) {
                conn.close(CloseReason::ServerShutdown, out);
                return ended(conn);
            }
            let now = Instant::now();
            if out.len() < OUTPUT_HIGH_WATER && conn.poll_transmit(out, now.into_std()).is_err() {
                return ended(conn);
            }
            if !this.congested.is_empty() && this.stall.is_none() {
                let stall = this.shared.broker.config().stall_timeout;
                *this.stall = Some(Box::pin(tokio::time::sleep_until(now + stall)));
            }
            if out.release_completed().is_err() {
                // What the client was about to be told cannot be stored:
                // close without telling it (it will send again).
                tracing::error!(client_id = %conn.client_id(), "storage failed: closing the connection");
                conn.close(
                    CloseReason::Administrative(ReasonCode::UNSPECIFIED_ERROR),
                    out,
                );
                return ended(conn);
            }
            // Stop reading while recipients are full (back-pressure) or too
            // many answers wait for the store (its speed bounds this client).
            let reading = this.congested.is_empty() && out.holding() < MAX_WAITING;

            if out.has_ready() || this.writer.wants_write() {
                if let Poll::Ready(r) = this.writer.poll_write_out(cx, out) {
                    let Ok(n) = r else { return ended(conn) };
                    out.advance(n);
                    conn.count_bytes_sent(n);
                    if !out.has_ready() {
                        out.release_if_empty();
                    }
                    continue;
                }
            }
            if reading {
                let hint = *this.hint as usize;
                if let Poll::Ready(r) = this.reader.poll_read_buf(cx, this.rbuf, hint) {
                    let n = match r {
                        Ok(0) | Err(_) => return ended(conn),
                        Ok(n) => n,
                    };
                    *this.input = false;
                    conn.count_bytes_received(n);
                    let max = max_packet(this.shared);
                    match process_input(this.rbuf, conn, out, max, now.into_std()) {
                        Ok(h) => *this.hint = u32::try_from(h).unwrap_or(u32::MAX),
                        Err(Closed) => return ended(conn),
                    }
                    if this.rbuf.is_empty() {
                        // Idle connections hold no read buffer.
                        *this.rbuf = BytesMut::new();
                    }
                    conn.take_congested(this.congested);
                    continue;
                }
            }
            // Answers waiting for the store: released at the top.
            if out.first_hold().is_some_and(|d| d.poll(cx).is_ready()) {
                continue;
            }
            if out.len() < OUTPUT_HIGH_WATER && conn.poll_outbox(cx).is_ready() {
                continue;
            }
            if !reading && poll_room(this.congested, cx).is_ready() {
                *this.stall = None;
                continue;
            }
            if let Some(stall) = this.stall.as_mut() {
                // While paused the client's silence is ours: no keep-alive.
                if stall.as_mut().poll(cx).is_ready() {
                    // The recipients stayed full until the stall deadline:
                    // stop holding this publisher back; their queue limit
                    // applies now.
                    this.congested.clear();
                    *this.stall = None;
                    continue;
                }
            } else if conn.keepalive_alarm_due(now.into_std()) {
                if conn.handle_timeout(out, now.into_std()).is_err() {
                    return ended(conn);
                }
                // A connection that stopped parking (it kept coming back
                // quickly) may park again once its alarm finds it idle.
                *this.quick = 0;
                continue;
            }
            let idle = !*this.input
                && this.rbuf.is_empty()
                && *this.hint == 0
                && out.is_empty()
                && this.congested.is_empty()
                && this.stall.is_none()
                && !this.writer.wants_write();
            if R::PARKS && idle && *this.quick < QUICK_LIMIT && this.shared.lot.is_open() {
                return Poll::Ready(Ended::Idle);
            }
            conn.arm_keepalive(cx.waker());
            return Poll::Pending;
        }
    }
}

/// Decode and handle every complete packet in `rbuf`. Returns the bytes
/// still needed for the packet at the front (a read-size hint).
pub(crate) fn process_input(
    rbuf: &mut BytesMut,
    conn: &mut Connection,
    out: &mut OutBuf,
    max: usize,
    now: std::time::Instant,
) -> Result<usize, Closed> {
    loop {
        match parse_frame_header(rbuf, max) {
            Ok(None) => return Ok(0),
            Ok(Some(h)) if rbuf.len() < h.total_len() => return Ok(h.total_len() - rbuf.len()),
            Ok(Some(h)) => {
                let mut frame = rbuf.split_to(h.total_len()).freeze();
                let body = frame.split_off(h.header_len);
                match decode_packet(&h, body, conn.version()) {
                    Ok(p) => conn.handle_packet(p, out, now)?,
                    Err(e) => {
                        tracing::info!(client_id = %conn.client_id(), error = %e, "malformed packet");
                        return Err(conn.handle_decode_error(&e, out));
                    }
                }
            }
            Err(e) => {
                tracing::info!(client_id = %conn.client_id(), error = %e, "malformed packet");
                return Err(conn.handle_decode_error(&e, out));
            }
        }
    }
}
