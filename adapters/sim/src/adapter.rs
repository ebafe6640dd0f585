//! The simulated kernel's [`KernelAdapter`]: one per engine call, for the CPU it runs on.
//! Every request the engine makes is first a preemption point (other CPUs may run whole
//! steps there), then acted on: the controller's mask and EOI, upcalls into the guests,
//! kicks as inter-processor interrupts, restarts and idling, the health-monitor log. The
//! checks that belong to a request (an upcall outside the window, a line masked twice, a
//! timeout of a partition that owes nothing) are made as it arrives.

use irq_router::adapter::{KernelAdapter, StartMode, Upcall, UpcallFault};
use irq_router::config::{HmAction, HmKind};
use irq_router::health::HmRecord;

use crate::machine::{Call, Op, Sim, pid};
use crate::system::{FRAME, LEVEL_VECTOR, LINE_VECTOR, P, STORM_VECTOR, memory, port};
use crate::trace::note;

/// The adapter of one engine call on CPU `cpu`.
pub(crate) struct SimAdapter<'s, 'r, const C: usize> {
    pub(crate) sim: &'s Sim<'r, C>,
    pub(crate) cpu: usize,
}

impl<const C: usize> SimAdapter<'_, '_, C> {
    /// Every request starts here: the tick's snapshot of the level line (see
    /// `CallCtx::level_snapshot`), then the preemption point.
    fn request(&self, storm_unmask: bool) {
        let sim = self.sim;
        let mut st = sim.st.borrow_mut();
        let level = st.books.level;
        let now = st.cpus[self.cpu].now;
        let Some(call) = st.cpus[self.cpu].call.as_mut() else { return };
        if call.call == Call::Tick && call.level_snapshot.is_none() && !storm_unmask {
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

impl<const C: usize> KernelAdapter for SimAdapter<'_, '_, C> {
    fn now(&self) -> u64 {
        self.sim.st.borrow().cpus[self.cpu].now
    }

    fn kernel_handler(&mut self, vector: u8) {
        let mut st = self.sim.st.borrow_mut();
        note!(st, [0x100, self.cpu, vector], "  engine: kernel handler {vector:#x}");
    }

    fn eoi(&mut self, vector: u8) {
        self.request(false);
        let mut st = self.sim.st.borrow_mut();
        note!(st, [0x101, self.cpu, vector], "  engine: EOI {vector:#x}");
        if let Some(call) = st.cpus[self.cpu].call.as_mut() {
            call.eois.push(vector);
        }
        if vector == LEVEL_VECTOR && matches!(self.ctx_of(&st), Call::Irq(LEVEL_VECTOR)) {
            // The engine records who owes right after this EOI, before it raises them,
            // and by when (a tick running at the next preemption point may expire it).
            let live = !st.books.idled & ((1 << P) - 1);
            let now = st.cpus[self.cpu].now;
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
        self.request(false);
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
        self.request(vector == STORM_VECTOR);
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
        self.request(false);
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
            return Err(UpcallFault::BadStack);
        }
        st.books.upcalls[p] += 1;
        let flash = matches!(call, Call::Hypercall { flash: true, .. });
        st.guests[p].delivered(upcall, flash);
        st.cpus[cpu].waiting = false;
        Ok(())
    }

    fn kick(&mut self, cpu: u16) {
        self.request(false);
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
        self.request(false);
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
        self.request(false);
        let sim = self.sim;
        let table = sim.router.events().partition(pid(p.min(P - 1)));
        let stats = table.stats();
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
        // What the restart discarded, port by port: all that was neither consumed nor
        // lost nor merged nor still there.
        for q in 0..port::COUNT {
            let Ok(qp) = irq_router::Port::<1>::new(q as u32) else { continue };
            let s = table.status(qp);
            let unconsumed =
                u64::from(s.pending) + u64::from(s.in_service && q == usize::from(port::LEVEL));
            let b = &st.books;
            let coalesced = if q == usize::from(port::LEVEL) { stats.coalesced } else { 0 };
            // (The line port is the only one that can overflow: the engine's count, since
            // its record may come after this restart.)
            let overflowed = if q == usize::from(port::LINE) { stats.overflowed } else { 0 };
            let gone = b.offered[p][q].saturating_sub(
                b.taken[p][q] + overflowed + b.discarded[p][q] + coalesced + unconsumed,
            );
            if q != usize::from(port::TIMER) && q != usize::from(port::PING) {
                st.books.discarded[p][q] += gone;
            }
        }
        st.books.restarts[p] += 1;
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
        // Released before this request, as for a restart.
        self.sim.st.borrow_mut().books.level.owing &= !(1 << (p % 32));
        self.request(false);
        let mut st = self.sim.st.borrow_mut();
        note!(st, [0x109, self.cpu, p], "  engine: idle partition {p}");
        if p >= P {
            st.fail(format!("idle of partition {p}, which does not exist"));
            return;
        }
        st.books.idled |= 1 << p;
        if let Some(c) = st.cpus[self.cpu].call.as_mut() {
            c.idled |= 1 << p;
        }
        st.guests[p].idled();
        let cpu = &mut st.cpus[self.cpu];
        if cpu.current == Some(p) {
            cpu.waiting = false;
        }
    }

    fn stop_module(&mut self) {
        self.request(false);
        let mut st = self.sim.st.borrow_mut();
        note!(st, [0x10a, self.cpu], "  engine: stop the module");
        st.stopped = true;
    }

    fn log(&mut self, record: &HmRecord) {
        self.request(false);
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
        let trap = matches!(record.kind, HmKind::Trap | HmKind::TrapInTrap);
        if record.action == HmAction::Deliver && !trap {
            st.books.offered[p][usize::from(port::ERROR)] += 1;
        }
    }
}
