//! The byte transports a connection task reads from and writes to, split in
//! a read half and a write half so one `select!` can wait on both. The
//! operations are poll functions: waiting stores nothing in the connection
//! task (the socket keeps one waker per direction), which keeps an idle
//! connection's task small; they are cancel-safe by construction (a poll
//! that returns `Pending` has read or written nothing).
//!
//! TCP and Unix sockets use readiness: the read buffer is allocated only
//! once bytes are waiting, so an idle connection holds no buffer at all.

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
    /// Close the sending direction.
    fn shutdown(&mut self) -> impl Future<Output = io::Result<()>> + Send + '_;
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

readiness_halves!(
    tokio::net::tcp::OwnedReadHalf,
    tokio::net::tcp::OwnedWriteHalf
);
readiness_halves!(
    tokio::net::unix::OwnedReadHalf,
    tokio::net::unix::OwnedWriteHalf
);
