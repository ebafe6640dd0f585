//! Status codes every function returns, and the configuration error that names the
//! offending entry.

/// What a library function did. `IRQ_STATUS_OK` (0) is success; every other value is an
/// error and the function changed nothing it was asked to change (out-parameters are
/// only written on success, except the [`IrqConfigError`] of `irq_router_create`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IrqStatus {
    /// Success.
    Ok = 0,
    /// A pointer argument that must not be NULL was NULL.
    NullPointer = 1,
    /// The handle is not one `irq_router_create` returned, or its router was destroyed
    /// (also when a new router took its slot), or is being destroyed right now.
    BadHandle = 2,
    /// The partition number is at or past the configuration's partition count.
    BadPartition = 3,
    /// A value is out of its range (a vector past 255, a port past 63).
    OutOfRange = 4,
    /// Every router of the static pool is in use (see `IRQ_MAX_ROUTERS`).
    PoolExhausted = 5,
    /// `irq_router_destroy` while another call on the same router is running.
    Busy = 6,
    /// The configuration was refused; the [`IrqConfigError`] says what and where.
    InvalidConfig = 7,
    /// A function pointer of the [`IrqKernelOps`](crate::IrqKernelOps) table is NULL;
    /// the [`IrqConfigError`]'s `entry` is its field number (`now` = 0, in field order).
    MissingOperation = 8,
}

/// What is wrong with a configuration ([`IrqConfigError::kind`]).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IrqConfigErrorKind {
    /// No error.
    None = 0,
    /// A table pointer is NULL while its count is not zero.
    NullTable = 1,
    /// A table is longer than this library holds (the `IRQ_MAX_*` constants).
    TooMany = 2,
    /// A field holds a value that is none of its documented constants (a source kind,
    /// a mode, a health-monitor action, a catch-up policy, a vector past 255, ...), or a
    /// pointer (a table, a route's targets, a ping) is not aligned for its type (`table`
    /// names the table; for a ping, `IRQ_CONFIG_TABLE_PARTITIONS` and its partition).
    BadValue = 3,
    /// A partition's shared page pointer (`entry`: the partition) is not `IRQ_PAGE_ALIGN`
    /// (4096-byte) aligned, or is less than 4096 bytes from the page of an earlier
    /// partition (`index`: that partition).
    BadPage = 4,
    /// No partition, or more than the library holds.
    PartitionCount = 5,
    /// More channels than the engine allows.
    ChannelCount = 6,
    /// A port entry names a port at or past 64.
    PortOutOfRange = 7,
    /// A port entry names a port an earlier entry of the partition configured.
    DuplicatePort = 8,
    /// A port entry is bound to a channel that does not exist.
    UnknownChannel = 9,
    /// An end of a channel names a partition that does not exist (`index`: 0 source,
    /// 1 destination).
    ChannelPartition = 10,
    /// An end of a channel names a port not bound to that channel (`index`: 0 source,
    /// 1 destination).
    ChannelPort = 11,
    /// The timer port is not bound to the timer source.
    TimerPort = 12,
    /// The error port is not bound to the lifecycle source.
    ErrorPort = 13,
    /// The health-monitor table delivers kind `index` but the partition has no error port.
    DeliverWithoutErrorPort = 14,
    /// The ping's port is not bound to the ping source, its interval or bound is zero,
    /// or its bound exceeds its interval.
    Ping = 15,
    /// A port entry is bound to a vector the partition's `vectors` set leaves out.
    VectorNotPermitted = 16,
    /// The major frame is zero ticks long.
    EmptyFrame = 17,
    /// A window names a partition that does not exist.
    WindowUnknownPartition = 18,
    /// A window is zero ticks long.
    WindowEmpty = 19,
    /// A window ends after the major frame.
    WindowExceedsFrame = 20,
    /// A window starts before the previous one ends.
    WindowOverlaps = 21,
    /// A route's vector is already routed, or is the clock's.
    RouteDuplicateVector = 22,
    /// An exclusive route with more than one target.
    RouteExclusiveShared = 23,
    /// A route with no target and no kernel-first handler.
    RouteUnhandled = 24,
    /// A route's target `index` names a partition that does not exist.
    RouteUnknownPartition = 25,
    /// A route's target `index` names a partition whose `vectors` leave the vector out.
    RouteNotPermitted = 26,
    /// A route's target `index` names a port not bound to the route's line.
    RoutePortNotBound = 27,
    /// A route's target `index` names a partition an earlier target names.
    RouteDuplicateTarget = 28,
    /// A level route with a zero acknowledgement timeout.
    RouteZeroAckTimeout = 29,
    /// A level route's target `index` names a counting port (level ports coalesce).
    RouteLevelPortCounts = 30,
    /// An end of channel `entry` is partition `partition`, whose channel permissions
    /// leave the channel out.
    ChannelNotPermitted = 31,
    /// A channel budget names a missing channel, one already budgeted, or zero raises.
    ChannelBudget = 32,
    /// A refusal this version of the library has no code for.
    Other = 33,
    /// A level route with more targets than a level line can track (32).
    RouteTooManyLevelTargets = 34,
    /// A level route with a storm budget (budgets are for edge lines).
    RouteLevelBudget = 35,
    /// A partition's priority level `entry` (in `IRQ_CONFIG_TABLE_LEVELS`) is empty
    /// (`start >= end`) or ends past the last port.
    LevelRange = 36,
    /// A partition's priority level `entry` starts before the previous one ends.
    LevelOrder = 37,
}

/// Which table of the configuration an [`IrqConfigError`] is about.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IrqConfigTable {
    /// The configuration as a whole (counts, the major frame, the clock vector).
    System = 0,
    /// `partitions[entry]` itself (timer or error port, ping, health table, page).
    Partitions = 1,
    /// `partitions[partition].ports[entry]`.
    Ports = 2,
    /// `windows[entry]`.
    Windows = 3,
    /// `routes[entry]` (and its target `index`).
    Routes = 4,
    /// `channels[entry]`.
    Channels = 5,
    /// `channel_budgets[entry]`.
    ChannelBudgets = 6,
    /// The kernel operations table (`entry` is the field number).
    Operations = 7,
    /// `partitions[partition].levels[entry]`.
    Levels = 8,
}

/// Where and why `irq_router_create` refused a configuration. Fields that do not apply
/// are -1.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IrqConfigError {
    /// What is wrong.
    pub kind: IrqConfigErrorKind,
    /// The table the entry is in.
    pub table: IrqConfigTable,
    /// The partition concerned (for `IRQ_CONFIG_TABLE_PORTS`, the partition whose port
    /// table holds the entry).
    pub partition: i32,
    /// Index of the entry in its table.
    pub entry: i32,
    /// Index inside the entry: a route's target, a channel's end (0 source, 1
    /// destination), a health-monitor kind.
    pub index: i32,
}

impl IrqConfigError {
    /// No error.
    pub(crate) const NONE: Self = Self {
        kind: IrqConfigErrorKind::None,
        table: IrqConfigTable::System,
        partition: -1,
        entry: -1,
        index: -1,
    };

    /// An error of `kind` about entry `entry` of `table`.
    pub(crate) const fn at(kind: IrqConfigErrorKind, table: IrqConfigTable, entry: usize) -> Self {
        Self { kind, table, partition: -1, entry: entry as i32, index: -1 }
    }

    /// An error of `kind` about the configuration as a whole.
    pub(crate) const fn system(kind: IrqConfigErrorKind) -> Self {
        Self { kind, ..Self::NONE }
    }

    /// The same error naming partition `partition`.
    #[must_use]
    pub(crate) const fn partition(self, partition: usize) -> Self {
        Self { partition: partition as i32, ..self }
    }

    /// The same error naming index `index` inside the entry.
    #[must_use]
    pub(crate) const fn index(self, index: usize) -> Self {
        Self { index: index as i32, ..self }
    }
}

impl IrqStatus {
    /// The status's name as in the header, NUL-terminated.
    pub(crate) const fn name(self) -> &'static core::ffi::CStr {
        match self {
            Self::Ok => c"IRQ_STATUS_OK",
            Self::NullPointer => c"IRQ_STATUS_NULL_POINTER",
            Self::BadHandle => c"IRQ_STATUS_BAD_HANDLE",
            Self::BadPartition => c"IRQ_STATUS_BAD_PARTITION",
            Self::OutOfRange => c"IRQ_STATUS_OUT_OF_RANGE",
            Self::PoolExhausted => c"IRQ_STATUS_POOL_EXHAUSTED",
            Self::Busy => c"IRQ_STATUS_BUSY",
            Self::InvalidConfig => c"IRQ_STATUS_INVALID_CONFIG",
            Self::MissingOperation => c"IRQ_STATUS_MISSING_OPERATION",
        }
    }
}

impl IrqConfigErrorKind {
    /// Every kind, in value order (`ALL[n]` has value `n`).
    const ALL: [Self; 38] = [
        Self::None,
        Self::NullTable,
        Self::TooMany,
        Self::BadValue,
        Self::BadPage,
        Self::PartitionCount,
        Self::ChannelCount,
        Self::PortOutOfRange,
        Self::DuplicatePort,
        Self::UnknownChannel,
        Self::ChannelPartition,
        Self::ChannelPort,
        Self::TimerPort,
        Self::ErrorPort,
        Self::DeliverWithoutErrorPort,
        Self::Ping,
        Self::VectorNotPermitted,
        Self::EmptyFrame,
        Self::WindowUnknownPartition,
        Self::WindowEmpty,
        Self::WindowExceedsFrame,
        Self::WindowOverlaps,
        Self::RouteDuplicateVector,
        Self::RouteExclusiveShared,
        Self::RouteUnhandled,
        Self::RouteUnknownPartition,
        Self::RouteNotPermitted,
        Self::RoutePortNotBound,
        Self::RouteDuplicateTarget,
        Self::RouteZeroAckTimeout,
        Self::RouteLevelPortCounts,
        Self::ChannelNotPermitted,
        Self::ChannelBudget,
        Self::Other,
        Self::RouteTooManyLevelTargets,
        Self::RouteLevelBudget,
        Self::LevelRange,
        Self::LevelOrder,
    ];

    /// The kind with value `raw`, if any.
    pub(crate) fn from_raw(raw: i32) -> Option<Self> {
        let kind = *Self::ALL.get(usize::try_from(raw).ok()?)?;
        (kind as i32 == raw).then_some(kind)
    }

    /// The kind's name as in the header, NUL-terminated.
    pub(crate) const fn name(self) -> &'static core::ffi::CStr {
        match self {
            Self::None => c"IRQ_CONFIG_ERROR_KIND_NONE",
            Self::NullTable => c"IRQ_CONFIG_ERROR_KIND_NULL_TABLE",
            Self::TooMany => c"IRQ_CONFIG_ERROR_KIND_TOO_MANY",
            Self::BadValue => c"IRQ_CONFIG_ERROR_KIND_BAD_VALUE",
            Self::BadPage => c"IRQ_CONFIG_ERROR_KIND_BAD_PAGE",
            Self::PartitionCount => c"IRQ_CONFIG_ERROR_KIND_PARTITION_COUNT",
            Self::ChannelCount => c"IRQ_CONFIG_ERROR_KIND_CHANNEL_COUNT",
            Self::PortOutOfRange => c"IRQ_CONFIG_ERROR_KIND_PORT_OUT_OF_RANGE",
            Self::DuplicatePort => c"IRQ_CONFIG_ERROR_KIND_DUPLICATE_PORT",
            Self::UnknownChannel => c"IRQ_CONFIG_ERROR_KIND_UNKNOWN_CHANNEL",
            Self::ChannelPartition => c"IRQ_CONFIG_ERROR_KIND_CHANNEL_PARTITION",
            Self::ChannelPort => c"IRQ_CONFIG_ERROR_KIND_CHANNEL_PORT",
            Self::TimerPort => c"IRQ_CONFIG_ERROR_KIND_TIMER_PORT",
            Self::ErrorPort => c"IRQ_CONFIG_ERROR_KIND_ERROR_PORT",
            Self::DeliverWithoutErrorPort => c"IRQ_CONFIG_ERROR_KIND_DELIVER_WITHOUT_ERROR_PORT",
            Self::Ping => c"IRQ_CONFIG_ERROR_KIND_PING",
            Self::VectorNotPermitted => c"IRQ_CONFIG_ERROR_KIND_VECTOR_NOT_PERMITTED",
            Self::EmptyFrame => c"IRQ_CONFIG_ERROR_KIND_EMPTY_FRAME",
            Self::WindowUnknownPartition => c"IRQ_CONFIG_ERROR_KIND_WINDOW_UNKNOWN_PARTITION",
            Self::WindowEmpty => c"IRQ_CONFIG_ERROR_KIND_WINDOW_EMPTY",
            Self::WindowExceedsFrame => c"IRQ_CONFIG_ERROR_KIND_WINDOW_EXCEEDS_FRAME",
            Self::WindowOverlaps => c"IRQ_CONFIG_ERROR_KIND_WINDOW_OVERLAPS",
            Self::RouteDuplicateVector => c"IRQ_CONFIG_ERROR_KIND_ROUTE_DUPLICATE_VECTOR",
            Self::RouteExclusiveShared => c"IRQ_CONFIG_ERROR_KIND_ROUTE_EXCLUSIVE_SHARED",
            Self::RouteUnhandled => c"IRQ_CONFIG_ERROR_KIND_ROUTE_UNHANDLED",
            Self::RouteUnknownPartition => c"IRQ_CONFIG_ERROR_KIND_ROUTE_UNKNOWN_PARTITION",
            Self::RouteNotPermitted => c"IRQ_CONFIG_ERROR_KIND_ROUTE_NOT_PERMITTED",
            Self::RoutePortNotBound => c"IRQ_CONFIG_ERROR_KIND_ROUTE_PORT_NOT_BOUND",
            Self::RouteDuplicateTarget => c"IRQ_CONFIG_ERROR_KIND_ROUTE_DUPLICATE_TARGET",
            Self::RouteZeroAckTimeout => c"IRQ_CONFIG_ERROR_KIND_ROUTE_ZERO_ACK_TIMEOUT",
            Self::RouteLevelPortCounts => c"IRQ_CONFIG_ERROR_KIND_ROUTE_LEVEL_PORT_COUNTS",
            Self::ChannelNotPermitted => c"IRQ_CONFIG_ERROR_KIND_CHANNEL_NOT_PERMITTED",
            Self::ChannelBudget => c"IRQ_CONFIG_ERROR_KIND_CHANNEL_BUDGET",
            Self::Other => c"IRQ_CONFIG_ERROR_KIND_OTHER",
            Self::RouteTooManyLevelTargets => c"IRQ_CONFIG_ERROR_KIND_ROUTE_TOO_MANY_LEVEL_TARGETS",
            Self::RouteLevelBudget => c"IRQ_CONFIG_ERROR_KIND_ROUTE_LEVEL_BUDGET",
            Self::LevelRange => c"IRQ_CONFIG_ERROR_KIND_LEVEL_RANGE",
            Self::LevelOrder => c"IRQ_CONFIG_ERROR_KIND_LEVEL_ORDER",
        }
    }
}
