//! The engine: one [`Router`] per module, shared by every CPU.
//!
//! Each entry point takes an event (a hardware interrupt, a tick, a window boundary, a
//! trap, a hypercall) on one CPU, named by a [`Local`] token that says the caller runs on
//! that CPU with its interrupts off, and asks the kernel, through its [`KernelAdapter`],
//! for what must happen. It never touches hardware itself.
//!
//! Concurrency (the SMP contract): each partition is bound to one CPU by the
//! configuration. Only that CPU touches the partition's own state (vCPU, time account,
//! lifecycle) and injects its upcalls; that state sits behind a spin lock which, since
//! entry points are not re-entered on a CPU, only inspection from elsewhere can contend.
//! The event tables are lock-free, so an interrupt on any CPU raises ports without a
//! lock. When a port of a partition bound to another CPU becomes deliverable, the CPU
//! that raised it asks the adapter to [`kick`](KernelAdapter::kick) the partition's CPU
//! (at most one kick per partition is in flight: a flag the partition's CPU clears when
//! it resumes the partition); that CPU's kernel calls [`Router::on_resume`], which takes
//! the upcall decision. A health-monitor action that needs the partition's state, seen
//! on another CPU, is deferred to the partition's CPU the same way.

mod budget;
mod cpu;
mod dispatch;
mod irq;
mod lifecycle;
#[cfg(all(test, loom))]
mod loom_models;
mod schedule;
mod trap;
mod upcall;

pub use cpu::{CpuId, Local, NoSuchCpu, Switch};
pub use trap::Trap;

use notify_core::{EventTables, PartitionEvents, PartitionId, Port};
use vcpu_state::{Doorbell, Nesting, Partition, SharedPage, StartReason};

use crate::adapter::KernelAdapter;
use crate::config::{ConfigError, SystemConfig, Trigger};
use crate::health::{HM_LOG_LEN, HmLog, HmRecord};
use crate::level::{AckWatch, LevelLine};
use crate::storm::StormLine;
use crate::sync::{AtomicU64, Lock, Ordering, array_of, maybe_const_fn};

use budget::Budget;
use cpu::{PerCpu, PerPartition};

/// ARINC 653 operating mode of a partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Stopped until the module restarts.
    Idle,
    /// Initializing after a cold start.
    ColdStart,
    /// Initializing after a warm start.
    WarmStart,
    /// Running normally.
    Normal,
}

/// What belongs to one partition's CPU.
pub(crate) struct PartitionState {
    pub(crate) cpu: Partition,
    pub(crate) mode: Mode,
    /// Its fault handler is running (a trap now is a trap in a trap).
    pub(crate) in_trap: bool,
    /// Tick of the next ping, and the tick by which the pending one must be answered.
    pub(crate) next_ping: u64,
    pub(crate) ping_due: Option<u64>,
    /// Why it last started (the kernel's copy: the page's is the guest's to scribble on).
    pub(crate) start_reason: StartReason,
    /// The major frames of its latest restarts (a ring; `restarts` counts them all).
    pub(crate) restart_frames: [u64; crate::config::MAX_RESTART_LIMIT as usize],
    pub(crate) restarts: u64,
}

/// Number of vectors.
const VECTORS: usize = 256;
/// `route_of` value for a vector without a route.
const NO_ROUTE: u16 = u16::MAX;

/// The engine for `P` partitions of `64 * W` ports each, on `C` CPUs.
///
/// Two more parameters size what each partition keeps beside its events, both by default
/// what every partition kept before they existed:
///
/// * `CW`: the words of context slots of each partition's event table (`64 * CW` slots;
///   `W` by default, a slot for every port). A port without a slot keeps no latest
///   context and no handler of its own (see [`PartitionEvents`]); which ports have one is
///   the configuration's choice ([`PortConfig::keep_context`](notify_core::PortConfig)),
///   and a configuration with more ports keeping a context than slots is refused
///   ([`PortConfigError::TooManyContexts`](notify_core::PortConfigError), naming the
///   entry).
/// * `H`: the records of each partition's health-monitor ring ([`HM_LOG_LEN`] by
///   default). With `H = 0` a partition has no ring of its own: its records are kept in
///   the module's ring (of [`HM_LOG_LEN`]) with the module's, so they compete for room
///   there; [`health_log`](Self::health_log) still answers each partition's records and
///   [`health_counts`](Self::health_counts) its counts, every record pushed out counted
///   lost for its partition.
///
/// `Router<P, 1, C, 0, 0>`: a partition of 64 ports costs 2,017 bytes on x86_64, against
/// 5,857 for `Router<P>` (see `BENCHMARKS.md`, "Memory per partition").
pub struct Router<
    const P: usize,
    const W: usize = 1,
    const C: usize = 1,
    const CW: usize = W,
    const H: usize = HM_LOG_LEN,
> {
    config: SystemConfig<P>,
    events: EventTables<P, W, CW>,
    partitions: [Lock<PartitionState>; P],
    pages: [&'static SharedPage; P],
    bells: [Doorbell; P],
    /// Route index of each vector, `NO_ROUTE` if none.
    route_of: [u16; VECTORS],
    /// Acknowledgement state of each vector's level line.
    levels: [LevelLine; VECTORS],
    /// Raises of each vector's line in the current major frame.
    line_budgets: [Budget; VECTORS],
    /// Notifies through each channel in the current major frame.
    channel_budgets: [Budget; crate::config::MAX_CHANNELS],
    /// Interrupts of each vector lost to its storm budget, ever.
    line_lost: [AtomicU64; VECTORS],
    /// Each line's storm mask (see `storm`).
    storms: [StormLine; VECTORS],
    /// Index of the lines that may be masked for a storm (bitmap).
    storm_index: [AtomicU64; VECTORS / 64],
    /// The latest major frame a tick started.
    frame: AtomicU64,
    /// The first tick of the major frame after the latest one whose start was handled
    /// (stored once that frame's storms were ended): ticks before it need not look.
    next_frame_at: AtomicU64,
    /// Earliest level-line acknowledgement deadline.
    ack_watch: AckWatch,
    /// The latest tick any CPU has taken (past a quiet stretch): the base of a level
    /// line's acknowledgement deadline when the firing CPU's own clock is behind.
    latest_tick: AtomicU64,
    /// Partitions their health monitor idled (bit `p`): they owe no acknowledgement.
    idled: AtomicU64,
    /// What belongs to each CPU: the partition running there, its schedule's place.
    cpus: [PerCpu; C],
    /// 1 once the health monitor stopped the module.
    stopped: AtomicU64,
    /// Each partition's words shared with other CPUs or read on the tick.
    hot: [PerPartition; P],
    /// Health-monitor records of each partition, and their counts.
    logs: [HmLog<H>; P],
    /// Health-monitor records of no partition (line storms) and their counts; with
    /// `H = 0` also the records of every partition.
    module_log: HmLog<HM_LOG_LEN>,
}

impl<const P: usize, const W: usize, const C: usize, const CW: usize, const H: usize>
    Router<P, W, C, CW, H>
{
    maybe_const_fn! {
        /// Validates `config` for `C` CPUs and builds the engine, every partition started fresh at tick 0
        /// and outside its window. `pages[p]` is the page shared with partition `p` (the
        /// adapter maps it into the partition).
        ///
        /// A `const fn`, but the engine owns its health-monitor rings (which have a
        /// destructor), so a `static` cannot unwrap the `Result` at compile time: check a
        /// `const` configuration at compile time with
        /// `const _: () = assert!(CONFIG.validate_on::<W, C>().is_ok());` (the same check
        /// as this function's, the CPUs included; `validate_engine::<W, C, CW>()` for an
        /// engine of fewer context slots than ports) and build the engine once at boot
        /// into static storage.
        ///
        /// # Errors
        /// The first [`ConfigError`] of the configuration, naming its entry.
        pub fn new(
            config: SystemConfig<P>,
            pages: [&'static SharedPage; P],
        ) -> Result<Self, ConfigError> {
            if let Err(e) = config.validate_engine::<W, C, CW>() {
                return Err(e);
            }
            let events = match EventTables::new(&config.tables()) {
                Ok(events) => events,
                Err(e) => return Err(ConfigError::Events(e)),
            };
            let mut route_of = [NO_ROUTE; VECTORS];
            let mut r = 0;
            while r < config.routes.len() {
                route_of[config.routes[r].vector as usize] = r as u16;
                r += 1;
            }
            let partitions = {
                let mut states = array_of![Lock::new(PartitionState::EMPTY); P];
                let mut p = 0;
                while p < P {
                    states[p] = Lock::new(PartitionState::initial(&config.partitions[p]));
                    p += 1;
                }
                states
            };
            Ok(Self {
                config,
                events,
                partitions,
                pages,
                bells: array_of![Doorbell::new(); P],
                route_of,
                levels: array_of![LevelLine::new(); VECTORS],
                line_budgets: array_of![Budget::new(); VECTORS],
                channel_budgets: array_of![Budget::new(); crate::config::MAX_CHANNELS],
                line_lost: array_of![AtomicU64::new(0); VECTORS],
                storms: array_of![StormLine::new(); VECTORS],
                storm_index: array_of![AtomicU64::new(0); VECTORS / 64],
                frame: AtomicU64::new(0),
                next_frame_at: AtomicU64::new(config.schedule.major_frame),
                ack_watch: AckWatch::new(),
                latest_tick: AtomicU64::new(0),
                idled: AtomicU64::new(0),
                cpus: array_of![PerCpu::new(); C],
                stopped: AtomicU64::new(0),
                hot: array_of![PerPartition::new(); P],
                logs: array_of![HmLog::new(); P],
                module_log: HmLog::new(),
            })
        }
    }

    /// Rebuilds the engine in place for `config` and `pages`, as [`new`](Self::new)
    /// builds a new one: every partition fresh at tick 0 and outside its window, nothing
    /// pending, no health-monitor record, nothing of the previous configuration kept.
    ///
    /// For a kernel that keeps the engine in static storage and configures it at boot on
    /// a small stack: `new` returns the engine by value (tens of KiB, several times that
    /// on the stack while it is built and moved), while this rewrites each part where it
    /// is, one small piece at a time. The engine to reconfigure may be any engine, e.g.
    /// one built by `new` in a `static` initializer from a placeholder configuration.
    /// On an error nothing is changed.
    ///
    /// # Errors
    /// The first [`ConfigError`] of the configuration, naming its entry.
    pub fn reconfigure(
        &mut self,
        config: SystemConfig<P>,
        pages: [&'static SharedPage; P],
    ) -> Result<(), ConfigError> {
        config.validate_engine::<W, C, CW>()?;
        self.events.reconfigure(&config.tables()).map_err(ConfigError::Events)?;
        for (state, c) in self.partitions.iter_mut().zip(&config.partitions) {
            *state = Lock::new(PartitionState::initial(c));
        }
        self.pages = pages;
        for bell in &mut self.bells {
            *bell = Doorbell::new();
        }
        self.route_of = [NO_ROUTE; VECTORS];
        for (r, route) in config.routes.iter().enumerate() {
            self.route_of[usize::from(route.vector)] = r as u16;
        }
        for level in &mut self.levels {
            *level = LevelLine::new();
        }
        for budget in self.line_budgets.iter_mut().chain(&mut self.channel_budgets) {
            *budget = Budget::new();
        }
        for lost in self.line_lost.iter_mut().chain(&mut self.storm_index) {
            *lost = AtomicU64::new(0);
        }
        for storm in &mut self.storms {
            *storm = StormLine::new();
        }
        self.frame = AtomicU64::new(0);
        self.next_frame_at = AtomicU64::new(config.schedule.major_frame);
        self.ack_watch = AckWatch::new();
        self.latest_tick = AtomicU64::new(0);
        self.idled = AtomicU64::new(0);
        for cpu in &mut self.cpus {
            *cpu = PerCpu::new();
        }
        self.stopped = AtomicU64::new(0);
        for hot in &mut self.hot {
            *hot = PerPartition::new();
        }
        // Emptied where they are: a ring built anew would be built on the stack first.
        for log in &mut self.logs {
            log.clear();
        }
        self.module_log.clear();
        self.config = config;
        Ok(())
    }

    /// Publishes every partition's start reason (`Fresh`) in its page. Call once before
    /// the first window.
    pub fn start(&self) {
        for p in 0..P {
            let mut state = self.partitions[p].lock();
            let _ = state.cpu.start(self.pages[p], &self.bells[p], 0, StartReason::Fresh);
        }
    }

    /// The configuration.
    pub const fn config(&self) -> &SystemConfig<P> {
        &self.config
    }

    /// The event tables (for inspection; partitions act on them through hypercalls).
    ///
    /// Between entry points, a running partition's timer port may be short of the
    /// quiet ticks of its CPU (ticks into a port already pending are given all at once
    /// at that CPU's next entry point, at the latest when the stretch, the frame or the
    /// partition's ping interval ends; see [`on_tick`](Self::on_tick));
    /// [`flush_ticks`](Self::flush_ticks) gives them now.
    pub const fn events(&self) -> &EventTables<P, W, CW> {
        &self.events
    }

    /// Partition `p`'s mode (waits for its state: not from an interrupt handler or an
    /// adapter callback, see [`try_mode`](Self::try_mode)).
    pub fn mode(&self, p: PartitionId<P>) -> Mode {
        self.partitions[p.index()].lock().mode
    }

    /// Partition `p`'s mode, or `None` if a path on this or another CPU holds its state
    /// right now (for callers that must never wait: interrupt handlers, adapter callbacks).
    pub fn try_mode(&self, p: PartitionId<P>) -> Option<Mode> {
        self.partitions[p.index()].try_lock().map(|state| state.mode)
    }

    /// Partition `p`'s vCPU and time account (a copy, for inspection).
    pub fn partition_cpu(&self, p: PartitionId<P>) -> Partition {
        self.partitions[p.index()].lock().cpu.clone()
    }

    /// The partition inside its window on `cpu`, if any.
    pub fn running(&self, cpu: CpuId<C>) -> Option<PartitionId<P>> {
        let raw = self.cpus[cpu.index()].running.load(Ordering::Acquire);
        u32::try_from(raw).ok().and_then(|r| PartitionId::new(r).ok())
    }

    /// The CPU partition `p` is bound to.
    pub fn cpu_of(&self, p: PartitionId<P>) -> CpuId<C> {
        // Validated in `new`: below C.
        CpuId::new(u32::from(self.config.partitions[p.index()].cpu)).unwrap_or(CpuId::BOOT)
    }

    /// Interrupts of line `vector` lost to its storm budget since boot: the one that
    /// exceeded the budget and any that were already on their way when the line was
    /// masked (each is also in a `Storm` record of the module's log).
    pub fn line_lost(&self, vector: u8) -> u64 {
        self.line_lost[vector as usize].load(Ordering::Acquire)
    }

    /// Whether the module was stopped by the health monitor.
    pub fn stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire) != 0
    }

    /// Copies partition `p`'s health-monitor records (or with `None` the module's) kept
    /// in its ring, oldest first, into `out`; returns how many. With `H = 0` a partition's
    /// records are kept in the module's ring: the same answer, from there.
    pub fn health_log(&self, p: Option<PartitionId<P>>, out: &mut [HmRecord]) -> usize {
        let scope = p.map(PartitionId::raw);
        match self.ring_of(p) {
            Some(log) => log.copy_to(scope, out),
            None => self.module_log.copy_to(scope, out),
        }
    }

    /// [`health_log`](Self::health_log) that never waits: `None` if the ring is being
    /// written right now.
    pub fn try_health_log(&self, p: Option<PartitionId<P>>, out: &mut [HmRecord]) -> Option<usize> {
        let scope = p.map(PartitionId::raw);
        match self.ring_of(p) {
            Some(log) => log.try_copy_to(scope, out),
            None => self.module_log.try_copy_to(scope, out),
        }
    }

    /// Health-monitor records ever made for partition `p` (or with `None` the module),
    /// and those lost from its ring.
    pub fn health_counts(&self, p: Option<PartitionId<P>>) -> (u64, u64) {
        match p {
            Some(p) => (self.logs[p.index()].total(), self.logs[p.index()].dropped()),
            None => (self.module_log.total(), self.module_log.dropped()),
        }
    }

    /// The ring that keeps partition `p`'s records, if it is a partition's own (`None`:
    /// the module's).
    fn ring_of(&self, p: Option<PartitionId<P>>) -> Option<&HmLog<H>> {
        if H == 0 {
            return None;
        }
        Some(&self.logs[p?.index()])
    }

    /// Counts a record pushed out of a ring, or never kept in one, as lost for its scope.
    fn count_lost(&self, record: &HmRecord) {
        match record.partition.and_then(|p| self.logs.get(usize::from(p))) {
            Some(log) => log.count_lost(),
            None => self.module_log.count_lost(),
        }
    }

    /// Partition `p`'s event table (`p` is one of the engine's own indices, below `P`).
    fn table(&self, p: usize) -> &PartitionEvents<W, CW> {
        &self.events.partitions()[p]
    }

    /// Partition `p`'s table and port `raw`, a port the configuration names (a route
    /// target, the timer, error or ping port), if there is one.
    fn configured_port(
        &self,
        p: usize,
        raw: Option<u16>,
    ) -> Option<(&PartitionEvents<W, CW>, Port<W>)> {
        Some((self.table(p), Port::new(u32::from(raw?)).ok()?))
    }

    /// Whether `vector` is a level line (for the acknowledgement path).
    fn is_level(&self, vector: u8) -> bool {
        self.route(vector).is_some_and(|r| matches!(r.trigger, Trigger::Level))
    }

    fn route(&self, vector: u8) -> Option<&'static crate::config::Route> {
        let index = self.route_of[vector as usize];
        let routes: &'static [crate::config::Route] = self.config.routes;
        routes.get(index as usize)
    }

    fn frame_of(&self, now: u64) -> u64 {
        now / self.config.schedule.major_frame
    }

    /// The CPU index partition `p` is bound to.
    fn home(&self, p: usize) -> usize {
        usize::from(self.config.partitions[p].cpu)
    }

    /// Whether partition `p` is inside its window on CPU `here`.
    fn runs_on(&self, here: usize, p: usize) -> bool {
        self.cpus[here].running.load(Ordering::Acquire) == p as u64
    }

    /// Asks partition `p`'s CPU to resume it through the engine, unless a kick for it is
    /// already in flight.
    fn kick(&self, p: usize, adapter: &mut impl KernelAdapter) {
        if self.hot[p].kicked.swap(1, Ordering::AcqRel) == 0 {
            adapter.kick(self.config.partitions[p].cpu);
        }
    }

    /// Records a health-monitor event in the ring and the kernel's log.
    fn record(&self, record: HmRecord, adapter: &mut impl KernelAdapter) {
        self.keep(record);
        adapter.log(&record);
    }

    /// Counts `record` for its scope (partition or module) and keeps it in its partition's
    /// own ring, or in the module's (with `H = 0`, or a record of no partition). Out of
    /// line, as the ring's push was before rings had a length parameter: inlined into
    /// the interrupt paths that may make a record, it weighed on their hot part.
    #[inline(never)]
    fn keep(&self, record: HmRecord) {
        let own = record.partition.and_then(|p| self.logs.get(usize::from(p)));
        match own {
            Some(log) => log.count(),
            None => self.module_log.count(),
        }
        let kept = match own {
            Some(log) if H > 0 => log.keep(record),
            _ => self.module_log.keep(record),
        };
        match kept {
            Ok(None) => {}
            Ok(Some(pushed_out)) => self.count_lost(&pushed_out),
            Err(()) => self.count_lost(&record),
        }
    }
}

impl PartitionState {
    maybe_const_fn! {
        /// The state of a partition configured by `c` before its first start.
        fn initial(c: &crate::config::PartitionConfig) -> Self {
            Self {
                cpu: Partition::new(c.catch_up, Nesting::NONE, 0),
                mode: Mode::ColdStart,
                in_trap: false,
                next_ping: match c.ping {
                    Some(ping) => ping.interval,
                    None => u64::MAX,
                },
                ping_due: None,
                start_reason: StartReason::Fresh,
                restart_frames: [0; crate::config::MAX_RESTART_LIMIT as usize],
                restarts: 0,
            }
        }
    }

    /// Placeholder replaced in [`Router::new`] before use.
    const EMPTY: Self = Self {
        cpu: Partition::new(vcpu_state::CatchUpPolicy::Replay, Nesting::NONE, 0),
        mode: Mode::Idle,
        in_trap: false,
        next_ping: u64::MAX,
        ping_due: None,
        start_reason: StartReason::Fresh,
        restart_frames: [0; crate::config::MAX_RESTART_LIMIT as usize],
        restarts: 0,
    };
}

/// The engine's state per partition beside its event table, printed for
/// `BENCHMARKS.md`: `cargo test -p irq-router --release --lib sizes -- --nocapture`.
#[cfg(all(test, not(loom)))]
mod sizes {
    extern crate std;
    use core::mem::size_of;
    use std::println;

    use super::{PartitionState, PerPartition, Router};
    use crate::config::PartitionConfig;
    use crate::health::{HM_LOG_LEN, HmLog, HmRecord};
    use crate::sync::Lock;
    use notify_core::PartitionEvents;
    use vcpu_state::{Doorbell, SharedPage};

    /// What one more partition adds to a router of `64 * W` ports a partition, `64 * CW`
    /// context slots and health-monitor rings of `H` records: `Router<2>` minus
    /// `Router<1>`. The router is aligned to a cache line (64 bytes), so this is the exact
    /// figure give or take that rounding.
    fn per_partition<const W: usize, const CW: usize, const H: usize>() -> usize {
        size_of::<Router<2, W, 1, CW, H>>() - size_of::<Router<1, W, 1, CW, H>>()
    }

    /// The exact figure: the growth over 64 partitions, shared out (the rounding of the
    /// router's size to its alignment, under 64 bytes, is under a byte a partition).
    fn per_partition_exact<const W: usize, const CW: usize, const H: usize>() -> usize {
        (size_of::<Router<65, W, 1, CW, H>>() - size_of::<Router<1, W, 1, CW, H>>() + 32) / 64
    }

    /// The engine's own parts per partition, beside the event table and the ring.
    fn parts() -> [(&'static str, usize); 4] {
        [
            (
                "its state, behind its lock (`Lock<PartitionState>`)",
                size_of::<Lock<PartitionState>>(),
            ),
            ("its configuration (`PartitionConfig`)", size_of::<PartitionConfig>()),
            (
                "words shared with other CPUs (`PerPartition`, cache-line aligned)",
                size_of::<PerPartition>(),
            ),
            ("its page reference and doorbell", size_of::<&SharedPage>() + size_of::<Doorbell>()),
        ]
    }

    /// Checks that the parts are all of a partition's cost and prints its row.
    fn row<const W: usize, const CW: usize, const H: usize>(what: &str) -> usize {
        let (rough, exact) = (per_partition::<W, CW, H>(), per_partition_exact::<W, CW, H>());
        let table = size_of::<PartitionEvents<W, CW>>();
        let ring = size_of::<HmLog<H>>();
        let engine: usize = parts().iter().map(|(_, bytes)| bytes).sum::<usize>() + ring;
        // The parts are all of it (the router's arrays of them grow by one element a
        // partition); `Router<2>` minus `Router<1>` is the same give or take the rounding.
        assert_eq!(table + engine, exact, "{what}");
        assert!(rough.abs_diff(exact) < 64, "{what}: {rough} against {exact}");
        println!("| {what} | {table} | {ring} | {engine} | {exact} | {rough} |");
        exact
    }

    #[test]
    fn sizes_per_partition() {
        println!("| engine state per partition | bytes |");
        println!("|---|---:|");
        for (what, bytes) in parts() {
            println!("| {what} | {bytes} |");
        }
        println!(
            "| health-monitor ring (`HmLog<H>`): {HM_LOG_LEN} records of {} bytes (the \
             default); none | {}; {} |",
            size_of::<HmRecord>(),
            size_of::<HmLog<HM_LOG_LEN>>(),
            size_of::<HmLog<0>>()
        );
        println!();
        println!(
            "| router (ports `64 * W`, context slots `64 * CW`, ring `H`) | event table | \
             ring | engine state (with the ring) | per partition, exact | `Router<2>` minus \
             `Router<1>` |"
        );
        println!("|---|---:|---:|---:|---:|---:|");
        let default64 = row::<1, 1, HM_LOG_LEN>("`Router<P>`: 64 ports (the default)");
        row::<64, 64, HM_LOG_LEN>("`Router<P, 64>`: 4,096 ports (the default)");
        row::<1, 1, 0>("`Router<P, 1, C, 1, 0>`: 64 ports, every context, no ring");
        row::<1, 0, HM_LOG_LEN>("`Router<P, 1, C, 0>`: 64 ports, no context, rings of 32");
        let bare64 = row::<1, 0, 0>("`Router<P, 1, C, 0, 0>`: 64 ports, no context, no ring");
        row::<64, 1, 0>("`Router<P, 64, C, 1, 0>`: 4,096 ports, 64 contexts, no ring");
        // Issue 15's aim: a partition of 64 ports that keeps no latest context costs at
        // most 2 KiB, event table and engine state together.
        assert_eq!(bare64, 2_017);
        assert!(bare64 <= 2_048);
        assert!(per_partition::<1, 0, 0>() <= 2_048);
        // The default is what it was but for the slot index (16 bytes) and the ring's
        // own indices (16 bytes fewer than heapless's).
        assert_eq!(default64, 5_857 + 16 - 16);
    }
}
