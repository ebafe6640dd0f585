//! The system, as one `const` value validated at compile time: four partitions on two
//! CPUs (two each, each CPU with its own cyclic schedule), their ports, the device line
//! routed across CPUs; the vectors and rates of the kernel; the engine.
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

use super::guest::PARTITION_MEMORY;

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

/// Every partition's timer port.
pub(crate) const TIMER_PORT: u16 = 0;
/// The port of the device line.
pub(crate) const DEVICE_PORT: u16 = 1;

static TIMER_ONLY: [PortConfig; 1] =
    [PortConfig::new(TIMER_PORT, Binding::counting(Source::Timer))];
static WITH_DEVICE: [PortConfig; 2] = [
    PortConfig::new(TIMER_PORT, Binding::counting(Source::Timer)),
    PortConfig::new(DEVICE_PORT, Binding::counting(Source::Line(DEVICE_VECTOR as u16))),
];
/// CPU 0: partition 0 in `[0, 20)`, partition 1 in `[20, 40)`; CPU 1: partition 2 in
/// `[0, 25)`, partition 3 in `[25, 40)` (at the same time as CPU 0's).
static WINDOWS: [Window; 4] = [
    Window { partition: 0, start: 0, length: 20 },
    Window { partition: 1, start: 20, length: 20 },
    Window { partition: 2, start: 0, length: 25 },
    Window { partition: 3, start: 25, length: 15 },
];
static DEVICE_TARGETS: [Target; 1] = [Target { partition: 2, port: DEVICE_PORT }];
static ROUTES: [Route; 1] = [Route {
    vector: DEVICE_VECTOR,
    sharing: Sharing::Exclusive,
    trigger: Trigger::Edge,
    kernel_first: false,
    targets: &DEVICE_TARGETS,
    budget: None,
    ack_timeout: 0,
}];

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
    }
}

/// The whole system.
pub(crate) const SYSTEM: SystemConfig<PARTITIONS> = SystemConfig {
    partitions: [
        partition("cpu0-replay", 0, CatchUpPolicy::Replay, &TIMER_ONLY, VectorSet::EMPTY),
        partition("cpu0-warp", 0, CatchUpPolicy::Warp, &TIMER_ONLY, VectorSet::EMPTY),
        partition(
            "cpu1-replay-device",
            1,
            CatchUpPolicy::Replay,
            &WITH_DEVICE,
            VectorSet::EMPTY.with(DEVICE_VECTOR),
        ),
        partition("cpu1-warp", 1, CatchUpPolicy::Warp, &TIMER_ONLY, VectorSet::EMPTY),
    ],
    schedule: Schedule { major_frame: MAJOR_FRAME, windows: &WINDOWS },
    routes: &ROUTES,
    clock_vector: Some(CLOCK_VECTOR),
    channels: &[],
    channel_budgets: &[],
};

const _: () = assert!(SYSTEM.validate_on::<1, CPUS>().is_ok(), "invalid system configuration");

/// The port of partition `p` bound to the device line, if any (from its configuration).
pub(crate) fn device_port(p: usize) -> Option<u16> {
    SYSTEM.partitions[p]
        .ports
        .iter()
        .find(|c| c.binding.source == Source::Line(u16::from(DEVICE_VECTOR)))
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
        core::array::from_fn(|p| PARTITION_MEMORY[p].page());
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
