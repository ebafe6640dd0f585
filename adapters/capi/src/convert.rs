//! From the C configuration to the engine's, copied into a pool slot's storage, and the
//! engine's refusals back to [`IrqConfigError`].

use core::num::NonZeroU32;
use core::ptr::{NonNull, addr_of, addr_of_mut};

use irq_router::config::{
    ChannelBudget, ConfigError, HmAction, HmKind, HmTable, PartitionConfig, PartitionError, Ping,
    Route, RouteError, Schedule, Sharing, SystemConfig, Target, Trigger, VectorSet, Window,
    WindowError,
};
use irq_router::events::{
    Binding, Channel, End, Endpoint, Mode, PortConfig, PortConfigError, PriorityLevel, Source,
};
use irq_router::vcpu::{CatchUpPolicy, SharedPage};

use crate::config::{
    IRQ_CATCH_UP_BOUNDED_REPLAY, IRQ_CATCH_UP_COLLAPSE, IRQ_CATCH_UP_REPLAY, IRQ_CATCH_UP_WARP,
    IRQ_HM_KIND_COUNT, IRQ_NO_PORT, IRQ_NO_VECTOR, IRQ_PORT_COALESCING, IRQ_PORT_COUNTING,
    IRQ_SHARING_EXCLUSIVE, IRQ_SHARING_SHARED, IRQ_SOURCE_CHANNEL, IRQ_SOURCE_LIFECYCLE,
    IRQ_SOURCE_LINE, IRQ_SOURCE_PING, IRQ_SOURCE_TIMER, IRQ_SOURCE_TRAP, IRQ_TRIGGER_EDGE,
    IRQ_TRIGGER_LEVEL, IrqChannel, IrqChannelBudget, IrqPartitionConfig, IrqPortConfig,
    IrqPriorityLevel, IrqRoute, IrqSystemConfig, IrqTarget,
};
use crate::ops::Ops;
use crate::pool::{Claim, EMPTY_PAGE, NAME_LEN, Storage, UNUSED};
use crate::status::{IrqConfigError, Kind, Table};
use crate::{
    IRQ_MAX_CHANNELS, IRQ_MAX_PARTITIONS, IRQ_MAX_PORTS, IRQ_MAX_PRIORITY_LEVELS, IRQ_MAX_ROUTES,
    IRQ_MAX_TARGETS, IRQ_MAX_WINDOWS, IRQ_PAGE_ALIGN,
};

/// The C array `ptr[0..count]`, checked against `max` entries; a NULL (with a count) or
/// misaligned `ptr` is refused (`NullTable`, `BadValue`) before it is read.
///
/// # Safety
/// A non-NULL `ptr` points to `count` initialized `T` that stay valid and unchanged for
/// `'a` (the caller of `irq_router_create` promised this).
unsafe fn table<'a, T>(
    ptr: *const T,
    count: u32,
    max: usize,
    error: IrqConfigError,
) -> Result<&'a [T], IrqConfigError> {
    let count = count as usize;
    if count > max {
        return Err(error.kind(Kind::TooMany));
    }
    if count == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(error.kind(Kind::NullTable));
    }
    if !ptr.is_aligned() {
        return Err(error.kind(Kind::BadValue));
    }
    // SAFETY: not NULL, aligned, and by this function's contract `count` valid `T` for
    // `'a`.
    Ok(unsafe { core::slice::from_raw_parts(ptr, count) })
}

/// A name from C: at most `NAME_LEN - 1` bytes of UTF-8 before its NUL, copied into
/// `out`; answers its length.
///
/// # Safety
/// A non-NULL `name` points to a NUL-terminated string.
unsafe fn copy_name(name: *const core::ffi::c_char, out: &mut [u8; NAME_LEN]) -> Option<usize> {
    if name.is_null() {
        return Some(0);
    }
    for (i, slot) in out.iter_mut().enumerate() {
        // SAFETY: bytes are read in order and the reading stops at the NUL, so every
        // byte read is part of the NUL-terminated string (this function's contract).
        let byte = unsafe { name.add(i).read() } as u8;
        if byte == 0 {
            return core::str::from_utf8(&out[..i]).ok().map(|s| s.len());
        }
        *slot = byte;
    }
    None
}

const fn vector(raw: u16) -> Option<u8> {
    if raw <= u8::MAX as u16 { Some(raw as u8) } else { None }
}

fn port_config(c: &IrqPortConfig) -> Option<PortConfig> {
    let source = match c.source {
        IRQ_SOURCE_LINE => Source::Line(u16::from(vector(c.source_id)?)),
        IRQ_SOURCE_TIMER => Source::Timer,
        IRQ_SOURCE_CHANNEL => Source::Channel(c.source_id),
        IRQ_SOURCE_TRAP => Source::Trap(vector(c.source_id)?),
        IRQ_SOURCE_PING => Source::Ping,
        IRQ_SOURCE_LIFECYCLE => Source::Lifecycle,
        _ => return None,
    };
    let mode = match c.mode {
        IRQ_PORT_COUNTING => {
            Mode::Counting { max: NonZeroU32::new(c.max).unwrap_or(NonZeroU32::MAX) }
        }
        IRQ_PORT_COALESCING => Mode::Coalescing,
        _ => return None,
    };
    Some(PortConfig {
        port: c.port,
        binding: Binding { source, mode },
        masked: c.masked != 0,
        keep_context: c.no_context == 0,
    })
}

/// The health-monitor action of a C code.
const fn action(code: u8) -> Option<HmAction> {
    Some(match code {
        0 => HmAction::Ignore,
        1 => HmAction::Deliver,
        2 => HmAction::WarmStart,
        3 => HmAction::ColdStart,
        4 => HmAction::Idle,
        5 => HmAction::StopModule,
        _ => return None,
    })
}

/// The C code of a health-monitor action (the inverse of [`action`]).
pub(crate) const fn action_code(action: HmAction) -> u8 {
    match action {
        HmAction::Ignore => 0,
        HmAction::Deliver => 1,
        HmAction::WarmStart => 2,
        HmAction::ColdStart => 3,
        HmAction::Idle => 4,
        HmAction::StopModule => 5,
    }
}

fn catch_up(code: u8, max: u32) -> Option<CatchUpPolicy> {
    Some(match code {
        IRQ_CATCH_UP_REPLAY => CatchUpPolicy::Replay,
        IRQ_CATCH_UP_WARP => CatchUpPolicy::Warp,
        IRQ_CATCH_UP_COLLAPSE => CatchUpPolicy::Collapse,
        IRQ_CATCH_UP_BOUNDED_REPLAY => CatchUpPolicy::BoundedReplay { max: NonZeroU32::new(max)? },
        _ => return None,
    })
}

fn vector_set(words: &[u64; 4]) -> VectorSet {
    (0..=u8::MAX)
        .filter(|v| words[usize::from(v / 64)] & (1 << (v % 64)) != 0)
        .fold(VectorSet::EMPTY, VectorSet::with)
}

/// Copies `config` into the claimed slot's storage and builds the engine there. The
/// claim initialized every field of the storage but `ops` and `engine`; this writes
/// table entries over their placeholders, then `ops`, then `engine` last, so that on
/// success the storage is fully initialized. Every pointer from C is checked (NULL,
/// alignment, and for the kernel's pages their distance) before it is read or written.
///
/// # Safety
/// Every pointer in `config` is NULL or valid as its documentation says (arrays of
/// their count, NUL-terminated names, shared pages of `IRQ_PAGE_SIZE` writable bytes
/// valid until the router is destroyed and accessed by nobody during this call), for
/// the duration of the call.
pub(crate) unsafe fn build(
    claim: &mut Claim,
    config: &IrqSystemConfig,
    ops: Ops,
) -> Result<(), IrqConfigError> {
    let s: *mut Storage = claim.storage();
    let count = config.partition_count as usize;
    if count == 0 || count > IRQ_MAX_PARTITIONS {
        return Err(IrqConfigError::system(Kind::PartitionCount));
    }
    let in_range = |p: u32| (p as usize) < count;
    let error = IrqConfigError::system(Kind::NullTable);
    // SAFETY: the caller's contract on `config.partitions`.
    let partitions = unsafe {
        table(
            config.partitions,
            config.partition_count,
            IRQ_MAX_PARTITIONS,
            error.table(Table::Partitions),
        )
    }?;

    let kernel_pages = kernel_pages(partitions)?;

    let mut engine_partitions = [UNUSED; IRQ_MAX_PARTITIONS];
    let mut pages: [&'static SharedPage; IRQ_MAX_PARTITIONS] = [&EMPTY_PAGE; IRQ_MAX_PARTITIONS];
    for (p, c) in partitions.iter().enumerate() {
        // SAFETY: the slot is claimed by this call (`BUILDING`): nothing else reads or
        // writes its storage, and no reference into it exists yet. `build_partition`
        // writes only the storage of partition `p` and hands back `'static` references
        // into it that are not written again while the engine lives (see `pool`). The
        // kernel's page was checked by `kernel_pages`.
        let (partition, page) = unsafe { build_partition(s, p, c, kernel_pages[p]) }?;
        engine_partitions[p] = partition;
        pages[p] = page;
    }
    for (p, page) in pages.iter_mut().enumerate().skip(count) {
        // SAFETY: as above, for the page of an unused partition.
        *page = unsafe { storage_page(s, p) };
    }

    // SAFETY: the caller's contract on `config.windows`.
    let c_windows = unsafe {
        table(config.windows, config.window_count, IRQ_MAX_WINDOWS, error.table(Table::Windows))
    }?;
    for (i, w) in c_windows.iter().enumerate() {
        if !in_range(w.partition) {
            return Err(IrqConfigError::at(Kind::WindowUnknownPartition, Table::Windows, i));
        }
        // In range: below the partition count, at most `IRQ_MAX_PARTITIONS`.
        let window = Window { partition: w.partition as u16, start: w.start, length: w.length };
        // SAFETY: claimed slot, nothing refers into it yet (as above).
        unsafe { addr_of_mut!((*s).tables.windows[i]).write(window) };
    }
    // SAFETY: entries `0..len` were just written; never written again while the engine
    // lives (see `pool`).
    let windows: &'static [Window] = unsafe {
        core::slice::from_raw_parts(addr_of!((*s).tables.windows).cast(), c_windows.len())
    };

    // SAFETY: the caller's contract on `config.routes`.
    let c_routes = unsafe {
        table(config.routes, config.route_count, IRQ_MAX_ROUTES, error.table(Table::Routes))
    }?;
    for (r, c) in c_routes.iter().enumerate() {
        // SAFETY: claimed slot, nothing refers into it yet; the caller's contract on the
        // route's targets.
        let route = unsafe { build_route(s, r, c, count) }?;
        // SAFETY: claimed slot, nothing refers into it yet.
        unsafe { addr_of_mut!((*s).tables.routes[r]).write(route) };
    }
    // SAFETY: entries `0..len` were just written; never written again while the engine
    // lives.
    let routes: &'static [Route] =
        unsafe { core::slice::from_raw_parts(addr_of!((*s).tables.routes).cast(), c_routes.len()) };

    let clock_vector = match config.clock_vector {
        IRQ_NO_VECTOR => None,
        raw => Some(vector(raw).ok_or(IrqConfigError::system(Kind::BadValue))?),
    };

    // SAFETY: the caller's contract on `config.channels`.
    let c_channels = unsafe {
        table(config.channels, config.channel_count, IRQ_MAX_CHANNELS, error.table(Table::Channels))
    }?;
    for (i, c) in c_channels.iter().enumerate() {
        let channel = build_channel(i, c, in_range)?;
        // SAFETY: claimed slot, nothing refers into it yet.
        unsafe { addr_of_mut!((*s).tables.channels[i]).write(channel) };
    }
    // SAFETY: entries `0..len` were just written; never written again while the engine
    // lives.
    let channels: &'static [Channel] = unsafe {
        core::slice::from_raw_parts(addr_of!((*s).tables.channels).cast(), c_channels.len())
    };

    // SAFETY: the caller's contract on `config.channel_budgets`.
    let c_budgets = unsafe {
        table(
            config.channel_budgets,
            config.channel_budget_count,
            IRQ_MAX_CHANNELS,
            error.table(Table::ChannelBudgets),
        )
    }?;
    for (i, c) in c_budgets.iter().enumerate() {
        let budget = build_budget(i, c)?;
        // SAFETY: claimed slot, nothing refers into it yet.
        unsafe { addr_of_mut!((*s).tables.budgets[i]).write(budget) };
    }
    // SAFETY: entries `0..len` were just written; never written again while the engine
    // lives.
    let channel_budgets: &'static [ChannelBudget] = unsafe {
        core::slice::from_raw_parts(addr_of!((*s).tables.budgets).cast(), c_budgets.len())
    };

    let system = SystemConfig {
        partitions: engine_partitions,
        schedule: Schedule { major_frame: config.major_frame, windows },
        routes,
        clock_vector,
        channels,
        channel_budgets,
    };
    // The engine last, once everything it refers to is written; in place (see `pool`).
    claim.engine().reconfigure(system, pages).map_err(config_error)?;
    // SAFETY: claimed slot. With `ops` written, every field of the storage is initialized
    // (the claim wrote the others).
    unsafe {
        addr_of_mut!((*s).tables.partitions).write(count);
        addr_of_mut!((*s).tables.shared).write(pages);
        addr_of_mut!((*s).ops).write(ops);
    }
    Ok(())
}

/// The storage's page of partition `p` (fresh: the claim initialized it), alone in its
/// 4096-byte frame.
///
/// # Safety
/// `s` is the storage of a slot claimed by the caller, `p < IRQ_MAX_PARTITIONS`.
unsafe fn storage_page(s: *mut Storage, p: usize) -> &'static SharedPage {
    // SAFETY: the caller's contract: claimed, so written by nobody else, and the claim
    // initialized the page; the page is never written again other than through its
    // atomics while the engine lives (see `pool`).
    unsafe { &*addr_of!((*s).pages[p].page) }
}

/// The pages the kernel gives (`shared_page`), checked before any is written: each
/// `IRQ_PAGE_ALIGN`-aligned, and no two closer than `IRQ_PAGE_ALIGN` bytes (so no two
/// partitions share a frame, let alone flags). A refused page is `BadPage` naming the
/// partition (`entry`; for a page too close to an earlier partition's, `index` names
/// that partition).
fn kernel_pages(
    partitions: &[IrqPartitionConfig],
) -> Result<[Option<NonNull<SharedPage>>; IRQ_MAX_PARTITIONS], IrqConfigError> {
    let mut pages = [None; IRQ_MAX_PARTITIONS];
    for (p, c) in partitions.iter().enumerate() {
        let Some(page) = NonNull::new(c.shared_page.cast::<SharedPage>()) else { continue };
        let bad = IrqConfigError::at(Kind::BadPage, Table::Partitions, p);
        if page.addr().get() % IRQ_PAGE_ALIGN != 0 {
            return Err(bad);
        }
        let near = |other: &Option<NonNull<SharedPage>>| {
            other.is_some_and(|o| page.addr().get().abs_diff(o.addr().get()) < IRQ_PAGE_ALIGN)
        };
        if let Some(q) = pages[..p].iter().position(near) {
            return Err(bad.index(q));
        }
        pages[p] = Some(page);
    }
    Ok(pages)
}

/// Partition `p`'s engine configuration and page; its ports and name copied into the
/// storage.
///
/// # Safety
/// `s` is the storage of a slot claimed by the caller and `p < IRQ_MAX_PARTITIONS`; the
/// pointers in `c` are valid as `irq_router_create` documents; `kernel_page` is
/// `c.shared_page` as checked by [`kernel_pages`].
unsafe fn build_partition(
    s: *mut Storage,
    p: usize,
    c: &IrqPartitionConfig,
    kernel_page: Option<NonNull<SharedPage>>,
) -> Result<(PartitionConfig, &'static SharedPage), IrqConfigError> {
    let here = IrqConfigError::at(Kind::BadValue, Table::Partitions, p);
    // SAFETY: the caller's contract on `c.ports`.
    let c_ports = unsafe {
        table(c.ports, c.port_count, IRQ_MAX_PORTS, IrqConfigError::NONE.table(Table::Ports))
    }
    .map_err(|e| e.partition(p))?;
    for (i, port) in c_ports.iter().enumerate() {
        let port = port_config(port)
            .ok_or(IrqConfigError::at(Kind::BadValue, Table::Ports, i).partition(p))?;
        // SAFETY: the caller's contract (claimed slot, nothing refers into it yet).
        unsafe { addr_of_mut!((*s).tables.ports[p][i]).write(port) };
    }
    // SAFETY: entries `0..len` were just written; never written again while the engine
    // lives (see `pool`).
    let ports: &'static [PortConfig] = unsafe {
        core::slice::from_raw_parts(addr_of!((*s).tables.ports[p]).cast(), c_ports.len())
    };

    // SAFETY: the caller's contract on `c.levels`.
    let c_levels: &[IrqPriorityLevel] = unsafe {
        table(
            c.levels,
            c.level_count,
            IRQ_MAX_PRIORITY_LEVELS,
            IrqConfigError::NONE.table(Table::Levels),
        )
    }
    .map_err(|e| e.partition(p))?;
    for (i, level) in c_levels.iter().enumerate() {
        let level = PriorityLevel::new(level.start, level.end);
        // SAFETY: the caller's contract (claimed slot, nothing refers into it yet).
        unsafe { addr_of_mut!((*s).tables.levels[p][i]).write(level) };
    }
    // SAFETY: entries `0..len` were just written; never written again while the engine
    // lives (see `pool`).
    let priority_levels: &'static [PriorityLevel] = unsafe {
        core::slice::from_raw_parts(addr_of!((*s).tables.levels[p]).cast(), c_levels.len())
    };

    // SAFETY: the caller's contract (claimed slot): a unique reference to this name's
    // bytes, dropped before the shared one below is made.
    let name_len =
        unsafe { copy_name(c.name, &mut *addr_of_mut!((*s).tables.names[p])) }.ok_or(here)?;
    // SAFETY: the bytes were just written and checked to be UTF-8; never written again
    // while the engine lives.
    let name_bytes: &'static [u8] = unsafe {
        core::slice::from_raw_parts(addr_of!((*s).tables.names[p]).cast::<u8>(), name_len)
    };
    let name = core::str::from_utf8(name_bytes).map_err(|_| here)?;

    let port_or_none = |raw: u16| if raw == IRQ_NO_PORT { None } else { Some(raw) };
    let catch_up = catch_up(c.catch_up, c.catch_up_max).ok_or(here)?;
    let ping = if c.ping.is_null() {
        None
    } else if !c.ping.is_aligned() {
        return Err(here);
    } else {
        // SAFETY: not NULL, aligned; the caller's contract on `c.ping`.
        let ping = unsafe { c.ping.read() };
        Some(Ping { port: ping.port, interval: ping.interval, bound: ping.bound })
    };
    let mut health = HmTable::IGNORE_ALL;
    for (kind, &code) in HmKind::ALL.iter().zip(c.health.iter()) {
        let action = action(code).ok_or(here.index(*kind as usize))?;
        health = health.on(*kind, action);
    }
    const _: () = assert!(IRQ_HM_KIND_COUNT == HmKind::COUNT);
    if c.restart_limit != 0 {
        health = health.with_restart_limit(c.restart_limit, c.restart_window);
    }

    let page: &'static SharedPage = match kernel_page {
        // SAFETY: the caller's contract (claimed slot, `p` in range).
        None => unsafe { storage_page(s, p) },
        // SAFETY: aligned (checked by `kernel_pages`), and by the caller's contract
        // `IRQ_PAGE_SIZE` (the size of `SharedPage`) writable bytes that stay valid, and
        // are accessed by nobody during this call (the partition does not run before
        // `irq_router_create` returns: this is a plain write) and afterwards by others
        // only as the page's atomics, until the router is destroyed, which drops the
        // engine (the only holder of this reference) first.
        Some(page) => unsafe {
            page.write(SharedPage::new());
            page.as_ref()
        },
    };
    let partition = PartitionConfig {
        name,
        cpu: 0,
        ports,
        priority_levels,
        timer_port: port_or_none(c.timer_port),
        error_port: port_or_none(c.error_port),
        catch_up,
        vectors: vector_set(&c.vectors),
        channels: c.channels,
        ping,
        health,
    };
    Ok((partition, page))
}

/// Route `r`, its targets copied into the storage.
///
/// # Safety
/// `s` is the storage of a slot claimed by the caller and `r < IRQ_MAX_ROUTES`;
/// `c.targets` is valid as `irq_router_create` documents.
unsafe fn build_route(
    s: *mut Storage,
    r: usize,
    c: &IrqRoute,
    partitions: usize,
) -> Result<Route, IrqConfigError> {
    let here = IrqConfigError::at(Kind::BadValue, Table::Routes, r);
    let vector = vector(c.vector).ok_or(here)?;
    let sharing = match c.sharing {
        IRQ_SHARING_EXCLUSIVE => Sharing::Exclusive,
        IRQ_SHARING_SHARED => Sharing::Shared,
        _ => return Err(here),
    };
    let trigger = match c.trigger {
        IRQ_TRIGGER_EDGE => Trigger::Edge,
        IRQ_TRIGGER_LEVEL => Trigger::Level,
        _ => return Err(here),
    };
    // SAFETY: the caller's contract on `c.targets`.
    let c_targets: &[IrqTarget] =
        unsafe { table(c.targets, c.target_count, IRQ_MAX_TARGETS, here) }?;
    for (t, target) in c_targets.iter().enumerate() {
        if target.partition as usize >= partitions {
            return Err(here_kind(here, Kind::RouteUnknownPartition).index(t));
        }
        // In range: checked above.
        let target = Target { partition: target.partition as u16, port: target.port };
        // SAFETY: the caller's contract (claimed slot, nothing refers into it yet).
        unsafe { addr_of_mut!((*s).tables.targets[r][t]).write(target) };
    }
    // SAFETY: entries `0..len` were just written; never written again while the engine
    // lives (see `pool`).
    let targets: &'static [Target] = unsafe {
        core::slice::from_raw_parts(addr_of!((*s).tables.targets[r]).cast(), c_targets.len())
    };
    Ok(Route {
        vector,
        sharing,
        trigger,
        kernel_first: c.kernel_first != 0,
        targets,
        budget: NonZeroU32::new(c.budget),
        ack_timeout: c.ack_timeout,
    })
}

const fn here_kind(error: IrqConfigError, kind: Kind) -> IrqConfigError {
    error.kind(kind)
}

fn build_channel(
    i: usize,
    c: &IrqChannel,
    in_range: impl Fn(u32) -> bool,
) -> Result<Channel, IrqConfigError> {
    for (end, p) in [c.source_partition, c.destination_partition].into_iter().enumerate() {
        if !in_range(p) {
            return Err(IrqConfigError::at(Kind::ChannelPartition, Table::Channels, i).index(end));
        }
    }
    // In range: checked above.
    Ok(Channel {
        source: Endpoint { partition: c.source_partition as u16, port: c.source_port },
        destination: Endpoint {
            partition: c.destination_partition as u16,
            port: c.destination_port,
        },
    })
}

fn build_budget(i: usize, c: &IrqChannelBudget) -> Result<ChannelBudget, IrqConfigError> {
    let raises = NonZeroU32::new(c.raises).ok_or(IrqConfigError::at(
        Kind::ChannelBudget,
        Table::ChannelBudgets,
        i,
    ))?;
    Ok(ChannelBudget { channel: c.channel, raises })
}

/// The engine's refusal as the C error naming the entry.
fn config_error(error: ConfigError) -> IrqConfigError {
    use IrqConfigError as E;
    match error {
        ConfigError::PartitionCount => E::system(Kind::PartitionCount),
        ConfigError::ChannelCount => E::system(Kind::ChannelCount),
        ConfigError::Events(e) => events_error(e),
        ConfigError::Partition { partition, error } => {
            let at = |kind| E::at(kind, Table::Partitions, partition).partition(partition);
            match error {
                PartitionError::TimerPort => at(Kind::TimerPort),
                PartitionError::ErrorPort => at(Kind::ErrorPort),
                PartitionError::DeliverWithoutErrorPort { kind } => {
                    at(Kind::DeliverWithoutErrorPort).index(kind as usize)
                }
                PartitionError::Ping => at(Kind::Ping),
                PartitionError::VectorNotPermitted { entry } => {
                    E::at(Kind::VectorNotPermitted, Table::Ports, entry).partition(partition)
                }
                _ => at(Kind::Other),
            }
        }
        ConfigError::EmptyFrame => E::system(Kind::EmptyFrame),
        ConfigError::Window { entry, error } => {
            let kind = match error {
                WindowError::UnknownPartition => Kind::WindowUnknownPartition,
                WindowError::Empty => Kind::WindowEmpty,
                WindowError::ExceedsFrame => Kind::WindowExceedsFrame,
                WindowError::Overlaps => Kind::WindowOverlaps,
                _ => Kind::Other,
            };
            E::at(kind, Table::Windows, entry)
        }
        ConfigError::Route { entry, error } => {
            let at = |kind| E::at(kind, Table::Routes, entry);
            match error {
                RouteError::DuplicateVector => at(Kind::RouteDuplicateVector),
                RouteError::ExclusiveShared => at(Kind::RouteExclusiveShared),
                RouteError::Unhandled => at(Kind::RouteUnhandled),
                RouteError::ZeroAckTimeout => at(Kind::RouteZeroAckTimeout),
                RouteError::UnknownPartition { target } => {
                    at(Kind::RouteUnknownPartition).index(target)
                }
                RouteError::NotPermitted { target } => at(Kind::RouteNotPermitted).index(target),
                RouteError::PortNotBound { target } => at(Kind::RoutePortNotBound).index(target),
                RouteError::DuplicateTarget { target } => {
                    at(Kind::RouteDuplicateTarget).index(target)
                }
                RouteError::LevelPortCounts { target } => {
                    at(Kind::RouteLevelPortCounts).index(target)
                }
                RouteError::TooManyLevelTargets => at(Kind::RouteTooManyLevelTargets),
                RouteError::LevelBudget => at(Kind::RouteLevelBudget),
                _ => at(Kind::Other),
            }
        }
        ConfigError::ChannelNotPermitted { channel, partition } => {
            E::at(Kind::ChannelNotPermitted, Table::Channels, channel).partition(partition)
        }
        ConfigError::ChannelBudget { entry } => {
            E::at(Kind::ChannelBudget, Table::ChannelBudgets, entry)
        }
        _ => E::system(Kind::Other),
    }
}

fn events_error(error: irq_router::events::ConfigError) -> IrqConfigError {
    use IrqConfigError as E;
    use irq_router::events::ConfigError as N;
    let end = |end| match end {
        End::Source => 0,
        End::Destination => 1,
    };
    match error {
        N::Port { partition, error } => match error {
            PortConfigError::PortOutOfRange { entry } => {
                E::at(Kind::PortOutOfRange, Table::Ports, entry).partition(partition)
            }
            PortConfigError::DuplicatePort { entry } => {
                E::at(Kind::DuplicatePort, Table::Ports, entry).partition(partition)
            }
            // `build_partition` refuses more levels than the engine takes (`TooMany`).
            PortConfigError::LevelRange { level } => {
                E::at(Kind::LevelRange, Table::Levels, level).partition(partition)
            }
            PortConfigError::LevelOrder { level } => {
                E::at(Kind::LevelOrder, Table::Levels, level).partition(partition)
            }
            _ => E::at(Kind::Other, Table::Partitions, partition).partition(partition),
        },
        N::UnknownChannel { partition, entry } => {
            E::at(Kind::UnknownChannel, Table::Ports, entry).partition(partition)
        }
        N::ChannelPartition { channel, end: e } => {
            E::at(Kind::ChannelPartition, Table::Channels, channel).index(end(e))
        }
        N::ChannelPort { channel, end: e } => {
            E::at(Kind::ChannelPort, Table::Channels, channel).index(end(e))
        }
        _ => E::system(Kind::Other),
    }
}
