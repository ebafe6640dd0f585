//! The three-partition system the router targets drive (adapted from irq-router's engine
//! tests), and a machine that drives it through its cyclic schedule one kernel event at a
//! time.

use super::CPU0;
use core::num::{NonZeroU32, NonZeroU64};

use arbitrary::Arbitrary;
use irq_router::adapter::{Action, Recording};
use irq_router::config::{
    ChannelBudget, HmAction, HmKind, HmTable, PartitionConfig, Ping, Route, Schedule, Sharing,
    SystemConfig, Target, Trigger, VectorSet, Window,
};
use irq_router::hypercall::RawCall;
use irq_router::{Router, Trap};
use notify_core::{Binding, Channel, Endpoint, PartitionId, PortConfig, Source};
use vcpu_state::{CatchUpPolicy, SharedPage};

use super::arena::Arena;

pub(crate) const P: usize = 3;
pub(crate) type System = Router<P, 1>;
pub(crate) type Adapter = Recording<4096>;

pub(crate) const CLOCK: u8 = 0x20;
pub(crate) const LEVEL: u8 = 0x21;
pub(crate) const SHARED: u8 = 0x23;
pub(crate) const STORMY: u8 = 0x24;

pub(crate) const TIMER: u16 = 0;
const LEVEL_PORT: u16 = 1;
const SHARED_PORT: u16 = 2;
const ERRORS: u16 = 3;
const CHANNEL: u16 = 4;
const PING: u16 = 5;
const INBOX: u16 = 6;
const STORM_PORT: u16 = 2;

/// Partition 0 replays missed ticks and has no ping: its timer raises are exactly the
/// ticks its time account gives.
pub(crate) const REPLAY: usize = 0;

const FRAME: u64 = 30;

static ALPHA_PORTS: [PortConfig; 6] = [
    PortConfig::new(TIMER, Binding::counting(Source::Timer)),
    PortConfig::new(LEVEL_PORT, Binding::coalescing(Source::Line(LEVEL as u16))),
    PortConfig::new(SHARED_PORT, Binding::counting(Source::Line(SHARED as u16))),
    PortConfig::new(ERRORS, Binding::counting(Source::Lifecycle)),
    PortConfig::new(CHANNEL, Binding::counting(Source::Channel(0))),
    PortConfig::new(INBOX, Binding::counting(Source::Channel(1))),
];
static BETA_PORTS: [PortConfig; 5] = [
    PortConfig::new(TIMER, Binding::counting(Source::Timer)),
    PortConfig::new(LEVEL_PORT, Binding::coalescing(Source::Line(LEVEL as u16))),
    PortConfig::new(SHARED_PORT, Binding::counting(Source::Line(SHARED as u16))),
    PortConfig::new(CHANNEL, Binding::counting(Source::Channel(0))),
    PortConfig::new(PING, Binding::coalescing(Source::Ping)),
];
static GAMMA_PORTS: [PortConfig; 3] = [
    PortConfig::new(TIMER, Binding::counting(Source::Timer)),
    PortConfig::new(STORM_PORT, Binding::counting(Source::Line(STORMY as u16))),
    PortConfig::new(CHANNEL, Binding::counting(Source::Channel(1))),
];

const fn partition(name: &'static str, ports: &'static [PortConfig]) -> PartitionConfig {
    PartitionConfig {
        name,
        cpu: 0,
        ports,
        priority_levels: &[],
        timer_port: Some(TIMER),
        error_port: None,
        catch_up: CatchUpPolicy::Replay,
        vectors: VectorSet::EMPTY,
        channels: 0,
        ping: None,
        health: HmTable::IGNORE_ALL,
    }
}

static LEVEL_TARGETS: [Target; 2] =
    [Target { partition: 0, port: LEVEL_PORT }, Target { partition: 1, port: LEVEL_PORT }];
static SHARED_TARGETS: [Target; 2] =
    [Target { partition: 0, port: SHARED_PORT }, Target { partition: 1, port: SHARED_PORT }];
static STORM_TARGET: [Target; 1] = [Target { partition: 2, port: STORM_PORT }];
pub(crate) static ROUTES: [Route; 3] = [
    Route {
        vector: LEVEL,
        sharing: Sharing::Shared,
        trigger: Trigger::Level,
        kernel_first: false,
        targets: &LEVEL_TARGETS,
        budget: None,
        ack_timeout: 5,
    },
    Route {
        vector: SHARED,
        sharing: Sharing::Shared,
        trigger: Trigger::Edge,
        kernel_first: false,
        targets: &SHARED_TARGETS,
        budget: None,
        ack_timeout: 0,
    },
    Route {
        vector: STORMY,
        sharing: Sharing::Exclusive,
        trigger: Trigger::Edge,
        kernel_first: true,
        targets: &STORM_TARGET,
        budget: NonZeroU32::new(3),
        ack_timeout: 0,
    },
];
static CHANNELS: [Channel; 2] = [
    Channel {
        source: Endpoint { partition: 0, port: CHANNEL },
        destination: Endpoint { partition: 1, port: CHANNEL },
    },
    Channel {
        source: Endpoint { partition: 2, port: CHANNEL },
        destination: Endpoint { partition: 0, port: INBOX },
    },
];
static CHANNEL_BUDGETS: [ChannelBudget; 1] =
    [ChannelBudget { channel: 1, raises: NonZeroU32::new(2).expect("non-zero") }];
/// Alpha, beta, a gap of two ticks with nobody running, gamma.
static WINDOWS: [Window; 3] = [
    Window { partition: 0, start: 0, length: 10 },
    Window { partition: 1, start: 10, length: 8 },
    Window { partition: 2, start: 20, length: 10 },
];

pub(crate) const CONFIG: SystemConfig<P> = SystemConfig {
    partitions: [
        PartitionConfig {
            error_port: Some(ERRORS),
            vectors: VectorSet::EMPTY.with(LEVEL).with(SHARED),
            channels: 0b11,
            health: HmTable::IGNORE_ALL
                .on(HmKind::Trap, HmAction::Deliver)
                .on(HmKind::TrapInTrap, HmAction::WarmStart)
                .on(HmKind::PendingOverflow, HmAction::Deliver)
                .on(HmKind::IllegalHypercall, HmAction::Deliver)
                .on(HmKind::AckTimeout, HmAction::Deliver)
                .on(HmKind::PartitionError, HmAction::ColdStart)
                .on(HmKind::UpcallFault, HmAction::ColdStart),
            ..partition("alpha", &ALPHA_PORTS)
        },
        PartitionConfig {
            catch_up: CatchUpPolicy::Warp,
            vectors: VectorSet::EMPTY.with(LEVEL).with(SHARED),
            channels: 0b01,
            ping: Some(Ping { port: PING, interval: 60, bound: 40 }),
            health: HmTable::IGNORE_ALL
                .on(HmKind::Trap, HmAction::ColdStart)
                .on(HmKind::PartitionError, HmAction::WarmStart)
                .on(HmKind::UpcallFault, HmAction::WarmStart),
            ..partition("beta", &BETA_PORTS)
        },
        PartitionConfig {
            catch_up: CatchUpPolicy::Collapse,
            vectors: VectorSet::EMPTY.with(STORMY),
            channels: 0b10,
            health: HmTable::IGNORE_ALL
                .on(HmKind::Trap, HmAction::Idle)
                .on(HmKind::PartitionError, HmAction::ColdStart),
            ..partition("gamma", &GAMMA_PORTS)
        },
    ],
    schedule: Schedule { major_frame: FRAME, windows: &WINDOWS },
    routes: &ROUTES,
    clock_vector: Some(CLOCK),
    channels: &CHANNELS,
    channel_budgets: &CHANNEL_BUDGETS,
};

/// Start of partition `p`'s memory in [`Recording`]'s default layout.
pub(crate) fn memory(p: usize) -> u64 {
    let (base, size) = Adapter::new().memory;
    base + p as u64 * size
}

pub(crate) fn pid(p: usize) -> PartitionId<P> {
    PartitionId::new(p as u32).expect("partition in range")
}

/// The partition whose window contains tick `t`, and the tick its window ends.
pub(crate) fn window_at(t: u64) -> Option<(usize, u64)> {
    let offset = t % FRAME;
    WINDOWS
        .iter()
        .find(|w| offset >= w.start && offset < w.start + w.length)
        .map(|w| (usize::from(w.partition), t - offset + w.start + w.length))
}

/// An argument register: small values reach ports and vectors, `Memory` the caller's
/// own memory (handler entries, console buffers).
#[derive(Arbitrary, Clone, Copy, Debug)]
pub(crate) enum Arg {
    Small(u8),
    Memory(u16),
    Any(u64),
}

impl Arg {
    /// The register's value in a call of partition `caller`.
    pub(crate) fn value(self, caller: usize) -> u64 {
        match self {
            Self::Small(v) => u64::from(v),
            Self::Memory(offset) => memory(caller) + u64::from(offset),
            Self::Any(v) => v,
        }
    }
}

/// One thing the kernel does to the router.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    /// `on_partition_exit`.
    Exit(usize),
    /// `on_partition_entry` with the window's remaining ticks.
    Entry(usize, u64),
    /// `on_hardware_irq` (the clock vector is the tick).
    Irq(u8),
    /// `on_trap`.
    Trap(usize, Trap),
    /// `hypercall`.
    Call(usize, RawCall),
    /// The guest sets its virtual interrupt flag in its page (no hypercall).
    Sti(usize),
    /// The guest clears it.
    Cli(usize),
}

/// The router, its recording adapter and the kernel's view of the schedule.
pub(crate) struct Machine {
    pub(crate) router: Box<System>,
    pub(crate) adapter: Adapter,
    pages: &'static [SharedPage; P],
    /// Kernel tick.
    pub(crate) now: u64,
    /// The partition whose window the kernel is in (entered, not idled, not exited).
    pub(crate) in_window: Option<usize>,
    /// Partitions the health monitor stopped: the kernel no longer schedules them.
    pub(crate) idle: [bool; P],
    /// The module was stopped.
    pub(crate) stopped: bool,
    // Last: dropped after the router and the pages it owns.
    _arena: Arena,
}

impl Machine {
    /// A started system at tick 0 with every partition's upcall entry and fault handler
    /// registered, before the first window.
    pub(crate) fn new() -> Self {
        let mut arena = Arena::default();
        // SAFETY: the pages are held by the router and `pages`, both fields of the machine
        // declared before the arena, so dropped before it; `pages` is never handed out
        // with its `'static` lifetime.
        let pages =
            unsafe { arena.alloc([SharedPage::new(), SharedPage::new(), SharedPage::new()]) };
        let router = Box::new(
            Router::new(CONFIG, [&pages[0], &pages[1], &pages[2]]).expect("valid configuration"),
        );
        router.start();
        for p in 0..P {
            let table = router.events().partition(pid(p));
            table.set_upcall_entry(NonZeroU64::new(memory(p)));
            table.set_fault_handler(NonZeroU64::new(memory(p) + 0x1000));
        }
        Self {
            router,
            adapter: Adapter::new(),
            pages,
            now: 0,
            in_window: None,
            idle: [false; P],
            stopped: false,
            _arena: arena,
        }
    }

    /// The window switches due at `now`: the exit of the partition whose window ended,
    /// the entry of the one whose window starts (unless idle).
    pub(crate) fn switches(&self) -> Vec<Event> {
        let owner = window_at(self.now);
        let mut events = Vec::new();
        if let Some(p) = self.in_window
            && owner.map(|(q, _)| q) != Some(p)
        {
            events.push(Event::Exit(p));
        }
        if let Some((q, end)) = owner
            && self.in_window != Some(q)
            && !self.idle[q]
        {
            events.push(Event::Entry(q, end - self.now));
        }
        events
    }

    /// Advances the kernel's clock by one tick; returns what the kernel does at it: the
    /// window switches, then the clock interrupt.
    pub(crate) fn tick(&mut self) -> Vec<Event> {
        self.now += 1;
        self.adapter.now = self.now;
        let mut events = self.switches();
        events.push(Event::Irq(CLOCK));
        events
    }

    /// The partition that runs now in the kernel's view (it may be between a restart and
    /// its next window for the router): traps and hypercalls come from it.
    pub(crate) fn current(&self) -> Option<usize> {
        self.in_window.filter(|&p| !self.idle[p])
    }

    /// Performs one event; returns the hypercall's answer, if it was one, and the actions
    /// the router asked for (the kernel's view is updated from them).
    pub(crate) fn perform(&mut self, event: Event) -> (Option<[u64; 2]>, Vec<Action>) {
        let (router, adapter) = (&self.router, &mut self.adapter);
        let mut answer = None;
        match event {
            Event::Exit(p) => {
                router.on_partition_exit(&CPU0, pid(p), self.now, adapter);
                self.in_window = None;
            }
            Event::Entry(p, budget) => {
                self.in_window = Some(p);
                router.on_partition_entry(&CPU0, pid(p), self.now, budget, adapter);
            }
            Event::Irq(vector) => {
                let _ = router.on_hardware_irq(&CPU0, vector, adapter);
            }
            Event::Trap(p, trap) => router.on_trap(&CPU0, pid(p), trap, adapter),
            Event::Call(p, raw) => answer = Some(router.hypercall(&CPU0, pid(p), &raw, adapter)),
            Event::Sti(p) => {
                let _ = self.pages[p].guest().sti();
            }
            Event::Cli(p) => self.pages[p].guest().cli(),
        }
        let mut actions: Vec<Action> = self.adapter.take().collect();
        // A kick of the CPU: the kernel resumes the partition running there (which also
        // ends its wait) before it returns to it, until no kick is left.
        let kicked = |actions: &[Action]| actions.iter().any(|a| matches!(a, Action::Kick(_)));
        let mut pending = kicked(&actions);
        let mut resumes = 0;
        while pending {
            resumes += 1;
            assert!(resumes < 64, "kicks never stop: {actions:?}");
            self.router.on_resume(&CPU0, &mut self.adapter);
            let resumed: Vec<Action> = self.adapter.take().collect();
            pending = kicked(&resumed);
            actions.extend(resumed);
        }
        for action in &actions {
            match *action {
                Action::Idle(q) => {
                    self.idle[usize::from(q)] = true;
                    if self.in_window == Some(usize::from(q)) {
                        self.in_window = None;
                    }
                }
                Action::StopModule => self.stopped = true,
                _ => {}
            }
        }
        (answer, actions)
    }
}
