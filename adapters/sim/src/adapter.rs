//! The simulated kernel's [`KernelAdapter`]: one per engine call, for the CPU it runs on.
//! Every request the engine makes is first a preemption point (other CPUs may run whole
//! steps there), then acted on: the controller's mask and EOI, upcalls into the guests,
//! kicks as inter-processor interrupts, restarts and idling, the health-monitor log. The
//! checks that belong to a request (an upcall outside the window, a line masked twice, a
//! timeout of a partition that owes nothing) are made as it arrives.

use irq_router::adapter::{KernelAdapter, StartMode, Upcall, UpcallFault};
use irq_router::config::{HmAction, HmKind};
use irq_router::health::HmRecord;

use crate::check::{COUNTED, port_account};
use crate::isolation::Happened;
use crate::machine::{Call, Op, Sim, pid};
use crate::system::{FRAME, LEVEL_VECTOR, LINE_VECTOR, P, STORM_VECTOR, memory, port};
use crate::trace::note;

/// What a request is, for what `SimAdapter::request` notes before its preemption point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Req {
    /// The unmask of the storming line (at a frame boundary, before a tick's expiry).
    StormUnmask,
    /// Another request about the storming line: its mask, its EOI, a storm record.
    Storm,
    /// The unmask of the level line.
    LevelUnmask,
    Other,
}

/// The adapter of one engine call on CPU `cpu`.
pub(crate) struct SimAdapter<'s, 'r, const C: usize, const CW: usize, const H: usize> {
    pub(crate) sim: &'s Sim<'r, C, CW, H>,
    pub(crate) cpu: usize,
}

impl<const C: usize, const CW: usize, const H: usize> SimAdapter<'_, '_, C, CW, H> {
    /// Every request starts here: the tick's snapshot of the level line (see
    /// `CallCtx::level_snapshot`), then the preemption point.
    fn request(&self, what: Req) {
        let sim = self.sim;
        if sim.isolated && matches!(what, Req::StormUnmask | Req::Storm) {
            // The storm's isolation run: no preemption point (nothing runs here, so the
            // call's notes of its latest preemption point stay as they are).
            return;
        }
        let mut st = sim.st.borrow_mut();
        let level = st.books.level;
        let now = st.cpus[self.cpu].now;
        let offered = (what == Req::LevelUnmask).then(|| Box::new(st.books.offered));
        let Some(call) = st.cpus[self.cpu].call.as_mut() else { return };
        call.offered_before_unmask = offered;
        if call.call == Call::Tick && call.level_snapshot.is_none() && what != Req::StormUnmask {
            // The tick took the overdue debts (all of them) before this request, if the
            // deadline passed.
            let took = level.masked && level.owing != 0 && now >= level.deadline;
            let mut holding = 0;
            for p in 0..P {
                let table = sim.router.events().partition(pid(p));
                if let Ok(q) = irq_router::Port::<1>::new(u32::from(port::LEVEL)) {
                    let s = table.status(q);
                    if s.pending > 0 || s.in_service {
                        holding |= 1 << p;
                    }
                }
            }
            call.level_snapshot =
                Some((if took { level.owing } else { 0 }, holding, level.deadline));
            if took {
                st.books.level.taken |= level.owing;
                st.books.level.owing = 0;
            }
        }
        drop(st);
        sim.preempt(self.cpu);
    }

    fn ctx_of(&self, st: &crate::machine::State) -> Call {
        st.cpus[self.cpu].call.as_ref().map(|c| c.call).unwrap_or_default()
    }

    fn ctx(&self) -> Call {
        let st = self.sim.st.borrow();
        st.cpus[self.cpu].call.as_ref().map(|c| c.call).unwrap_or_default()
    }
}

impl<const C: usize, const CW: usize, const H: usize> SimAdapter<'_, '_, C, CW, H> {
    /// The accounts of partition `p`'s counted ports at its restart in `mode` (before
    /// the request's preemption point: nothing ran since the engine restarted it but, if
    /// the latest request was the level line's unmask, that request's preemption
    /// point). A cold start discards what its ports held and leaves them empty; a warm
    /// start discards nothing of theirs (only the clock's ticks).
    fn restarted_ports(&self, p: usize, mode: StartMode) {
        let sim = self.sim;
        let table = sim.router.events().partition(pid(p));
        let stats = table.stats();
        let mut st = sim.st.borrow_mut();
        let cpu = self.cpu;
        let before = st.cpus[cpu].call.as_ref().and_then(|c| c.offered_before_unmask.clone());
        // Error events raised and not yet logged (so not yet offered) by calls in
        // progress: at most one per call (the raise, the signal, then the record).
        let unlogged = st.cpus.iter().enumerate().filter(|&(c, other)| c != cpu && other.busy);
        let unlogged = unlogged.count() as u64;
        for q in COUNTED {
            let i = usize::from(q);
            let (unconsumed, over, coalesced) = port_account(table, &stats, q);
            let b = &st.books;
            // Events raised after the engine's restart (there), counted already.
            let after = before.as_ref().map_or(0, |before| b.offered[p][i] - before[p][i]);
            // On their way: raised before the restart or not yet (unknown).
            let unknown = if q == port::ERROR { unlogged } else { b.inflight[p][i] };
            let accounted = b.taken[p][i] + unconsumed + over + coalesced + b.discarded[p][i];
            // The events the restart discarded but those on their way.
            let gone = i128::from(b.offered[p][i]) - i128::from(accounted);
            let broken = match mode {
                // What it held: `gone`, and as many of those on their way as came first.
                StartMode::Cold if gone < -i128::from(unknown) || unconsumed > after => {
                    Some(format!("a cold start left {unconsumed} events ({after} raised since)"))
                }
                StartMode::Cold => {
                    st.books.discarded[p][i] += gone.max(0) as u64;
                    st.books.ambiguous[p][i] += unknown;
                    None
                }
                // Nothing: the port still holds what it held, and those on their way that
                // came first.
                StartMode::Warm if gone > 0 || gone < -i128::from(unknown) => {
                    Some(format!("a warm start discarded {gone} events"))
                }
                StartMode::Warm => None,
            };
            if let Some(what) = broken {
                let b = &st.books;
                let (offered, taken, disc) = (b.offered[p][i], b.taken[p][i], b.discarded[p][i]);
                st.fail(format!(
                    "partition {p} port {q}: {what}: {offered} raised, {taken} delivered, {unconsumed} pending, {over} overflowed, {coalesced} coalesced, {disc} discarded before, {unknown} on their way"
                ));
            }
        }
    }
}

impl<const C: usize, const CW: usize, const H: usize> KernelAdapter
    for SimAdapter<'_, '_, C, CW, H>
{
    fn now(&self) -> u64 {
        self.sim.st.borrow().cpus[self.cpu].now
    }

    fn kernel_handler(&mut self, vector: u8) {
        let mut st = self.sim.st.borrow_mut();
        note!(st, [0x100, self.cpu, vector], "  engine: kernel handler {vector:#x}");
    }

    fn eoi(&mut self, vector: u8) {
        self.request(if vector == STORM_VECTOR { Req::Storm } else { Req::Other });
        let mut st = self.sim.st.borrow_mut();
        note!(st, [0x101, self.cpu, vector], "  engine: EOI {vector:#x}");
        if let Some(call) = st.cpus[self.cpu].call.as_mut() {
            call.eois.push(vector);
        }
        if vector == LEVEL_VECTOR && matches!(self.ctx_of(&st), Call::Irq(LEVEL_VECTOR)) {
            // The engine records who owes right after this EOI, before it raises them,
            // and by when (a tick running at the next preemption point may expire it).
            // The deadline counts from the latest tick any CPU has taken, if this CPU's
            // clock is behind it.
            let live = !st.books.idled & ((1 << P) - 1);
            let now = st.cpus.iter().map(|c| c.now).max().unwrap_or(0);
            let level = &mut st.books.level;
            level.owing |= live;
            level.deadline = level.deadline.max(now + crate::system::LEVEL_TIMEOUT);
        }
        if let Some(line) = st.ctl.line(vector) {
            if !line.in_service {
                st.fail(format!("EOI of line {vector:#x}, which is not in service"));
            } else {
                line.in_service = false;
            }
        }
    }

    fn mask_line(&mut self, vector: u8) {
        self.request(if vector == STORM_VECTOR { Req::Storm } else { Req::Other });
        let mut st = self.sim.st.borrow_mut();
        note!(st, [0x102, self.cpu, vector], "  engine: mask {vector:#x}");
        let frame = st.cpus[self.cpu].now / FRAME;
        match vector {
            LEVEL_VECTOR => {
                if st.books.level.masked {
                    st.fail("the level line was masked twice".to_string());
                }
                st.books.level.masked = true;
            }
            STORM_VECTOR => st.books.storm_mask = Some(frame),
            LINE_VECTOR => st.fail("the edge line (no budget, edge) was masked".to_string()),
            _ => {}
        }
        if let Some(line) = st.ctl.line(vector) {
            line.masked = true;
        }
    }

    fn unmask_line(&mut self, vector: u8) {
        self.request(match vector {
            STORM_VECTOR => Req::StormUnmask,
            LEVEL_VECTOR => Req::LevelUnmask,
            _ => Req::Other,
        });
        let mut st = self.sim.st.borrow_mut();
        note!(st, [0x103, self.cpu, vector], "  engine: unmask {vector:#x}");
        match vector {
            LEVEL_VECTOR => {
                if !st.books.level.masked {
                    st.fail("the level line was unmasked twice".to_string());
                }
                st.books.level.masked = false;
                st.books.level.unmasks += 1;
                st.books.level.taken = 0;
                let owing = st.books.level.owing;
                if let Some(call) = st.cpus[self.cpu].call.as_mut() {
                    call.level_unmasks.push(owing);
                }
            }
            STORM_VECTOR => st.books.storm_mask = None,
            _ => {}
        }
        if let Some(line) = st.ctl.line(vector) {
            line.masked = false;
        }
    }

    fn inject_upcall(&mut self, partition: u16, upcall: &Upcall) -> Result<(), UpcallFault> {
        self.request(Req::Other);
        let call = self.ctx();
        let p = usize::from(partition);
        let sim = self.sim;
        let running = sim
            .router
            .running(irq_router::CpuId::new(self.cpu as u32).unwrap_or(irq_router::CpuId::BOOT));
        let status = upcall.port.map(|q| {
            let table = sim.router.events().partition(pid(p.min(P - 1)));
            irq_router::Port::new(u32::from(q)).map(|port| table.status(port)).ok()
        });
        let mut st = sim.st.borrow_mut();
        let cpu = self.cpu;
        note!(
            st,
            [0x104, cpu, p, upcall.port.map_or(99, u64::from), upcall.pending],
            "  engine: upcall into partition {p}, port {:?} ({} pending)",
            upcall.port,
            upcall.pending
        );
        if p >= P || st.cpus[cpu].current != Some(p) {
            let runs = st.cpus[cpu].current;
            st.fail(format!("upcall into partition {p} on CPU {cpu}, which runs {runs:?}"));
            return Ok(());
        }
        let now = st.cpus[cpu].now;
        if crate::system::window_end(sim.scenario.cpus, p, now).is_none() {
            st.fail(format!("upcall into partition {p} at t={now}, outside its window"));
        }
        if running != Some(pid(p)) {
            st.fail(format!(
                "upcall into partition {p}, which the engine does not run on CPU {cpu}"
            ));
        }
        if upcall.port.is_some() {
            match status.flatten() {
                Some(s) if s.masked => {
                    st.fail(format!("upcall to a masked port {:?} of partition {p}", upcall.port))
                }
                Some(s) if !s.in_service => st.fail(format!(
                    "upcall for port {:?} of partition {p}, not in service",
                    upcall.port
                )),
                None => st.fail(format!(
                    "upcall for port {:?}, which partition {p} does not have",
                    upcall.port
                )),
                _ => {}
            }
            let opens = matches!(call, Call::Hypercall { opens: true, .. });
            let guest = &st.guests[p];
            if !guest.frames.is_empty() {
                st.fail(format!("upcall into partition {p}, already in its handler (no nesting)"));
            } else if !opens && guest.flag == crate::guest::Flag::Closed {
                st.fail(format!("upcall into partition {p} with its virtual interrupts disabled"));
            }
        }
        let refuse = !st.draining && st.guests[p].faults.permille(sim.scenario.faults.upcall_fault);
        if refuse {
            st.books.refused[p] += 1;
            st.guests[p].refused = true;
            if let Some(c) = st.cpus[cpu].call.as_mut() {
                c.refused += 1;
            }
            note!(st, [0x105, p], "  fault: the upcall's frame cannot be built");
            st.log(p, Happened::Refused { port: upcall.port });
            return Err(UpcallFault::BadStack);
        }
        st.books.upcalls[p] += 1;
        let (port, pending, context) = (upcall.port, upcall.pending, upcall.context);
        st.log(p, Happened::Upcall { port, pending, context });
        let flash = matches!(call, Call::Hypercall { flash: true, .. });
        st.guests[p].delivered(upcall, flash);
        st.cpus[cpu].waiting = false;
        Ok(())
    }

    fn kick(&mut self, cpu: u16) {
        self.request(Req::Other);
        let mut st = self.sim.st.borrow_mut();
        let target = usize::from(cpu);
        note!(st, [0x106, self.cpu, target], "  engine: kick CPU {target}");
        if target >= C {
            st.fail(format!("kick of CPU {target}, which does not exist"));
            return;
        }
        if target == self.cpu {
            if !st.cpus[target].ops.contains(&Op::Resume) {
                st.cpus[target].ops.push_back(Op::Resume);
            }
            return;
        }
        st.books.remote_kicks += 1;
        let late = !st.draining && {
            let permille = self.sim.scenario.faults.late_ipi;
            st.ipi.permille(permille)
        };
        let delay = if late { 1 + st.ipi.below(40) } else { 0 };
        let at = st.step + delay;
        let slot = &mut st.cpus[target].ipi_at;
        *slot = Some(slot.map_or(at, |old| old.min(at)));
    }

    fn wait(&mut self, partition: u16) {
        self.request(Req::Other);
        let mut st = self.sim.st.borrow_mut();
        let p = usize::from(partition);
        note!(st, [0x107, self.cpu, p], "  engine: partition {p} waits");
        if st.cpus[self.cpu].current != Some(p) {
            st.fail(format!(
                "partition {p} asked to wait on CPU {}, which does not run it",
                self.cpu
            ));
        }
        st.cpus[self.cpu].waiting = true;
    }

    fn user_range(&self, partition: u16, addr: u64, len: u64) -> bool {
        let (start, size) = memory(usize::from(partition));
        addr >= start && len <= size && addr - start <= size - len
    }

    fn console_write(&mut self, _partition: u16, _addr: u64, len: u64) -> u64 {
        len
    }

    fn restart(&mut self, partition: u16, mode: StartMode) {
        let p = usize::from(partition);
        // The engine released what it owed the level line before this request (before
        // its preemption point, where another partition's acknowledgement may unmask it).
        self.sim.st.borrow_mut().books.level.owing &= !(1 << (p % 32));
        if p < P {
            self.restarted_ports(p, mode);
        }
        self.request(Req::Other);
        let sim = self.sim;
        let mut st = sim.st.borrow_mut();
        let cpu = self.cpu;
        let now = st.cpus[cpu].now;
        note!(st, [0x108, cpu, p, mode as u64], "  engine: restart partition {p} ({mode:?})");
        if p >= P {
            st.fail(format!("restart of partition {p}, which does not exist"));
            return;
        }
        if crate::system::cpu_of(p, sim.scenario.cpus) != cpu {
            st.fail(format!("partition {p} restarted by CPU {cpu}, not its own"));
        }
        st.books.restarts[p] += 1;
        st.log(p, Happened::Restarted { cold: mode == StartMode::Cold });
        st.books.start[p] = now;
        st.books.timer_taken[p] = 0;
        if let Some(c) = st.cpus[cpu].call.as_mut() {
            c.restarted |= 1 << p;
        }
        st.guests[p].restarted();
        if st.cpus[cpu].current == Some(p) {
            // The restart ended its window: enter it again for the rest of it.
            st.cpus[cpu].current = None;
            st.cpus[cpu].waiting = false;
            st.cpus[cpu].ops.push_front(Op::Enter(p));
        }
    }

    fn idle(&mut self, partition: u16) {
        let p = usize::from(partition);
        {
            // Idled and released before this request, as for a restart: a firing of the
            // level line at its preemption point does not make it owe (the engine marks
            // it idled before it releases its lines).
            let mut st = self.sim.st.borrow_mut();
            st.books.level.owing &= !(1 << (p % 32));
            st.books.idled |= 1 << (p % 32);
        }
        self.request(Req::Other);
        let mut st = self.sim.st.borrow_mut();
        note!(st, [0x109, self.cpu, p], "  engine: idle partition {p}");
        if p >= P {
            st.fail(format!("idle of partition {p}, which does not exist"));
            return;
        }
        if let Some(c) = st.cpus[self.cpu].call.as_mut() {
            c.idled |= 1 << p;
        }
        st.log(p, Happened::Idled);
        st.guests[p].idled();
        let cpu = &mut st.cpus[self.cpu];
        if cpu.current == Some(p) {
            cpu.waiting = false;
        }
    }

    fn stop_module(&mut self) {
        self.request(Req::Other);
        let mut st = self.sim.st.borrow_mut();
        note!(st, [0x10a, self.cpu], "  engine: stop the module");
        st.stopped = true;
    }

    fn log(&mut self, record: &HmRecord) {
        // The error event is raised (before the record): offered before the preemption
        // point, where the partition may restart.
        let trap = matches!(record.kind, HmKind::Trap | HmKind::TrapInTrap);
        if let Some(p) = record.partition.map(usize::from).filter(|&p| p < P)
            && record.action == HmAction::Deliver
            && !trap
        {
            let mut st = self.sim.st.borrow_mut();
            st.books.offered[p][usize::from(port::ERROR)] += 1;
            st.log(p, Happened::Raised { port: port::ERROR });
        }
        let storm = record.kind == HmKind::Storm && record.partition.is_none();
        self.request(if storm { Req::Storm } else { Req::Other });
        let mut st = self.sim.st.borrow_mut();
        let cpu = self.cpu;
        let p = record.partition.map(usize::from);
        note!(
            st,
            [
                0x10b,
                cpu,
                p.unwrap_or(99),
                record.kind as u64,
                record.action as u64,
                record.detail,
                record.extra,
                record.discarded
            ],
            "  engine: health monitor: {:?} of {} -> {:?} (detail {}, extra {}, discarded {})",
            record.kind,
            p.map_or("the module".to_string(), |p| format!("partition {p}")),
            record.action,
            record.detail,
            record.extra,
            record.discarded
        );
        let index = p.filter(|&p| p < P);
        st.books.records[index.unwrap_or(P)][record.kind as usize] += 1;
        if let Some(c) = st.cpus[cpu].call.as_mut() {
            c.records.push(*record);
        }
        let Some(p) = index else {
            if record.kind != HmKind::Storm || record.detail != u64::from(STORM_VECTOR) {
                st.fail(format!("a module record that no storm explains: {record:?}"));
            }
            return;
        };
        st.books.discarded_records[p] += record.discarded;
        match record.kind {
            HmKind::PendingOverflow => {
                let q = record.detail as usize;
                if q < port::COUNT {
                    st.books.overflowed[p][q] += record.extra;
                }
                if q != usize::from(port::LINE) && q != usize::from(port::PING) {
                    st.fail(format!(
                        "an overflow of port {q} of partition {p}, which has no small maximum"
                    ));
                }
            }
            HmKind::AckTimeout => {
                let now = st.cpus[cpu].now;
                let level = st.books.level;
                let snapshot = st.cpus[cpu].call.as_ref().and_then(|c| c.level_snapshot);
                let (owed, holding, deadline) =
                    snapshot.unwrap_or((level.taken, 0, level.deadline));
                if owed & (1 << p) == 0 {
                    st.fail(format!("an acknowledgement timeout of partition {p}, which owed the level line nothing"));
                } else if holding & (1 << p) == 0 {
                    st.fail(format!("an acknowledgement timeout of partition {p}, which had acknowledged every event of the level line"));
                } else if now < deadline {
                    st.fail(format!("an acknowledgement timeout of partition {p} at t={now}, before the deadline t={deadline}"));
                }
                if let Some(c) = st.cpus[cpu].call.as_mut() {
                    c.timeouts |= 1 << p;
                }
            }
            HmKind::PingMissed if !self.sim.scenario.guests[p].ping => {
                st.fail(format!("a missed ping of partition {p}, which is not pinged"));
            }
            _ => {}
        }
    }
}
