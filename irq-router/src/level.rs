//! The acknowledgement state of a level-triggered line shared by several partitions.
//!
//! When the line fires it is masked and acknowledged at the controller, and the set of
//! partitions whose port was raised is recorded. Each partition acknowledges its own
//! event; the one whose acknowledgement empties the set unmasks the line. If the set is
//! not empty by the deadline, the tick that notices takes what is left (each is an
//! acknowledgement timeout for the health monitor) and unmasks the line anyway, so one
//! stuck partition cannot starve the others. Whichever of these empties the set is the
//! only one told to unmask: the line is unmasked exactly once per firing.
//!
//! An acknowledgement that arrives after a forced unmask clears the partition from the
//! next firing's set if the line fired again meanwhile. That is right for a level line:
//! the partition's port is coalescing, so the raise of the new firing merged into the
//! event being acknowledged.

use crate::sync::{AtomicU64, Ordering};

/// Deadline meaning "none".
const NO_DEADLINE: u64 = u64::MAX;

/// One level line's outstanding acknowledgements.
pub(crate) struct LevelLine {
    /// Bit `p` set: partition `p` still owes an acknowledgement.
    owing: AtomicU64,
    /// Tick by which every acknowledgement is due.
    deadline: AtomicU64,
}

/// What an operation on the line asks the caller to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub(crate) enum Unmask {
    /// Unmask the line now (this caller emptied the set).
    Now,
    /// Leave it masked: others still owe, or someone else unmasked it.
    No,
}

impl LevelLine {
    #[cfg(not(loom))]
    pub(crate) const fn new() -> Self {
        Self { owing: AtomicU64::new(0), deadline: AtomicU64::new(NO_DEADLINE) }
    }

    #[cfg(loom)]
    pub(crate) fn new() -> Self {
        Self { owing: AtomicU64::new(0), deadline: AtomicU64::new(NO_DEADLINE) }
    }

    /// The line fired and was masked; `raised` are the partitions whose port now holds
    /// the event. With nobody to wait for, unmask at once.
    pub(crate) fn fired(&self, raised: u64, deadline: u64) -> Unmask {
        if raised == 0 {
            return Unmask::Now;
        }
        self.deadline.store(deadline, Ordering::Release);
        self.owing.store(raised, Ordering::Release);
        Unmask::No
    }

    /// Partition `p` acknowledged its event.
    pub(crate) fn acknowledged(&self, p: usize) -> Unmask {
        let bit = 1u64 << (p % 64);
        let before = self.owing.fetch_and(!bit, Ordering::AcqRel);
        if before == bit { Unmask::Now } else { Unmask::No }
    }

    /// At tick `now`: if the deadline passed with acknowledgements outstanding, takes
    /// them (returned: the partitions that timed out) and asks for the unmask.
    pub(crate) fn expire(&self, now: u64) -> (u64, Unmask) {
        if now < self.deadline.load(Ordering::Acquire) {
            return (0, Unmask::No);
        }
        let late = self.owing.swap(0, Ordering::AcqRel);
        if late == 0 { (0, Unmask::No) } else { (late, Unmask::Now) }
    }

    /// Partitions that still owe an acknowledgement.
    pub(crate) fn owing(&self) -> u64 {
        self.owing.load(Ordering::Acquire)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::{LevelLine, Unmask};

    #[test]
    fn the_last_acknowledgement_unmasks() {
        let line = LevelLine::new();
        assert_eq!(line.fired(0b101, 10), Unmask::No);
        assert_eq!(line.acknowledged(0), Unmask::No);
        assert_eq!(line.acknowledged(0), Unmask::No, "a repeated ack changes nothing");
        assert_eq!(line.acknowledged(2), Unmask::Now);
        assert_eq!(line.expire(100), (0, Unmask::No), "nothing left to time out");
    }

    #[test]
    fn a_missing_acknowledgement_times_out_and_unmasks_once() {
        let line = LevelLine::new();
        assert_eq!(line.fired(0b11, 10), Unmask::No);
        assert_eq!(line.acknowledged(1), Unmask::No);
        assert_eq!(line.expire(9), (0, Unmask::No), "not yet");
        assert_eq!(line.expire(10), (0b01, Unmask::Now));
        assert_eq!(line.acknowledged(0), Unmask::No, "late: the line is already unmasked");
        assert_eq!(line.owing(), 0);
    }

    #[test]
    fn nobody_raised_means_unmask_at_once() {
        assert_eq!(LevelLine::new().fired(0, 10), Unmask::Now);
    }
}
