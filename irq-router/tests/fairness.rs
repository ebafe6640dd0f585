//! Fairness inside a priority level, on the real engine through its entry points: a port
//! flooded by its line cannot starve a quiet port of the same level (round-robin), and
//! levels still give strict priority between them.
//!
//! One partition with eight ports, port `i` bound to line `0x40 + i` (exclusive, edge).
//! The guest handles each upcall as a driver would: it takes the port's count, and
//! returns; a flooded line fires again while its handler runs, so its port is deliverable
//! again at every upcall decision.

use std::num::NonZeroU64;

use irq_router::adapter::{Action, Recording};
use irq_router::config::{
    HmTable, PartitionConfig, Route, Schedule, Sharing, SystemConfig, Target, Trigger, VectorSet,
    Window,
};
use irq_router::hypercall::Request;
use irq_router::{CpuId, Local, Router};
use notify_core::{Binding, PartitionId, Port, PortConfig, PriorityLevel, Source};
use vcpu_state::{CatchUpPolicy, SharedPage};

const LINES: usize = 8;
const FIRST_VECTOR: u8 = 0x40;

const fn ports() -> [PortConfig; LINES] {
    let mut ports = [PortConfig::new(0, Binding::counting(Source::Timer)); LINES];
    let mut i = 0;
    while i < LINES {
        let vector = FIRST_VECTOR as u16 + i as u16;
        ports[i] = PortConfig::new(i as u16, Binding::counting(Source::Line(vector)));
        i += 1;
    }
    ports
}
static PORTS: [PortConfig; LINES] = ports();

const fn targets() -> [[Target; 1]; LINES] {
    let mut targets = [[Target { partition: 0, port: 0 }]; LINES];
    let mut i = 0;
    while i < LINES {
        targets[i] = [Target { partition: 0, port: i as u16 }];
        i += 1;
    }
    targets
}
static TARGETS: [[Target; 1]; LINES] = targets();

const fn routes() -> [Route; LINES] {
    let mut routes = [Route {
        vector: FIRST_VECTOR,
        sharing: Sharing::Exclusive,
        trigger: Trigger::Edge,
        kernel_first: false,
        targets: &TARGETS[0],
        budget: None,
        ack_timeout: 0,
    }; LINES];
    let mut i = 0;
    while i < LINES {
        routes[i].vector = FIRST_VECTOR + i as u8;
        routes[i].targets = &TARGETS[i];
        i += 1;
    }
    routes
}
static ROUTES: [Route; LINES] = routes();

const fn vectors() -> VectorSet {
    let mut set = VectorSet::EMPTY;
    let mut i = 0;
    while i < LINES {
        set = set.with(FIRST_VECTOR + i as u8);
        i += 1;
    }
    set
}

static WINDOWS: [Window; 1] = [Window { partition: 0, start: 0, length: 1000 }];

/// The system, with the partition's ports grouped into `levels`.
const fn config(levels: &'static [PriorityLevel]) -> SystemConfig<1> {
    SystemConfig {
        partitions: [PartitionConfig {
            name: "driver",
            cpu: 0,
            ports: &PORTS,
            priority_levels: levels,
            timer_port: None,
            error_port: None,
            catch_up: CatchUpPolicy::Replay,
            vectors: vectors(),
            channels: 0,
            ping: None,
            health: HmTable::IGNORE_ALL,
        }],
        schedule: Schedule { major_frame: 1000, windows: &WINDOWS },
        routes: &ROUTES,
        clock_vector: None,
        channels: &[],
        channel_budgets: &[],
    }
}

/// Ports 0-3 in one level; 4-7 each a level of their own.
static ONE_LEVEL: [PriorityLevel; 1] = [PriorityLevel::new(0, 4)];
/// Ports 0-1 and 2-3 in two levels; 4-7 each a level of their own.
static TWO_LEVELS: [PriorityLevel; 2] = [PriorityLevel::new(0, 2), PriorityLevel::new(2, 4)];
const _: () = assert!(config(&ONE_LEVEL).validate_on::<1, 1>().is_ok());
const _: () = assert!(config(&TWO_LEVELS).validate_on::<1, 1>().is_ok());

/// The running partition and its guest.
struct Guest {
    router: Box<Router<1>>,
    adapter: Recording<1024>,
    /// Events raised on each port, and taken by the guest.
    raised: [u64; LINES],
    taken: [u64; LINES],
}

const CPU: Local<'static, 1> = Local::interrupts_disabled(CpuId::BOOT);

fn p0() -> PartitionId<1> {
    PartitionId::new(0).expect("partition")
}

impl Guest {
    /// The partition in its window with its upcall entry registered and its virtual
    /// interrupts still closed.
    fn new(levels: &'static [PriorityLevel]) -> Self {
        let page: &'static SharedPage = Box::leak(Box::new(SharedPage::new()));
        let router: Box<Router<1>> = Box::new(Router::new(config(levels), [page]).expect("valid"));
        router.start();
        let mut adapter = Recording::<1024>::new();
        router.on_partition_entry(&CPU, p0(), 0, 1000, &mut adapter);
        let entry = NonZeroU64::new(0x40_0100);
        assert_eq!(router.call(&CPU, p0(), Request::RegisterUpcall { entry }, &mut adapter), Ok(0));
        Self { router, adapter, raised: [0; LINES], taken: [0; LINES] }
    }

    /// Line `port` fires.
    fn fire(&mut self, port: usize) {
        let _ = self.router.on_hardware_irq(&CPU, FIRST_VECTOR + port as u8, &mut self.adapter);
        self.raised[port] += 1;
    }

    /// The upcall the engine injected since the last look, if any (at most one).
    fn upcall(&mut self) -> Option<usize> {
        let upcalls: Vec<u16> = self
            .adapter
            .take()
            .filter_map(|a| match a {
                Action::Upcall(0, upcall) => upcall.port,
                _ => None,
            })
            .collect();
        assert!(upcalls.len() <= 1, "one upcall at a time: {upcalls:?}");
        upcalls.first().map(|&port| usize::from(port))
    }

    /// The guest opens its virtual interrupts; returns the first upcall.
    fn open(&mut self) -> Option<usize> {
        let _ = self.adapter.take().count();
        let enabled = self.router.call(&CPU, p0(), Request::EnableIrqs, &mut self.adapter);
        assert_eq!(enabled, Ok(0));
        self.upcall()
    }

    /// The guest handles the upcall for `port`: it takes the port's count, `during` runs
    /// (lines firing while the handler runs), and it returns; returns the next upcall.
    fn handle(&mut self, port: usize, during: impl FnOnce(&mut Self)) -> Option<usize> {
        let p = Port::new(port as u32).expect("port");
        let taken = self.router.call(&CPU, p0(), Request::TakeCount { port: p }, &mut self.adapter);
        let taken = taken.expect("the port the upcall named is bound");
        assert!(taken >= 1, "port {port} was delivered with nothing pending");
        self.taken[port] += taken;
        during(self);
        let _ = self.adapter.take().count();
        let returned = self.router.call(&CPU, p0(), Request::UpcallReturn, &mut self.adapter);
        assert_eq!(returned, Ok(0));
        self.upcall()
    }

    /// Nothing lost: every event raised was taken or is still pending.
    fn check_accounts(&self) {
        let events = self.router.events().partition(p0());
        for port in 0..LINES {
            let pending = events.status(Port::new(port as u32).expect("port")).pending;
            assert_eq!(
                self.raised[port],
                self.taken[port] + u64::from(pending),
                "port {port}: raised = taken + pending"
            );
        }
    }
}

/// xorshift: the moments the quiet line fires.
fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// Ports 0-3 share a level. Ports 0 and 1 are flooded (their lines fire again while
/// their handlers run, so they are deliverable at every decision) and port 3 is quiet:
/// it fires now and then. Each time it fires, it is delivered within 4 deliveries (the
/// ports in its level), 200 times. Fixed priority (every port a level of its own) would
/// never deliver it.
#[test]
fn a_flooded_port_does_not_starve_a_quiet_port_of_its_level() {
    const LEVEL_PORTS: usize = 4;
    const QUIET: usize = 3;
    let mut guest = Guest::new(&ONE_LEVEL);
    guest.fire(0);
    guest.fire(1);
    let mut next_upcall = guest.open();
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut quiet_raised_at: Option<usize> = None;
    let mut waits = Vec::new();
    let mut deliveries = 0;
    while waits.len() < 200 {
        let port = next_upcall.expect("the flood keeps something deliverable");
        deliveries += 1;
        if port == QUIET {
            let at = quiet_raised_at.take().expect("the quiet port was raised");
            waits.push(deliveries - at);
        }
        if let Some(at) = quiet_raised_at {
            assert!(
                deliveries - at < LEVEL_PORTS,
                "the quiet port waited {} deliveries (its level has {LEVEL_PORTS} ports): \
                 starved by the flood",
                deliveries - at
            );
        }
        let fire_quiet = quiet_raised_at.is_none() && next(&mut seed).is_multiple_of(3);
        next_upcall = guest.handle(port, |g| {
            // The flood: the line of the port just handled fires again at once.
            if port != QUIET {
                g.fire(port);
            }
            if fire_quiet {
                g.fire(QUIET);
            }
        });
        if fire_quiet {
            quiet_raised_at = Some(deliveries);
        }
    }
    assert!(waits.iter().all(|&w| w <= LEVEL_PORTS), "waits {waits:?}");
    // Both flooded ports were served too, neither starving the other.
    assert!(guest.taken[0] > 100 && guest.taken[1] > 100, "taken {:?}", guest.taken);
    guest.check_accounts();
}

/// Levels 0-1 and 2-3, ports 4-7 each a level of their own. While ports 0 and 1 are
/// flooded, only they are delivered, alternately (round-robin), although ports 2 to 7
/// are pending; when the flood stops, level 2-3 comes next, round-robin, then 4 to 7 in
/// port order.
#[test]
fn levels_still_give_strict_priority_between_levels() {
    let mut guest = Guest::new(&TWO_LEVELS);
    for port in 0..LINES {
        guest.fire(port);
    }
    let mut next_upcall = guest.open();
    let mut order = Vec::new();
    for _ in 0..100 {
        let port = next_upcall.expect("the flood keeps something deliverable");
        order.push(port);
        next_upcall = guest.handle(port, |g| g.fire(port));
    }
    let alternating: Vec<usize> = (0..100).map(|i| i % 2).collect();
    assert_eq!(order, alternating, "only the highest level, round-robin");
    // The flood stops: what is pending is delivered in priority order, round-robin
    // inside level 2-3 (2 first: the level's first delivery starts at its first port).
    let mut rest = Vec::new();
    while let Some(port) = next_upcall {
        rest.push(port);
        next_upcall = guest.handle(port, |_| {});
    }
    assert_eq!(rest, [0, 1, 2, 3, 4, 5, 6, 7]);
    guest.check_accounts();
}

/// Without levels (the default), the same flood starves the ports above it: fixed
/// priority, the lowest port first, as before levels existed.
#[test]
fn without_levels_the_lowest_port_comes_first() {
    let mut guest = Guest::new(&[]);
    for port in 0..LINES {
        guest.fire(port);
    }
    let mut next_upcall = guest.open();
    for _ in 0..50 {
        let port = next_upcall.expect("the flood keeps something deliverable");
        assert_eq!(port, 0, "fixed priority: the flooded lowest port");
        next_upcall = guest.handle(port, |g| g.fire(port));
    }
    let mut rest = Vec::new();
    while let Some(port) = next_upcall {
        rest.push(port);
        next_upcall = guest.handle(port, |_| {});
    }
    assert_eq!(rest, [0, 1, 2, 3, 4, 5, 6, 7]);
    guest.check_accounts();
}
