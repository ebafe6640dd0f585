//! Reference-model property test of the router: random sequences of hardware interrupts,
//! ticks (with the window switches of the cyclic schedule), guest cli/sti, hypercalls from
//! the running partition and traps, on the three-partition system of `common`.
//!
//! A plain model keeps, for every line and channel port, what the router must have done
//! with it (raised by fan-out within the storm budget and only while the line is
//! unmasked, taken, acknowledged, masked, detached, discarded by a cold start), and after
//! every step the test checks:
//! * nothing lost: every port's pending count is the model's, and for every port raised =
//!   delivered (the counts the guest's take and acknowledge calls returned) + pending +
//!   coalesced + discarded, where the discards of a cold start are those the
//!   health-monitor log reports (a coalescing port's pending bit is cleared as it goes into
//!   service: its event in service is held apart, and one raised during the service is
//!   delivered again after the acknowledgement);
//! * delivery only inside the partition's window, one upcall at a time, never to a masked
//!   port, and never while the guest's virtual interrupt flag was clear;
//! * zero drift under replay and warp (and collapse's given + dropped = elapsed): at every
//!   window entry, the time the partition was given is the kernel's time since it
//!   (re)started.

mod common;

use common::{
    Adapter, CHANNEL, CPU0, FRAME, LEVEL, LEVEL_PORT, SHARED, SHARED_PORT, STORM_PORT, STORMY,
    TIMER, WINDOW, boot, owner, pid, port, run, system,
};
use irq_router::adapter::{Action, StartMode};
use irq_router::config::HmKind;
use irq_router::hypercall::{ErrorCode, Request};
use irq_router::{Router, Trap};
use proptest::prelude::*;
use vcpu_state::SharedPage;

/// The ports the model follows: (partition, port, vector or None for the channel).
const TRACKED: [(usize, u16, Option<u8>); 6] = [
    (0, LEVEL_PORT, Some(LEVEL)),
    (0, SHARED_PORT, Some(SHARED)),
    (1, LEVEL_PORT, Some(LEVEL)),
    (1, SHARED_PORT, Some(SHARED)),
    (1, CHANNEL, None),
    (2, STORM_PORT, Some(STORMY)),
];
const STORM_BUDGET: u64 = 3;

#[derive(Clone, Debug)]
enum Op {
    Irq(u8),
    Ticks(u8),
    Sti,
    Cli,
    Take(usize),
    Ack(usize),
    Mask(usize),
    Unmask(usize),
    UpcallReturn,
    Enable,
    Notify,
    Detach(u8),
    Request(u8),
    Trap,
}

fn op() -> impl Strategy<Value = Op> {
    let tracked = 0..TRACKED.len();
    let vectors = prop_oneof![Just(LEVEL), Just(SHARED), Just(STORMY), Just(0x60u8)];
    prop_oneof![
        6 => vectors.clone().prop_map(Op::Irq),
        5 => (1..12u8).prop_map(Op::Ticks),
        2 => Just(Op::Sti),
        1 => Just(Op::Cli),
        3 => tracked.clone().prop_map(Op::Take),
        3 => tracked.clone().prop_map(Op::Ack),
        1 => tracked.clone().prop_map(Op::Mask),
        1 => tracked.prop_map(Op::Unmask),
        4 => Just(Op::UpcallReturn),
        1 => Just(Op::Enable),
        2 => Just(Op::Notify),
        1 => vectors.clone().prop_map(Op::Detach),
        1 => vectors.prop_map(Op::Request),
        1 => Just(Op::Trap),
    ]
}

#[derive(Clone, Copy, Debug, Default)]
struct PortModel {
    count: u32,
    in_service: bool,
    /// A coalescing port in service holds the event being handled apart from `count`.
    held: bool,
    masked: bool,
    unbound: bool,
    raised: u64,
    delivered: u64,
    coalesced: u64,
    discarded: u64,
}

struct Model {
    now: u64,
    ports: [PortModel; TRACKED.len()],
    line_masked: [bool; 256],
    storm_frame: u64,
    storm_count: u64,
    /// Tick each partition last (re)started at.
    epoch: [u64; 3],
    in_upcall: [bool; 3],
    idle: [bool; 3],
    /// Partition 0's (replay) timer count when its time account last restarted: after
    /// that, its timer port holds this plus every tick it was given.
    timer_base: u64,
}

/// The level lines' ports coalesce (`common`'s configuration); the others count.
fn coalescing(q: u16) -> bool {
    q == LEVEL_PORT
}

fn slot(p: usize, q: u16) -> Option<usize> {
    TRACKED.iter().position(|&(tp, tq, _)| tp == p && tq == q)
}

impl Model {
    fn raise(&mut self, p: usize, q: u16, coalescing: bool) {
        let Some(i) = slot(p, q) else { return };
        let m = &mut self.ports[i];
        if m.unbound {
            return;
        }
        m.raised += 1;
        if coalescing && m.count == 1 {
            m.coalesced += 1;
        } else {
            m.count += 1;
        }
    }

    /// What the fan-out of one interrupt on an unmasked `vector` must do.
    fn irq(&mut self, vector: u8) {
        match vector {
            LEVEL => {
                self.raise(0, LEVEL_PORT, true);
                self.raise(1, LEVEL_PORT, true);
            }
            SHARED => {
                self.raise(0, SHARED_PORT, false);
                self.raise(1, SHARED_PORT, false);
            }
            STORMY => {
                let frame = self.now / FRAME;
                if frame != self.storm_frame {
                    (self.storm_frame, self.storm_count) = (frame, 0);
                }
                self.storm_count += 1;
                if self.storm_count <= STORM_BUDGET {
                    self.raise(2, STORM_PORT, false);
                }
            }
            _ => {}
        }
    }

    fn cold_start(&mut self, p: usize) -> u64 {
        let mut discarded = 0;
        for (i, &(tp, _, _)) in TRACKED.iter().enumerate() {
            if tp == p {
                let m = &mut self.ports[i];
                let n = u64::from(m.count) + u64::from(m.held);
                m.discarded += n;
                discarded += n;
                *m = PortModel {
                    count: 0,
                    in_service: false,
                    held: false,
                    masked: false,
                    unbound: false,
                    ..*m
                };
            }
        }
        self.in_upcall[p] = false;
        discarded
    }
}

struct Harness {
    router: Box<Router<3, 1>>,
    pages: &'static [SharedPage; 3],
    adapter: Adapter,
    model: Model,
}

impl Harness {
    fn new() -> Self {
        let (router, pages) = system();
        let mut adapter = Adapter::new();
        boot(&router, &mut adapter);
        let _ = adapter.take().count();
        let model = Model {
            now: 0,
            ports: [PortModel::default(); TRACKED.len()],
            line_masked: [false; 256],
            storm_frame: 0,
            storm_count: 0,
            epoch: [0; 3],
            in_upcall: [false; 3],
            idle: [false; 3],
            timer_base: 0,
        };
        Self { router, pages, adapter, model }
    }

    fn running(&self) -> usize {
        owner(self.model.now)
    }

    fn call(&mut self, request: Request<1>) -> Result<u64, ErrorCode> {
        let p = self.running();
        self.router.call(&CPU0, pid(p), request, &mut self.adapter)
    }

    /// All events of partition `p` not yet consumed, in service included (for the
    /// cold-start record).
    fn pending_all(&self, p: usize) -> u64 {
        self.router.events().partition(pid(p)).pending_total()
    }

    fn step(&mut self, op: &Op) {
        let p = self.running();
        let guest_op = !matches!(op, Op::Irq(_) | Op::Ticks(_));
        if guest_op && self.model.idle[p] {
            // An idled partition does not run: it makes no calls and takes no traps.
            return;
        }
        let open_before = self.pages[p].is_open();
        let pending_before: Vec<u64> = (0..3).map(|q| self.pending_all(q)).collect();
        let mut opens = false;
        match *op {
            Op::Irq(vector) => {
                if !self.model.line_masked[vector as usize] {
                    self.adapter.now = self.model.now;
                    self.router.on_hardware_irq(&CPU0, vector, &mut self.adapter);
                    self.model.irq(vector);
                }
            }
            Op::Ticks(n) => {
                let from = self.model.now;
                let to = from + u64::from(n);
                for now in from + 1..=to {
                    // The scheduler does not enter a partition its health monitor idled.
                    self.model.now = now;
                    if now % WINDOW == 0 && self.model.idle[owner(now)] {
                        self.adapter.now = now;
                        self.router.on_partition_exit(
                            &CPU0,
                            pid(owner(now - 1)),
                            now,
                            &mut self.adapter,
                        );
                        continue;
                    }
                    run(&self.router, &mut self.adapter, now - 1, now);
                    if now % WINDOW == 0 {
                        self.check_drift(owner(now), now);
                    }
                    self.absorb();
                }
                // The tables as the CPU's next entry point sees them (with its quiet ticks).
                self.router.flush_ticks(&CPU0, &mut self.adapter);
                return self.check_after(open_before, p, true, &pending_before);
            }
            Op::Sti => {
                opens = true;
                if self.pages[p].guest().sti() {
                    let _ = self.call(Request::EnableIrqs);
                }
            }
            Op::Cli => self.pages[p].guest().cli(),
            Op::Take(i) | Op::Ack(i) => {
                let (tp, q, _) = TRACKED[i];
                let take = matches!(op, Op::Take(_));
                let request = if take {
                    Request::TakeCount { port: port(q) }
                } else {
                    Request::Acknowledge { port: port(q) }
                };
                let answer = self.router.call(&CPU0, pid(tp), request, &mut self.adapter);
                let m = &mut self.model.ports[i];
                let expected = if self.model.idle[tp] {
                    // Stopped by its health monitor: its calls belong to a run that is over.
                    Err(ErrorCode::OutsideWindow)
                } else if m.unbound {
                    Err(ErrorCode::NotBound)
                } else if take {
                    let n = m.count + u32::from(m.held);
                    (m.count, m.in_service, m.delivered) = (0, false, m.delivered + u64::from(n));
                    m.held = false;
                    Ok(u64::from(n))
                } else if m.held {
                    // The event in service; one raised during the service stays pending.
                    (m.in_service, m.held, m.delivered) = (false, false, m.delivered + 1);
                    Ok(u64::from(m.count))
                } else if m.in_service {
                    let one = m.count.min(1);
                    (m.count, m.in_service, m.delivered) =
                        (m.count - one, false, m.delivered + u64::from(one));
                    Ok(u64::from(m.count))
                } else {
                    Err(ErrorCode::NotInService)
                };
                assert_eq!(answer, expected, "{op:?}");
            }
            Op::Mask(i) | Op::Unmask(i) => {
                let (tp, q, _) = TRACKED[i];
                let mask = matches!(op, Op::Mask(_));
                let request = if mask {
                    Request::Mask { port: port(q) }
                } else {
                    Request::Unmask { port: port(q) }
                };
                let answer = self.router.call(&CPU0, pid(tp), request, &mut self.adapter);
                let m = &mut self.model.ports[i];
                if self.model.idle[tp] {
                    assert_eq!(answer, Err(ErrorCode::OutsideWindow), "{op:?}");
                } else if m.unbound {
                    assert_eq!(answer, Err(ErrorCode::NotBound), "{op:?}");
                } else {
                    assert!(answer.is_ok(), "{op:?}: {answer:?}");
                    m.masked = mask;
                }
            }
            Op::UpcallReturn => {
                opens = true;
                let answer = self.call(Request::UpcallReturn);
                if self.model.in_upcall[p] {
                    assert!(answer.is_ok(), "{op:?}: {answer:?}");
                    self.model.in_upcall[p] = false;
                }
            }
            Op::Enable => {
                opens = true;
                let _ = self.call(Request::EnableIrqs);
            }
            Op::Notify => {
                let answer = self.call(Request::Notify { port: port(CHANNEL) });
                if p == 0 {
                    assert_eq!(answer, Ok(0));
                    self.model.raise(1, CHANNEL, false);
                } else {
                    assert!(answer.is_err(), "only partition 0 owns the channel");
                }
            }
            Op::Detach(vector) | Op::Request(vector) => {
                let target = TRACKED.iter().position(|&(tp, _, v)| tp == p && v == Some(vector));
                let detach = matches!(op, Op::Detach(_));
                let answer = if detach {
                    self.call(Request::DetachIrq { vector })
                } else {
                    let q = target.map_or(SHARED_PORT, |i| TRACKED[i].1);
                    self.call(Request::RequestIrq { vector, port: port(q) })
                };
                match target {
                    None => assert_eq!(answer, Err(ErrorCode::PermissionDenied), "{op:?} by {p}"),
                    Some(i) => {
                        let m = &mut self.model.ports[i];
                        let expected = match (detach, m.unbound) {
                            (true, true) => Err(ErrorCode::NotBound),
                            (false, false) => Err(ErrorCode::AlreadyBound),
                            (true, false) => {
                                // Handed back to the caller: the answer is the count.
                                let n = m.count + u32::from(m.held);
                                m.discarded += u64::from(n);
                                (m.count, m.in_service, m.unbound) = (0, false, true);
                                m.held = false;
                                Ok(u64::from(n))
                            }
                            (false, true) => {
                                m.unbound = false;
                                Ok(0)
                            }
                        };
                        assert_eq!(answer, expected, "{op:?} by {p}");
                    }
                }
                // A detached level line no longer waits for this partition.
            }
            Op::Trap => {
                self.adapter.now = self.model.now;
                let trap = Trap { vector: 14, error_code: 2, address: 0x1000 };
                self.router.on_trap(&CPU0, pid(p), trap, &mut self.adapter);
            }
        }
        self.check_after(open_before || opens, p, false, &pending_before);
    }

    /// Applies what the adapter saw to the model (line masks, restarts, idles, upcalls)
    /// and checks each upcall.
    fn absorb(&mut self) -> Vec<Action> {
        let mut actions: Vec<Action> = self.adapter.take().collect();
        // A kick of the CPU: the kernel resumes the partition running there before it
        // returns to it (which also ends a wait).
        let mut kicked = actions.iter().any(|a| matches!(a, Action::Kick(_)));
        while kicked {
            self.router.on_resume(&CPU0, &mut self.adapter);
            let resumed: Vec<Action> = self.adapter.take().collect();
            kicked = resumed.iter().any(|a| matches!(a, Action::Kick(_)));
            actions.extend(resumed);
        }
        for action in &actions {
            match *action {
                Action::Mask(v) => self.model.line_masked[v as usize] = true,
                Action::Unmask(v) => self.model.line_masked[v as usize] = false,
                Action::Idle(p) => self.model.idle[p as usize] = true,
                Action::Upcall(p, upcall) => {
                    let p = p as usize;
                    assert_eq!(
                        p,
                        owner(self.model.now),
                        "an upcall outside the partition's window"
                    );
                    if let Some(q) = upcall.port {
                        assert!(
                            !self.model.in_upcall[p],
                            "a second upcall while one is in progress"
                        );
                        self.model.in_upcall[p] = true;
                        if let Some(i) = slot(p, q) {
                            let m = &mut self.model.ports[i];
                            assert!(!m.masked, "an upcall for masked port {q} of partition {p}");
                            assert!(m.count > 0 && !m.in_service && !m.unbound, "port {q}: {m:?}");
                            m.in_service = true;
                            if coalescing(q) {
                                (m.count, m.held) = (m.count - 1, true);
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        actions
    }

    fn check_after(&mut self, open: bool, p: usize, ticks: bool, pending_before: &[u64]) {
        let actions = self.absorb();
        for action in &actions {
            match *action {
                Action::Upcall(q, upcall) if upcall.port.is_some() && !ticks => {
                    assert!(open || q as usize != p, "an upcall while the flag was clear");
                }
                Action::Restart(q, mode) => {
                    let q = q as usize;
                    if q == 0 {
                        self.model.timer_base = match mode {
                            StartMode::Cold => 0,
                            StartMode::Warm => u64::from(
                                self.router.events().partition(pid(0)).status(port(TIMER)).pending,
                            ),
                        };
                    }
                    self.model.epoch[q] = self.model.now;
                    self.model.in_upcall[q] = false;
                    if mode == StartMode::Warm {
                        // The new run ends the service of the old run's upcalls.
                        for (i, &(tp, _, _)) in TRACKED.iter().enumerate() {
                            if tp == q {
                                let m = &mut self.model.ports[i];
                                m.in_service = false;
                                if m.held {
                                    // Cancelled: back to pending, merging with an event
                                    // raised during the service.
                                    m.held = false;
                                    if m.count == 1 {
                                        m.coalesced += 1;
                                    }
                                    m.count = 1;
                                }
                            }
                        }
                    }
                    if mode == StartMode::Cold {
                        self.model.cold_start(q);
                        let record = actions.iter().find_map(|a| match a {
                            Action::Log(r)
                                if r.partition == Some(q as u16)
                                    && r.kind != HmKind::UpcallFault =>
                            {
                                Some(*r)
                            }
                            _ => None,
                        });
                        if let Some(record) = record {
                            assert_eq!(
                                record.discarded, pending_before[q],
                                "the log accounts for every discarded event"
                            );
                        }
                    }
                }
                _ => {}
            }
        }
        self.check_ports();
    }

    fn check_ports(&self) {
        for (i, &(p, q, _)) in TRACKED.iter().enumerate() {
            let s = self.router.events().partition(pid(p)).status(port(q));
            let m = self.model.ports[i];
            assert_eq!(s.pending, m.count, "partition {p} port {q}: pending");
            assert_eq!(s.in_service, m.in_service, "partition {p} port {q}: in service");
            assert_eq!(s.masked, m.masked, "partition {p} port {q}: mask");
            assert_eq!(s.binding.is_none(), m.unbound, "partition {p} port {q}: binding");
            assert_eq!(
                m.raised,
                m.delivered + u64::from(m.count) + u64::from(m.held) + m.coalesced + m.discarded,
                "partition {p} port {q}: an event was lost"
            );
        }
    }

    fn check_drift(&self, p: usize, now: u64) {
        let cpu = self.router.partition_cpu(pid(p));
        if !cpu.in_window() {
            return;
        }
        let time = cpu.time();
        let elapsed = now - self.model.epoch[p];
        assert_eq!(
            time.given() + time.dropped(),
            elapsed,
            "partition {p} at {now}: time accounted"
        );
        if p < 2 {
            assert_eq!(time.dropped(), 0, "replay and warp drop nothing: zero drift");
        }
        if p == 0 {
            // Replay: every tick given is one event on the timer port (the guest model
            // never takes the timer, so they are all still there).
            let timer = self.router.events().partition(pid(0)).status(port(TIMER)).pending;
            assert_eq!(
                u64::from(timer),
                self.model.timer_base + time.given(),
                "timer events at {now}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn router_matches_the_model(ops in proptest::collection::vec(op(), 1..150)) {
        let mut h = Harness::new();
        for op in &ops {
            h.step(op);
        }
    }
}
