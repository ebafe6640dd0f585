//! Arbitrary system configurations (1 to 4 partitions; see `config_gen`):
//!
//! * `validate::<1>()` never panics, and `Router::new` agrees with it;
//! * a refused configuration's error names a real entry (every index is in range of the
//!   slice it indexes) and that entry is wrong in the way the error says;
//! * an accepted one builds a router that runs two major frames of ticks, window
//!   switches, interrupts on every route, traps and calls without a panic.

use super::CPU0;
use core::num::NonZeroU64;

use arbitrary::Unstructured;
use irq_router::adapter::Recording;
use irq_router::config::{
    ConfigError, HmAction, HmKind, MAX_CHANNELS, MAX_PARTITIONS, PartitionError, RouteError,
    SystemConfig,
};
use irq_router::hypercall::{CallNumber, RawCall};
use irq_router::{Router, Trap};
use notify_core::{End, PartitionId, PortConfigError, Source};
use vcpu_state::SharedPage;

use super::arena::Arena;
use super::config_gen;

/// The `config` target.
pub fn config(data: &[u8]) {
    let mut u = Unstructured::new(data);
    match u.int_in_range(1..=4u8) {
        Ok(1) => check::<1>(&mut u),
        Ok(2) => check::<2>(&mut u),
        Ok(3) => check::<3>(&mut u),
        Ok(_) => check::<4>(&mut u),
        Err(_) => {}
    }
}

fn check<const P: usize>(u: &mut Unstructured<'_>) {
    // Declared first, dropped last: after the configuration and the router.
    let mut arena = Arena::default();
    let Ok(config) = config_gen::system::<P>(u, &mut arena) else { return };
    // SAFETY: the pages are used by the router only, dropped before the arena.
    let pages: &'static [SharedPage; P] =
        unsafe { arena.alloc(core::array::from_fn(|_| SharedPage::new())) };
    let verdict = config.validate::<1>();
    let router = Router::<P, 1>::new(config, core::array::from_fn(|p| &pages[p])).map(Box::new);
    match (verdict, router) {
        (Ok(()), Ok(router)) => run(&router, &config),
        (Err(e), Err(built)) => {
            assert_eq!(e, built, "validate and Router::new disagree");
            names_a_real_entry(&config, e);
        }
        (Ok(()), Err(e)) => panic!("valid, but Router::new refused it: {e}"),
        (Err(e), Ok(_)) => panic!("invalid ({e}), but Router::new accepted it"),
    }
}

/// Two major frames (at most 200 ticks) of the schedule with interrupts, traps and calls.
fn run<const P: usize>(router: &Router<P, 1>, config: &SystemConfig<P>) {
    let mut adapter = Recording::<16>::new();
    router.start();
    for p in PartitionId::<P>::all() {
        let base = adapter.memory.0 + u64::from(p.raw()) * adapter.memory.1;
        router.events().partition(p).set_upcall_entry(NonZeroU64::new(base));
    }
    let frame = config.schedule.major_frame;
    let window_at = |t: u64| {
        let offset = t % frame;
        config
            .schedule
            .windows
            .iter()
            .position(|w| w.start <= offset && offset - w.start < w.length)
    };
    let mut current: Option<usize> = None;
    let id = |w: usize| {
        PartitionId::<P>::new(u32::from(config.schedule.windows[w].partition)).expect("validated")
    };
    for now in 0..frame.saturating_mul(2).min(200) {
        adapter.now = now;
        let next = window_at(now);
        if next != current {
            if let Some(w) = current {
                router.on_partition_exit(&CPU0, id(w), now, &mut adapter);
            }
            if let Some(w) = next {
                let window = config.schedule.windows[w];
                let left = window.length - (now % frame - window.start);
                router.on_partition_entry(&CPU0, id(w), now, left, &mut adapter);
                let sti = RawCall { number: CallNumber::EnableIrqs.raw(), args: [0; 4] };
                let _ = router.hypercall(&CPU0, id(w), &sti, &mut adapter);
            }
            current = next;
        }
        match config.clock_vector {
            Some(clock) => router.on_hardware_irq(&CPU0, clock, &mut adapter),
            None => router.on_tick(&CPU0, now, &mut adapter),
        };
        for route in config.routes {
            let _ = router.on_hardware_irq(&CPU0, route.vector, &mut adapter);
        }
        router.on_hardware_irq(&CPU0, 0xff, &mut adapter);
        let Some(p) = current.map(id) else { continue };
        for port in config.partitions[p.index()].ports {
            let take =
                RawCall { number: CallNumber::TakeCount.raw(), args: [port.port.into(), 0, 0, 0] };
            let _ = router.hypercall(&CPU0, p, &take, &mut adapter);
        }
        if now % 7 == 3 {
            router.on_trap(&CPU0, p, Trap { vector: 14, error_code: 2, address: 0 }, &mut adapter);
        }
        if now % 11 == 5 {
            let stop = RawCall { number: CallNumber::ExecStopError.raw(), args: [1, 0, 0, 0] };
            let _ = router.hypercall(&CPU0, p, &stop, &mut adapter);
        }
    }
}

/// Whether `port` is configured in `ports` bound to `source`.
fn bound_to(ports: &[notify_core::PortConfig], port: u16, source: Source) -> bool {
    ports.iter().find(|c| c.port == port).is_some_and(|c| c.binding.source == source)
}

/// The error's indices are in range of the slices they index, and the entry is wrong.
fn names_a_real_entry<const P: usize>(config: &SystemConfig<P>, error: ConfigError) {
    let parts = &config.partitions;
    match error {
        ConfigError::PartitionCount => assert!(P == 0 || P > MAX_PARTITIONS),
        ConfigError::ChannelCount => assert!(config.channels.len() > MAX_CHANNELS),
        ConfigError::Events(e) => events_error(config, e),
        ConfigError::Partition { partition, error } => {
            let c = parts.get(partition).unwrap_or_else(|| panic!("{error:?}: no partition"));
            match error {
                PartitionError::TimerPort => {
                    let port = c.timer_port.expect("a timer port");
                    assert!(!bound_to(c.ports, port, Source::Timer), "{error:?}");
                }
                PartitionError::ErrorPort => {
                    let port = c.error_port.expect("an error port");
                    assert!(!bound_to(c.ports, port, Source::Lifecycle), "{error:?}");
                }
                PartitionError::DeliverWithoutErrorPort { kind } => {
                    assert!(c.error_port.is_none() && c.health.action(kind) == HmAction::Deliver);
                    assert!(!matches!(kind, HmKind::Trap | HmKind::TrapInTrap));
                }
                PartitionError::Ping => assert!(c.ping.is_some()),
                PartitionError::VectorNotPermitted { entry } => {
                    let port = c.ports.get(entry).expect("entry in range");
                    let Source::Line(v) = port.binding.source else { panic!("not a line") };
                    assert!(u8::try_from(v).map_or(true, |v| !c.vectors.contains(v)));
                }
                _ => {}
            }
        }
        ConfigError::EmptyFrame => assert_eq!(config.schedule.major_frame, 0),
        ConfigError::Window { entry, .. } => assert!(entry < config.schedule.windows.len()),
        ConfigError::Route { entry, error } => {
            let route = config.routes.get(entry).expect("route in range");
            let target = match error {
                RouteError::UnknownPartition { target }
                | RouteError::NotPermitted { target }
                | RouteError::PortNotBound { target }
                | RouteError::DuplicateTarget { target }
                | RouteError::LevelPortCounts { target } => Some(target),
                RouteError::ExclusiveShared => {
                    assert!(route.targets.len() > 1);
                    None
                }
                RouteError::Unhandled => {
                    assert!(route.targets.is_empty() && !route.kernel_first);
                    None
                }
                _ => None,
            };
            if let Some(target) = target {
                let t = route.targets.get(target).expect("target in range");
                if let RouteError::UnknownPartition { .. } = error {
                    assert!(usize::from(t.partition) >= P);
                }
                if let RouteError::LevelPortCounts { .. } = error {
                    let ports = parts.get(usize::from(t.partition)).expect("partition").ports;
                    let port = ports.iter().find(|c| c.port == t.port).expect("configured");
                    assert!(!port.binding.mode.is_coalescing(), "{error:?}");
                }
            }
        }
        ConfigError::ChannelNotPermitted { channel, partition } => {
            assert!(channel < config.channels.len());
            let c = parts.get(partition).expect("partition in range");
            assert_eq!(c.channels & (1 << channel), 0, "{error:?}");
        }
        ConfigError::ChannelBudget { entry } => assert!(entry < config.channel_budgets.len()),
        _ => {}
    }
}

fn events_error<const P: usize>(config: &SystemConfig<P>, error: notify_core::ConfigError) {
    use notify_core::ConfigError as E;
    let parts = &config.partitions;
    match error {
        E::Port { partition, error } => {
            let ports = parts.get(partition).expect("partition in range").ports;
            match error {
                PortConfigError::PortOutOfRange { entry } => {
                    assert!(ports.get(entry).expect("entry in range").port >= 64);
                }
                PortConfigError::DuplicatePort { entry } => {
                    let port = ports.get(entry).expect("entry in range").port;
                    assert!(ports[..entry].iter().any(|c| c.port == port), "{error:?}");
                }
                _ => {}
            }
        }
        E::UnknownChannel { partition, entry } => {
            let ports = parts.get(partition).expect("partition in range").ports;
            let source = ports.get(entry).expect("entry in range").binding.source;
            assert!(
                matches!(source, Source::Channel(c) if usize::from(c) >= config.channels.len())
            );
        }
        E::ChannelPartition { channel, end } => {
            let ch = config.channels.get(channel).expect("channel in range");
            let e = if end == End::Source { ch.source } else { ch.destination };
            assert!(usize::from(e.partition) >= P, "{error:?}");
        }
        E::ChannelPort { channel, .. } => assert!(channel < config.channels.len()),
        _ => {}
    }
}
