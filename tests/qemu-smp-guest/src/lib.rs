//! The partitions' program of the SMP end-to-end kernel (`tests/qemu-smp-kernel`), and
//! what it shares with the kernel (this library): the layout of a partition's memory, the
//! image's header and address, the ports the program knows.
//!
//! The program (`src/main.rs`) is built on its own for `x86_64-unknown-none`, linked at
//! [`GUEST_BASE`] (`guest.ld`), and embedded by the kernel as bytes (its build script,
//! with `guest-image`): one read-only user image, mapped in every partition, holding
//! every instruction a partition executes, `core`'s and the compiler's included. So a
//! debug build of the kernel (and of the program) runs its partitions as a release one
//! does: nothing a partition calls is in the kernel's supervisor pages.
#![no_std]

use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::sync::atomic::AtomicU64;

use irq_router::vcpu::SharedPage;
use irq_x86::UpcallFrame;

/// Where the image is linked and mapped (a 2 MiB page of its own, user, read-only and
/// executable in every partition's tables; `guest.ld` and the kernel's linker script say
/// the same, and the kernel checks the header there at boot).
pub const GUEST_BASE: u64 = 0x200_0000;

/// The image's first bytes: what the kernel needs to start a partition.
#[repr(C)]
pub struct Header {
    /// [`MAGIC`].
    pub magic: u64,
    /// Every partition's entry: `rdi` = its memory.
    pub main: extern "C" fn(u64) -> !,
    /// Every partition's upcall handler: `rdi` = the upcall frame.
    pub upcall: extern "C" fn(*const UpcallFrame) -> !,
}

/// The header's first word.
pub const MAGIC: u64 = u64::from_le_bytes(*b"IRQGUEST");

/// Bytes of a partition's memory (one large page).
pub const MEMORY_SIZE: u64 = 0x20_0000;
/// Bytes of a partition's stack.
pub const STACK_SIZE: usize = 64 * 1024;

/// Every partition's timer port.
pub const TIMER_PORT: u16 = 0;
/// The burst's lines (and ports, from the partition's `burst_port`).
pub const BURST_LINES: usize = 16;
/// Rounds of the burst the partition runs each time it wakes (each tick of its window):
/// the burst's load is spread over its windows.
pub const BURST_PER_WAKE: u64 = 2;

/// What a partition knows, in its memory: its role (written by the kernel at boot, from
/// the configuration) and its counts (read by the kernel for the report).
#[allow(missing_docs, reason = "counts named as the report prints them, documented by group")]
pub struct GuestState {
    /// 1 for a warp partition.
    pub warp: AtomicU64,
    /// Its device port plus one (0: none).
    pub device_port: AtomicU64,
    /// Its FPU/SSE pattern.
    pub pattern: AtomicU64,
    pub started: AtomicU64,
    pub time: AtomicU64,
    pub handled: AtomicU64,
    pub upcalls: AtomicU64,
    pub device_events: AtomicU64,
    pub device_upcalls: AtomicU64,
    pub device_prompt: AtomicU64,
    pub device_late_max: AtomicU64,
    pub fpu_checks: AtomicU64,
    pub fpu_bad: AtomicU64,
    /// 1 if it loads FS and GS (selectors, and bases where FSGSBASE is offered), 0 if it
    /// leaves them null (written by the kernel at boot).
    pub segments: AtomicU64,
    /// The word it reads through `fs:` and `gs:` (written by the kernel at boot).
    pub segment_word: AtomicU64,
    /// 1 if it wrote and checked its bases (FSGSBASE offered).
    pub segment_bases: AtomicU64,
    pub segment_checks: AtomicU64,
    pub segment_bad: AtomicU64,
    /// The first mismatch: selectors (FS in bits 0..16, GS in 16..32).
    pub segment_bad_selectors: AtomicU64,
    /// 1 if it makes its idle and upcall-return calls through `syscall` and compares
    /// answers (written by the kernel at boot).
    pub syscall: AtomicU64,
    /// Hypercalls it made through `syscall`, answers compared with those of `int 0x80`,
    /// and those that differed (the first one's call number plus one).
    pub syscall_calls: AtomicU64,
    pub syscall_compared: AtomicU64,
    pub syscall_mismatches: AtomicU64,
    pub syscall_first_bad: AtomicU64,
    /// Its port of the edu's INTx plus one (0: none), and the edu's registers (mapped
    /// user in its own tables).
    pub edu_port: AtomicU64,
    pub edu_mmio: AtomicU64,
    /// The INTx event whose acknowledgement it withholds (0: none), for how many ticks.
    pub withhold_at: AtomicU64,
    pub withhold_for: AtomicU64,
    /// Its clock when it gives the withheld acknowledgement (0: none pending).
    pub withheld_until: AtomicU64,
    pub withheld_given: AtomicU64,
    pub edu_events: AtomicU64,
    pub edu_upcalls: AtomicU64,
    /// Its port of the edu's MSI plus one (0: none).
    pub msi_port: AtomicU64,
    pub msi_events: AtomicU64,
    pub msi_upcalls: AtomicU64,
    /// Its first burst port plus one (0: none), and the rounds to run (written by the
    /// kernel from the configuration; 0 again at the end of the run).
    pub burst_port: AtomicU64,
    pub burst_rounds: AtomicU64,
    /// The round whose burst it asks for (the kernel fires it when the partition enters
    /// the kernel next), and the round the kernel fired last.
    pub burst_request: AtomicU64,
    pub burst_fired: AtomicU64,
    /// Burst interrupts the kernel took for it (written by the kernel).
    pub burst_taken: AtomicU64,
    /// This round's upcalls of burst ports, and their ports (offset from the first) four
    /// bits each, in the order they came.
    pub burst_seen: AtomicU64,
    pub burst_log: AtomicU64,
    /// Rounds run, rounds in order, events taken from burst ports, the log of the first
    /// round out of order (and its count of upcalls), rounds whose interrupts the kernel
    /// did not all take within the wait.
    pub burst_done: AtomicU64,
    pub burst_in_order: AtomicU64,
    pub burst_events: AtomicU64,
    pub burst_bad_log: AtomicU64,
    pub burst_bad_seen: AtomicU64,
    pub burst_timeouts: AtomicU64,
}

/// The kernel's account of the warps it gave a warp partition (written by the kernel,
/// read by the guest): one timer event stands for `delta` ticks in all, over `markers`
/// events.
pub struct Ledger {
    /// Timer events that stood for a warp.
    pub markers: AtomicU64,
    /// The ticks they stood for, in all.
    pub delta: AtomicU64,
}

/// A partition's memory.
#[repr(C, align(0x200000))]
pub struct PartitionMemory {
    /// The page shared with the kernel (written once at boot, by the kernel: its
    /// initial value is not all zeros, and the rest of the memory is, so the whole stays
    /// in `.bss`).
    pub page: UnsafeCell<MaybeUninit<SharedPage>>,
    /// Its role and counts.
    pub state: GuestState,
    /// The kernel's warps.
    pub ledger: Ledger,
    /// Its stack.
    pub stack: UnsafeCell<[u8; STACK_SIZE]>,
}

// SAFETY: the stack is only used through the partition's RSP (the kernel takes its
// address); the shared page is written once by the kernel before any partition runs;
// everything else is atomics.
unsafe impl Sync for PartitionMemory {}

impl PartitionMemory {
    #[allow(
        clippy::declare_interior_mutable_const,
        reason = "a zero to initialize each field by value, never shared"
    )]
    /// All zeros (the shared page written at boot by the kernel).
    #[must_use]
    pub const fn new() -> Self {
        const Z: AtomicU64 = AtomicU64::new(0);
        Self {
            page: UnsafeCell::new(MaybeUninit::uninit()),
            state: GuestState {
                warp: Z,
                device_port: Z,
                pattern: Z,
                started: Z,
                time: Z,
                handled: Z,
                upcalls: Z,
                device_events: Z,
                device_upcalls: Z,
                device_prompt: Z,
                device_late_max: Z,
                fpu_checks: Z,
                fpu_bad: Z,
                segments: Z,
                segment_word: Z,
                segment_bases: Z,
                segment_checks: Z,
                segment_bad: Z,
                segment_bad_selectors: Z,
                syscall: Z,
                syscall_calls: Z,
                syscall_compared: Z,
                syscall_mismatches: Z,
                syscall_first_bad: Z,
                edu_port: Z,
                edu_mmio: Z,
                withhold_at: Z,
                withhold_for: Z,
                withheld_until: Z,
                withheld_given: Z,
                edu_events: Z,
                edu_upcalls: Z,
                msi_port: Z,
                msi_events: Z,
                msi_upcalls: Z,
                burst_port: Z,
                burst_rounds: Z,
                burst_request: Z,
                burst_fired: Z,
                burst_taken: Z,
                burst_seen: Z,
                burst_log: Z,
                burst_done: Z,
                burst_in_order: Z,
                burst_events: Z,
                burst_bad_log: Z,
                burst_bad_seen: Z,
                burst_timeouts: Z,
            },
            ledger: Ledger { markers: Z, delta: Z },
            stack: UnsafeCell::new([0; STACK_SIZE]),
        }
    }

    /// Its first address.
    pub fn base(&self) -> u64 {
        core::ptr::from_ref(self) as u64
    }

    /// The initial stack pointer.
    pub fn stack_top(&self) -> u64 {
        self.stack.get() as u64 + STACK_SIZE as u64
    }
}

impl Default for PartitionMemory {
    fn default() -> Self {
        Self::new()
    }
}
