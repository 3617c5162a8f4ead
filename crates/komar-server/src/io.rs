//! The byte transports a connection task reads from and writes to, split in
//! a read half and a write half so one `select!` can wait on both. Both
//! operations are cancel-safe: a cancelled read has read nothing, a
//! cancelled write has written nothing.
//!
//! TCP and Unix sockets use readiness: the read buffer is allocated only
//! once bytes are waiting, so an idle connection holds no buffer at all.

use std::future::Future;
use std::io::{self, IoSlice};

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
    /// Wait for bytes and append them to `buf`, reserving room for about
    /// `hint` more bytes first (bounded by [`MAX_READ_RESERVE`]). Returns 0
    /// at end of stream. Cancel-safe.
    fn read_buf<'a>(
        &'a mut self,
        buf: &'a mut BytesMut,
        hint: usize,
    ) -> impl Future<Output = io::Result<usize>> + Send + 'a;
}

/// The write half of a client transport.
pub trait ConnWrite: Send {
    /// Write some of `out`; returns how many bytes were written. Cancel-safe.
    fn write_out<'a>(
        &'a mut self,
        out: &'a OutBuf,
    ) -> impl Future<Output = io::Result<usize>> + Send + 'a;
    /// Close the sending direction.
    fn shutdown(&mut self) -> impl Future<Output = io::Result<()>> + Send + '_;
}

fn reserve(buf: &mut BytesMut, hint: usize) {
    let want = hint.clamp(READ_CHUNK, MAX_READ_RESERVE);
    if buf.capacity() - buf.len() < want / 2 {
        buf.reserve(want);
    }
}

macro_rules! readiness_halves {
    ($read:ty, $write:ty) => {
        impl ConnRead for $read {
            async fn read_buf(&mut self, buf: &mut BytesMut, hint: usize) -> io::Result<usize> {
                loop {
                    self.readable().await?;
                    reserve(buf, hint);
                    match self.try_read_buf(buf) {
                        Ok(n) => return Ok(n),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                        Err(e) => return Err(e),
                    }
                }
            }
        }

        impl ConnWrite for $write {
            async fn write_out(&mut self, out: &OutBuf) -> io::Result<usize> {
                loop {
                    self.writable().await?;
                    let mut slices = [IoSlice::new(&[]); MAX_SLICES];
                    let n = out.io_slices(&mut slices);
                    match self.try_write_vectored(slices.get(..n).unwrap_or_default()) {
                        Ok(n) => return Ok(n),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                        Err(e) => return Err(e),
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
