//! The configuration file's structures, as serde reads them. Entries keep their spans
//! ([`Spanned`]) so that errors found later can point back into the file.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Clock period in microseconds (the timerfd period).
    #[serde(default = "default_tick_us")]
    pub tick_us: u64,
    /// Vector of the clock line.
    pub clock_vector: u8,
    /// CPUs: one runner thread each, its partitions pinned with it (default 1).
    pub cpus: Option<Spanned<u16>>,
    /// Major frame in ticks.
    pub major_frame: Spanned<u64>,
    /// The partitions, in partition-number order.
    #[serde(rename = "partition")]
    pub partitions: Vec<Spanned<FilePartition>>,
    /// The windows of the cyclic schedule, in start order.
    #[serde(rename = "window", default)]
    pub windows: Vec<Spanned<FileWindow>>,
    /// Routes of hardware vectors.
    #[serde(rename = "route", default)]
    pub routes: Vec<Spanned<FileRoute>>,
    /// Channels between partitions.
    #[serde(rename = "channel", default)]
    pub channels: Vec<Spanned<FileChannel>>,
    /// The UDP device driving a line.
    pub device: Option<Spanned<FileDevice>>,
}

const fn default_tick_us() -> u64 {
    1000
}

/// One partition.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilePartition {
    /// Its name (windows, routes and channels refer to it).
    pub name: Spanned<String>,
    /// The CPU it is bound to (default 0).
    pub cpu: Option<Spanned<u16>>,
    /// Catch-up policy.
    pub catch_up: FilePolicy,
    /// The port receiving its clock ticks.
    pub timer_port: Option<u16>,
    /// The port receiving health-monitor `deliver` events.
    pub error_port: Option<u16>,
    /// Its health-monitor table.
    #[serde(default)]
    pub health: FileHealth,
    /// The health monitor's ping.
    pub ping: Option<FilePing>,
    /// Its ports.
    #[serde(rename = "port", default)]
    pub ports: Vec<Spanned<FilePort>>,
    /// Its priority levels, in port order: each a range of ports `start..end` that share
    /// one priority, served round robin (default: none, lowest port first).
    pub priority_levels: Option<Spanned<Vec<FileLevel>>>,
    /// Its own program, `["path", "arg", ...]` (default: the built-in demo partition).
    pub program: Option<Spanned<Vec<String>>>,
    /// Environment variables set for its program (on top of the runner's).
    pub env: Option<Spanned<BTreeMap<String, String>>>,
    /// The working directory of its program (default: the runner's).
    pub cwd: Option<Spanned<String>>,
    /// The limits of its process tree (its control group).
    pub limits: Option<Spanned<FileLimits>>,
}

/// A priority level: ports `start..end`.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileLevel {
    /// Its first port.
    pub start: u16,
    /// One past its last port.
    pub end: u16,
}

/// A partition's resource limits; a key left out keeps its default.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileLimits {
    /// Processes and threads at most.
    pub pids: Option<u32>,
    /// Memory at most, MiB.
    pub memory_mib: Option<u64>,
}

/// A catch-up policy.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FilePolicy {
    /// Replay every missed tick.
    Replay,
    /// One event carrying the delta.
    Warp,
    /// One late tick.
    Collapse,
    /// Replay at most this many.
    BoundedReplay(u32),
}

/// A port and its binding.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilePort {
    /// The port number.
    pub port: u16,
    /// What raises it.
    pub source: FileSource,
    /// Counting (default) or coalescing.
    #[serde(default)]
    pub mode: FileMode,
    /// Counting ports: saturate at this count (default: `u32::MAX`).
    pub max: Option<u32>,
    /// Starts masked.
    #[serde(default)]
    pub masked: bool,
    /// Keeps no latest context and no handler of its own (its events are counted and
    /// delivered all the same, through the partition's upcall entry).
    #[serde(default)]
    pub no_context: bool,
}

/// A port's source.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileSource {
    /// The virtual timer.
    Timer,
    /// The health monitor's ping.
    Ping,
    /// Health-monitor notices (the error port).
    Lifecycle,
    /// A hardware line.
    Line(u8),
    /// A channel, by name.
    Channel(String),
    /// A trap kind.
    Trap(u8),
}

/// Counting or coalescing.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileMode {
    /// Each raise counts.
    #[default]
    Counting,
    /// A pending bit only.
    Coalescing,
}

/// A health-monitor action.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileAction {
    /// Log only.
    #[default]
    Ignore,
    /// Tell the partition.
    Deliver,
    /// Warm start.
    WarmStart,
    /// Cold start.
    ColdStart,
    /// Idle.
    Idle,
    /// Stop the module.
    StopModule,
}

/// A health-monitor table: a default and one optional action per kind.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs, reason = "one field per health-monitor kind, named as HmKind")]
pub struct FileHealth {
    #[serde(default)]
    pub default: FileAction,
    pub trap: Option<FileAction>,
    pub trap_in_trap: Option<FileAction>,
    pub pending_overflow: Option<FileAction>,
    pub storm: Option<FileAction>,
    pub ack_timeout: Option<FileAction>,
    pub ping_missed: Option<FileAction>,
    pub illegal_hypercall: Option<FileAction>,
    pub partition_error: Option<FileAction>,
    pub window_overrun: Option<FileAction>,
    pub upcall_fault: Option<FileAction>,
    /// At most `restarts` restarts in any `frames` major frames; the one past it idles the
    /// partition.
    pub restart_limit: Option<FileRestartLimit>,
}

/// A restart limit.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRestartLimit {
    /// Restarts allowed in the window (1 to 16).
    pub restarts: u16,
    /// The window, in major frames.
    pub frames: u32,
}

/// The ping.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilePing {
    /// Port bound to the ping.
    pub port: u16,
    /// Ticks between pings.
    pub interval: u64,
    /// Ticks to answer.
    pub bound: u64,
}

/// A window.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileWindow {
    /// The partition, by name.
    pub partition: Spanned<String>,
    /// Start offset in the frame, in ticks.
    pub start: u64,
    /// Length in ticks.
    pub length: u64,
}

/// Exclusive or shared.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileSharing {
    /// One partition.
    Exclusive,
    /// Fan-out.
    Shared,
}

/// Edge or level.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileTrigger {
    /// Acknowledged at once.
    Edge,
    /// Masked until every partition acknowledged.
    Level,
}

/// A route.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRoute {
    /// The vector.
    pub vector: u8,
    /// Exclusive or shared.
    pub sharing: FileSharing,
    /// Edge or level.
    pub trigger: FileTrigger,
    /// The kernel's handler first.
    #[serde(default)]
    pub kernel_first: bool,
    /// Where it goes.
    pub targets: Vec<Spanned<FileEnd>>,
    /// Raises per major frame.
    pub budget: Option<u32>,
    /// Level lines: ticks to wait for acknowledgements.
    #[serde(default)]
    pub ack_timeout: u64,
}

/// A partition's port, by partition name.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEnd {
    /// The partition.
    pub partition: Spanned<String>,
    /// Its port.
    pub port: u16,
}

/// A channel.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileChannel {
    /// Its name (ports bind to it by name).
    pub name: String,
    /// The sending end.
    pub from: Spanned<FileEnd>,
    /// The receiving end.
    pub to: Spanned<FileEnd>,
    /// Notifies per major frame.
    pub budget: Option<u32>,
    /// The sender notifies once every this many clock ticks it handles.
    #[serde(default)]
    pub every: u64,
}

/// The UDP device.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDevice {
    /// The line it raises (needs a route).
    pub vector: u8,
    /// Mean time between packets, in microseconds.
    pub mean_interval_us: u64,
    /// Each interval is the mean plus or minus up to this, uniformly.
    #[serde(default)]
    pub jitter_us: u64,
    /// The CPU whose thread takes its interrupts (default 0).
    #[serde(default)]
    pub cpu: u16,
}
