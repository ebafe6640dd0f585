//! Security tests of the hypercall surface: for every call and every partition, naming
//! another partition's port, a channel the caller does not own, a vector it may not bind,
//! memory that is not its own, or registers that do not decode, gives the documented typed
//! error and changes nothing; and no call, hostile or not, changes another partition.
//!
//! Every check compares [`Snapshot`]s: everything the router lets a kernel observe about
//! every partition (all 64 ports' status and context, statistics, handlers, trap records,
//! mode, vCPU and time account, shared page bytes, its health-monitor records) plus the
//! module-wide state (running partition, stop flag, health counters) and the requests
//! made of the kernel (the recording adapter's actions).
//!
//! The only changes a failing call may make, and the tests assert exactly these:
//! * a call whose registers do not decode is a `HmKind::IllegalHypercall` event of the
//!   caller (docs/hypercalls.md, "Every call has an answer"): one record in the log ring
//!   (`partition: Some(caller)`, `detail: number`, the caller's table action, here
//!   `Ignore` for every partition), one more in the caller's `health_counts`, and one
//!   `Action::Log` of that record;
//! * a call that decodes and fails in dispatch changes nothing at all.
//!
//! The only change a successful call may make outside its caller is the documented one of
//! `notify`: the channel's destination port is raised (pending + 1, context with the
//! sender, `stats.raised` and `stats.pending` + 1) and, if that made it deliverable, the
//! destination is signalled (page flag, kick or upcall). Shared level lines are
//! unmasked when the caller's acknowledgement was the last owed (the documented protocol).
//!
//! Not observable through the public API, so not in the snapshot: a port's own handler
//! (only `begin_service` shows it) and the level lines' owing sets and storm budgets
//! (their effects show up as `Unmask` / `Mask` actions, which are compared).

mod common;

use core::num::NonZeroU64;

use common::{
    Adapter, CHANNEL, CLOCK, CONFIG, CPU0, ERRORS, FRAME, LEVEL, P, SHARED, SHARED_PORT, STORMY,
    System, TIMER, WINDOW, boot, pid, port, run, system,
};
use irq_router::adapter::Action;
use irq_router::config::{HmKind, Trigger};
use irq_router::health::{HM_LOG_LEN, HmRecord};
use irq_router::hypercall::{
    CallNumber, ErrorCode, RawCall, Request, decode, decode_reply, encode, encode_request,
};
use irq_router::{Mode, Trap};
use notify_core::{Context, PortStatus, Sender, Source, Stats};
use proptest::prelude::{ProptestConfig, Strategy, any, prop_assert};
use proptest::{prop_oneof, proptest};
use vcpu_state::{PAGE_LEN, Partition, SharedPage};

/// Ports per partition (`Router<P, 1>`).
const PORTS: usize = 64;
/// The recording adapter's memory map: partition `p` owns
/// `MEMORY_BASE + p * MEMORY_SIZE .. + MEMORY_SIZE`.
const MEMORY_BASE: u64 = 0x40_0000;
const MEMORY_SIZE: u64 = 0x10_0000;

fn memory(p: usize) -> u64 {
    MEMORY_BASE + p as u64 * MEMORY_SIZE
}

fn raw(call: CallNumber, args: [u64; 4]) -> RawCall {
    RawCall { number: call.raw(), args }
}

// ---------------------------------------------------------------------------------------
// Snapshots
// ---------------------------------------------------------------------------------------

/// Everything observable about one partition.
#[derive(Clone, Debug, PartialEq)]
struct View {
    /// `status()` of every port: binding, pending, masked, in service.
    ports: Vec<PortStatus>,
    /// `context()` of every port (`Err(NotBound)` for unbound ones).
    contexts: Vec<Result<Option<Context>, notify_core::Error>>,
    stats: Stats,
    upcall_entry: Option<NonZeroU64>,
    fault_handler: Option<NonZeroU64>,
    traps: u64,
    mode: Mode,
    /// vCPU and time account.
    cpu: Partition,
    /// The shared page, byte for byte.
    page: [u8; PAGE_LEN],
    /// Its health-monitor ring, oldest first.
    log: Vec<HmRecord>,
    /// Its health-monitor records ever made, and those lost from its ring.
    health_counts: (u64, u64),
}

/// Everything observable about the router, and what it asked of the kernel.
#[derive(Clone, Debug, PartialEq)]
struct Snapshot {
    partitions: Vec<View>,
    running: Option<usize>,
    stopped: bool,
    /// The module's health-monitor counts (records of no partition).
    health_counts: (u64, u64),
    /// Records of no partition (module-level).
    module_log: Vec<HmRecord>,
    /// The adapter's recorded actions (drained before each call under test).
    actions: Vec<Action>,
}

fn snapshot(router: &System, pages: &[SharedPage; P], adapter: &Adapter) -> Snapshot {
    let ring_of = |scope: Option<notify_core::PartitionId<P>>| {
        let mut ring = [HmRecord {
            tick: 0,
            partition: None,
            kind: HmKind::Trap,
            action: irq_router::config::HmAction::Ignore,
            detail: 0,
            extra: 0,
            discarded: 0,
        }; HM_LOG_LEN];
        let n = router.health_log(scope, &mut ring);
        ring[..n].to_vec()
    };
    let partitions = (0..P)
        .map(|p| {
            let table = router.events().partition(pid(p));
            let ports: Vec<_> = (0..PORTS as u16).map(|i| table.status(port(i))).collect();
            let contexts = (0..PORTS as u16).map(|i| table.context(port(i))).collect();
            View {
                ports,
                contexts,
                stats: table.stats(),
                upcall_entry: table.upcall_entry(),
                fault_handler: table.fault_handler(),
                traps: table.trap_count(),
                mode: router.mode(pid(p)),
                cpu: router.partition_cpu(pid(p)),
                page: pages[p].to_bytes(),
                log: ring_of(Some(pid(p))),
                health_counts: router.health_counts(Some(pid(p))),
            }
        })
        .collect();
    Snapshot {
        partitions,
        running: router.running(irq_router::CpuId::BOOT).map(|p| p.index()),
        stopped: router.stopped(),
        health_counts: router.health_counts(None),
        module_log: ring_of(None),
        actions: adapter.actions().copied().collect(),
    }
}

/// The fields of `actual` that differ from `expected`, one line each.
fn diff_view(q: usize, expected: &View, actual: &View) -> Vec<String> {
    let mut out = Vec::new();
    for i in 0..PORTS {
        if expected.ports[i] != actual.ports[i] {
            out.push(format!(
                "partition {q} port {i} status: expected {:?}, got {:?}",
                expected.ports[i], actual.ports[i]
            ));
        }
        if expected.contexts[i] != actual.contexts[i] {
            out.push(format!(
                "partition {q} port {i} context: expected {:?}, got {:?}",
                expected.contexts[i], actual.contexts[i]
            ));
        }
    }
    macro_rules! field {
        ($f:ident) => {
            if expected.$f != actual.$f {
                out.push(format!(
                    "partition {q} {}: expected {:?}, got {:?}",
                    stringify!($f),
                    expected.$f,
                    actual.$f
                ));
            }
        };
    }
    field!(stats);
    field!(upcall_entry);
    field!(fault_handler);
    field!(traps);
    field!(mode);
    field!(cpu);
    field!(page);
    field!(log);
    out
}

fn diff(expected: &Snapshot, actual: &Snapshot) -> Vec<String> {
    let mut out = Vec::new();
    for q in 0..P {
        out.extend(diff_view(q, &expected.partitions[q], &actual.partitions[q]));
    }
    macro_rules! field {
        ($f:ident) => {
            if expected.$f != actual.$f {
                out.push(format!(
                    "{}: expected {:?}, got {:?}",
                    stringify!($f),
                    expected.$f,
                    actual.$f
                ));
            }
        };
    }
    field!(running);
    field!(stopped);
    field!(health_counts);
    field!(module_log);
    field!(actions);
    out
}

// ---------------------------------------------------------------------------------------
// The system in mid-run
// ---------------------------------------------------------------------------------------

struct World {
    router: Box<System>,
    pages: &'static [SharedPage; P],
    adapter: Adapter,
}

impl World {
    fn snapshot(&self) -> Snapshot {
        snapshot(&self.router, self.pages, &self.adapter)
    }

    fn hypercall(&mut self, p: usize, call: &RawCall) -> [u64; 2] {
        self.router.hypercall(&CPU0, pid(p), call, &mut self.adapter)
    }

    fn now(&self) -> u64 {
        self.adapter.now
    }

    /// Drains the adapter, then takes each partition's pending upcall decision (a
    /// harmless call) until a round asks nothing of the kernel: what is left is stable.
    fn settle(&mut self) {
        for _ in 0..4 {
            let _ = self.adapter.take().count();
            for p in 0..P {
                let _ = self.router.call(&CPU0, pid(p), Request::AbiVersion, &mut self.adapter);
            }
            if self.adapter.actions().next().is_none() {
                return;
            }
        }
        panic!("the system does not settle: {:?}", self.adapter.actions().collect::<Vec<_>>());
    }
}

/// A system in the second major frame with partition `running` inside its window (tick
/// `FRAME + running * WINDOW + 4`), settled, and with something of every kind about:
/// * partition 0 has its flag open and never acknowledges: ports in service, a trap
///   delivered to its fault handler (one trap record), its error port masked, two
///   notifies sent on its channel;
/// * partition 1 has the channel's destination port pending (count 2, sender 0) and
///   detached the shared line (its port 2 is unbound, partition 0's is bound);
/// * partition 2 opened its flag by hypercall (ports in service), its storm line raised;
/// * the level line fired a tick ago: partitions 0 and 1 owe an acknowledgement;
/// * the log holds acknowledgement timeouts of partitions 0 and 1 and partition 0's
///   trap.
fn mid_run(running: usize) -> World {
    let (router, pages) = system();
    let mut adapter = Adapter::new();
    boot(&router, &mut adapter);
    let _ = pages[0].guest().sti();
    run(&router, &mut adapter, 0, 2);
    for _ in 0..2 {
        router.on_hardware_irq(&CPU0, SHARED, &mut adapter);
        router.on_hardware_irq(&CPU0, STORMY, &mut adapter);
    }
    router.on_hardware_irq(&CPU0, LEVEL, &mut adapter);
    for _ in 0..2 {
        assert_eq!(
            router.call(&CPU0, pid(0), Request::Notify { port: port(CHANNEL) }, &mut adapter),
            Ok(0)
        );
    }
    router.on_trap(
        &CPU0,
        pid(0),
        Trap { vector: 14, error_code: 2, address: memory(0) + 0x10 },
        &mut adapter,
    );
    assert_eq!(
        router.call(&CPU0, pid(0), Request::Mask { port: port(ERRORS) }, &mut adapter),
        Ok(0)
    );
    run(&router, &mut adapter, 2, WINDOW + 2);
    assert_eq!(
        router.call(&CPU0, pid(1), Request::DetachIrq { vector: SHARED }, &mut adapter),
        Ok(2),
        "the two pending events are handed back"
    );
    run(&router, &mut adapter, WINDOW + 2, 2 * WINDOW + 2);
    assert_eq!(router.call(&CPU0, pid(2), Request::EnableIrqs, &mut adapter), Ok(0));
    let target = FRAME + running as u64 * WINDOW + 4;
    run(&router, &mut adapter, 2 * WINDOW + 2, target - 1);
    router.on_hardware_irq(&CPU0, LEVEL, &mut adapter);
    run(&router, &mut adapter, target - 1, target);
    assert_eq!(router.running(irq_router::CpuId::BOOT), Some(pid(running)));
    let mut world = World { router, pages, adapter };
    world.settle();
    world
}

// ---------------------------------------------------------------------------------------
// Configuration facts
// ---------------------------------------------------------------------------------------

/// The port the route of `vector` raises in partition `p`, if it names `p`.
fn route_port(p: usize, vector: u8) -> Option<u16> {
    CONFIG
        .routes
        .iter()
        .find(|r| r.vector == vector)?
        .targets
        .iter()
        .find(|t| usize::from(t.partition) == p)
        .map(|t| t.port)
}

/// The vectors routed to `p` with the port they raise.
fn own_vectors(p: usize) -> Vec<(u8, u16)> {
    (0..=255u8).filter_map(|v| route_port(p, v).map(|port| (v, port))).collect()
}

fn is_level_routed_to(vector: u8, p: usize) -> bool {
    CONFIG.routes.iter().any(|r| {
        r.vector == vector && r.trigger == Trigger::Level && route_port(p, vector).is_some()
    })
}

/// Ports bound in some other partition and not in `p`, each with one such owner.
fn foreign_ports(snap: &Snapshot, p: usize) -> Vec<(u16, usize)> {
    (0..PORTS)
        .filter(|&i| snap.partitions[p].ports[i].binding.is_none())
        .filter_map(|i| {
            (0..P)
                .find(|&q| q != p && snap.partitions[q].ports[i].binding.is_some())
                .map(|q| (i as u16, q))
        })
        .collect()
}

/// A port no partition has bound.
fn nobodys_port(snap: &Snapshot) -> u16 {
    (0..PORTS)
        .rev()
        .find(|&i| snap.partitions.iter().all(|v| v.ports[i].binding.is_none()))
        .expect("some port is free everywhere") as u16
}

/// Addresses of code a partition may not register: other partitions' memory, the bytes
/// just outside its own, and far away.
fn foreign_code(p: usize) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for q in (0..P).filter(|&q| q != p) {
        out.push((format!("partition {q}'s first byte"), memory(q)));
        out.push((format!("partition {q}'s code"), memory(q) + 0x1234));
        out.push((format!("partition {q}'s last byte"), memory(q) + MEMORY_SIZE - 1));
    }
    out.push(("the byte below its memory".into(), memory(p) - 1));
    out.push(("the byte past its memory".into(), memory(p) + MEMORY_SIZE));
    out.push(("address 1".into(), 1));
    out.push(("the top half".into(), 0x8000_0000_0000_0000));
    out.push(("u64::MAX".into(), u64::MAX));
    out
}

// ---------------------------------------------------------------------------------------
// Hostile cases
// ---------------------------------------------------------------------------------------

/// One hostile call and its documented answer.
#[derive(Clone, Debug)]
struct Case {
    what: String,
    raw: RawCall,
    expect: ErrorCode,
    /// The registers do not decode (an illegal hypercall for the health monitor).
    illegal: bool,
}

impl Case {
    /// A call that decodes and must fail in dispatch.
    fn dispatch(what: impl Into<String>, raw: RawCall, expect: ErrorCode) -> Self {
        let what = what.into();
        assert!(decode::<1>(&raw).is_ok(), "test case {what}: {raw:?} must decode");
        Self { what, raw, expect, illegal: false }
    }

    /// A call whose registers must not decode.
    fn illegal(what: impl Into<String>, raw: RawCall, expect: ErrorCode) -> Self {
        let what = what.into();
        assert!(decode::<1>(&raw).is_err(), "test case {what}: {raw:?} must not decode");
        Self { what, raw, expect, illegal: true }
    }
}

/// Registers that decode for `call` from `p` (what dispatch does with them is not the
/// point: they are the base the register-level cases spoil).
fn decodable_args(call: CallNumber, p: usize) -> [u64; 4] {
    match call {
        CallNumber::RequestIrq => [u64::from(SHARED), 2, 0, 0],
        CallNumber::DetachIrq => [u64::from(SHARED), 0, 0, 0],
        CallNumber::Acknowledge
        | CallNumber::TakeCount
        | CallNumber::Mask
        | CallNumber::Unmask
        | CallNumber::Notify => [0; 4],
        CallNumber::RegisterUpcall | CallNumber::RegisterFaultHandler => {
            [memory(p) + 0x100, 0, 0, 0]
        }
        CallNumber::RegisterPortHandler => [0, memory(p) + 0x100, 0, 0],
        CallNumber::ConsoleWrite => [memory(p), 8, 0, 0],
        CallNumber::SetIsrLevel | CallNumber::ExecStopError => [1, 0, 0, 0],
        _ => [0; 4],
    }
}

/// Out-of-range port registers: past the 64 ports, and values a truncating decoder would
/// turn into a valid port (0, or the channel port).
const BAD_PORTS: [u64; 8] =
    [64, 65, 0xffff, 0x1_0000, 1 << 32, (1 << 32) | CHANNEL as u64, u64::MAX, 1 << 63];
/// Out-of-range vector registers, some of which truncate to a routed vector.
const BAD_VECTORS: [u64; 5] =
    [256, 0x100 | CLOCK as u64, (1 << 32) | SHARED as u64, u64::MAX, 1 << 63];

/// The register-level cases of `call` from `p`: reserved registers set, out-of-range
/// ports, vectors and 32-bit values.
fn register_cases(call: CallNumber, p: usize) -> Vec<Case> {
    let mut out = Vec::new();
    let base = decodable_args(call, p);
    for index in call.arg_count()..4 {
        for value in [1, u64::MAX] {
            let mut args = base;
            args[index] = value;
            out.push(Case::illegal(
                format!("{} with reserved args[{index}] = {value:#x}", call.name()),
                raw(call, args),
                ErrorCode::ReservedArgument,
            ));
        }
    }
    let port_arg = match call {
        CallNumber::RequestIrq => Some(1),
        CallNumber::Acknowledge
        | CallNumber::TakeCount
        | CallNumber::Mask
        | CallNumber::Unmask
        | CallNumber::Notify
        | CallNumber::RegisterPortHandler => Some(0),
        _ => None,
    };
    if let Some(index) = port_arg {
        for bad in BAD_PORTS {
            let mut args = base;
            args[index] = bad;
            out.push(Case::illegal(
                format!("{} of port {bad:#x}", call.name()),
                raw(call, args),
                ErrorCode::InvalidArgument,
            ));
        }
    }
    if matches!(call, CallNumber::RequestIrq | CallNumber::DetachIrq) {
        for bad in BAD_VECTORS {
            let mut args = base;
            args[0] = bad;
            out.push(Case::illegal(
                format!("{} of vector {bad:#x}", call.name()),
                raw(call, args),
                ErrorCode::InvalidArgument,
            ));
        }
    }
    if matches!(call, CallNumber::SetIsrLevel | CallNumber::ExecStopError) {
        for bad in [1 << 32, u64::MAX] {
            out.push(Case::illegal(
                format!("{} of {bad:#x}", call.name()),
                raw(call, [bad, 0, 0, 0]),
                ErrorCode::InvalidArgument,
            ));
        }
    }
    out
}

/// Every hostile case of `call` from partition `p` in the state `snap`.
fn hostile_cases(call: CallNumber, p: usize, snap: &Snapshot) -> Vec<Case> {
    let mut out = register_cases(call, p);
    let own = &snap.partitions[p];
    let foreign = foreign_ports(snap, p);
    let free = nobodys_port(snap);
    let port_call = |port: u16| raw(call, [u64::from(port), 0, 0, 0]);
    match call {
        CallNumber::RequestIrq => {
            for v in 0..=255u8 {
                match route_port(p, v) {
                    // A vector the caller may not bind: another partition's (with that
                    // partition's port and with a free port of the caller), unrouted,
                    // or the clock.
                    None => {
                        let mut ports = vec![free];
                        for q in (0..P).filter(|&q| q != p) {
                            ports.extend(route_port(q, v));
                        }
                        for port in ports {
                            out.push(Case::dispatch(
                                format!("request_irq of vector {v:#x} on port {port}"),
                                raw(call, [u64::from(v), u64::from(port), 0, 0]),
                                ErrorCode::PermissionDenied,
                            ));
                        }
                    }
                    // A vector routed to it, on any port but the one the route names.
                    Some(right) => {
                        for port in (0..PORTS as u16).filter(|&i| i != right) {
                            out.push(Case::dispatch(
                                format!("request_irq of its vector {v:#x} on wrong port {port}"),
                                raw(call, [u64::from(v), u64::from(port), 0, 0]),
                                ErrorCode::PermissionDenied,
                            ));
                        }
                        if own.ports[usize::from(right)].binding.is_some() {
                            out.push(Case::dispatch(
                                format!("request_irq of its vector {v:#x}, already bound"),
                                raw(call, [u64::from(v), u64::from(right), 0, 0]),
                                ErrorCode::AlreadyBound,
                            ));
                        }
                    }
                }
            }
        }
        CallNumber::DetachIrq => {
            for v in 0..=255u8 {
                match route_port(p, v) {
                    None => out.push(Case::dispatch(
                        format!("detach_irq of vector {v:#x}, not routed to it"),
                        raw(call, [u64::from(v), 0, 0, 0]),
                        ErrorCode::PermissionDenied,
                    )),
                    Some(right) if own.ports[usize::from(right)].binding.is_none() => {
                        out.push(Case::dispatch(
                            format!("detach_irq of its vector {v:#x}, detached already"),
                            raw(call, [u64::from(v), 0, 0, 0]),
                            ErrorCode::NotBound,
                        ));
                    }
                    Some(_) => {}
                }
            }
        }
        CallNumber::Acknowledge
        | CallNumber::TakeCount
        | CallNumber::Mask
        | CallNumber::Unmask
        | CallNumber::RegisterPortHandler => {
            let with_entry = |port: u16, entry: u64| raw(call, [u64::from(port), entry, 0, 0]);
            for (port, q) in foreign.iter().copied().chain([(free, p)]) {
                let whose = if q == p { "nobody's".into() } else { format!("partition {q}'s") };
                if call == CallNumber::RegisterPortHandler {
                    for entry in [memory(p) + 0x100, 0] {
                        out.push(Case::dispatch(
                            format!("register_port_handler({entry:#x}) on {whose} port {port}"),
                            with_entry(port, entry),
                            ErrorCode::NotBound,
                        ));
                    }
                } else {
                    out.push(Case::dispatch(
                        format!("{} of {whose} port {port}", call.name()),
                        port_call(port),
                        ErrorCode::NotBound,
                    ));
                }
            }
            if call == CallNumber::RegisterPortHandler {
                let bound = (0..PORTS as u16)
                    .find(|&i| own.ports[usize::from(i)].binding.is_some())
                    .expect("a bound port");
                for (what, entry) in foreign_code(p) {
                    out.push(Case::dispatch(
                        format!("register_port_handler on its port {bound} at {what}"),
                        with_entry(bound, entry),
                        ErrorCode::BadAddress,
                    ));
                }
            }
        }
        CallNumber::Notify => {
            for i in 0..PORTS as u16 {
                let expect = match own.ports[usize::from(i)].binding.map(|b| b.source) {
                    // A channel end it does not own (the destination end).
                    Some(Source::Channel(c)) => {
                        let channel = CONFIG.channels[usize::from(c)];
                        if (usize::from(channel.source.partition), channel.source.port) == (p, i) {
                            continue;
                        }
                        ErrorCode::PermissionDenied
                    }
                    // Its own port bound to something else, another partition's port,
                    // nobody's port: no channel.
                    _ => ErrorCode::NotAChannel,
                };
                let whose = match foreign.iter().find(|(f, _)| *f == i) {
                    Some((_, q)) => format!("partition {q}'s port {i}"),
                    None => format!("its port {i}"),
                };
                out.push(Case::dispatch(format!("notify on {whose}"), port_call(i), expect));
            }
        }
        CallNumber::RegisterUpcall | CallNumber::RegisterFaultHandler => {
            for (what, entry) in foreign_code(p) {
                out.push(Case::dispatch(
                    format!("{} at {what}", call.name()),
                    raw(call, [entry, 0, 0, 0]),
                    ErrorCode::BadAddress,
                ));
            }
        }
        CallNumber::ConsoleWrite => {
            let write = |addr: u64, len: u64| raw(call, [addr, len, 0, 0]);
            for q in (0..P).filter(|&q| q != p) {
                for (addr, len) in
                    [(memory(q), 16), (memory(q) + MEMORY_SIZE - 16, 16), (memory(q) + 0x100, 0)]
                {
                    out.push(Case::dispatch(
                        format!("console_write of {len} bytes at {addr:#x} (partition {q})"),
                        write(addr, len),
                        ErrorCode::BadAddress,
                    ));
                }
            }
            let top = memory(p) + MEMORY_SIZE;
            for (what, addr, len) in [
                ("across its end", top - 8, 16),
                ("across its start", memory(p) - 8, 16),
                ("just past its end", top, 1),
                ("at address 0", 0, 1),
                ("at the top of the address space", u64::MAX - 256, 256),
            ] {
                out.push(Case::dispatch(
                    format!("console_write {what}"),
                    write(addr, len),
                    ErrorCode::BadAddress,
                ));
            }
            for (what, addr, len) in [
                ("257 bytes (over the maximum)", memory(p), 257),
                ("u64::MAX bytes", memory(p), u64::MAX),
                ("wrapping the address space", u64::MAX - 3, 16),
                ("one byte at u64::MAX", u64::MAX, 1),
            ] {
                out.push(Case::illegal(
                    format!("console_write of {what}"),
                    write(addr, len),
                    ErrorCode::BadAddress,
                ));
            }
        }
        // No argument names anything of another partition: the register-level cases
        // only (their effect on other partitions is checked by
        // `legitimate_calls_never_change_another_partition`).
        CallNumber::AbiVersion
        | CallNumber::EnableIrqs
        | CallNumber::DisableIrqs
        | CallNumber::Flash
        | CallNumber::SetIsrLevel
        | CallNumber::Idle
        | CallNumber::ReadClock
        | CallNumber::ExecStopError
        | CallNumber::StartReason
        | CallNumber::UpcallReturn
        | CallNumber::PingAnswer => {}
    }
    out
}

/// Makes `case` from partition `p` and checks the answer and that the snapshot changed by
/// exactly what is documented (nothing, or the illegal-call record).
fn try_hostile(world: &mut World, p: usize, case: &Case) -> Result<(), String> {
    let before = world.snapshot();
    let answer = world.hypercall(p, &case.raw);
    let after = world.snapshot();
    let mut expected = before;
    if case.illegal {
        let record = HmRecord {
            tick: world.now(),
            partition: Some(p as u16),
            kind: HmKind::IllegalHypercall,
            action: CONFIG.partitions[p].health.action(HmKind::IllegalHypercall),
            detail: case.raw.number,
            extra: 0,
            discarded: 0,
        };
        expected.partitions[p].health_counts.0 += 1;
        expected.partitions[p].log.push(record);
        expected.actions.push(Action::Log(record));
    }
    let mut problems = Vec::new();
    if answer != encode(Err(case.expect)) {
        problems.push(format!(
            "answer: expected {:?}, got {:?}",
            case.expect,
            decode_reply(answer).map_or_else(|| format!("{answer:?}"), |r| format!("{r:?}"))
        ));
    }
    problems.extend(diff(&expected, &after));
    if problems.is_empty() { Ok(()) } else { Err(problems.join("; ")) }
}

/// Every hostile case of `call`, from every partition, with every partition running in
/// turn. Returns how many cases ran.
fn check_hostile(call: CallNumber) -> usize {
    let mut failures = Vec::new();
    let mut count = 0;
    for running in 0..P {
        let snap = mid_run(running).snapshot();
        for p in 0..P {
            for case in hostile_cases(call, p, &snap) {
                count += 1;
                let mut world = mid_run(running);
                if let Err(problem) = try_hostile(&mut world, p, &case) {
                    failures.push(format!(
                        "running {running}, caller {p}, {} {:?}: {problem}",
                        case.what, case.raw
                    ));
                }
            }
        }
    }
    assert!(count > 0, "{} has no hostile case", call.name());
    eprintln!("{}: {count} hostile cases", call.name());
    assert!(
        failures.is_empty(),
        "{} of {count} hostile {} cases failed; first ones:\n{}",
        failures.len(),
        call.name(),
        failures.iter().take(12).cloned().collect::<Vec<_>>().join("\n")
    );
    count
}

// ---------------------------------------------------------------------------------------
// Tests: the snapshot and the state are what the other tests rely on
// ---------------------------------------------------------------------------------------

#[test]
fn the_memory_map_and_the_mid_run_state_are_what_the_tests_assume() {
    assert_eq!(Adapter::new().memory, (MEMORY_BASE, MEMORY_SIZE));
    for running in 0..P {
        let world = mid_run(running);
        let snap = world.snapshot();
        assert_eq!(snap.running, Some(running));
        assert!(snap.actions.is_empty());
        let [p0, p1, p2] = &snap.partitions[..] else { unreachable!() };
        assert!(p0.ports.iter().any(|s| s.in_service), "partition 0 has a port in service");
        assert!(p0.ports[usize::from(ERRORS)].masked);
        assert_eq!(p0.traps, 1);
        assert!(p2.ports.iter().any(|s| s.in_service), "partition 2 has a port in service");
        let channel = p1.ports[usize::from(CHANNEL)];
        assert_eq!(channel.pending, 2, "destination end pending");
        assert_eq!(
            p1.contexts[usize::from(CHANNEL)].map(|c| c.map(|c| c.sender)),
            Ok(Some(Sender::Partition(0)))
        );
        assert_eq!(p1.ports[usize::from(SHARED_PORT)].binding, None, "partition 1 detached");
        assert!(p0.ports[usize::from(SHARED_PORT)].binding.is_some());
        assert!(!p0.log.is_empty() && !p1.log.is_empty(), "records of both in the ring");
        for view in &snap.partitions {
            assert!(view.health_counts.0 < HM_LOG_LEN as u64 / 2, "room in the rings");
        }
        // A snapshot of a settled system is stable.
        assert_eq!(world.snapshot(), snap);
    }
}

#[test]
fn hostile_tables_cover_every_call_from_every_partition() {
    let snap = mid_run(0).snapshot();
    for call in CallNumber::ALL {
        assert!(HOSTILE_TESTED.contains(&call), "{} has no hostile test", call.name());
        for p in 0..P {
            assert!(!hostile_cases(call, p, &snap).is_empty());
        }
    }
}

// ---------------------------------------------------------------------------------------
// Tests: hostile arguments, one test per call (so that a bug in one call does not hide
// the others)
// ---------------------------------------------------------------------------------------

/// The calls with a `hostile_*` test below.
const HOSTILE_TESTED: [CallNumber; CallNumber::COUNT] = [
    CallNumber::AbiVersion,
    CallNumber::RequestIrq,
    CallNumber::DetachIrq,
    CallNumber::EnableIrqs,
    CallNumber::DisableIrqs,
    CallNumber::Flash,
    CallNumber::SetIsrLevel,
    CallNumber::Idle,
    CallNumber::Acknowledge,
    CallNumber::TakeCount,
    CallNumber::Mask,
    CallNumber::Unmask,
    CallNumber::Notify,
    CallNumber::ReadClock,
    CallNumber::RegisterUpcall,
    CallNumber::RegisterFaultHandler,
    CallNumber::RegisterPortHandler,
    CallNumber::ConsoleWrite,
    CallNumber::ExecStopError,
    CallNumber::StartReason,
    CallNumber::UpcallReturn,
    CallNumber::PingAnswer,
];

/// The calls without an argument that names anything: reserved registers set are
/// `ReservedArgument`, an illegal call, recorded and nothing else.
#[test]
fn hostile_registers_of_calls_without_arguments() {
    for call in CallNumber::ALL.into_iter().filter(|c| c.arg_count() == 0) {
        check_hostile(call);
    }
}

/// Levels and error codes past 32 bits, and reserved registers.
#[test]
fn hostile_registers_of_set_isr_level_and_exec_stop_error() {
    check_hostile(CallNumber::SetIsrLevel);
    check_hostile(CallNumber::ExecStopError);
}

/// Another partition's vector (with its port or a free one), unrouted vectors, the clock:
/// `PermissionDenied`; its own vector on any other port: `PermissionDenied`; on its bound
/// port: `AlreadyBound`; vectors and ports out of range: `InvalidArgument`.
#[test]
fn hostile_request_irq() {
    check_hostile(CallNumber::RequestIrq);
}

/// Any vector not routed to the caller: `PermissionDenied`; its own vector once detached:
/// `NotBound`; out of range: `InvalidArgument`.
#[test]
fn hostile_detach_irq() {
    check_hostile(CallNumber::DetachIrq);
}

/// Another partition's port (not bound in the caller) and nobody's port: `NotBound`
/// (docs/hypercalls.md lists it for acknowledge).
#[test]
fn hostile_acknowledge() {
    check_hostile(CallNumber::Acknowledge);
}

/// Another partition's port (not bound in the caller) and nobody's port: `NotBound`.
#[test]
fn hostile_take_count() {
    check_hostile(CallNumber::TakeCount);
}

/// Another partition's port (not bound in the caller) and nobody's port: `NotBound`, and
/// the caller's (unbound) port is not marked masked.
#[test]
fn hostile_mask() {
    check_hostile(CallNumber::Mask);
}

/// Another partition's port (not bound in the caller) and nobody's port: `NotBound`.
#[test]
fn hostile_unmask() {
    check_hostile(CallNumber::Unmask);
}

/// The destination end of a channel: `PermissionDenied`; any other port that is not the
/// caller's channel source (its own other ports, another partition's, nobody's):
/// `NotAChannel`. The destination is not raised.
#[test]
fn hostile_notify() {
    check_hostile(CallNumber::Notify);
}

/// Code in another partition's memory, just outside its own, far away: `BadAddress`.
#[test]
fn hostile_register_upcall() {
    check_hostile(CallNumber::RegisterUpcall);
}

/// Code in another partition's memory, just outside its own, far away: `BadAddress`.
#[test]
fn hostile_register_fault_handler() {
    check_hostile(CallNumber::RegisterFaultHandler);
}

/// Another partition's port and nobody's: `NotBound` (with a good address or 0); its own
/// bound port with code outside its memory: `BadAddress`.
#[test]
fn hostile_register_port_handler() {
    check_hostile(CallNumber::RegisterPortHandler);
}

/// Buffers in another partition's memory, straddling its own bounds, too long, wrapping:
/// `BadAddress`, and nothing is written.
#[test]
fn hostile_console_write() {
    check_hostile(CallNumber::ConsoleWrite);
}

/// Numbers that name no call, including ones a truncating decoder would read as a call:
/// `UnknownCall`, an illegal call of the caller.
#[test]
fn unknown_call_numbers() {
    let numbers = [CallNumber::COUNT as u64, 23, 0xff, 1 << 32, (1 << 32) | 12, 1 << 63, u64::MAX];
    for running in 0..P {
        for p in 0..P {
            for number in numbers {
                for args in [[0; 4], [u64::from(SHARED), 2, 0, 0], [u64::MAX; 4]] {
                    let call = RawCall { number, args };
                    let case =
                        Case::illegal(format!("number {number:#x}"), call, ErrorCode::UnknownCall);
                    let mut world = mid_run(running);
                    if let Err(problem) = try_hostile(&mut world, p, &case) {
                        panic!("running {running}, caller {p}, {call:?}: {problem}");
                    }
                }
            }
        }
    }
}

/// The health-monitor ring is shared by the module: illegal calls of one partition must
/// not push another partition's records out of it.
#[test]
fn illegal_calls_cannot_evict_another_partitions_health_records() {
    let mut world = mid_run(2);
    let before = world.snapshot();
    assert!(!before.partitions[0].log.is_empty() && !before.partitions[1].log.is_empty());
    for _ in 0..HM_LOG_LEN {
        let answer = world.hypercall(2, &RawCall { number: u64::MAX, args: [0; 4] });
        assert_eq!(answer, encode(Err(ErrorCode::UnknownCall)));
    }
    let after = world.snapshot();
    for q in 0..2 {
        assert_eq!(after.partitions[q].log, before.partitions[q].log, "partition {q}'s records");
    }
}

// ---------------------------------------------------------------------------------------
// Tests: calls that only concern the caller never change another partition
// ---------------------------------------------------------------------------------------

/// Calls a partition may legitimately make (they succeed or fail on its own state).
fn own_cases(call: CallNumber, p: usize) -> Vec<RawCall> {
    let one = |a: u64| raw(call, [a, 0, 0, 0]);
    let two = |a: u64, b: u64| raw(call, [a, b, 0, 0]);
    match call {
        CallNumber::AbiVersion
        | CallNumber::EnableIrqs
        | CallNumber::DisableIrqs
        | CallNumber::Flash
        | CallNumber::Idle
        | CallNumber::ReadClock
        | CallNumber::StartReason
        | CallNumber::UpcallReturn
        | CallNumber::PingAnswer => vec![raw(call, [0; 4])],
        CallNumber::SetIsrLevel | CallNumber::ExecStopError => {
            vec![one(0), one(1), one(77), one(u64::from(u32::MAX))]
        }
        CallNumber::RequestIrq => {
            own_vectors(p).into_iter().map(|(v, port)| two(u64::from(v), u64::from(port))).collect()
        }
        CallNumber::DetachIrq => {
            own_vectors(p).into_iter().map(|(v, _)| one(u64::from(v))).collect()
        }
        CallNumber::Acknowledge
        | CallNumber::TakeCount
        | CallNumber::Mask
        | CallNumber::Unmask
        | CallNumber::Notify => (0..PORTS as u64).map(one).collect(),
        CallNumber::RegisterUpcall | CallNumber::RegisterFaultHandler => {
            vec![one(memory(p)), one(memory(p) + 0x2000), one(memory(p) + MEMORY_SIZE - 1), one(0)]
        }
        CallNumber::RegisterPortHandler => {
            (0..PORTS as u64).flat_map(|i| [two(i, memory(p) + 0x3000), two(i, 0)]).collect()
        }
        CallNumber::ConsoleWrite => vec![
            two(memory(p), 0),
            two(memory(p), 16),
            two(memory(p) + MEMORY_SIZE - 256, 256),
            two(memory(p) + MEMORY_SIZE, 0),
        ],
    }
}

/// Whether `action`, made during a call of `caller`, concerns only the caller (or the
/// partition it `notified`, documented).
fn concerns_caller(action: &Action, caller: usize, notified: Option<usize>) -> bool {
    let own = |q: u16| usize::from(q) == caller;
    match *action {
        Action::Upcall(q, _) | Action::Kick(q) => own(q) || notified == Some(usize::from(q)),
        Action::Wait(q) | Action::Restart(q, _) | Action::Idle(q) => own(q),
        Action::Console(q, addr, len) => {
            own(q) && addr >= memory(caller) && addr + len <= memory(caller) + MEMORY_SIZE
        }
        Action::Log(record) => record.partition == Some(caller as u16),
        // The caller's acknowledgement was the last one owed on a level line it shares.
        Action::Unmask(vector) => is_level_routed_to(vector, caller),
        Action::KernelHandler(_) | Action::Eoi(_) | Action::Mask(_) | Action::StopModule => false,
    }
}

/// The documented effect on the destination's view of a notify by partition `sender`
/// at `now` through a channel ending at `port`: one more pending, the sender's context,
/// one more raised. `signalled`: the port became deliverable and the destination was
/// told, so its vCPU and page may change, and the ports `upcalled` went into service.
fn notified(before: &View, port: usize, sender: usize, now: u64, upcalled: &[u16]) -> View {
    let mut view = before.clone();
    view.ports[port].pending += 1;
    view.contexts[port] = Ok(Some(Context {
        sender: Sender::Partition(sender as u16),
        timestamp: now,
        ..Context::default()
    }));
    view.stats.raised += 1;
    view.stats.pending += 1;
    for &p in upcalled {
        view.ports[usize::from(p)].in_service = true;
    }
    view
}

/// The destination of the channel whose source end is `caller`'s `port`, if any.
fn channel_destination(caller: usize, port: u16) -> Option<(usize, u16)> {
    CONFIG
        .channels
        .iter()
        .find(|c| (usize::from(c.source.partition), c.source.port) == (caller, port))
        .map(|c| (usize::from(c.destination.partition), c.destination.port))
}

/// Checks that the call `call` of `caller`, answered `answer`, changed nothing that is not
/// the caller's: other partitions' views (but for the documented notify effect), module
/// state, actions. `exact_notify`: the destination port was already pending, so the
/// notify must not signal it (no page, vCPU or service change).
fn check_others(
    before: &Snapshot,
    after: &Snapshot,
    caller: usize,
    call: &RawCall,
    answer: [u64; 2],
    now: u64,
    exact_notify: bool,
) -> Result<(), String> {
    let mut problems = Vec::new();
    if decode_reply(answer).is_none() {
        problems.push(format!("answer {answer:?} is not a reply"));
    }
    let notify = match decode::<1>(call) {
        Ok(Request::Notify { port }) if answer == encode(Ok(0)) => {
            channel_destination(caller, port.raw())
        }
        _ => None,
    };
    let new_actions = &after.actions[before.actions.len()..];
    for q in (0..P).filter(|&q| q != caller) {
        let expected = match notify {
            Some((dst, dst_port)) if dst == q => {
                let upcalled: Vec<u16> = new_actions
                    .iter()
                    .filter_map(|a| match a {
                        Action::Upcall(d, u) if usize::from(*d) == q => u.port,
                        _ => None,
                    })
                    .collect();
                let before_view = &before.partitions[q];
                let mut view = notified(before_view, usize::from(dst_port), caller, now, &upcalled);
                if exact_notify {
                    if before_view.ports[usize::from(dst_port)].pending == 0 {
                        problems.push("test setup: the destination was not pending".into());
                    }
                } else {
                    // Signalled: its flag, vCPU and clock page are the destination's
                    // business now.
                    view.cpu = after.partitions[q].cpu.clone();
                    view.page = after.partitions[q].page;
                }
                view
            }
            _ => before.partitions[q].clone(),
        };
        problems.extend(diff_view(q, &expected, &after.partitions[q]));
    }
    let foreign: Vec<_> = new_actions
        .iter()
        .filter(|a| {
            !concerns_caller(a, caller, notify.map(|(dst, _)| dst).filter(|_| !exact_notify))
        })
        .collect();
    if !foreign.is_empty() {
        problems.push(format!("actions beyond the caller: {foreign:?}"));
    }
    if after.running != before.running && before.running != Some(caller) {
        problems.push(format!("running: {:?} -> {:?}", before.running, after.running));
    }
    if after.stopped != before.stopped {
        problems.push("the module stopped".into());
    }
    if after.module_log != before.module_log {
        problems.push("module-level records changed".into());
    }
    let logged = new_actions.iter().filter(|a| matches!(a, Action::Log(_))).count() as u64;
    let (caller_before, caller_after) =
        (before.partitions[caller].health_counts, after.partitions[caller].health_counts);
    if after.health_counts != before.health_counts
        || caller_after.0 != caller_before.0 + logged
        || caller_after.1 < caller_before.1
    {
        problems.push(format!(
            "health counts: module {:?} -> {:?}, caller {caller_before:?} -> {caller_after:?} with {logged} records",
            before.health_counts, after.health_counts
        ));
    }
    if problems.is_empty() { Ok(()) } else { Err(problems.join("; ")) }
}

/// Every call, from every partition, with every partition running in turn, with
/// arguments that are the caller's own (its vectors, all its port numbers, its memory):
/// whatever the call does to the caller, every other partition is unchanged but for the
/// documented effect of `notify` on the channel's destination.
#[test]
fn legitimate_calls_never_change_another_partition() {
    let mut failures = Vec::new();
    let mut count = 0;
    for running in 0..P {
        for p in 0..P {
            for call in CallNumber::ALL {
                for registers in own_cases(call, p) {
                    count += 1;
                    let mut world = mid_run(running);
                    let before = world.snapshot();
                    let answer = world.hypercall(p, &registers);
                    let after = world.snapshot();
                    if let Err(problem) =
                        check_others(&before, &after, p, &registers, answer, world.now(), true)
                    {
                        failures.push(format!(
                            "running {running}, caller {p}, {registers:?}: {problem}"
                        ));
                    }
                }
            }
        }
    }
    assert!(count > 1000);
    eprintln!("{count} legitimate calls");
    assert!(
        failures.is_empty(),
        "{} of {count} cases changed another partition; first ones:\n{}",
        failures.len(),
        failures.iter().take(12).cloned().collect::<Vec<_>>().join("\n")
    );
}

/// The channel's source end notifies: exactly the documented effect on the destination.
#[test]
fn notify_by_the_channel_owner_raises_only_the_destination_port() {
    for running in 0..P {
        let mut world = mid_run(running);
        let before = world.snapshot();
        let answer =
            world.hypercall(0, &encode_request(&Request::<1>::Notify { port: port(CHANNEL) }));
        assert_eq!(answer, encode(Ok(0)));
        let after = world.snapshot();
        let mut expected = before.clone();
        expected.partitions[1] =
            notified(&before.partitions[1], usize::from(CHANNEL), 0, world.now(), &[]);
        assert_eq!(diff(&expected, &after), Vec::<String>::new());
    }
}

/// The checks are not vacuous: a change the call did not make, in another partition or
/// asked of the kernel for it, is caught.
#[test]
fn the_checks_catch_a_change_in_another_partition() {
    use irq_router::adapter::KernelAdapter;
    let mut world = mid_run(0);
    let call = raw(CallNumber::AbiVersion, [0; 4]);
    let before = world.snapshot();
    let answer = world.hypercall(2, &call);
    let _ = world.router.events().partition(pid(1)).raise(port(TIMER), None);
    let after = world.snapshot();
    assert!(check_others(&before, &after, 2, &call, answer, world.now(), false).is_err());
    assert!(!diff(&before, &after).is_empty());
    let before = world.snapshot();
    let answer = world.hypercall(2, &call);
    world.adapter.kick(0);
    let after = world.snapshot();
    assert!(check_others(&before, &after, 2, &call, answer, world.now(), false).is_err());
    let case = Case::dispatch(
        "a clean call",
        raw(CallNumber::TakeCount, [63, 0, 0, 0]),
        ErrorCode::NotBound,
    );
    assert_eq!(try_hostile(&mut mid_run(1), 1, &case), Ok(()));
    let world = mid_run(1);
    let _ = world.router.events().partition(pid(0)).raise(port(TIMER), None);
    let before = world.snapshot();
    let _ = world.router.events().partition(pid(0)).raise(port(TIMER), None);
    assert_ne!(world.snapshot(), before, "a change of the snapshot is seen");
}

// ---------------------------------------------------------------------------------------
// Property: arbitrary registers from arbitrary partitions
// ---------------------------------------------------------------------------------------

/// A register value: ports and small values, vectors, addresses in and around every
/// partition's memory, truncation traps, anything.
fn register() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 0u64..70,
        2 => proptest::sample::select(vec![
            u64::from(CLOCK), u64::from(LEVEL), u64::from(SHARED), u64::from(STORMY),
            0x22, 0x30, 0xff, 0x100,
        ]),
        3 => (0..P + 1, 0..MEMORY_SIZE + 0x20).prop_map(|(p, off)| memory(p) - 0x10 + off),
        1 => proptest::sample::select(vec![
            1 << 32, (1 << 32) | u64::from(CHANNEL), u64::from(u32::MAX), 0x1_0000, 1 << 63,
            u64::MAX, u64::MAX - 3, 256, 257,
        ]),
        1 => any::<u64>(),
    ]
}

/// A call: mostly a defined number with its reserved registers zero (so that it reaches
/// dispatch), sometimes anything.
fn raw_call() -> impl Strategy<Value = RawCall> {
    (
        prop_oneof![9 => 0..CallNumber::COUNT as u64, 1 => any::<u64>()],
        proptest::array::uniform4(register()),
        proptest::bool::weighted(0.1),
    )
        .prop_map(|(number, mut args, keep_reserved)| {
            if let (Some(call), false) = (CallNumber::from_raw(number), keep_reserved) {
                for arg in &mut args[call.arg_count()..] {
                    *arg = 0;
                }
            }
            RawCall { number, args }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    /// Up to 8 arbitrary calls from arbitrary partitions at a system in mid-run (events
    /// pending and in service, a level line owed, one partition running): no panic, every
    /// call answered, and after each call every other partition is as it was (but for the
    /// documented notify effect), nothing is asked of the kernel for another partition,
    /// and the module state is unchanged. The caller's own state may change.
    #[test]
    fn arbitrary_registers_never_change_another_partition(
        running in 0..P,
        calls in proptest::collection::vec((0..P, raw_call()), 1..8),
    ) {
        let mut world = mid_run(running);
        for (caller, call) in calls {
            let _ = world.adapter.take().count();
            let before = world.snapshot();
            let answer = world.hypercall(caller, &call);
            let after = world.snapshot();
            let checked = check_others(&before, &after, caller, &call, answer, world.now(), false);
            prop_assert!(checked.is_ok(), "caller {}, {:?}: {}", caller, call, checked.unwrap_err());
        }
    }
}

/// The property's generator reaches dispatch for every call (not only decode errors).
#[test]
fn the_generator_reaches_every_call() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = raw_call();
    let mut seen = [0usize; CallNumber::COUNT];
    for _ in 0..5000 {
        let call = strategy.new_tree(&mut runner).expect("a value").current();
        if let Ok(request) = decode::<1>(&call) {
            seen[request.number().raw() as usize] += 1;
        }
    }
    for call in CallNumber::ALL {
        assert!(
            seen[call.raw() as usize] >= 20,
            "{} decoded {} times",
            call.name(),
            seen[call.raw() as usize]
        );
    }
}
