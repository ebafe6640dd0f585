//! The system, as one `const` value validated at compile time: four partitions on two
//! CPUs (two each, each CPU with its own cyclic schedule), their ports, the device lines
//! (the PIT across CPUs, the edu's level INTx shared by a partition of each CPU, the
//! other edu's MSI, the 16 lines of the burst); the vectors and rates of the kernel; the
//! engine.
//!
//! Everything else reads this: the scheduler takes the windows from the engine, the
//! partitions' roles (catch-up policy, device port) come from their configuration, the
//! memory and page tables are made for `PARTITIONS`. Adding a partition or changing a
//! window is a change here.

use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicBool, Ordering};

use irq_router::Router;
use irq_router::config::{
    HmTable, PartitionConfig, Route, Schedule, Sharing, SystemConfig, Target, Trigger, VectorSet,
    Window,
};
use irq_router::events::{Binding, PortConfig, Source};
use irq_router::vcpu::{CatchUpPolicy, SharedPage};

pub(crate) use super::guest::{BURST_LINES, TIMER_PORT};
use super::machine::memory;

/// Partitions.
pub(crate) const PARTITIONS: usize = 4;
/// CPUs the engine runs on (`C`).
pub(crate) const CPUS: usize = 2;
/// CPUs the kernel starts and keeps tables for (the machine has 4; those past `CPUS`
/// report and park).
pub(crate) const MAX_CPUS: usize = 4;

/// Ticks a second.
pub(crate) const TICK_HZ: u32 = 1000;
/// Major frame: 40 ticks (40 ms).
pub(crate) const MAJOR_FRAME: u64 = 40;
/// The run ends at this tick (a frame boundary); then each partition is entered once
/// more, with the clock stopped, to handle what it was given.
pub(crate) const END_TICK: u64 = 8 * MAJOR_FRAME;

/// Every CPU's local APIC timer: the clock.
pub(crate) const CLOCK_VECTOR: u8 = 0x30;
/// The device line: PIT channel 0 through the IO-APIC, delivered to CPU 0.
pub(crate) const DEVICE_VECTOR: u8 = 0x40;
/// The device's rate (interrupts a second).
pub(crate) const DEVICE_HZ: u32 = 250;
/// The engine's kick of another CPU (a fixed IPI).
pub(crate) const KICK_VECTOR: u8 = 0xf0;
/// Local APIC errors.
pub(crate) const ERROR_VECTOR: u8 = 0xfe;
/// The local APIC's spurious vector.
pub(crate) const SPURIOUS_VECTOR: u8 = 0xff;
/// Vectors of the (masked) 8259s, so that a stray interrupt of theirs is not taken for an
/// exception.
pub(crate) const PIC_OFFSETS: (u8, u8) = (0x20, 0x28);

/// QEMU's `edu` PCI device (vendor, device): the first one found drives a level-triggered
/// INTx line shared by two partitions on different CPUs, the second its MSI, an edge line
/// of a third partition.
pub(crate) const EDU: (u16, u16) = (0x1234, 0x11e8);
/// The first edu's INTx, through the IO-APIC, level, delivered to CPU 0.
pub(crate) const EDU_INTX_VECTOR: u8 = 0x41;
/// The second edu's MSI, edge, delivered to CPU 1.
pub(crate) const EDU_MSI_VECTOR: u8 = 0x42;
/// Ticks between two interrupts the kernel makes each edu raise (CPU 0 the INTx one, CPU
/// 1 the MSI one).
pub(crate) const EDU_INTX_PERIOD: u64 = 10;
pub(crate) const EDU_MSI_PERIOD: u64 = 8;
/// Ticks a level line waits for every acknowledgement before the forced unmask (longer
/// than any partition's time outside its window).
pub(crate) const EDU_ACK_TIMEOUT: u64 = 60;
/// Partition 2 withholds the acknowledgement of its second INTx event for this many
/// ticks (past the timeout: the forced unmask and its health-monitor event), then gives it.
///
/// The event fired at tick F is withheld from tick T0, when partition 2 takes it (from F
/// to its next window: up to about F + 25), and the forced unmask comes at F + 60; the
/// next firing, at most 10 ticks later, must then be acknowledged by its own deadline, at
/// least F + 120. The acknowledgement comes at T0 + 70, or at the start of its next window
/// if that falls outside one (up to 15 more): between F + 70 and about F + 110, after the
/// unmask and before that deadline. (100 gave it at up to F + 140: when the event fired
/// at tick 20 was taken at 40, the acknowledgement at 140 met the next deadline, 140,
/// and a second timeout came first; seen in 4 of 16 runs of main at `e897060` on a
/// loaded machine.)
pub(crate) const WITHHOLD: (usize, u64, u64) = (2, 2, 70);

/// The burst (issue 15, the test of the RTAS 2023 study of partitioning hypervisors): 16
/// lines, vectors `BURST_FIRST_VECTOR..` (CPU 0's self-IPIs), each to its own port of
/// partition 1, all raised at once while the partition's virtual interrupts are closed;
/// it opens them and checks that its upcalls come in priority order (the lowest port
/// first), `BURST_ROUNDS` times.
pub(crate) const BURST_FIRST_VECTOR: u8 = 0x50;
pub(crate) const BURST_LAST_VECTOR: u8 = BURST_FIRST_VECTOR + BURST_LINES as u8 - 1;
pub(crate) const BURST_ROUNDS: u64 = 50;
/// The burst starts at this tick, once the level line's withheld acknowledgement was
/// given: a round keeps CPU 0 busy for about 0.3 ms under TCG (the 50 back to back took
/// ticks 25 to 40), and that scenario's timing should not depend on it.
pub(crate) const BURST_FROM: u64 = 4 * MAJOR_FRAME;
/// The burst's ports: `BURST_FIRST_PORT..BURST_FIRST_PORT + BURST_LINES`.
pub(crate) const BURST_FIRST_PORT: u16 = 1;

/// The port of burst line `i` (vector `BURST_FIRST_VECTOR + i`): a permutation (7 is prime
/// to 16), so that the order the local APIC delivers the lines in (the highest vector
/// first) is not the ports' priority order: the engine orders them.
pub(crate) const fn burst_port(i: usize) -> u16 {
    BURST_FIRST_PORT + ((i * 7) % BURST_LINES) as u16
}

/// The global system interrupt of INTx pin `pin` (1 = INTA) of slot `slot` on QEMU's q35,
/// as its ACPI `_PRT` says (the AML is not parsed here): slots below 25 go to PIRQ E to H,
/// `(slot + pin - 1) % 4 + 4`, and PIRQ `n` is GSI `16 + n`.
pub(crate) const fn q35_intx_gsi(slot: u8, pin: u8) -> u32 {
    20 + ((slot as u32 + pin.saturating_sub(1) as u32) % 4)
}

/// The port of the device line.
pub(crate) const DEVICE_PORT: u16 = 1;
/// The port of the edu's INTx.
pub(crate) const EDU_PORT: u16 = 2;
/// The port of the edu's MSI.
pub(crate) const MSI_PORT: u16 = 3;

const TIMER: PortConfig = PortConfig::new(TIMER_PORT, Binding::counting(Source::Timer));
/// A level line's event is a state (the line is asserted), so its ports coalesce.
const EDU_INTX: PortConfig =
    PortConfig::new(EDU_PORT, Binding::coalescing(Source::Line(EDU_INTX_VECTOR as u16)));
static P0_PORTS: [PortConfig; 2] = [TIMER, EDU_INTX];
/// Partition 1: its timer and the burst's ports.
static P1_PORTS: [PortConfig; 1 + BURST_LINES] = {
    let mut ports = [TIMER; 1 + BURST_LINES];
    let mut i = 0;
    while i < BURST_LINES {
        let vector = BURST_FIRST_VECTOR as u16 + i as u16;
        ports[1 + i] = PortConfig::new(burst_port(i), Binding::counting(Source::Line(vector)));
        i += 1;
    }
    ports
};
static P2_PORTS: [PortConfig; 3] = [
    TIMER,
    PortConfig::new(DEVICE_PORT, Binding::counting(Source::Line(DEVICE_VECTOR as u16))),
    EDU_INTX,
];
static P3_PORTS: [PortConfig; 2] =
    [TIMER, PortConfig::new(MSI_PORT, Binding::counting(Source::Line(EDU_MSI_VECTOR as u16)))];
/// CPU 0: partition 0 in `[0, 20)`, partition 1 in `[20, 40)`; CPU 1: partition 2 in
/// `[0, 25)`, partition 3 in `[25, 40)` (at the same time as CPU 0's).
static WINDOWS: [Window; 4] = [
    Window { partition: 0, start: 0, length: 20 },
    Window { partition: 1, start: 20, length: 20 },
    Window { partition: 2, start: 0, length: 25 },
    Window { partition: 3, start: 25, length: 15 },
];
static DEVICE_TARGETS: [Target; 1] = [Target { partition: 2, port: DEVICE_PORT }];
static EDU_TARGETS: [Target; 2] =
    [Target { partition: 0, port: EDU_PORT }, Target { partition: 2, port: EDU_PORT }];
static MSI_TARGETS: [Target; 1] = [Target { partition: 3, port: MSI_PORT }];
static BURST_TARGETS: [[Target; 1]; BURST_LINES] = {
    let mut targets = [[Target { partition: 1, port: 0 }]; BURST_LINES];
    let mut i = 0;
    while i < BURST_LINES {
        targets[i][0].port = burst_port(i);
        i += 1;
    }
    targets
};
/// An exclusive edge line to `targets`.
const fn edge(vector: u8, targets: &'static [Target]) -> Route {
    Route {
        vector,
        sharing: Sharing::Exclusive,
        trigger: Trigger::Edge,
        kernel_first: false,
        targets,
        budget: None,
        ack_timeout: 0,
    }
}
const DEVICE_ROUTES: [Route; 3] = [
    edge(DEVICE_VECTOR, &DEVICE_TARGETS),
    Route {
        vector: EDU_INTX_VECTOR,
        sharing: Sharing::Shared,
        trigger: Trigger::Level,
        kernel_first: false,
        targets: &EDU_TARGETS,
        budget: None,
        ack_timeout: EDU_ACK_TIMEOUT,
    },
    edge(EDU_MSI_VECTOR, &MSI_TARGETS),
];
/// The device lines, then the burst's.
static ROUTES: [Route; 3 + BURST_LINES] = {
    let mut routes = [DEVICE_ROUTES[0]; 3 + BURST_LINES];
    let mut i = 0;
    while i < 3 {
        routes[i] = DEVICE_ROUTES[i];
        i += 1;
    }
    while i < 3 + BURST_LINES {
        let line = i - 3;
        routes[i] = edge(BURST_FIRST_VECTOR + line as u8, &BURST_TARGETS[line]);
        i += 1;
    }
    routes
};

/// The burst's vectors.
const fn burst_vectors() -> VectorSet {
    let mut set = VectorSet::EMPTY;
    let mut v = BURST_FIRST_VECTOR;
    while v <= BURST_LAST_VECTOR {
        set = set.with(v);
        v += 1;
    }
    set
}

const fn partition(
    name: &'static str,
    cpu: u16,
    catch_up: CatchUpPolicy,
    ports: &'static [PortConfig],
    vectors: VectorSet,
) -> PartitionConfig {
    PartitionConfig {
        name,
        cpu,
        ports,
        timer_port: Some(TIMER_PORT),
        error_port: None,
        catch_up,
        vectors,
        channels: 0,
        ping: None,
        health: HmTable::IGNORE_ALL,
        priority_levels: &[],
    }
}

/// The whole system.
pub(crate) const SYSTEM: SystemConfig<PARTITIONS> = SystemConfig {
    partitions: [
        partition(
            "cpu0-replay-edu",
            0,
            CatchUpPolicy::Replay,
            &P0_PORTS,
            VectorSet::EMPTY.with(EDU_INTX_VECTOR),
        ),
        partition("cpu0-warp-burst", 0, CatchUpPolicy::Warp, &P1_PORTS, burst_vectors()),
        partition(
            "cpu1-replay-pit-edu",
            1,
            CatchUpPolicy::Replay,
            &P2_PORTS,
            VectorSet::EMPTY.with(DEVICE_VECTOR).with(EDU_INTX_VECTOR),
        ),
        partition(
            "cpu1-warp-msi",
            1,
            CatchUpPolicy::Warp,
            &P3_PORTS,
            VectorSet::EMPTY.with(EDU_MSI_VECTOR),
        ),
    ],
    schedule: Schedule { major_frame: MAJOR_FRAME, windows: &WINDOWS },
    routes: &ROUTES,
    clock_vector: Some(CLOCK_VECTOR),
    channels: &[],
    channel_budgets: &[],
};

const _: () = assert!(SYSTEM.validate_on::<1, CPUS>().is_ok(), "invalid system configuration");

/// The port of partition `p` bound to line `vector`, if any (from its configuration).
pub(crate) fn port_of(p: usize, vector: u8) -> Option<u16> {
    SYSTEM.partitions[p]
        .ports
        .iter()
        .find(|c| c.binding.source == Source::Line(u16::from(vector)))
        .map(|c| c.port)
}

/// The engine, built at boot by [`init_router`] (see the 8259 kernel's `config.rs` for
/// why the `static` holds uninitialized storage).
struct RouterCell {
    cell: UnsafeCell<MaybeUninit<Router<PARTITIONS, 1, CPUS>>>,
    ready: AtomicBool,
}

// SAFETY: written once by `init_router` before `ready` is set (Release); read only through
// `router`, after `ready` is seen (Acquire); the router itself is `Sync`.
unsafe impl Sync for RouterCell {}

static ROUTER: RouterCell =
    RouterCell { cell: UnsafeCell::new(MaybeUninit::uninit()), ready: AtomicBool::new(false) };

/// Builds the engine (once, at boot on the boot CPU, before any other CPU looks).
pub(crate) fn init_router() {
    if ROUTER.ready.load(Ordering::Acquire) {
        return;
    }
    super::guest::init_pages();
    let pages: [&'static SharedPage; PARTITIONS] =
        core::array::from_fn(|p| super::guest::page(memory(p)));
    let Ok(router) = Router::new(SYSTEM, pages) else { panic!("invalid system configuration") };
    // SAFETY: boot, one CPU, interrupts disabled, `ready` still false: no reference to
    // the storage exists yet.
    unsafe { (*ROUTER.cell.get()).write(router) };
    ROUTER.ready.store(true, Ordering::Release);
}

/// The engine.
pub(crate) fn router() -> &'static Router<PARTITIONS, 1, CPUS> {
    assert!(ROUTER.ready.load(Ordering::Acquire), "the router is built at boot");
    // SAFETY: initialized (checked just above) and never written again.
    unsafe { (*ROUTER.cell.get()).assume_init_ref() }
}
