//! Status codes every function returns, and the configuration error that names the
//! offending entry. All are fixed-width integers (`uint32_t` in C) with `#define`d values:
//! never C enums, whose size and alignment follow the compiler and its flags
//! (`-fshort-enums`).

use crate::IrqPartition;

/// What a library function did: one of the `IRQ_STATUS_*` values. `IRQ_STATUS_OK` (0) is
/// success; every other value is an error and the function changed nothing it was asked
/// to change (out-parameters are only written on success, except the
/// [`IrqConfigError`] of `irq_router_create`). A `uint32_t` in C.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IrqStatus(pub u32);

/// Success.
pub const IRQ_STATUS_OK: IrqStatus = IrqStatus(0);
/// A pointer argument that must not be NULL was NULL.
pub const IRQ_STATUS_NULL_POINTER: IrqStatus = IrqStatus(1);
/// The handle is not one `irq_router_create` returned, or its router was destroyed
/// (also when a new router took its slot), or is being destroyed right now.
pub const IRQ_STATUS_BAD_HANDLE: IrqStatus = IrqStatus(2);
/// The partition number is at or past the configuration's partition count.
pub const IRQ_STATUS_BAD_PARTITION: IrqStatus = IrqStatus(3);
/// A value is out of its range (a vector past 255, a port past 63).
pub const IRQ_STATUS_OUT_OF_RANGE: IrqStatus = IrqStatus(4);
/// Every router of the static pool is in use (see `IRQ_MAX_ROUTERS`).
pub const IRQ_STATUS_POOL_EXHAUSTED: IrqStatus = IrqStatus(5);
/// `irq_router_destroy` while another call on the same router is running.
pub const IRQ_STATUS_BUSY: IrqStatus = IrqStatus(6);
/// The configuration was refused; the [`IrqConfigError`] says what and where.
pub const IRQ_STATUS_INVALID_CONFIG: IrqStatus = IrqStatus(7);
/// A function pointer of the [`IrqKernelOps`](crate::IrqKernelOps) table is NULL;
/// the [`IrqConfigError`]'s `entry` is its field number (`now` = 0, in field order).
pub const IRQ_STATUS_MISSING_OPERATION: IrqStatus = IrqStatus(8);

/// Every status, in value order (`STATUSES[n]` has value `n`).
pub(crate) const STATUSES: [(IrqStatus, &core::ffi::CStr); 9] = [
    (IRQ_STATUS_OK, c"IRQ_STATUS_OK"),
    (IRQ_STATUS_NULL_POINTER, c"IRQ_STATUS_NULL_POINTER"),
    (IRQ_STATUS_BAD_HANDLE, c"IRQ_STATUS_BAD_HANDLE"),
    (IRQ_STATUS_BAD_PARTITION, c"IRQ_STATUS_BAD_PARTITION"),
    (IRQ_STATUS_OUT_OF_RANGE, c"IRQ_STATUS_OUT_OF_RANGE"),
    (IRQ_STATUS_POOL_EXHAUSTED, c"IRQ_STATUS_POOL_EXHAUSTED"),
    (IRQ_STATUS_BUSY, c"IRQ_STATUS_BUSY"),
    (IRQ_STATUS_INVALID_CONFIG, c"IRQ_STATUS_INVALID_CONFIG"),
    (IRQ_STATUS_MISSING_OPERATION, c"IRQ_STATUS_MISSING_OPERATION"),
];

/// What is wrong with a configuration ([`IrqConfigError::kind`], an
/// `IRQ_CONFIG_ERROR_KIND_*` value).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    NullTable = IRQ_CONFIG_ERROR_KIND_NULL_TABLE,
    TooMany = IRQ_CONFIG_ERROR_KIND_TOO_MANY,
    BadValue = IRQ_CONFIG_ERROR_KIND_BAD_VALUE,
    BadPage = IRQ_CONFIG_ERROR_KIND_BAD_PAGE,
    PartitionCount = IRQ_CONFIG_ERROR_KIND_PARTITION_COUNT,
    ChannelCount = IRQ_CONFIG_ERROR_KIND_CHANNEL_COUNT,
    PortOutOfRange = IRQ_CONFIG_ERROR_KIND_PORT_OUT_OF_RANGE,
    DuplicatePort = IRQ_CONFIG_ERROR_KIND_DUPLICATE_PORT,
    UnknownChannel = IRQ_CONFIG_ERROR_KIND_UNKNOWN_CHANNEL,
    ChannelPartition = IRQ_CONFIG_ERROR_KIND_CHANNEL_PARTITION,
    ChannelPort = IRQ_CONFIG_ERROR_KIND_CHANNEL_PORT,
    TimerPort = IRQ_CONFIG_ERROR_KIND_TIMER_PORT,
    ErrorPort = IRQ_CONFIG_ERROR_KIND_ERROR_PORT,
    DeliverWithoutErrorPort = IRQ_CONFIG_ERROR_KIND_DELIVER_WITHOUT_ERROR_PORT,
    Ping = IRQ_CONFIG_ERROR_KIND_PING,
    VectorNotPermitted = IRQ_CONFIG_ERROR_KIND_VECTOR_NOT_PERMITTED,
    EmptyFrame = IRQ_CONFIG_ERROR_KIND_EMPTY_FRAME,
    WindowUnknownPartition = IRQ_CONFIG_ERROR_KIND_WINDOW_UNKNOWN_PARTITION,
    WindowEmpty = IRQ_CONFIG_ERROR_KIND_WINDOW_EMPTY,
    WindowExceedsFrame = IRQ_CONFIG_ERROR_KIND_WINDOW_EXCEEDS_FRAME,
    WindowOverlaps = IRQ_CONFIG_ERROR_KIND_WINDOW_OVERLAPS,
    RouteDuplicateVector = IRQ_CONFIG_ERROR_KIND_ROUTE_DUPLICATE_VECTOR,
    RouteExclusiveShared = IRQ_CONFIG_ERROR_KIND_ROUTE_EXCLUSIVE_SHARED,
    RouteUnhandled = IRQ_CONFIG_ERROR_KIND_ROUTE_UNHANDLED,
    RouteUnknownPartition = IRQ_CONFIG_ERROR_KIND_ROUTE_UNKNOWN_PARTITION,
    RouteNotPermitted = IRQ_CONFIG_ERROR_KIND_ROUTE_NOT_PERMITTED,
    RoutePortNotBound = IRQ_CONFIG_ERROR_KIND_ROUTE_PORT_NOT_BOUND,
    RouteDuplicateTarget = IRQ_CONFIG_ERROR_KIND_ROUTE_DUPLICATE_TARGET,
    RouteZeroAckTimeout = IRQ_CONFIG_ERROR_KIND_ROUTE_ZERO_ACK_TIMEOUT,
    RouteLevelPortCounts = IRQ_CONFIG_ERROR_KIND_ROUTE_LEVEL_PORT_COUNTS,
    ChannelNotPermitted = IRQ_CONFIG_ERROR_KIND_CHANNEL_NOT_PERMITTED,
    ChannelBudget = IRQ_CONFIG_ERROR_KIND_CHANNEL_BUDGET,
    Other = IRQ_CONFIG_ERROR_KIND_OTHER,
    RouteTooManyLevelTargets = IRQ_CONFIG_ERROR_KIND_ROUTE_TOO_MANY_LEVEL_TARGETS,
    RouteLevelBudget = IRQ_CONFIG_ERROR_KIND_ROUTE_LEVEL_BUDGET,
    LevelRange = IRQ_CONFIG_ERROR_KIND_LEVEL_RANGE,
    LevelOrder = IRQ_CONFIG_ERROR_KIND_LEVEL_ORDER,
}

/// No error.
pub const IRQ_CONFIG_ERROR_KIND_NONE: u32 = 0;
/// A table pointer is NULL while its count is not zero.
pub const IRQ_CONFIG_ERROR_KIND_NULL_TABLE: u32 = 1;
/// A table is longer than this library holds (the `IRQ_MAX_*` constants).
pub const IRQ_CONFIG_ERROR_KIND_TOO_MANY: u32 = 2;
/// A field holds a value that is none of its documented constants (a source kind,
/// a mode, a health-monitor action, a catch-up policy, a vector past 255, ...), or a
/// pointer (a table, a route's targets, a ping) is not aligned for its type (`table`
/// names the table; for a ping, `IRQ_CONFIG_TABLE_PARTITIONS` and its partition).
pub const IRQ_CONFIG_ERROR_KIND_BAD_VALUE: u32 = 3;
/// A partition's shared page pointer (`entry`: the partition) is not `IRQ_PAGE_ALIGN`
/// (4096-byte) aligned, or is less than 4096 bytes from the page of an earlier
/// partition (`index`: that partition).
pub const IRQ_CONFIG_ERROR_KIND_BAD_PAGE: u32 = 4;
/// No partition, or more than the library holds.
pub const IRQ_CONFIG_ERROR_KIND_PARTITION_COUNT: u32 = 5;
/// More channels than the engine allows.
pub const IRQ_CONFIG_ERROR_KIND_CHANNEL_COUNT: u32 = 6;
/// A port entry names a port at or past 64.
pub const IRQ_CONFIG_ERROR_KIND_PORT_OUT_OF_RANGE: u32 = 7;
/// A port entry names a port an earlier entry of the partition configured.
pub const IRQ_CONFIG_ERROR_KIND_DUPLICATE_PORT: u32 = 8;
/// A port entry is bound to a channel that does not exist.
pub const IRQ_CONFIG_ERROR_KIND_UNKNOWN_CHANNEL: u32 = 9;
/// An end of a channel names a partition that does not exist (`index`: 0 source,
/// 1 destination).
pub const IRQ_CONFIG_ERROR_KIND_CHANNEL_PARTITION: u32 = 10;
/// An end of a channel names a port not bound to that channel (`index`: 0 source,
/// 1 destination).
pub const IRQ_CONFIG_ERROR_KIND_CHANNEL_PORT: u32 = 11;
/// The timer port is not bound to the timer source.
pub const IRQ_CONFIG_ERROR_KIND_TIMER_PORT: u32 = 12;
/// The error port is not bound to the lifecycle source.
pub const IRQ_CONFIG_ERROR_KIND_ERROR_PORT: u32 = 13;
/// The health-monitor table delivers kind `index` but the partition has no error port.
pub const IRQ_CONFIG_ERROR_KIND_DELIVER_WITHOUT_ERROR_PORT: u32 = 14;
/// The ping's port is not bound to the ping source, its interval or bound is zero,
/// or its bound exceeds its interval.
pub const IRQ_CONFIG_ERROR_KIND_PING: u32 = 15;
/// A port entry is bound to a vector the partition's `vectors` set leaves out.
pub const IRQ_CONFIG_ERROR_KIND_VECTOR_NOT_PERMITTED: u32 = 16;
/// The major frame is zero ticks long.
pub const IRQ_CONFIG_ERROR_KIND_EMPTY_FRAME: u32 = 17;
/// A window names a partition that does not exist.
pub const IRQ_CONFIG_ERROR_KIND_WINDOW_UNKNOWN_PARTITION: u32 = 18;
/// A window is zero ticks long.
pub const IRQ_CONFIG_ERROR_KIND_WINDOW_EMPTY: u32 = 19;
/// A window ends after the major frame.
pub const IRQ_CONFIG_ERROR_KIND_WINDOW_EXCEEDS_FRAME: u32 = 20;
/// A window starts before the previous one ends.
pub const IRQ_CONFIG_ERROR_KIND_WINDOW_OVERLAPS: u32 = 21;
/// A route's vector is already routed, or is the clock's.
pub const IRQ_CONFIG_ERROR_KIND_ROUTE_DUPLICATE_VECTOR: u32 = 22;
/// An exclusive route with more than one target.
pub const IRQ_CONFIG_ERROR_KIND_ROUTE_EXCLUSIVE_SHARED: u32 = 23;
/// A route with no target and no kernel-first handler.
pub const IRQ_CONFIG_ERROR_KIND_ROUTE_UNHANDLED: u32 = 24;
/// A route's target `index` names a partition that does not exist.
pub const IRQ_CONFIG_ERROR_KIND_ROUTE_UNKNOWN_PARTITION: u32 = 25;
/// A route's target `index` names a partition whose `vectors` leave the vector out.
pub const IRQ_CONFIG_ERROR_KIND_ROUTE_NOT_PERMITTED: u32 = 26;
/// A route's target `index` names a port not bound to the route's line.
pub const IRQ_CONFIG_ERROR_KIND_ROUTE_PORT_NOT_BOUND: u32 = 27;
/// A route's target `index` names a partition an earlier target names.
pub const IRQ_CONFIG_ERROR_KIND_ROUTE_DUPLICATE_TARGET: u32 = 28;
/// A level route with a zero acknowledgement timeout.
pub const IRQ_CONFIG_ERROR_KIND_ROUTE_ZERO_ACK_TIMEOUT: u32 = 29;
/// A level route's target `index` names a counting port (level ports coalesce).
pub const IRQ_CONFIG_ERROR_KIND_ROUTE_LEVEL_PORT_COUNTS: u32 = 30;
/// An end of channel `entry` is partition `partition`, whose channel permissions
/// leave the channel out.
pub const IRQ_CONFIG_ERROR_KIND_CHANNEL_NOT_PERMITTED: u32 = 31;
/// A channel budget names a missing channel, one already budgeted, or zero raises.
pub const IRQ_CONFIG_ERROR_KIND_CHANNEL_BUDGET: u32 = 32;
/// A refusal this version of the library has no code for.
pub const IRQ_CONFIG_ERROR_KIND_OTHER: u32 = 33;
/// A level route with more targets than a level line can track (32).
pub const IRQ_CONFIG_ERROR_KIND_ROUTE_TOO_MANY_LEVEL_TARGETS: u32 = 34;
/// A level route with a storm budget (budgets are for edge lines).
pub const IRQ_CONFIG_ERROR_KIND_ROUTE_LEVEL_BUDGET: u32 = 35;
/// A partition's priority level `entry` (in `IRQ_CONFIG_TABLE_LEVELS`) is empty
/// (`start >= end`) or ends past the last port.
pub const IRQ_CONFIG_ERROR_KIND_LEVEL_RANGE: u32 = 36;
/// A partition's priority level `entry` starts before the previous one ends.
pub const IRQ_CONFIG_ERROR_KIND_LEVEL_ORDER: u32 = 37;

/// Every kind's name, in value order (`KIND_NAMES[n]` is the name of value `n`).
const KIND_NAMES: [&core::ffi::CStr; 38] = [
    c"IRQ_CONFIG_ERROR_KIND_NONE",
    c"IRQ_CONFIG_ERROR_KIND_NULL_TABLE",
    c"IRQ_CONFIG_ERROR_KIND_TOO_MANY",
    c"IRQ_CONFIG_ERROR_KIND_BAD_VALUE",
    c"IRQ_CONFIG_ERROR_KIND_BAD_PAGE",
    c"IRQ_CONFIG_ERROR_KIND_PARTITION_COUNT",
    c"IRQ_CONFIG_ERROR_KIND_CHANNEL_COUNT",
    c"IRQ_CONFIG_ERROR_KIND_PORT_OUT_OF_RANGE",
    c"IRQ_CONFIG_ERROR_KIND_DUPLICATE_PORT",
    c"IRQ_CONFIG_ERROR_KIND_UNKNOWN_CHANNEL",
    c"IRQ_CONFIG_ERROR_KIND_CHANNEL_PARTITION",
    c"IRQ_CONFIG_ERROR_KIND_CHANNEL_PORT",
    c"IRQ_CONFIG_ERROR_KIND_TIMER_PORT",
    c"IRQ_CONFIG_ERROR_KIND_ERROR_PORT",
    c"IRQ_CONFIG_ERROR_KIND_DELIVER_WITHOUT_ERROR_PORT",
    c"IRQ_CONFIG_ERROR_KIND_PING",
    c"IRQ_CONFIG_ERROR_KIND_VECTOR_NOT_PERMITTED",
    c"IRQ_CONFIG_ERROR_KIND_EMPTY_FRAME",
    c"IRQ_CONFIG_ERROR_KIND_WINDOW_UNKNOWN_PARTITION",
    c"IRQ_CONFIG_ERROR_KIND_WINDOW_EMPTY",
    c"IRQ_CONFIG_ERROR_KIND_WINDOW_EXCEEDS_FRAME",
    c"IRQ_CONFIG_ERROR_KIND_WINDOW_OVERLAPS",
    c"IRQ_CONFIG_ERROR_KIND_ROUTE_DUPLICATE_VECTOR",
    c"IRQ_CONFIG_ERROR_KIND_ROUTE_EXCLUSIVE_SHARED",
    c"IRQ_CONFIG_ERROR_KIND_ROUTE_UNHANDLED",
    c"IRQ_CONFIG_ERROR_KIND_ROUTE_UNKNOWN_PARTITION",
    c"IRQ_CONFIG_ERROR_KIND_ROUTE_NOT_PERMITTED",
    c"IRQ_CONFIG_ERROR_KIND_ROUTE_PORT_NOT_BOUND",
    c"IRQ_CONFIG_ERROR_KIND_ROUTE_DUPLICATE_TARGET",
    c"IRQ_CONFIG_ERROR_KIND_ROUTE_ZERO_ACK_TIMEOUT",
    c"IRQ_CONFIG_ERROR_KIND_ROUTE_LEVEL_PORT_COUNTS",
    c"IRQ_CONFIG_ERROR_KIND_CHANNEL_NOT_PERMITTED",
    c"IRQ_CONFIG_ERROR_KIND_CHANNEL_BUDGET",
    c"IRQ_CONFIG_ERROR_KIND_OTHER",
    c"IRQ_CONFIG_ERROR_KIND_ROUTE_TOO_MANY_LEVEL_TARGETS",
    c"IRQ_CONFIG_ERROR_KIND_ROUTE_LEVEL_BUDGET",
    c"IRQ_CONFIG_ERROR_KIND_LEVEL_RANGE",
    c"IRQ_CONFIG_ERROR_KIND_LEVEL_ORDER",
];

/// Which table of the configuration an [`IrqConfigError`] is about
/// ([`IrqConfigError::table`], an `IRQ_CONFIG_TABLE_*` value).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Table {
    Partitions = IRQ_CONFIG_TABLE_PARTITIONS,
    Ports = IRQ_CONFIG_TABLE_PORTS,
    Windows = IRQ_CONFIG_TABLE_WINDOWS,
    Routes = IRQ_CONFIG_TABLE_ROUTES,
    Channels = IRQ_CONFIG_TABLE_CHANNELS,
    ChannelBudgets = IRQ_CONFIG_TABLE_CHANNEL_BUDGETS,
    Operations = IRQ_CONFIG_TABLE_OPERATIONS,
    Levels = IRQ_CONFIG_TABLE_LEVELS,
}

/// The configuration as a whole (counts, the major frame, the clock vector).
pub const IRQ_CONFIG_TABLE_SYSTEM: u32 = 0;
/// `partitions[entry]` itself (timer or error port, ping, health table, page).
pub const IRQ_CONFIG_TABLE_PARTITIONS: u32 = 1;
/// `partitions[partition].ports[entry]`.
pub const IRQ_CONFIG_TABLE_PORTS: u32 = 2;
/// `windows[entry]`.
pub const IRQ_CONFIG_TABLE_WINDOWS: u32 = 3;
/// `routes[entry]` (and its target `index`).
pub const IRQ_CONFIG_TABLE_ROUTES: u32 = 4;
/// `channels[entry]`.
pub const IRQ_CONFIG_TABLE_CHANNELS: u32 = 5;
/// `channel_budgets[entry]`.
pub const IRQ_CONFIG_TABLE_CHANNEL_BUDGETS: u32 = 6;
/// The kernel operations table (`entry` is the field number).
pub const IRQ_CONFIG_TABLE_OPERATIONS: u32 = 7;
/// `partitions[partition].levels[entry]`.
pub const IRQ_CONFIG_TABLE_LEVELS: u32 = 8;

/// Where and why `irq_router_create` refused a configuration. Fields that do not apply
/// are -1 (`partition`: `IRQ_NO_PARTITION`). 20 bytes, no padding, the same layout on
/// every target.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IrqConfigError {
    /// What is wrong: an `IRQ_CONFIG_ERROR_KIND_*` value.
    pub kind: u32,
    /// The table the entry is in: an `IRQ_CONFIG_TABLE_*` value.
    pub table: u32,
    /// The partition concerned (for `IRQ_CONFIG_TABLE_PORTS` and `_LEVELS`, the partition
    /// whose table holds the entry), or `IRQ_NO_PARTITION`.
    pub partition: IrqPartition,
    /// Index of the entry in its table.
    pub entry: i32,
    /// Index inside the entry: a route's target, a channel's end (0 source, 1
    /// destination), a health-monitor kind.
    pub index: i32,
}

const _: () = assert!(core::mem::size_of::<IrqConfigError>() == 20);

impl IrqConfigError {
    /// No error.
    pub(crate) const NONE: Self = Self {
        kind: IRQ_CONFIG_ERROR_KIND_NONE,
        table: IRQ_CONFIG_TABLE_SYSTEM,
        partition: crate::IRQ_NO_PARTITION,
        entry: -1,
        index: -1,
    };

    /// An error of `kind` about entry `entry` of `table`.
    pub(crate) const fn at(kind: Kind, table: Table, entry: usize) -> Self {
        Self { kind: kind as u32, table: table as u32, entry: entry as i32, ..Self::NONE }
    }

    /// An error of `kind` about the configuration as a whole.
    pub(crate) const fn system(kind: Kind) -> Self {
        Self { kind: kind as u32, ..Self::NONE }
    }

    /// The same error with another kind.
    #[must_use]
    pub(crate) const fn kind(self, kind: Kind) -> Self {
        Self { kind: kind as u32, ..self }
    }

    /// The same error about another table.
    #[must_use]
    pub(crate) const fn table(self, table: Table) -> Self {
        Self { table: table as u32, ..self }
    }

    /// The same error naming partition `partition`.
    #[must_use]
    pub(crate) const fn partition(self, partition: usize) -> Self {
        Self { partition: partition as IrqPartition, ..self }
    }

    /// The same error naming index `index` inside the entry.
    #[must_use]
    pub(crate) const fn index(self, index: usize) -> Self {
        Self { index: index as i32, ..self }
    }
}

/// The name of status `status`, if it is one.
pub(crate) fn status_name(status: IrqStatus) -> Option<&'static core::ffi::CStr> {
    STATUSES.iter().find(|(s, _)| *s == status).map(|(_, name)| *name)
}

/// The name of configuration error kind `kind`, if it is one.
pub(crate) fn kind_name(kind: u32) -> Option<&'static core::ffi::CStr> {
    KIND_NAMES.get(usize::try_from(kind).ok()?).copied()
}

#[cfg(test)]
mod tests {
    use super::{KIND_NAMES, Kind, STATUSES};

    #[test]
    fn names_are_in_value_order() {
        for (n, (status, _)) in STATUSES.iter().enumerate() {
            assert_eq!(status.0 as usize, n);
        }
        assert_eq!(Kind::LevelOrder as usize, KIND_NAMES.len() - 1);
        assert_eq!(Kind::RouteTooManyLevelTargets as usize, 34);
    }
}
