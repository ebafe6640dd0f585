//! Catch-up policies: what a partition is given, at entry, for the ticks it missed while
//! it was not running.
//!
//! A pure function of the policy and the number of missed ticks, O(1) whatever that
//! number. It decides; irq-router turns the decision into notify-core raises and
//! health-monitor records.
//!
//! # Drift
//!
//! A guest's drift is the kernel's time since the partition started minus the guest's
//! time, once the guest has handled what it was given. Per entry that missed `m` ticks:
//!
//! | policy                 | given                 | drift added       |
//! |------------------------|-----------------------|-------------------|
//! | [`Replay`]             | `m` timer ticks       | 0                 |
//! | [`Warp`]               | one event, delta `m`  | 0                 |
//! | [`Collapse`]           | one (late) timer tick | `m - 1` (if `m > 0`) |
//! | [`BoundedReplay`] `N`  | `min(m, N)` ticks     | `m - min(m, N)`   |
//!
//! Drift only ever grows by the ticks reported as dropped: the total drift equals the
//! sum of [`CatchUp::dropped`] over all entries, and the guest can read it in the shared
//! page (`clock_dropped`).
//!
//! # What a warp delivers
//!
//! A warp is one event on the timer port; its delta is not carried by the event (a port
//! keeps only its latest context, so a second warp before the guest handled the first
//! would overwrite it). The delta lives in the clock of the shared page instead: `given`
//! there is cumulative, so a guest that handles its timer events computes the time that
//! passed as `clock.given` minus the `given` it saw last. Two warps that arrive before the
//! guest handles either are two pending events and one clock that already counts both
//! deltas: nothing is lost, whenever the guest looks.
//!
//! [`Replay`]: CatchUpPolicy::Replay
//! [`Warp`]: CatchUpPolicy::Warp
//! [`Collapse`]: CatchUpPolicy::Collapse
//! [`BoundedReplay`]: CatchUpPolicy::BoundedReplay

use core::num::{NonZeroU32, NonZeroU64};

/// How a partition catches up on the ticks it missed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CatchUpPolicy {
    /// The timer port's count grows by every missed tick. Zero drift.
    #[default]
    Replay,
    /// One event carrying the number of missed ticks, for a guest with a time-warp
    /// function. Zero drift.
    Warp,
    /// One late tick; the guest's time steps, the other missed ticks are dropped.
    Collapse,
    /// Replay at most `max` missed ticks; the rest are dropped and reported.
    BoundedReplay {
        /// Most ticks replayed at one entry.
        max: NonZeroU32,
    },
}

/// What to give a partition at entry for the ticks it missed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum CatchUp {
    /// Nothing missed.
    UpToDate,
    /// Raise the timer port `ticks` times (one raise with a count). `dropped` missed
    /// ticks will never be given: report them (0 under replay).
    Ticks {
        /// Times to raise the timer port.
        ticks: NonZeroU64,
        /// Missed ticks not given.
        dropped: u64,
    },
    /// Raise the timer port once; the guest reads how far its clock moved in the page's
    /// cumulative `given` (see "What a warp delivers" above).
    Warp {
        /// Ticks the guest's clock advances by (already counted in the page's `given`).
        delta: NonZeroU64,
    },
}

impl CatchUpPolicy {
    /// The decision for an entry that missed `missed` ticks. O(1).
    pub const fn apply(self, missed: u64) -> CatchUp {
        let Some(m) = NonZeroU64::new(missed) else {
            return CatchUp::UpToDate;
        };
        match self {
            Self::Replay => CatchUp::Ticks { ticks: m, dropped: 0 },
            Self::Warp => CatchUp::Warp { delta: m },
            Self::Collapse => CatchUp::Ticks { ticks: NonZeroU64::MIN, dropped: missed - 1 },
            Self::BoundedReplay { max } => {
                let max = max.get() as u64;
                if missed <= max {
                    CatchUp::Ticks { ticks: m, dropped: 0 }
                } else {
                    // 1 + (max - 1): `max` as a `NonZeroU64`, in a const fn.
                    let ticks = NonZeroU64::MIN.saturating_add(max - 1);
                    CatchUp::Ticks { ticks, dropped: missed - max }
                }
            }
        }
    }
}

impl CatchUp {
    /// Ticks this decision gives the guest's clock (timer ticks or the warp delta).
    #[must_use]
    pub const fn given(self) -> u64 {
        match self {
            Self::UpToDate => 0,
            Self::Ticks { ticks, .. } => ticks.get(),
            Self::Warp { delta } => delta.get(),
        }
    }

    /// Missed ticks this decision drops (the drift it adds).
    #[must_use]
    pub const fn dropped(self) -> u64 {
        match self {
            Self::Ticks { dropped, .. } => dropped,
            Self::UpToDate | Self::Warp { .. } => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use core::num::{NonZeroU32, NonZeroU64};

    use super::{CatchUp, CatchUpPolicy};

    fn nz(n: u64) -> NonZeroU64 {
        NonZeroU64::new(n).unwrap()
    }

    const ALL: [CatchUpPolicy; 4] = [
        CatchUpPolicy::Replay,
        CatchUpPolicy::Warp,
        CatchUpPolicy::Collapse,
        CatchUpPolicy::BoundedReplay { max: NonZeroU32::MIN },
    ];

    #[test]
    fn nothing_missed_is_up_to_date_under_every_policy() {
        for policy in ALL {
            assert_eq!(policy.apply(0), CatchUp::UpToDate);
        }
    }

    #[test]
    fn replay_gives_every_missed_tick() {
        assert_eq!(CatchUpPolicy::Replay.apply(1), CatchUp::Ticks { ticks: nz(1), dropped: 0 });
        let huge = CatchUpPolicy::Replay.apply(u64::MAX);
        assert_eq!(huge, CatchUp::Ticks { ticks: nz(u64::MAX), dropped: 0 });
    }

    #[test]
    fn warp_gives_one_event_carrying_the_delta() {
        assert_eq!(CatchUpPolicy::Warp.apply(1_000_000), CatchUp::Warp { delta: nz(1_000_000) });
        assert_eq!(CatchUpPolicy::Warp.apply(1_000_000).given(), 1_000_000);
    }

    #[test]
    fn collapse_gives_one_late_tick_and_drops_the_rest() {
        assert_eq!(CatchUpPolicy::Collapse.apply(1), CatchUp::Ticks { ticks: nz(1), dropped: 0 });
        let c = CatchUpPolicy::Collapse.apply(250);
        assert_eq!(c, CatchUp::Ticks { ticks: nz(1), dropped: 249 });
        assert_eq!((c.given(), c.dropped()), (1, 249));
    }

    #[test]
    fn bounded_replay_gives_at_most_n_and_reports_the_rest() {
        let policy = CatchUpPolicy::BoundedReplay { max: NonZeroU32::new(5).unwrap() };
        assert_eq!(policy.apply(3), CatchUp::Ticks { ticks: nz(3), dropped: 0 });
        assert_eq!(policy.apply(5), CatchUp::Ticks { ticks: nz(5), dropped: 0 });
        assert_eq!(policy.apply(6), CatchUp::Ticks { ticks: nz(5), dropped: 1 });
        assert_eq!(policy.apply(u64::MAX), CatchUp::Ticks { ticks: nz(5), dropped: u64::MAX - 5 });
        let wide = CatchUpPolicy::BoundedReplay { max: NonZeroU32::MAX };
        assert_eq!(wide.apply(u64::from(u32::MAX) + 1).dropped(), 1);
    }

    /// Drift worked by hand at the edges of each policy: m = 1, m = N, m = N + 1.
    #[test]
    fn drift_at_the_edges_worked_by_hand() {
        // Collapse: m missed, 1 given, m - 1 dropped.
        for (missed, dropped) in [(1, 0), (2, 1), (3, 2), (1_000_000, 999_999)] {
            let c = CatchUpPolicy::Collapse.apply(missed);
            assert_eq!(c, CatchUp::Ticks { ticks: nz(1), dropped }, "collapse, m = {missed}");
        }
        // Bounded replay, N = 1: everything past the first is dropped.
        let one = CatchUpPolicy::BoundedReplay { max: NonZeroU32::MIN };
        assert_eq!(one.apply(1), CatchUp::Ticks { ticks: nz(1), dropped: 0 });
        assert_eq!(one.apply(2), CatchUp::Ticks { ticks: nz(1), dropped: 1 });
        // Bounded replay, N = 4: m = 1, m = N, m = N + 1, m = 2N.
        let four = CatchUpPolicy::BoundedReplay { max: NonZeroU32::new(4).unwrap() };
        assert_eq!(four.apply(1), CatchUp::Ticks { ticks: nz(1), dropped: 0 });
        assert_eq!(four.apply(4), CatchUp::Ticks { ticks: nz(4), dropped: 0 });
        assert_eq!(four.apply(5), CatchUp::Ticks { ticks: nz(4), dropped: 1 });
        assert_eq!(four.apply(8), CatchUp::Ticks { ticks: nz(4), dropped: 4 });
        // N = u32::MAX: m = N exactly replays all, m = N + 1 drops one.
        let wide = CatchUpPolicy::BoundedReplay { max: NonZeroU32::MAX };
        let n = u64::from(u32::MAX);
        assert_eq!(wide.apply(n), CatchUp::Ticks { ticks: nz(n), dropped: 0 });
        assert_eq!(wide.apply(n + 1), CatchUp::Ticks { ticks: nz(n), dropped: 1 });
    }

    #[test]
    fn given_plus_dropped_is_always_the_missed_count() {
        for policy in ALL {
            for missed in [0, 1, 2, 7, 1_000_000, u64::MAX] {
                let c = policy.apply(missed);
                assert_eq!(c.given() + c.dropped(), missed, "{policy:?} {missed}");
            }
        }
    }
}
