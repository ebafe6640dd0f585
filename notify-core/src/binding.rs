//! What a port is bound to, and how it counts.

use core::num::NonZeroU32;

/// The source an event on a port comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// A hardware interrupt line, by vector.
    Line(u16),
    /// The partition's virtual timer.
    Timer,
    /// A channel from another partition, by channel index (both ends of a channel are
    /// bound to it).
    Channel(u16),
    /// A trap of the given kind (an architecture's exception number).
    Trap(u8),
    /// The health monitor's ping.
    Ping,
    /// A lifecycle notice (start, restart, mode change).
    Lifecycle,
}

/// How raises accumulate on a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Each raise adds one, up to `max`; a raise past `max` is an overflow (lost, and
    /// counted so the health monitor sees it). Clock ticks want this.
    Counting {
        /// Saturation point of the pending count.
        max: NonZeroU32,
    },
    /// A pending bit only: a raise while pending is coalesced (counted, not lost).
    /// Level-style sources want this. A coalescing port that is raised while in service
    /// stays pending after the acknowledgement and is delivered again (as Xen clears
    /// pending when it delivers, so an event arriving during the handler is never lost):
    /// coalescing merges events that are pending together, never an event with one
    /// already being handled.
    Coalescing,
}

impl Mode {
    /// Counting with the largest maximum.
    pub const COUNTING: Self = Self::Counting { max: NonZeroU32::MAX };

    /// Highest pending count the mode allows.
    pub const fn max(self) -> u32 {
        match self {
            Self::Counting { max } => max.get(),
            Self::Coalescing => 1,
        }
    }

    /// Whether a raise past the maximum is coalesced (rather than overflowed).
    pub const fn is_coalescing(self) -> bool {
        matches!(self, Self::Coalescing)
    }
}

/// A port's binding: its source and its counting mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Binding {
    /// Where events come from.
    pub source: Source,
    /// How they accumulate.
    pub mode: Mode,
}

impl Binding {
    /// A counting binding with the largest maximum.
    pub const fn counting(source: Source) -> Self {
        Self { source, mode: Mode::COUNTING }
    }

    /// A coalescing binding.
    pub const fn coalescing(source: Source) -> Self {
        Self { source, mode: Mode::Coalescing }
    }

    // Packed form, kept in one atomic word per port:
    // bits 0..32 max, 32..48 source id, 48..56 source kind (0 = unbound), 56 coalescing.
    const KIND_SHIFT: u32 = 48;
    const ID_SHIFT: u32 = 32;
    const COALESCING: u64 = 1 << 56;

    pub(crate) const fn pack(self) -> u64 {
        let (kind, id): (u64, u64) = match self.source {
            Source::Line(v) => (1, v as u64),
            Source::Timer => (2, 0),
            Source::Channel(c) => (3, c as u64),
            Source::Trap(t) => (4, t as u64),
            Source::Ping => (5, 0),
            Source::Lifecycle => (6, 0),
        };
        let mode = match self.mode {
            Mode::Counting { max } => max.get() as u64,
            Mode::Coalescing => Self::COALESCING | 1,
        };
        (kind << Self::KIND_SHIFT) | (id << Self::ID_SHIFT) | mode
    }

    /// Inverse of [`Binding::pack`]; `None` for the unbound word.
    pub(crate) const fn unpack(word: u64) -> Option<Self> {
        let id = (word >> Self::ID_SHIFT) as u16;
        let source = match (word >> Self::KIND_SHIFT) as u8 {
            1 => Source::Line(id),
            2 => Source::Timer,
            3 => Source::Channel(id),
            4 => Source::Trap(id as u8),
            5 => Source::Ping,
            6 => Source::Lifecycle,
            _ => return None,
        };
        let mode = if word & Self::COALESCING != 0 {
            Mode::Coalescing
        } else {
            match NonZeroU32::new(word as u32) {
                Some(max) => Mode::Counting { max },
                None => return None,
            }
        };
        Some(Self { source, mode })
    }

    /// Maximum pending count of a packed binding (1 for an unbound word, which raise
    /// refuses anyway).
    pub(crate) const fn packed_max(word: u64) -> u32 {
        let max = word as u32;
        if max == 0 { 1 } else { max }
    }

    /// Whether a packed binding coalesces.
    pub(crate) const fn packed_coalescing(word: u64) -> bool {
        word & Self::COALESCING != 0
    }
}

/// One entry of a partition's static port configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PortConfig {
    /// Port number.
    pub port: u16,
    /// Its binding.
    pub binding: Binding,
    /// Whether the port starts masked.
    pub masked: bool,
    /// Whether the port keeps its latest context and a handler entry of its own (a
    /// context slot: see [`PartitionEvents`](crate::PartitionEvents)). `true` by
    /// default; a port without one still counts and delivers every event, through the
    /// partition's upcall entry, and answers [`Error::NoContextKept`](crate::Error) for
    /// its context.
    pub keep_context: bool,
}

impl PortConfig {
    /// An unmasked port bound as given.
    pub const fn new(port: u16, binding: Binding) -> Self {
        Self { port, binding, masked: false, keep_context: true }
    }

    /// The same entry, keeping no latest context and no handler entry of its own (see
    /// [`keep_context`](Self::keep_context)).
    pub const fn without_context(self) -> Self {
        Self { keep_context: false, ..self }
    }

    /// The same entry, starting masked.
    pub const fn masked(self) -> Self {
        Self { masked: true, ..self }
    }
}

#[cfg(test)]
mod tests {
    use super::{Binding, Mode, NonZeroU32, Source};

    #[test]
    fn pack_round_trips_every_source_and_mode() {
        let sources = [
            Source::Line(0),
            Source::Line(u16::MAX),
            Source::Timer,
            Source::Channel(7),
            Source::Trap(14),
            Source::Ping,
            Source::Lifecycle,
        ];
        let modes = [Mode::Coalescing, Mode::COUNTING, Mode::Counting { max: NonZeroU32::MIN }];
        for source in sources {
            for mode in modes {
                let b = Binding { source, mode };
                assert_eq!(Binding::unpack(b.pack()), Some(b));
                assert_eq!(Binding::packed_max(b.pack()), mode.max());
                assert_eq!(Binding::packed_coalescing(b.pack()), mode.is_coalescing());
            }
        }
        assert_eq!(Binding::unpack(0), None);
    }
}
