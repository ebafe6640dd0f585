//! The partitions' code. It runs in ring 3 and lives in the user pages: functions in
//! `.guest_text`, strings in `.guest_rodata` (both mapped user, read-only, in every
//! partition), state and stacks in `.p0_data` / `.p1_data` (each mapped user only in its
//! own partition's page tables). It calls nothing in the kernel's pages: every helper is
//! `#[inline(always)]`, every string is a `guest_str!`, and kernel calls are hypercalls
//! made through the guest library (`irq-guest`, over `int 0x80`: the same calls a hosted
//! partition makes over its socket), whose calls are all inlined.
//!
//! * Partition 0 (replay catch-up): counts its ticks; runs critical sections with cli/sti
//!   (one store each to its shared page) during which a tick must arrive, deferred until
//!   the sti; notifies partition 1 through the channel three times.
//! * Partition 1 (warp catch-up): counts its ticks plus the warps; receives the channel;
//!   at guest time 30 executes `ud2`; its fault handler checks the vector and RIP, then
//!   divides by zero, and its health monitor warm-starts it; the new run reads why.
//! * FS and GS: partition 1 finds both selectors null at each of its starts (the restart
//!   reset them), then loads the user data selector into both and finds it there at every
//!   check; partition 0 never loads them and finds them null at every check.

use core::arch::asm;
use core::cell::UnsafeCell;
use core::num::NonZeroU64;
use core::sync::atomic::{AtomicU64, Ordering};

use irq_guest::x86_64::{Int80, frame};
use irq_guest::{CallNumber, Hypervisor, Upcall};
use irq_router::vcpu::Guest;
use irq_x86::UpcallFrame;

use super::config::{CHANNEL_IN, CHANNEL_OUT, P0_PAGE, TIMER_PORT};

/// The hypercalls, over `int 0x80` (the guest library: every call inlined).
const HV: Hypervisor<Int80> = Hypervisor::new(Int80);

const READ_CLOCK: u64 = CallNumber::ReadClock.raw();

/// A string in the guest's read-only user pages.
macro_rules! guest_str {
    ($s:literal) => {{
        #[unsafe(link_section = ".guest_rodata")]
        static S: [u8; $s.len()] = *$s;
        &S
    }};
}

/// A partition's stack, in its own memory.
#[repr(C, align(16))]
pub(crate) struct Stack(UnsafeCell<[u8; Stack::SIZE]>);

// SAFETY: the kernel never reads or writes the stack through this value (only takes its
// address); the partition uses it through its stack pointer.
unsafe impl Sync for Stack {}

impl Stack {
    const SIZE: usize = 16 * 1024;

    const fn new() -> Self {
        Self(UnsafeCell::new([0; Self::SIZE]))
    }

    /// The initial stack pointer.
    pub(crate) fn top(&self) -> u64 {
        self.0.get() as u64 + Self::SIZE as u64
    }
}

/// Partition 0's stack.
#[unsafe(link_section = ".p0_data")]
pub(crate) static P0_STACK: Stack = Stack::new();
/// Partition 1's stack.
#[unsafe(link_section = ".p1_data")]
pub(crate) static P1_STACK: Stack = Stack::new();

/// What partition 0 knows, in its memory (the kernel reads it for the report).
pub(crate) struct P0State {
    pub(crate) time: AtomicU64,
    pub(crate) upcalls: AtomicU64,
    pub(crate) in_critical: AtomicU64,
    pub(crate) sections: AtomicU64,
    pub(crate) deferred: AtomicU64,
    pub(crate) violations: AtomicU64,
    pub(crate) sent: AtomicU64,
    pub(crate) start_reason: AtomicU64,
    pub(crate) bad_stack: AtomicU64,
    pub(crate) fpu_checks: AtomicU64,
    pub(crate) fpu_bad: AtomicU64,
    pub(crate) segment_checks: AtomicU64,
    pub(crate) segment_bad: AtomicU64,
}

/// What partition 1 knows, in its memory (kept across its warm start).
pub(crate) struct P1State {
    pub(crate) handled: AtomicU64,
    pub(crate) time: AtomicU64,
    pub(crate) upcalls: AtomicU64,
    pub(crate) received: AtomicU64,
    pub(crate) faults: AtomicU64,
    pub(crate) trap_vector: AtomicU64,
    pub(crate) trap_address: AtomicU64,
    pub(crate) trap_saved_rip: AtomicU64,
    pub(crate) expected_rip: AtomicU64,
    pub(crate) starts: AtomicU64,
    pub(crate) start_reason: AtomicU64,
    pub(crate) probe_rip: AtomicU64,
    pub(crate) probe_resume: AtomicU64,
    pub(crate) probe_vector: AtomicU64,
    pub(crate) probe_address: AtomicU64,
    pub(crate) probe_error: AtomicU64,
    pub(crate) probe_saved_rip: AtomicU64,
    pub(crate) probe_resumed: AtomicU64,
    pub(crate) fpu_checks: AtomicU64,
    pub(crate) fpu_bad: AtomicU64,
    /// Starts that found FS and GS null.
    pub(crate) segment_starts_null: AtomicU64,
    pub(crate) segment_checks: AtomicU64,
    pub(crate) segment_bad: AtomicU64,
}

/// The kernel's account of the warps it gave a warp partition, in that partition's
/// memory (written by the kernel, read by the guest): one timer event stands for
/// `delta` ticks in all, over `markers` events.
pub(crate) struct Ledger {
    pub(crate) markers: AtomicU64,
    pub(crate) delta: AtomicU64,
}

impl Ledger {
    const fn new() -> Self {
        Self { markers: AtomicU64::new(0), delta: AtomicU64::new(0) }
    }
}

/// Partition 0's state.
#[unsafe(link_section = ".p0_data")]
pub(crate) static P0: P0State = P0State {
    time: AtomicU64::new(0),
    upcalls: AtomicU64::new(0),
    in_critical: AtomicU64::new(0),
    sections: AtomicU64::new(0),
    deferred: AtomicU64::new(0),
    violations: AtomicU64::new(0),
    sent: AtomicU64::new(0),
    start_reason: AtomicU64::new(0),
    bad_stack: AtomicU64::new(0),
    fpu_checks: AtomicU64::new(0),
    fpu_bad: AtomicU64::new(0),
    segment_checks: AtomicU64::new(0),
    segment_bad: AtomicU64::new(0),
};

/// Partition 1's state.
#[unsafe(link_section = ".p1_data")]
pub(crate) static P1: P1State = P1State {
    handled: AtomicU64::new(0),
    time: AtomicU64::new(0),
    upcalls: AtomicU64::new(0),
    received: AtomicU64::new(0),
    faults: AtomicU64::new(0),
    trap_vector: AtomicU64::new(0),
    trap_address: AtomicU64::new(0),
    trap_saved_rip: AtomicU64::new(0),
    expected_rip: AtomicU64::new(0),
    starts: AtomicU64::new(0),
    start_reason: AtomicU64::new(0),
    probe_rip: AtomicU64::new(0),
    probe_resume: AtomicU64::new(0),
    probe_vector: AtomicU64::new(0),
    probe_address: AtomicU64::new(0),
    probe_error: AtomicU64::new(0),
    probe_saved_rip: AtomicU64::new(0),
    probe_resumed: AtomicU64::new(0),
    fpu_checks: AtomicU64::new(0),
    fpu_bad: AtomicU64::new(0),
    segment_starts_null: AtomicU64::new(0),
    segment_checks: AtomicU64::new(0),
    segment_bad: AtomicU64::new(0),
};

/// Partition 1's warp ledger.
#[unsafe(link_section = ".p1_data")]
pub(crate) static P1_LEDGER: Ledger = Ledger::new();

/// Critical sections partition 0 runs.
pub(crate) const SECTIONS: u64 = 5;
/// Notifications partition 0 sends.
pub(crate) const NOTIFICATIONS: u64 = 3;
/// Partition 1's guest time at which it executes `ud2`.
pub(crate) const FAULT_AT: u64 = 30;

/// Partition 0's value in its FPU and SSE registers (xmm`i` holds it plus `i` twice, the
/// x87 stack top holds it).
pub(crate) const P0_FPU: u64 = 0x0123_4567_0000_0000;
/// Partition 1's.
pub(crate) const P1_FPU: u64 = 0x7654_3210_0000_0000;

/// Fills the 16 SSE registers and the x87 stack top with `pattern` (SSE in ring 3: the
/// kernel set CR0 and CR4 up for it).
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

/// Whether the SSE registers and the x87 stack top still hold `pattern`. All in assembly:
/// the comparison must not become compiler-made tables in the kernel's pages.
#[inline(always)]
fn fpu_holds(pattern: u64) -> bool {
    macro_rules! store {
        ($($n:literal)*) => {
            concat!($("movdqu [{b} + ", $n, " * 16], xmm", $n, "\n",)*)
        };
    }
    // Not zeroed by Rust (that would be a call to the kernel's memset): the assembly
    // writes every word before it reads it.
    let mut words = core::mem::MaybeUninit::<[u64; 33]>::uninit();
    let bad: u64;
    // SAFETY: stores into `words` (33 words: 16 registers of two, then the x87 value)
    // and reads back only what it stored; `fld st(0)` / `fistp` leave the x87 stack as
    // it was.
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

/// One check of the partition's FPU and SSE values, counted in `checks` and `bad`.
#[inline(always)]
fn fpu_check(pattern: u64, checks: &AtomicU64, bad: &AtomicU64) {
    checks.fetch_add(1, Ordering::Relaxed);
    if !fpu_holds(pattern) {
        bad.fetch_add(1, Ordering::Relaxed);
    }
}

/// The user data selector (the one a partition may keep in FS or GS).
const USER_DATA: u64 = irq_x86::gdt::USER_SS as u64;

/// The FS and GS selectors.
#[inline(always)]
fn segments() -> (u64, u64) {
    let (fs, gs): (u64, u64);
    // SAFETY: reads the selectors only.
    unsafe {
        asm!("mov {f:x}, fs", "mov {g:x}, gs", "movzx {f:e}, {f:x}", "movzx {g:e}, {g:x}",
            f = out(reg) fs, g = out(reg) gs, options(nomem, nostack, preserves_flags));
    }
    (fs, gs)
}

/// Counts a check of FS and GS against `want`, and a mismatch.
#[inline(always)]
fn segment_check(want: u64, checks: &AtomicU64, bad: &AtomicU64) {
    checks.fetch_add(1, Ordering::Relaxed);
    if segments() != (want, want) {
        bad.fetch_add(1, Ordering::Relaxed);
    }
}

#[inline(always)]
fn print(message: &'static [u8]) {
    let _ = HV.console_write(message);
}

/// A handler's address, as the entry a registration takes.
#[inline(always)]
fn entry(address: u64) -> Option<NonZeroU64> {
    NonZeroU64::new(address)
}

/// The upcall the kernel wrote for the handler.
#[inline(always)]
fn upcall(frame: *const UpcallFrame) -> Upcall {
    // SAFETY: the kernel enters the handler with `rdi` pointing at a whole frame on this
    // partition's stack.
    unsafe { Upcall::from_frame(frame.cast()) }
}

/// The interrupted `rip` in the frame (the saved state is the handler's to read).
#[inline(always)]
fn saved_rip(frame: *const UpcallFrame) -> u64 {
    // SAFETY: as in `upcall`; `SAVED_RIP` is inside the frame.
    unsafe { core::ptr::read_volatile(frame.cast::<u64>().add(frame::SAVED_RIP)) }
}

#[inline(always)]
fn upcall_return() -> ! {
    loop {
        let _ = HV.upcall_return();
    }
}

/// Partition 0's entry.
#[unsafe(link_section = ".guest_text")]
pub(crate) extern "C" fn p0_main() -> ! {
    P0.time.store(0, Ordering::Relaxed);
    let reason = HV.start_reason_raw().unwrap_or(0);
    P0.start_reason.store(reason, Ordering::Relaxed);
    let _ = HV.register_upcall(entry(p0_upcall as *const () as u64));
    fpu_fill(P0_FPU);
    if reason == 1 << 32 {
        print(guest_str!(b"p0: started (reason: fresh)\n"));
    } else {
        print(guest_str!(b"p0: started (reason: UNEXPECTED)\n"));
    }
    let _ = HV.enable_irqs();
    loop {
        if P0.sections.load(Ordering::Relaxed) < SECTIONS {
            p0_critical_section();
        }
        if P0.sections.load(Ordering::Relaxed) == SECTIONS
            && P0.bad_stack.load(Ordering::Relaxed) == 0
        {
            p0_bad_stack();
            P0.bad_stack.store(1, Ordering::Relaxed);
            print(guest_str!(b"p0: ran with its stack pointer in kernel memory; upcalls refused, no kernel fault\n"));
        }
        let sent = P0.sent.load(Ordering::Relaxed);
        if sent < NOTIFICATIONS && P0.time.load(Ordering::Relaxed) >= 30 * (sent + 1) {
            if HV.notify(u32::from(CHANNEL_OUT)).is_ok() {
                P0.sent.fetch_add(1, Ordering::Relaxed);
                print(guest_str!(b"p0: notified p1 through the channel\n"));
            } else {
                print(guest_str!(b"p0: notify FAILED\n"));
            }
        }
        fpu_check(P0_FPU, &P0.fpu_checks, &P0.fpu_bad);
        segment_check(0, &P0.segment_checks, &P0.segment_bad);
        let _ = HV.idle();
    }
}

/// cli, wait inside the section until the kernel's clock has moved (so a tick arrives
/// while the virtual flag is clear), sti, and ask for the deferred delivery.
#[inline(always)]
fn p0_critical_section() {
    let page = Guest::new(&P0_PAGE);
    page.cli(); // one store
    P0.in_critical.store(1, Ordering::Relaxed);
    let start = HV.read_clock();
    let mut spins = 0u64;
    while HV.read_clock() == start && spins < 1_000_000 {
        spins += 1;
    }
    P0.in_critical.store(0, Ordering::Relaxed);
    // One store and the check: an upcall became pending meanwhile, so ask for it.
    if page.sti() {
        P0.deferred.fetch_add(1, Ordering::Relaxed);
        let _ = HV.enable_irqs();
    }
    if P0.sections.fetch_add(1, Ordering::Relaxed) + 1 == SECTIONS {
        print(guest_str!(b"p0: critical sections done\n"));
    }
}

/// Runs with RSP pointing into kernel memory until the kernel's clock moves: the upcall
/// for the tick cannot be built on that stack, which is a health-monitor event
/// (`UpcallFault`) for this partition, not a kernel fault; the tick stays pending and is
/// delivered once the stack is back.
#[inline(always)]
fn p0_bad_stack() {
    let start = HV.read_clock().unwrap_or(0);
    // SAFETY: nothing in the loop uses the stack (the hypercall's frame goes on the
    // kernel's interrupt stack), and RSP is restored before the block ends.
    unsafe {
        asm!(
            "mov {saved}, rsp",
            "mov rsp, {bad}",
            "2:",
            "mov eax, {read_clock}",
            "xor edi, edi",
            "xor esi, esi",
            "xor edx, edx",
            "xor r10d, r10d",
            "int 0x80",
            "cmp rdx, {start}",
            "jne 3f",
            "dec {limit}",
            "jnz 2b",
            "3:",
            "mov rsp, {saved}",
            saved = out(reg) _,
            bad = in(reg) KERNEL_ADDRESS,
            read_clock = const READ_CLOCK,
            start = in(reg) start,
            limit = inout(reg) 1_000_000u64 => _,
            out("rax") _,
            out("rdi") _,
            out("rsi") _,
            out("rdx") _,
            out("r10") _,
        );
    }
}

/// An address in the kernel's (supervisor) memory.
const KERNEL_ADDRESS: u64 = 0x10_8000;

/// Partition 0's upcall handler.
#[unsafe(link_section = ".guest_text")]
extern "C" fn p0_upcall(frame: *const UpcallFrame) -> ! {
    P0.upcalls.fetch_add(1, Ordering::Relaxed);
    if P0.in_critical.load(Ordering::Relaxed) != 0 {
        P0.violations.fetch_add(1, Ordering::Relaxed);
    }
    let up = upcall(frame);
    if let Some(port) = up.port
        && let Ok(count) = HV.take_count(port)
        && port == u32::from(TIMER_PORT)
    {
        P0.time.fetch_add(count, Ordering::Relaxed);
    }
    upcall_return()
}

/// Partition 1's entry (and restart).
#[unsafe(link_section = ".guest_text")]
pub(crate) extern "C" fn p1_main() -> ! {
    // A new run: its clock starts at 0 (the kernel reset the ledger).
    P1.handled.store(0, Ordering::Relaxed);
    P1.time.store(0, Ordering::Relaxed);
    P1.starts.fetch_add(1, Ordering::Relaxed);
    let reason = HV.start_reason_raw().unwrap_or(0);
    P1.start_reason.store(reason, Ordering::Relaxed);
    let _ = HV.register_upcall(entry(p1_upcall as *const () as u64));
    let _ = HV.register_fault_handler(entry(p1_fault as *const () as u64));
    // A new run: its registers were reset; it fills them again.
    fpu_fill(P1_FPU);
    if segments() == (0, 0) {
        P1.segment_starts_null.fetch_add(1, Ordering::Relaxed);
    }
    // SAFETY: loading the user data selector (DPL 3) is allowed in ring 3; the compiled
    // code uses neither FS nor GS.
    unsafe {
        asm!("mov fs, {s:x}", "mov gs, {s:x}", s = in(reg) USER_DATA,
            options(nomem, nostack, preserves_flags));
    }
    if reason == 1 << 32 {
        print(guest_str!(b"p1: started (reason: fresh)\n"));
    } else if reason == (3 << 32) | 2 {
        print(guest_str!(
            b"p1: started (reason: warm restart, cause: trap in the fault handler)\n"
        ));
    } else {
        print(guest_str!(b"p1: started (reason: UNEXPECTED)\n"));
    }
    let _ = HV.enable_irqs();
    loop {
        if P1.faults.load(Ordering::Relaxed) == 0 && P1.time.load(Ordering::Relaxed) >= FAULT_AT {
            print(guest_str!(b"p1: executing ud2\n"));
            // SAFETY: records the address of the `ud2` and executes it: a trap the kernel
            // delivers to the fault handler (which never returns here).
            unsafe {
                asm!(
                    "lea {t}, [rip + 2f]",
                    "mov qword ptr [{p}], {t}",
                    "2: ud2",
                    t = out(reg) _,
                    p = in(reg) P1.expected_rip.as_ptr(),
                    options(nostack),
                );
            }
        }
        if P1.starts.load(Ordering::Relaxed) == 2 && P1.probe_rip.load(Ordering::Relaxed) == 0 {
            p1_probe_kernel_memory();
        }
        fpu_check(P1_FPU, &P1.fpu_checks, &P1.fpu_bad);
        segment_check(USER_DATA, &P1.segment_checks, &P1.segment_bad);
        let _ = HV.idle();
    }
}

/// Reads kernel memory: a page fault (the page is the kernel's), delivered to the fault
/// handler, which resumes after the load by changing the saved RIP in its frame.
#[inline(always)]
fn p1_probe_kernel_memory() {
    print(guest_str!(b"p1: reading kernel memory\n"));
    // SAFETY: the load faults (supervisor page); the fault handler resumes at `3:` with
    // every register as it was, so `v` is simply not written by the load.
    unsafe {
        asm!(
            "lea {t}, [rip + 3f]",
            "mov qword ptr [{resume}], {t}",
            "lea {t}, [rip + 2f]",
            "mov qword ptr [{at}], {t}",
            "2: mov {v}, qword ptr [{kernel}]",
            "3:",
            t = out(reg) _,
            v = out(reg) _,
            resume = in(reg) P1.probe_resume.as_ptr(),
            at = in(reg) P1.probe_rip.as_ptr(),
            kernel = in(reg) KERNEL_ADDRESS,
            options(nostack),
        );
    }
    if P1.probe_resumed.load(Ordering::Relaxed) == 1 {
        print(guest_str!(b"p1: resumed after the faulting load\n"));
    }
}

/// Partition 1's upcall handler.
#[unsafe(link_section = ".guest_text")]
extern "C" fn p1_upcall(frame: *const UpcallFrame) -> ! {
    P1.upcalls.fetch_add(1, Ordering::Relaxed);
    let up = upcall(frame);
    let port = up.port.unwrap_or(u32::MAX);
    let taken = up.port.map(|p| HV.take_count(p));
    let (status, count) = match taken {
        Some(Ok(count)) => (0, count),
        _ => (1, 0),
    };
    if status == 0 && port == u32::from(TIMER_PORT) {
        let handled = P1.handled.fetch_add(count, Ordering::Relaxed) + count;
        // Warp: one event per entry stands for the ticks the ledger says it carried.
        let time = handled + P1_LEDGER.delta.load(Ordering::Acquire)
            - P1_LEDGER.markers.load(Ordering::Acquire);
        P1.time.store(time, Ordering::Relaxed);
    } else if status == 0 && port == u32::from(CHANNEL_IN) {
        let before = P1.received.fetch_add(count, Ordering::Relaxed);
        if before == 0 && up.sender == 1 {
            print(guest_str!(b"p1: channel event from p0 received\n"));
        }
    }
    upcall_return()
}

/// Partition 1's fault handler.
#[unsafe(link_section = ".guest_text")]
extern "C" fn p1_fault(frame: *const UpcallFrame) -> ! {
    let up = upcall(frame);
    let vector = up.vector;
    let address = up.fault_address;
    let saved_rip = saved_rip(frame);
    if vector == 14 {
        P1.probe_vector.store(vector, Ordering::Relaxed);
        P1.probe_address.store(address, Ordering::Relaxed);
        P1.probe_error.store(up.error_code, Ordering::Relaxed);
        P1.probe_saved_rip.store(saved_rip, Ordering::Relaxed);
        if address == KERNEL_ADDRESS && saved_rip == P1.probe_rip.load(Ordering::Relaxed) {
            print(guest_str!(b"p1: fault handler: page fault (#PF) reading kernel memory\n"));
        }
        // Resume after the load: the saved state is the handler's to change.
        // SAFETY: the frame is on this partition's stack, written by the kernel for this
        // handler; `SAVED_RIP` is inside it.
        unsafe {
            core::ptr::write_volatile(
                frame.cast::<u64>().cast_mut().add(frame::SAVED_RIP),
                P1.probe_resume.load(Ordering::Relaxed),
            );
        }
        P1.probe_resumed.store(1, Ordering::Relaxed);
        upcall_return()
    }
    P1.faults.fetch_add(1, Ordering::Relaxed);
    P1.trap_vector.store(vector, Ordering::Relaxed);
    P1.trap_address.store(address, Ordering::Relaxed);
    P1.trap_saved_rip.store(saved_rip, Ordering::Relaxed);
    let expected = P1.expected_rip.load(Ordering::Relaxed);
    if vector == 6 && address == expected && saved_rip == expected {
        print(guest_str!(b"p1: fault handler: vector 6 (#UD) at the ud2's RIP\n"));
    } else {
        print(guest_str!(b"p1: fault handler: WRONG trap\n"));
    }
    print(guest_str!(b"p1: dividing by zero inside the fault handler\n"));
    // SAFETY: a division by zero: #DE, a trap in the fault handler, which the health
    // monitor answers with a warm start (this never returns).
    unsafe {
        asm!(
            "xor edx, edx",
            "xor eax, eax",
            "xor ecx, ecx",
            "div ecx",
            out("eax") _,
            out("edx") _,
            out("ecx") _,
            options(nostack),
        );
    }
    upcall_return()
}
