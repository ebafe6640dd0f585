//! The simulated machine: its CPUs (each with its local time, pending interrupts, the
//! kernel's queue of window switches and resumes), the controller and devices, the
//! guests, and the one seeded scheduler that decides every interleaving.
//!
//! # Steps and interleavings
//!
//! A *step* is one thing one CPU does: take its tick, take an interrupt, take an
//! inter-processor interrupt, leave or enter a window, or run one guest step (one access
//! to the shared page, or one hypercall). The scheduler picks, at every step, which CPU
//! runs next, or lets the clock advance. Inside an engine call, every request the engine
//! makes of the kernel (an EOI, a mask, a kick, an upcall, a log record...) is a
//! *preemption point*: the scheduler may run whole steps of other CPUs there before the
//! calling CPU goes on (nesting: the other CPU's step runs to completion inside the
//! point). So two CPUs race at the granularity of the engine's calls to its adapter and
//! of the guests' page accesses, deterministically: one thread, one seed.

use std::cell::RefCell;
use std::collections::VecDeque;

use irq_router::health::HmRecord;
use irq_router::vcpu::SharedPage;
use irq_router::{CpuId, Local, PartitionId, Router};

use crate::adapter::SimAdapter;
use crate::books::Books;
use crate::controller::Controller;
use crate::guest::GuestState;
use crate::isolation::{Delivery, Happened};
use crate::rng::{Stream, id};
use crate::scenario::{Level, Scenario};
use crate::system::{FRAME, LINE_VECTOR, P, SPURIOUS_VECTOR, STORM_VECTOR};
use crate::trace::{Trace, note};
use crate::{Options, Violation};

/// The engine as the simulator builds it.
/// The engine of `C` CPUs, `64 * CW` context slots a partition (1: a slot for every
/// port, the default; 0: none) and health-monitor rings of `H` records.
pub(crate) type Engine<const C: usize, const CW: usize, const H: usize> = Router<P, 1, C, CW, H>;

/// Kernel work queued on a CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Exit(usize),
    Enter(usize),
    Resume,
}

/// The engine call a CPU is in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Call {
    #[default]
    Tick,
    Irq(u8),
    Entry(usize),
    Exit(usize),
    Resume,
    /// A hypercall of a partition; `opens`: the call itself may open its vCPU (enable,
    /// flash, set-level, upcall return).
    Hypercall {
        p: usize,
        opens: bool,
        flash: bool,
    },
    Trap(usize),
}

/// What happened during one engine call (checked when it returns).
#[derive(Clone, Debug, Default)]
pub(crate) struct CallCtx {
    pub(crate) call: Call,
    /// Partitions restarted, idled, timed out on the level line (bit `p`).
    pub(crate) restarted: u32,
    pub(crate) idled: u32,
    pub(crate) timeouts: u32,
    /// The level line was unmasked (with the owers the model had then).
    pub(crate) level_unmasks: Vec<u32>,
    pub(crate) records: Vec<HmRecord>,
    /// Upcalls the adapter refused (an injected fault).
    pub(crate) refused: u32,
    /// The vectors this call sent an EOI for.
    pub(crate) eois: Vec<u8>,
    /// The latest request of this call unmasked the level line: the offered counts
    /// before its preemption point (events raised there may come after a cold start in
    /// the same call, whose release of the line made that unmask).
    pub(crate) offered_before_unmask: Option<Box<[[u64; crate::system::port::COUNT]; P]>>,
    /// In a tick, at its first request past the storm unmasks (right after the engine
    /// took the level line's overdue debts, if it did): the partitions whose debts it
    /// took, those whose level port held an event, and the deadline then.
    pub(crate) level_snapshot: Option<(u32, u32, u64)>,
}

/// One CPU.
#[derive(Clone, Debug, Default)]
pub(crate) struct Cpu {
    /// Its time: the tick it last took.
    pub(crate) now: u64,
    /// Its timer interrupt is pending.
    pub(crate) tick: bool,
    /// Interrupts the controller delivered to it, not yet taken.
    pub(crate) irqs: VecDeque<u8>,
    /// An inter-processor interrupt arrives at this scheduler step.
    pub(crate) ipi_at: Option<u64>,
    /// Kernel work to do before the guest runs again.
    pub(crate) ops: VecDeque<Op>,
    /// The partition inside its window here (the kernel's view).
    pub(crate) current: Option<usize>,
    /// End of the current stretch of its schedule.
    pub(crate) until: u64,
    /// The running partition waits (idle) until a resume.
    pub(crate) waiting: bool,
    /// In an engine call (nesting never re-enters it).
    pub(crate) busy: bool,
    /// Not scheduled before this tick (a stall).
    pub(crate) stalled_until: u64,
    /// It stalled and has not taken a tick since: when it runs again its timer interrupt
    /// comes first, so its time is the machine's again before it handles anything else
    /// (the engine's contract: one time base for all CPUs; see the README).
    pub(crate) stalled: bool,
    /// Guest steps left in this tick.
    pub(crate) quota: u32,
    /// The engine call in progress.
    pub(crate) call: Option<CallCtx>,
    /// Ticks it took.
    pub(crate) ticks: u64,
    /// Interrupts of the storming line the budget must lose in the call in progress.
    pub(crate) storm_lost: Option<u64>,
    /// The ports the interrupt in progress raises (on their way: `Books::inflight`).
    pub(crate) offers: Vec<(usize, u16)>,
}

impl Cpu {
    pub(crate) fn has_work_at(&self, step: u64, guest_runnable: bool) -> bool {
        !self.ops.is_empty()
            || self.tick
            || !self.irqs.is_empty()
            || self.ipi_at.is_some_and(|at| at <= step)
            || (guest_runnable && self.quota > 0 && !self.waiting && self.current.is_some())
    }
}

/// The machine's state (everything but the engine and the pages).
pub(crate) struct State {
    pub(crate) time: u64,
    pub(crate) step: u64,
    pub(crate) draining: bool,
    pub(crate) stopped: bool,
    pub(crate) depth: u32,
    pub(crate) cpus: Vec<Cpu>,
    pub(crate) guests: Vec<GuestState>,
    pub(crate) ctl: Controller,
    pub(crate) books: Books,
    pub(crate) sched: Stream,
    pub(crate) devices: Stream,
    pub(crate) storm_rng: Stream,
    pub(crate) faults: Stream,
    pub(crate) ipi: Stream,
    pub(crate) trace: Trace,
    pub(crate) violation: Option<Violation>,
    /// The kinds of the health-monitor records of each CPU's last engine call.
    pub(crate) last_records: Vec<Vec<irq_router::config::HmKind>>,
    /// Per partition, what it was delivered (the storm's isolation run only).
    pub(crate) deliveries: Option<Vec<Vec<Delivery>>>,
}

impl State {
    /// Records a broken invariant (the first one is kept).
    pub(crate) fn fail(&mut self, what: String) {
        if self.violation.is_none() {
            note!(self, [0xdead], "VIOLATION: {what}");
            self.violation = Some(Violation { step: self.step, time: self.time, what });
        }
    }

    /// Logs what happened to partition `p`'s events (in the storm's isolation run).
    pub(crate) fn log(&mut self, p: usize, what: Happened) {
        let (step, time) = (self.step, self.time);
        if let Some(log) = self.deliveries.as_mut().and_then(|d| d.get_mut(p)) {
            log.push(Delivery { step, time, what });
        }
    }
}

/// The machine around one engine.
pub(crate) struct Sim<'r, const C: usize, const CW: usize, const H: usize> {
    pub(crate) router: &'r Engine<C, CW, H>,
    pub(crate) pages: &'static [SharedPage; P],
    pub(crate) scenario: &'r Scenario,
    /// The storm is on in this run (off in the comparison run).
    pub(crate) storm: bool,
    /// The storm's isolation run (`Options::isolated`): the storming line's interrupts
    /// out of band, no preemption point at the engine's requests about it, no channel
    /// storm (the storming partition's storm port is configured masked).
    pub(crate) isolated: bool,
    pub(crate) st: RefCell<State>,
}

/// Partition `p`'s id (`p` is below `P`).
pub(crate) fn pid(p: usize) -> PartitionId<P> {
    PartitionId::new(p as u32).expect("a partition of the module")
}

impl<'r, const C: usize, const CW: usize, const H: usize> Sim<'r, C, CW, H> {
    pub(crate) fn new(
        router: &'r Engine<C, CW, H>,
        pages: &'static [SharedPage; P],
        scenario: &'r Scenario,
        storm: bool,
        options: Options,
    ) -> Self {
        let seed = scenario.seed;
        let guests = (0..P).map(|p| GuestState::new(seed, p)).collect();
        let mut ctl = Controller { stuck: scenario.level == Level::Stuck, ..Controller::default() };
        ctl.set_level(false);
        let st = State {
            time: 0,
            step: 0,
            draining: false,
            stopped: false,
            depth: 0,
            cpus: vec![Cpu { tick: true, ..Cpu::default() }; C],
            guests,
            ctl,
            books: Books::new(scenario),
            sched: Stream::new(seed, id::SCHEDULER),
            devices: Stream::new(seed, id::DEVICES),
            storm_rng: Stream::new(seed, id::STORM),
            faults: Stream::new(seed, id::FAULTS),
            ipi: Stream::new(seed, id::IPI),
            trace: Trace::new(options.trace),
            violation: None,
            last_records: vec![Vec::new(); C],
            deliveries: options.isolated.then(|| vec![Vec::new(); P]),
        };
        Self { router, pages, scenario, storm, isolated: options.isolated, st: RefCell::new(st) }
    }

    /// Runs an engine entry point on CPU `cpu` as call `call`, with this CPU's token and
    /// adapter; checks what happened when it returns.
    pub(crate) fn engine<R>(
        &self,
        cpu: usize,
        call: Call,
        f: impl FnOnce(&Engine<C, CW, H>, &Local<'_, C>, &mut SimAdapter<'_, 'r, C, CW, H>) -> R,
    ) -> R {
        {
            let mut st = self.st.borrow_mut();
            let c = &mut st.cpus[cpu];
            c.busy = true;
            c.call = Some(CallCtx { call, ..CallCtx::default() });
        }
        let id = CpuId::new(cpu as u32).unwrap_or(CpuId::BOOT);
        let local = Local::interrupts_disabled(id);
        let mut adapter = SimAdapter { sim: self, cpu };
        let result = f(self.router, &local, &mut adapter);
        let ctx = {
            let mut st = self.st.borrow_mut();
            let c = &mut st.cpus[cpu];
            c.busy = false;
            c.call.take().unwrap_or_default()
        };
        self.call_ended(cpu, ctx);
        result
    }

    /// Runs the scenario to its end (or to `limit` steps), then one major frame of drain
    /// (devices and faults off); stops at the first violation.
    pub(crate) fn run(&self, limit: u64) {
        let end = self.scenario.ticks();
        let mut drain_until = u64::MAX;
        loop {
            {
                let mut st = self.st.borrow_mut();
                if st.violation.is_some() {
                    break;
                }
                if !st.draining && (st.time >= end || st.step >= limit || st.stopped) {
                    st.draining = true;
                    drain_until = st.time + FRAME;
                    note!(st, [0xd1], "drain: devices and faults off until t={drain_until}");
                    for cpu in &mut st.cpus {
                        cpu.stalled_until = 0;
                    }
                }
                if st.draining && (st.time >= drain_until || st.stopped) {
                    break;
                }
                // Steps per tick are bounded (guest quotas, one interrupt per line in
                // service): this many means the machine stopped making progress.
                if st.step > 400 * (end + 2 * FRAME) * (C as u64 + 1) {
                    st.fail("the machine made no progress".to_string());
                    break;
                }
            }
            self.step();
        }
        self.finish();
    }

    /// One step of the machine.
    fn step(&self) {
        if self.isolated {
            self.storm_out_of_band();
        }
        self.dispatch();
        let pick = {
            let mut st = self.st.borrow_mut();
            st.step += 1;
            let (step, time) = (st.step, st.time);
            let mut candidates = [0usize; 8];
            let mut n = 0;
            for (c, cpu) in st.cpus.iter().enumerate() {
                let runnable = cpu.current.is_some_and(|p| st.guests[p].runnable());
                if cpu.stalled_until <= time && cpu.has_work_at(step, runnable) && n < 8 {
                    candidates[n] = c;
                    n += 1;
                }
            }
            if n == 0 || st.sched.permille(15) {
                None
            } else {
                Some(candidates[st.sched.below(n as u64) as usize])
            }
        };
        match pick {
            Some(c) => self.step_cpu(c),
            None => self.advance(),
        }
        self.check_step();
    }

    /// The controller hands its ready lines to CPUs.
    pub(crate) fn dispatch(&self) {
        let mut st = self.st.borrow_mut();
        let ready: Vec<u8> = st.ctl.ready().collect();
        // (The isolation run takes the storming line out of band.)
        for vector in ready.into_iter().filter(|&v| !self.isolated || v != STORM_VECTOR) {
            let cpu = st.sched.below(C as u64) as usize;
            st.ctl.accept(vector);
            st.cpus[cpu].irqs.push_back(vector);
            note!(st, [0x10, vector, cpu], "controller: line {vector:#x} to CPU {cpu}");
        }
    }

    /// The storm's isolation run: the storming line, if the controller has it ready, is
    /// taken now (no CPU is inside the engine) on a CPU the storm's stream picks among
    /// those not stalled (none: it waits), without a preemption point inside; the
    /// scheduler's stream is not drawn from and no step is added.
    fn storm_out_of_band(&self) {
        // One edge latches at a time: after its interrupt, nothing is ready until the
        // clock moves (the bound is only a guard).
        for _ in 0..4 {
            let cpu = {
                let mut st = self.st.borrow_mut();
                if st.violation.is_some() || !st.ctl.ready().any(|v| v == STORM_VECTOR) {
                    return;
                }
                let time = st.time;
                let mut eligible = [0usize; 8];
                let mut n = 0;
                for (c, cpu) in st.cpus.iter().enumerate() {
                    if cpu.stalled_until <= time && !cpu.stalled && n < 8 {
                        eligible[n] = c;
                        n += 1;
                    }
                }
                if n == 0 {
                    return;
                }
                let c = eligible[st.storm_rng.below(n as u64) as usize];
                st.ctl.accept(STORM_VECTOR);
                note!(
                    st,
                    [0x12, STORM_VECTOR, c],
                    "controller: line {STORM_VECTOR:#x} to CPU {c} (out of band: the isolation run)"
                );
                c
            };
            self.interrupt(cpu, STORM_VECTOR);
        }
    }

    /// The end of the storm's isolation run: what each partition's ports hold, and its
    /// statistics.
    pub(crate) fn log_end(&self) {
        let mut st = self.st.borrow_mut();
        if st.deliveries.is_none() {
            return;
        }
        for p in 0..P {
            let table = self.router.events().partition(pid(p));
            for q in 0..crate::system::port::COUNT as u16 {
                let Ok(port) = irq_router::Port::<1>::new(u32::from(q)) else { continue };
                let s = table.status(port);
                let (pending, in_service, masked) = (s.pending, s.in_service, s.masked);
                st.log(p, Happened::Left { port: q, pending, in_service, masked });
            }
            let stats = table.stats();
            st.log(
                p,
                Happened::Stats {
                    delivered: stats.delivered,
                    overflowed: stats.overflowed,
                    coalesced: stats.coalesced,
                    discarded: stats.discarded,
                },
            );
        }
    }

    /// The clock moves (by one tick, or a jump); every CPU's timer fires; devices act.
    fn advance(&self) {
        let mut st = self.st.borrow_mut();
        let draining = st.draining;
        let faults = if draining { Default::default() } else { self.scenario.faults };
        let jump = if st.faults.permille(faults.clock_jump) { 2 + st.faults.below(3) } else { 1 };
        let from = st.time;
        st.time += jump;
        let time = st.time;
        note!(st, [0x20, time], "clock: t={time}{}", if jump > 1 { " (jump)" } else { "" });
        for c in 0..C {
            st.cpus[c].tick = true;
            if st.faults.permille(faults.stall) {
                let until = time + 1 + st.faults.below(4);
                st.cpus[c].stalled_until = until;
                st.cpus[c].stalled = true;
                note!(st, [0x21, c, until], "fault: CPU {c} stalls until t={until}");
            }
        }
        if draining {
            st.ctl.set_level(false);
            return;
        }
        for t in from + 1..=time {
            if t % self.scenario.line_period == 0 {
                let burst = if st.devices.permille(self.scenario.line_burst) {
                    1 + st.devices.below(3)
                } else {
                    1
                };
                for _ in 0..burst {
                    if st.faults.permille(faults.lost_irq) {
                        note!(st, [0x22], "fault: an interrupt of line {LINE_VECTOR:#x} lost");
                    } else {
                        st.books.line_edges += 1;
                        st.ctl.edge(LINE_VECTOR);
                    }
                }
            }
            if self.scenario.level == Level::Pulse && st.devices.permille(150) {
                st.ctl.set_level(true);
            }
            if self.scenario.level == Level::Stuck {
                st.ctl.set_level(true);
            }
            if self.storm && self.scenario.storm && st.storm_rng.permille(400) {
                for _ in 0..1 + st.storm_rng.below(3) {
                    st.ctl.edge(STORM_VECTOR);
                }
            }
            if st.faults.permille(faults.spurious) {
                let cpu = st.faults.below(C as u64) as usize;
                st.cpus[cpu].irqs.push_back(SPURIOUS_VECTOR);
                note!(st, [0x23, cpu], "fault: spurious interrupt on CPU {cpu}");
            }
        }
    }

    /// One step of CPU `c`.
    pub(crate) fn step_cpu(&self, c: usize) {
        self.dispatch();
        enum Work {
            Op(Op),
            Tick,
            Irq(u8),
            Ipi,
            Guest(usize),
            Nothing,
        }
        let work = {
            let mut st = self.st.borrow_mut();
            let step = st.step;
            let cpu = &mut st.cpus[c];
            if let Some(op) = cpu.ops.pop_front() {
                Work::Op(op)
            } else if cpu.stalled && cpu.tick {
                cpu.tick = false;
                Work::Tick
            } else {
                let ipi = cpu.ipi_at.is_some_and(|at| at <= step);
                let (tick, irq) = (cpu.tick, !cpu.irqs.is_empty());
                let choices = [tick, irq, ipi];
                let n = choices.iter().filter(|&&x| x).count() as u64;
                if n > 0 {
                    let mut k = st.sched.below(n);
                    let mut chosen = 0;
                    for (i, &x) in choices.iter().enumerate() {
                        if x {
                            if k == 0 {
                                chosen = i;
                                break;
                            }
                            k -= 1;
                        }
                    }
                    let cpu = &mut st.cpus[c];
                    match chosen {
                        0 => {
                            cpu.tick = false;
                            Work::Tick
                        }
                        1 => Work::Irq(cpu.irqs.pop_front().unwrap_or(SPURIOUS_VECTOR)),
                        _ => {
                            cpu.ipi_at = None;
                            Work::Ipi
                        }
                    }
                } else {
                    match cpu.current {
                        Some(p) if cpu.quota > 0 && !cpu.waiting => {
                            cpu.quota -= 1;
                            Work::Guest(p)
                        }
                        _ => Work::Nothing,
                    }
                }
            }
        };
        match work {
            Work::Op(Op::Exit(p)) => self.exit(c, p),
            Work::Op(Op::Enter(p)) => self.enter(c, p),
            Work::Op(Op::Resume) | Work::Ipi => self.resume(c),
            Work::Tick => self.tick(c),
            Work::Irq(vector) => self.interrupt(c, vector),
            Work::Guest(p) => self.guest_step(c, p),
            Work::Nothing => {}
        }
    }

    fn tick(&self, c: usize) {
        let (now, due) = {
            let mut st = self.st.borrow_mut();
            let time = st.time;
            st.cpus[c].now = time;
            st.cpus[c].ticks += 1;
            st.cpus[c].stalled = false;
            if let Some(p) = st.cpus[c].current {
                let quota = st.guests[p].quota(self.scenario.guests[p].speed);
                st.cpus[c].quota = quota;
            }
            note!(st, [0x30, c, time], "CPU {c}: tick t={time}");
            // The level line's firing whose deadline this tick must expire, if any (by
            // its unmask count): one that fires during the tick, on a CPU whose time is
            // behind, may be due already, but after this tick's check.
            let level = st.books.level;
            (time, (level.masked && time >= level.deadline).then_some(level.unmasks))
        };
        let switch = self.engine(c, Call::Tick, |r, l, a| r.on_tick(l, now, a));
        let mut st = self.st.borrow_mut();
        if let Some(switch) = switch {
            let to = switch.to.map(|p| p.index());
            st.cpus[c].until = switch.until;
            note!(
                st,
                [0x31, c, to.map_or(99, |p| p), switch.until],
                "CPU {c}: switch from {:?} to {to:?} until t={}",
                switch.from.map(|p| p.index()),
                switch.until
            );
            // The schedule's stretch must be the configuration's.
            if let Some(p) = to
                && crate::system::window_end(self.scenario.cpus, p, now) != Some(switch.until)
            {
                st.fail(format!(
                    "CPU {c} switched to partition {p} until t={} at t={now}, not its window",
                    switch.until
                ));
            }
            // The switch comes before a resume the tick asked for (the kernel acts on the
            // window switch first; the resume then concerns the partition entered).
            if let Some(p) = to {
                st.cpus[c].ops.push_front(Op::Enter(p));
            }
            if let Some(p) = st.cpus[c].current {
                st.cpus[c].ops.push_front(Op::Exit(p));
            }
        }
        self.books_tick(&mut st, c, now, due);
    }

    fn exit(&self, c: usize, p: usize) {
        let now = {
            let mut st = self.st.borrow_mut();
            st.cpus[c].current = None;
            st.cpus[c].waiting = false;
            st.guests[p].inside = false;
            let now = st.cpus[c].now;
            note!(st, [0x40, c, p], "CPU {c}: partition {p} leaves its window");
            now
        };
        self.engine(c, Call::Exit(p), |r, l, a| r.on_partition_exit(l, pid(p), now, a));
    }

    fn enter(&self, c: usize, p: usize) {
        let (now, budget) = {
            let mut st = self.st.borrow_mut();
            let cpu = &mut st.cpus[c];
            if let Some(q) = cpu.current.filter(|&q| q != p) {
                // Re-entry after a restart finds another partition there: leave it first.
                cpu.ops.push_front(Op::Enter(p));
                cpu.ops.push_front(Op::Exit(q));
                return;
            }
            cpu.current = Some(p);
            cpu.waiting = false;
            let now = cpu.now;
            let budget = cpu.until.saturating_sub(now).max(1);
            let quota = st.guests[p].quota(self.scenario.guests[p].speed);
            st.cpus[c].quota = quota;
            st.guests[p].inside = true;
            st.guests[p].refused = false;
            note!(st, [0x41, c, p, budget], "CPU {c}: partition {p} enters for {budget} ticks");
            (now, budget)
        };
        self.engine(c, Call::Entry(p), |r, l, a| {
            r.on_partition_entry(l, pid(p), now, budget, a);
        });
    }

    fn resume(&self, c: usize) {
        {
            let mut st = self.st.borrow_mut();
            st.cpus[c].waiting = false;
            note!(st, [0x50, c], "CPU {c}: resume");
        }
        self.engine(c, Call::Resume, |r, l, a| r.on_resume(l, a));
    }

    fn interrupt(&self, c: usize, vector: u8) {
        {
            let mut st = self.st.borrow_mut();
            note!(st, [0x60, c, vector], "CPU {c}: interrupt {vector:#x}");
            if !st.stopped {
                self.books_interrupt(&mut st, c, vector);
            }
        }
        // (Whether the call acknowledged the line is checked when it returns: the line
        // may be in service again by then, handed to a CPU after this call's EOI.)
        let _ = self.engine(c, Call::Irq(vector), |r, l, a| r.on_hardware_irq(l, vector, a));
    }

    /// The end of the run: the final checks.
    fn finish(&self) {
        self.check_end();
    }
}
