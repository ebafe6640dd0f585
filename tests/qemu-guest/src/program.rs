//! The program (see the crate's documentation).

use core::arch::asm;
use core::num::NonZeroU64;
use core::sync::atomic::{AtomicU64, Ordering};

use irq_guest::x86_64::{Int80, frame};
use irq_guest::{CallNumber, Hypervisor, Upcall};
use irq_router::vcpu::Guest;
use irq_x86::UpcallFrame;
use qemu_guest::{
    CHANNEL_IN, CHANNEL_OUT, FAULT_AT, Header, KERNEL_ADDRESS, MAGIC, MEMORY_SIZE, NOTIFICATIONS,
    P0_FPU, P0Memory, P1_FPU, P1Memory, SECTIONS, TIMER_PORT,
};

/// The hypercalls, over `int 0x80` (the guest library).
const HV: Hypervisor<Int80> = Hypervisor::new(Int80);

const READ_CLOCK: u64 = CallNumber::ReadClock.raw();

/// What the kernel reads at the image's start.
#[unsafe(link_section = ".header")]
#[used]
static HEADER: Header = Header { magic: MAGIC, p0_main, p1_main };

/// A panic (an overflow check of a debug build, say) stops the partition with an error:
/// a health-monitor event of its own.
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {
        let _ = HV.exec_stop_error(0x7a);
    }
}

/// The start of the 2 MiB page that holds `addr` (a partition's stack or memory).
fn memory_start(addr: u64) -> u64 {
    addr & !(MEMORY_SIZE - 1)
}

/// Partition 0's memory, from an address in it (its start argument, or its stack).
fn p0_memory(addr: u64) -> &'static P0Memory {
    // SAFETY: only partition 0's code calls this, with an address in its own memory: the
    // kernel placed a `P0Memory` at the start of that 2 MiB page, for ever.
    unsafe { &*(memory_start(addr) as *const P0Memory) }
}

/// Partition 1's memory, from an address in it.
fn p1_memory(addr: u64) -> &'static P1Memory {
    // SAFETY: as in `p0_memory`, for partition 1's code and its `P1Memory`.
    unsafe { &*(memory_start(addr) as *const P1Memory) }
}

/// The user data selector (the one a partition may keep in FS or GS).
const USER_DATA: u64 = irq_x86::gdt::USER_SS as u64;

/// The FS and GS selectors.
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
fn segment_check(want: u64, checks: &AtomicU64, bad: &AtomicU64) {
    checks.fetch_add(1, Ordering::Relaxed);
    if segments() != (want, want) {
        bad.fetch_add(1, Ordering::Relaxed);
    }
}

fn print(message: &'static [u8]) {
    let _ = HV.console_write(message);
}

/// A handler's address, as the entry a registration takes.
fn entry(handler: extern "C" fn(*const UpcallFrame) -> !) -> Option<NonZeroU64> {
    NonZeroU64::new(handler as *const () as u64)
}

/// The upcall the kernel wrote for the handler.
fn upcall(frame: *const UpcallFrame) -> Upcall {
    // SAFETY: the kernel enters the handler with `rdi` pointing at a whole frame on this
    // partition's stack.
    unsafe { Upcall::from_frame(frame.cast()) }
}

/// The interrupted `rip` in the frame (the saved state is the handler's to read).
fn saved_rip(frame: *const UpcallFrame) -> u64 {
    // SAFETY: as in `upcall`; `SAVED_RIP` is inside the frame.
    unsafe { core::ptr::read_volatile(frame.cast::<u64>().add(frame::SAVED_RIP)) }
}

fn upcall_return() -> ! {
    loop {
        let _ = HV.upcall_return();
    }
}

/// Partition 0's entry: `base` is its memory.
extern "C" fn p0_main(base: u64) -> ! {
    let memory = p0_memory(base);
    let p0 = &memory.state;
    p0.time.store(0, Ordering::Relaxed);
    let reason = HV.start_reason_raw().unwrap_or(0);
    p0.start_reason.store(reason, Ordering::Relaxed);
    let _ = HV.register_upcall(entry(p0_upcall));
    guest_fpu::fill(P0_FPU);
    if reason == 1 << 32 {
        print(b"p0: started (reason: fresh)\n");
    } else {
        print(b"p0: started (reason: UNEXPECTED)\n");
    }
    let _ = HV.enable_irqs();
    loop {
        if p0.sections.load(Ordering::Relaxed) < SECTIONS {
            p0_critical_section(memory);
        }
        if p0.sections.load(Ordering::Relaxed) == SECTIONS
            && p0.bad_stack.load(Ordering::Relaxed) == 0
        {
            p0_bad_stack();
            p0.bad_stack.store(1, Ordering::Relaxed);
            print(b"p0: ran with its stack pointer in kernel memory; upcalls refused, no kernel fault\n");
        }
        let sent = p0.sent.load(Ordering::Relaxed);
        if sent < NOTIFICATIONS && p0.time.load(Ordering::Relaxed) >= 30 * (sent + 1) {
            if HV.notify(u32::from(CHANNEL_OUT)).is_ok() {
                p0.sent.fetch_add(1, Ordering::Relaxed);
                print(b"p0: notified p1 through the channel\n");
            } else {
                print(b"p0: notify FAILED\n");
            }
        }
        guest_fpu::check(P0_FPU, &p0.fpu_checks, &p0.fpu_bad);
        segment_check(0, &p0.segment_checks, &p0.segment_bad);
        let _ = HV.idle();
    }
}

/// cli, wait inside the section until the kernel's clock has moved (so a tick arrives
/// while the virtual flag is clear), sti, and ask for the deferred delivery.
fn p0_critical_section(memory: &P0Memory) {
    let p0 = &memory.state;
    let page = Guest::new(&memory.page);
    page.cli(); // one store
    p0.in_critical.store(1, Ordering::Relaxed);
    let start = HV.read_clock();
    let mut spins = 0u64;
    while HV.read_clock() == start && spins < 1_000_000 {
        spins += 1;
    }
    p0.in_critical.store(0, Ordering::Relaxed);
    // One store and the check: an upcall became pending meanwhile, so ask for it.
    if page.sti() {
        p0.deferred.fetch_add(1, Ordering::Relaxed);
        let _ = HV.enable_irqs();
    }
    if p0.sections.fetch_add(1, Ordering::Relaxed) + 1 == SECTIONS {
        print(b"p0: critical sections done\n");
    }
}

/// Runs with RSP pointing into kernel memory until the kernel's clock has moved since it
/// moved RSP there (the first clock read is made on that stack too, so the tick that
/// moves the clock comes while RSP is bad, however slowly the code before it runs): the
/// upcall for the tick cannot be built on that stack, which is a health-monitor event
/// (`UpcallFault`) for this partition, not a kernel fault; the tick stays pending and is
/// delivered once the stack is back.
fn p0_bad_stack() {
    // SAFETY: nothing in the block uses the stack (the hypercalls' frames go on the
    // kernel's interrupt stack), and RSP is restored before it ends.
    unsafe {
        asm!(
            "mov {saved}, rsp",
            "mov rsp, {bad}",
            "mov eax, {read_clock}",
            "xor edi, edi",
            "xor esi, esi",
            "xor edx, edx",
            "xor r10d, r10d",
            "int 0x80",
            "mov {start}, rdx",
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
            start = out(reg) _,
            bad = in(reg) KERNEL_ADDRESS,
            read_clock = const READ_CLOCK,
            limit = inout(reg) 1_000_000u64 => _,
            out("rax") _,
            out("rdi") _,
            out("rsi") _,
            out("rdx") _,
            out("r10") _,
        );
    }
}

/// Partition 0's upcall handler.
extern "C" fn p0_upcall(frame: *const UpcallFrame) -> ! {
    let p0 = &p0_memory(frame as u64).state;
    p0.upcalls.fetch_add(1, Ordering::Relaxed);
    if p0.in_critical.load(Ordering::Relaxed) != 0 {
        p0.violations.fetch_add(1, Ordering::Relaxed);
    }
    let up = upcall(frame);
    if let Some(port) = up.port
        && let Ok(count) = HV.take_count(port)
        && port == u32::from(TIMER_PORT)
    {
        p0.time.fetch_add(count, Ordering::Relaxed);
    }
    upcall_return()
}

/// Partition 1's entry (and restart): `base` is its memory.
extern "C" fn p1_main(base: u64) -> ! {
    let p1 = &p1_memory(base).state;
    // A new run: its clock starts at 0 (the kernel reset the ledger).
    p1.handled.store(0, Ordering::Relaxed);
    p1.time.store(0, Ordering::Relaxed);
    p1.starts.fetch_add(1, Ordering::Relaxed);
    let reason = HV.start_reason_raw().unwrap_or(0);
    p1.start_reason.store(reason, Ordering::Relaxed);
    let _ = HV.register_upcall(entry(p1_upcall));
    let _ = HV.register_fault_handler(entry(p1_fault));
    // A new run: its registers were reset; it fills them again.
    guest_fpu::fill(P1_FPU);
    if segments() == (0, 0) {
        p1.segment_starts_null.fetch_add(1, Ordering::Relaxed);
    }
    // SAFETY: loading the user data selector (DPL 3) is allowed in ring 3; the compiled
    // code uses neither FS nor GS.
    unsafe {
        asm!("mov fs, {s:x}", "mov gs, {s:x}", s = in(reg) USER_DATA,
            options(nomem, nostack, preserves_flags));
    }
    if reason == 1 << 32 {
        print(b"p1: started (reason: fresh)\n");
    } else if reason == (3 << 32) | 2 {
        print(b"p1: started (reason: warm restart, cause: trap in the fault handler)\n");
    } else {
        print(b"p1: started (reason: UNEXPECTED)\n");
    }
    let _ = HV.enable_irqs();
    loop {
        if p1.faults.load(Ordering::Relaxed) == 0 && p1.time.load(Ordering::Relaxed) >= FAULT_AT {
            print(b"p1: executing ud2\n");
            // SAFETY: records the address of the `ud2` and executes it: a trap the kernel
            // delivers to the fault handler (which never returns here).
            unsafe {
                asm!(
                    "lea {t}, [rip + 2f]",
                    "mov qword ptr [{p}], {t}",
                    "2: ud2",
                    t = out(reg) _,
                    p = in(reg) p1.expected_rip.as_ptr(),
                    options(nostack),
                );
            }
        }
        if p1.starts.load(Ordering::Relaxed) == 2 && p1.probe_rip.load(Ordering::Relaxed) == 0 {
            p1_probe_kernel_memory(p1);
        }
        guest_fpu::check(P1_FPU, &p1.fpu_checks, &p1.fpu_bad);
        segment_check(USER_DATA, &p1.segment_checks, &p1.segment_bad);
        let _ = HV.idle();
    }
}

/// Reads kernel memory: a page fault (the page is the kernel's), delivered to the fault
/// handler, which resumes after the load by changing the saved RIP in its frame.
fn p1_probe_kernel_memory(p1: &qemu_guest::P1State) {
    print(b"p1: reading kernel memory\n");
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
            resume = in(reg) p1.probe_resume.as_ptr(),
            at = in(reg) p1.probe_rip.as_ptr(),
            kernel = in(reg) KERNEL_ADDRESS,
            options(nostack),
        );
    }
    if p1.probe_resumed.load(Ordering::Relaxed) == 1 {
        print(b"p1: resumed after the faulting load\n");
    }
}

/// Partition 1's upcall handler.
extern "C" fn p1_upcall(frame: *const UpcallFrame) -> ! {
    let memory = p1_memory(frame as u64);
    let (p1, ledger) = (&memory.state, &memory.ledger);
    p1.upcalls.fetch_add(1, Ordering::Relaxed);
    let up = upcall(frame);
    let port = up.port.unwrap_or(u32::MAX);
    let taken = up.port.map(|p| HV.take_count(p));
    let (status, count) = match taken {
        Some(Ok(count)) => (0, count),
        _ => (1, 0),
    };
    if status == 0 && port == u32::from(TIMER_PORT) {
        let handled = p1.handled.fetch_add(count, Ordering::Relaxed) + count;
        // Warp: one event per entry stands for the ticks the ledger says it carried.
        let time =
            handled + ledger.delta.load(Ordering::Acquire) - ledger.markers.load(Ordering::Acquire);
        p1.time.store(time, Ordering::Relaxed);
    } else if status == 0 && port == u32::from(CHANNEL_IN) {
        let before = p1.received.fetch_add(count, Ordering::Relaxed);
        if before == 0 && up.sender == 1 {
            print(b"p1: channel event from p0 received\n");
        }
    }
    upcall_return()
}

/// Partition 1's fault handler.
extern "C" fn p1_fault(frame: *const UpcallFrame) -> ! {
    let p1 = &p1_memory(frame as u64).state;
    let up = upcall(frame);
    let vector = up.vector;
    let address = up.fault_address;
    let saved_rip = saved_rip(frame);
    if vector == 14 {
        p1.probe_vector.store(vector, Ordering::Relaxed);
        p1.probe_address.store(address, Ordering::Relaxed);
        p1.probe_error.store(up.error_code, Ordering::Relaxed);
        p1.probe_saved_rip.store(saved_rip, Ordering::Relaxed);
        if address == KERNEL_ADDRESS && saved_rip == p1.probe_rip.load(Ordering::Relaxed) {
            print(b"p1: fault handler: page fault (#PF) reading kernel memory\n");
        }
        // Resume after the load: the saved state is the handler's to change.
        // SAFETY: the frame is on this partition's stack, written by the kernel for this
        // handler; `SAVED_RIP` is inside it.
        unsafe {
            core::ptr::write_volatile(
                frame.cast::<u64>().cast_mut().add(frame::SAVED_RIP),
                p1.probe_resume.load(Ordering::Relaxed),
            );
        }
        p1.probe_resumed.store(1, Ordering::Relaxed);
        upcall_return()
    }
    p1.faults.fetch_add(1, Ordering::Relaxed);
    p1.trap_vector.store(vector, Ordering::Relaxed);
    p1.trap_address.store(address, Ordering::Relaxed);
    p1.trap_saved_rip.store(saved_rip, Ordering::Relaxed);
    let expected = p1.expected_rip.load(Ordering::Relaxed);
    if vector == 6 && address == expected && saved_rip == expected {
        print(b"p1: fault handler: vector 6 (#UD) at the ud2's RIP\n");
    } else {
        print(b"p1: fault handler: WRONG trap\n");
    }
    print(b"p1: dividing by zero inside the fault handler\n");
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
