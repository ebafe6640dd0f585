//! loom models of the engine's cross-CPU protocols, run on the engine itself (not a copy):
//! two loom threads stand for two CPUs, each calling the engine's entry points with its
//! own adapter.
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test --release -p irq-router --lib loom_`.

extern crate std;

use std::boxed::Box;
use std::println;
use std::vec::Vec;

use core::num::{NonZeroU32, NonZeroU64};

use loom::sync::Arc;
use loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use loom::thread;

use notify_core::{Binding, PartitionId, Port, PortConfig, Source};
use vcpu_state::{CatchUpPolicy, SharedPage};

use crate::adapter::{Action, KernelAdapter, Recording, StartMode, Upcall, UpcallFault};
use crate::config::{
    HmTable, PartitionConfig, Route, Schedule, Sharing, SystemConfig, Target, Trigger, VectorSet,
    Window,
};
use crate::health::HmRecord;
use crate::hypercall::Request;
use crate::{CpuId, Local, Router};

const LINE: u8 = 0x30;
const TIMER: u16 = 0;
const PORT: u16 = 1;
const FRAME: u64 = 10;

static PORTS: [PortConfig; 2] = [
    PortConfig::new(TIMER, Binding::counting(Source::Timer)),
    PortConfig::new(PORT, Binding::counting(Source::Line(LINE as u16))),
];
static TARGET: [Target; 1] = [Target { partition: 0, port: PORT }];
static WINDOWS: [Window; 1] = [Window { partition: 0, start: 0, length: FRAME }];

/// One partition on CPU 0, an exclusive edge line into it (with a budget of `budget`
/// raises per frame, if any), its clock on its timer port if `clocked`.
fn config(clocked: bool, budget: Option<NonZeroU32>) -> SystemConfig<1> {
    let routes: &'static [Route] = Box::leak(Box::new([Route {
        vector: LINE,
        sharing: Sharing::Exclusive,
        trigger: Trigger::Edge,
        kernel_first: false,
        targets: &TARGET,
        budget,
        ack_timeout: 0,
    }]));
    SystemConfig {
        partitions: [PartitionConfig {
            name: "p0",
            cpu: 0,
            ports: &PORTS,
            priority_levels: &[],
            timer_port: if clocked { Some(TIMER) } else { None },
            error_port: None,
            catch_up: CatchUpPolicy::Replay,
            vectors: VectorSet::EMPTY.with(LINE),
            channels: 0,
            ping: None,
            health: HmTable::IGNORE_ALL,
        }],
        schedule: Schedule { major_frame: FRAME, windows: &WINDOWS },
        routes,
        clock_vector: None,
        channels: &[],
        channel_budgets: &[],
    }
}

type Engine = Router<1, 1, 2>;

fn p0() -> PartitionId<1> {
    match PartitionId::new(0) {
        Ok(p) => p,
        Err(_) => unreachable!("partition 0 exists"),
    }
}

fn port(raw: u16) -> Port<1> {
    match Port::new(u32::from(raw)) {
        Ok(port) => port,
        Err(_) => unreachable!("port {raw} exists"),
    }
}

/// CPU `c`'s token (a loom thread stands for the CPU, its interrupts off throughout).
fn cpu(c: u32) -> Local<'static, 2> {
    Local::interrupts_disabled(CpuId::new(c).unwrap_or(CpuId::BOOT))
}

/// The engine on `config`, started, its partition's upcall entry registered.
fn engine(config: SystemConfig<1>) -> (Arc<Engine>, &'static SharedPage) {
    engine_with(config)
}

/// [`engine`] for any configuration of one partition.
fn engine_with(config: SystemConfig<1>) -> (Arc<Engine>, &'static SharedPage) {
    let page: &'static SharedPage = Box::leak(Box::new(SharedPage::new()));
    let Ok(router) = Router::new(config, [page]) else { unreachable!("valid configuration") };
    router.start();
    router.events().partition(p0()).set_upcall_entry(NonZeroU64::new(0x40_0000));
    (Arc::new(router), page)
}

/// A CPU's adapter: records what the engine asks, and keeps the line's mask at the
/// shared interrupt controller (0 unmasked, 1 masked) with a count of unmasks.
struct Cpu {
    rec: Recording<64>,
    masked: Arc<AtomicU64>,
    unmasks: Arc<AtomicUsize>,
}

impl Cpu {
    fn new(now: u64, masked: &Arc<AtomicU64>, unmasks: &Arc<AtomicUsize>) -> Self {
        let mut rec = Recording::new();
        rec.now = now;
        Self { rec, masked: masked.clone(), unmasks: unmasks.clone() }
    }

    fn actions(&mut self) -> Vec<Action> {
        self.rec.take().collect()
    }
}

impl KernelAdapter for Cpu {
    fn now(&self) -> u64 {
        self.rec.now
    }
    fn kernel_handler(&mut self, vector: u8) {
        self.rec.kernel_handler(vector);
    }
    fn eoi(&mut self, vector: u8) {
        self.rec.eoi(vector);
    }
    fn mask_line(&mut self, vector: u8) {
        self.masked.store(1, Ordering::SeqCst);
        self.rec.mask_line(vector);
    }
    fn unmask_line(&mut self, vector: u8) {
        self.masked.store(0, Ordering::SeqCst);
        self.unmasks.fetch_add(1, Ordering::SeqCst);
        self.rec.unmask_line(vector);
    }
    fn inject_upcall(&mut self, partition: u16, upcall: &Upcall) -> Result<(), UpcallFault> {
        self.rec.inject_upcall(partition, upcall)
    }
    fn kick(&mut self, cpu: u16) {
        self.rec.kick(cpu);
    }
    fn wait(&mut self, partition: u16) {
        self.rec.wait(partition);
    }
    fn user_range(&self, partition: u16, addr: u64, len: u64) -> bool {
        self.rec.user_range(partition, addr, len)
    }
    fn console_write(&mut self, partition: u16, addr: u64, len: u64) -> u64 {
        self.rec.console_write(partition, addr, len)
    }
    fn restart(&mut self, partition: u16, mode: StartMode) {
        self.rec.restart(partition, mode);
    }
    fn idle(&mut self, partition: u16) {
        self.rec.idle(partition);
    }
    fn stop_module(&mut self) {
        self.rec.stop_module();
    }
    fn log(&mut self, record: &HmRecord) {
        self.rec.log(record);
    }
}

/// Runs `model` under loom, every interleaving (no preemption bound), and checks it
/// explored more than one.
fn explore(model: impl Fn() + Sync + Send + 'static) {
    let explored = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = explored.clone();
    let builder = loom::model::Builder::new();
    let model = std::sync::Arc::new(model);
    builder.check(move || {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // The engine is built on the stack (its tables are arrays): a thread with room.
        let model = model.clone();
        let run = thread::Builder::new().stack_size(1 << 26).spawn(move || model());
        let Ok(Ok(())) = run.map(|handle| handle.join()) else { unreachable!("the model") };
    });
    let explored = explored.load(std::sync::atomic::Ordering::Relaxed);
    println!("explored {explored} interleavings");
    assert!(explored > 1, "the model explored a single interleaving");
}

/// What partition 0's CPU does while the line fires on CPU 1.
#[derive(Clone, Copy, Debug)]
enum Home {
    /// It enters the window, idle from its last one (nothing else deliverable).
    Entry,
    /// Running with its vCPU open, it asks to idle.
    Idle,
    /// Idle in its window, it leaves it.
    Exit,
}

/// Partition 0 idle (waiting) in its window on CPU 0, or entering it idle; the line
/// fires on CPU 1. Afterwards CPU 0's kernel acts on the kicks it got (it resumes the
/// partition). Whatever the interleaving: CPU 1 injects nothing; the event is delivered
/// exactly once if the partition is in its window, and stays pending if it left.
fn raise_and_kick_races(home: Home) {
    explore(move || {
        let (router, page) = engine(config(false, None));
        let (masked, unmasks) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicUsize::new(0)));
        let mut a0 = Cpu::new(0, &masked, &unmasks);
        router.on_partition_entry(&cpu(0), p0(), 0, FRAME, &mut a0);
        let _ = page.guest().sti();
        if !matches!(home, Home::Idle) {
            assert_eq!(router.call(&cpu(0), p0(), Request::Idle, &mut a0), Ok(0));
        }
        if matches!(home, Home::Entry) {
            router.on_partition_exit(&cpu(0), p0(), FRAME, &mut a0);
            a0.rec.now = 2 * FRAME;
        }
        let _ = a0.actions();
        let other = {
            let router = router.clone();
            let mut a1 = Cpu::new(a0.rec.now, &masked, &unmasks);
            thread::spawn(move || {
                let _ = router.on_hardware_irq(&cpu(1), LINE, &mut a1);
                a1.actions()
            })
        };
        let now = a0.rec.now;
        match home {
            Home::Entry => router.on_partition_entry(&cpu(0), p0(), now, FRAME, &mut a0),
            Home::Idle => {
                assert_eq!(router.call(&cpu(0), p0(), Request::Idle, &mut a0), Ok(0));
            }
            Home::Exit => router.on_partition_exit(&cpu(0), p0(), now, &mut a0),
        }
        let Ok(remote) = other.join() else { unreachable!("the other CPU returns") };
        assert!(
            !remote.iter().any(|a| matches!(a, Action::Upcall(..))),
            "CPU 1 injected into a partition of CPU 0: {remote:?}"
        );
        let mut local = a0.actions();
        let kicked = |actions: &[Action]| actions.iter().any(|a| *a == Action::Kick(0));
        if kicked(&remote) || kicked(&local) {
            router.on_resume(&cpu(0), &mut a0);
            local.extend(a0.actions());
        }
        let upcalls = local.iter().filter(|a| matches!(a, Action::Upcall(0, _))).count();
        let pending = router.events().partition(p0()).status(port(PORT)).pending;
        if matches!(home, Home::Exit) {
            assert_eq!(upcalls + pending as usize, 1, "delivered or pending: {local:?}");
        } else {
            assert_eq!(upcalls, 1, "woken with the event: {local:?} {remote:?}");
        }
    });
}

#[test]
fn loom_defect4_raise_and_kick_vs_the_entry_never_loses_the_wake_up() {
    raise_and_kick_races(Home::Entry);
}

#[test]
fn loom_defect4_raise_and_kick_vs_the_idle_hypercall_never_loses_the_wake_up() {
    raise_and_kick_races(Home::Idle);
}

#[test]
fn loom_defect4_raise_and_kick_vs_the_exit_keeps_the_event() {
    raise_and_kick_races(Home::Exit);
}

/// Partition 0 runs on CPU 0 from tick 0 (for 20 ticks); CPU 0 ticks at 11 and the
/// partition leaves at 12, while CPU 1 ticks at 10 and 12 (both CPUs race to start frame
/// 1). Whatever the interleaving, the partition is given ticks 1 to 12 exactly once
/// (defect 13): only its own CPU gives them.
#[test]
fn loom_defect13_ticks_of_two_cpus_and_an_exit_give_each_tick_once() {
    explore(|| {
        let (router, _page) = engine(config(true, None));
        let (masked, unmasks) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicUsize::new(0)));
        let mut a0 = Cpu::new(0, &masked, &unmasks);
        router.on_partition_entry(&cpu(0), p0(), 0, 2 * FRAME, &mut a0);
        let other = {
            let router = router.clone();
            let mut a1 = Cpu::new(FRAME, &masked, &unmasks);
            thread::spawn(move || {
                let _ = router.on_tick(&cpu(1), FRAME, &mut a1);
                a1.rec.now = FRAME + 2;
                let _ = router.on_tick(&cpu(1), FRAME + 2, &mut a1);
            })
        };
        a0.rec.now = FRAME + 1;
        let _ = router.on_tick(&cpu(0), FRAME + 1, &mut a0);
        a0.rec.now = FRAME + 2;
        router.on_partition_exit(&cpu(0), p0(), FRAME + 2, &mut a0);
        let Ok(()) = other.join() else { unreachable!("the other CPU returns") };
        let timer = router.events().partition(p0()).status(port(TIMER));
        assert_eq!(timer.pending, 12, "ticks 1 to 12, each once");
        assert_eq!(router.partition_cpu(p0()).time().given(), 12);
    });
}

/// The line's budget is one raise per frame. On CPU 1 two raises at tick 9 exceed it
/// and mask the line for a storm while CPU 0's tick at 10 starts the next frame and
/// ends the storms of the last one (then its tick at 20 ends those of frame 1, to which
/// a raise that saw frame 1 begin is charged): whatever the interleaving, the line ends
/// unmasked, unmasked exactly once, and the raise past the budget is counted lost (defect 2, on
/// the engine's own `on_hardware_irq` and frame boundary).
#[test]
fn loom_defect2_the_engines_storm_mask_racing_the_frame_boundary_never_masks_for_good() {
    explore(|| {
        let (router, _page) = engine(config(false, NonZeroU32::new(1)));
        let (masked, unmasks) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicUsize::new(0)));
        let mut a0 = Cpu::new(9, &masked, &unmasks);
        let _ = router.on_tick(&cpu(0), 9, &mut a0);
        let other = {
            let router = router.clone();
            let mut a1 = Cpu::new(9, &masked, &unmasks);
            thread::spawn(move || {
                let _ = router.on_hardware_irq(&cpu(1), LINE, &mut a1);
                let _ = router.on_hardware_irq(&cpu(1), LINE, &mut a1);
            })
        };
        a0.rec.now = FRAME;
        let _ = router.on_tick(&cpu(0), FRAME, &mut a0);
        let Ok(()) = other.join() else { unreachable!("the other CPU returns") };
        // A raise that saw frame 1 begin is charged to it: its storm ends with frame 1.
        a0.rec.now = 2 * FRAME;
        let _ = router.on_tick(&cpu(0), 2 * FRAME, &mut a0);
        assert_eq!(masked.load(Ordering::SeqCst), 0, "the line ends unmasked");
        assert_eq!(unmasks.load(Ordering::SeqCst), 1, "unmasked once, after its mask");
        assert_eq!(router.line_lost(LINE), 1, "the raise past the budget is lost, counted");
    });
}

static LEVEL_PORTS: [PortConfig; 1] =
    [PortConfig::new(PORT, Binding::coalescing(Source::Line(LEVEL as u16)))];
static LEVEL_TARGET: [Target; 1] = [Target { partition: 0, port: PORT }];
const LEVEL: u8 = 0x31;

/// The exclusive level line `LEVEL` into partition 0, acknowledgements due `ack_timeout`
/// ticks after a firing.
fn level_route(ack_timeout: u64) -> &'static [Route] {
    Box::leak(Box::new([Route {
        vector: LEVEL,
        sharing: Sharing::Exclusive,
        trigger: Trigger::Level,
        kernel_first: false,
        targets: &LEVEL_TARGET,
        budget: None,
        ack_timeout,
    }]))
}

/// Partition 0 on CPU 1 with a level line whose acknowledgement times out after 5 ticks
/// (its health monitor idles it for that) and a warm start for a call that does not
/// decode.
fn deferral_config() -> SystemConfig<1> {
    let routes = level_route(5);
    SystemConfig {
        partitions: [PartitionConfig {
            name: "p0",
            cpu: 1,
            ports: &LEVEL_PORTS,
            priority_levels: &[],
            timer_port: None,
            error_port: None,
            catch_up: CatchUpPolicy::Replay,
            vectors: VectorSet::EMPTY.with(LEVEL),
            channels: 0,
            ping: None,
            health: HmTable::IGNORE_ALL
                .on(crate::config::HmKind::AckTimeout, crate::config::HmAction::Idle)
                .on(crate::config::HmKind::IllegalHypercall, crate::config::HmAction::WarmStart),
        }],
        schedule: Schedule { major_frame: 4 * FRAME, windows: &WINDOWS },
        routes,
        clock_vector: None,
        channels: &[],
        channel_budgets: &[],
    }
}

/// CPU 0's tick expires partition 0's acknowledgement (an idle, deferred to CPU 1 and
/// kicked) while on CPU 1 the partition makes a call that does not decode (a warm start,
/// taken there). Afterwards CPU 1's kernel acts on its kick. Whatever the interleaving,
/// the idle is applied if the log reports it (the warm start, if it came first, released
/// the line's debt: then there is no timeout and the partition ends warm-started).
#[test]
fn loom_a_deferred_action_racing_a_local_one_is_applied() {
    explore(|| {
        let (router, _page) = engine_with(deferral_config());
        let (masked, unmasks) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicUsize::new(0)));
        let mut a1 = Cpu::new(0, &masked, &unmasks);
        router.on_partition_entry(&cpu(1), p0(), 0, FRAME, &mut a1);
        let mut a0 = Cpu::new(1, &masked, &unmasks);
        let _ = router.on_hardware_irq(&cpu(0), LEVEL, &mut a0);
        let other = {
            let router = router.clone();
            thread::spawn(move || {
                a0.rec.now = 7;
                let _ = router.on_tick(&cpu(0), 7, &mut a0);
                a0.actions()
            })
        };
        a1.rec.now = 7;
        let bad = crate::hypercall::RawCall { number: 0xdead, args: [0; 4] };
        let _ = router.hypercall(&cpu(1), p0(), &bad, &mut a1);
        let Ok(remote) = other.join() else { unreachable!("the other CPU returns") };
        let local = a1.actions();
        if remote.iter().chain(local.iter()).any(|a| *a == Action::Kick(1)) {
            router.on_resume(&cpu(1), &mut a1);
        }
        // (The warm start releases the line's debt: if it came first, no timeout.)
        let idled = remote
            .iter()
            .any(|a| matches!(a, Action::Log(r) if r.action == crate::config::HmAction::Idle));
        let expected = if idled { crate::Mode::Idle } else { crate::Mode::WarmStart };
        assert_eq!(router.mode(p0()), expected, "the logged actions are the ones applied");
    });
}

const LINE_HIGH: u8 = 0x32;
const HIGH: u16 = 1;
const LOW: u16 = 2;

static TWO_LINES: [PortConfig; 2] = [
    PortConfig::new(HIGH, Binding::counting(Source::Line(LINE_HIGH as u16))),
    PortConfig::new(LOW, Binding::counting(Source::Line(LINE as u16))),
];
static HIGH_TARGET: [Target; 1] = [Target { partition: 0, port: HIGH }];
static LOW_TARGET: [Target; 1] = [Target { partition: 0, port: LOW }];

/// Partition 0 on CPU 0 with two exclusive edge lines: `LINE` into port `LOW` and
/// `LINE_HIGH` into port `HIGH`, of higher priority.
fn two_lines_config() -> SystemConfig<1> {
    let route = |vector, targets| Route {
        vector,
        sharing: Sharing::Exclusive,
        trigger: Trigger::Edge,
        kernel_first: false,
        targets,
        budget: None,
        ack_timeout: 0,
    };
    let routes: &'static [Route] =
        Box::leak(Box::new([route(LINE, &LOW_TARGET), route(LINE_HIGH, &HIGH_TARGET)]));
    let mut config = config(false, None);
    config.partitions[0].ports = &TWO_LINES;
    config.partitions[0].vectors = VectorSet::EMPTY.with(LINE).with(LINE_HIGH);
    config.routes = routes;
    config
}

/// The upcalls (their ports) among `actions`.
fn upcalls(actions: &[Action]) -> Vec<u16> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Upcall(0, upcall) => upcall.port,
            _ => None,
        })
        .collect()
}

/// Partition 0 runs on CPU 0 with its vCPU open and nothing pending. Its line `LINE` fires
/// on CPU 0 (the direct path: the event goes straight into service and its upcall is
/// injected, no doorbell, no lookup) while `LINE_HIGH` fires on CPU 1 for the same
/// partition. Afterwards CPU 0's kernel acts on the kicks it got, and the guest handles
/// each upcall (takes its port's count, returns). Whatever the interleaving: CPU 1 injects
/// nothing; each event is delivered exactly once, by an upcall; and if CPU 0 saw CPU 1's
/// interrupt done before its own began, the first upcall is `HIGH`'s (priority: the direct
/// path is only taken while nothing else is deliverable; without that check this model
/// fails).
#[test]
fn loom_direct_upcall_vs_a_raise_on_another_cpu_loses_nothing() {
    explore(|| {
        let (router, page) = engine_with(two_lines_config());
        let (masked, unmasks) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicUsize::new(0)));
        let mut a0 = Cpu::new(1, &masked, &unmasks);
        router.on_partition_entry(&cpu(0), p0(), 0, FRAME, &mut a0);
        let _ = page.guest().sti();
        let _ = a0.actions();
        let done = Arc::new(AtomicU64::new(0));
        let other = {
            let (router, done) = (router.clone(), done.clone());
            let mut a1 = Cpu::new(1, &masked, &unmasks);
            thread::spawn(move || {
                let _ = router.on_hardware_irq(&cpu(1), LINE_HIGH, &mut a1);
                done.store(1, Ordering::Release);
                a1.actions()
            })
        };
        let after_high = done.load(Ordering::Acquire) == 1;
        let _ = router.on_hardware_irq(&cpu(0), LINE, &mut a0);
        let Ok(remote) = other.join() else { unreachable!("the other CPU returns") };
        assert!(upcalls(&remote).is_empty(), "CPU 1 injected into a partition of CPU 0");
        let mut local = a0.actions();
        if after_high {
            assert_eq!(upcalls(&local), [HIGH], "priority: {local:?}");
        }
        let kicked = |actions: &[Action]| actions.iter().any(|a| *a == Action::Kick(0));
        if kicked(&remote) || kicked(&local) {
            router.on_resume(&cpu(0), &mut a0);
            local.extend(a0.actions());
        }
        // The guest handles each upcall: takes its count, returns (which injects the next).
        let mut delivered = Vec::new();
        let mut next = upcalls(&local);
        while let [raw] = next[..] {
            delivered.push(raw);
            let port = port(raw);
            assert_eq!(router.call(&cpu(0), p0(), Request::TakeCount { port }, &mut a0), Ok(1));
            assert_eq!(router.call(&cpu(0), p0(), Request::UpcallReturn, &mut a0), Ok(0));
            next = upcalls(&a0.actions());
        }
        assert!(next.is_empty(), "one upcall at a time: {next:?}");
        delivered.sort_unstable();
        assert_eq!(delivered, [HIGH, LOW], "each event delivered once, by an upcall");
        let table = router.events().partition(p0());
        assert_eq!(table.pending_total(), 0, "nothing left pending");
    });
}

/// Partition 0 runs on CPU 0 from its window's first tick, its vCPU closed: tick 1 makes
/// its timer port pending, tick 2 begins a quiet stretch, ticks 3 and 4 are quiet; then
/// its guest opens its vCPU in its page without a hypercall. Meanwhile the line fires on
/// CPU 1 (port 1 becomes deliverable, CPU 0 is kicked); then CPU 0's kernel resumes the
/// partition. Whatever the interleaving: CPU 1 injects nothing, and the one upcall CPU 0
/// injects is the timer port's with all four ticks pending (without the quiet ticks given
/// at the resume it carries two), port 1's event still pending.
#[test]
fn loom_quiet_ticks_vs_a_raise_and_kick_from_another_cpu_are_all_given() {
    explore(|| {
        let (router, page) = engine(config(true, None));
        let (masked, unmasks) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicUsize::new(0)));
        let mut a0 = Cpu::new(0, &masked, &unmasks);
        let Some(first) = router.on_tick(&cpu(0), 0, &mut a0) else { unreachable!("a switch") };
        router.on_partition_entry(&cpu(0), p0(), 0, first.budget(0), &mut a0);
        let other = {
            let router = router.clone();
            let mut a1 = Cpu::new(0, &masked, &unmasks);
            thread::spawn(move || {
                let _ = router.on_hardware_irq(&cpu(1), LINE, &mut a1);
                a1.actions()
            })
        };
        for now in 1..=4 {
            a0.rec.now = now;
            assert_eq!(router.on_tick(&cpu(0), now, &mut a0), None, "no switch at {now}");
        }
        let _ = page.guest().sti();
        let Ok(remote) = other.join() else { unreachable!("the other CPU returns") };
        assert!(upcalls(&remote).is_empty(), "CPU 1 injected into a partition of CPU 0");
        assert!(upcalls(&a0.actions()).is_empty(), "no upcall while the vCPU was closed");
        router.on_resume(&cpu(0), &mut a0);
        let injected: Vec<Upcall> = a0
            .actions()
            .into_iter()
            .filter_map(|a| match a {
                Action::Upcall(0, upcall) => Some(upcall),
                _ => None,
            })
            .collect();
        let [upcall] = injected[..] else { unreachable!("one upcall: {injected:?}") };
        assert_eq!((upcall.port, upcall.pending), (Some(TIMER), 4), "every tick given");
        let table = router.events().partition(p0());
        assert_eq!(table.status(port(PORT)).pending, 1, "the line's event still pending");
    });
}

/// The acknowledgement timeout of [`level_config`]'s line.
const TIMEOUT: u64 = 4;

/// [`config`] with the level line `LEVEL` instead of its edge line, acknowledgements due
/// [`TIMEOUT`] ticks after a firing.
fn level_config() -> SystemConfig<1> {
    let mut config = config(false, None);
    config.partitions[0].ports = &LEVEL_PORTS;
    config.partitions[0].vectors = VectorSet::EMPTY.with(LEVEL);
    config.routes = level_route(TIMEOUT);
    config
}

/// Acknowledgement timeouts among `actions`, by their tick.
fn timeouts(actions: &[Action]) -> Vec<u64> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Log(r) if r.kind == crate::config::HmKind::AckTimeout => Some(r.tick),
            _ => None,
        })
        .collect()
}

/// CPU 1 takes tick 9 while the level line fires on CPU 0, whose clock still says 3
/// (its own tick 9 not taken yet: it was stalled). Whatever the interleaving, the
/// partition is timed out by tick 9 + `TIMEOUT` at the latest; and if CPU 0 saw CPU 1's
/// tick done before the interrupt, not before it: the deadline counts from the latest
/// tick a CPU has taken, not from the stalled CPU's clock (from which it would be due at
/// tick 7, already past; without that base this model fails).
#[test]
fn loom_a_level_deadline_counts_from_the_latest_tick_of_any_cpu() {
    explore(|| {
        let (router, _page) = engine(level_config());
        let (masked, unmasks) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicUsize::new(0)));
        let mut a0 = Cpu::new(3, &masked, &unmasks);
        let done = Arc::new(AtomicU64::new(0));
        let other = {
            let (router, done) = (router.clone(), done.clone());
            let mut a1 = Cpu::new(9, &masked, &unmasks);
            thread::spawn(move || {
                let _ = router.on_tick(&cpu(1), 9, &mut a1);
                done.store(1, Ordering::Release);
                a1
            })
        };
        let after_tick = done.load(Ordering::Acquire) == 1;
        let _ = router.on_hardware_irq(&cpu(0), LEVEL, &mut a0);
        let Ok(mut a1) = other.join() else { unreachable!("the other CPU returns") };
        let mut late = timeouts(&a1.actions());
        for now in 10..=9 + TIMEOUT {
            a1.rec.now = now;
            let _ = router.on_tick(&cpu(1), now, &mut a1);
            late.extend(timeouts(&a1.actions()));
        }
        if after_tick {
            assert_eq!(late, [9 + TIMEOUT], "timed out on its deadline, not before");
        } else {
            assert_eq!(late.len(), 1, "timed out once, by its deadline: {late:?}");
        }
    });
}
