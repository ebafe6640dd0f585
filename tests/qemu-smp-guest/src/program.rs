//! The program (see the crate's documentation).

use core::arch::asm;
use core::num::NonZeroU64;
use core::sync::atomic::Ordering;

use irq_guest::x86_64::{Int80, Syscall};
use irq_guest::{Hypervisor, RawCall, Transport, Upcall};
use irq_x86::UpcallFrame;
use qemu_smp_guest::{
    BURST_LINES, BURST_PER_WAKE, GuestState, Header, MAGIC, MEMORY_SIZE, PartitionMemory,
    TIMER_PORT,
};

/// The hypercalls, over `int 0x80` (the guest library).
const HV: Hypervisor<Int80> = Hypervisor::new(Int80);
/// The same hypercalls over `syscall`.
const HV_SYSCALL: Hypervisor<Syscall> = Hypervisor::new(Syscall);

/// What the kernel reads at the image's start.
#[unsafe(link_section = ".header")]
#[used]
static HEADER: Header = Header { magic: MAGIC, main: guest_main, upcall: guest_upcall };

/// A panic (an overflow check of a debug build, say) stops the partition with an error:
/// a health-monitor event of its own.
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {
        let _ = HV.exec_stop_error(0x7a);
    }
}

/// The memory of the partition that owns address `addr` (its stack or its memory).
fn memory_of(addr: u64) -> &'static PartitionMemory {
    // SAFETY: the partition runs with its stack in its own 2 MiB-aligned memory, which
    // holds a `PartitionMemory` for ever.
    unsafe { &*((addr & !(MEMORY_SIZE - 1)) as *const PartitionMemory) }
}

/// The user data selector (the one a partition may keep in FS or GS).
const USER_DATA: u64 = irq_x86::gdt::USER_SS as u64;

/// Whether CPUID offers the FS/GS base instructions (leaf 7, EBX bit 0): the kernel then
/// enables them for ring 3.
fn fsgsbase_offered() -> bool {
    let (max, ebx): (u32, u32);
    // SAFETY: `cpuid` only reads; rbx (reserved by the compiler) is saved around it.
    unsafe {
        asm!("mov {t}, rbx", "cpuid", "xchg {t}, rbx", t = out(reg) _,
            inout("eax") 0u32 => max, inout("ecx") 0u32 => _, out("edx") _,
            options(nomem, nostack, preserves_flags));
    }
    if max < 7 {
        return false;
    }
    // SAFETY: as above.
    unsafe {
        asm!("mov {t:r}, rbx", "cpuid", "xchg {t:r}, rbx", "mov {b:e}, {t:e}",
            t = out(reg) _, b = out(reg) ebx,
            inout("eax") 7u32 => _, inout("ecx") 0u32 => _, out("edx") _,
            options(nomem, nostack, preserves_flags));
    }
    ebx & 1 != 0
}

/// The bases a partition writes: its `segment_word` for FS, 8 bytes below it for GS (so
/// `fs:[0]` and `gs:[8]` both read that word).
fn segment_bases(state: &GuestState) -> (u64, u64) {
    let word = core::ptr::from_ref(&state.segment_word) as u64;
    (word, word.wrapping_sub(8))
}

/// Loads the user data selector into FS and GS and, with `bases`, writes their bases.
fn segments_fill(state: &GuestState, bases: bool) {
    // SAFETY: loading the user data selector (DPL 3) is allowed in ring 3; the compiled
    // code uses neither FS nor GS.
    unsafe {
        asm!("mov fs, {s:x}", "mov gs, {s:x}", s = in(reg) USER_DATA,
            options(nomem, nostack, preserves_flags));
    }
    if bases {
        let (fs, gs) = segment_bases(state);
        // SAFETY: CR4.FSGSBASE is set where CPUID offers it (the kernel's `fpu::enable`);
        // canonical addresses of its own memory.
        unsafe {
            asm!("wrfsbase {f}", "wrgsbase {g}", f = in(reg) fs, g = in(reg) gs,
                options(nomem, nostack, preserves_flags));
        }
    }
}

/// Whether FS and GS hold what this partition left: the user data selector and its
/// bases (a word read through each), or for a partition that loads nothing, null
/// selectors and bases 0. Records the first mismatch's selectors.
fn segments_hold(state: &GuestState, loads: bool, bases: bool) -> bool {
    let (fs, gs): (u64, u64);
    // SAFETY: reads the selectors only.
    unsafe {
        asm!("mov {f:x}, fs", "mov {g:x}, gs", "movzx {f:e}, {f:x}", "movzx {g:e}, {g:x}",
            f = out(reg) fs, g = out(reg) gs, options(nomem, nostack, preserves_flags));
    }
    let want = if loads { USER_DATA } else { 0 };
    let mut ok = fs == want && gs == want;
    if bases {
        let (fs_base, gs_base): (u64, u64);
        // SAFETY: CR4.FSGSBASE is set (see `segments_fill`); reads only.
        unsafe {
            asm!("rdfsbase {f}", "rdgsbase {g}", f = out(reg) fs_base, g = out(reg) gs_base,
                options(nomem, nostack, preserves_flags));
        }
        let (want_fs, want_gs) = if loads { segment_bases(state) } else { (0, 0) };
        ok &= fs_base == want_fs && gs_base == want_gs;
        if ok && loads {
            let (a, b): (u64, u64);
            // SAFETY: both bases point into its own memory (checked just above), at its
            // `segment_word`.
            unsafe {
                asm!("mov {a}, qword ptr fs:[0]", "mov {b}, qword ptr gs:[8]",
                    a = out(reg) a, b = out(reg) b, options(readonly, nostack, preserves_flags));
            }
            let word = state.segment_word.load(Ordering::Relaxed);
            ok &= a == word && b == word;
        }
    }
    if !ok && state.segment_bad.load(Ordering::Relaxed) == 0 {
        state.segment_bad_selectors.store(fs | gs << 16, Ordering::Relaxed);
    }
    ok
}

fn print(message: &'static [u8]) {
    let _ = HV.console_write(message);
}

/// The upcall the kernel wrote for the handler.
fn upcall(frame: *const UpcallFrame) -> Upcall {
    // SAFETY: the kernel enters the handler with `rdi` pointing at a whole frame on this
    // partition's stack.
    unsafe { irq_guest::Upcall::from_frame(frame.cast()) }
}

/// Upcall return, through `syscall` for a partition that uses it.
fn upcall_return(state: &GuestState) -> ! {
    if state.syscall.load(Ordering::Relaxed) == 1 {
        loop {
            state.syscall_calls.fetch_add(1, Ordering::Relaxed);
            let _ = HV_SYSCALL.upcall_return();
        }
    }
    loop {
        let _ = HV.upcall_return();
    }
}

/// Makes call `number` with `args` through `int 0x80` and through `syscall`: the same
/// answer, registers and all (status in rax, value in rdx).
fn compare_call(state: &GuestState, number: u64, args: [u64; 4]) {
    let call = RawCall { number, args };
    let by_int = Int80.enter(&call);
    state.syscall_calls.fetch_add(1, Ordering::Relaxed);
    let by_syscall = Syscall.enter(&call);
    let same = match (by_int, by_syscall) {
        (Ok([s0, v0]), Ok([s1, v1])) => s0 == s1 && v0 == v1,
        _ => false,
    };
    compared(state, number, same);
}

fn compared(state: &GuestState, number: u64, same: bool) {
    state.syscall_compared.fetch_add(1, Ordering::Relaxed);
    if !same && state.syscall_mismatches.fetch_add(1, Ordering::Relaxed) == 0 {
        state.syscall_first_bad.store(number + 1, Ordering::Relaxed);
    }
}

/// The answers of `syscall` against those of `int 0x80`, for calls that decode (one
/// that does not is a health-monitor event): the ABI version (its value in rdx); the
/// start reason; `mask` and `take_count` of a port the partition has no binding for
/// (rdi); `request_irq` of a vector that is not its own (rdi, rsi); `console_write` of
/// kernel memory (rdi, rsi: refused); the clock (between two reads through `int 0x80`).
fn syscall_compare(state: &GuestState) {
    compare_call(state, 0, [0; 4]);
    compare_call(state, 19, [0; 4]);
    compare_call(state, 10, [63, 0, 0, 0]);
    compare_call(state, 9, [62, 0, 0, 0]);
    compare_call(state, 1, [0xee, 62, 0, 0]);
    compare_call(state, 17, [0x1000, 8, 0, 0]);
    let before = HV.read_clock();
    state.syscall_calls.fetch_add(1, Ordering::Relaxed);
    let clock = HV_SYSCALL.read_clock();
    let after = HV.read_clock();
    let same = match (before, clock, after) {
        (Ok(b), Ok(c), Ok(a)) => b <= c && c <= a,
        _ => false,
    };
    compared(state, 13, same);
}

/// Every partition's entry: `base` is its memory.
extern "C" fn guest_main(base: u64) -> ! {
    let memory = memory_of(base);
    let state = &memory.state;
    state.started.fetch_add(1, Ordering::Relaxed);
    let _ = HV.register_upcall(NonZeroU64::new(guest_upcall as *const () as u64));
    let pattern = state.pattern.load(Ordering::Relaxed);
    guest_fpu::fill(pattern);
    let loads = state.segments.load(Ordering::Relaxed) == 1;
    let bases = fsgsbase_offered();
    state.segment_bases.store(u64::from(bases), Ordering::Relaxed);
    if loads {
        segments_fill(state, bases);
    }
    print(b"guest: started on its CPU, upcall registered\n");
    let _ = HV.enable_irqs();
    loop {
        give_withheld(state);
        burst(state);
        guest_fpu::check(pattern, &state.fpu_checks, &state.fpu_bad);
        state.segment_checks.fetch_add(1, Ordering::Relaxed);
        if !segments_hold(state, loads, bases) {
            state.segment_bad.fetch_add(1, Ordering::Relaxed);
        }
        if state.syscall.load(Ordering::Relaxed) == 1 {
            syscall_compare(state);
            state.syscall_calls.fetch_add(1, Ordering::Relaxed);
            let _ = HV_SYSCALL.idle();
        } else {
            let _ = HV.idle();
        }
    }
}

/// Every partition's upcall handler.
extern "C" fn guest_upcall(frame: *const UpcallFrame) -> ! {
    let memory = memory_of(frame as u64);
    let state = &memory.state;
    state.upcalls.fetch_add(1, Ordering::Relaxed);
    let up = upcall(frame);
    let Some(port) = up.port else { upcall_return(state) };
    let word = u64::from(port) + 1;
    if word == state.edu_port.load(Ordering::Relaxed) {
        edu_interrupt(state, port);
        upcall_return(state)
    }
    let burst = state.burst_port.load(Ordering::Relaxed);
    if burst != 0 && word >= burst && word < burst + BURST_LINES as u64 {
        burst_upcall(state, port, word - burst);
        upcall_return(state)
    }
    let Ok(count) = HV.take_count(port) else { upcall_return(state) };
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
    upcall_return(state)
}

/// The edu's register offsets: the interrupt status (what raised it) and the
/// acknowledgement (clears those bits; the device lowers its INTx once none is left).
const EDU_STATUS: u64 = 0x24;
const EDU_ACK: u64 = 0x64;

/// The edu's INTx, taken into service on `port`: the device is acknowledged at its
/// register (the line drops), then the event through the ABI (the engine unmasks the
/// line once every partition sharing it has), unless this is the event the partition
/// withholds: then the ABI acknowledgement waits (see [`give_withheld`]).
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
        print(b"guest: withholding the acknowledgement of a shared level line\n");
    } else if let Ok(count) = HV.take_count(port) {
        state.edu_events.fetch_add(count, Ordering::Relaxed);
    }
}

/// Gives the withheld acknowledgement once its time came (from the main loop, which runs
/// after every upcall).
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
    print(b"guest: acknowledgement given, late\n");
}

/// Upcalls of burst ports in priority order (the lowest port first), as the handler logs
/// them: port offset `k` in the `k`th four bits.
const BURST_IN_ORDER: u64 = 0xfedc_ba98_7654_3210;
/// How long the partition waits for the kernel to take a round's interrupts (loop turns;
/// they are taken as its call returns, before it runs an instruction).
const BURST_WAIT: u64 = 10_000_000;

/// The burst's upcall for `port`, the `offset`th burst port: its event taken, the port
/// logged.
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
        while state.burst_taken.load(Ordering::Acquire) < taken
            && wait < BURST_WAIT
            && state.burst_rounds.load(Ordering::Acquire) > round
        {
            wait += 1;
            core::hint::spin_loop();
        }
        if state.burst_rounds.load(Ordering::Acquire) <= round {
            // The run ended (the kernel withdrew its rounds): its final entry fires
            // nothing, and this round does not count.
            let _ = HV.enable_irqs();
            return;
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
        print(b"guest: burst rounds done\n");
    }
}
