//! The dispatcher and each CPU's cyclic scheduler.
//!
//! Every entry (interrupt, exception, hypercall) of any CPU lands in [`dispatch`] with the
//! [`TrapFrame`] on that CPU's interrupt stack, which says which CPU it is. The CPU's own
//! kernel state (its adapter, its schedule's place) is locked (only ever by that CPU while
//! the run lasts: never contended), the event goes to the engine through the adapter, and
//! the frame is loaded with whatever runs next on this CPU.
//!
//! Each CPU runs the windows of its own partitions, as the engine's schedule says: every
//! clock tick (its local APIC timer; the time itself read from the TSC) returns the
//! switch to make. A kick from another CPU (the engine's, as an IPI) resumes the
//! partition running here. At [`END_TICK`] a CPU stops its partitions; once every CPU
//! has, each enters its partitions once more, with the clock stopped, to handle what
//! they were given, and the last CPU to finish reports.

use core::fmt::Write;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use irq_router::Switch;
use irq_router::events::PartitionId;
use irq_router::vcpu::CatchUpPolicy;
use irq_x86::apic::icr::{Delivery, Destination, Ipi};
use irq_x86::apic::msr::rdtsc;
use irq_x86::apic::timer::ClockHealth;
use irq_x86::gdt::{KERNEL_CS, KERNEL_SS};
use irq_x86::idt::HYPERCALL_VECTOR;
use irq_x86::regs::{RFLAGS_ENTRY, UserRegs};
use irq_x86::smp::machine::ApicMachine;
use irq_x86::{TrapFrame, X86Adapter, cpu, idt};

use super::config::{
    BURST_FIRST_VECTOR, BURST_LAST_VECTOR, CLOCK_VECTOR, CPUS, DEVICE_VECTOR, EDU_INTX_VECTOR,
    EDU_MSI_VECTOR, END_TICK, ERROR_VECTOR, KICK_VECTOR, MAX_CPUS, PARTITIONS, SPURIOUS_VECTOR,
    SYSTEM, router,
};
use super::machine::memory;
use super::time::{self, Timer};
use super::{EXIT_FAILURE, burst, machine, probes, report};

/// The software interrupt each CPU's boot code uses to enter the dispatcher.
pub(crate) const START_VECTOR: u8 = 0x81;
/// Window budget of the final entries (the clock is stopped then).
const DRAIN_BUDGET: u64 = 1;
/// Ticks of the TSC's clock (5 s) the final entries may take before the run is declared
/// stuck. Time, not clock interrupts: a slow build (a debug kernel under a loaded
/// emulator) takes more interrupts for the same work when its timer's calibration came
/// out short.
const DRAIN_LIMIT: u64 = 5000;
/// Serial bytes a CPU writes at each of its window switches.
const SERIAL_BUDGET: usize = 1024;

/// CPUs that reached the end of the run.
static AT_END: AtomicUsize = AtomicUsize::new(0);
/// CPUs that finished their final entries.
static FINISHED: AtomicUsize = AtomicUsize::new(0);
/// The TSC of the latest device interrupt (for the kick's latency).
static RAISED_AT: AtomicU64 = AtomicU64::new(0);
/// A CPU whose clock stopped was reported (once).
static CLOCK_FAILED: AtomicUsize = AtomicUsize::new(usize::MAX);
/// The CPUs whose clocks are watched (bit `c`): from their start to their end.
static WATCHED: AtomicUsize = AtomicUsize::new(0);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Set up, waiting for its first tick or its start.
    Boot,
    /// Running the schedule.
    Run,
    /// At the end, waiting for the other CPUs to get there.
    AtEnd,
    /// Entering its `n`th partition once more.
    Drain(usize),
    /// Finished.
    Done,
}

/// What one CPU counted.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CpuStats {
    /// Clock interrupts taken.
    pub(crate) clock_irqs: u64,
    /// Kick IPIs received.
    pub(crate) kick_ipis: u64,
    /// Upcalls injected by the resume after a kick IPI.
    pub(crate) kick_upcalls: u64,
    /// Longest time from a device interrupt (on another CPU) to the upcall a kick
    /// injected for it, in TSC counts.
    pub(crate) kick_latency_max: u64,
    /// Device interrupts given to the engine: the PIT's, the edu INTx's, the edu MSI's.
    pub(crate) device_irqs: u64,
    pub(crate) edu_intx_irqs: u64,
    pub(crate) edu_msi_irqs: u64,
    /// Burst interrupts taken while the schedule ran, and outside it (acknowledged only).
    pub(crate) burst_irqs: u64,
    pub(crate) burst_outside: u64,
    /// Device interrupts before the schedule started and after the end (acknowledged
    /// only).
    pub(crate) device_before_start: u64,
    pub(crate) device_after_end: u64,
    /// Local APIC errors.
    pub(crate) apic_errors: u64,
    /// Entries with vectors nobody expects.
    pub(crate) unexpected: u64,
    /// The NMIs this CPU sent itself in the middle of a hypercall (every `NMI_EVERY`th):
    /// seen taken on its common stack (the hypercall's entry in progress), with the
    /// hypercall's frame unchanged after it, or not seen within the wait, or not sent.
    pub(crate) hypercall_nmis: u64,
    pub(crate) hypercall_nmis_frame_intact: u64,
    pub(crate) hypercall_nmis_unseen: u64,
    pub(crate) hypercall_nmi_send_errors: u64,
    /// Those NMIs that came in the middle of a hypercall made through `syscall`.
    pub(crate) syscall_nmis: u64,
    /// Ticks of the run at its end (the TSC's), against `clock_irqs`.
    pub(crate) end_tick: u64,
}

/// One CPU's kernel.
pub(crate) struct CpuKernel {
    pub(crate) cpu: usize,
    pub(crate) adapter: X86Adapter<PARTITIONS, ApicMachine>,
    pub(crate) timer: Timer,
    pub(crate) phase: Phase,
    /// The partition of the current window.
    cur: Option<usize>,
    /// The current partition waits, or there is none (the idle loop runs).
    idle: bool,
    loaded_cr3: u64,
    /// The tick (the TSC's clock) of the first clock interrupt of the final entries.
    drain_from: Option<u64>,
    pub(crate) stats: CpuStats,
}

/// Each CPU's kernel, locked by that CPU's dispatcher (and by the report, at the end).
pub(crate) static KERNELS: [spin::Mutex<Option<CpuKernel>>; MAX_CPUS] =
    [const { spin::Mutex::new(None) }; MAX_CPUS];

pub(crate) fn pid(p: usize) -> PartitionId<PARTITIONS> {
    match PartitionId::new(p as u32) {
        Ok(id) => id,
        Err(_) => panic!("partition {p} out of range"),
    }
}

/// The partitions bound to CPU `cpu`, in configuration order.
fn partitions_of(cpu: usize) -> impl Iterator<Item = usize> {
    (0..PARTITIONS).filter(move |&p| usize::from(SYSTEM.partitions[p].cpu) == cpu)
}

/// The one dispatcher, for every CPU.
pub(crate) fn dispatch(frame: &mut TrapFrame) {
    let Some(cpu) = machine::cpu_of_frame(core::ptr::from_mut(frame) as u64) else {
        loop {
            // SAFETY: ring 0: an entry on a stack no CPU has; nothing sensible to do.
            unsafe {
                cpu::cli();
                cpu::hlt();
            }
        }
    };
    let vector = frame.vector as u8;
    let user = frame.from_user();
    if vector < 32 && !user {
        // Before the lock: the fault may have interrupted the dispatcher holding it.
        kernel_fault(cpu, frame);
    }
    let mut guard = KERNELS[cpu].lock();
    let Some(k) = guard.as_mut() else { panic!("entry on CPU {cpu} before its kernel is ready") };
    if user && let Some(cur) = k.cur {
        k.adapter.save(cur, frame);
    }
    match vector {
        0..=31 if user => {
            let p = k.cur.unwrap_or(0);
            let _ = writeln!(
                k.adapter.hardware(),
                "[kernel] cpu {cpu}: trap in partition {p}: vector {vector} at rip={:#x} error={:#x}",
                frame.rip,
                frame.error_code
            );
            // SAFETY: ring 0.
            let cr2 = unsafe { cpu::read_cr2() };
            k.adapter.trap(router(), pid(p), vector, frame.error_code, cr2);
            if frame.rip == NX_TARGET.load(Ordering::Relaxed) {
                super::fail(format_args!(
                    "probe: nx: partition {p}'s fetch at {:#x} trapped (vector {vector}, error {:#x}, cr2 {cr2:#x}), blamed on it; the probe ends the run",
                    frame.rip, frame.error_code
                ));
            }
        }
        CLOCK_VECTOR => k.tick(),
        KICK_VECTOR => k.kick_ipi(),
        DEVICE_VECTOR | EDU_INTX_VECTOR | EDU_MSI_VECTOR => k.device(vector),
        BURST_FIRST_VECTOR..=BURST_LAST_VECTOR => k.burst(vector),
        SPURIOUS_VECTOR => k.adapter.interrupt(router(), vector),
        ERROR_VECTOR => {
            k.stats.apic_errors += 1;
            let apic = k.adapter.hardware().apic();
            let status = apic.clear_errors();
            apic.eoi();
            let _ = writeln!(k.adapter.hardware(), "[kernel] cpu {cpu}: APIC error {status:#x}");
        }
        HYPERCALL_VECTOR if user => {
            if let Some(cur) = k.cur {
                k.nmi_during_hypercall(frame);
                let _ = k.adapter.hypercall(router(), pid(cur));
            }
        }
        START_VECTOR if !user && k.phase == Phase::Boot => k.begin(),
        _ => k.stats.unexpected += 1,
    }
    if k.phase == Phase::Boot {
        // Still in its boot code (waiting for its first tick): back to it.
        return;
    }
    k.settle();
    k.fire_burst();
    k.load(frame);
}

impl CpuKernel {
    pub(crate) fn new(
        cpu: usize,
        adapter: X86Adapter<PARTITIONS, ApicMachine>,
        timer: Timer,
    ) -> Self {
        Self {
            cpu,
            adapter,
            timer,
            phase: Phase::Boot,
            cur: None,
            idle: true,
            loaded_cr3: 0,
            drain_from: None,
            stats: CpuStats::default(),
        }
    }

    fn say(&self, args: core::fmt::Arguments<'_>) {
        let _ = (&super::CONSOLE).write_fmt(args);
    }

    fn begin(&mut self) {
        self.phase = Phase::Run;
        WATCHED.fetch_or(1 << self.cpu, Ordering::AcqRel);
        let now = time::now();
        self.adapter.advance_to(now);
        self.say(format_args!("[kernel] cpu {}: schedule starts at tick {now}\n", self.cpu));
        let first = self.adapter.schedule(router());
        self.switch(first);
    }

    /// Makes the window switch the engine's schedule asked for; between the two windows,
    /// outside both, some of the serial output queued meanwhile is written.
    fn switch(&mut self, switch: Option<Switch<PARTITIONS>>) {
        let Some(switch) = switch else { return };
        if let Some(from) = switch.from {
            self.adapter.exit(router(), from);
        }
        self.adapter.hardware().console().drain(SERIAL_BUDGET);
        match switch.to {
            Some(to) => self.enter(to.index(), switch.budget(self.adapter.ticks())),
            None => {
                self.cur = None;
                self.idle = true;
            }
        }
    }

    /// Enters partition `p` for `budget` ticks; for a warp partition, records in its
    /// ledger what the entry gave.
    fn enter(&mut self, p: usize, budget: u64) {
        self.cur = Some(p);
        self.idle = false;
        let warp = SYSTEM.partitions[p].catch_up == CatchUpPolicy::Warp;
        let before = if warp { router().partition_cpu(pid(p)).time().given() } else { 0 };
        self.adapter.enter(router(), pid(p), budget);
        if warp {
            let after = router().partition_cpu(pid(p)).time().given();
            if after > before {
                let ledger = &memory(p).ledger;
                ledger.markers.fetch_add(1, Ordering::AcqRel);
                ledger.delta.fetch_add(after - before, Ordering::AcqRel);
            }
        }
    }

    fn exit_current(&mut self) {
        if let Some(p) = self.cur.take() {
            self.adapter.exit(router(), pid(p));
        }
        self.idle = true;
    }

    fn eoi(&mut self) {
        self.adapter.hardware().apic().eoi();
    }

    fn tick(&mut self) {
        let tsc = rdtsc();
        self.stats.clock_irqs += 1;
        let (cpu, timer) = (self.cpu, self.timer);
        timer.ticked(cpu, self.adapter.hardware().apic(), tsc);
        self.watch_others(tsc);
        match self.phase {
            Phase::Run => {
                let now = time::clock().tick_at(tsc);
                if self.cpu == probes::PROBE_CPU
                    && probes::probe() == probes::Probe::StopTimer
                    && now >= probes::STOP_AT
                {
                    let timer = self.timer;
                    timer.stop(self.adapter.hardware().apic());
                    self.say(format_args!(
                        "[kernel] cpu {}: probe: timer stopped at tick {now}\n",
                        self.cpu
                    ));
                }
                if now < END_TICK {
                    super::devices::on_tick(self.cpu, now);
                    burst::on_tick(self.cpu, now);
                    self.adapter.advance_to(now);
                    let switch = self.adapter.clock(router(), CLOCK_VECTOR);
                    self.switch(switch);
                    return;
                }
                self.adapter.advance_to(END_TICK);
                self.stats.end_tick = now;
                burst::end(self.cpu);
                self.exit_current();
                if self.cpu == 0 {
                    // The IO-APIC lines are this CPU's: no interrupt of them after the end.
                    let _ = machine::IOAPICS.set_masked(DEVICE_VECTOR, true);
                    let _ = machine::IOAPICS.set_masked(EDU_INTX_VECTOR, true);
                }
                self.say(format_args!(
                    "[kernel] cpu {}: tick {now}: end of the run after {} clock interrupts\n",
                    self.cpu, self.stats.clock_irqs
                ));
                self.phase = Phase::AtEnd;
                AT_END.fetch_add(1, Ordering::AcqRel);
                self.eoi();
                self.drain_when_all_ended();
            }
            Phase::AtEnd => {
                self.eoi();
                self.drain_when_all_ended();
            }
            Phase::Drain(_) => {
                self.eoi();
                let now = time::clock().tick_at(rdtsc());
                let from = *self.drain_from.get_or_insert(now);
                if now.saturating_sub(from) > DRAIN_LIMIT {
                    self.say(format_args!(
                        "[kernel] FAIL: cpu {}: a partition never finished its final entry\n",
                        self.cpu
                    ));
                    super::exit(EXIT_FAILURE);
                }
            }
            Phase::Boot | Phase::Done => self.eoi(),
        }
    }

    /// Once every CPU reached the end, enters this CPU's first partition once more (the
    /// clock stopped at the end).
    fn drain_when_all_ended(&mut self) {
        if AT_END.load(Ordering::Acquire) < CPUS {
            return;
        }
        match partitions_of(self.cpu).next() {
            Some(p) => {
                self.phase = Phase::Drain(0);
                self.enter(p, DRAIN_BUDGET);
            }
            None => self.finish(),
        }
    }

    /// The other CPUs' clocks (those between their start and their end): one that stopped
    /// ticking is reported and the run ends, instead of waiting for that CPU for ever.
    fn watch_others(&mut self, tsc: u64) {
        if self.phase != Phase::Run && self.phase != Phase::AtEnd {
            return;
        }
        let watched = WATCHED.load(Ordering::Acquire);
        for other in (0..CPUS).filter(|&c| c != self.cpu && watched & (1 << c) != 0) {
            let health = time::health(other, tsc);
            if health != ClockHealth::Ticking
                && CLOCK_FAILED
                    .compare_exchange(usize::MAX, other, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
            {
                self.say(format_args!(
                    "[kernel] FAIL: clock of cpu {other} is not ticking ({health:?}, {} us), seen from cpu {}\n",
                    time::micros(match health {
                        ClockHealth::NeverTicked { waited } => waited,
                        ClockHealth::Stopped { silent } => silent,
                        ClockHealth::Ticking => 0,
                    }),
                    self.cpu
                ));
                super::exit(EXIT_FAILURE);
            }
        }
    }

    /// A kick from another CPU: the partition running here has something to take (or its
    /// wait ended).
    fn kick_ipi(&mut self) {
        self.eoi();
        self.stats.kick_ipis += 1;
        if !matches!(self.phase, Phase::Run | Phase::Drain(_)) {
            return;
        }
        let before = self.adapter.counters().upcalls;
        self.adapter.resume(router());
        if self.adapter.counters().upcalls > before {
            self.stats.kick_upcalls += 1;
            let latency = rdtsc().saturating_sub(RAISED_AT.load(Ordering::Acquire));
            self.stats.kick_latency_max = self.stats.kick_latency_max.max(latency);
        }
        self.idle = self.cur.is_none();
    }

    /// A device's interrupt (routed to this CPU): the engine's while the schedule runs.
    /// Before it starts (the CPU waits for its first tick) it is only acknowledged; after
    /// the end the line is also masked (a level line still asserted would come back at
    /// once).
    fn device(&mut self, vector: u8) {
        match self.phase {
            Phase::Run => {}
            Phase::Boot => {
                self.stats.device_before_start += 1;
                self.eoi();
                return;
            }
            Phase::AtEnd | Phase::Drain(_) | Phase::Done => {
                self.stats.device_after_end += 1;
                let _ = machine::IOAPICS.set_masked(vector, true);
                self.eoi();
                return;
            }
        }
        match vector {
            DEVICE_VECTOR => self.stats.device_irqs += 1,
            EDU_INTX_VECTOR => self.stats.edu_intx_irqs += 1,
            _ => self.stats.edu_msi_irqs += 1,
        }
        RAISED_AT.store(rdtsc(), Ordering::Release);
        self.adapter.interrupt(router(), vector);
    }

    /// One of the burst's lines (a self-IPI this CPU sent): the engine's while the
    /// schedule runs, only acknowledged otherwise.
    fn burst(&mut self, vector: u8) {
        let Some(p) = burst::partition().filter(|_| self.phase == Phase::Run) else {
            self.stats.burst_outside += 1;
            self.eoi();
            return;
        };
        self.stats.burst_irqs += 1;
        self.adapter.interrupt(router(), vector);
        burst::taken(p, vector);
    }

    /// The burst's round the partition running here asked for, fired on the way back to
    /// it (interrupts off until the return opens them).
    fn fire_burst(&mut self) {
        if self.phase != Phase::Run {
            return;
        }
        if let Some(p) = self.cur.filter(|&p| Some(p) == burst::partition()) {
            burst::fire(p, self.adapter.hardware().apic());
        }
    }

    /// Acts on what the engine told the adapter.
    fn settle(&mut self) {
        loop {
            let mut again = false;
            for p in partitions_of(self.cpu) {
                let n = self.adapter.take_notices(p);
                if n.restarted.is_some() || n.idled {
                    self.say(format_args!("[kernel] partition {p}: unexpected {n:?}\n"));
                }
                if Some(p) != self.cur {
                    continue;
                }
                if n.waiting {
                    self.idle = true;
                }
                if n.upcalled {
                    self.idle = false;
                }
            }
            if self.adapter.take_kick() && self.cur.is_some() {
                self.adapter.resume(router());
                self.idle = false;
                again = true;
            }
            if !again {
                break;
            }
        }
        if let Phase::Drain(k) = self.phase
            && self.idle
        {
            self.exit_current();
            match partitions_of(self.cpu).nth(k + 1) {
                Some(p) => {
                    self.phase = Phase::Drain(k + 1);
                    self.enter(p, DRAIN_BUDGET);
                    self.settle();
                }
                None => self.finish(),
            }
        }
    }

    /// This CPU is done: its timer stops; the last CPU to finish reports.
    fn finish(&mut self) {
        self.phase = Phase::Done;
        WATCHED.fetch_and(!(1 << self.cpu), Ordering::AcqRel);
        self.cur = None;
        self.idle = true;
        let timer = self.timer;
        timer.stop(self.adapter.hardware().apic());
        self.adapter.hardware().console().drain(usize::MAX);
        if FINISHED.fetch_add(1, Ordering::AcqRel) + 1 == CPUS {
            report::report(self);
        }
    }

    /// Loads what runs next on this CPU into the frame.
    fn load(&mut self, frame: &mut TrapFrame) {
        let Some(p) = self.cur.filter(|_| !self.idle) else {
            let regs = UserRegs {
                rip: idle_loop as *const () as u64,
                rsp: machine::STACKS[self.cpu].idle.top(),
                rflags: RFLAGS_ENTRY,
                ..UserRegs::default()
            };
            frame.load(&regs, KERNEL_CS, KERNEL_SS);
            return;
        };
        let cr3 = machine::cr3(p);
        if cr3 != self.loaded_cr3 {
            // SAFETY: the partition's tables map the kernel like every other set.
            unsafe { cpu::write_cr3(cr3) };
            self.loaded_cr3 = cr3;
        }
        self.adapter.load(p, frame);
        self.protection_probe(p, frame);
    }

    /// Every `NMI_EVERY`th hypercall (from the first): an NMI to this CPU itself, with
    /// the hypercall's entry in progress on the common interrupt stack. The NMI runs on
    /// its own stack: it is seen taken on this common stack (`idt::nmis_in_entry_on`),
    /// and the hypercall's frame is what it was.
    fn nmi_during_hypercall(&mut self, frame: &TrapFrame) {
        // The adapter's count, before it counts this one.
        if self.adapter.counters().hypercalls % NMI_EVERY != 0 {
            return;
        }
        let at = core::ptr::from_ref(frame) as u64;
        let (before, seen) = (*frame, idt::nmis_in_entry_on(at));
        let me = machine::APIC_IDS[self.cpu].load(Ordering::Acquire);
        let nmi = Ipi { delivery: Delivery::Nmi, destination: Destination::Apic(me) };
        if self.adapter.hardware().apic().send(&nmi).is_err() {
            self.stats.hypercall_nmi_send_errors += 1;
            return;
        }
        let mut spins = 0u32;
        while idt::nmis_in_entry_on(at) == seen && spins < NMI_WAIT_SPINS {
            core::hint::spin_loop();
            spins += 1;
        }
        if idt::nmis_in_entry_on(at) == seen {
            self.stats.hypercall_nmis_unseen += 1;
            return;
        }
        self.stats.hypercall_nmis += 1;
        if before.rcx == before.rip && before.r11 == before.rflags {
            // The frame of a `syscall` entry (the CPU put the return address in rcx and
            // the flags in r11; an `int 0x80` caller's rcx is not its return address).
            self.stats.syscall_nmis += 1;
        }
        // SAFETY: `frame` is a valid reference; read again from memory (the NMI ran on
        // another stack and must have left it alone).
        if unsafe { core::ptr::read_volatile(frame) } == before {
            self.stats.hypercall_nmis_frame_intact += 1;
        }
    }

    /// The protection probes (see `probes`): from tick `STOP_AT` on `PROBE_CPU`, as
    /// partition `p` is entered (its tables loaded).
    fn protection_probe(&mut self, p: usize, frame: &mut TrapFrame) {
        let probe = probes::probe();
        if self.cpu != probes::PROBE_CPU
            || !matches!(probe, probes::Probe::Smap | probes::Probe::Smep | probes::Probe::Nx)
            || time::clock().tick_at(rdtsc()) < probes::STOP_AT
            || NX_TARGET.load(Ordering::Relaxed) != 0
        {
            return;
        }
        let memory = machine::partition_memory(p).0;
        match probe {
            probes::Probe::Smap => {
                super::say!(
                    "[kernel] probe: smap: reading partition {p}'s memory at {memory:#x} through its own mapping"
                );
                // SAFETY: the probe: a read of the partition's memory, mapped at this
                // address (user) in the tables just loaded; SMAP is to refuse it.
                let word = unsafe { core::ptr::read_volatile(memory as *const u64) };
                super::fail(format_args!(
                    "probe: smap: the kernel read {word:#x} from a user page"
                ));
            }
            probes::Probe::Smep => {
                let code = machine::guest_code().0;
                super::say!(
                    "[kernel] probe: smep: calling the guest code at {code:#x} from ring 0"
                );
                // SAFETY: the probe: the guest code page (user, executable) is mapped in
                // the tables just loaded; SMEP is to refuse the fetch before any of it runs.
                let guest: extern "C" fn() = unsafe { core::mem::transmute(code as *const ()) };
                guest();
                super::fail(format_args!("probe: smep: the kernel ran user code"));
            }
            _ => {
                let target = memory + 0x1000;
                NX_TARGET.store(target, Ordering::Relaxed);
                super::say!(
                    "[kernel] probe: nx: entering partition {p} at {target:#x}, in its own writable memory"
                );
                frame.rip = target;
            }
        }
    }
}

/// One hypercall in this many gets an NMI in its middle (`nmi_during_hypercall`).
const NMI_EVERY: u64 = 64;
/// How long `nmi_during_hypercall` waits for its NMI (spins; a self-NMI comes at once).
const NMI_WAIT_SPINS: u32 = 1_000_000;

/// Where the `nx` probe entered a partition (0 before it did).
static NX_TARGET: AtomicU64 = AtomicU64::new(0);

/// An exception in ring 0: reported, then the run ends (with the failure code).
fn kernel_fault(cpu: usize, frame: &TrapFrame) -> ! {
    // SAFETY: ring 0.
    let cr2 = unsafe { cpu::read_cr2() };
    super::say!(
        "[kernel] FAIL: cpu {cpu}: kernel fault vector {} at rip={:#x} error={:#x} cr2={cr2:#x}",
        frame.vector,
        frame.rip,
        frame.error_code
    );
    super::exit(EXIT_FAILURE)
}

/// The kernel's idle loop (ring 0, interrupts enabled by the frame that enters it).
extern "C" fn idle_loop() -> ! {
    loop {
        // SAFETY: ring 0; an interrupt wakes it.
        unsafe { cpu::hlt() };
    }
}
