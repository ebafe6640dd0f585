//! Storm budgets: raises per major frame, counted per line and per channel.
//!
//! A counter is tagged with the frame it counts, so a new frame starts from zero without
//! anybody resetting every counter: O(1) per raise, nothing per tick.

use crate::sync::{AtomicU64, Ordering, maybe_const_fn};

/// Raises of one source in one major frame: frame number (high 32 bits, wrapping) and
/// count (low 32 bits).
pub(crate) struct Budget(AtomicU64);

/// What charging one raise to a budget said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Charge {
    /// Within the budget.
    Within,
    /// This raise is the first past the budget: mask the source, report the storm.
    Exceeded,
    /// Already past the budget in this frame (the source should be masked already).
    Over,
}

impl Budget {
    maybe_const_fn! {
        pub(crate) fn new() -> Self {
            Self(AtomicU64::new(0))
        }
    }

    /// Charges one raise in `frame` against `limit` raises per frame. A raise that read
    /// its time before a later frame began (on another CPU) is charged to the later
    /// frame: the count never goes back to an older frame.
    pub(crate) fn charge(&self, frame: u64, limit: u32) -> Charge {
        let tag = frame & 0xffff_ffff;
        let mut count = 0;
        let _ = self.0.fetch_update(Ordering::AcqRel, Ordering::Acquire, |word| {
            let current = word >> 32;
            // Wrapping distance: a tag at most 2^31 frames behind the current is older.
            let older = current != tag && current.wrapping_sub(tag) & 0xffff_ffff < 1 << 31;
            let (tag, base) = if current == tag || older && word != 0 {
                (current, word & 0xffff_ffff)
            } else {
                (tag, 0)
            };
            count = base.saturating_add(1);
            Some((tag << 32) | count.min(0xffff_ffff))
        });
        let limit = u64::from(limit);
        if count <= limit {
            Charge::Within
        } else if count == limit + 1 {
            Charge::Exceeded
        } else {
            Charge::Over
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Budget, Charge};

    #[test]
    fn the_first_raise_past_the_budget_is_the_storm_and_a_new_frame_starts_over() {
        let b = Budget::new();
        assert_eq!(b.charge(7, 2), Charge::Within);
        assert_eq!(b.charge(7, 2), Charge::Within);
        assert_eq!(b.charge(7, 2), Charge::Exceeded);
        assert_eq!(b.charge(7, 2), Charge::Over);
        assert_eq!(b.charge(8, 2), Charge::Within, "next frame");
    }

    #[test]
    fn a_raise_that_read_an_older_frame_is_charged_to_the_current_one() {
        let b = Budget::new();
        for _ in 0..3 {
            assert_eq!(b.charge(0, 3), Charge::Within);
        }
        assert_eq!(b.charge(0, 3), Charge::Exceeded);
        assert_eq!(b.charge(1, 3), Charge::Within, "frame 1 starts over");
        for _ in 0..2 {
            assert_eq!(b.charge(0, 3), Charge::Within, "late raises count in frame 1");
        }
        assert_eq!(b.charge(0, 3), Charge::Exceeded, "one storm per frame");
        assert_eq!(b.charge(1, 3), Charge::Over);
    }
}
