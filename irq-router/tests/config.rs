//! Configuration validation: a valid system passes at compile time; each kind of mistake
//! gives the typed error naming its entry.

use core::num::NonZeroU32;

use irq_router::config::{
    ChannelBudget, ConfigError, HmAction, HmKind, HmTable, PartitionConfig, PartitionError, Ping,
    Route, RouteError, Schedule, Sharing, SystemConfig, Target, Trigger, VectorSet, Window,
    WindowError,
};
use notify_core::{Binding, Channel, Endpoint, PortConfig, PriorityLevel, Source};
use vcpu_state::CatchUpPolicy;

const TIMER: u16 = 0;
const DEVICE: u16 = 1;
const ERRORS: u16 = 2;
const PING: u16 = 3;
const CHANNEL: u16 = 4;

static P0_PORTS: [PortConfig; 5] = [
    PortConfig::new(TIMER, Binding::counting(Source::Timer)),
    PortConfig::new(DEVICE, Binding::coalescing(Source::Line(0x21))),
    PortConfig::new(ERRORS, Binding::counting(Source::Lifecycle)),
    PortConfig::new(PING, Binding::coalescing(Source::Ping)),
    PortConfig::new(CHANNEL, Binding::counting(Source::Channel(0))),
];
static P1_PORTS: [PortConfig; 3] = [
    PortConfig::new(TIMER, Binding::counting(Source::Timer)),
    PortConfig::new(DEVICE, Binding::coalescing(Source::Line(0x21))),
    PortConfig::new(CHANNEL, Binding::counting(Source::Channel(0))),
];
static P2_PORTS: [PortConfig; 2] = [
    PortConfig::new(TIMER, Binding::counting(Source::Timer)),
    PortConfig::new(DEVICE, Binding::counting(Source::Line(0x22))),
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
        health: HmTable::IGNORE_ALL.on(HmKind::Trap, HmAction::Deliver),
    }
}

static SHARED_TARGETS: [Target; 2] =
    [Target { partition: 0, port: DEVICE }, Target { partition: 1, port: DEVICE }];
static EXCLUSIVE_TARGET: [Target; 1] = [Target { partition: 2, port: DEVICE }];
static ROUTES: [Route; 2] = [
    Route {
        vector: 0x21,
        sharing: Sharing::Shared,
        trigger: Trigger::Level,
        kernel_first: false,
        targets: &SHARED_TARGETS,
        budget: None,
        ack_timeout: 5,
    },
    Route {
        vector: 0x22,
        sharing: Sharing::Exclusive,
        trigger: Trigger::Edge,
        kernel_first: true,
        targets: &EXCLUSIVE_TARGET,
        budget: NonZeroU32::new(100),
        ack_timeout: 0,
    },
];
static CHANNELS: [Channel; 1] = [Channel {
    source: Endpoint { partition: 0, port: CHANNEL },
    destination: Endpoint { partition: 1, port: CHANNEL },
}];
static WINDOWS: [Window; 3] = [
    Window { partition: 0, start: 0, length: 20 },
    Window { partition: 1, start: 20, length: 10 },
    Window { partition: 2, start: 30, length: 10 },
];

const VALID: SystemConfig<3> = SystemConfig {
    partitions: [
        PartitionConfig {
            error_port: Some(ERRORS),
            vectors: VectorSet::EMPTY.with(0x21),
            channels: 1,
            ping: Some(Ping { port: PING, interval: 40, bound: 10 }),
            health: HmTable::all(HmAction::Deliver).on(HmKind::TrapInTrap, HmAction::WarmStart),
            ..partition("p0", &P0_PORTS)
        },
        PartitionConfig {
            vectors: VectorSet::EMPTY.with(0x21),
            channels: 1,
            ..partition("p1", &P1_PORTS)
        },
        PartitionConfig { vectors: VectorSet::EMPTY.with(0x22), ..partition("p2", &P2_PORTS) },
    ],
    schedule: Schedule { major_frame: 40, windows: &WINDOWS },
    routes: &ROUTES,
    clock_vector: Some(0x20),
    channels: &CHANNELS,
    channel_budgets: &[ChannelBudget { channel: 0, raises: NonZeroU32::MIN }],
};

// Checked at compile time: a mistake in VALID fails the build.
const _: () = match VALID.validate::<1>() {
    Ok(()) => {}
    Err(_) => panic!("the example configuration is invalid"),
};

/// `VALID` with one change.
fn broken(change: impl FnOnce(&mut SystemConfig<3>)) -> SystemConfig<3> {
    let mut config = VALID;
    change(&mut config);
    config
}

fn leak<T>(v: Vec<T>) -> &'static [T] {
    v.leak()
}

fn rejects(config: SystemConfig<3>, expected: ConfigError) {
    assert_eq!(config.validate::<1>(), Err(expected));
}

#[test]
fn the_example_is_valid() {
    assert_eq!(VALID.validate::<1>(), Ok(()));
}

#[test]
fn an_exclusive_line_given_to_two_partitions_is_rejected() {
    let mut routes = ROUTES.to_vec();
    routes[1].targets =
        leak(vec![Target { partition: 2, port: DEVICE }, Target { partition: 1, port: DEVICE }]);
    rejects(
        broken(|c| c.routes = leak(routes)),
        ConfigError::Route { entry: 1, error: RouteError::ExclusiveShared },
    );
    // Nor through a second route on the same vector.
    let mut routes = ROUTES.to_vec();
    routes.push(ROUTES[1]);
    rejects(
        broken(|c| c.routes = leak(routes)),
        ConfigError::Route { entry: 2, error: RouteError::DuplicateVector },
    );
    // Nor by routing the clock's vector.
    rejects(
        broken(|c| c.clock_vector = Some(0x22)),
        ConfigError::Route { entry: 1, error: RouteError::DuplicateVector },
    );
}

#[test]
fn routes_to_partitions_that_may_not_receive_them_are_rejected() {
    // Partition 1 loses its permission for 0x21: the route and its port both fail; the
    // port binding is found first.
    rejects(
        broken(|c| c.partitions[1].vectors = VectorSet::EMPTY),
        ConfigError::Partition {
            partition: 1,
            error: PartitionError::VectorNotPermitted { entry: 1 },
        },
    );
    // A target whose port is not bound to the vector.
    let mut routes = ROUTES.to_vec();
    routes[0].targets =
        leak(vec![Target { partition: 0, port: DEVICE }, Target { partition: 1, port: TIMER }]);
    rejects(
        broken(|c| c.routes = leak(routes)),
        ConfigError::Route { entry: 0, error: RouteError::PortNotBound { target: 1 } },
    );
    // A permitted vector routed to a partition without a port for it.
    let mut routes = ROUTES.to_vec();
    routes[1].targets = leak(vec![Target { partition: 0, port: DEVICE }]);
    rejects(
        broken(|c| c.routes = leak(routes)),
        ConfigError::Route { entry: 1, error: RouteError::NotPermitted { target: 0 } },
    );
    let mut routes = ROUTES.to_vec();
    routes[0].targets = leak(vec![Target { partition: 7, port: DEVICE }]);
    rejects(
        broken(|c| c.routes = leak(routes)),
        ConfigError::Route { entry: 0, error: RouteError::UnknownPartition { target: 0 } },
    );
}

#[test]
fn other_route_mistakes_are_rejected() {
    let mut routes = ROUTES.to_vec();
    routes[0].ack_timeout = 0;
    rejects(
        broken(|c| c.routes = leak(routes)),
        ConfigError::Route { entry: 0, error: RouteError::ZeroAckTimeout },
    );
    let mut routes = ROUTES.to_vec();
    routes[0].targets = leak(vec![routes[0].targets[0]; irq_router::config::MAX_LEVEL_TARGETS + 1]);
    rejects(
        broken(|c| c.routes = leak(routes)),
        ConfigError::Route { entry: 0, error: RouteError::TooManyLevelTargets },
    );
    let mut routes = ROUTES.to_vec();
    routes[0].budget = core::num::NonZeroU32::new(5);
    rejects(
        broken(|c| c.routes = leak(routes)),
        ConfigError::Route { entry: 0, error: RouteError::LevelBudget },
    );
    let mut routes = ROUTES.to_vec();
    routes[1].targets = &[];
    routes[1].kernel_first = false;
    rejects(
        broken(|c| c.routes = leak(routes)),
        ConfigError::Route { entry: 1, error: RouteError::Unhandled },
    );
    let mut routes = ROUTES.to_vec();
    routes[0].targets =
        leak(vec![Target { partition: 0, port: DEVICE }, Target { partition: 0, port: DEVICE }]);
    rejects(
        broken(|c| c.routes = leak(routes)),
        ConfigError::Route { entry: 0, error: RouteError::DuplicateTarget { target: 1 } },
    );
}

#[test]
fn channels_to_missing_ports_are_rejected() {
    let channels = leak(vec![Channel {
        source: Endpoint { partition: 0, port: CHANNEL },
        destination: Endpoint { partition: 1, port: 60 },
    }]);
    rejects(
        broken(|c| c.channels = channels),
        ConfigError::Events(notify_core::ConfigError::ChannelPort {
            channel: 0,
            end: notify_core::End::Destination,
        }),
    );
    rejects(
        broken(|c| c.partitions[1].channels = 0),
        ConfigError::ChannelNotPermitted { channel: 0, partition: 1 },
    );
    rejects(
        broken(|c| {
            c.channel_budgets = leak(vec![ChannelBudget { channel: 3, raises: NonZeroU32::MIN }])
        }),
        ConfigError::ChannelBudget { entry: 0 },
    );
}

#[test]
fn windows_that_overlap_or_exceed_the_frame_are_rejected() {
    let window = |partition, start, length| Window { partition, start, length };
    let with_windows = |w: Vec<Window>| broken(|c| c.schedule.windows = leak(w));
    rejects(
        with_windows(vec![window(0, 0, 20), window(1, 15, 10)]),
        ConfigError::Window { entry: 1, error: WindowError::Overlaps },
    );
    rejects(
        with_windows(vec![window(0, 0, 20), window(1, 30, 11)]),
        ConfigError::Window { entry: 1, error: WindowError::ExceedsFrame },
    );
    rejects(
        with_windows(vec![window(0, 40, 1)]),
        ConfigError::Window { entry: 0, error: WindowError::ExceedsFrame },
    );
    rejects(
        with_windows(vec![window(0, 0, u64::MAX)]),
        ConfigError::Window { entry: 0, error: WindowError::ExceedsFrame },
    );
    rejects(
        with_windows(vec![window(0, 0, 10), window(0, 10, 0)]),
        ConfigError::Window { entry: 1, error: WindowError::Empty },
    );
    rejects(
        with_windows(vec![window(3, 0, 10)]),
        ConfigError::Window { entry: 0, error: WindowError::UnknownPartition },
    );
    rejects(broken(|c| c.schedule.major_frame = 0), ConfigError::EmptyFrame);
}

#[test]
fn partition_mistakes_are_rejected() {
    rejects(
        broken(|c| c.partitions[2].timer_port = Some(DEVICE)),
        ConfigError::Partition { partition: 2, error: PartitionError::TimerPort },
    );
    rejects(
        broken(|c| c.partitions[0].error_port = Some(TIMER)),
        ConfigError::Partition { partition: 0, error: PartitionError::ErrorPort },
    );
    rejects(
        broken(|c| c.partitions[0].error_port = None),
        ConfigError::Partition {
            partition: 0,
            error: PartitionError::DeliverWithoutErrorPort { kind: HmKind::PendingOverflow },
        },
    );
    for ping in [
        Ping { port: TIMER, interval: 40, bound: 10 },
        Ping { port: PING, interval: 0, bound: 0 },
        Ping { port: PING, interval: 10, bound: 11 },
    ] {
        rejects(
            broken(|c| c.partitions[0].ping = Some(ping)),
            ConfigError::Partition { partition: 0, error: PartitionError::Ping },
        );
    }
}

#[test]
fn partition_counts_are_bounded() {
    let none: SystemConfig<0> = SystemConfig {
        partitions: [],
        schedule: VALID.schedule,
        routes: &[],
        clock_vector: None,
        channels: &[],
        channel_budgets: &[],
    };
    assert_eq!(none.validate::<1>(), Err(ConfigError::PartitionCount));
    let too_many: SystemConfig<65> = SystemConfig {
        partitions: [partition("p", &P2_PORTS); 65],
        schedule: Schedule { major_frame: 1, windows: &[] },
        routes: &[],
        clock_vector: None,
        channels: &[],
        channel_budgets: &[],
    };
    assert_eq!(too_many.validate::<1>(), Err(ConfigError::PartitionCount));
}

#[test]
fn port_mistakes_come_from_the_event_tables_with_their_entry() {
    rejects(
        broken(|c| {
            c.partitions[1].ports =
                leak(vec![PortConfig::new(64, Binding::counting(Source::Timer))])
        }),
        ConfigError::Events(notify_core::ConfigError::Port {
            partition: 1,
            error: notify_core::PortConfigError::PortOutOfRange { entry: 0 },
        }),
    );
}

#[test]
fn priority_level_mistakes_come_from_the_event_tables_with_their_level() {
    let l = PriorityLevel::new;
    rejects(
        broken(|c| c.partitions[2].priority_levels = leak(vec![l(0, 2), l(1, 4)])),
        ConfigError::Events(notify_core::ConfigError::Port {
            partition: 2,
            error: notify_core::PortConfigError::LevelOrder { level: 1 },
        }),
    );
    rejects(
        broken(|c| c.partitions[0].priority_levels = leak(vec![l(0, 2), l(60, 65)])),
        ConfigError::Events(notify_core::ConfigError::Port {
            partition: 0,
            error: notify_core::PortConfigError::LevelRange { level: 1 },
        }),
    );
    rejects(
        broken(|c| c.partitions[1].priority_levels = leak((0..17).map(|p| l(p, p + 1)).collect())),
        ConfigError::Events(notify_core::ConfigError::Port {
            partition: 1,
            error: notify_core::PortConfigError::TooManyLevels,
        }),
    );
    // In range for 128 ports, not for 64.
    let wide = broken(|c| c.partitions[0].priority_levels = leak(vec![l(0, 2), l(64, 128)]));
    assert_eq!(wide.validate::<2>(), Ok(()));
    assert_eq!(
        wide.validate::<1>(),
        Err(ConfigError::Events(notify_core::ConfigError::Port {
            partition: 0,
            error: notify_core::PortConfigError::LevelRange { level: 1 },
        }))
    );
}

#[test]
fn a_level_line_needs_coalescing_ports() {
    let mut routes = ROUTES.to_vec();
    routes[0].targets = leak(vec![Target { partition: 0, port: DEVICE }]);
    let counting = leak(vec![
        PortConfig::new(TIMER, Binding::counting(Source::Timer)),
        PortConfig::new(DEVICE, Binding::counting(Source::Line(0x21))),
        PortConfig::new(ERRORS, Binding::counting(Source::Lifecycle)),
        PortConfig::new(PING, Binding::coalescing(Source::Ping)),
        PortConfig::new(CHANNEL, Binding::counting(Source::Channel(0))),
    ]);
    rejects(
        broken(|c| {
            c.routes = leak(routes);
            c.partitions[0].ports = counting;
        }),
        ConfigError::Route { entry: 0, error: RouteError::LevelPortCounts { target: 0 } },
    );
}
