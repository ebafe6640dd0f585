//! Each CPU's schedule as the router runs it, and what a kick, a deferred health-monitor
//! action and a ping do on several CPUs. The kernel in these tests does what each
//! `Switch` says: it leaves `from` and enters `to` for `until - now` ticks.

use std::num::NonZeroU64;

use irq_router::adapter::Action;
use irq_router::config::{
    HmAction, HmKind, HmTable, PartitionConfig, Ping, SystemConfig, VectorSet, Window,
};
use irq_router::hypercall::{RawCall, Request};
use irq_router::{Mode, Router};
use notify_core::{Binding, Port, PortConfig, Source};
use vcpu_state::{CatchUpPolicy, SharedPage};

#[path = "common/cpus.rs"]
mod cpus;

use cpus::{
    LEVEL, LEVEL_ROUTE, LINE, LINE_ROUTE, Rec, cpu, partition, pid, records, router, system, tick,
};

/// Partition 0's windows meet across the end of the frame: `[15, 20)` then `[0, 10)`.
static JOINED: [Window; 3] = [
    Window { partition: 0, start: 0, length: 10 },
    Window { partition: 1, start: 10, length: 5 },
    Window { partition: 0, start: 15, length: 5 },
];

#[test]
fn windows_joined_across_the_frame_end_are_left_and_entered_again_without_an_overrun() {
    const CONFIG: SystemConfig<2> = system(
        [partition(0, HmTable::IGNORE_ALL), partition(0, HmTable::IGNORE_ALL)],
        20,
        &JOINED,
        &[],
    );
    let router = router::<2, 1>(CONFIG);
    let mut adapter = Rec::new();
    let mut switches = Vec::new();
    for now in 0..=40 {
        if let Some(s) = tick(&router, 0, now, &mut adapter) {
            switches.push((now, s.from.map(|p| p.index()), s.to.map(|p| p.index()), s.until));
        }
    }
    assert_eq!(
        switches,
        [
            (0, None, Some(0), 10),
            (10, Some(0), Some(1), 15),
            (15, Some(1), Some(0), 20),
            (20, Some(0), Some(0), 30),
            (30, Some(0), Some(1), 35),
            (35, Some(1), Some(0), 40),
            (40, Some(0), Some(0), 50),
        ]
    );
    assert!(records(&adapter, HmKind::WindowOverrun).is_empty(), "the schedule overran itself");
}

static ONE_WINDOW: [Window; 1] = [Window { partition: 0, start: 0, length: 10 }];

#[test]
fn a_tick_after_a_pause_switches_into_the_same_partitions_next_window() {
    const CONFIG: SystemConfig<1> =
        system([partition(0, HmTable::IGNORE_ALL)], 20, &ONE_WINDOW, &[]);
    let router = router::<1, 1>(CONFIG);
    let mut adapter = Rec::new();
    assert!(tick(&router, 0, 0, &mut adapter).is_some());
    // The kernel's ticks 1 to 24 are lost: at 25 the CPU is in partition 0's window of
    // frame 1. It ran past the end of its first window (10): that overrun is reported at
    // its exit; its new window is its own, and ends without one.
    let at25 = tick(&router, 0, 25, &mut adapter).expect("a switch");
    assert_eq!((at25.from, at25.to, at25.until), (Some(pid(0)), Some(pid(0)), 30));
    assert_eq!(records(&adapter, HmKind::WindowOverrun), [15]);
    let at30 = tick(&router, 0, 30, &mut adapter).expect("a switch");
    assert_eq!((at30.from, at30.to, at30.until), (Some(pid(0)), None, 40));
    assert_eq!(records(&adapter, HmKind::WindowOverrun), [15], "no overrun of the new window");
}

static OWN_CPU: [Window; 1] = [Window { partition: 0, start: 0, length: 20 }];
static PING_PORTS: [PortConfig; 1] = [PortConfig::new(0, Binding::coalescing(Source::Ping))];

#[test]
fn a_partition_that_owns_its_cpu_is_pinged_on_time() {
    const CONFIG: SystemConfig<1> = system(
        [PartitionConfig {
            name: "solo",
            cpu: 0,
            ports: &PING_PORTS,
            priority_levels: &[],
            timer_port: None,
            error_port: None,
            catch_up: CatchUpPolicy::Replay,
            vectors: VectorSet::EMPTY,
            channels: 0,
            ping: Some(Ping { port: 0, interval: 10, bound: 5 }),
            health: HmTable::IGNORE_ALL,
        }],
        20,
        &OWN_CPU,
        &[],
    );
    let router = router::<1, 1>(CONFIG);
    let mut adapter = Rec::new();
    let mut switches = 0;
    for now in 0..=200 {
        switches += usize::from(tick(&router, 0, now, &mut adapter).is_some());
    }
    assert_eq!(switches, 11, "a switch at every window, into the same partition");
    // It never answers: pinged every 10 ticks from 10, each missed 6 ticks later (its
    // bound is 5), whether a window starts there or not.
    let missed = records(&adapter, HmKind::PingMissed);
    assert_eq!(missed, (1..20).map(|k| k * 10 + 6).collect::<Vec<_>>());
}

static LONG_WINDOW: [Window; 1] = [Window { partition: 0, start: 0, length: 20 }];

#[test]
fn a_deferred_idle_is_not_erased_by_a_milder_action_on_the_partitions_cpu() {
    const CONFIG: SystemConfig<1> = system(
        [partition(
            1,
            HmTable::IGNORE_ALL
                .on(HmKind::AckTimeout, HmAction::Idle)
                .on(HmKind::IllegalHypercall, HmAction::WarmStart),
        )],
        40,
        &LONG_WINDOW,
        &LEVEL_ROUTE,
    );
    let router = router::<1, 2>(CONFIG);
    let (mut a0, mut a1) = (Rec::new(), Rec::new());
    assert!(tick(&router, 1, 0, &mut a1).is_some());
    a0.now = 1;
    let _ = router.on_hardware_irq(&cpu(0), LEVEL, &mut a0);
    // CPU 0's tick past the deadline: an AckTimeout whose action (idle) needs the
    // partition's state, deferred to CPU 1, which is kicked.
    let _ = tick(&router, 0, 7, &mut a0);
    assert!(a0.actions().any(|a| *a == Action::Kick(1)));
    assert!(a0.actions().any(|a| matches!(a, Action::Log(r) if r.action == HmAction::Idle)));
    // Before CPU 1 takes the kick, its partition makes a call that does not decode: a
    // warm start, milder than the idle waiting for it. The idle is taken.
    a1.now = 7;
    let bad = RawCall { number: 0xdead, args: [0; 4] };
    let _ = router.hypercall(&cpu(1), pid(0), &bad, &mut a1);
    router.on_resume(&cpu(1), &mut a1);
    assert_eq!(router.mode(pid(0)), Mode::Idle, "the idle the log reports is applied");
    assert!(
        !a1.actions().any(|a| matches!(a, Action::Restart(..))),
        "the milder warm start is not taken besides"
    );
}

#[test]
fn a_deferred_action_reaches_a_partition_that_is_not_running() {
    const CONFIG: SystemConfig<1> = system(
        [partition(1, HmTable::IGNORE_ALL.on(HmKind::AckTimeout, HmAction::Idle))],
        40,
        &LONG_WINDOW,
        &LEVEL_ROUTE,
    );
    let router = router::<1, 2>(CONFIG);
    let (mut a0, mut a1) = (Rec::new(), Rec::new());
    assert!(tick(&router, 1, 0, &mut a1).is_some());
    a0.now = 1;
    let _ = router.on_hardware_irq(&cpu(0), LEVEL, &mut a0);
    // The partition leaves its window (as after a switch); then CPU 0's tick expires its
    // acknowledgement. The kick's resume idles it at once, though it is not running.
    a1.now = 5;
    router.on_partition_exit(&cpu(1), pid(0), 5, &mut a1);
    let _ = tick(&router, 0, 7, &mut a0);
    assert!(a0.actions().any(|a| *a == Action::Kick(1)));
    router.on_resume(&cpu(1), &mut a1);
    assert_eq!(router.mode(pid(0)), Mode::Idle);
}

#[test]
fn a_kick_that_finds_the_partition_with_nothing_to_take_keeps_it_waiting() {
    const CONFIG: SystemConfig<1> =
        system([partition(1, HmTable::IGNORE_ALL)], 40, &LONG_WINDOW, &LINE_ROUTE);
    let router = router::<1, 2>(CONFIG);
    let (mut a0, mut a1) = (Rec::new(), Rec::new());
    assert!(tick(&router, 1, 0, &mut a1).is_some());
    let c1 = cpu::<2>(1);
    let entry = NonZeroU64::new(0x40_0100);
    assert_eq!(router.call(&c1, pid(0), Request::RegisterUpcall { entry }, &mut a1), Ok(0));
    assert_eq!(router.call(&c1, pid(0), Request::EnableIrqs, &mut a1), Ok(0));
    // An interrupt on CPU 0: the partition is open, so CPU 1 is kicked.
    let _ = router.on_hardware_irq(&cpu(0), LINE, &mut a0);
    assert!(a0.actions().any(|a| *a == Action::Kick(1)));
    // CPU 1 has its interrupts off: the guest takes the event by a call and idles before
    // the kick arrives.
    let _ = router.call(&c1, pid(0), Request::DisableIrqs, &mut a1);
    let port = Port::new(1).expect("port");
    assert_eq!(router.call(&c1, pid(0), Request::TakeCount { port }, &mut a1), Ok(1));
    assert_eq!(router.call(&c1, pid(0), Request::EnableIrqs, &mut a1), Ok(0));
    let _ = a1.take().count();
    assert_eq!(router.call(&c1, pid(0), Request::Idle, &mut a1), Ok(0));
    assert_eq!(a1.take().collect::<Vec<_>>(), [Action::Wait(0)]);
    // The kick: nothing to take, so the engine asks the kernel to go on waiting.
    router.on_resume(&c1, &mut a1);
    assert_eq!(a1.take().collect::<Vec<_>>(), [Action::Wait(0)]);
    assert!(router.partition_cpu(pid(0)).vcpu().is_idle());
    // A new event wakes it: a kick, and the resume delivers.
    let _ = a0.take().count();
    let _ = router.on_hardware_irq(&cpu(0), LINE, &mut a0);
    assert!(a0.actions().any(|a| *a == Action::Kick(1)));
    router.on_resume(&c1, &mut a1);
    let woken: Vec<_> = a1.take().collect();
    assert!(woken.iter().any(|a| matches!(a, Action::Upcall(0, u) if u.port == Some(1))));
}

#[test]
fn validation_for_an_engine_checks_its_cpus() {
    const CONFIG: SystemConfig<1> =
        system([partition(5, HmTable::IGNORE_ALL)], 40, &LONG_WINDOW, &[]);
    // The CPU-agnostic check accepts CPU 5; the check for a 2-CPU engine names it.
    assert!(CONFIG.validate::<1>().is_ok());
    assert_eq!(
        CONFIG.validate_on::<1, 2>(),
        Err(irq_router::config::ConfigError::Partition {
            partition: 0,
            error: irq_router::config::PartitionError::NoSuchCpu { cpu: 5 },
        })
    );
    assert!(Router::<1, 1, 2>::new(CONFIG, [Box::leak(Box::new(SharedPage::new()))]).is_err());
    assert_eq!(CONFIG.validate_on::<1, 65>(), Err(irq_router::config::ConfigError::CpuCount));
}

#[test]
fn the_restart_past_the_limit_idles_the_partition() {
    const TABLE: HmTable = HmTable::IGNORE_ALL
        .on(HmKind::PartitionError, HmAction::ColdStart)
        .with_restart_limit(2, 3);
    const CONFIG: SystemConfig<1> = system([partition(0, TABLE)], 20, &OWN_CPU, &[]);
    let restart_at = |ticks: &[u64]| {
        let router = router::<1, 1>(CONFIG);
        let mut adapter = Rec::new();
        assert!(tick(&router, 0, 0, &mut adapter).is_some());
        for &now in ticks {
            adapter.now = now;
            // It declares an error on its CPU; a restart ends its window: enter again.
            let _ = router.call(&cpu(0), pid(0), Request::ExecStopError { code: 1 }, &mut adapter);
            router.on_partition_entry(&cpu(0), pid(0), now, 1, &mut adapter);
        }
        let restarts = adapter.actions().filter(|a| matches!(a, Action::Restart(..))).count();
        (restarts, router.mode(pid(0)), records(&adapter, HmKind::RestartLimit))
    };
    // Two restarts in frame 0, the third idles it: 2 restarts in a window of 3 frames.
    assert_eq!(restart_at(&[1, 2, 3]), (2, Mode::Idle, vec![2]));
    // The window slides: restarts in frames 0 and 1, then in frame 3 frame 0's has left
    // the window (frames 1 to 3) and one more is allowed; frame 3's next is one too many.
    assert_eq!(restart_at(&[1, 21]).0, 2);
    assert_eq!(restart_at(&[1, 21, 61]), (3, Mode::ColdStart, vec![]));
    assert_eq!(restart_at(&[1, 21, 61, 62]).1, Mode::Idle);
}

#[test]
fn a_restart_limit_out_of_bounds_is_refused() {
    for (restarts, frames) in [(0, 3), (17, 3), (2, 0)] {
        let table = HmTable::IGNORE_ALL.with_restart_limit(restarts, frames);
        let config = system([partition(0, table)], 20, &OWN_CPU, &[]);
        assert_eq!(
            config.validate_on::<1, 1>(),
            Err(irq_router::config::ConfigError::Partition {
                partition: 0,
                error: irq_router::config::PartitionError::RestartLimit,
            }),
            "{restarts} restarts in {frames} frames"
        );
    }
}
