//! MQTT over WebSockets after the upgrade ([`crate::http`] does the
//! handshake): RFC 6455 framing on top of any connection halves (plain TCP
//! or TLS). The read half unmasks the client's binary frames straight into
//! the connection's read buffer — MQTT packets may be split across frames
//! and frames may hold several packets, it is one byte stream — and answers
//! pings and closes through a small state it shares with the write half.
//! The write half sends what the connection task writes as binary frames.
//!
//! Written for Komar rather than taken from a WebSocket crate so that an
//! idle connection holds no buffer (the read side keeps nothing between
//! frames; tungstenite keeps a 128 KiB read buffer per connection) and the
//! data path copies each byte once; docs/ARCHITECTURE.md has the
//! measurements.
//!
//! Rules enforced ([RFC 6455] §5): client frames are masked; no extension
//! bits; text frames are refused ([MQTT-6.0.0-1]: MQTT goes in binary
//! frames); control frames are unfragmented and at most 125 bytes;
//! continuation frames follow a fragmented binary frame.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

use std::io::{self, IoSlice};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use komar_core::OutBuf;
use parking_lot::Mutex;

use crate::io::{ConnRead, ConnWrite};

/// Largest payload of one frame the server sends.
const MAX_OUT_FRAME: usize = 64 * 1024;
/// Slices looked at when copying a frame's payload.
const MAX_SLICES: usize = 32;

const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// Close status codes (RFC 6455 §7.4.1).
const CLOSE_NORMAL: u16 = 1000;
const CLOSE_PROTOCOL_ERROR: u16 = 1002;
const CLOSE_UNSUPPORTED_DATA: u16 = 1003;

/// What the read half asks the write half to send.
#[derive(Debug, Default)]
struct Control {
    /// Payload of the pong owed for the last ping (only the last one needs
    /// an answer, RFC 6455 §5.5.3).
    pong: Option<Bytes>,
    /// Status of the close frame to send (echoing the client's, or saying
    /// why the server closes).
    close: Option<u16>,
    /// A close frame has been sent: nothing may follow it.
    close_sent: bool,
}

/// The data frame being read: payload bytes left and its mask.
#[derive(Debug, Default)]
struct DataFrame {
    remaining: u64,
    mask: [u8; 4],
    /// Position in the mask of the next payload byte.
    phase: usize,
}

/// Split connection halves into WebSocket halves; `pending` holds bytes
/// the client sent right after its upgrade request.
pub(crate) fn split<R: ConnRead, W: ConnWrite>(
    reader: R,
    writer: W,
    pending: BytesMut,
) -> (WsRead<R>, WsWrite<W>) {
    let control = Arc::new(Mutex::new(Control::default()));
    (
        WsRead {
            inner: reader,
            raw: pending,
            frame: DataFrame::default(),
            fragmented: false,
            closed: false,
            control: control.clone(),
        },
        WsWrite {
            inner: writer,
            staging: OutBuf::new(),
            control,
        },
    )
}

/// The read half of a WebSocket connection.
pub struct WsRead<R> {
    inner: R,
    /// Bytes from the transport not decoded yet (empty and released
    /// between frames).
    raw: BytesMut,
    frame: DataFrame,
    /// A binary frame without FIN was seen: continuations may follow.
    fragmented: bool,
    /// A close frame arrived, or the stream was refused: end of stream.
    closed: bool,
    control: Arc<Mutex<Control>>,
}

/// XOR `data` with `mask` starting at mask position `phase`.
fn unmask(data: &mut [u8], mask: [u8; 4], phase: usize) {
    let rotated = u32::from_be_bytes(mask)
        .rotate_left(8 * (phase % 4) as u32)
        .to_be_bytes();
    let [r0, r1, r2, r3] = rotated;
    let wide = u64::from_ne_bytes([r0, r1, r2, r3, r0, r1, r2, r3]);
    let mut chunks = data.chunks_exact_mut(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        c.copy_from_slice(&(u64::from_ne_bytes(w) ^ wide).to_ne_bytes());
    }
    for (b, m) in chunks
        .into_remainder()
        .iter_mut()
        .zip(rotated.iter().cycle())
    {
        *b ^= m;
    }
}

/// A frame header: FIN, opcode, payload length, mask, header length.
struct Header {
    fin: bool,
    opcode: u8,
    len: u64,
    mask: [u8; 4],
    header_len: usize,
}

/// Why a frame cannot be accepted: the close status to send.
#[derive(Debug)]
struct Refused(u16);

/// Parse the frame header at the front of `raw` (`Ok(None)`: incomplete).
fn parse_header(raw: &[u8]) -> Result<Option<Header>, Refused> {
    let (Some(&b0), Some(&b1)) = (raw.first(), raw.get(1)) else {
        return Ok(None);
    };
    if b0 & 0x70 != 0 {
        return Err(Refused(CLOSE_PROTOCOL_ERROR)); // no extension was agreed
    }
    if b1 & 0x80 == 0 {
        return Err(Refused(CLOSE_PROTOCOL_ERROR)); // client frames are masked
    }
    let (len, at) = match b1 & 0x7F {
        126 => match raw.get(2..4) {
            Some(&[a, b]) => (u64::from(u16::from_be_bytes([a, b])), 4),
            _ => return Ok(None),
        },
        127 => match raw.get(2..10).and_then(|l| <[u8; 8]>::try_from(l).ok()) {
            Some(l) => (u64::from_be_bytes(l), 10),
            None => return Ok(None),
        },
        n => (u64::from(n), 2),
    };
    if len >> 63 != 0 {
        return Err(Refused(CLOSE_PROTOCOL_ERROR));
    }
    let Some(mask) = raw
        .get(at..at + 4)
        .and_then(|m| <[u8; 4]>::try_from(m).ok())
    else {
        return Ok(None);
    };
    Ok(Some(Header {
        fin: b0 & 0x80 != 0,
        opcode: b0 & 0x0F,
        len,
        mask,
        header_len: at + 4,
    }))
}

impl<R> WsRead<R> {
    /// Move payload from `raw` into `buf` and act on control frames.
    /// Returns the bytes taken from `raw`.
    fn decode(&mut self, buf: &mut BytesMut) -> Result<usize, Refused> {
        let mut taken = 0;
        loop {
            if self.frame.remaining > 0 {
                let take = usize::try_from(self.frame.remaining)
                    .unwrap_or(usize::MAX)
                    .min(self.raw.len());
                if take == 0 {
                    return Ok(taken);
                }
                let start = buf.len();
                buf.extend_from_slice(self.raw.get(..take).unwrap_or_default());
                self.raw.advance(take);
                if let Some(new) = buf.get_mut(start..) {
                    unmask(new, self.frame.mask, self.frame.phase);
                }
                self.frame.remaining -= take as u64;
                self.frame.phase = (self.frame.phase + take) % 4;
                taken += take;
                continue;
            }
            if self.closed {
                return Ok(taken);
            }
            let Some(h) = parse_header(&self.raw)? else {
                return Ok(taken);
            };
            match h.opcode {
                OP_BINARY | OP_CONTINUATION => {
                    if (h.opcode == OP_BINARY) == self.fragmented {
                        // A continuation with nothing to continue, or a new
                        // message inside a fragmented one.
                        return Err(Refused(CLOSE_PROTOCOL_ERROR));
                    }
                    self.fragmented = !h.fin;
                    self.raw.advance(h.header_len);
                    taken += h.header_len;
                    self.frame = DataFrame {
                        remaining: h.len,
                        mask: h.mask,
                        phase: 0,
                    };
                }
                OP_TEXT => return Err(Refused(CLOSE_UNSUPPORTED_DATA)),
                OP_CLOSE | OP_PING | OP_PONG => {
                    if !h.fin || h.len > 125 {
                        return Err(Refused(CLOSE_PROTOCOL_ERROR));
                    }
                    let total = h.header_len + h.len as usize;
                    if self.raw.len() < total {
                        return Ok(taken);
                    }
                    let mut payload = self.raw.split_to(total).split_off(h.header_len);
                    unmask(&mut payload, h.mask, 0);
                    taken += total;
                    let mut control = self.control.lock();
                    match h.opcode {
                        OP_PING => control.pong = Some(payload.freeze()),
                        OP_CLOSE => {
                            // Echo the client's status (RFC 6455 §5.5.1).
                            let status = match payload.get(..2) {
                                Some(&[a, b]) => u16::from_be_bytes([a, b]),
                                _ => CLOSE_NORMAL,
                            };
                            control.close.get_or_insert(status);
                            self.closed = true;
                        }
                        _ => {} // unsolicited pong: ignored
                    }
                }
                _ => return Err(Refused(CLOSE_PROTOCOL_ERROR)),
            }
        }
    }
}

/// WebSocket framing state lives in the task: these connections do not
/// park.
impl<R: ConnRead, W: ConnWrite> crate::park::Park<WsWrite<W>> for WsRead<R> {}

impl<R: ConnRead> ConnRead for WsRead<R> {
    /// `Ready(Ok(n))` with the transport bytes consumed — a ping consumes
    /// bytes and appends nothing, so the connection task comes round and
    /// sends the pong; `Ready(Ok(0))` once the client closed.
    fn poll_read_buf(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
        hint: usize,
    ) -> Poll<io::Result<usize>> {
        loop {
            let taken = match self.decode(buf) {
                Ok(n) => n,
                Err(Refused(status)) => {
                    self.control.lock().close.get_or_insert(status);
                    self.closed = true;
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("WebSocket protocol error (close status {status})"),
                    )));
                }
            };
            if self.raw.is_empty() {
                // Idle connections keep no buffer.
                self.raw = BytesMut::new();
            }
            if taken > 0 {
                return Poll::Ready(Ok(taken));
            }
            if self.closed {
                return Poll::Ready(Ok(0));
            }
            let want = hint.saturating_add(14);
            match ready!(self.inner.poll_read_buf(cx, &mut self.raw, want))? {
                0 => return Poll::Ready(Ok(0)),
                _ => continue,
            }
        }
    }
}

/// The write half of a WebSocket connection.
pub struct WsWrite<W> {
    inner: W,
    /// Frames built and not yet taken by the transport (at most one data
    /// frame and a control frame).
    staging: OutBuf,
    control: Arc<Mutex<Control>>,
}

/// Append a server frame header (unmasked) for `len` payload bytes.
fn put_header(b: &mut BytesMut, opcode: u8, len: usize) {
    b.put_u8(0x80 | opcode);
    if len < 126 {
        b.put_u8(len as u8);
    } else if let Ok(l) = u16::try_from(len) {
        b.put_u8(126);
        b.put_u16(l);
    } else {
        b.put_u8(127);
        b.put_u64(len as u64);
    }
}

impl<W: ConnWrite> WsWrite<W> {
    /// Hand the staged frames to the transport until it takes them all.
    fn poll_flush_staging(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.staging.is_empty() || self.inner.wants_write() {
            let n = ready!(self.inner.poll_write_out(cx, &self.staging))?;
            if n == 0 && !self.staging.is_empty() {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.staging.advance(n);
        }
        self.staging.release_if_empty();
        Poll::Ready(Ok(()))
    }

    /// Stage the control frame the read half asked for, if any. Returns
    /// whether one was staged.
    fn stage_control(&mut self) -> bool {
        let mut control = self.control.lock();
        if control.close_sent {
            return false;
        }
        // A pong owed for a ping read before the close goes first.
        if let Some(p) = control.pong.take() {
            self.staging.write_with(|b| {
                put_header(b, OP_PONG, p.len());
                b.extend_from_slice(&p);
            });
            return true;
        }
        if let Some(status) = control.close.take() {
            control.close_sent = true;
            self.staging.write_with(|b| {
                put_header(b, OP_CLOSE, 2);
                b.put_u16(status);
            });
            return true;
        }
        false
    }
}

impl<W: ConnWrite> ConnWrite for WsWrite<W> {
    fn poll_write_out(&mut self, cx: &mut Context<'_>, out: &OutBuf) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.poll_flush_staging(cx))?;
            if !self.stage_control() {
                break;
            }
        }
        if !out.has_ready() {
            return Poll::Ready(Ok(0));
        }
        if self.control.lock().close_sent {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let n = out.ready_len().min(MAX_OUT_FRAME);
        let mut slices = [IoSlice::new(&[]); MAX_SLICES];
        let k = out.io_slices(&mut slices);
        let copied: usize = {
            let mut left = n;
            let mut total = 0;
            for s in slices.iter().take(k) {
                let part = s.len().min(left);
                total += part;
                left -= part;
            }
            total
        };
        self.staging.write_with(|b| {
            b.reserve(copied + 10);
            put_header(b, OP_BINARY, copied);
            let mut left = copied;
            for s in slices.iter().take(k) {
                let part = s.get(..left.min(s.len())).unwrap_or_default();
                b.extend_from_slice(part);
                left -= part.len();
            }
        });
        // Start sending now; the rest goes while `wants_write` says so.
        if let Poll::Ready(Err(e)) = self.poll_flush_staging(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(copied))
    }

    fn wants_write(&self) -> bool {
        if !self.staging.is_empty() || self.inner.wants_write() {
            return true;
        }
        let c = self.control.lock();
        !c.close_sent && (c.pong.is_some() || c.close.is_some())
    }

    async fn shutdown(&mut self) -> io::Result<()> {
        {
            let mut c = self.control.lock();
            if !c.close_sent {
                c.close.get_or_insert(CLOSE_NORMAL);
            }
        }
        std::future::poll_fn(|cx| loop {
            ready!(self.poll_flush_staging(cx))?;
            if !self.stage_control() {
                return Poll::Ready(Ok::<(), io::Error>(()));
            }
        })
        .await?;
        self.inner.shutdown().await
    }
}

/// Client-side framing, for tests: a masked frame.
#[cfg(test)]
pub(crate) fn client_frame(fin: bool, opcode: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut b = BytesMut::new();
    put_header(&mut b, opcode, payload.len());
    if let Some(first) = b.first_mut() {
        if !fin {
            *first &= 0x7F;
        }
    }
    if let Some(second) = b.get_mut(1) {
        *second |= 0x80;
    }
    b.extend_from_slice(&mask);
    let mut p = payload.to_vec();
    unmask(&mut p, mask, 0);
    b.extend_from_slice(&p);
    b.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader over fixed chunks, one per poll.
    struct Chunks(Vec<Vec<u8>>);

    impl ConnRead for Chunks {
        fn poll_read_buf(
            &mut self,
            _cx: &mut Context<'_>,
            buf: &mut BytesMut,
            _hint: usize,
        ) -> Poll<io::Result<usize>> {
            if self.0.is_empty() {
                return Poll::Ready(Ok(0));
            }
            let c = self.0.remove(0);
            buf.extend_from_slice(&c);
            Poll::Ready(Ok(c.len()))
        }
    }

    #[derive(Default)]
    struct Sink(Vec<u8>);

    impl ConnWrite for Sink {
        fn poll_write_out(
            &mut self,
            _cx: &mut Context<'_>,
            out: &OutBuf,
        ) -> Poll<io::Result<usize>> {
            let mut slices = [IoSlice::new(&[]); 32];
            let k = out.io_slices(&mut slices);
            let mut n = 0;
            for s in &slices[..k] {
                self.0.extend_from_slice(s);
                n += s.len();
            }
            Poll::Ready(Ok(n))
        }
        async fn shutdown(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn read_all<R: ConnRead>(r: &mut WsRead<R>) -> (Vec<u8>, io::Result<()>) {
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut buf = BytesMut::new();
        loop {
            match r.poll_read_buf(&mut cx, &mut buf, 0) {
                Poll::Ready(Ok(0)) => return (buf.to_vec(), Ok(())),
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => return (buf.to_vec(), Err(e)),
                Poll::Pending => unreachable!(),
            }
        }
    }

    const M: [u8; 4] = [0x12, 0x34, 0x56, 0x78];

    #[test]
    fn frames_become_one_byte_stream() {
        let packet = b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00";
        // One packet across three frames (fragmented message), split
        // across reads at awkward places, then two packets in one frame.
        let mut wire = client_frame(false, OP_BINARY, &packet[..3], M);
        wire.extend(client_frame(false, OP_CONTINUATION, &packet[3..9], M));
        wire.extend(client_frame(true, OP_CONTINUATION, &packet[9..], M));
        let two = [&packet[..], &packet[..]].concat();
        wire.extend(client_frame(true, OP_BINARY, &two, M));
        let chunks: Vec<Vec<u8>> = wire.chunks(5).map(<[u8]>::to_vec).collect();
        let (mut r, _w) = split(Chunks(chunks), Sink::default(), BytesMut::new());
        let (data, res) = read_all(&mut r);
        assert!(res.is_ok());
        assert_eq!(data, [&packet[..], &packet[..], &packet[..]].concat());
    }

    #[test]
    fn large_frames_use_long_lengths() {
        let payload: Vec<u8> = (0..70_000u32).map(|i| i as u8).collect();
        let wire = client_frame(true, OP_BINARY, &payload, M);
        assert_eq!(wire[1] & 0x7F, 127);
        let chunks: Vec<Vec<u8>> = wire.chunks(4096).map(<[u8]>::to_vec).collect();
        let (mut r, _w) = split(Chunks(chunks), Sink::default(), BytesMut::new());
        assert_eq!(read_all(&mut r).0, payload);
    }

    #[test]
    fn ping_gets_a_pong_and_close_is_echoed() {
        let mut wire = client_frame(true, OP_PING, b"hi", M);
        wire.extend(client_frame(true, OP_BINARY, b"ab", M));
        let mut close = vec![];
        close.extend_from_slice(&1001u16.to_be_bytes());
        wire.extend(client_frame(true, OP_CLOSE, &close, M));
        wire.extend(client_frame(true, OP_BINARY, b"late", M));
        let (mut r, mut w) = split(Chunks(vec![wire]), Sink::default(), BytesMut::new());
        assert_eq!(read_all(&mut r).0, b"ab");
        assert!(w.wants_write());
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let empty = OutBuf::new();
        assert!(matches!(
            w.poll_write_out(&mut cx, &empty),
            Poll::Ready(Ok(0))
        ));
        // Pong with the ping's payload, then the close echo.
        assert_eq!(w.inner.0, [0x8A, 2, b'h', b'i', 0x88, 2, 0x03, 0xE9]);
        assert!(!w.wants_write());
    }

    #[test]
    fn protocol_errors_close_the_connection() {
        let unmasked = vec![0x82, 0x01, 0x00];
        let text = client_frame(true, OP_TEXT, b"x", M);
        let lone_continuation = client_frame(true, OP_CONTINUATION, b"x", M);
        let big_ping = client_frame(true, OP_PING, &[0; 126], M);
        let rsv = {
            let mut f = client_frame(true, OP_BINARY, b"x", M);
            f[0] |= 0x40;
            f
        };
        for (wire, status) in [
            (unmasked, CLOSE_PROTOCOL_ERROR),
            (text, CLOSE_UNSUPPORTED_DATA),
            (lone_continuation, CLOSE_PROTOCOL_ERROR),
            (big_ping, CLOSE_PROTOCOL_ERROR),
            (rsv, CLOSE_PROTOCOL_ERROR),
        ] {
            let (mut r, w) = split(Chunks(vec![wire]), Sink::default(), BytesMut::new());
            assert!(read_all(&mut r).1.is_err());
            assert_eq!(w.control.lock().close, Some(status));
        }
    }

    #[test]
    fn writes_are_binary_frames() {
        let (_r, mut w) = split(Chunks(vec![]), Sink::default(), BytesMut::new());
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut out = OutBuf::new();
        out.write_with(|b| b.extend_from_slice(&[7u8; 300]));
        let Poll::Ready(Ok(n)) = w.poll_write_out(&mut cx, &out) else {
            panic!()
        };
        assert_eq!(n, 300);
        assert_eq!(&w.inner.0[..4], &[0x82, 126, 0x01, 0x2C]);
        assert_eq!(w.inner.0.len(), 304);
    }
}
