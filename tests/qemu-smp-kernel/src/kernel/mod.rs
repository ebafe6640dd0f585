//! The kernel: the boot of the boot CPU and of the application processors, each CPU's
//! set-up, and the exit.
//!
//! Boot CPU (`kmain`): console; its GDT, TSS and the shared IDT; the page tables; the
//! 8259s remapped and masked; the MADT (CPUs, IO-APIC, ISA overrides, NMI pins); its local
//! APIC; the IO-APIC (every pin masked); the TSC and the local APIC timer calibrated
//! against the PIT; the engine; then each other CPU started (INIT-SIPI-SIPI through the
//! trampoline, one at a time, each reporting from Rust on its own stack); the device line
//! routed; the clock started; every CPU of the engine set up (its `syscall` entry, its
//! adapter, its timer) and its first tick seen; then into the dispatcher. Application
//! processor (`ap_entry`): its GDT, TSS and the IDT; reports; waits for the boot CPU's
//! go; its local APIC, its `syscall` entry and timer; its first tick; the dispatcher.

mod burst;
mod config;
mod devices;
mod guest;
mod machine;
mod probes;
mod report;
mod sched;
mod time;

use core::fmt::Write;
use core::sync::atomic::{AtomicBool, Ordering};

use irq_router::CpuId;
use irq_router::vcpu::CatchUpPolicy;
use irq_x86::acpi::{self, IdentityMapped, Madt, PhysicalMemory};
use irq_x86::apic::ApicController;
use irq_x86::apic::local::{AnyApic, LocalApic, LocalConfig, Lvt, Mode, TimerMode};
use irq_x86::apic::msr::{Features, rdtsc};
use irq_x86::apic::timer::choose_mode;
use irq_x86::cpu::Protections;
use irq_x86::pic::Pic;
use irq_x86::smp::machine::{ApicMachine, SharedConsole};
use irq_x86::smp::trampoline::{self, Params};
use irq_x86::smp::{StartDelays, start_cpu};
use irq_x86::syscall::{self, EntryBlock};
use irq_x86::{PartitionSpace, Region, X86Adapter, idt};

use config::{
    CPUS, DEVICE_VECTOR, ERROR_VECTOR, KICK_VECTOR, MAX_CPUS, PARTITIONS, PIC_OFFSETS,
    SPURIOUS_VECTOR, SYSTEM, TICK_HZ, router,
};
use guest::PARTITION_MEMORY;
use sched::{CpuKernel, KERNELS, START_VECTOR};
use time::Timer;

/// QEMU's `isa-debug-exit` port.
const EXIT_PORT: u16 = 0xf4;
/// Exit code of a run whose checks all passed (QEMU exits with `0x10 << 1 | 1` = 33).
pub(crate) const EXIT_SUCCESS: u8 = 0x10;
/// Exit code of a failed run (QEMU exits with 35).
pub(crate) const EXIT_FAILURE: u8 = 0x11;
/// Use x2APIC mode where CPUID offers it.
const ALLOW_X2APIC: bool = true;
/// Use the TSC-deadline timer where CPUID offers it.
const ALLOW_DEADLINE: bool = true;
/// How long a CPU's first tick may take (microseconds).
const FIRST_TICK_WITHIN: u64 = 500_000;
/// The PVH start information's magic.
const PVH_MAGIC: u32 = 0x336e_c578;

/// The kernel's output, for every CPU.
pub(crate) static CONSOLE: SharedConsole = SharedConsole::new(irq_x86::serial::COM1);

/// Each application processor left the trampoline (it is in Rust on its own stack).
static ALIVE: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];
/// The boot CPU built everything the others need: they may set up.
static GO: AtomicBool = AtomicBool::new(false);
/// Each CPU of the engine is set up and its clock ticks.
static READY: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];
/// Each CPU's block for the `syscall` entry (its stack, the user RSP meanwhile).
static SYSCALL_BLOCKS: [EntryBlock; MAX_CPUS] = [const { EntryBlock::new() }; MAX_CPUS];
/// How each CPU's timer runs (decided by the boot CPU).
static TIMER: spin::Mutex<Option<Timer>> = spin::Mutex::new(None);

macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = core::fmt::Write::write_fmt(&mut &$crate::kernel::CONSOLE, format_args!("{}\n", format_args!($($arg)*)));
    }};
}
pub(crate) use say;

/// Writes everything, then exits QEMU through `isa-debug-exit` with `code`.
pub(crate) fn exit(code: u8) -> ! {
    CONSOLE.flush();
    // SAFETY: the kernel owns the debug-exit device.
    unsafe { irq_x86::cpu::outb(EXIT_PORT, code) };
    loop {
        // SAFETY: ring 0; with interrupts disabled this halts.
        unsafe {
            irq_x86::cpu::cli();
            irq_x86::cpu::hlt();
        }
    }
}

pub(crate) fn fail(what: core::fmt::Arguments<'_>) -> ! {
    say!("[kernel] FAIL: {what}");
    exit(EXIT_FAILURE)
}

/// The local APIC set-up of processor `uid`: the spurious and error vectors, LINT0
/// masked (the 8259 is off), LINT1 as the MADT says (the NMI pin).
fn local_config(madt: &Madt, uid: u32) -> LocalConfig {
    let (lint0, lint1) = madt.nmi_pins(uid);
    LocalConfig {
        spurious_vector: SPURIOUS_VECTOR,
        error_vector: ERROR_VECTOR,
        lint0: lint0.unwrap_or(Lvt::Masked),
        lint1: lint1.unwrap_or(Lvt::Masked),
    }
}

/// The protections every CPU turns on where the CPU has them: SMEP, SMAP, NX.
const PROTECTIONS: Protections = Protections { smep: true, smap: true, nx: true };
/// Those the boot CPU found and turned on (every other CPU turns the same on).
static ACTIVE_PROTECTIONS: spin::Mutex<Protections> =
    spin::Mutex::new(Protections { smep: false, smap: false, nx: false });

/// The MADT, kept for the application processors' set-up.
static MADT: spin::Mutex<Option<Madt>> = spin::Mutex::new(None);

/// The 64-bit entry of the boot CPU, on the boot stack, interrupts disabled.
#[unsafe(no_mangle)]
extern "C" fn kmain(start_info: u64) -> ! {
    // SAFETY: ring 0, interrupts disabled; the kernel owns COM1.
    unsafe { CONSOLE.init() };
    say!("[kernel] hello from the irq-x86 SMP end-to-end kernel");
    // SAFETY: once, at boot, on the boot CPU, ring 0, interrupts disabled.
    unsafe { machine::load_cpu(0, true) };
    idt::set_dispatcher(sched::dispatch);
    let protections = Protections::supported().and(PROTECTIONS);
    *ACTIVE_PROTECTIONS.lock() = protections;
    // SAFETY: ring 0, interrupts disabled, supported bits only; the boot tables map
    // nothing user-accessible, the kernel's tables (below) keep the kernel's code out of
    // user and no-execute pages and give it the partitions' memory through its alias.
    unsafe { protections.enable() };
    // SAFETY: once, at boot, before any other CPU runs; the kernel is below 4 GiB; NXE is
    // on here (just above) and on the others from the trampoline.
    unsafe { machine::build_paging(protections.nx) };
    // The 8259s: away from the exception vectors, every line masked.
    // SAFETY: ring 0, interrupts disabled, the kernel owns the PICs.
    unsafe { Pic::new(PIC_OFFSETS.0, PIC_OFFSETS.1).init() };
    say!(
        "[kernel] GDT, TSS, IDT and page tables loaded; 8259 masked; protections: smep={} smap={} nx={}",
        protections.smep,
        protections.smap,
        protections.nx
    );

    probes::read(start_info, PVH_MAGIC);
    if probes::probe() != probes::Probe::None {
        say!("[kernel] probe: {:?} on cpu {}", probes::probe(), probes::PROBE_CPU);
    }
    let madt = read_madt(start_info);
    let bsp_uid = madt.cpus.first().map_or(0, |c| c.processor);
    let features = Features::read();
    // SAFETY: the local APIC's page is in the uncached device window, used by this CPU
    // only through this value; every CPU is set up in the same mode.
    let apic = unsafe { AnyApic::enable(madt.local_apic_address as usize, ALLOW_X2APIC) };
    let mut lapic = LocalApic::new(apic);
    lapic.enable(&local_config(&madt, bsp_uid));
    let bsp_id = lapic.id();
    machine::set_apic_id(0, bsp_id);
    let mode = match lapic.registers() {
        AnyApic::X(_) => Mode::XApic,
        AnyApic::X2(_) => Mode::X2Apic,
    };
    say!(
        "[kernel] local APIC: {mode:?} mode, boot CPU APIC ID {bsp_id}; CPUID: x2apic={} tsc_deadline={} invariant_tsc={}",
        features.x2apic,
        features.tsc_deadline,
        features.invariant_tsc
    );
    for io in &madt.io_apics {
        // SAFETY: once per IO-APIC, at boot; the address is the MADT's.
        match unsafe { machine::add_ioapic(io.address, io.gsi_base) } {
            Some((id, version, pins)) => say!(
                "[kernel] IO-APIC {id} at {:#x}: version {version:#x}, {pins} pins from GSI {}",
                io.address,
                io.gsi_base
            ),
            None => fail(format_args!("too many IO-APICs")),
        }
    }

    let Some(hz) = time::calibrate_tsc() else {
        fail(format_args!("PIT channel 2 never counted: no way to calibrate the TSC"))
    };
    let per_tick = hz / u64::from(TICK_HZ);
    let timer_mode = choose_mode(features.tsc_deadline, ALLOW_DEADLINE);
    let counts = if timer_mode == TimerMode::TscDeadline {
        0
    } else {
        time::calibrate_apic(&mut lapic, per_tick)
    };
    let timer = Timer { mode: timer_mode, counts };
    *TIMER.lock() = Some(timer);
    say!(
        "[kernel] time: TSC at {} kHz (against PIT channel 2), {per_tick} TSC counts a tick; local APIC timer {timer_mode:?}, {counts} counts a tick (divide by {})",
        hz / 1000,
        time::APIC_DIVIDE
    );

    config::init_router();
    router().start();
    for (p, memory) in (0..PARTITIONS).map(|p| (p, machine::memory(p))) {
        let state = &memory.state;
        let warp = SYSTEM.partitions[p].catch_up == CatchUpPolicy::Warp;
        state.warp.store(u64::from(warp), Ordering::Relaxed);
        let device = config::port_of(p, DEVICE_VECTOR);
        state.device_port.store(device.map_or(0, |port| u64::from(port) + 1), Ordering::Relaxed);
        state.pattern.store(0x0123_4567_0000_0000 + ((p as u64) << 40), Ordering::Relaxed);
        // Partitions 0 and 2 (one on each CPU) load FS and GS, 1 and 3 leave them null.
        state.segments.store(u64::from(p % 2 == 0), Ordering::Relaxed);
        state.segment_word.store(0x5e9_0000_0000 + p as u64, Ordering::Relaxed);
        // Partitions 0 and 3 (one on each CPU; 0 with its own GS base, which the entry's
        // `swapgs` pair must leave alone) make hypercalls through `syscall` too. Not the
        // burst's partition: its final entry is long already in a debug build.
        state.syscall.store(u64::from(p == 0 || p == 3), Ordering::Relaxed);
    }
    burst::setup();
    *MADT.lock() = Some(madt.clone());

    let started = start_application_processors(&madt, &mut lapic, bsp_id);
    say!("[kernel] {started} of {} CPUs up", madt.usable_cpus().count());
    if started < CPUS {
        fail(format_args!("the engine needs {CPUS} CPUs, {started} started"));
    }

    devices::route_pit(&madt);
    devices::setup_edus();
    if time::start_clock(hz).is_none() {
        fail(format_args!("a tick is shorter than a TSC count"));
    }
    GO.store(true, Ordering::Release);
    setup_cpu(0, lapic, timer);
    let deadline = rdtsc() + time::tsc_rate();
    while (1..CPUS).any(|c| !READY[c].load(Ordering::Acquire)) {
        if rdtsc() > deadline {
            fail(format_args!("a CPU of the engine did not get ready within a second"));
        }
        core::hint::spin_loop();
    }
    say!(
        "[kernel] {CPUS} CPUs run the engine, {PARTITIONS} partitions, major frame {} ticks at {TICK_HZ} Hz, run until tick {}",
        config::MAJOR_FRAME,
        config::END_TICK
    );
    // Into the dispatcher, which enters the first window in ring 3.
    // SAFETY: the start vector's gate leads to the dispatcher, which never returns here.
    unsafe { core::arch::asm!("int {v}", v = const START_VECTOR, options(noreturn)) };
}

/// The MADT, through the PVH start information's RSDP (or the BIOS areas).
fn read_madt(start_info: u64) -> Madt {
    // SAFETY: the first GiB is identity-mapped and readable; the firmware's tables and
    // the start information are not written by anyone.
    let memory = unsafe { IdentityMapped::new(1 << 30) };
    let hint = memory.read(start_info, 40).and_then(|info| {
        let magic = u32::from_le_bytes(info[..4].try_into().ok()?);
        let rsdp = u64::from_le_bytes(info[32..40].try_into().ok()?);
        (magic == PVH_MAGIC && rsdp != 0).then_some(rsdp)
    });
    let madt = acpi_madt(&memory, hint).unwrap_or_else(|e| fail(format_args!("ACPI: {e:?}")));
    let ids = madt.cpus.iter().map(|c| c.apic_id);
    let mut list = heapless::String::<128>::new();
    for id in ids {
        let _ = write!(list, "{id} ");
    }
    let (gsi, polarity, trigger) = madt.isa_irq(0);
    say!(
        "[kernel] MADT (RSDP {}): {} CPUs (APIC IDs {}), {} IO-APIC(s), ISA IRQ 0 -> GSI {gsi} {trigger:?} {polarity:?}, local APIC at {:#x}",
        if hint.is_some() { "from the PVH start info" } else { "found in the BIOS area" },
        madt.cpus.len(),
        list.trim_end(),
        madt.io_apics.len(),
        madt.local_apic_address
    );
    madt
}

fn acpi_madt(memory: &IdentityMapped, hint: Option<u64>) -> Result<Madt, acpi::AcpiError> {
    let rsdp = memory.rsdp(hint)?;
    Madt::parse(acpi::find(memory, &rsdp, b"APIC")?)
}

/// Starts every other usable CPU of the MADT (as many as there are tables for), one at a
/// time. Answers the CPUs up, the boot CPU included.
fn start_application_processors(madt: &Madt, lapic: &mut LocalApic<AnyApic>, bsp_id: u32) -> usize {
    let params = Params {
        cr3: machine::kernel_cr3() as u32,
        efer: ACTIVE_PROTECTIONS.lock().efer_bits() as u32,
        stack: 0,
        entry: ap_entry as *const () as u64,
        arg: 0,
    };
    // SAFETY: page 8 is conventional memory nothing uses after the firmware, mapped
    // writable and executable at its own address in the kernel's tables (the first 2 MiB
    // page); no CPU runs the trampoline yet.
    let bytes = unsafe { trampoline::install(&params) };
    say!("[kernel] trampoline: {bytes} bytes at {:#x}", trampoline::ADDRESS);
    let mut up = 1;
    for info in madt.usable_cpus().filter(|c| c.apic_id != bsp_id) {
        if up == MAX_CPUS {
            say!("[kernel] CPU with APIC ID {} left parked: no tables for it", info.apic_id);
            continue;
        }
        let index = up;
        machine::set_apic_id(index, info.apic_id);
        let params =
            Params { stack: machine::STACKS[index].idle.top(), arg: index as u64, ..params };
        // SAFETY: installed above; the previous CPU left the trampoline (it reported).
        unsafe { trampoline::set_params(&params) };
        let started = start_cpu(
            lapic,
            info.apic_id,
            trampoline::SIPI_PAGE,
            &StartDelays::SDM,
            time::wait_micros,
            || ALIVE[index].load(Ordering::Acquire),
        );
        match started {
            Ok(sipis) => {
                say!(
                    "[kernel] cpu {index} (APIC ID {}) started with {sipis} start-up IPI(s)",
                    info.apic_id
                );
                up += 1;
            }
            Err(e) => {
                machine::set_apic_id(index, irq_x86::smp::machine::NO_APIC);
                say!("[kernel] cpu with APIC ID {} did not start: {e:?}", info.apic_id);
            }
        }
    }
    up
}

/// CPU `cpu`'s kernel: its adapter over its local APIC, its timer started, its first
/// tick waited for (a clock that does not tick is reported, not waited for).
fn setup_cpu(cpu: usize, lapic: LocalApic<AnyApic>, timer: Timer) {
    let controller = ApicController::new(lapic, &machine::IOAPICS, SPURIOUS_VECTOR);
    // SAFETY: ring 0, interrupts disabled, on this CPU, once; the partitions' memory is
    // identity-mapped in every address space and no Rust reference points into their
    // stacks (the kernel only uses their atomics).
    let hw = unsafe { ApicMachine::new(controller, &CONSOLE, &machine::APIC_IDS, KICK_VECTOR) };
    let (code_start, code_end) = machine::guest_code();
    let Some(entry) = guest::entry(machine::ALIAS) else {
        fail(format_args!("no partitions' program at {:#x}", guest::GUEST_BASE))
    };
    let spaces: [PartitionSpace; PARTITIONS] = core::array::from_fn(|p| {
        let (start, end) = machine::partition_memory(p);
        PartitionSpace {
            memory: Region { start, end },
            code: Region { start: code_start, end: code_end },
            entry,
            stack_top: PARTITION_MEMORY[p].stack_top(),
            arg: start,
        }
    });
    let Ok(id) = CpuId::<CPUS>::new(cpu as u32) else {
        fail(format_args!("cpu {cpu} past the engine's"))
    };
    // SAFETY: ring 0, interrupts disabled, on this CPU, once; its GDT and the IDT's
    // dispatcher are in place; the block is this CPU's and the stack its IST1, used only
    // by its entries (interrupts stay off while one is dispatched); the kernel never
    // executes `swapgs` nor writes `KERNEL_GS_BASE`.
    unsafe { syscall::enable(&SYSCALL_BLOCKS[cpu], machine::STACKS[cpu].common.top()) };
    let adapter = X86Adapter::new(hw, PIC_OFFSETS, spaces).on_cpu(id);
    *KERNELS[cpu].lock() = Some(CpuKernel::new(cpu, adapter, timer));
    if let Some(k) = KERNELS[cpu].lock().as_mut()
        && !(cpu == probes::PROBE_CPU && probes::probe() == probes::Probe::NoTimer)
    {
        k.timer.start(cpu, k.adapter.hardware().apic());
    }
    let deadline = rdtsc() + time::tsc_rate() / 1_000_000 * FIRST_TICK_WITHIN;
    // SAFETY: ring 0; the dispatcher returns to this loop while the CPU is booting.
    unsafe { core::arch::asm!("sti", options(nomem, nostack)) };
    while !time::has_ticked(cpu) && rdtsc() < deadline {
        core::hint::spin_loop();
    }
    // SAFETY: ring 0.
    unsafe { irq_x86::cpu::cli() };
    if !time::has_ticked(cpu) {
        fail(format_args!(
            "clock: cpu {cpu}'s local APIC timer ({:?}) gave no interrupt within {} ms",
            timer.mode,
            FIRST_TICK_WITHIN / 1000
        ));
    }
    READY[cpu].store(true, Ordering::Release);
}

/// An application processor's 64-bit entry, from the trampoline, on its idle stack,
/// interrupts disabled.
extern "C" fn ap_entry(cpu: u64) -> ! {
    let cpu = cpu as usize;
    // SAFETY: ring 0, interrupts disabled, this CPU's own tables, once; the boot CPU
    // built the IDT before it started this CPU.
    unsafe { machine::load_cpu(cpu, false) };
    let protections = *ACTIVE_PROTECTIONS.lock();
    // SAFETY: as on the boot CPU, which checked that they are supported (every CPU of
    // the machine is the same model); NXE is on already (the trampoline).
    unsafe { protections.enable() };
    let features = Features::read();
    say!(
        "[kernel] cpu {cpu}: in Rust on its own stack, its GDT, TSS and interrupt stacks loaded (initial APIC ID {})",
        features.initial_apic_id
    );
    ALIVE[cpu].store(true, Ordering::Release);
    while !GO.load(Ordering::Acquire) {
        core::hint::spin_loop();
    }
    let Some(madt) = MADT.lock().clone() else { fail(format_args!("no MADT")) };
    let uid = madt
        .cpus
        .iter()
        .find(|c| c.apic_id == machine::APIC_IDS[cpu].load(Ordering::Acquire))
        .map_or(0, |c| c.processor);
    // SAFETY: as on the boot CPU: the same mode, this CPU only.
    let apic = unsafe { AnyApic::enable(madt.local_apic_address as usize, ALLOW_X2APIC) };
    let mut lapic = LocalApic::new(apic);
    lapic.enable(&local_config(&madt, uid));
    if cpu >= CPUS {
        say!("[kernel] cpu {cpu}: APIC ID {}, not used by the engine: parked", lapic.id());
        loop {
            // SAFETY: ring 0; parked with interrupts disabled (an NMI still finds its
            // stack).
            unsafe {
                irq_x86::cpu::cli();
                irq_x86::cpu::hlt();
            }
        }
    }
    let Some(timer) = *TIMER.lock() else { fail(format_args!("no timer")) };
    setup_cpu(cpu, lapic, timer);
    // SAFETY: the start vector's gate leads to the dispatcher, which never returns here.
    unsafe { core::arch::asm!("int {v}", v = const START_VECTOR, options(noreturn)) };
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    // SAFETY: the kernel is dying: whichever CPU held the console will not write again
    // before the exit.
    unsafe { CONSOLE.force_unlock() };
    say!("[kernel] PANIC: {info}");
    exit(EXIT_FAILURE)
}
