//! A partition that keeps no latest contexts and no health-monitor ring of its own
//! (`Router<P, 1, 1, 0, 0>`, issue 15's memory target): nothing is lost, every event is
//! counted and delivered, and every health-monitor record is kept (in the module's ring)
//! or counted lost; a port without a context slot answers "no context kept".

use core::num::NonZeroU64;

use irq_router::adapter::{Action, Recording};
use irq_router::config::{
    ConfigError, HmTable, PartitionConfig, Route, Schedule, Sharing, SystemConfig, Target, Trigger,
    VectorSet, Window,
};
use irq_router::health::{HM_LOG_LEN, HmRecord};
use irq_router::hypercall::{ErrorCode, Request};
use irq_router::{CpuId, Local, Router};
use notify_core::{Binding, Error, PartitionId, Port, PortConfig, PortConfigError, Source};
use vcpu_state::{CatchUpPolicy, SharedPage};

const P: usize = 2;
/// 64 ports, no context slot, no health-monitor ring of its own.
type Bare = Router<P, 1, 1, 0, 0>;
const CPU0: Local<'static, 1> = Local::interrupts_disabled(CpuId::BOOT);
const LINE: u8 = 0x30;
const LINE_PORT: u16 = 7;
const ENTRY: u64 = 0x40_0000;

static PORTS: [PortConfig; 2] = [
    PortConfig::new(0, Binding::counting(Source::Timer)).without_context(),
    PortConfig::new(LINE_PORT, Binding::counting(Source::Line(LINE as u16))).without_context(),
];
/// The same ports, the line's keeping its context: too many for a table with no slot.
static KEEPING: [PortConfig; 2] = [
    PortConfig::new(0, Binding::counting(Source::Timer)).without_context(),
    PortConfig::new(LINE_PORT, Binding::counting(Source::Line(LINE as u16))),
];
static TARGET: [Target; 1] = [Target { partition: 0, port: LINE_PORT }];
static ROUTES: [Route; 1] = [Route {
    vector: LINE,
    sharing: Sharing::Exclusive,
    trigger: Trigger::Edge,
    kernel_first: false,
    targets: &TARGET,
    budget: None,
    ack_timeout: 0,
}];
static WINDOWS: [Window; 2] =
    [Window { partition: 0, start: 0, length: 10 }, Window { partition: 1, start: 10, length: 10 }];

const fn partition(name: &'static str, ports: &'static [PortConfig]) -> PartitionConfig {
    PartitionConfig {
        name,
        cpu: 0,
        ports,
        priority_levels: &[],
        timer_port: Some(0),
        error_port: None,
        catch_up: CatchUpPolicy::Replay,
        vectors: VectorSet::EMPTY.with(LINE),
        channels: 0,
        ping: None,
        health: HmTable::IGNORE_ALL,
    }
}

const CONFIG: SystemConfig<P> = SystemConfig {
    partitions: [partition("a", &PORTS), partition("b", &PORTS)],
    schedule: Schedule { major_frame: 20, windows: &WINDOWS },
    routes: &ROUTES,
    clock_vector: None,
    channels: &[],
    channel_budgets: &[],
};

// A `const` configuration is checked at build time for the engine it is for.
const _: () = assert!(CONFIG.validate_engine::<1, 1, 0>().is_ok());

fn bare() -> (Box<Bare>, &'static [SharedPage; P]) {
    let pages: &'static [SharedPage; P] =
        Box::leak(Box::new([SharedPage::new(), SharedPage::new()]));
    let router = Box::new(Bare::new(CONFIG, [&pages[0], &pages[1]]).expect("valid"));
    router.start();
    for p in PartitionId::<P>::all() {
        router.events().partition(p).set_upcall_entry(NonZeroU64::new(ENTRY));
    }
    (router, pages)
}

fn pid(p: u32) -> PartitionId<P> {
    PartitionId::new(p).unwrap()
}

fn port(raw: u16) -> Port<1> {
    Port::new(u32::from(raw)).unwrap()
}

#[test]
fn a_port_keeping_a_context_without_a_slot_is_refused_naming_its_entry() {
    let config =
        SystemConfig { partitions: [partition("a", &PORTS), partition("b", &KEEPING)], ..CONFIG };
    let refused = ConfigError::Events(notify_core::ConfigError::Port {
        partition: 1,
        error: PortConfigError::TooManyContexts { entry: 1 },
    });
    assert_eq!(config.validate_engine::<1, 1, 0>(), Err(refused));
    let pages: &'static [SharedPage; P] =
        Box::leak(Box::new([SharedPage::new(), SharedPage::new()]));
    assert_eq!(Bare::new(config, [&pages[0], &pages[1]]).err(), Some(refused));
    // The default engine has a slot for every port.
    assert!(config.validate_on::<1, 1>().is_ok());
    assert!(Router::<P>::new(config, [&pages[0], &pages[1]]).is_ok());
}

#[test]
fn events_of_a_port_without_context_are_delivered_through_the_upcall_entry() {
    let (router, pages) = bare();
    let mut adapter = Recording::<256>::new();
    adapter.now = 0;
    router.on_partition_entry(&CPU0, pid(0), 0, 10, &mut adapter);
    assert!(!pages[0].guest().sti(), "the guest opens its interrupts");
    let table = router.events().partition(pid(0));
    // No handler of its own: the hypercall answers that the configuration gives none.
    let register = Request::RegisterPortHandler {
        port: port(LINE_PORT),
        entry: NonZeroU64::new(ENTRY + 0x100),
    };
    assert_eq!(router.call(&CPU0, pid(0), register, &mut adapter), Err(ErrorCode::NotConfigured));
    // Two interrupts: the first straight into its upcall (its context in hand), the
    // second waits, counted, and comes with no context (none kept).
    adapter.now = 1;
    let _ = router.on_hardware_irq(&CPU0, LINE, &mut adapter);
    adapter.now = 2;
    let _ = router.on_hardware_irq(&CPU0, LINE, &mut adapter);
    assert_eq!(table.context(port(LINE_PORT)), Err(Error::NoContextKept { port: LINE_PORT }));
    assert_eq!(table.status(port(LINE_PORT)).pending, 2, "one in service, one waiting");
    let ack = Request::Acknowledge { port: port(LINE_PORT) };
    assert!(router.call(&CPU0, pid(0), ack, &mut adapter).is_ok());
    assert_eq!(router.call(&CPU0, pid(0), Request::UpcallReturn, &mut adapter), Ok(0));
    let upcalls: Vec<_> = adapter
        .take()
        .filter_map(|a| match a {
            Action::Upcall(0, u) => Some(u),
            _ => None,
        })
        .collect();
    assert_eq!(upcalls.len(), 2, "{upcalls:?}");
    for u in &upcalls {
        assert_eq!((u.entry.get(), u.port), (ENTRY, Some(LINE_PORT)));
    }
    assert_eq!(upcalls[0].context.vector, u16::from(LINE), "the direct path's context");
    assert_eq!(upcalls[1].context, notify_core::Context::default(), "none kept");
    assert!(router.call(&CPU0, pid(0), ack, &mut adapter).is_ok());
    assert_eq!(router.call(&CPU0, pid(0), Request::UpcallReturn, &mut adapter), Ok(0));
    let stats = table.stats();
    assert_eq!((stats.raised, stats.delivered), (2, 2), "nothing lost");
}

#[test]
fn without_rings_of_their_own_the_partitions_records_are_kept_in_the_modules_and_counted() {
    let (router, _) = bare();
    let mut adapter = Recording::<4096>::new();
    router.on_partition_entry(&CPU0, pid(0), 0, 10, &mut adapter);
    let stop = |code| Request::ExecStopError { code };
    for code in 0..3 {
        assert_eq!(router.call(&CPU0, pid(0), stop(code), &mut adapter), Ok(0));
    }
    let empty = HmRecord { tick: 0, partition: None, ..adapter_record() };
    let mut out = [empty; HM_LOG_LEN];
    let n = router.health_log(Some(pid(0)), &mut out);
    assert_eq!(out[..n].iter().map(|r| r.detail).collect::<Vec<_>>(), [0, 1, 2]);
    assert_eq!(router.health_log(Some(pid(1)), &mut out), 0, "only its own");
    assert_eq!(router.health_log(None, &mut out), 0, "the module's own: none");
    assert_eq!(router.try_health_log(Some(pid(0)), &mut out), Some(3));
    assert_eq!(router.health_counts(Some(pid(0))), (3, 0));
    // Partition 1 fills the module's ring: partition 0's records are pushed out, each
    // counted lost for partition 0, and partition 1's own oldest for partition 1.
    router.on_partition_exit(&CPU0, pid(0), 10, &mut adapter);
    router.on_partition_entry(&CPU0, pid(1), 10, 10, &mut adapter);
    let more = HM_LOG_LEN as u32 + 5;
    for code in 0..more {
        assert_eq!(router.call(&CPU0, pid(1), stop(100 + code), &mut adapter), Ok(0));
    }
    assert_eq!(router.health_log(Some(pid(0)), &mut out), 0);
    assert_eq!(router.health_counts(Some(pid(0))), (3, 3));
    assert_eq!(router.health_counts(Some(pid(1))), (u64::from(more), 5));
    let n = router.health_log(Some(pid(1)), &mut out);
    assert_eq!(n, HM_LOG_LEN);
    assert_eq!(out[0].detail, 105, "oldest first");
    // The kernel's log got every one.
    let logged = adapter.take().filter(|a| matches!(a, Action::Log(_))).count();
    assert_eq!(logged, 3 + more as usize);
}

/// A record to fill an output buffer with.
fn adapter_record() -> HmRecord {
    HmRecord {
        tick: 0,
        partition: None,
        kind: irq_router::config::HmKind::Trap,
        action: irq_router::config::HmAction::Ignore,
        detail: 0,
        extra: 0,
        discarded: 0,
    }
}
