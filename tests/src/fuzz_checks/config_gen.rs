//! Arbitrary [`SystemConfig`] values from bytes: mostly small numbers drawn near the valid
//! ones (ports below 16, vectors from a pool, windows that follow each other, targets and
//! channel ends that pick configured ports), so that both valid configurations and each
//! kind of mistake are common.

use core::num::NonZeroU32;

use arbitrary::{Result, Unstructured};
use irq_router::config::{
    ChannelBudget, HmAction, HmKind, HmTable, PartitionConfig, Ping, Route, Schedule, Sharing,
    SystemConfig, Target, Trigger, VectorSet, Window,
};
use notify_core::{Binding, Channel, Endpoint, Mode, PortConfig, Source};
use vcpu_state::CatchUpPolicy;

use super::arena::Arena;

const VECTORS: [u8; 6] = [0x20, 0x21, 0x22, 0x23, 0x24, 0x25];

fn vector(u: &mut Unstructured<'_>) -> Result<u8> {
    if u.ratio(7, 8)? { Ok(*u.choose(&VECTORS)?) } else { u.arbitrary() }
}

fn small_port(u: &mut Unstructured<'_>) -> Result<u16> {
    match u.int_in_range(0..=15u16)? {
        15 => u.arbitrary(),
        n => Ok(n),
    }
}

/// A port of `ports` whose source `wanted` accepts, most of the time; else any port.
fn pick_port(
    u: &mut Unstructured<'_>,
    ports: &[PortConfig],
    wanted: impl Fn(Source) -> bool,
) -> Result<u16> {
    let fitting: Vec<u16> =
        ports.iter().filter(|c| wanted(c.binding.source)).map(|c| c.port).collect();
    if !fitting.is_empty() && u.ratio(3, 4)? { Ok(*u.choose(&fitting)?) } else { small_port(u) }
}

fn source(u: &mut Unstructured<'_>) -> Result<Source> {
    Ok(match u.int_in_range(0..=6)? {
        0 | 1 => Source::Line(u16::from(vector(u)?)),
        2 => Source::Timer,
        3 => Source::Channel(if u.ratio(7, 8)? { u.int_in_range(0..=3)? } else { u.arbitrary()? }),
        4 => Source::Trap(u.arbitrary()?),
        5 => Source::Ping,
        _ => Source::Lifecycle,
    })
}

fn port_config(u: &mut Unstructured<'_>) -> Result<PortConfig> {
    let source = source(u)?;
    let mode = match u.int_in_range(0..=2)? {
        0 => Mode::Coalescing,
        1 => Mode::COUNTING,
        _ => Mode::Counting {
            max: NonZeroU32::new(u32::from(u.int_in_range(1..=8u8)?)).expect("1..=8"),
        },
    };
    let config = PortConfig::new(small_port(u)?, Binding { source, mode });
    Ok(if u.ratio(1, 4)? { config.masked() } else { config })
}

fn health(u: &mut Unstructured<'_>) -> Result<HmTable> {
    const ACTIONS: [HmAction; 6] = [
        HmAction::Ignore,
        HmAction::Deliver,
        HmAction::WarmStart,
        HmAction::ColdStart,
        HmAction::Idle,
        HmAction::StopModule,
    ];
    let mut table = HmTable::IGNORE_ALL;
    if u.ratio(1, 2)? {
        for kind in HmKind::ALL {
            table = table.on(kind, *u.choose(&ACTIONS)?);
        }
    }
    Ok(table)
}

fn partition(u: &mut Unstructured<'_>, arena: &mut Arena) -> Result<PartitionConfig> {
    let len = u.int_in_range(0..=6)?;
    let ports: Vec<PortConfig> = (0..len).map(|_| port_config(u)).collect::<Result<_>>()?;
    let optional = |u: &mut Unstructured<'_>, wanted: fn(Source) -> bool| -> Result<Option<u16>> {
        if u.arbitrary()? { Ok(Some(pick_port(u, &ports, wanted)?)) } else { Ok(None) }
    };
    let timer_port = optional(u, |s| s == Source::Timer)?;
    let error_port = optional(u, |s| s == Source::Lifecycle)?;
    let ping = match optional(u, |s| s == Source::Ping)? {
        Some(port) => Some(Ping {
            port,
            interval: u64::from(u.arbitrary::<u8>()?),
            bound: u64::from(u.arbitrary::<u8>()?),
        }),
        None => None,
    };
    let catch_up = match u.int_in_range(0..=3)? {
        0 => CatchUpPolicy::Replay,
        1 => CatchUpPolicy::Warp,
        2 => CatchUpPolicy::Collapse,
        _ => CatchUpPolicy::BoundedReplay {
            max: NonZeroU32::new(u32::from(u.int_in_range(1..=4u8)?)).expect("1..=4"),
        },
    };
    let mut vectors = VectorSet::EMPTY;
    for v in VECTORS {
        if u.ratio(2, 3)? {
            vectors = vectors.with(v);
        }
    }
    let channels =
        if u.ratio(7, 8)? { u64::from(u.arbitrary::<u8>()? & 0xf) } else { u.arbitrary()? };
    // SAFETY: the configuration is dropped before the arena (see `config`).
    let ports = unsafe { arena.slice(ports) };
    Ok(PartitionConfig {
        name: "fuzzed",
        cpu: 0,
        ports,
        priority_levels: &[],
        timer_port,
        error_port,
        catch_up,
        vectors,
        channels,
        ping,
        health: health(u)?,
    })
}

fn partition_index<const P: usize>(u: &mut Unstructured<'_>) -> Result<u16> {
    // One past the last partition now and then: an unknown partition.
    u.int_in_range(0..=P as u16)
}

fn windows<const P: usize>(u: &mut Unstructured<'_>) -> Result<Vec<Window>> {
    let mut end = 0;
    (0..u.int_in_range(0..=4)?)
        .map(|_| {
            let start = if u.ratio(7, 8)? {
                end + u64::from(u.int_in_range(0..=3u8)?)
            } else {
                u.arbitrary::<u8>()?.into()
            };
            let length = u64::from(u.int_in_range(0..=12u8)?);
            end = start + length;
            Ok(Window { partition: partition_index::<P>(u)?, start, length })
        })
        .collect()
}

fn route<const P: usize>(
    u: &mut Unstructured<'_>,
    partitions: &[PartitionConfig; P],
    arena: &mut Arena,
) -> Result<Route> {
    let vector = vector(u)?;
    let targets: Vec<Target> = (0..u.int_in_range(0..=3)?)
        .map(|_| {
            let partition = partition_index::<P>(u)?;
            let ports = partitions.get(usize::from(partition)).map_or(&[][..], |c| c.ports);
            let port = pick_port(u, ports, |s| s == Source::Line(u16::from(vector)))?;
            Ok(Target { partition, port })
        })
        .collect::<Result<_>>()?;
    Ok(Route {
        vector,
        sharing: if u.arbitrary()? { Sharing::Shared } else { Sharing::Exclusive },
        trigger: if u.arbitrary()? { Trigger::Level } else { Trigger::Edge },
        kernel_first: u.arbitrary()?,
        // SAFETY: the configuration is dropped before the arena (see `config`).
        targets: unsafe { arena.slice(targets) },
        budget: NonZeroU32::new(u32::from(u.int_in_range(0..=5u8)?)),
        ack_timeout: u64::from(u.int_in_range(0..=8u8)?),
    })
}

fn endpoint<const P: usize>(
    u: &mut Unstructured<'_>,
    partitions: &[PartitionConfig; P],
    channel: u16,
) -> Result<Endpoint> {
    let partition = partition_index::<P>(u)?;
    let ports = partitions.get(usize::from(partition)).map_or(&[][..], |c| c.ports);
    Ok(Endpoint { partition, port: pick_port(u, ports, |s| s == Source::Channel(channel))? })
}

/// A configuration of `P` partitions; its slices live in `arena`.
pub(crate) fn system<const P: usize>(
    u: &mut Unstructured<'_>,
    arena: &mut Arena,
) -> Result<SystemConfig<P>> {
    let mut partitions = [const { None }; P];
    for slot in &mut partitions {
        *slot = Some(partition(u, arena)?);
    }
    let partitions = partitions.map(|p| p.expect("every slot filled"));
    let major_frame = u64::from(u.arbitrary::<u8>()?);
    let windows = windows::<P>(u)?;
    let routes: Vec<Route> =
        (0..u.int_in_range(0..=4)?).map(|_| route(u, &partitions, arena)).collect::<Result<_>>()?;
    let channels: Vec<Channel> = (0..u.int_in_range(0..=3u16)?)
        .map(|c| {
            Ok(Channel {
                source: endpoint(u, &partitions, c)?,
                destination: endpoint(u, &partitions, c)?,
            })
        })
        .collect::<Result<_>>()?;
    let budgets: Vec<ChannelBudget> = (0..u.int_in_range(0..=2)?)
        .map(|_| {
            Ok(ChannelBudget {
                channel: u.int_in_range(0..=3)?,
                raises: NonZeroU32::new(u32::from(u.int_in_range(1..=5u8)?)).expect("1..=5"),
            })
        })
        .collect::<Result<_>>()?;
    let clock_vector = if u.ratio(3, 4)? { Some(vector(u)?) } else { None };
    // SAFETY: the configuration is dropped before the arena (see `config`).
    let (windows, routes, channels, channel_budgets) = unsafe {
        (arena.slice(windows), arena.slice(routes), arena.slice(channels), arena.slice(budgets))
    };
    Ok(SystemConfig {
        partitions,
        schedule: Schedule { major_frame, windows },
        routes,
        clock_vector,
        channels,
        channel_budgets,
    })
}
