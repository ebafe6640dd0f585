//! One test per defect found by review and by the reference model, named for the defect.
//! Each failed on the code before its fix. The cross-CPU interleavings are reproduced
//! deterministically by an adapter that runs "the other CPU's" entry point from inside
//! the adapter call where the race window is; the loom models of the same protocols are
//! in the crate (`cargo test -p irq-router --lib loom_` under `--cfg loom`).

mod common;

use common::{
    Adapter, CLOCK, CONFIG, CPU0, FRAME, LEVEL, LEVEL_PORT, P, STORMY, System, TIMER, boot, pid,
    port, records, run, system,
};
use irq_router::adapter::{Action, KernelAdapter, StartMode, Upcall, UpcallFault};
use irq_router::config::{HmAction, HmKind, HmTable};
use irq_router::health::HmRecord;
use irq_router::hypercall::Request;
use irq_router::{CpuId, Local, Router, Trap};
use vcpu_state::SharedPage;

fn actions(adapter: &mut Adapter) -> Vec<Action> {
    adapter.take().collect()
}

/// What a hook runs on "another CPU", from inside an adapter call of this one.
#[derive(Clone, Copy, Debug)]
enum Other {
    /// The clock tick at this tick.
    Tick(u64),
    /// An interrupt on this vector.
    Irq(u8),
}

/// A recording adapter with hooks: the race windows of the engine's cross-CPU protocols
/// lie between two of its adapter calls, so running the other CPU's entry point from
/// inside the first call reproduces the interleaving exactly.
struct Hooked<'r> {
    inner: Adapter,
    router: &'r System,
    /// Runs `Other` at the next mask of this vector, before the mask lands.
    before_mask: Option<(u8, Other)>,
    /// Runs `Other` when the engine next idles the CPU for a partition.
    at_wait: Option<Other>,
    /// The kernel counts its tick in its own clock handler (as POK does).
    clock_counts: bool,
}

impl<'r> Hooked<'r> {
    fn new(router: &'r System) -> Self {
        Self {
            inner: Adapter::new(),
            router,
            before_mask: None,
            at_wait: None,
            clock_counts: false,
        }
    }

    fn other(&mut self, other: Other) {
        match other {
            Other::Tick(now) => {
                let saved = self.inner.now;
                self.inner.now = now;
                let _ = self.router.on_tick(&CPU0, now, &mut self.inner);
                self.inner.now = saved.max(now);
            }
            Other::Irq(vector) => {
                let _ = self.router.on_hardware_irq(&CPU0, vector, &mut self.inner);
            }
        }
    }
}

impl KernelAdapter for Hooked<'_> {
    fn now(&self) -> u64 {
        self.inner.now()
    }
    fn kernel_handler(&mut self, vector: u8) {
        if self.clock_counts && vector == CLOCK {
            self.inner.now += 1;
        }
        self.inner.kernel_handler(vector);
    }
    fn eoi(&mut self, vector: u8) {
        self.inner.eoi(vector);
    }
    fn mask_line(&mut self, vector: u8) {
        if let Some((v, other)) = self.before_mask
            && v == vector
        {
            self.before_mask = None;
            self.other(other);
        }
        self.inner.mask_line(vector);
    }
    fn unmask_line(&mut self, vector: u8) {
        self.inner.unmask_line(vector);
    }
    fn inject_upcall(&mut self, partition: u16, upcall: &Upcall) -> Result<(), UpcallFault> {
        self.inner.inject_upcall(partition, upcall)
    }
    fn kick(&mut self, cpu: u16) {
        self.inner.kick(cpu);
    }
    fn wait(&mut self, partition: u16) {
        self.inner.wait(partition);
        if let Some(other) = self.at_wait.take() {
            self.other(other);
        }
    }
    fn user_range(&self, partition: u16, addr: u64, len: u64) -> bool {
        self.inner.user_range(partition, addr, len)
    }
    fn console_write(&mut self, partition: u16, addr: u64, len: u64) -> u64 {
        self.inner.console_write(partition, addr, len)
    }
    fn restart(&mut self, partition: u16, mode: StartMode) {
        self.inner.restart(partition, mode);
    }
    fn idle(&mut self, partition: u16) {
        self.inner.idle(partition);
    }
    fn stop_module(&mut self) {
        self.inner.stop_module();
    }
    fn log(&mut self, record: &HmRecord) {
        self.inner.log(record);
    }
}

/// Whether `vector` is masked at the controller after `actions` (starting unmasked).
fn masked_after(actions: &[Action], vector: u8) -> bool {
    actions.iter().fold(false, |masked, a| match a {
        Action::Mask(v) if *v == vector => true,
        Action::Unmask(v) if *v == vector => false,
        _ => masked,
    })
}

/// Fires the storm line past its budget (3 per frame) at tick `now`.
fn storm(router: &System, adapter: &mut impl KernelAdapter) {
    for _ in 0..4 {
        router.on_hardware_irq(&CPU0, STORMY, adapter);
    }
}

#[test]
fn defect2_a_storm_mask_racing_the_frame_boundary_never_masks_the_line_for_good() {
    let (router, _pages) = system();
    let mut adapter = Hooked::new(&router);
    boot(&router, &mut adapter.inner);
    adapter.inner.now = FRAME - 1;
    // The fourth raise is the storm: between its decision and its mask, the first tick of
    // the next frame runs on another CPU and ends the storms of the old frame.
    adapter.before_mask = Some((STORMY, Other::Tick(FRAME)));
    storm(&router, &mut adapter);
    let mut done: Vec<Action> = adapter.inner.take().collect();
    run(&router, &mut adapter.inner, FRAME, 3 * FRAME);
    done.extend(adapter.inner.take());
    assert!(!masked_after(&done, STORMY), "the line is unmasked by a frame boundary: {done:?}");
    let last_mask = done.iter().rposition(|a| *a == Action::Mask(STORMY)).expect("masked");
    let unmasks = done[last_mask..].iter().filter(|a| **a == Action::Unmask(STORMY)).count();
    assert_eq!(unmasks, 1, "one unmask after the storm's mask: {done:?}");
}

#[test]
fn defect2_an_interrupt_in_flight_past_the_budget_is_not_masked_again_and_counted_lost() {
    let (router, _pages) = system();
    let mut adapter = Adapter::new();
    boot(&router, &mut adapter);
    adapter.now = 1;
    storm(&router, &mut adapter);
    // One more, already in flight on another CPU when the line was masked.
    router.on_hardware_irq(&CPU0, STORMY, &mut adapter);
    let done = actions(&mut adapter);
    let masks = done.iter().filter(|a| **a == Action::Mask(STORMY)).count();
    assert_eq!(masks, 1, "masked once per storm: {done:?}");
    assert_eq!(router.line_lost(STORMY), 2, "the storm's raise and the one in flight");
    let storms: Vec<_> = records(&done).into_iter().filter(|r| r.kind == HmKind::Storm).collect();
    let lost: u64 = storms.iter().map(|r| r.extra).sum();
    assert_eq!(lost, 2, "the records say how many events were lost: {storms:?}");
    assert!(storms.iter().all(|r| r.detail == u64::from(STORMY)));
    run(&router, &mut adapter, 1, FRAME);
    assert!(!masked_after(&[done, actions(&mut adapter)].concat(), STORMY));
}

/// The common system with partition 1 idled by its health monitor on a trap.
fn with_beta_idled() -> (Box<System>, &'static [SharedPage; P]) {
    let mut config = CONFIG;
    config.partitions[1].health = HmTable::IGNORE_ALL.on(HmKind::Trap, HmAction::Idle);
    common::system_with(config)
}

#[test]
fn defect3_a_partition_idled_by_its_health_monitor_owes_nothing_on_a_shared_level_line() {
    let (router, pages) = with_beta_idled();
    let mut adapter = Adapter::new();
    boot(&router, &mut adapter);
    let _ = pages[0].guest().sti();
    router.on_trap(&CPU0, pid(1), Trap { vector: 13, error_code: 0, address: 0 }, &mut adapter);
    assert_eq!(router.mode(pid(1)), irq_router::Mode::Idle);
    actions(&mut adapter);
    for now in [1, 20, 40] {
        adapter.now = now;
        router.on_hardware_irq(&CPU0, LEVEL, &mut adapter);
        let table = router.events().partition(pid(0));
        if !table.status(port(LEVEL_PORT)).in_service {
            // Its handler is still in an earlier upcall: it takes the event itself.
            let _ = table.begin_service(port(LEVEL_PORT)).expect("pending");
        }
        assert_eq!(
            router.call(
                &CPU0,
                pid(0),
                Request::Acknowledge { port: port(LEVEL_PORT) },
                &mut adapter
            ),
            Ok(0)
        );
        let done = actions(&mut adapter);
        assert!(
            !masked_after(&done, LEVEL),
            "the live partition's acknowledgement unmasks at once (firing at {now}): {done:?}"
        );
    }
    run(&router, &mut adapter, 40, 50);
    let late = records(&actions(&mut adapter));
    assert!(late.iter().all(|r| r.kind != HmKind::AckTimeout), "no timeout: {late:?}");
}

#[test]
fn defect9_an_upcall_that_cannot_be_built_leaves_the_event_flagged_for_the_guest() {
    let (router, pages) = system();
    let mut adapter = Adapter::new();
    boot(&router, &mut adapter);
    let _ = pages[0].guest().sti();
    actions(&mut adapter);
    // Partition 0's health table ignores nothing here: a fault is a cold start. Use the
    // timer port with partition 1, whose table ignores upcall faults.
    run(&router, &mut adapter, 0, common::WINDOW);
    let _ = pages[1].guest().sti();
    adapter.upcall_fault = Some(UpcallFault::BadStack);
    router.on_resume(&CPU0, &mut adapter);
    let done = actions(&mut adapter);
    assert!(
        records(&done).iter().any(|r| r.kind == HmKind::UpcallFault && r.partition == Some(1)),
        "{done:?}"
    );
    let status = router.events().partition(pid(1)).status(port(TIMER));
    assert!(status.pending > 0 && !status.in_service, "the tick stays pending: {status:?}");
    assert!(
        pages[1].guest().upcall_pending(),
        "the guest is told something is pending, so its next sti asks for it"
    );
    assert_eq!(router.partition_cpu(pid(1)).vcpu().depth(), 0, "no upcall in progress");
}

#[test]
fn defect11_the_clock_vector_reads_the_time_after_the_kernels_own_handler() {
    let (router, _pages) = system();
    let mut adapter = Hooked::new(&router);
    adapter.clock_counts = true;
    boot(&router, &mut adapter.inner);
    for _ in 0..5 {
        router.on_hardware_irq(&CPU0, CLOCK, &mut adapter);
    }
    assert_eq!(adapter.inner.now, 5);
    // The quiet ticks (into the pending port) given, as at the CPU's next entry point.
    router.flush_ticks(&CPU0, &mut adapter.inner);
    let timer = router.events().partition(pid(0)).status(port(TIMER));
    assert_eq!(timer.pending, 5, "each tick is given at the kernel's new time");
}

#[test]
fn defect12_a_storm_record_says_how_many_events_were_lost() {
    let (router, _pages) = system();
    let mut adapter = Adapter::new();
    boot(&router, &mut adapter);
    adapter.now = 1;
    storm(&router, &mut adapter);
    let storms: Vec<_> =
        records(&actions(&mut adapter)).into_iter().filter(|r| r.kind == HmKind::Storm).collect();
    assert_eq!(storms.len(), 1);
    assert_eq!((storms[0].detail, storms[0].extra), (u64::from(STORMY), 1), "one event lost");
    assert_eq!(router.line_lost(STORMY), 1);
}

/// The common system with partition 0 without a clock (nothing raises its ports but the
/// shared lines), so an idle entry stays idle.
fn with_alpha_unclocked() -> (Box<System>, &'static [SharedPage; P]) {
    let mut config = CONFIG;
    config.partitions[0].timer_port = None;
    config.partitions[0].ping = None;
    common::system_with(config)
}

/// Acts on kicks as a kernel does: before returning to the partition, resume it through
/// the engine, until no kick is left.
fn handle_kicks(router: &System, adapter: &mut Adapter, done: &mut Vec<Action>) {
    while done.last().is_some() && done.iter().any(|a| matches!(a, Action::Kick(0))) {
        done.retain(|a| !matches!(a, Action::Kick(0)));
        router.on_resume(&CPU0, adapter);
        done.extend(adapter.take());
    }
}

#[test]
fn defect4_an_interrupt_while_the_entry_idles_the_cpu_is_never_dropped() {
    let (router, pages) = with_alpha_unclocked();
    let mut adapter = Hooked::new(&router);
    boot(&router, &mut adapter.inner);
    let _ = pages[0].guest().sti();
    let idle = router.call(&CPU0, pid(0), Request::Idle, &mut adapter.inner);
    assert_eq!(idle, Ok(0));
    assert_eq!(actions(&mut adapter.inner), [Action::Wait(0)]);
    router.on_partition_exit(&CPU0, pid(0), common::WINDOW, &mut adapter.inner);
    // Its next window: it enters idle, and while the entry idles the CPU (holding the
    // partition's state), the shared line fires.
    adapter.inner.now = FRAME;
    adapter.at_wait = Some(Other::Irq(common::SHARED));
    router.on_partition_entry(&CPU0, pid(0), FRAME, common::WINDOW, &mut adapter);
    let mut done = actions(&mut adapter.inner);
    assert!(done.contains(&Action::Kick(0)), "the wait ends with a kick: {done:?}");
    handle_kicks(&router, &mut adapter.inner, &mut done);
    let delivered: Vec<_> = done
        .iter()
        .filter_map(|a| match a {
            Action::Upcall(0, up) => up.port,
            _ => None,
        })
        .collect();
    assert_eq!(delivered, [common::SHARED_PORT], "woken with the event: {done:?}");
}

#[test]
fn defect13_a_tick_and_an_exit_never_give_one_stretch_twice() {
    // Partition 0 on CPU 0, the others on CPU 1: a tick of CPU 1 gives partition 0
    // nothing, and its own CPU's tick and exit give each tick once.
    let mut config = CONFIG;
    config.partitions[1].cpu = 1;
    config.partitions[2].cpu = 1;
    let pages: &'static [SharedPage; P] =
        Box::leak(Box::new([SharedPage::new(), SharedPage::new(), SharedPage::new()]));
    let router: Router<P, 1, 2> =
        Router::new(config, [&pages[0], &pages[1], &pages[2]]).expect("valid");
    router.start();
    let cpu0 = Local::interrupts_disabled(CpuId::new(0).expect("cpu 0"));
    let cpu1 = Local::interrupts_disabled(CpuId::new(1).expect("cpu 1"));
    let mut adapter = Adapter::new();
    router.on_partition_entry(&cpu0, pid(0), 0, common::WINDOW, &mut adapter);
    for now in 1..=5 {
        adapter.now = now;
        let _ = router.on_tick(&cpu1, now, &mut adapter);
    }
    let timer = router.events().partition(pid(0)).status(port(TIMER));
    assert_eq!(timer.pending, 0, "CPU 1's ticks are not partition 0's");
    let _ = router.on_tick(&cpu0, 5, &mut adapter);
    let _ = router.on_tick(&cpu0, 5, &mut adapter);
    router.on_partition_exit(&cpu0, pid(0), 5, &mut adapter);
    let _ = router.on_tick(&cpu0, 5, &mut adapter);
    let timer = router.events().partition(pid(0)).status(port(TIMER));
    assert_eq!(timer.pending, 5, "ticks 1 to 5, each once");
    assert_eq!(router.partition_cpu(pid(0)).time().given(), 5);
}

/// The port upcalls injected into partition `p` among `actions`.
fn port_upcalls(actions: &[Action], p: u16) -> Vec<Option<u16>> {
    common::upcalls(actions, p).iter().filter(|u| u.port.is_some()).map(|u| u.port).collect()
}

#[test]
fn defect16_no_port_upcall_reaches_a_partition_whose_fault_handler_runs() {
    // Found by the simulator (irq-sim, seed 63 on 2 CPUs): a trap delivered to the fault
    // handler, the window ends before the handler returns, and the entry into the next
    // window injected the timer's upcall into the running fault handler; the handler's
    // return was then taken for the port upcall's and the other way round. A hypercall of
    // the handler that opens its vCPU (flash, enable) did the same.
    let (router, pages) = system();
    let mut adapter = Adapter::new();
    boot(&router, &mut adapter);
    let _ = pages[0].guest().sti();
    actions(&mut adapter);
    adapter.now = 2;
    router.on_trap(&CPU0, pid(0), Trap { vector: 13, error_code: 0, address: 8 }, &mut adapter);
    let done = actions(&mut adapter);
    assert_eq!(common::upcalls(&done, 0).len(), 1, "the fault handler: {done:?}");
    // An interrupt while the handler runs waits for its return.
    router.on_hardware_irq(&CPU0, common::SHARED, &mut adapter);
    assert_eq!(router.call(&CPU0, pid(0), Request::Flash, &mut adapter), Ok(0));
    assert_eq!(router.call(&CPU0, pid(0), Request::EnableIrqs, &mut adapter), Ok(0));
    let done = actions(&mut adapter);
    assert_eq!(port_upcalls(&done, 0), [], "a hypercall of the fault handler: {done:?}");
    assert_eq!(router.partition_cpu(pid(0)).vcpu().depth(), 0, "no port upcall in progress");
    // Its window ends with the handler still running; the next one starts a frame later
    // with its missed ticks (replay) deliverable too.
    router.on_partition_exit(&CPU0, pid(0), common::WINDOW, &mut adapter);
    adapter.now = FRAME;
    router.on_partition_entry(&CPU0, pid(0), FRAME, common::WINDOW, &mut adapter);
    let done = actions(&mut adapter);
    assert_eq!(port_upcalls(&done, 0), [], "entry while the fault handler runs: {done:?}");
    assert_eq!(router.partition_cpu(pid(0)).vcpu().depth(), 0, "no port upcall in progress");
    assert!(pages[0].guest().upcall_pending(), "the guest is told something is pending");
    // The handler's return delivers the timer first (the lowest port), then the line.
    assert_eq!(router.call(&CPU0, pid(0), Request::UpcallReturn, &mut adapter), Ok(0));
    let done = actions(&mut adapter);
    assert_eq!(port_upcalls(&done, 0), [Some(TIMER)], "{done:?}");
    assert_eq!(router.partition_cpu(pid(0)).vcpu().depth(), 1);
    assert!(router.events().partition(pid(0)).status(port(TIMER)).in_service);
    let _ = router.call(&CPU0, pid(0), Request::TakeCount { port: port(TIMER) }, &mut adapter);
    assert_eq!(router.call(&CPU0, pid(0), Request::UpcallReturn, &mut adapter), Ok(0));
    let done = actions(&mut adapter);
    assert_eq!(port_upcalls(&done, 0), [Some(common::SHARED_PORT)], "{done:?}");
}
