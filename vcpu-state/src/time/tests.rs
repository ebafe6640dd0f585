//! Unit tests of the time account: checkpoints, missed ticks, budget.

use core::num::{NonZeroU32, NonZeroU64};

use super::{Exit, Tick, TimeAccount};
use crate::catch_up::{CatchUp, CatchUpPolicy};
use crate::error::Error;

fn nz(n: u64) -> NonZeroU64 {
    NonZeroU64::new(n).unwrap()
}

#[test]
fn first_entry_misses_the_ticks_since_the_epoch() {
    let mut t = TimeAccount::new(CatchUpPolicy::Replay, 100);
    let e = t.enter(130, 10).unwrap();
    assert_eq!(e.missed, 30);
    assert_eq!(e.catch_up, CatchUp::Ticks { ticks: nz(30), dropped: 0 });
    assert_eq!(
        (e.clock.now, e.clock.given, e.clock.window_end, e.clock.entries),
        (130, 30, 140, 1)
    );
}

#[test]
fn live_ticks_are_given_and_the_gap_is_missed_at_the_next_entry() {
    let mut t = TimeAccount::new(CatchUpPolicy::Collapse, 0);
    assert_eq!(t.enter(0, 5).unwrap().catch_up, CatchUp::UpToDate);
    for now in 1..=5 {
        assert_eq!(t.tick(now).unwrap(), Tick { ticks: 1, preempt: None });
    }
    assert_eq!(t.exit(5).unwrap(), Exit { ran: 5, ticks: 0, overrun: None });
    assert_eq!(t.missed_at(20), Some(15));
    let e = t.enter(20, 5).unwrap();
    assert_eq!(e.catch_up, CatchUp::Ticks { ticks: nz(1), dropped: 14 });
    assert_eq!((t.given(), t.dropped()), (6, 14));
    assert_eq!(t.given() + t.dropped(), 20 - t.epoch());
}

#[test]
fn a_million_missed_ticks_are_one_subtraction() {
    let max = NonZeroU32::new(1000).unwrap();
    let mut t = TimeAccount::new(CatchUpPolicy::BoundedReplay { max }, 0);
    let e = t.enter(u64::MAX - 1, 1).unwrap();
    assert_eq!(e.missed, u64::MAX - 1);
    assert_eq!(e.catch_up, CatchUp::Ticks { ticks: nz(1000), dropped: u64::MAX - 1001 });
    assert_eq!(t.exit(u64::MAX).unwrap().ticks, 1);
}

#[test]
fn overrun_is_reported_once_by_tick_and_in_full_at_exit() {
    let mut t = TimeAccount::new(CatchUpPolicy::Replay, 0);
    let _ = t.enter(10, 3).unwrap();
    assert_eq!(t.budget_left(11), Some(2));
    assert_eq!(t.tick(13).unwrap(), Tick { ticks: 3, preempt: None });
    assert_eq!(t.tick(14).unwrap(), Tick { ticks: 1, preempt: Some(nz(1)) });
    assert_eq!(t.tick(15).unwrap(), Tick { ticks: 1, preempt: None });
    assert_eq!(t.budget_left(15), Some(0));
    assert_eq!(t.exit(17).unwrap(), Exit { ran: 7, ticks: 2, overrun: Some(nz(4)) });
    assert_eq!(t.overruns(), 1);
    let _ = t.enter(17, 3).unwrap();
    assert_eq!(t.exit(20).unwrap().overrun, None, "leaving exactly at the end is on time");
    assert_eq!(t.overruns(), 1);
}

#[test]
fn checkpoints_out_of_order_are_typed_errors_that_change_nothing() {
    let mut t = TimeAccount::new(CatchUpPolicy::Warp, 50);
    assert_eq!(t.tick(51), Err(Error::OutsideWindow));
    assert_eq!(t.exit(51), Err(Error::OutsideWindow));
    assert_eq!(t.enter(49, 1), Err(Error::ClockWentBackwards { now: 49, accounted: 50 }));
    let before = t.clone();
    let _ = t.enter(60, 1).unwrap();
    assert_ne!(t, before);
    let inside = t.clone();
    assert_eq!(t.enter(61, 1), Err(Error::AlreadyInWindow));
    assert_eq!(t.tick(59), Err(Error::ClockWentBackwards { now: 59, accounted: 60 }));
    assert_eq!(t.exit(59), Err(Error::ClockWentBackwards { now: 59, accounted: 60 }));
    assert_eq!(t, inside);
}

#[test]
fn restart_sets_a_new_epoch_and_keeps_the_policy() {
    let mut t = TimeAccount::new(CatchUpPolicy::Collapse, 0);
    let _ = t.enter(100, 1).unwrap();
    t.restart(500);
    assert_eq!((t.epoch(), t.given(), t.dropped(), t.in_window()), (500, 0, 0, false));
    assert_eq!(t.policy(), CatchUpPolicy::Collapse);
    assert_eq!(t.enter(503, 1).unwrap().catch_up, CatchUp::Ticks { ticks: nz(1), dropped: 2 });
}

#[test]
fn warp_entry_gives_the_delta_in_one_event() {
    let mut t = TimeAccount::new(CatchUpPolicy::Warp, 0);
    let e = t.enter(1_000_000, 1).unwrap();
    assert_eq!(e.catch_up, CatchUp::Warp { delta: nz(1_000_000) });
    assert_eq!((t.given(), t.dropped()), (1_000_000, 0));
}

#[test]
fn each_late_window_is_reported_exactly_once_at_exit() {
    let mut t = TimeAccount::new(CatchUpPolicy::Replay, 0);
    // Late without any tick seeing it: exit still reports it.
    let _ = t.enter(0, 5).unwrap();
    assert_eq!(t.exit(8).unwrap().overrun, Some(nz(3)));
    // Late with ticks that said to preempt: exit reports it once, ticks never do.
    let _ = t.enter(8, 5).unwrap();
    let preempts = (9..=16).filter(|&now| t.tick(now).unwrap().preempt.is_some()).count();
    assert_eq!(preempts, 1);
    assert_eq!(t.exit(16).unwrap().overrun, Some(nz(3)));
    // On time: no report.
    let _ = t.enter(16, 5).unwrap();
    assert_eq!(t.exit(21).unwrap().overrun, None);
    assert_eq!(t.overruns(), 2, "one per late window");
}
