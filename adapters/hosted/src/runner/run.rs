//! The runner's event loop for `P` partitions: one thread, `poll` over the clock's
//! timerfd, the signalfd (SIGCHLD, SIGINT, SIGTERM), the device's UDP socket (while its
//! line is unmasked) and the hypercall socket of the partition inside its window.
//!
//! Each clock expiry is one kernel tick (missed expirations count: a late wake-up
//! handles every tick it missed). At a tick that is a window boundary the partition
//! leaving is told (`on_partition_exit`) and stopped (SIGSTOP), the partition entering
//! is told (`on_partition_entry`) and continued (SIGCONT); then the tick is the clock
//! line's interrupt (`on_hardware_irq(clock_vector)`).
//!
//! A partition never makes the runner wait. Its calls are read without blocking and
//! served one per pass of the loop inside its window ([`CALLS_PER_PASS`] per pass at
//! the end of the run), so the clock is read between any two; the answer is sent
//! without blocking. A partition whose answer cannot be sent (its socket's queue is
//! full: it sends calls without reading the answers; or it closed its socket) or that
//! sends something that is not a call is cut off as if it had crashed: its process is
//! killed and reaped, and the error is declared to its health monitor on its behalf
//! (`exec_stop_error` with [`MISBEHAVED`], the way any process end that is not a fault
//! is declared), which then restarts it or not as configured.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::Ordering;

use irq_router::adapter::StartMode;
use irq_router::events::PartitionId;
use irq_router::hypercall::{RawCall, Request};
use irq_router::vcpu::CatchUpPolicy;
use irq_router::{CpuId, Local, Router, Switch};

use super::adapter::Hosted;
use super::cgroup::RunCgroups;
use super::children;
use super::device::DeviceLine;
use super::isolation::{self, Granted};
use super::sandbox::Confinement;
use super::summary::{self, Harvest, Summary};
use super::timeline::{Mark, Timeline};
use super::{Options, RunError};
use crate::config::System;
use crate::guest::program::doorbell_signal;
use crate::region::{Arrival, Command, SharedRegion};
use crate::sys::{self, Ended};

/// The runner's one CPU: its engine calls are made from the runner's one thread, which is
/// never interrupted by another engine call (signals only set flags it polls).
const CPU: Local<'static, 1> = Local::interrupts_disabled(CpuId::BOOT);

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

struct Machine<'a, const P: usize> {
    router: Box<Router<P, 1>>,
    hosted: Hosted,
    system: &'a System,
    options: &'a Options,
    shared: Vec<SharedRegion>,
    sockets: Vec<Option<OwnedFd>>,
    device: Option<DeviceLine>,
    /// The window being run (as the engine's schedule switched to it): its partition,
    /// the tick it was entered and the tick it ends.
    current: Option<(usize, u64, u64)>,
    harvest: Vec<Harvest>,
    restarts: Vec<u64>,
    period_ns: u64,
    start_ns: u64,
    interrupted: bool,
    /// The signalfd of SIGCHLD, SIGINT and SIGTERM, while they are blocked.
    sigfd: Option<OwnedFd>,
    /// The signal mask before the run blocked them (restored by `shutdown`).
    old_mask: Option<libc::sigset_t>,
    /// Each partition's namespaces and ids.
    confinements: Vec<Confinement>,
    /// Each partition's control groups (removed by `shutdown`).
    cgroups: Option<RunCgroups>,
    /// What isolation each partition got.
    granted: Vec<Granted>,
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

/// Runs `system` with `P` partitions.
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
    let router = match Router::<P, 1>::new(config, pages) {
        Ok(router) => Box::new(router),
        Err(e) => {
            for region in shared {
                // SAFETY: the refused router is gone and nothing else holds a reference.
                unsafe { region.release() };
            }
            return Err(RunError::Other(e.to_string()));
        }
    };
    router.start();
    let regions = shared.iter().map(SharedRegion::region).collect();
    let names = system.info.iter().map(|i| i.name.clone()).collect();
    let frame = system.schedule.major_frame;
    let (svg, from) = (options.svg_frames, options.svg_from);
    let timeline = Timeline::new(svg, from, options.frames, frame, system.tick_ns);
    let mut hosted = Hosted::new(regions, names, timeline);
    hosted.echo_console = options.echo_console;
    let confinements: Vec<Confinement> =
        (0..P).map(|p| isolation::confinement(options.isolation, p)).collect();
    let mut missing: Vec<String> =
        isolation::namespaces_missing(options.isolation).into_iter().collect();
    let cgroups = options.isolation.cgroups.then(|| {
        let limits: Vec<_> = system.info.iter().map(|i| i.limits).collect();
        let mut cgroups = RunCgroups::create(&limits);
        missing.append(&mut cgroups.missing);
        for part in &mut cgroups.partitions {
            part.grant.frozen_outside_windows &= options.isolation.freeze_windows;
        }
        cgroups
    });
    isolation::warn_once(&missing);
    let granted = (0..P)
        .map(|p| {
            let grant = cgroups.as_ref().map(|c| c.partitions[p].grant.clone()).unwrap_or_default();
            Granted::new(confinements[p], grant)
        })
        .collect();
    let mut machine = Machine {
        router,
        hosted,
        system,
        options,
        shared,
        sockets: (0..P).map(|_| None).collect(),
        device: None,
        current: None,
        harvest: vec![Harvest::default(); P],
        restarts: vec![0; P],
        period_ns: system.tick_ns,
        start_ns: 0,
        interrupted: false,
        sigfd: None,
        old_mask: None,
        confinements,
        cgroups,
        granted,
    };
    let result = machine.run_loop();
    machine.shutdown();
    let outcome = result.map(|()| {
        let summary = summary::collect(
            &machine.router,
            &machine.hosted,
            &machine.shared,
            &machine.harvest,
            &machine.restarts,
            machine.system,
            machine.device.as_ref(),
            machine.interrupted,
            &machine.granted,
        );
        Outcome { summary, timeline: std::mem::take(&mut machine.hosted.timeline) }
    });
    machine.release();
    outcome
}

impl<const P: usize> Machine<'_, P> {
    fn run_loop(&mut self) -> Result<(), RunError> {
        let signals = [libc::SIGCHLD, libc::SIGINT, libc::SIGTERM];
        self.old_mask = Some(sys::block_signals(&signals)?);
        let sigfd = self.sigfd.insert(sys::signal_fd(&signals)?).as_raw_fd();
        for p in 0..P {
            self.start_process(p)?;
        }
        if let Some(device) = self.system.device {
            self.device = Some(
                DeviceLine::start(device).map_err(|e| RunError::Other(format!("device: {e}")))?,
            );
        }
        // Tick 0 a little ahead, so every process is loaded and stopped by then.
        self.start_ns = sys::monotonic_ns() + 20_000_000;
        self.hosted.t0_ns = self.start_ns;
        let timer = sys::periodic_timer(self.start_ns, self.period_ns)?;
        let frame = self.system.schedule.major_frame;
        let end = self.options.frames.saturating_mul(frame);
        let mut tick = 0u64;
        // The schedule's first stretch, at tick 0.
        let first = self.router.on_tick(&CPU, 0, &mut self.hosted);
        self.effects();
        self.switch(0, first);
        while tick < end && !self.interrupted && !self.hosted.stopped {
            let mut fds = vec![pollfd(timer.as_raw_fd()), pollfd(sigfd)];
            let device_at = match &self.device {
                Some(d) if !self.hosted.is_masked(d.vector) => {
                    fds.push(pollfd(d.socket.as_raw_fd()));
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
            if fds[1].revents != 0 {
                self.signals(sigfd);
            }
            if let Some(i) = device_at
                && fds[i].revents != 0
                && tick < end
            {
                self.device_irq();
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
        }
        if let Some((p, _, _)) = self.current.take() {
            self.exit(p, tick);
        }
        self.hosted.now = tick;
        self.drain(sigfd);
        Ok(())
    }

    fn start_process(&mut self, p: usize) -> Result<(), RunError> {
        let info = &self.system.info[p];
        let program = info.program.as_ref().unwrap_or(&self.options.program);
        // A frozen group would hold the new process before its exec.
        let cgroup = self.cgroups.as_mut().map(|c| &mut c.partitions[p]);
        let cgroup = cgroup.map(|c| {
            c.set_frozen(false);
            &*c
        });
        let region = self.shared[p].raw_fd();
        let confinement = self.confinements[p];
        let started = children::spawn(program, p, &info.name, region, confinement, cgroup)
            .map_err(|e| {
                RunError::Other(format!(
                    "partition {p} \"{}\": {} ({e})",
                    info.name,
                    program.path.display()
                ))
            })?;
        self.hosted.pids[p] = Some(started.pid);
        self.sockets[p] = Some(started.socket);
        if self.current.map(|(q, _, _)| q) != Some(p) {
            self.freeze(p, true);
        }
        Ok(())
    }

    /// Freezes or thaws partition `p`'s group (when asked for and the group can be
    /// frozen cheaply: cgroup v2), on top of stopping or continuing its main process.
    fn freeze(&mut self, p: usize, frozen: bool) {
        if !self.options.isolation.freeze_windows {
            return;
        }
        if let Some(c) = self.cgroups.as_mut() {
            c.partitions[p].set_frozen(frozen);
        }
    }

    /// Kills everything in partition `p`'s group (its forked descendants included),
    /// without waiting.
    fn kill_tree(&mut self, p: usize) {
        if let Some(c) = self.cgroups.as_mut() {
            c.partitions[p].kill_all();
        }
    }

    /// Ends partition `p`'s process and every process of its tree, and reaps it.
    fn end_process(&mut self, p: usize) {
        self.sockets[p] = None;
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
        let frame = self.system.schedule.major_frame;
        if k.is_multiple_of(frame) && self.options.progress {
            self.progress(k / frame);
        }
        if k >= self.options.frames.saturating_mul(frame) {
            return;
        }
        let expiry = self.start_ns + k * self.period_ns;
        self.hosted.timeline.record(k, Mark::Clock { t: expiry - self.start_ns });
        self.hosted.stamp_ns = expiry;
        self.hosted.arrival = Arrival::InWindow;
        let switch = self.router.on_hardware_irq(&CPU, self.system.clock_vector, &mut self.hosted);
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
        if let Some((crash_p, crash_frame)) = self.options.crash
            && crash_p == p
            && crash_frame == k / self.system.schedule.major_frame
        {
            let k = &self.shared[p].region().kernel;
            k.command.store(Command::Crash as u64, Ordering::Release);
            self.signal(p, doorbell_signal());
        }
    }

    fn enter(&mut self, p: usize, now: u64, budget: u64) {
        // When this window opened, for the guest's latency samples (see `latency_sample`).
        let open = self.start_ns + now * self.period_ns;
        self.shared[p].region().kernel.window_open_ns.store(open, Ordering::Release);
        let before = self.router.partition_cpu(id(p)).time().clone();
        self.router.on_partition_entry(&CPU, id(p), now, budget, &mut self.hosted);
        let after = self.router.partition_cpu(id(p)).time().clone();
        if after.policy() == CatchUpPolicy::Warp
            && after.epoch() == before.epoch()
            && after.entries() == before.entries() + 1
            && after.given() > before.given()
        {
            let k = &self.shared[p].region().kernel;
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
        self.router.on_partition_exit(&CPU, id(p), now, &mut self.hosted);
        self.effects();
    }

    /// Carries out what the engine asked for during a call: restarts, kicks.
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
            // One CPU: every kick is for it (the partition running there resumes).
            if !kicks.is_empty() {
                self.router.on_resume(&CPU, &mut self.hosted);
            }
        }
    }

    /// The health monitor restarted partition `p`: a new process (cold and warm alike:
    /// a process cannot keep its memory across exec; the router kept or reset its event
    /// state), which runs the rest of the window if it is the partition's.
    fn respawn(&mut self, p: usize, _mode: StartMode) {
        let region = self.shared[p].region();
        self.harvest[p].add(region);
        self.end_process(p);
        region.clear_for_restart();
        self.restarts[p] += 1;
        let t = self.hosted.since_start();
        self.hosted.timeline.record(self.hosted.now, Mark::Restart { p, t });
        if let Err(e) = self.start_process(p) {
            eprintln!("irq-hosted: cannot restart partition {p}: {e}");
            return;
        }
        let now = self.hosted.now;
        if let Some((q, _, end)) = self.current {
            let cpu = self.router.partition_cpu(id(p));
            if q == p && now < end && !cpu.in_window() {
                self.router.on_partition_entry(&CPU, id(p), now, end - now, &mut self.hosted);
                self.signal(p, libc::SIGCONT);
            }
        }
    }

    fn signals(&mut self, sigfd: i32) {
        for signal in sys::read_signals(sigfd) {
            if signal == libc::SIGINT || signal == libc::SIGTERM {
                self.interrupted = true;
            }
        }
        while let Some((pid, ended)) = sys::reap_any() {
            let Some(p) = self.hosted.pids.iter().position(|&q| q == Some(pid)) else { continue };
            self.hosted.pids[p] = None;
            self.sockets[p] = None;
            // Its descendants die with it.
            self.kill_tree(p);
            self.died(p, ended);
        }
    }

    /// Partition `p`'s process ended on its own: a fault is a trap for its health
    /// monitor; any other end is an error declared on its behalf (`exec_stop_error`,
    /// code `0x100 + signal` or `0x200 + exit status`).
    fn died(&mut self, p: usize, ended: Ended) {
        let region = self.shared[p].region();
        match ended {
            Ended::Killed(signal) if trap_vector(signal).is_some() => {
                let trap = irq_router::Trap {
                    vector: trap_vector(signal).unwrap_or(14),
                    error_code: 0,
                    address: region.guest.trap_address.load(Ordering::Acquire),
                };
                self.router.on_trap(&CPU, id(p), trap, &mut self.hosted);
            }
            other => {
                let code = match other {
                    Ended::Killed(signal) => 0x100 + signal as u32,
                    Ended::Exited(status) => 0x200 + status as u32,
                };
                let _ = self.router.call(
                    &CPU,
                    id(p),
                    Request::ExecStopError { code },
                    &mut self.hosted,
                );
            }
        }
        self.effects();
    }

    /// Partition `p` misbehaved on its hypercall socket: its process is killed and
    /// reaped here (so it cannot go on; the SIGCHLD that follows finds nothing), then
    /// reported like a process that ended: [`MISBEHAVED`] declared on its behalf. If it
    /// had already ended by itself (a crash racing the call), that end is reported.
    fn cut_off(&mut self, p: usize) {
        self.sockets[p] = None;
        let Some(pid) = self.hosted.pids[p].take() else { return };
        self.kill_tree(p);
        let _ = sys::kill(pid, libc::SIGKILL);
        match sys::reap(pid) {
            Some(ended) if ended != Ended::Killed(libc::SIGKILL) => self.died(p, ended),
            _ => {
                let code = MISBEHAVED;
                let _ = self.router.call(
                    &CPU,
                    id(p),
                    Request::ExecStopError { code },
                    &mut self.hosted,
                );
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
            let _ = self.router.on_hardware_irq(&CPU, vector, &mut self.hosted);
            self.effects();
        }
    }

    /// Serves one hypercall of partition `p` (at most one per pass of the loop);
    /// cuts it off if it misbehaves.
    fn serve(&mut self, p: usize) {
        if self.serve_one(p) == Served::Misbehaved {
            self.cut_off(p);
        } else {
            self.effects();
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
            // End of stream (it closed its socket, or it is dying), a message shorter
            // than a word, or a broken socket: nothing the ABI produces.
            Ok(0) | Err(_) => return Served::Misbehaved,
            Ok(_) => {}
        }
        let raw = RawCall { number: words[0], args: [words[1], words[2], words[3], words[4]] };
        let reply = self.router.hypercall(&CPU, id(p), &raw, &mut self.hosted);
        // EAGAIN: its queue is full of answers it did not read; EPIPE: it is gone.
        match sys::send_words(fd, &reply, true) {
            Ok(()) => Served::Call,
            Err(_) => Served::Misbehaved,
        }
    }

    /// The end of the run: every process finishes the handler it was in (its calls
    /// are served outside any window, where the engine refuses what needs one), then
    /// says it is quiescent.
    fn drain(&mut self, sigfd: i32) {
        for p in 0..P {
            self.shared[p].region().kernel.command.store(Command::Finish as u64, Ordering::Release);
            self.freeze(p, false);
            self.signal(p, libc::SIGCONT);
            self.signal(p, doorbell_signal());
        }
        let deadline = sys::monotonic_ns() + 2_000_000_000;
        while sys::monotonic_ns() < deadline {
            let live: Vec<usize> = (0..P)
                .filter(|&p| self.hosted.pids[p].is_some())
                .filter(|&p| self.shared[p].region().guest.quiescent.load(Ordering::Acquire) == 0)
                .collect();
            if live.is_empty() {
                break;
            }
            let mut fds: Vec<libc::pollfd> = live
                .iter()
                .filter_map(|&p| self.sockets[p].as_ref().map(|s| pollfd(s.as_raw_fd())))
                .collect();
            fds.push(pollfd(sigfd));
            let _ = sys::poll(&mut fds, 10);
            for &p in &live {
                self.serve_outside(p);
            }
            let _ = sys::read_signals(sigfd);
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
                Served::Misbehaved => {
                    self.end_process(p);
                    return;
                }
            }
        }
    }

    /// Kills and reaps every process (also on Ctrl-C and errors), then gives the
    /// signals back: SIGCHLD, SIGINT and SIGTERM unblocked as they were before the run
    /// (a Ctrl-C still pending counts as an interruption of the run, not as a kill).
    fn shutdown(&mut self) {
        for p in 0..P {
            self.end_process(p);
        }
        // Whatever is left of the trees is killed, and the groups removed.
        if let Some(mut cgroups) = self.cgroups.take() {
            cgroups.remove();
        }
        if let Some(device) = self.device.as_mut() {
            let _ = device.stop();
        }
        if let Some(sigfd) = self.sigfd.take() {
            for signal in sys::read_signals(sigfd.as_raw_fd()) {
                if signal == libc::SIGINT || signal == libc::SIGTERM {
                    self.interrupted = true;
                }
            }
        }
        if let Some(old) = self.old_mask.take() {
            sys::restore_signals(&old);
        }
    }

    /// Unmaps and closes every region: the end of the run. The router and the adapter,
    /// which hold `&'static` references into them, are dropped first.
    fn release(self) {
        let Self { router, hosted, shared, .. } = self;
        drop(router);
        drop(hosted);
        for region in shared {
            // SAFETY: the only holders of references into the regions (the router's
            // pages, the adapter's regions) are gone, and this run hands none out (its
            // outcome is a summary and a timeline, copies).
            unsafe { region.release() };
        }
    }

    fn progress(&self, frame: u64) {
        use std::io::IsTerminal;
        let upcalls: u64 = self.hosted.upcalls.iter().sum();
        let packets = self.device.as_ref().map_or(0, |d| d.received);
        let (start, stop) = if std::io::stderr().is_terminal() { ("\r", "") } else { ("", "\n") };
        // `frame` frames are done: the last is numbered `frame - 1` (from 0, as everywhere).
        eprint!(
            "{start}frame {:>4} done (0 to {})  tick {:>6}  upcalls {upcalls:>7}  device irqs {packets:>5}  hm events {:>3}  restarts {:>2} {stop}",
            frame.saturating_sub(1),
            self.options.frames.saturating_sub(1),
            self.hosted.now,
            self.hosted.log.len(),
            self.restarts.iter().sum::<u64>(),
        );
        if frame == self.options.frames && stop.is_empty() {
            eprintln!();
        }
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
}

fn pollfd(fd: i32) -> libc::pollfd {
    libc::pollfd { fd, events: libc::POLLIN, revents: 0 }
}
