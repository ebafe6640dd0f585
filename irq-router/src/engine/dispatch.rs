//! Hypercalls: decode the partition's registers, check its permissions, act, answer.
//! Every call has an answer; nothing a partition passes can panic the engine or touch
//! another partition's state.

use core::num::NonZeroU64;

use notify_core::{Binding, PartitionEvents, PartitionId, Port, Source};

use super::budget::Charge;
use super::cpu::Local;
use super::{Mode, PartitionState, Router};
use crate::adapter::KernelAdapter;
use crate::config::HmKind;
use crate::hypercall::{
    ABI_VERSION, ErrorCode, HypercallResult, RawCall, Request, decode, encode, start_reason_value,
};

impl<const P: usize, const W: usize, const C: usize, const CW: usize, const H: usize>
    Router<P, W, C, CW, H>
{
    /// A hypercall from partition `p`, on its CPU `cpu`, with the registers the adapter
    /// read: decoded, dispatched, answered as the two return registers
    /// `[status, value]`. A call that does not decode is a [`HmKind::IllegalHypercall`]
    /// for the health monitor.
    pub fn hypercall(
        &self,
        cpu: &Local<'_, C>,
        p: PartitionId<P>,
        raw: &RawCall,
        adapter: &mut impl KernelAdapter,
    ) -> [u64; 2] {
        match decode::<W>(raw) {
            Ok(request) => encode(self.call(cpu, p, request, adapter)),
            Err(error) if self.stopped() => encode(Err(ErrorCode::from(error))),
            Err(error) => {
                let here = cpu.cpu().index();
                self.end_quiet(here, adapter);
                let kind = HmKind::IllegalHypercall;
                self.partition_event(here, p.index(), kind, raw.number, 0, adapter);
                encode(Err(ErrorCode::from(error)))
            }
        }
    }

    /// A decoded hypercall from partition `p`, on its CPU `cpu`. Before it returns to
    /// the partition, the upcall decision is taken again (events may have arrived
    /// meanwhile). On a CPU the partition is not bound to, the answer is
    /// [`ErrorCode::OutsideWindow`]: it has no window there.
    pub fn call(
        &self,
        cpu: &Local<'_, C>,
        p: PartitionId<P>,
        request: Request<W>,
        adapter: &mut impl KernelAdapter,
    ) -> HypercallResult {
        let (here, i) = (cpu.cpu().index(), p.index());
        if self.home(i) != here || self.stopped() {
            return Err(ErrorCode::OutsideWindow);
        }
        self.end_quiet(here, adapter);
        let mut state = self.partitions[i].lock();
        if self.apply_deferred(i, &mut state, adapter) || state.mode == Mode::Idle {
            // Restarted or stopped since it made the call: the call belongs to a run that
            // is over.
            return Err(ErrorCode::OutsideWindow);
        }
        let result = self.dispatch(p, &mut state, request, adapter);
        if self.runs_on(self.home(i), i) {
            self.settle(i, &mut state, adapter);
        }
        result
    }

    fn dispatch(
        &self,
        p: PartitionId<P>,
        state: &mut PartitionState,
        request: Request<W>,
        adapter: &mut impl KernelAdapter,
    ) -> HypercallResult {
        let i = p.index();
        let table = self.events.partition(p);
        let page = self.pages[i];
        let bell = &self.bells[i];
        let deliverable = || self.upcall_wanted(i);
        match request {
            Request::AbiVersion => Ok(ABI_VERSION),
            Request::RequestIrq { vector, port } => {
                let binding = self.permitted_line(i, vector, port)?;
                table.bind(port, binding)?;
                Ok(0)
            }
            Request::DetachIrq { vector } => {
                let port = self.target_port(i, vector).ok_or(ErrorCode::PermissionDenied)?;
                // What was pending is handed back: the answer is its count.
                let discarded = table.unbind(port)?;
                self.owes_nothing(vector, i, adapter);
                Ok(u64::from(discarded))
            }
            Request::EnableIrqs => {
                if matches!(state.mode, Mode::ColdStart | Mode::WarmStart) {
                    state.mode = Mode::Normal;
                }
                let resume = state.cpu.vcpu_mut().enable(page, bell, deliverable)?;
                self.follow(i, state, resume, adapter);
                Ok(0)
            }
            Request::DisableIrqs => {
                let _ = state.cpu.vcpu_mut().disable(page)?;
                Ok(0)
            }
            Request::Flash => {
                let resume = state.cpu.vcpu_mut().flash(page, bell, deliverable)?;
                self.follow(i, state, resume, adapter);
                Ok(0)
            }
            Request::SetIsrLevel { level } => {
                let previous = page.level();
                let resume = state.cpu.vcpu_mut().set_level(page, bell, level, deliverable)?;
                self.follow(i, state, resume, adapter);
                Ok(u64::from(previous))
            }
            Request::Idle => {
                let resume = state.cpu.vcpu_mut().idle(page, bell, deliverable)?;
                self.follow(i, state, resume, adapter);
                Ok(0)
            }
            Request::Acknowledge { port } => {
                let ack = table.acknowledge(port)?;
                self.acknowledged_line(table, i, port, adapter);
                Ok(u64::from(ack.remaining))
            }
            Request::TakeCount { port } => {
                let taken = table.take(port)?;
                if taken > 0 {
                    self.acknowledged_line(table, i, port, adapter);
                }
                Ok(u64::from(taken))
            }
            Request::Mask { port } => {
                table.status(port).binding.ok_or(ErrorCode::NotBound)?;
                table.mask(port);
                Ok(0)
            }
            Request::Unmask { port } => {
                table.status(port).binding.ok_or(ErrorCode::NotBound)?;
                Ok(u64::from(table.unmask(port)))
            }
            Request::Notify { port } => self.notify(p, state, port, adapter),
            Request::ReadClock => {
                // Inside the window the ticks since entry count too.
                let now = adapter.now();
                let time = state.cpu.time();
                let running = if time.in_window() { time.missed_at(now).unwrap_or(0) } else { 0 };
                Ok(time.given() + running)
            }
            Request::RegisterUpcall { entry } => {
                self.check_code(i, entry, adapter)?;
                table.set_upcall_entry(entry);
                Ok(0)
            }
            Request::RegisterFaultHandler { entry } => {
                self.check_code(i, entry, adapter)?;
                table.set_fault_handler(entry);
                Ok(0)
            }
            Request::RegisterPortHandler { port, entry } => {
                self.check_code(i, entry, adapter)?;
                table.set_port_handler(port, entry)?;
                Ok(0)
            }
            Request::ConsoleWrite { buffer } => {
                if !adapter.user_range(i as u16, buffer.addr(), buffer.len()) {
                    return Err(ErrorCode::BadAddress);
                }
                Ok(adapter.console_write(i as u16, buffer.addr(), buffer.len()))
            }
            Request::ExecStopError { code } => {
                self.partition_event_locked(
                    i,
                    state,
                    HmKind::PartitionError,
                    u64::from(code),
                    0,
                    adapter,
                );
                Ok(0)
            }
            Request::StartReason => Ok(start_reason_value(state.start_reason)),
            Request::UpcallReturn => {
                if state.in_trap {
                    state.in_trap = false;
                    adapter.upcall_return(i as u16);
                    return Ok(0);
                }
                let resume = state.cpu.vcpu_mut().upcall_return(page, bell, deliverable)?;
                adapter.upcall_return(i as u16);
                self.follow(i, state, resume, adapter);
                Ok(0)
            }
            Request::PingAnswer => match (self.config.partitions[i].ping, state.ping_due.take()) {
                (None, _) => Err(ErrorCode::NotConfigured),
                (Some(_), None) => Err(ErrorCode::NothingPending),
                (Some(_), Some(due)) => {
                    let now = adapter.now();
                    if now > due {
                        // Too late: as good as silence.
                        self.partition_event_locked(
                            i,
                            state,
                            HmKind::PingMissed,
                            now,
                            due,
                            adapter,
                        );
                    }
                    Ok(0)
                }
            },
        }
    }

    /// The binding partition `p` may give `port` for `vector`: the route names it with
    /// that port, and its permissions include the vector.
    fn permitted_line(&self, p: usize, vector: u8, port: Port<W>) -> Result<Binding, ErrorCode> {
        if !self.config.partitions[p].vectors.contains(vector)
            || self.target_port(p, vector) != Some(port)
        {
            return Err(ErrorCode::PermissionDenied);
        }
        let configured = self.config.partitions[p].ports.iter().find(|c| c.port == port.raw());
        match configured.map(|c| c.binding) {
            Some(binding) if binding.source == Source::Line(u16::from(vector)) => Ok(binding),
            _ => Err(ErrorCode::PermissionDenied),
        }
    }

    /// The port the route of `vector` raises in partition `p`, if it names `p`.
    fn target_port(&self, p: usize, vector: u8) -> Option<Port<W>> {
        let route = self.route(vector)?;
        let target = route.targets.iter().find(|t| usize::from(t.partition) == p)?;
        Port::new(u32::from(target.port)).ok()
    }

    /// `port` of `p` was acknowledged or taken: if it is bound to a level line, `p` no
    /// longer owes that line.
    fn acknowledged_line(
        &self,
        table: &PartitionEvents<W, CW>,
        p: usize,
        port: Port<W>,
        adapter: &mut impl KernelAdapter,
    ) {
        if let Some(Source::Line(v)) = table.status(port).binding.map(|b| b.source)
            && let Ok(vector) = u8::try_from(v)
        {
            self.owes_nothing(vector, p, adapter);
        }
    }

    pub(super) fn owes_nothing(&self, vector: u8, p: usize, adapter: &mut impl KernelAdapter) {
        if self.is_level(vector) {
            self.line_acknowledged(vector, p, adapter);
        }
    }

    /// A code address the partition registers must be its own memory.
    fn check_code(
        &self,
        p: usize,
        entry: Option<NonZeroU64>,
        adapter: &impl KernelAdapter,
    ) -> Result<(), ErrorCode> {
        match entry {
            Some(addr) if !adapter.user_range(p as u16, addr.get(), 1) => {
                Err(ErrorCode::BadAddress)
            }
            _ => Ok(()),
        }
    }

    /// Partition `p` notifies through its channel source `port`, within the channel's
    /// budget for the frame; past it, the channel is refused until the next frame and
    /// the sender's health monitor hears of the storm. Events the destination loses to
    /// an overflow are the sender's storm too: a sender cannot set off the receiver's
    /// health monitor.
    fn notify(
        &self,
        p: PartitionId<P>,
        state: &mut PartitionState,
        port: Port<W>,
        adapter: &mut impl KernelAdapter,
    ) -> HypercallResult {
        let channel = self.events.channel_from(p, port)?;
        let c = channel.index();
        if self.config.partitions[p.index()].channels & (1 << (c % 64)) == 0 {
            return Err(ErrorCode::PermissionDenied);
        }
        let now = adapter.now();
        if let Some(budget) =
            self.config.channel_budgets.iter().find(|b| usize::from(b.channel) == c)
        {
            match self.channel_budgets[c].charge(self.frame_of(now), budget.raises.get()) {
                Charge::Within => {}
                Charge::Exceeded => {
                    self.partition_event_locked(
                        p.index(),
                        state,
                        HmKind::Storm,
                        c as u64,
                        0,
                        adapter,
                    );
                    return Err(ErrorCode::OverBudget);
                }
                Charge::Over => return Err(ErrorCode::OverBudget),
            }
        }
        let notified = self.events.notify(p, port, now)?;
        let dst = notified.partition.index();
        if notified.raised.overflowed > 0 {
            // The sender flooded the channel: its storm, with the events the destination
            // lost (counted in the destination's overflow statistics).
            let lost = u64::from(notified.raised.overflowed);
            self.partition_event_locked(p.index(), state, HmKind::Storm, c as u64, lost, adapter);
        }
        if notified.raised.became_deliverable {
            // From the sender's CPU: the receiver may run on another.
            self.signal(self.home(p.index()), dst, adapter);
        }
        Ok(0)
    }
}
