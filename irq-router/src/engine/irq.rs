//! Hardware interrupts: kernel-first handler, storm budget, fan-out to the bound
//! partitions, EOI or mask for the line; and telling a partition that an event became
//! deliverable.

use notify_core::Context;

use super::Router;
use super::budget::Charge;
use crate::adapter::KernelAdapter;
use crate::config::{HmAction, HmKind, Trigger};
use crate::health::HmRecord;
use crate::level::Unmask;
use crate::sync::Ordering;

impl<const P: usize, const W: usize> Router<P, W> {
    /// A hardware interrupt on `vector`, on any CPU.
    ///
    /// The clock's vector is the kernel's tick ([`on_tick`](Self::on_tick)). Any other
    /// routed vector: the kernel-first handler if configured; the storm budget; then the
    /// port bound to the vector is raised in every partition the route names (cost grows
    /// with the number of targets, not of partitions); then an edge line is acknowledged,
    /// a level line masked and acknowledged until every raised partition has
    /// acknowledged its event. An unrouted vector is only acknowledged.
    pub fn on_hardware_irq(&self, vector: u8, adapter: &mut impl KernelAdapter) {
        let now = adapter.now();
        if self.config.clock_vector == Some(vector) {
            adapter.kernel_handler(vector);
            self.on_tick(now, adapter);
            adapter.eoi(vector);
            return;
        }
        let Some(route) = self.route(vector) else {
            adapter.eoi(vector);
            return;
        };
        if route.kernel_first {
            adapter.kernel_handler(vector);
        }
        if let Some(limit) = route.budget {
            match self.line_budgets[vector as usize].charge(self.frame_of(now), limit.get()) {
                Charge::Within => {}
                Charge::Exceeded => {
                    self.storm_masked[vector as usize / 64]
                        .fetch_or(1 << (vector % 64), Ordering::AcqRel);
                    adapter.mask_line(vector);
                    adapter.eoi(vector);
                    let record = HmRecord::new(
                        now,
                        None,
                        HmKind::Storm,
                        HmAction::Ignore,
                        u64::from(vector),
                        u64::from(limit.get()),
                    );
                    self.record(record, adapter);
                    return;
                }
                Charge::Over => {
                    adapter.mask_line(vector);
                    adapter.eoi(vector);
                    return;
                }
            }
        }
        let level = matches!(route.trigger, Trigger::Level);
        if level {
            // Record who will owe an acknowledgement before anyone can see the event, so
            // an acknowledgement on another CPU cannot come first and be lost.
            let owing = route.targets.iter().fold(0u64, |m, t| m | 1 << (t.partition % 64));
            adapter.mask_line(vector);
            adapter.eoi(vector);
            let deadline = now.saturating_add(route.ack_timeout);
            if self.levels[vector as usize].fired(owing, deadline) == Unmask::Now {
                adapter.unmask_line(vector);
            } else {
                self.next_ack_deadline.fetch_min(deadline, Ordering::AcqRel);
            }
        }
        let context = Context { vector: u16::from(vector), timestamp: now, ..Context::default() };
        for target in route.targets {
            // The configuration was validated: the target's partition and port exist.
            let p = usize::from(target.partition);
            let raised = self
                .configured_port(p, Some(target.port))
                .and_then(|(table, port)| table.raise(port, Some(&context)).ok());
            match raised {
                Some(raised) => {
                    if raised.overflowed > 0 {
                        let lost = u64::from(raised.overflowed);
                        self.partition_event(
                            p,
                            HmKind::PendingOverflow,
                            u64::from(target.port),
                            lost,
                            adapter,
                        );
                    }
                    if raised.became_deliverable {
                        self.signal(p, adapter);
                    }
                }
                // The partition detached the line: it owes nothing.
                None if level => self.line_acknowledged(vector, p, adapter),
                None => {}
            }
        }
        if !level {
            adapter.eoi(vector);
        }
    }

    /// Partition `p` acknowledged (or will never see) the event of level line `vector`.
    pub(super) fn line_acknowledged(&self, vector: u8, p: usize, adapter: &mut impl KernelAdapter) {
        if self.levels[vector as usize].acknowledged(p) == Unmask::Now {
            adapter.unmask_line(vector);
        }
    }
}
