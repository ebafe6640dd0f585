//! The static system configuration: one value holding everything the engine needs.
//!
//! Built as a `const` and checked by [`SystemConfig::validate`], a `const fn`: in a
//! `static` initializer a wrong configuration fails the build, and at run time (a
//! configuration read from a file) the same check returns a [`ConfigError`] naming the
//! offending entry.
//!
//! ```compile_fail,E0080
//! use irq_router::config::{HmTable, PartitionConfig, Schedule, SystemConfig, VectorSet, Window};
//! use vcpu_state::CatchUpPolicy;
//!
//! const P0: PartitionConfig = PartitionConfig {
//!     name: "p0",
//!     cpu: 0,
//!     ports: &[],
//!     priority_levels: &[],
//!     timer_port: None,
//!     error_port: None,
//!     catch_up: CatchUpPolicy::Replay,
//!     vectors: VectorSet::EMPTY,
//!     channels: 0,
//!     ping: None,
//!     health: HmTable::IGNORE_ALL,
//! };
//! // The window runs past the end of the 40-tick major frame.
//! const SYSTEM: SystemConfig<1> = SystemConfig {
//!     partitions: [P0],
//!     schedule: Schedule { major_frame: 40, windows: &[Window { partition: 0, start: 30, length: 20 }] },
//!     routes: &[],
//!     clock_vector: None,
//!     channels: &[],
//!     channel_budgets: &[],
//! };
//! const _: () = assert!(SYSTEM.validate::<1>().is_ok(), "invalid system configuration");
//! ```

mod health;
mod validate;

use core::num::NonZeroU32;

use notify_core::{Channel, PortConfig, PriorityLevel};
use vcpu_state::CatchUpPolicy;

pub use health::{HmAction, HmKind, HmTable, MAX_RESTART_LIMIT, RestartLimit};
pub use validate::{ConfigError, PartitionError, RouteError, WindowError};

/// Most partitions a system may have: a level line keeps the set of partitions that still
/// owe an acknowledgement in one 64-bit word.
pub const MAX_PARTITIONS: usize = 64;

/// Most targets a level-triggered line may have: the debts of one firing (one bit per
/// target) share a word with the firing's generation.
pub const MAX_LEVEL_TARGETS: usize = 32;

/// Most CPUs an engine may have (`Router::new` refuses a larger `C`).
pub const MAX_CPUS: usize = 64;

/// Most channels a system may have: a partition's channel permissions are one 64-bit
/// word.
pub const MAX_CHANNELS: usize = 64;

/// A set of interrupt vectors (0 to 255), as a bitmap. Four plain words rather than a
/// `bitvec` array: configurations are built and checked by `const fn`s, which `bitvec`'s
/// methods are not.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct VectorSet([u64; 4]);

impl VectorSet {
    /// No vector.
    pub const EMPTY: Self = Self([0; 4]);

    /// This set and `vector`.
    #[must_use]
    pub const fn with(self, vector: u8) -> Self {
        let mut words = self.0;
        words[(vector / 64) as usize] |= 1 << (vector % 64);
        Self(words)
    }

    /// Whether `vector` is in the set.
    pub const fn contains(&self, vector: u8) -> bool {
        self.0[(vector / 64) as usize] & (1 << (vector % 64)) != 0
    }
}

/// How a line is shared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Sharing {
    /// One partition only.
    Exclusive,
    /// Several partitions; each gets every interrupt (fan-out).
    Shared,
}

/// How a line signals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Trigger {
    /// Acknowledged (EOI) at once.
    Edge,
    /// Masked and acknowledged at once, unmasked when every bound partition has
    /// acknowledged its event (or its acknowledgement timed out).
    Level,
}

/// A partition's port that a route raises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    /// Partition number.
    pub partition: u16,
    /// Its port, bound to `Source::Line(vector)` in its port configuration.
    pub port: u16,
}

/// Where a hardware vector goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Route {
    /// The vector.
    pub vector: u8,
    /// Exclusive or shared.
    pub sharing: Sharing,
    /// Edge or level.
    pub trigger: Trigger,
    /// The kernel's own handler runs first (before any partition is raised).
    pub kernel_first: bool,
    /// The partitions it raises, each on its own port.
    pub targets: &'static [Target],
    /// Raises per major frame; past it the line is masked for the rest of the frame. Edge
    /// lines only: a level line is held masked by its acknowledgements already.
    pub budget: Option<NonZeroU32>,
    /// Level lines: ticks to wait for every acknowledgement before a health-monitor event
    /// and a forced unmask. Ignored for edge lines.
    pub ack_timeout: u64,
}

/// A channel's budget: notifies per major frame, past which the channel is refused for
/// the rest of the frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChannelBudget {
    /// Channel index.
    pub channel: u16,
    /// Notifies per major frame.
    pub raises: NonZeroU32,
}

/// A time window of the cyclic schedule, on the CPU its partition is bound to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Window {
    /// The partition that runs in it (on that partition's CPU).
    pub partition: u16,
    /// Offset from the start of the major frame, in ticks.
    pub start: u64,
    /// Length in ticks.
    pub length: u64,
}

/// The cyclic schedule of every CPU, in one major frame common to all.
///
/// A window runs on the CPU its partition is bound to, so each CPU's schedule is the
/// windows of its partitions: in increasing `start` order and not overlapping on that CPU
/// (windows of different CPUs may overlap: that is what the CPUs are for).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Schedule {
    /// Length of the major frame in ticks.
    pub major_frame: u64,
    /// The windows of all CPUs.
    pub windows: &'static [Window],
}

/// The health monitor's ping of a partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ping {
    /// Port bound to `Source::Ping`.
    pub port: u16,
    /// Ticks between pings.
    pub interval: u64,
    /// Ticks the partition has to answer.
    pub bound: u64,
}

/// One partition.
#[derive(Clone, Copy, Debug)]
pub struct PartitionConfig {
    /// Name, for messages.
    pub name: &'static str,
    /// The CPU it runs on (below the engine's number of CPUs): its windows are on that
    /// CPU, and only that CPU touches its vCPU and injects its upcalls.
    pub cpu: u16,
    /// Its ports and their bindings.
    pub ports: &'static [PortConfig],
    /// Its priority levels: up to [`MAX_PRIORITY_LEVELS`](notify_core::MAX_PRIORITY_LEVELS)
    /// ranges of ports, each sharing one priority (see [`PriorityLevel`]). `&[]` for none:
    /// every port is a level of its own, the lowest-numbered deliverable port first.
    pub priority_levels: &'static [PriorityLevel],
    /// The port bound to `Source::Timer` that receives its virtual clock ticks.
    pub timer_port: Option<u16>,
    /// The port the health monitor's `Deliver` action raises (bound to
    /// `Source::Lifecycle`); without one, `Deliver` is not allowed in its table except
    /// for traps, which go to the fault handler.
    pub error_port: Option<u16>,
    /// How missed clock ticks are given back at entry.
    pub catch_up: CatchUpPolicy,
    /// Vectors it may bind (receive).
    pub vectors: VectorSet,
    /// Channels it may use, by index (bit `c` for channel `c`), as sender or receiver.
    pub channels: u64,
    /// The health monitor's ping, if any.
    pub ping: Option<Ping>,
    /// What each health-monitor event does to it.
    pub health: HmTable,
}

/// The whole system.
#[derive(Clone, Copy, Debug)]
pub struct SystemConfig<const P: usize> {
    /// The partitions.
    pub partitions: [PartitionConfig; P],
    /// The cyclic schedule.
    pub schedule: Schedule,
    /// Hardware vector routes (at most one per vector).
    pub routes: &'static [Route],
    /// The vector of the kernel's clock: handled by the kernel first, then turned into
    /// virtual ticks for the partitions. Needs no route.
    pub clock_vector: Option<u8>,
    /// The channels between partitions.
    pub channels: &'static [Channel],
    /// Budgets of channels (a channel without an entry has none).
    pub channel_budgets: &'static [ChannelBudget],
}
