//! The whole router driven from several threads at once, each standing for a CPU with its
//! interrupts off: per-CPU ticks and window switches from the router's own schedule,
//! interrupts on random CPUs (a shared edge line, a shared level line, a storming line
//! with a budget), guests that acknowledge, take, notify, idle, close and open their
//! vCPU, mask and unmask a port and restart cold, and kicks delivered to the CPU they
//! name.
//!
//! Checked during the run: no upcall is injected by a CPU that is not running that
//! partition; the level line is never masked or unmasked twice. Checked when the CPUs
//! stop: no partition waits in its window with an event deliverable and no kick on its
//! way. Checked after a final drain: every raise is accounted for, per port for the
//! partitions that never restart (raised = delivered + pending + coalesced) and per
//! partition for all (the statistics' outcomes add up to the raises the test made), and
//! nothing is left pending; the clock partitions were given exactly the time that passed
//! (replay and warp); the level line was unmasked once per firing.
//!
//! `SMP_ROUNDS` sets the number of rounds per test (default 40).

use std::num::NonZeroU64;
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};

use irq_router::adapter::{KernelAdapter, StartMode, Upcall, UpcallFault};
use irq_router::config::{
    ChannelBudget, HmAction, HmKind, HmTable, PartitionConfig, Route, Schedule, Sharing,
    SystemConfig, Target, Trigger, VectorSet, Window,
};
use irq_router::health::HmRecord;
use irq_router::hypercall::Request;
use irq_router::{CpuId, Local, Router, Switch};
use notify_core::{Binding, Channel, Endpoint, PartitionId, Port, PortConfig, Source};
use vcpu_state::{CatchUpPolicy, SharedPage};

const P: usize = 4;

const LINE: u8 = 0x30;
const LEVEL: u8 = 0x31;
const STORM: u8 = 0x32;

const TIMER: u16 = 0;
const LINE_PORT: u16 = 1;
const LEVEL_PORT: u16 = 2;
const STORM_PORT: u16 = 3;
const IN: u16 = 4;
const OUT: u16 = 5;

const FRAME: u64 = 20;
const END: u64 = 2_000;
/// Loop turns of CPU 0 per tick.
const TURNS_PER_TICK: u64 = 4;
const STORM_BUDGET: u32 = 6;

const fn ports(p: usize) -> [PortConfig; 6] {
    let inbound = ((p + P - 1) % P) as u16;
    [
        PortConfig::new(TIMER, Binding::counting(Source::Timer)),
        PortConfig::new(LINE_PORT, Binding::counting(Source::Line(LINE as u16))),
        PortConfig::new(LEVEL_PORT, Binding::coalescing(Source::Line(LEVEL as u16))),
        PortConfig::new(STORM_PORT, Binding::counting(Source::Line(STORM as u16))),
        PortConfig::new(IN, Binding::counting(Source::Channel(inbound))),
        PortConfig::new(OUT, Binding::counting(Source::Channel(p as u16))),
    ]
}

static PORTS: [[PortConfig; 6]; P] = [ports(0), ports(1), ports(2), ports(3)];

static ALL_LINE: [Target; P] = [
    Target { partition: 0, port: LINE_PORT },
    Target { partition: 1, port: LINE_PORT },
    Target { partition: 2, port: LINE_PORT },
    Target { partition: 3, port: LINE_PORT },
];
static ALL_LEVEL: [Target; P] = [
    Target { partition: 0, port: LEVEL_PORT },
    Target { partition: 1, port: LEVEL_PORT },
    Target { partition: 2, port: LEVEL_PORT },
    Target { partition: 3, port: LEVEL_PORT },
];
static STORM_TARGET: [Target; 1] = [Target { partition: 3, port: STORM_PORT }];

static ROUTES: [Route; 3] = [
    Route {
        vector: LINE,
        sharing: Sharing::Shared,
        trigger: Trigger::Edge,
        kernel_first: false,
        targets: &ALL_LINE,
        budget: None,
        ack_timeout: 0,
    },
    Route {
        vector: LEVEL,
        sharing: Sharing::Shared,
        trigger: Trigger::Level,
        kernel_first: false,
        targets: &ALL_LEVEL,
        budget: None,
        ack_timeout: 8,
    },
    Route {
        vector: STORM,
        sharing: Sharing::Exclusive,
        trigger: Trigger::Edge,
        kernel_first: false,
        targets: &STORM_TARGET,
        budget: core::num::NonZeroU32::new(STORM_BUDGET),
        ack_timeout: 0,
    },
];

/// Channel `p` goes from partition `p` to partition `p + 1`.
static CHANNELS: [Channel; P] = [
    Channel {
        source: Endpoint { partition: 0, port: OUT },
        destination: Endpoint { partition: 1, port: IN },
    },
    Channel {
        source: Endpoint { partition: 1, port: OUT },
        destination: Endpoint { partition: 2, port: IN },
    },
    Channel {
        source: Endpoint { partition: 2, port: OUT },
        destination: Endpoint { partition: 3, port: IN },
    },
    Channel {
        source: Endpoint { partition: 3, port: OUT },
        destination: Endpoint { partition: 0, port: IN },
    },
];
static CHANNEL_BUDGETS: [ChannelBudget; 1] =
    [ChannelBudget { channel: 0, raises: core::num::NonZeroU32::new(4).unwrap() }];

/// Partitions 0 and 1 keep a clock (replay and warp) and never restart; 2 and 3 have no
/// clock and restart cold on an error of theirs.
const fn partition(p: usize, cpu: u16) -> PartitionConfig {
    let clocked = p < 2;
    PartitionConfig {
        name: "smp",
        cpu,
        ports: &PORTS[p],
        priority_levels: &[],
        timer_port: if clocked { Some(TIMER) } else { None },
        error_port: None,
        catch_up: if p == 1 { CatchUpPolicy::Warp } else { CatchUpPolicy::Replay },
        vectors: VectorSet::EMPTY.with(LINE).with(LEVEL).with(STORM),
        channels: 0b1111,
        ping: None,
        health: if clocked {
            HmTable::IGNORE_ALL
        } else {
            HmTable::IGNORE_ALL.on(HmKind::PartitionError, HmAction::ColdStart)
        },
    }
}

/// Two CPUs: partitions 0 and 2 on CPU 0, 1 and 3 on CPU 1, two windows each.
static WINDOWS_2: [Window; 4] = [
    Window { partition: 0, start: 0, length: 10 },
    Window { partition: 1, start: 0, length: 10 },
    Window { partition: 2, start: 10, length: 10 },
    Window { partition: 3, start: 10, length: 10 },
];
/// Four CPUs: one partition each, a window of 15 and a gap of 5.
static WINDOWS_4: [Window; 4] = [
    Window { partition: 0, start: 0, length: 15 },
    Window { partition: 1, start: 0, length: 15 },
    Window { partition: 2, start: 2, length: 15 },
    Window { partition: 3, start: 5, length: 15 },
];

const fn config(cpus: u16) -> SystemConfig<P> {
    let windows: &'static [Window] = if cpus == 2 { &WINDOWS_2 } else { &WINDOWS_4 };
    SystemConfig {
        partitions: [
            partition(0, 0),
            partition(1, 1 % cpus),
            partition(2, 2 % cpus),
            partition(3, 3 % cpus),
        ],
        schedule: Schedule { major_frame: FRAME, windows },
        routes: &ROUTES,
        clock_vector: None,
        channels: &CHANNELS,
        channel_budgets: &CHANNEL_BUDGETS,
    }
}

fn pid(p: usize) -> PartitionId<P> {
    PartitionId::new(p as u32).expect("partition")
}

fn port(raw: u16) -> Port<1> {
    Port::new(u32::from(raw)).expect("port")
}

/// Partition `p`'s memory, for the adapter's address checks and its upcall entry.
fn memory(p: usize) -> (u64, u64) {
    (0x40_0000 + p as u64 * 0x10_0000, 0x10_0000)
}

/// What the CPUs share: the clock, kicks, the lines' state, and the counts of what the
/// test raised.
struct Shared<const C: usize> {
    clock: AtomicU64,
    done: AtomicBool,
    kicks: [AtomicBool; C],
    /// The level line is masked at the controller.
    level_masked: AtomicBool,
    /// The level line's device has fired and the line was not unmasked since.
    level_busy: AtomicBool,
    level_fires: AtomicU64,
    level_unmasks: AtomicU64,
    storm_masked: AtomicBool,
    storm_fires: AtomicU64,
    line_fires: AtomicU64,
    /// Notifies that reached each partition.
    notified: [AtomicU64; P],
    /// Timer events each partition's guest took.
    ticks_taken: [AtomicU64; P],
    /// Events each partition's guest took or acknowledged, per port.
    delivered: [[AtomicU64; 6]; P],
    restarts: AtomicU64,
    upcalls: AtomicU64,
    /// Kicks of a CPU by another.
    remote_kicks: AtomicU64,
}

impl<const C: usize> Shared<C> {
    fn new() -> Self {
        Self {
            clock: AtomicU64::new(0),
            done: AtomicBool::new(false),
            kicks: [const { AtomicBool::new(false) }; C],
            level_masked: AtomicBool::new(false),
            level_busy: AtomicBool::new(false),
            level_fires: AtomicU64::new(0),
            level_unmasks: AtomicU64::new(0),
            storm_masked: AtomicBool::new(false),
            storm_fires: AtomicU64::new(0),
            line_fires: AtomicU64::new(0),
            notified: [const { AtomicU64::new(0) }; P],
            ticks_taken: [const { AtomicU64::new(0) }; P],
            delivered: [const { [const { AtomicU64::new(0) }; 6] }; P],
            restarts: AtomicU64::new(0),
            upcalls: AtomicU64::new(0),
            remote_kicks: AtomicU64::new(0),
        }
    }
}

/// One CPU's adapter: what the engine asks of this CPU's kernel.
struct Side<'s, const C: usize> {
    cpu: u16,
    shared: &'s Shared<C>,
    now: u64,
    /// The partition this CPU's kernel runs (the one inside its window), if any.
    current: Option<usize>,
    upcalls: Vec<(usize, Upcall)>,
    restarted: Vec<usize>,
    waiting: bool,
}

impl<const C: usize> KernelAdapter for Side<'_, C> {
    fn now(&self) -> u64 {
        self.now
    }
    fn kernel_handler(&mut self, _vector: u8) {}
    fn eoi(&mut self, _vector: u8) {}
    fn mask_line(&mut self, vector: u8) {
        match vector {
            LEVEL => assert!(!self.shared.level_masked.swap(true, SeqCst), "level masked twice"),
            STORM => self.shared.storm_masked.store(true, SeqCst),
            _ => panic!("line {vector:#x} masked"),
        }
    }
    fn unmask_line(&mut self, vector: u8) {
        match vector {
            LEVEL => {
                assert!(self.shared.level_masked.swap(false, SeqCst), "level unmasked twice");
                self.shared.level_unmasks.fetch_add(1, SeqCst);
                self.shared.level_busy.store(false, SeqCst);
            }
            STORM => self.shared.storm_masked.store(false, SeqCst),
            _ => panic!("line {vector:#x} unmasked"),
        }
    }
    fn inject_upcall(&mut self, partition: u16, upcall: &Upcall) -> Result<(), UpcallFault> {
        let p = usize::from(partition);
        assert_eq!(
            self.current,
            Some(p),
            "CPU {} injected an upcall into partition {p}, which it does not run",
            self.cpu
        );
        self.upcalls.push((p, *upcall));
        self.waiting = false;
        self.shared.upcalls.fetch_add(1, SeqCst);
        Ok(())
    }
    fn kick(&mut self, cpu: u16) {
        if cpu != self.cpu {
            self.shared.remote_kicks.fetch_add(1, SeqCst);
        }
        self.shared.kicks[usize::from(cpu)].store(true, SeqCst);
    }
    fn wait(&mut self, partition: u16) {
        assert_eq!(self.current, Some(usize::from(partition)), "waits on its own CPU");
        self.waiting = true;
    }
    fn user_range(&self, partition: u16, addr: u64, len: u64) -> bool {
        let (start, size) = memory(usize::from(partition));
        addr >= start && len <= size && addr - start <= size - len
    }
    fn console_write(&mut self, _partition: u16, _addr: u64, len: u64) -> u64 {
        len
    }
    fn restart(&mut self, partition: u16, mode: StartMode) {
        assert_eq!(mode, StartMode::Cold);
        self.restarted.push(usize::from(partition));
        self.shared.restarts.fetch_add(1, SeqCst);
    }
    fn idle(&mut self, partition: u16) {
        panic!("partition {partition} idled: no health table idles");
    }
    fn stop_module(&mut self) {
        panic!("module stopped");
    }
    fn log(&mut self, _record: &HmRecord) {}
}

/// A small xorshift generator (the rounds are seeded, so a failure names its seed).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// One CPU's kernel and the guests of its partitions.
struct Cpu<'r, 's, const C: usize> {
    router: &'r Router<P, 1, C>,
    id: CpuId<C>,
    side: Side<'s, C>,
    until: u64,
    /// Its partitions must register their upcall entry and open their vCPU when they
    /// next run (at the start, and after a cold restart).
    boot: [bool; P],
}

impl<'r, 's, const C: usize> Cpu<'r, 's, C> {
    fn new(router: &'r Router<P, 1, C>, shared: &'s Shared<C>, cpu: usize) -> Self {
        let id = CpuId::new(cpu as u32).expect("cpu");
        Self {
            router,
            id,
            side: Side {
                cpu: cpu as u16,
                shared,
                now: 0,
                current: None,
                upcalls: Vec::new(),
                restarted: Vec::new(),
                waiting: false,
            },
            until: 0,
            boot: [true; P],
        }
    }

    /// The token of this CPU: a thread stands for the CPU, its interrupts off throughout.
    fn local(&self) -> Local<'static, C> {
        Local::interrupts_disabled(self.id)
    }

    fn call(
        &mut self,
        p: usize,
        request: Request<1>,
    ) -> Result<u64, irq_router::hypercall::ErrorCode> {
        self.router.call(&self.local(), pid(p), request, &mut self.side)
    }

    fn enter(&mut self, p: usize) {
        self.side.current = Some(p);
        self.side.waiting = false;
        let budget = self.until.saturating_sub(self.side.now).max(1);
        self.router.on_partition_entry(
            &self.local(),
            pid(p),
            self.side.now,
            budget,
            &mut self.side,
        );
        if self.boot[p] {
            self.boot[p] = false;
            let (start, _) = memory(p);
            let entry = NonZeroU64::new(start + 0x100);
            assert_eq!(self.call(p, Request::RegisterUpcall { entry }), Ok(0));
            assert_eq!(self.call(p, Request::EnableIrqs), Ok(0));
        }
    }

    fn leave(&mut self) {
        if let Some(p) = self.side.current.take() {
            self.router.on_partition_exit(&self.local(), pid(p), self.side.now, &mut self.side);
        }
        self.side.waiting = false;
    }

    fn switch(&mut self, switch: Switch<P>) {
        self.leave();
        self.until = switch.until;
        if let Some(to) = switch.to {
            self.enter(to.index());
        }
    }

    /// Runs the handlers of the upcalls injected into the partition running here (those
    /// of a partition whose window ended run when it next enters), and acts on restarts
    /// and on kicks of this CPU, until nothing is left.
    fn settle(&mut self) {
        loop {
            let cpu = usize::from(self.side.cpu);
            let kicked = self.side.shared.kicks[cpu].swap(false, SeqCst);
            if kicked {
                // The partition runs again after the resume, unless it asks to wait.
                self.side.waiting = false;
                self.router.on_resume(&self.local(), &mut self.side);
            }
            let restarted = std::mem::take(&mut self.side.restarted);
            for &p in &restarted {
                // The old run's upcalls are over; its window ended: enter it again.
                self.side.upcalls.retain(|(q, _)| *q != p);
                self.boot[p] = true;
                if self.side.current == Some(p) {
                    self.enter(p);
                }
            }
            let current = self.side.current;
            let next = self.side.upcalls.iter().position(|(q, _)| Some(*q) == current);
            match next {
                Some(i) => {
                    let (p, upcall) = self.side.upcalls.remove(i);
                    self.handle(p, &upcall);
                }
                None if kicked || !restarted.is_empty() => {}
                None => return,
            }
        }
    }

    /// Partition `p`'s handler for one upcall.
    fn handle(&mut self, p: usize, upcall: &Upcall) {
        let shared = self.side.shared;
        let Some(raw) = upcall.port else { panic!("a trap upcall: no trap is raised") };
        let delivered = if raw == LEVEL_PORT {
            let acked = self.call(p, Request::Acknowledge { port: port(LEVEL_PORT) });
            u64::from(acked.is_ok())
        } else {
            self.call(p, Request::TakeCount { port: port(raw) }).unwrap_or(0)
        };
        if raw == TIMER {
            shared.ticks_taken[p].fetch_add(delivered, SeqCst);
        }
        shared.delivered[p][usize::from(raw)].fetch_add(delivered, SeqCst);
        let _ = self.call(p, Request::UpcallReturn);
    }

    /// A random interrupt of a device, on this CPU.
    fn device(&mut self, rng: &mut Rng) {
        let shared = self.side.shared;
        match rng.below(3) {
            0 => {
                shared.line_fires.fetch_add(1, SeqCst);
                let _ = self.router.on_hardware_irq(&self.local(), LINE, &mut self.side);
            }
            1 => {
                // A level line fires once until it is unmasked.
                if shared.level_busy.compare_exchange(false, true, SeqCst, SeqCst).is_ok() {
                    shared.level_fires.fetch_add(1, SeqCst);
                    let _ = self.router.on_hardware_irq(&self.local(), LEVEL, &mut self.side);
                }
            }
            _ => {
                // Masked for a storm, it stays quiet; one already on its way arrives.
                if !shared.storm_masked.load(SeqCst) {
                    shared.storm_fires.fetch_add(1, SeqCst);
                    let _ = self.router.on_hardware_irq(&self.local(), STORM, &mut self.side);
                }
            }
        }
        self.settle();
    }

    /// A random step of the guest running here.
    fn guest(&mut self, p: usize, rng: &mut Rng) {
        let shared = self.side.shared;
        match rng.below(20) {
            0..=3 if self.call(p, Request::Notify { port: port(OUT) }) == Ok(0) => {
                shared.notified[(p + 1) % P].fetch_add(1, SeqCst);
            }
            4 => {
                let _ = self.call(p, Request::Idle);
            }
            5 if p >= 2 && rng.below(8) == 0 => {
                let _ = self.call(p, Request::ExecStopError { code: 7 });
            }
            6 | 7 => {
                let _ = self.call(p, Request::DisableIrqs);
                let _ = self.call(p, Request::EnableIrqs);
            }
            8 => {
                let _ = self.call(p, Request::ReadClock);
            }
            // The guest masks its shared line's port for a while: its events wait.
            9 => {
                let _ = self.call(p, Request::Mask { port: port(LINE_PORT) });
            }
            10 | 11 => {
                let _ = self.call(p, Request::Unmask { port: port(LINE_PORT) });
            }
            _ => {}
        }
        self.settle();
    }

    /// This CPU's kernel until the clock reaches `END`.
    fn run(&mut self, seed: u64, start: &Barrier) {
        let mut rng = Rng(seed | 1);
        let shared = self.side.shared;
        let master = self.side.cpu == 0;
        let mut seen = u64::MAX;
        let mut turns = 0u64;
        start.wait();
        loop {
            turns += 1;
            if master && turns.is_multiple_of(TURNS_PER_TICK) {
                let now = shared.clock.load(SeqCst);
                if now < END {
                    shared.clock.store(now + 1, SeqCst);
                }
            }
            let now = shared.clock.load(SeqCst);
            self.side.now = now;
            if now != seen {
                seen = now;
                if let Some(switch) = self.router.on_tick(&self.local(), now, &mut self.side) {
                    self.switch(switch);
                }
                self.settle();
            }
            self.settle();
            if rng.below(2) == 0 {
                self.device(&mut rng);
            }
            if let (Some(p), false) = (self.side.current, self.side.waiting) {
                self.guest(p, &mut rng);
            }
            if now >= END {
                if master {
                    shared.done.store(true, SeqCst);
                }
                if shared.done.load(SeqCst) {
                    return;
                }
            }
        }
    }
}

fn rounds() -> u64 {
    std::env::var("SMP_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(40)
}

/// One round on `C` CPUs: the run, the drain, the checks.
fn round<const C: usize>(seed: u64) {
    let pages: &'static [SharedPage; P] = Box::leak(Box::new([const { SharedPage::new() }; P]));
    let router: Router<P, 1, C> =
        Router::new(config(C as u16), [&pages[0], &pages[1], &pages[2], &pages[3]]).expect("valid");
    router.start();
    let shared = Shared::<C>::new();
    let mut cpus: Vec<Cpu<'_, '_, C>> = (0..C).map(|c| Cpu::new(&router, &shared, c)).collect();
    let start = Barrier::new(C);
    std::thread::scope(|scope| {
        for (c, cpu) in cpus.iter_mut().enumerate() {
            let seed = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(c as u64 + 1);
            let start = &start;
            scope.spawn(move || cpu.run(seed, start));
        }
    });
    // Quiescent: a partition left waiting in its window with something deliverable and
    // no kick on its way to its CPU lost its wake-up.
    for cpu in &mut cpus {
        if let (Some(p), true) = (cpu.side.current, cpu.side.waiting) {
            let c = cpu.id.index();
            let table = router.events().partition(pid(p));
            let deliverable = table.upcall_entry().is_some() && table.next_deliverable().is_some();
            let open = pages[p].is_open();
            assert!(
                !(deliverable && open) || shared.kicks[c].load(SeqCst),
                "seed {seed}: partition {p} waits on CPU {c} with an event and no kick"
            );
        }
        cpu.settle();
        cpu.leave();
    }
    // The drain: every partition enters once more on its CPU at the end, its guest takes
    // what is pending, and it leaves.
    for _pass in 0..2 {
        for p in 0..P {
            let cpu = &mut cpus[router.cpu_of(pid(p)).index()];
            cpu.side.now = END;
            cpu.until = END + 1;
            cpu.enter(p);
            cpu.settle();
            if cpu.side.waiting {
                cpu.router.on_resume(&cpu.local(), &mut cpu.side);
                cpu.settle();
            }
            // A closed vCPU leaves the event flagged, a masked port its events pending:
            // the guest opens both to take them.
            let _ = cpu.call(p, Request::Unmask { port: port(LINE_PORT) });
            let _ = cpu.call(p, Request::Flash);
            cpu.settle();
            cpu.leave();
        }
    }
    check(&router, &shared, seed);
}

fn check<const C: usize>(router: &Router<P, 1, C>, shared: &Shared<C>, seed: u64) {
    let lost = router.line_lost(STORM);
    for p in 0..P {
        let table = router.events().partition(pid(p));
        let stats = table.stats();
        assert_eq!(stats.pending, 0, "seed {seed}: partition {p} has events left: {stats:?}");
        let ticks = shared.ticks_taken[p].load(SeqCst);
        let storm = if p == 3 { shared.storm_fires.load(SeqCst) - lost } else { 0 };
        let raised = shared.line_fires.load(SeqCst)
            + shared.level_fires.load(SeqCst)
            + storm
            + shared.notified[p].load(SeqCst)
            + ticks;
        assert_eq!(
            stats.raised, raised,
            "seed {seed}: partition {p}: the outcomes do not add up to the raises: {stats:?}"
        );
        if p < 2 {
            // Never restarted: each port's raises are its deliveries and what is pending
            // (the coalescing level port also counts the raises it merged).
            let per_port = [
                (LINE_PORT, shared.line_fires.load(SeqCst), 0),
                (LEVEL_PORT, shared.level_fires.load(SeqCst), stats.coalesced),
                (IN, shared.notified[p].load(SeqCst), 0),
                (TIMER, ticks, 0),
            ];
            for (q, raised, merged) in per_port {
                let taken = shared.delivered[p][usize::from(q)].load(SeqCst);
                let pending = u64::from(table.status(port(q)).pending);
                assert_eq!(
                    raised,
                    taken + pending + merged,
                    "seed {seed}: partition {p} port {q}: raised != delivered + pending + coalesced"
                );
            }
            let time = router.partition_cpu(pid(p)).time().clone();
            assert_eq!(time.given(), END, "seed {seed}: partition {p} drifted");
            if p == 0 {
                assert_eq!(ticks, END, "seed {seed}: replay gives every tick as an event");
            }
        }
    }
    assert!(!shared.level_masked.load(SeqCst), "seed {seed}: the level line stays masked");
    assert_eq!(
        shared.level_unmasks.load(SeqCst),
        shared.level_fires.load(SeqCst),
        "seed {seed}: one unmask per firing of the level line"
    );
    assert!(shared.upcalls.load(SeqCst) > 0);
    eprintln!(
        "seed {seed}: {} upcalls, {} restarts, {} remote kicks, level {} firings, storm {} fired {} lost, line {}",
        shared.upcalls.load(SeqCst),
        shared.restarts.load(SeqCst),
        shared.remote_kicks.load(SeqCst),
        shared.level_fires.load(SeqCst),
        shared.storm_fires.load(SeqCst),
        lost,
        shared.line_fires.load(SeqCst),
    );
}

#[test]
fn smp_two_cpus_lose_nothing_and_drift_nothing() {
    for seed in 0..rounds() {
        round::<2>(seed);
    }
}

#[test]
fn smp_four_cpus_lose_nothing_and_drift_nothing() {
    for seed in 0..rounds() {
        round::<4>(seed);
    }
}
