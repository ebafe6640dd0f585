//! Across CPUs: deferred health-monitor actions and their kicks, pings that end a wait,
//! traps of a run that is over, waits in the fault handler, and what a stopped module
//! still does. Each test failed on the engine before its fix (the comment above each says
//! what went wrong then); the kernel in these tests does what each `Switch` says.

use std::num::NonZeroU64;

use irq_router::Mode;
use irq_router::adapter::Action;
use irq_router::config::{
    HmAction, HmKind, HmTable, PartitionConfig, Ping, Route, SystemConfig, VectorSet, Window,
};
use irq_router::hypercall::{RawCall, Request};
use notify_core::{Binding, Port, PortConfig, Source};
use vcpu_state::CatchUpPolicy;

#[path = "common/cpus.rs"]
mod cpus;

use cpus::{
    LEVEL, LEVEL_ROUTE, LINE, LINE_ROUTE, Rec, count, cpu, partition, pid, router, system, tick,
};

static BOTH_ROUTES: [Route; 2] = [LEVEL_ROUTE[0], LINE_ROUTE[0]];
static SHORT_WINDOW: [Window; 1] = [Window { partition: 0, start: 0, length: 10 }];
static LONG_WINDOW: [Window; 1] = [Window { partition: 0, start: 0, length: 40 }];

// after a deferred action reached a partition outside its window, its `kicked` flag
// stays 1 (only entry or a resume *while it runs* clears it): the next deferred action
// is not kicked at all.
#[test]
fn a_second_deferred_action_for_a_partition_outside_its_window_kicks_its_cpu() {
    const CONFIG: SystemConfig<1> = system(
        [partition(1, HmTable::IGNORE_ALL.on(HmKind::AckTimeout, HmAction::ColdStart))],
        40,
        &SHORT_WINDOW,
        &LEVEL_ROUTE,
    );
    let router = router::<1, 2>(CONFIG);
    let (mut a0, mut a1) = (Rec::new(), Rec::new());
    assert!(tick(&router, 1, 0, &mut a1).is_some());
    assert!(tick(&router, 1, 10, &mut a1).is_some()); // leaves its window
    a0.now = 11;
    let _ = router.on_hardware_irq(&cpu(0), LEVEL, &mut a0);
    let _ = tick(&router, 0, 17, &mut a0);
    assert_eq!(count(&a0, |a| *a == Action::Kick(1)), 1);
    a1.now = 17;
    router.on_resume(&cpu(1), &mut a1);
    assert_eq!(count(&a1, |a| matches!(a, Action::Restart(0, _))), 1, "first one applied");
    let _ = a0.take().count();
    a0.now = 21;
    let _ = router.on_hardware_irq(&cpu(0), LEVEL, &mut a0);
    let _ = tick(&router, 0, 27, &mut a0);
    assert!(
        a0.actions().any(|a| matches!(a, Action::Log(r) if r.kind == HmKind::AckTimeout)),
        "second AckTimeout logged with ColdStart"
    );
    assert_eq!(
        count(&a0, |a| *a == Action::Kick(1)),
        1,
        "the second deferred action must kick CPU 1 (its partition is not running)"
    );
}

// the same with a raise kick that the partition's CPU takes after the partition
// left its window: the deferred idle that follows is never kicked.
#[test]
fn a_deferred_idle_after_a_kick_taken_outside_the_window_kicks_its_cpu() {
    const CONFIG: SystemConfig<1> = system(
        [partition(1, HmTable::IGNORE_ALL.on(HmKind::AckTimeout, HmAction::Idle))],
        40,
        &SHORT_WINDOW,
        &BOTH_ROUTES,
    );
    let router = router::<1, 2>(CONFIG);
    let (mut a0, mut a1) = (Rec::new(), Rec::new());
    assert!(tick(&router, 1, 0, &mut a1).is_some());
    let c1 = cpu::<2>(1);
    let entry = NonZeroU64::new(0x40_0100);
    assert_eq!(router.call(&c1, pid(0), Request::RegisterUpcall { entry }, &mut a1), Ok(0));
    assert_eq!(router.call(&c1, pid(0), Request::EnableIrqs, &mut a1), Ok(0));
    a0.now = 2;
    let _ = router.on_hardware_irq(&cpu(0), LINE, &mut a0);
    assert_eq!(count(&a0, |a| *a == Action::Kick(1)), 1);
    // CPU 1's tick ends the window before the IPI is taken; then the IPI's resume.
    assert!(tick(&router, 1, 10, &mut a1).is_some());
    router.on_resume(&c1, &mut a1);
    let _ = a0.take().count();
    a0.now = 11;
    let _ = router.on_hardware_irq(&cpu(0), LEVEL, &mut a0);
    let _ = tick(&router, 0, 17, &mut a0);
    assert!(a0.actions().any(|a| matches!(a, Action::Log(r) if r.action == HmAction::Idle)));
    assert_eq!(count(&a0, |a| *a == Action::Kick(1)), 1, "the deferred idle kicks CPU 1");
}

static PING_LINE_PORTS: [PortConfig; 2] = [
    PortConfig::new(0, Binding::coalescing(Source::Ping)),
    PortConfig::new(1, Binding::counting(Source::Line(LINE as u16))),
];

const fn pinged(health: HmTable) -> PartitionConfig {
    PartitionConfig {
        name: "pinged",
        cpu: 1,
        ports: &PING_LINE_PORTS,
        priority_levels: &[],
        timer_port: None,
        error_port: None,
        catch_up: CatchUpPolicy::Replay,
        vectors: VectorSet::EMPTY.with(LINE),
        channels: 0,
        ping: Some(Ping { port: 0, interval: 10, bound: 5 }),
        health,
    }
}

// the tick's ping wakes a waiting partition (vCPU closed) without a kick: the kernel
// keeps it waiting, and later events only flag it (the engine thinks it runs).
#[test]
fn a_ping_on_the_tick_that_ends_a_wait_tells_the_kernel() {
    const CONFIG: SystemConfig<1> =
        system([pinged(HmTable::IGNORE_ALL)], 40, &LONG_WINDOW, &LINE_ROUTE);
    let router = router::<1, 2>(CONFIG);
    let mut a1 = Rec::new();
    assert!(tick(&router, 1, 0, &mut a1).is_some());
    let c1 = cpu::<2>(1);
    let entry = NonZeroU64::new(0x40_0100);
    assert_eq!(router.call(&c1, pid(0), Request::RegisterUpcall { entry }, &mut a1), Ok(0));
    let _ = a1.take().count();
    assert_eq!(router.call(&c1, pid(0), Request::Idle, &mut a1), Ok(0));
    assert_eq!(a1.take().collect::<Vec<_>>(), [Action::Wait(0)]);
    for now in 1..=10 {
        let _ = tick(&router, 1, now, &mut a1);
    }
    let woke = !router.partition_cpu(pid(0)).vcpu().is_idle();
    let told = a1.actions().any(|a| matches!(a, Action::Kick(1) | Action::Upcall(..)));
    assert!(!woke || told, "the ping woke the waiting partition without telling the kernel");
}

// on_trap applies a deferred restart and then charges the old run's trap to the new
// run: two restarts, where partition_event_locked's rule takes one.
#[test]
fn a_trap_of_a_run_a_deferred_restart_ended_restarts_it_once() {
    const TABLE: HmTable = HmTable::IGNORE_ALL
        .on(HmKind::AckTimeout, HmAction::ColdStart)
        .on(HmKind::Trap, HmAction::ColdStart)
        .on(HmKind::IllegalHypercall, HmAction::ColdStart);
    const CONFIG: SystemConfig<1> = system([partition(1, TABLE)], 40, &LONG_WINDOW, &LEVEL_ROUTE);
    let run = |trap: bool| {
        let router = router::<1, 2>(CONFIG);
        let (mut a0, mut a1) = (Rec::new(), Rec::new());
        assert!(tick(&router, 1, 0, &mut a1).is_some());
        a0.now = 1;
        let _ = router.on_hardware_irq(&cpu(0), LEVEL, &mut a0);
        let _ = tick(&router, 0, 7, &mut a0);
        assert!(a0.actions().any(|a| *a == Action::Kick(1)));
        a1.now = 7;
        // The old run faults (or makes a bad call) before CPU 1 takes the kick.
        if trap {
            let t = irq_router::Trap { vector: 13, error_code: 0, address: 0x40_0200 };
            router.on_trap(&cpu(1), pid(0), t, &mut a1);
        } else {
            let bad = RawCall { number: 0xdead, args: [0; 4] };
            let _ = router.hypercall(&cpu(1), pid(0), &bad, &mut a1);
        }
        router.on_resume(&cpu(1), &mut a1);
        count(&a1, |a| matches!(a, Action::Restart(0, _)))
    };
    let by_call = run(false);
    let by_trap = run(true);
    assert_eq!(by_trap, by_call, "a trap and a bad call of the same run restart it as often");
}

// a partition waiting inside its fault handler, resumed by a kick: settle returns
// None (in_trap), so on_resume neither wakes it nor asks the kernel to wait again; the
// kernel resumes it while its vCPU is idle.
#[test]
fn a_kick_while_waiting_in_the_fault_handler_keeps_it_waiting() {
    const CONFIG: SystemConfig<1> = system(
        [partition(1, HmTable::IGNORE_ALL.on(HmKind::Trap, HmAction::Deliver))],
        40,
        &LONG_WINDOW,
        &LINE_ROUTE,
    );
    let router = router::<1, 2>(CONFIG);
    let (mut a0, mut a1) = (Rec::new(), Rec::new());
    assert!(tick(&router, 1, 0, &mut a1).is_some());
    let c1 = cpu::<2>(1);
    let entry = NonZeroU64::new(0x40_0100);
    assert_eq!(router.call(&c1, pid(0), Request::RegisterFaultHandler { entry }, &mut a1), Ok(0));
    let t = irq_router::Trap { vector: 13, error_code: 0, address: 0x40_0200 };
    router.on_trap(&c1, pid(0), t, &mut a1);
    assert!(a1.actions().any(|a| matches!(a, Action::Upcall(0, u) if u.port.is_none())));
    let _ = a1.take().count();
    assert_eq!(router.call(&c1, pid(0), Request::Idle, &mut a1), Ok(0));
    assert_eq!(a1.take().collect::<Vec<_>>(), [Action::Wait(0)]);
    // An event (it has no upcall entry: nothing deliverable) kicks CPU 1.
    let _ = router.on_hardware_irq(&cpu(0), LINE, &mut a0);
    assert!(a0.actions().any(|a| *a == Action::Kick(1)));
    router.on_resume(&c1, &mut a1);
    let after: Vec<_> = a1.take().collect();
    let idle = router.partition_cpu(pid(0)).vcpu().is_idle();
    assert!(!idle || after.contains(&Action::Wait(0)), "resumed while its vCPU is idle");
}

// once stopped, a level line is acknowledged but never masked (a level device keeps
// the line asserted: it fires again at once), and a line masked before the stop stays
// masked; the clock's kernel handler is no longer called.
#[test]
fn once_stopped_a_level_line_is_masked_not_only_acknowledged() {
    const CONFIG: SystemConfig<1> = system(
        [partition(1, HmTable::IGNORE_ALL.on(HmKind::IllegalHypercall, HmAction::StopModule))],
        40,
        &LONG_WINDOW,
        &LEVEL_ROUTE,
    );
    let router = router::<1, 2>(CONFIG);
    let (mut a0, mut a1) = (Rec::new(), Rec::new());
    assert!(tick(&router, 1, 0, &mut a1).is_some());
    a0.now = 1;
    let _ = router.on_hardware_irq(&cpu(0), LEVEL, &mut a0);
    let bad = RawCall { number: 0xdead, args: [0; 4] };
    let _ = router.hypercall(&cpu(1), pid(0), &bad, &mut a1);
    assert!(router.stopped());
    let _ = a0.take().count();
    for now in 2..=20 {
        let _ = tick(&router, 0, now, &mut a0);
    }
    let _ = router.on_hardware_irq(&cpu(0), LEVEL, &mut a0);
    let acts: Vec<_> = a0.take().collect();
    assert!(acts.contains(&Action::Mask(LEVEL)) || acts.contains(&Action::Unmask(LEVEL)));
}

static SMALL_TIMER_PORTS: [PortConfig; 2] = [
    PortConfig::new(0, Binding::coalescing(Source::Ping)),
    PortConfig::new(
        1,
        Binding {
            source: Source::Timer,
            mode: notify_core::Mode::Counting { max: std::num::NonZeroU32::new(9).unwrap() },
        },
    ),
];

// on_tick's ping check uses the `running` it read before give_ticks: a timer overflow
// that idles (or restarts) the partition in that same tick is followed by a ping raised
// into the partition that is no longer in its window.
#[test]
fn no_ping_into_a_partition_idled_by_the_same_tick() {
    const CONFIG: SystemConfig<1> = system(
        [PartitionConfig {
            name: "t",
            cpu: 0,
            ports: &SMALL_TIMER_PORTS,
            priority_levels: &[],
            timer_port: Some(1),
            error_port: None,
            catch_up: CatchUpPolicy::Replay,
            vectors: VectorSet::EMPTY,
            channels: 0,
            ping: Some(Ping { port: 0, interval: 10, bound: 5 }),
            health: HmTable::IGNORE_ALL.on(HmKind::PendingOverflow, HmAction::Idle),
        }],
        40,
        &LONG_WINDOW,
        &[],
    );
    let router = router::<1, 1>(CONFIG);
    let mut a = Rec::new();
    for now in 0..=10 {
        let _ = tick(&router, 0, now, &mut a);
    }
    assert_eq!(router.mode(pid(0)), Mode::Idle);
    let ping = router.events().partition(pid(0)).status(Port::new(0).unwrap());
    assert_eq!(ping.pending, 0, "a ping raised into a partition idled at this tick");
}

// Joined windows: the clock given over 40 ticks is 40 (no tick lost or doubled by the
// from == to exits and entries).
#[test]
fn windows_joined_across_frames_give_every_tick_once() {
    static J: [Window; 1] = [Window { partition: 0, start: 0, length: 20 }];
    const CONFIG: SystemConfig<1> = system([partition(0, HmTable::IGNORE_ALL)], 20, &J, &[]);
    let router = router::<1, 1>(CONFIG);
    let mut a = Rec::new();
    for now in 0..=40 {
        let _ = tick(&router, 0, now, &mut a);
    }
    let given = router.partition_cpu(pid(0)).time().given();
    let pending = router.events().partition(pid(0)).status(Port::new(0).unwrap()).pending;
    assert_eq!(u64::from(pending), given);
}

// `hypercall` (an undecodable call) and `on_partition_exit` have no stop check: after
// the module stopped, they still take health-monitor actions (a restart here).
#[test]
fn nothing_happens_once_the_module_is_stopped() {
    const CONFIG: SystemConfig<1> = system(
        [partition(
            0,
            HmTable::IGNORE_ALL
                .on(HmKind::PartitionError, HmAction::StopModule)
                .on(HmKind::IllegalHypercall, HmAction::ColdStart)
                .on(HmKind::WindowOverrun, HmAction::ColdStart),
        )],
        40,
        &SHORT_WINDOW,
        &[],
    );
    let router = router::<1, 1>(CONFIG);
    let mut a = Rec::new();
    assert!(tick(&router, 0, 0, &mut a).is_some());
    let c0 = cpu::<1>(0);
    assert_eq!(router.call(&c0, pid(0), Request::ExecStopError { code: 1 }, &mut a), Ok(0));
    assert!(router.stopped());
    let _ = a.take().count();
    let bad = RawCall { number: 0xdead, args: [0; 4] };
    let _ = router.hypercall(&c0, pid(0), &bad, &mut a);
    a.now = 30;
    router.on_partition_exit(&c0, pid(0), 30, &mut a);
    let acts: Vec<_> = a.take().collect();
    assert!(!acts.iter().any(|x| matches!(x, Action::Restart(..))), "restarted after the stop");
}
