//! The page shared with the guest: its `#[repr(C)]` layout and the kernel's side of it.
//!
//! The page is a struct of atomics. An adapter maps it onto the memory the guest sees
//! (the hosted adapter onto shared memory, the x86 adapter onto a page of the partition's
//! address space); this crate never needs `unsafe` to use it. The layout and the trust
//! rules are documented on [`SharedPage`].

mod bytes;
mod guest;

pub use guest::Guest;

use crate::start::{CODE_NONE, StartReason};
use crate::sync::{AtomicU8, AtomicU32, AtomicU64, Ordering, maybe_const_fn};
use crate::time::GuestClock;

/// Layout version of [`SharedPage`].
pub const PAGE_VERSION: u32 = 1;

/// Size of the shared page's layout in bytes.
pub const PAGE_LEN: usize = 64;

/// `upcall_mask` value that closes the vCPU (any nonzero value does).
pub const MASKED: u8 = 1;

/// `isr_level` value the guest-side close stores (any nonzero value closes).
pub const ISR_LEVEL_DISABLED: u32 = 1;

/// The page shared between the kernel and one partition.
///
/// # Layout, version 1 ([`PAGE_VERSION`]), 64 bytes, native byte order
///
/// | offset | size | field            | written by        | meaning |
/// |-------:|-----:|------------------|-------------------|---------|
/// | 0      | 4    | `version`        | kernel            | [`PAGE_VERSION`] |
/// | 4      | 1    | `upcall_mask`    | guest (cli/sti); kernel on upcall entry and return | virtual interrupt flag, Xen's `evtchn_upcall_mask`: 0 = enabled, any other value = disabled |
/// | 5      | 1    | `upcall_pending` | kernel sets; guest may clear | nonzero: an event became deliverable; the guest checks it after sti and asks for delivery |
/// | 6      | 1    | `upcall_depth`   | kernel            | upcalls in progress (0 = not in an upcall handler) |
/// | 7      | 1    | `start_reason`   | kernel            | 0 never started, 1 fresh, 2 cold restart, 3 warm restart ([`StartReason`]) |
/// | 8      | 4    | `isr_level`      | guest             | RTEMS ISR level (`_CPU_ISR_Set_level`): 0 = enabled, any other value = disabled |
/// | 12     | 4    | `start_cause`    | kernel            | health-monitor event code that caused the restart, 0 if none |
/// | 16     | 8    | `clock_now`      | kernel            | kernel tick counter at the last entry |
/// | 24     | 8    | `clock_given`    | kernel            | ticks given to the guest since it started, as of the last entry |
/// | 32     | 8    | `clock_dropped`  | kernel            | ticks the catch-up policy dropped (collapse, bounded replay) since it started |
/// | 40     | 8    | `window_end`     | kernel            | tick at which the current window ends |
/// | 48     | 8    | `entries`        | kernel            | number of window entries since the partition started |
/// | 56     | 8    | `reserved`       | kernel            | 0; room for version 2 |
///
/// The vCPU accepts upcalls (is *open*) when `upcall_mask == 0` and `isr_level == 0`. A
/// guest may use either field: cli/sti is one store to `upcall_mask`, RTEMS's set-level
/// one store to `isr_level`.
///
/// # Trust
///
/// The guest can write every byte of the page at any time. The kernel reads only
/// `upcall_mask` and `isr_level`, and only to decide whether this partition is open; any
/// value is valid and means "open" or "closed". Every other field is written by the kernel
/// and never read back for a decision, so a guest that scribbles on the page hurts only
/// its own delivery. The kernel's own state (upcall depth, idle, time) lives outside the
/// page, in [`Vcpu`](crate::Vcpu) and [`TimeAccount`](crate::TimeAccount).
#[repr(C)]
#[derive(Debug)]
pub struct SharedPage {
    version: AtomicU32,
    upcall_mask: AtomicU8,
    upcall_pending: AtomicU8,
    upcall_depth: AtomicU8,
    start_reason: AtomicU8,
    isr_level: AtomicU32,
    start_cause: AtomicU32,
    clock_now: AtomicU64,
    clock_given: AtomicU64,
    clock_dropped: AtomicU64,
    window_end: AtomicU64,
    entries: AtomicU64,
    reserved: AtomicU64,
}

impl SharedPage {
    /// Offset of `version`.
    pub const VERSION_OFFSET: usize = 0;
    /// Offset of `upcall_mask`.
    pub const UPCALL_MASK_OFFSET: usize = 4;
    /// Offset of `upcall_pending`.
    pub const UPCALL_PENDING_OFFSET: usize = 5;
    /// Offset of `upcall_depth`.
    pub const UPCALL_DEPTH_OFFSET: usize = 6;
    /// Offset of `start_reason`.
    pub const START_REASON_OFFSET: usize = 7;
    /// Offset of `isr_level`.
    pub const ISR_LEVEL_OFFSET: usize = 8;
    /// Offset of `start_cause`.
    pub const START_CAUSE_OFFSET: usize = 12;
    /// Offset of `clock_now`.
    pub const CLOCK_NOW_OFFSET: usize = 16;
    /// Offset of `clock_given`.
    pub const CLOCK_GIVEN_OFFSET: usize = 24;
    /// Offset of `clock_dropped`.
    pub const CLOCK_DROPPED_OFFSET: usize = 32;
    /// Offset of `window_end`.
    pub const WINDOW_END_OFFSET: usize = 40;
    /// Offset of `entries`.
    pub const ENTRIES_OFFSET: usize = 48;
    /// Offset of `reserved`.
    pub const RESERVED_OFFSET: usize = 56;

    maybe_const_fn! {
        /// A page as a partition finds it before its first start: current version,
        /// interrupts disabled, nothing pending, never started.
        #[must_use]
        pub fn new() -> Self {
            Self {
                version: AtomicU32::new(PAGE_VERSION),
                upcall_mask: AtomicU8::new(MASKED),
                upcall_pending: AtomicU8::new(0),
                upcall_depth: AtomicU8::new(0),
                start_reason: AtomicU8::new(CODE_NONE),
                isr_level: AtomicU32::new(0),
                start_cause: AtomicU32::new(0),
                clock_now: AtomicU64::new(0),
                clock_given: AtomicU64::new(0),
                clock_dropped: AtomicU64::new(0),
                window_end: AtomicU64::new(0),
                entries: AtomicU64::new(0),
                reserved: AtomicU64::new(0),
            }
        }
    }

    /// The guest's side of the page.
    #[must_use]
    pub const fn guest(&self) -> Guest<'_> {
        Guest::new(self)
    }

    // ---- kernel reads (untrusted values) ----

    /// The vCPU accepts upcalls: `upcall_mask == 0 && isr_level == 0`. Any byte pattern
    /// is a valid answer.
    #[must_use]
    #[inline]
    pub fn is_open(&self) -> bool {
        self.upcall_mask.load(Ordering::Acquire) == 0 && self.isr_level.load(Ordering::Acquire) == 0
    }

    // ---- kernel writes ----

    /// Resets the page for a partition (re)start: current version, interrupts disabled,
    /// ISR level 0, nothing pending, not in an upcall, the start reason, a zero clock.
    pub fn reset(&self, reason: StartReason) {
        let (code, cause) = reason.encode();
        self.version.store(PAGE_VERSION, Ordering::Relaxed);
        self.upcall_mask.store(MASKED, Ordering::Relaxed);
        self.upcall_pending.store(0, Ordering::Relaxed);
        self.upcall_depth.store(0, Ordering::Relaxed);
        self.start_reason.store(code, Ordering::Relaxed);
        self.isr_level.store(0, Ordering::Relaxed);
        self.start_cause.store(cause, Ordering::Relaxed);
        self.publish_clock(&GuestClock::default());
        self.reserved.store(0, Ordering::Release);
    }

    /// Publishes the guest-visible clock (at entry, before the guest runs).
    pub fn publish_clock(&self, clock: &GuestClock) {
        self.clock_now.store(clock.now, Ordering::Relaxed);
        self.clock_given.store(clock.given, Ordering::Relaxed);
        self.clock_dropped.store(clock.dropped, Ordering::Relaxed);
        self.window_end.store(clock.window_end, Ordering::Relaxed);
        self.entries.store(clock.entries, Ordering::Release);
    }

    /// Kernel stores into the flag (the enable/disable hypercalls, upcall return).
    #[inline]
    pub(crate) fn store_mask(&self, masked: bool) {
        self.upcall_mask.store(u8::from(masked), Ordering::Release);
    }

    /// Kernel stores into the ISR level (the set-level hypercall).
    #[inline]
    pub(crate) fn store_level(&self, level: u32) {
        self.isr_level.store(level, Ordering::Release);
    }

    /// The ISR level as the guest left it (untrusted; only ever handed back to the guest).
    #[must_use]
    #[inline]
    pub fn level(&self) -> u32 {
        self.isr_level.load(Ordering::Acquire)
    }

    /// Entry into an upcall at `depth`: the handler runs with the flag set (as an x86
    /// interrupt gate clears IF) and "upcall pending" is consumed, since the handler
    /// delivers everything deliverable. The clear comes before the handler scans its
    /// ports, so a raise that the scan misses comes after the clear and sets the flag
    /// again (the port's count, an AcqRel compare-and-swap in notify-core, orders the two;
    /// see the loom model `loom_upcall_entry_vs_raise_keeps_the_flag_or_the_event`).
    #[inline]
    pub(crate) fn begin_upcall(&self, depth: u8) {
        self.enter_upcall(depth);
        self.upcall_pending.store(0, Ordering::Relaxed);
    }

    /// Entry into an upcall at `depth` that leaves "upcall pending" alone: the direct
    /// upcall of an event that was never deliverable ([`Vcpu::direct_upcall`]). Nothing
    /// else was deliverable, so the flag announces nothing the handler is meant to find,
    /// and a raise on another CPU that set it meanwhile must keep it: no read-modify-write
    /// orders a clear here after that raise (see the loom model
    /// `loom_direct_upcall_vs_raise_keeps_the_flag_or_the_event`).
    ///
    /// [`Vcpu::direct_upcall`]: crate::Vcpu::direct_upcall
    #[inline]
    pub(crate) fn enter_upcall(&self, depth: u8) {
        self.upcall_mask.store(MASKED, Ordering::Relaxed);
        self.upcall_depth.store(depth, Ordering::Relaxed);
    }

    /// Re-publishes the kernel's upcall depth (at entry; the guest may have scribbled).
    #[inline]
    pub(crate) fn publish_depth(&self, depth: u8) {
        self.upcall_depth.store(depth, Ordering::Relaxed);
    }

    /// Return from an upcall to `depth`, restoring the flag the upcall interrupted.
    #[inline]
    pub(crate) fn end_upcall(&self, depth: u8, masked: bool) {
        self.upcall_depth.store(depth, Ordering::Relaxed);
        self.store_mask(masked);
    }

    /// Sets "upcall pending" (Release: a guest that sees it also sees the event raised
    /// before it). [`Doorbell::signal`](crate::Doorbell::signal) on any CPU, and the
    /// partition's own CPU when an event is deliverable but no upcall is due.
    #[inline]
    pub(crate) fn flag_pending(&self) {
        self.upcall_pending.store(1, Ordering::Release);
    }
}

impl Default for SharedPage {
    fn default() -> Self {
        Self::new()
    }
}

// Loom's atomics are larger than the hardware's; the layout is only meaningful without it.
#[cfg(all(test, not(loom)))]
mod tests;
