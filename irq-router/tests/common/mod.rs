//! A three-partition system, a scheduler that drives the router through its windows, and
//! helpers shared by the engine tests.
#![allow(dead_code, reason = "each test file uses a part of this")]

use core::num::{NonZeroU32, NonZeroU64};

use irq_router::adapter::{Action, Recording};
use irq_router::config::{
    HmAction, HmKind, HmTable, PartitionConfig, Ping, Route, Schedule, Sharing, SystemConfig,
    Target, Trigger, VectorSet, Window,
};
use irq_router::{CpuId, Local, Router};
use notify_core::{Binding, Channel, Endpoint, PartitionId, Port, PortConfig, Source};
use vcpu_state::{CatchUpPolicy, SharedPage};

pub(crate) const P: usize = 3;
pub(crate) type System = Router<P, 1>;
pub(crate) type Adapter = Recording<4096>;

/// The one CPU of the single-CPU tests, its interrupts off (they are threads' own).
pub(crate) const CPU0: Local<'static, 1> = Local::interrupts_disabled(CpuId::BOOT);

pub(crate) const CLOCK: u8 = 0x20;
pub(crate) const LEVEL: u8 = 0x21;
pub(crate) const SHARED: u8 = 0x23;
pub(crate) const STORMY: u8 = 0x24;

pub(crate) const TIMER: u16 = 0;
pub(crate) const LEVEL_PORT: u16 = 1;
pub(crate) const SHARED_PORT: u16 = 2;
pub(crate) const ERRORS: u16 = 3;
pub(crate) const CHANNEL: u16 = 4;
pub(crate) const PING: u16 = 5;
pub(crate) const STORM_PORT: u16 = 2;

pub(crate) const FRAME: u64 = 30;
pub(crate) const WINDOW: u64 = 10;
pub(crate) const ENTRY: u64 = 0x40_0000;
pub(crate) const FAULT_HANDLER: u64 = 0x40_1000;

static ALPHA_PORTS: [PortConfig; 6] = [
    PortConfig::new(TIMER, Binding::counting(Source::Timer)),
    PortConfig::new(LEVEL_PORT, Binding::coalescing(Source::Line(LEVEL as u16))),
    PortConfig::new(SHARED_PORT, Binding::counting(Source::Line(SHARED as u16))),
    PortConfig::new(ERRORS, Binding::counting(Source::Lifecycle)),
    PortConfig::new(CHANNEL, Binding::counting(Source::Channel(0))),
    PortConfig::new(PING, Binding::coalescing(Source::Ping)),
];
static BETA_PORTS: [PortConfig; 4] = [
    PortConfig::new(TIMER, Binding::counting(Source::Timer)),
    PortConfig::new(LEVEL_PORT, Binding::coalescing(Source::Line(LEVEL as u16))),
    PortConfig::new(SHARED_PORT, Binding::counting(Source::Line(SHARED as u16))),
    PortConfig::new(CHANNEL, Binding::counting(Source::Channel(0))),
];
static GAMMA_PORTS: [PortConfig; 2] = [
    PortConfig::new(TIMER, Binding::counting(Source::Timer)),
    PortConfig::new(STORM_PORT, Binding::counting(Source::Line(STORMY as u16))),
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
static ROUTES: [Route; 3] = [
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
static CHANNELS: [Channel; 1] = [Channel {
    source: Endpoint { partition: 0, port: CHANNEL },
    destination: Endpoint { partition: 1, port: CHANNEL },
}];
pub(crate) static WINDOWS: [Window; 3] = [
    Window { partition: 0, start: 0, length: WINDOW },
    Window { partition: 1, start: WINDOW, length: WINDOW },
    Window { partition: 2, start: 2 * WINDOW, length: WINDOW },
];

pub(crate) const CONFIG: SystemConfig<P> = SystemConfig {
    partitions: [
        PartitionConfig {
            error_port: Some(ERRORS),
            vectors: VectorSet::EMPTY.with(LEVEL).with(SHARED),
            channels: 1,
            ping: Some(Ping { port: PING, interval: 60, bound: 40 }),
            health: HmTable::IGNORE_ALL
                .on(HmKind::Trap, HmAction::Deliver)
                .on(HmKind::TrapInTrap, HmAction::WarmStart)
                .on(HmKind::PendingOverflow, HmAction::Deliver)
                .on(HmKind::UpcallFault, HmAction::ColdStart),
            ..partition("alpha", &ALPHA_PORTS)
        },
        PartitionConfig {
            catch_up: CatchUpPolicy::Warp,
            vectors: VectorSet::EMPTY.with(LEVEL).with(SHARED),
            channels: 1,
            health: HmTable::IGNORE_ALL.on(HmKind::Trap, HmAction::ColdStart),
            ..partition("beta", &BETA_PORTS)
        },
        PartitionConfig {
            catch_up: CatchUpPolicy::Collapse,
            vectors: VectorSet::EMPTY.with(STORMY),
            health: HmTable::IGNORE_ALL.on(HmKind::Trap, HmAction::Idle),
            ..partition("gamma", &GAMMA_PORTS)
        },
    ],
    schedule: Schedule { major_frame: FRAME, windows: &WINDOWS },
    routes: &ROUTES,
    clock_vector: Some(CLOCK),
    channels: &CHANNELS,
    channel_budgets: &[],
};

/// A fresh system: its own pages (leaked), started, every partition with an upcall
/// entry registered, nothing running.
pub(crate) fn system() -> (Box<System>, &'static [SharedPage; P]) {
    system_with(CONFIG)
}

/// [`system`] on another configuration of the same three partitions.
pub(crate) fn system_with(config: SystemConfig<P>) -> (Box<System>, &'static [SharedPage; P]) {
    let pages: &'static [SharedPage; P] =
        Box::leak(Box::new([SharedPage::new(), SharedPage::new(), SharedPage::new()]));
    let router = Box::new(Router::new(config, [&pages[0], &pages[1], &pages[2]]).expect("valid"));
    router.start();
    for p in PartitionId::<P>::all() {
        router.events().partition(p).set_upcall_entry(NonZeroU64::new(ENTRY));
        router.events().partition(p).set_fault_handler(NonZeroU64::new(FAULT_HANDLER));
    }
    (router, pages)
}

pub(crate) fn pid(p: usize) -> PartitionId<P> {
    PartitionId::new(p as u32).expect("in range")
}

pub(crate) fn port(raw: u16) -> Port<1> {
    Port::new(u32::from(raw)).expect("in range")
}

/// The partition whose window contains `now`.
pub(crate) fn owner(now: u64) -> usize {
    (now % FRAME / WINDOW) as usize
}

/// Drives the kernel from tick `from` (exclusive: its tick already happened) to `to`:
/// the window switches at their boundaries, then the clock interrupt, at every tick.
pub(crate) fn run(router: &System, adapter: &mut Adapter, from: u64, to: u64) {
    for now in from + 1..=to {
        adapter.now = now;
        if now % WINDOW == 0 {
            let previous = owner(now - 1);
            router.on_partition_exit(&CPU0, pid(previous), now, adapter);
            router.on_partition_entry(&CPU0, pid(owner(now)), now, WINDOW, adapter);
        }
        router.on_hardware_irq(&CPU0, CLOCK, adapter);
    }
}

/// Enters the first window at tick 0.
pub(crate) fn boot(router: &System, adapter: &mut Adapter) {
    adapter.now = 0;
    router.on_partition_entry(&CPU0, pid(0), 0, WINDOW, adapter);
}

/// Upcalls injected into partition `p` among `actions`.
pub(crate) fn upcalls(actions: &[Action], p: u16) -> Vec<irq_router::adapter::Upcall> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Upcall(q, u) if *q == p => Some(*u),
            _ => None,
        })
        .collect()
}

/// The health-monitor records among `actions`.
pub(crate) fn records(actions: &[Action]) -> Vec<irq_router::health::HmRecord> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Log(r) => Some(*r),
            _ => None,
        })
        .collect()
}
