//! [`OutputBuffer`]: the kernel's serial output held in a bounded buffer and written to
//! the UART only when the kernel drains it, outside the partitions' windows.
//!
//! A polled UART at 115,200 baud takes about 87 µs a byte: a 256-byte `console_write`
//! written at once would take 22 ms of some partition's window. Buffered, a write costs
//! a copy; the kernel drains a budget of bytes at each window switch (and everything
//! before it stops). What does not fit is dropped and counted, never waited for.

use heapless::Deque;

/// Bytes the buffer holds.
pub const CAPACITY: usize = 16 * 1024;

/// A bounded FIFO of output bytes.
#[derive(Debug, Default)]
pub struct OutputBuffer {
    bytes: Deque<u8, CAPACITY>,
    dropped: u64,
}

impl OutputBuffer {
    /// An empty buffer.
    #[must_use]
    pub const fn new() -> Self {
        Self { bytes: Deque::new(), dropped: 0 }
    }

    /// Appends `bytes`; those that do not fit are dropped and counted.
    pub fn push(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.bytes.push_back(b).is_err() {
                self.dropped += 1;
            }
        }
    }

    /// Hands at most `budget` bytes, oldest first, to `write` (in chunks); answers how
    /// many.
    pub fn drain(&mut self, budget: usize, mut write: impl FnMut(&[u8])) -> usize {
        let mut chunk = [0u8; 64];
        let mut done = 0;
        while done < budget {
            let mut n = 0;
            while n < chunk.len() && done + n < budget {
                match self.bytes.pop_front() {
                    Some(b) => {
                        chunk[n] = b;
                        n += 1;
                    }
                    None => break,
                }
            }
            if n == 0 {
                break;
            }
            write(&chunk[..n]);
            done += n;
        }
        done
    }

    /// Bytes waiting.
    #[must_use]
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Nothing waiting.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Bytes dropped because the buffer was full.
    #[must_use]
    pub const fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use super::{CAPACITY, OutputBuffer};

    #[test]
    fn drains_in_order_within_the_budget() {
        let mut out = OutputBuffer::new();
        out.push(b"hello, ");
        out.push(b"world");
        let mut seen = Vec::new();
        assert_eq!(out.drain(5, |b| seen.extend_from_slice(b)), 5);
        assert_eq!(seen, b"hello");
        assert_eq!(out.drain(1000, |b| seen.extend_from_slice(b)), 7);
        assert_eq!(seen, b"hello, world");
        assert!(out.is_empty());
        assert_eq!(out.drain(10, |_| panic!("nothing to write")), 0);
    }

    #[test]
    fn a_flood_is_dropped_and_counted_never_waited_for() {
        let mut out = OutputBuffer::new();
        let flood = [b'x'; 1000];
        for _ in 0..20 {
            out.push(&flood);
        }
        assert_eq!(out.len(), CAPACITY);
        assert_eq!(out.dropped(), 20_000 - CAPACITY as u64);
        // Once drained, output flows again.
        let mut written = 0;
        out.drain(usize::MAX, |b| written += b.len());
        assert_eq!(written, CAPACITY);
        out.push(b"after");
        assert_eq!(out.len(), 5);
    }
}
