//! Bytes waiting to be written to one client: small packets are appended to
//! a contiguous tail buffer; large payloads are kept as their own chunks so
//! a 100 MB message is written from the buffer it arrived in, never copied
//! per recipient. The writer takes them as `IoSlice`s for vectored writes.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes, BytesMut};

/// Bytes reserved when an empty buffer starts to fill.
const INITIAL_CAPACITY: usize = 8 * 1024;

/// Payloads at least this large are sent from their own buffer.
pub const ZERO_COPY_THRESHOLD: usize = 16 * 1024;

/// Pending output of one connection.
#[derive(Debug, Default)]
pub struct OutBuf {
    chunks: VecDeque<Bytes>,
    tail: BytesMut,
    len: usize,
}

impl OutBuf {
    /// An empty buffer (allocates nothing until used).
    pub fn new() -> OutBuf {
        OutBuf::default()
    }

    /// Bytes waiting to be written.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Append through `f`, which writes into the tail buffer.
    pub fn write_with<R>(&mut self, f: impl FnOnce(&mut BytesMut) -> R) -> R {
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
        if !self.tail.is_empty() {
            self.chunks.push_back(self.tail.split().freeze());
        }
        self.len += chunk.len();
        self.chunks.push_back(chunk);
    }

    /// Fill `dst` with the pending bytes in order; returns how many slices
    /// were filled.
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

    /// Forget the first `n` bytes (they were written).
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

    /// Release the memory of an empty buffer (for idle connections).
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
}
