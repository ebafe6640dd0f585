//! Traps: a fault in a partition, recorded in its trap ring and decided by its
//! health-monitor table.

use notify_core::{Context, PartitionId};

use super::cpu::Local;
use super::{Mode, PartitionState, Router};
use crate::adapter::{KernelAdapter, Upcall};
use crate::config::{HmAction, HmKind};
use crate::health::HmRecord;

/// A trap (exception) raised by a partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Trap {
    /// Exception vector.
    pub vector: u8,
    /// Error code (0 if the exception pushes none).
    pub error_code: u32,
    /// Faulting address (page faults) or faulting instruction.
    pub address: u64,
}

impl<const P: usize, const W: usize, const C: usize, const CW: usize, const H: usize>
    Router<P, W, C, CW, H>
{
    /// A trap in partition `p`. It is recorded in the partition's trap ring; its table
    /// decides (a trap while its fault handler runs is a [`HmKind::TrapInTrap`]). To
    /// deliver it, the fault handler is entered with the vector, error code and address;
    /// without a fault handler, or if the upcall cannot be built, that is a
    /// [`HmKind::UpcallFault`] in turn. Nothing happens on a CPU the partition is not
    /// bound to (it cannot trap where it does not run).
    pub fn on_trap(
        &self,
        cpu: &Local<'_, C>,
        p: PartitionId<P>,
        trap: Trap,
        adapter: &mut impl KernelAdapter,
    ) {
        let (here, i) = (cpu.cpu().index(), p.index());
        if self.home(i) != here || self.stopped() {
            return;
        }
        self.end_quiet(here, adapter);
        let mut state = self.partitions[i].lock();
        if self.apply_deferred(i, &mut state, adapter) {
            // Restarted or idled by an action deferred from another CPU: the trap belongs
            // to a run that is over (as a hypercall of it would).
            return;
        }
        self.trap_locked(p, &mut state, trap, adapter);
        // Events that arrived meanwhile (unless the fault handler now runs: settle waits
        // for its return).
        if self.runs_on(self.home(i), i) {
            self.settle(i, &mut state, adapter);
        }
    }

    fn trap_locked(
        &self,
        p: PartitionId<P>,
        state: &mut PartitionState,
        trap: Trap,
        adapter: &mut impl KernelAdapter,
    ) {
        let i = p.index();
        let table = self.events.partition(p);
        let context = Context {
            vector: u16::from(trap.vector),
            error_code: trap.error_code,
            fault_address: trap.address,
            timestamp: adapter.now(),
            ..Context::default()
        };
        let _ = table.push_trap(&context);
        let kind = if state.in_trap { HmKind::TrapInTrap } else { HmKind::Trap };
        let action = self.config.partitions[i].health.action(kind);
        if action != HmAction::Deliver || state.mode == Mode::Idle {
            self.partition_event_locked(
                i,
                state,
                kind,
                u64::from(trap.vector),
                trap.address,
                adapter,
            );
            return;
        }
        let record = HmRecord::new(
            adapter.now(),
            Some(i),
            kind,
            action,
            u64::from(trap.vector),
            trap.address,
        );
        self.record(record, adapter);
        let Some(entry) = table.fault_handler() else {
            self.partition_event_locked(i, state, HmKind::UpcallFault, 0, trap.address, adapter);
            return;
        };
        let upcall = Upcall { entry, port: None, pending: 0, context };
        match adapter.inject_upcall(i as u16, &upcall) {
            Ok(()) => state.in_trap = true,
            Err(fault) => self.partition_event_locked(
                i,
                state,
                HmKind::UpcallFault,
                fault as u64,
                entry.get(),
                adapter,
            ),
        }
    }
}
