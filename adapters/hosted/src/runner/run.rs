//! The runner's event loops for `P` partitions: one thread per CPU of the
//! configuration, each `poll`ing its own clock timerfd (every CPU ticks at the same
//! instants), its doorbell (an eventfd other CPUs ring to kick it), its partitions'
//! pidfds (readable when a process ends), the hypercall socket of its partition inside
//! its window, the device's UDP socket if the device's interrupts come to it (while its
//! line is unmasked), and on CPU 0 the signalfd (SIGINT, SIGTERM). A CPU's thread, and
//! the partition processes it starts, are pinned to a host CPU of their own when there is
//! more than one CPU. The engine is shared: each thread calls it for its own CPU, with
//! that CPU's [`Local`] token and its own adapter.
//!
//! Each clock expiry is one kernel tick (missed expirations count: a late wake-up
//! handles every tick it missed). At a tick that is a window boundary the partition
//! leaving is told (`on_partition_exit`) and stopped (SIGSTOP), the partition entering
//! is told (`on_partition_entry`) and continued (SIGCONT); then the tick is the clock
//! line's interrupt (`on_hardware_irq(clock_vector)`). An event raised on one CPU for a
//! partition of another is a kick (the engine asks for it): the other CPU's doorbell is
//! rung, and that thread has the engine take its decision (`on_resume`).
//!
//! A partition never makes the runner wait. Its calls are read without blocking and
//! served one per pass of the loop inside its window ([`CALLS_PER_PASS`] per pass at
//! the end of the run), so the clock is read between any two; the answer is sent
//! without blocking. A partition whose answer cannot be sent (its socket's queue is
//! full: it sends calls without reading the answers), whose socket closed and which has
//! not ended by itself [`CLOSED_GRACE_NS`] later, or that sends something that is not a
//! call is cut off as if it had crashed: its process is
//! killed and reaped, and the error is declared to its health monitor on its behalf
//! (`exec_stop_error` with [`MISBEHAVED`], the way any process end that is not a fault
//! is declared), which then restarts it or not as configured.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};

use irq_router::adapter::StartMode;
use irq_router::events::PartitionId;
use irq_router::hypercall::{RawCall, Request};
use irq_router::vcpu::CatchUpPolicy;
use irq_router::{CpuId, Local, Router, Switch};

use super::adapter::{Hosted, LineMasks};
use super::cgroup::{PartitionCgroup, RunCgroups};
use super::children;
use super::console::Console;
use super::device::DeviceLine;
use super::isolation::{self, Granted};
use super::sandbox::Confinement;
use super::summary::{self, CpuSummary, Harvest, Summary};
use super::timeline::{Mark, SharedChoice, Timeline};
use super::{Options, RunError};
use crate::config::System;
use crate::config::convert::MAX_HOSTED_CPUS;
use crate::guest::program::doorbell_signal;
use crate::region::{Arrival, Command, SharedRegion};
use crate::sys::{self, Ended};

/// What a run produced.
#[derive(Debug)]
pub struct Outcome {
    /// The summary.
    pub summary: Summary,
    /// The timeline.
    pub timeline: Timeline,
}

/// Calls of one partition served per pass of the end-of-run loop (inside a window:
/// one per pass).
pub const CALLS_PER_PASS: usize = 8;

/// The `exec_stop_error` code the runner declares for a partition it cut off for
/// misbehaving on its hypercall socket (not reading its answers, closing the socket,
/// sending what is not a call). Other codes: `0x100 + signal` for a process killed by
/// a signal that is not a fault, `0x200 + status` for one that exited.
pub const MISBEHAVED: u32 = 0x300;

/// How long a partition whose hypercall socket closed may take to end by itself, in the
/// time of its own windows, before it is cut off as [`MISBEHAVED`]. A dying process
/// closes its descriptors before it can be reaped, so its socket's end of stream can be
/// seen before its own end (a kill by the memory controller, an exit): what it ended
/// with is what is reported, if it ends within this time.
pub const CLOSED_GRACE_NS: u64 = 20_000_000;

/// The engine of the hosted runner: built for [`MAX_HOSTED_CPUS`] CPUs whatever the
/// configuration's `cpus` (the CPUs past it have no partition, no thread and no tick).
pub type Engine<const P: usize> = Router<P, 1, MAX_HOSTED_CPUS>;

/// What the CPUs' threads share.
struct Shared<'a, const P: usize> {
    router: &'a Engine<P>,
    system: &'a System,
    options: &'a Options,
    regions: &'a [SharedRegion],
    confinements: &'a [Confinement],
    /// Each CPU's doorbell (an eventfd), rung to kick it.
    doorbells: Vec<OwnedFd>,
    /// The lines' masks, set by whichever CPU masks a line and read by the device's.
    lines: Arc<LineMasks>,
    /// The signalfd of SIGINT and SIGTERM, read by CPU 0.
    sigfd: i32,
    /// Every CPU's loop ends: Ctrl-C, SIGTERM, an error on one CPU.
    halt: AtomicBool,
    /// Ctrl-C or SIGTERM arrived.
    interrupted: AtomicBool,
    /// The clock's tick 0 (`CLOCK_MONOTONIC`), set by CPU 0 once every CPU has started its
    /// partitions.
    start_ns: AtomicU64,
    /// Where the CPUs wait for each other before the clock starts.
    barrier: Barrier,
    /// Each CPU's counts for the progress line.
    progress: Vec<[AtomicU64; 4]>,
    /// The frames the picture shows, chosen by whichever CPU sees the reason first.
    svg_choice: Arc<SharedChoice>,
}

/// One CPU: a thread of the runner, its partitions, its clock.
struct Cpu<'a, 's, const P: usize> {
    shared: &'s Shared<'a, P>,
    here: usize,
    /// The host CPU its thread and its partitions are pinned to (`None`: not pinned).
    host_cpu: Option<usize>,
    /// Its partitions.
    mine: Vec<usize>,
    hosted: Hosted,
    sockets: Vec<Option<OwnedFd>>,
    /// Each of its partitions' pidfd (readable once the process ended).
    pidfds: Vec<Option<OwnedFd>>,
    /// Each partition's processes started so far: which process a pidfd polled was for
    /// (a restart earlier in the same pass replaces the process and its pidfd).
    started: Vec<u64>,
    /// Each partition whose socket closed while its process lives on: the ticks of its
    /// windows left before it is cut off (see [`CLOSED_GRACE_NS`]).
    closed: Vec<Option<u64>>,
    /// The device, if its interrupts come to this CPU.
    device: Option<DeviceLine>,
    /// The window being run (as the engine's schedule switched to it): its partition,
    /// the tick it was entered and the tick it ends.
    current: Option<(usize, u64, u64)>,
    harvest: Vec<Harvest>,
    restarts: Vec<u64>,
    /// Its partitions' control groups (`None` for the others').
    cgroups: Vec<Option<PartitionCgroup>>,
    /// What it did.
    stats: CpuStats,
    /// The waits at the start it went through (of 2).
    at_start: u8,
    /// The runner's own lines to stderr (the progress line, a restart that failed): through
    /// a bounded queue, as the partitions' console, so that a stalled or closed stderr
    /// neither blocks nor ends the CPU's thread.
    stderr: Console,
}

/// What one CPU did in a run.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct CpuStats {
    /// Clock ticks it took.
    pub ticks: u64,
    /// Kicks it sent to other CPUs.
    pub kicks_sent: u64,
    /// Kicks it took from other CPUs (each an `on_resume`).
    pub kicks_taken: u64,
    /// Device interrupts it took.
    pub device_irqs: u64,
}

fn id<const P: usize>(p: usize) -> PartitionId<P> {
    // Partition numbers come from the validated configuration (p < P).
    PartitionId::new(p as u32).unwrap_or_else(|_| unreachable!("partition {p} out of range"))
}

/// The x86 exception vector a fault signal stands for.
const fn trap_vector(signal: i32) -> Option<u8> {
    match signal {
        libc::SIGSEGV => Some(14), // page fault
        libc::SIGBUS => Some(17),  // alignment check
        libc::SIGFPE => Some(0),   // divide error
        libc::SIGILL => Some(6),   // invalid opcode
        libc::SIGTRAP => Some(3),  // breakpoint
        _ => None,
    }
}

/// Indices of a CPU's progress counts.
const UPCALLS: usize = 0;
const HM_EVENTS: usize = 1;
const RESTARTS: usize = 2;
const PACKETS: usize = 3;

/// Runs `system` with `P` partitions: one thread per CPU.
///
/// # Errors
/// The configuration does not validate, or a system call failed.
pub fn run<const P: usize>(system: &System, options: &Options) -> Result<Outcome, RunError> {
    let config = system.config::<P>()?;
    let mut shared = Vec::new();
    for (p, info) in system.info.iter().enumerate() {
        let region = SharedRegion::create(&format!("irq-hosted-{}", info.name))?;
        let k = &region.region().kernel;
        k.partition.store(p as u64, Ordering::Relaxed);
        let policy = match system.partitions[p].catch_up {
            CatchUpPolicy::Replay => 0,
            CatchUpPolicy::Warp => 1,
            CatchUpPolicy::Collapse => 2,
            CatchUpPolicy::BoundedReplay { .. } => 3,
        };
        k.policy.store(policy, Ordering::Relaxed);
        for (slot, role) in k.roles.iter().zip(info.roles) {
            slot.store(role as u8, Ordering::Relaxed);
        }
        k.line_vector.store(info.line_vector.map_or(0, u64::from), Ordering::Relaxed);
        if let Some((port, every)) = info.notify {
            k.notify_port.store(u64::from(port), Ordering::Relaxed);
            k.notify_every.store(every, Ordering::Relaxed);
        }
        shared.push(region);
    }
    let pages = std::array::from_fn(|p| &shared[p].region().page);
    let router = match Engine::<P>::new(config, pages) {
        Ok(router) => Box::new(router),
        Err(e) => {
            release(shared);
            return Err(RunError::Other(e.to_string()));
        }
    };
    router.start();
    let result = run_cpus(&router, system, options, &shared);
    drop(router);
    release(shared);
    result
}

/// Unmaps and closes every region: the end of the run, once the router and the
/// adapters, which hold `&'static` references into them, are gone.
fn release(shared: Vec<SharedRegion>) {
    for region in shared {
        // SAFETY: the only holders of references into the regions (the router's pages,
        // the adapters' regions) are gone (the caller dropped them), and a run hands none
        // out (its outcome is a summary and a timeline, copies).
        unsafe { region.release() };
    }
}

/// Starts one thread per CPU on `router`, waits for them and sums up.
#[allow(clippy::too_many_lines, reason = "the set-up, the threads and the sum, once")]
fn run_cpus<const P: usize>(
    router: &Engine<P>,
    system: &System,
    options: &Options,
    regions: &[SharedRegion],
) -> Result<Outcome, RunError> {
    let confinements: Vec<Confinement> =
        (0..P).map(|p| isolation::confinement(options.isolation, p)).collect();
    let mut missing: Vec<String> =
        isolation::namespaces_missing(options.isolation).into_iter().collect();
    let mut cgroups = options.isolation.cgroups.then(|| {
        let limits: Vec<_> = system.info.iter().map(|i| i.limits).collect();
        let mut cgroups = RunCgroups::create(&limits);
        missing.append(&mut cgroups.missing);
        for part in &mut cgroups.partitions {
            part.grant.frozen_outside_windows &= options.isolation.freeze_windows;
        }
        cgroups
    });
    isolation::warn_once(&missing);
    let granted: Vec<Granted> = (0..P)
        .map(|p| {
            let grant = cgroups.as_ref().map(|c| c.partitions[p].grant.clone()).unwrap_or_default();
            Granted::new(confinements[p], grant)
        })
        .collect();
    let cpus = system.cpus;
    let signals = [libc::SIGCHLD, libc::SIGINT, libc::SIGTERM];
    // Blocked before any thread starts: every thread inherits the mask.
    let old_mask = sys::block_signals(&signals)?;
    let sigfd = match sys::signal_fd(&signals[1..]) {
        Ok(fd) => fd,
        Err(e) => {
            sys::restore_signals(&old_mask);
            return Err(e.into());
        }
    };
    let doorbells = (0..cpus).map(|_| sys::event_fd()).collect::<Result<Vec<_>, _>>();
    let doorbells = match doorbells {
        Ok(d) => d,
        Err(e) => {
            sys::restore_signals(&old_mask);
            return Err(e.into());
        }
    };
    // With several CPUs, a line may be unmasked on a CPU that is not the device's: that
    // wakes the device's CPU (with one, its own loop looks at the masks before it waits).
    let lines = match (cpus > 1 && system.device.is_some()).then(sys::event_fd).transpose() {
        Ok(wake) => wake.map_or_else(LineMasks::default, LineMasks::with_wake),
        Err(e) => {
            sys::restore_signals(&old_mask);
            return Err(e.into());
        }
    };
    let common = Shared {
        router,
        system,
        options,
        regions,
        confinements: &confinements,
        doorbells,
        lines: Arc::new(lines),
        sigfd: sigfd.as_raw_fd(),
        halt: AtomicBool::new(false),
        interrupted: AtomicBool::new(false),
        start_ns: AtomicU64::new(0),
        barrier: Barrier::new(cpus),
        progress: (0..cpus).map(|_| Default::default()).collect(),
        svg_choice: Arc::new(SharedChoice::new()),
    };
    // Each partition's group goes to its CPU's thread, and comes back for the removal.
    let mut parts: Vec<Option<PartitionCgroup>> = match cgroups.as_mut() {
        Some(c) => std::mem::take(&mut c.partitions).into_iter().map(Some).collect(),
        None => (0..P).map(|_| None).collect(),
    };
    let host_cpus = sys::allowed_cpus();
    let machines: Vec<Cpu<'_, '_, P>> = (0..cpus)
        .map(|here| {
            let mine: Vec<usize> =
                (0..P).filter(|&p| usize::from(system.partitions[p].cpu) == here).collect();
            let mut own = Vec::with_capacity(P);
            for (p, part) in parts.iter_mut().enumerate() {
                own.push(if mine.contains(&p) { part.take() } else { None });
            }
            Cpu::new(
                &common,
                here,
                mine,
                own,
                (cpus > 1).then(|| host_cpus[here % host_cpus.len()]),
            )
        })
        .collect();
    let (ended, trouble) = run_threads(machines);
    let mut ended = ended;
    // Whatever is left of the trees is killed, and the groups removed (also after a CPU's
    // thread could not start or panicked).
    if let Some(mut c) = cgroups.take() {
        let mut back: Vec<Option<PartitionCgroup>> = (0..P).map(|_| None).collect();
        for (cpu, _) in &mut ended {
            for (p, part) in cpu.cgroups.iter_mut().enumerate() {
                if let Some(part) = part.take() {
                    back[p] = Some(part);
                }
            }
        }
        c.partitions = back.into_iter().flatten().collect();
        c.remove();
    }
    for signal in sys::read_signals(sigfd.as_raw_fd()) {
        if signal == libc::SIGINT || signal == libc::SIGTERM {
            common.interrupted.store(true, Ordering::Release);
        }
    }
    sys::restore_signals(&old_mask);
    match trouble {
        Some(Trouble::Panicked(panic)) => std::panic::resume_unwind(panic),
        Some(Trouble::NotStarted(e)) => return Err(e),
        None => {}
    }
    let mut first_error = None;
    let mut cpus_ended = Vec::with_capacity(ended.len());
    for (cpu, result) in ended {
        if let Err(e) = result {
            first_error.get_or_insert(e);
        }
        cpus_ended.push(cpu);
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    let interrupted = common.interrupted.load(Ordering::Acquire);
    Ok(sum_up(cpus_ended, regions, system, interrupted, &granted))
}

/// A panic's payload, as a thread's join gives it.
type Panic = Box<dyn std::any::Any + Send>;

/// A CPU at the end of its thread, and how its run ended.
type CpuEnded<'a, 's, const P: usize> = (Cpu<'a, 's, P>, Result<(), RunError>);

/// What went wrong with the CPUs' threads themselves.
enum Trouble {
    /// A thread could not be started (then none ran).
    NotStarted(RunError),
    /// A thread panicked (the first one's panic, raised again once the run is cleaned up).
    Panicked(Panic),
}

/// Runs each CPU on a thread of its own and waits for them all; gives back each CPU (for
/// its control groups and its figures) and its result.
///
/// The threads are started before any CPU is handed to one: if one cannot be started
/// (no thread left to the process), no CPU runs, and none waits at the start for a CPU
/// that never comes. A thread that panics halts every CPU, takes its place at the start
/// if it had not yet, and ends its processes; the panic is raised again by the caller,
/// once the run is cleaned up.
fn run_threads<'a, 's, const P: usize>(
    machines: Vec<Cpu<'a, 's, P>>,
) -> (Vec<CpuEnded<'a, 's, P>>, Option<Trouble>) {
    let halt = machines.first().map(|cpu| &cpu.shared.halt);
    std::thread::scope(|scope| {
        let mut threads = Vec::with_capacity(machines.len());
        let mut not_started = None;
        for cpu in &machines {
            let (give, take) = std::sync::mpsc::channel::<Cpu<'a, 's, P>>();
            let thread = std::thread::Builder::new()
                .name(format!("cpu{}", cpu.here))
                .spawn_scoped(scope, move || take.recv().ok().map(Cpu::thread));
            match thread {
                Ok(handle) => threads.push((give, handle)),
                Err(e) => {
                    let e = RunError::Other(format!("cannot start CPU {}'s thread: {e}", cpu.here));
                    not_started.get_or_insert(e);
                }
            }
        }
        if let Some(e) = not_started {
            // The threads started end without a CPU (their channels close).
            drop(threads);
            let ended = machines.into_iter().map(|cpu| (cpu, Ok(()))).collect();
            return (ended, Some(Trouble::NotStarted(e)));
        }
        let handles: Vec<_> = machines
            .into_iter()
            .zip(threads)
            .map(|(cpu, (give, handle))| {
                // The thread waits for it: it cannot be gone.
                let _ = give.send(cpu);
                handle
            })
            .collect();
        let mut ended = Vec::with_capacity(handles.len());
        let mut panicked = None;
        for handle in handles {
            match handle.join() {
                Ok(Some((cpu, result, panic))) => {
                    if let Some(panic) = panic {
                        panicked.get_or_insert(panic);
                    }
                    ended.push((cpu, result));
                }
                Ok(None) => {}
                Err(panic) => {
                    // A panic past the thread's own catch (its shutdown): the others halt.
                    if let Some(halt) = halt {
                        halt.store(true, Ordering::Release);
                    }
                    panicked.get_or_insert(panic);
                }
            }
        }
        (ended, panicked.map(Trouble::Panicked))
    })
}

/// The summary and the timeline of the CPUs' runs, as one machine's.
fn sum_up<const P: usize>(
    cpus: Vec<Cpu<'_, '_, P>>,
    regions: &[SharedRegion],
    system: &System,
    interrupted: bool,
    granted: &[Granted],
) -> Outcome {
    let router = cpus[0].shared.router;
    let names = system.info.iter().map(|i| i.name.clone()).collect();
    let mut all = Hosted::new(
        regions.iter().map(SharedRegion::region).collect(),
        names,
        Timeline::default(),
        Arc::new(LineMasks::default()),
    );
    let mut harvest = vec![Harvest::default(); P];
    let mut restarts = vec![0; P];
    let mut device = None;
    let mut per_cpu = Vec::with_capacity(cpus.len());
    let mut timelines = Vec::with_capacity(cpus.len());
    for mut cpu in cpus {
        let h = &mut cpu.hosted;
        for &p in &cpu.mine {
            all.upcalls[p] = h.upcalls[p];
            all.idled[p] = h.idled[p];
            harvest[p] = std::mem::take(&mut cpu.harvest[p]);
            restarts[p] = cpu.restarts[p];
        }
        all.now = all.now.max(h.now);
        all.log.append(&mut h.log);
        all.log_dropped += h.log_dropped;
        all.eois += h.eois;
        all.stopped |= h.stopped;
        all.console.dropped += h.console.dropped;
        let mut timeline = std::mem::take(&mut h.timeline);
        // Every CPU records the clock's ticks, at the same instants: the machine's clock
        // is drawn once, CPU 0's.
        if cpu.here != 0 {
            timeline.retain(|m| !matches!(m, Mark::Clock { .. }));
        }
        timelines.push(timeline);
        per_cpu.push(CpuSummary {
            cpu: cpu.here,
            host_cpu: cpu.host_cpu,
            partitions: cpu.mine.iter().map(|&p| system.info[p].name.clone()).collect(),
            stats: cpu.stats,
        });
        if cpu.device.is_some() {
            device = cpu.device.take();
        }
    }
    // One machine's log and timeline: the CPUs' records in time order.
    all.log.sort_by_key(|r| r.tick);
    all.timeline = Timeline::merge(timelines).unwrap_or_default();
    let mut summary = summary::collect(
        router,
        &all,
        regions,
        &harvest,
        &restarts,
        system,
        device.as_ref(),
        interrupted,
        granted,
    );
    summary.cpus = per_cpu;
    Outcome { summary, timeline: all.timeline }
}

impl<'a, 's, const P: usize> Cpu<'a, 's, P> {
    fn new(
        shared: &'s Shared<'a, P>,
        here: usize,
        mine: Vec<usize>,
        cgroups: Vec<Option<PartitionCgroup>>,
        host_cpu: Option<usize>,
    ) -> Self {
        let system = shared.system;
        let regions = shared.regions.iter().map(SharedRegion::region).collect();
        let names = system.info.iter().map(|i| i.name.clone()).collect();
        let frame = system.schedule.major_frame;
        let options = shared.options;
        let timeline = Timeline::with_choice(
            options.svg_frames,
            options.svg_from,
            options.frames,
            frame,
            system.tick_ns,
            Arc::clone(&shared.svg_choice),
        );
        let mut hosted = Hosted::new(regions, names, timeline, Arc::clone(&shared.lines));
        hosted.echo_console = shared.options.echo_console;
        Self {
            shared,
            here,
            host_cpu,
            mine,
            hosted,
            sockets: (0..P).map(|_| None).collect(),
            pidfds: (0..P).map(|_| None).collect(),
            started: vec![0; P],
            closed: vec![None; P],
            device: None,
            current: None,
            harvest: vec![Harvest::default(); P],
            restarts: vec![0; P],
            cgroups,
            stats: CpuStats::default(),
            at_start: 0,
            stderr: Console::new(),
        }
    }

    /// This CPU's token for the engine: its thread is the only one that calls the engine
    /// for it, and is never interrupted by another engine call (signals are blocked and
    /// read from a signalfd).
    fn local(&self) -> Local<'static, MAX_HOSTED_CPUS> {
        let cpu = CpuId::new(self.here as u32).unwrap_or_else(|_| unreachable!("cpus checked"));
        Local::interrupts_disabled(cpu)
    }

    fn router(&self) -> &'a Engine<P> {
        self.shared.router
    }

    /// Whether every CPU's loop must end now.
    fn halted(&self) -> bool {
        self.shared.halt.load(Ordering::Acquire) || self.router().stopped() || self.hosted.stopped
    }

    /// The body of this CPU's thread: the run, then the end of its processes. A panic
    /// halts every CPU (this one's partitions and events are gone), and is given back
    /// with the CPU, once its processes are ended.
    fn thread(mut self) -> (Self, Result<(), RunError>, Option<Panic>) {
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.run()));
        let (result, panic) = match run {
            Ok(result) => (result, None),
            Err(panic) => (Ok(()), Some(panic)),
        };
        if result.is_err() || panic.is_some() {
            self.shared.halt.store(true, Ordering::Release);
        }
        // The others do not wait at the start for a thread that panicked before it.
        while self.at_start < 2 {
            self.shared.barrier.wait();
            self.at_start += 1;
        }
        self.shutdown();
        (self, result, panic)
    }

    /// Starts this CPU's partitions (and its device), waits for the others, and runs the
    /// clock until the end of the run.
    fn run(&mut self) -> Result<(), RunError> {
        let shared = self.shared;
        let mut started = match self.host_cpu {
            // The processes it starts inherit the thread's CPU.
            Some(cpu) => sys::pin_thread(cpu).map_err(RunError::from),
            None => Ok(()),
        };
        for p in self.mine.clone() {
            if started.is_ok() {
                started = self.start_process(p);
            }
        }
        if let Some(device) = shared.system.device.filter(|d| usize::from(d.cpu) == self.here)
            && started.is_ok()
        {
            match DeviceLine::start(device) {
                Ok(line) => self.device = Some(line),
                Err(e) => started = Err(RunError::Other(format!("device: {e}"))),
            }
        }
        if started.is_err() {
            shared.halt.store(true, Ordering::Release);
        }
        // Every CPU has started its partitions (or failed to): tick 0 a little ahead, so
        // every process is loaded and stopped by then.
        shared.barrier.wait();
        self.at_start = 1;
        if self.here == 0 {
            shared.start_ns.store(sys::monotonic_ns() + 20_000_000, Ordering::Release);
        }
        shared.barrier.wait();
        self.at_start = 2;
        started?;
        if shared.halt.load(Ordering::Acquire) {
            return Ok(());
        }
        self.clock_loop()
    }

    fn clock_loop(&mut self) -> Result<(), RunError> {
        let shared = self.shared;
        let start_ns = shared.start_ns.load(Ordering::Acquire);
        self.hosted.t0_ns = start_ns;
        let timer = sys::periodic_timer(start_ns, shared.system.tick_ns)?;
        let frame = shared.system.schedule.major_frame;
        let end = shared.options.frames.saturating_mul(frame);
        let doorbell = shared.doorbells[self.here].as_raw_fd();
        let mut tick = 0u64;
        // The schedule's first stretch, at tick 0.
        self.stats.ticks = 1;
        let first = self.router().on_tick(&self.local(), 0, &mut self.hosted);
        self.effects();
        self.switch(0, first);
        while tick < end && !self.halted() {
            let mut fds = vec![pollfd(timer.as_raw_fd()), pollfd(doorbell)];
            let sigfd_at = (self.here == 0).then(|| {
                fds.push(pollfd(shared.sigfd));
                fds.len() - 1
            });
            let device_at = match &self.device {
                Some(d) if !shared.lines.is_masked(d.vector) => {
                    fds.push(pollfd(d.socket.as_raw_fd()));
                    Some(fds.len() - 1)
                }
                _ => None,
            };
            // The device's line unmasked on another CPU: polled again at once.
            let unmasked_at = match (&self.device, shared.lines.wake_fd()) {
                (Some(_), Some(wake)) => {
                    fds.push(pollfd(wake));
                    Some(fds.len() - 1)
                }
                _ => None,
            };
            let running = self.current.map(|(p, _, _)| p);
            let socket_at =
                match running.and_then(|p| self.sockets[p].as_ref().map(|s| (p, s.as_raw_fd()))) {
                    Some((p, fd)) => {
                        fds.push(pollfd(fd));
                        Some((fds.len() - 1, p))
                    }
                    None => None,
                };
            let pidfds_at = fds.len();
            let watched: Vec<(usize, u64)> = self
                .mine
                .iter()
                .filter(|&&p| self.pidfds[p].is_some())
                .map(|&p| (p, self.started[p]))
                .collect();
            for &(p, _) in &watched {
                fds.push(pollfd(self.pidfds[p].as_ref().map_or(-1, AsRawFd::as_raw_fd)));
            }
            sys::poll(&mut fds, 100)?;
            if fds[0].revents != 0 {
                let expirations = sys::read_timer(timer.as_raw_fd())?;
                for _ in 0..expirations {
                    tick += 1;
                    self.tick(tick);
                    if tick >= end {
                        break;
                    }
                }
            }
            if fds[1].revents != 0 && sys::take_ring(doorbell) && tick < end {
                self.kicked();
            }
            if let Some(i) = sigfd_at
                && fds[i].revents != 0
            {
                self.signals();
            }
            for (i, &(p, process)) in watched.iter().enumerate() {
                // The process polled, unless a restart above (a kick's deferred action, a
                // tick's) replaced it: that one was killed and reaped, its end moot, and
                // the new one has not ended.
                if fds[pidfds_at + i].revents != 0 && self.started[p] == process {
                    self.ended(p);
                }
            }
            if let Some(i) = device_at
                && fds[i].revents != 0
                && tick < end
            {
                self.device_irq();
            }
            if let Some(i) = unmasked_at
                && fds[i].revents != 0
            {
                // Only the wake-up: the next pass sees the line unmasked.
                let _ = sys::take_ring(fds[i].fd);
            }
            // The ticks above may have ended its window: a partition's calls are
            // served only inside its window (outside, the engine would refuse what
            // needs one, an upcall return included, and the guest would lose it).
            let still = self.current.map(|(p, _, _)| p);
            if let Some((i, p)) = socket_at
                && fds[i].revents != 0
                && tick < end
                && still == Some(p)
            {
                self.serve(p);
            }
            self.publish_progress();
        }
        if let Some((p, _, _)) = self.current.take() {
            self.exit(p, tick);
        }
        self.hosted.now = tick;
        self.drain();
        Ok(())
    }

    fn start_process(&mut self, p: usize) -> Result<(), RunError> {
        let info = &self.shared.system.info[p];
        let program = info.program.as_ref().unwrap_or(&self.shared.options.program);
        // A frozen group would hold the new process before its exec.
        let cgroup = self.cgroups[p].as_mut().map(|c| {
            c.set_frozen(false);
            &*c
        });
        let region = self.shared.regions[p].raw_fd();
        let confinement = self.shared.confinements[p];
        let fail = |e: &dyn std::fmt::Display| {
            RunError::Other(format!(
                "partition {p} \"{}\": {} ({e})",
                info.name,
                program.path.display()
            ))
        };
        let started = children::spawn(program, p, &info.name, region, confinement, cgroup)
            .map_err(|e| fail(&e))?;
        self.hosted.pids[p] = Some(started.pid);
        self.sockets[p] = Some(started.socket);
        self.started[p] += 1;
        self.closed[p] = None;
        // Taken while the process is an unreaped child: it names that process.
        match sys::pidfd(started.pid) {
            Ok(fd) => self.pidfds[p] = Some(fd),
            Err(e) => {
                self.end_process(p);
                return Err(fail(&e));
            }
        }
        if self.current.map(|(q, _, _)| q) != Some(p) {
            self.freeze(p, true);
        }
        Ok(())
    }

    /// Freezes or thaws partition `p`'s group (when asked for and the group can be
    /// frozen cheaply: cgroup v2), on top of stopping or continuing its main process.
    fn freeze(&mut self, p: usize, frozen: bool) {
        if !self.shared.options.isolation.freeze_windows {
            return;
        }
        if let Some(c) = self.cgroups[p].as_mut() {
            c.set_frozen(frozen);
        }
    }

    /// Kills everything in partition `p`'s group (its forked descendants included),
    /// without waiting.
    fn kill_tree(&mut self, p: usize) {
        if let Some(c) = self.cgroups[p].as_mut() {
            c.kill_all();
        }
    }

    /// Ends partition `p`'s process and every process of its tree, and reaps it.
    fn end_process(&mut self, p: usize) {
        self.sockets[p] = None;
        self.pidfds[p] = None;
        self.closed[p] = None;
        if let Some(pid) = self.hosted.pids[p].take() {
            self.kill_tree(p);
            children::kill_and_reap(pid);
        }
    }

    fn signal(&self, p: usize, signal: i32) {
        if let Some(pid) = self.hosted.pids[p] {
            let _ = sys::kill(pid, signal);
        }
    }

    /// One kernel tick: the clock line's interrupt, then the window switch the engine's
    /// schedule makes at this tick.
    fn tick(&mut self, k: u64) {
        self.hosted.now = k;
        let frame = self.shared.system.schedule.major_frame;
        let options = self.shared.options;
        if k.is_multiple_of(frame) && options.progress && self.here == 0 {
            self.progress(k / frame);
        }
        if k >= options.frames.saturating_mul(frame) {
            return;
        }
        self.stats.ticks += 1;
        if let Some((p, _, _)) = self.current {
            self.grace_tick(p);
        }
        let start_ns = self.hosted.t0_ns;
        let expiry = start_ns + k * self.shared.system.tick_ns;
        self.hosted.timeline.record(k, Mark::Clock { t: expiry - start_ns });
        self.hosted.stamp_ns = expiry;
        self.hosted.arrival = Arrival::InWindow;
        let vector = self.shared.system.clock_vector;
        let switch = self.router().on_hardware_irq(&self.local(), vector, &mut self.hosted);
        self.hosted.stamp_ns = 0;
        self.effects();
        // The upcall that enters a partition's window at this tick is this tick's too: its
        // latency includes the partition's resume (continued, thawed).
        self.hosted.stamp_ns = expiry;
        self.hosted.arrival = Arrival::AtEntry;
        self.switch(k, switch);
        self.hosted.stamp_ns = 0;
    }

    /// Makes the window switch the engine's schedule asked for at tick `k`.
    fn switch(&mut self, k: u64, switch: Option<Switch<P>>) {
        let Some(switch) = switch else { return };
        if let Some((p, start, end)) = self.current.take() {
            self.exit(p, k);
            self.hosted.timeline.record(k.saturating_sub(1), Mark::Window { p, start, end });
        }
        let Some(to) = switch.to else { return };
        let p = to.index();
        self.current = Some((p, k, switch.until));
        self.enter(p, k, switch.budget(k));
        if let Some((crash_p, crash_frame)) = self.shared.options.crash
            && crash_p == p
            && crash_frame == k / self.shared.system.schedule.major_frame
        {
            let k = &self.shared.regions[p].region().kernel;
            k.command.store(Command::Crash as u64, Ordering::Release);
            self.signal(p, doorbell_signal());
        }
    }

    fn enter(&mut self, p: usize, now: u64, budget: u64) {
        // When this window opened, for the guest's latency samples (see `latency_sample`).
        let open = self.hosted.t0_ns + now * self.shared.system.tick_ns;
        self.shared.regions[p].region().kernel.window_open_ns.store(open, Ordering::Release);
        let router = self.router();
        let before = router.partition_cpu(id(p)).time().clone();
        router.on_partition_entry(&self.local(), id(p), now, budget, &mut self.hosted);
        let after = router.partition_cpu(id(p)).time().clone();
        if after.policy() == CatchUpPolicy::Warp
            && after.epoch() == before.epoch()
            && after.entries() == before.entries() + 1
            && after.given() > before.given()
        {
            let k = &self.shared.regions[p].region().kernel;
            k.warp_markers.fetch_add(1, Ordering::AcqRel);
            k.warp_delta.fetch_add(after.given() - before.given(), Ordering::AcqRel);
        }
        self.effects();
        if !self.hosted.idled[p] {
            self.freeze(p, false);
            self.signal(p, libc::SIGCONT);
        }
    }

    fn exit(&mut self, p: usize, now: u64) {
        self.signal(p, libc::SIGSTOP);
        self.freeze(p, true);
        self.router().on_partition_exit(&self.local(), id(p), now, &mut self.hosted);
        self.effects();
    }

    /// Carries out what the engine asked for during a call: restarts, kicks (this CPU's
    /// own resumes its running partition; another CPU's rings its doorbell).
    fn effects(&mut self) {
        for _ in 0..16 {
            let restarts = std::mem::take(&mut self.hosted.restarts);
            let kicks = std::mem::take(&mut self.hosted.kicks);
            if restarts.is_empty() && kicks.is_empty() {
                return;
            }
            for (p, mode) in restarts {
                self.respawn(usize::from(p), mode);
            }
            let mut resume = false;
            for cpu in kicks {
                let cpu = usize::from(cpu);
                if cpu == self.here {
                    resume = true;
                } else if let Some(doorbell) = self.shared.doorbells.get(cpu) {
                    sys::ring(doorbell.as_raw_fd());
                    self.stats.kicks_sent += 1;
                }
            }
            if resume {
                self.router().on_resume(&self.local(), &mut self.hosted);
            }
        }
    }

    /// Another CPU kicked this one: the engine takes its decision for the partition
    /// running here (and applies what was deferred to this CPU's partitions).
    fn kicked(&mut self) {
        self.stats.kicks_taken += 1;
        self.router().on_resume(&self.local(), &mut self.hosted);
        self.effects();
    }

    /// The health monitor restarted partition `p`: a new process (cold and warm alike:
    /// a process cannot keep its memory across exec; the router kept or reset its event
    /// state), which runs the rest of the window if it is the partition's.
    fn respawn(&mut self, p: usize, _mode: StartMode) {
        let region = self.shared.regions[p].region();
        self.harvest[p].add(region);
        self.end_process(p);
        region.clear_for_restart();
        self.restarts[p] += 1;
        let t = self.hosted.since_start();
        self.hosted.timeline.record(self.hosted.now, Mark::Restart { p, t });
        if let Err(e) = self.start_process(p) {
            self.stderr.line(format!("irq-hosted: cannot restart partition {p}: {e}"));
            return;
        }
        let now = self.hosted.now;
        if let Some((q, _, end)) = self.current {
            let router = self.router();
            if q == p && now < end && !router.partition_cpu(id(p)).in_window() {
                router.on_partition_entry(&self.local(), id(p), now, end - now, &mut self.hosted);
                self.signal(p, libc::SIGCONT);
            }
        }
    }

    /// SIGINT or SIGTERM (CPU 0 reads them): every CPU ends its run.
    fn signals(&mut self) {
        for signal in sys::read_signals(self.shared.sigfd) {
            if signal == libc::SIGINT || signal == libc::SIGTERM {
                self.shared.interrupted.store(true, Ordering::Release);
                self.shared.halt.store(true, Ordering::Release);
            }
        }
    }

    /// Partition `p`'s pidfd is readable: its process ended. Its descendants die with it.
    fn ended(&mut self, p: usize) {
        self.pidfds[p] = None;
        self.sockets[p] = None;
        self.closed[p] = None;
        let Some(pid) = self.hosted.pids[p].take() else { return };
        // (Reaped already only if whoever started the runner had SIGCHLD ignored: the
        // status is then lost, and the end reported as an exit with status 0.)
        let ended = sys::reap_if_ended(pid).unwrap_or(Ended::Exited(0));
        self.kill_tree(p);
        self.died(p, ended);
    }

    /// Partition `p`'s process ended on its own: a fault is a trap for its health
    /// monitor; any other end is an error declared on its behalf (`exec_stop_error`,
    /// code `0x100 + signal` or `0x200 + exit status`).
    fn died(&mut self, p: usize, ended: Ended) {
        let region = self.shared.regions[p].region();
        let local = self.local();
        match ended {
            Ended::Killed(signal) if trap_vector(signal).is_some() => {
                let trap = irq_router::Trap {
                    vector: trap_vector(signal).unwrap_or(14),
                    error_code: 0,
                    address: region.guest.trap_address.load(Ordering::Acquire),
                };
                self.router().on_trap(&local, id(p), trap, &mut self.hosted);
            }
            other => {
                let code = match other {
                    Ended::Killed(signal) => 0x100 + signal as u32,
                    Ended::Exited(status) => 0x200 + status as u32,
                };
                let request = Request::ExecStopError { code };
                let _ = self.router().call(&local, id(p), request, &mut self.hosted);
            }
        }
        self.effects();
    }

    /// Partition `p` misbehaved on its hypercall socket: its process is killed and
    /// reaped here (so it cannot go on; its pidfd is dropped), then reported like a
    /// process that ended: [`MISBEHAVED`] declared on its behalf. If it had already
    /// ended by itself (a crash racing the call), that end is reported.
    fn cut_off(&mut self, p: usize) {
        self.sockets[p] = None;
        self.pidfds[p] = None;
        self.closed[p] = None;
        let Some(pid) = self.hosted.pids[p].take() else { return };
        self.kill_tree(p);
        let _ = sys::kill(pid, libc::SIGKILL);
        match sys::reap(pid) {
            Some(ended) if ended != Ended::Killed(libc::SIGKILL) => self.died(p, ended),
            _ => {
                let request = Request::ExecStopError { code: MISBEHAVED };
                let _ = self.router().call(&self.local(), id(p), request, &mut self.hosted);
                self.effects();
            }
        }
    }

    fn device_irq(&mut self) {
        let Some(device) = self.device.as_mut() else { return };
        if device.take() {
            let vector = device.vector;
            let t = self.hosted.since_start();
            self.hosted.timeline.record(self.hosted.now, Mark::Device { t });
            self.stats.device_irqs += 1;
            let _ = self.router().on_hardware_irq(&self.local(), vector, &mut self.hosted);
            self.effects();
        }
    }

    /// Serves one hypercall of partition `p` (at most one per pass of the loop);
    /// cuts it off if it misbehaves. A closed socket starts its grace (see
    /// [`CLOSED_GRACE_NS`]).
    fn serve(&mut self, p: usize) {
        match self.serve_one(p) {
            Served::Misbehaved => self.cut_off(p),
            Served::Closed => {
                self.sockets[p] = None;
                let tick_ns = self.shared.system.tick_ns.max(1);
                self.closed[p] = Some(CLOSED_GRACE_NS.div_ceil(tick_ns).max(1));
            }
            Served::Nothing | Served::Call => self.effects(),
        }
    }

    /// A tick of partition `p`'s window: if its socket closed and its process still
    /// lives, one tick of its grace gone; none left, it is cut off.
    fn grace_tick(&mut self, p: usize) {
        match self.closed[p] {
            Some(0) => self.cut_off(p),
            Some(left) => self.closed[p] = Some(left - 1),
            None => {}
        }
    }

    /// Reads one call of partition `p` without waiting, has the engine answer it and
    /// sends the answer without waiting.
    fn serve_one(&mut self, p: usize) -> Served {
        let Some(fd) = self.sockets[p].as_ref().map(AsRawFd::as_raw_fd) else {
            return Served::Nothing;
        };
        let mut words = [0u64; 5];
        match sys::recv_words(fd, &mut words, true) {
            Err(e) if e.errno() == libc::EAGAIN => return Served::Nothing,
            // End of stream: it closed its socket, or it is dying.
            Ok(0) => return Served::Closed,
            // A message shorter than a word, or a broken socket: nothing the ABI produces.
            Err(_) => return Served::Misbehaved,
            Ok(_) => {}
        }
        let raw = RawCall { number: words[0], args: [words[1], words[2], words[3], words[4]] };
        let reply = self.router().hypercall(&self.local(), id(p), &raw, &mut self.hosted);
        // EAGAIN: its queue is full of answers it did not read; EPIPE: it closed its
        // end after the call, or it is dying.
        match sys::send_words(fd, &reply, true) {
            Ok(()) => Served::Call,
            Err(e) if e.errno() == libc::EPIPE => Served::Closed,
            Err(_) => Served::Misbehaved,
        }
    }

    /// The end of the run: every process of this CPU finishes the handler it was in (its
    /// calls are served outside any window, where the engine refuses what needs one),
    /// then says it is quiescent.
    fn drain(&mut self) {
        for p in self.mine.clone() {
            // Without its socket it cannot say it is quiescent: ended now, unreported
            // (as one that misbehaves during the drain).
            if self.closed[p].is_some() {
                self.end_process(p);
                continue;
            }
            let k = &self.shared.regions[p].region().kernel;
            k.command.store(Command::Finish as u64, Ordering::Release);
            self.freeze(p, false);
            self.signal(p, libc::SIGCONT);
            self.signal(p, doorbell_signal());
        }
        let deadline = sys::monotonic_ns() + 2_000_000_000;
        while sys::monotonic_ns() < deadline {
            let live: Vec<usize> = self
                .mine
                .iter()
                .copied()
                .filter(|&p| self.hosted.pids[p].is_some())
                .filter(|&p| {
                    self.shared.regions[p].region().guest.quiescent.load(Ordering::Acquire) == 0
                })
                .collect();
            if live.is_empty() {
                break;
            }
            let mut fds: Vec<libc::pollfd> = live
                .iter()
                .filter_map(|&p| self.sockets[p].as_ref().map(|s| pollfd(s.as_raw_fd())))
                .collect();
            if fds.is_empty() {
                std::thread::sleep(std::time::Duration::from_millis(10));
            } else {
                let _ = sys::poll(&mut fds, 10);
            }
            for &p in &live {
                self.serve_outside(p);
            }
        }
    }

    /// Serves at most [`CALLS_PER_PASS`] calls of partition `p` at the end of the run.
    /// One that misbehaves now is killed and reaped, not reported (the run is over, as
    /// for a process that ends by itself now).
    fn serve_outside(&mut self, p: usize) {
        for _ in 0..CALLS_PER_PASS {
            match self.serve_one(p) {
                Served::Call => {}
                Served::Nothing => return,
                Served::Misbehaved | Served::Closed => {
                    self.end_process(p);
                    return;
                }
            }
        }
    }

    /// Kills and reaps this CPU's processes (also on Ctrl-C and errors), and stops its
    /// device.
    fn shutdown(&mut self) {
        for p in self.mine.clone() {
            self.end_process(p);
        }
        if let Some(device) = self.device.as_mut() {
            let _ = device.stop();
        }
    }

    /// Publishes this CPU's counts for the progress line.
    fn publish_progress(&self) {
        if !self.shared.options.progress {
            return;
        }
        let counts = &self.shared.progress[self.here];
        let upcalls = self.hosted.upcalls.iter().sum();
        let hm = self.hosted.log.len() as u64 + self.hosted.log_dropped;
        let restarts = self.restarts.iter().sum();
        let packets = self.device.as_ref().map_or(0, |d| d.received);
        for (i, value) in
            [(UPCALLS, upcalls), (HM_EVENTS, hm), (RESTARTS, restarts), (PACKETS, packets)]
        {
            counts[i].store(value, Ordering::Relaxed);
        }
    }

    /// The progress line (CPU 0, at each frame's start), with every CPU's counts.
    fn progress(&mut self, frame: u64) {
        use std::io::IsTerminal;
        self.publish_progress();
        let total = |i: usize| {
            self.shared.progress.iter().map(|c| c[i].load(Ordering::Relaxed)).sum::<u64>()
        };
        let (start, stop) = if std::io::stderr().is_terminal() { ("\r", "") } else { ("", "\n") };
        let frames = self.shared.options.frames;
        // `frame` frames are done: the last is numbered `frame - 1` (from 0, as everywhere).
        let mut text = format!(
            "{start}frame {:>4} done (0 to {})  tick {:>6}  upcalls {:>7}  device irqs {:>5}  hm events {:>3}  restarts {:>2} {stop}",
            frame.saturating_sub(1),
            frames.saturating_sub(1),
            self.hosted.now,
            total(UPCALLS),
            total(PACKETS),
            total(HM_EVENTS),
            total(RESTARTS),
        );
        if frame == frames && stop.is_empty() {
            text.push('\n');
        }
        self.stderr.text(text);
    }
}

/// What serving a partition's socket did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Served {
    /// No call was waiting.
    Nothing,
    /// One call was served.
    Call,
    /// The partition misbehaved: cut it off.
    Misbehaved,
    /// Its socket is closed: it is dying, or it goes on without it (see
    /// [`CLOSED_GRACE_NS`]).
    Closed,
}

fn pollfd(fd: i32) -> libc::pollfd {
    libc::pollfd { fd, events: libc::POLLIN, revents: 0 }
}
