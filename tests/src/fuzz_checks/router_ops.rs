//! Random sequences of kernel events into the router of a three-partition system: clock
//! ticks with the window switches of the cyclic schedule, hardware interrupts on routed
//! and unrouted vectors, traps and hypercalls of the running partition, the guest's own
//! cli/sti, and upcalls that fail. After every event:
//!
//! * nothing lost: every raise the harness drove (a line's fan-out to a bound port within
//!   the line's budget, a notify answered with success, a health-monitor `Deliver` to an
//!   error port) is in the partition's statistics, whose outcomes never decrease; the
//!   raises it did not drive (timer ticks, pings) happen only at ticks, entries and exits,
//!   never exceed the kernel's ticks plus one per entry, and for the replaying partition
//!   equal exactly the ticks its time account gives (zero drift);
//! * every upcall is for the partition in its window, not idle; a port upcall is for the
//!   running partition and a port that was deliverable (bound, unmasked, not in service)
//!   and is now in service; a fault-handler upcall follows a trap of that partition;
//! * every hypercall answer decodes; the O(1) lookup agrees with a scan of the ports;
//! * no panic.

use arbitrary::{Arbitrary, Unstructured};
use irq_router::Trap;
use irq_router::adapter::{Action, StartMode, UpcallFault};
use irq_router::config::{HmAction, HmKind};
use irq_router::hypercall::{CallNumber, RawCall, Request, decode, decode_reply};
use notify_core::{PartitionEvents, Port, PortStatus, Stats};

use super::system::{
    Arg, CLOCK, CONFIG, Event, LEVEL, Machine, P, REPLAY, ROUTES, SHARED, STORMY, pid,
};

#[derive(Arbitrary, Debug)]
enum Op {
    /// 1 to 16 ticks.
    Tick {
        n: u8,
    },
    /// 0: the level line, 1: the shared edge line, 2: the stormy line, 3: the clock,
    /// anything else: that vector.
    Irq {
        line: u8,
    },
    Trap {
        vector: u8,
        error_code: u32,
        address: u64,
    },
    /// A call by number (modulo the ABI's calls plus one unknown) with two arguments.
    Call {
        number: u8,
        a0: Arg,
        a1: Arg,
    },
    Raw {
        number: u64,
        args: [u64; 4],
    },
    Sti,
    Cli,
    /// 0: upcalls succeed, 1: bad stack, 2: bad entry.
    UpcallFault {
        fault: u8,
    },
}

struct Harness {
    m: Machine,
    /// Raises the harness drove and counted, per partition.
    known: [u64; P],
    /// Raises it did not drive (timer ticks, pings): `raised - known`.
    unexplained: [u64; P],
    entries: [u64; P],
    restarted: [bool; P],
    stats: [Stats; P],
    /// Per route: the frame its budget counts and the raises counted in it.
    budgets: [(u64, u32); ROUTES.len()],
}

fn port(raw: u16) -> Port<1> {
    Port::new(u32::from(raw)).expect("port in range")
}

fn ports() -> impl Iterator<Item = Port<1>> {
    (0..PartitionEvents::<1>::PORTS as u16).map(port)
}

/// The `router_ops` target.
pub fn router_ops(data: &[u8]) {
    let Ok(ops) = Vec::<Op>::arbitrary_take_rest(Unstructured::new(data)) else { return };
    let mut h = Harness {
        m: Machine::new(),
        known: [0; P],
        unexplained: [0; P],
        entries: [0; P],
        restarted: [false; P],
        stats: [Stats::default(); P],
        budgets: [(0, 0); ROUTES.len()],
    };
    for event in h.m.switches() {
        h.step(event);
    }
    for op in ops {
        if h.m.stopped {
            return;
        }
        h.apply(op);
    }
}

impl Harness {
    fn apply(&mut self, op: Op) {
        let current = self.m.current();
        match op {
            Op::Tick { n } => {
                for _ in 0..=n % 16 {
                    for event in self.m.tick() {
                        self.step(event);
                    }
                }
            }
            Op::Irq { line } => {
                let vector = match line {
                    0 => LEVEL,
                    1 => SHARED,
                    2 => STORMY,
                    3 => CLOCK,
                    v => v,
                };
                self.step(Event::Irq(vector));
            }
            Op::Trap { vector, error_code, address } => {
                if let Some(p) = current {
                    self.step(Event::Trap(p, Trap { vector, error_code, address }));
                }
            }
            Op::Call { number, a0, a1 } => {
                if let Some(p) = current {
                    let number = u64::from(number) % (CallNumber::COUNT as u64 + 1);
                    let raw = RawCall { number, args: [a0.value(p), a1.value(p), 0, 0] };
                    self.step(Event::Call(p, raw));
                }
            }
            Op::Raw { number, args } => {
                if let Some(p) = current {
                    self.step(Event::Call(p, RawCall { number, args }));
                }
            }
            Op::Sti => {
                if let Some(p) = current {
                    self.step(Event::Sti(p));
                }
            }
            Op::Cli => {
                if let Some(p) = current {
                    self.step(Event::Cli(p));
                }
            }
            Op::UpcallFault { fault } => {
                self.m.adapter.upcall_fault = match fault % 3 {
                    0 => None,
                    1 => Some(UpcallFault::BadStack),
                    _ => Some(UpcallFault::BadEntry),
                };
            }
        }
    }

    fn snapshot(&self) -> [[PortStatus; PartitionEvents::<1>::PORTS]; P] {
        core::array::from_fn(|p| {
            let table = self.m.router.events().partition(pid(p));
            core::array::from_fn(|i| table.status(port(i as u16)))
        })
    }

    /// The raises a hardware interrupt on `vector` will make, per the configuration, the
    /// line's budget and the bindings now.
    fn expect_line(&mut self, vector: u8, before: &[[PortStatus; 64]; P]) {
        if vector == CLOCK {
            return;
        }
        let Some(r) = ROUTES.iter().position(|r| r.vector == vector) else { return };
        let route = &ROUTES[r];
        if let Some(limit) = route.budget {
            let frame = self.m.now / CONFIG.schedule.major_frame;
            let (tag, count) = &mut self.budgets[r];
            if *tag != frame {
                (*tag, *count) = (frame, 0);
            }
            *count += 1;
            if *count > limit.get() {
                return;
            }
        }
        for t in route.targets {
            let p = usize::from(t.partition);
            if before[p][usize::from(t.port)].binding.is_some() {
                self.known[p] += 1;
            }
        }
    }

    fn step(&mut self, event: Event) {
        let router = &self.m.router;
        let running_before = router.running(irq_router::CpuId::BOOT).map(|p| p.index());
        let window = match event {
            Event::Entry(p, _) => Some(p),
            _ => self.m.in_window,
        };
        let idle_before = self.m.idle;
        let before = self.snapshot();
        if let Event::Irq(vector) = event {
            self.expect_line(vector, &before);
        }
        if let Event::Entry(p, _) = event {
            self.entries[p] += 1;
        }
        let (answer, actions) = self.m.perform(event);
        if event == Event::Irq(CLOCK) {
            // The tables are checked after every event, as a kernel that inspects them
            // between entry points would: the tick's quiet ticks given first (changing
            // nothing else), so that no later event gives them.
            self.m.router.flush_ticks(&super::CPU0, &mut self.m.adapter);
            assert_eq!(self.m.adapter.take().count(), 0, "flush_ticks asked for nothing");
        }
        assert_eq!(self.m.adapter.dropped(), 0, "the recording overflowed");
        if let (Event::Call(p, raw), Some(answer)) = (event, answer) {
            self.check_answer(p, &raw, answer);
        }
        let running_after = self.m.router.running(irq_router::CpuId::BOOT).map(|p| p.index());
        let after = self.snapshot();
        for (i, action) in actions.iter().enumerate() {
            let later = &actions[i + 1..];
            match *action {
                Action::Log(record) => {
                    if let Some(q) = record.partition {
                        let q = usize::from(q);
                        let trap = matches!(record.kind, HmKind::Trap | HmKind::TrapInTrap);
                        if record.action == HmAction::Deliver
                            && !trap
                            && CONFIG.partitions[q].error_port.is_some()
                        {
                            self.known[q] += 1;
                        }
                    }
                }
                Action::Restart(q, _) => self.restarted[usize::from(q)] = true,
                Action::Upcall(q, upcall) => {
                    let q = usize::from(q);
                    assert_eq!(Some(q), window, "upcall outside the window: {event:?} {action:?}");
                    assert!(!idle_before[q], "upcall into an idle partition");
                    match upcall.port {
                        Some(raw) => {
                            let stopped = later.iter().any(|a| {
                                matches!(*a, Action::Restart(r, _) | Action::Idle(r)
                                    if usize::from(r) == q)
                            });
                            assert!(
                                running_before == Some(q) || running_after == Some(q) || stopped,
                                "upcall into a partition not running: {event:?}"
                            );
                            let i = usize::from(raw);
                            let cold = later.contains(&Action::Restart(q as u16, StartMode::Cold));
                            check_port_upcall(
                                event,
                                upcall.pending,
                                before[q][i],
                                after[q][i],
                                cold,
                            );
                        }
                        None => {
                            // The trapping partition is executing, even between a restart
                            // and its next entry (when the router does not count it as
                            // running).
                            assert!(
                                matches!(event, Event::Trap(p, _) if p == q),
                                "fault-handler upcall without a trap: {event:?}"
                            );
                        }
                    }
                }
                _ => {}
            }
        }
        self.check_tables(event);
    }

    fn check_answer(&mut self, p: usize, raw: &RawCall, answer: [u64; 2]) {
        let Some(result) = decode_reply(answer) else {
            panic!("answer {answer:?} to {raw:?} does not decode");
        };
        if let (Ok(Request::Notify { port }), Ok(_)) = (decode::<1>(raw), result) {
            let events = self.m.router.events();
            let channel = events.channel_from(pid(p), port).expect("a notify that succeeded");
            let destination = events.channel_ends(channel).destination.partition;
            self.known[usize::from(destination)] += 1;
        }
    }

    fn check_tables(&mut self, event: Event) {
        let may_tick = matches!(event, Event::Entry(..) | Event::Exit(_) | Event::Irq(CLOCK));
        for p in 0..P {
            let table = self.m.router.events().partition(pid(p));
            let stats = table.stats();
            let old = self.stats[p];
            for (name, new, old) in [
                ("raised", stats.raised, old.raised),
                ("delivered", stats.delivered, old.delivered),
                ("overflowed", stats.overflowed, old.overflowed),
                ("coalesced", stats.coalesced, old.coalesced),
                ("discarded", stats.discarded, old.discarded),
            ] {
                assert!(new >= old, "partition {p}: {name} went down: {old:?} -> {stats:?}");
            }
            self.stats[p] = stats;
            let known = self.known[p];
            assert!(stats.raised >= known, "partition {p}: raises lost: {known} > {stats:?}");
            let unexplained = stats.raised - known;
            assert!(
                unexplained >= self.unexplained[p],
                "partition {p}: raises lost at {event:?}: {stats:?}"
            );
            if !may_tick {
                assert_eq!(unexplained, self.unexplained[p], "partition {p}: raise from nowhere");
            }
            assert!(
                unexplained <= self.m.now + self.entries[p],
                "partition {p}: more ticks than the kernel's {}",
                self.m.now
            );
            self.unexplained[p] = unexplained;
            let deliverable = |port: Port<1>| {
                let s = table.status(port);
                s.binding.is_some() && s.pending > 0 && !s.masked && !s.in_service
            };
            let first = ports().find(|&port| deliverable(port));
            assert_eq!(table.next_deliverable(), first, "lookup disagrees with the ports");
        }
        let p = REPLAY;
        let cpu = self.m.router.partition_cpu(pid(p));
        if !self.restarted[p] && !cpu.in_window() {
            assert_eq!(
                self.unexplained[p],
                cpu.time().given(),
                "replay: timer raises differ from the ticks given at {event:?}"
            );
        }
    }
}

/// A port upcall: the port was deliverable before (unless the event was a call, which may
/// acknowledge, unmask or bind it first) and is in service after (unless a cold start
/// after the upcall reset the table).
fn check_port_upcall(
    event: Event,
    pending: u32,
    before: PortStatus,
    after: PortStatus,
    cold: bool,
) {
    assert!(pending > 0, "upcall for an empty port: {event:?}");
    if !matches!(event, Event::Call(..)) {
        assert!(
            before.binding.is_some() && !before.masked && !before.in_service,
            "upcall for a port that was not deliverable: {before:?} at {event:?}"
        );
    }
    if !cold {
        assert!(
            after.binding.is_some() && after.in_service && !after.masked,
            "delivered port not in service: {after:?} at {event:?}"
        );
        // A coalescing port's event leaves its pending bit as it goes into service (one
        // raised during the handler is pending again); the other modes keep their count.
        let coalescing = after.binding.is_some_and(|b| b.mode == notify_core::Mode::Coalescing);
        if !coalescing {
            assert!(after.pending >= pending, "pending went down in service: {after:?} {pending}");
        }
    }
}
