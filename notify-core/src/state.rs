//! The per-port state word and its transitions.
//!
//! Everything that decides whether a port is deliverable lives in one atomic word per
//! port, so every transition (raise, mask, begin service, acknowledge, take, bind, reset)
//! is a single compare-and-swap that sees the mask and in-service bits together with the
//! count. The ready bitmaps are only an index over these words: whoever makes a port
//! deliverable sets its ready bit afterwards, and whoever clears a ready bit re-checks
//! the word afterwards.

/// Pending count (bits 0..32).
pub(crate) const COUNT: u64 = 0xffff_ffff;
/// The port is masked.
pub(crate) const MASKED: u64 = 1 << 32;
/// An event of the port is being serviced (delivered, not yet acknowledged).
pub(crate) const IN_SERVICE: u64 = 1 << 33;
/// The port has a binding.
pub(crate) const BOUND: u64 = 1 << 34;
/// The port's binding coalesces: its count is a pending bit (0 or 1). Going into service
/// clears it and the port holds the event being handled apart from it, so an event
/// raised during the handler sets it again and is delivered after the acknowledgement
/// (as Xen clears pending when it delivers). Coalescing merges events that are pending
/// together, never an event with one being handled.
pub(crate) const COALESCING: u64 = 1 << 35;
/// Binding generation (bits 48..63, wrapping): moves on at every unbind and reset, never
/// otherwise. A raise tags the context it publishes with the generation it found, and a
/// context is shown only under the generation it was tagged with, so a raise that lost to
/// an unbind cannot leave its context for the next binding. The context header keeps the
/// tag at the same bits (`crate::context`). It wraps after 32,768 unbinds: a raise would
/// have to stall that long between reading the state and publishing to be mistaken.
pub(crate) const GENERATION: u64 = 0x7fff << 48;

/// The port's priority level (bits 36..41): 0 for a port outside every level (a level of
/// its own), `l + 1` for level `l` (see `crate::priority`). Static: set at construction
/// from the configuration and kept by every transition (bind, unbind and reset carry it
/// over like the generation), so the lookup and `begin_service` learn a port's level from
/// the state word they read anyway.
pub(crate) const LEVEL: u64 = 0x1f << LEVEL_SHIFT;
const LEVEL_SHIFT: u32 = 36;

/// The [`LEVEL`] bits of a port in `level`.
pub(crate) const fn in_level(level: Option<usize>) -> u64 {
    match level {
        Some(l) => ((l as u64 + 1) << LEVEL_SHIFT) & LEVEL,
        None => 0,
    }
}

/// The level of a port in `state`, if it belongs to one.
#[inline]
pub(crate) const fn level(state: u64) -> Option<usize> {
    match ((state & LEVEL) >> LEVEL_SHIFT) as usize {
        0 => None,
        l => Some(l - 1),
    }
}

/// `state` with its generation moved on by one (wrapping).
pub(crate) const fn next_generation(state: u64) -> u64 {
    (state & !GENERATION) | ((state & GENERATION).wrapping_add(1 << 48) & GENERATION)
}

/// Pending count of a state word.
pub(crate) const fn count(state: u64) -> u32 {
    (state & COUNT) as u32
}

/// The state bits of a port just bound, coalescing or not.
pub(crate) const fn bound(coalescing: bool) -> u64 {
    if coalescing { BOUND | COALESCING } else { BOUND }
}

/// A coalescing port in service: it holds the event being handled outside its count.
const fn holds_event_in_service(state: u64) -> bool {
    state & (COALESCING | IN_SERVICE) == COALESCING | IN_SERVICE
}

/// Events raised on the port and not yet consumed (acknowledged, taken or discarded): the
/// count, which for a counting port includes the event in service, plus a coalescing
/// port's event in service.
pub(crate) const fn unconsumed(state: u64) -> u32 {
    // A coalescing port's count is at most 1: no overflow.
    count(state) + holds_event_in_service(state) as u32
}

/// The state after taking a deliverable port into service.
pub(crate) const fn begin_service(state: u64) -> u64 {
    if state & COALESCING != 0 { (state | IN_SERVICE) & !COUNT } else { state | IN_SERVICE }
}

/// The state after acknowledging a port in service, and the events consumed (0 only for a
/// counting port whose count was discarded meanwhile).
pub(crate) const fn acknowledge(state: u64) -> (u64, u32) {
    if holds_event_in_service(state) {
        (state & !IN_SERVICE, 1)
    } else {
        let one = (count(state) > 0) as u32;
        ((state & !IN_SERVICE) - one as u64, one)
    }
}

/// The state after cancelling a service, and the events merged: a coalescing port's
/// event in service goes back to pending, merging with one raised during the service.
pub(crate) const fn cancel_service(state: u64) -> (u64, u32) {
    if holds_event_in_service(state) {
        ((state & !(IN_SERVICE | COUNT)) | 1, count(state))
    } else {
        (state & !IN_SERVICE, 0)
    }
}

/// Bound, something pending, not masked, not in service.
pub(crate) const fn deliverable(state: u64) -> bool {
    state & (BOUND | MASKED | IN_SERVICE) == BOUND && count(state) > 0
}

/// [`deliverable`], and a priority level of its own: the lookup's common case, in the
/// same one comparison.
#[inline]
pub(crate) const fn deliverable_alone(state: u64) -> bool {
    state & (BOUND | MASKED | IN_SERVICE | LEVEL) == BOUND && count(state) > 0
}

/// Bound, unmasked, not in service and nothing pending: an event added makes it
/// deliverable, and only an event added does.
pub(crate) const fn idle(state: u64) -> bool {
    state & (BOUND | MASKED | IN_SERVICE | COUNT) == BOUND
}

/// The effect of raising `n` events on a port in `state` whose mode allows `max` pending.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RaiseStep {
    pub(crate) next: u64,
    pub(crate) accepted: u32,
    pub(crate) excess: u32,
}

pub(crate) const fn raise_step(state: u64, n: u32, max: u32) -> RaiseStep {
    let room = max.saturating_sub(count(state));
    let accepted = if n < room { n } else { room };
    RaiseStep { next: state + accepted as u64, accepted, excess: n - accepted }
}

#[cfg(test)]
mod tests {
    use super::{
        BOUND, COALESCING, GENERATION, IN_SERVICE, LEVEL, MASKED, RaiseStep, acknowledge,
        begin_service, cancel_service, count, deliverable, idle, in_level, level, next_generation,
        raise_step, unconsumed,
    };

    #[test]
    fn a_coalescing_port_holds_its_event_in_service_apart_from_its_pending_bit() {
        let bound = BOUND | COALESCING;
        let serving = begin_service(bound | 1);
        assert_eq!((count(serving), unconsumed(serving)), (0, 1));
        let raised = raise_step(serving, 1, 1);
        assert_eq!((raised.accepted, raised.excess, deliverable(raised.next)), (1, 0, false));
        assert_eq!(unconsumed(raised.next), 2);
        assert_eq!(acknowledge(raised.next), (bound | 1, 1));
        assert_eq!(cancel_service(raised.next), (bound | 1, 1));
        assert_eq!(cancel_service(serving), (bound | 1, 0));
        // Counting ports keep the event in service in their count.
        assert_eq!(begin_service(BOUND | 2), BOUND | IN_SERVICE | 2);
        assert_eq!(acknowledge(BOUND | IN_SERVICE | 2), (BOUND | 1, 1));
        assert_eq!(acknowledge(BOUND | IN_SERVICE), (BOUND, 0));
        assert_eq!(unconsumed(BOUND | IN_SERVICE | 2), 2);
    }

    #[test]
    fn the_level_bits_round_trip_and_leave_the_rest_alone() {
        assert_eq!(level(BOUND | 7), None);
        for l in 0..16 {
            let bits = in_level(Some(l));
            assert_eq!(bits & !LEVEL, 0);
            assert_eq!(level(BOUND | IN_SERVICE | GENERATION | bits | 7), Some(l));
            // Every transition keeps the level.
            let s = BOUND | bits | 2;
            assert_eq!(level(begin_service(s)), Some(l));
            assert_eq!(level(acknowledge(begin_service(s)).0), Some(l));
            assert_eq!(level(cancel_service(begin_service(s)).0), Some(l));
            assert_eq!(level(next_generation(s)), Some(l));
            assert_eq!(level(raise_step(s, 3, 10).next), Some(l));
        }
        assert_eq!(in_level(None), 0);
    }

    #[test]
    fn the_generation_wraps_inside_its_bits() {
        let last = GENERATION | BOUND | MASKED | 7;
        assert_eq!(next_generation(last), BOUND | MASKED | 7);
        assert_eq!(next_generation(BOUND) & GENERATION, 1 << 48);
    }

    #[test]
    fn deliverable_needs_bound_pending_unmasked_not_in_service() {
        assert!(deliverable(BOUND | 1));
        assert!(!deliverable(BOUND));
        assert!(!deliverable(1));
        assert!(!deliverable(BOUND | MASKED | 1));
        assert!(!deliverable(BOUND | IN_SERVICE | 1));
    }

    #[test]
    fn a_raise_makes_a_port_deliverable_exactly_when_it_was_idle_and_accepted_one() {
        let flags = [BOUND, MASKED, IN_SERVICE, COALESCING, GENERATION, LEVEL];
        for combination in 0..1u32 << flags.len() {
            let base = flags
                .iter()
                .enumerate()
                .filter(|(i, _)| combination & (1 << i) != 0)
                .fold(0, |s, (_, f)| s | f);
            for (count, n, max) in
                [(0u32, 1, 1), (0, 0, 1), (1, 1, 1), (0, 3, 2), (5, 1, 9), (0, 1, u32::MAX)]
            {
                let state = base | u64::from(count);
                let step = raise_step(state, n, max);
                let became = !deliverable(state) && deliverable(step.next);
                assert_eq!(
                    step.accepted > 0 && idle(state),
                    became,
                    "{state:#x} + {n} (max {max})"
                );
            }
        }
    }

    #[test]
    fn raise_saturates_at_max_and_reports_the_excess() {
        assert_eq!(raise_step(BOUND, 3, 10), RaiseStep { next: BOUND | 3, accepted: 3, excess: 0 });
        assert_eq!(
            raise_step(BOUND | 9, 3, 10),
            RaiseStep { next: BOUND | 10, accepted: 1, excess: 2 }
        );
        let full = raise_step(BOUND | u64::from(u32::MAX), 1, u32::MAX);
        assert_eq!((count(full.next), full.accepted, full.excess), (u32::MAX, 0, 1));
    }
}
