//! Timing benchmark of the engine's hot paths, as ratios measured in one run (A B A B
//! interleaved batches, median of the per-round ratios), and the callgrind workload for
//! the instruction count of an interrupt up to the upcall decision.
//!
//! ```text
//! cargo bench -p irq-router --bench engine                 # timings
//! BIN=$(cargo bench -p irq-router --bench engine --no-run 2>&1 \
//!     | sed -n 's/.*Executable .*(\(.*\))/\1/p')               # then, for callgrind:
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out --toggle-collect='*workload_*' \
//!     $BIN callgrind
//! callgrind_annotate --inclusive=yes /tmp/cg.out | grep 'engine.rs:engine::workload_'
//! ```
#![allow(missing_docs, reason = "benchmark binary")]

use std::hint::black_box;
use std::num::NonZeroU64;
use std::time::Instant;

use irq_router::adapter::{KernelAdapter, StartMode, Upcall, UpcallFault};
use irq_router::config::{
    HmTable, PartitionConfig, Route, Schedule, Sharing, SystemConfig, Target, Trigger, VectorSet,
    Window,
};
use irq_router::health::{HM_LOG_LEN, HmRecord};
use irq_router::hypercall::Request;
use irq_router::{CpuId, Local, Router};
use notify_core::{Binding, PartitionId, Port, PortConfig, PriorityLevel, Source};
use vcpu_state::{CatchUpPolicy, SharedPage};

/// The benchmark's CPU 0 on an engine of `C` CPUs (the benchmark thread stands for a
/// CPU with interrupts off).
const fn cpu<const C: usize>(c: u32) -> Local<'static, C> {
    match CpuId::new(c) {
        Ok(id) => Local::interrupts_disabled(id),
        Err(_) => panic!("no such CPU"),
    }
}

const CPU0: Local<'static, 1> = cpu(0);

const VECTOR: u8 = 0x30;
const BATCH: u32 = 20_000;
const ROUNDS: usize = 41;

/// An adapter that does nothing: the engine's own cost only.
struct Null {
    now: u64,
    upcalls: u64,
}

impl KernelAdapter for Null {
    fn now(&self) -> u64 {
        self.now
    }
    fn kernel_handler(&mut self, _: u8) {}
    fn eoi(&mut self, _: u8) {}
    fn mask_line(&mut self, _: u8) {}
    fn unmask_line(&mut self, _: u8) {}
    fn inject_upcall(&mut self, _: u16, upcall: &Upcall) -> Result<(), UpcallFault> {
        self.upcalls += u64::from(black_box(upcall).pending);
        Ok(())
    }
    fn kick(&mut self, _: u16) {}
    fn wait(&mut self, _: u16) {}
    fn user_range(&self, _: u16, _: u64, _: u64) -> bool {
        true
    }
    fn console_write(&mut self, _: u16, _: u64, len: u64) -> u64 {
        len
    }
    fn restart(&mut self, _: u16, _: StartMode) {}
    fn idle(&mut self, _: u16) {}
    fn stop_module(&mut self) {}
    fn log(&mut self, _: &HmRecord) {}
}

static LINE_PORTS: [PortConfig; 2] = [
    PortConfig::new(0, Binding::counting(Source::Timer)),
    PortConfig::new(1, Binding::counting(Source::Line(VECTOR as u16))),
];
static TIMER_PORTS: [PortConfig; 1] = [PortConfig::new(0, Binding::counting(Source::Timer))];
/// [`LINE_PORTS`] and [`TIMER_PORTS`] keeping no latest context (for an engine without
/// context slots).
static BARE_LINE_PORTS: [PortConfig; 2] = [
    PortConfig::new(0, Binding::counting(Source::Timer)).without_context(),
    PortConfig::new(1, Binding::counting(Source::Line(VECTOR as u16))).without_context(),
];
static BARE_TIMER_PORTS: [PortConfig; 1] =
    [PortConfig::new(0, Binding::counting(Source::Timer)).without_context()];
static TARGET: [Target; 1] = [Target { partition: 0, port: 1 }];
static ROUTES: [Route; 1] = [Route {
    vector: VECTOR,
    sharing: Sharing::Exclusive,
    trigger: Trigger::Edge,
    kernel_first: false,
    targets: &TARGET,
    budget: None,
    ack_timeout: 0,
}];

/// `P` partitions, one tick-long window each; partition 0 owns the exclusive line and
/// is running with an upcall entry registered.
fn system<const P: usize>(open: bool) -> Box<Router<P, 1>> {
    system_on::<P, 1>(open)
}

/// [`system`] on an engine of `C` CPUs, every partition on CPU 0.
fn system_on<const P: usize, const C: usize>(open: bool) -> Box<Router<P, 1, C>> {
    system_with::<P, C, 1, HM_LOG_LEN>(open, &[])
}

/// Partition 0's 64 ports in one priority level (served round-robin).
static ONE_LEVEL: [PriorityLevel; 1] = [PriorityLevel::new(0, 64)];

/// [`system_on`] with partition 0's ports grouped into `levels`, on an engine of `64 * CW`
/// context slots (0: the ports keep no context) and health-monitor rings of `H` records.
fn system_with<const P: usize, const C: usize, const CW: usize, const H: usize>(
    open: bool,
    levels: &'static [PriorityLevel],
) -> Box<Router<P, 1, C, CW, H>> {
    let (line_ports, timer_ports): (&'static [PortConfig], &'static [PortConfig]) =
        if CW == 0 { (&BARE_LINE_PORTS, &BARE_TIMER_PORTS) } else { (&LINE_PORTS, &TIMER_PORTS) };
    let windows: &'static [Window] = (0..P)
        .map(|p| Window { partition: p as u16, start: p as u64 * 1000, length: 1000 })
        .collect::<Vec<_>>()
        .leak();
    let partitions = core::array::from_fn(|p| PartitionConfig {
        name: "p",
        cpu: 0,
        ports: if p == 0 { line_ports } else { timer_ports },
        priority_levels: if p == 0 { levels } else { &[] },
        timer_port: Some(0),
        error_port: None,
        catch_up: CatchUpPolicy::Replay,
        vectors: if p == 0 { VectorSet::EMPTY.with(VECTOR) } else { VectorSet::EMPTY },
        channels: 0,
        ping: None,
        health: HmTable::IGNORE_ALL,
    });
    let config = SystemConfig {
        partitions,
        schedule: Schedule { major_frame: P as u64 * 1000, windows },
        routes: &ROUTES,
        clock_vector: None,
        channels: &[],
        channel_budgets: &[],
    };
    let pages: &'static [SharedPage] = (0..P).map(|_| SharedPage::new()).collect::<Vec<_>>().leak();
    let router = Box::new(Router::new(config, core::array::from_fn(|p| &pages[p])).expect("valid"));
    router.start();
    let p0 = PartitionId::new(0).expect("exists");
    router.events().partition(p0).set_upcall_entry(NonZeroU64::new(0x40_0000));
    let mut adapter = Null { now: 0, upcalls: 0 };
    router.on_partition_entry(&cpu(0), p0, 0, 1000, &mut adapter);
    if open {
        let _ = pages[0].guest().sti();
    }
    router
}

fn batch(f: &mut dyn FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..BATCH {
        f();
    }
    start.elapsed().as_nanos() as f64 / f64::from(BATCH)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn compare(name: &str, a_name: &str, a: &mut dyn FnMut(), b_name: &str, b: &mut dyn FnMut()) {
    batch(a);
    batch(b);
    let (mut ta, mut tb, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let x = batch(a);
        let y = batch(b);
        ta.push(x);
        tb.push(y);
        ratio.push(x / y);
    }
    println!(
        "{name:<40} {a_name} {:>8.2} ns | {b_name} {:>8.2} ns | ratio {:.2}",
        median(ta),
        median(tb),
        median(ratio)
    );
}

/// What POK's meta handler did: every interrupt walks every partition's handler table,
/// every tick increments every partition's counters.
struct PokBaseline {
    partitions: Vec<PokPartition>,
}

struct PokPartition {
    handlers: [(u8, usize); 4],
    pending: [u64; 64],
    ticks: u64,
}

impl PokBaseline {
    fn new(p: usize) -> Self {
        let partitions = (0..p)
            .map(|i| PokPartition {
                handlers: [
                    (if i == 0 { VECTOR } else { 0xff }, 1),
                    (0xfe, 2),
                    (0xfd, 3),
                    (0xfc, 4),
                ],
                pending: [0; 64],
                ticks: 0,
            })
            .collect();
        Self { partitions }
    }

    fn irq(&mut self, vector: u8) {
        for p in &mut self.partitions {
            for &(v, port) in &p.handlers {
                if v == vector {
                    p.pending[port] += 1;
                }
            }
        }
    }

    fn tick(&mut self) {
        for p in &mut self.partitions {
            p.ticks += 1;
            p.pending[0] += 1;
        }
    }
}

/// An interrupt on the running partition's exclusive line with its vCPU open, through
/// to the injected upcall; the handler's take and upcall return happen outside.
#[inline(never)]
fn workload_irq_to_upcall(router: &Router<64, 1>, adapter: &mut Null) {
    let _ = router.on_hardware_irq(&CPU0, black_box(VECTOR), adapter);
}

/// [`workload_irq_to_upcall`] with the partition's ports in one priority level: the
/// decision's lookup searches the level from its cursor (past the port, served last
/// time) and the upcall's begin service moves the cursor.
#[inline(never)]
fn workload_irq_to_upcall_level(router: &Router<64, 1>, adapter: &mut Null) {
    // Keeps the function apart from its twin without levels (identical code is merged).
    black_box(ONE_LEVEL.len());
    let _ = router.on_hardware_irq(&CPU0, black_box(VECTOR), adapter);
}

/// [`workload_irq_to_upcall`] on an engine whose partitions keep no latest context and no
/// health-monitor ring of their own (2,017 bytes a partition): the handler's lookup finds
/// no slot.
#[inline(never)]
fn workload_irq_to_upcall_bare(router: &Router<64, 1, 1, 0, 0>, adapter: &mut Null) {
    let _ = router.on_hardware_irq(&CPU0, black_box(VECTOR), adapter);
}

/// [`workload_irq_64`] on the engine of [`workload_irq_to_upcall_bare`]: the raise
/// publishes no context.
#[inline(never)]
fn workload_irq_64_bare(router: &Router<64, 1, 1, 0, 0>, adapter: &mut Null) {
    irqs(router, adapter);
}

/// The interrupt of [`workload_irq_to_upcall`], on CPU 1 while the partition runs on
/// CPU 0: the raise and the kick of CPU 0 (CPU 0's resume and the upcall happen outside).
#[inline(never)]
fn workload_remote_irq(router: &Router<64, 1, 2>, adapter: &mut Null) {
    let _ = router.on_hardware_irq(&cpu(1), black_box(VECTOR), adapter);
}

/// 1,000 interrupts on the exclusive line of a running partition (port already pending).
fn irqs<const P: usize, const C: usize, const CW: usize, const H: usize>(
    router: &Router<P, 1, C, CW, H>,
    adapter: &mut Null,
) {
    for _ in 0..1000 {
        let _ = router.on_hardware_irq(&cpu(0), black_box(VECTOR), adapter);
    }
}

/// 1,000 ticks of a running partition.
fn ticks<const P: usize, const C: usize>(router: &Router<P, 1, C>, from: u64) {
    for now in from..from + 1000 {
        let _ = router.on_tick(&cpu(0), now, &mut Null { now, upcalls: 0 });
    }
}

#[inline(never)]
fn workload_irq_64_4cpus(router: &Router<64, 1, 4>, adapter: &mut Null) {
    irqs(router, adapter);
}

#[inline(never)]
fn workload_tick_64_4cpus(router: &Router<64, 1, 4>) {
    ticks(router, 2);
}

#[inline(never)]
fn workload_irq_64(router: &Router<64, 1>, adapter: &mut Null) {
    irqs(router, adapter);
}

#[inline(never)]
fn workload_irq_2(router: &Router<2, 1>, adapter: &mut Null) {
    irqs(router, adapter);
}

#[inline(never)]
fn workload_tick_64(router: &Router<64, 1>) {
    ticks(router, 2);
}

#[inline(never)]
fn workload_tick_2(router: &Router<2, 1>) {
    ticks(router, 2);
}

/// 1,000 ticks of a running partition, none quiet: before each, the CPU's quiet ticks
/// are flushed (none were taken), so each tick takes the whole path (the raise into the
/// pending timer port, the checks, the quiet stretch begun again).
#[inline(never)]
fn workload_tick_64_not_quiet(router: &Router<64, 1>) {
    for now in 2..1002 {
        let mut adapter = Null { now, upcalls: 0 };
        router.flush_ticks(&CPU0, &mut adapter);
        let _ = router.on_tick(&CPU0, now, &mut adapter);
    }
}

/// 1,000 flushes with no quiet tick to give: the floor under
/// [`workload_tick_64_not_quiet`].
#[inline(never)]
fn workload_flush_64(router: &Router<64, 1>) {
    for now in 1002..2002 {
        let mut adapter = Null { now, upcalls: 0 };
        router.flush_ticks(&CPU0, &mut adapter);
    }
}

/// 1,000 interrupts through POK's meta handler.
#[inline(never)]
fn workload_pok_irq(pok: &mut PokBaseline) {
    for _ in 0..1000 {
        pok.irq(black_box(VECTOR));
    }
}

/// 1,000 ticks through POK's meta handler.
#[inline(never)]
fn workload_pok_tick(pok: &mut PokBaseline) {
    for _ in 0..1000 {
        pok.tick();
    }
}

fn callgrind() {
    let (large, small) = (system::<64>(false), system::<2>(false));
    let mut adapter = Null { now: 1, upcalls: 0 };
    workload_irq_64(&large, &mut adapter);
    workload_irq_2(&small, &mut adapter);
    workload_tick_64(&large);
    workload_tick_2(&small);
    let unquiet = system::<64>(false);
    workload_tick_64_not_quiet(&unquiet);
    workload_flush_64(&unquiet);
    let mut pok = PokBaseline::new(64);
    workload_pok_irq(&mut pok);
    workload_pok_tick(&mut pok);
    black_box(pok.partitions.iter().map(|p| p.ticks).sum::<u64>());
    let router = system::<64>(true);
    let p0 = PartitionId::new(0).expect("exists");
    let port = Port::new(1).expect("in range");
    for _ in 0..1000 {
        workload_irq_to_upcall(&router, &mut adapter);
        let _ = router.call(&CPU0, p0, Request::TakeCount { port }, &mut adapter);
        let _ = router.call(&CPU0, p0, Request::UpcallReturn, &mut adapter);
    }
    println!("1000 interrupts, {} events delivered by upcall", adapter.upcalls);

    let levelled = system_with::<64, 1, 1, HM_LOG_LEN>(true, &ONE_LEVEL);
    let mut upcalls = Null { now: 1, upcalls: 0 };
    for _ in 0..1000 {
        workload_irq_to_upcall_level(&levelled, &mut upcalls);
        let _ = levelled.call(&CPU0, p0, Request::TakeCount { port }, &mut upcalls);
        let _ = levelled.call(&CPU0, p0, Request::UpcallReturn, &mut upcalls);
    }
    println!("1000 interrupts, {} events delivered by upcall (one level)", upcalls.upcalls);

    let bare = system_with::<64, 1, 0, 0>(true, &[]);
    let mut upcalls = Null { now: 1, upcalls: 0 };
    for _ in 0..1000 {
        workload_irq_to_upcall_bare(&bare, &mut upcalls);
        let _ = bare.call(&CPU0, p0, Request::TakeCount { port }, &mut upcalls);
        let _ = bare.call(&CPU0, p0, Request::UpcallReturn, &mut upcalls);
    }
    println!("1000 interrupts, {} events delivered by upcall (no context slot)", upcalls.upcalls);
    let bare = system_with::<64, 1, 0, 0>(false, &[]);
    workload_irq_64_bare(&bare, &mut adapter);

    let four = system_on::<64, 4>(false);
    workload_irq_64_4cpus(&four, &mut adapter);
    workload_tick_64_4cpus(&four);

    // Across CPUs: each interrupt on CPU 1 finds the port empty and the partition's vCPU
    // open, so it raises and kicks CPU 0, which resumes the partition and delivers.
    let two = system_on::<64, 2>(true);
    let mut remote = Null { now: 1, upcalls: 0 };
    let mut home = Null { now: 1, upcalls: 0 };
    for _ in 0..1000 {
        workload_remote_irq(&two, &mut remote);
        two.on_resume(&cpu(0), &mut home);
        let _ = two.call(&cpu(0), p0, Request::TakeCount { port }, &mut home);
        let _ = two.call(&cpu(0), p0, Request::UpcallReturn, &mut home);
    }
    println!("1000 interrupts on CPU 1, {} events delivered on CPU 0", home.upcalls);
}

fn main() {
    if std::env::args().any(|a| a == "callgrind") {
        callgrind();
        return;
    }
    // Interrupts on an exclusive line of a running partition (port already pending:
    // the steady state of a burst), 64 partitions configured vs 2.
    let (large, small) = (system::<64>(false), system::<2>(false));
    let mut a = Null { now: 1, upcalls: 0 };
    let mut b = Null { now: 1, upcalls: 0 };
    let mut irq_large = || {
        let _ = large.on_hardware_irq(&CPU0, black_box(VECTOR), &mut a);
    };
    let mut irq_small = || {
        let _ = small.on_hardware_irq(&CPU0, black_box(VECTOR), &mut b);
    };
    compare("exclusive IRQ", "64 partitions", &mut irq_large, "2 partitions", &mut irq_small);

    // Ticks with partition 0 running, 64 partitions vs 2.
    let (mut ta, mut tb) = (1u64, 1u64);
    let mut tick_large = || {
        ta += 1;
        let _ = large.on_tick(&CPU0, ta, &mut Null { now: ta, upcalls: 0 });
    };
    let mut tick_small = || {
        tb += 1;
        let _ = small.on_tick(&CPU0, tb, &mut Null { now: tb, upcalls: 0 });
    };
    compare("on_tick", "64 partitions", &mut tick_large, "2 partitions", &mut tick_small);

    // Against POK's meta handler at 64 partitions.
    let mut pok = PokBaseline::new(64);
    let mut irq_router = || {
        let _ = large.on_hardware_irq(&CPU0, black_box(VECTOR), &mut a);
    };
    let mut irq_pok = || pok.irq(black_box(VECTOR));
    compare("IRQ vs POK meta handler, 64", "router", &mut irq_router, "POK", &mut irq_pok);
    let mut pok = PokBaseline::new(64);
    let mut tick_router = || {
        ta += 1;
        let _ = large.on_tick(&CPU0, ta, &mut Null { now: ta, upcalls: 0 });
    };
    let mut tick_pok = || pok.tick();
    compare("tick vs POK meta handler, 64", "router", &mut tick_router, "POK", &mut tick_pok);
    black_box(pok.partitions.iter().map(|p| p.ticks + p.pending[1]).sum::<u64>());
}
