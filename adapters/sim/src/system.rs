//! The simulated module's static configuration: four partitions, their ports, the lines
//! and channels between them, and a schedule for each number of CPUs. What varies from
//! one scenario to the next (catch-up policies, health-monitor tables, pings, the CPU
//! count) is chosen by [`config`] from the [`Scenario`].

use core::num::NonZeroU32;

use irq_router::config::{
    ChannelBudget, HmAction, HmKind, HmTable, PartitionConfig, Ping, Route, Schedule, Sharing,
    SystemConfig, Target, Trigger, VectorSet, Window,
};
use irq_router::events::{Binding, Channel, Endpoint, Mode, PortConfig, Source};

use crate::scenario::{Health, Scenario};

/// Partitions of the module.
pub const P: usize = 4;
/// Ticks of the major frame.
pub const FRAME: u64 = 20;

/// The port numbers every partition has (the storm port only the storming partition).
pub mod port {
    /// The virtual timer.
    pub const TIMER: u16 = 0;
    /// The shared edge line (a counting port with a small maximum: overflows happen).
    pub const LINE: u16 = 1;
    /// The shared level line (coalescing).
    pub const LEVEL: u16 = 2;
    /// The storming line (partition [`STORMING`](super::STORMING) only).
    pub const STORM: u16 = 3;
    /// The channel from the previous partition.
    pub const IN: u16 = 4;
    /// The source end of this partition's channel to the next.
    pub const OUT: u16 = 5;
    /// The health monitor's error port.
    pub const ERROR: u16 = 6;
    /// The health monitor's ping.
    pub const PING: u16 = 7;
    /// Ports that exist (for loops over them).
    pub const COUNT: usize = 8;
}

/// The shared edge line's vector.
pub const LINE_VECTOR: u8 = 0x30;
/// The shared level line's vector.
pub const LEVEL_VECTOR: u8 = 0x31;
/// The storming line's vector.
pub const STORM_VECTOR: u8 = 0x32;
/// A vector without a route: the controller's spurious interrupt.
pub const SPURIOUS_VECTOR: u8 = 0x27;
/// The partition whose line and channel storm.
pub const STORMING: usize = 3;
/// Pending maximum of the edge line's port.
pub const LINE_MAX: u32 = 8;
/// Interrupts of the storming line per major frame.
pub const STORM_BUDGET: u32 = 5;
/// Notifies through the storming partition's channel per major frame.
pub const CHANNEL_BUDGET: u32 = 6;
/// Ticks a level line's partitions have to acknowledge it.
pub const LEVEL_TIMEOUT: u64 = 6;
/// The ping of a partition that has one: every 10 ticks, answered within 5.
pub const PING: Ping = Ping { port: port::PING, interval: 10, bound: 5 };

/// Partition `p`'s memory (for the adapter's address checks and the entries it registers).
pub const fn memory(p: usize) -> (u64, u64) {
    (0x40_0000 + p as u64 * 0x10_0000, 0x10_0000)
}

const fn line_port() -> Binding {
    let max = match NonZeroU32::new(LINE_MAX) {
        Some(max) => max,
        None => NonZeroU32::MAX,
    };
    Binding { source: Source::Line(LINE_VECTOR as u16), mode: Mode::Counting { max } }
}

const fn common(p: usize) -> [PortConfig; 7] {
    let inbound = ((p + P - 1) % P) as u16;
    [
        PortConfig::new(port::TIMER, Binding::counting(Source::Timer)),
        PortConfig::new(port::LINE, line_port()),
        PortConfig::new(port::LEVEL, Binding::coalescing(Source::Line(LEVEL_VECTOR as u16))),
        PortConfig::new(port::IN, Binding::counting(Source::Channel(inbound))),
        PortConfig::new(port::OUT, Binding::counting(Source::Channel(p as u16))),
        PortConfig::new(port::ERROR, Binding::counting(Source::Lifecycle)),
        PortConfig::new(port::PING, Binding::counting(Source::Ping)),
    ]
}

/// The storming partition's ports; `deaf`: its storm port starts masked (a cold start
/// masks it again), for the storm's isolation run.
const fn storming(deaf: bool) -> [PortConfig; 8] {
    let c = common(STORMING);
    let storm = PortConfig::new(port::STORM, Binding::counting(Source::Line(STORM_VECTOR as u16)));
    [c[0], c[1], c[2], if deaf { storm.masked() } else { storm }, c[3], c[4], c[5], c[6]]
}

static PORTS_0: [PortConfig; 7] = common(0);
static PORTS_1: [PortConfig; 7] = common(1);
static PORTS_2: [PortConfig; 7] = common(2);
static PORTS_3: [PortConfig; 8] = storming(false);
static PORTS_3_DEAF: [PortConfig; 8] = storming(true);

/// `ports`, every one keeping no latest context (for an engine without context slots).
const fn bare<const N: usize>(ports: [PortConfig; N]) -> [PortConfig; N] {
    let mut out = ports;
    let mut i = 0;
    while i < N {
        out[i] = ports[i].without_context();
        i += 1;
    }
    out
}

static BARE_0: [PortConfig; 7] = bare(common(0));
static BARE_1: [PortConfig; 7] = bare(common(1));
static BARE_2: [PortConfig; 7] = bare(common(2));
static BARE_3: [PortConfig; 8] = bare(storming(false));
static BARE_3_DEAF: [PortConfig; 8] = bare(storming(true));

static ALL_LINE: [Target; P] = [
    Target { partition: 0, port: port::LINE },
    Target { partition: 1, port: port::LINE },
    Target { partition: 2, port: port::LINE },
    Target { partition: 3, port: port::LINE },
];
static ALL_LEVEL: [Target; P] = [
    Target { partition: 0, port: port::LEVEL },
    Target { partition: 1, port: port::LEVEL },
    Target { partition: 2, port: port::LEVEL },
    Target { partition: 3, port: port::LEVEL },
];
static STORM_TARGET: [Target; 1] = [Target { partition: STORMING as u16, port: port::STORM }];

static ROUTES: [Route; 3] = [
    Route {
        vector: LINE_VECTOR,
        sharing: Sharing::Shared,
        trigger: Trigger::Edge,
        kernel_first: false,
        targets: &ALL_LINE,
        budget: None,
        ack_timeout: 0,
    },
    Route {
        vector: LEVEL_VECTOR,
        sharing: Sharing::Shared,
        trigger: Trigger::Level,
        kernel_first: false,
        targets: &ALL_LEVEL,
        budget: None,
        ack_timeout: LEVEL_TIMEOUT,
    },
    Route {
        vector: STORM_VECTOR,
        sharing: Sharing::Exclusive,
        trigger: Trigger::Edge,
        kernel_first: false,
        targets: &STORM_TARGET,
        budget: NonZeroU32::new(STORM_BUDGET),
        ack_timeout: 0,
    },
];

const fn channel(p: u16) -> Channel {
    Channel {
        source: Endpoint { partition: p, port: port::OUT },
        destination: Endpoint { partition: (p + 1) % P as u16, port: port::IN },
    }
}

/// Channel `p` goes from partition `p` to partition `p + 1`.
static CHANNELS: [Channel; P] = [channel(0), channel(1), channel(2), channel(3)];

static CHANNEL_BUDGETS: [ChannelBudget; 1] = [ChannelBudget {
    channel: STORMING as u16,
    raises: match NonZeroU32::new(CHANNEL_BUDGET) {
        Some(raises) => raises,
        None => NonZeroU32::MAX,
    },
}];

const fn window(partition: u16, start: u64, length: u64) -> Window {
    Window { partition, start, length }
}

/// One CPU: the four windows one after the other.
static WINDOWS_1: [Window; 4] =
    [window(0, 0, 5), window(1, 5, 5), window(2, 10, 5), window(3, 15, 5)];
/// Two CPUs (partitions 0 and 2 on CPU 0, 1 and 3 on CPU 1, with gaps on CPU 1).
static WINDOWS_2: [Window; 4] =
    [window(0, 0, 10), window(1, 1, 9), window(2, 10, 10), window(3, 10, 9)];
/// Three CPUs (0 and 3 on CPU 0, 1 on CPU 1, 2 on CPU 2).
static WINDOWS_3: [Window; 4] =
    [window(0, 0, 10), window(1, 0, 15), window(2, 3, 15), window(3, 10, 10)];
/// Four CPUs or more: one partition each, windows of 15 ticks at staggered starts (CPUs
/// past the fourth run no partition: they take interrupts and ticks only).
static WINDOWS_4: [Window; 4] =
    [window(0, 0, 15), window(1, 0, 15), window(2, 2, 15), window(3, 5, 15)];

/// The CPU partition `p` runs on, with `cpus` CPUs.
pub const fn cpu_of(p: usize, cpus: usize) -> usize {
    match cpus {
        1 => 0,
        2 => p % 2,
        3 => {
            if p == 3 {
                0
            } else {
                p
            }
        }
        _ => p,
    }
}

/// The windows of the schedule for `cpus` CPUs.
pub fn windows(cpus: usize) -> &'static [Window] {
    match cpus {
        1 => &WINDOWS_1,
        2 => &WINDOWS_2,
        3 => &WINDOWS_3,
        _ => &WINDOWS_4,
    }
}

/// The window of partition `p` containing tick `now`, if `now` is inside one: its end.
pub fn window_end(cpus: usize, p: usize, now: u64) -> Option<u64> {
    let offset = now % FRAME;
    let base = now - offset;
    windows(cpus)
        .iter()
        .filter(|w| usize::from(w.partition) == p)
        .find(|w| offset >= w.start && offset < w.start + w.length)
        .map(|w| base + w.start + w.length)
}

fn health(plan: Health) -> HmTable {
    let base = HmTable::IGNORE_ALL
        .on(HmKind::PendingOverflow, HmAction::Deliver)
        .on(HmKind::AckTimeout, HmAction::Deliver)
        .on(HmKind::PingMissed, HmAction::Deliver)
        .on(HmKind::UpcallFault, HmAction::Ignore);
    match plan {
        Health::Tolerant => base.on(HmKind::Trap, HmAction::Deliver),
        Health::ColdOnError => base
            .on(HmKind::Trap, HmAction::Deliver)
            .on(HmKind::TrapInTrap, HmAction::ColdStart)
            .on(HmKind::PartitionError, HmAction::ColdStart)
            .on(HmKind::IllegalHypercall, HmAction::Deliver),
        Health::WarmOnError => base
            .on(HmKind::Trap, HmAction::WarmStart)
            .on(HmKind::PartitionError, HmAction::WarmStart)
            .on(HmKind::PingMissed, HmAction::ColdStart),
        Health::Limited => base
            .on(HmKind::Trap, HmAction::ColdStart)
            .on(HmKind::PartitionError, HmAction::ColdStart)
            .with_restart_limit(2, 3),
        Health::IdleOnError => {
            base.on(HmKind::Trap, HmAction::Deliver).on(HmKind::PartitionError, HmAction::Idle)
        }
        Health::StopOnTrapInTrap => {
            base.on(HmKind::Trap, HmAction::Deliver).on(HmKind::TrapInTrap, HmAction::StopModule)
        }
    }
}

/// The configuration of `scenario`.
pub fn config(scenario: &Scenario) -> SystemConfig<P> {
    config_with(scenario, false, false)
}

/// The configuration of `scenario`; `deaf`: the storming partition's storm port starts
/// masked (the storm's isolation run: its events never reach the guest); `bare`: every
/// port keeps no latest context (for the engine without context slots, `Options::bare`).
pub fn config_with(scenario: &Scenario, deaf: bool, bare: bool) -> SystemConfig<P> {
    let cpus = scenario.cpus;
    let partition = |p: usize, ports: &'static [PortConfig]| {
        let guest = &scenario.guests[p];
        let mut vectors = VectorSet::EMPTY.with(LINE_VECTOR).with(LEVEL_VECTOR);
        if p == STORMING {
            vectors = vectors.with(STORM_VECTOR);
        }
        PartitionConfig {
            name: "sim",
            cpu: cpu_of(p, cpus) as u16,
            ports,
            priority_levels: &[],
            timer_port: Some(port::TIMER),
            error_port: Some(port::ERROR),
            catch_up: guest.catch_up,
            vectors,
            channels: (1 << p) | (1 << ((p + P - 1) % P)),
            ping: if guest.ping { Some(PING) } else { None },
            health: health(guest.health),
        }
    };
    SystemConfig {
        partitions: if !bare {
            [
                partition(0, &PORTS_0),
                partition(1, &PORTS_1),
                partition(2, &PORTS_2),
                partition(3, if deaf { &PORTS_3_DEAF } else { &PORTS_3 }),
            ]
        } else {
            [
                partition(0, &BARE_0),
                partition(1, &BARE_1),
                partition(2, &BARE_2),
                partition(3, if deaf { &BARE_3_DEAF } else { &BARE_3 }),
            ]
        },
        schedule: Schedule { major_frame: FRAME, windows: windows(cpus) },
        routes: &ROUTES,
        clock_vector: None,
        channels: &CHANNELS,
        channel_budgets: &CHANNEL_BUDGETS,
    }
}
