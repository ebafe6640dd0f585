//! The invariants: those of one engine call (checked when it returns), those of the
//! whole machine (after every step, when no CPU is inside the engine), and those of the
//! end of a run.

use irq_router::config::HmKind;
use irq_router::events::Mode;
use irq_router::vcpu::CatchUpPolicy;
use irq_router::{CpuId, Port};

use crate::books::Charge;
use crate::guest::Phase;
use crate::isolation::Happened;
use crate::machine::{Call, CallCtx, Op, Sim, State, pid};
use crate::system::{
    FRAME, LEVEL_VECTOR, LINE_VECTOR, P, STORM_BUDGET, STORM_VECTOR, STORMING, port,
};
use crate::trace::note;

/// The ports whose events the simulator counts itself (the timer's are checked against
/// the time account; the ping's are the engine's own).
pub(crate) const COUNTED: [u16; 5] = [port::LINE, port::LEVEL, port::STORM, port::IN, port::ERROR];

impl<const C: usize, const CW: usize, const H: usize> Sim<'_, C, CW, H> {
    /// The scheduler may run whole steps of other CPUs here, inside CPU `cpu`'s engine
    /// call (a preemption point).
    pub(crate) fn preempt(&self, cpu: usize) {
        if self.isolated {
            // The storm's isolation run: a storming line's interrupt (out of band) has no
            // preemption point.
            let st = self.st.borrow();
            if st.cpus[cpu].call.as_ref().is_some_and(|c| c.call == Call::Irq(STORM_VECTOR)) {
                return;
            }
        }
        for _ in 0..3 {
            let pick = {
                let mut st = self.st.borrow_mut();
                if st.depth >= 3 || !st.sched.permille(self.scenario.preempt) {
                    None
                } else {
                    let (step, time) = (st.step, st.time);
                    let mut candidates = [0usize; 8];
                    let mut n = 0;
                    for (c, other) in st.cpus.iter().enumerate() {
                        let runnable = other.current.is_some_and(|p| st.guests[p].runnable());
                        if c != cpu
                            && !other.busy
                            && other.stalled_until <= time
                            && other.has_work_at(step, runnable)
                            && n < 8
                        {
                            candidates[n] = c;
                            n += 1;
                        }
                    }
                    (n > 0).then(|| candidates[st.sched.below(n as u64) as usize])
                }
            };
            let Some(other) = pick else { return };
            {
                let mut st = self.st.borrow_mut();
                st.depth += 1;
                note!(st, [0x70, cpu, other], "  (CPU {cpu} preempted: CPU {other} runs a step)");
            }
            self.step_cpu(other);
            self.st.borrow_mut().depth -= 1;
        }
    }

    /// Before the engine takes interrupt `vector`: what it must raise, by the
    /// simulator's account.
    pub(crate) fn books_interrupt(&self, st: &mut State, c: usize, vector: u8) {
        match vector {
            LINE_VECTOR => {
                for p in 0..P {
                    Self::on_its_way(st, c, p, port::LINE);
                }
            }
            LEVEL_VECTOR => {
                // (Its debts are recorded at its EOI: see the adapter.)
                st.books.level.firings += 1;
                for p in 0..P {
                    Self::on_its_way(st, c, p, port::LEVEL);
                }
            }
            STORM_VECTOR => {
                let frame = st.cpus[c].now / FRAME;
                let lost = match st.books.storm.charge(frame, STORM_BUDGET) {
                    Charge::Within => 0,
                    Charge::Exceeded | Charge::Over => 1,
                };
                st.books.storm_lost += lost;
                st.cpus[c].storm_lost = Some(lost);
                if lost == 0 {
                    Self::on_its_way(st, c, STORMING, port::STORM);
                }
            }
            _ => {}
        }
    }

    /// An event for port `q` of partition `p`, raised by the interrupt CPU `c` is taking.
    fn on_its_way(st: &mut State, c: usize, p: usize, q: u16) {
        st.books.inflight[p][usize::from(q)] += 1;
        st.cpus[c].offers.push((p, q));
    }

    /// After a tick of CPU `c` at `now`; `due`: the level line was masked when the tick
    /// began, past its deadline, and had been unmasked this many times.
    pub(crate) fn books_tick(&self, st: &mut State, c: usize, now: u64, due: Option<u64>) {
        let _ = c;
        st.books.frame = st.books.frame.max(now / FRAME);
        // (Unless another CPU is inside the engine: its tick may hold the expiry.)
        let alone = st.cpus.iter().all(|cpu| !cpu.busy);
        let level = st.books.level;
        if alone && level.masked && due == Some(level.unmasks) {
            st.fail(format!(
                "the level line is still masked after a tick at t={now}, past its deadline t={}",
                st.books.level.deadline
            ));
        }
    }

    /// After an engine call of CPU `cpu`: what it did must be what the model allows.
    pub(crate) fn call_ended(&self, cpu: usize, ctx: CallCtx) {
        let mut st = self.st.borrow_mut();
        st.last_records[cpu] = ctx.records.iter().map(|r| r.kind).collect();
        let released = ctx.restarted | ctx.idled | ctx.timeouts;
        for owing in &ctx.level_unmasks {
            let left = owing & !released;
            if left != 0 {
                st.fail(format!(
                    "the level line was unmasked while partitions {left:#b} still owed an acknowledgement"
                ));
            }
        }
        if let Call::Irq(vector) = ctx.call {
            // Its events are raised now.
            for (p, q) in core::mem::take(&mut st.cpus[cpu].offers) {
                st.books.inflight[p][usize::from(q)] -= 1;
                st.books.offered[p][usize::from(q)] += 1;
                st.log(p, Happened::Raised { port: q });
            }
            let eois = ctx.eois.iter().filter(|&&v| v == vector).count();
            if st.ctl.get(vector).is_some() && eois != 1 {
                st.fail(format!(
                    "an interrupt of line {vector:#x} was acknowledged {eois} times at the controller"
                ));
            }
            let storms = ctx
                .records
                .iter()
                .filter(|r| r.kind == HmKind::Storm && r.partition.is_none())
                .count() as u64;
            if let Some(lost) = st.cpus[cpu].storm_lost.take() {
                if storms != lost {
                    st.fail(format!(
                        "an interrupt of the storming line made {storms} storm records; its budget says {lost}"
                    ));
                }
            } else if storms != 0 {
                st.fail(format!("an interrupt of line {vector:#x} made {storms} storm records"));
            }
        }
        let refused = ctx.records.iter().filter(|r| r.kind == HmKind::UpcallFault).count() as u32;
        if refused < ctx.refused {
            st.fail(format!(
                "{} upcalls could not be built but {refused} upcall-fault records were made",
                ctx.refused
            ));
        }
    }

    /// After every step (no CPU inside the engine): the machine's invariants.
    pub(crate) fn check_step(&self) {
        let mut st = self.st.borrow_mut();
        if st.violation.is_some() || st.stopped {
            return;
        }
        self.check_ports(&mut st);
        // The level line: masked only while someone owes.
        let level = st.books.level;
        if level.masked && level.owing == 0 && level.taken == 0 {
            st.fail("the level line is masked but nobody owes an acknowledgement".to_string());
        }
        // The storm mask ends with its frame.
        if let Some(frame) = st.books.storm_mask
            && st.books.frame > frame
        {
            let engine = st.books.frame;
            st.fail(format!(
                "the storming line is still masked for the storm of frame {frame} after a tick of frame {engine}"
            ));
        }
        self.check_wakeups(&mut st);
    }

    /// Per-port conservation, and the statistics against the simulator's counts.
    fn check_ports(&self, st: &mut State) {
        for p in 0..P {
            let table = self.router.events().partition(pid(p));
            let stats = table.stats();
            // Per port (no call in progress: nothing on its way). The events a cold start
            // discarded are known but for those on their way then (`Books::ambiguous`):
            // the accounts may miss that many, never more, and those they miss were
            // discarded.
            for q in COUNTED {
                if q == port::STORM && p != STORMING {
                    continue;
                }
                let i = usize::from(q);
                let (unconsumed, over, coalesced) = port_account(table, &stats, q);
                let b = &st.books;
                let accounted = b.taken[p][i] + unconsumed + over + coalesced + b.discarded[p][i];
                let missing = i128::from(b.offered[p][i]) - i128::from(accounted);
                let ambiguous = b.ambiguous[p][i];
                if missing < 0 || missing > i128::from(ambiguous) {
                    let (offered, taken, disc) =
                        (b.offered[p][i], b.taken[p][i], b.discarded[p][i]);
                    st.fail(format!(
                        "partition {p} port {q}: {offered} raised != {taken} delivered + {unconsumed} pending + {over} overflowed + {coalesced} coalesced + {disc} discarded (+ up to {ambiguous} discarded on their way)"
                    ));
                    return;
                }
                st.books.discarded[p][i] += missing as u64;
                st.books.ambiguous[p][i] = 0;
            }
            let counted: u64 = COUNTED.iter().map(|&q| st.books.discarded[p][usize::from(q)]).sum();
            if counted > stats.discarded {
                st.fail(format!(
                    "partition {p}: its restarts discarded {counted} events of the ports the simulator counts, the engine counts {} discarded in all",
                    stats.discarded
                ));
            }
            let taken: u64 = st.books.taken[p].iter().sum();
            if stats.delivered != taken {
                st.fail(format!(
                    "partition {p}: the engine counts {} delivered, its guest consumed {taken}",
                    stats.delivered
                ));
            }
            let over: u64 = st.books.overflowed[p].iter().sum();
            if stats.overflowed != over {
                st.fail(format!(
                    "partition {p}: {} events overflowed, the health monitor was told of {over}",
                    stats.overflowed
                ));
            }
            if stats.discarded != st.books.discarded_records[p] {
                st.fail(format!(
                    "partition {p}: {} events discarded, the health monitor's records say {}",
                    stats.discarded, st.books.discarded_records[p]
                ));
            }
            // A replaying clock outside its window: every tick given is an event.
            let cpu = self.router.partition_cpu(pid(p));
            let time = cpu.time();
            if self.scenario.guests[p].catch_up == CatchUpPolicy::Replay && !time.in_window() {
                let Ok(timer) = Port::<1>::new(u32::from(port::TIMER)) else { continue };
                let pending = u64::from(table.status(timer).pending);
                let taken = st.books.timer_taken[p];
                let discarded_at_start = 0;
                if taken + pending + discarded_at_start != time.given() {
                    st.fail(format!(
                        "partition {p} (replay): {taken} ticks taken + {pending} pending != {} given since its start",
                        time.given()
                    ));
                }
            }
        }
    }

    /// No lost wake-up: a partition running open in its window with something
    /// deliverable has an upcall, a kick or kernel work on its way.
    fn check_wakeups(&self, st: &mut State) {
        for c in 0..C {
            let cpu = &st.cpus[c];
            let Some(p) = cpu.current else { continue };
            let guest = &st.guests[p];
            if !cpu.ops.is_empty()
                || cpu.ipi_at.is_some()
                || !guest.frames.is_empty()
                || guest.mid_sti
                || guest.opened_by_scribble
                || guest.refused
            {
                continue;
            }
            if matches!(guest.phase, Phase::Idled) {
                continue;
            }
            let Ok(id) = CpuId::<C>::new(c as u32) else { continue };
            if self.router.running(id) != Some(pid(p)) {
                let running = self.router.running(id).map(|q| q.index());
                st.fail(format!("CPU {c} runs partition {p} but the engine says {running:?}"));
                return;
            }
            let table = self.router.events().partition(pid(p));
            let deliverable = table.upcall_entry().is_some() && table.next_deliverable().is_some();
            if !deliverable {
                continue;
            }
            let open = self.pages[p].is_open();
            if cpu.waiting || open {
                let port = table.next_deliverable().map(|q| q.raw());
                st.fail(format!(
                    "lost wake-up: partition {p} {} on CPU {c} with port {port:?} deliverable, and no upcall, kick or resume on its way",
                    if cpu.waiting { "waits" } else { "runs open" }
                ));
                return;
            }
        }
    }

    /// The end of the run.
    pub(crate) fn check_end(&self) {
        self.check_step();
        let mut st = self.st.borrow_mut();
        if st.violation.is_some() {
            return;
        }
        self.check_ports(&mut st);
        let lost = self.router.line_lost(STORM_VECTOR);
        if lost != st.books.storm_lost {
            let expected = st.books.storm_lost;
            st.fail(format!("the engine lost {lost} storm interrupts; the budget says {expected}"));
        }
        let level = st.books.level;
        if level.firings != level.unmasks + u64::from(level.masked) {
            st.fail(format!(
                "the level line fired {} times and was unmasked {} times",
                level.firings, level.unmasks
            ));
        }
        for p in 0..P {
            let (total, _) = self.router.health_counts(Some(pid(p)));
            let logged: u64 = st.books.records[p].iter().sum();
            if total != logged {
                st.fail(format!("partition {p}: {total} records in its ring's count, {logged} in the kernel's log"));
            }
            if st.stopped || st.books.idled & (1 << p) != 0 {
                continue;
            }
            // Drift: the time account covers every tick since the start, and replay and
            // warp drop none.
            let time = self.router.partition_cpu(pid(p)).time().clone();
            let end = st.cpus[crate::system::cpu_of(p, self.scenario.cpus)].now;
            let since = end.saturating_sub(st.books.start[p]);
            let missed = time.missed_at(end).unwrap_or(0);
            let running = if time.in_window() { missed } else { 0 };
            let accounted =
                time.given() + time.dropped() + if time.in_window() { running } else { missed };
            if accounted != since {
                st.fail(format!(
                    "partition {p}: {} given + {} dropped + {missed} missed != {since} ticks since its start",
                    time.given(),
                    time.dropped()
                ));
            }
            let policy = self.scenario.guests[p].catch_up;
            if matches!(policy, CatchUpPolicy::Replay | CatchUpPolicy::Warp) && time.dropped() != 0
            {
                st.fail(format!("partition {p} ({policy:?}) drifted by {} ticks", time.dropped()));
            }
        }
        let _ = Op::Resume;
    }
}

/// What port `q` of a partition holds (pending, or a coalescing port's event in service),
/// and the events it lost to its maximum and merged (the partition's counts: only the
/// line port overflows, only the level port coalesces).
pub(crate) fn port_account<const CW: usize>(
    table: &irq_router::events::PartitionEvents<1, CW>,
    stats: &irq_router::events::Stats,
    q: u16,
) -> (u64, u64, u64) {
    let Ok(qp) = Port::<1>::new(u32::from(q)) else { return (0, 0, 0) };
    let s = table.status(qp);
    let coalescing = s.binding.is_some_and(|b| matches!(b.mode, Mode::Coalescing));
    let unconsumed = u64::from(s.pending) + u64::from(s.in_service && coalescing);
    let over = if q == port::LINE { stats.overflowed } else { 0 };
    let coalesced = if coalescing { stats.coalesced } else { 0 };
    (unconsumed, over, coalesced)
}
