//! The dispatcher and the cyclic scheduler.
//!
//! Every entry (interrupt, exception, hypercall) lands in [`dispatch`] with the
//! [`TrapFrame`] on the interrupt stack. The partition's registers are saved into the
//! adapter, the event goes to the engine through the adapter, the scheduler acts on what
//! happened (window boundaries, restarts, waits), and the frame is loaded with whatever
//! runs next: the current partition in ring 3, or the idle loop in ring 0.
//!
//! Schedule: the configuration's (a 40-tick major frame, partition 0 in `[0, 20)`,
//! partition 1 in `[20, 40)`), run by the engine: each clock tick returns the window
//! switch to make, and the kernel leaves and enters the partitions it names. At
//! [`END_TICK`] the clock stops (ticks are no longer counted) and each partition is
//! entered once more to handle what it was given; when both wait with nothing
//! deliverable, the kernel compares each guest's time with its own account and exits.

use core::fmt::Write;

use irq_router::events::{PartitionId, Port};
use irq_router::vcpu::CatchUpPolicy;
use irq_x86::gdt::{KERNEL_CS, KERNEL_SS};
use irq_x86::idt::HYPERCALL_VECTOR;
use irq_x86::regs::{RFLAGS_ENTRY, UserRegs};
use irq_x86::{BareMetal, TrapFrame, X86Adapter, cpu};

use super::config::{
    CLOCK_VECTOR, END_TICK, MAJOR_FRAME, PARTITIONS, SYSTEM, TIMER_PORT, WINDOW, router,
};
use super::guest::{FAULT_AT, NOTIFICATIONS, P0_MEMORY, P1_MEMORY, SECTIONS};
use super::machine;
use super::{EXIT_FAILURE, EXIT_SUCCESS};

/// The software interrupt `kmain` uses to enter the dispatcher the first time.
pub(crate) const START_VECTOR: u8 = 0x81;
/// Window budget of the final entries (the clock is stopped then).
const DRAIN_BUDGET: u64 = 1;
/// Clock interrupts the final entries may take before the run is declared stuck.
const DRAIN_LIMIT: u64 = 2000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Boot,
    Run,
    Drain(usize),
}

/// The kernel's state.
pub(crate) struct Kernel {
    adapter: X86Adapter<PARTITIONS, BareMetal>,
    phase: Phase,
    /// The partition of the current window.
    cur: usize,
    /// The current partition waits (the idle loop runs).
    idle: bool,
    stopped: [bool; PARTITIONS],
    drain_ticks: u64,
    loaded_cr3: u64,
    restarts: u64,
    /// The schedule's first stretch, if a clock interrupt before the start returned it.
    first: Option<irq_router::Switch<PARTITIONS>>,
}

/// The kernel, locked by the dispatcher (one CPU, interrupts disabled in the kernel:
/// never contended).
pub(crate) static KERNEL: spin::Mutex<Option<Kernel>> = spin::Mutex::new(None);

/// Serial bytes written at each window switch (the rest waits for the next one).
const SERIAL_BUDGET: usize = 2048;

fn pid(p: usize) -> PartitionId<PARTITIONS> {
    match PartitionId::new(p as u32) {
        Ok(id) => id,
        Err(_) => panic!("partition {p} out of range"),
    }
}

/// The one dispatcher.
pub(crate) fn dispatch(frame: &mut TrapFrame) {
    let mut guard = KERNEL.lock();
    let Some(k) = guard.as_mut() else { panic!("entry before the kernel is ready") };
    let vector = frame.vector as u8;
    let user = frame.from_user();
    if user {
        k.adapter.save(k.cur, frame);
    }
    match vector {
        0..=31 if user => {
            // SAFETY: ring 0.
            let cr2 = unsafe { cpu::read_cr2() };
            let _ = writeln!(
                k.adapter.hardware(),
                "[kernel] trap in partition {}: vector {} at rip={:#x} (error code {:#x})",
                k.cur,
                vector,
                frame.rip,
                frame.error_code
            );
            k.adapter.trap(router(), pid(k.cur), vector, frame.error_code, cr2);
        }
        0..=31 => k.kernel_fault(frame),
        CLOCK_VECTOR => k.tick(),
        0x21..=0x2f => k.adapter.interrupt(router(), vector),
        HYPERCALL_VECTOR if user => {
            let _ = k.adapter.hypercall(router(), pid(k.cur));
        }
        START_VECTOR if !user && k.phase == Phase::Boot => k.begin(),
        _ => {}
    }
    k.settle();
    k.load(frame);
}

impl Kernel {
    pub(crate) fn new(adapter: X86Adapter<PARTITIONS, BareMetal>) -> Self {
        Self {
            adapter,
            phase: Phase::Boot,
            cur: 0,
            idle: false,
            stopped: [false; PARTITIONS],
            drain_ticks: 0,
            loaded_cr3: 0,
            restarts: 0,
            first: None,
        }
    }

    fn say(&mut self, args: core::fmt::Arguments<'_>) {
        let _ = self.adapter.hardware().write_fmt(args);
    }

    fn begin(&mut self) {
        self.say(format_args!(
            "[kernel] schedule: major frame {MAJOR_FRAME} ticks, windows of {WINDOW}, PIT at {} Hz, run until tick {END_TICK}\n",
            super::config::TICK_HZ
        ));
        self.phase = Phase::Run;
        let first = self.adapter.schedule(router()).or(self.first.take());
        self.switch(first);
    }

    /// Makes the window switch the engine's schedule asked for. Between the two
    /// windows, outside both, the serial output queued meanwhile is written (at most
    /// [`SERIAL_BUDGET`] bytes).
    fn switch(&mut self, switch: Option<irq_router::Switch<PARTITIONS>>) {
        let Some(switch) = switch else { return };
        if let Some(from) = switch.from {
            self.exit(from.index());
        }
        self.adapter.hardware().drain(SERIAL_BUDGET);
        match switch.to {
            Some(to) => {
                self.cur = to.index();
                self.enter(self.cur, switch.budget(self.adapter.ticks()));
            }
            // A gap in the schedule: the CPU idles until the next window.
            None => self.idle = true,
        }
    }

    /// Enters partition `p` at the current tick; for a warp partition, records in its
    /// ledger what the entry gave.
    fn enter(&mut self, p: usize, budget: u64) {
        self.idle = false;
        if self.stopped[p] {
            self.idle = true;
            return;
        }
        let before = router().partition_cpu(pid(p)).time().given();
        self.adapter.enter(router(), pid(p), budget);
        let after = router().partition_cpu(pid(p)).time().given();
        if SYSTEM.partitions[p].catch_up == CatchUpPolicy::Warp && after > before && p == 1 {
            P1_MEMORY.ledger.markers.fetch_add(1, core::sync::atomic::Ordering::AcqRel);
            P1_MEMORY.ledger.delta.fetch_add(after - before, core::sync::atomic::Ordering::AcqRel);
        }
    }

    fn exit(&mut self, p: usize) {
        if !self.stopped[p] {
            self.adapter.exit(router(), pid(p));
        }
    }

    fn tick(&mut self) {
        match self.phase {
            Phase::Run => {
                let now = self.adapter.tick();
                if now >= END_TICK {
                    self.exit(self.cur);
                    self.say(format_args!(
                        "[kernel] tick {now}: end of the run; the clock stops, each partition handles what it was given\n"
                    ));
                    self.phase = Phase::Drain(0);
                    self.cur = 0;
                    self.enter(0, DRAIN_BUDGET);
                    let _ = self.adapter.clock(router(), CLOCK_VECTOR);
                    return;
                }
                let switch = self.adapter.clock(router(), CLOCK_VECTOR);
                self.switch(switch);
            }
            Phase::Drain(_) => {
                self.drain_ticks += 1;
                if self.drain_ticks > DRAIN_LIMIT {
                    self.say(format_args!(
                        "[kernel] FAIL: a partition never finished its final entry\n"
                    ));
                    self.adapter.hardware().exit(EXIT_FAILURE);
                }
                let _ = self.adapter.clock(router(), CLOCK_VECTOR);
            }
            Phase::Boot => {
                let switch = self.adapter.clock(router(), CLOCK_VECTOR);
                self.first = switch.or(self.first);
            }
        }
    }

    /// Acts on what the engine told the adapter.
    fn settle(&mut self) {
        loop {
            let mut again = false;
            for p in 0..PARTITIONS {
                let n = self.adapter.take_notices(p);
                if let Some(mode) = n.restarted {
                    self.restarted(p, mode);
                    again = true;
                }
                if n.idled {
                    self.stopped[p] = true;
                    if p == self.cur {
                        self.idle = true;
                    }
                }
                if p != self.cur || self.stopped[p] || self.phase == Phase::Boot {
                    continue;
                }
                if n.waiting {
                    self.idle = true;
                }
                if n.upcalled {
                    self.idle = false;
                }
            }
            // A kick: the running partition has something to take, or its wait ended.
            if self.adapter.take_kick() && self.phase != Phase::Boot && !self.stopped[self.cur] {
                self.adapter.resume(router());
                self.idle = false;
                again = true;
            }
            if !again {
                break;
            }
        }
        if let Phase::Drain(p) = self.phase
            && self.idle
            && p == self.cur
        {
            self.exit(p);
            if p + 1 < PARTITIONS {
                self.phase = Phase::Drain(p + 1);
                self.cur = p + 1;
                self.enter(p + 1, DRAIN_BUDGET);
                self.settle();
            } else {
                self.report();
            }
        }
    }

    /// Partition `p` was restarted by its health monitor: the timer ticks the old run was
    /// given and did not handle belong to that run (its clock starts again at 0); then it
    /// enters again for the rest of its window.
    fn restarted(&mut self, p: usize, mode: irq_router::adapter::StartMode) {
        self.restarts += 1;
        let stale = match Port::new(u32::from(TIMER_PORT)) {
            Ok(port) => router().events().partition(pid(p)).take(port).unwrap_or(0),
            Err(_) => 0,
        };
        if p == 1 {
            P1_MEMORY.ledger.markers.store(0, core::sync::atomic::Ordering::Release);
            P1_MEMORY.ledger.delta.store(0, core::sync::atomic::Ordering::Release);
        }
        let now = self.adapter.ticks();
        self.say(format_args!(
            "[kernel] tick {now}: partition {p} restarted ({mode:?}); {stale} timer ticks of its previous run discarded\n"
        ));
        if p != self.cur {
            return;
        }
        let budget = match self.phase {
            Phase::Run => WINDOW - now % WINDOW,
            _ => DRAIN_BUDGET,
        };
        self.enter(p, budget);
    }

    /// Loads what runs next into the frame.
    fn load(&mut self, frame: &mut TrapFrame) {
        if self.idle || self.phase == Phase::Boot || self.stopped[self.cur] {
            let regs = UserRegs {
                rip: idle_loop as *const () as u64,
                rsp: machine::IDLE_STACK.top(),
                rflags: RFLAGS_ENTRY,
                ..UserRegs::default()
            };
            frame.load(&regs, KERNEL_CS, KERNEL_SS);
            return;
        }
        let cr3 = machine::cr3(self.cur);
        if cr3 != self.loaded_cr3 {
            // SAFETY: the partition's tables map the kernel like every other set.
            unsafe { cpu::write_cr3(cr3) };
            self.loaded_cr3 = cr3;
        }
        self.adapter.load(self.cur, frame);
    }

    fn kernel_fault(&mut self, frame: &TrapFrame) -> ! {
        // SAFETY: ring 0.
        let cr2 = unsafe { cpu::read_cr2() };
        self.say(format_args!(
            "[kernel] FAIL: kernel fault vector {} at rip={:#x} error={:#x} cr2={cr2:#x}\n",
            frame.vector, frame.rip, frame.error_code
        ));
        self.adapter.hardware().exit(EXIT_FAILURE)
    }

    /// The final report, and the exit.
    fn report(&mut self) -> ! {
        use core::sync::atomic::Ordering::Relaxed;
        let (p0, p1) = (&P0_MEMORY.state, &P1_MEMORY.state);
        let now = self.adapter.ticks();
        let mut ok = true;
        let guest_time = [p0.time.load(Relaxed), p1.time.load(Relaxed)];
        for (p, &guest) in guest_time.iter().enumerate() {
            let cpu = router().partition_cpu(pid(p));
            let t = cpu.time();
            let kernel = now - t.epoch();
            let good = guest == kernel && t.given() == kernel && t.dropped() == 0;
            ok &= good;
            self.say(format_args!(
                "RESULT time partition={p} policy={:?} guest_time={guest} kernel_ticks={kernel} given={} dropped={} epoch={} entries={} drift={}\n",
                t.policy(),
                t.given(),
                t.dropped(),
                t.epoch(),
                t.entries(),
                kernel as i64 - guest as i64
            ));
        }
        let (vector, address, saved) = (
            p1.trap_vector.load(Relaxed),
            p1.trap_address.load(Relaxed),
            p1.trap_saved_rip.load(Relaxed),
        );
        let expected = p1.expected_rip.load(Relaxed);
        let trap_ok =
            p1.faults.load(Relaxed) == 1 && vector == 6 && address == expected && saved == expected;
        ok &= trap_ok;
        self.say(format_args!(
            "RESULT trap partition=1 faults={} vector={vector} address={address:#x} saved_rip={saved:#x} expected_rip={expected:#x} fault_at_guest_time={FAULT_AT}\n",
            p1.faults.load(Relaxed)
        ));
        let probe = (
            p1.probe_vector.load(Relaxed),
            p1.probe_address.load(Relaxed),
            p1.probe_error.load(Relaxed),
            p1.probe_saved_rip.load(Relaxed),
            p1.probe_rip.load(Relaxed),
            p1.probe_resumed.load(Relaxed),
        );
        let isolation_ok = probe.0 == 14 && probe.3 == probe.4 && probe.5 == 1 && probe.2 & 5 == 5;
        ok &= isolation_ok;
        self.say(format_args!(
            "RESULT isolation partition=1 vector={} address={:#x} error_code={:#x} saved_rip={:#x} expected_rip={:#x} resumed={}\n",
            probe.0, probe.1, probe.2, probe.3, probe.4, probe.5
        ));
        let reason = p1.start_reason.load(Relaxed);
        let restarts = self.restarts;
        let restart_ok = p1.starts.load(Relaxed) == 2 && reason == (3 << 32) | 2 && restarts == 1;
        ok &= restart_ok;
        self.say(format_args!(
            "RESULT restart partition=1 starts={} start_reason={:#x} kernel_restarts={}\n",
            p1.starts.load(Relaxed),
            reason,
            restarts
        ));
        let (sent, received) = (p0.sent.load(Relaxed), p1.received.load(Relaxed));
        let channel_ok = sent == NOTIFICATIONS && received == sent;
        ok &= channel_ok;
        self.say(format_args!("RESULT channel sent={sent} received={received}\n"));
        let (sections, deferred, violations) =
            (p0.sections.load(Relaxed), p0.deferred.load(Relaxed), p0.violations.load(Relaxed));
        let cli_ok = sections == SECTIONS && deferred > 0 && violations == 0;
        ok &= cli_ok;
        self.say(format_args!(
            "RESULT cli partition=0 sections={sections} deferred_until_sti={deferred} upcalls_inside={violations}\n"
        ));
        let fpu = [
            (p0.fpu_checks.load(Relaxed), p0.fpu_bad.load(Relaxed)),
            (p1.fpu_checks.load(Relaxed), p1.fpu_bad.load(Relaxed)),
        ];
        for (p, (checks, bad)) in fpu.into_iter().enumerate() {
            // Many checks, each after switches to the other partition and back.
            ok &= checks >= 10 && bad == 0;
            self.say(format_args!("RESULT fpu partition={p} checks={checks} mismatches={bad}\n"));
        }
        // FS and GS: partition 0 never loads them (null at every check), partition 1
        // finds them null at each of its two starts and its user data selector at every
        // check.
        let (checks, bad) = (p0.segment_checks.load(Relaxed), p0.segment_bad.load(Relaxed));
        ok &= checks >= 10 && bad == 0;
        self.say(format_args!("RESULT segments partition=0 checks={checks} mismatches={bad}\n"));
        let (checks, bad) = (p1.segment_checks.load(Relaxed), p1.segment_bad.load(Relaxed));
        let (starts, null) = (p1.starts.load(Relaxed), p1.segment_starts_null.load(Relaxed));
        ok &= checks >= 10 && bad == 0 && null == starts;
        self.say(format_args!(
            "RESULT segments partition=1 starts={starts} starts_null={null} checks={checks} mismatches={bad}\n"
        ));
        // NMIs (the host test injects them through QEMU's monitor): counted and survived.
        let dropped = self.adapter.hardware().dropped();
        ok &= dropped == 0;
        self.say(format_args!("RESULT console dropped={dropped}\n"));
        let n = irq_x86::idt::nmi_count();
        self.say(format_args!(
            "RESULT nmi taken={} in_kernel={} in_entry={}\n",
            n.taken, n.in_kernel, n.in_entry
        ));
        let c = self.adapter.counters();
        let bad_stack_ok = p0.bad_stack.load(Relaxed) == 1 && c.upcall_faults > 0;
        ok &= bad_stack_ok;
        self.say(format_args!(
            "RESULT adapter upcalls={} upcall_returns={} upcall_faults={} hypercalls={} traps={} spurious={} p0_upcalls={} p1_upcalls={}\n",
            c.upcalls,
            c.returns,
            c.upcall_faults,
            c.hypercalls,
            c.traps,
            c.spurious,
            p0.upcalls.load(Relaxed),
            p1.upcalls.load(Relaxed)
        ));
        if ok {
            self.say(format_args!("END OK\n"));
            self.adapter.hardware().exit(EXIT_SUCCESS)
        } else {
            self.say(format_args!("END FAIL\n"));
            self.adapter.hardware().exit(EXIT_FAILURE)
        }
    }
}

/// The kernel's idle loop (ring 0, interrupts enabled by the frame that enters it).
extern "C" fn idle_loop() -> ! {
    loop {
        // SAFETY: ring 0; an interrupt wakes it.
        unsafe { cpu::hlt() };
    }
}
