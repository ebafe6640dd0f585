//! The partitions' program of the 8259 end-to-end kernel (`tests/qemu-kernel`), and what
//! it shares with the kernel (this library): the layout of each partition's memory, the
//! image's header and address, the ports and the numbers of the scenario.
//!
//! The program (`src/main.rs`) is built on its own for `x86_64-unknown-none`, linked at
//! [`GUEST_BASE`] (`guest.ld`), and embedded by the kernel as bytes (its build script,
//! with `guest-image`): one read-only user image, mapped in both partitions, holding
//! every instruction a partition executes, `core`'s and the compiler's included. So a
//! debug build of the kernel (and of the program) runs its partitions as a release one
//! does: nothing a partition calls is in the kernel's supervisor pages.
//!
//! The program has no writable statics: each partition's state is in its own memory
//! ([`P0Memory`], [`P1Memory`]: a static of the kernel, one 2 MiB page each, user only in
//! that partition's page tables), which the program finds from the address the kernel
//! starts it with (`rdi`) or, in its handlers, from its stack (the upcall frame is on it).
#![no_std]

use core::cell::UnsafeCell;
use core::sync::atomic::AtomicU64;

use irq_router::vcpu::SharedPage;

/// Where the image is linked and mapped (a 2 MiB page of its own, user, read-only and
/// executable in both partitions' tables; `guest.ld` and the kernel's linker script say
/// the same, and the kernel checks the header there at boot).
pub const GUEST_BASE: u64 = 0x40_0000;

/// The image's first bytes: what the kernel needs to start a partition.
#[repr(C)]
pub struct Header {
    /// [`MAGIC`].
    pub magic: u64,
    /// Partition 0's entry: `rdi` = its memory ([`P0Memory`]).
    pub p0_main: extern "C" fn(u64) -> !,
    /// Partition 1's entry (and restart): `rdi` = its memory ([`P1Memory`]).
    pub p1_main: extern "C" fn(u64) -> !,
}

/// The header's first word.
pub const MAGIC: u64 = u64::from_le_bytes(*b"IRQ8259G");

/// Bytes of a partition's memory (one large page; its layout starts it).
pub const MEMORY_SIZE: u64 = 0x20_0000;
/// Bytes of a partition's stack.
pub const STACK_SIZE: usize = 16 * 1024;

/// Every partition's timer port.
pub const TIMER_PORT: u16 = 0;
/// Partition 0's end of the channel (source).
pub const CHANNEL_OUT: u16 = 2;
/// Partition 1's end of the channel (destination).
pub const CHANNEL_IN: u16 = 3;

/// Critical sections partition 0 runs.
pub const SECTIONS: u64 = 5;
/// Notifications partition 0 sends.
pub const NOTIFICATIONS: u64 = 3;
/// Partition 1's guest time at which it executes `ud2`.
pub const FAULT_AT: u64 = 30;

/// Partition 0's value in its FPU and SSE registers (xmm`i` holds it plus `i` twice, the
/// x87 stack top holds it).
pub const P0_FPU: u64 = 0x0123_4567_0000_0000;
/// Partition 1's.
pub const P1_FPU: u64 = 0x7654_3210_0000_0000;

/// An address in the kernel's (supervisor) memory: partition 0 points its stack there a
/// while, partition 1 reads it (the kernel checks at boot that it is its own, outside
/// the image and the partitions' memory).
pub const KERNEL_ADDRESS: u64 = 0x10_8000;

/// A partition's stack, in its own memory.
#[repr(C, align(16))]
pub struct Stack(UnsafeCell<[u8; STACK_SIZE]>);

impl Stack {
    const fn new() -> Self {
        Self(UnsafeCell::new([0; STACK_SIZE]))
    }

    /// The initial stack pointer.
    pub fn top(&self) -> u64 {
        self.0.get() as u64 + STACK_SIZE as u64
    }
}

/// What partition 0 knows, in its memory (the kernel reads it for the report).
#[allow(missing_docs, reason = "counts named as the report prints them")]
pub struct P0State {
    pub time: AtomicU64,
    pub upcalls: AtomicU64,
    pub in_critical: AtomicU64,
    pub sections: AtomicU64,
    pub deferred: AtomicU64,
    pub violations: AtomicU64,
    pub sent: AtomicU64,
    pub start_reason: AtomicU64,
    pub bad_stack: AtomicU64,
    pub fpu_checks: AtomicU64,
    pub fpu_bad: AtomicU64,
    pub segment_checks: AtomicU64,
    pub segment_bad: AtomicU64,
}

/// What partition 1 knows, in its memory (kept across its warm start; the kernel reads
/// it for the report).
#[allow(missing_docs, reason = "counts and addresses named as the report prints them")]
pub struct P1State {
    pub handled: AtomicU64,
    pub time: AtomicU64,
    pub upcalls: AtomicU64,
    pub received: AtomicU64,
    pub faults: AtomicU64,
    pub trap_vector: AtomicU64,
    pub trap_address: AtomicU64,
    pub trap_saved_rip: AtomicU64,
    pub expected_rip: AtomicU64,
    pub starts: AtomicU64,
    pub start_reason: AtomicU64,
    pub probe_rip: AtomicU64,
    pub probe_resume: AtomicU64,
    pub probe_vector: AtomicU64,
    pub probe_address: AtomicU64,
    pub probe_error: AtomicU64,
    pub probe_saved_rip: AtomicU64,
    pub probe_resumed: AtomicU64,
    pub fpu_checks: AtomicU64,
    pub fpu_bad: AtomicU64,
    /// Starts that found FS and GS null.
    pub segment_starts_null: AtomicU64,
    pub segment_checks: AtomicU64,
    pub segment_bad: AtomicU64,
}

/// The kernel's account of the warps it gave a warp partition, in that partition's
/// memory (written by the kernel, read by the guest): one timer event stands for
/// `delta` ticks in all, over `markers` events.
pub struct Ledger {
    /// Timer events that stood for a warp.
    pub markers: AtomicU64,
    /// The ticks they stood for, in all.
    pub delta: AtomicU64,
}

/// Partition 0's memory (its first bytes: the kernel places it at the start of the
/// partition's 2 MiB page).
#[repr(C, align(4096))]
pub struct P0Memory {
    /// The page shared with the kernel.
    pub page: SharedPage,
    /// Its counts.
    pub state: P0State,
    /// Its stack.
    pub stack: Stack,
}

/// Partition 1's memory (its first bytes, as for [`P0Memory`]).
#[repr(C, align(4096))]
pub struct P1Memory {
    /// The page shared with the kernel.
    pub page: SharedPage,
    /// Its counts.
    pub state: P1State,
    /// The kernel's warps.
    pub ledger: Ledger,
    /// Its stack.
    pub stack: Stack,
}

// SAFETY: the stack is only used through the partition's RSP (the kernel takes its
// address); everything else is atomics and the shared page (itself `Sync`).
unsafe impl Sync for P0Memory {}
// SAFETY: as for `P0Memory`.
unsafe impl Sync for P1Memory {}

#[allow(
    clippy::declare_interior_mutable_const,
    reason = "a zero to initialize each field by value, never shared"
)]
const Z: AtomicU64 = AtomicU64::new(0);

impl P0Memory {
    /// A fresh shared page, zero counts.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            page: SharedPage::new(),
            state: P0State {
                time: Z,
                upcalls: Z,
                in_critical: Z,
                sections: Z,
                deferred: Z,
                violations: Z,
                sent: Z,
                start_reason: Z,
                bad_stack: Z,
                fpu_checks: Z,
                fpu_bad: Z,
                segment_checks: Z,
                segment_bad: Z,
            },
            stack: Stack::new(),
        }
    }

    /// Its first address.
    pub fn base(&self) -> u64 {
        core::ptr::from_ref(self) as u64
    }
}

impl Default for P0Memory {
    fn default() -> Self {
        Self::new()
    }
}

impl P1Memory {
    /// A fresh shared page, zero counts, an empty ledger.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            page: SharedPage::new(),
            state: P1State {
                handled: Z,
                time: Z,
                upcalls: Z,
                received: Z,
                faults: Z,
                trap_vector: Z,
                trap_address: Z,
                trap_saved_rip: Z,
                expected_rip: Z,
                starts: Z,
                start_reason: Z,
                probe_rip: Z,
                probe_resume: Z,
                probe_vector: Z,
                probe_address: Z,
                probe_error: Z,
                probe_saved_rip: Z,
                probe_resumed: Z,
                fpu_checks: Z,
                fpu_bad: Z,
                segment_starts_null: Z,
                segment_checks: Z,
                segment_bad: Z,
            },
            ledger: Ledger { markers: Z, delta: Z },
            stack: Stack::new(),
        }
    }

    /// Its first address.
    pub fn base(&self) -> u64 {
        core::ptr::from_ref(self) as u64
    }
}

impl Default for P1Memory {
    fn default() -> Self {
        Self::new()
    }
}
