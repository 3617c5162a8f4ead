//! Bytes waiting to be written to one client: small packets are appended to
//! a contiguous tail buffer; large payloads are kept as their own chunks so
//! a 100 MB message is written from the buffer it arrived in, never copied
//! per recipient. The writer takes them as `IoSlice`s for vectored writes.
//!
//! # Held output
//! Output that may only reach the client once storage has something (the
//! PUBACK of a message queued for a persistent session, a QoS 2 PUBLISH to
//! one) is *held*: [`OutBuf::hold`] starts a segment released when its
//! [`Durable`] completes, and everything written after it — held or not —
//! waits behind it, so the client sees packets in the order they were
//! produced [MQTT-4.6.0-2]. Only released bytes are offered to the writer.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};

use crate::persist::Durable;

/// Bytes reserved when an empty buffer starts to fill.
const INITIAL_CAPACITY: usize = 8 * 1024;

/// Payloads at least this large are sent from their own buffer.
pub const ZERO_COPY_THRESHOLD: usize = 16 * 1024;

/// Storage failed: held output can never be released.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageFailed;

/// Output produced after a [`Durable`] that is not complete yet.
#[derive(Debug)]
struct HeldSegment {
    durable: Durable,
    chunks: VecDeque<Bytes>,
    tail: BytesMut,
}

/// Pending output of one connection.
#[derive(Debug, Default)]
pub struct OutBuf {
    chunks: VecDeque<Bytes>,
    tail: BytesMut,
    /// Released bytes (what the writer may take).
    len: usize,
    /// Held segments, oldest first; boxed so a connection that never holds
    /// anything pays one pointer, not an empty queue (32 bytes), in the
    /// task of every idle connection.
    #[allow(clippy::box_collection)]
    held: Option<Box<VecDeque<HeldSegment>>>,
    held_bytes: usize,
}

impl OutBuf {
    /// An empty buffer (allocates nothing until used).
    pub fn new() -> OutBuf {
        OutBuf::default()
    }

    /// Bytes waiting, released or held (the measure for high-water marks).
    pub fn len(&self) -> usize {
        self.len + self.held_bytes
    }

    /// True when nothing waits at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0 && self.holding() == 0
    }

    /// Bytes the writer may take now.
    pub fn ready_len(&self) -> usize {
        self.len
    }

    /// Whether the writer has anything to take now.
    pub fn has_ready(&self) -> bool {
        self.len > 0
    }

    /// Held segments waiting for storage.
    pub fn holding(&self) -> usize {
        self.held.as_ref().map_or(0, |h| h.len())
    }

    /// Hold everything written from now on until `durable` completes
    /// (nothing to do if it already has and nothing else is held).
    pub fn hold(&mut self, durable: Durable) {
        if self.holding() == 0 && durable.result() == Some(true) {
            return;
        }
        self.held
            .get_or_insert_with(Box::default)
            .push_back(HeldSegment {
                durable,
                chunks: VecDeque::new(),
                tail: BytesMut::new(),
            });
    }

    /// Append through `f`, which writes into the tail buffer.
    pub fn write_with<R>(&mut self, f: impl FnOnce(&mut BytesMut) -> R) -> R {
        if let Some(seg) = self.held.as_mut().and_then(|h| h.back_mut()) {
            let before = seg.tail.len();
            let r = f(&mut seg.tail);
            self.held_bytes += seg.tail.len() - before;
            return r;
        }
        if self.tail.capacity() == 0 {
            // One allocation for a burst instead of a chain of doublings.
            self.tail.reserve(INITIAL_CAPACITY);
        }
        let before = self.tail.len();
        let r = f(&mut self.tail);
        self.len += self.tail.len() - before;
        r
    }

    /// Append a chunk without copying it.
    pub fn push_chunk(&mut self, chunk: Bytes) {
        if chunk.is_empty() {
            return;
        }
        if let Some(seg) = self.held.as_mut().and_then(|h| h.back_mut()) {
            if !seg.tail.is_empty() {
                seg.chunks.push_back(seg.tail.split().freeze());
            }
            self.held_bytes += chunk.len();
            seg.chunks.push_back(chunk);
            return;
        }
        if !self.tail.is_empty() {
            self.chunks.push_back(self.tail.split().freeze());
        }
        self.len += chunk.len();
        self.chunks.push_back(chunk);
    }

    /// Release held segments whose storage completed, oldest first. Ready
    /// when at least one was released (or none is held); otherwise `cx` is
    /// woken when the oldest completes.
    ///
    /// # Errors
    /// [`StorageFailed`] when storage reported a failure: what is held
    /// must never be sent.
    pub fn poll_release(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), StorageFailed>> {
        let mut released = false;
        loop {
            let Some(held) = self.held.as_mut() else {
                return Poll::Ready(Ok(()));
            };
            let Some(front) = held.front() else {
                self.held = None;
                return Poll::Ready(Ok(()));
            };
            match front.durable.poll(cx) {
                Poll::Ready(true) => {
                    if let Some(seg) = held.pop_front() {
                        self.release(seg);
                    }
                    released = true;
                }
                Poll::Ready(false) => return Poll::Ready(Err(StorageFailed)),
                Poll::Pending if released => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Release, without waiting, the held segments whose storage
    /// completed (oldest first).
    ///
    /// # Errors
    /// [`StorageFailed`], as for [`OutBuf::poll_release`].
    pub fn release_completed(&mut self) -> Result<(), StorageFailed> {
        while let Some(held) = self.held.as_mut() {
            match held.front().map(|s| s.durable.result()) {
                None => self.held = None,
                Some(Some(true)) => {
                    if let Some(seg) = held.pop_front() {
                        self.release(seg);
                    }
                }
                Some(Some(false)) => return Err(StorageFailed),
                Some(None) => break,
            }
        }
        Ok(())
    }

    /// The completion the oldest held segment waits for (to wait on it
    /// while the buffer is borrowed elsewhere).
    pub fn first_hold(&self) -> Option<Durable> {
        self.held.as_ref()?.front().map(|s| s.durable.clone())
    }

    fn release(&mut self, mut seg: HeldSegment) {
        let bytes = seg.chunks.iter().map(Bytes::len).sum::<usize>() + seg.tail.len();
        self.held_bytes -= bytes;
        if seg.chunks.is_empty() && self.chunks.is_empty() {
            // The usual case (an acknowledgement): append to the tail.
            if self.tail.capacity() == 0 {
                self.tail.reserve(INITIAL_CAPACITY);
            }
            self.tail.extend_from_slice(&seg.tail);
            self.len += seg.tail.len();
            return;
        }
        if !self.tail.is_empty() {
            self.chunks.push_back(self.tail.split().freeze());
        }
        self.chunks.append(&mut seg.chunks);
        if !seg.tail.is_empty() {
            self.chunks.push_back(seg.tail.freeze());
        }
        self.len += bytes;
    }

    /// Fill `dst` with the released bytes in order; returns how many
    /// slices were filled.
    pub fn io_slices<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut n = 0;
        let parts = self
            .chunks
            .iter()
            .map(|c| &c[..])
            .chain(std::iter::once(&self.tail[..]));
        for (slot, part) in dst.iter_mut().zip(parts.filter(|p| !p.is_empty())) {
            *slot = IoSlice::new(part);
            n += 1;
        }
        n
    }

    /// Forget the first `n` released bytes (they were written).
    pub fn advance(&mut self, mut n: usize) {
        n = n.min(self.len);
        self.len -= n;
        while n > 0 {
            match self.chunks.front_mut() {
                Some(c) if c.len() <= n => {
                    n -= c.len();
                    self.chunks.pop_front();
                }
                Some(c) => {
                    c.advance(n);
                    n = 0;
                }
                None => {
                    self.tail.advance(n);
                    n = 0;
                }
            }
        }
        if self.len == 0 {
            self.tail.clear();
        }
    }

    /// Release the memory of the written-out part (for idle connections).
    pub fn release_if_empty(&mut self) {
        if self.len == 0 {
            self.tail = BytesMut::new();
            self.chunks = VecDeque::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;

    fn collect(b: &OutBuf) -> Vec<u8> {
        let mut slices = [IoSlice::new(&[]); 8];
        let n = b.io_slices(&mut slices);
        slices[..n].iter().flat_map(|s| s.to_vec()).collect()
    }

    #[test]
    fn chunks_and_tail_keep_order_across_partial_writes() {
        let mut b = OutBuf::new();
        b.write_with(|t| t.put_slice(b"ab"));
        b.push_chunk(Bytes::from_static(b"cdef"));
        b.write_with(|t| t.put_slice(b"gh"));
        assert_eq!(b.len(), 8);
        assert_eq!(collect(&b), b"abcdefgh");
        b.advance(3);
        assert_eq!(collect(&b), b"defgh");
        b.advance(4);
        assert_eq!(collect(&b), b"h");
        b.advance(1);
        assert!(b.is_empty());
        b.release_if_empty();
        assert_eq!(b.tail.capacity(), 0);
    }

    #[test]
    fn held_output_waits_for_storage_and_keeps_order() {
        let mut b = OutBuf::new();
        b.write_with(|t| t.put_slice(b"a"));
        let first = Durable::default();
        b.hold(first.clone());
        b.write_with(|t| t.put_slice(b"b"));
        b.push_chunk(Bytes::from_static(b"cc"));
        let second = Durable::default();
        b.hold(second.clone());
        b.write_with(|t| t.put_slice(b"d"));
        assert_eq!(collect(&b), b"a");
        assert_eq!((b.len(), b.ready_len(), b.holding()), (5, 1, 2));
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert!(b.poll_release(&mut cx).is_pending());
        // A later completion does not overtake an earlier one.
        second.complete(true);
        assert!(b.poll_release(&mut cx).is_pending());
        first.complete(true);
        assert_eq!(b.poll_release(&mut cx), Poll::Ready(Ok(())));
        assert_eq!(collect(&b), b"abccd");
        assert_eq!(b.holding(), 0);
        // Completed and nothing held: no segment at all.
        b.hold(Durable::ready());
        assert_eq!(b.holding(), 0);
    }

    #[test]
    fn failed_storage_never_releases() {
        let mut b = OutBuf::new();
        let d = Durable::default();
        b.hold(d.clone());
        b.write_with(|t| t.put_slice(b"ack"));
        d.complete(false);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert_eq!(b.poll_release(&mut cx), Poll::Ready(Err(StorageFailed)));
        assert!(!b.has_ready());
    }
}
