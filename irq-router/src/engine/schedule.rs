//! Time and windows: the kernel's tick, partition entry and exit, and the upcall
//! decision that follows each.

use notify_core::{Context, PartitionId};
use vcpu_state::CatchUp;

use super::{NOBODY, PartitionState, Router};
use crate::adapter::KernelAdapter;
use crate::config::HmKind;
use crate::level::Unmask;
use crate::storm::Storm;
use crate::sync::{Ordering, fence};

impl<const P: usize, const W: usize> Router<P, W> {
    /// The kernel's clock tick at `now`. Costs the same whatever the number of
    /// partitions: only the running partition is given its tick (the others are caught
    /// up when they next enter), plus the end-of-frame and acknowledgement-timeout checks,
    /// which touch only the lines concerned.
    pub fn on_tick(&self, now: u64, adapter: &mut impl KernelAdapter) {
        self.frame_boundary(now, adapter);
        if self.ack_watch.due(now) {
            self.expire_acknowledgements(now, adapter);
        }
        let running = self.running.load(Ordering::Acquire);
        let Ok(p) = usize::try_from(running) else { return };
        if p >= P {
            return;
        }
        // The running partition's ticks since its last tick or its entry. No lock: only
        // this CPU's tick and the partition's own entry and exit write `last_tick`, and
        // its time account is settled at exit (`now - entry` given in all).
        let last = self.last_tick[p].load(Ordering::Acquire);
        if now > last {
            self.last_tick[p].store(now, Ordering::Release);
            // The doorbell protocol decides the upcall if the timer port became
            // deliverable; a tick into an already pending port costs one raise.
            self.give_ticks(p, now - last, true, adapter);
        }
    }

    /// At the first tick of a new major frame, lines masked for a storm in an earlier
    /// frame are unmasked (the protocol of `storm`).
    fn frame_boundary(&self, now: u64, adapter: &mut impl KernelAdapter) {
        let frame = self.frame_of(now);
        if self.frame.load(Ordering::Acquire) >= frame
            || self.frame.fetch_max(frame, Ordering::SeqCst) >= frame
        {
            return;
        }
        fence(Ordering::SeqCst);
        for (w, word) in self.storm_index.iter().enumerate() {
            let mut lines = word.swap(0, Ordering::AcqRel);
            while lines != 0 {
                let bit = lines.trailing_zeros();
                lines &= lines - 1;
                let vector = (w * 64) as u8 + bit as u8;
                let (storm, keep) = self.storms[vector as usize].frame_started(frame);
                if storm == Storm::Unmask {
                    adapter.unmask_line(vector);
                }
                if keep {
                    word.fetch_or(1 << bit, Ordering::AcqRel);
                }
            }
        }
    }

    /// Level lines whose acknowledgements are overdue: each missing one is a
    /// health-monitor event, and the line is unmasked anyway.
    fn expire_acknowledgements(&self, now: u64, adapter: &mut impl KernelAdapter) {
        self.ack_watch.take();
        for route in self.config.routes {
            let level = &self.levels[route.vector as usize];
            let (late, unmask) = level.expire(now);
            let mut late = late;
            while late != 0 {
                let t = late.trailing_zeros() as usize;
                late &= late - 1;
                let Some(target) = route.targets.get(t) else { continue };
                let p = usize::from(target.partition);
                self.partition_event(p, HmKind::AckTimeout, u64::from(route.vector), 0, adapter);
            }
            if unmask == Unmask::Now {
                adapter.unmask_line(route.vector);
            }
            if level.owing() != 0 {
                // Still waiting (its deadline is later): keep watching it.
                self.ack_watch.watch(level.deadline());
            }
        }
    }

    /// Raises partition `p`'s timer port `ticks` times; with `signal`, tells the
    /// partition if the port became deliverable (entry and exit decide themselves).
    fn give_ticks(&self, p: usize, ticks: u64, signal: bool, adapter: &mut impl KernelAdapter) {
        let Some((table, port)) = self.configured_port(p, self.config.partitions[p].timer_port)
        else {
            return;
        };
        // No context: the guest's clock is in its page.
        let mut left = ticks;
        while left > 0 {
            let n = u32::try_from(left).unwrap_or(u32::MAX);
            left -= u64::from(n);
            let Ok(raised) = table.raise_many(port, n, None) else { return };
            if raised.overflowed > 0 {
                let lost = u64::from(raised.overflowed);
                self.partition_event(
                    p,
                    HmKind::PendingOverflow,
                    u64::from(port.raw()),
                    lost,
                    adapter,
                );
            }
            if raised.became_deliverable && signal {
                self.signal(p, adapter);
            }
        }
    }

    /// Partition `p` enters its window at `now` for `budget` ticks: missed ticks are
    /// given by its catch-up policy, the clock published, pings and deferred
    /// health-monitor actions handled, and an upcall injected if one is due.
    pub fn on_partition_entry(
        &self,
        p: PartitionId<P>,
        now: u64,
        budget: u64,
        adapter: &mut impl KernelAdapter,
    ) {
        let i = p.index();
        let mut state = self.partitions[i].lock();
        // Deferred health-monitor actions and the ping come first: they may restart the
        // partition (it then enters fresh) or idle it.
        self.apply_deferred(i, &mut state, adapter);
        self.ping(i, &mut state, now, adapter);
        if state.mode == super::Mode::Idle {
            // Stopped by its health monitor until the module restarts: it does not run.
            return;
        }
        let page = self.pages[i];
        let entered = state.cpu.enter(page, &self.bells[i], now, budget, |entry| {
            match entry.catch_up {
                CatchUp::UpToDate => {}
                CatchUp::Ticks { ticks, dropped: _ } => {
                    self.give_ticks(i, ticks.get(), false, adapter)
                }
                // One event; the guest reads the delta from the clock in its page.
                CatchUp::Warp { delta: _ } => self.give_ticks(i, 1, false, adapter),
            }
            self.upcall_wanted(i)
        });
        let Ok(entered) = entered else { return };
        self.last_tick[i].store(now, Ordering::Release);
        self.running.store(i as u64, Ordering::Release);
        self.follow(i, &mut state, entered.resume, adapter);
    }

    /// Partition `p` leaves its window at `now`: the ticks of its last stretch are given,
    /// a window overrun is a health-monitor event.
    pub fn on_partition_exit(&self, p: PartitionId<P>, now: u64, adapter: &mut impl KernelAdapter) {
        let i = p.index();
        let mut state = self.partitions[i].lock();
        let _ =
            self.running.compare_exchange(i as u64, NOBODY, Ordering::AcqRel, Ordering::Acquire);
        let Ok(exit) = state.cpu.exit(&self.bells[i], now) else { return };
        // The time account gives `now - entry` in all; on_tick gave all but the last
        // stretch.
        let last = self.last_tick[i].swap(now, Ordering::AcqRel);
        self.give_ticks(i, exit.ticks.min(now.saturating_sub(last)), false, adapter);
        if let Some(overrun) = exit.overrun {
            self.partition_event_locked(
                i,
                &mut state,
                HmKind::WindowOverrun,
                overrun.get(),
                0,
                adapter,
            );
        }
    }

    /// The kernel is about to return to partition `p` after a [`KernelAdapter::kick`] (or
    /// any other interruption): the upcall decision is taken again, and an idle partition
    /// with something deliverable wakes. Nothing happens outside its window.
    pub fn on_resume(&self, p: PartitionId<P>, adapter: &mut impl KernelAdapter) {
        let i = p.index();
        // Held: the kernel was interrupted while working for the partition on this CPU;
        // that path decides before it returns to the partition.
        let _ = self.with_state(i, |state| {
            self.apply_deferred(i, state, adapter);
            self.settle(i, state, adapter);
        });
    }

    /// The ping of partition `p` at `now`: a missed answer is a health-monitor event; a
    /// ping that is due is raised on its ping port.
    pub(super) fn ping(
        &self,
        p: usize,
        state: &mut PartitionState,
        now: u64,
        adapter: &mut impl KernelAdapter,
    ) {
        let Some(ping) = self.config.partitions[p].ping else { return };
        if state.ping_due.is_some_and(|due| now > due) {
            state.ping_due = None;
            self.partition_event_locked(p, state, HmKind::PingMissed, now, 0, adapter);
        }
        if now < state.next_ping || state.ping_due.is_some() {
            return;
        }
        state.next_ping = now.saturating_add(ping.interval);
        state.ping_due = Some(now.saturating_add(ping.bound));
        let Some((table, port)) = self.configured_port(p, Some(ping.port)) else { return };
        let context = Context { timestamp: now, ..Context::default() };
        if let Ok(raised) = table.raise(port, Some(&context)) {
            if raised.overflowed > 0 {
                self.partition_event_locked(
                    p,
                    state,
                    HmKind::PendingOverflow,
                    u64::from(ping.port),
                    1,
                    adapter,
                );
            }
        }
    }
}
