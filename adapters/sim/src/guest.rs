//! The partitions' guests: scripted programs that use the guest library
//! ([`irq_guest::Hypervisor`], over a transport that enters the engine on the
//! partition's CPU) and the shared page the way the guest library does (cli and sti as
//! single stores, the check of "upcall pending" after sti as a step of its own).
//!
//! A guest boots (registers its upcall entry and fault handler, opens its vCPU), then
//! at each of its steps either runs its handler for the innermost upcall (consume the
//! event, then return) or does one thing its profile draws: cli, sti, notify, mask or
//! unmask its line port, idle, read the clock, trap, `exec_stop_error`, a hypercall that
//! does not decode, scribble on its page, or nothing.

use core::num::NonZeroU64;

use irq_guest::{Error as GuestError, Hypervisor, Transport};
use irq_router::adapter::Upcall;
use irq_router::config::HmKind;
use irq_router::hypercall::{ErrorCode, RawCall};
use irq_router::vcpu::{Guest, PAGE_LEN};
use irq_router::{CatchUpPolicy, Port, Trap};

use crate::books::Charge;
use crate::isolation::Happened;
use crate::machine::{Call, Sim, State, pid};
use crate::rng::{Stream, id};
use crate::system::{CHANNEL_BUDGET, FRAME, P, STORMING, memory, port};
use crate::trace::note;

/// The virtual interrupt flag as the guest program last set it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flag {
    Open,
    Closed,
    /// It scribbled on its page: anything goes.
    Unknown,
}

/// Where a guest's program is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Booting: the next boot step.
    Boot(u8),
    Run,
    /// Hung: never runs again.
    Hung,
    /// Idled by its health monitor.
    Idled,
}

/// An upcall the guest is handling.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Frame {
    port: Option<u16>,
    consumed: bool,
    /// The flag the upcall's return restores.
    restores: Flag,
}

/// One guest.
#[derive(Clone, Debug)]
pub(crate) struct GuestState {
    pub(crate) phase: Phase,
    pub(crate) frames: Vec<Frame>,
    pub(crate) flag: Flag,
    /// Between the store of sti and its check of "upcall pending".
    pub(crate) mid_sti: bool,
    /// Its latest scribble left its page open: opened without sti's check (the engine
    /// cannot know), until its next sti, cli or upcall.
    pub(crate) opened_by_scribble: bool,
    pub(crate) line_masked: bool,
    /// Inside its window (the kernel entered it and has not left it).
    pub(crate) inside: bool,
    /// The kernel could not build its last upcall: the event waits, flagged, for its
    /// next sti or entry (by design: retrying is the health monitor's business).
    pub(crate) refused: bool,
    rng: Stream,
    /// The guest's own injected faults (refused upcalls), on its own stream.
    pub(crate) faults: Stream,
}

impl GuestState {
    pub(crate) fn new(seed: u64, p: usize) -> Self {
        Self {
            phase: Phase::Boot(0),
            frames: Vec::new(),
            flag: Flag::Closed,
            mid_sti: false,
            opened_by_scribble: false,
            line_masked: false,
            inside: false,
            refused: false,
            rng: Stream::new(seed, id::GUEST + p as u64),
            faults: Stream::new(seed, id::GUEST + 64 + p as u64),
        }
    }

    /// It can take steps (it is not hung or idled).
    pub(crate) fn runnable(&self) -> bool {
        matches!(self.phase, Phase::Boot(_) | Phase::Run)
    }

    /// Steps for the next tick.
    pub(crate) fn quota(&mut self, speed: u8) -> u32 {
        1 + self.rng.below(u64::from(speed.max(1))) as u32
    }

    /// The kernel injected `upcall` (during a flash, its return leaves the flag closed).
    pub(crate) fn delivered(&mut self, upcall: &Upcall, flash: bool) {
        let restores = if flash || upcall.port.is_none() && self.flag == Flag::Closed {
            Flag::Closed
        } else if self.flag == Flag::Unknown {
            Flag::Unknown
        } else {
            Flag::Open
        };
        self.refused = false;
        self.opened_by_scribble = false;
        self.frames.push(Frame { port: upcall.port, consumed: false, restores });
        if upcall.port.is_some() {
            self.flag = Flag::Closed;
        }
    }

    /// The kernel restarted it: it boots again.
    pub(crate) fn restarted(&mut self) {
        if self.phase != Phase::Hung {
            self.phase = Phase::Boot(0);
        }
        self.frames.clear();
        self.refused = false;
        self.flag = Flag::Closed;
        self.mid_sti = false;
        self.opened_by_scribble = false;
        self.line_masked = false;
    }

    /// Its health monitor idled it.
    pub(crate) fn idled(&mut self) {
        self.phase = Phase::Idled;
        self.frames.clear();
        self.mid_sti = false;
    }
}

/// The guest library's transport in the simulator: a hypercall enters the engine on the
/// partition's CPU.
struct SimTransport<'s, 'r, const C: usize, const CW: usize, const H: usize> {
    sim: &'s Sim<'r, C, CW, H>,
    cpu: usize,
    p: usize,
    call: Call,
}

impl<const C: usize, const CW: usize, const H: usize> Transport for SimTransport<'_, '_, C, CW, H> {
    fn enter(&self, raw: &RawCall) -> Result<[u64; 2], GuestError> {
        let (sim, p) = (self.sim, self.p);
        Ok(sim.engine(self.cpu, self.call, |r, l, a| r.hypercall(l, pid(p), raw, a)))
    }
}

/// What one guest step does.
enum Act {
    Boot(u8),
    StiCheck,
    Handle(Frame),
    Cli,
    Sti,
    Notify,
    Mask(bool),
    Idle,
    ReadClock,
    Trap,
    StopError,
    BadCall,
    Scribble,
    Flash,
    Hang,
    Nothing,
}

impl<const C: usize, const CW: usize, const H: usize> Sim<'_, C, CW, H> {
    fn hv(&self, cpu: usize, p: usize, call: Call) -> Hypervisor<SimTransport<'_, '_, C, CW, H>> {
        Hypervisor::new(SimTransport { sim: self, cpu, p, call })
    }

    fn plain(p: usize) -> Call {
        Call::Hypercall { p, opens: false, flash: false }
    }

    fn opening(p: usize) -> Call {
        Call::Hypercall { p, opens: true, flash: false }
    }

    /// One step of partition `p`'s guest, on its CPU `cpu`.
    pub(crate) fn guest_step(&self, cpu: usize, p: usize) {
        let g = &self.scenario.guests[p];
        let act = {
            let mut st = self.st.borrow_mut();
            let time = st.time;
            let draining = st.draining;
            let guest = &mut st.guests[p];
            match guest.phase {
                Phase::Hung | Phase::Idled => return,
                _ if !draining && g.hang_at.is_some_and(|at| time >= at) => Act::Hang,
                Phase::Boot(k) => Act::Boot(k),
                Phase::Run if guest.mid_sti => Act::StiCheck,
                Phase::Run => match guest.frames.last() {
                    Some(&frame) => Act::Handle(frame),
                    None if draining => match (guest.line_masked, guest.flag) {
                        (true, _) => Act::Mask(false),
                        (_, Flag::Open) => Act::Nothing,
                        _ => Act::Sti,
                    },
                    None => {
                        let r = &mut guest.rng;
                        let roll = r.below(1000) as u16;
                        let mut at = 0u16;
                        let mut pick = |permille: u16| {
                            at = at.saturating_add(permille);
                            roll < at
                        };
                        let closed = guest.flag != Flag::Open;
                        if pick(if closed { 300 } else { g.cli }) {
                            if closed { Act::Sti } else { Act::Cli }
                        } else if pick(g.notify) {
                            Act::Notify
                        } else if pick(g.mask) {
                            Act::Mask(!guest.line_masked)
                        } else if pick(g.idle) {
                            Act::Idle
                        } else if pick(g.trap) {
                            Act::Trap
                        } else if pick(g.stop_error) {
                            Act::StopError
                        } else if pick(g.bad_call) {
                            Act::BadCall
                        } else if pick(g.scribble) {
                            Act::Scribble
                        } else if pick(30) {
                            Act::Flash
                        } else if pick(30) {
                            Act::ReadClock
                        } else if self.storm
                            && self.scenario.storm
                            && !self.isolated
                            && p == STORMING
                            && pick(300)
                        {
                            Act::Notify
                        } else {
                            Act::Nothing
                        }
                    }
                },
            }
        };
        // A restart in the middle of service: exec_stop_error from a handler.
        let act = match act {
            Act::Handle(frame) if !self.draining() && self.guest_draws(p, g.stop_error) => {
                let _ = frame;
                Act::StopError
            }
            act => act,
        };
        self.act(cpu, p, act);
    }

    fn draining(&self) -> bool {
        self.st.borrow().draining
    }

    fn guest_draws(&self, p: usize, permille: u16) -> bool {
        self.st.borrow_mut().guests[p].rng.permille(permille / 2)
    }

    fn act(&self, cpu: usize, p: usize, act: Act) {
        let g = &self.scenario.guests[p];
        let page = Guest::new(&self.pages[p]);
        let (start, _) = memory(p);
        match act {
            Act::Boot(k) => {
                let hv = self.hv(cpu, p, Self::plain(p));
                let next = match k {
                    0 => {
                        let r = hv.register_upcall(NonZeroU64::new(start + 0x100));
                        self.noted(p, format!("register its upcall entry: {r:?}"));
                        Phase::Boot(if g.fault_handler { 1 } else { 2 })
                    }
                    1 => {
                        let r = hv.register_fault_handler(NonZeroU64::new(start + 0x200));
                        self.noted(p, format!("register its fault handler: {r:?}"));
                        Phase::Boot(2)
                    }
                    _ => {
                        self.sti_store(p);
                        Phase::Run
                    }
                };
                let mut st = self.st.borrow_mut();
                if matches!(st.guests[p].phase, Phase::Boot(_)) {
                    st.guests[p].phase = next;
                }
            }
            Act::Sti => self.sti_store(p),
            Act::StiCheck => {
                let pending = page.is_open() && page.upcall_pending();
                {
                    let mut st = self.st.borrow_mut();
                    st.guests[p].mid_sti = false;
                    note!(
                        st,
                        [0x200, p, pending],
                        "partition {p}: sti's check: upcall pending {pending}"
                    );
                }
                if pending {
                    let r = self.hv(cpu, p, Self::opening(p)).enable_irqs();
                    self.noted(p, format!("asks for delivery: {r:?}"));
                }
            }
            Act::Cli => {
                page.cli();
                let mut st = self.st.borrow_mut();
                st.guests[p].flag = Flag::Closed;
                st.guests[p].opened_by_scribble = false;
                note!(st, [0x201, p], "partition {p}: cli");
            }
            Act::Handle(frame) => self.handle(cpu, p, frame),
            Act::Notify => {
                let to = ((p + 1) % P, usize::from(port::IN));
                let charge = {
                    let mut st = self.st.borrow_mut();
                    let frame = st.cpus[cpu].now / FRAME;
                    st.books.inflight[to.0][to.1] += 1;
                    (p == STORMING).then(|| st.books.channel.charge(frame, CHANNEL_BUDGET))
                };
                let (r, ctx) =
                    self.hv_ctx(cpu, p, Self::plain(p), |hv| hv.notify(u32::from(port::OUT)));
                let mut st = self.st.borrow_mut();
                st.books.inflight[to.0][to.1] -= 1;
                note!(st, [0x202, p, r.is_ok()], "partition {p}: notify: {r:?}");
                let storms = ctx.iter().filter(|k| **k == HmKind::Storm).count();
                match (r, charge) {
                    (Ok(_), None | Some(Charge::Within)) => {
                        st.books.offered[to.0][to.1] += 1;
                        st.log(to.0, Happened::Raised { port: port::IN });
                    }
                    (Err(GuestError::Kernel(ErrorCode::OverBudget)), Some(Charge::Exceeded))
                        if storms == 1 => {}
                    (Err(GuestError::Kernel(ErrorCode::OverBudget)), Some(Charge::Over))
                        if storms == 0 => {}
                    (Err(GuestError::Kernel(ErrorCode::OutsideWindow)), _) => {}
                    (r, charge) => st.fail(format!(
                        "partition {p}'s notify answered {r:?} with {storms} storm records; its channel's budget says {charge:?}"
                    )),
                }
            }
            Act::Mask(mask) => {
                let hv = self.hv(cpu, p, Self::plain(p));
                let r = if mask {
                    hv.mask(u32::from(port::LINE))
                } else {
                    hv.unmask(u32::from(port::LINE))
                };
                let mut st = self.st.borrow_mut();
                if r.is_ok() {
                    st.guests[p].line_masked = mask;
                }
                note!(
                    st,
                    [0x203, p, mask],
                    "partition {p}: {} its line port: {r:?}",
                    if mask { "masks" } else { "unmasks" }
                );
            }
            Act::Idle => {
                let r = self.hv(cpu, p, Self::plain(p)).idle();
                self.noted(p, format!("idles: {r:?}"));
            }
            Act::ReadClock => {
                let r = self.hv(cpu, p, Self::plain(p)).read_clock();
                self.noted(p, format!("reads the clock: {r:?}"));
            }
            Act::Flash => {
                let r = self.hv(cpu, p, Call::Hypercall { p, opens: true, flash: true }).flash();
                let mut st = self.st.borrow_mut();
                if r.is_ok() {
                    st.guests[p].flag = Flag::Closed;
                }
                note!(st, [0x204, p], "partition {p}: flash: {r:?}");
            }
            Act::Trap => {
                let trap = Trap { vector: 13, error_code: 0, address: start + 0x300 };
                {
                    let mut st = self.st.borrow_mut();
                    st.books.traps[p] += 1;
                    note!(st, [0x205, p], "partition {p}: traps (general protection)");
                }
                let ((), ctx) =
                    self.engine_ctx(cpu, Call::Trap(p), |r, l, a| r.on_trap(l, pid(p), trap, a));
                let traps =
                    ctx.iter().filter(|k| matches!(k, HmKind::Trap | HmKind::TrapInTrap)).count();
                let mut st = self.st.borrow_mut();
                if traps != 1 && !st.stopped {
                    st.fail(format!("a trap of partition {p} made {traps} trap records"));
                }
            }
            Act::StopError => {
                st_books(self, |st| st.books.stop_errors[p] += 1);
                let (r, ctx) = self.hv_ctx(cpu, p, Self::plain(p), |hv| hv.exec_stop_error(7));
                let errors = ctx.iter().filter(|k| **k == HmKind::PartitionError).count();
                let mut st = self.st.borrow_mut();
                note!(st, [0x206, p], "partition {p}: exec_stop_error: {r:?}");
                if r.is_ok() && errors != 1 {
                    st.fail(format!("exec_stop_error of partition {p} made {errors} records"));
                }
            }
            Act::BadCall => {
                let number = {
                    let mut st = self.st.borrow_mut();
                    st.books.bad_calls[p] += 1;
                    0x7f00_0000 + st.guests[p].rng.below(1 << 16)
                };
                let raw = RawCall { number, args: [number; 4] };
                let (r, ctx) = {
                    let transport = SimTransport { sim: self, cpu, p, call: Self::plain(p) };
                    let reply = transport.enter(&raw);
                    let st = self.st.borrow();
                    let _ = &st;
                    (reply, self.last_records(cpu))
                };
                let illegal = ctx.iter().filter(|k| **k == HmKind::IllegalHypercall).count();
                let mut st = self.st.borrow_mut();
                note!(
                    st,
                    [0x207, p, number],
                    "partition {p}: hypercall {number:#x} (no such call): {r:?}"
                );
                if illegal != 1 && !st.stopped {
                    st.fail(format!(
                        "an undecodable hypercall of partition {p} made {illegal} records"
                    ));
                }
            }
            Act::Scribble => {
                let mut bytes = self.pages[p].to_bytes();
                let mut st = self.st.borrow_mut();
                let n = 1 + st.guests[p].rng.below(4);
                for _ in 0..n {
                    let at = st.guests[p].rng.below(PAGE_LEN as u64) as usize;
                    bytes[at] = st.guests[p].rng.word() as u8;
                }
                self.pages[p].write_bytes(&bytes);
                st.guests[p].flag = Flag::Unknown;
                st.guests[p].opened_by_scribble = self.pages[p].is_open();
                note!(st, [0x208, p], "partition {p}: scribbles on its page");
            }
            Act::Hang => {
                let mut st = self.st.borrow_mut();
                st.guests[p].phase = Phase::Hung;
                note!(st, [0x209, p], "partition {p}: hangs");
            }
            Act::Nothing => {}
        }
    }

    /// sti's store (its check is the guest's next step).
    fn sti_store(&self, p: usize) {
        self.st.borrow_mut().guests[p].refused = false;
        let mut bytes = self.pages[p].to_bytes();
        bytes[irq_router::vcpu::SharedPage::UPCALL_MASK_OFFSET] = 0;
        self.pages[p].write_bytes(&bytes);
        let mut st = self.st.borrow_mut();
        let guest = &mut st.guests[p];
        guest.mid_sti = true;
        guest.opened_by_scribble = false;
        if guest.flag != Flag::Unknown {
            guest.flag = Flag::Open;
        }
        note!(st, [0x20a, p], "partition {p}: sti (store)");
    }

    /// The handler's step for `frame`: consume its event, then return.
    fn handle(&self, cpu: usize, p: usize, frame: Frame) {
        let g = &self.scenario.guests[p];
        let Some(q) = frame.port else {
            // A trap delivered to the fault handler: it returns.
            self.upcall_return(cpu, p);
            return;
        };
        if frame.consumed {
            self.upcall_return(cpu, p);
            return;
        }
        if let Some(top) = self.st.borrow_mut().guests[p].frames.last_mut() {
            top.consumed = true;
        }
        let hv = self.hv(cpu, p, Self::opening(p));
        let level = q == port::LEVEL;
        if level && !g.acks_level && !self.draining() {
            self.noted(p, "does not acknowledge the level line".to_string());
            return;
        }
        if level {
            // The model learns of the acknowledgement before the engine acts on it (it
            // may unmask inside the call).
            let table = self.router.events().partition(pid(p));
            let in_service =
                Port::<1>::new(u32::from(q)).is_ok_and(|port| table.status(port).in_service);
            if in_service {
                let mut st = self.st.borrow_mut();
                st.books.level.owing &= !(1 << p);
                st.ctl.set_level(false);
            }
        }
        let taken = if level || !g.takes {
            hv.acknowledge(u32::from(q)).map(|_| 1)
        } else {
            hv.take_count(u32::from(q))
        };
        let mut st = self.st.borrow_mut();
        let n = *taken.as_ref().unwrap_or(&0);
        st.books.taken[p][usize::from(q)] += n;
        st.log(p, Happened::Consumed { port: q, count: n });
        if q == port::TIMER {
            st.books.timer_taken[p] += n;
        }
        note!(st, [0x210, p, q, n], "partition {p}: handler of port {q} consumes {taken:?}");
        drop(st);
        if q == port::PING && taken.is_ok() {
            let r = hv.ping_answer();
            self.noted(p, format!("answers its ping: {r:?}"));
        }
        let _ = g.catch_up == CatchUpPolicy::Warp;
    }

    fn upcall_return(&self, cpu: usize, p: usize) {
        let frame = self.st.borrow_mut().guests[p].frames.pop();
        let r = self.hv(cpu, p, Self::opening(p)).upcall_return();
        let mut st = self.st.borrow_mut();
        if r.is_ok()
            && let Some(frame) = frame
            && st.guests[p].frames.is_empty()
            && st.guests[p].flag != Flag::Unknown
        {
            st.guests[p].flag = frame.restores;
        }
        note!(st, [0x211, p, r.is_ok()], "partition {p}: upcall return: {r:?}");
    }

    fn noted(&self, p: usize, what: String) {
        let mut st = self.st.borrow_mut();
        note!(st, [0x2ff, p], "partition {p}: {what}");
    }

    /// A hypercall through the guest library, with the kinds of the records it made.
    fn hv_ctx<R>(
        &self,
        cpu: usize,
        p: usize,
        call: Call,
        f: impl FnOnce(&Hypervisor<SimTransport<'_, '_, C, CW, H>>) -> R,
    ) -> (R, Vec<HmKind>) {
        let hv = self.hv(cpu, p, call);
        let r = f(&hv);
        (r, self.last_records(cpu))
    }

    /// An engine call, with the kinds of the records it made.
    fn engine_ctx<R>(
        &self,
        cpu: usize,
        call: Call,
        f: impl FnOnce(
            &crate::machine::Engine<C, CW, H>,
            &irq_router::Local<'_, C>,
            &mut crate::adapter::SimAdapter<'_, '_, C, CW, H>,
        ) -> R,
    ) -> (R, Vec<HmKind>) {
        let r = self.engine(cpu, call, f);
        (r, self.last_records(cpu))
    }

    /// The kinds of the records the last engine call of `cpu` made.
    fn last_records(&self, cpu: usize) -> Vec<HmKind> {
        self.st.borrow().last_records[cpu].clone()
    }
}

fn st_books<const C: usize, const CW: usize, const H: usize>(
    sim: &Sim<'_, C, CW, H>,
    f: impl FnOnce(&mut State),
) {
    f(&mut sim.st.borrow_mut());
}
