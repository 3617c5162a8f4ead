//! MQTT over WebSockets for the client (RFC 6455, client side): the HTTP
//! upgrade with subprotocol `mqtt`, then a byte stream whose writes go out
//! as masked binary frames and whose reads join the broker's binary frames
//! (answering pings). Runs over TCP or TLS ([`crate::tls`]). Used by the
//! benchmark's `ws://` and `wss://` targets.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

use crate::error::ClientError;
use crate::transport::{ByteStream, Transport};

/// Largest payload put in one frame.
const MAX_FRAME: usize = 64 * 1024;
/// Longest upgrade response accepted.
const MAX_HEAD: usize = 8 * 1024;
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let sym = |i: u32| char::from(A.get((i & 63) as usize).copied().unwrap_or(b'='));
    let mut out = String::new();
    for c in data.chunks(3) {
        let b = |i: usize| u32::from(c.get(i).copied().unwrap_or(0));
        let n = (b(0) << 16) | (b(1) << 8) | b(2);
        out.push(sym(n >> 18));
        out.push(sym(n >> 12));
        out.push(if c.len() > 1 { sym(n >> 6) } else { '=' });
        out.push(if c.len() > 2 { sym(n) } else { '=' });
    }
    out
}

/// Random-enough bytes for keys and masks (they guard against proxy cache
/// poisoning, not secrecy).
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

fn ws_err(what: impl Into<String>) -> ClientError {
    ClientError::Io {
        context: "WebSocket upgrade",
        source: io::Error::other(what.into()),
    }
}

/// Upgrade `stream` to a WebSocket on `host` and `path` (subprotocol
/// `mqtt`).
///
/// # Errors
/// The connection failed or the broker did not accept the upgrade.
pub async fn websocket_over<S: ByteStream>(
    mut stream: S,
    host: &str,
    path: &str,
) -> Result<Transport, ClientError> {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&random_u64().to_ne_bytes());
    key[8..].copy_from_slice(&random_u64().to_ne_bytes());
    let key = base64(&key);
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n"
    );
    let io = |e| ClientError::Io {
        context: "WebSocket upgrade",
        source: e,
    };
    stream.write_all(request.as_bytes()).await.map_err(io)?;
    let mut head = BytesMut::new();
    let end = loop {
        if let Some(at) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        if head.len() > MAX_HEAD {
            return Err(ws_err("upgrade response too long"));
        }
        if stream.read_buf(&mut head).await.map_err(io)? == 0 {
            return Err(ws_err("connection closed during the upgrade"));
        }
    };
    let text = String::from_utf8_lossy(head.get(..end).unwrap_or_default()).into_owned();
    if !text.starts_with("HTTP/1.1 101") {
        return Err(ws_err(format!(
            "broker refused the upgrade: {}",
            text.lines().next().unwrap_or("")
        )));
    }
    let digest = ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        format!("{key}{GUID}").as_bytes(),
    );
    let expected = base64(digest.as_ref());
    let accepted = text.lines().any(|l| {
        l.split_once(':').is_some_and(|(n, v)| {
            n.eq_ignore_ascii_case("sec-websocket-accept") && v.trim() == expected
        })
    });
    if !accepted {
        return Err(ws_err("wrong Sec-WebSocket-Accept"));
    }
    head.advance(end + 4);
    Ok(Transport::Custom(Box::new(WsStream {
        inner: stream,
        rbuf: head,
        payload_left: 0,
        skip: false,
        wbuf: Vec::new(),
        wpos: 0,
        closed: false,
        mask_seed: random_u64(),
    })))
}

/// A client WebSocket carrying MQTT as a byte stream.
struct WsStream<S> {
    inner: S,
    /// Bytes from the broker not yet decoded.
    rbuf: BytesMut,
    /// Payload bytes left in the current frame.
    payload_left: u64,
    /// The current frame's payload is skipped (text, pong).
    skip: bool,
    /// Frames to write (and how much of them is written).
    wbuf: Vec<u8>,
    wpos: usize,
    closed: bool,
    mask_seed: u64,
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsStream<S> {
    fn push_frame(&mut self, opcode: u8, payload: &[u8]) {
        self.mask_seed = self.mask_seed.rotate_left(13) ^ 0x9E37_79B9_7F4A_7C15;
        let mask = (self.mask_seed as u32).to_ne_bytes();
        self.wbuf.push(0x80 | opcode);
        let len = payload.len();
        if len < 126 {
            self.wbuf.push(0x80 | len as u8);
        } else if let Ok(l) = u16::try_from(len) {
            self.wbuf.push(0x80 | 126);
            self.wbuf.extend_from_slice(&l.to_be_bytes());
        } else {
            self.wbuf.push(0x80 | 127);
            self.wbuf.extend_from_slice(&(len as u64).to_be_bytes());
        }
        self.wbuf.extend_from_slice(&mask);
        self.wbuf
            .extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    }

    fn poll_flush_wbuf(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.wpos < self.wbuf.len() {
            let rest = self.wbuf.get(self.wpos..).unwrap_or_default();
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, rest))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.wpos += n;
        }
        self.wbuf.clear();
        self.wpos = 0;
        Poll::Ready(Ok(()))
    }

    /// Decode frame headers and control frames at the front of `rbuf`.
    /// `Ok(true)`: payload is ready to be read (or the stream closed).
    fn decode(&mut self) -> io::Result<bool> {
        loop {
            if self.payload_left > 0 {
                if self.rbuf.is_empty() {
                    return Ok(false);
                }
                if !self.skip {
                    return Ok(true);
                }
                let n = (self.payload_left.min(self.rbuf.len() as u64)) as usize;
                self.rbuf.advance(n);
                self.payload_left -= n as u64;
                continue;
            }
            if self.closed {
                return Ok(true);
            }
            let (Some(&b0), Some(&b1)) = (self.rbuf.first(), self.rbuf.get(1)) else {
                return Ok(false);
            };
            if b1 & 0x80 != 0 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "masked frame from the broker",
                ));
            }
            let (len, at) = match b1 & 0x7F {
                126 => match self.rbuf.get(2..4) {
                    Some(&[a, b]) => (u64::from(u16::from_be_bytes([a, b])), 4),
                    _ => return Ok(false),
                },
                127 => match self
                    .rbuf
                    .get(2..10)
                    .and_then(|l| <[u8; 8]>::try_from(l).ok())
                {
                    Some(l) => (u64::from_be_bytes(l), 10),
                    None => return Ok(false),
                },
                n => (u64::from(n), 2),
            };
            let opcode = b0 & 0x0F;
            match opcode {
                0x0 | 0x2 => {
                    self.rbuf.advance(at);
                    self.payload_left = len;
                    self.skip = false;
                }
                0x8 | 0x9 => {
                    let total = at + len as usize;
                    if self.rbuf.len() < total {
                        return Ok(false);
                    }
                    let frame = self.rbuf.split_to(total);
                    if opcode == 0x9 {
                        let payload = frame.get(at..).unwrap_or_default().to_vec();
                        self.push_frame(0xA, &payload);
                    } else {
                        self.closed = true;
                    }
                }
                _ => {
                    self.rbuf.advance(at);
                    self.payload_left = len;
                    self.skip = true;
                }
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for WsStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.decode()? {
                if this.payload_left > 0 {
                    let n = (this.payload_left.min(this.rbuf.len() as u64) as usize)
                        .min(buf.remaining());
                    buf.put_slice(this.rbuf.get(..n).unwrap_or_default());
                    this.rbuf.advance(n);
                    this.payload_left -= n as u64;
                }
                return Poll::Ready(Ok(()));
            }
            if !this.wbuf.is_empty() {
                // A pong to send: best effort now, the rest on the next write.
                let _ = this.poll_flush_wbuf(cx);
            }
            let mut tmp = [0u8; 16 * 1024];
            let mut rb = ReadBuf::new(&mut tmp);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut rb))?;
            if rb.filled().is_empty() {
                return Poll::Ready(Ok(()));
            }
            this.rbuf.extend_from_slice(rb.filled());
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WsStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_flush_wbuf(cx))?;
        let n = data.len().min(MAX_FRAME);
        this.push_frame(0x2, data.get(..n).unwrap_or_default());
        let _ = this.poll_flush_wbuf(cx);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_flush_wbuf(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_flush_wbuf(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_rfc_4648() {
        assert_eq!(super::base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(super::base64(b"fooba"), "Zm9vYmE=");
    }
}
