//! What the multi-CPU engine tests share: a partition with a clock, an edge and a level
//! line; a system of a few of them; and a kernel that does what each `Switch` says.
#![allow(dead_code, reason = "each test file uses a part of this")]

use irq_router::adapter::{Action, Recording};
use irq_router::config::{
    HmKind, HmTable, PartitionConfig, Route, Schedule, Sharing, SystemConfig, Target, Trigger,
    VectorSet, Window,
};
use irq_router::{CpuId, Local, Router, Switch};
use notify_core::{Binding, PartitionId, PortConfig, Source};
use vcpu_state::{CatchUpPolicy, SharedPage};

pub(crate) type Rec = Recording<4096>;

pub(crate) const LINE: u8 = 0x30;
pub(crate) const LEVEL: u8 = 0x31;

pub(crate) static PORTS: [PortConfig; 3] = [
    PortConfig::new(0, Binding::counting(Source::Timer)),
    PortConfig::new(1, Binding::counting(Source::Line(LINE as u16))),
    PortConfig::new(2, Binding::coalescing(Source::Line(LEVEL as u16))),
];

pub(crate) const fn partition(cpu: u16, health: HmTable) -> PartitionConfig {
    PartitionConfig {
        name: "p",
        cpu,
        ports: &PORTS,
        priority_levels: &[],
        timer_port: Some(0),
        error_port: None,
        catch_up: CatchUpPolicy::Replay,
        vectors: VectorSet::EMPTY.with(LINE).with(LEVEL),
        channels: 0,
        ping: None,
        health,
    }
}

pub(crate) const fn system<const P: usize>(
    partitions: [PartitionConfig; P],
    major_frame: u64,
    windows: &'static [Window],
    routes: &'static [Route],
) -> SystemConfig<P> {
    SystemConfig {
        partitions,
        schedule: Schedule { major_frame, windows },
        routes,
        clock_vector: None,
        channels: &[],
        channel_budgets: &[],
    }
}

pub(crate) fn router<const P: usize, const C: usize>(
    config: SystemConfig<P>,
) -> Box<Router<P, 1, C>> {
    let pages: &'static [SharedPage; P] = Box::leak(Box::new([const { SharedPage::new() }; P]));
    let router = Box::new(Router::new(config, core::array::from_fn(|p| &pages[p])).expect("valid"));
    router.start();
    router
}

pub(crate) fn pid<const P: usize>(p: u32) -> PartitionId<P> {
    PartitionId::new(p).expect("partition")
}

pub(crate) fn cpu<const C: usize>(c: u32) -> Local<'static, C> {
    Local::interrupts_disabled(CpuId::new(c).expect("cpu"))
}

/// CPU `c`'s tick at `now`, and the switch it returns carried out.
pub(crate) fn tick<const P: usize, const C: usize>(
    router: &Router<P, 1, C>,
    c: u32,
    now: u64,
    adapter: &mut Rec,
) -> Option<Switch<P>> {
    adapter.now = now;
    let switch = router.on_tick(&cpu(c), now, adapter)?;
    if let Some(from) = switch.from {
        router.on_partition_exit(&cpu(c), from, now, adapter);
    }
    if let Some(to) = switch.to {
        router.on_partition_entry(&cpu(c), to, now, switch.budget(now), adapter);
    }
    Some(switch)
}

pub(crate) fn records(adapter: &Rec, kind: HmKind) -> Vec<u64> {
    adapter
        .actions()
        .filter_map(|a| match a {
            Action::Log(r) if r.kind == kind => Some(r.detail),
            _ => None,
        })
        .collect()
}

pub(crate) fn count(adapter: &Rec, f: impl Fn(&Action) -> bool) -> usize {
    adapter.actions().filter(|a| f(a)).count()
}

/// An exclusive level line into port 2 of partition 0, acknowledged within 5 ticks.
pub(crate) static LEVEL_TARGET: [Target; 1] = [Target { partition: 0, port: 2 }];
pub(crate) static LEVEL_ROUTE: [Route; 1] = [Route {
    vector: LEVEL,
    sharing: Sharing::Exclusive,
    trigger: Trigger::Level,
    kernel_first: false,
    targets: &LEVEL_TARGET,
    budget: None,
    ack_timeout: 5,
}];

/// An exclusive edge line into port 1 of partition 0.
pub(crate) static LINE_TARGET: [Target; 1] = [Target { partition: 0, port: 1 }];
pub(crate) static LINE_ROUTE: [Route; 1] = [Route {
    vector: LINE,
    sharing: Sharing::Exclusive,
    trigger: Trigger::Edge,
    kernel_first: false,
    targets: &LINE_TARGET,
    budget: None,
    ack_timeout: 0,
}];
