//! From the file's structures to irq-router's `SystemConfig` (slices leaked: the
//! configuration lives as long as the runner), keeping the span of every entry so that
//! an error of `SystemConfig::validate` is reported at the entry it names.

use std::num::NonZeroU32;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use irq_router::config::{
    ChannelBudget, ConfigError, HmAction, HmKind, HmTable, PartitionConfig, PartitionError, Ping,
    Route, RouteError, Schedule, Sharing, SystemConfig, Target, Trigger, VectorSet, Window,
};
use irq_router::events::{Binding, Channel, Endpoint, Mode, PortConfig, PriorityLevel, Source};
use irq_router::vcpu::CatchUpPolicy;
use toml::Spanned;

use super::error::ConfigFileError;
use super::file::{
    FileAction, FileConfig, FileEnd, FileHealth, FileMode, FilePartition, FilePolicy, FileSharing,
    FileSource, FileTrigger,
};
use crate::region::{ROLE_PORTS, Role};
use crate::runner::cgroup::{Limits, MAX_MEMORY_MIB, MAX_PIDS, MIN_MEMORY_MIB};
use crate::runner::children::{PARTITION_NAME_VAR, PARTITION_VAR, Program};

/// Most partitions the hosted runner runs.
pub const MAX_HOSTED_PARTITIONS: usize = 8;

/// Most CPUs the hosted runner runs (one thread each). The engine is built for this many
/// whatever `cpus` says; the CPUs past `cpus` have no partition and no thread.
pub const MAX_HOSTED_CPUS: usize = 8;

/// The UDP device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Device {
    /// The line it raises.
    pub vector: u8,
    /// Mean time between packets, in microseconds.
    pub mean_interval_us: u64,
    /// Jitter around the mean, in microseconds.
    pub jitter_us: u64,
    /// The CPU whose thread takes its interrupts.
    pub cpu: u16,
}

/// What the runner tells one partition about itself.
#[derive(Clone, Debug)]
pub struct PartitionInfo {
    /// Its name.
    pub name: String,
    /// The role of each of its ports.
    pub roles: [Role; ROLE_PORTS],
    /// The vector of its line port, if any.
    pub line_vector: Option<u8>,
    /// Its sending channel port and how often it notifies (every so many ticks).
    pub notify: Option<(u16, u64)>,
    /// Its own program (`None`: the built-in demo).
    pub program: Option<Program>,
    /// The limits of its process tree.
    pub limits: Limits,
}

/// Spans (byte offsets) of the entries, for errors.
#[derive(Clone, Debug, Default)]
struct Spans {
    frame: usize,
    partitions: Vec<usize>,
    ports: Vec<Vec<usize>>,
    windows: Vec<usize>,
    routes: Vec<usize>,
    targets: Vec<Vec<usize>>,
    channels: Vec<usize>,
    channel_ends: Vec<[usize; 2]>,
}

/// A converted configuration, not yet validated for a partition count.
#[derive(Clone, Debug)]
pub struct System {
    path: String,
    source: String,
    /// Clock period in nanoseconds.
    pub tick_ns: u64,
    /// The clock's vector.
    pub clock_vector: u8,
    /// CPUs (runner threads), 1 to [`MAX_HOSTED_CPUS`].
    pub cpus: usize,
    /// Partition configurations.
    pub partitions: Vec<PartitionConfig>,
    /// What each partition is told.
    pub info: Vec<PartitionInfo>,
    /// The schedule.
    pub schedule: Schedule,
    /// The routes.
    pub routes: &'static [Route],
    /// The channels.
    pub channels: &'static [Channel],
    /// Their budgets.
    pub channel_budgets: &'static [ChannelBudget],
    /// The UDP device.
    pub device: Option<Device>,
    spans: Spans,
}

/// The partition's own program, `program`, `env` and `cwd` checked: the executable
/// exists (a relative path is taken from the file's directory, a bare name is looked up
/// in `PATH`), the working directory is a directory, the variables can be set.
fn program(ctx: &Ctx<'_>, fp: &FilePartition) -> Result<Option<Program>, ConfigFileError> {
    let Some(program) = &fp.program else {
        for (at, key) in [
            (fp.env.as_ref().map(|e| e.span().start), "env"),
            (fp.cwd.as_ref().map(|c| c.span().start), "cwd"),
        ] {
            if let Some(at) = at {
                return Err(ctx.err(at, &format!("`{key}` is for a `program`; there is none")));
            }
        }
        return Ok(None);
    };
    let at = program.span().start;
    let Some((first, args)) = program.get_ref().split_first() else {
        return Err(ctx.err(at, "`program` needs at least the executable"));
    };
    if program.get_ref().iter().any(|a| a.contains('\0')) {
        return Err(ctx.err(at, "`program` arguments cannot hold a NUL byte"));
    }
    let path = if first.contains('/') {
        let path = ctx.base.join(first);
        if !is_executable(&path) {
            let msg = format!("program \"{first}\" ({}) is not an executable file", path.display());
            return Err(ctx.err(at, &msg));
        }
        path
    } else {
        let found = std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths).map(|dir| dir.join(first)).find(|p| is_executable(p))
        });
        match found {
            Some(path) => path,
            None => {
                let msg = format!("program \"{first}\" is not an executable found in PATH");
                return Err(ctx.err(at, &msg));
            }
        }
    };
    let mut env = Vec::new();
    if let Some(vars) = &fp.env {
        let at = vars.span().start;
        for (key, value) in vars.get_ref() {
            if key.is_empty() || key.contains(['=', '\0']) || value.contains('\0') {
                return Err(ctx.err(at, &format!("env: \"{key}\" cannot be set")));
            }
            if key == PARTITION_VAR || key == PARTITION_NAME_VAR {
                return Err(ctx.err(at, &format!("env: {key} is set by the runner")));
            }
            env.push((key.clone(), value.clone()));
        }
    }
    let cwd = match &fp.cwd {
        None => None,
        Some(dir) => {
            let path = ctx.base.join(dir.get_ref());
            if !path.is_dir() {
                let msg =
                    format!("cwd \"{}\" ({}) is not a directory", dir.get_ref(), path.display());
                return Err(ctx.err(dir.span().start, &msg));
            }
            Some(path)
        }
    };
    Ok(Some(Program { path, args: args.to_vec(), number_arg: false, env, cwd }))
}

/// The partition's `limits`, checked: `pids` 1 to [`MAX_PIDS`], `memory_mib`
/// [`MIN_MEMORY_MIB`] to [`MAX_MEMORY_MIB`]; a key left out keeps its default.
fn limits(ctx: &Ctx<'_>, fp: &FilePartition) -> Result<Limits, ConfigFileError> {
    let mut limits = Limits::default();
    let Some(given) = &fp.limits else { return Ok(limits) };
    let at = given.span().start;
    let given = given.get_ref();
    if let Some(pids) = given.pids {
        if pids == 0 || pids > MAX_PIDS {
            return Err(ctx.err(at, &format!("limits.pids must be 1 to {MAX_PIDS}")));
        }
        limits.pids = pids;
    }
    if let Some(mib) = given.memory_mib {
        if !(MIN_MEMORY_MIB..=MAX_MEMORY_MIB).contains(&mib) {
            let msg = format!("limits.memory_mib must be {MIN_MEMORY_MIB} to {MAX_MEMORY_MIB}");
            return Err(ctx.err(at, &msg));
        }
        limits.memory_mib = mib;
    }
    Ok(limits)
}

/// A regular file someone may execute.
fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn leak<T>(v: Vec<T>) -> &'static [T] {
    Vec::leak(v)
}

struct Ctx<'a> {
    path: &'a str,
    source: &'a str,
    /// The directory relative paths in the file are taken from.
    base: &'a Path,
    names: Vec<String>,
}

impl Ctx<'_> {
    fn err(&self, offset: usize, message: &str) -> ConfigFileError {
        ConfigFileError::at(self.path, self.source, Some(offset), message)
    }

    fn partition(&self, name: &Spanned<String>) -> Result<u16, ConfigFileError> {
        match self.names.iter().position(|n| n == name.get_ref()) {
            Some(i) => Ok(i as u16),
            None => Err(self.err(
                name.span().start,
                &format!(
                    "no partition is named \"{}\" (known: {})",
                    name.get_ref(),
                    self.names.join(", ")
                ),
            )),
        }
    }

    fn end(&self, end: &Spanned<FileEnd>) -> Result<Endpoint, ConfigFileError> {
        Ok(Endpoint {
            partition: self.partition(&end.get_ref().partition)?,
            port: end.get_ref().port,
        })
    }
}

const fn policy(p: FilePolicy) -> Option<CatchUpPolicy> {
    match p {
        FilePolicy::Replay => Some(CatchUpPolicy::Replay),
        FilePolicy::Warp => Some(CatchUpPolicy::Warp),
        FilePolicy::Collapse => Some(CatchUpPolicy::Collapse),
        FilePolicy::BoundedReplay(max) => match NonZeroU32::new(max) {
            Some(max) => Some(CatchUpPolicy::BoundedReplay { max }),
            None => None,
        },
    }
}

const fn action(a: FileAction) -> HmAction {
    match a {
        FileAction::Ignore => HmAction::Ignore,
        FileAction::Deliver => HmAction::Deliver,
        FileAction::WarmStart => HmAction::WarmStart,
        FileAction::ColdStart => HmAction::ColdStart,
        FileAction::Idle => HmAction::Idle,
        FileAction::StopModule => HmAction::StopModule,
    }
}

fn health(h: &FileHealth) -> HmTable {
    let mut table = HmTable::all(action(h.default));
    let kinds = [
        (HmKind::Trap, h.trap),
        (HmKind::TrapInTrap, h.trap_in_trap),
        (HmKind::PendingOverflow, h.pending_overflow),
        (HmKind::Storm, h.storm),
        (HmKind::AckTimeout, h.ack_timeout),
        (HmKind::PingMissed, h.ping_missed),
        (HmKind::IllegalHypercall, h.illegal_hypercall),
        (HmKind::PartitionError, h.partition_error),
        (HmKind::WindowOverrun, h.window_overrun),
        (HmKind::UpcallFault, h.upcall_fault),
    ];
    for (kind, a) in kinds {
        if let Some(a) = a {
            table = table.on(kind, action(a));
        }
    }
    match h.restart_limit {
        Some(limit) => table.with_restart_limit(limit.restarts, limit.frames),
        None => table,
    }
}

/// Converts a parsed file.
///
/// # Errors
/// Names that do not resolve, too many partitions, zero budgets, a device without a
/// route: each at its entry.
#[allow(clippy::too_many_lines, reason = "one pass over the file, entry by entry")]
pub fn convert(
    path: &str,
    source: &str,
    base: &Path,
    file: &FileConfig,
) -> Result<System, ConfigFileError> {
    let mut ctx = Ctx { path, source, base, names: Vec::new() };
    let mut spans = Spans { frame: file.major_frame.span().start, ..Spans::default() };
    if file.partitions.is_empty() {
        return Err(ctx.err(0, "at least one [[partition]] is needed"));
    }
    for (i, p) in file.partitions.iter().enumerate() {
        let name = &p.get_ref().name;
        if i >= MAX_HOSTED_PARTITIONS {
            let msg = format!("the hosted runner runs at most {MAX_HOSTED_PARTITIONS} partitions");
            return Err(ctx.err(name.span().start, &msg));
        }
        if ctx.names.contains(name.get_ref()) {
            return Err(ctx.err(
                name.span().start,
                &format!("a partition is already named \"{}\"", name.get_ref()),
            ));
        }
        ctx.names.push(name.get_ref().clone());
    }
    if file.tick_us == 0 {
        return Err(ctx.err(0, "tick_us must be at least 1"));
    }
    let cpus = match &file.cpus {
        None => 1,
        Some(n) if (1..=MAX_HOSTED_CPUS).contains(&usize::from(*n.get_ref())) => {
            usize::from(*n.get_ref())
        }
        Some(n) => {
            let msg = format!("cpus must be 1 to {MAX_HOSTED_CPUS}");
            return Err(ctx.err(n.span().start, &msg));
        }
    };
    let cpu_of = |at: usize, cpu: u16, what: &str| {
        if usize::from(cpu) < cpus {
            Ok(cpu)
        } else {
            let msg = format!(
                "{what} cpu = {cpu}, but the system has cpus = {cpus} (CPUs are numbered from 0)"
            );
            Err(ctx.err(at, &msg))
        }
    };
    let channel_names: Vec<&str> =
        file.channels.iter().map(|c| c.get_ref().name.as_str()).collect();
    let mut partitions = Vec::new();
    let mut info = Vec::new();
    for p in &file.partitions {
        spans.partitions.push(p.span().start);
        let fp = p.get_ref();
        let mut roles = [Role::None; ROLE_PORTS];
        let mut ports = Vec::new();
        let mut port_spans = Vec::new();
        let mut vectors = VectorSet::EMPTY;
        let mut line_vector = None;
        for port in &fp.ports {
            let at = port.span().start;
            port_spans.push(at);
            let fport = port.get_ref();
            let (source, role) = match &fport.source {
                FileSource::Timer => (Source::Timer, Role::Timer),
                FileSource::Ping => (Source::Ping, Role::Ping),
                FileSource::Lifecycle => (Source::Lifecycle, Role::Error),
                FileSource::Trap(t) => (Source::Trap(*t), Role::None),
                FileSource::Line(v) => {
                    vectors = vectors.with(*v);
                    line_vector = Some(*v);
                    (Source::Line(u16::from(*v)), Role::Line)
                }
                FileSource::Channel(name) => match channel_names.iter().position(|c| c == name) {
                    Some(c) => (Source::Channel(c as u16), Role::ChannelIn),
                    None => return Err(ctx.err(at, &format!("no [[channel]] is named \"{name}\""))),
                },
            };
            let mode = match (fport.mode, fport.max) {
                (FileMode::Coalescing, None) => Mode::Coalescing,
                (FileMode::Coalescing, Some(_)) => {
                    return Err(ctx.err(at, "`max` is for counting ports only"));
                }
                (FileMode::Counting, None) => Mode::COUNTING,
                (FileMode::Counting, Some(max)) => match NonZeroU32::new(max) {
                    Some(max) => Mode::Counting { max },
                    None => return Err(ctx.err(at, "`max` must be at least 1")),
                },
            };
            if let Some(slot) = roles.get_mut(usize::from(fport.port)) {
                *slot = role;
            }
            let config = PortConfig {
                port: fport.port,
                binding: Binding { source, mode },
                masked: fport.masked,
                keep_context: !fport.no_context,
            };
            ports.push(config);
        }
        spans.ports.push(port_spans);
        let Some(catch_up) = policy(fp.catch_up) else {
            return Err(ctx.err(p.span().start, "bounded_replay needs a maximum of at least 1"));
        };
        let channels = file.channels.iter().enumerate().fold(0u64, |mask, (c, ch)| {
            let ch = ch.get_ref();
            let mine = ch.from.get_ref().partition.get_ref() == fp.name.get_ref()
                || ch.to.get_ref().partition.get_ref() == fp.name.get_ref();
            if mine && c < 64 { mask | 1 << c } else { mask }
        });
        partitions.push(PartitionConfig {
            name: String::leak(fp.name.get_ref().clone()),
            cpu: match &fp.cpu {
                None => 0,
                Some(cpu) => cpu_of(cpu.span().start, *cpu.get_ref(), "the partition's")?,
            },
            ports: leak(ports),
            priority_levels: fp.priority_levels.as_ref().map_or(&[], |levels| {
                leak(levels.get_ref().iter().map(|l| PriorityLevel::new(l.start, l.end)).collect())
            }),
            timer_port: fp.timer_port,
            error_port: fp.error_port,
            catch_up,
            vectors,
            channels,
            ping: fp.ping.as_ref().map(|ping| Ping {
                port: ping.port,
                interval: ping.interval,
                bound: ping.bound,
            }),
            health: health(&fp.health),
        });
        info.push(PartitionInfo {
            name: fp.name.get_ref().clone(),
            roles,
            line_vector,
            notify: None,
            program: program(&ctx, fp)?,
            limits: limits(&ctx, fp)?,
        });
    }
    let mut windows = Vec::new();
    for w in &file.windows {
        spans.windows.push(w.span().start);
        let fw = w.get_ref();
        windows.push(Window {
            partition: ctx.partition(&fw.partition)?,
            start: fw.start,
            length: fw.length,
        });
    }
    let mut routes = Vec::new();
    for r in &file.routes {
        spans.routes.push(r.span().start);
        let fr = r.get_ref();
        let mut targets = Vec::new();
        let mut target_spans = Vec::new();
        for t in &fr.targets {
            target_spans.push(t.span().start);
            let end = ctx.end(t)?;
            targets.push(Target { partition: end.partition, port: end.port });
        }
        spans.targets.push(target_spans);
        let budget = match fr.budget {
            None => None,
            Some(b) => match NonZeroU32::new(b) {
                Some(b) => Some(b),
                None => return Err(ctx.err(r.span().start, "a budget must be at least 1")),
            },
        };
        routes.push(Route {
            vector: fr.vector,
            sharing: match fr.sharing {
                FileSharing::Exclusive => Sharing::Exclusive,
                FileSharing::Shared => Sharing::Shared,
            },
            trigger: match fr.trigger {
                FileTrigger::Edge => Trigger::Edge,
                FileTrigger::Level => Trigger::Level,
            },
            kernel_first: fr.kernel_first,
            targets: leak(targets),
            budget,
            ack_timeout: fr.ack_timeout,
        });
    }
    let mut channels = Vec::new();
    let mut budgets = Vec::new();
    for (c, ch) in file.channels.iter().enumerate() {
        spans.channels.push(ch.span().start);
        let fc = ch.get_ref();
        spans.channel_ends.push([fc.from.span().start, fc.to.span().start]);
        let (source, destination) = (ctx.end(&fc.from)?, ctx.end(&fc.to)?);
        channels.push(Channel { source, destination });
        if let Some(b) = fc.budget {
            let Some(raises) = NonZeroU32::new(b) else {
                return Err(ctx.err(ch.span().start, "a budget must be at least 1"));
            };
            budgets.push(ChannelBudget { channel: c as u16, raises });
        }
        let sender = &mut info[usize::from(source.partition)];
        if let Some(slot) = sender.roles.get_mut(usize::from(source.port)) {
            *slot = Role::ChannelOut;
        }
        if fc.every > 0 {
            sender.notify = Some((source.port, fc.every));
        }
    }
    let device = match &file.device {
        None => None,
        Some(d) => {
            let fd = d.get_ref();
            if !file.routes.iter().any(|r| r.get_ref().vector == fd.vector) {
                return Err(ctx.err(
                    d.span().start,
                    &format!("no [[route]] for the device's vector {}", fd.vector),
                ));
            }
            if fd.mean_interval_us == 0 || fd.jitter_us >= fd.mean_interval_us {
                return Err(
                    ctx.err(d.span().start, "mean_interval_us must be above 0 and above jitter_us")
                );
            }
            Some(Device {
                vector: fd.vector,
                mean_interval_us: fd.mean_interval_us,
                jitter_us: fd.jitter_us,
                cpu: cpu_of(d.span().start, fd.cpu, "the device's")?,
            })
        }
    };
    ctx.names.clear();
    Ok(System {
        path: path.to_owned(),
        source: source.to_owned(),
        tick_ns: file.tick_us.saturating_mul(1000),
        clock_vector: file.clock_vector,
        cpus,
        partitions,
        info,
        schedule: Schedule { major_frame: *file.major_frame.get_ref(), windows: leak(windows) },
        routes: leak(routes),
        channels: leak(channels),
        channel_budgets: leak(budgets),
        device,
        spans,
    })
}

impl System {
    /// Number of partitions.
    #[must_use]
    pub fn len(&self) -> usize {
        self.partitions.len()
    }

    /// Whether there is no partition (never: conversion refuses it).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.partitions.is_empty()
    }

    /// The configuration for exactly `P` partitions, validated.
    ///
    /// # Errors
    /// The validation error at the entry it names.
    pub fn config<const P: usize>(&self) -> Result<SystemConfig<P>, ConfigFileError> {
        let partitions: [PartitionConfig; P] = self
            .partitions
            .clone()
            .try_into()
            .map_err(|_| self.error_at(0, "wrong number of partitions"))?;
        let config = SystemConfig {
            partitions,
            schedule: self.schedule,
            routes: self.routes,
            clock_vector: Some(self.clock_vector),
            channels: self.channels,
            channel_budgets: self.channel_budgets,
        };
        config.validate_on::<1, MAX_HOSTED_CPUS>().map_err(|e| self.explain(e))?;
        Ok(config)
    }

    fn error_at(&self, offset: usize, message: &str) -> ConfigFileError {
        ConfigFileError::at(&self.path, &self.source, Some(offset), message)
    }

    /// A validation error, at the entry it names.
    fn explain(&self, e: ConfigError) -> ConfigFileError {
        let s = &self.spans;
        let get = |v: &Vec<usize>, i: usize| v.get(i).copied().unwrap_or(0);
        let (offset, message) = match e {
            ConfigError::Partition { partition, error } => {
                let at = match error {
                    PartitionError::VectorNotPermitted { entry } => {
                        s.ports.get(partition).map_or(0, |p| get(p, entry))
                    }
                    _ => get(&s.partitions, partition),
                };
                (at, partition_message(error))
            }
            ConfigError::Events(irq_router::events::ConfigError::Port { partition, error }) => {
                let entry = match error {
                    irq_router::events::PortConfigError::PortOutOfRange { entry }
                    | irq_router::events::PortConfigError::DuplicatePort { entry } => Some(entry),
                    _ => None,
                };
                let at = match entry {
                    Some(entry) => s.ports.get(partition).map_or(0, |p| get(p, entry)),
                    None => get(&s.partitions, partition),
                };
                let message = match error {
                    irq_router::events::PortConfigError::TooManyLevels => format!(
                        "priority_levels: at most {} levels",
                        irq_router::events::MAX_PRIORITY_LEVELS
                    ),
                    irq_router::events::PortConfigError::LevelRange { level } => format!(
                        "priority_levels[{level}]: a level needs start < end, and ends at 64 at most"
                    ),
                    irq_router::events::PortConfigError::LevelOrder { level } => format!(
                        "priority_levels[{level}] starts before the previous level ends (levels go in port order and do not overlap)"
                    ),
                    _ => format!("port: {error:?} (ports are 0 to 63)"),
                };
                (at, message)
            }
            ConfigError::Events(irq_router::events::ConfigError::UnknownChannel {
                partition,
                entry,
            }) => {
                (s.ports.get(partition).map_or(0, |p| get(p, entry)), "unknown channel".to_owned())
            }
            ConfigError::Events(
                irq_router::events::ConfigError::ChannelPort { channel, end }
                | irq_router::events::ConfigError::ChannelPartition { channel, end },
            ) => {
                let i = usize::from(matches!(end, irq_router::events::End::Destination));
                let at = s.channel_ends.get(channel).map_or(0, |e| e[i]);
                let which = if i == 0 { "from" } else { "to" };
                (
                    at,
                    format!(
                        "the `{which}` port of this channel is not a port of that partition bound to this channel (add a [[partition.port]] with source = {{ channel = \"...\" }})"
                    ),
                )
            }
            ConfigError::EmptyFrame => (s.frame, "major_frame must be at least 1 tick".to_owned()),
            ConfigError::Window { entry, error } => (get(&s.windows, entry), window_message(error)),
            ConfigError::Route { entry, error } => {
                let target = match error {
                    RouteError::UnknownPartition { target }
                    | RouteError::NotPermitted { target }
                    | RouteError::PortNotBound { target }
                    | RouteError::DuplicateTarget { target }
                    | RouteError::LevelPortCounts { target } => Some(target),
                    _ => None,
                };
                let at = match target {
                    Some(t) => s.targets.get(entry).map_or(0, |v| get(v, t)),
                    None => get(&s.routes, entry),
                };
                (at, route_message(error))
            }
            ConfigError::ChannelNotPermitted { channel, partition } => (
                get(&s.channels, channel),
                format!("partition {partition} may not use this channel"),
            ),
            ConfigError::ChannelBudget { entry } => {
                (0, format!("channel budget {entry} is invalid"))
            }
            other => (0, other.to_string()),
        };
        self.error_at(offset, &message)
    }
}

fn partition_message(e: PartitionError) -> String {
    match e {
        PartitionError::TimerPort => "timer_port is not a port bound to source = \"timer\"".to_owned(),
        PartitionError::ErrorPort => "error_port is not a port bound to source = \"lifecycle\"".to_owned(),
        PartitionError::DeliverWithoutErrorPort { kind } => {
            format!("health: {kind:?} is delivered but the partition has no error_port")
        }
        PartitionError::Ping => "ping: its port must be bound to source = \"ping\", interval and bound above 0, bound at most interval".to_owned(),
        PartitionError::VectorNotPermitted { .. } => "this port's line is not permitted".to_owned(),
        PartitionError::RestartLimit => format!(
            "health.restart_limit: restarts must be 1 to {}, frames at least 1",
            irq_router::config::MAX_RESTART_LIMIT
        ),
        other => format!("{other:?}"),
    }
}

fn window_message(e: irq_router::config::WindowError) -> String {
    use irq_router::config::WindowError;
    match e {
        WindowError::UnknownPartition => "the window's partition does not exist".to_owned(),
        WindowError::Empty => "the window is 0 ticks long".to_owned(),
        WindowError::ExceedsFrame => "the window ends after the major frame".to_owned(),
        WindowError::Overlaps => {
            "the window starts before the previous window of its partition's CPU ends (a CPU's windows go in start order and do not overlap)".to_owned()
        }
        other => format!("{other:?}"),
    }
}

fn route_message(e: RouteError) -> String {
    match e {
        RouteError::DuplicateVector => {
            "another route (or the clock) already has this vector".to_owned()
        }
        RouteError::ExclusiveShared => {
            "an exclusive line is given to more than one partition".to_owned()
        }
        RouteError::Unhandled => "the route has no target and no kernel-first handler".to_owned(),
        RouteError::UnknownPartition { .. } => "this target's partition does not exist".to_owned(),
        RouteError::NotPermitted { .. } | RouteError::PortNotBound { .. } => {
            "this target's port is not bound to the route's line (source = { line = VECTOR })"
                .to_owned()
        }
        RouteError::DuplicateTarget { .. } => {
            "this target's partition is already a target".to_owned()
        }
        RouteError::ZeroAckTimeout => {
            "a level line needs ack_timeout of at least 1 tick".to_owned()
        }
        RouteError::LevelPortCounts { .. } => {
            "a level line's port must be mode = \"coalescing\"".to_owned()
        }
        RouteError::TooManyLevelTargets => {
            format!("a level line has at most {} targets", irq_router::config::MAX_LEVEL_TARGETS)
        }
        RouteError::LevelBudget => {
            "a level line takes no budget (it stays masked until acknowledged)".to_owned()
        }
        other => format!("{other:?}"),
    }
}
