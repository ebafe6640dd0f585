//! Scenario tests of the engine with the recording adapter: one per seed behaviour and
//! per feature.

mod common;

use common::{
    Adapter, CLOCK, CPU0, ENTRY, ERRORS, FAULT_HANDLER, FRAME, LEVEL, LEVEL_PORT, SHARED,
    SHARED_PORT, STORM_PORT, STORMY, TIMER, WINDOW, boot, pid, port, records, run, system, upcalls,
};
use irq_router::adapter::{Action, StartMode};
use irq_router::config::{HmAction, HmKind};
use irq_router::hypercall::{ErrorCode, Request};
use irq_router::{Mode, Trap};
use vcpu_state::StartReason;

fn actions(adapter: &mut Adapter) -> Vec<Action> {
    adapter.take().collect()
}

#[test]
fn one_vector_chained_to_several_partitions_each_with_its_own_pending_count() {
    let (router, pages) = system();
    let mut adapter = Adapter::new();
    boot(&router, &mut adapter);
    let _ = pages[0].guest().sti();
    actions(&mut adapter);
    adapter.now = 1;
    for _ in 0..3 {
        router.on_hardware_irq(&CPU0, SHARED, &mut adapter);
    }
    let done = actions(&mut adapter);
    // Partition 0 runs with interrupts enabled: one upcall for the port, entered with the
    // vector; the other raises wait, counted, while it is in service.
    let up = upcalls(&done, 0);
    assert_eq!(up.len(), 1);
    assert_eq!(
        (up[0].port, up[0].context.vector, up[0].entry.get()),
        (Some(SHARED_PORT), 0x23, ENTRY)
    );
    assert!(upcalls(&done, 1).is_empty(), "partition 1 is outside its window");
    assert_eq!(done.iter().filter(|a| **a == Action::Eoi(SHARED)).count(), 3, "edge: EOI at once");
    for p in 0..2 {
        let status = router.events().partition(pid(p)).status(port(SHARED_PORT));
        assert_eq!(status.pending, 3, "partition {p} counts every interrupt");
    }
}

#[test]
fn the_kernel_timer_comes_first_and_every_partition_gets_its_virtual_ticks() {
    let (router, _pages) = system();
    let mut adapter = Adapter::new();
    boot(&router, &mut adapter);
    run(&router, &mut adapter, 0, 3 * FRAME);
    // Partition 0 (replay) is inside its window at 90: every kernel tick is a tick of its
    // timer port, those it ran through and those it missed.
    let p0 = router.events().partition(pid(0)).status(port(TIMER));
    assert_eq!(p0.pending, 90);
    let time = router.partition_cpu(pid(0));
    assert_eq!(time.time().given(), 90, "zero drift: given = kernel ticks");
    // Partition 1 (warp) was last entered at 70: one warp event per entry plus the ticks
    // it ran through; its clock has every tick up to its last checkpoint.
    let p1 = router.partition_cpu(pid(1));
    assert_eq!(p1.time().given() + p1.time().dropped(), 80, "caught up to its last exit");
    assert_eq!(p1.time().dropped(), 0, "warp drops nothing");
    // Partition 2 (collapse) drops missed ticks but one per entry.
    let p2 = router.partition_cpu(pid(2));
    assert_eq!(p2.time().given() + p2.time().dropped(), 90);
    assert!(p2.time().dropped() > 0);
}

#[test]
fn a_fault_is_delivered_to_the_faulting_partitions_handler_with_its_vector() {
    let (router, pages) = system();
    let mut adapter = Adapter::new();
    boot(&router, &mut adapter);
    actions(&mut adapter);
    let divide_error = Trap { vector: 0, error_code: 0, address: 0x40_1234 };
    router.on_trap(&CPU0, pid(0), divide_error, &mut adapter);
    let done = actions(&mut adapter);
    let up = upcalls(&done, 0);
    assert_eq!(up.len(), 1);
    assert_eq!(up[0].entry.get(), FAULT_HANDLER);
    assert_eq!(
        (up[0].port, up[0].context.vector, up[0].context.fault_address),
        (None, 0, 0x40_1234)
    );
    assert_eq!(
        router.events().partition(pid(0)).pop_trap().map(|c| c.fault_address),
        Some(0x40_1234)
    );
    let logged = records(&done);
    assert_eq!(
        (logged[0].kind, logged[0].action, logged[0].detail),
        (HmKind::Trap, HmAction::Deliver, 0)
    );
    // A second fault inside the handler: its table warm-starts it.
    router.on_trap(
        &CPU0,
        pid(0),
        Trap { vector: 6, error_code: 0, address: 0x40_2000 },
        &mut adapter,
    );
    let done = actions(&mut adapter);
    assert!(done.contains(&Action::Restart(0, StartMode::Warm)));
    assert_eq!(records(&done)[0].kind, HmKind::TrapInTrap);
    assert_eq!(router.mode(pid(0)), Mode::WarmStart);
    let cause = HmKind::TrapInTrap as u32 + 1;
    assert_eq!(pages[0].guest().start_reason(), Some(StartReason::WarmRestart { cause }));
    assert_eq!(
        router.call(&CPU0, pid(0), Request::StartReason, &mut adapter),
        Ok(irq_router::hypercall::start_reason_value(StartReason::WarmRestart { cause }))
    );
}

#[test]
fn pending_interrupts_are_delivered_when_the_partition_is_scheduled_again() {
    let (router, pages) = system();
    let mut adapter = Adapter::new();
    boot(&router, &mut adapter);
    let _ = pages[1].guest().sti();
    run(&router, &mut adapter, 0, 3);
    adapter.now = 3;
    router.on_hardware_irq(&CPU0, SHARED, &mut adapter);
    let done = actions(&mut adapter);
    assert!(upcalls(&done, 1).is_empty() && !done.contains(&Action::Kick(1)), "not its window");
    run(&router, &mut adapter, 3, WINDOW);
    let done = actions(&mut adapter);
    // Entry at 10: the timer's warp event (port 0) first, by priority.
    let up = upcalls(&done, 1);
    assert_eq!(up.iter().map(|u| u.port).collect::<Vec<_>>(), [Some(TIMER)]);
    // The guest takes its timer count and returns: the device event follows.
    assert_eq!(
        router.call(&CPU0, pid(1), Request::TakeCount { port: port(TIMER) }, &mut adapter),
        Ok(1)
    );
    assert_eq!(router.call(&CPU0, pid(1), Request::UpcallReturn, &mut adapter), Ok(0));
    let up = upcalls(&actions(&mut adapter), 1);
    assert_eq!(
        up.iter().map(|u| (u.port, u.context.vector)).collect::<Vec<_>>(),
        [(Some(SHARED_PORT), 0x23)]
    );
}

#[test]
fn a_storm_masks_its_line_for_the_frame_and_leaves_others_deliveries_unchanged() {
    // The same run twice, with and without a storm on partition 2's line.
    let run_with_storm = |storm: bool| {
        let (router, pages) = system();
        let mut adapter = Adapter::new();
        boot(&router, &mut adapter);
        let _ = pages[0].guest().sti();
        let mut p0_upcalls = Vec::new();
        let mut all = Vec::new();
        for now in 1..WINDOW {
            adapter.now = now;
            router.on_hardware_irq(&CPU0, CLOCK, &mut adapter);
            router.on_hardware_irq(&CPU0, SHARED, &mut adapter);
            if storm {
                for _ in 0..5 {
                    router.on_hardware_irq(&CPU0, STORMY, &mut adapter);
                }
            }
            let done = actions(&mut adapter);
            for u in upcalls(&done, 0) {
                // The guest handles each event at once.
                let p = u.port.expect("a port");
                p0_upcalls.push((now, p));
                let _ =
                    router.call(&CPU0, pid(0), Request::TakeCount { port: port(p) }, &mut adapter);
                let _ = router.call(&CPU0, pid(0), Request::UpcallReturn, &mut adapter);
            }
            all.extend(done);
        }
        (router, p0_upcalls, all)
    };
    let (_, quiet, _) = run_with_storm(false);
    let (router, stormy, all) = run_with_storm(true);
    assert_eq!(quiet, stormy, "partition 0's deliveries are unchanged by the storm");
    assert!(!quiet.is_empty());
    // Three raises within the budget, the fourth masks the line and is a storm.
    assert_eq!(router.events().partition(pid(2)).status(port(STORM_PORT)).pending, 3);
    // The recording adapter's line ignores the mask: every raise past the budget arrives
    // and is lost, each counted and recorded (a real controller's mask leaves only those
    // already on their way).
    let storms: Vec<_> = records(&all).into_iter().filter(|r| r.kind == HmKind::Storm).collect();
    assert_eq!(storms.len(), 42);
    assert!(storms.iter().all(|r| r.detail == u64::from(STORMY) && r.extra == 1));
    assert_eq!(router.line_lost(STORMY), 42);
    assert_eq!(all.iter().filter(|a| **a == Action::Mask(STORMY)).count(), 1, "masked once");
    assert_eq!(
        all.iter().filter(|a| **a == Action::KernelHandler(STORMY)).count(),
        45,
        "kernel first, always"
    );
    // The next frame unmasks it.
    let mut adapter = Adapter::new();
    run(&router, &mut adapter, WINDOW - 1, FRAME);
    assert!(actions(&mut adapter).contains(&Action::Unmask(STORMY)));
}

#[test]
fn a_level_line_stays_masked_until_every_partition_acknowledged() {
    let (router, pages) = system();
    let mut adapter = Adapter::new();
    boot(&router, &mut adapter);
    let _ = pages[0].guest().sti();
    adapter.now = 1;
    actions(&mut adapter);
    router.on_hardware_irq(&CPU0, LEVEL, &mut adapter);
    let done = actions(&mut adapter);
    assert_eq!(&done[..2], [Action::Mask(LEVEL), Action::Eoi(LEVEL)]);
    assert!(!done.contains(&Action::Unmask(LEVEL)));
    assert_eq!(
        router.call(&CPU0, pid(0), Request::Acknowledge { port: port(LEVEL_PORT) }, &mut adapter),
        Ok(0)
    );
    assert!(!actions(&mut adapter).contains(&Action::Unmask(LEVEL)), "partition 1 still owes");
    // Partition 1 acknowledges (it may, outside its window: a plain port operation).
    let _ = router.events().partition(pid(1)).begin_service(port(LEVEL_PORT)).unwrap();
    assert_eq!(
        router.call(&CPU0, pid(1), Request::Acknowledge { port: port(LEVEL_PORT) }, &mut adapter),
        Ok(0)
    );
    assert!(actions(&mut adapter).contains(&Action::Unmask(LEVEL)));
}

#[test]
fn a_missing_acknowledgement_times_out_and_the_line_is_unmasked_anyway() {
    let (router, pages) = system();
    let mut adapter = Adapter::new();
    boot(&router, &mut adapter);
    let _ = pages[0].guest().sti();
    adapter.now = 1;
    router.on_hardware_irq(&CPU0, LEVEL, &mut adapter);
    let _ =
        router.call(&CPU0, pid(0), Request::Acknowledge { port: port(LEVEL_PORT) }, &mut adapter);
    actions(&mut adapter);
    run(&router, &mut adapter, 1, 5);
    assert!(!actions(&mut adapter).contains(&Action::Unmask(LEVEL)), "not yet due");
    run(&router, &mut adapter, 5, 6);
    let done = actions(&mut adapter);
    assert!(done.contains(&Action::Unmask(LEVEL)));
    let late: Vec<_> =
        records(&done).into_iter().filter(|r| r.kind == HmKind::AckTimeout).collect();
    assert_eq!(late.len(), 1);
    assert_eq!((late[0].partition, late[0].detail), (Some(1), u64::from(LEVEL)));
}

#[test]
fn a_cold_start_discards_pending_events_and_tells_the_guest_why() {
    let (router, pages) = system();
    let mut adapter = Adapter::new();
    boot(&router, &mut adapter);
    adapter.now = 2;
    router.on_hardware_irq(&CPU0, SHARED, &mut adapter);
    router.on_hardware_irq(&CPU0, SHARED, &mut adapter);
    actions(&mut adapter);
    // Partition 1's table cold-starts it on a trap.
    router.on_trap(
        &CPU0,
        pid(1),
        Trap { vector: 13, error_code: 0x10, address: 0x50_0000 },
        &mut adapter,
    );
    let done = actions(&mut adapter);
    assert!(done.contains(&Action::Restart(1, StartMode::Cold)));
    let record = records(&done)[0];
    assert_eq!(
        (record.kind, record.action, record.discarded),
        (HmKind::Trap, HmAction::ColdStart, 2)
    );
    assert_eq!(record.extra, 0x50_0000, "the faulting address");
    let table = router.events().partition(pid(1));
    assert_eq!(table.status(port(SHARED_PORT)).pending, 0, "nothing stale");
    assert_eq!(table.context(port(SHARED_PORT)), Ok(None), "no stale context");
    assert_eq!(table.stats().discarded, 2);
    let cause = HmKind::Trap as u32 + 1;
    assert_eq!(pages[1].guest().start_reason(), Some(StartReason::ColdRestart { cause }));
    assert_eq!(router.mode(pid(1)), Mode::ColdStart);
    // Partition 0 is untouched.
    assert_eq!(router.events().partition(pid(0)).status(port(SHARED_PORT)).pending, 2);
}

#[test]
fn an_unanswered_ping_is_a_health_monitor_event() {
    let (router, _pages) = system();
    let mut adapter = Adapter::new();
    boot(&router, &mut adapter);
    // Ping every 60 ticks, answer due within 40: raised at the entry at 60, checked at
    // the entry at 120.
    run(&router, &mut adapter, 0, 4 * FRAME);
    let missed: Vec<_> = records(&actions(&mut adapter))
        .into_iter()
        .filter(|r| r.kind == HmKind::PingMissed)
        .collect();
    assert_eq!(missed.len(), 1);
    assert_eq!(missed[0].partition, Some(0));
    // Answered in time, nothing is recorded.
    let (router, _pages) = system();
    let mut adapter = Adapter::new();
    boot(&router, &mut adapter);
    run(&router, &mut adapter, 0, 2 * FRAME);
    assert_eq!(router.call(&CPU0, pid(0), Request::PingAnswer, &mut adapter), Ok(0));
    assert_eq!(
        router.call(&CPU0, pid(0), Request::PingAnswer, &mut adapter),
        Err(ErrorCode::NothingPending)
    );
    run(&router, &mut adapter, 2 * FRAME, 4 * FRAME);
    assert!(records(&actions(&mut adapter)).iter().all(|r| r.kind != HmKind::PingMissed));
    // A partition without a ping cannot answer one.
    assert_eq!(
        router.call(&CPU0, pid(1), Request::PingAnswer, &mut adapter),
        Err(ErrorCode::NotConfigured)
    );
}

#[test]
fn a_window_overrun_and_a_declared_error_reach_the_health_monitor() {
    let (router, _pages) = system();
    let mut adapter = Adapter::new();
    boot(&router, &mut adapter);
    adapter.now = WINDOW + 3;
    router.on_partition_exit(&CPU0, pid(0), WINDOW + 3, &mut adapter);
    let overrun = records(&actions(&mut adapter));
    assert_eq!((overrun[0].kind, overrun[0].detail), (HmKind::WindowOverrun, 3));
    assert_eq!(
        router.call(&CPU0, pid(2), Request::ExecStopError { code: 77 }, &mut adapter),
        Ok(0)
    );
    let declared = records(&actions(&mut adapter));
    assert_eq!(
        (declared[0].partition, declared[0].kind, declared[0].detail),
        (Some(2), HmKind::PartitionError, 77)
    );
    assert_eq!(router.health_counts(Some(pid(0))), (1, 0));
    assert_eq!(router.health_counts(Some(pid(2))), (1, 0));
    assert_eq!(router.health_counts(None), (0, 0));
}

#[test]
fn an_overflow_is_delivered_to_the_error_port() {
    let (router, _pages) = system();
    let mut adapter = Adapter::new();
    boot(&router, &mut adapter);
    // Fill partition 0's channel port to its maximum... its ports count to u32::MAX, so
    // raise the timer past it instead through many ticks at once.
    let table = router.events().partition(pid(0));
    let _ = table.raise_many(port(TIMER), u32::MAX, None).unwrap();
    adapter.now = 1;
    router.on_hardware_irq(&CPU0, CLOCK, &mut adapter);
    let done = actions(&mut adapter);
    let overflow =
        records(&done).into_iter().find(|r| r.kind == HmKind::PendingOverflow).expect("recorded");
    assert_eq!(
        (overflow.partition, overflow.detail, overflow.extra),
        (Some(0), u64::from(TIMER), 1)
    );
    let errors = table.status(port(ERRORS));
    assert_eq!(errors.pending, 1, "delivered to the error port");
    let context = table.context(port(ERRORS)).unwrap().unwrap();
    assert_eq!(context.vector, HmKind::PendingOverflow as u16);
}

#[test]
fn an_idle_partition_is_woken_by_an_event_in_its_window() {
    let (router, pages) = system();
    let mut adapter = Adapter::new();
    boot(&router, &mut adapter);
    let _ = pages[0].guest().sti();
    // Nothing pending for the handler: take the boot-time timer events first.
    let _ = router.events().partition(pid(0)).take(port(TIMER));
    actions(&mut adapter);
    assert_eq!(router.call(&CPU0, pid(0), Request::Idle, &mut adapter), Ok(0));
    assert_eq!(actions(&mut adapter), [Action::Wait(0)]);
    adapter.now = 1;
    router.on_hardware_irq(&CPU0, SHARED, &mut adapter);
    // The interrupt arrived on the CPU idling for it: the kick of that CPU ends the wait
    // (one kick in flight: a second interrupt does not kick again).
    assert_eq!(actions(&mut adapter), [Action::Kick(0), Action::Eoi(SHARED)]);
    router.on_hardware_irq(&CPU0, SHARED, &mut adapter);
    assert_eq!(actions(&mut adapter), [Action::Eoi(SHARED)]);
    // The kernel resumes the partition: the idle ends with the upcall.
    router.on_resume(&CPU0, &mut adapter);
    let up = upcalls(&actions(&mut adapter), 0);
    assert_eq!(up.iter().map(|u| u.port).collect::<Vec<_>>(), [Some(SHARED_PORT)]);
    // Resuming again finds nothing new to do (one upcall at a time).
    router.on_resume(&CPU0, &mut adapter);
    assert!(upcalls(&actions(&mut adapter), 0).is_empty());
}

#[test]
fn each_partitions_health_ring_keeps_its_newest_records_and_counts_the_dropped() {
    let (router, _pages) = system();
    let mut adapter = Adapter::new();
    boot(&router, &mut adapter);
    let ring = irq_router::health::HM_LOG_LEN as u64;
    for code in 0..ring + 8 {
        assert_eq!(
            router.call(&CPU0, pid(2), Request::ExecStopError { code: code as u32 }, &mut adapter),
            Ok(0)
        );
    }
    assert_eq!(router.health_counts(Some(pid(2))), (ring + 8, 8));
    let blank = irq_router::health::HmRecord {
        tick: 0,
        partition: None,
        kind: HmKind::Trap,
        action: HmAction::Ignore,
        detail: 0,
        extra: 0,
        discarded: 0,
    };
    let mut out = vec![blank; ring as usize];
    let n = router.health_log(Some(pid(2)), &mut out);
    assert_eq!(n as u64, ring);
    let details: Vec<u64> = out.iter().map(|r| r.detail).collect();
    assert_eq!(details, (8..ring + 8).collect::<Vec<_>>(), "the oldest were dropped");
    // The other partitions' rings are untouched, and the kernel's log got every record.
    assert_eq!(router.health_counts(Some(pid(0))), (0, 0));
    assert_eq!(records(&actions(&mut adapter)).len() as u64, ring + 8);
}

#[test]
fn a_restarted_partition_owes_its_level_lines_nothing() {
    let (router, pages) = system();
    let mut adapter = Adapter::new();
    boot(&router, &mut adapter);
    let _ = pages[0].guest().sti();
    adapter.now = 1;
    router.on_hardware_irq(&CPU0, LEVEL, &mut adapter);
    // Partition 1 owes an acknowledgement, then its table cold-starts it on a trap.
    router.on_trap(
        &CPU0,
        pid(1),
        Trap { vector: 13, error_code: 0, address: 0x50_0000 },
        &mut adapter,
    );
    actions(&mut adapter);
    // Partition 0's acknowledgement is then the last one: the line is unmasked at once.
    assert_eq!(
        router.call(&CPU0, pid(0), Request::Acknowledge { port: port(LEVEL_PORT) }, &mut adapter),
        Ok(0)
    );
    assert!(actions(&mut adapter).contains(&Action::Unmask(LEVEL)));
    // And nobody is reported late afterwards.
    run(&router, &mut adapter, 1, 20);
    assert!(records(&actions(&mut adapter)).iter().all(|r| r.kind != HmKind::AckTimeout));
}

#[test]
fn an_idled_partition_stays_idle() {
    let (router, _pages) = system();
    let mut adapter = Adapter::new();
    boot(&router, &mut adapter);
    // Partition 2's table idles it on a trap.
    router.on_trap(
        &CPU0,
        pid(2),
        Trap { vector: 6, error_code: 0, address: 0x60_0000 },
        &mut adapter,
    );
    assert!(actions(&mut adapter).contains(&Action::Idle(2)));
    assert_eq!(router.mode(pid(2)), Mode::Idle);
    // Its calls are refused, its windows are not entered, later events only logged.
    assert_eq!(
        router.call(&CPU0, pid(2), Request::EnableIrqs, &mut adapter),
        Err(ErrorCode::OutsideWindow)
    );
    run(&router, &mut adapter, 0, 2 * FRAME);
    let done = actions(&mut adapter);
    assert!(!done.iter().any(|a| matches!(a, Action::Upcall(2, _) | Action::Restart(2, _))));
    router.on_trap(
        &CPU0,
        pid(2),
        Trap { vector: 6, error_code: 0, address: 0x60_0000 },
        &mut adapter,
    );
    let record = records(&actions(&mut adapter))[0];
    assert_eq!((record.partition, record.action), (Some(2), HmAction::Ignore));
    assert_eq!(router.mode(pid(2)), Mode::Idle);
}

#[test]
fn warps_the_guest_has_not_handled_yet_lose_nothing() {
    // Beta (partition 1) warps. Its guest handles nothing for three frames: each entry is
    // one more pending timer event, and the page's cumulative clock counts every tick.
    let (router, pages) = system();
    let mut adapter = Adapter::new();
    boot(&router, &mut adapter);
    let table = router.events().partition(pid(1));
    let mut done = 0;
    for warps in 1..=3 {
        let entry = (warps - 1) * FRAME + common::WINDOW;
        run(&router, &mut adapter, done, entry);
        let clock = pages[1].guest().clock();
        assert_eq!(clock.given, entry, "the clock counts every tick up to the entry");
        // Its own ticks in the window are one event each, and one per warp.
        let pending = u64::from(table.status(port(TIMER)).pending);
        assert!(pending >= warps, "every warp is still pending: {pending} < {warps}");
        done = entry + common::WINDOW;
        run(&router, &mut adapter, entry, done);
    }
    let _ = actions(&mut adapter);
}
