//! The partitions' code. It runs in ring 3 and lives in the user pages: functions in
//! `.guest_text`, strings in `.guest_rodata` (both mapped user, read-only, in every
//! partition), state and stacks in `.p0_data` / `.p1_data` (each mapped user only in its
//! own partition's page tables). It calls nothing in the kernel's pages: every helper is
//! `#[inline(always)]`, every string is a `guest_str!`, and kernel calls are hypercalls
//! (`int 0x80`, registers as in `docs/hypercalls.md`).
//!
//! * Partition 0 (replay catch-up): counts its ticks; runs critical sections with cli/sti
//!   (one store each to its shared page) during which a tick must arrive, deferred until
//!   the sti; notifies partition 1 through the channel three times.
//! * Partition 1 (warp catch-up): counts its ticks plus the warps; receives the channel;
//!   at guest time 30 executes `ud2`; its fault handler checks the vector and RIP, then
//!   divides by zero, and its health monitor warm-starts it; the new run reads why.

use core::arch::asm;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU8, AtomicU64, Ordering, fence};

use irq_router::hypercall::CallNumber;
use irq_router::vcpu::SharedPage;
use irq_x86::UpcallFrame;

use super::config::{CHANNEL_IN, CHANNEL_OUT, P0_PAGE, TIMER_PORT};

const ENABLE_IRQS: u64 = CallNumber::EnableIrqs.raw();
const IDLE: u64 = CallNumber::Idle.raw();
const TAKE_COUNT: u64 = CallNumber::TakeCount.raw();
const NOTIFY: u64 = CallNumber::Notify.raw();
const READ_CLOCK: u64 = CallNumber::ReadClock.raw();
const REGISTER_UPCALL: u64 = CallNumber::RegisterUpcall.raw();
const REGISTER_FAULT_HANDLER: u64 = CallNumber::RegisterFaultHandler.raw();
const CONSOLE_WRITE: u64 = CallNumber::ConsoleWrite.raw();
const START_REASON: u64 = CallNumber::StartReason.raw();
const UPCALL_RETURN: u64 = CallNumber::UpcallReturn.raw();

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

/// A hypercall: `[status, value]`.
#[inline(always)]
fn hypercall(number: u64, a0: u64, a1: u64) -> (u64, u64) {
    let status: u64;
    let value: u64;
    // SAFETY: `int 0x80` enters the kernel, which changes only rax and rdx (or runs an
    // upcall that returns to exactly this state) and may change memory.
    unsafe {
        asm!(
            "int 0x80",
            inlateout("rax") number => status,
            in("rdi") a0,
            in("rsi") a1,
            inlateout("rdx") 0u64 => value,
            in("r10") 0u64,
            options(nostack),
        );
    }
    (status, value)
}

#[inline(always)]
fn print(message: &'static [u8]) {
    let _ = hypercall(CONSOLE_WRITE, message.as_ptr() as u64, message.len() as u64);
}

/// A byte of a shared page, at its documented offset.
#[inline(always)]
fn page_byte(page: &'static SharedPage, offset: usize) -> &'static AtomicU8 {
    // SAFETY: `SharedPage` is `#[repr(C)]` with an `AtomicU8` at each documented byte
    // offset used here (`UPCALL_MASK_OFFSET`, `UPCALL_PENDING_OFFSET`), inside the page.
    unsafe { &*core::ptr::from_ref(page).cast::<u8>().add(offset).cast::<AtomicU8>() }
}

/// Reads a field of the frame the kernel wrote (volatile: the kernel wrote it behind the
/// compiler's back).
#[inline(always)]
fn frame_word(frame: *const UpcallFrame, word: usize) -> u64 {
    // SAFETY: the kernel enters the handler with `rdi` pointing at a whole frame on this
    // partition's stack; `word` is below `UpcallFrame::WORDS`.
    unsafe { core::ptr::read_volatile(frame.cast::<u64>().add(word)) }
}

const FRAME_PORT: usize = 0;
const FRAME_VECTOR: usize = 2;
const FRAME_ERROR_CODE: usize = 3;
const FRAME_FAULT_ADDRESS: usize = 4;
const FRAME_SENDER: usize = 6;
/// `saved.rip`: 8 event words, then rax .. r15 (15 words).
const FRAME_SAVED_RIP: usize = 8 + 15;

#[inline(always)]
fn upcall_return() -> ! {
    loop {
        let _ = hypercall(UPCALL_RETURN, 0, 0);
    }
}

/// Partition 0's entry.
#[unsafe(link_section = ".guest_text")]
pub(crate) extern "C" fn p0_main() -> ! {
    P0.time.store(0, Ordering::Relaxed);
    let (_, reason) = hypercall(START_REASON, 0, 0);
    P0.start_reason.store(reason, Ordering::Relaxed);
    let _ = hypercall(REGISTER_UPCALL, p0_upcall as *const () as u64, 0);
    if reason == 1 << 32 {
        print(guest_str!(b"p0: started (reason: fresh)\n"));
    } else {
        print(guest_str!(b"p0: started (reason: UNEXPECTED)\n"));
    }
    let _ = hypercall(ENABLE_IRQS, 0, 0);
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
            if hypercall(NOTIFY, u64::from(CHANNEL_OUT), 0).0 == 0 {
                P0.sent.fetch_add(1, Ordering::Relaxed);
                print(guest_str!(b"p0: notified p1 through the channel\n"));
            } else {
                print(guest_str!(b"p0: notify FAILED\n"));
            }
        }
        let _ = hypercall(IDLE, 0, 0);
    }
}

/// cli, wait inside the section until the kernel's clock has moved (so a tick arrives
/// while the virtual flag is clear), sti, and ask for the deferred delivery.
#[inline(always)]
fn p0_critical_section() {
    let mask = page_byte(&P0_PAGE, SharedPage::UPCALL_MASK_OFFSET);
    let pending = page_byte(&P0_PAGE, SharedPage::UPCALL_PENDING_OFFSET);
    mask.store(1, Ordering::Relaxed); // cli: one store
    P0.in_critical.store(1, Ordering::Relaxed);
    let (_, start) = hypercall(READ_CLOCK, 0, 0);
    let mut spins = 0u64;
    while hypercall(READ_CLOCK, 0, 0).1 == start && spins < 1_000_000 {
        spins += 1;
    }
    P0.in_critical.store(0, Ordering::Relaxed);
    mask.store(0, Ordering::Relaxed); // sti: one store
    fence(Ordering::SeqCst);
    if pending.load(Ordering::Acquire) != 0 {
        P0.deferred.fetch_add(1, Ordering::Relaxed);
        let _ = hypercall(ENABLE_IRQS, 0, 0);
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
    let (_, start) = hypercall(READ_CLOCK, 0, 0);
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
    let port = frame_word(frame, FRAME_PORT);
    let (status, count) = hypercall(TAKE_COUNT, port, 0);
    if status == 0 && port == u64::from(TIMER_PORT) {
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
    let (_, reason) = hypercall(START_REASON, 0, 0);
    P1.start_reason.store(reason, Ordering::Relaxed);
    let _ = hypercall(REGISTER_UPCALL, p1_upcall as *const () as u64, 0);
    let _ = hypercall(REGISTER_FAULT_HANDLER, p1_fault as *const () as u64, 0);
    if reason == 1 << 32 {
        print(guest_str!(b"p1: started (reason: fresh)\n"));
    } else if reason == (3 << 32) | 2 {
        print(guest_str!(
            b"p1: started (reason: warm restart, cause: trap in the fault handler)\n"
        ));
    } else {
        print(guest_str!(b"p1: started (reason: UNEXPECTED)\n"));
    }
    let _ = hypercall(ENABLE_IRQS, 0, 0);
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
        let _ = hypercall(IDLE, 0, 0);
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
    let port = frame_word(frame, FRAME_PORT);
    let (status, count) = hypercall(TAKE_COUNT, port, 0);
    if status == 0 && port == u64::from(TIMER_PORT) {
        let handled = P1.handled.fetch_add(count, Ordering::Relaxed) + count;
        // Warp: one event per entry stands for the ticks the ledger says it carried.
        let time = handled + P1_LEDGER.delta.load(Ordering::Acquire)
            - P1_LEDGER.markers.load(Ordering::Acquire);
        P1.time.store(time, Ordering::Relaxed);
    } else if status == 0 && port == u64::from(CHANNEL_IN) {
        let before = P1.received.fetch_add(count, Ordering::Relaxed);
        if before == 0 && frame_word(frame, FRAME_SENDER) == 1 {
            print(guest_str!(b"p1: channel event from p0 received\n"));
        }
    }
    upcall_return()
}

/// Partition 1's fault handler.
#[unsafe(link_section = ".guest_text")]
extern "C" fn p1_fault(frame: *const UpcallFrame) -> ! {
    let vector = frame_word(frame, FRAME_VECTOR);
    let address = frame_word(frame, FRAME_FAULT_ADDRESS);
    let saved_rip = frame_word(frame, FRAME_SAVED_RIP);
    if vector == 14 {
        P1.probe_vector.store(vector, Ordering::Relaxed);
        P1.probe_address.store(address, Ordering::Relaxed);
        P1.probe_error.store(frame_word(frame, FRAME_ERROR_CODE), Ordering::Relaxed);
        P1.probe_saved_rip.store(saved_rip, Ordering::Relaxed);
        if address == KERNEL_ADDRESS && saved_rip == P1.probe_rip.load(Ordering::Relaxed) {
            print(guest_str!(b"p1: fault handler: page fault (#PF) reading kernel memory\n"));
        }
        // Resume after the load: the saved state is the handler's to change.
        // SAFETY: the frame is on this partition's stack, written by the kernel for this
        // handler; `FRAME_SAVED_RIP` is inside it.
        unsafe {
            core::ptr::write_volatile(
                frame.cast::<u64>().cast_mut().add(FRAME_SAVED_RIP),
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
