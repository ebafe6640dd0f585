//! Typed errors. Nothing a partition or the kernel hands in can panic this crate: a call
//! that cannot be honoured returns one of these and changes nothing.

use core::fmt;

/// Why an operation on a virtual CPU or its time account was refused. The state is
/// unchanged when an operation returns an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A nesting depth of 0 or past [`MAX_NESTING`](crate::MAX_NESTING).
    NestingOutOfRange {
        /// The depth asked for.
        requested: u8,
    },
    /// Return from an upcall while no upcall is in progress (the partition's mistake).
    NotInUpcall,
    /// An operation that needs the partition inside its window while it is outside: a
    /// guest request, a resume (an idle partition is only ever woken inside its own
    /// window), a tick or an exit (a scheduler mistake). A restart ends the window, so
    /// this is also what hypercalls get between a restart and the next entry.
    OutsideWindow,
    /// Entry of a partition that is already inside its window (a scheduler mistake).
    AlreadyInWindow,
    /// The kernel tick counter is behind what this partition has already been accounted
    /// (a clock that went backwards, or checkpoints handed in out of order).
    ClockWentBackwards {
        /// The tick handed in.
        now: u64,
        /// The earliest tick this account accepts.
        accounted: u64,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::NestingOutOfRange { requested } => {
                write!(f, "upcall nesting depth {requested} out of range")
            }
            Self::NotInUpcall => f.write_str("return from upcall while not in an upcall"),
            Self::OutsideWindow => f.write_str("partition is outside its window"),
            Self::AlreadyInWindow => f.write_str("partition is already inside its window"),
            Self::ClockWentBackwards { now, accounted } => {
                write!(f, "tick {now} is before accounted tick {accounted}")
            }
        }
    }
}

impl core::error::Error for Error {}
