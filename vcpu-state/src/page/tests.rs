//! Unit tests of the page: layout, byte round trip, open/closed, reset.

use core::mem::{align_of, offset_of, size_of};

use super::{PAGE_LEN, SharedPage};
use crate::start::StartReason;

#[test]
fn the_page_can_be_shared_between_cpus() {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<SharedPage>();
    send_sync::<crate::Doorbell>();
    send_sync::<crate::Vcpu>();
    send_sync::<crate::Partition>();
    send_sync::<crate::TimeAccount>();
}

#[test]
fn layout_matches_the_documented_offsets() {
    assert_eq!(size_of::<SharedPage>(), PAGE_LEN);
    assert_eq!(align_of::<SharedPage>(), 8);
    assert_eq!(offset_of!(SharedPage, version), SharedPage::VERSION_OFFSET);
    assert_eq!(offset_of!(SharedPage, upcall_mask), SharedPage::UPCALL_MASK_OFFSET);
    assert_eq!(offset_of!(SharedPage, upcall_pending), SharedPage::UPCALL_PENDING_OFFSET);
    assert_eq!(offset_of!(SharedPage, upcall_depth), SharedPage::UPCALL_DEPTH_OFFSET);
    assert_eq!(offset_of!(SharedPage, start_reason), SharedPage::START_REASON_OFFSET);
    assert_eq!(offset_of!(SharedPage, isr_level), SharedPage::ISR_LEVEL_OFFSET);
    assert_eq!(offset_of!(SharedPage, start_cause), SharedPage::START_CAUSE_OFFSET);
    assert_eq!(offset_of!(SharedPage, clock_now), SharedPage::CLOCK_NOW_OFFSET);
    assert_eq!(offset_of!(SharedPage, clock_given), SharedPage::CLOCK_GIVEN_OFFSET);
    assert_eq!(offset_of!(SharedPage, clock_dropped), SharedPage::CLOCK_DROPPED_OFFSET);
    assert_eq!(offset_of!(SharedPage, window_end), SharedPage::WINDOW_END_OFFSET);
    assert_eq!(offset_of!(SharedPage, entries), SharedPage::ENTRIES_OFFSET);
    assert_eq!(offset_of!(SharedPage, reserved), SharedPage::RESERVED_OFFSET);
}

#[test]
fn bytes_round_trip_field_by_field() {
    let page = SharedPage::new();
    let bytes: [u8; PAGE_LEN] = core::array::from_fn(|i| (i as u8).wrapping_mul(37) ^ 0x5a);
    page.write_bytes(&bytes);
    assert_eq!(page.to_bytes(), bytes);
    // The bytes land in the fields the offsets name.
    assert_eq!(page.to_bytes()[SharedPage::UPCALL_MASK_OFFSET], bytes[4]);
    assert_eq!(page.level(), u32::from_ne_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]));
}

#[test]
fn open_only_when_flag_and_level_are_both_zero() {
    let page = SharedPage::new();
    assert!(!page.is_open(), "a new page starts closed");
    page.store_mask(false);
    assert!(page.is_open());
    page.store_level(0x8000_0000);
    assert!(!page.is_open());
    page.store_level(0);
    let mut bytes = page.to_bytes();
    bytes[SharedPage::UPCALL_MASK_OFFSET] = 0xff;
    page.write_bytes(&bytes);
    assert!(!page.is_open(), "any nonzero flag byte closes");
}

#[test]
fn reset_writes_every_field() {
    let page = SharedPage::new();
    page.write_bytes(&[0xa5; PAGE_LEN]);
    page.reset(StartReason::WarmRestart { cause: 9 });
    let fresh = SharedPage::new();
    fresh.start_reason.store(3, crate::sync::Ordering::Relaxed);
    fresh.start_cause.store(9, crate::sync::Ordering::Relaxed);
    assert_eq!(page.to_bytes(), fresh.to_bytes());
}

#[test]
fn signal_reports_open_or_flagged_and_always_sets_pending() {
    let (page, bell) = (SharedPage::new(), crate::Doorbell::new());
    bell.set_inside(false);
    assert_eq!(bell.signal(&page), crate::Signal::Flagged);
    assert!(page.guest().upcall_pending());
    page.guest().clear_pending();
    page.store_mask(false);
    assert_eq!(bell.signal(&page), crate::Signal::Open);
    assert!(page.guest().upcall_pending());
    page.begin_upcall(1);
    assert!(!page.guest().upcall_pending());
    assert!(!page.is_open());
}
