//! Time and windows: the kernel's tick, partition entry and exit, and the upcall
//! decision that follows each.

use notify_core::{Context, PartitionId};
use vcpu_state::{CatchUp, Resume};

use super::cpu::{Local, NO_SLOT, NOBODY, Switch};
use super::{PartitionState, Router};
use crate::adapter::KernelAdapter;
use crate::config::HmKind;
use crate::level::Unmask;
use crate::storm::Storm;
use crate::sync::{Ordering, fence};

impl<const P: usize, const W: usize, const C: usize, const CW: usize, const H: usize>
    Router<P, W, C, CW, H>
{
    /// The clock tick of CPU `cpu` at `now` (every CPU ticks; the clock is common to
    /// all). Costs the same whatever the number of partitions: only the partition running
    /// on this CPU is given its tick (the others are caught up when they next enter),
    /// plus the end-of-frame and acknowledgement-timeout checks, which touch only the
    /// lines concerned (whichever CPU ticks first does them).
    ///
    /// A tick into a timer port already pending (or masked, or in service) begins a quiet
    /// stretch: until the stretch of the schedule, the major frame or the partition's
    /// ping interval ends, or the port's room is used up, the ticks after it are not
    /// raised one by one but given together at the CPU's next entry point (any of them:
    /// the partition's hypercall, an interrupt, a kick's resume, its exit), before that
    /// entry point looks at the partition's events, or by
    /// [`flush_ticks`](Self::flush_ticks). The count the partition reads is the same; a
    /// quiet tick costs a few comparisons and a store (about 20 instructions).
    ///
    /// Returns the window switch this CPU's schedule makes at `now`, if any: the kernel
    /// then leaves the partition whose window ended and enters the next one, the same
    /// partition included (the first tick returns the switch into the stretch of the
    /// schedule `now` falls in).
    #[inline]
    pub fn on_tick(
        &self,
        cpu: &Local<'_, C>,
        now: u64,
        adapter: &mut impl KernelAdapter,
    ) -> Option<Switch<P>> {
        let here = cpu.cpu().index();
        // Another CPU's clock may be behind this one (its tick not taken yet, or late):
        // the deadlines of the level lines it fires count from this tick at least. (Once
        // a tick, by the first CPU to take it; a plain store, not a read-modify-write on
        // every tick: a CPU storing an older tick at the same moment lowers it until the
        // next tick, so a deadline may count from a slightly older tick, never a later
        // one.)
        if now > self.latest_tick.load(Ordering::Relaxed) {
            self.latest_tick.store(now, Ordering::Relaxed);
        }
        // Written only by this CPU's entry points (interrupts off, never re-entered):
        // relaxed is enough for this CPU's own reads.
        let state = &self.cpus[here];
        // A quiet tick: it would only add to the running partition's pending timer port;
        // given later with the ticks after it (the acknowledgement deadlines and the
        // module's stop are any CPU's, so they are looked at here).
        if now < state.quiet_until.load(Ordering::Relaxed)
            && !self.ack_watch.due(now)
            && !self.stopped()
        {
            state.quiet_now.store(now, Ordering::Relaxed);
            return None;
        }
        self.tick(here, now, adapter)
    }

    /// A tick that is not quiet.
    #[inline(never)]
    fn tick(&self, here: usize, now: u64, adapter: &mut impl KernelAdapter) -> Option<Switch<P>> {
        if self.stopped() {
            return None;
        }
        let state = &self.cpus[here];
        self.end_quiet(here, adapter);
        self.frame_boundary(now, adapter);
        if self.ack_watch.due(now) {
            self.expire_acknowledgements(here, now, adapter);
        }
        let switching = now >= state.until.load(Ordering::Relaxed);
        // At the end of a stretch of the schedule the partition is leaving: its last
        // ticks are given by its exit (not with an upcall it would take into its next
        // window). A kernel that runs its own schedule and does not exit it gets them at
        // the next tick. (Before the schedule's first stretch, a partition the kernel
        // entered itself is given its ticks as usual.)
        let leaving = switching && state.slot.load(Ordering::Relaxed) != NO_SLOT;
        let running = state.running.load(Ordering::Relaxed);
        let last_tick =
            usize::try_from(running).ok().and_then(|p| self.hot.get(p).map(|h| &h.last_tick));
        if let (Some(last_tick), false) = (last_tick, leaving) {
            // The running partition's ticks since its last tick or its entry. Only the
            // partition's own CPU gives its ticks (this tick, its entry and exit, never
            // re-entered: no other CPU's tick can give the same stretch, defect 13); its
            // time account is settled at exit.
            let last = last_tick.load(Ordering::Relaxed);
            let mut quiet = None;
            if now > last {
                last_tick.store(now, Ordering::Relaxed);
                // The doorbell protocol decides the upcall if the timer port became
                // deliverable; a tick into an already pending port costs one raise.
                quiet = self.give_ticks(here, running as usize, now - last, true, adapter);
            }
            // (Read again: the ticks above may have restarted or idled it.)
            let p = running as usize;
            if now >= self.hot[p].ping_at.load(Ordering::Relaxed)
                && state.running.load(Ordering::Relaxed) == running
            {
                self.ping_on_tick(here, p, now, adapter);
            }
            if let Some(room) = quiet
                && !switching
                && state.running.load(Ordering::Relaxed) == running
            {
                self.begin_quiet(here, p, now, room);
            }
        }
        if !switching {
            return None;
        }
        self.switch(here, now)
    }

    /// The switch into the stretch of CPU `here`'s schedule that `now` falls in (made at
    /// every stretch's end, even into the same partition's next window).
    fn switch(&self, here: usize, now: u64) -> Option<Switch<P>> {
        let (to, until) = self.slot_at(here, now);
        let slot = to.map_or(0, |p| p as u64 + 1);
        let state = &self.cpus[here];
        state.until.store(until, Ordering::Release);
        let from = match state.slot.swap(slot, Ordering::AcqRel) {
            NO_SLOT | 0 => None,
            old => Some(old as usize - 1),
        };
        // Also when the same partition's next window starts where the last ended (a
        // partition that owns its CPU, windows joined across the frame's end): it leaves
        // and enters again, so its budget, window end, pings and deferred actions are
        // renewed at every window.
        let id = |p: usize| PartitionId::new(p as u32).ok();
        Some(Switch { from: from.and_then(id), to: to.and_then(id), until })
    }

    /// The partition CPU `here` runs at `now` by its schedule (`None` in a gap), and the
    /// tick at which that stretch ends.
    fn slot_at(&self, here: usize, now: u64) -> (Option<usize>, u64) {
        let frame = self.config.schedule.major_frame;
        let base = now - now % frame;
        let offset = now % frame;
        let mut gap_end = frame;
        for w in self.config.schedule.windows {
            let p = usize::from(w.partition);
            if self.home(p) != here {
                continue;
            }
            if offset < w.start {
                // A CPU's windows are in increasing order: the gap ends at this one.
                gap_end = w.start;
                break;
            }
            if offset < w.start + w.length {
                return (Some(p), base + w.start + w.length);
            }
        }
        (None, base + gap_end)
    }

    /// At the first tick of a new major frame, lines masked for a storm in an earlier
    /// frame are unmasked (the protocol of `storm`).
    fn frame_boundary(&self, now: u64, adapter: &mut impl KernelAdapter) {
        // Before the next frame's first tick: nothing to do (without the division). The
        // frame's start was handled (the acquire pairs with the release below): the same
        // as the check of `frame` below, which a CPU passes before it handles it.
        if now < self.next_frame_at.load(Ordering::Acquire) {
            return;
        }
        let frame = self.frame_of(now);
        if self.frame.load(Ordering::Acquire) >= frame
            || self.frame.fetch_max(frame, Ordering::SeqCst) >= frame
        {
            return;
        }
        self.end_storms(frame, adapter);
        let next = frame.saturating_add(1).saturating_mul(self.config.schedule.major_frame);
        self.next_frame_at.fetch_max(next, Ordering::Release);
    }

    /// The storms of the frames before `frame` end (the protocol of `storm`).
    fn end_storms(&self, frame: u64, adapter: &mut impl KernelAdapter) {
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
    fn expire_acknowledgements(&self, here: usize, now: u64, adapter: &mut impl KernelAdapter) {
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
                let vector = u64::from(route.vector);
                self.partition_event(here, p, HmKind::AckTimeout, vector, 0, adapter);
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

    /// Raises partition `p`'s timer port `ticks` times, on CPU `here` (its own); with
    /// `signal`, tells the partition if the port became deliverable (entry and exit
    /// decide themselves). The common case (a tick into a port that stays or becomes
    /// pending, no overflow) stays on the tick's path; the rest is outlined.
    ///
    /// Returns, if more ticks would only add to the port's count (it was pending, masked
    /// or in service, and nothing overflowed), the port's room for them: the ticks after
    /// these may be quiet.
    #[inline(always)]
    fn give_ticks(
        &self,
        here: usize,
        p: usize,
        ticks: u64,
        signal: bool,
        adapter: &mut impl KernelAdapter,
    ) -> Option<u32> {
        let (table, port) = self.configured_port(p, self.config.partitions[p].timer_port)?;
        // No context: the guest's clock is in its page.
        let n = u32::try_from(ticks).unwrap_or(u32::MAX);
        let raised = table.raise_many(port, n, None).ok()?;
        if raised.overflowed > 0 || (raised.became_deliverable && signal) || u64::from(n) < ticks {
            self.ticks_given(here, p, ticks - u64::from(n), raised, signal, adapter);
            return None;
        }
        // Only this CPU raises the timer port, and the partition's own calls, which take
        // from it, end a quiet stretch first: the room is the stretch's.
        (!raised.became_deliverable).then(|| table.room(port))
    }

    /// CPU `here`'s ticks after `now` are quiet (partition `p` runs there, its timer port
    /// pending) until the first that has something else to do: the end of the stretch,
    /// `p`'s next ping, the next major frame, the first tick past the port's maximum (an
    /// overflow is reported on its tick). An acknowledgement deadline, which any CPU may
    /// set, is looked at by every quiet tick.
    ///
    /// The stretch of the schedule bounds it within this CPU's frame (a window never
    /// crosses the major frame's end: `ExceedsFrame`), so the CPU's first tick of the
    /// next frame is never quiet and looks at the frame's start. `next_frame_at` may be
    /// later than this CPU's next frame (a CPU ahead of it handled that frame's start
    /// already) or not yet past `now` (the frame's start is being handled): in the first
    /// case the stretch's end bounds it, in the second no stretch begins.
    #[inline]
    fn begin_quiet(&self, here: usize, p: usize, now: u64, room: u32) {
        let state = &self.cpus[here];
        let until = state
            .until
            .load(Ordering::Relaxed)
            .min(self.hot[p].ping_at.load(Ordering::Relaxed))
            .min(self.next_frame_at.load(Ordering::Relaxed))
            .min(now.saturating_add(u64::from(room)).saturating_add(1));
        if until > now.saturating_add(1) {
            state.quiet_now.store(now, Ordering::Relaxed);
            state.quiet_until.store(until, Ordering::Relaxed);
        }
    }

    /// Gives the partition running on CPU `cpu` the ticks its quiet stretch has not
    /// raised yet (see [`on_tick`](Self::on_tick)), so that the event tables show them.
    /// Every entry point does this first; a kernel calls it only to inspect the tables
    /// between entry points, also once the module is stopped (the ticks before the stop
    /// are given). Changes nothing else: a port into which ticks are quiet was already
    /// pending, masked or in service, and has room for them.
    pub fn flush_ticks(&self, cpu: &Local<'_, C>, adapter: &mut impl KernelAdapter) {
        self.end_quiet(cpu.cpu().index(), adapter);
    }

    /// Ends CPU `here`'s quiet ticks, if it had any: the running partition is given them
    /// (one raise of its timer port). Every entry point of the CPU calls it before it
    /// looks at the running partition's events, so no one sees the port short of a
    /// quiet tick; the adapter's inspection of the tables between entry points may (the
    /// count catches up at the CPU's next entry point, at the latest at the stretch's
    /// end).
    #[inline(always)]
    pub(super) fn end_quiet(&self, here: usize, adapter: &mut impl KernelAdapter) {
        if self.cpus[here].quiet_until.load(Ordering::Relaxed) != 0 {
            self.give_quiet_ticks(here, adapter);
        }
    }

    #[cold]
    #[inline(never)]
    fn give_quiet_ticks(&self, here: usize, adapter: &mut impl KernelAdapter) {
        let state = &self.cpus[here];
        state.quiet_until.store(0, Ordering::Relaxed);
        let now = state.quiet_now.load(Ordering::Relaxed);
        let running = state.running.load(Ordering::Relaxed);
        let Some(hot) = usize::try_from(running).ok().and_then(|p| self.hot.get(p)) else {
            return;
        };
        let last = hot.last_tick.load(Ordering::Relaxed);
        if now > last {
            hot.last_tick.store(now, Ordering::Relaxed);
            let _ = self.give_ticks(here, running as usize, now - last, true, adapter);
        }
    }

    /// The rest of [`give_ticks`](Self::give_ticks) after its first raise: the overflow
    /// reported, the partition told, the ticks past `u32::MAX` given.
    #[cold]
    #[inline(never)]
    fn ticks_given(
        &self,
        here: usize,
        p: usize,
        left: u64,
        raised: notify_core::Raised,
        signal: bool,
        adapter: &mut impl KernelAdapter,
    ) {
        if raised.overflowed > 0 {
            let lost = u64::from(raised.overflowed);
            let timer = u64::from(self.config.partitions[p].timer_port.unwrap_or_default());
            self.partition_event(here, p, HmKind::PendingOverflow, timer, lost, adapter);
        }
        if raised.became_deliverable && signal {
            self.signal(here, p, adapter);
        }
        if left > 0 {
            let _ = self.give_ticks(here, p, left, signal, adapter);
        }
    }

    /// Partition `p` enters its window on its CPU `cpu` at `now` for `budget` ticks:
    /// missed ticks are given by its catch-up policy, the clock published, pings and
    /// deferred health-monitor actions handled, and an upcall injected if one is due.
    /// Nothing happens on a CPU the partition is not bound to.
    pub fn on_partition_entry(
        &self,
        cpu: &Local<'_, C>,
        p: PartitionId<P>,
        now: u64,
        budget: u64,
        adapter: &mut impl KernelAdapter,
    ) {
        let (here, i) = (cpu.cpu().index(), p.index());
        if self.home(i) != here || self.stopped() {
            return;
        }
        // (A kernel that enters a partition without leaving the last one.)
        self.end_quiet(here, adapter);
        let mut state = self.partitions[i].lock();
        // Whatever a kick was asked for, the decision below sees (a swap: it reads the
        // kicking CPU's swap, so that CPU's raise happens before the decision).
        let _ = self.hot[i].kicked.swap(0, Ordering::AcqRel);
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
                    let _ = self.give_ticks(here, i, ticks.get(), false, adapter);
                }
                // One event; the guest reads the delta from the page's cumulative clock
                // (`given`), so a second warp before it handled the first loses nothing.
                CatchUp::Warp { delta: _ } => {
                    let _ = self.give_ticks(here, i, 1, false, adapter);
                }
            }
            self.upcall_wanted(i)
        });
        let Ok(entered) = entered else { return };
        self.hot[i].last_tick.store(now, Ordering::Release);
        self.cpus[here].running.store(i as u64, Ordering::Release);
        self.follow(i, &mut state, entered.resume, adapter);
    }

    /// Partition `p` leaves its window on its CPU `cpu` at `now`: the ticks of its last
    /// stretch are given, a window overrun is a health-monitor event. Nothing happens on a
    /// CPU the partition is not bound to.
    pub fn on_partition_exit(
        &self,
        cpu: &Local<'_, C>,
        p: PartitionId<P>,
        now: u64,
        adapter: &mut impl KernelAdapter,
    ) {
        let (here, i) = (cpu.cpu().index(), p.index());
        if self.home(i) != here || self.stopped() {
            return;
        }
        // Its quiet ticks are given below with the rest of its last stretch (its
        // `last_tick` did not move during them). (Another partition's exit leaves the
        // running one's stretch as it is.)
        if self.cpus[here].running.load(Ordering::Relaxed) == i as u64 {
            self.cpus[here].quiet_until.store(0, Ordering::Relaxed);
        }
        let mut state = self.partitions[i].lock();
        let running = &self.cpus[here].running;
        let _ = running.compare_exchange(i as u64, NOBODY, Ordering::AcqRel, Ordering::Acquire);
        let Ok(exit) = state.cpu.exit(&self.bells[i], now) else { return };
        // The time account gives `now - entry` in all; on_tick gave all but the last
        // stretch.
        let last = self.hot[i].last_tick.swap(now, Ordering::AcqRel);
        self.give_ticks(here, i, exit.ticks.min(now.saturating_sub(last)), false, adapter);
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

    /// The kernel of CPU `cpu` is about to return to the partition running there after a
    /// [`KernelAdapter::kick`] (or any other interruption): health-monitor actions
    /// deferred to this CPU's partitions are applied (running or not), and the running
    /// partition's upcall decision is taken again. A partition waiting in its window wakes
    /// if something is deliverable (an upcall is injected, or the flag left for its next
    /// sti); if nothing is, the engine asks the adapter to [`KernelAdapter::wait`] again,
    /// and the kernel keeps it waiting. Nothing happens once the module is stopped.
    pub fn on_resume(&self, cpu: &Local<'_, C>, adapter: &mut impl KernelAdapter) {
        let here = cpu.cpu().index();
        if self.stopped() {
            return;
        }
        self.end_quiet(here, adapter);
        // Health-monitor actions deferred to this CPU's partitions, running or not.
        let mut waiting = self.cpus[here].deferred.swap(0, Ordering::AcqRel);
        while waiting != 0 {
            let q = waiting.trailing_zeros() as usize;
            waiting &= waiting - 1;
            if q < P && self.home(q) == here {
                let mut state = self.partitions[q].lock();
                self.apply_deferred(q, &mut state, adapter);
            }
        }
        let Ok(i) = usize::try_from(self.cpus[here].running.load(Ordering::Acquire)) else {
            return;
        };
        if i >= P {
            return;
        }
        let mut state = self.partitions[i].lock();
        // A raise after this swap kicks again; one before it is seen below.
        let _ = self.hot[i].kicked.swap(0, Ordering::AcqRel);
        self.apply_deferred(i, &mut state, adapter);
        let decision = self.settle(i, &mut state, adapter);
        if decision == Some(Resume::Idle) || (decision.is_none() && state.cpu.vcpu().is_idle()) {
            // Woken for nothing it can take (the event was taken meanwhile, the kick was
            // for another reason, or its fault handler waits): it goes on waiting.
            adapter.wait(i as u16);
        }
    }

    /// The ping of partition `p` at `now`: a missed answer is a health-monitor event; a
    /// ping that is due is raised on its ping port.
    pub(super) fn ping(
        &self,
        p: usize,
        state: &mut PartitionState,
        now: u64,
        adapter: &mut impl KernelAdapter,
    ) -> bool {
        let deliverable = self.ping_now(p, state, now, adapter);
        // When the tick must look again: at the next ping, or just past the deadline of
        // the one pending.
        let at = match (self.config.partitions[p].ping, state.ping_due) {
            (None, _) => u64::MAX,
            (Some(_), Some(due)) => due.saturating_add(1),
            (Some(_), None) => state.next_ping,
        };
        self.hot[p].ping_at.store(at, Ordering::Relaxed);
        deliverable
    }

    /// The ping of partition `p` looked at by its CPU's tick, while it runs (a partition
    /// that keeps its CPU for long windows is pinged on time, not only at its entries).
    #[cold]
    #[inline(never)]
    fn ping_on_tick(&self, here: usize, p: usize, now: u64, adapter: &mut impl KernelAdapter) {
        // Its own CPU: free but for inspection from elsewhere (then the next tick looks).
        let Some(mut state) = self.partitions[p].try_lock() else { return };
        let deliverable = self.ping(p, &mut state, now, adapter);
        drop(state);
        if deliverable {
            // Told as any event is (a waiting partition is woken by a kick).
            self.signal(here, p, adapter);
        }
    }

    /// The ping itself; returns whether it made the ping port deliverable.
    fn ping_now(
        &self,
        p: usize,
        state: &mut PartitionState,
        now: u64,
        adapter: &mut impl KernelAdapter,
    ) -> bool {
        let Some(ping) = self.config.partitions[p].ping else { return false };
        if state.ping_due.is_some_and(|due| now > due) {
            state.ping_due = None;
            self.partition_event_locked(p, state, HmKind::PingMissed, now, 0, adapter);
        }
        if now < state.next_ping || state.ping_due.is_some() || state.mode == super::Mode::Idle {
            return false;
        }
        state.next_ping = now.saturating_add(ping.interval);
        state.ping_due = Some(now.saturating_add(ping.bound));
        let Some((table, port)) = self.configured_port(p, Some(ping.port)) else { return false };
        let context = Context { timestamp: now, ..Context::default() };
        let Ok(raised) = table.raise(port, Some(&context)) else { return false };
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
        raised.became_deliverable
    }
}
