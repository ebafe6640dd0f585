//! Unit tests of the upcall state machine, one transition at a time.

use super::{Resume, Vcpu, upcall_due};
use crate::doorbell::{Doorbell, Signal};
use crate::error::Error;
use crate::nesting::Nesting;
use crate::page::SharedPage;
use crate::start::StartReason;

/// A `deliverable` that must not be asked (the operation fails first).
fn not_asked() -> bool {
    unreachable!("deliverable asked by an operation that failed")
}

/// A started vCPU inside its window, with interrupts enabled and nothing pending.
fn running(nesting: Nesting) -> (SharedPage, Doorbell, Vcpu) {
    let (page, bell) = (SharedPage::new(), Doorbell::new());
    let mut vcpu = Vcpu::new(nesting);
    vcpu.start(&page, &bell, StartReason::Fresh);
    assert_eq!(vcpu.enter(&page, &bell, || false), Ok(Resume::Run));
    assert!(!page.guest().sti());
    (page, bell, vcpu)
}

#[test]
fn due_needs_open_deliverable_and_room() {
    assert!(upcall_due(true, true, 0, 1));
    assert!(!upcall_due(false, true, 0, 1));
    assert!(!upcall_due(true, false, 0, 1));
    assert!(!upcall_due(true, true, 1, 1));
    assert!(upcall_due(true, true, 1, 2));
}

#[test]
fn deliverable_while_open_injects_an_upcall_that_runs_closed() {
    let (page, bell, mut vcpu) = running(Nesting::NONE);
    assert!(vcpu.upcall_due(&page, true));
    assert_eq!(vcpu.resume(&page, &bell, || true), Ok(Resume::Upcall { depth: 1 }));
    assert!(!page.is_open(), "the handler runs with the flag set");
    assert_eq!(page.guest().upcall_depth(), 1);
    assert_eq!(vcpu.upcalls(), 1);
}

#[test]
fn deliverable_while_closed_only_sets_upcall_pending() {
    let (page, bell, mut vcpu) = running(Nesting::NONE);
    page.guest().cli();
    assert!(!vcpu.upcall_due(&page, true));
    assert_eq!(vcpu.resume(&page, &bell, || true), Ok(Resume::Flagged));
    assert!(page.guest().upcall_pending());
    assert!(page.guest().sti(), "the guest finds it after sti");
    assert_eq!(vcpu.deliver(&page, &bell, || true), Ok(Resume::Upcall { depth: 1 }));
    assert!(!page.guest().upcall_pending(), "injection consumes the flag");
}

#[test]
fn the_isr_level_closes_like_the_flag() {
    let (page, bell, mut vcpu) = running(Nesting::NONE);
    assert_eq!(vcpu.close(&page), Ok(0));
    assert_eq!(vcpu.resume(&page, &bell, || true), Ok(Resume::Flagged));
    assert!(page.guest().upcall_pending());
    assert_eq!(vcpu.open(&page, &bell, 0, || true), Ok(Resume::Upcall { depth: 1 }));
    let (page, bell, mut vcpu) = running(Nesting::NONE);
    assert_eq!(vcpu.set_level(&page, &bell, 7, || true), Ok(Resume::Flagged));
    assert_eq!(vcpu.close(&page), Ok(7));
    assert_eq!(vcpu.set_level(&page, &bell, 0, || true), Ok(Resume::Upcall { depth: 1 }));
}

#[test]
fn return_restores_the_flag_and_chains_the_next_upcall() {
    let (page, bell, mut vcpu) = running(Nesting::NONE);
    assert_eq!(vcpu.resume(&page, &bell, || true), Ok(Resume::Upcall { depth: 1 }));
    assert_eq!(vcpu.upcall_return(&page, &bell, || true), Ok(Resume::Upcall { depth: 1 }));
    assert_eq!(vcpu.upcall_return(&page, &bell, || false), Ok(Resume::Run));
    assert!(page.is_open(), "the interrupted context was open");
    assert_eq!(vcpu.depth(), 0);
    assert_eq!(page.guest().upcall_depth(), 0);
}

#[test]
fn return_without_an_upcall_is_a_typed_error_that_changes_nothing() {
    let (page, bell, mut vcpu) = running(Nesting::NONE);
    let (before, bytes) = (vcpu.clone(), page.to_bytes());
    assert_eq!(vcpu.upcall_return(&page, &bell, || true), Err(Error::NotInUpcall));
    assert_eq!((vcpu.clone(), page.to_bytes()), (before, bytes));
}

#[test]
fn no_nesting_by_default_even_if_the_handler_enables() {
    let (page, bell, mut vcpu) = running(Nesting::NONE);
    assert_eq!(vcpu.resume(&page, &bell, || true), Ok(Resume::Upcall { depth: 1 }));
    assert!(!page.guest().sti());
    assert!(!vcpu.upcall_due(&page, true));
    assert_eq!(vcpu.resume(&page, &bell, || true), Ok(Resume::Flagged));
    assert!(page.guest().upcall_pending(), "it is flagged for the handler");
}

#[test]
fn bounded_nesting_stops_at_its_depth_and_unwinds() {
    let (page, bell, mut vcpu) = running(Nesting::bounded(3).unwrap());
    for depth in 1..=3 {
        assert_eq!(vcpu.resume(&page, &bell, || true), Ok(Resume::Upcall { depth }));
        let _ = page.guest().sti();
    }
    assert_eq!(vcpu.resume(&page, &bell, || true), Ok(Resume::Flagged), "depth 3 is the bound");
    for depth in (0..3).rev() {
        assert_eq!(vcpu.upcall_return(&page, &bell, || false), Ok(Resume::Run));
        assert_eq!(vcpu.depth(), depth);
    }
    assert_eq!(vcpu.upcall_return(&page, &bell, || false), Err(Error::NotInUpcall));
}

#[test]
fn flash_delivers_what_is_due_and_ends_disabled() {
    let (page, bell, mut vcpu) = running(Nesting::NONE);
    page.guest().cli();
    assert_eq!(vcpu.flash(&page, &bell, || false), Ok(Resume::Run));
    assert!(!page.is_open());
    assert_eq!(vcpu.flash(&page, &bell, || true), Ok(Resume::Upcall { depth: 1 }));
    assert_eq!(vcpu.upcall_return(&page, &bell, || false), Ok(Resume::Run));
    assert!(!page.is_open(), "return from an upcall taken in a flash leaves it disabled");
    // With the ISR level closed, a flash of the flag delivers nothing and flags it.
    let _ = vcpu.close(&page).unwrap();
    assert_eq!(vcpu.flash(&page, &bell, || true), Ok(Resume::Flagged));
    assert!(!page.is_open());
    assert!(page.guest().upcall_pending());
}

#[test]
fn enable_and_disable_by_hypercall() {
    let (page, bell, mut vcpu) = running(Nesting::NONE);
    assert_eq!(vcpu.disable(&page), Ok(Resume::Run));
    assert!(!page.is_open());
    assert_eq!(vcpu.enable(&page, &bell, || false), Ok(Resume::Run));
    assert!(page.is_open());
    let _ = vcpu.disable(&page).unwrap();
    assert_eq!(vcpu.enable(&page, &bell, || true), Ok(Resume::Upcall { depth: 1 }));
}

#[test]
fn idle_gives_up_the_window_and_wakes_only_inside_a_window() {
    let (page, bell, mut vcpu) = running(Nesting::NONE);
    assert_eq!(vcpu.idle(&page, &bell, || false), Ok(Resume::Idle));
    assert!(vcpu.is_idle());
    assert_eq!(
        vcpu.resume(&page, &bell, || false),
        Ok(Resume::Idle),
        "nothing deliverable: still idle"
    );
    vcpu.exit(&bell).unwrap();
    // An event outside the window: the kernel may not resume it.
    assert_eq!(vcpu.resume(&page, &bell, || true), Err(Error::OutsideWindow));
    assert!(vcpu.is_idle());
    // Next window, still nothing: it stays idle.
    assert_eq!(vcpu.enter(&page, &bell, || false), Ok(Resume::Idle));
    vcpu.exit(&bell).unwrap();
    // Next window, something deliverable: woken, and the upcall is injected.
    assert_eq!(vcpu.enter(&page, &bell, || true), Ok(Resume::Upcall { depth: 1 }));
    assert!(!vcpu.is_idle());
}

#[test]
fn idle_with_something_deliverable_does_not_sleep() {
    let (page, bell, mut vcpu) = running(Nesting::NONE);
    assert_eq!(vcpu.idle(&page, &bell, || true), Ok(Resume::Upcall { depth: 1 }));
    assert!(!vcpu.is_idle());
    let (page, bell, mut vcpu) = running(Nesting::NONE);
    page.guest().cli();
    assert_eq!(vcpu.idle(&page, &bell, || true), Ok(Resume::Flagged));
    assert!(page.guest().upcall_pending());
}

#[test]
fn guest_requests_outside_the_window_are_refused() {
    let (page, bell) = (SharedPage::new(), Doorbell::new());
    let mut vcpu = Vcpu::default();
    vcpu.start(&page, &bell, StartReason::Fresh);
    let before = (vcpu.clone(), page.to_bytes());
    assert_eq!(vcpu.deliver(&page, &bell, not_asked), Err(Error::OutsideWindow));
    assert_eq!(vcpu.enable(&page, &bell, not_asked), Err(Error::OutsideWindow));
    assert_eq!(vcpu.disable(&page), Err(Error::OutsideWindow));
    assert_eq!(vcpu.flash(&page, &bell, not_asked), Err(Error::OutsideWindow));
    assert_eq!(vcpu.set_level(&page, &bell, 0, not_asked), Err(Error::OutsideWindow));
    assert_eq!(vcpu.close(&page), Err(Error::OutsideWindow));
    assert_eq!(vcpu.idle(&page, &bell, not_asked), Err(Error::OutsideWindow));
    assert_eq!(vcpu.upcall_return(&page, &bell, not_asked), Err(Error::OutsideWindow));
    assert_eq!(vcpu.exit(&bell), Err(Error::OutsideWindow));
    assert_eq!((vcpu.clone(), page.to_bytes()), before);
    assert!(!bell.in_window(), "raisers see it outside");
    assert!(!vcpu.upcall_due(&page, true));
    assert_eq!(vcpu.enter(&page, &bell, || false), Ok(Resume::Run));
    assert_eq!(vcpu.enter(&page, &bell, || false), Err(Error::AlreadyInWindow));
}

#[test]
fn an_upcall_in_progress_survives_the_end_of_the_window() {
    let (page, bell, mut vcpu) = running(Nesting::NONE);
    assert_eq!(vcpu.resume(&page, &bell, || true), Ok(Resume::Upcall { depth: 1 }));
    vcpu.exit(&bell).unwrap();
    page.write_bytes(&[0; crate::PAGE_LEN]); // the guest scribbles the depth away
    assert_eq!(vcpu.enter(&page, &bell, || true), Ok(Resume::Flagged), "still in its handler");
    assert_eq!(page.guest().upcall_depth(), 1, "the kernel re-publishes its depth");
    assert_eq!(vcpu.upcall_return(&page, &bell, || false), Ok(Resume::Run));
}

#[test]
fn start_forgets_upcalls_and_idle_and_resets_the_page() {
    let (page, bell, mut vcpu) = running(Nesting::NONE);
    assert_eq!(vcpu.resume(&page, &bell, || true), Ok(Resume::Upcall { depth: 1 }));
    vcpu.start(&page, &bell, StartReason::ColdRestart { cause: 3 });
    assert_eq!((vcpu.depth(), vcpu.in_window(), vcpu.upcalls()), (0, false, 0));
    assert_eq!(page.guest().start_reason(), Some(StartReason::ColdRestart { cause: 3 }));
    assert!(!page.is_open(), "a started partition begins with interrupts disabled");
}

#[test]
fn idle_is_published_to_raisers_who_wake_it_only_inside_its_window() {
    let (page, bell, mut vcpu) = running(Nesting::NONE);
    page.guest().cli();
    assert_eq!(vcpu.idle(&page, &bell, || false), Ok(Resume::Idle));
    assert!(bell.is_idle());
    assert_eq!(bell.signal(&page), Signal::Wake, "idle, even closed, is woken");
    assert_eq!(vcpu.resume(&page, &bell, || true), Ok(Resume::Flagged));
    assert!(!vcpu.is_idle() && !bell.is_idle() && bell.in_window());
    assert_eq!(bell.signal(&page), Signal::Flagged);
    // Idle across the end of the window: raisers leave the event for the next entry.
    assert_eq!(vcpu.idle(&page, &bell, || false), Ok(Resume::Idle));
    vcpu.exit(&bell).unwrap();
    assert_eq!(bell.signal(&page), Signal::Later);
    assert_eq!(vcpu.enter(&page, &bell, || false), Ok(Resume::Idle));
    assert!(bell.is_idle(), "still idle in the next window");
    assert!(page.guest().sti());
    assert_eq!(vcpu.resume(&page, &bell, || true), Ok(Resume::Upcall { depth: 1 }));
    assert!(!bell.is_idle());
}

#[test]
fn deliverable_is_asked_after_the_operation_stored_what_it_opens() {
    let (page, bell, mut vcpu) = running(Nesting::NONE);
    let _ = vcpu.disable(&page).unwrap();
    // The closure sees the flag the operation stored, and the run state it published.
    let mut seen = false;
    assert_eq!(
        vcpu.enable(&page, &bell, || {
            seen = page.is_open();
            false
        }),
        Ok(Resume::Run)
    );
    assert!(seen, "enable stores the flag before asking");
    let _ = vcpu.close(&page).unwrap();
    let mut seen = false;
    let _ = vcpu.set_level(&page, &bell, 0, || {
        seen = page.is_open();
        false
    });
    assert!(seen, "set-level stores the level before asking");
    let mut seen = false;
    let _ = vcpu.idle(&page, &bell, || {
        seen = bell.is_idle();
        false
    });
    assert!(seen, "idle publishes the run state before asking");
}

#[test]
fn a_direct_upcall_is_taken_only_when_one_is_due_and_leaves_the_flag_alone() {
    let never = || -> bool { unreachable!("take asked while no upcall is due") };
    let (page, bell) = (SharedPage::new(), Doorbell::new());
    let mut vcpu = Vcpu::new(Nesting::NONE);
    vcpu.start(&page, &bell, StartReason::Fresh);
    assert!(!page.guest().sti());
    assert_eq!(vcpu.direct_upcall(&page, never), None, "outside the window");
    assert_eq!(vcpu.enter(&page, &bell, || false), Ok(Resume::Run));
    page.guest().cli();
    assert_eq!(vcpu.direct_upcall(&page, never), None, "closed");
    let level = page.guest().close();
    assert!(!page.guest().sti());
    assert_eq!(vcpu.direct_upcall(&page, never), None, "closed by the ISR level");
    assert!(!page.guest().set_level(level));
    // A take that finds its event gone records nothing.
    assert_eq!(vcpu.direct_upcall(&page, || false), None);
    assert_eq!((vcpu.depth(), vcpu.upcalls()), (0, 0));
    // A raise on another CPU flagged an event meanwhile: the direct upcall keeps the flag.
    page.flag_pending();
    assert_eq!(vcpu.direct_upcall(&page, || true), Some(Resume::Upcall { depth: 1 }));
    assert_eq!((vcpu.depth(), vcpu.upcalls()), (1, 1));
    assert!(!page.is_open(), "the handler runs with the flag set");
    assert_eq!(page.guest().upcall_depth(), 1);
    assert!(page.guest().upcall_pending(), "the other CPU's flag is kept");
    assert_eq!(vcpu.direct_upcall(&page, never), None, "at the nesting bound");
    // Its return is an ordinary one: open again, the next decision taken.
    assert_eq!(vcpu.upcall_return(&page, &bell, || false), Ok(Resume::Run));
    assert!(page.is_open());
    assert_eq!(vcpu.idle(&page, &bell, || false), Ok(Resume::Idle));
    assert_eq!(vcpu.direct_upcall(&page, never), None, "idle");
}

#[test]
fn a_direct_upcall_nests_up_to_the_bound() {
    let (page, _bell, mut vcpu) = running(Nesting::bounded(2).unwrap());
    assert_eq!(vcpu.direct_upcall(&page, || true), Some(Resume::Upcall { depth: 1 }));
    // The handler opens its vCPU: a second interrupt nests.
    assert!(!page.guest().sti());
    assert_eq!(vcpu.direct_upcall(&page, || true), Some(Resume::Upcall { depth: 2 }));
    assert!(!page.guest().sti());
    assert_eq!(vcpu.direct_upcall(&page, || unreachable!("at the bound")), None);
}
