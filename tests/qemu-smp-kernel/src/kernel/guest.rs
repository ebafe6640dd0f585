//! The partitions' memory and code. One code for every partition (in `.guest_text`,
//! mapped user, read-only, in every partition): what a partition does follows from its
//! configuration (its catch-up policy, whether it has the device port), which the kernel
//! writes into its memory at boot. Each partition's memory is one 2 MiB page (its shared
//! page, its state, its stack), mapped user only in its own page tables; the code finds
//! it from its stack (an upcall frame is on it) or from its start argument.
//!
//! The code calls nothing in the kernel's pages: every helper is `#[inline(always)]`,
//! every string a `guest_str!`, no table, no zero-initialised array (memset), no
//! indexing (a bounds check would call the kernel's panic); kernel calls are hypercalls
//! through the guest library (`irq-guest`, over `int 0x80`), whose calls are all inlined.
//!
//! * The timer port: counts its ticks; a warp partition adds the warps its ledger says.
//! * The device port (partition 2): counts the device's events, and those that arrived
//!   within a tick of the raise (read from its clock against the event's timestamp).
//! * The edu INTx port (partitions 0 and 2): acknowledges the device at its register (its
//!   page is mapped into the partition), then the event through the ABI; partition 2
//!   withholds that acknowledgement once, for longer than the line's timeout.
//! * The edu MSI port (partition 3): counts the events.
//! * The burst's ports (partition 1): once the kernel gives it its 50 rounds, a few each
//!   time its main loop runs: close its virtual interrupts, ask for the burst (the kernel
//!   fires the 16 lines on its way back from the next call), wait until the kernel took
//!   them, open; its handler logs the order of the upcalls, and the round is in order if
//!   they came lowest port first.
//! * FPU/SSE: fills its registers with its own pattern and checks them before every idle.

use core::arch::asm;
use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::num::NonZeroU64;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use irq_guest::x86_64::Int80;
use irq_guest::{Hypervisor, Upcall};
use irq_router::vcpu::SharedPage;
use irq_x86::UpcallFrame;

use super::config::{BURST_LINES, BURST_PER_WAKE, PARTITIONS, TIMER_PORT};

/// The hypercalls, over `int 0x80` (the guest library: every call inlined).
const HV: Hypervisor<Int80> = Hypervisor::new(Int80);

/// A string in the guest's read-only user pages.
macro_rules! guest_str {
    ($s:literal) => {{
        #[unsafe(link_section = ".guest_rodata")]
        static S: [u8; $s.len()] = *$s;
        &S
    }};
}

/// Bytes of a partition's memory (one large page).
pub(crate) const MEMORY_SIZE: u64 = 0x20_0000;
/// Bytes of a partition's stack.
const STACK_SIZE: usize = 64 * 1024;

/// What a partition knows, in its memory: its role (written by the kernel at boot, from
/// the configuration) and its counts (read by the kernel for the report).
pub(crate) struct GuestState {
    /// 1 for a warp partition.
    pub(crate) warp: AtomicU64,
    /// Its device port plus one (0: none).
    pub(crate) device_port: AtomicU64,
    /// Its FPU/SSE pattern.
    pub(crate) pattern: AtomicU64,
    pub(crate) started: AtomicU64,
    pub(crate) time: AtomicU64,
    pub(crate) handled: AtomicU64,
    pub(crate) upcalls: AtomicU64,
    pub(crate) device_events: AtomicU64,
    pub(crate) device_upcalls: AtomicU64,
    pub(crate) device_prompt: AtomicU64,
    pub(crate) device_late_max: AtomicU64,
    pub(crate) fpu_checks: AtomicU64,
    pub(crate) fpu_bad: AtomicU64,
    /// Its port of the edu's INTx plus one (0: none), and the edu's registers (mapped
    /// user in its own tables).
    pub(crate) edu_port: AtomicU64,
    pub(crate) edu_mmio: AtomicU64,
    /// The INTx event whose acknowledgement it withholds (0: none), for how many ticks.
    pub(crate) withhold_at: AtomicU64,
    pub(crate) withhold_for: AtomicU64,
    /// Its clock when it gives the withheld acknowledgement (0: none pending).
    pub(crate) withheld_until: AtomicU64,
    pub(crate) withheld_given: AtomicU64,
    pub(crate) edu_events: AtomicU64,
    pub(crate) edu_upcalls: AtomicU64,
    /// Its port of the edu's MSI plus one (0: none).
    pub(crate) msi_port: AtomicU64,
    pub(crate) msi_events: AtomicU64,
    pub(crate) msi_upcalls: AtomicU64,
    /// Its first burst port plus one (0: none), and the rounds to run (written by the
    /// kernel from the configuration).
    pub(crate) burst_port: AtomicU64,
    pub(crate) burst_rounds: AtomicU64,
    /// The round whose burst it asks for (the kernel fires it when the partition enters
    /// the kernel next), and the round the kernel fired last.
    pub(crate) burst_request: AtomicU64,
    pub(crate) burst_fired: AtomicU64,
    /// Burst interrupts the kernel took for it (written by the kernel).
    pub(crate) burst_taken: AtomicU64,
    /// This round's upcalls of burst ports, and their ports (offset from the first) four
    /// bits each, in the order they came.
    pub(crate) burst_seen: AtomicU64,
    pub(crate) burst_log: AtomicU64,
    /// Rounds run, rounds in order, events taken from burst ports, the log of the first
    /// round out of order (and its count of upcalls), rounds whose interrupts the kernel
    /// did not all take within the wait.
    pub(crate) burst_done: AtomicU64,
    pub(crate) burst_in_order: AtomicU64,
    pub(crate) burst_events: AtomicU64,
    pub(crate) burst_bad_log: AtomicU64,
    pub(crate) burst_bad_seen: AtomicU64,
    pub(crate) burst_timeouts: AtomicU64,
}

/// The kernel's account of the warps it gave a warp partition (written by the kernel,
/// read by the guest): one timer event stands for `delta` ticks in all, over `markers`
/// events.
pub(crate) struct Ledger {
    pub(crate) markers: AtomicU64,
    pub(crate) delta: AtomicU64,
}

/// A partition's memory.
#[repr(C, align(0x200000))]
pub(crate) struct PartitionMemory {
    /// The page shared with the kernel (written once at boot, by [`init_pages`]: its
    /// initial value is not all zeros, and the rest of the memory is, so the whole stays
    /// in `.bss`).
    page: UnsafeCell<MaybeUninit<SharedPage>>,
    pub(crate) state: GuestState,
    pub(crate) ledger: Ledger,
    stack: UnsafeCell<[u8; STACK_SIZE]>,
}

// SAFETY: the stack is only used through the partition's RSP (the kernel takes its
// address); everything else is atomics.
unsafe impl Sync for PartitionMemory {}

impl PartitionMemory {
    #[allow(
        clippy::declare_interior_mutable_const,
        reason = "a zero to initialize each field by value, never shared"
    )]
    const fn new() -> Self {
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

    /// The page shared with the kernel.
    pub(crate) fn page(&'static self) -> &'static SharedPage {
        assert!(PAGES_READY.load(Ordering::Acquire), "the pages are written at boot");
        // SAFETY: written by `init_pages` before `PAGES_READY` was set, never again.
        unsafe { (*self.page.get()).assume_init_ref() }
    }

    /// Its first address.
    pub(crate) fn base(&self) -> u64 {
        core::ptr::from_ref(self) as u64
    }

    /// The initial stack pointer.
    pub(crate) fn stack_top(&self) -> u64 {
        self.stack.get() as u64 + STACK_SIZE as u64
    }
}

/// Every partition's memory: in the kernel's `.bss` (zero-filled by the loader), each
/// one 2 MiB page of its own (the type's alignment and size).
pub(crate) static PARTITION_MEMORY: [PartitionMemory; PARTITIONS] =
    [const { PartitionMemory::new() }; PARTITIONS];

static PAGES_READY: AtomicBool = AtomicBool::new(false);

/// Writes every partition's shared page (once, at boot on the boot CPU, before the engine
/// is built or any partition runs).
pub(crate) fn init_pages() {
    if PAGES_READY.load(Ordering::Acquire) {
        return;
    }
    for memory in &PARTITION_MEMORY {
        // SAFETY: boot, one CPU, `PAGES_READY` still false: no reference to the page
        // exists yet.
        unsafe { (*memory.page.get()).write(SharedPage::new()) };
    }
    PAGES_READY.store(true, Ordering::Release);
}

/// The memory of the partition that owns address `addr` (its stack or its memory).
#[inline(always)]
fn memory_of(addr: u64) -> &'static PartitionMemory {
    // SAFETY: the partition runs with its stack in its own 2 MiB-aligned memory, which
    // holds a `PartitionMemory` for ever.
    unsafe { &*((addr & !(MEMORY_SIZE - 1)) as *const PartitionMemory) }
}

/// Fills the 16 SSE registers and the x87 stack top with `pattern`.
#[inline(always)]
fn fpu_fill(pattern: u64) {
    macro_rules! xmm {
        ($($n:literal)*) => {
            concat!($("movq xmm", $n, ", {t}\n", "punpcklqdq xmm", $n, ", xmm", $n, "\n", "inc {t}\n",)*)
        };
    }
    // SAFETY: writes only the FPU/SSE registers (which the kernel never uses) and a
    // scratch register; the push/pop leaves the stack as it was.
    unsafe {
        asm!(
            "mov {t}, {p}",
            xmm!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15),
            "fninit",
            "push {p}",
            "fild qword ptr [rsp]",
            "pop {t}",
            p = in(reg) pattern,
            t = out(reg) _,
        );
    }
}

/// Whether the SSE registers and the x87 stack top still hold `pattern` (all in
/// assembly: no compiler-made table, no memset).
#[inline(always)]
fn fpu_holds(pattern: u64) -> bool {
    macro_rules! store {
        ($($n:literal)*) => {
            concat!($("movdqu [{b} + ", $n, " * 16], xmm", $n, "\n",)*)
        };
    }
    let mut words = core::mem::MaybeUninit::<[u64; 33]>::uninit();
    let bad: u64;
    // SAFETY: stores into `words` (16 registers of two words, then the x87 value) and
    // reads back only what it stored; `fld st(0)` / `fistp` leave the x87 stack as it was.
    unsafe {
        asm!(
            store!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15),
            "fld st(0)",
            "fistp qword ptr [{b} + 256]",
            "mov {bad}, qword ptr [{b} + 256]",
            "xor {bad}, {p}",
            "mov {e}, {p}",
            "xor {i:e}, {i:e}",
            "2:",
            "mov {t}, qword ptr [{b} + {i} * 8]",
            "xor {t}, {e}",
            "or {bad}, {t}",
            "mov {t}, qword ptr [{b} + {i} * 8 + 8]",
            "xor {t}, {e}",
            "or {bad}, {t}",
            "inc {e}",
            "add {i}, 2",
            "cmp {i}, 32",
            "jb 2b",
            b = in(reg) words.as_mut_ptr().cast::<u64>(),
            p = in(reg) pattern,
            bad = out(reg) bad,
            e = out(reg) _,
            i = out(reg) _,
            t = out(reg) _,
        );
    }
    bad == 0
}

#[inline(always)]
fn print(message: &'static [u8]) {
    let _ = HV.console_write(message);
}

/// The upcall the kernel wrote for the handler.
#[inline(always)]
fn upcall(frame: *const UpcallFrame) -> Upcall {
    // SAFETY: the kernel enters the handler with `rdi` pointing at a whole frame on this
    // partition's stack.
    unsafe { irq_guest::Upcall::from_frame(frame.cast()) }
}

#[inline(always)]
fn upcall_return() -> ! {
    loop {
        let _ = HV.upcall_return();
    }
}

/// Every partition's entry: `base` is its memory.
#[unsafe(link_section = ".guest_text")]
pub(crate) extern "C" fn guest_main(base: u64) -> ! {
    let memory = memory_of(base);
    let state = &memory.state;
    state.started.fetch_add(1, Ordering::Relaxed);
    let _ = HV.register_upcall(NonZeroU64::new(guest_upcall as *const () as u64));
    let pattern = state.pattern.load(Ordering::Relaxed);
    fpu_fill(pattern);
    print(guest_str!(b"guest: started on its CPU, upcall registered\n"));
    let _ = HV.enable_irqs();
    loop {
        give_withheld(state);
        burst(state);
        state.fpu_checks.fetch_add(1, Ordering::Relaxed);
        if !fpu_holds(pattern) {
            state.fpu_bad.fetch_add(1, Ordering::Relaxed);
        }
        let _ = HV.idle();
    }
}

/// Every partition's upcall handler.
#[unsafe(link_section = ".guest_text")]
extern "C" fn guest_upcall(frame: *const UpcallFrame) -> ! {
    let memory = memory_of(frame as u64);
    let state = &memory.state;
    state.upcalls.fetch_add(1, Ordering::Relaxed);
    let up = upcall(frame);
    let Some(port) = up.port else { upcall_return() };
    let word = u64::from(port) + 1;
    if word == state.edu_port.load(Ordering::Relaxed) {
        edu_interrupt(state, port);
        upcall_return()
    }
    let burst = state.burst_port.load(Ordering::Relaxed);
    if burst != 0 && word >= burst && word < burst + BURST_LINES as u64 {
        burst_upcall(state, port, word - burst);
        upcall_return()
    }
    let Ok(count) = HV.take_count(port) else { upcall_return() };
    if port == u32::from(TIMER_PORT) {
        let handled = state.handled.fetch_add(count, Ordering::Relaxed) + count;
        let time = if state.warp.load(Ordering::Relaxed) == 1 {
            // Warp: one event per entry stands for the ticks the ledger says.
            handled + memory.ledger.delta.load(Ordering::Acquire)
                - memory.ledger.markers.load(Ordering::Acquire)
        } else {
            handled
        };
        state.time.store(time, Ordering::Relaxed);
    } else if word == state.device_port.load(Ordering::Relaxed) {
        state.device_events.fetch_add(count, Ordering::Relaxed);
        state.device_upcalls.fetch_add(1, Ordering::Relaxed);
        // The partition's clock (a replay partition's is the kernel's tick since its
        // start) against the tick the event was raised at, on another CPU.
        let now = HV.read_clock().unwrap_or(0);
        let late = now.saturating_sub(up.timestamp);
        if late <= 1 {
            state.device_prompt.fetch_add(1, Ordering::Relaxed);
        }
        state.device_late_max.fetch_max(late, Ordering::Relaxed);
    } else if word == state.msi_port.load(Ordering::Relaxed) {
        state.msi_upcalls.fetch_add(1, Ordering::Relaxed);
        state.msi_events.fetch_add(count, Ordering::Relaxed);
    }
    upcall_return()
}

/// The edu's register offsets: the interrupt status (what raised it) and the
/// acknowledgement (clears those bits; the device lowers its INTx once none is left).
const EDU_STATUS: u64 = 0x24;
const EDU_ACK: u64 = 0x64;

/// The edu's INTx, taken into service on `port`: the device is acknowledged at its
/// register (the line drops), then the event through the ABI (the engine unmasks the
/// line once every partition sharing it has), unless this is the event the partition
/// withholds: then the ABI acknowledgement waits (see [`give_withheld`]).
#[inline(always)]
fn edu_interrupt(state: &GuestState, port: u32) {
    let mmio = state.edu_mmio.load(Ordering::Relaxed);
    // SAFETY: the kernel maps the edu's register page user, read-write, uncached, at its
    // own address in this partition's tables; 32-bit accesses, as the device wants.
    unsafe {
        let status = core::ptr::read_volatile((mmio + EDU_STATUS) as *const u32);
        core::ptr::write_volatile((mmio + EDU_ACK) as *mut u32, status);
    }
    let n = state.edu_upcalls.fetch_add(1, Ordering::Relaxed) + 1;
    if n == state.withhold_at.load(Ordering::Relaxed) {
        let now = HV.read_clock().unwrap_or(0);
        state
            .withheld_until
            .store(now + state.withhold_for.load(Ordering::Relaxed), Ordering::Relaxed);
        print(guest_str!(b"guest: withholding the acknowledgement of a shared level line\n"));
    } else if let Ok(count) = HV.take_count(port) {
        state.edu_events.fetch_add(count, Ordering::Relaxed);
    }
}

/// Gives the withheld acknowledgement once its time came (from the main loop, which runs
/// after every upcall).
#[inline(always)]
fn give_withheld(state: &GuestState) {
    let until = state.withheld_until.load(Ordering::Relaxed);
    if until == 0 || HV.read_clock().unwrap_or(0) < until {
        return;
    }
    let port = state.edu_port.load(Ordering::Relaxed).saturating_sub(1) as u32;
    if let Ok(count) = HV.take_count(port) {
        state.edu_events.fetch_add(count, Ordering::Relaxed);
    }
    state.withheld_until.store(0, Ordering::Relaxed);
    state.withheld_given.fetch_add(1, Ordering::Relaxed);
    print(guest_str!(b"guest: acknowledgement given, late\n"));
}

/// Upcalls of burst ports in priority order (the lowest port first), as the handler logs
/// them: port offset `k` in the `k`th four bits.
const BURST_IN_ORDER: u64 = 0xfedc_ba98_7654_3210;
/// How long the partition waits for the kernel to take a round's interrupts (loop turns;
/// they are taken as its call returns, before it runs an instruction).
const BURST_WAIT: u64 = 10_000_000;

/// The burst's upcall for `port`, the `offset`th burst port: its event taken, the port
/// logged.
#[inline(always)]
fn burst_upcall(state: &GuestState, port: u32, offset: u64) {
    if let Ok(count) = HV.take_count(port) {
        state.burst_events.fetch_add(count, Ordering::Relaxed);
    }
    let seen = state.burst_seen.fetch_add(1, Ordering::Relaxed);
    if seen < BURST_LINES as u64 {
        state.burst_log.fetch_or(offset << (4 * seen), Ordering::Relaxed);
    }
}

/// The burst's rounds (a partition with burst ports), up to `BURST_PER_WAKE` of those the
/// kernel gave it (from `BURST_FROM` on) each time its main loop runs: in each, it closes
/// its virtual interrupts (the disable call), asks for the burst and enters the kernel (a
/// clock read), which fires the 16 lines at once on its way back; they are taken (and
/// raised into its ports, flagged) before it runs on; it waits until the kernel counted
/// them, then opens (the enable call): the upcalls come one after the other, each upcall
/// return bringing the next, and the round is in order if they came lowest port first.
#[inline(always)]
fn burst(state: &GuestState) {
    let rounds = state.burst_rounds.load(Ordering::Acquire);
    let mut round = state.burst_done.load(Ordering::Relaxed);
    if state.burst_port.load(Ordering::Relaxed) == 0 || round >= rounds {
        return;
    }
    let last = rounds.min(round + BURST_PER_WAKE);
    while round < last {
        state.burst_seen.store(0, Ordering::Relaxed);
        state.burst_log.store(0, Ordering::Relaxed);
        let taken = state.burst_taken.load(Ordering::Acquire) + BURST_LINES as u64;
        // Closed before it asks: the kernel may fire at any entry from now on (a tick
        // that comes before the call below).
        let _ = HV.disable_irqs();
        state.burst_request.store(round + 1, Ordering::Release);
        let _ = HV.read_clock();
        let mut wait = 0;
        while state.burst_taken.load(Ordering::Acquire) < taken && wait < BURST_WAIT {
            wait += 1;
            core::hint::spin_loop();
        }
        if wait == BURST_WAIT {
            state.burst_timeouts.fetch_add(1, Ordering::Relaxed);
        }
        let _ = HV.enable_irqs();
        let (seen, log) =
            (state.burst_seen.load(Ordering::Relaxed), state.burst_log.load(Ordering::Relaxed));
        if seen == BURST_LINES as u64 && log == BURST_IN_ORDER {
            state.burst_in_order.fetch_add(1, Ordering::Relaxed);
        } else if state.burst_bad_seen.load(Ordering::Relaxed) == 0 {
            state.burst_bad_log.store(log, Ordering::Relaxed);
            state.burst_bad_seen.store(seen + 1, Ordering::Relaxed);
        }
        round += 1;
        state.burst_done.store(round, Ordering::Release);
    }
    if round == rounds {
        print(guest_str!(b"guest: burst rounds done\n"));
    }
}
