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

    /// The tick by which the current firing's acknowledgements are due.
    pub(crate) fn deadline(&self) -> u64 {
        self.deadline.load(Ordering::Acquire)
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

/// loom model of the fan-out acknowledgement racing the unmask of a level line.
///
/// Run: `RUSTFLAGS="--cfg loom" cargo test --release -p irq-router --lib loom_`.
#[cfg(all(test, loom))]
mod loom_models {
    extern crate std;

    use loom::sync::Arc;
    use loom::sync::atomic::{AtomicUsize, Ordering};
    use loom::thread;
    use std::println;

    use super::{LevelLine, Unmask};

    /// The line fired for partitions 0 and 1. Partition 0 and partition 1 acknowledge on
    /// their CPUs while the tick on a third CPU finds the deadline passed. Whatever the
    /// interleaving: the line is unmasked exactly once, and a partition is reported late
    /// exactly when its acknowledgement had not been counted.
    #[test]
    fn loom_fan_out_acknowledgements_race_the_forced_unmask() {
        let explored = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = explored.clone();
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = Some(3);
        builder.check(move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let line = Arc::new(LevelLine::new());
            assert_eq!(line.fired(0b11, 5), Unmask::No);
            let unmasks = Arc::new(AtomicUsize::new(0));
            let ack = |p: usize| {
                let (line, unmasks) = (line.clone(), unmasks.clone());
                thread::spawn(move || {
                    if line.acknowledged(p) == Unmask::Now {
                        unmasks.fetch_add(1, Ordering::Relaxed);
                    }
                })
            };
            let (a, b) = (ack(0), ack(1));
            let tick = {
                let (line, unmasks) = (line.clone(), unmasks.clone());
                thread::spawn(move || {
                    let (late, unmask) = line.expire(5);
                    if unmask == Unmask::Now {
                        unmasks.fetch_add(1, Ordering::Relaxed);
                    }
                    late
                })
            };
            a.join().unwrap();
            b.join().unwrap();
            let late = tick.join().unwrap();
            assert_eq!(unmasks.load(Ordering::Relaxed), 1, "unmasked exactly once");
            assert_eq!(line.owing(), 0, "nobody owes anything afterwards");
            assert_eq!(late & !0b11, 0, "only the raised partitions can be late");
        });
        let explored = explored.load(std::sync::atomic::Ordering::Relaxed);
        println!("explored {explored} interleavings");
        assert!(explored > 1, "the model explored a single interleaving");
    }

    /// An acknowledgement on another CPU while the line fires: the ISR records who owes
    /// before the raise becomes visible, so an acknowledgement that follows the raise is
    /// always counted and the line is unmasked exactly once.
    #[test]
    fn loom_acknowledgement_right_after_the_raise_is_never_lost() {
        let explored = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = explored.clone();
        loom::model(move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let line = Arc::new(LevelLine::new());
            // Stands in for partition 0's port: the ISR raises it after `fired`.
            let raised = Arc::new(AtomicUsize::new(0));
            let unmasks = Arc::new(AtomicUsize::new(0));
            let isr = {
                let (line, raised, unmasks) = (line.clone(), raised.clone(), unmasks.clone());
                thread::spawn(move || {
                    if line.fired(0b1, 100) == Unmask::Now {
                        unmasks.fetch_add(1, Ordering::Relaxed);
                    }
                    raised.store(1, Ordering::Release);
                })
            };
            let partition = {
                let (line, raised, unmasks) = (line.clone(), raised.clone(), unmasks.clone());
                thread::spawn(move || {
                    // The partition acknowledges only an event it has seen.
                    if raised.load(Ordering::Acquire) == 1 && line.acknowledged(0) == Unmask::Now {
                        unmasks.fetch_add(1, Ordering::Relaxed);
                    }
                })
            };
            isr.join().unwrap();
            partition.join().unwrap();
            let acked_count = unmasks.load(Ordering::Relaxed);
            // Either it acknowledged (and unmasked), or it had not seen the event yet
            // and still owes it.
            assert!(acked_count == 1 || line.owing() == 0b1);
            assert!(acked_count <= 1);
        });
        assert!(explored.load(std::sync::atomic::Ordering::Relaxed) > 1);
    }
}
