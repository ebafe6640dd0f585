//! The configuration as C structs: arrays given as pointer and count, enumerations as
//! small integers with `IRQ_*` constants (a value from C that is none of them is an
//! error, never an invalid Rust enum), flags as `uint8_t` (0 false, anything else true).
//!
//! `irq_router_create` copies everything it needs: the structs may live on the caller's
//! stack and be freed once it returns.

use core::ffi::{c_char, c_void};

use crate::IrqPartition;

/// Port source: a hardware line; `source_id` is its vector (0 to 255).
pub const IRQ_SOURCE_LINE: u8 = 1;
/// Port source: the partition's virtual timer.
pub const IRQ_SOURCE_TIMER: u8 = 2;
/// Port source: a channel; `source_id` is the channel's index.
pub const IRQ_SOURCE_CHANNEL: u8 = 3;
/// Port source: a trap kind; `source_id` is the exception number (0 to 255).
pub const IRQ_SOURCE_TRAP: u8 = 4;
/// Port source: the health monitor's ping.
pub const IRQ_SOURCE_PING: u8 = 5;
/// Port source: lifecycle notices (the health monitor's error port).
pub const IRQ_SOURCE_LIFECYCLE: u8 = 6;

/// Port mode: every raise counts, up to `max` (0 means the largest).
pub const IRQ_PORT_COUNTING: u8 = 0;
/// Port mode: a pending bit only (level-style sources).
pub const IRQ_PORT_COALESCING: u8 = 1;

/// Catch-up policy: every missed tick is replayed (zero drift).
pub const IRQ_CATCH_UP_REPLAY: u8 = 0;
/// Catch-up policy: one event, the guest reads the delta from its page (zero drift).
pub const IRQ_CATCH_UP_WARP: u8 = 1;
/// Catch-up policy: one late tick; the others are dropped (and counted).
pub const IRQ_CATCH_UP_COLLAPSE: u8 = 2;
/// Catch-up policy: replay at most `catch_up_max` ticks per entry.
pub const IRQ_CATCH_UP_BOUNDED_REPLAY: u8 = 3;

/// Route sharing: one partition.
pub const IRQ_SHARING_EXCLUSIVE: u8 = 0;
/// Route sharing: every target gets every interrupt.
pub const IRQ_SHARING_SHARED: u8 = 1;

/// Route trigger: EOI at once.
pub const IRQ_TRIGGER_EDGE: u8 = 0;
/// Route trigger: masked until every target acknowledged (or timed out).
pub const IRQ_TRIGGER_LEVEL: u8 = 1;

/// Health-monitor action: log only.
pub const IRQ_HM_IGNORE: u8 = 0;
/// Health-monitor action: a trap (`IRQ_HM_KIND_TRAP`) to the partition's fault handler
/// (no error port needed; while it has registered none, the trap is an
/// `IRQ_HM_KIND_UPCALL_FAULT` event, which its table then decides),
/// anything else to its error port (which it must then have:
/// `IRQ_CONFIG_ERROR_KIND_DELIVER_WITHOUT_ERROR_PORT`).
pub const IRQ_HM_DELIVER: u8 = 1;
/// Health-monitor action: warm start the partition.
pub const IRQ_HM_WARM_START: u8 = 2;
/// Health-monitor action: cold start the partition.
pub const IRQ_HM_COLD_START: u8 = 3;
/// Health-monitor action: stop the partition (idle mode).
pub const IRQ_HM_IDLE: u8 = 4;
/// Health-monitor action: stop the module.
pub const IRQ_HM_STOP_MODULE: u8 = 5;

/// Health-monitor kind (index of [`IrqPartitionConfig::health`]): a trap.
pub const IRQ_HM_KIND_TRAP: u8 = 0;
/// Health-monitor kind: a trap while the fault handler runs.
pub const IRQ_HM_KIND_TRAP_IN_TRAP: u8 = 1;
/// Health-monitor kind: a counting port saturated.
pub const IRQ_HM_KIND_PENDING_OVERFLOW: u8 = 2;
/// Health-monitor kind: a line or channel over its budget.
pub const IRQ_HM_KIND_STORM: u8 = 3;
/// Health-monitor kind: a level line's acknowledgement timed out.
pub const IRQ_HM_KIND_ACK_TIMEOUT: u8 = 4;
/// Health-monitor kind: a ping not answered in time.
pub const IRQ_HM_KIND_PING_MISSED: u8 = 5;
/// Health-monitor kind: a hypercall whose registers do not decode.
pub const IRQ_HM_KIND_ILLEGAL_HYPERCALL: u8 = 6;
/// Health-monitor kind: the partition declared an error (`exec_stop_error`).
pub const IRQ_HM_KIND_PARTITION_ERROR: u8 = 7;
/// Health-monitor kind: the partition overran its window.
pub const IRQ_HM_KIND_WINDOW_OVERRUN: u8 = 8;
/// Health-monitor kind: an upcall could not be injected.
pub const IRQ_HM_KIND_UPCALL_FAULT: u8 = 9;
/// Health-monitor kind: a restart past the partition's restart limit idled it instead
/// (its entry in [`IrqPartitionConfig::health`] is not consulted).
pub const IRQ_HM_KIND_RESTART_LIMIT: u8 = 10;
/// No health-monitor kind: `irq_hc_start_reason_kind` of a start that no health-monitor
/// event caused, `irq_router_restart_cause` of a partition never restarted.
pub const IRQ_HM_KIND_NONE: u8 = 0xff;
/// Number of health-monitor kinds: the length of [`IrqPartitionConfig::health`].
pub const IRQ_HM_KIND_COUNT: usize = 11;

/// "No port" in [`IrqPartitionConfig::timer_port`] and [`IrqPartitionConfig::error_port`].
pub const IRQ_NO_PORT: u16 = 0xffff;
/// "No vector" in [`IrqSystemConfig::clock_vector`].
pub const IRQ_NO_VECTOR: u16 = 0xffff;

/// One port of a partition and what it is bound to.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct IrqPortConfig {
    /// Port number, 0 to 63; lower is higher priority.
    pub port: u16,
    /// `IRQ_SOURCE_*`.
    pub source: u8,
    /// `IRQ_PORT_COUNTING` or `IRQ_PORT_COALESCING`.
    pub mode: u8,
    /// The vector of a line, the index of a channel, the exception of a trap; 0 otherwise.
    pub source_id: u16,
    /// Nonzero: the port starts masked.
    pub masked: u8,
    /// Nonzero: the port keeps no latest context and no handler of its own (its events
    /// are counted and delivered all the same, through the partition's upcall entry;
    /// registering a handler for it answers `IRQ_HC_STATUS_NOT_CONFIGURED`). 0 (the
    /// default): it keeps them. (This library's engine has a context slot for every port,
    /// so this saves no memory here; see `irq_router::Router`'s parameter `CW`.)
    pub no_context: u8,
    /// Counting ports: saturation point of the pending count (0: the largest).
    pub max: u32,
}

/// The health monitor's ping of a partition.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct IrqPing {
    /// Port bound to `IRQ_SOURCE_PING`.
    pub port: u16,
    /// Ticks between pings.
    pub interval: u64,
    /// Ticks the partition has to answer.
    pub bound: u64,
}

/// A priority level of a partition: ports `start` to `end - 1` share a priority and are
/// served round-robin; priority between levels follows the port numbers, and a port
/// outside every level is a level of its own.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct IrqPriorityLevel {
    /// First port of the level.
    pub start: u16,
    /// One past its last port (at most 64).
    pub end: u16,
}

/// One partition.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct IrqPartitionConfig {
    /// Name, for messages (NUL-terminated, at most 31 bytes of UTF-8), or NULL.
    pub name: *const c_char,
    /// Its ports (`port_count` entries; NULL if none).
    pub ports: *const IrqPortConfig,
    /// Number of entries in `ports`, at most `IRQ_MAX_PORTS`.
    pub port_count: u32,
    /// The port bound to `IRQ_SOURCE_TIMER` that receives its clock ticks, or
    /// `IRQ_NO_PORT`.
    pub timer_port: u16,
    /// The port bound to `IRQ_SOURCE_LIFECYCLE` that `IRQ_HM_DELIVER` raises, or
    /// `IRQ_NO_PORT`.
    pub error_port: u16,
    /// `IRQ_CATCH_UP_*`.
    pub catch_up: u8,
    /// With `IRQ_CATCH_UP_BOUNDED_REPLAY`: most ticks replayed per entry (not 0).
    pub catch_up_max: u32,
    /// Vectors it may bind, as a bitmap: vector `v` is bit `v % 64` of `vectors[v / 64]`.
    pub vectors: [u64; 4],
    /// Channels it may use (bit `c` for channel `c`), as sender or receiver.
    pub channels: u64,
    /// Its ping, or NULL for none.
    pub ping: *const IrqPing,
    /// `IRQ_HM_*` action for each `IRQ_HM_KIND_*` (all zero: log only).
    pub health: [u8; IRQ_HM_KIND_COUNT],
    /// The page shared with the partition (`IRQ_PAGE_SIZE` bytes, `IRQ_PAGE_ALIGN` =
    /// 4096-byte aligned, at least 4096 bytes from every other partition's page, valid
    /// until `irq_router_destroy` returns), or NULL to use a page inside the library, alone
    /// in a 4096-byte frame (`irq_router_shared_page`). The kernel maps the page's 4 KiB
    /// frame into the partition: nothing the partition may not see may share that frame.
    /// `irq_router_create` initializes the page with plain writes: the partition must not
    /// run (nor anything else touch the page) before `irq_router_create` returns.
    pub shared_page: *mut c_void,
    /// At most this many restarts (1 to 16) in any `restart_window` major frames; the
    /// one past it idles the partition (`IRQ_HM_KIND_RESTART_LIMIT`). 0: no limit.
    pub restart_limit: u16,
    /// The restart limit's window in major frames (not 0 when `restart_limit` is set).
    pub restart_window: u32,
    /// Its priority levels (`level_count` entries, at most `IRQ_MAX_PRIORITY_LEVELS` (16), in
    /// increasing order and not overlapping; NULL if none). With none (all zero), every
    /// port is a level of its own: the lowest-numbered deliverable port is delivered
    /// first.
    pub levels: *const IrqPriorityLevel,
    /// Number of entries in `levels`.
    pub level_count: u32,
}

/// A time window of the cyclic schedule.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct IrqWindow {
    /// The partition that runs in it.
    pub partition: IrqPartition,
    /// Offset from the start of the major frame, in ticks.
    pub start: u64,
    /// Length in ticks.
    pub length: u64,
}

/// A partition's port that a route raises.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct IrqTarget {
    /// Partition number.
    pub partition: IrqPartition,
    /// Its port, bound to `IRQ_SOURCE_LINE` with the route's vector.
    pub port: u16,
}

/// Where a hardware vector goes.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct IrqRoute {
    /// The vector, 0 to 255.
    pub vector: u16,
    /// `IRQ_SHARING_EXCLUSIVE` or `IRQ_SHARING_SHARED`.
    pub sharing: u8,
    /// `IRQ_TRIGGER_EDGE` or `IRQ_TRIGGER_LEVEL`.
    pub trigger: u8,
    /// Nonzero: the kernel's handler (`IrqKernelOps::kernel_handler`) runs first.
    pub kernel_first: u8,
    /// The partitions it raises (`target_count` entries, at most `IRQ_MAX_TARGETS`).
    pub targets: *const IrqTarget,
    /// Number of entries in `targets`.
    pub target_count: u32,
    /// Raises per major frame before the line is masked for the frame; 0 for no budget.
    pub budget: u32,
    /// Level lines: ticks to wait for every acknowledgement. Ignored for edge lines.
    pub ack_timeout: u64,
}

/// A one-way channel: the source partition notifies through its source port, the
/// destination port is raised.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct IrqChannel {
    /// Sending partition.
    pub source_partition: IrqPartition,
    /// Its port bound to `IRQ_SOURCE_CHANNEL` with this channel's index.
    pub source_port: u16,
    /// Receiving partition.
    pub destination_partition: IrqPartition,
    /// Its port bound to `IRQ_SOURCE_CHANNEL` with this channel's index.
    pub destination_port: u16,
}

/// A channel's budget: notifies per major frame.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct IrqChannelBudget {
    /// Channel index.
    pub channel: u16,
    /// Notifies per major frame (not 0).
    pub raises: u32,
}

/// The whole system.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct IrqSystemConfig {
    /// The partitions (`partition_count` entries, 1 to `IRQ_MAX_PARTITIONS`).
    pub partitions: *const IrqPartitionConfig,
    /// Number of partitions.
    pub partition_count: u32,
    /// Length of the major frame in ticks.
    pub major_frame: u64,
    /// The windows, in increasing `start` order, not overlapping.
    pub windows: *const IrqWindow,
    /// Number of windows, at most `IRQ_MAX_WINDOWS`.
    pub window_count: u32,
    /// Routes of hardware vectors (at most one per vector).
    pub routes: *const IrqRoute,
    /// Number of routes, at most `IRQ_MAX_ROUTES`.
    pub route_count: u32,
    /// The kernel clock's vector (kernel handler first, then virtual ticks), or
    /// `IRQ_NO_VECTOR`.
    pub clock_vector: u16,
    /// The channels; a port bound to channel `c` refers to `channels[c]`.
    pub channels: *const IrqChannel,
    /// Number of channels, at most `IRQ_MAX_CHANNELS`.
    pub channel_count: u32,
    /// Budgets of channels.
    pub channel_budgets: *const IrqChannelBudget,
    /// Number of channel budgets, at most `IRQ_MAX_CHANNELS`.
    pub channel_budget_count: u32,
}
