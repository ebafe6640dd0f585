//! The health monitor's decisions and the partition lifecycle: events looked up in the
//! partition's table, restarts, idle and module stop.

use notify_core::{Context, PartitionEvents, Port};
use vcpu_state::StartReason;

use super::cpu::NOBODY;
use super::{Mode, PartitionState, Router};
use crate::adapter::{KernelAdapter, StartMode};
use crate::config::{HmAction, HmKind};
use crate::health::HmRecord;
use crate::mutation::{self, Mutation};
use crate::sync::{Ordering, fence};

/// How severe an action on a partition's own state is: a warm start, a cold start, idle.
/// Of two such actions due at once, the more severe is taken.
const fn rank(action: HmAction) -> u64 {
    match action {
        HmAction::WarmStart => 1,
        HmAction::ColdStart => 2,
        HmAction::Idle => 3,
        _ => 0,
    }
}

/// Health-monitor actions that need the partition's own state, deferred when an event
/// is seen while that state is held: the action (bits 8..16, by severity) and the kind.
const fn defer_code(action: HmAction, kind: HmKind) -> u64 {
    (rank(action) << 8) | kind as u64
}

fn undefer(code: u64) -> Option<(HmAction, HmKind)> {
    let action = match code >> 8 {
        1 => HmAction::WarmStart,
        2 => HmAction::ColdStart,
        3 => HmAction::Idle,
        _ => return None,
    };
    let kind = HmKind::ALL.get((code & 0xff) as usize)?;
    Some((action, *kind))
}

impl<const P: usize, const W: usize, const C: usize, const CW: usize, const H: usize>
    Router<P, W, C, CW, H>
{
    /// A health-monitor event about partition `p`, seen on CPU `here` by a path that
    /// does not hold its state. An action that needs the state is taken now on the
    /// partition's own CPU if the state is free; otherwise (another CPU, or a path of
    /// this CPU holds it) it is deferred (the most severe of those waiting is kept), and
    /// the partition's CPU kicked: its next `on_resume` applies it, whether the partition
    /// runs or not (or its entry, hypercall or trap, whichever comes first).
    pub(super) fn partition_event(
        &self,
        here: usize,
        p: usize,
        kind: HmKind,
        detail: u64,
        extra: u64,
        adapter: &mut impl KernelAdapter,
    ) {
        if self.home(p) == here
            && let Some(mut state) = self.partitions[p].try_lock()
        {
            self.partition_event_locked(p, &mut state, kind, detail, extra, adapter);
            return;
        }
        let action = self.config.partitions[p].health.action(kind);
        // (An idled partition's deferred action is dropped when it is applied.)
        match action {
            HmAction::WarmStart | HmAction::ColdStart | HmAction::Idle => {
                self.hot[p].deferred.fetch_max(defer_code(action, kind), Ordering::AcqRel);
                // One kick per partition with actions waiting, whether it runs or not (its
                // CPU's next resume takes the whole mask, and the next deferral kicks again).
                let home = self.home(p);
                let bit = 1 << (p % 64);
                if self.cpus[home].deferred.fetch_or(bit, Ordering::AcqRel) & bit == 0 {
                    adapter.kick(home as u16);
                }
            }
            HmAction::Ignore | HmAction::Deliver | HmAction::StopModule => {
                self.stateless_action(here, p, kind, action, detail, extra, adapter);
            }
        }
        self.record(HmRecord::new(adapter.now(), Some(p), kind, action, detail, extra), adapter);
    }

    /// A health-monitor event about partition `p`, holding its state. A partition its
    /// health monitor idled stays idle: later events about it are only logged.
    pub(super) fn partition_event_locked(
        &self,
        p: usize,
        state: &mut PartitionState,
        kind: HmKind,
        detail: u64,
        extra: u64,
        adapter: &mut impl KernelAdapter,
    ) {
        let table = self.config.partitions[p].health.action(kind);
        // An action deferred from another CPU, at least as severe as this event's, is
        // taken instead (the log reported it already); a milder one is superseded.
        // Once that restarted or idled it, this event belongs to a run that is over: only
        // a module stop still applies.
        let deferred = undefer(self.hot[p].deferred.swap(0, Ordering::AcqRel));
        let superseded = match deferred {
            Some((d, d_kind)) if state.mode != Mode::Idle && rank(d) >= rank(table) => {
                self.apply_action(p, state, d, d_kind, adapter) && table != HmAction::StopModule
            }
            _ => false,
        };
        let action = match table {
            _ if state.mode == Mode::Idle || superseded => HmAction::Ignore,
            action => action,
        };
        let mut record = HmRecord::new(adapter.now(), Some(p), kind, action, detail, extra);
        match action {
            HmAction::WarmStart => {
                record.discarded = self.restart_or_idle(p, state, StartMode::Warm, kind, adapter);
            }
            HmAction::ColdStart => {
                record.discarded = self.restart_or_idle(p, state, StartMode::Cold, kind, adapter);
            }
            HmAction::Idle => self.make_idle(p, state, adapter),
            HmAction::Ignore | HmAction::Deliver | HmAction::StopModule => {
                // Holding the state: on the partition's own CPU.
                self.stateless_action(self.home(p), p, kind, action, detail, extra, adapter);
            }
        }
        if matches!(action, HmAction::WarmStart | HmAction::ColdStart) && state.mode == Mode::Idle {
            // Its restart limit idled it instead (a RestartLimit record says why).
            record.action = HmAction::Idle;
        }
        self.record(record, adapter);
    }

    /// Applies an action deferred by [`partition_event`](Self::partition_event) (its
    /// record was written then; a cold start's discards get a record of their own).
    /// Returns whether the partition was restarted or idled: the caller's business with
    /// its previous run is over.
    pub(super) fn apply_deferred(
        &self,
        p: usize,
        state: &mut PartitionState,
        adapter: &mut impl KernelAdapter,
    ) -> bool {
        let code = self.hot[p].deferred.swap(0, Ordering::AcqRel);
        let Some((action, kind)) = undefer(code) else { return false };
        self.apply_action(p, state, action, kind, adapter)
    }

    /// Takes a deferred `action` (for an event of `kind`) on partition `p`, unless its
    /// health monitor idled it already. Returns whether it was restarted or idled.
    fn apply_action(
        &self,
        p: usize,
        state: &mut PartitionState,
        action: HmAction,
        kind: HmKind,
        adapter: &mut impl KernelAdapter,
    ) -> bool {
        if state.mode == Mode::Idle {
            return false;
        }
        match action {
            HmAction::Idle => self.make_idle(p, state, adapter),
            HmAction::ColdStart | HmAction::WarmStart => {
                let mode =
                    if action == HmAction::ColdStart { StartMode::Cold } else { StartMode::Warm };
                let discarded = self.restart_or_idle(p, state, mode, kind, adapter);
                if discarded > 0 {
                    let mut record = HmRecord::new(adapter.now(), Some(p), kind, action, 0, 0);
                    record.discarded = discarded;
                    self.record(record, adapter);
                }
            }
            _ => return false,
        }
        true
    }

    /// Ignore, deliver to the error port, or stop the module (on CPU `here`).
    #[allow(clippy::too_many_arguments)]
    fn stateless_action(
        &self,
        here: usize,
        p: usize,
        kind: HmKind,
        action: HmAction,
        detail: u64,
        extra: u64,
        adapter: &mut impl KernelAdapter,
    ) {
        match action {
            HmAction::Deliver => {
                let error_port = self.config.partitions[p].error_port;
                let Some((table, port)) = self.configured_port(p, error_port) else { return };
                let context = Context {
                    vector: kind as u16,
                    error_code: detail as u32,
                    fault_address: extra,
                    timestamp: adapter.now(),
                    ..Context::default()
                };
                if let Ok(raised) = table.raise(port, Some(&context))
                    && raised.became_deliverable
                {
                    // From the partition's CPU or another: the signal tells which.
                    self.signal(here, p, adapter);
                }
            }
            HmAction::StopModule => {
                self.stopped.store(1, Ordering::Release);
                adapter.stop_module();
            }
            _ => {}
        }
    }

    /// Restarts partition `p` unless its table's restart limit forbids it: then it is
    /// idled instead, with a [`HmKind::RestartLimit`] record. Returns what the restart
    /// discarded (0 if idled).
    fn restart_or_idle(
        &self,
        p: usize,
        state: &mut PartitionState,
        mode: StartMode,
        kind: HmKind,
        adapter: &mut impl KernelAdapter,
    ) -> u64 {
        let frame = self.frame_of(adapter.now());
        if let Some(limit) = self.config.partitions[p].health.restart_limit() {
            let kept = state.restarts.min(state.restart_frames.len() as u64) as usize;
            let window = u64::from(limit.frames);
            let recent = state.restart_frames[..kept]
                .iter()
                .filter(|&&f| f.saturating_add(window) > frame)
                .count() as u64;
            if recent >= u64::from(limit.restarts) {
                self.make_idle(p, state, adapter);
                let record = HmRecord::new(
                    adapter.now(),
                    Some(p),
                    HmKind::RestartLimit,
                    HmAction::Idle,
                    recent,
                    window,
                );
                self.record(record, adapter);
                return 0;
            }
        }
        let slot = (state.restarts % state.restart_frames.len() as u64) as usize;
        state.restart_frames[slot] = frame;
        state.restarts += 1;
        self.restart(p, state, mode, kind, adapter)
    }

    /// Restarts partition `p`. A cold start resets its event tables to the configuration,
    /// a warm start keeps them but for its clock ticks (what either discards is counted
    /// and returned, for the record). Either way its vCPU, page, time account and mode
    /// start over and the window it was in ends.
    fn restart(
        &self,
        p: usize,
        state: &mut PartitionState,
        mode: StartMode,
        kind: HmKind,
        adapter: &mut impl KernelAdapter,
    ) -> u64 {
        let now = adapter.now();
        let cause = kind as u32 + 1;
        let (discarded, reason, new_mode) = match mode {
            StartMode::Cold => {
                (self.table(p).reset(), StartReason::ColdRestart { cause }, Mode::ColdStart)
            }
            StartMode::Warm => {
                // The time account starts over: the old run's clock ticks must not count
                // in the new run's time (they are discarded, and accounted for).
                let timer = self.configured_port(p, self.config.partitions[p].timer_port);
                let discarded = timer.and_then(|(table, port)| table.discard(port).ok());
                // The new run knows nothing of the old run's upcalls: end their service.
                let table = self.table(p);
                for raw in 0..PartitionEvents::<W>::PORTS as u32 {
                    if let Ok(port) = Port::<W>::new(raw) {
                        let _ = table.cancel_service(port);
                    }
                }
                (
                    discarded.map_or(0, u64::from),
                    StartReason::WarmRestart { cause },
                    Mode::WarmStart,
                )
            }
        };
        // An action deferred meanwhile from another CPU stays: it is applied to the new run
        // (the log reported it), never dropped.
        if !mutation::active(Mutation::RestartKeepsLineDebt) {
            self.release_lines(p, adapter);
        }
        let _ = state.cpu.start(self.pages[p], &self.bells[p], now, reason);
        state.mode = new_mode;
        state.start_reason = reason;
        state.in_trap = false;
        state.ping_due = None;
        let running = &self.cpus[self.home(p)].running;
        let _ = running.compare_exchange(p as u64, NOBODY, Ordering::AcqRel, Ordering::Acquire);
        adapter.restart(p as u16, mode);
        discarded
    }

    fn make_idle(&self, p: usize, state: &mut PartitionState, adapter: &mut impl KernelAdapter) {
        state.mode = Mode::Idle;
        // Before its lines are released: a firing on another CPU either sees the bit (and
        // does not count it) or is released below (see `on_hardware_irq`).
        self.idled.fetch_or(1 << (p % 64), Ordering::SeqCst);
        fence(Ordering::SeqCst);
        // Its window ends now: no upcall reaches it any more, and it owes nothing.
        let _ = state.cpu.exit(&self.bells[p], adapter.now());
        self.release_lines(p, adapter);
        let running = &self.cpus[self.home(p)].running;
        let _ = running.compare_exchange(p as u64, NOBODY, Ordering::AcqRel, Ordering::Acquire);
        adapter.idle(p as u16);
    }

    /// Partition `p` no longer owes an acknowledgement on any level line (it restarted
    /// or was idled: what it owed will never come).
    fn release_lines(&self, p: usize, adapter: &mut impl KernelAdapter) {
        for route in self.config.routes {
            if route.targets.iter().any(|t| usize::from(t.partition) == p) {
                self.owes_nothing(route.vector, p, adapter);
            }
        }
    }
}
