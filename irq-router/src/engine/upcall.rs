//! The upcall: telling a partition that an event became deliverable (the doorbell
//! protocol of vcpu-state), the vCPU's decision, and injecting the upcall for the next
//! deliverable port.

use notify_core::{Context, Delivery, DirectRaise, Error, Port, Raised};
use vcpu_state::{Resume, Signal};

use super::{PartitionState, Router};
use crate::adapter::{KernelAdapter, Upcall};
use crate::config::HmKind;
use crate::mutation::{self, Mutation};

impl<const P: usize, const W: usize, const C: usize, const CW: usize, const H: usize>
    Router<P, W, C, CW, H>
{
    /// Raises an interrupt's event on `port` of partition `p`, from CPU `here`. When the
    /// port is idle and `p` runs on this CPU, the direct path: if an upcall is due and
    /// nothing else of `p` is deliverable, the event goes straight into service and its
    /// upcall is injected, with the interrupt's `context` in hand (no doorbell, no
    /// lookup, no context published and read back). Otherwise (or if `p`'s state is held
    /// elsewhere, or it has no upcall entry, or its fault handler runs) the ordinary
    /// raise: its caller then signals a port that became deliverable.
    ///
    /// The protocol (see `Vcpu::direct_upcall` and notify-core's `raise_into_service`):
    /// 1. under `p`'s lock, the vCPU says an upcall is due (inside its window, not idle,
    ///    open, below its nesting bound);
    /// 2. one compare-and-swap takes the port from idle to in service, if the summary
    ///    word showed nothing deliverable; the event is never deliverable, so no other
    ///    CPU and no opener can miss it;
    /// 3. the vCPU records the upcall without touching "upcall pending": a raise on
    ///    another CPU meanwhile finds the vCPU open (and kicks this CPU, whose resume
    ///    decides again) or closed by this upcall (and its flag stays set).
    ///
    /// The loom model `loom_direct_upcall_vs_a_raise_on_another_cpu_loses_nothing` checks
    /// it on the engine, `loom_direct_upcall_vs_raise_keeps_the_flag_or_the_event` (in
    /// vcpu-state) the flag.
    #[inline(always)]
    pub(super) fn raise_line(
        &self,
        here: usize,
        p: usize,
        port: Port<W>,
        context: &Context,
        adapter: &mut impl KernelAdapter,
    ) -> Result<Raised, Error> {
        let table = self.table(p);
        // An event into a pending port (the common case of a burst) costs one load more.
        if table.is_idle(port)
            && self.runs_on(here, p)
            && !(mutation::active(Mutation::StormDefersDelivery) && self.storm_masked())
            && let Some(raised) = self.raise_direct(p, port, context, adapter)
        {
            return raised;
        }
        table.raise(port, Some(context))
    }

    /// The direct path of [`raise_line`](Self::raise_line); `None` if it did not apply
    /// (nothing changed).
    fn raise_direct(
        &self,
        p: usize,
        port: Port<W>,
        context: &Context,
        adapter: &mut impl KernelAdapter,
    ) -> Option<Result<Raised, Error>> {
        let mut state = self.partitions[p].try_lock()?;
        if state.in_trap || state.mode == super::Mode::Idle {
            return None;
        }
        let table = self.table(p);
        let entry = table.upcall_entry()?;
        // Some once `take` ran: the event was raised, into service or not.
        let mut outcome = None;
        let _ = state.cpu.vcpu_mut().direct_upcall(self.pages[p], || {
            let raised = table.raise_into_service(port, Some(context));
            let serving = matches!(raised, Ok(DirectRaise::Serving(_)));
            outcome = Some(raised);
            serving
        });
        Some(match outcome? {
            Ok(DirectRaise::Serving(delivery)) => {
                self.inject_delivery(p, &mut state, delivery, entry, *context, true, adapter);
                Ok(Raised::default())
            }
            // Raised the ordinary way: the caller goes on as after `raise` (once the lock
            // is released here, so a signal of this CPU can take it).
            Ok(DirectRaise::Raised(raised)) => Ok(raised),
            Err(e) => Err(e),
        })
    }

    /// Tells partition `p`, from CPU `here`, that one of its ports became deliverable
    /// (the doorbell protocol of vcpu-state): the upcall decision now if `p` runs on this
    /// CPU with its vCPU open; else a kick of its CPU, whose kernel resumes it through
    /// [`on_resume`](Self::on_resume) (an idle partition is woken the same way, so the
    /// kernel learns from the kick that its wait ended); or nothing, the flag left for it
    /// to find. Kept out of line: the interrupt path only calls it for a port that
    /// became deliverable, and inlined it would weigh on every interrupt into a port
    /// already pending.
    #[inline(never)]
    pub(super) fn signal(&self, here: usize, p: usize, adapter: &mut impl KernelAdapter) {
        match self.bells[p].signal(self.pages[p]) {
            Signal::Open
                if mutation::active(Mutation::StormDefersDelivery)
                    && self.runs_on(here, p)
                    && self.storm_masked() =>
            {
                self.kick(p, adapter);
            }
            Signal::Open if self.runs_on(here, p) => {
                // Uncontended but for inspection from elsewhere; then the kick brings
                // this CPU back to decide.
                match self.partitions[p].try_lock() {
                    Some(mut state) => {
                        let _ = self.settle(p, &mut state, adapter);
                    }
                    None if mutation::active(Mutation::WakeupDroppedUnderLock) => {}
                    None => self.kick(p, adapter),
                }
            }
            Signal::Open | Signal::Wake => self.kick(p, adapter),
            Signal::Flagged | Signal::Later => {}
        }
    }

    /// Some line is storm-masked (for [`Mutation::StormDefersDelivery`]).
    fn storm_masked(&self) -> bool {
        self.storm_index.iter().any(|word| word.load(crate::sync::Ordering::Acquire) != 0)
    }

    /// The upcall decision for partition `p`, holding its state: if an upcall is due, the
    /// next deliverable port is taken into service and the upcall injected. Returns the
    /// decision (`None` if none was taken: its fault handler runs, it is stopped, or it is
    /// outside its window).
    pub(super) fn settle(
        &self,
        p: usize,
        state: &mut PartitionState,
        adapter: &mut impl KernelAdapter,
    ) -> Option<Resume> {
        if state.in_trap || state.mode == super::Mode::Idle {
            // The fault handler runs (its return is the upcall return), or it is stopped.
            return None;
        }
        // The port the decision saw is the one the upcall delivers: no second lookup.
        let mut found = None;
        let decision = state.cpu.vcpu_mut().resume(self.pages[p], &self.bells[p], || {
            found = self.upcall_port(p);
            found.is_some()
        });
        if let Ok(Resume::Upcall { .. }) = decision {
            self.inject(p, state, found, adapter);
        }
        decision.ok()
    }

    /// Whether partition `p` has something deliverable and an upcall entry to deliver it
    /// to (without one, events stay pending until the guest registers it).
    pub(super) fn upcall_wanted(&self, p: usize) -> bool {
        self.upcall_port(p).is_some()
    }

    /// The port an upcall of partition `p` would deliver now, if it has an upcall entry.
    fn upcall_port(&self, p: usize) -> Option<Port<W>> {
        let table = self.table(p);
        table.upcall_entry()?;
        table.next_deliverable()
    }

    /// Delivers a port of `p` through an upcall: `port` if the decision found it and it
    /// is still deliverable, else the next deliverable one.
    pub(super) fn inject(
        &self,
        p: usize,
        state: &mut PartitionState,
        port: Option<Port<W>>,
        adapter: &mut impl KernelAdapter,
    ) {
        let table = self.table(p);
        let page = self.pages[p];
        let taken = table.upcall_entry().and_then(|entry| {
            let delivery = port.and_then(|port| table.begin_service(port).ok());
            Some((delivery.or_else(|| table.deliver_next())?, entry))
        });
        let Some((delivery, entry)) = taken else {
            // The event the decision saw is gone: take back the upcall the vCPU recorded
            // ("upcall pending" tells the guest to look again; nothing is assumed about
            // what is deliverable).
            let _ = state.cpu.vcpu_mut().cancel_upcall(page);
            return;
        };
        let context = table.context(delivery.port).ok().flatten().unwrap_or_default();
        self.inject_delivery(p, state, delivery, entry, context, false, adapter);
    }

    /// Injects the upcall for `delivery`, taken into service for an upcall the vCPU of
    /// `p` recorded, with `context`; `entry` is the partition's upcall entry; `direct`:
    /// the event went straight into service (its context unpublished).
    #[allow(clippy::too_many_arguments, reason = "the one injection of both paths")]
    fn inject_delivery(
        &self,
        p: usize,
        state: &mut PartitionState,
        delivery: Delivery<W>,
        entry: core::num::NonZeroU64,
        context: Context,
        direct: bool,
        adapter: &mut impl KernelAdapter,
    ) {
        let upcall = Upcall {
            entry: delivery.handler.unwrap_or(entry),
            port: Some(delivery.port.raw()),
            pending: delivery.pending,
            context,
        };
        if let Err(fault) = adapter.inject_upcall(p as u16, &upcall) {
            // The event stays pending and flagged; the health monitor decides the rest.
            let page = self.pages[p];
            let table = self.table(p);
            let _ = if direct {
                // Its context was never published: it goes with the event.
                table.cancel_direct_service(delivery.port, Some(&context))
            } else {
                table.cancel_service(delivery.port)
            };
            let _ = state.cpu.vcpu_mut().cancel_upcall(page);
            self.partition_event_locked(
                p,
                state,
                HmKind::UpcallFault,
                fault as u64,
                entry.get(),
                adapter,
            );
        }
    }

    /// Carries out a vCPU decision taken by a call.
    pub(super) fn follow(
        &self,
        p: usize,
        state: &mut PartitionState,
        resume: Resume,
        adapter: &mut impl KernelAdapter,
    ) {
        match resume {
            // Its fault handler runs (the vCPU does not know it): as in `settle`, no port
            // upcall before its return, which settles; the decision is taken back and
            // "upcall pending" left set (the entry, or a flash or enable of the handler).
            Resume::Upcall { .. } if state.in_trap => {
                let _ = state.cpu.vcpu_mut().cancel_upcall(self.pages[p]);
            }
            Resume::Upcall { .. } => self.inject(p, state, None, adapter),
            Resume::Idle => adapter.wait(p as u16),
            Resume::Run | Resume::Flagged => {}
        }
    }
}
