//! Hardware interrupts: kernel-first handler, storm budget, fan-out to the bound
//! partitions, EOI or mask for the line; and telling a partition that an event became
//! deliverable.

use notify_core::Context;

use super::Router;
use super::budget::Charge;
use super::cpu::{Local, Switch};
use crate::adapter::KernelAdapter;
use crate::config::{HmAction, HmKind, Trigger};
use crate::health::HmRecord;
use crate::level::Unmask;
use crate::mutation::{self, Mutation};
use crate::storm::Storm;
use crate::sync::{Ordering, fence};

impl<const P: usize, const W: usize, const C: usize, const CW: usize, const H: usize>
    Router<P, W, C, CW, H>
{
    /// A hardware interrupt on `vector`, on CPU `cpu` (any CPU: a partition bound to
    /// another CPU is kicked, see [`KernelAdapter::kick`]).
    ///
    /// The clock's vector is the CPU's tick ([`on_tick`](Self::on_tick)), and returns its
    /// window switch if it makes one. Any other
    /// routed vector: the kernel-first handler if configured; the storm budget; then the
    /// port bound to the vector is raised in every partition the route names (cost grows
    /// with the number of targets, not of partitions); then an edge line is acknowledged,
    /// a level line masked and acknowledged until every raised partition has
    /// acknowledged its event. An unrouted vector is only acknowledged.
    pub fn on_hardware_irq(
        &self,
        cpu: &Local<'_, C>,
        vector: u8,
        adapter: &mut impl KernelAdapter,
    ) -> Option<Switch<P>> {
        if self.stopped() {
            self.stopped_irq(vector, adapter);
            return None;
        }
        if self.config.clock_vector == Some(vector) {
            // The kernel's handler first: a kernel that counts its tick there has its new
            // time read below.
            adapter.kernel_handler(vector);
            let switch = self.on_tick(cpu, adapter.now(), adapter);
            adapter.eoi(vector);
            return switch;
        }
        let here = cpu.cpu().index();
        self.end_quiet(here, adapter);
        self.line_interrupt(here, vector, adapter);
        None
    }

    /// An interrupt once the module is stopped: the kernel's own handler still runs (the
    /// clock's, a kernel-first line's), a level line is masked (its device would keep
    /// it asserted), and the line is acknowledged. No partition hears of it.
    #[cold]
    fn stopped_irq(&self, vector: u8, adapter: &mut impl KernelAdapter) {
        let route = self.route(vector);
        if self.config.clock_vector == Some(vector) || route.is_some_and(|r| r.kernel_first) {
            adapter.kernel_handler(vector);
        }
        if self.is_level(vector) {
            adapter.mask_line(vector);
        }
        adapter.eoi(vector);
    }

    /// A hardware interrupt on `vector` (not the clock), on CPU `here`.
    #[inline(always)]
    fn line_interrupt(&self, here: usize, vector: u8, adapter: &mut impl KernelAdapter) {
        let Some(route) = self.route(vector) else {
            adapter.eoi(vector);
            return;
        };
        if route.kernel_first {
            adapter.kernel_handler(vector);
        }
        let now = adapter.now();
        if let Some(limit) = route.budget {
            let frame = self.frame_of(now);
            match self.line_budgets[vector as usize].charge(frame, limit.get()) {
                Charge::Within => {}
                Charge::Exceeded => {
                    self.storm_mask(vector, frame, adapter);
                    adapter.eoi(vector);
                    self.storm_lost(vector, now, adapter);
                    return;
                }
                Charge::Over => {
                    // On its way when the storm masked the line (on another CPU): lost
                    // too. Masked already, unless an earlier storm's end undid the mask
                    // meanwhile: then this one masks it for the rest of the frame.
                    self.storm_mask(vector, frame, adapter);
                    adapter.eoi(vector);
                    self.storm_lost(vector, now, adapter);
                    return;
                }
            }
        }
        let level = matches!(route.trigger, Trigger::Level);
        let debts_first = !mutation::active(Mutation::LevelDebtAfterRaise);
        if level && debts_first {
            self.level_fired(route, vector, now, adapter);
        }
        let context = Context { vector: u16::from(vector), timestamp: now, ..Context::default() };
        for target in route.targets {
            // The configuration was validated: the target's partition and port exist.
            let p = usize::from(target.partition);
            let raised = self
                .configured_port(p, Some(target.port))
                .and_then(|(_, port)| self.raise_line(here, p, port, &context, adapter).ok());
            match raised {
                Some(raised) => {
                    if raised.overflowed > 0 {
                        let lost = u64::from(raised.overflowed);
                        self.partition_event(
                            here,
                            p,
                            HmKind::PendingOverflow,
                            u64::from(target.port),
                            lost,
                            adapter,
                        );
                    }
                    if raised.became_deliverable {
                        self.signal(here, p, adapter);
                    }
                }
                // The partition detached the line: it owes nothing.
                None if level => self.line_acknowledged(vector, p, adapter),
                None => {}
            }
        }
        if level && !debts_first {
            self.level_fired(route, vector, now, adapter);
        }
        if !level {
            adapter.eoi(vector);
        }
    }

    /// Level line `vector` fired: masked and acknowledged at the controller, its debts
    /// recorded (before its ports are raised).
    #[inline(always)]
    fn level_fired(
        &self,
        route: &crate::config::Route,
        vector: u8,
        now: u64,
        adapter: &mut impl KernelAdapter,
    ) {
        // Record who will owe an acknowledgement before anyone can see the event, so
        // an acknowledgement on another CPU cannot come first and be lost. A partition
        // its health monitor idled owes nothing.
        let idled = self.idled.load(Ordering::SeqCst);
        let owing = self.targets_live(route, !idled);
        adapter.mask_line(vector);
        adapter.eoi(vector);
        // From the latest tick a CPU has taken, if this CPU's clock is behind it: the
        // partitions get the whole timeout, counted on the clock their CPUs tick by.
        let base = now.max(self.latest_tick.load(Ordering::Relaxed));
        let deadline = base.saturating_add(route.ack_timeout);
        if self.levels[vector as usize].fired(owing, deadline) == Unmask::Now {
            adapter.unmask_line(vector);
        } else {
            self.ack_watch.watch(deadline);
        }
        // A partition idled on its CPU since the read above: `make_idle` sets its bit
        // before it releases its lines, so either it saw this firing's debt or this
        // sees its bit (a fence on each side). A second release is harmless.
        fence(Ordering::SeqCst);
        let gone = self.targets_live(route, self.idled.load(Ordering::SeqCst)) & owing;
        self.release_targets(vector, gone, adapter);
    }

    /// The targets of `route` (bit `t` for `route.targets[t]`) whose partition is in the
    /// set `partitions` (bit `p`).
    fn targets_live(&self, route: &crate::config::Route, partitions: u64) -> u32 {
        route.targets.iter().enumerate().fold(0, |set, (t, target)| {
            if partitions & (1 << (target.partition % 64)) != 0 { set | 1 << t } else { set }
        })
    }

    /// Targets `set` of level line `vector` owe nothing any more.
    fn release_targets(&self, vector: u8, set: u32, adapter: &mut impl KernelAdapter) {
        let mut set = set;
        while set != 0 {
            let t = set.trailing_zeros() as usize;
            if self.levels[vector as usize].acknowledged(t) == Unmask::Now {
                adapter.unmask_line(vector);
            }
            set &= set - 1;
        }
    }

    /// Masks `vector` for a storm in `frame`, by the protocol of `storm`.
    fn storm_mask(&self, vector: u8, frame: u64, adapter: &mut impl KernelAdapter) {
        let line = &self.storms[vector as usize];
        if !line.masking(frame) {
            // Another storm owns the line's mask.
            return;
        }
        self.storm_index[vector as usize / 64].fetch_or(1 << (vector % 64), Ordering::AcqRel);
        if mutation::active(Mutation::StormMaskAfterUnmask) {
            if line.masked(frame, || self.frame.load(Ordering::SeqCst)) == Storm::Unmask {
                adapter.unmask_line(vector);
            }
            adapter.mask_line(vector);
            return;
        }
        adapter.mask_line(vector);
        if line.masked(frame, || self.frame.load(Ordering::SeqCst)) == Storm::Unmask {
            adapter.unmask_line(vector);
        }
        if mutation::active(Mutation::StormKicksEveryPartition) {
            for p in 0..P {
                self.kick(p, adapter);
            }
        }
    }

    /// An interrupt of `vector` lost to its storm budget: counted and recorded.
    fn storm_lost(&self, vector: u8, now: u64, adapter: &mut impl KernelAdapter) {
        self.line_lost[vector as usize].fetch_add(1, Ordering::AcqRel);
        let record =
            HmRecord::new(now, None, HmKind::Storm, HmAction::Ignore, u64::from(vector), 1);
        self.record(record, adapter);
    }

    /// Partition `p` acknowledged (or will never see) the event of level line `vector`.
    pub(super) fn line_acknowledged(&self, vector: u8, p: usize, adapter: &mut impl KernelAdapter) {
        let Some(route) = self.route(vector) else { return };
        if let Some(t) = route.targets.iter().position(|t| usize::from(t.partition) == p) {
            self.release_targets(vector, 1 << t, adapter);
        }
    }
}
