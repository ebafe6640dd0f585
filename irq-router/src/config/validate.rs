//! Validation of a [`SystemConfig`]: a `const fn`, so a wrong `const` configuration fails
//! the build, and the same typed errors, naming the entry, at run time.

use core::fmt;

use notify_core::{EventTables, PortConfig, PriorityLevel, Source, TablesConfig};

use super::{
    HmAction, HmKind, MAX_CHANNELS, MAX_CPUS, MAX_PARTITIONS, Sharing, SystemConfig, Trigger,
};

/// Why a configuration was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// No partition, or more than [`MAX_PARTITIONS`].
    PartitionCount,
    /// An engine of no CPU, or of more than [`MAX_CPUS`].
    CpuCount,
    /// More than [`MAX_CHANNELS`] channels.
    ChannelCount,
    /// The event tables refused the ports, priority levels or channels (the error names
    /// the entry or the level).
    Events(notify_core::ConfigError),
    /// Something about one partition.
    Partition {
        /// Partition index.
        partition: usize,
        /// What.
        error: PartitionError,
    },
    /// The major frame is zero ticks long.
    EmptyFrame,
    /// Window `entry` of the schedule.
    Window {
        /// Index in `schedule.windows`.
        entry: usize,
        /// What.
        error: WindowError,
    },
    /// Route `entry`.
    Route {
        /// Index in `routes`.
        entry: usize,
        /// What.
        error: RouteError,
    },
    /// An end of channel `channel` is a partition whose channel permissions leave it out.
    ChannelNotPermitted {
        /// Channel index.
        channel: usize,
        /// The partition.
        partition: usize,
    },
    /// Channel budget `entry` names a missing channel, or one an earlier entry budgeted.
    ChannelBudget {
        /// Index in `channel_budgets`.
        entry: usize,
    },
}

/// What is wrong with a partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PartitionError {
    /// `timer_port` is not bound to `Source::Timer`.
    TimerPort,
    /// `error_port` is not bound to `Source::Lifecycle`.
    ErrorPort,
    /// The health-monitor table delivers `kind` but there is no error port.
    DeliverWithoutErrorPort {
        /// The kind.
        kind: HmKind,
    },
    /// The ping's port is not bound to `Source::Ping`, or its interval or bound is zero,
    /// or its bound exceeds its interval.
    Ping,
    /// Port entry `entry` is bound to a vector the partition may not bind.
    VectorNotPermitted {
        /// Index in the partition's `ports`.
        entry: usize,
    },
    /// Its health table's restart limit allows no restart, more than
    /// [`MAX_RESTART_LIMIT`](crate::config::MAX_RESTART_LIMIT), or has an empty window.
    RestartLimit,
    /// Its `cpu` is not one of the engine's CPUs.
    NoSuchCpu {
        /// The CPU it names.
        cpu: u16,
    },
}

/// What is wrong with a window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WindowError {
    /// It names a partition that does not exist.
    UnknownPartition,
    /// It is zero ticks long.
    Empty,
    /// It ends after the major frame.
    ExceedsFrame,
    /// It starts before the previous window of its CPU ends (a CPU's windows are in
    /// increasing order and do not overlap).
    Overlaps,
}

/// What is wrong with a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RouteError {
    /// An earlier route, or the clock, already has this vector.
    DuplicateVector,
    /// An exclusive line with more than one target.
    ExclusiveShared,
    /// No target and no kernel-first handler: nobody would handle it.
    Unhandled,
    /// Target `target` names a partition that does not exist.
    UnknownPartition {
        /// Index in the route's `targets`.
        target: usize,
    },
    /// Target `target` names a partition that may not receive this vector.
    NotPermitted {
        /// Index in the route's `targets`.
        target: usize,
    },
    /// Target `target` names a port not bound to `Source::Line(vector)`.
    PortNotBound {
        /// Index in the route's `targets`.
        target: usize,
    },
    /// Target `target` names a partition an earlier target already names.
    DuplicateTarget {
        /// Index in the route's `targets`.
        target: usize,
    },
    /// A level line with a zero acknowledgement timeout.
    ZeroAckTimeout,
    /// A level line with more than [`MAX_LEVEL_TARGETS`](crate::config::MAX_LEVEL_TARGETS)
    /// targets (their debts share one word with the firing's generation).
    TooManyLevelTargets,
    /// A level line with a storm budget: its mask belongs to its acknowledgements, which
    /// already hold a firing until it is handled (a second owner of the mask could unmask
    /// it under them).
    LevelBudget,
    /// Target `target` of a level line names a counting port: a level line's event is a
    /// state, acknowledged as one, so its ports must coalesce.
    LevelPortCounts {
        /// Index in the route's `targets`.
        target: usize,
    },
}

/// The source `port` is bound to in `ports`.
const fn source_of(ports: &[PortConfig], port: u16) -> Option<Source> {
    let mut i = 0;
    while i < ports.len() {
        if ports[i].port == port {
            return Some(ports[i].binding.source);
        }
        i += 1;
    }
    None
}

/// Whether `port` is configured as a coalescing port in `ports`.
const fn coalesces(ports: &[PortConfig], port: u16) -> bool {
    let mut i = 0;
    while i < ports.len() {
        if ports[i].port == port {
            return ports[i].binding.mode.is_coalescing();
        }
        i += 1;
    }
    false
}

/// Whether `port` is bound to exactly `source` (sources compared field by field, in const).
const fn bound_to(ports: &[PortConfig], port: u16, source: Source) -> bool {
    match (source_of(ports, port), source) {
        (Some(Source::Timer), Source::Timer)
        | (Some(Source::Ping), Source::Ping)
        | (Some(Source::Lifecycle), Source::Lifecycle) => true,
        (Some(Source::Line(a)), Source::Line(b)) => a == b,
        _ => false,
    }
}

impl<const P: usize> SystemConfig<P> {
    /// The event-table configuration inside this one.
    pub const fn tables(&self) -> TablesConfig<P> {
        let mut partitions: [&'static [PortConfig]; P] = [&[]; P];
        let mut priority_levels: [&'static [PriorityLevel]; P] = [&[]; P];
        let mut p = 0;
        while p < P {
            partitions[p] = self.partitions[p].ports;
            priority_levels[p] = self.partitions[p].priority_levels;
            p += 1;
        }
        TablesConfig { partitions, priority_levels, channels: self.channels }
    }

    /// Checks the whole configuration for partitions of `64 * W` ports, on up to
    /// [`MAX_CPUS`] CPUs ([`validate_on`](Self::validate_on) checks it for an engine's
    /// number of CPUs).
    ///
    /// # Errors
    /// The first [`ConfigError`] found, naming its entry.
    pub const fn validate<const W: usize>(&self) -> Result<(), ConfigError> {
        self.validate_on::<W, MAX_CPUS>()
    }

    /// Checks the whole configuration for an engine of `C` CPUs with partitions of
    /// `64 * W` ports (what [`Router::new`](crate::Router::new) checks).
    ///
    /// # Errors
    /// The first [`ConfigError`] found, naming its entry.
    pub const fn validate_on<const W: usize, const C: usize>(&self) -> Result<(), ConfigError> {
        self.validate_engine::<W, C, W>()
    }

    /// Checks the whole configuration for an engine of `C` CPUs with partitions of
    /// `64 * W` ports and `64 * CW` context slots (what
    /// [`Router::new`](crate::Router::new) checks for a `Router<P, W, C, CW, H>`): as
    /// [`validate_on`](Self::validate_on), and that the ports keeping a context
    /// ([`PortConfig::keep_context`]) find a slot.
    ///
    /// # Errors
    /// The first [`ConfigError`] found, naming its entry.
    pub const fn validate_engine<const W: usize, const C: usize, const CW: usize>(
        &self,
    ) -> Result<(), ConfigError> {
        if P == 0 || P > MAX_PARTITIONS {
            return Err(ConfigError::PartitionCount);
        }
        if C == 0 || C > MAX_CPUS {
            return Err(ConfigError::CpuCount);
        }
        if self.channels.len() > MAX_CHANNELS {
            return Err(ConfigError::ChannelCount);
        }
        if let Err(e) = EventTables::<P, W, CW>::validate(&self.tables()) {
            return Err(ConfigError::Events(e));
        }
        let mut p = 0;
        while p < P {
            let cpu = self.partitions[p].cpu;
            if cpu as usize >= C || cpu as usize >= MAX_CPUS {
                let error = PartitionError::NoSuchCpu { cpu };
                return Err(ConfigError::Partition { partition: p, error });
            }
            if let Err(error) = self.validate_partition(p) {
                return Err(ConfigError::Partition { partition: p, error });
            }
            p += 1;
        }
        if let Err(e) = self.validate_schedule() {
            return Err(e);
        }
        let mut entry = 0;
        while entry < self.routes.len() {
            if let Err(error) = self.validate_route(entry) {
                return Err(ConfigError::Route { entry, error });
            }
            entry += 1;
        }
        self.validate_channels()
    }

    const fn validate_partition(&self, p: usize) -> Result<(), PartitionError> {
        let part = &self.partitions[p];
        if let Some(port) = part.timer_port
            && !bound_to(part.ports, port, Source::Timer)
        {
            return Err(PartitionError::TimerPort);
        }
        if let Some(port) = part.error_port
            && !bound_to(part.ports, port, Source::Lifecycle)
        {
            return Err(PartitionError::ErrorPort);
        }
        if let Some(limit) = part.health.restart_limit()
            && (limit.restarts == 0
                || limit.restarts > super::MAX_RESTART_LIMIT
                || limit.frames == 0)
        {
            return Err(PartitionError::RestartLimit);
        }
        if part.error_port.is_none() {
            let mut k = 0;
            while k < HmKind::COUNT {
                let kind = HmKind::ALL[k];
                let is_trap = matches!(kind, HmKind::Trap | HmKind::TrapInTrap);
                if !is_trap && matches!(part.health.action(kind), HmAction::Deliver) {
                    return Err(PartitionError::DeliverWithoutErrorPort { kind });
                }
                k += 1;
            }
        }
        if let Some(ping) = part.ping
            && (!bound_to(part.ports, ping.port, Source::Ping)
                || ping.interval == 0
                || ping.bound == 0
                || ping.bound > ping.interval)
        {
            return Err(PartitionError::Ping);
        }
        let mut entry = 0;
        while entry < part.ports.len() {
            if let Source::Line(v) = part.ports[entry].binding.source
                && (v > u8::MAX as u16 || !part.vectors.contains(v as u8))
            {
                return Err(PartitionError::VectorNotPermitted { entry });
            }
            entry += 1;
        }
        Ok(())
    }

    const fn validate_schedule(&self) -> Result<(), ConfigError> {
        let frame = self.schedule.major_frame;
        if frame == 0 {
            return Err(ConfigError::EmptyFrame);
        }
        let windows = self.schedule.windows;
        // Where the previous window of each CPU ends (partitions were checked: their CPU
        // is below MAX_CPUS).
        let mut previous_end = [0; MAX_CPUS];
        let mut entry = 0;
        while entry < windows.len() {
            let w = windows[entry];
            let error = if w.partition as usize >= P {
                Some(WindowError::UnknownPartition)
            } else if w.length == 0 {
                Some(WindowError::Empty)
            } else if w.start < previous_end[self.partitions[w.partition as usize].cpu as usize] {
                Some(WindowError::Overlaps)
            } else if w.start >= frame || w.length > frame - w.start {
                Some(WindowError::ExceedsFrame)
            } else {
                None
            };
            if let Some(error) = error {
                return Err(ConfigError::Window { entry, error });
            }
            previous_end[self.partitions[w.partition as usize].cpu as usize] = w.start + w.length;
            entry += 1;
        }
        Ok(())
    }

    const fn validate_route(&self, entry: usize) -> Result<(), RouteError> {
        let route = &self.routes[entry];
        let vector = route.vector;
        if let Some(clock) = self.clock_vector
            && clock == vector
        {
            return Err(RouteError::DuplicateVector);
        }
        let mut earlier = 0;
        while earlier < entry {
            if self.routes[earlier].vector == vector {
                return Err(RouteError::DuplicateVector);
            }
            earlier += 1;
        }
        let targets = route.targets;
        if targets.is_empty() && !route.kernel_first {
            return Err(RouteError::Unhandled);
        }
        if matches!(route.sharing, Sharing::Exclusive) && targets.len() > 1 {
            return Err(RouteError::ExclusiveShared);
        }
        if matches!(route.trigger, Trigger::Level) && route.ack_timeout == 0 {
            return Err(RouteError::ZeroAckTimeout);
        }
        if matches!(route.trigger, Trigger::Level) && targets.len() > super::MAX_LEVEL_TARGETS {
            return Err(RouteError::TooManyLevelTargets);
        }
        if matches!(route.trigger, Trigger::Level) && route.budget.is_some() {
            return Err(RouteError::LevelBudget);
        }
        let mut target = 0;
        while target < targets.len() {
            let t = targets[target];
            let p = t.partition as usize;
            if p >= P {
                return Err(RouteError::UnknownPartition { target });
            }
            let part = &self.partitions[p];
            if !part.vectors.contains(vector) {
                return Err(RouteError::NotPermitted { target });
            }
            if !bound_to(part.ports, t.port, Source::Line(vector as u16)) {
                return Err(RouteError::PortNotBound { target });
            }
            if matches!(route.trigger, Trigger::Level) && !coalesces(part.ports, t.port) {
                return Err(RouteError::LevelPortCounts { target });
            }
            let mut other = 0;
            while other < target {
                if targets[other].partition == t.partition {
                    return Err(RouteError::DuplicateTarget { target });
                }
                other += 1;
            }
            target += 1;
        }
        Ok(())
    }

    const fn validate_channels(&self) -> Result<(), ConfigError> {
        let mut channel = 0;
        while channel < self.channels.len() {
            let ends = [self.channels[channel].source, self.channels[channel].destination];
            let mut i = 0;
            while i < 2 {
                // The event tables checked that both partitions exist.
                let partition = ends[i].partition as usize;
                if self.partitions[partition].channels & (1 << channel) == 0 {
                    return Err(ConfigError::ChannelNotPermitted { channel, partition });
                }
                i += 1;
            }
            channel += 1;
        }
        let budgets = self.channel_budgets;
        let mut entry = 0;
        while entry < budgets.len() {
            let c = budgets[entry].channel;
            if c as usize >= self.channels.len() {
                return Err(ConfigError::ChannelBudget { entry });
            }
            let mut earlier = 0;
            while earlier < entry {
                if budgets[earlier].channel == c {
                    return Err(ConfigError::ChannelBudget { entry });
                }
                earlier += 1;
            }
            entry += 1;
        }
        Ok(())
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::PartitionCount => {
                write!(f, "a system needs 1 to {MAX_PARTITIONS} partitions")
            }
            Self::ChannelCount => write!(f, "more than {MAX_CHANNELS} channels"),
            Self::CpuCount => write!(f, "an engine runs on 1 to {MAX_CPUS} CPUs"),
            Self::Events(e) => write!(f, "event tables: {e:?}"),
            Self::Partition { partition, error } => write!(f, "partition {partition}: {error:?}"),
            Self::EmptyFrame => write!(f, "the major frame is empty"),
            Self::Window { entry, error } => write!(f, "window {entry}: {error:?}"),
            Self::Route { entry, error } => write!(f, "route {entry}: {error:?}"),
            Self::ChannelNotPermitted { channel, partition } => {
                write!(f, "channel {channel}: partition {partition} may not use it")
            }
            Self::ChannelBudget { entry } => {
                write!(f, "channel budget {entry}: unknown or duplicate channel")
            }
        }
    }
}

impl core::error::Error for ConfigError {}
