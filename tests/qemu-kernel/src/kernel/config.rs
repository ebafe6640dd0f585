//! The system: two partitions, their ports, the channel between them, the schedule and
//! their health-monitor tables, as one `const` value validated at compile time; the
//! engine (over the shared pages, in the partitions' memory: `guest`).

use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicBool, Ordering};

use irq_router::Router;
use irq_router::config::{
    HmAction, HmKind, HmTable, PartitionConfig, Schedule, SystemConfig, VectorSet, Window,
};
use irq_router::events::{Binding, Channel, Endpoint, PortConfig, Source};
use irq_router::vcpu::CatchUpPolicy;

pub(crate) use super::guest::TIMER_PORT;
use super::guest::{CHANNEL_IN, CHANNEL_OUT, P0_MEMORY, P1_MEMORY};

/// Partitions.
pub(crate) const PARTITIONS: usize = 2;
/// The PIT's rate.
pub(crate) const TICK_HZ: u32 = 1000;
/// Vectors of the PICs (master, slave).
pub(crate) const PIC_OFFSETS: (u8, u8) = (0x20, 0x28);
/// The clock: IRQ 0.
pub(crate) const CLOCK_VECTOR: u8 = 0x20;
/// Major frame: 40 ticks (40 ms), two windows of 20.
pub(crate) const MAJOR_FRAME: u64 = 40;
/// Window length.
pub(crate) const WINDOW: u64 = 20;
/// The run ends at this tick (a frame boundary); then each partition is entered once
/// more, with the clock stopped, to handle what it was given.
pub(crate) const END_TICK: u64 = 8 * MAJOR_FRAME;

static P0_PORTS: [PortConfig; 2] = [
    PortConfig::new(TIMER_PORT, Binding::counting(Source::Timer)),
    PortConfig::new(CHANNEL_OUT, Binding::counting(Source::Channel(0))),
];
static P1_PORTS: [PortConfig; 2] = [
    PortConfig::new(TIMER_PORT, Binding::counting(Source::Timer)),
    PortConfig::new(CHANNEL_IN, Binding::counting(Source::Channel(0))),
];
static CHANNELS: [Channel; 1] = [Channel {
    source: Endpoint { partition: 0, port: CHANNEL_OUT },
    destination: Endpoint { partition: 1, port: CHANNEL_IN },
}];
static WINDOWS: [Window; 2] = [
    Window { partition: 0, start: 0, length: WINDOW },
    Window { partition: 1, start: WINDOW, length: WINDOW },
];

/// The whole system.
pub(crate) const SYSTEM: SystemConfig<PARTITIONS> = SystemConfig {
    partitions: [
        PartitionConfig {
            name: "p0-replay",
            cpu: 0,
            ports: &P0_PORTS,
            priority_levels: &[],
            timer_port: Some(TIMER_PORT),
            error_port: None,
            catch_up: CatchUpPolicy::Replay,
            vectors: VectorSet::EMPTY,
            channels: 1,
            ping: None,
            health: HmTable::IGNORE_ALL,
        },
        PartitionConfig {
            name: "p1-warp",
            cpu: 0,
            ports: &P1_PORTS,
            priority_levels: &[],
            timer_port: Some(TIMER_PORT),
            error_port: None,
            catch_up: CatchUpPolicy::Warp,
            vectors: VectorSet::EMPTY,
            channels: 1,
            ping: None,
            // A trap goes to its fault handler; a trap inside the fault handler warm-starts it.
            health: HmTable::IGNORE_ALL
                .on(HmKind::Trap, HmAction::Deliver)
                .on(HmKind::TrapInTrap, HmAction::WarmStart),
        },
    ],
    schedule: Schedule { major_frame: MAJOR_FRAME, windows: &WINDOWS },
    routes: &[],
    clock_vector: Some(CLOCK_VECTOR),
    channels: &CHANNELS,
    channel_budgets: &[],
};

const _: () = assert!(SYSTEM.validate_on::<1, 1>().is_ok(), "invalid system configuration");

/// The engine, built at boot by [`init_router`].
///
/// `Router::new` is a `const fn`, but its `Result` cannot be unwrapped in a `static`
/// initializer: the router has a destructor (its health-monitor rings), and the const
/// checker refuses to drop a `Result` that holds one even on the error path. So the
/// `static` holds uninitialized storage, written once at boot before any interrupt or
/// other CPU can look at it. (The configuration itself is still checked at compile time
/// by the `const` assertion above, so the error path is unreachable.)
struct RouterCell {
    cell: UnsafeCell<MaybeUninit<Router<PARTITIONS>>>,
    ready: AtomicBool,
}

// SAFETY: written once by `init_router` before `ready` is set (Release); read only
// through `router`, after `ready` is seen (Acquire); the router itself is `Sync`.
unsafe impl Sync for RouterCell {}

static ROUTER: RouterCell =
    RouterCell { cell: UnsafeCell::new(MaybeUninit::uninit()), ready: AtomicBool::new(false) };

#[allow(
    clippy::declare_interior_mutable_const,
    reason = "evaluated at compile time and used once, by value, to initialize the router"
)]
const BUILT: Result<Router<PARTITIONS>, irq_router::config::ConfigError> =
    Router::new(SYSTEM, [&P0_MEMORY.page, &P1_MEMORY.page]);

/// Builds the engine (once, at boot, before interrupts are enabled).
pub(crate) fn init_router() {
    if ROUTER.ready.load(Ordering::Acquire) {
        return;
    }
    let Ok(router) = BUILT else { panic!("invalid system configuration") };
    // SAFETY: boot, one CPU, interrupts disabled, `ready` still false: no reference to
    // the storage exists yet.
    unsafe { (*ROUTER.cell.get()).write(router) };
    ROUTER.ready.store(true, Ordering::Release);
}

/// The engine.
pub(crate) fn router() -> &'static Router<PARTITIONS> {
    assert!(ROUTER.ready.load(Ordering::Acquire), "the router is built at boot");
    // SAFETY: initialized (checked just above) and never written again.
    unsafe { (*ROUTER.cell.get()).assume_init_ref() }
}
