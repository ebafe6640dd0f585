//! Validated identifiers.
//!
//! A partition names partitions, ports and channels with raw register values. Each raw
//! value goes through exactly one validating constructor here and comes out as a typed
//! identifier that can no longer be out of range, or as a typed [`Error`]. The bound is
//! part of the type (`PartitionId<P>`, `Port<W>`), so an identifier validated for one table
//! size cannot be used with another.

use crate::error::Error;

/// Ports per bitmap word; a partition has `64 * W` ports.
pub const PORTS_PER_WORD: usize = 64;

/// Most bitmap words a partition may have: the summary is one 64-bit word, so 4,096 ports.
pub const MAX_PORT_WORDS: usize = 64;

/// A partition of a system with `P` partitions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PartitionId<const P: usize>(u16);

impl<const P: usize> PartitionId<P> {
    /// Validates a raw partition number.
    ///
    /// # Errors
    /// [`Error::PartitionOutOfRange`] when `raw >= P`.
    pub const fn new(raw: u32) -> Result<Self, Error> {
        if (raw as usize) < P && raw <= u16::MAX as u32 {
            Ok(Self(raw as u16))
        } else {
            Err(Error::PartitionOutOfRange { raw })
        }
    }

    /// The partition's index, `0..P`.
    pub const fn index(self) -> usize {
        self.0 as usize
    }

    /// The raw number, as a partition would name it.
    pub const fn raw(self) -> u16 {
        self.0
    }

    /// Every partition, in index order.
    pub fn all() -> impl Iterator<Item = Self> {
        (0..P).map(|i| Self(i as u16))
    }
}

/// A port of a partition with `W` bitmap words (`64 * W` ports). Ports are local to a
/// partition; a lower number is a higher priority.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Port<const W: usize>(u16);

impl<const W: usize> Port<W> {
    /// Number of ports a partition with `W` words has.
    pub const COUNT: usize = W * PORTS_PER_WORD;

    /// Validates a raw port number.
    ///
    /// # Errors
    /// [`Error::PortOutOfRange`] when `raw >= 64 * W`.
    #[inline]
    pub const fn new(raw: u32) -> Result<Self, Error> {
        if (raw as usize) < Self::COUNT && raw <= u16::MAX as u32 {
            Ok(Self(raw as u16))
        } else {
            Err(Error::PortOutOfRange { raw })
        }
    }

    /// The port number, `0..64 * W`.
    pub const fn index(self) -> usize {
        self.0 as usize
    }

    /// The raw number, as a partition would name it.
    #[inline]
    pub const fn raw(self) -> u16 {
        self.0
    }

    /// Index of the bitmap word holding this port, `0..W`. `new` already keeps every
    /// port below `64 * W`; the clamp (never taken) says so to the compiler, so that
    /// indexing a `[_; W]` with it needs no bounds check (with `W == 1` it is 0).
    pub(crate) const fn word(self) -> usize {
        let w = self.0 as usize / PORTS_PER_WORD;
        if w < W { w } else { W.saturating_sub(1) }
    }

    /// Bit of this port inside its word.
    pub(crate) const fn bit(self) -> u64 {
        1 << (self.0 as usize % PORTS_PER_WORD)
    }

    /// Builds a port from a word and bit position the tables produced themselves.
    pub(crate) const fn from_word_bit(word: usize, bit: u32) -> Self {
        Self((word * PORTS_PER_WORD + bit as usize) as u16)
    }
}

/// A channel of the static channel table. Validated against the table it indexes, so it
/// is made by [`EventTables::channel`](crate::EventTables::channel).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChannelId(pub(crate) u16);

impl ChannelId {
    /// The channel's index in the channel table.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}
