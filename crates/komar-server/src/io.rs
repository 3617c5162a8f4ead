//! The byte transports a connection task reads from and writes to, split in
//! a read half and a write half so one `select!` can wait on both. The
//! operations are poll functions: waiting stores nothing in the connection
//! task (the socket keeps one waker per direction), which keeps an idle
//! connection's task small; they are cancel-safe by construction (a poll
//! that returns `Pending` has read or written nothing).
//!
//! TCP and Unix sockets use readiness: the read buffer is allocated only
//! once bytes are waiting, so an idle connection holds no buffer at all.
//! The layered transports (TLS in [`crate::tls`], WebSockets in
//! [`crate::ws`]) are built on the same readiness through [`RawRead`] and
//! [`RawWrite`], so they keep that property.

use std::future::Future;
use std::io::{self, IoSlice};
use std::task::{ready, Context, Poll};

use bytes::BytesMut;
use komar_core::OutBuf;

/// Bytes reserved for a read when no packet size hint is known.
pub const READ_CHUNK: usize = 8 * 1024;
/// Most bytes reserved at once for a large packet: its buffer grows with
/// the bytes that actually arrive, so a peer declaring a huge packet and
/// sending little costs little.
pub const MAX_READ_RESERVE: usize = 1024 * 1024;
/// Slices handed to one vectored write.
const MAX_SLICES: usize = 32;

/// The read half of a client transport.
pub trait ConnRead: Send {
    /// Append waiting bytes to `buf`, reserving room for about `hint` more
    /// bytes first (bounded by [`MAX_READ_RESERVE`]). `Ready(Ok(0))` at end
    /// of stream.
    fn poll_read_buf(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
        hint: usize,
    ) -> Poll<io::Result<usize>>;
}

/// The write half of a client transport.
pub trait ConnWrite: Send {
    /// Write some of `out`; `Ready(Ok(n))` with the bytes written.
    fn poll_write_out(&mut self, cx: &mut Context<'_>, out: &OutBuf) -> Poll<io::Result<usize>>;
    /// Close the sending direction (after writing what the transport
    /// itself still holds: TLS records, a WebSocket close frame).
    fn shutdown(&mut self) -> impl Future<Output = io::Result<()>> + Send + '_;
    /// The transport holds bytes of its own to send (encrypted records not
    /// yet written, a WebSocket pong): the connection task keeps calling
    /// [`ConnWrite::poll_write_out`] while this is true, even with nothing
    /// of its own to write.
    fn wants_write(&self) -> bool {
        false
    }
}

/// The read half of a raw socket, used through readiness by the layered
/// transports.
pub trait RawRead: Send + Sync + 'static {
    /// Wait until the socket may be readable.
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// Read without waiting (`WouldBlock` clears the readiness).
    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize>;
}

/// The write half of a raw socket, used through readiness by the layered
/// transports.
pub trait RawWrite: Send + Sync + 'static {
    /// Wait until the socket may be writable.
    fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// Write without waiting (`WouldBlock` clears the readiness).
    fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;
    /// Close the sending direction.
    fn shutdown(&mut self) -> impl Future<Output = io::Result<()>> + Send + '_;
}

/// A stream socket that splits into readiness-driven halves.
pub trait RawSocket:
    tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + Sync + 'static
{
    /// The read half.
    type Read: RawRead + ConnRead;
    /// The write half.
    type Write: RawWrite + ConnWrite;
    /// Split into halves that can be polled from one task.
    fn split(self) -> (Self::Read, Self::Write);
}

/// `std::io::Read` over a [`RawRead`] that never waits: what rustls reads
/// TLS records through.
pub(crate) struct TryReader<'a, R: RawRead>(pub &'a R);

impl<R: RawRead> std::io::Read for TryReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.try_read(buf)
    }
}

/// `std::io::Write` over a [`RawWrite`] that never waits: what rustls
/// writes TLS records through.
pub(crate) struct TryWriter<'a, W: RawWrite>(pub &'a W);

impl<W: RawWrite> std::io::Write for TryWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write_vectored(&[IoSlice::new(buf)])
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.0.try_write_vectored(bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn reserve(buf: &mut BytesMut, hint: usize) {
    let want = hint.clamp(READ_CHUNK, MAX_READ_RESERVE);
    if buf.capacity() - buf.len() < want / 2 {
        buf.reserve(want);
    }
}

/// One vectored write of `out` through `write`. The slice array lives on
/// the stack for the call only.
fn try_write_out(
    out: &OutBuf,
    write: impl FnOnce(&[IoSlice<'_>]) -> io::Result<usize>,
) -> io::Result<usize> {
    let mut slices = [IoSlice::new(&[]); MAX_SLICES];
    let n = out.io_slices(&mut slices);
    write(slices.get(..n).unwrap_or_default())
}

macro_rules! readiness_halves {
    ($read:ty, $write:ty) => {
        impl ConnRead for $read {
            fn poll_read_buf(
                &mut self,
                cx: &mut Context<'_>,
                buf: &mut BytesMut,
                hint: usize,
            ) -> Poll<io::Result<usize>> {
                loop {
                    ready!(self.as_ref().poll_read_ready(cx))?;
                    reserve(buf, hint);
                    match self.try_read_buf(buf) {
                        Ok(n) => return Poll::Ready(Ok(n)),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            // Readiness was stale: nothing came. Give back a
                            // buffer holding nothing before waiting again, so
                            // an idle connection keeps no read buffer.
                            if buf.is_empty() {
                                *buf = BytesMut::new();
                            }
                        }
                        Err(e) => return Poll::Ready(Err(e)),
                    }
                }
            }
        }

        impl ConnWrite for $write {
            fn poll_write_out(
                &mut self,
                cx: &mut Context<'_>,
                out: &OutBuf,
            ) -> Poll<io::Result<usize>> {
                loop {
                    ready!(self.as_ref().poll_write_ready(cx))?;
                    match try_write_out(out, |slices| self.try_write_vectored(slices)) {
                        Ok(n) => return Poll::Ready(Ok(n)),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                        Err(e) => return Poll::Ready(Err(e)),
                    }
                }
            }

            async fn shutdown(&mut self) -> io::Result<()> {
                tokio::io::AsyncWriteExt::shutdown(self).await
            }
        }
    };
}

macro_rules! raw_halves {
    ($stream:ty, $read:ty, $write:ty) => {
        impl RawRead for $read {
            fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.as_ref().poll_read_ready(cx)
            }
            fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
                <$read>::try_read(self, buf)
            }
        }

        impl RawWrite for $write {
            fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.as_ref().poll_write_ready(cx)
            }
            fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
                <$write>::try_write_vectored(self, bufs)
            }
            async fn shutdown(&mut self) -> io::Result<()> {
                tokio::io::AsyncWriteExt::shutdown(self).await
            }
        }

        impl RawSocket for $stream {
            type Read = $read;
            type Write = $write;
            fn split(self) -> ($read, $write) {
                self.into_split()
            }
        }
    };
}

raw_halves!(
    tokio::net::TcpStream,
    tokio::net::tcp::OwnedReadHalf,
    tokio::net::tcp::OwnedWriteHalf
);
raw_halves!(
    tokio::net::UnixStream,
    tokio::net::unix::OwnedReadHalf,
    tokio::net::unix::OwnedWriteHalf
);

readiness_halves!(
    tokio::net::tcp::OwnedReadHalf,
    tokio::net::tcp::OwnedWriteHalf
);
readiness_halves!(
    tokio::net::unix::OwnedReadHalf,
    tokio::net::unix::OwnedWriteHalf
);
