//! The storm mask of a line: masked for the rest of the major frame when the line
//! exceeds its budget, unmasked by the first tick of a later frame. The interrupt and
//! the tick may run on different CPUs, and the controller's mask and unmask are adapter
//! calls between the protocol's steps; the protocol follows every storm mask by exactly
//! one storm unmask, after it. (A level line's own mask for acknowledgements is a second,
//! independent owner of the same controller mask: a budget on a level line is not yet
//! coordinated with it.)
//!
//! # The protocol
//!
//! One word per line: 0 (no storm), or the frame of the storm and a phase:
//!
//! * the ISR that exceeded the budget in frame `f` moves the word `0 → MASKING(f)` (if
//!   it is not 0, another storm owns the line and this ISR does nothing more), sets the line's
//!   bit in the engine's index, masks the line at the controller, then moves the word
//!   `MASKING(f) → MASKED(f)` by compare-and-swap. If that fails, the tick found the
//!   storm over while the mask was on its way and left `STALE(f)`: the ISR takes it to 0
//!   and unmasks, after its own mask. Then (sequentially consistent fence) the ISR reads
//!   the engine's frame: if it has moved past `f`, it ends the storm itself
//!   (`MASKED(f) → 0`, unmask) unless the tick got there first;
//! * the tick that starts frame `g` publishes `g` (a read-modify-write), then (fence)
//!   takes the index and, for each line, ends what belongs to an earlier frame:
//!   `MASKED(f) → 0` and unmask, or `MASKING(f) → STALE(f)` (the ISR unmasks after its
//!   mask lands). A storm of frame `g` itself stays, and keeps its bit.
//!
//! Every transition is a compare-and-swap, and one storm at a time owns the word (from
//! `0 → MASKING` to its return to 0), so each storm's mask is followed by exactly one
//! unmask; the ISR's final read and the tick's
//! index take are the two sides of a store-then-load pair with a fence on each side, so
//! at least one of them sees the other and the storm always ends.

use crate::sync::{AtomicU64, Ordering, fence, maybe_const_fn};

const MASKING: u64 = 1;
const MASKED: u64 = 2;
const STALE: u64 = 3;
const PHASE: u64 = 3;

const fn word(frame: u64, phase: u64) -> u64 {
    (frame.wrapping_add(1) << 2) | phase
}

const fn frame_of(word: u64) -> u64 {
    (word >> 2).wrapping_sub(1)
}

/// One line's storm state.
pub(crate) struct StormLine(AtomicU64);

/// What the caller must do at the controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub(crate) enum Storm {
    /// Unmask the line now.
    Unmask,
    /// Nothing.
    Keep,
}

impl StormLine {
    maybe_const_fn! {
        pub(crate) fn new() -> Self {
            Self(AtomicU64::new(0))
        }
    }

    /// The ISR exceeded the line's budget in `frame` and wants to mask it. Only one
    /// storm owns a line at a time: `true` if this one does (then set the line's bit in
    /// the index and mask); `false` if another storm's mask is still being made or ended
    /// (nothing to do: that one masks, or ends, the line).
    #[must_use]
    pub(crate) fn masking(&self, frame: u64) -> bool {
        self.0
            .compare_exchange(0, word(frame, MASKING), Ordering::SeqCst, Ordering::Acquire)
            .is_ok()
    }

    /// The ISR's mask of the storm of `frame` landed; `current` reads the engine's
    /// frame. Says whether the ISR must unmask (the storm ended meanwhile).
    pub(crate) fn masked(&self, frame: u64, current: impl FnOnce() -> u64) -> Storm {
        let ours = word(frame, MASKING);
        match self.0.compare_exchange(
            ours,
            word(frame, MASKED),
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => {}
            Err(seen) if seen == word(frame, STALE) => {
                // The tick ended the storm before the mask landed: undo the mask.
                return match self.0.compare_exchange(seen, 0, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => Storm::Unmask,
                    Err(_) => Storm::Keep,
                };
            }
            // Only the owner moves its MASKING word, and the tick only to STALE.
            Err(_) => {
                debug_assert!(false, "a storm's word was taken over");
                return Storm::Keep;
            }
        }
        fence(Ordering::SeqCst);
        if current() > frame {
            return self.end(word(frame, MASKED));
        }
        Storm::Keep
    }

    /// The tick starting frame `current` (published before, then a fence): ends a storm
    /// of an earlier frame. Returns what to do and whether the line stays in the index
    /// (a storm of `current` itself).
    pub(crate) fn frame_started(&self, current: u64) -> (Storm, bool) {
        let mut seen = self.0.load(Ordering::Acquire);
        loop {
            if seen == 0 {
                return (Storm::Keep, false);
            }
            if frame_of(seen) >= current {
                return (Storm::Keep, true);
            }
            let next = match seen & PHASE {
                MASKED => 0,
                MASKING => word(frame_of(seen), STALE),
                // STALE: the ISR unmasks.
                _ => return (Storm::Keep, false),
            };
            match self.0.compare_exchange(seen, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) if next == 0 => return (Storm::Unmask, false),
                Ok(_) => return (Storm::Keep, false),
                Err(now) => seen = now,
            }
        }
    }

    fn end(&self, masked: u64) -> Storm {
        match self.0.compare_exchange(masked, 0, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => Storm::Unmask,
            Err(_) => Storm::Keep,
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::{Storm, StormLine};

    #[test]
    fn a_storm_ends_at_the_next_frame() {
        let line = StormLine::new();
        assert!(line.masking(3));
        assert!(!line.masking(3), "one storm owns the line");
        assert_eq!(line.masked(3, || 3), Storm::Keep);
        assert_eq!(line.frame_started(3), (Storm::Keep, true), "same frame: stays");
        assert_eq!(line.frame_started(4), (Storm::Unmask, false));
        assert_eq!(line.frame_started(5), (Storm::Keep, false), "once");
    }

    #[test]
    fn a_tick_between_the_decision_and_the_mask_leaves_the_unmask_to_the_isr() {
        let line = StormLine::new();
        assert!(line.masking(3));
        assert_eq!(line.frame_started(4), (Storm::Keep, false));
        assert!(!line.masking(4), "the stale storm still owns the line");
        assert_eq!(line.masked(3, || 4), Storm::Unmask);
        assert!(line.masking(4), "free again");
    }

    #[test]
    fn an_isr_that_sees_the_new_frame_ends_its_own_storm() {
        let line = StormLine::new();
        assert!(line.masking(3));
        assert_eq!(line.masked(3, || 4), Storm::Unmask);
        assert_eq!(line.frame_started(4), (Storm::Keep, false));
    }
}

/// loom model of the storm mask racing the frame boundary (defect 2).
///
/// Run: `RUSTFLAGS="--cfg loom" cargo test --release -p irq-router --lib loom_`.
#[cfg(all(test, loom))]
mod loom_models {
    extern crate std;

    use loom::sync::Arc;
    use loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    use loom::thread;

    use super::{Storm, StormLine};

    /// The ISR on one CPU exceeds the budget in frame 0 and masks the line; the tick on
    /// another CPU starts frame 1. The controller's state is modelled as the sequence of
    /// mask and unmask operations: whatever the interleaving, the line ends unmasked
    /// (the last operation is an unmask), unmasked exactly once after the mask.
    #[test]
    fn loom_defect2_storm_mask_racing_the_frame_boundary_never_masks_for_good() {
        loom::model(|| {
            let line = Arc::new(StormLine::new());
            let frame = Arc::new(AtomicU64::new(0));
            let index = Arc::new(AtomicU64::new(0));
            // 1 = masked; the count of operations orders them.
            let controller = Arc::new(AtomicU64::new(0));
            let unmasks = Arc::new(AtomicUsize::new(0));
            let isr = {
                let (line, frame, index, controller, unmasks) = (
                    line.clone(),
                    frame.clone(),
                    index.clone(),
                    controller.clone(),
                    unmasks.clone(),
                );
                thread::spawn(move || {
                    assert!(line.masking(0));
                    index.fetch_or(1, Ordering::AcqRel);
                    controller.store(1, Ordering::SeqCst);
                    if line.masked(0, || frame.load(Ordering::SeqCst)) == Storm::Unmask {
                        controller.store(0, Ordering::SeqCst);
                        unmasks.fetch_add(1, Ordering::Relaxed);
                    }
                })
            };
            // The tick of frame 1 (the engine's frame_boundary).
            frame.fetch_max(1, Ordering::SeqCst);
            loom::sync::atomic::fence(Ordering::SeqCst);
            if index.swap(0, Ordering::AcqRel) & 1 != 0 {
                let (storm, keep) = line.frame_started(1);
                assert!(!keep);
                if storm == Storm::Unmask {
                    controller.store(0, Ordering::SeqCst);
                    unmasks.fetch_add(1, Ordering::Relaxed);
                }
            }
            isr.join().unwrap();
            assert_eq!(controller.load(Ordering::SeqCst), 0, "the line ends unmasked");
            assert_eq!(unmasks.load(Ordering::Relaxed), 1, "unmasked exactly once");
        });
    }
}
